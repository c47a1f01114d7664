//! A consistent copy of the database with SQLite's online backup (`ozgsync
//! backup`), safe while the daemon writes: it copies one snapshot, page by page,
//! into a new private file that is either absent or complete, never written over
//! anything.

use crate::error::ShowPath;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::StepResult;
use rusqlite::{Connection, MAIN_DB};

use crate::error::{Error, Result};

/// How often, and how long apart, the copy waits for a writer that holds the
/// database locked (only in rollback-journal mode; in WAL a reader never waits).
const BUSY_TRIES: u32 = 300;
const BUSY_PAUSE: Duration = Duration::from_millis(100);

/// Copies the database at `db` (opened read-only) to the new file `target`, mode
/// 0600. A `target` that exists (even a dangling link) is a usage error: a backup
/// never overwrites.
pub fn backup(db: &Path, target: &Path) -> Result<()> {
    // Not `exists()`: that follows a link, and a dangling one would be replaced.
    if std::fs::symlink_metadata(target).is_ok() {
        return Err(Error::usage(format!(
            "{} exists; choose a new file name (a backup never overwrites)",
            target.shown()
        )));
    }
    if let Some((suffix, stem)) = super::sibling_of_existing(target) {
        return Err(Error::usage(format!(
            "{} is where SQLite keeps the {suffix} file of {}; a copy there breaks that database's readers: choose another file name",
            target.shown(),
            stem.shown()
        )));
    }
    let source = super::open_for_copy(db)?;
    // Written beside the target and renamed, so it is either absent or complete.
    let mut partial = target.to_path_buf().into_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(Error::io("creating", &partial))?;
    if let Err(e) = copy(&source, &partial) {
        let _ = std::fs::remove_file(&partial);
        return Err(explain_no_room(e, db, target));
    }
    // A hard link never replaces: if the target appeared meanwhile (a file, a
    // link), it stays and the backup fails, instead of a rename silently replacing
    // it. File systems without hard links (FAT) get the plain rename.
    match std::fs::hard_link(&partial, target) {
        Ok(()) => std::fs::remove_file(&partial).map_err(Error::io("removing", &partial)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::Invalid(format!(
            "{} appeared while backing up; a backup never overwrites: the copy is kept as {}",
            target.shown(),
            partial.shown()
        ))),
        Err(_) => {
            std::fs::rename(&partial, target).map_err(Error::io("renaming into place", target))
        }
    }
}

/// A copy that SQLite could not write whole ("database or disk is full", or "disk
/// I/O error" when a file-size limit cut the write) named as what it is: the room
/// the backup needs, what its directory has, and that nothing was left. Other
/// errors pass unchanged.
fn explain_no_room(e: Error, db: &Path, target: &Path) -> Error {
    let Error::Db { source, .. } = &e else {
        return e;
    };
    let write_failed = matches!(
        source,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::DiskFull
                || f.extended_code == rusqlite::ffi::SQLITE_IOERR_WRITE
    );
    if !write_failed {
        return e;
    }
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let needed = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);
    let mb = |b: u64| b.div_ceil(1 << 20);
    let room = match super::tempdir::free_bytes(&dir) {
        Some(free) if free < needed => format!(
            "its file system has {} MB free in {}",
            free >> 20,
            dir.shown()
        ),
        Some(free) => format!(
            "{} reports {} MB free, so a file-size limit (`ulimit -f`), a quota or a \
             failing disk stopped the write",
            dir.shown(),
            free >> 20
        ),
        None => format!("{} does not say how much room it has", dir.shown()),
    };
    Error::NoRoom {
        cause: Box::new(e),
        advice: format!(
            "The backup of {} needs about {} MB, and {room}; nothing was left behind (the \
             partial copy is removed). Free space there, or give a path on a disk with room, \
             and run it again",
            db.shown(),
            mb(needed)
        ),
    }
}

fn copy(source: &Connection, target: &Path) -> Result<()> {
    let context = |what: &str| format!("{what} {}", target.shown());
    let mut copy = Connection::open(target).map_err(Error::db(context("opening the backup")))?;
    // All pages in one step: one read transaction, so the copy is one snapshot and
    // is never restarted by the daemon's writes (in WAL mode a reader does not block
    // the writer).
    let backup = rusqlite::backup::Backup::new_with_names(source, MAIN_DB, &mut copy, MAIN_DB)
        .map_err(Error::db(context("starting the backup to")))?;
    let mut busy = 0;
    loop {
        match backup
            .step(-1)
            .map_err(Error::db(context("backing up to")))?
        {
            StepResult::Done => break,
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked if busy < BUSY_TRIES => {
                busy += 1;
                std::thread::sleep(BUSY_PAUSE);
            }
            other => {
                return Err(Error::Database {
                    path: target.to_owned(),
                    problem: format!("backing up: the database stays busy ({other:?})"),
                })
            }
        }
    }
    drop(backup);
    // One self-contained file: no -wal beside it to forget when copying it around.
    copy.pragma_update(None, "journal_mode", "DELETE")
        .map_err(Error::db(context("leaving WAL mode in")))?;
    let check: String = copy
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(Error::db(context("checking")))?;
    if check != "ok" {
        return Err(Error::Database {
            path: target.to_owned(),
            problem: format!("the copy fails its check: {check}"),
        });
    }
    Ok(())
}
