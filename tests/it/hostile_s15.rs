//! The hostile tester's list of session 15 (the thirteenth round), each through the
//! real binary: what the twelfth round left (a refused import created an empty
//! database), then angles no earlier round tried.

use std::io::Write;
use std::process::Stdio;

use super::support::{self, scratch};

/// `import` into a database path that does not exist, refused before any work (a
/// mistyped file, a directory, plain http without `--allow-http`, a URL of a scheme
/// that is not fetched): the refusal names the cause and no database (nor lock
/// file) is created. The twelfth round left each of them with a new, empty
/// database. A `status import` into a database that does not exist can record no
/// row (every row names a service only an imported database holds): refused, no
/// database. What is read from standard input still creates the database.
#[test]
fn a_refused_import_into_a_new_path_creates_no_database() {
    let dir = scratch();
    let db = dir.path().join("n.db");
    let refused: &[(&[&str], &str)] = &[
        (
            &["import", "leika", "http://127.0.0.1:9/leika.csv"],
            "plain http is not allowed; use https, or pass --allow-http",
        ),
        (
            &["import", "leika", "missing.csv"],
            "reading missing.csv: No such file or directory",
        ),
        (&["import", "gv100ad", "."], "reading .: is a directory"),
        (
            &["import", "efa", "ftp://example.org/efa.csv"],
            "unsupported scheme \"ftp\" (and no file of that name)",
        ),
    ];
    for (args, says) in refused {
        let run = support::run_db(&db, args);
        run.assert_code(1);
        assert!(run.stderr.contains(says), "{args:?}: {run:#?}");
        assert_eq!(
            support::files_starting_with(dir.path(), "n.db"),
            Vec::<String>::new(),
            "{args:?}"
        );
    }

    let report = dir.path().join("meldung.csv");
    std::fs::write(
        &report,
        "Leistungsschluessel;ARS;Ressort;Status;Gueltig ab;Bemerkung\n99001001002000;031010000000;;produktiv;2024-07-01;\n",
    )
    .unwrap();
    let run = support::run_db(
        &db,
        &["status", "import", report.to_str().unwrap(), "--by", "T"],
    );
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("n.db: does not exist, and a status report")
            && run.stderr.contains("nothing was created")
            && run.stderr.contains("import the sources first"),
        "{run:#?}"
    );
    assert_eq!(
        support::files_starting_with(dir.path(), "n.db"),
        Vec::<String>::new()
    );

    // Standard input is not checked ahead (it can be read once): it still works.
    let mut child = support::command(dir.path())
        .args(["--db", "n.db", "import", "leika", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sample = std::fs::read(support::fixture("leika/leika_sample_nrw2019.csv")).unwrap();
    child.stdin.take().unwrap().write_all(&sample).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:#?}");
    assert_eq!(
        support::rows(&db, "SELECT status FROM releases"),
        ["applied"]
    );
}

/// A URL whose scheme is written in capitals (`HTTPS://…`, as some documents and
/// mail programs print it) is a URL: RFC 3986 makes the scheme case-insensitive.
/// Before, it was taken for a file of that name ("reading HTTP://…: No such file or
/// directory"), in `import` and in a config's `location` alike.
#[test]
fn an_upper_case_url_scheme_is_a_url() {
    let sample = std::fs::read(support::fixture("leika/leika_sample_nrw2019.csv")).unwrap();
    let server = support::serve(move |_, _| support::Reply::ok(sample.clone()));
    let dir = scratch();
    let db = dir.path().join("o.db");
    let url = format!("HTTP://127.0.0.1:{}/leika.csv", server.port);
    let run = support::run_db(&db, &["import", "leika", &url, "--allow-http"]);
    run.assert_ok();
    assert_eq!(server.hits("/leika.csv"), 1);
    assert_eq!(
        support::rows(&db, "SELECT status FROM releases"),
        ["applied"]
    );
}

/// A backup copied back over a database whose `-wal` remained (the daemon was
/// killed, in WAL mode, before the log was checkpointed): SQLite replays that log
/// into the restored copy, whatever it is, and mixes the two (measured: records of
/// the later state inside the backup, `PRAGMA integrity_check` failing). A backup is
/// written in rollback-journal mode, and SQLite never leaves a log beside such a
/// file, so the log is known to be foreign: every command refuses the database,
/// naming the file to move, and changes nothing. Moved aside, the backup opens as
/// it was. A log beside its own database (WAL mode) is still replayed.
#[test]
fn a_log_left_beside_a_restored_backup_is_not_replayed_into_it() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let backup = dir.path().join("backup.db");
    support::run_db(&db, &["backup", backup.to_str().unwrap()]).assert_ok();
    support::run_db(
        &db,
        &[
            "import",
            "leika",
            support::fixture("leika/leika_release2.csv")
                .to_str()
                .unwrap(),
        ],
    )
    .assert_ok();

    // The same state in WAL mode, with no log yet.
    let own = dir.path().join("own.db");
    std::fs::copy(&db, &own).unwrap();
    rusqlite::Connection::open(&own)
        .unwrap()
        .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();

    // A writer in WAL mode that dies before its log is checkpointed.
    let wal = dir.path().join("ozgsync.db-wal");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
         UPDATE record_versions SET data = json_set(data, '$.name', 'later') WHERE rowid % 3 = 0;",
    )
    .unwrap();
    let log = std::fs::read(&wal).unwrap();
    drop(conn);

    // A database in WAL mode with such a log: replayed, as a crash needs.
    std::fs::write(dir.path().join("own.db-wal"), &log).unwrap();
    let run = support::run_db(
        &own,
        &[
            "query",
            "SELECT count(*) FROM record_versions WHERE json_extract(data, '$.name') = 'later'",
            "--format",
            "csv",
        ],
    );
    run.assert_ok();
    assert_ne!(run.stdout.lines().nth(1), Some("0"), "{run:#?}");

    // The backup copied back, the log beside it.
    std::fs::copy(&backup, &db).unwrap();
    std::fs::write(&wal, &log).unwrap();
    let before = std::fs::read(&db).unwrap();
    for args in [
        &["releases"][..],
        &[
            "import",
            "leika",
            support::fixture("leika/leika_release2.csv")
                .to_str()
                .unwrap(),
        ],
        &["backup", dir.path().join("b2.db").to_str().unwrap()],
    ] {
        let run = support::run_db(&db, args);
        run.assert_code(1);
        assert!(
            run.stderr
                .contains("ozgsync.db-wal beside it holds changes that cannot be its own")
                && run.stderr.contains("Nothing was opened or changed"),
            "{args:?}: {run:#?}"
        );
        assert!(
            std::fs::read(&db).unwrap() == before,
            "{args:?} changed the database"
        );
        assert_eq!(
            std::fs::read(&wal).unwrap(),
            log,
            "{args:?} changed the log"
        );
    }

    std::fs::rename(&wal, dir.path().join("aside.wal")).unwrap();
    let run = support::run_db(&db, &["releases", "--format", "csv"]);
    run.assert_ok();
    assert_eq!(run.stdout.lines().count(), 2, "{run:#?}");
    assert_eq!(support::rows(&db, "PRAGMA integrity_check"), ["ok"]);
    assert_eq!(
        support::rows(
            &db,
            "SELECT count(*) FROM record_versions WHERE json_extract(data, '$.name') = 'later'"
        ),
        ["0"]
    );
}
