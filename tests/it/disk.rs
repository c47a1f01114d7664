//! Disk full and read-only disk: the database lives on a 2 MiB tmpfs mounted by
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
    let Some(mount) = Mount::tmpfs(&mount_point, "2m") else {
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

    // Full: the big release does not fit in 2 MiB.
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
