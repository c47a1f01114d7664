//! Onlinedienst status over time through the real binary: CSV reports (valid,
//! Windows-1252, broken, not a report), `status set` and `status show` now and as of
//! a date, the views built on them, and a property test that the SQL as-of answers
//! agree with a brute-force replay of the events.

use std::path::Path;

use chrono::NaiveDate;
use ozgsync::model::date::parse_date;
use ozgsync::status::report::StatusRow;
use ozgsync::status::{self, Scope, Status, Subject};
use ozgsync::store;
use proptest::prelude::*;

use super::support::{fixture, rows, rows_of, run_db, setup, view_of_schema_17, GEMEINDEN, KEYS};

fn event_count(db: &Path) -> String {
    rows(db, "SELECT count(*) FROM status_events").remove(0)
}

#[test]
fn report_import_current_as_of_and_views() {
    let (_dir, db) = setup();
    let report = fixture("status/report_ok.csv");
    let run = run_db(
        &db,
        &[
            "status",
            "import",
            report.to_str().unwrap(),
            "--by",
            "MI Referat 12",
        ],
    );
    assert!(run.ok(), "{}", run.stderr);
    assert!(
        run.stdout.contains("5 status event(s) recorded"),
        "{}",
        run.stdout
    );

    let show = |args: &[&str]| {
        let mut all = vec!["status", "show", "99041006017000", "--format", "csv"];
        all.extend_from_slice(args);
        let run = run_db(&db, &all);
        assert!(run.ok(), "{}", run.stderr);
        run.stdout
            .lines()
            .skip(1)
            .map(|l| l.split(',').take(5).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        show(&[]),
        [
            "ars 031010000000  in_umsetzung 2024-05-15",
            "ars 032410001001  produktiv 2024-09-01"
        ]
    );
    assert_eq!(
        show(&["--as-of", "2024-04-01"]),
        ["ars 032410001001  pilot 2024-03-01"]
    );
    assert_eq!(show(&["--as-of", "2023-01-01"]), Vec::<String>::new());
    assert_eq!(show(&["--history"]).len(), 3);

    // Windows-1252 with `,` adds to the same history.
    let report = fixture("status/report_cp1252_comma.csv");
    let run = run_db(
        &db,
        &[
            "status",
            "import",
            report.to_str().unwrap(),
            "--by",
            "Kommune",
        ],
    );
    assert!(run.ok(), "{}", run.stderr);
    assert_eq!(
        rows(&db, "SELECT note FROM status_events WHERE scope = '031515406001' AND subject = '99041006017000'"),
        ["Straßenverkehr, München-Modell"]
    );

    assert_eq!(
        rows(&db, "SELECT subject, scope, ressort, status, recorded_by, origin FROM v_status_current ORDER BY 1, 2"),
        [
            "99041006017000 031010000000 ∅ in_umsetzung MI Referat 12 report_ok.csv",
            "99041006017000 031515406001 ∅ beauftragt Kommune report_cp1252_comma.csv",
            "99041006017000 032410001001 ∅ produktiv MI Referat 12 report_ok.csv",
            "99102013000000 031010000000 ∅ produktiv Kommune report_cp1252_comma.csv",
            "99102013000000 031515406001 ∅ geplant MI Referat 12 report_ok.csv",
            "99102013000000 2 MI produktiv MI Referat 12 report_ok.csv",
        ]
    );
    // Relevant: the one kommune-annotated key plus reported keys not annotated so.
    assert_eq!(
        rows(&db, "SELECT * FROM v_municipality_coverage ORDER BY ars"),
        [
            "031010000000 Braunschweig, Stadt 2 1 0.5 03",
            "031515406001 Adenbüttel 2 0 0 03",
            "032410001001 Hannover, Landeshauptstadt 1 1 1 03",
        ]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT kuerzel, status, umsetzungsweg, services FROM v_ministry_progress ORDER BY 2"
        ),
        ["MI ohne_status eigenloesung 1", "MI produktiv wfu_navo 1"]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT status, effective_on, valid_until FROM v_status_history
             WHERE subject = '99041006017000' AND scope = '032410001001' ORDER BY event_id"
        ),
        ["pilot 2024-03-01 2024-09-01", "produktiv 2024-09-01 ∅"]
    );
}

#[test]
fn broken_report_applies_nothing_unless_partial() {
    let (_dir, db) = setup();
    let report = fixture("status/report_broken.csv");
    let path = report.to_str().unwrap();
    let run = run_db(&db, &["status", "import", path, "--by", "x"]);
    assert!(!run.ok());
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix(path).and_then(|l| l.strip_prefix(": line ")))
        .collect();
    assert_eq!(
        errors[..errors.len().min(4)],
        [
            "3, column Leistungsschluessel (\"99999999999999\"): unknown Leistungsschluessel: not in the current service catalogue",
            "4, column ARS (\"039999999999\"): unknown ARS: not a current municipality in the municipality directory",
            "5, column Ressort (\"XY\"): unknown Ressort Kürzel; known (case-insensitive): mb, mf, mi, mj, mk, ml, ms, mu, mw, mwk, stk",
            "6, column Status (\"live\"): unknown status; use one of nicht_begonnen, geplant, beauftragt, in_umsetzung, pilot, produktiv, eingestellt, abgelehnt",
        ],
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("line 7, column Gueltig ab (\"2099-01-01\"): date is in the future"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("5 error(s) in 5 of 6 rows; nothing was applied"),
        "{}",
        run.stderr
    );
    assert_eq!(event_count(&db), "0");
    assert_eq!(rows(&db, "SELECT count(*) FROM status_current"), ["0"]);

    // The valid row is recorded; the refused ones make it exit 1 (as the sheet
    // imports do), so a cron job learns that part of the report is missing.
    let run = run_db(&db, &["status", "import", path, "--by", "x", "--partial"]);
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("1 status event(s) recorded, 5 row(s) with errors skipped"),
        "{}",
        run.stdout
    );
    assert_eq!(event_count(&db), "1");
}

#[test]
fn not_a_report_is_a_whole_file_error() {
    let (_dir, db) = setup();
    let report = fixture("status/not_a_report.html");
    let run = run_db(
        &db,
        &["status", "import", report.to_str().unwrap(), "--by", "x"],
    );
    assert!(!run.ok());
    assert!(
        run.stderr.contains("header line: missing column(s)")
            || run.stderr.contains("no `;` or `,`"),
        "{}",
        run.stderr
    );
    assert_eq!(event_count(&db), "0");
}

#[test]
fn status_set_and_its_errors() {
    let (_dir, db) = setup();
    let ok = run_db(
        &db,
        &[
            "status",
            "set",
            "99041006017000",
            "--ars",
            "031010000000",
            "--status",
            "Pilot",
            "--on",
            "01.02.2024",
            "--by",
            "Anna",
            "--note",
            "erste Kommune",
        ],
    );
    assert!(ok.ok(), "{}", ok.stderr);
    assert_eq!(
        rows(
            &db,
            "SELECT status, effective_on, origin, note, recorded_by FROM v_status_current"
        ),
        ["pilot 2024-02-01 status set erste Kommune Anna"]
    );
    let check_err = |args: &[&str], expected: &str| {
        let mut all = vec!["status", "set"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--by", "x"]);
        let run = run_db(&db, &all);
        assert!(!run.ok(), "{args:?}");
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    };
    check_err(
        &[
            "99999999999999",
            "--ars",
            "031010000000",
            "--status",
            "pilot",
            "--on",
            "2024-01-01",
        ],
        "SUBJECT \"99999999999999\": unknown Leistungsschluessel",
    );
    check_err(
        &["EFA-1", "--ressort", "MI", "--status", "pilot", "--on", "2024-01-01"],
        "SUBJECT \"EFA-1\": unknown EfA-ID: not in the current EfA catalogue (no EfA catalogue has been imported)",
    );
    check_err(
        &[
            "99041006017000",
            "--ars",
            "030000000001",
            "--status",
            "pilot",
            "--on",
            "2024-01-01",
        ],
        "--ars \"030000000001\": unknown ARS",
    );
    check_err(
        &[
            "99041006017000",
            "--ressort",
            "MX",
            "--status",
            "pilot",
            "--on",
            "2024-01-01",
        ],
        "--ressort \"MX\": unknown Ressort Kürzel",
    );
    check_err(
        &[
            "99041006017000",
            "--ressort",
            "MI",
            "--status",
            "pilot",
            "--on",
            "2999-01-01",
        ],
        "--on \"2999-01-01\": date is in the future",
    );
    check_err(
        &[
            "99041006017000",
            "--ressort",
            "MI",
            "--ars",
            "031010000000",
            "--status",
            "pilot",
            "--on",
            "2024-01-01",
        ],
        "cannot be used with",
    );
    assert_eq!(event_count(&db), "1");
}

// ---------------------------------------------------------------------------
// Property: SQL as-of answers agree with a brute-force replay.
// ---------------------------------------------------------------------------

fn arb_event() -> impl Strategy<Value = (usize, usize, usize, i64)> {
    // subject, scope, status, day offset: few cells and days, so ties and
    // backdated events are common.
    (0..2usize, 0..3usize, 0..8usize, 0..12i64)
}

/// Sets (or with 0 removes) the annotation's vollzug: 1 land, 2 kommune, 3 beide.
fn set_vollzug(conn: &rusqlite::Connection, key: &str, v: usize) {
    if v == 0 {
        conn.execute(
            "DELETE FROM annotations WHERE leistungsschluessel = ?1",
            [key],
        )
        .unwrap();
        return;
    }
    let vollzug = ["land", "kommune", "beide"][v - 1];
    conn.execute(
        "INSERT INTO annotations (leistungsschluessel, vollzug, updated_at, updated_by)
         VALUES (?1, ?2, '2026-01-01T00:00:00Z', 'test')
         ON CONFLICT (leistungsschluessel) DO UPDATE SET vollzug = excluded.vollzug",
        [key, vollzug],
    )
    .unwrap();
}

/// Writes a report the way a writer other than `store::status::record` would (the
/// sqlite3 shell, a fixture): plain inserts in file order, derived tables by trigger.
fn insert_via_sql(conn: &rusqlite::Connection, rows: &[StatusRow]) {
    let first: i64 = conn
        .query_row(
            "SELECT coalesce(max(last_event_id), 0) + 1 FROM status_batches",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute(
        "INSERT INTO status_batches (origin, recorded_at, recorded_by, last_event_id)
         VALUES ('sql', '2026-01-01T00:00:00Z', 'test', ?1)",
        [first + rows.len() as i64 - 1],
    )
    .unwrap();
    let batch = conn.last_insert_rowid();
    for (i, r) in rows.iter().enumerate() {
        conn.execute(
            "INSERT INTO status_events (subject_kind, subject, scope_kind, scope, effective_on,
                 event_id, status, batch_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rusqlite::params![
                r.subject.kind(),
                r.subject.id(),
                r.scope.kind(),
                r.scope.id(),
                r.effective_on.to_string(),
                first + i as i64,
                r.status.as_str(),
                batch
            ],
        )
        .unwrap();
    }
}

type TallyRow = (String, String, String, String, i64, i64);

fn tally_rows(conn: &rusqlite::Connection, sql: &str) -> Vec<TallyRow> {
    conn.prepare(sql)
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The stored tally (empty classes left out).
fn tally(conn: &rusqlite::Connection) -> Vec<TallyRow> {
    tally_rows(
        conn,
        "SELECT scope_kind, scope, subject_kind, status, kommunal, cells
                      FROM status_tally WHERE cells <> 0 ORDER BY 1, 2, 3, 4, 5",
    )
}

/// The tally counted afresh from status_current and the annotations.
fn recount(conn: &rusqlite::Connection) -> Vec<TallyRow> {
    tally_rows(
        conn,
        "SELECT c.scope_kind, c.scope, c.subject_kind, c.status,
                             c.subject_kind = 'leika' AND EXISTS (
                                 SELECT 1 FROM annotations a WHERE a.leistungsschluessel = c.subject
                                    AND a.vollzug IN ('kommune', 'beide')),
                             count(*)
                      FROM status_current c GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
    )
}

fn day(offset: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Duration::days(offset * 7)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn as_of_agrees_with_replay(
        batches in proptest::collection::vec(
            (proptest::collection::vec(arb_event(), 1..8), any::<bool>(), proptest::option::of(0..4usize)),
            1..5),
        probes in proptest::collection::vec(-1..14i64, 1..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = store::open(&dir.path().join("p.db")).unwrap();
        let subjects = [Subject::Leika("99041006017000".into()), Subject::Efa("EFA-1".into())];
        let scopes = [Scope::Ars("032410001001".into()), Scope::Ars("031010000000".into()), Scope::Ressort(2)];
        let mut events = Vec::new();
        for (batch, via_sql, vollzug) in &batches {
            // Between reports the LeiKa subject may become a municipal service or stop
            // being one (the tally's classes move by trigger).
            if let Some(v) = vollzug {
                set_vollzug(&conn, "99041006017000", *v);
            }
            let rows: Vec<StatusRow> = batch.iter().enumerate().map(|(i, &(s, c, st, d))| StatusRow {
                line: i as u64 + 2,
                subject: subjects[s].clone(),
                scope: scopes[c].clone(),
                status: Status::ALL[st],
                effective_on: day(d),
                note: None,
            }).collect();
            if *via_sql {
                insert_via_sql(&conn, &rows);
            } else {
                store::status::record(&mut conn, &rows, "prop", "test").unwrap();
            }
            for r in rows {
                events.push(status::Event {
                    event_id: events.len() as i64 + 1,
                    subject: r.subject, scope: r.scope, status: r.status, effective_on: r.effective_on,
                });
            }
        }
        // Compared by what a user sees (status and its date per cell): the store may
        // number events in its own insertion order, but same-day rows of one cell
        // must keep the file order, which the replay over file order checks.
        let far = day(100);
        let cell = |sk: &str, s: &str, ck: &str, c: &str| -> (Subject, Scope) {
            (
                if sk == "efa" { Subject::Efa(s.into()) } else { Subject::Leika(s.into()) },
                if ck == "ressort" { Scope::Ressort(c.parse().unwrap()) } else { Scope::Ars(c.into()) },
            )
        };
        for probe in probes.iter().map(|&p| day(p)).chain([far]) {
            let expected: Vec<_> = status::as_of(&events, probe)
                .into_iter()
                .map(|((subject, scope), e)| (subject, scope, e.status, e.effective_on))
                .collect();
            let by_id: std::collections::HashMap<i64, NaiveDate> = conn
                .prepare("SELECT event_id, effective_on FROM status_events").unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get::<_, String>(1)?))).unwrap()
                .map(|r| { let (id, d) = r.unwrap(); (id, parse_date(&d).unwrap()) })
                .collect();
            let mut got: Vec<_> = store::status::matrix_as_of(&conn, probe).unwrap()
                .into_iter()
                .map(|(subject, scope, st, id)| (subject, scope, st, by_id[&id]))
                .collect();
            got.sort();
            prop_assert_eq!(&got, &expected, "matrix as of {}", probe);
            for subject in &subjects {
                let mut shown: Vec<_> = store::status::show(&conn, subject, Some(probe)).unwrap()
                    .into_iter()
                    .map(|c| {
                        let (subject, scope) = cell(&c.subject_kind, &c.subject, &c.scope_kind, &c.scope);
                        (subject, scope, Status::parse(&c.status).unwrap(), parse_date(&c.effective_on).unwrap())
                    })
                    .collect();
                shown.sort();
                let want: Vec<_> = expected.iter().filter(|e| &e.0 == subject).cloned().collect();
                prop_assert_eq!(shown, want, "show {:?} as of {}", subject, probe);
            }
        }
        prop_assert_eq!(tally(&conn), recount(&conn), "status_tally drifted");
        // status_current (kept by record and by trigger) is the replay of everything.
        let mut current: Vec<_> = conn
            .prepare("SELECT subject_kind, subject, scope_kind, scope, status, effective_on FROM status_current").unwrap()
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?,
                                   r.get::<_, String>(3)?, r.get::<_, String>(4)?, r.get::<_, String>(5)?))).unwrap()
            .map(|r| {
                let (sk, s, ck, c, st, d) = r.unwrap();
                let (subject, scope) = cell(&sk, &s, &ck, &c);
                (subject, scope, Status::parse(&st).unwrap(), parse_date(&d).unwrap())
            })
            .collect();
        current.sort();
        let want: Vec<_> = status::as_of(&events, far)
            .into_iter()
            .map(|((subject, scope), e)| (subject, scope, e.status, e.effective_on))
            .collect();
        prop_assert_eq!(current, want);
        // v_status_history (schema 0022: each event's `valid_until` from the
        // cell's next event by key) answers as the window of schema 17 did,
        // same-day events of a cell included.
        conn.execute_batch(&view_of_schema_17("v_status_history", "v_status_history_17")).unwrap();
        let history = |view: &str| rows_of(&conn, &format!("SELECT * FROM {view} ORDER BY event_id"));
        prop_assert_eq!(history("v_status_history"), history("temp.v_status_history_17"));
    }
}

/// A report that does not fit one sorted run is spilled to temporary files and
/// merged: the same events, current status and tally as when held in memory, every
/// spill file gone afterwards (also when the report is refused), and a refused
/// report writes nothing even though its valid rows were already spilled.
#[test]
fn a_report_spilled_in_sorted_runs_imports_like_one_held_in_memory() {
    let mut csv = String::from("Leistungsschluessel;Ressort;ARS;Status;Gueltig ab;Bemerkung\n");
    // Lines out of cell order, same-day corrections (the later line wins), backdated
    // lines, a Ressort cell and notes with non-ASCII text.
    for i in 0..60 {
        let (key, _, _) = KEYS[i % KEYS.len()];
        let (ars, _) = GEMEINDEN[(i / 3) % GEMEINDEN.len()];
        let status = ["geplant", "pilot", "produktiv", "in_umsetzung"][(i * 7) % 4];
        let day = 1 + (i * 11) % 5;
        let note = if i % 4 == 0 {
            format!("Zeile {i} – Rückmeldung")
        } else {
            String::new()
        };
        if i % 10 == 9 {
            csv.push_str(&format!("{key};MI;;{status};2024-02-0{day};{note}\n"));
        } else {
            csv.push_str(&format!("{key};;{ars};{status};2024-02-0{day};{note}\n"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("matrix.csv");
    std::fs::write(&report, &csv).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let import = |db: &Path, file: &Path, run_rows: Option<&str>| {
        let mut cmd = super::support::command(super::support::root());
        cmd.arg("--db")
            .arg(db)
            .args(["status", "import"])
            .arg(file)
            .args(["--by", "test"])
            .env_remove("OZGSYNC_DB")
            .env_remove("OZGSYNC_CONFIG")
            .env("TMPDIR", &tmp);
        if let Some(n) = run_rows {
            cmd.env("OZGSYNC_STATUS_RUN_ROWS", n);
        }
        cmd.output().unwrap()
    };
    let state = |db: &Path| {
        [
            "SELECT * FROM status_events ORDER BY event_id",
            "SELECT * FROM status_current ORDER BY 1, 2, 3, 4",
            "SELECT * FROM status_tally WHERE cells > 0 ORDER BY 1, 2, 3, 4, 5",
            // (recorded_at differs between the two imports)
            "SELECT event_id, subject, scope, ressort, status, effective_on, valid_until, note, origin
             FROM v_status_history ORDER BY event_id",
            "SELECT * FROM v_municipality_coverage ORDER BY ars",
        ]
        .map(|sql| rows(db, sql))
    };
    let (_held_dir, held) = setup();
    let out = import(&held, &report, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_spilled_dir, spilled) = setup();
    let out = import(&spilled, &report, Some("7"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rows(&held, "SELECT count(*) FROM status_events"), ["60"]);
    assert_eq!(state(&spilled), state(&held));
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "spill files left"
    );

    // An error on the last line, after eight runs were spilled: nothing is written.
    let broken = dir.path().join("broken.csv");
    std::fs::write(
        &broken,
        format!("{csv}99041006017000;;032410001001;live;2024-02-01;\n"),
    )
    .unwrap();
    let before = state(&spilled);
    let out = import(&spilled, &broken, Some("7"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("1 error(s) in 1 of 61 rows; nothing was applied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(state(&spilled), before);
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "spill files left"
    );

    // A run size that is no number is refused, not silently the default.
    for typo in ["7k", "0", "-1", ""] {
        let out = import(&spilled, &report, Some(typo));
        assert_eq!(out.status.code(), Some(2), "{typo:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is not a number of rows above 0"),
            "{typo:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(state(&spilled), before);
}

/// A database with status history made at schema 0012 (the text-keyed tables of
/// 0006/0007, filled through their triggers as any writer's inserts were) is
/// converted in place by 0013: every status view and table reads the same rows
/// afterwards, and `status show --as-of` through the binary answers what the old
/// tables' history said for every subject and date.
#[test]
fn migration_0013_keeps_every_status_view_and_as_of_answer() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    let mut conn = rusqlite::Connection::open(&db).unwrap();
    store::migrate_to(&mut conn, &db, 12).unwrap();
    conn.execute_batch(
        "INSERT INTO sources (name, kind, location, updated_at) VALUES
             ('gv', 'gv100ad', 'test', '2025-01-01T00:00:00Z'),
             ('lk', 'leika', 'test', '2025-01-01T00:00:00Z');
         INSERT INTO releases (release_id, source, kind, entity, mode, location, fetched_at, status) VALUES
             (1, 'gv', 'gv100ad', 'municipality', 'full', 'test', '2025-01-01T00:00:00Z', 'applied'),
             (2, 'lk', 'leika', 'service', 'full', 'test', '2025-01-01T00:00:00Z', 'applied');
         INSERT INTO record_versions (entity, key, valid_from, hash, data) VALUES
             ('municipality', 'gemeinde:031010000000', 1, 'a',
              '{\"ars\":\"031010000000\",\"name\":\"Braunschweig\",\"level\":\"gemeinde\",\"textkennzeichen\":\"61\"}'),
             ('municipality', 'gemeinde:032410001001', 1, 'b',
              '{\"ars\":\"032410001001\",\"name\":\"Hannover\",\"level\":\"gemeinde\",\"textkennzeichen\":\"63\"}'),
             ('service', '99041006017000', 2, 'c', '{\"leistungsschluessel\":\"99041006017000\",\"bezeichnung\":\"A\"}'),
             ('service', '99102013000000', 2, 'd', '{\"leistungsschluessel\":\"99102013000000\",\"bezeichnung\":\"B\"}');
         INSERT INTO annotations (leistungsschluessel, ressort_id, vollzug, umsetzungsweg, updated_at, updated_by) VALUES
             ('99041006017000', 2, 'kommune', 'eigenloesung', '2025-01-01T00:00:00Z', 'test'),
             ('99102013000000', 3, 'land', 'wfu_navo', '2025-01-01T00:00:00Z', 'test'),
             ('99000000000001', NULL, 'beide', NULL, '2025-01-01T00:00:00Z', 'test');
         INSERT INTO status_batches (origin, recorded_at, recorded_by, last_event_id) VALUES
             ('a.csv', '2025-02-01T00:00:00Z', 'MI', 5),
             ('status set', '2025-03-01T00:00:00Z', 'MF', 9);
         INSERT INTO status_events (subject_kind, subject, scope_kind, scope, effective_on,
                                    event_id, status, note, batch_id) VALUES
             ('leika', '99041006017000', 'ars', '031010000000', '2024-01-01', 1, 'geplant', NULL, 1),
             ('leika', '99041006017000', 'ars', '031010000000', '2024-03-01', 2, 'produktiv', 'live', 1),
             ('leika', '99041006017000', 'ars', '032410001001', '2024-02-01', 3, 'pilot', NULL, 1),
             ('leika', '99102013000000', 'ars', '031010000000', '2024-02-01', 4, 'beauftragt', NULL, 1),
             ('leika', '99102013000000', 'ressort', '3', '2024-01-15', 5, 'in_umsetzung', NULL, 1),
             -- backdated: recorded later, effective earlier than the current status
             ('leika', '99041006017000', 'ars', '031010000000', '2024-02-01', 6, 'pilot', 'spät', 2),
             -- same-day correction: the later event wins
             ('leika', '99041006017000', 'ars', '032410001001', '2024-02-01', 7, 'produktiv', NULL, 2),
             ('efa', 'EFA-1', 'ressort', '2', '2024-01-05', 8, 'beauftragt', NULL, 2),
             ('leika', '99000000000001', 'ars', '032410001001', '2024-04-01', 9, 'produktiv', NULL, 2);",
    )
    .unwrap();
    let snapshot = |conn: &rusqlite::Connection| -> Vec<(String, Vec<String>)> {
        [
            "v_status_current",
            "v_status_history",
            "v_ministry_progress",
            "v_municipality_coverage",
            "v_reconciliation",
            "status_events",
            "status_current",
            "status_tally",
        ]
        .iter()
        .map(|view| {
            let mut stmt = conn.prepare(&format!("SELECT * FROM {view}")).unwrap();
            let n = stmt.column_count();
            let mut rows: Vec<String> = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|i| Ok(format!("{:?}", r.get_ref(i)?)))
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map(|cols| cols.join("|"))
                })
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            rows.sort();
            (view.to_string(), rows)
        })
        .collect()
    };
    let before = snapshot(&conn);
    assert_eq!(before[0].1.len(), 6, "{:?}", before[0]);
    // The as-of answers of the old tables: each cell's event in effect on D.
    let subjects = [
        "99041006017000",
        "99102013000000",
        "99000000000001",
        "EFA-1",
    ];
    let dates = [
        "2024-01-01",
        "2024-01-31",
        "2024-02-01",
        "2024-03-15",
        "2025-01-01",
    ];
    let mut expected = Vec::new();
    for subject in subjects {
        for date in dates {
            let mut stmt = conn
                .prepare(
                    "SELECT scope_kind || ' ' || scope || ' ' || status || ' ' || effective_on
                     FROM v_status_history
                     WHERE subject = ?1 AND effective_on <= ?2
                       AND (valid_until IS NULL OR valid_until > ?2)
                       AND NOT EXISTS (SELECT 1 FROM v_status_history l
                                        WHERE l.subject = v_status_history.subject
                                          AND l.scope_kind = v_status_history.scope_kind
                                          AND l.scope = v_status_history.scope
                                          AND l.effective_on = v_status_history.effective_on
                                          AND l.event_id > v_status_history.event_id)
                     ORDER BY scope_kind DESC, scope",
                )
                .unwrap();
            let rows: Vec<String> = stmt
                .query_map([subject, date], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            expected.push((subject, date, rows));
        }
    }
    drop(conn);

    let conn = store::open(&db).unwrap();
    assert_eq!(
        rows(&db, "SELECT count(*) FROM status_event_rows"),
        ["9"],
        "the events are stored in the integer table"
    );
    let after = snapshot(&conn);
    for ((view, old), (_, new)) in before.iter().zip(&after) {
        assert_eq!(old, new, "{view} changed by the migration");
    }
    drop(conn);
    for (subject, date, want) in expected {
        let run = run_db(
            &db,
            &[
                "status", "show", subject, "--as-of", date, "--format", "csv",
            ],
        );
        assert!(run.ok(), "{}", run.stderr);
        let got: Vec<String> = run
            .stdout
            .lines()
            .skip(1)
            .map(|l| {
                let cols: Vec<&str> = l.split(',').collect();
                format!("{} {} {} {}", cols[0], cols[1], cols[3], cols[4])
            })
            .collect();
        assert_eq!(got, want, "{subject} as of {date}");
    }
    // The next report continues after the migrated ids, through the new writer.
    let run = run_db(
        &db,
        &[
            "status",
            "set",
            "99041006017000",
            "--ars",
            "031010000000",
            "--status",
            "eingestellt",
            "--on",
            "2024-05-01",
            "--by",
            "MI",
        ],
    );
    assert!(run.ok(), "{}", run.stderr);
    assert_eq!(
        rows(
            &db,
            "SELECT status || ' ' || event_id FROM status_current
             WHERE subject = '99041006017000' AND scope = '031010000000'"
        ),
        ["eingestellt 10"]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT cells FROM status_tally WHERE scope = '031010000000'
             AND subject_kind = 'leika' AND status = 'eingestellt' AND kommunal = 1"
        ),
        ["1"]
    );
}

/// `--by` is who said so, kept with every event forever: blank is refused as for
/// sheet imports (it recorded events by "  " before).
#[test]
fn a_blank_by_is_refused_and_records_nothing() {
    let (_dir, db) = setup();
    let report = fixture("status/report_ok.csv");
    for args in [
        &[
            "status",
            "set",
            "99041006017000",
            "--ars",
            "032410001001",
            "--status",
            "pilot",
            "--on",
            "2024-03-01",
            "--by",
            "  ",
        ][..],
        &["status", "import", report.to_str().unwrap(), "--by", ""],
    ] {
        let run = run_db(&db, args);
        run.assert_code(2);
        assert!(
            run.stderr.contains("--by must name who reports"),
            "{run:#?}"
        );
    }
    assert_eq!(event_count(&db), "0");
    // Kept with every event forever and shown on one line: bounded, one line, for
    // the status and the sheet imports alike.
    let long = "x".repeat(201);
    let sheet = fixture("annotations/valid.csv");
    for (by, says) in [
        (long.as_str(), "--by is 201 characters long; at most 200"),
        ("MI\nForged: line", "--by holds a control character"),
        ("MI\tx", "--by holds a control character"),
    ] {
        for args in [
            &["status", "import", report.to_str().unwrap(), "--by", by][..],
            &["annotations", "import", sheet.to_str().unwrap(), "--by", by][..],
        ] {
            let run = run_db(&db, args);
            run.assert_code(2);
            assert!(run.stderr.contains(says), "{run:#?}");
        }
    }
    assert_eq!(event_count(&db), "0");
    assert_eq!(rows(&db, "SELECT count(*) FROM annotation_audit"), ["0"]);
    // 200 characters (umlauts count as one) are a name.
    let run = run_db(
        &db,
        &[
            "status",
            "import",
            report.to_str().unwrap(),
            "--by",
            &"ü".repeat(200),
        ],
    );
    run.assert_ok();
}

/// Another writer inserting into the `status_events` view with an impossible day:
/// refused by ozgsync's SQLite and by the system's `sqlite3` (Debian 12's 3.40
/// passed `2024-02-30` through 0013's check, whose date() returned it unchanged,
/// and stored the day 20240230). Without a `sqlite3` on PATH only the first half
/// runs.
#[test]
fn an_impossible_day_inserted_through_the_view_is_refused_by_any_sqlite() {
    let (_dir, db) = setup();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "INSERT INTO status_batches (origin, recorded_at, recorded_by, last_event_id)
         VALUES ('sqlite3', '2025-01-01T00:00:00Z', 'test', 10)",
    )
    .unwrap();
    let insert = |day: &str| {
        format!(
            "INSERT INTO status_events (subject_kind, subject, scope_kind, scope, effective_on, status, batch_id, event_id)
             VALUES ('leika', '99041006017000', 'ars', '032410001001', '{day}', 'pilot', 1, 1)"
        )
    };
    for day in ["2024-02-30", "2023-02-29", "2024-04-31"] {
        assert!(conn.execute_batch(&insert(day)).is_err(), "{day}");
    }
    drop(conn);
    let Ok(cli) = std::process::Command::new("sqlite3")
        .arg("--version")
        .output()
    else {
        eprintln!("no sqlite3 on PATH: the system SQLite half is skipped");
        return;
    };
    assert!(cli.status.success());
    for day in ["2024-02-30", "2023-02-29", "2024-04-31"] {
        let out = std::process::Command::new("sqlite3")
            .arg(&db)
            .arg(insert(day))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{day} stored by sqlite3");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("effective_on must be a date"),
            "{day}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(insert("2024-02-29"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(event_count(&db), "1");
}

/// `status set --ars NAME`: `%` and `_` are letters of the name, not SQL wildcards.
/// `Braunschweig%` recorded a status for Braunschweig and `_` matched any one
/// letter, so a typo could silently pick another municipality.
#[test]
fn a_municipality_name_with_percent_or_underscore_is_no_pattern() {
    let (_dir, db) = setup();
    let set = |ars: &str| {
        run_db(
            &db,
            &[
                "status",
                "set",
                "99041006017000",
                "--ars",
                ars,
                "--status",
                "pilot",
                "--on",
                "2024-03-01",
                "--by",
                "test",
            ],
        )
    };
    for pattern in [
        "Braunschweig%",
        "%",
        "Braunschweig_",
        "_raunschweig",
        "Hannover%",
    ] {
        let run = set(pattern);
        run.assert_code(1);
        assert!(
            run.stderr.contains("no current Gemeinde or Kreis is named"),
            "{pattern}: {run:#?}"
        );
    }
    assert_eq!(event_count(&db), "0");
    // the name itself, and its part before the comma, still find it
    set("braunschweig, STADT").assert_ok();
    set("Braunschweig").assert_ok();
    assert_eq!(event_count(&db), "2");
}

/// A `TMPDIR` the sorted runs cannot be spilled to (missing, a file): the import
/// stops with the directory named and the way out, and records nothing.
#[test]
fn an_unusable_tmpdir_stops_the_import_with_nothing_recorded() {
    let (dir, db) = setup();
    let report = fixture("status/report_ok.csv");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    for tmp in [dir.path().join("missing"), file] {
        let out = super::support::command(super::support::root())
            .arg("--db")
            .arg(&db)
            .args(["status", "import"])
            .arg(&report)
            .args(["--by", "test"])
            .env("TMPDIR", &tmp)
            .env("OZGSYNC_STATUS_RUN_ROWS", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "could not spill sorted rows to a temporary file in {}",
                tmp.display()
            )) && err.contains("set TMPDIR to a writable directory"),
            "{err}"
        );
        assert_eq!(event_count(&db), "0");
    }
}
