//! The status readers of the exports, over the integer status tables (schema
//! 0013): `status_current_rows` holds the latest event per (subject id, scope id),
//! dates as YYYYMMDD integers and statuses as ordinals, so the millions of
//! municipal cells are read without text compares, conversions or hash lookups
//! (the ids index vectors built from `status_subjects`/`status_scopes`). The few
//! cells whose current event lies after the as-of date are corrected by index
//! lookups; the municipal cells are read in two halves by subject id on two
//! connections; the same scan finds the cells changed in the change window, whose
//! events are then looked up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{Datelike, NaiveDate};
use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension};

use super::matrix::{Latest, Matrix};
use super::{db, map_for_scans};
use crate::export::model::Status;
use crate::export::ExportError;

/// Cells dated after the as-of date are looked up one by one up to this many; a
/// date so far back that more cells changed since is cheaper as one fold.
pub(super) const MAX_LOOKUPS: usize = 20_000;

/// A date as stored in the status tables: the integer YYYYMMDD.
pub(super) fn date_int(d: NaiveDate) -> i64 {
    i64::from(d.year()) * 10_000 + i64::from(d.month()) * 100 + i64::from(d.day())
}

/// A stored YYYYMMDD integer as a date; `None` for what is not a date.
pub(super) fn int_date(n: i64) -> Option<NaiveDate> {
    let y = i32::try_from(n / 10_000).ok()?;
    let m = u32::try_from(n / 100 % 100).ok()?;
    let d = u32::try_from(n % 100).ok()?;
    NaiveDate::from_ymd_opt(y, m, d)
}

/// A stored status and date as a [`Latest`]; `None` for a row that is not valid.
fn latest(status: i64, on: i64, event: i64) -> Option<Latest> {
    Some(Latest {
        on: int_date(on)?,
        event,
        status: Status::from_ordinal(status)?,
    })
}

/// Which scopes a read covers: the municipal ones (ARS, positive scope ids) or
/// the Ressorts (negative ids, with a partial index of their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Ars,
    Ressort,
}

impl Kind {
    /// The SQL condition on `scope_id` (written into statements, not bound, so the
    /// Ressort reads use the partial index `status_current_ressort`).
    fn clause(self) -> &'static str {
        match self {
            Kind::Ars => "scope_id > 0",
            Kind::Ressort => "scope_id < 0",
        }
    }
}

/// Database ids to matrix ids: a vector where the ids are dense (as the store
/// assigns them), a map for any others.
#[derive(Default, Clone)]
struct IdIndex {
    dense: Vec<u32>,
    sparse: HashMap<i64, u32>,
}

impl IdIndex {
    fn build(pairs: &[(i64, u32)]) -> IdIndex {
        let limit = 4 * pairs.len() as i64 + 4096;
        let mut index = IdIndex::default();
        for &(id, m) in pairs {
            match usize::try_from(id) {
                Ok(i) if id < limit => {
                    if index.dense.len() <= i {
                        index.dense.resize(i + 1, u32::MAX);
                    }
                    if let Some(slot) = index.dense.get_mut(i) {
                        *slot = m;
                    }
                }
                _ => {
                    index.sparse.insert(id, m);
                }
            }
        }
        index
    }

    /// Every (database id, matrix id) of the index.
    fn pairs(&self) -> impl Iterator<Item = (i64, u32)> + '_ {
        let dense = self.dense.iter().enumerate();
        dense
            .filter(|(_, m)| **m != u32::MAX)
            .map(|(i, m)| (i as i64, *m))
            .chain(self.sparse.iter().map(|(id, m)| (*id, *m)))
    }

    fn get(&self, id: i64) -> Option<u32> {
        match usize::try_from(id).ok().and_then(|i| self.dense.get(i)) {
            Some(&m) if m != u32::MAX => Some(m),
            Some(_) => None,
            None if self.sparse.is_empty() => None,
            None => self.sparse.get(&id).copied(),
        }
    }
}

/// The matrix ids of the database's subject and scope ids (scope ids by their
/// absolute value: one read covers one sign).
#[derive(Clone)]
pub(super) struct Ids {
    subjects: IdIndex,
    scopes: IdIndex,
    /// The database scope id (absolute value) of each matrix scope id.
    pub(super) scope_ids: Vec<i64>,
}

impl Ids {
    pub(super) fn cell(&self, subject_id: i64, scope_id: i64) -> Option<(u32, u32)> {
        Some((
            self.subjects.get(subject_id)?,
            self.scopes.get(scope_id.checked_abs()?)?,
        ))
    }

    /// The matrix scope id of a database scope id (by its absolute value).
    #[inline]
    pub(super) fn scope(&self, scope_id: i64) -> Option<u32> {
        self.scopes.get(scope_id.checked_abs()?)
    }
}

/// An empty matrix with every subject and every scope of `kind` interned, and the
/// index from database ids to its ids.
pub(super) fn interned(conn: &Connection, kind: Kind) -> Result<(Matrix, Ids), ExportError> {
    const CTX: &str = "reading status subjects and scopes";
    let mut m = Matrix::default();
    let mut subjects = Vec::new();
    let mut stmt = conn
        .prepare("SELECT subject_id, subject_kind, subject FROM status_subjects ORDER BY 2, 3")
        .map_err(db(CTX))?;
    let mut rows = stmt.query([]).map_err(db(CTX))?;
    while let Some(r) = rows.next().map_err(db(CTX))? {
        let id: i64 = r.get(0).map_err(db(CTX))?;
        let efa = r.get_ref(1).map_err(db(CTX))?.as_str().unwrap_or("") == "efa";
        let subject = r.get_ref(2).map_err(db(CTX))?.as_str().unwrap_or("");
        subjects.push((id, m.subject_id(efa, subject)));
    }
    let mut scopes = Vec::new();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT scope_id, scope FROM status_scopes WHERE {} ORDER BY 2",
            kind.clause()
        ))
        .map_err(db(CTX))?;
    let mut rows = stmt.query([]).map_err(db(CTX))?;
    while let Some(r) = rows.next().map_err(db(CTX))? {
        let id: i64 = r.get(0).map_err(db(CTX))?;
        let scope = r.get_ref(1).map_err(db(CTX))?.as_str().unwrap_or("");
        // A hostile id of i64::MIN has no absolute value: such a scope is skipped.
        if let Some(id) = id.checked_abs() {
            scopes.push((id, m.scope_id(scope)));
        }
    }
    let mut scope_ids = vec![0; m.ars.len()];
    for &(id, a) in &scopes {
        if let Some(slot) = scope_ids.get_mut(a as usize) {
            *slot = id;
        }
    }
    let ids = Ids {
        subjects: IdIndex::build(&subjects),
        scopes: IdIndex::build(&scopes),
        scope_ids,
    };
    Ok((m, ids))
}

/// The middle subject id: the two halves of the municipal cells are read on two
/// connections, split there. `None` when there are too few subjects to split.
pub(super) fn split_subject(conn: &Connection) -> Option<i64> {
    conn.query_row(
        "SELECT subject_id FROM status_subjects ORDER BY subject_id
         LIMIT 1 OFFSET (SELECT count(*) / 2 FROM status_subjects)",
        [],
        |r| r.get(0),
    )
    .ok()
}

/// A second read-only connection to the same database file, mapped for scans.
pub(super) fn second_connection(conn: &Connection) -> Option<Connection> {
    let other = helper_connection(conn)?;
    map_for_scans(&other);
    Some(other)
}

/// Another read-only connection to the same database file in the same status
/// snapshot as `conn`; `None` when there is none.
fn helper_connection(conn: &Connection) -> Option<Connection> {
    let path = conn.path().filter(|p| !p.is_empty())?;
    helper_connection_at(std::path::Path::new(path), status_stamp(conn)?)
}

/// A read-only connection to the database at `path` whose read transaction shows
/// the status snapshot `stamp` (the export connection's last status batch id), so
/// it can be opened on another thread; `None` when there is none. The export reads
/// one snapshot (run_job holds a read transaction on its connection). This
/// connection's own read transaction must show the same status data: every status
/// write adds a batch, so equal last batch ids mean equal status tables. If a
/// report landed in between, the export reads on its own connection alone.
fn helper_connection_at(path: &std::path::Path, stamp: i64) -> Option<Connection> {
    let other = crate::store::open_read_only(path).ok()?;
    other.execute_batch("BEGIN").ok()?;
    (status_stamp(&other)? == stamp).then_some(other)
}

/// The last status batch id visible to `conn` (its read snapshot).
pub(super) fn status_stamp(conn: &Connection) -> Option<i64> {
    conn.query_row(
        "SELECT coalesce(max(batch_id), 0) FROM status_batches",
        [],
        |r| r.get(0),
    )
    .ok()
}

/// A cell by database ids: (subject_id, scope_id).
pub(super) type Cell = (i64, i64);

/// What one read of (part of) `status_current_rows` yields: the rows of the
/// matrix as of the date (matrix subject id, row by matrix scope id), the cells
/// dated later, and, when a change window was asked for, the events in it.
pub(super) struct Part {
    rows: Vec<(u32, Vec<Option<Latest>>)>,
    later: Vec<Cell>,
    recent: Option<Vec<Recent>>,
}

/// What a read of `status_current_rows` looks for (the same for both halves).
struct Scan<'a> {
    kind: Kind,
    ids: &'a Ids,
    /// Scopes of `kind` (the length of a matrix row).
    scopes: usize,
    as_of: NaiveDate,
    max_lookups: usize,
    window_from: Option<NaiveDate>,
}

/// Reads the current cells of `kind` with subject ids in `subjects` (inclusive):
/// those current as of `as_of`, and those dated later (`None` when more than
/// `max_lookups`). With `window_from`, also the events in (`window_from`, `as_of`]
/// of the cells read: only a cell whose current event is after `window_from` can
/// have one, so the same scan finds them and each gets one index seek.
fn read_current(
    conn: &Connection,
    scan: &Scan<'_>,
    subjects: (i64, i64),
) -> Result<Option<Part>, ExportError> {
    let out = Arc::new(Mutex::new(None));
    let fill = Fill {
        ids: scan.ids.clone(),
        scopes: scan.scopes,
        as_of_n: date_int(scan.as_of),
        from_n: scan.window_from.map(date_int),
        max_lookups: scan.max_lookups,
        out: Arc::clone(&out),
    };
    let sql = format!(
        "SELECT {FILL}(subject_id, scope_id, status, effective_on, event_id)
         FROM status_current_rows
         WHERE {} AND subject_id >= ?1 AND subject_id <= ?2",
        scan.kind.clause()
    );
    let filled = fill_once(
        conn,
        (FILL, 5),
        fill,
        &sql,
        params![subjects.0, subjects.1],
        &out,
    )?;
    if filled.overflow {
        return Ok(None);
    }
    let recent = match scan.window_from {
        Some(from) => Some(changes_of(
            conn,
            scan.ids,
            &filled.changed,
            from,
            scan.as_of,
        )?),
        None => None,
    };
    Ok(Some(Part {
        rows: filled.rows,
        later: filled.later,
        recent,
    }))
}

/// Runs `read` over the subject ids below `split`'s middle on `conn` and over
/// the rest on `split`'s second connection, on a thread of its own, at once; or
/// over all of them on `conn` when there is no second connection. The parts come
/// in subject order.
pub(super) fn by_halves<T: Send>(
    conn: &Connection,
    split: Option<(i64, Connection)>,
    read: impl Fn(&Connection, (i64, i64)) -> Result<T, ExportError> + Sync,
) -> Result<Vec<T>, ExportError> {
    match split {
        Some((mid, other)) => std::thread::scope(|scope| {
            let read = &read;
            let high = scope.spawn(move || read(&other, (mid, i64::MAX)));
            let low = read(conn, (i64::MIN, mid.saturating_sub(1)));
            let high = high.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            Ok(vec![low?, high?])
        }),
        None => Ok(vec![read(conn, (i64::MIN, i64::MAX))?]),
    }
}

/// Runs `sql`, one aggregate over rows of `status_current_rows`, with `fill`
/// registered as the SQL function `name` of `n_arg` arguments for this one
/// statement, and takes what the aggregate's `finalize` left in `out` (the
/// whole-matrix scan here and the report's byte-per-cell scan in `cells`).
pub(super) fn fill_once<A, D, T>(
    conn: &Connection,
    (name, n_arg): (&str, std::ffi::c_int),
    fill: D,
    sql: &str,
    params: impl rusqlite::Params,
    out: &Mutex<Option<T>>,
) -> Result<T, ExportError>
where
    A: std::panic::RefUnwindSafe + std::panic::UnwindSafe,
    D: Aggregate<A, i64> + 'static,
{
    const CTX: &str = "reading current statuses";
    conn.create_aggregate_function(
        name,
        n_arg,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
        fill,
    )
    .map_err(db(CTX))?;
    let scanned = conn.query_row(sql, params, |_| Ok(()));
    let removed = conn.remove_function(name, n_arg);
    scanned.and(removed).map_err(db(CTX))?;
    let taken = out.lock().ok().and_then(|mut o| o.take());
    taken.ok_or_else(|| {
        db(CTX)(rusqlite::Error::UserFunctionError(
            "the scan of the current statuses handed over no cells".into(),
        ))
    })
}

/// The name of [`Fill`] while a read runs (on its connection only; direct use in
/// statements only, so no view or trigger of a database file can call it).
const FILL: &str = "ozgsync_fill_status_cells";

/// One read of `status_current_rows` as an SQLite aggregate: SQLite hands each
/// row's five integers to [`Fill::step`] inside its own scan, instead of
/// returning every row through `sqlite3_step` to be read column by column
/// (rusqlite's per-column calls were a third of the report's CPU time).
struct Fill {
    ids: Ids,
    /// Scopes of the read's kind (the length of a matrix row).
    scopes: usize,
    as_of_n: i64,
    from_n: Option<i64>,
    max_lookups: usize,
    /// Where `finalize` leaves the cells.
    out: Arc<Mutex<Option<Filled>>>,
}

/// What a [`Fill`] collects: the matrix rows as of the date (matrix subject id,
/// row by matrix scope id), the cells dated later, the cells changed in the
/// change window; `overflow` when more than `max_lookups` cells are dated later.
#[derive(Default)]
struct Filled {
    rows: Vec<(u32, Vec<Option<Latest>>)>,
    later: Vec<Cell>,
    changed: Vec<Cell>,
    /// The subject id of the row being filled (rows come in subject id order).
    current: Option<i64>,
    overflow: bool,
    dates: Dates,
}

impl Filled {
    fn date(&mut self, on: i64) -> Option<NaiveDate> {
        self.dates.get(on)
    }
}

/// Dates already converted, by YYYYMMDD modulo the length (a scan meets few
/// distinct dates, each millions of times).
#[derive(Default)]
struct Dates(Vec<(i64, Option<NaiveDate>)>);

impl Dates {
    /// [`int_date`], remembered.
    fn get(&mut self, on: i64) -> Option<NaiveDate> {
        const DATES: i64 = 4096;
        if self.0.is_empty() {
            self.0 = vec![(i64::MIN, None); DATES as usize];
        }
        let slot = usize::try_from(on.rem_euclid(DATES))
            .ok()
            .and_then(|i| self.0.get_mut(i));
        match slot {
            Some((seen, date)) if *seen == on => *date,
            Some(slot) => {
                *slot = (on, int_date(on));
                slot.1
            }
            None => int_date(on),
        }
    }
}

impl Aggregate<Filled, i64> for Fill {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Filled> {
        Ok(Filled::default())
    }

    fn step(&self, ctx: &mut Context<'_>, f: &mut Filled) -> rusqlite::Result<()> {
        if f.overflow {
            return Ok(());
        }
        let subject_id: i64 = ctx.get(0)?;
        let scope_id: i64 = ctx.get(1)?;
        let on: i64 = ctx.get(3)?;
        if self.from_n.is_some_and(|from| on > from) {
            f.changed.push((subject_id, scope_id));
        }
        if on > self.as_of_n {
            if f.later.len() >= self.max_lookups {
                f.overflow = true;
            } else {
                f.later.push((subject_id, scope_id));
            }
            return Ok(());
        }
        let Some((s, a)) = self.ids.cell(subject_id, scope_id) else {
            return Ok(());
        };
        let (Some(status), Some(on)) = (Status::from_ordinal(ctx.get(2)?), f.date(on)) else {
            return Ok(());
        };
        // The event id decides a same-day tie wherever two cells meet (a LeiKa
        // key's and its EfA service's, the Ressorts of one subject), as it does
        // for the cells looked up or folded when the as-of date is earlier.
        let cell = Latest {
            on,
            event: ctx.get(4)?,
            status,
        };
        if f.current != Some(subject_id) {
            f.current = Some(subject_id);
            f.rows.push((s, vec![None; self.scopes]));
        }
        if let Some(slot) = f
            .rows
            .last_mut()
            .and_then(|(_, row)| row.get_mut(a as usize))
        {
            *slot = Latest::newer(*slot, Some(cell));
        }
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, f: Option<Filled>) -> rusqlite::Result<i64> {
        if let Ok(mut out) = self.out.lock() {
            *out = Some(f.unwrap_or_default());
        }
        Ok(0)
    }
}

/// The status an event `e` of `status_event_rows` replaced in its cell: the
/// cell's event before it by (effective_on, event_id), one index seek.
const PREVIOUS_STATUS: &str = "(SELECT p.status FROM status_event_rows p
      WHERE p.subject_id = e.subject_id AND p.scope_id = e.scope_id
        AND (p.effective_on < e.effective_on
             OR (p.effective_on = e.effective_on AND p.event_id < e.event_id))
      ORDER BY p.effective_on DESC, p.event_id DESC LIMIT 1)";

/// A change from the columns at `at`: status, effective date and the status it
/// replaced ([`PREVIOUS_STATUS`]); `None` for a row that is not a valid event.
fn change_at(
    r: &rusqlite::Row<'_>,
    at: usize,
    context: &'static str,
) -> Result<Option<(Status, NaiveDate, Option<Status>)>, ExportError> {
    let new: i64 = r.get(at).map_err(db(context))?;
    let on: i64 = r.get(at + 1).map_err(db(context))?;
    let old: Option<i64> = r.get(at + 2).map_err(db(context))?;
    let (Some(new), Some(on)) = (Status::from_ordinal(new), int_date(on)) else {
        return Ok(None);
    };
    Ok(Some((new, on, old.and_then(Status::from_ordinal))))
}

/// The events in (`from`, `as_of`] of the given cells, each with the status it
/// replaced, in the cells' order and by date within a cell: per cell one index
/// seek, read backwards from `as_of` to the first event at or before `from` (the
/// status the oldest change replaced).
fn changes_of(
    conn: &Connection,
    ids: &Ids,
    cells: &[Cell],
    from: NaiveDate,
    as_of: NaiveDate,
) -> Result<Vec<Recent>, ExportError> {
    const CTX: &str = "reading recent status changes";
    let mut stmt = conn
        .prepare_cached(
            "SELECT status, effective_on FROM status_event_rows
             WHERE subject_id = ?1 AND scope_id = ?2 AND effective_on <= ?3
             ORDER BY effective_on DESC, event_id DESC",
        )
        .map_err(db(CTX))?;
    let from_n = date_int(from);
    let mut out = Vec::new();
    // The cell's events in the window, newest first: (status, date).
    let mut window: Vec<(i64, i64)> = Vec::new();
    for &(subject_id, scope_id) in cells {
        let Some((s, a)) = ids.cell(subject_id, scope_id) else {
            continue;
        };
        window.clear();
        let mut before = None;
        let mut rows = stmt
            .query(params![subject_id, scope_id, date_int(as_of)])
            .map_err(db(CTX))?;
        while let Some(r) = rows.next().map_err(db(CTX))? {
            let status: i64 = r.get(0).map_err(db(CTX))?;
            let on: i64 = r.get(1).map_err(db(CTX))?;
            if on > from_n {
                window.push((status, on));
            } else {
                before = Some(status);
                break;
            }
        }
        // Oldest first; each change replaced the one before it.
        let mut old = before.and_then(Status::from_ordinal);
        for &(status, on) in window.iter().rev() {
            let new = Status::from_ordinal(status);
            if let (Some(new), Some(on)) = (new, int_date(on)) {
                out.push(Recent { s, a, on, old, new });
            }
            old = new;
        }
    }
    Ok(out)
}

/// The status matrix of one scope kind as of a date. `status_current_rows` holds
/// the latest event per cell, so for the usual as-of date (today, or any date
/// after the newest event) it is the answer as is; the few cells whose current
/// event lies after the as-of date (future-dated events, or an as-of date in the
/// past) get one index lookup each. Only when too many cells need that is every
/// event up to the date folded instead. The municipal cells (millions) are read
/// in two halves on two connections, one per core.
///
/// With `window_from`, the events of the change window come along (see
/// [`read_current`]); `None` in their place when the matrix had to be folded from
/// the events instead.
pub(super) fn status_matrix(
    conn: &Connection,
    kind: Kind,
    as_of: NaiveDate,
    max_lookups: usize,
    window_from: Option<NaiveDate>,
) -> Result<(Matrix, Option<Vec<Recent>>), ExportError> {
    let (mut m, ids) = interned(conn, kind)?;
    let scopes = m.ars.len();
    let split = match kind {
        Kind::Ars => split_subject(conn).and_then(|mid| Some((mid, second_connection(conn)?))),
        Kind::Ressort => None,
    };
    let scan = Scan {
        kind,
        ids: &ids,
        scopes,
        as_of,
        max_lookups,
        window_from,
    };
    let read = |conn: &Connection, subjects: (i64, i64)| read_current(conn, &scan, subjects);
    let parts = by_halves(conn, split, read)?
        .into_iter()
        .collect::<Option<Vec<_>>>();
    let Some(parts) = parts else {
        return Ok((fold_events(conn, kind, as_of)?, None));
    };
    let mut later: Vec<Cell> = Vec::new();
    let mut recent: Option<Vec<Recent>> = None;
    for part in parts {
        for (s, row) in part.rows {
            // Each subject id lies in one part and is read in key order, so its
            // row arrives once and moves in whole; should a plan ever return a
            // subject's cells apart, the later row is folded in, not lost.
            let empty = m.latest.get(s as usize).is_some_and(Vec::is_empty);
            if empty {
                if let Some(slot) = m.latest.get_mut(s as usize) {
                    *slot = row;
                }
                continue;
            }
            for (a, cell) in row.into_iter().enumerate() {
                if let Some(cell) = cell {
                    m.fold((s, a as u32), cell);
                }
            }
        }
        later.extend(part.later);
        if let Some(r) = part.recent {
            recent.get_or_insert_with(Vec::new).extend(r);
        }
    }
    if later.len() > max_lookups {
        return Ok((fold_events(conn, kind, as_of)?, None));
    }
    if later.is_empty() {
        return Ok((m, recent));
    }
    let as_of_n = date_int(as_of);
    for &(subject_id, scope_id) in &later {
        let Some(cell) = ids.cell(subject_id, scope_id) else {
            continue;
        };
        if let Some(l) = latest_as_of(conn, (subject_id, scope_id), as_of_n)? {
            m.fold(cell, l);
        }
    }
    Ok((m, recent))
}

/// The latest event of a cell on or before the YYYYMMDD date `as_of_n`: one
/// index seek.
pub(super) fn latest_as_of(
    conn: &Connection,
    (subject_id, scope_id): Cell,
    as_of_n: i64,
) -> Result<Option<Latest>, ExportError> {
    const LOOKUP: &str = "reading a status as of a date";
    let mut stmt = conn
        .prepare_cached(
            "SELECT status, effective_on, event_id FROM status_event_rows
             WHERE subject_id = ?1 AND scope_id = ?2 AND effective_on <= ?3
             ORDER BY effective_on DESC, event_id DESC LIMIT 1",
        )
        .map_err(db(LOOKUP))?;
    let mut rows = stmt
        .query(params![subject_id, scope_id, as_of_n])
        .map_err(db(LOOKUP))?;
    let Some(r) = rows.next().map_err(db(LOOKUP))? else {
        return Ok(None);
    };
    let int = |i: usize| -> Result<i64, ExportError> { r.get(i).map_err(db(LOOKUP)) };
    Ok(latest(int(0)?, int(1)?, int(2)?))
}

/// One Gemeinde's cells as of the date, by matrix subject id, and its events in
/// the change window (see [`ScopeReader::cells`]).
pub(super) struct ScopeCells {
    pub(super) latest: Vec<Option<Latest>>,
    pub(super) recent: Vec<Recent>,
}

/// The name of [`ScopeFill`] on the reader's connections (direct use only).
const SCOPE_FILL: &str = "ozgsync_fill_scope_cells";

/// Reads the municipal cells Gemeinde by Gemeinde, scope first through the index
/// `status_current_by_scope` (schema 0017): the dashboards build each Gemeinde's
/// rows from its own cells as its Kreis is built, on every core, so the status
/// matrix of the whole Land (or country) is never held, and the table is not
/// mapped whole either. One helper connection per core, each in the export's
/// status snapshot, read without a memory map (each Gemeinde's range of the index
/// is read once; a map would keep every page read resident until the end).
///
/// Cells dated after the as-of date get one lookup each, as in [`status_matrix`];
/// once more than [`MAX_LOOKUPS`] were needed, the remaining Gemeinden take their
/// cells from the whole matrix, read once (an as-of date far back, where folding
/// every event is cheaper than a seek per cell).
///
/// A cell's event id decides only where the two subjects of a pair
/// ([`ScopeReader::set_pairs`]: a LeiKa key and its EfA service) both have a cell
/// of the same date. So the read hands SQLite's aggregate two columns a row, the
/// subject and `cell`, not the event id too (≈ 150 instructions a row, a tenth
/// of the read); the cells where a pair meets on one date get their event ids by
/// one seek each. A Gemeinde with more such cells than [`MAX_EVENT_SEEKS`] is
/// read again with every row's event id, and so is every Gemeinde after it.
pub(super) struct ScopeReader {
    ids: Ids,
    /// The database subject id of each matrix subject id.
    subject_ids: Vec<i64>,
    as_of_n: i64,
    window: Option<(NaiveDate, NaiveDate)>,
    /// A connection per core, with the cell each one's [`ScopeFill`] leaves its
    /// result in.
    conns: Vec<Mutex<(Connection, Handover)>>,
    lookups: std::sync::atomic::AtomicUsize,
    /// [`MAX_LOOKUPS`] (a test lowers it).
    max_lookups: usize,
    whole: Mutex<Option<Arc<Matrix>>>,
    as_of: NaiveDate,
    /// The pairs of matrix subject ids whose cells meet in one row.
    pairs: Vec<(u32, u32)>,
    /// Every row is read with its event id (a Gemeinde had too many cells where
    /// a pair meets on one date to seek each).
    with_events: std::sync::atomic::AtomicBool,
    /// [`MAX_EVENT_SEEKS`] (a test lowers it).
    max_event_seeks: usize,
}

/// The most event ids [`ScopeReader`] seeks for one Gemeinde's cells where a
/// pair meets on one date; past it the Gemeinde is read again with every row's
/// event id (a seek costs about as much as 30 rows' event ids: at 64 seeks, a
/// Gemeinde of 3,000 cells still reads for less).
pub(super) const MAX_EVENT_SEEKS: usize = 64;

impl ScopeReader {
    /// [`ScopeReader::opening`] and [`ScopeOpening::open`] on one thread.
    #[cfg(test)]
    pub(super) fn open(
        conn: &Connection,
        as_of: NaiveDate,
        window_from: Option<NaiveDate>,
    ) -> Result<Option<(Matrix, ScopeReader)>, ExportError> {
        match ScopeReader::opening(conn)? {
            Some(opening) => opening.open(as_of, window_from),
            None => Ok(None),
        }
    }

    /// What [`ScopeOpening::open`] needs of the export's connection `conn`;
    /// `None` when the cells have to be read whole instead: no index to read
    /// them by, or no file for helper connections (an in-memory database).
    pub(super) fn opening(conn: &Connection) -> Result<Option<ScopeOpening>, ExportError> {
        const CTX: &str = "reading status cells by Gemeinde";
        let indexed: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema
                 WHERE type = 'index' AND name = 'status_current_by_scope'
                   AND tbl_name = 'status_current_rows'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(db(CTX))?
            == 1;
        let path = conn.path().filter(|p| !p.is_empty());
        Ok(match (indexed, path, status_stamp(conn)) {
            (true, Some(path), Some(stamp)) => Some(ScopeOpening {
                path: std::path::PathBuf::from(path),
                stamp,
            }),
            _ => None,
        })
    }
}

/// The export connection's database path and status snapshot (its last status
/// batch id): what a [`ScopeReader`]'s helper connections are opened and checked
/// by. [`ScopeOpening::open`] needs no connection of the caller's, so the
/// dashboards run it on another thread while their own connection reads the
/// catalogue (its schema parses and the interning, ≈ 25 M instructions, were
/// the serial start's).
pub(super) struct ScopeOpening {
    path: std::path::PathBuf,
    stamp: i64,
}

impl ScopeOpening {
    /// The interned municipal subjects and scopes (an empty matrix: no cells),
    /// read on the first helper connection, and a reader of their cells; `None`
    /// when a helper connection in the same status snapshot cannot be had (a
    /// status report recorded since the export began): the cells are read whole.
    pub(super) fn open(
        self,
        as_of: NaiveDate,
        window_from: Option<NaiveDate>,
    ) -> Result<Option<(Matrix, ScopeReader)>, ExportError> {
        const CTX: &str = "reading status cells by Gemeinde";
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut helpers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let Some(other) = helper_connection_at(&self.path, self.stamp) else {
                return Ok(None);
            };
            helpers.push(other);
        }
        let Some(first) = helpers.first() else {
            return Ok(None);
        };
        let (m, ids) = interned(first, Kind::Ars)?;
        let mut conns = Vec::with_capacity(threads);
        for other in helpers {
            let out = Arc::new(Mutex::new(None));
            let dates = Arc::new(Mutex::new(None));
            // Two arguments (subject, cell) for the usual read, three (with the
            // event id) for a read with every row's event id.
            for n_arg in [2, 3] {
                let fill = ScopeFill {
                    subjects: ids.subjects.clone(),
                    n_subjects: m.latest.len(),
                    as_of_n: date_int(as_of),
                    from_n: window_from.map(date_int),
                    out: Arc::clone(&out),
                    dates: Arc::clone(&dates),
                };
                other
                    .create_aggregate_function(
                        SCOPE_FILL,
                        n_arg,
                        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
                        fill,
                    )
                    .map_err(db(CTX))?;
            }
            conns.push(Mutex::new((other, out)));
        }
        let mut subject_ids = vec![0; m.latest.len()];
        for (id, s) in ids.subjects.pairs() {
            if let Some(slot) = subject_ids.get_mut(s as usize) {
                *slot = id;
            }
        }
        let reader = ScopeReader {
            ids,
            subject_ids,
            as_of_n: date_int(as_of),
            window: window_from.map(|from| (from, as_of)),
            conns,
            lookups: std::sync::atomic::AtomicUsize::new(0),
            max_lookups: MAX_LOOKUPS,
            whole: Mutex::new(None),
            as_of,
            pairs: Vec::new(),
            with_events: std::sync::atomic::AtomicBool::new(false),
            max_event_seeks: MAX_EVENT_SEEKS,
        };
        Ok(Some((m, reader)))
    }
}

impl ScopeReader {
    /// The pairs of matrix subject ids whose cells meet in one row, where the
    /// later event decides (`Base::pairs`): their cells' event ids are read where
    /// both have a cell of the same date. Set before the first [`ScopeReader::cells`].
    pub(super) fn set_pairs(&mut self, pairs: Vec<(u32, u32)>) {
        self.pairs = pairs;
    }

    /// The cells of the Gemeinde with matrix scope id `a` (of the matrix
    /// [`ScopeOpening::open`] returned), on a connection no other thread is using.
    ///
    /// A thread takes the connection it used last when that one is free: the
    /// Gemeinden of a Kreis follow one another in scope order on one thread, and
    /// neighbouring Gemeinden read the same pages of `status_event_rows` for their
    /// change windows (a subject's cells lie together there), which stay in that
    /// connection's page cache.
    pub(super) fn cells(&self, a: u32) -> Result<ScopeCells, ExportError> {
        thread_local! {
            static LAST: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        }
        let last = LAST.with(std::cell::Cell::get);
        let free = self
            .conns
            .get(last)
            .and_then(|c| c.try_lock().ok())
            .map(|held| (last, held))
            .or_else(|| {
                self.conns
                    .iter()
                    .enumerate()
                    .find_map(|(i, c)| Some((i, c.try_lock().ok()?)))
            });
        let (i, held) = match free {
            Some(free) => free,
            None => match self.conns.first() {
                Some(c) => (0, c.lock().unwrap_or_else(|p| p.into_inner())),
                None => return Err(ExportError::invalid("no status reader connection".into())),
            },
        };
        LAST.with(|l| l.set(i));
        let (conn, out) = &*held;
        self.read(conn, out, a)
    }

    fn read(
        &self,
        conn: &Connection,
        out: &Mutex<Option<ScopeFilled>>,
        a: u32,
    ) -> Result<ScopeCells, ExportError> {
        use std::sync::atomic::Ordering;
        let Some(&scope_id) = self.ids.scope_ids.get(a as usize) else {
            return Err(ExportError::invalid(format!("no status scope {a}")));
        };
        let with_events = self.with_events.load(Ordering::Relaxed);
        let ScopeFilled {
            mut latest,
            later,
            changed,
            mut recent,
        } = self.fill(conn, out, scope_id, with_events)?;
        // Whether every cell's event id is read (from the rows, the lookups or
        // the whole matrix), and the matrix subject ids of the cells looked up.
        let mut exact = with_events || self.pairs.is_empty();
        let mut looked_up = Vec::new();
        if !later.is_empty() {
            let before = self.lookups.fetch_add(later.len(), Ordering::Relaxed);
            if before.saturating_add(later.len()) > self.max_lookups {
                let whole = self.whole(conn)?;
                for (s, slot) in latest.iter_mut().enumerate() {
                    *slot = whole.get(u32::try_from(s).ok(), Some(a));
                }
                exact = true;
            } else {
                for subject_id in later {
                    let Some(s) = self.ids.subjects.get(subject_id) else {
                        continue;
                    };
                    let found = latest_as_of(conn, (subject_id, scope_id), self.as_of_n)?;
                    if let Some(slot) = latest.get_mut(s as usize) {
                        *slot = Latest::newer(*slot, found);
                    }
                    looked_up.push(s);
                }
                looked_up.sort_unstable();
            }
        }
        if !exact {
            let meet = self.meeting(&latest, &looked_up);
            if meet.len() > self.max_event_seeks {
                // Read again with the event ids, and so every Gemeinde after this
                // one: the cells looked up keep theirs (the read leaves them out).
                self.with_events.store(true, Ordering::Relaxed);
                let again = self.fill(conn, out, scope_id, true)?;
                for (slot, cell) in latest.iter_mut().zip(again.latest) {
                    if cell.is_some() {
                        *slot = cell;
                    }
                }
            } else if !meet.is_empty() {
                self.seek_events(conn, scope_id, &meet, &mut latest)?;
            }
        }
        if let Some((from, as_of)) = self.window.filter(|_| !changed.is_empty()) {
            window_of_scope(
                conn,
                &self.ids,
                scope_id,
                &changed,
                (from, as_of),
                &mut recent,
            )?;
            // By subject id, as one read of every cell's events gave them (a stable
            // sort: a cell's changes stay oldest first).
            recent.sort_by_key(|r| r.0);
        }
        let recent = recent
            .into_iter()
            .map(|(_, (s, on, old, new))| Recent { s, a, on, old, new })
            .collect();
        Ok(ScopeCells { latest, recent })
    }

    /// One read of the Gemeinde `scope_id`'s current cells through
    /// [`ScopeFill`]: with each row's event id, or (a placeholder in its place)
    /// without.
    fn fill(
        &self,
        conn: &Connection,
        out: &Mutex<Option<ScopeFilled>>,
        scope_id: i64,
        with_events: bool,
    ) -> Result<ScopeFilled, ExportError> {
        const CTX: &str = "reading status cells by Gemeinde";
        let columns = if with_events {
            "subject_id, cell, event_id"
        } else {
            "subject_id, cell"
        };
        // `scope_id > 0` written out lets SQLite use the partial index.
        conn.prepare_cached(&format!(
            "SELECT {SCOPE_FILL}({columns})
             FROM status_current_rows WHERE scope_id = ?1 AND scope_id > 0"
        ))
        .and_then(|mut stmt| stmt.query_row([scope_id], |_| Ok(())))
        .map_err(db(CTX))?;
        out.lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| {
                db(CTX)(rusqlite::Error::UserFunctionError(
                    "the read of a Gemeinde's statuses handed over no cells".into(),
                ))
            })
    }

    /// The matrix subject ids of the cells whose event id decides a row and
    /// was not read: both subjects of a pair have a cell of the same date, and
    /// it was not looked up (`looked_up`, sorted).
    fn meeting(&self, latest: &[Option<Latest>], looked_up: &[u32]) -> Vec<u32> {
        let cell = |s: u32| latest.get(s as usize).copied().flatten();
        let mut meet = Vec::new();
        for &(l, e) in &self.pairs {
            if let (Some(x), Some(y)) = (cell(l), cell(e)) {
                if x.on == y.on {
                    meet.extend(
                        [l, e]
                            .into_iter()
                            .filter(|s| looked_up.binary_search(s).is_err()),
                    );
                }
            }
        }
        meet.sort_unstable();
        meet.dedup();
        meet
    }

    /// Reads the event id of each cell `subjects` (matrix subject ids) of the
    /// Gemeinde `scope_id` from its current row: one seek each.
    fn seek_events(
        &self,
        conn: &Connection,
        scope_id: i64,
        subjects: &[u32],
        latest: &mut [Option<Latest>],
    ) -> Result<(), ExportError> {
        const CTX: &str = "reading the event ids of a service's two subjects";
        let mut stmt = conn
            .prepare_cached(
                "SELECT event_id FROM status_current_rows
                 WHERE subject_id = ?1 AND scope_id = ?2",
            )
            .map_err(db(CTX))?;
        for &s in subjects {
            let (Some(&subject_id), Some(Some(cell))) =
                (self.subject_ids.get(s as usize), latest.get_mut(s as usize))
            else {
                continue;
            };
            let event: Option<i64> = stmt
                .query_row(params![subject_id, scope_id], |r| r.get(0))
                .optional()
                .map_err(db(CTX))?;
            if let Some(event) = event {
                cell.event = event;
            }
        }
        Ok(())
    }

    /// The whole municipal matrix as of the date, read once on `conn` (in the
    /// export's snapshot) when lookups one by one would cost more.
    fn whole(&self, conn: &Connection) -> Result<Arc<Matrix>, ExportError> {
        let mut whole = self.whole.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = &*whole {
            return Ok(Arc::clone(m));
        }
        let (m, _) = status_matrix(conn, Kind::Ars, self.as_of, MAX_LOOKUPS, None)?;
        let m = Arc::new(m);
        *whole = Some(Arc::clone(&m));
        Ok(m)
    }
}

/// The statement of [`window_of_scope`]: ?1 the scope id, ?2 the subject ids as
/// a JSON array, ?3 the as-of date (YYYYMMDD).
const WINDOW_OF_SCOPE: &str = "SELECT e.subject_id, e.effective_on, e.event_id, e.status
     FROM json_each(?2) j
     JOIN status_event_rows e
       ON e.subject_id = j.value AND e.scope_id = ?1 AND e.effective_on <= ?3";

/// The events in (`from`, `as_of`] of one Gemeinde's cells `subjects` (the
/// subject ids of the cells whose current event is after `from` and whose change
/// the current row alone does not tell, see [`ScopeFill`]), each with the status
/// it replaced, added to `out` by subject id, oldest first within a cell: one
/// statement for the Gemeinde instead of one per changed cell (124,000 for Lower
/// Saxony). SQLite seeks each cell's events up to `as_of` in the primary key of
/// `status_event_rows` (a cell's events lie together there), so the status
/// before the window comes with them; the ids go in as one JSON array, read by
/// `json_each`.
fn window_of_scope(
    conn: &Connection,
    ids: &Ids,
    scope_id: i64,
    subjects: &[i64],
    (from, as_of): (NaiveDate, NaiveDate),
    out: &mut Vec<(i64, ScopeChange)>,
) -> Result<(), ExportError> {
    const CTX: &str = "reading recent status changes";
    let mut stmt = conn.prepare_cached(WINDOW_OF_SCOPE).map_err(db(CTX))?;
    let from_n = date_int(from);
    let mut list = String::with_capacity(2 + 8 * subjects.len());
    list.push('[');
    for (i, s) in subjects.iter().enumerate() {
        if i > 0 {
            list.push(',');
        }
        list.push_str(&s.to_string());
    }
    list.push(']');
    // (subject id, date, event id, status) of every event read.
    let mut events: Vec<(i64, i64, i64, i64)> = Vec::new();
    let mut rows = stmt
        .query(params![scope_id, list, date_int(as_of)])
        .map_err(db(CTX))?;
    while let Some(r) = rows.next().map_err(db(CTX))? {
        let int = |i: usize| -> Result<i64, ExportError> { r.get(i).map_err(db(CTX)) };
        events.push((int(0)?, int(1)?, int(2)?, int(3)?));
    }
    // The plan gives them in this order; the output must not depend on a plan.
    if !events.is_sorted() {
        events.sort_unstable();
    }
    for cell in events.chunk_by(|x, y| x.0 == y.0) {
        let Some(&(subject_id, ..)) = cell.first() else {
            continue;
        };
        let Some(s) = ids.subjects.get(subject_id) else {
            continue;
        };
        // The status before the window, then each change replacing the one before.
        let split = cell.partition_point(|e| e.1 <= from_n);
        let (before, window) = cell.split_at(split);
        let mut old = before.last().and_then(|e| Status::from_ordinal(e.3));
        for &(_, on, _, status) in window {
            let new = Status::from_ordinal(status);
            if let (Some(new), Some(on)) = (new, int_date(on)) {
                out.push((subject_id, (s, on, old, new)));
            }
            old = new;
        }
    }
    Ok(())
}

/// A change of one Gemeinde's cell: matrix subject id, date, the status it
/// replaced, the new status.
type ScopeChange = (u32, NaiveDate, Option<Status>, Status);

/// Where a [`ScopeFill`] leaves what it read for the reader.
type Handover = Arc<Mutex<Option<ScopeFilled>>>;

/// One Gemeinde's read of `status_current_rows` as an SQLite aggregate (as
/// [`Fill`] for the whole matrix): the cells as of the date by matrix subject
/// id, the subject ids of the cells dated later, and the cells changed in the
/// change window. A cell whose current event is in the window, not after the
/// as-of date, and whose previous event (`prev_event`, schema 0018) is not in the
/// window changed once there, from its previous status: that change is known
/// from the row. The read hands over two columns a row: the subject id and
/// `cell` (date, status and previous event packed in one integer, schema 0019);
/// with a third, the event id (see [`ScopeReader`]; without it a cell's event id
/// is 0). Only the other changed cells' events are read, by [`window_of_scope`]
/// (one seek each). A row whose `cell` is not an integer (NULL, from a writer
/// that does not keep it) is read as a cell dated later: its status as of the
/// date is looked up from its events, which every writer keeps.
struct ScopeFill {
    subjects: IdIndex,
    n_subjects: usize,
    as_of_n: i64,
    from_n: Option<i64>,
    out: Handover,
    /// The date memory between reads (shared by the two- and three-argument
    /// forms on one connection).
    dates: Arc<Mutex<Option<Dates>>>,
}

#[derive(Default)]
struct ScopeFilled {
    latest: Vec<Option<Latest>>,
    later: Vec<i64>,
    /// The subject ids of the cells whose current event is after the start of
    /// the change window and whose change is not known from the row alone.
    changed: Vec<i64>,
    /// The changes known from the row, by subject id.
    recent: Vec<(i64, ScopeChange)>,
}

/// The state of one [`ScopeFill`] read: what it hands over, and its date memory.
struct ScopeState {
    filled: ScopeFilled,
    dates: Dates,
}

impl Aggregate<ScopeState, i64> for ScopeFill {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<ScopeState> {
        Ok(ScopeState {
            filled: ScopeFilled {
                latest: vec![None; self.n_subjects],
                ..ScopeFilled::default()
            },
            dates: self
                .dates
                .lock()
                .ok()
                .and_then(|mut d| d.take())
                .unwrap_or_default(),
        })
    }

    fn step(&self, ctx: &mut Context<'_>, st: &mut ScopeState) -> rusqlite::Result<()> {
        let subject_id = int_arg(ctx, 0)?;
        let f = &mut st.filled;
        let ValueRef::Integer(cell) = ctx.get_raw(1) else {
            // Not packed: read from the cell's events, as a cell dated later is.
            if self.from_n.is_some() {
                f.changed.push(subject_id);
            }
            f.later.push(subject_id);
            return Ok(());
        };
        let ((status, on), prev) = crate::store::status::unpack_cell(cell);
        if let Some(from) = self.from_n.filter(|from| on > *from) {
            if on > self.as_of_n || prev.is_some_and(|(_, prev_on)| prev_on > from) {
                f.changed.push(subject_id);
            } else if let (Some(s), Some(new), Some(date)) = (
                self.subjects.get(subject_id),
                Status::from_ordinal(status),
                st.dates.get(on),
            ) {
                let old = prev.and_then(|(status, _)| Status::from_ordinal(status));
                f.recent.push((subject_id, (s, date, old, new)));
            }
        }
        if on > self.as_of_n {
            f.later.push(subject_id);
            return Ok(());
        }
        let Some(s) = self.subjects.get(subject_id) else {
            return Ok(());
        };
        let (Some(status), Some(on)) = (Status::from_ordinal(status), st.dates.get(on)) else {
            return Ok(());
        };
        let event = if ctx.len() > 2 { int_arg(ctx, 2)? } else { 0 };
        let cell = Latest { on, event, status };
        if let Some(slot) = f.latest.get_mut(s as usize) {
            *slot = Latest::newer(*slot, Some(cell));
        }
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, st: Option<ScopeState>) -> rusqlite::Result<i64> {
        let filled = match st {
            Some(st) => {
                if let Ok(mut dates) = self.dates.lock() {
                    *dates = Some(st.dates);
                }
                st.filled
            }
            // No row: the Gemeinde has no cells.
            None => ScopeFilled {
                latest: vec![None; self.n_subjects],
                ..ScopeFilled::default()
            },
        };
        if let Ok(mut out) = self.out.lock() {
            *out = Some(filled);
        }
        Ok(0)
    }
}

/// Argument `i` of an aggregate step as an integer, read by its storage class
/// (`Context::get` wraps the same read in a conversion with a wider error).
pub(super) fn int_arg(ctx: &Context<'_>, i: usize) -> rusqlite::Result<i64> {
    match ctx.get_raw(i) {
        ValueRef::Integer(v) => Ok(v),
        other => Err(rusqlite::Error::InvalidFunctionParameterType(
            i,
            other.data_type(),
        )),
    }
}

/// Every event of `kind` up to `as_of`, folded per cell, in table order (the
/// table is clustered by cell). The unary `+` keeps the filters out of any index
/// choice, so the read stays one sequential scan.
fn fold_events(conn: &Connection, kind: Kind, as_of: NaiveDate) -> Result<Matrix, ExportError> {
    const CTX: &str = "reading status events";
    let (mut m, ids) = interned(conn, kind)?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT subject_id, scope_id, status, effective_on, event_id
             FROM status_event_rows WHERE +{} AND +effective_on <= ?1",
            kind.clause()
        ))
        .map_err(db(CTX))?;
    let mut rows = stmt.query(params![date_int(as_of)]).map_err(db(CTX))?;
    while let Some(r) = rows.next().map_err(db(CTX))? {
        let int = |i: usize| -> Result<i64, ExportError> { r.get(i).map_err(db(CTX)) };
        let (Some(cell), Some(l)) = (
            ids.cell(int(0)?, int(1)?),
            latest(int(2)?, int(3)?, int(4)?),
        ) else {
            continue;
        };
        m.fold(cell, l);
    }
    Ok(m)
}

/// A municipal status event in the change window, with the status it replaced,
/// by matrix subject and scope id.
pub(super) struct Recent {
    pub(super) s: u32,
    pub(super) a: u32,
    pub(super) on: NaiveDate,
    pub(super) old: Option<Status>,
    pub(super) new: Status,
}

/// The municipal events with effective_on in (`from`, `as_of`] and each one's
/// previous status in its cell, by the matrix ids every [`Kind::Ars`] matrix
/// interns. Only cells whose current event is after `from` can have such
/// events, so the read starts from `status_current_rows` by date and looks up just
/// those cells' events (one index seek each), not the whole history.
fn recent_changes(
    conn: &Connection,
    from: NaiveDate,
    as_of: NaiveDate,
) -> Result<Vec<Recent>, ExportError> {
    const CTX: &str = "reading recent status changes";
    let (_, ids) = interned(conn, Kind::Ars)?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT e.subject_id, e.scope_id, e.status, e.effective_on, {PREVIOUS_STATUS}
             FROM status_current_rows c
             JOIN status_event_rows e
               ON e.subject_id = c.subject_id AND e.scope_id = c.scope_id
              AND e.effective_on > ?1 AND e.effective_on <= ?2
             WHERE c.scope_id > 0 AND c.effective_on > ?1"
        ))
        .map_err(db(CTX))?;
    let mut rows = stmt
        .query(params![date_int(from), date_int(as_of)])
        .map_err(db(CTX))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(db(CTX))? {
        let int = |i: usize| -> Result<i64, ExportError> { r.get(i).map_err(db(CTX)) };
        let Some((s, a)) = ids.cell(int(0)?, int(1)?) else {
            continue;
        };
        let Some((new, on, old)) = change_at(r, 2, CTX)? else {
            continue;
        };
        out.push(Recent { s, a, on, old, new });
    }
    Ok(out)
}

/// The municipal matrix and, if asked, the recent changes (found by the same scan;
/// a full scan for them only when the matrix had to be folded from the events).
pub(super) fn matrix_and_changes(
    conn: &Connection,
    as_of: NaiveDate,
    window_from: Option<NaiveDate>,
) -> Result<Matrix, ExportError> {
    let (mut m, recent) = status_matrix(conn, Kind::Ars, as_of, MAX_LOOKUPS, window_from)?;
    let recent = match (window_from, recent) {
        (Some(from), None) => recent_changes(conn, from, as_of)?,
        (_, recent) => recent.unwrap_or_default(),
    };
    // Every matrix of one kind interns the same subjects and scopes in the same
    // order (sorted by key), so the ids of a separate read agree with `m`'s.
    m.recent
        .extend(recent.into_iter().map(|r| (r.s, r.a, r.on, r.old, r.new)));
    Ok(m)
}

/// Land-level status per subject (latest event at any Ressort scope) as of a date,
/// from the Ressort cells of the status matrix.
pub(super) fn land_status(
    conn: &Connection,
    as_of: NaiveDate,
) -> Result<HashMap<(String, String), Status>, ExportError> {
    let (m, _) = status_matrix(conn, Kind::Ressort, as_of, MAX_LOOKUPS, None)?;
    let mut out = HashMap::new();
    for (efa, map) in [(true, &m.efa), (false, &m.leika)] {
        for (subject, s) in map {
            let latest = (0..m.ars.len() as u32)
                .fold(None, |acc, a| Latest::newer(acc, m.get(Some(*s), Some(a))));
            if let Some(l) = latest {
                let kind = if efa { "efa" } else { "leika" };
                out.insert((kind.to_owned(), subject.clone()), l.status);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::date::iso_date;
    use crate::status::report::StatusRow;
    use crate::status::{Scope, Subject};

    fn d(s: &str) -> NaiveDate {
        iso_date(s.as_bytes()).unwrap()
    }

    /// Events (subject, ARS, status, effective_on) in recording order.
    const EVENTS: &[(&str, &str, &str, &str)] = &[
        ("99000000000001", "031010000000", "geplant", "2026-01-10"),
        ("99000000000001", "031010000000", "pilot", "2026-03-01"),
        ("99000000000001", "031010000000", "produktiv", "2026-03-01"),
        (
            "99000000000001",
            "031010000000",
            "eingestellt",
            "2026-09-01",
        ),
        ("99000000000002", "031010000000", "beauftragt", "2026-02-20"),
        ("99000000000002", "031020000000", "produktiv", "2026-07-01"),
        // Backdated: recorded last, effective before the current event.
        ("99000000000001", "031010000000", "abgelehnt", "2026-02-01"),
    ];

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::store::open(&dir.path().join("t.db")).unwrap();
        let rows: Vec<StatusRow> = EVENTS
            .iter()
            .enumerate()
            .map(|(i, (subject, ars, status, on))| StatusRow {
                line: i as u64 + 1,
                subject: Subject::Leika((*subject).into()),
                scope: Scope::Ars((*ars).into()),
                status: Status::parse(status).unwrap(),
                effective_on: d(on),
                note: None,
            })
            .collect();
        // One event per call, so the recording order (and event ids) is as listed.
        for row in rows {
            crate::store::status::record(&mut conn, &[row], "test", "test").unwrap();
        }
        (dir, conn)
    }

    /// (subject, ARS) → (status, since) of a matrix.
    fn cells(m: &Matrix) -> Vec<(String, String, &'static str, String)> {
        let mut out = Vec::new();
        for (subject, s) in &m.leika {
            for (ars, a) in &m.ars {
                if let Some(l) = m.get(Some(*s), Some(*a)) {
                    out.push((
                        subject.clone(),
                        ars.clone(),
                        l.status.as_str(),
                        l.on.to_string(),
                    ));
                }
            }
        }
        out.sort();
        out
    }

    /// A helper connection is only used when it sees the same status data as the
    /// export's snapshot; a report recorded after the snapshot began rules it out.
    #[test]
    fn helper_connections_share_the_export_snapshot() {
        let (dir, mut writer) = db();
        let reader = crate::store::open_read_only(&dir.path().join("t.db")).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let before = status_stamp(&reader).unwrap();
        assert!(second_connection(&reader).is_some());
        let row = StatusRow {
            line: 1,
            subject: Subject::Leika("99000000000003".into()),
            scope: Scope::Ars("031010000000".into()),
            status: Status::parse("pilot").unwrap(),
            effective_on: d("2026-10-01"),
            note: None,
        };
        crate::store::status::record(&mut writer, &[row], "later", "test").unwrap();
        // The reader's snapshot still shows the old state; a new connection would not.
        assert_eq!(status_stamp(&reader), Some(before));
        assert!(second_connection(&reader).is_none());
    }

    /// The scan's date memory gives each YYYYMMDD its own date, also for dates
    /// that share a slot, and no date for what is not one.
    #[test]
    fn remembered_dates_are_the_dates() {
        let mut f = Filled::default();
        for on in [
            20260101,
            20260101 + 4096,
            20260101,
            20250228,
            20250229,
            -20260101,
            i64::MIN,
            i64::MAX,
            20260101,
        ] {
            assert_eq!(f.date(on), int_date(on), "{on}");
            assert_eq!(f.date(on), int_date(on), "{on} again");
        }
    }

    /// Ids as the store assigns them index a vector; far or negative ones (another
    /// writer's, or a hostile file's) go to the map; unknown ids are absent.
    #[test]
    fn id_index_takes_dense_and_sparse_ids() {
        let index = IdIndex::build(&[(1, 10), (2, 11), (5_000_000_000, 12), (-7, 13), (0, 14)]);
        assert_eq!(index.get(1), Some(10));
        assert_eq!(index.get(2), Some(11));
        assert_eq!(index.get(0), Some(14));
        assert_eq!(index.get(5_000_000_000), Some(12));
        assert_eq!(index.get(-7), Some(13));
        assert_eq!(index.get(3), None);
        assert_eq!(index.get(i64::MIN), None);
        assert_eq!(index.get(i64::MAX), None);
        assert!(index.dense.len() < 16);
        let ids = Ids {
            subjects: IdIndex::build(&[(1, 0)]),
            scopes: IdIndex::build(&[(3, 0)]),
            scope_ids: vec![3],
        };
        assert_eq!(ids.cell(1, -3), Some((0, 0)));
        assert_eq!(ids.cell(1, i64::MIN), None);
    }

    #[test]
    fn current_statuses_with_lookups_agree_with_the_fold() {
        let (_dir, conn) = db();
        let check = |as_of: &str, expected: &[(&str, &str, &str, &str)]| {
            let expected: Vec<_> = expected
                .iter()
                .map(|(s, a, st, on)| (s.to_string(), a.to_string(), *st, on.to_string()))
                .collect();
            // Through status_current (with lookups), and forced to fold every event.
            for max_lookups in [MAX_LOOKUPS, 0] {
                let (m, _) = status_matrix(&conn, Kind::Ars, d(as_of), max_lookups, None).unwrap();
                assert_eq!(cells(&m), expected, "as of {as_of}, {max_lookups} lookups");
            }
        };
        check("2026-01-01", &[]);
        check(
            "2026-02-25",
            &[
                ("99000000000001", "031010000000", "abgelehnt", "2026-02-01"),
                ("99000000000002", "031010000000", "beauftragt", "2026-02-20"),
            ],
        );
        // The same-day correction (recorded later) wins.
        check(
            "2026-06-30",
            &[
                ("99000000000001", "031010000000", "produktiv", "2026-03-01"),
                ("99000000000002", "031010000000", "beauftragt", "2026-02-20"),
            ],
        );
        check(
            "2027-01-01",
            &[
                (
                    "99000000000001",
                    "031010000000",
                    "eingestellt",
                    "2026-09-01",
                ),
                ("99000000000002", "031010000000", "beauftragt", "2026-02-20"),
                ("99000000000002", "031020000000", "produktiv", "2026-07-01"),
            ],
        );
    }

    /// Two Ressorts' statuses for one subject on the same day: the one recorded
    /// later is the Land's status, whether the cells come from the current table
    /// (as of a date after every event) or are folded from the events (as of a
    /// date before a later event, or with no lookups allowed).
    #[test]
    fn a_same_day_tie_goes_to_the_event_recorded_later_in_every_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::store::open(&dir.path().join("t.db")).unwrap();
        // (subject, Ressort, status, effective_on) in recording order.
        let events = [
            ("99000000000001", 1, "pilot", "2026-03-01"),
            ("99000000000001", 2, "produktiv", "2026-03-01"),
            ("99000000000002", 2, "pilot", "2026-03-01"),
            ("99000000000002", 1, "produktiv", "2026-03-01"),
            // A later event elsewhere, so an as-of date before it takes the lookups.
            ("99000000000003", 1, "geplant", "2026-09-01"),
        ];
        for (i, (subject, ressort, status, on)) in events.into_iter().enumerate() {
            let row = StatusRow {
                line: i as u64 + 1,
                subject: Subject::Leika(subject.into()),
                scope: Scope::Ressort(ressort),
                status: Status::parse(status).unwrap(),
                effective_on: d(on),
                note: None,
            };
            crate::store::status::record(&mut conn, &[row], "test", "test").unwrap();
        }
        for as_of in ["2026-12-31", "2026-06-30"] {
            let land = land_status(&conn, d(as_of)).unwrap();
            for subject in ["99000000000001", "99000000000002"] {
                let key = ("leika".to_owned(), subject.to_owned());
                assert_eq!(
                    land.get(&key).map(|s| s.as_str()),
                    Some("produktiv"),
                    "{subject} as of {as_of}"
                );
            }
            for max_lookups in [MAX_LOOKUPS, 0] {
                let (m, _) =
                    status_matrix(&conn, Kind::Ressort, d(as_of), max_lookups, None).unwrap();
                let mut events: Vec<i64> = m
                    .leika
                    .values()
                    .flat_map(|s| (0..m.ars.len() as u32).map(move |a| (*s, a)))
                    .filter_map(|(s, a)| m.get(Some(s), Some(a)).map(|l| l.event))
                    .collect();
                events.sort();
                assert!(
                    events.iter().all(|e| *e > 0),
                    "as of {as_of}, {max_lookups} lookups: {events:?}"
                );
            }
        }
    }

    /// The Gemeinde-by-Gemeinde read gives every Gemeinde the cells and the
    /// recent changes the whole-matrix read gives it: as of dates before, between
    /// and after the events, with lookups and with the whole matrix as fallback;
    /// the event ids wherever two cells of a pair meet on one date (seeked, or
    /// read again with every row's), also when a cell's `cell` is NULL (a writer
    /// that does not keep it: read from its events).
    #[test]
    fn cells_read_by_gemeinde_agree_with_the_matrix() {
        let (_dir, mut conn) = db();
        // Two changes of one cell in one window (the second one's previous event
        // is in the window too) beside the listed events; and a cell of the same
        // date as another subject's in one Gemeinde, recorded later.
        for (i, (subject, ars, status, on)) in [
            ("99000000000003", "031020000000", "geplant", "2026-10-01"),
            ("99000000000003", "031020000000", "pilot", "2026-10-20"),
            ("99000000000004", "031010000000", "geplant", "2026-03-01"),
        ]
        .into_iter()
        .enumerate()
        {
            let row = StatusRow {
                line: i as u64 + 1,
                subject: Subject::Leika(subject.into()),
                scope: Scope::Ars(ars.into()),
                status: Status::parse(status).unwrap(),
                effective_on: d(on),
                note: None,
            };
            crate::store::status::record(&mut conn, &[row], "test", "test").unwrap();
        }
        type Seen = Vec<(u32, String, &'static str)>;
        let cells = |latest: &dyn Fn(u32) -> Option<Latest>, n: u32| -> Seen {
            (0..n)
                .filter_map(|s| {
                    let l = latest(s)?;
                    Some((s, l.on.to_string(), l.status.as_str()))
                })
                .collect()
        };
        // The event ids of the cells that meet another on their date.
        let meeting = |latest: &dyn Fn(u32) -> Option<Latest>, n: u32| -> Vec<(u32, i64)> {
            (0..n)
                .filter_map(|s| {
                    let l = latest(s)?;
                    let meets = (0..n).any(|t| t != s && latest(t).is_some_and(|o| o.on == l.on));
                    meets.then_some((s, l.event))
                })
                .collect()
        };
        type Changes = Vec<(u32, String, Option<&'static str>, &'static str)>;
        let changes = |recent: &mut dyn Iterator<Item = &Recent>| -> Changes {
            recent
                .map(|r| {
                    (
                        r.s,
                        r.on.to_string(),
                        r.old.map(Status::as_str),
                        r.new.as_str(),
                    )
                })
                .collect()
        };
        let mut met = 0;
        for nulled in [false, true] {
            if nulled {
                // Schema 0020 refuses a NULL `cell` unless its CHECK is switched off.
                conn.execute_batch(
                    "PRAGMA ignore_check_constraints = ON;
                     UPDATE status_current_rows SET cell = NULL",
                )
                .unwrap();
            }
            for as_of in [
                "2026-01-01",
                "2026-02-25",
                "2026-03-15",
                "2026-06-30",
                "2026-07-15",
                "2026-09-15",
                "2026-10-10",
                "2026-10-25",
                "2027-01-01",
            ] {
                let from = d(as_of) - chrono::Duration::days(30);
                let (m, found) =
                    status_matrix(&conn, Kind::Ars, d(as_of), MAX_LOOKUPS, Some(from)).unwrap();
                let found = found.unwrap();
                for (max_lookups, max_event_seeks) in
                    [(MAX_LOOKUPS, MAX_EVENT_SEEKS), (MAX_LOOKUPS, 0), (0, 0)]
                {
                    let (interned, mut reader) = ScopeReader::open(&conn, d(as_of), Some(from))
                        .unwrap()
                        .expect("a reader of a file database with the index");
                    reader.max_lookups = max_lookups;
                    reader.max_event_seeks = max_event_seeks;
                    assert!(interned.latest.iter().all(Vec::is_empty));
                    let n = interned.latest.len() as u32;
                    assert_eq!(n, m.latest.len() as u32);
                    // Every two subjects a pair.
                    reader.set_pairs(
                        (0..n)
                            .flat_map(|x| (x + 1..n).map(move |y| (x, y)))
                            .collect(),
                    );
                    let what = format!(
                        "as of {as_of}, {max_lookups} lookups, {max_event_seeks} seeks, \
                         cell NULL: {nulled}"
                    );
                    for a in 0..interned.ars.len() as u32 {
                        let read = reader.cells(a).unwrap();
                        let by_scope = |s: u32| read.latest[s as usize];
                        let by_matrix = |s: u32| m.get(Some(s), Some(a));
                        assert_eq!(
                            cells(&by_scope, n),
                            cells(&by_matrix, n),
                            "{what}, scope {a}"
                        );
                        let meets = meeting(&by_scope, n);
                        met += meets.len();
                        assert_eq!(meets, meeting(&by_matrix, n), "{what}, scope {a}");
                        assert_eq!(
                            changes(&mut read.recent.iter()),
                            changes(&mut found.iter().filter(|r| r.a == a)),
                            "{what}, scope {a}"
                        );
                    }
                }
            }
        }
        assert!(met > 0, "no two cells met on one date");
    }

    /// Without the index (a database whose index was dropped) the dashboards read
    /// the matrix whole instead of one range scan per Gemeinde each over the table.
    #[test]
    fn no_reader_without_the_scope_index() {
        let (_dir, conn) = db();
        assert!(ScopeReader::open(&conn, d("2026-06-30"), None)
            .unwrap()
            .is_some());
        conn.execute_batch("DROP INDEX status_current_by_scope")
            .unwrap();
        assert!(ScopeReader::open(&conn, d("2026-06-30"), None)
            .unwrap()
            .is_none());
    }

    /// The Gemeinde read goes through the index, not a scan of the table.
    #[test]
    fn the_gemeinde_read_uses_the_scope_index() {
        let (_dir, conn) = db();
        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT subject_id, cell, event_id
                 FROM status_current_rows WHERE scope_id = ?1 AND scope_id > 0",
            )
            .unwrap()
            .query_map([1], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            plan,
            ["SEARCH status_current_rows USING COVERING INDEX status_current_by_scope (scope_id=?)"]
        );
    }

    /// The change window of a Gemeinde seeks each changed cell's events by
    /// primary key.
    #[test]
    fn the_window_read_uses_the_scope_index_and_seeks_the_events() {
        let (_dir, conn) = db();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {WINDOW_OF_SCOPE}"))
            .unwrap()
            .query_map(params![1, "[1,2]", 20260630], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(plan.len(), 2, "{plan:?}");
        assert!(plan[0].starts_with("SCAN j VIRTUAL TABLE"), "{plan:?}");
        assert_eq!(
            plan[1],
            "SEARCH e USING PRIMARY KEY (subject_id=? AND scope_id=? AND effective_on<?)"
        );
    }

    #[test]
    fn recent_changes_carry_the_previous_status() {
        let (_dir, conn) = db();
        let check = |from: &str,
                     as_of: &str,
                     expected: &[(&str, &str, &str, Option<&str>, &str)]| {
            let (m, _) = interned(&conn, Kind::Ars).unwrap();
            let subjects: HashMap<u32, &String> = m.leika.iter().map(|(k, s)| (*s, k)).collect();
            let listed = |recent: Vec<Recent>| {
                let mut got: Vec<_> = recent
                    .into_iter()
                    .map(|r| {
                        (
                            subjects[&r.s].clone(),
                            m.scope_names[r.a as usize].clone(),
                            r.on.to_string(),
                            r.old.map(Status::as_str),
                            r.new.as_str(),
                        )
                    })
                    .collect();
                got.sort();
                got
            };
            let expected: Vec<_> = expected
                .iter()
                .map(|(s, a, on, old, new)| {
                    (s.to_string(), a.to_string(), on.to_string(), *old, *new)
                })
                .collect();
            // The scan, and the lookups of the cells the matrix read found.
            let scanned = listed(recent_changes(&conn, d(from), d(as_of)).unwrap());
            assert_eq!(scanned, expected, "scan ({from}, {as_of}]");
            let (_, found) =
                status_matrix(&conn, Kind::Ars, d(as_of), MAX_LOOKUPS, Some(d(from))).unwrap();
            assert_eq!(
                listed(found.unwrap()),
                expected,
                "lookups ({from}, {as_of}]"
            );
        };
        check(
            "2026-02-15",
            "2026-03-15",
            &[
                (
                    "99000000000001",
                    "031010000000",
                    "2026-03-01",
                    Some("abgelehnt"),
                    "pilot",
                ),
                (
                    "99000000000001",
                    "031010000000",
                    "2026-03-01",
                    Some("pilot"),
                    "produktiv",
                ),
                (
                    "99000000000002",
                    "031010000000",
                    "2026-02-20",
                    None,
                    "beauftragt",
                ),
            ],
        );
        check("2026-03-01", "2026-06-30", &[]);
        check(
            "2026-06-30",
            "2026-07-30",
            &[(
                "99000000000002",
                "031020000000",
                "2026-07-01",
                None,
                "produktiv",
            )],
        );
    }
}
