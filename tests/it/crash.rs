//! Crash safety: a real `ozgsync import` child process is killed with SIGKILL at
//! many moments of a large import. After each kill the database passes
//! `PRAGMA integrity_check` and holds exactly the state before the release or, if
//! the commit won the race against the kill, exactly the state after it; never a mix.
//! The next import then completes. The same for a status report, and for a
//! dashboard export killed mid-publish (DIR holds the complete old or new set).
//! `crash_long_every_kind` (ignored by default) does it at random moments for every
//! source kind, status reports and exports: 50 rounds each by default
//! (`OZGSYNC_CRASH_ROUNDS`), 350 kills in all.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use sha2::{Digest, Sha256};

use super::support::{big_directory, command, root};

/// Synthetic Gemeinden added to the real file: enough that a debug-build import
/// writes for a second or more.
pub const EXTRA: usize = 60_000;

const BASE: &str = "fixtures/gv100ad/GV100AD_30112025_NI.txt";

/// A quiet `--db DB` command of the binary, its output dropped.
fn quiet(db: &Path) -> Command {
    let mut cmd = command(root());
    cmd.arg("--db").arg(db).arg("--quiet");
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

/// A quiet `import gv100ad BIG` into `db`, to run or to spawn and kill.
fn import_big(db: &Path, big: &Path) -> Command {
    let mut cmd = quiet(db);
    cmd.args(["import", "gv100ad"]).arg(big);
    cmd
}

/// A reader (`releases`) on `db`: whether it succeeded, and what it said on stderr.
fn read_releases(db: &Path) -> (bool, String) {
    let out = quiet(db)
        .arg("releases")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Checks integrity and digests every version row and release row, so two states
/// compare cheaply and a failure message stays short.
fn state(db: &Path) -> (usize, String) {
    let conn = Connection::open(db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let mut hasher = Sha256::new();
    let mut rows = 0;
    let mut stmt = conn
        .prepare(
            "SELECT key || '|' || valid_from || '|' || ifnull(valid_to, '') || '|' || data
             FROM record_versions ORDER BY key, valid_from",
        )
        .unwrap();
    let mut q = stmt.query([]).unwrap();
    while let Some(row) = q.next().unwrap() {
        hasher.update(row.get::<_, String>(0).unwrap());
        rows += 1;
    }
    let releases: i64 = conn
        .query_row("SELECT count(*) FROM releases", [], |r| r.get(0))
        .unwrap();
    hasher.update(releases.to_le_bytes());
    // Status reports: events, the derived tables and batches (without recorded_at,
    // which differs between two runs of the same report).
    for sql in [
        "SELECT subject || '|' || scope || '|' || effective_on || '|' || event_id || '|' || status
                || '|' || ifnull(note, '') || '|' || b.origin || '|' || b.recorded_by
         FROM status_events JOIN status_batches b USING (batch_id)
         ORDER BY subject_kind, subject, scope_kind, scope, effective_on, event_id",
        "SELECT subject || '|' || scope || '|' || status || '|' || event_id FROM status_current
         ORDER BY subject_kind, subject, scope_kind, scope",
        "SELECT scope || '|' || status || '|' || kommunal || '|' || cells FROM status_tally
         WHERE cells <> 0 ORDER BY scope_kind, scope, subject_kind, status, kommunal",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let mut q = stmt.query([]).unwrap();
        while let Some(row) = q.next().unwrap() {
            hasher.update(row.get::<_, String>(0).unwrap());
            rows += 1;
        }
    }
    (rows, ozgsync::fetch::hex(&hasher.finalize()))
}

/// Copies a checkpointed database (no WAL) to `to`, removing any WAL there.
fn restore(from: &Path, to: &Path) {
    for ext in ["db-wal", "db-shm"] {
        let _ = std::fs::remove_file(to.with_extension(ext));
    }
    std::fs::copy(from, to).unwrap();
}

/// Whether another process holds the write lock, i.e. a release transaction is
/// open. Probes with `BEGIN IMMEDIATE` without waiting; a free lock is released at
/// once.
fn writer_active(db: &Path) -> bool {
    let Ok(conn) = Connection::open(db) else {
        return false;
    };
    conn.busy_timeout(Duration::ZERO).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").is_err()
}

#[test]
fn sigkill_during_import_leaves_the_previous_or_the_next_release() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine.db");
    let db = dir.path().join("crash.db");
    let big = dir.path().join("big.txt");
    big_directory(&big, EXTRA);

    assert!(quiet(&pristine)
        .args(["import", "gv100ad", BASE])
        .status()
        .unwrap()
        .success());
    // In WAL mode, as the database is while the daemon runs: a writer leaves it in
    // rollback-journal mode, and switching back to WAL takes a write lock the probe
    // below would mistake for the release transaction.
    Connection::open(&pristine)
        .unwrap()
        .execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let before = state(&pristine);
    restore(&pristine, &db);
    assert!(import_big(&db, &big).status().unwrap().success());
    let after = state(&db);
    assert_eq!(after.0, before.0 + EXTRA);

    // Every third kill lands early (start-up, fetch, before the transaction); the
    // others wait until the release transaction is open, then kill after a varying
    // pause.
    let mut killed_while_writing = 0;
    for round in 0..12u64 {
        restore(&pristine, &db);
        let mut child = import_big(&db, &big).spawn().unwrap();
        if round % 3 == 0 {
            std::thread::sleep(Duration::from_millis(5 + round * 30));
        } else {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !writer_active(&db) && Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            std::thread::sleep(Duration::from_millis(round * 37 % 200));
        }
        let writing = writer_active(&db);
        child.kill().unwrap();
        child.wait().unwrap();
        let now = state(&db);
        assert!(
            now == before || now == after,
            "round {round}: the state is neither the previous nor the next release ({} rows)",
            now.0
        );
        if writing && now == before {
            killed_while_writing += 1;
        }
    }
    assert!(
        killed_while_writing >= 5,
        "only {killed_while_writing} kills hit the open release transaction"
    );

    // After the last kill the next import completes.
    restore(&pristine, &db);
    let mut child = import_big(&db, &big).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(import_big(&db, &big).status().unwrap().success());
    assert_eq!(state(&db), after);
}

/// What a kill left in a database the import was creating, read through a
/// connection that may write (so SQLite rolls a hot journal back first, as the
/// next writer would): `Err(migrated)` while no release is there (nothing, a part
/// of the migrations or the whole empty schema), the digest of [`state`] otherwise.
fn state_of_new(db: &Path) -> Result<(usize, String), bool> {
    if std::fs::metadata(db).map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(false);
    }
    let conn = Connection::open(db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    if version < ozgsync::store::schema_version() {
        return Err(false);
    }
    let n: i64 = conn
        .query_row("SELECT count(*) FROM releases", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    if n == 0 {
        return Err(true);
    }
    Ok(state(db))
}

/// A database the import itself creates runs its first release in rollback-journal
/// mode (no WAL; `store::configure`), its schema created in that release's
/// transaction (`store::open_new_release_writer`). Killed at any moment, it holds
/// no schema or the whole release, never a schema without a release; a reader
/// beside what the kill left either reads the committed state or says which
/// command to run, and leaves the journal alone; the next import completes.
#[test]
fn sigkill_during_the_first_import_into_a_new_database_leaves_nothing_or_the_release() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.db");
    let big = dir.path().join("big.txt");
    big_directory(&big, EXTRA);
    let journal = db.with_extension("db-journal");
    let clear = |db: &Path| {
        for ext in ["db", "db-journal", "db-wal", "db-shm", "db.lock"] {
            let _ = std::fs::remove_file(db.with_extension(ext));
        }
    };
    let started = Instant::now();
    assert!(import_big(&db, &big).status().unwrap().success());
    let took = started.elapsed();
    let after = state(&db);
    assert!(!journal.exists());

    // Kills spread over the first 90 % of a run: start-up, the migrations, the
    // release.
    let rounds = 12u32;
    let mut in_release = 0;
    for round in 0..rounds {
        clear(&db);
        let mut child = import_big(&db, &big).spawn().unwrap();
        std::thread::sleep(took * 9 * (2 * round + 1) / (20 * rounds));
        child.kill().unwrap();
        child.wait().unwrap();
        let left_journal = journal.exists();
        if left_journal {
            let (read, err) = read_releases(&db);
            // A hot journal (the writer had begun to write the file), or a kill
            // during the migrations: the reader says which command to run.
            assert!(
                read || err.contains("ozgsync import"),
                "round {round}: a reader beside the journal: {err}"
            );
            assert!(
                journal.exists(),
                "round {round}: the reader touched the journal"
            );
        }
        let now = state_of_new(&db);
        assert!(
            now == Err(false) || now.as_ref() == Ok(&after),
            "round {round}: neither no schema nor the whole release"
        );
        if now.is_ok() {
            continue;
        }
        if left_journal {
            in_release += 1;
        }
        // The next import completes, whatever the kill left.
        assert!(import_big(&db, &big).status().unwrap().success());
        assert_eq!(
            state(&db),
            after,
            "round {round}: the import after the kill"
        );
        assert!(!journal.exists());
    }
    assert!(
        in_release >= 3,
        "only {in_release} kills hit the open first release"
    );
}

/// A hot journal beside a database (a writer in rollback-journal mode killed after
/// it began to write the file; made here by copying the files of an open
/// transaction that spilled its cache): a reader may not roll it back, so it says
/// which command does, and leaves both files as they are; `import` then rolls it
/// back and applies its release.
#[test]
fn a_reader_beside_a_hot_journal_says_which_command_rolls_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let db = dir.path().join("crashed.db");
    assert!(quiet(&live)
        .args(["import", "gv100ad", BASE])
        .status()
        .unwrap()
        .success());
    let before = state(&live);
    let conn = Connection::open(&live).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    conn.execute_batch(
        "PRAGMA cache_size = 2; BEGIN;
         UPDATE record_versions SET data = json_set(data, '$.x', 1);",
    )
    .unwrap();
    std::fs::copy(&live, &db).unwrap();
    std::fs::copy(
        live.with_extension("db-journal"),
        db.with_extension("db-journal"),
    )
    .unwrap();
    conn.execute_batch("ROLLBACK").unwrap();
    drop(conn);
    let bytes = |p: &Path| std::fs::read(p).unwrap();
    let (file, journal) = (bytes(&db), bytes(&db.with_extension("db-journal")));

    let (read, err) = read_releases(&db);
    assert!(!read);
    assert!(
        err.contains("crashed.db-journal") && err.contains("`ozgsync import` or `ozgsync sync`"),
        "{err}"
    );
    assert_eq!(bytes(&db), file);
    assert_eq!(bytes(&db.with_extension("db-journal")), journal);

    assert!(quiet(&db)
        .args(["import", "gv100ad", BASE])
        .status()
        .unwrap()
        .success());
    assert!(!db.with_extension("db-journal").exists());
    // Rolled back to the state before the transaction; the same file again is an
    // unchanged release, which adds one release row and no version.
    let now = state(&db);
    assert_eq!(now.0, before.0);
    let releases: i64 = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM releases WHERE status = 'unchanged'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(releases, 1);
}

// ---------------------------------------------------------------------------
// The long suite: ≥ 200 kills across every source kind, kept out of the default
// run. `cargo test --release -- --ignored crash_long --nocapture` (RELIABILITY.md).
// ---------------------------------------------------------------------------

/// Writes a large payload of `kind` with `n` records, all keys new.
fn big_payload(kind: &str, path: &Path, n: usize) {
    use std::fmt::Write as _;
    let mut text = String::new();
    match kind {
        "gv100ad" => return big_directory(path, n),
        "leika" => {
            text.push_str("Schluessel;Leistungsgruppierung;Leistungskennung;Verrichtung;Verrichtungsdetail;Bezeichnung;Bezeichnung2;Typ;Veröffentlichungsdatum;Besondere Merkmale;Synonyme\n");
            for i in 0..n {
                let _ = writeln!(
                    text,
                    "99{i:012};;;;;Testleistung Nr. {i} Prüfung;;1;05.10.2019 14:38;;"
                );
            }
        }
        "ozg" => {
            text.push_str("ozg_id;ozg_leistung;lebenslage;themenfeld\n");
            for i in 0..n.min(89_999) {
                let _ = writeln!(
                    text,
                    "{:05};Testleistung {i};Bauen & Immobilien;Bauen & Wohnen",
                    10_000 + i
                );
            }
        }
        "efa" => {
            let mut doc: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string("fixtures/efa/release1.json").unwrap(),
            )
            .unwrap();
            let template = doc["services"][0].clone();
            let services: Vec<_> = (0..n)
                .map(|i| {
                    let mut s = template.clone();
                    s["efa_id"] = format!("EFA-X{i:06}").into();
                    s["name"] = format!("Testdienst {i}").into();
                    s
                })
                .collect();
            doc["services"] = services.into();
            text = doc.to_string();
        }
        "fim-api" => {
            let pull: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string("fixtures/fim-api/steckbriefe_pull.json").unwrap(),
            )
            .unwrap();
            let template = pull[0]["items"][0].clone();
            let items: Vec<_> = (0..n)
                .map(|i| {
                    let mut s = template.clone();
                    s["leistung_id"] = format!("{}", 5_000_000 + i).into();
                    s["leistungsschluessel"] = serde_json::json!([format!("99{i:012}")]);
                    s["ozg"][0]["leistungsschluessel"] = format!("99{i:012}").into();
                    s["title"] = format!("Testleistung {i}").into();
                    s
                })
                .collect();
            let page = serde_json::json!([{
                "offset": 0, "limit": n, "count": n, "total_count": n, "items": items
            }]);
            text = page.to_string();
        }
        other => panic!("no generator for {other}"),
    }
    std::fs::write(path, text).unwrap();
}

/// A status report over every current LeiKa key × Gemeinde of `pristine`, `n` rows
/// at most, dated inside 2025 (so an export as of 2026 shows all of them).
fn status_report(pristine: &Path, path: &Path, n: usize, variant: usize) {
    use std::fmt::Write as _;
    const STATUSES: [&str; 5] = [
        "geplant",
        "beauftragt",
        "in_umsetzung",
        "pilot",
        "produktiv",
    ];
    let conn = Connection::open(pristine).unwrap();
    let list = |sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    let keys = list("SELECT key FROM record_versions WHERE entity = 'service' AND valid_to IS NULL ORDER BY key");
    let ars = list("SELECT ars FROM v_municipalities WHERE level = 'gemeinde' ORDER BY ars");
    let mut text = String::from("Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung\n");
    let mut rows = 0;
    'all: for (g, a) in ars.iter().enumerate() {
        for (k, key) in keys.iter().enumerate() {
            if rows == n {
                break 'all;
            }
            let status = STATUSES[(k + g + variant) % STATUSES.len()];
            let _ = writeln!(
                text,
                "{key};{a};{status};2025-{:02}-{:02};",
                1 + (k + variant) % 12,
                1 + g % 28
            );
            rows += 1;
        }
    }
    std::fs::write(path, text).unwrap();
}

/// Fills the pristine database of `kind` and writes its big payload.
fn prepare(kind: &str, pristine: &Path, big: &Path, n: usize) {
    if kind == "status" {
        for (k, file) in [
            ("gv100ad", BASE),
            ("leika", "fixtures/leika/leika_sample_nrw2019.csv"),
        ] {
            assert!(quiet(pristine)
                .args(["import", k, file])
                .status()
                .unwrap()
                .success());
        }
        status_report(pristine, big, n, 0);
    } else {
        run_import(kind, pristine, Path::new(base_payload(kind)));
        big_payload(kind, big, n);
    }
    Connection::open(pristine)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
}

/// The import of `kind` (a source kind, or `status` for a status report).
fn import_cmd(kind: &str, db: &Path, file: &Path) -> Command {
    let mut cmd = quiet(db);
    if kind == "status" {
        cmd.args(["status", "import"])
            .arg(file)
            .args(["--by", "crash"]);
    } else {
        // The big payloads replace the base fixture's keys with new ones: a mass
        // retirement on purpose.
        cmd.args(["import", kind])
            .arg(file)
            .args(["--max-retire-share", "1"]);
    }
    cmd
}

fn run_import(kind: &str, db: &Path, file: &Path) {
    let status = import_cmd(kind, db, file).status().unwrap();
    assert!(
        status.success(),
        "{kind}: import of {} failed",
        file.display()
    );
}

/// The fixture each kind's pristine database starts from.
fn base_payload(kind: &str) -> &'static str {
    match kind {
        "gv100ad" => BASE,
        "leika" => "fixtures/leika/leika_sample_nrw2019.csv",
        "ozg" => "fixtures/ozg/ozg_leistungen_nrw2019.csv",
        "efa" => "fixtures/efa/release1.json",
        "fim-api" => "fixtures/fim-api/steckbriefe_pull.json",
        other => panic!("no base for {other}"),
    }
}

/// Figures of one kind's kill rounds.
#[derive(Debug, Default)]
struct Kills {
    rounds: usize,
    before: usize,
    after: usize,
    while_writing: usize,
}

impl Kills {
    /// One kill: it left the previous state (`left_before`, possibly while the
    /// transaction or the temporary set was being written) or the next one.
    fn count(&mut self, left_before: bool, writing: bool) {
        self.rounds += 1;
        if left_before {
            self.before += 1;
            self.while_writing += usize::from(writing);
        } else {
            self.after += 1;
        }
    }
}

/// Kills `rounds` imports of a big `kind` payload at random moments between start
/// and the end of a normal run; every state must be the one before or after.
fn kill_rounds(kind: &str, n: usize, rounds: usize, seed: u64) -> Kills {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine.db");
    let db = dir.path().join("crash.db");
    let big = dir.path().join(format!("big.{kind}"));
    prepare(kind, &pristine, &big, n);
    let import = |db: &Path, file: &Path| run_import(kind, db, file);
    let before = state(&pristine);
    restore(&pristine, &db);
    let started = Instant::now();
    import(&db, &big);
    let full_run = started.elapsed();
    let after = state(&db);
    assert_ne!(before, after);

    let mut kills = Kills::default();
    for round in 0..rounds {
        restore(&pristine, &db);
        let mut child = import_cmd(kind, &db, &big).spawn().unwrap();
        let pause = full_run.mul_f64(rng.random_range(0.0..1.1));
        std::thread::sleep(pause);
        let writing = writer_active(&db);
        child.kill().unwrap();
        child.wait().unwrap();
        let now = state(&db);
        assert!(
            now == before || now == after,
            "{kind} round {round} (killed after {pause:?}): neither the previous nor the next release"
        );
        kills.count(now == before, writing);
        // Every tenth round: the next import after the kill completes.
        if round % 10 == 9 && now == before {
            import(&db, &big);
            assert_eq!(state(&db), after, "{kind}: the import after a kill differs");
        }
    }
    kills
}

#[test]
#[ignore = "long: run with `cargo test --release -- --ignored crash_long --nocapture`"]
fn crash_long_every_kind() {
    let rounds: usize = std::env::var("OZGSYNC_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let mut total = 0;
    for (i, (kind, n)) in [
        ("gv100ad", 60_000),
        ("leika", 60_000),
        ("efa", 30_000),
        ("fim-api", 30_000),
        ("ozg", 60_000),
        ("status", 150_000),
    ]
    .into_iter()
    .enumerate()
    {
        let kills = kill_rounds(kind, n, rounds, 0x0c5a_0000 + i as u64);
        eprintln!(
            "crash_long {kind}: {} kills survived ({} left the previous release, {} of them inside the open transaction; {} the next)",
            kills.rounds, kills.before, kills.while_writing, kills.after
        );
        total += kills.rounds;
    }
    let kills = kill_exports(rounds, 0x0c5a_e000);
    eprintln!(
        "crash_long export dashboards: {} kills survived ({} left the old set, {} of them mid-write; {} the new)",
        kills.rounds, kills.before, kills.while_writing, kills.after
    );
    total += kills.rounds;
    eprintln!("crash_long: {total} kills survived in all");
    assert!(total >= 200 || rounds < 50);
}

// ---------------------------------------------------------------------------
// Exports: a dashboard export killed mid-publish leaves DIR with the complete old
// set or the complete new one, and the next export completes.
// ---------------------------------------------------------------------------

/// Every file under `dir` by relative path, with its bytes.
fn file_set(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn copy_tree(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    for (rel, bytes) in file_set(from) {
        let path = to.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// Whether a temporary export directory exists beside `out`, i.e. files are being
/// written or about to be swapped in.
fn export_writing(out: &Path) -> bool {
    let name = out.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_dir(out.parent().unwrap()).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(&format!(".{name}.tmp-"))
    })
}

fn kill_exports(rounds: usize, seed: u64) -> Kills {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("export.db");
    let first = dir.path().join("first.csv");
    let second = dir.path().join("second.csv");
    prepare("status", &db, &first, 20_000);
    run_import("status", &db, &first);
    let out = dir.path().join("dashboards");
    let export = |db: &Path| {
        let mut cmd = quiet(db);
        cmd.args([
            "export",
            "dashboards",
            "--gzip",
            "--as-of",
            "2026-01-31",
            "--out",
        ])
        .arg(&out);
        cmd
    };
    assert!(export(&db).status().unwrap().success());
    let old_set = file_set(&out);
    let saved = dir.path().join("old-set");
    copy_tree(&out, &saved);
    // The next report changes every status, so nearly every file changes.
    status_report(&db, &second, 20_000, 1);
    run_import("status", &db, &second);
    let started = Instant::now();
    assert!(export(&db).status().unwrap().success());
    let full_run = started.elapsed();
    let new_set = file_set(&out);
    assert_ne!(old_set, new_set);

    let mut kills = Kills::default();
    for round in 0..rounds {
        copy_tree(&saved, &out);
        let mut child = export(&db).spawn().unwrap();
        std::thread::sleep(full_run.mul_f64(rng.random_range(0.0..1.1)));
        let writing = export_writing(&out);
        child.kill().unwrap();
        child.wait().unwrap();
        let now = file_set(&out);
        assert!(
            now == old_set || now == new_set,
            "export round {round}: DIR holds neither the complete old set nor the complete new one"
        );
        kills.count(now == old_set, writing);
        if round % 5 == 4 {
            assert!(export(&db).status().unwrap().success());
            assert_eq!(file_set(&out), new_set, "the export after a kill differs");
            let stray: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".dashboards.tmp-") || n.starts_with(".dashboards.old-"))
                .collect();
            assert!(
                stray.is_empty(),
                "leftovers after a completed export: {stray:?}"
            );
        }
    }
    kills
}

#[test]
fn sigkill_during_export_leaves_the_old_or_the_new_set() {
    let kills = kill_exports(6, 0x0e4b_0001);
    eprintln!("export kills: {kills:?}");
    assert_eq!(kills.rounds, 6);
}

#[test]
fn sigkill_during_status_import_leaves_the_previous_or_the_next_state() {
    let kills = kill_rounds("status", 40_000, 6, 0x57a7_0001);
    eprintln!("status import kills: {kills:?}");
    assert_eq!(kills.rounds, 6);
}
