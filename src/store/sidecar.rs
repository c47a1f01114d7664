//! A write-ahead log beside the database that cannot be its own. SQLite ties
//! neither a `-wal` nor a `-journal` to the database file they lie beside: it
//! replays any `-wal` with valid frames into any non-empty database of that name,
//! whatever the database's header says. One case can be told for certain: a
//! database whose header says rollback-journal mode (bytes 18 and 19 are 1) never
//! has a log of its own, because SQLite writes the WAL mode into the header before
//! it creates the log, and checkpoints and removes the log before it writes the
//! rollback mode back. A log with frames beside such a file comes from another
//! copy: a backup (written in rollback mode) copied back over a database whose
//! log remained after a crash, or a log copied from elsewhere. Replayed, it mixes
//! the two databases' pages (measured: records of the later copy inside the
//! restored one, and `PRAGMA integrity_check` failing).

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result, ShowPath};

/// A WAL file's header is 32 bytes, each frame's header 24.
const WAL_HEADER: usize = 32;
const FRAME_HEADER: usize = 24;

/// Refuses `path` when a `-wal` with frames lies beside it although its header
/// says rollback-journal mode (see the module docs). Nothing is read into SQLite
/// and nothing is changed; any file that cannot be read is left to the real open.
///
/// The database file itself is read (its header) only when a log with frames lies
/// beside it and no process, this one included, holds a lock on it or on its
/// `-shm`: closing a descriptor drops every POSIX lock this process holds on the
/// file, so it is never opened while a connection here may hold one. A log some
/// connection has open is live, not left over, and is left alone.
pub fn refuse_foreign_wal(path: &Path) -> Result<()> {
    let sibling = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    let wal = sibling("-wal");
    if !wal_has_frames(&wal) {
        return Ok(());
    }
    let idle = |file: &Path| super::lock::used_by_any_process(file) == Some(false);
    if !idle(path) || !idle(&sibling("-shm")) {
        return Ok(());
    }
    let Some(header) = read_head(path, 100) else {
        return Ok(());
    };
    let rollback_mode = header.len() == 100
        && header.starts_with(b"SQLite format 3\0")
        && header.get(18..20) == Some(&[1, 1][..]);
    if !rollback_mode {
        return Ok(());
    }
    let wal = wal.as_path();
    Err(Error::Database {
        path: path.to_owned(),
        problem: format!(
            "{} beside it holds changes that cannot be its own: the database is in rollback-journal mode, and SQLite never leaves a write-ahead log beside such a file. It is the log of another copy (a backup copied back over a database whose log remained after a crash, or a log copied from elsewhere); SQLite would replay it into this database and mix the two. Nothing was opened or changed. Move {} and {}-shm aside (keep them if the database they came with matters), then run the command again",
            wal.shown(),
            wal.shown(),
            path.shown()
        ),
    })
}

/// The first `len` bytes of `path` (fewer if it is shorter), or None if it
/// cannot be read.
fn read_head(path: &Path, len: u64) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let mut head = Vec::new();
    file.take(len).read_to_end(&mut head).ok()?;
    Some(head)
}

/// Whether `wal` is a WAL file (either magic number) whose first frame carries the
/// header's salts, that is, one SQLite would read frames from. A log that was reset
/// or is empty holds nothing to replay.
fn wal_has_frames(wal: &Path) -> bool {
    if !std::fs::symlink_metadata(wal).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let Some(head) = read_head(wal, (WAL_HEADER + FRAME_HEADER) as u64) else {
        return false;
    };
    let magic = head.get(..4);
    let salts = head.get(16..24);
    let frame_salts = head.get(WAL_HEADER + 8..WAL_HEADER + 16);
    let known_magic = [[0x37, 0x7f, 0x06, 0x82], [0x37, 0x7f, 0x06, 0x83]]
        .iter()
        .any(|m| magic == Some(&m[..]));
    known_magic && salts.is_some() && salts == frame_salts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database in rollback mode with a WAL (frames, matching salts) from a
    /// copy of itself in WAL mode is refused; without the log, with an empty log,
    /// or with the database itself in WAL mode, nothing is said.
    #[test]
    fn only_a_log_beside_a_rollback_mode_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (db, copy) = (dir.path().join("a.db"), dir.path().join("b.db"));
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE t(a); INSERT INTO t VALUES (1);")
            .unwrap();
        drop(conn);
        std::fs::copy(&db, &copy).unwrap();
        assert!(refuse_foreign_wal(&db).is_ok());

        // A log left by a writer in WAL mode that was killed.
        let conn = rusqlite::Connection::open(&copy).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; INSERT INTO t VALUES (2);",
        )
        .unwrap();
        let log = std::fs::read(dir.path().join("b.db-wal")).unwrap();
        drop(conn);
        // Its own database (WAL mode in its header) is not refused.
        std::fs::write(dir.path().join("b.db-wal"), &log).unwrap();
        assert!(refuse_foreign_wal(&copy).is_ok());

        std::fs::write(dir.path().join("a.db-wal"), &log).unwrap();
        let err = refuse_foreign_wal(&db).unwrap_err().to_string();
        assert!(err.contains("cannot be its own"), "{err}");
        std::fs::write(dir.path().join("a.db-wal"), &log[..WAL_HEADER]).unwrap();
        assert!(refuse_foreign_wal(&db).is_ok());
    }
}
