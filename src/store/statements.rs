//! The SQL each reader runs, recorded on request: the seam through which
//! `tests/it/plans.rs` checks every reader's query plan with the statements the code
//! really runs (an index lost by a migration, or a query written so that SQLite
//! cannot use one, shows as a full scan of a large table there).
//!
//! Off unless [`record`] names a database: then each read connection opened to that
//! path afterwards ([`crate::store::open_reader`]) reports the text of every
//! statement it starts (SQLite's `SQLITE_TRACE_STMT`), kept once each, in the order
//! first run. A connection to any other path, and every connection while it is off,
//! costs one comparison at its opening and nothing after.
//!
//! The same trace is the log target `ozgsync::sql` at level `trace`: with
//! `RUST_LOG=ozgsync::sql=trace` every read connection logs each statement it
//! starts, so an operator (or `tests/it/plans.rs`, for the CLI's readers through
//! the real binary) sees the SQL a command ran, each time a statement starts.

use rusqlite::trace::{TraceEvent, TraceEventCodes};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The database whose readers are recorded, and what they ran.
static RECORDING: Mutex<Option<(PathBuf, Vec<String>)>> = Mutex::new(None);

/// Records the statements of the read connections opened to `db` from now on,
/// dropping what an earlier call recorded.
pub fn record(db: &Path) {
    if let Ok(mut recording) = RECORDING.lock() {
        *recording = Some((db.to_owned(), Vec::new()));
    }
}

/// Stops recording; returns the statements recorded, each once, in the order first
/// run (a trigger's own statements, which SQLite reports as `-- TRIGGER name`,
/// left out).
pub fn take() -> Vec<String> {
    RECORDING
        .lock()
        .ok()
        .and_then(|mut recording| recording.take())
        .map(|(_, seen)| seen)
        .unwrap_or_default()
}

/// The log target of the statements' trace.
pub const TARGET: &str = "ozgsync::sql";

/// Installs the trace on `conn` when its database is the one recorded, or when the
/// log shows [`TARGET`] at level `trace`.
pub(crate) fn attach(conn: &Connection, path: &Path) {
    let wanted = tracing::enabled!(target: TARGET, tracing::Level::TRACE)
        || RECORDING
            .lock()
            .is_ok_and(|recording| recording.as_ref().is_some_and(|(db, _)| db == path));
    if wanted {
        conn.trace_v2(TraceEventCodes::SQLITE_TRACE_STMT, Some(seen));
    }
}

fn seen(event: TraceEvent<'_>) {
    let TraceEvent::Stmt(_, sql) = event else {
        return;
    };
    if sql.starts_with("--") {
        return;
    }
    tracing::trace!(target: TARGET, "{sql}");
    if let Ok(mut recording) = RECORDING.lock() {
        if let Some((_, seen)) = recording.as_mut() {
            if !seen.iter().any(|s| s == sql) {
                seen.push(sql.to_owned());
            }
        }
    }
}
