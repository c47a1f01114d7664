//! Readers beside a writer: while a large import runs, `releases`, `municipality`,
//! `status`, `query`, `export report` and a plain read-only SQLite connection keep
//! working, never see "database is locked", and always see a whole release (the
//! state before or after it, never a part).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::support::{big_directory, command, root};

/// Synthetic Gemeinden: enough for an import of a few seconds in a debug build.
const EXTRA: usize = 25_000;

const BASE: &str = "fixtures/gv100ad/GV100AD_30112025_NI.txt";

/// `--db DB --quiet ARGS` in the repository root; the raw output.
fn quiet(db: &Path, args: &[&str]) -> std::process::Output {
    command(root())
        .arg("--db")
        .arg(db)
        .arg("--quiet")
        .args(args)
        .output()
        .unwrap()
}

fn municipalities(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM v_municipalities", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn readers_during_an_import_see_whole_releases_and_no_lock_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let big = dir.path().join("big.txt");
    big_directory(&big, EXTRA);
    assert!(quiet(&db, &["import", "gv100ad", BASE]).status.success());
    let before = municipalities(&Connection::open(&db).unwrap());

    let mut writer = command(root())
        .arg("--db")
        .arg(&db)
        .args(["--quiet", "import", "gv100ad"])
        .arg(&big)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    reader.busy_timeout(Duration::from_secs(10)).unwrap();
    let report = dir.path().join("report.json");
    let report = report.to_string_lossy().into_owned();
    let mut rounds = 0;
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let done = writer.try_wait().unwrap().is_some();
        seen.insert(municipalities(&reader));
        for args in [
            &["releases", "--format", "csv"][..],
            &["municipality", "03241001"][..],
            &["status"][..],
            &[
                "query",
                "--format",
                "csv",
                "SELECT count(*) FROM v_municipalities",
            ][..],
            &["export", "report", "--format", "json", "--out", &report][..],
        ] {
            let out = quiet(&db, args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "{args:?} failed beside the import: {err}"
            );
            assert!(!err.contains("locked"), "{args:?}: {err}");
            if args[0] == "query" {
                let stdout = String::from_utf8_lossy(&out.stdout);
                let n: i64 = stdout.lines().nth(1).unwrap_or("").trim().parse().unwrap();
                seen.insert(n);
            }
            if args[0] == "releases" {
                let lines = String::from_utf8_lossy(&out.stdout).lines().count();
                assert!(lines == 2 || lines == 3, "releases shows a partial state");
            }
        }
        rounds += 1;
        if done {
            break;
        }
    }
    let status = writer.wait().unwrap();
    assert!(status.success(), "the import failed beside the readers");
    let after = municipalities(&reader);
    assert_eq!(after, before + EXTRA as i64);
    seen.insert(after);
    assert!(
        seen.iter().all(|&n| n == before || n == after),
        "a reader saw a partial release: {seen:?} (before {before}, after {after})"
    );
    assert!(rounds >= 2, "the readers never ran beside the import");
    eprintln!("{rounds} reader rounds beside the import, states seen: {seen:?}");
}
