//! Disk full and read-only disk: the database lives on a 4 MiB tmpfs mounted by
//! the test. A large import fills it: the import fails with a clear error, the
//! previous release is intact, and after the filesystem grows the same import
//! succeeds. A read-only remount fails the import cleanly too. Needs permission to
//! mount (root, as in CI); elsewhere the test says so and passes without running.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rusqlite::Connection;

use super::support::{big_directory, command, root};

/// A tmpfs mounted at `path`, unmounted on drop (also when an assertion fails).
struct Mount {
    path: PathBuf,
}

impl Mount {
    fn tmpfs(path: &Path, size: &str) -> Option<Mount> {
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .output()
            .ok()?;
        out.status.success().then(|| Mount {
            path: path.to_owned(),
        })
    }

    fn remount(&self, options: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount {options}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // Lazy, so a connection still open in a failing test cannot keep it mounted.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// `--db DB --quiet ARGS FILE` in the repository root; the raw output.
fn quiet(db: &Path, args: &[&str], file: &Path) -> Output {
    command(root())
        .arg("--db")
        .arg(db)
        .arg("--quiet")
        .args(args)
        .arg(file)
        .output()
        .unwrap()
}

/// Integrity check, then (releases, versions, applied releases).
fn state(db: &Path) -> (i64, i64, i64) {
    let conn = Connection::open(db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    conn.query_row(
        "SELECT (SELECT count(*) FROM releases), (SELECT count(*) FROM record_versions),
                (SELECT count(*) FROM releases WHERE status = 'applied')",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

#[test]
fn disk_full_and_read_only_disk_keep_the_previous_release() {
    let dir = tempfile::tempdir().unwrap();
    let mount_point = dir.path().join("small");
    std::fs::create_dir(&mount_point).unwrap();
    // Room for the schema of a new database (16 KiB pages, `NEW_DATABASE_PAGE_SIZE`,
    // one for each of its ~50 tables and indexes) and its WAL, and the base
    // release; not for the big one (25,000 more records).
    let Some(mount) = Mount::tmpfs(&mount_point, "4m") else {
        eprintln!(
            "SKIPPED disk_full_and_read_only_disk_keep_the_previous_release: cannot mount a tmpfs here (needs root)"
        );
        return;
    };
    let db = mount_point.join("ozgsync.db");
    let base = Path::new("fixtures/gv100ad/GV100AD_30112025_NI.txt");
    let big = dir.path().join("big.txt");
    big_directory(&big, 25_000);

    let out = quiet(&db, &["import", "gv100ad"], base);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = state(&db);

    // Full: the big release does not fit in 4 MiB.
    let out = quiet(&db, &["import", "gv100ad"], &big);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("full"),
        "the message says the disk is full: {err}"
    );
    eprintln!("disk full: {}", err.trim());
    assert_eq!(state(&db), before, "the failed release left traces");

    // Read-only: refused cleanly, nothing changes.
    mount.remount("ro");
    let out = quiet(&db, &["import", "gv100ad"], &big);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("read-only") || err.contains("readonly") || err.contains("Read-only"),
        "the message says the disk is read-only: {err}"
    );
    eprintln!("read-only: {}", err.trim());

    // Space returns: the same import succeeds.
    mount.remount("rw,size=64m");
    assert_eq!(state(&db), before);
    let out = quiet(&db, &["import", "gv100ad"], &big);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = state(&db);
    assert_eq!(after.0, before.0 + 1);
    assert_eq!(after.1, before.1 + 25_000);
    drop(mount);
}

/// A database on a read-only mount (a snapshot, a backup volume, a container's
/// read-only layer): every writing command names the cause and the way out (copy
/// it somewhere writable and pass --db, or use a reading command), never a
/// permission problem a `chown` would not solve; a reader meeting a WAL-mode file
/// there says the same; the file is never changed.
#[test]
fn a_read_only_mount_names_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let mount_point = dir.path().join("ro");
    std::fs::create_dir(&mount_point).unwrap();
    let Some(mount) = Mount::tmpfs(&mount_point, "16m") else {
        eprintln!(
            "SKIPPED a_read_only_mount_names_the_way_out: cannot mount a tmpfs here (needs root)"
        );
        return;
    };
    let db = mount_point.join("ozgsync.db");
    let wal = mount_point.join("wal.db");
    let leika = root().join("fixtures/leika/leika_release2.csv");
    let out = quiet(&db, &["import", "leika"], &leika);
    assert!(out.status.success(), "{out:?}");
    std::fs::copy(&db, &wal).unwrap();
    let conn = Connection::open(&wal).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(conn);
    assert!(!mount_point.join("wal.db-wal").exists());
    let before = std::fs::read(&db).unwrap();
    mount.remount("ro");

    let run = |db: &Path, args: &[&str]| {
        let out = command(root())
            .arg("--db")
            .arg(db)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains("read-only file system"), "{args:?}: {err}");
        assert!(!err.contains("permission"), "{args:?}: {err}");
        err
    };
    let leika = leika.to_str().unwrap();
    // With the writer lock (import) and without it (status set).
    for args in [
        &["import", "leika", leika][..],
        &[
            "status",
            "set",
            "99102013000000",
            "--ressort",
            "MI",
            "--status",
            "pilot",
            "--on",
            "2024-01-01",
            "--by",
            "test",
        ][..],
    ] {
        let err = run(&db, args);
        assert!(err.contains("copy it to a writable place"), "{err}");
        assert!(err.contains("commands that only read"), "{err}");
    }
    // A database to be created there.
    let err = run(&mount_point.join("new.db"), &["import", "leika", leika]);
    assert!(err.contains("Point --db"), "{err}");
    // A WAL-mode file without -wal/-shm: SQLite cannot create them for a reader.
    let err = run(&wal, &["search", "parken"]);
    assert!(err.contains("Copy it to a writable place"), "{err}");
    assert!(!err.contains("as the database's owner"), "{err}");

    assert_eq!(std::fs::read(&db).unwrap(), before);
    let reader = command(root())
        .arg("--db")
        .arg(&db)
        .args(["search", "Parken"])
        .output()
        .unwrap();
    assert!(reader.status.success(), "{reader:?}");
    drop(mount);
}
