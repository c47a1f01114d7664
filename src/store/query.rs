//! The coordinators' query interface: one SQL statement on a connection that cannot
//! change anything. Three layers, each enough on its own: the file is opened
//! read-only, `PRAGMA query_only` is on, and an authorizer allows only reading
//! (SELECT, reading tables, functions other than `load_extension`, recursive CTEs,
//! a pragma without a value, which reads its setting or runs a check such as
//! `integrity_check`, and the pragmas whose argument names what to describe or
//! check). The authorizer also names what was refused, so the error is clearer than
//! SQLite's "not authorized".
//!
//! Any statement also ends by itself: SQLite's work on it is bounded in time (a
//! progress handler interrupts it at the deadline) and in memory (a hard heap limit,
//! with temporary tables and sorts kept in memory so they fall under it instead of
//! filling the disk), and a value is handed out cut to [`MAX_CELL_BYTES`]. Each limit
//! that is hit is named in the error, with how to raise it.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode};

use crate::error::{Error, Result};

/// Pragmas whose value is an argument (what to describe or check, or how many
/// problems to list), not a new setting: allowed with one. SQLite tells the
/// authorizer only a pragma's name and value, and `PRAGMA cache_size(5)` looks like
/// `PRAGMA table_info(x)`, so these need naming; every other pragma with a value
/// (`PRAGMA query_only = 0`, `hard_heap_limit = 0`) changes a setting and is refused.
/// A pragma without a value is allowed whatever its name: it reads its setting or
/// runs a check, and one that would write (`optimize`, `incremental_vacuum`,
/// `wal_checkpoint`) fails on the read-only file.
const ARGUMENT_PRAGMAS: &[&str] = &[
    "integrity_check",
    "quick_check",
    "foreign_key_check",
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "collation_list",
    "function_list",
    "pragma_list",
    "compile_options",
];

/// Default for [`Limits::time`]: long enough for any honest query over the state
/// database, short enough that a runaway one does not hold a terminal or a cron slot.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Default for [`Limits::memory_mib`]: sorting or grouping every status event
/// fits comfortably; a DISTINCT over tens of millions of generated rows does not.
pub const DEFAULT_MEMORY_MIB: u64 = 512;

/// Longest value handed out, in bytes of text (a blob's hex counts): larger ones are
/// cut and end in `…`. Without it a `randomblob(999999999)` or a stored payload
/// becomes gigabytes of hex in memory and on the terminal.
pub const MAX_CELL_BYTES: usize = 1024 * 1024;

/// How much work one statement may cause. `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time SQLite spends on the statement (waiting for the reader of the output
    /// does not count).
    pub time: Option<Duration>,
    /// SQLite's working memory (page cache, sorts, DISTINCT, GROUP BY, temporary
    /// tables, values being built) in MiB.
    pub memory_mib: Option<u64>,
}

/// What a finished statement reports besides its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ran {
    pub columns: Vec<String>,
    /// Values longer than [`MAX_CELL_BYTES`] that were cut.
    pub cut_cells: u64,
    /// REAL values beyond a double's range (`1e400`, `-1e400`: SQLite's ±infinity),
    /// handed out as null: JSON has no infinity, and the text formats take the value
    /// handed out.
    pub not_finite: Seen,
    /// BLOB values, handed out as hex text (two digits per byte), which a reader
    /// cannot tell from text without being told.
    pub blobs: Seen,
}

/// How often a kind of value was seen, and where first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    pub count: u64,
    /// The first one's row (1 = the first row handed out) and column name.
    pub first: Option<(u64, String)>,
}

impl Seen {
    fn note(&mut self, row: u64, column: &str) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some((row, column.to_owned()));
        }
    }
}

/// A read-only connection for user SQL.
pub struct QueryConnection {
    conn: Connection,
    /// What the authorizer refused last, for the error message.
    refused: Arc<Mutex<Option<String>>>,
    limits: Limits,
    /// When the progress handler interrupts the running step; None while SQLite is
    /// not working for us (between rows, while the caller writes output).
    deadline: Arc<Mutex<Option<Instant>>>,
}

/// Why the authorizer refuses `action`, or None to allow it.
fn refusal(action: &AuthAction<'_>) -> Option<String> {
    match action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => None,
        AuthAction::Function { function_name } => {
            if function_name.eq_ignore_ascii_case("load_extension") {
                Some("loading extensions is not allowed".into())
            } else {
                None
            }
        }
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => {
            let name = pragma_name.to_ascii_lowercase();
            match pragma_value {
                None => None,
                Some(_) if ARGUMENT_PRAGMAS.contains(&name.as_str()) => None,
                Some(value) => Some(format!(
                    "PRAGMA {pragma_name} = {value} is not allowed: it changes a setting (reading \
                     one, PRAGMA {pragma_name} without a value, is allowed, and so are these \
                     with an argument: {})",
                    ARGUMENT_PRAGMAS.join(", ")
                )),
            }
        }
        AuthAction::Attach { filename } => Some(format!("ATTACH ({filename:?}) is not allowed")),
        AuthAction::Detach { .. } => Some("DETACH is not allowed".into()),
        AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
            if table_name.starts_with("sqlite_") =>
        {
            Some("changing the schema (CREATE, DROP, ALTER) is not allowed".into())
        }
        AuthAction::Insert { table_name } => {
            Some(format!("writing (INSERT into {table_name}) is not allowed"))
        }
        AuthAction::Update { table_name, .. } => {
            Some(format!("writing (UPDATE of {table_name}) is not allowed"))
        }
        AuthAction::Delete { table_name } => {
            Some(format!("writing (DELETE from {table_name}) is not allowed"))
        }
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            Some("transactions are not allowed (every query runs on its own snapshot)".into())
        }
        AuthAction::Reindex { .. } | AuthAction::Analyze { .. } => {
            Some("REINDEX and ANALYZE are not allowed".into())
        }
        // CREATE, DROP and ALTER of tables, views, indexes, triggers.
        _ => Some("changing the schema (CREATE, DROP, ALTER) is not allowed".into()),
    }
}

impl QueryConnection {
    /// Opens `path` for user queries bounded by `limits`.
    ///
    /// The memory limit is SQLite's hard heap limit, which holds for the whole
    /// process: open this only in a process that does nothing else with SQLite
    /// (the `query` command).
    pub fn open(path: &Path, limits: Limits) -> Result<QueryConnection> {
        let conn = super::open_read_only(path)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(Error::db("setting PRAGMA query_only"))?;
        // Set before the authorizer is installed, which refuses every PRAGMA change.
        if let Some(mib) = limits.memory_mib.filter(|&m| m > 0) {
            let bytes = i64::try_from(mib.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX);
            // Sorts and temporary tables go to memory, where the heap limit counts
            // them, instead of to temporary files nothing bounds.
            conn.pragma_update(None, "temp_store", "MEMORY")
                .map_err(Error::db("setting PRAGMA temp_store"))?;
            conn.query_row(&format!("PRAGMA hard_heap_limit = {bytes}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(Error::db("setting PRAGMA hard_heap_limit"))?;
        }
        let deadline: Arc<Mutex<Option<Instant>>> = Arc::default();
        if limits.time.is_some() {
            let handler_deadline = Arc::clone(&deadline);
            // Every 10 000 virtual-machine steps: often enough to stop within
            // milliseconds, rare enough not to cost measurable time.
            conn.progress_handler(
                10_000,
                Some(move || {
                    handler_deadline
                        .lock()
                        .ok()
                        .and_then(|d| *d)
                        .is_some_and(|d| Instant::now() >= d)
                }),
            );
        }
        let refused = Arc::new(Mutex::new(None));
        let hook_refused = Arc::clone(&refused);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            match refusal(&ctx.action) {
                None => Authorization::Allow,
                Some(reason) => {
                    if let Ok(mut slot) = hook_refused.lock() {
                        *slot = Some(reason);
                    }
                    Authorization::Deny
                }
            }
        }));
        Ok(QueryConnection {
            conn,
            refused,
            limits,
            deadline,
        })
    }

    /// The error for a statement that failed: a refusal, a limit hit, or SQLite's.
    fn failed(&self, sql: &str, e: rusqlite::Error) -> Error {
        if let Some(reason) = self.refused.lock().ok().and_then(|mut s| s.take()) {
            return Error::Invalid(format!(
                "query refused: {reason}; the query interface is read-only"
            ));
        }
        match (e.sqlite_error_code(), self.limits) {
            (
                Some(ErrorCode::OperationInterrupted),
                Limits {
                    time: Some(time), ..
                },
            ) => Error::Limit(format!(
                "query stopped: it ran longer than the time limit of {} s (--timeout); narrow it (WHERE, LIMIT, a bound on a recursive CTE) or raise --timeout (0 = no limit)",
                time.as_secs()
            )),
            (
                Some(ErrorCode::OutOfMemory),
                Limits {
                    memory_mib: Some(mib),
                    ..
                },
            ) => Error::Limit(format!(
                "query stopped: it needs more than the memory limit of {mib} MiB (--max-memory) for sorting, DISTINCT, GROUP BY, temporary results or a large value; narrow it, or raise --max-memory (0 = no limit; large sorts then go to temporary files)"
            )),
            _ => Error::Db {
                context: format!("running query {:?}", crate::parse::shorten(sql, 200)),
                source: e,
            },
        }
    }

    /// Lets SQLite work until `budget` is spent (None: no limit).
    fn start_clock(&self, budget: Option<Duration>) -> Instant {
        let now = Instant::now();
        if let Ok(mut d) = self.deadline.lock() {
            // A budget past what the clock can count to (`--timeout
            // 18446744073709551615`) is no limit, not a panic.
            *d = budget.and_then(|b| now.checked_add(b));
        }
        now
    }

    /// Stops the clock; returns what is left of `budget`.
    fn stop_clock(&self, started: Instant, budget: Option<Duration>) -> Option<Duration> {
        if let Ok(mut d) = self.deadline.lock() {
            *d = None;
        }
        budget.map(|b| b.saturating_sub(started.elapsed()))
    }

    /// Runs one statement, handing each row (with the column names) to `on_row`.
    /// Returns the column names (also when there are no rows) and how many values
    /// were cut. Only SQLite's own work counts against the time limit, not the time
    /// `on_row` takes (a pager the user reads slowly).
    pub fn run(
        &self,
        sql: &str,
        mut on_row: impl FnMut(&[String], Vec<serde_json::Value>) -> std::io::Result<()>,
    ) -> Result<Ran> {
        if let Ok(mut slot) = self.refused.lock() {
            *slot = None;
        }
        let mut budget = self.limits.time.filter(|t| !t.is_zero());
        let started = self.start_clock(budget);
        let prepared = self.conn.prepare(sql);
        budget = self.stop_clock(started, budget);
        let mut stmt = prepared.map_err(|e| self.failed(sql, e))?;
        if !stmt.readonly() {
            return Err(Error::Invalid(format!(
                "query refused: the statement would change the database; the query interface is read-only{}",
                pragma_read_hint(sql).unwrap_or_default()
            )));
        }
        let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
        let n = columns.len();
        let mut cut_cells = 0;
        let mut not_finite = Seen::default();
        let mut blobs = Seen::default();
        let mut row_number = 0_u64;
        let mut rows = stmt.query([]).map_err(|e| self.failed(sql, e))?;
        loop {
            let started = self.start_clock(budget);
            let next = rows.next();
            budget = self.stop_clock(started, budget);
            let Some(row) = next.map_err(|e| self.failed(sql, e))? else {
                break;
            };
            row_number += 1;
            let mut values = Vec::with_capacity(n);
            for (i, column) in columns.iter().enumerate() {
                let value = row.get_ref(i).map_err(|e| self.failed(sql, e))?;
                match value {
                    ValueRef::Real(v) if !v.is_finite() => not_finite.note(row_number, column),
                    ValueRef::Blob(_) => blobs.note(row_number, column),
                    _ => {}
                }
                let (value, cut) = cell(value);
                cut_cells += u64::from(cut);
                values.push(value);
            }
            on_row(&columns, values).map_err(Error::io("passing on", "the rows of the query"))?;
        }
        Ok(Ran {
            columns,
            cut_cells,
            not_finite,
            blobs,
        })
    }
}

/// A value as JSON, text cut to [`MAX_CELL_BYTES`] (blobs as hex, cut the same way)
/// before anything is copied; true if it was cut. A REAL that is not finite becomes
/// null (`serde_json` has no other value for it).
fn cell(value: ValueRef<'_>) -> (serde_json::Value, bool) {
    match value {
        ValueRef::Null => (serde_json::Value::Null, false),
        ValueRef::Integer(v) => (v.into(), false),
        ValueRef::Real(v) => (v.into(), false),
        ValueRef::Text(t) => {
            let cut = t.len() > MAX_CELL_BYTES;
            let shown = t.get(..MAX_CELL_BYTES).unwrap_or(t);
            let mut text = String::from_utf8_lossy(shown).into_owned();
            if cut {
                // a multi-byte character cut in half decodes as U+FFFD; drop it
                if text.ends_with('\u{fffd}') {
                    text.pop();
                }
                text.push('…');
            }
            (text.into(), cut)
        }
        ValueRef::Blob(b) => {
            let cut = b.len() * 2 > MAX_CELL_BYTES;
            let mut text = crate::fetch::hex(b.get(..MAX_CELL_BYTES / 2).unwrap_or(b));
            if cut {
                text.push('…');
            }
            (text.into(), cut)
        }
    }
}

/// For a bare `PRAGMA name` that SQLite counts as writing although it has no value
/// (`journal_mode`, `wal_checkpoint`, `optimize` …): the table-valued function that
/// reads the same setting without the statement, `SELECT * FROM pragma_name()`.
fn pragma_read_hint(sql: &str) -> Option<String> {
    let sql = sql.trim_start();
    let rest = sql
        .get(..6)
        .filter(|word| word.eq_ignore_ascii_case("pragma"))
        .map(|_| &sql[6..])
        .filter(|rest| rest.starts_with(char::is_whitespace))?
        .trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(rest.len());
    let (qualified, tail) = rest.split_at(end);
    let name = qualified.rsplit('.').next().unwrap_or_default();
    let tail = tail.trim_start();
    let bare = tail.is_empty() || tail.starts_with(';');
    (bare && !name.is_empty()).then(|| {
        format!(
            " (SQLite counts PRAGMA {name} as writing even without a value; \
             SELECT * FROM pragma_{name}() reads it, where SQLite offers that function)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_pragma_that_writes_is_told_how_to_read_it() {
        for (sql, hint) in [
            ("PRAGMA journal_mode", Some("pragma_journal_mode()")),
            (
                "  pragma main.journal_mode ;",
                Some("pragma_journal_mode()"),
            ),
            ("PRAGMA journal_mode = DELETE", None),
            ("PRAGMA", None),
            ("DELETE FROM releases", None),
            ("pragmatic", None),
        ] {
            let got = pragma_read_hint(sql);
            assert_eq!(got.is_some(), hint.is_some(), "{sql}: {got:?}");
            if let (Some(got), Some(hint)) = (got, hint) {
                assert!(got.contains(hint), "{sql}: {got}");
            }
        }
    }

    #[test]
    fn long_values_are_cut_before_they_are_copied() {
        // the cut falls into the middle of an ä
        let long = format!("a{}", "ä".repeat(MAX_CELL_BYTES));
        let (value, cut) = cell(ValueRef::Text(long.as_bytes()));
        let text = value.as_str().unwrap();
        assert!(cut);
        assert!(text.ends_with("ä…"), "no half character left");
        assert_eq!(text.len(), MAX_CELL_BYTES - 1 + "…".len());
        let exact = "a".repeat(MAX_CELL_BYTES);
        assert_eq!(
            cell(ValueRef::Text(exact.as_bytes())),
            (exact.into(), false)
        );
        let blob = vec![0xab_u8; MAX_CELL_BYTES];
        let (value, cut) = cell(ValueRef::Blob(&blob));
        assert!(cut);
        assert_eq!(value.as_str().unwrap().len(), MAX_CELL_BYTES + "…".len());
        assert_eq!(cell(ValueRef::Integer(7)), (7.into(), false));
    }

    #[test]
    fn refusals() {
        let check = |action: AuthAction<'_>, refused: bool| {
            assert_eq!(refusal(&action).is_some(), refused, "{action:?}");
        };
        check(AuthAction::Select, false);
        check(
            AuthAction::Function {
                function_name: "json_extract",
            },
            false,
        );
        check(
            AuthAction::Function {
                function_name: "LOAD_EXTENSION",
            },
            true,
        );
        check(
            AuthAction::Pragma {
                pragma_name: "table_info",
                pragma_value: Some("releases"),
            },
            false,
        );
        check(
            AuthAction::Pragma {
                pragma_name: "user_version",
                pragma_value: None,
            },
            false,
        );
        check(
            AuthAction::Pragma {
                pragma_name: "user_version",
                pragma_value: Some("9"),
            },
            true,
        );
        check(
            AuthAction::Pragma {
                pragma_name: "query_only",
                pragma_value: Some("0"),
            },
            true,
        );
        // a check with or without its argument; a setting read, never changed
        for (name, value, refused) in [
            ("integrity_check", None, false),
            ("integrity_check", Some("5"), false),
            ("quick_check", Some("releases"), false),
            ("foreign_key_check", None, false),
            ("journal_mode", None, false),
            ("hard_heap_limit", None, false),
            ("hard_heap_limit", Some("0"), true),
            ("cache_size", Some("5"), true),
            ("writable_schema", Some("1"), true),
        ] {
            check(
                AuthAction::Pragma {
                    pragma_name: name,
                    pragma_value: value,
                },
                refused,
            );
        }
        check(AuthAction::Attach { filename: "x.db" }, true);
        check(
            AuthAction::Insert {
                table_name: "releases",
            },
            true,
        );
    }
}
