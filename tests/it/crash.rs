//! Crash safety: a real `ozgsync import` child process is killed with SIGKILL at
//! many moments of a large import. After each kill the database passes
//! `PRAGMA integrity_check` and holds exactly the state before the release or, if
//! the commit won the race against the kill, exactly the state after it; never a mix.
//! The next import then completes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use sha2::{Digest, Sha256};

/// Synthetic Gemeinden added to the real file: enough that a debug-build import
/// writes for a second or more.
pub const EXTRA: usize = 60_000;

const BASE: &str = "fixtures/gv100ad/GV100AD_30112025_NI.txt";

/// A GV100AD file: the real Lower Saxony lines plus `extra` synthetic Gemeinden.
pub fn big_directory(path: &Path, extra: usize) {
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

    assert!(ozgsync(&pristine)
        .args(["import", "gv100ad", BASE])
        .status()
        .unwrap()
        .success());
    Connection::open(&pristine)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let before = state(&pristine);
    restore(&pristine, &db);
    assert!(ozgsync(&db)
        .args(["import", "gv100ad"])
        .arg(&big)
        .status()
        .unwrap()
        .success());
    let after = state(&db);
    assert_eq!(after.0, before.0 + EXTRA);

    // Every third kill lands early (start-up, fetch, before the transaction); the
    // others wait until the release transaction is open, then kill after a varying
    // pause.
    let mut killed_while_writing = 0;
    for round in 0..12u64 {
        restore(&pristine, &db);
        let mut child = ozgsync(&db)
            .args(["import", "gv100ad"])
            .arg(&big)
            .spawn()
            .unwrap();
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
    let mut child = ozgsync(&db)
        .args(["import", "gv100ad"])
        .arg(&big)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ozgsync(&db)
        .args(["import", "gv100ad"])
        .arg(&big)
        .status()
        .unwrap()
        .success());
    assert_eq!(state(&db), after);
}
