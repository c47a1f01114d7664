//! SQLite's temporary directory, where its sorter spills while an index is built
//! in one go (a first release's deferred indexes, a large status report's scope
//! index): found as SQLite's unix VFS finds it, so that an error of such a build
//! names the directory, the variable that chose it and the room it needs, not
//! only SQLite's "database or disk is full" (which sends a user to the
//! database's disk).

use std::path::{Path, PathBuf};

use crate::error::{Error, ShowPath};

/// Where SQLite looks for a temporary directory after `SQLITE_TMPDIR` and
/// `TMPDIR` (`unixTempFileDir`, in this order; `.` is the working directory).
const FALLBACKS: [&str; 4] = ["/var/tmp", "/usr/tmp", "/tmp", "."];

/// The directory SQLite puts its temporary files in, and what chose it: the
/// first of `SQLITE_TMPDIR`, `TMPDIR`, `/var/tmp`, `/usr/tmp`, `/tmp` and `.` that
/// is a directory this process may write into and search, as SQLite decides
/// (`stat` and `access`). `None` when none is: SQLite then fails to make one.
pub fn sqlite_temp_dir() -> Option<(PathBuf, &'static str)> {
    ["SQLITE_TMPDIR", "TMPDIR"]
        .into_iter()
        .filter_map(|var| std::env::var_os(var).map(|dir| (PathBuf::from(dir), var)))
        .chain(
            FALLBACKS
                .into_iter()
                .map(|dir| (PathBuf::from(dir), "SQLite's default")),
        )
        .find(|(dir, _)| usable(dir))
}

fn usable(dir: &Path) -> bool {
    use rustix::fs::Access;
    std::fs::metadata(dir).is_ok_and(|m| m.is_dir())
        && rustix::fs::access(dir, Access::WRITE_OK | Access::EXEC_OK).is_ok()
}

/// Free bytes in `dir` for an unprivileged writer, if the file system says.
pub(crate) fn free_bytes(dir: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// Whether `e` is SQLite failing to make or write a file: a full disk, a file it
/// could not create, an I/O error, no temporary directory at all.
fn is_file_failure(e: &Error) -> bool {
    use rusqlite::ErrorCode;
    matches!(
        e,
        Error::Db {
            source: rusqlite::Error::SqliteFailure(f, _),
            ..
        } if matches!(
            f.code,
            ErrorCode::DiskFull | ErrorCode::CannotOpen | ErrorCode::SystemIoFailure
        )
    )
}

/// Room in SQLite's temporary directory per row of a one-go index build,
/// generously: a first LeiKa release of 100,000 rows failed with a tmpfs of
/// 8 MiB as `SQLITE_TMPDIR` and went through with 9 MiB (session 17), ~90 bytes
/// a row (two sorted runs of the unique index's entries, written by its workers).
const SORTED_BYTES_PER_ROW: u64 = 128;

/// `e`, the error of an index built over `rows` rows in one sort, with what a user
/// needs when SQLite could not write its temporary files: which directory SQLite
/// used and why, the room it needs, what to set. Other errors pass unchanged.
pub fn explain_sort(e: Error, rows: u64) -> Error {
    if !is_file_failure(&e) {
        return e;
    }
    let mb = (rows.saturating_mul(SORTED_BYTES_PER_ROW) >> 20).max(1);
    let advice = match sqlite_temp_dir() {
        Some((dir, chosen_by)) => {
            let free = free_bytes(&dir)
                .map(|b| format!("; {} MB free there now", b >> 20))
                .unwrap_or_default();
            // SQLITE_TMPDIR, when it chose, is the one to change; else TMPDIR.
            let set = if chosen_by == "SQLITE_TMPDIR" {
                "SQLITE_TMPDIR"
            } else {
                "TMPDIR"
            };
            format!(
                "SQLite sorts the index in temporary files of up to about {mb} MB in {} \
                 (chosen by {chosen_by}{free}), besides the room the database itself needs; \
                 nothing was applied. Set {set} to a directory with {mb} MB free, or free \
                 space there, and run it again",
                dir.shown()
            )
        }
        None => format!(
            "SQLite found no directory to write its temporary files into (it tries \
             SQLITE_TMPDIR, TMPDIR, /var/tmp, /usr/tmp, /tmp and the working directory, \
             none of them writable here); nothing was applied. Set TMPDIR to a writable \
             directory with {mb} MB free and run it again"
        ),
    };
    Error::NoRoom {
        cause: Box::new(e),
        advice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_file_failure_is_explained() {
        let failure = |code: i32| {
            Error::db("building index")(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
        };
        let full = explain_sort(failure(rusqlite::ffi::SQLITE_FULL), 100_000).to_string();
        assert!(
            full.starts_with("database error while building index: "),
            "{full}"
        );
        assert!(
            full.contains("Set TMPDIR to a directory with 12 MB free"),
            "{full}"
        );
        let busy = explain_sort(failure(rusqlite::ffi::SQLITE_BUSY), 100_000);
        assert!(matches!(busy, Error::Db { .. }), "{busy}");
    }
}
