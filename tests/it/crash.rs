//! Crash safety: a real `ozgsync import` child process is killed with SIGKILL at
//! several moments of a large import. Afterwards the database passes
//! `PRAGMA integrity_check` and holds exactly the previous release, and the next
//! import completes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rusqlite::Connection;

/// Synthetic Gemeinden added to the real file: enough that a debug-build import runs
/// for about a second.
const EXTRA: usize = 60_000;

const BASE: &str = "fixtures/gv100ad/GV100AD_30112025_NI.txt";

/// A GV100AD file: the real Lower Saxony lines plus `extra` synthetic Gemeinden,
/// large enough that an import takes a while.
fn big_directory(path: &Path, extra: usize) {
    let mut text = std::fs::read_to_string(BASE).unwrap();
    for i in 0..extra {
        let (r, v, g) = (i % 10, (i / 10) % 10_000, i / 100_000);
        let ags = format!("03{r}99{g:03}");
        let name = format!("Testgemeinde Nr. {i} an der Ähre");
        let mut line = format!("6020251130{ags}{v:04}{name:<50}");
        line.push_str(&" ".repeat(122 - line.chars().count()));
        line.push_str("64");
        line.push_str(&" ".repeat(220 - line.chars().count()));
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn ozgsync(db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ozgsync"));
    cmd.arg("--db").arg(db).arg("--quiet");
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

/// Every version row (key, valid_from, valid_to, data) and the number of releases.
type Snapshot = (Vec<(String, i64, Option<i64>, String)>, i64);

/// The catalogue as a comparable value; checks integrity first.
fn snapshot(db: &Path) -> Snapshot {
    let conn = Connection::open(db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let mut stmt = conn
        .prepare(
            "SELECT key, valid_from, valid_to, data FROM record_versions ORDER BY key, valid_from",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let releases = conn
        .query_row("SELECT count(*) FROM releases", [], |r| r.get(0))
        .unwrap();
    (rows, releases)
}

fn wal_size(db: &Path) -> u64 {
    std::fs::metadata(db.with_extension("db-wal"))
        .map(|m| m.len())
        .unwrap_or(0)
}

#[test]
fn sigkill_during_import_leaves_the_previous_release() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let big = dir.path().join("big.txt");
    big_directory(&big, EXTRA);

    let status = ozgsync(&db)
        .args(["import", "gv100ad", BASE])
        .status()
        .unwrap();
    assert!(status.success());
    let before = snapshot(&db);

    let mut killed_while_writing = 0;
    let mut completed = false;
    for delay_ms in [5, 50, 150, 300, 500, 800, 1200, 1700] {
        let wal_before = wal_size(&db);
        let mut child = ozgsync(&db)
            .args(["import", "gv100ad"])
            .arg(&big)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_some() {
            completed = true;
            break;
        }
        let writing = wal_size(&db) > wal_before;
        child.kill().unwrap();
        child.wait().unwrap();
        if writing {
            killed_while_writing += 1;
        }
        assert_eq!(snapshot(&db), before, "state after a kill at {delay_ms} ms");
    }
    assert!(
        killed_while_writing >= 2,
        "only {killed_while_writing} kills hit the import while it wrote (completed early: {completed})"
    );

    let status = ozgsync(&db)
        .args(["import", "gv100ad"])
        .arg(&big)
        .status()
        .unwrap();
    assert!(status.success());
    let (rows, releases) = snapshot(&db);
    assert_eq!(releases, before.1 + 1);
    assert_eq!(rows.len(), before.0.len() + EXTRA);
}
