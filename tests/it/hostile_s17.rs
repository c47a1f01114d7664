//! The hostile tester's list of session 17 (the fifteenth round), each through the
//! real binary: what the fourteenth round left (the daemon's retry against a
//! server's `Retry-After`), SQLite's temporary directory, and foreign writes.

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::support::{self, scratch, Run};

/// Waits (at most 60 s) until `done`, else panics naming `what`.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGTERM to `child`, waits for it (at most 60 s) and collects its output.
fn stop(mut child: Child) -> Run {
    super::support::signal(child.id(), "-TERM");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the daemon did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The daemon's own retry of a failed job (`daemon.retry_base_ms`) did not know
/// the server's `Retry-After` (the fourteenth round's item left): after a 429
/// asking for an hour, the daemon asked again after its own 50 ms backoff, and
/// again, four requests within a second. Its retry now waits what the server
/// asked for, within the same cap as the fetch's own tries
/// (`fetch.max_backoff_secs`, 2 s here): a wait within the cap (1 s) is kept
/// whole, a longer one (3600 s) is capped.
#[test]
fn the_daemons_retry_waits_for_the_servers_retry_after() {
    for (wait, at_least) in [("1", 1.0), ("3600", 2.0)] {
        let hits: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let seen = Arc::clone(&hits);
        let server = support::serve(move |_, _| {
            seen.lock().unwrap().push(Instant::now());
            support::Reply::status(429, "later").header("Retry-After", wait)
        });
        let dir = scratch();
        let d = dir.path();
        std::fs::write(
            d.join("ozgsync.toml"),
            format!(
                r#"
                database = "ozgsync.db"
                [fetch]
                allow_http = true
                max_retries = 0
                max_backoff_secs = 2
                [daemon]
                retries = 3
                retry_base_ms = 50
                shutdown_timeout_secs = 1
                [[source]]
                name = "leika"
                kind = "leika"
                location = "{}/leika.csv"
                schedule = "0 0 0 1 1 * 2099"
                "#,
                server.base
            ),
        )
        .unwrap();
        let child = daemon(d);
        wait_for("the daemon's first retry", || {
            hits.lock().unwrap().len() >= 2
        });
        let run = stop(child);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        let hits = hits.lock().unwrap();
        let gap = hits[1].duration_since(hits[0]).as_secs_f64();
        assert!(
            gap >= at_least,
            "Retry-After {wait}: asked again after {gap:.2} s, not after {at_least} s: {}",
            run.stderr
        );
    }
}

fn daemon(dir: &Path) -> Child {
    support::command(dir)
        .args(["daemon", "--config", "ozgsync.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `import` of a local file copied it into a payload file in `TMPDIR` first. A
/// `TMPDIR` that does not exist, is a file, or (as an unprivileged user) may not
/// be written said "reading leika_release2.csv: No such file or directory … at
/// path "/nonexistent/ozgsync-payload-…"": it blamed the input, which was there.
/// Now the temporary directory is named as what failed, with what to do, and no
/// database is left at the new path. Since session 25 only what can be read once
/// (standard input, a pipe) is copied there; a regular file is read where it
/// lies and imports whatever `TMPDIR` says.
#[test]
fn a_temporary_directory_that_cannot_be_written_is_named_not_the_input() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch();
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    let leika = d.join("leika.csv");
    std::fs::copy(support::fixture("leika/leika_release2.csv"), &leika).unwrap();
    std::fs::set_permissions(&leika, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(d.join("a-file"), "").unwrap();
    let locked = d.join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let nobody = support::command_as_nobody(d).is_some();
    for (tmpdir, as_nobody) in [
        (d.join("missing"), false),
        (d.join("a-file"), false),
        (locked, true),
    ] {
        if as_nobody && !nobody {
            eprintln!("SKIPPED {}: needs root and setpriv", tmpdir.display());
            continue;
        }
        let mut cmd = if as_nobody {
            support::command_as_nobody(d).unwrap()
        } else {
            support::command(d)
        };
        let run = support::collect(
            cmd.env("TMPDIR", &tmpdir)
                .stdin(std::fs::File::open(&leika).unwrap())
                .args(["--db", "n.db", "import", "leika", "-"]),
        );
        run.assert_code(1);
        assert!(
            run.stderr.contains(&format!(
                "writing the payload's temporary copy in {}",
                tmpdir.display()
            )) && run.stderr.contains("set TMPDIR to a writable directory")
                && !run.stderr.contains("reading -"),
            "{}: {run:#?}",
            tmpdir.display()
        );
        assert!(!d.join("n.db").exists(), "{}: {run:#?}", tmpdir.display());
    }
    let run = support::collect(support::command(d).env("TMPDIR", d.join("missing")).args([
        "--db",
        "local.db",
        "import",
        "leika",
        "leika.csv",
    ]));
    run.assert_code(0);
    assert!(run.stdout.contains("release 1 applied"), "{run:#?}");
}

/// A database of schema 18 (`fixtures/migration/schema18.db`) whose schema another
/// program changed where migration 0019 works: its index dropped, a `cell` column
/// added by hand. The migration failed with "database error while applying
/// migration 0019_status_current_cell: no such index: status_current_by_scope:
/// Error code 1: SQL error or missing database", which said neither that nothing
/// changed nor why a migration of ozgsync's own schema could fail. Now it says
/// both, and what to do; the database stays at 18. A foreign object that is in
/// no migration's way (a view of the user's own) is migrated past as before.
#[test]
fn a_migration_over_a_schema_changed_by_another_program_says_so() {
    let dir = scratch();
    let leika = support::fixture("leika/leika_release2.csv");
    for (change, named) in [
        (
            "DROP INDEX status_current_by_scope",
            Some("no such index: status_current_by_scope"),
        ),
        (
            "ALTER TABLE status_current_rows ADD COLUMN cell TEXT",
            Some("duplicate column name: cell"),
        ),
        (
            "CREATE VIEW my_cells AS SELECT * FROM status_current_rows",
            None,
        ),
    ] {
        let db = dir.path().join("s18.db");
        std::fs::copy(support::fixture("migration/schema18.db"), &db).unwrap();
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(change)
            .unwrap();
        let run = support::run_db(&db, &["import", "leika", leika.to_str().unwrap()]);
        let version: i64 = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        match named {
            Some(named) => {
                run.assert_code(1);
                assert!(
                    run.stderr.contains(&format!(
                        "migration 0019_status_current_cell failed: {named}; nothing was \
                         changed (the database stays at schema version 18). Its schema is \
                         not the one ozgsync's migrations made"
                    )),
                    "{change}: {run:#?}"
                );
                assert_eq!(version, 18, "{change}");
            }
            None => {
                run.assert_ok();
                assert!(version >= 19, "{change}: {run:#?}");
            }
        }
    }
}

/// `import` of a LeiKa file that holds its header and no row, into a path where no
/// database exists: refused ("holds no record at all") only by the release, so a
/// new, empty database and its lock file were left, although the payload's end
/// was known before the database was created (session 16's early fetch waits for
/// the first items). Now refused then, and nothing is created; into an existing
/// database the release refuses it as before (as an edition of its records).
#[test]
fn a_payload_without_a_row_leaves_no_new_database() {
    let dir = scratch();
    let d = dir.path();
    let header = d.join("header.csv");
    std::fs::write(&header, "\u{feff}\"Schluessel\",\"Bezeichnung\"\n").unwrap();
    let header = header.to_str().unwrap();
    let db = d.join("n.db");
    let run = support::run_db(&db, &["import", "leika", header]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("the payload holds no record at all"),
        "{run:#?}"
    );
    assert!(!db.exists() && !d.join("n.db.lock").exists(), "{run:#?}");
    let good = support::fixture("leika/leika_release2.csv");
    support::run_db(&db, &["import", "leika", good.to_str().unwrap()]).assert_ok();
    let run = support::run_db(&db, &["import", "leika", header]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("the payload holds no valid record, so it cannot be a full edition"),
        "{run:#?}"
    );
}
