//! The library's typed errors. Each variant says what failed and where (file, URL,
//! line, SQL); the CLI adds context and maps them to exit codes. A usage error
//! (exit 2) is marked by [`Usage`] anywhere in an error's chain of causes, so any
//! library error can carry it and the CLI decides the exit code in one place.

use std::path::{Path, PathBuf};

use crate::fetch::FetchError;
use crate::parse::ParseError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A database statement failed; `context` names the statement or the step.
    #[error("database error while {context}: {source}")]
    Db {
        context: String,
        #[source]
        source: rusqlite::Error,
    },

    /// The database was written by a newer ozgsync than this one.
    #[error(
        "database {path} has schema version {found}, but this ozgsync knows only up to {supported}; \
         upgrade ozgsync (or restore a backup taken with this version)"
    )]
    NewerSchema {
        path: String,
        found: i64,
        supported: i64,
    },

    /// A file could not be read or written.
    #[error("{action} {}: {source}", Shown(path))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file SQLite writes could not be written whole for want of room: its
    /// temporary files while it sorted (an index built in one go after a large
    /// release or status report, [`crate::store::tempdir`]) or a backup's copy
    /// ([`crate::store::backup`]); `advice` names the directory, the room needed
    /// and what stopped it.
    #[error("{cause}. {advice}")]
    NoRoom { cause: Box<Error>, advice: String },

    /// Fetching a source failed (network, HTTP status, size limit, ...).
    #[error(transparent)]
    Fetch(#[from] FetchError),

    /// A payload is not in the expected format at all; the release is rejected whole.
    #[error("{location}: {source}")]
    Parse {
        location: String,
        #[source]
        source: ParseError,
    },

    /// A full release without a single valid record would retire the whole catalogue
    /// (or, when its bad rows still name their keys, update none of it); that is far
    /// more likely a broken export than the truth.
    #[error(
        "{location}: the payload holds no valid record, so it cannot be a full edition of the {current} current records (applied, it would retire them or leave every one stale); nothing was changed. Check the source (see `ozgsync rejects` of a test import with --mode incremental)"
    )]
    EmptyRelease { location: String, current: usize },

    /// A full release whose payload holds no row at all (a header only).
    #[error(
        "{location}: the payload holds no record at all (a header line or an empty list and nothing else), which is not a full edition of a catalogue; nothing was applied. A download cut after its first line looks like this: check the source"
    )]
    NoRecords { location: String },

    /// A full release into a source with nothing current whose every row is
    /// rejected: nothing in the file is usable, so it is not the format.
    #[error(
        "{location}: none of its {rejected} row(s) is a valid record (the first, {position}: {reason}), so it is not a full edition of a catalogue; nothing was applied. A file of another kind, another encoding or shifted columns look like this: check the file. To record it anyway with its rejects, import it with --mode incremental and see `ozgsync rejects`"
    )]
    NoValidRecord {
        location: String,
        rejected: u64,
        position: String,
        reason: String,
    },

    /// A full release that would retire more than the allowed share of the records.
    #[error(
        "{location}: this full release would retire {retire} of {current} current records, more than the allowed {:.0} %; nothing was applied. A truncated or partial download looks like this; if the source really dropped them, import again with --max-retire-share 1 (or set max_retire_share = 1.0 for the source)",
        max_share * 100.0
    )]
    MassRetire {
        location: String,
        retire: usize,
        current: usize,
        max_share: f64,
    },

    /// A payload from an older edition than the data it would replace: applying it
    /// would turn history backwards without anyone noticing.
    #[error(
        "{location}: {what}, older than the {current} the database holds; applying it would turn the data back to an older state, so nothing was changed. To do that on purpose (e.g. to restore an edition), import it again with --allow-older-edition"
    )]
    OlderEdition {
        location: String,
        /// What is dated and its date, e.g. "the payload's Gebietsstand is 2021-11-30".
        what: String,
        current: String,
    },

    /// A payload whose edition is dated after today: no published edition is, and
    /// applied it would make every real edition after it an older one.
    #[error(
        "{location}: {what}, after today ({today}): no published edition is dated in the future, and applied it would hold back every real edition after it as older; nothing was changed. A mistyped or made-up date looks like this: check the file (--allow-older-edition imports it anyway)"
    )]
    FutureEdition {
        location: String,
        what: String,
        today: String,
    },

    /// The database file cannot be used as given: missing for a command that only
    /// reads, not an SQLite database, not yet migrated, or not openable read-only.
    #[error("database {}: {problem}", Shown(path))]
    Database { path: PathBuf, problem: String },

    /// A full release in which a field that most current records fill is empty in
    /// (nearly) every record: what a wrong encoding or a shifted layout looks like.
    #[error(
        "{location}: field `{field}` is filled in {before} of {current} current records but in only {now} of the {records} records of this release; nothing was applied. A wrong encoding, a renamed or shifted column looks like this; check the file, and if the source really dropped the field, import again with --max-retire-share 1 (or set max_retire_share = 1.0 for the source)"
    )]
    EmptiedField {
        location: String,
        field: String,
        before: u64,
        current: usize,
        now: u64,
        records: u64,
    },

    /// A local file a release read in place changed or was replaced while it was
    /// read ([`crate::fetch::LocalFile`]): what was parsed may not be what is there.
    #[error(
        "{}: the file changed while it was read ({change}); nothing was applied. Import it again once the program writing it is done (a download or copy still running looks like this)",
        Shown(path)
    )]
    PayloadChanged { path: PathBuf, change: String },

    /// The configuration is invalid.
    #[error("configuration {path}: {message}")]
    Config { path: String, message: String },

    /// The user asked for something that does not exist (release, key, source).
    #[error("{0}")]
    NotFound(String),

    /// Input was refused: a sheet, file or value that does not pass validation.
    /// The work failed (exit 1).
    #[error("{0}")]
    Invalid(String),

    /// The command line is malformed: an argument value that cannot be used,
    /// found before any work starts (exit 2, like clap's own usage errors).
    #[error("{0}")]
    Usage(#[from] Usage),

    /// The work was asked to stop (a signal, the daemon's shutdown or job timeout)
    /// before it committed; its transaction rolled back.
    #[error("stopped ({reason}) before {what} committed; nothing of it was applied, the database keeps its previous state")]
    Stopped { reason: String, what: String },

    /// Work stopped at a bound that keeps it finite (time, memory); the message
    /// names the bound and how to raise it.
    #[error("{0}")]
    Limit(String),
}

/// The marker of a usage error: the request itself cannot be used (a malformed
/// argument value, an option that does not apply, a target that must not be
/// written), found before any work starts. Every error that has it among its
/// causes makes the binary exit with 2, like clap's own usage errors; every other
/// error exits with 1 (`cli::exit_code_for`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

impl Error {
    /// A usage error with this message (see [`Usage`]).
    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage(Usage(message.into()))
    }

    /// Wraps a rusqlite error with what was being done.
    pub fn db(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Error {
        let context = context.into();
        move |source| Error::Db { context, source }
    }

    /// The earliest time the source may be asked again, when its server said
    /// so (`Retry-After`, capped at `fetch.max_backoff_secs`).
    pub fn not_before(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            Error::Fetch(FetchError::Status { not_before, .. }) => *not_before,
            _ => None,
        }
    }

    /// Whether this is SQLite's answer to an interrupted statement (see
    /// [`crate::stop`]): the transaction it was part of did not commit.
    pub fn is_interrupt(&self) -> bool {
        matches!(
            self,
            Error::Db {
                source: rusqlite::Error::SqliteFailure(e, _),
                ..
            } if e.code == rusqlite::ErrorCode::OperationInterrupted
        )
    }

    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            source: name_the_file_in_the_way(&path, source),
            path,
        }
    }
}

/// The system's "Not a directory" names no culprit: for `a/b/c` where `a` is a
/// file (`--out report.xlsx/x.csv`, a backup below a file), it says which part of
/// the path is the file. Used by [`Error::io`], and where a source file is opened.
pub(crate) fn name_the_file_in_the_way(
    path: &std::path::Path,
    e: std::io::Error,
) -> std::io::Error {
    if e.kind() != std::io::ErrorKind::NotADirectory {
        return e;
    }
    let file = path
        .ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .find(|a| std::fs::metadata(a).is_ok_and(|m| !m.is_dir()));
    match file {
        Some(file) => std::io::Error::new(
            e.kind(),
            format!(
                "{e}: {} is a file, not a folder, so nothing can be below it; check the path",
                file.shown()
            ),
        ),
        None => e,
    }
}

/// A path as a message names it: its text as it is, each byte that is not
/// UTF-8 (a name saved on a Latin-1 system) as `\xFC`, where `Path::display`
/// shows U+FFFD, which names no byte and cannot be told from a real U+FFFD, and a
/// character that acts on a terminal as its escape ([`crate::logging::visible`]):
/// a line break in a file name is `\n`, not a line of the message.
pub struct Shown<'a>(pub &'a Path);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for chunk in self.0.as_os_str().as_encoded_bytes().utf8_chunks() {
            f.write_str(&crate::logging::visible(chunk.valid()))?;
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02X}")?;
            }
        }
        Ok(())
    }
}

/// `path.shown()`: [`Shown`] where a message would write `path.shown()`.
pub trait ShowPath {
    fn shown(&self) -> Shown<'_>;
}

impl ShowPath for Path {
    fn shown(&self) -> Shown<'_> {
        Shown(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn a_path_is_shown_with_the_bytes_that_are_not_utf8() {
        let path = Path::new(OsStr::from_bytes(
            b"/daten/\xfcber \xe4\xf6/M\xc3\xbcnster/\xef\xbf\xbd",
        ));
        assert_eq!(
            path.shown().to_string(),
            "/daten/\\xFCber \\xE4\\xF6/Münster/\u{fffd}"
        );
        assert_eq!(Path::new("a/ü b.csv").shown().to_string(), "a/ü b.csv");
        assert_eq!(Path::new("a\nb\x1b.db").shown().to_string(), "a\\nb\\e.db");
    }
}
