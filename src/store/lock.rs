//! The writer lock: at most one daemon or `sync`/`import` writes a database at a
//! time. It is an `flock` on `<database>.lock` beside the database: the kernel drops
//! it when the holder exits in any way (kill -9 included), so a stale lock cannot
//! exist and no heartbeat is needed. The file's content (pid, command, since when)
//! is only for the message a second instance prints. The file is never deleted:
//! deleting a lock file while another process waits on it would let two holders in.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "database {db} is being written by another ozgsync ({holder}); \
         only one daemon or sync may write a database at a time \
         (lock file {lock}): stop the other one or wait for it"
    )]
    Held {
        db: String,
        lock: String,
        holder: String,
    },
    #[error("locking {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held for as long as the value lives; dropping it (or exiting) releases the lock.
#[derive(Debug)]
pub struct WriteLock {
    _file: File,
    path: PathBuf,
}

impl WriteLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file of a database: `<database>.lock` in the same directory, so that
/// systemd's `ReadWritePaths` for the data directory covers it.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    db.with_file_name(name)
}

/// Takes the writer lock of `db` without waiting; `what` names the holder (e.g.
/// `daemon`, `sync`) for the message another instance shows.
pub fn acquire(db: &Path, what: &str) -> Result<WriteLock, LockError> {
    let path = lock_path(db);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(LockError::Held {
                db: db.display().to_string(),
                lock: path.display().to_string(),
                holder: if holder.is_empty() {
                    "unknown process".into()
                } else {
                    holder.to_owned()
                },
            });
        }
        Err(e) => return Err(io(e.into())),
    }
    let note = format!(
        "{what}, pid {}, since {}",
        std::process::id(),
        crate::store::now_utc()
    );
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(note.as_bytes()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(WriteLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ozgsync.db");
        assert_eq!(lock_path(&db), dir.path().join("ozgsync.db.lock"));
        let first = acquire(&db, "daemon").unwrap();
        let err = acquire(&db, "sync").unwrap_err().to_string();
        assert!(err.contains("daemon, pid"), "{err}");
        assert!(err.contains("only one daemon or sync"), "{err}");
        drop(first);
        acquire(&db, "sync").unwrap();
    }
}
