//! Reads and writes of Onlinedienst status events: the catalogue a report is checked
//! against, appending validated rows as events (one transaction, in which this
//! module also brings the current status and `status_tally` up to date; see
//! schema/0006), and reading a subject's status now or as of a date. Events and
//! current statuses are stored keyed by integers (schema/0013): subject and scope
//! ids from `status_subjects`/`status_scopes`, dates as YYYYMMDD, statuses as
//! [`Status::ordinal`]; `status_events`/`status_current` are views over them.
//! Validation itself is pure and lives in `crate::status::report`.
#![allow(
    clippy::indexing_slicing,
    reason = "rows, keys and positions are dense ids into tables built in the same call \
              (the batch's own arrays); the hot path of million-event reports, measured in \
              benches"
)]

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use tracing::debug;

use crate::error::{Error, Result, ShowPath};
use crate::model::Vollzug;
use crate::status::report::{Catalog, KeySet, StatusRow};
use crate::status::sorted::{ReportRows, SortedRow, SortedRows};
use crate::status::{Scope, Status, Subject};

/// Loads what rows are validated against: current LeiKa keys, EfA ids, ARS of
/// current municipality-directory records, and current Ressort Kürzel.
pub fn catalog(conn: &Connection) -> Result<Catalog> {
    let keys = |entity: &str| -> Result<KeySet> {
        let mut stmt = conn
            .prepare("SELECT key FROM record_versions WHERE entity = ?1 AND valid_to IS NULL")
            .map_err(Error::db(format!("reading current {entity} keys")))?;
        let rows = stmt
            .query_map([entity], |r| r.get(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<KeySet>>())
            .map_err(Error::db(format!("reading current {entity} keys")))?;
        Ok(rows)
    };
    let mut ars_stmt = conn
        .prepare(
            "SELECT DISTINCT json_extract(data, '$.ars') FROM record_versions
             WHERE entity = 'municipality' AND valid_to IS NULL",
        )
        .map_err(Error::db("reading current municipalities"))?;
    let ars = ars_stmt
        .query_map([], |r| r.get::<_, Option<String>>(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(Error::db("reading current municipalities"))?
        .into_iter()
        .flatten()
        .collect();
    let mut ressort_stmt = conn
        .prepare("SELECT lower(kuerzel), ressort_id FROM ressort_names WHERE valid_to IS NULL")
        .map_err(Error::db("reading Ressorts"))?;
    let ressorts = ressort_stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect::<rusqlite::Result<HashMap<String, i64>>>())
        .map_err(Error::db("reading Ressorts"))?;
    Ok(Catalog {
        leika: keys("service")?,
        efa: keys("efa_service")?,
        ars,
        ressorts,
    })
}

/// Appends `rows` as events in one transaction (see [`record_sorted`], which this
/// calls after sorting the rows). For `status set` and small callers; an import
/// streams its file into [`ReportRows`] instead of holding it.
pub fn record(conn: &mut Connection, rows: &[StatusRow], origin: &str, by: &str) -> Result<u64> {
    let mut held = ReportRows::new();
    for row in rows {
        held.push(row.clone()).map_err(spill_error)?;
    }
    record_sorted(conn, held.into_sorted().map_err(spill_error)?, origin, by)
}

/// The error of a failed spill of sorted rows to the temporary directory.
pub fn spill_error(e: std::io::Error) -> Error {
    Error::Invalid(format!(
        "could not keep the sorted status rows in a temporary file in {}: {e}; set TMPDIR to a writable directory with room (or free space there)",
        std::env::temp_dir().shown()
    ))
}

/// A report of at least this many rows, and at least an eighth of the current
/// municipal cells, rebuilds the scope index instead of keeping it row by row.
const SCOPE_INDEX_REBUILD_ROWS: i64 = 100_000;

/// For a large report, drops the dashboards' scope-first index
/// `status_current_by_scope` (schema 0017) inside the report's transaction and
/// returns its SQL, to be run again once the current cells are written. The
/// cells arrive subject by subject, so keeping the index row by row writes into
/// every Gemeinde's part of it for each subject, and those pages spill from the
/// page cache and are written again and again (the 2.8 M-row import took twice the
/// CPU); one sorted build at the end costs about a third of the import. Same
/// transaction: a crash or a failed report leaves the index as it was.
fn set_scope_index_aside(
    tx: &rusqlite::Transaction<'_>,
    rows: i64,
    rebuild_at: i64,
) -> Result<Option<String>> {
    const CTX: &str = "setting the status cells' scope index aside";
    if rows < rebuild_at {
        return Ok(None);
    }
    let sql: Option<String> = tx
        .query_row(
            "SELECT sql FROM sqlite_schema
             WHERE type = 'index' AND name = 'status_current_by_scope'
               AND tbl_name = 'status_current_rows'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(Error::db(CTX))?;
    let Some(sql) = sql else {
        return Ok(None);
    };
    // The tally counts every current cell once: an eighth of them is where one
    // sorted build beats keeping the index row by row.
    let cells: i64 = tx
        .query_row(
            "SELECT coalesce(sum(cells), 0) FROM status_tally WHERE scope_kind = 'ars'",
            [],
            |r| r.get(0),
        )
        .map_err(Error::db(CTX))?;
    if rows.saturating_mul(8) < cells {
        return Ok(None);
    }
    tx.execute_batch("DROP INDEX status_current_by_scope")
        .map_err(Error::db(CTX))?;
    Ok(Some(sql))
}

/// Page cache (and so the sorter's memory) while the scope index is rebuilt.
const SCOPE_INDEX_SORT_KIB: i64 = 16 * 1024;

/// Page cache of the report's transaction. Dirty pages beyond it are written to the
/// WAL while the transaction runs (SQLite's cache spill), so memory stays bounded
/// whatever the report's size; a larger cache bought little (measured).
const RECORD_CACHE_KIB: i64 = 64 * 1024;

/// Appends the rows of a report as events in one transaction (one `status_batches`
/// row for the report) and brings `status_current` and `status_tally` up to date
/// set-wise. Returns the number of events written. The one writer of status events.
///
/// Rows arrive in the table's key order (cell, then date, then file order), read
/// from the sorted runs one at a time, so memory does not grow with the report:
/// the clustered `status_events` and the subject-first `status_current` then grow
/// at their ends instead of at random places. Same-cell rows of one date keep their
/// file order and get growing event ids, so the later line is the correction that
/// wins.
pub fn record_sorted(
    conn: &mut Connection,
    rows: SortedRows,
    origin: &str,
    by: &str,
) -> Result<u64> {
    record_sorted_at(conn, rows, origin, by, SCOPE_INDEX_REBUILD_ROWS)
}

/// [`record_sorted`], rebuilding the scope index from `rebuild_at` rows on.
fn record_sorted_at(
    conn: &mut Connection,
    mut rows: SortedRows,
    origin: &str,
    by: &str,
    rebuild_at: i64,
) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let total = rows.len();
    let count = i64::try_from(total)
        .map_err(|_| Error::Invalid("too many status rows in one report".into()))?;
    let recorded_at = super::now_utc();
    let started = std::time::Instant::now();
    let phase =
        |what: &str| debug!(rows = total, elapsed = ?started.elapsed(), "status record: {what}");
    conn.pragma_update(None, "cache_size", -RECORD_CACHE_KIB)
        .map_err(Error::db("setting cache_size"))?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(Error::db("starting status transaction"))?;
    // This transaction writes the integer tables under the `status_events` view, so
    // the view's INSTEAD OF triggers (which keep the derived tables for other
    // writers) do not run: it keeps `status_current_rows` and the tally itself.
    let first_id: i64 = tx
        .query_row(
            "SELECT coalesce(max(last_event_id), 0) + 1 FROM status_batches",
            [],
            |r| r.get(0),
        )
        .map_err(Error::db("reading the last status event id"))?;
    tx.execute(
        "INSERT INTO status_batches (origin, recorded_at, recorded_by, last_event_id)
         VALUES (?1, ?2, ?3, ?4)",
        params![origin, recorded_at, by, first_id + count - 1],
    )
    .map_err(Error::db("recording the status batch"))?;
    let batch_id = tx.last_insert_rowid();
    let scope_index = set_scope_index_aside(&tx, count, rebuild_at)?;
    let subjects: Vec<(&'static str, String)> = rows
        .subjects
        .iter()
        .map(|s| (s.kind(), s.id().to_owned()))
        .collect();
    let scopes: Vec<(&'static str, String)> =
        rows.scopes.iter().map(|s| (s.kind(), s.id())).collect();
    let subject_ids = subject_ids(&tx, &subjects)?;
    let scope_ids = scope_ids(&tx, &scopes)?;
    let mut writer = Writer {
        subjects: &subjects,
        scopes: &scopes,
        subject_ids: &subject_ids,
        scope_ids: &scope_ids,
        // The batch id is the same in every row: written into the statement's text
        // once instead of bound for each of millions of rows.
        events: Chunked::new(
            &tx,
            "INSERT OR ROLLBACK INTO status_event_rows (subject_id, scope_id, effective_on,
                 event_id, status, note, batch_id) VALUES ",
            "",
            6,
        )
        .with_constant(batch_id),
        pending_events: Vec::with_capacity(CHUNK),
        current: Current::new(&tx, scopes.len())?,
    };
    let mut group: Vec<SortedRow> = Vec::new();
    let mut next_id = first_id;
    let mut group_first = first_id;
    while let Some(row) = rows.next_row().map_err(spill_error)? {
        if group.first().is_some_and(|g| g.subject != row.subject) {
            writer.subject_done(&group, group_first)?;
            group.clear();
            group_first = next_id;
        }
        writer.event(&row, next_id)?;
        group.push(row);
        next_id += 1;
    }
    writer.subject_done(&group, group_first)?;
    writer.flush_events()?;
    phase("events written");
    writer.finish()?;
    drop(writer);
    phase("current status and tally written");
    if let Some(sql) = scope_index {
        // SQLite's sorter keeps up to a page cache's worth of records in memory:
        // a smaller cache for the build keeps the import's peak RSS where it was.
        tx.execute_batch(&format!(
            "PRAGMA cache_size = -{SCOPE_INDEX_SORT_KIB}; {sql}; PRAGMA cache_size = -{RECORD_CACHE_KIB};"
        ))
        .map_err(|e| {
            let e = Error::db("rebuilding the status cells' scope index")(e);
            super::tempdir::explain_sort(e, u64::try_from(count).unwrap_or(0))
        })?;
        phase("scope index rebuilt");
    }
    super::due::mark(&tx, super::due::Cause::Status)?;
    tx.commit().map_err(Error::db("committing status events"))?;
    phase("committed");
    Ok(total)
}

/// A date as stored: the integer YYYYMMDD (schema/0013).
pub fn day_number(d: NaiveDate) -> i64 {
    use chrono::Datelike;
    i64::from(d.year()) * 10_000 + i64::from(d.month()) * 100 + i64::from(d.day())
}

/// The ids of a report's subjects in `status_subjects`, by the index rows carry;
/// new subjects get ids in stored order (kind, key), so the events of a report of
/// new subjects are appended at the end of the clustered tables.
fn subject_ids(
    tx: &rusqlite::Transaction<'_>,
    subjects: &[(&'static str, String)],
) -> Result<Vec<i64>> {
    const CTX: &str = "recording the status subjects";
    let mut find = tx
        .prepare("SELECT subject_id FROM status_subjects WHERE subject_kind = ?1 AND subject = ?2")
        .map_err(Error::db(CTX))?;
    let mut add = tx
        .prepare("INSERT INTO status_subjects (subject_kind, subject) VALUES (?1, ?2)")
        .map_err(Error::db(CTX))?;
    let mut ids = vec![0; subjects.len()];
    let mut new = Vec::new();
    for (i, (kind, key)) in subjects.iter().enumerate() {
        match find.query_row(params![kind, key], |r| r.get::<_, i64>(0)) {
            Ok(id) => ids[i] = id,
            Err(rusqlite::Error::QueryReturnedNoRows) => new.push(i),
            Err(e) => return Err(Error::db(CTX)(e)),
        }
    }
    new.sort_by(|a, b| subjects[*a].cmp(&subjects[*b]));
    for i in new {
        let (kind, key) = &subjects[i];
        add.execute(params![kind, key]).map_err(Error::db(CTX))?;
        ids[i] = tx.last_insert_rowid();
    }
    Ok(ids)
}

/// The ids of a report's scopes in `status_scopes` (negative for Ressorts, positive
/// for ARS; schema/0013), by the index rows carry; new ones in stored order.
fn scope_ids(
    tx: &rusqlite::Transaction<'_>,
    scopes: &[(&'static str, String)],
) -> Result<Vec<i64>> {
    const CTX: &str = "recording the status scopes";
    let mut find = tx
        .prepare("SELECT scope_id FROM status_scopes WHERE scope_kind = ?1 AND scope = ?2")
        .map_err(Error::db(CTX))?;
    let mut add = tx
        .prepare("INSERT INTO status_scopes (scope_id, scope_kind, scope) VALUES (?1, ?2, ?3)")
        .map_err(Error::db(CTX))?;
    let (mut lowest, mut highest): (i64, i64) = tx
        .query_row(
            "SELECT min(0, coalesce(min(scope_id), 0)), max(0, coalesce(max(scope_id), 0))
             FROM status_scopes",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(Error::db(CTX))?;
    let mut ids = vec![0; scopes.len()];
    let mut new = Vec::new();
    for (i, (kind, key)) in scopes.iter().enumerate() {
        match find.query_row(params![kind, key], |r| r.get::<_, i64>(0)) {
            Ok(id) => ids[i] = id,
            Err(rusqlite::Error::QueryReturnedNoRows) => new.push(i),
            Err(e) => return Err(Error::db(CTX)(e)),
        }
    }
    new.sort_by(|a, b| scopes[*a].cmp(&scopes[*b]));
    for i in new {
        let (kind, key) = &scopes[i];
        let id = if *kind == "ressort" {
            lowest -= 1;
            lowest
        } else {
            highest += 1;
            highest
        };
        add.execute(params![id, kind, key])
            .map_err(Error::db(CTX))?;
        ids[i] = id;
    }
    Ok(ids)
}

/// An event waiting for its multi-row statement.
struct NewEvent {
    subject: u32,
    scope: u32,
    on: i64,
    id: i64,
    status: Status,
    note: Option<String>,
}

/// A cell's new current status that is not a plain copy of its subject's events.
struct NewCurrent {
    subject: u32,
    scope: u32,
    on: i64,
    id: i64,
    /// The status ordinal.
    status: i64,
    /// The cell's event before this one: (status ordinal, date), schema 0018.
    prev: Option<(i64, i64)>,
}

/// `status_current_rows.prev_event` (schema 0018) of an event with status ordinal
/// `status` on date `on` (YYYYMMDD): the date × 16 + the status, one column.
pub fn pack_prev_event((status, on): (i64, i64)) -> i64 {
    on * 16 + status
}

/// The (status ordinal, date) of a [`pack_prev_event`] value.
pub fn unpack_prev_event(packed: i64) -> (i64, i64) {
    (packed & 15, packed >> 4)
}

/// `status_current_rows.cell` (schema 0019) of a cell whose current event has
/// status ordinal `status` on date `on` and whose event before it is `prev`: the
/// current event packed as [`pack_prev_event`] in the upper bits, the previous one
/// (0 for none) in the lower 31.
pub fn pack_cell(status: i64, on: i64, prev: Option<(i64, i64)>) -> i64 {
    (pack_prev_event((status, on)) << 31) | prev.map_or(0, pack_prev_event)
}

/// The (status ordinal, date) of the current event and of the previous one
/// (`None` for a cell's first event) of a [`pack_cell`] value.
pub fn unpack_cell(cell: i64) -> ((i64, i64), Option<(i64, i64)>) {
    let prev = cell & ((1 << 31) - 1);
    (
        unpack_prev_event(cell >> 31),
        (prev != 0).then(|| unpack_prev_event(prev)),
    )
}

/// A cell's stored current row, as a report reads it: status ordinal, date, event
/// id and the event before it (status ordinal, date).
struct Stored {
    status: i64,
    on: i64,
    id: i64,
    prev: Option<(i64, i64)>,
}

/// A subject with current cells whose every new event is its cell's new current
/// status: copied into `status_current` from the events by one statement over its
/// id range. (A subject without current cells has its cells inserted beside its
/// events instead, `Current::fresh`: reading them back cost a fifth more.)
struct CopyRange {
    subject: u32,
    ids: (i64, i64),
}

/// The tally key of one current cell: scope, subject kind, status, and whether the
/// subject is a municipal service.
type TallyKey = (u32, &'static str, Status, bool);

/// The subject kinds the tally counts densely (`Subject::kind`).
const TALLY_KINDS: [&str; 2] = ["leika", "efa"];

/// The tally deltas of one report: a counter per [`TallyKey`], in a dense vector
/// (the scopes are the report's interned ids, so 32 counters per scope) instead
/// of a hash map probed for each of millions of rows.
struct Tally {
    counts: Vec<i64>,
    /// Keys outside the dense range (none today: every kind is in `TALLY_KINDS`).
    other: HashMap<TallyKey, i64>,
}

impl Tally {
    fn new(scopes: usize) -> Tally {
        Tally {
            counts: vec![0; scopes * TALLY_KINDS.len() * Status::ALL.len() * 2],
            other: HashMap::new(),
        }
    }

    fn slot((scope, kind, status, municipal): TallyKey) -> Option<usize> {
        let kind = TALLY_KINDS.iter().position(|k| *k == kind)?;
        let status = Status::ALL.iter().position(|s| *s == status)?;
        let at = (scope as usize * TALLY_KINDS.len() + kind) * Status::ALL.len() + status;
        Some(at * 2 + usize::from(municipal))
    }

    fn add(&mut self, key: TallyKey, n: i64) {
        match Tally::slot(key).and_then(|i| self.counts.get_mut(i)) {
            Some(count) => *count += n,
            None => *self.other.entry(key).or_default() += n,
        }
    }

    /// Calls `f` with each key whose count changed and the change, in the tally's
    /// key order: scopes as stored (`scopes`, the report's by id), each scope's
    /// counters by subject kind, status and municipal as their texts sort; the keys
    /// outside the dense range (none today) after them.
    ///
    /// Walked in that order, not collected and sorted: with every Gemeinde of
    /// Germany some 86,000 counters changed, and the collected keys, their texts
    /// and the sort's scratch (~19 MiB) were freed just before the scope index's
    /// build, which mimalloc kept resident through it (BENCHMARKS.md, "Status
    /// import", decision 12).
    fn each_delta_in_key_order(
        &self,
        scopes: &[(&'static str, String)],
        mut f: impl FnMut(TallyKey, i64) -> Result<()>,
    ) -> Result<()> {
        let mut scope_order: Vec<usize> = (0..scopes.len()).collect();
        scope_order.sort_unstable_by(|a, b| scopes[*a].cmp(&scopes[*b]));
        let mut counters: Vec<(&'static str, Status, bool)> = TALLY_KINDS
            .iter()
            .flat_map(|k| {
                Status::ALL
                    .iter()
                    .flat_map(move |s| [(*k, *s, false), (*k, *s, true)])
            })
            .collect();
        counters
            .sort_unstable_by_key(|(kind, status, municipal)| (*kind, status.as_str(), *municipal));
        for scope in scope_order {
            let Ok(id) = u32::try_from(scope) else {
                continue;
            };
            for &(kind, status, municipal) in &counters {
                let key = (id, kind, status, municipal);
                match Tally::slot(key).and_then(|i| self.counts.get(i)) {
                    Some(&n) if n != 0 => f(key, n)?,
                    _ => {}
                }
            }
        }
        let mut other: Vec<(TallyKey, i64)> = self
            .other
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|(k, n)| (*k, *n))
            .collect();
        other.sort_unstable_by_key(|((scope, kind, status, municipal), _)| {
            (
                scopes.get(*scope as usize),
                *kind,
                status.as_str(),
                *municipal,
            )
        });
        for (key, n) in other {
            f(key, n)?;
        }
        Ok(())
    }
}

/// What `status_current` and `status_tally` need from the rows seen so far.
struct Current<'t> {
    kommunal: HashSet<String>,
    current_of: rusqlite::CachedStatement<'t>,
    copies: Vec<CopyRange>,
    singles: Vec<NewCurrent>,
    /// The cells of subjects that had none: inserted as their events are.
    fresh: Vec<NewCurrent>,
    fresh_insert: Chunked<'t>,
    single_insert: Chunked<'t>,
    tally: Tally,
}

impl<'t> Current<'t> {
    fn new(tx: &'t rusqlite::Transaction<'t>, scopes: usize) -> Result<Current<'t>> {
        let kommunal: HashSet<String> = {
            let mut stmt = tx
                .prepare(
                    "SELECT leistungsschluessel, vollzug FROM annotations WHERE vollzug IS NOT NULL",
                )
                .map_err(Error::db("reading municipal services"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(Error::db("reading municipal services"))?;
            rows.into_iter()
                .filter(|(_, vollzug)| Vollzug::is_municipal_code(vollzug.as_deref()))
                .map(|(key, _)| key)
                .collect()
        };
        let current_of = tx
            .prepare_cached(
                "SELECT scope_id, status, effective_on, event_id, prev_event
                 FROM status_current_rows WHERE subject_id = ?1",
            )
            .map_err(Error::db("reading current status"))?;
        Ok(Current {
            kommunal,
            current_of,
            copies: Vec::new(),
            singles: Vec::with_capacity(CHUNK),
            fresh: Vec::with_capacity(CHUNK),
            fresh_insert: Chunked::new(
                tx,
                "INSERT OR ROLLBACK INTO status_current_rows (subject_id, scope_id,
                     status, effective_on, event_id, cell) VALUES ",
                "",
                6,
            ),
            single_insert: Chunked::new(
                tx,
                "INSERT OR ROLLBACK INTO status_current_rows (subject_id, scope_id,
                     status, effective_on, event_id, prev_event, cell) VALUES ",
                " ON CONFLICT (subject_id, scope_id) DO UPDATE
                     SET status = excluded.status, effective_on = excluded.effective_on,
                         event_id = excluded.event_id, prev_event = excluded.prev_event,
                         cell = excluded.cell",
                7,
            ),
            tally: Tally::new(scopes),
        })
    }
}

/// Writes one report's events and derived rows as they stream by.
struct Writer<'t, 'k> {
    subjects: &'k [(&'static str, String)],
    scopes: &'k [(&'static str, String)],
    subject_ids: &'k [i64],
    scope_ids: &'k [i64],
    events: Chunked<'t>,
    pending_events: Vec<NewEvent>,
    current: Current<'t>,
}

impl Writer<'_, '_> {
    fn event(&mut self, row: &SortedRow, id: i64) -> Result<()> {
        let on = day_number(row.effective_on);
        self.pending_events.push(NewEvent {
            subject: row.subject,
            scope: row.scope,
            on,
            id,
            status: row.status,
            note: row.note.clone(),
        });
        if self.pending_events.len() == CHUNK {
            self.flush_events()?;
        }
        Ok(())
    }

    fn flush_events(&mut self) -> Result<()> {
        let (subject_ids, scope_ids) = (self.subject_ids, self.scope_ids);
        self.events
            .insert(&self.pending_events, |stmt, at, e| {
                stmt.raw_bind_parameter(at, subject_ids[e.subject as usize])?;
                stmt.raw_bind_parameter(at + 1, scope_ids[e.scope as usize])?;
                stmt.raw_bind_parameter(at + 2, e.on)?;
                stmt.raw_bind_parameter(at + 3, e.id)?;
                stmt.raw_bind_parameter(at + 4, e.status.ordinal())?;
                stmt.raw_bind_parameter(at + 5, e.note.as_deref())
            })
            .map_err(Error::db("recording status events"))?;
        self.pending_events.clear();
        Ok(())
    }

    /// Per cell of one subject's rows (`group`, sorted by scope then date, ids from
    /// `first_id`) the last row is the candidate; it replaces the stored current
    /// status unless that one is newer (a backdated report does not overrule a
    /// later status). The cell's previous event (schema 0018) is the newer of the
    /// replaced current one and the report's row before the candidate; a backdated
    /// candidate becomes the previous event of the cell when it is newer than the
    /// stored one (a report's rows have greater ids, so they win a same-day tie).
    fn subject_done(&mut self, group: &[SortedRow], first_id: i64) -> Result<()> {
        let Some(first) = group.first() else {
            return Ok(());
        };
        let (subject_kind, subject) = &self.subjects[first.subject as usize];
        let subject_id = self.subject_ids[first.subject as usize];
        let cur = &mut self.current;
        // The stored current status of this subject, by scope id.
        let stored: HashMap<i64, Stored> = cur
            .current_of
            .query_map(params![subject_id], |r| {
                let prev = r.get::<_, Option<i64>>(4)?.map(unpack_prev_event);
                Ok((
                    r.get(0)?,
                    Stored {
                        status: r.get(1)?,
                        on: r.get(2)?,
                        id: r.get(3)?,
                        prev,
                    },
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
            .map_err(Error::db(format!("reading current status of {subject}")))?;
        let municipal = *subject_kind == "leika" && cur.kommunal.contains(subject);
        // The winning rows (index in `group`) with their cells' previous events, and
        // the backdated rows that become their cells' previous events.
        let mut winners = Vec::new();
        let mut backdated = Vec::new();
        for (j, row) in group.iter().enumerate() {
            let last_of_cell = group.get(j + 1).is_none_or(|next| next.scope != row.scope);
            if !last_of_cell {
                continue;
            }
            let on = day_number(row.effective_on);
            // The report's row before this one in the same cell.
            let before = j
                .checked_sub(1)
                .and_then(|i| group.get(i))
                .filter(|b| b.scope == row.scope)
                .map(|b| (b.status.ordinal(), day_number(b.effective_on)));
            let mut prev = before;
            // Most large reports are a subject's first: nothing stored, no lookup key built.
            if !stored.is_empty() {
                if let Some(old) = stored.get(&self.scope_ids[row.scope as usize]) {
                    if old.on > on {
                        if old.prev.is_none_or(|(_, prev_on)| on >= prev_on) {
                            backdated.push((j, old));
                        }
                        continue;
                    }
                    if before.is_none_or(|(_, before_on)| before_on < old.on) {
                        prev = Some((old.status, old.on));
                    }
                    let old = Status::from_ordinal(old.status).ok_or_else(|| {
                        Error::Invalid(format!("unknown status {} in the database", old.status))
                    })?;
                    cur.tally.add((row.scope, subject_kind, old, municipal), -1);
                }
            }
            cur.tally
                .add((row.scope, subject_kind, row.status, municipal), 1);
            winners.push((j, prev));
        }
        if winners.len() == group.len() && stored.is_empty() {
            for (j, row) in group.iter().enumerate() {
                let (status, on) = (row.status.ordinal(), day_number(row.effective_on));
                self.current.fresh.push(NewCurrent {
                    subject: row.subject,
                    scope: row.scope,
                    on,
                    id: first_id + j as i64,
                    status,
                    prev: None,
                });
                if self.current.fresh.len() == CHUNK {
                    self.flush_fresh()?;
                }
            }
            return Ok(());
        }
        if winners.len() == group.len() {
            cur.copies.push(CopyRange {
                subject: first.subject,
                ids: (first_id, first_id + group.len() as i64 - 1),
            });
            return Ok(());
        }
        let winners = winners.into_iter().map(|(j, prev)| {
            let row = &group[j];
            NewCurrent {
                subject: row.subject,
                scope: row.scope,
                on: day_number(row.effective_on),
                id: first_id + j as i64,
                status: row.status.ordinal(),
                prev,
            }
        });
        // A backdated row leaves the cell's current event as it is.
        let backdated = backdated.into_iter().map(|(j, old)| {
            let row = &group[j];
            NewCurrent {
                subject: row.subject,
                scope: row.scope,
                on: old.on,
                id: old.id,
                status: old.status,
                prev: Some((row.status.ordinal(), day_number(row.effective_on))),
            }
        });
        for new in winners.chain(backdated) {
            self.current.singles.push(new);
            if self.current.singles.len() == CHUNK {
                self.flush_singles()?;
            }
        }
        Ok(())
    }

    fn flush_singles(&mut self) -> Result<()> {
        let (subject_ids, scope_ids) = (self.subject_ids, self.scope_ids);
        let cur = &mut self.current;
        cur.single_insert
            .insert(&cur.singles, |stmt, at, c| {
                stmt.raw_bind_parameter(at, subject_ids[c.subject as usize])?;
                stmt.raw_bind_parameter(at + 1, scope_ids[c.scope as usize])?;
                stmt.raw_bind_parameter(at + 2, c.status)?;
                stmt.raw_bind_parameter(at + 3, c.on)?;
                stmt.raw_bind_parameter(at + 4, c.id)?;
                stmt.raw_bind_parameter(at + 5, c.prev.map(pack_prev_event))?;
                stmt.raw_bind_parameter(at + 6, pack_cell(c.status, c.on, c.prev))
            })
            .map_err(Error::db("updating the current status"))?;
        cur.singles.clear();
        Ok(())
    }

    fn flush_fresh(&mut self) -> Result<()> {
        let (subject_ids, scope_ids) = (self.subject_ids, self.scope_ids);
        let cur = &mut self.current;
        cur.fresh_insert
            .insert(&cur.fresh, |stmt, at, c| {
                stmt.raw_bind_parameter(at, subject_ids[c.subject as usize])?;
                stmt.raw_bind_parameter(at + 1, scope_ids[c.scope as usize])?;
                stmt.raw_bind_parameter(at + 2, c.status)?;
                stmt.raw_bind_parameter(at + 3, c.on)?;
                stmt.raw_bind_parameter(at + 4, c.id)?;
                stmt.raw_bind_parameter(at + 5, pack_cell(c.status, c.on, None))
            })
            .map_err(Error::db("updating the current status"))?;
        cur.fresh.clear();
        Ok(())
    }

    /// Once every event is written: the copies, the remaining single cells, the tally.
    fn finish(&mut self) -> Result<()> {
        self.flush_singles()?;
        self.flush_fresh()?;
        let tx = self.events.tx;
        // Copies a subject's events in an id range into status_current, over the
        // subject's current cells: every copied event replaces its cell's current one,
        // which becomes the cell's previous event (schema 0018), packed with it in
        // `cell` (0019). (A subject without current cells had its cells inserted
        // beside its events, `Current::fresh`.)
        let mut copy_over = tx
            .prepare(
                "INSERT INTO status_current_rows (subject_id, scope_id, status, effective_on,
                                                  event_id, cell)
                 SELECT subject_id, scope_id, status, effective_on, event_id,
                        (effective_on * 16 + status) << 31
                 FROM status_event_rows
                 WHERE subject_id = ?1 AND event_id BETWEEN ?2 AND ?3
                 ON CONFLICT (subject_id, scope_id) DO UPDATE
                     SET prev_event = status_current_rows.effective_on * 16
                                      + status_current_rows.status,
                         cell = excluded.cell | (status_current_rows.effective_on * 16
                                                 + status_current_rows.status),
                         status = excluded.status, effective_on = excluded.effective_on,
                         event_id = excluded.event_id",
            )
            .map_err(Error::db("preparing the current status update"))?;
        for copy in &self.current.copies {
            let subject_id = self.subject_ids[copy.subject as usize];
            copy_over
                .execute(params![subject_id, copy.ids.0, copy.ids.1])
                .map_err(Error::db("updating the current status"))?;
        }
        let mut add = tx
            .prepare_cached(
                "INSERT INTO status_tally (scope_kind, scope, subject_kind, status, kommunal, cells)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (scope_kind, scope, subject_kind, status, kommunal) DO UPDATE
                     SET cells = cells + excluded.cells",
            )
            .map_err(Error::db("preparing status tally update"))?;
        // Key order: the tally's pages are then written front to back.
        let scopes = self.scopes;
        self.current.tally.each_delta_in_key_order(
            scopes,
            |(scope, subject_kind, status, municipal), n| {
                let (scope_kind, scope) = &scopes[scope as usize];
                add.execute(params![
                    scope_kind,
                    scope,
                    subject_kind,
                    status.as_str(),
                    municipal,
                    n
                ])
                .map_err(Error::db("updating the status tally"))?;
                Ok(())
            },
        )?;
        Ok(())
    }
}

/// Rows per multi-row statement: one statement execution per chunk instead of per
/// row (statement set-up and teardown were a fifth of a large import).
const CHUNK: usize = 50;

/// A multi-row `head (?, …), (?, …) … tail` insert run `CHUNK` rows at a time.
struct Chunked<'t> {
    tx: &'t rusqlite::Transaction<'t>,
    head: &'static str,
    tail: &'static str,
    cols: usize,
    /// Each row's last value when it is the same integer in every row (after the
    /// `cols` parameters), written into the text instead of bound row by row.
    constant: Option<i64>,
    /// The statement for full chunks, held (not returned to the cache) between
    /// executions: its bindings are never cleared, so binding the next chunk's text
    /// reuses the buffers of the last one instead of allocating new ones.
    full: Option<rusqlite::Statement<'t>>,
}

impl<'t> Chunked<'t> {
    fn new(
        tx: &'t rusqlite::Transaction<'t>,
        head: &'static str,
        tail: &'static str,
        cols: usize,
    ) -> Chunked<'t> {
        Chunked {
            tx,
            head,
            tail,
            cols,
            constant: None,
            full: None,
        }
    }

    /// Every row ends in `value`.
    fn with_constant(self, value: i64) -> Chunked<'t> {
        Chunked {
            constant: Some(value),
            ..self
        }
    }

    fn sql(&self, rows: usize) -> String {
        let params = vec!["?"; self.cols].join(", ");
        let one = match self.constant {
            Some(value) => format!("({params}, {value})"),
            None => format!("({params})"),
        };
        format!("{}{}{}", self.head, vec![one; rows].join(", "), self.tail)
    }

    /// Inserts `items`; `bind(stmt, first parameter index, item)` binds one row's
    /// `cols` parameters.
    fn insert<T>(
        &mut self,
        items: &[T],
        bind: impl Fn(&mut rusqlite::Statement<'_>, usize, &T) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        for chunk in items.chunks(CHUNK) {
            let mut last;
            let stmt = if chunk.len() == CHUNK {
                match &mut self.full {
                    Some(stmt) => stmt,
                    None => self.full.insert(self.tx.prepare(&self.sql(CHUNK))?),
                }
            } else {
                last = self.tx.prepare_cached(&self.sql(chunk.len()))?;
                &mut *last
            };
            for (j, item) in chunk.iter().enumerate() {
                bind(stmt, j * self.cols + 1, item)?;
            }
            stmt.raw_execute()?;
        }
        Ok(())
    }
}

/// One cell's status as shown: the event in effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellStatus {
    pub subject_kind: String,
    pub subject: String,
    pub scope_kind: String,
    pub scope: String,
    /// The Ressort's current Kürzel for Ressort scopes.
    pub ressort: Option<String>,
    /// The municipality's current name for ARS scopes (Gemeinde, else Kreis or
    /// Verband of that ARS).
    pub municipality: Option<String>,
    pub status: String,
    pub effective_on: String,
    pub note: Option<String>,
    pub origin: String,
    pub recorded_at: String,
    pub recorded_by: String,
    pub event_id: i64,
}

/// The columns of a [`CellStatus`] from the integer tables (schema/0013): `s` the
/// subject, `p` the scope, `e` the event row, `b` its batch.
const CELL_COLUMNS: &str = "s.subject_kind, s.subject, p.scope_kind, p.scope,
    CASE WHEN p.scope_kind = 'ressort' THEN
        (SELECT n.kuerzel FROM ressort_names n
          WHERE n.ressort_id = CAST(p.scope AS INTEGER) AND n.valid_to IS NULL) END AS ressort,
    CASE WHEN p.scope_kind = 'ars' THEN
        (SELECT json_extract(m.data, '$.name') FROM record_versions m
          WHERE m.entity = 'municipality' AND m.valid_to IS NULL
            AND m.key IN ('gemeinde:' || p.scope, 'kreis:' || p.scope, 'verband:' || p.scope)
          ORDER BY m.key LIMIT 1) END AS municipality,
    (SELECT k.status FROM status_codes k WHERE k.code = e.status),
    printf('%04d-%02d-%02d', e.effective_on / 10000, e.effective_on / 100 % 100,
           e.effective_on % 100),
    e.note, b.origin, b.recorded_at, b.recorded_by, e.event_id";

/// The events of one subject (`?1` kind, `?2` key) with their scope and batch.
const SUBJECT_EVENTS: &str = "status_subjects s
    CROSS JOIN status_event_rows e ON e.subject_id = s.subject_id
    JOIN status_scopes p ON p.scope_id = e.scope_id
    JOIN status_batches b ON b.batch_id = e.batch_id";

fn cell_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CellStatus> {
    Ok(CellStatus {
        subject_kind: r.get(0)?,
        subject: r.get(1)?,
        scope_kind: r.get(2)?,
        scope: r.get(3)?,
        ressort: r.get(4)?,
        municipality: r.get(5)?,
        status: r.get(6)?,
        effective_on: r.get(7)?,
        note: r.get(8)?,
        origin: r.get(9)?,
        recorded_at: r.get(10)?,
        recorded_by: r.get(11)?,
        event_id: r.get(12)?,
    })
}

/// The status of `subject` in every scope, now (`as_of` None) or as of a date.
///
/// As of D (now: the last representable day) takes, per scope, the event that no other
/// event of the cell on or before D outranks in (effective_on, event_id); the
/// `status_events_asof` index makes that one seek per candidate.
pub fn show(
    conn: &Connection,
    subject: &Subject,
    as_of: Option<NaiveDate>,
) -> Result<Vec<CellStatus>> {
    // Dates in the future are refused on input, so "now" is "as of the last day".
    let date = as_of.map_or(99_991_231, day_number);
    let sql = format!(
        "SELECT {CELL_COLUMNS} FROM {SUBJECT_EVENTS}
                 WHERE s.subject_kind = ?1 AND s.subject = ?2 AND e.effective_on <= ?3
                   AND NOT EXISTS (
                       SELECT 1 FROM status_event_rows l
                        WHERE l.subject_id = e.subject_id AND l.scope_id = e.scope_id
                          AND l.effective_on <= ?3
                          AND (l.effective_on > e.effective_on
                               OR (l.effective_on = e.effective_on AND l.event_id > e.event_id)))
                 ORDER BY p.scope_kind DESC, p.scope"
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(Error::db("reading status"))?;
    let rows = stmt
        .query_map(params![subject.kind(), subject.id(), date], cell_row)
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(Error::db(format!("reading status of {}", subject.id())))?;
    Ok(rows)
}

/// Every event of `subject`, in the order they took effect.
pub fn history(conn: &Connection, subject: &Subject) -> Result<Vec<CellStatus>> {
    let sql = format!(
        "SELECT {CELL_COLUMNS} FROM {SUBJECT_EVENTS}
         WHERE s.subject_kind = ?1 AND s.subject = ?2
         ORDER BY p.scope_kind DESC, p.scope, e.effective_on, e.event_id"
    );
    let mut stmt = conn.prepare(&sql).map_err(Error::db("reading history"))?;
    let rows = stmt
        .query_map(params![subject.kind(), subject.id()], cell_row)
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(Error::db(format!("reading history of {}", subject.id())))?;
    Ok(rows)
}

/// The whole matrix as of `date`: (subject, scope, status, event_id) per cell that
/// has a status then. One pass over the `status_events_asof` index in cell order.
pub fn matrix_as_of(
    conn: &Connection,
    date: NaiveDate,
) -> Result<Vec<(Subject, Scope, Status, i64)>> {
    let mut stmt = conn
        .prepare(
            "SELECT subject_kind, subject, scope_kind, scope, status, event_id FROM (
                 SELECT subject_kind, subject, scope_kind, scope, status, event_id,
                        lead(event_id) OVER (
                            PARTITION BY subject_kind, subject, scope_kind, scope
                            ORDER BY effective_on, event_id) AS next
                 FROM status_events WHERE effective_on <= ?1)
             WHERE next IS NULL",
        )
        .map_err(Error::db("reading status matrix"))?;
    let mut rows = stmt
        .query([date.to_string()])
        .map_err(Error::db("reading status matrix"))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(Error::db("reading status matrix"))? {
        let get = |i| r.get::<_, String>(i);
        let (sk, s, ck, c, st) = (get(0), get(1), get(2), get(3), get(4));
        let (sk, s, ck, c, st) = (
            sk.map_err(Error::db("reading status matrix"))?,
            s.map_err(Error::db("reading status matrix"))?,
            ck.map_err(Error::db("reading status matrix"))?,
            c.map_err(Error::db("reading status matrix"))?,
            st.map_err(Error::db("reading status matrix"))?,
        );
        let event_id: i64 = r.get(5).map_err(Error::db("reading status matrix"))?;
        let subject = match sk.as_str() {
            "efa" => Subject::Efa(s),
            _ => Subject::Leika(s),
        };
        let scope = match ck.as_str() {
            "ressort" => Scope::Ressort(c.parse().unwrap_or_default()),
            _ => Scope::Ars(c),
        };
        let status = Status::parse(&st)
            .ok_or_else(|| Error::Invalid(format!("unknown status {st:?} in the database")))?;
        out.push((subject, scope, status, event_id));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cell` (schema 0019) gives back the date, status and previous event it packs,
    /// up to the last date and status ordinal there can be, and matches the SQL
    /// packing of the migration and the view's trigger.
    #[test]
    fn a_cell_unpacks_to_what_it_packs() {
        let conn = Connection::open_in_memory().unwrap();
        for (status, on, prev) in [
            (1, 20260630, None),
            (0, 20260101, Some((6, 20251231))),
            (15, 99991231, Some((15, 99991231))),
            (3, 10101, Some((0, 10101))),
        ] {
            let cell = pack_cell(status, on, prev);
            assert!(cell > 0, "{cell}");
            assert_eq!(unpack_cell(cell), ((status, on), prev));
            let sql: i64 = conn
                .query_row(
                    "SELECT ((?1 * 16 + ?2) << 31) | coalesce(?3, 0)",
                    params![on, status, prev.map(pack_prev_event)],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(sql, cell);
        }
    }

    fn strings(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.map(Result::unwrap).collect()
    }

    /// A large report rebuilds the dashboards' scope index in its transaction
    /// (same definition, every municipal current cell in it); a small one keeps
    /// it row by row.
    #[test]
    fn a_large_report_rebuilds_the_scope_index_and_a_small_one_keeps_it() {
        use crate::status::{Scope, Subject};
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::store::open(&dir.path().join("t.db")).unwrap();
        let index_sql = |conn: &Connection| {
            strings(
                conn,
                "SELECT sql FROM sqlite_schema WHERE name = 'status_current_by_scope'",
            )
        };
        let defined = index_sql(&conn);
        assert_eq!(defined.len(), 1);
        let report = |keys: std::ops::Range<u64>, status: &str, on: &str| -> SortedRows {
            let mut held = ReportRows::new();
            for (line, key) in keys.enumerate() {
                for scope in [
                    Scope::Ars("031010000000".into()),
                    Scope::Ars("031020000000".into()),
                    Scope::Ressort(2),
                ] {
                    held.push(StatusRow {
                        line: line as u64 + 1,
                        subject: Subject::Leika(format!("9900000000{key:04}")),
                        scope,
                        status: Status::parse(status).unwrap(),
                        effective_on: crate::model::date::iso_date(on.as_bytes()).unwrap(),
                        note: None,
                    })
                    .unwrap();
                }
            }
            held.into_sorted().unwrap()
        };
        let check = |conn: &Connection, cells: &str| {
            assert_eq!(index_sql(conn), defined);
            let count = |how: &str| {
                strings(
                    conn,
                    &format!(
                        "SELECT CAST(count(*) AS TEXT) FROM status_current_rows {how}
                         WHERE scope_id > 0"
                    ),
                )
            };
            assert_eq!(count("NOT INDEXED"), [cells]);
            assert_eq!(count("INDEXED BY status_current_by_scope"), [cells]);
            assert_eq!(strings(conn, "PRAGMA integrity_check"), ["ok"]);
        };
        // 30 rows from 10 rows on: rebuilt. 3 rows with the threshold at 10: kept.
        record_sorted_at(
            &mut conn,
            report(0..10, "geplant", "2026-01-01"),
            "a",
            "t",
            10,
        )
        .unwrap();
        check(&conn, "20");
        record_sorted_at(&mut conn, report(5..6, "pilot", "2026-02-01"), "b", "t", 10).unwrap();
        check(&conn, "20");
        // New cells and changed ones, rebuilt.
        record_sorted_at(
            &mut conn,
            report(5..15, "produktiv", "2026-03-01"),
            "c",
            "t",
            10,
        )
        .unwrap();
        check(&conn, "30");
        assert_eq!(
            strings(
                &conn,
                "SELECT CAST(count(*) AS TEXT) FROM status_current_rows
                 INDEXED BY status_current_by_scope WHERE scope_id > 0 AND status = 6"
            ),
            ["20"]
        );
    }

    /// The cells whose stored current event or previous event (schema 0018) is not
    /// the latest or second-latest of the cell's events (by date, then event id),
    /// and the cells of events without a current row.
    fn cells_out_of_step(conn: &Connection) -> i64 {
        conn.query_row(
            "SELECT (SELECT count(*) FROM status_current_rows c
                      WHERE c.event_id IS NOT (
                                SELECT e.event_id FROM status_event_rows e
                                 WHERE e.subject_id = c.subject_id AND e.scope_id = c.scope_id
                                 ORDER BY e.effective_on DESC, e.event_id DESC LIMIT 1)
                         OR c.prev_event IS NOT (
                                SELECT e.effective_on * 16 + e.status FROM status_event_rows e
                                 WHERE e.subject_id = c.subject_id AND e.scope_id = c.scope_id
                                 ORDER BY e.effective_on DESC, e.event_id DESC LIMIT 1 OFFSET 1)
                         OR c.cell IS NOT (((c.effective_on * 16 + c.status) << 31)
                                           | coalesce(c.prev_event, 0)))
                  + (SELECT count(*) FROM (SELECT DISTINCT subject_id, scope_id
                                             FROM status_event_rows))
                  - (SELECT count(*) FROM status_current_rows)",
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// Every writer keeps each cell's previous event (schema 0018) true: a first
    /// report, a re-import, a same-day correction, several rows of a cell in one
    /// report, backdated rows older than the previous event, between it and the
    /// current one and older than both, through the copy of whole subjects and
    /// through single rows, and inserts into the `status_events` view.
    #[test]
    fn every_writer_keeps_the_previous_event() {
        use crate::status::{Scope, Subject};
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::store::open(&dir.path().join("t.db")).unwrap();
        // (key, ARS or Ressort, status, date) rows of one report.
        let report = |rows: &[(u64, &str, &str, &str)]| -> SortedRows {
            let mut held = ReportRows::new();
            for (line, (key, scope, status, on)) in rows.iter().enumerate() {
                held.push(StatusRow {
                    line: line as u64 + 1,
                    subject: Subject::Leika(format!("9900000000{key:04}")),
                    // A Ressort id is one digit, an ARS twelve.
                    scope: match scope.len() {
                        1 => Scope::Ressort(scope.parse().unwrap()),
                        _ => Scope::Ars((*scope).into()),
                    },
                    status: Status::parse(status).unwrap(),
                    effective_on: crate::model::date::iso_date(on.as_bytes()).unwrap(),
                    note: None,
                })
                .unwrap();
            }
            held.into_sorted().unwrap()
        };
        const A: &str = "031010000000";
        const B: &str = "031020000000";
        let reports: &[&[(u64, &str, &str, &str)]] = &[
            // First report: one cell with three rows (two on one day), others single.
            &[
                (1, A, "geplant", "2026-01-01"),
                (1, A, "pilot", "2026-02-01"),
                (1, A, "produktiv", "2026-02-01"),
                (1, B, "geplant", "2026-03-01"),
                (2, A, "beauftragt", "2026-01-15"),
                (2, "2", "pilot", "2026-01-15"),
            ],
            // The same again (a re-import): every cell's current one is replaced
            // by its same-day twin.
            &[
                (1, A, "geplant", "2026-01-01"),
                (1, A, "pilot", "2026-02-01"),
                (1, A, "produktiv", "2026-02-01"),
                (1, B, "geplant", "2026-03-01"),
                (2, A, "beauftragt", "2026-01-15"),
                (2, "2", "pilot", "2026-01-15"),
            ],
            // One newer row per cell of subject 1 (the whole subject copied).
            &[
                (1, A, "eingestellt", "2026-05-01"),
                (1, B, "pilot", "2026-05-01"),
            ],
            // A same-day correction.
            &[(1, A, "produktiv", "2026-05-01")],
            // Backdated: between the previous and the current event (becomes the
            // previous one), older than both (changes nothing), and two rows of one
            // cell, both older than its current event.
            &[
                (1, A, "pilot", "2026-03-01"),
                (1, B, "abgelehnt", "2025-01-01"),
                (2, A, "geplant", "2025-06-01"),
                (2, A, "pilot", "2025-07-01"),
            ],
            // Backdated to the previous event's day: recorded later, so it is the
            // newer one; and a new cell beside a backdated row in one subject.
            &[
                (1, A, "geplant", "2026-03-01"),
                (3, A, "pilot", "2026-04-01"),
            ],
            &[
                (3, A, "geplant", "2026-01-01"),
                (3, B, "pilot", "2027-01-01"),
            ],
        ];
        for (i, rows) in reports.iter().enumerate() {
            // Thresholds 1 and the default: the scope index rebuilt and kept.
            let rebuild_at = if i % 2 == 0 {
                1
            } else {
                SCOPE_INDEX_REBUILD_ROWS
            };
            record_sorted_at(&mut conn, report(rows), "r", "t", rebuild_at).unwrap();
            assert_eq!(cells_out_of_step(&conn), 0, "after report {i}");
        }
        // The view's trigger: a new cell, a newer event, a backdated one between,
        // one older than both, and a same-day one.
        let last: i64 = conn
            .query_row("SELECT max(last_event_id) FROM status_batches", [], |r| {
                r.get(0)
            })
            .unwrap();
        conn.execute(
            "INSERT INTO status_batches (origin, recorded_at, recorded_by, last_event_id)
             VALUES ('sql', '2026-06-01T00:00:00Z', 't', ?1)",
            [last + 5],
        )
        .unwrap();
        let batch = conn.last_insert_rowid();
        for (n, (key, ars, status, on)) in [
            ("99000000000004", A, "geplant", "2026-02-01"),
            ("99000000000001", A, "pilot", "2026-06-01"),
            ("99000000000001", A, "geplant", "2026-05-15"),
            ("99000000000001", A, "abgelehnt", "2026-01-01"),
            ("99000000000004", A, "pilot", "2026-02-01"),
        ]
        .into_iter()
        .enumerate()
        {
            conn.execute(
                "INSERT INTO status_events (subject_kind, subject, scope_kind, scope,
                     effective_on, event_id, status, batch_id)
                 VALUES ('leika', ?1, 'ars', ?2, ?3, ?4, ?5, ?6)",
                params![key, ars, on, last + 1 + n as i64, status, batch],
            )
            .unwrap();
            assert_eq!(cells_out_of_step(&conn), 0, "after view insert {n}");
        }
        assert_eq!(
            strings(&conn, "PRAGMA integrity_check"),
            ["ok"],
            "the scope index agrees with its table"
        );
    }

    /// Migration 0018 fills each cell's previous event from the events of a
    /// database the release before it wrote.
    #[test]
    fn migration_0018_fills_the_previous_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let mut conn = Connection::open(&path).unwrap();
        crate::store::migrate_to(&mut conn, &path, 17).unwrap();
        conn.execute_batch(
            "INSERT INTO status_batches (origin, recorded_at, recorded_by, last_event_id)
                 VALUES ('sql', '2026-06-01T00:00:00Z', 't', 6);
             INSERT INTO status_events (subject_kind, subject, scope_kind, scope,
                 effective_on, event_id, status, batch_id) VALUES
                 ('leika', '99000000000001', 'ars', '031010000000', '2026-01-01', 1, 'geplant', 1),
                 ('leika', '99000000000001', 'ars', '031010000000', '2026-03-01', 2, 'pilot', 1),
                 ('leika', '99000000000001', 'ars', '031010000000', '2026-02-01', 3, 'beauftragt', 1),
                 ('leika', '99000000000001', 'ars', '031010000000', '2026-03-01', 4, 'produktiv', 1),
                 ('leika', '99000000000002', 'ars', '031010000000', '2026-01-01', 5, 'geplant', 1),
                 ('leika', '99000000000001', 'ressort', '3', '2026-01-01', 6, 'geplant', 1);",
        )
        .unwrap();
        crate::store::migrate(&mut conn, &path).unwrap();
        assert_eq!(cells_out_of_step(&conn), 0);
        assert_eq!(
            strings(
                &conn,
                "SELECT CAST(count(*) AS TEXT) FROM status_current_rows
                 WHERE prev_event IS NOT NULL"
            ),
            ["1"]
        );
        assert_eq!(strings(&conn, "PRAGMA integrity_check"), ["ok"]);
    }

    /// Events recorded under schema 0005 (one row per event, who/when on each) keep
    /// their ids, notes and batches through 0006, and the derived tables come out as
    /// the replay of them.
    #[test]
    fn migration_0006_keeps_every_event_and_derives_current_and_tally() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let mut conn = Connection::open(&path).unwrap();
        crate::store::migrate_to(&mut conn, &path, 5).unwrap();
        conn.execute_batch(
            "INSERT INTO annotations (leistungsschluessel, vollzug, updated_at, updated_by)
                 VALUES ('99041006017000', 'kommune', 't', 'x');
             INSERT INTO status_events (subject_kind, subject, scope_kind, scope, status,
                 effective_on, origin, note, recorded_at, recorded_by) VALUES
                 ('leika', '99041006017000', 'ars', '031010000000', 'geplant', '2024-01-01', 'a.csv', NULL, 'T1', 'mi'),
                 ('leika', '99041006017000', 'ars', '031010000000', 'produktiv', '2024-03-01', 'b.csv', 'live', 'T2', 'mi'),
                 ('leika', '99041006017000', 'ars', '031010000000', 'pilot', '2024-02-01', 'a.csv', NULL, 'T1', 'mi'),
                 ('efa', 'EFA-1', 'ressort', '2', 'beauftragt', '2024-01-05', 'status set', NULL, 'T3', 'ms');",
        )
        .unwrap();
        crate::store::migrate(&mut conn, &path).unwrap();
        assert_eq!(
            strings(
                &conn,
                "SELECT event_id || ' ' || status || ' ' || coalesce(note, '-') || ' ' || origin || ' ' || recorded_at
                 FROM status_events JOIN status_batches USING (batch_id) ORDER BY event_id"
            ),
            [
                "1 geplant - a.csv T1",
                "2 produktiv live b.csv T2",
                "3 pilot - a.csv T1",
                "4 beauftragt - status set T3"
            ]
        );
        assert_eq!(
            strings(
                &conn,
                "SELECT subject || ' ' || scope || ' ' || status || ' ' || event_id FROM status_current ORDER BY 1"
            ),
            ["99041006017000 031010000000 produktiv 2", "EFA-1 2 beauftragt 4"]
        );
        assert_eq!(
            strings(
                &conn,
                "SELECT scope || ' ' || status || ' ' || kommunal || ' ' || cells FROM status_tally ORDER BY 1"
            ),
            ["031010000000 produktiv 1 1", "2 beauftragt 0 1"]
        );
        // The next report continues the ids after the migrated ones.
        let row = StatusRow {
            line: 2,
            subject: Subject::Efa("EFA-1".into()),
            scope: Scope::Ressort(2),
            status: Status::parse("pilot").unwrap(),
            effective_on: NaiveDate::from_ymd_opt(2024, 2, 1).unwrap(),
            note: None,
        };
        record(&mut conn, &[row], "c.csv", "ms").unwrap();
        assert_eq!(
            strings(
                &conn,
                "SELECT status || ' ' || event_id FROM status_current WHERE subject = 'EFA-1'"
            ),
            ["pilot 5"]
        );
        // record() set the per-row triggers aside only inside its transaction.
        assert_eq!(
            strings(
                &conn,
                "SELECT name FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'status_events' ORDER BY 1"
            ),
            [
                "status_events_current",
                "status_events_id",
                "status_events_no_delete",
                "status_events_no_update",
                "status_events_real_date"
            ]
        );
    }
}
