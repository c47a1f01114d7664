//! Early writeback of a new database's file while its first release writes it.
//!
//! A database an `import` or `sync` creates takes its first release in
//! rollback-journal mode (`open_release_writer`): SQLite writes the pages its 8 MiB
//! release cache spills straight into the database file, and the kernel keeps them
//! dirty (nothing on this path is old or large enough for its own writeback) until
//! the commit's `fsync`, which then writes the whole file — 51 MB for the LeiKa
//! catalogue, with the disk idle until then. [`Writeback`] syncs the file from a
//! second thread each time it has grown by [`STEP_BYTES`], so the disk writes while
//! the release still computes and the commit's `fsync` finds little left.
//! Durability is as before (the commit still syncs everything); the extra syncs
//! only write earlier what the kernel could have written at any time.
//!
//! The descriptor is this module's own, and closing any descriptor of a file drops
//! every POSIX lock the process holds on it, SQLite's included. So it is opened only
//! for a database in rollback-journal mode, which only a database this command
//! created is (no other connection of the process has it open), and the caller
//! closes it only after the release's transaction has ended, when the connection
//! holds no lock: [`Writeback`] is made before the transaction and dropped after it.

use std::fs::File;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use rusqlite::Connection;

/// How much the file grows between two syncs. Small enough that the commit's
/// `fsync` is left with little, large enough that a 51 MB release syncs about a
/// dozen times (each sync of a growing file also commits the file system's journal).
const STEP_BYTES: u64 = 4 << 20;

/// How often the syncing thread looks at the file's size.
const POLL: Duration = Duration::from_millis(10);

/// A descriptor of the database file of a release in rollback-journal mode.
pub(crate) struct Writeback {
    file: File,
}

impl Writeback {
    /// The descriptor for `conn`'s main database if it is in rollback-journal mode
    /// (a database this command created, before its first release has committed);
    /// `None` otherwise, or if the file cannot be opened (early writeback is only
    /// an optimisation). Call before the release's transaction begins.
    pub(crate) fn open(conn: &Connection) -> Option<Writeback> {
        let mode = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
            .ok()?;
        if !mode.eq_ignore_ascii_case("delete") {
            return None;
        }
        // And no release yet: a database in rollback-journal mode for another reason
        // (a file system where WAL mode failed) may be open elsewhere in the process.
        // A database whose schema the release creates has none yet.
        let first = crate::store::schema_pending(conn).ok()?
            || conn
                .query_row("SELECT NOT EXISTS (SELECT 1 FROM releases)", [], |r| {
                    r.get(0)
                })
                .ok()?;
        if !first {
            return None;
        }
        let path = conn.path().filter(|p| !p.is_empty())?;
        open_file(Path::new(path)).map(|file| Writeback { file })
    }

    /// Syncs the file each time it has grown by [`STEP_BYTES`], until `stop`'s
    /// sender is dropped. Run on a thread of its own: a sync waits for the disk.
    pub(crate) fn run(&self, stop: &Receiver<()>) {
        let mut synced = self.len();
        while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(POLL) {
            let len = self.len();
            if len >= synced.saturating_add(STEP_BYTES) {
                if let Err(e) = self.file.sync_data() {
                    tracing::debug!(error = %e, "early writeback of the database stopped");
                    return;
                }
                synced = len;
            }
        }
    }

    fn len(&self) -> u64 {
        self.file.metadata().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(target_os = "linux")]
fn open_file(path: &Path) -> Option<File> {
    use rustix::fs::{Mode, OFlags};
    // Read-only is enough for `fdatasync`; never through a symbolic link.
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::open(path, flags, Mode::empty())
        .ok()
        .map(File::from)
}

#[cfg(not(target_os = "linux"))]
fn open_file(_path: &Path) -> Option<File> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_new_database_before_its_first_release_is_synced_early() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = crate::store::open_release_writer(&path).unwrap();
        assert_eq!(Writeback::open(&conn).is_some(), cfg!(target_os = "linux"));
        // A release exists: the database may be open elsewhere in the process.
        conn.execute_batch(
            "INSERT INTO sources (name, kind, location, updated_at) VALUES ('s', 'leika', 'x', 'now');
             INSERT INTO releases (source, kind, entity, mode, location, fetched_at, status)
             VALUES ('s', 'leika', 'service', 'full', 'x', 'now', 'applied');",
        )
        .unwrap();
        assert!(Writeback::open(&conn).is_none());
        conn.execute_batch("DELETE FROM releases").unwrap();
        // WAL mode: closing a descriptor would drop the connection's shared lock.
        crate::store::enter_wal(&conn);
        assert!(Writeback::open(&conn).is_none());
        // An in-memory database has no file.
        let memory = Connection::open_in_memory().unwrap();
        assert!(Writeback::open(&memory).is_none());
    }
}
