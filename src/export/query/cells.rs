//! The report's read of the municipal status cells: only what its counts need.
//! The report counts statuses per EfA service and per Kreis; a cell's date and
//! event id decide nothing there except where a LeiKa key's cell and its EfA
//! service's cell meet in one row. So the scan hands SQLite's aggregate three
//! integers per cell (subject, scope, and the status, or -1 for a cell dated
//! after the as-of date) and keeps one byte per cell, instead of the dashboards'
//! matrix of dated cells (16 bytes each, 2.8 M of them for Lower Saxony). The
//! cells dated later get one lookup each, as in `status::status_matrix`; the
//! cells where two subjects meet get their date and event by one lookup each.
//! Where that would take too many lookups (an as-of date far back, EfA statuses
//! for most Gemeinden), or ids are ambiguous, the caller reads the whole matrix
//! as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use rusqlite::functions::{Aggregate, Context};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension};

use super::matrix::{Latest, Matrix};
use super::status::{
    by_halves, date_int, fill_once, int_date, interned, latest_as_of, second_connection,
    split_subject, Ids, Kind, MAX_LOOKUPS,
};
use super::{db, map_for_scans};
use crate::export::model::Status;
use crate::export::ExportError;

/// The bit of a cell's byte that says its date and event are in [`Cells::full`].
const FULL: u8 = 0x80;

/// The municipal cells as of a date, one byte each: 0 for no cell, else the
/// status ordinal (1..=8), with [`FULL`] set where the dated cell is kept too.
pub(super) struct Cells {
    /// Per matrix subject id, a byte per matrix scope id (empty: no cells).
    rows: Vec<Vec<u8>>,
    /// The database subject id of each matrix subject id that has cells.
    subject_ids: Vec<Option<i64>>,
    /// The cells known with their date and event (those marked [`FULL`]).
    full: HashMap<(u32, u32), Latest>,
    ids: Ids,
    scopes: usize,
}

impl Cells {
    /// The cells of matrix subject `s` (none: no subject or no cells), for
    /// [`Cells::get_in`] over many scopes with one lookup of the subject.
    pub(super) fn row(&self, s: Option<u32>) -> (u32, &[u8]) {
        match s.and_then(|s| Some((s, self.rows.get(s as usize)?))) {
            Some((s, row)) => (s, row.as_slice()),
            None => (u32::MAX, &[]),
        }
    }

    /// The cell in matrix scope `a` of a subject's [`Cells::row`] as the report counts
    /// it. A cell not marked [`FULL`] meets no other in a row (see
    /// [`Cells::resolve_pairs`]), so only its status is read: its date and event
    /// are placeholders.
    pub(super) fn get_in(&self, (s, row): (u32, &[u8]), a: Option<u32>) -> Option<Latest> {
        let a = a?;
        let code = *row.get(a as usize)?;
        if code & FULL != 0 {
            return self.full.get(&(s, a)).copied();
        }
        Some(Latest {
            on: NaiveDate::MIN,
            event: 0,
            status: Status::from_ordinal(i64::from(code))?,
        })
    }

    fn code(&self, s: u32, a: usize) -> u8 {
        self.rows
            .get(s as usize)
            .and_then(|r| r.get(a))
            .copied()
            .unwrap_or(0)
    }

    /// Keeps a dated cell (or, `None`, removes the cell).
    fn set_full(&mut self, (s, a): (u32, u32), cell: Option<Latest>) {
        let scopes = self.scopes;
        let Some(row) = self.rows.get_mut(s as usize) else {
            return;
        };
        if row.is_empty() {
            row.resize(scopes, 0);
        }
        let Some(slot) = row.get_mut(a as usize) else {
            return;
        };
        match cell {
            Some(l) => {
                *slot = u8::try_from(l.status.ordinal()).unwrap_or(0) | FULL;
                self.full.insert((s, a), l);
            }
            None => {
                *slot = 0;
                self.full.remove(&(s, a));
            }
        }
    }

    /// Reads the date and event of every cell where both subjects of a pair
    /// (a LeiKa key and its EfA service, [`super::dashboard::Base::pairs`]) have
    /// a cell, one lookup each. `None` when that would take more than
    /// [`MAX_LOOKUPS`] lookups: the whole matrix is cheaper then.
    pub(super) fn resolve_pairs(
        mut self,
        conn: &Connection,
        pairs: &[(u32, u32)],
    ) -> Result<Option<Cells>, ExportError> {
        const CTX: &str = "reading the status cells of a service's two subjects";
        let mut wanted: Vec<(u32, u32)> = Vec::new();
        for &(l, e) in pairs {
            if self.rows.get(l as usize).is_none_or(Vec::is_empty)
                || self.rows.get(e as usize).is_none_or(Vec::is_empty)
            {
                continue;
            }
            for a in 0..self.scopes {
                let (cl, ce) = (self.code(l, a), self.code(e, a));
                if cl == 0 || ce == 0 {
                    continue;
                }
                let a = u32::try_from(a).unwrap_or(u32::MAX);
                for (s, c) in [(l, cl), (e, ce)] {
                    if c & FULL == 0 {
                        wanted.push((s, a));
                    }
                }
            }
            if wanted.len() > MAX_LOOKUPS {
                return Ok(None);
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        let mut stmt = conn
            .prepare_cached(
                "SELECT status, effective_on, event_id FROM status_current_rows
                 WHERE subject_id = ?1 AND scope_id = ?2",
            )
            .map_err(db(CTX))?;
        for (s, a) in wanted {
            let subject_id = self.subject_ids.get(s as usize).copied().flatten();
            let scope_id = self.ids.scope_ids.get(a as usize).copied();
            let (Some(subject_id), Some(scope_id)) = (subject_id, scope_id) else {
                continue;
            };
            let found = stmt
                .query_row(params![subject_id, scope_id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .optional()
                .map_err(db(CTX))?;
            let cell = found.and_then(|(status, on, event)| {
                Some(Latest {
                    on: int_date(on)?,
                    event,
                    status: Status::from_ordinal(status)?,
                })
            });
            self.set_full((s, a), cell);
        }
        Ok(Some(self))
    }
}

/// Reads the municipal cells as of `as_of` in two halves by subject id on two
/// connections (one per core), as `status::status_matrix` does. Returns the
/// interned subjects and scopes (a matrix without cells) and the cells; `None`
/// when more than [`MAX_LOOKUPS`] cells are dated after `as_of` or two database
/// ids meet in one cell: the whole matrix is read then.
pub(super) fn read(
    conn: &Connection,
    as_of: NaiveDate,
) -> Result<Option<(Matrix, Cells)>, ExportError> {
    map_for_scans(conn);
    let (m, ids) = interned(conn, Kind::Ars)?;
    let scopes = m.ars.len();
    let subjects = m.latest.len();
    let split = split_subject(conn).and_then(|mid| Some((mid, second_connection(conn)?)));
    let read = |conn: &Connection, range: (i64, i64)| scan(conn, &ids, scopes, as_of, range);
    let parts = by_halves(conn, split, read)?;
    let mut cells = Cells {
        rows: vec![Vec::new(); subjects],
        subject_ids: vec![None; subjects],
        full: HashMap::new(),
        ids,
        scopes,
    };
    let mut later = Vec::new();
    for part in parts {
        if part.ambiguous || part.later.len() > MAX_LOOKUPS {
            return Ok(None);
        }
        for (s, subject_id, row) in part.rows {
            // A subject's cells arrive as one row: a second row of the same
            // subject means two database ids share it.
            let slot = cells.rows.get_mut(s as usize);
            match slot {
                Some(slot) if slot.is_empty() => *slot = row,
                _ => return Ok(None),
            }
            if let Some(id) = cells.subject_ids.get_mut(s as usize) {
                *id = Some(subject_id);
            }
        }
        later.extend(part.later);
    }
    if later.len() > MAX_LOOKUPS {
        return Ok(None);
    }
    let as_of_n = date_int(as_of);
    for (subject_id, scope_id) in later {
        let Some(cell) = cells.ids.cell(subject_id, scope_id) else {
            continue;
        };
        if let Some(id) = cells.subject_ids.get_mut(cell.0 as usize) {
            if id.is_some_and(|id| id != subject_id) {
                return Ok(None);
            }
            *id = Some(subject_id);
        }
        if cells.code(cell.0, cell.1 as usize) != 0 {
            return Ok(None);
        }
        let found = latest_as_of(conn, (subject_id, scope_id), as_of_n)?;
        if found.is_some() {
            cells.set_full(cell, found);
        }
    }
    Ok(Some((m, cells)))
}

/// What one half of the scan yields.
#[derive(Default)]
struct Part {
    /// Per subject read: its matrix id, its database id, its row.
    rows: Vec<(u32, i64, Vec<u8>)>,
    /// The cells dated after the as-of date (database ids).
    later: Vec<(i64, i64)>,
    /// Two cells of one subject row fell on one matrix scope.
    ambiguous: bool,
    /// The subject id of the row being filled (rows come one subject after
    /// another, in subject id order or, read backwards, its reverse).
    current: Option<i64>,
}

/// The name of [`ReportFill`] while a read runs (on its connection only; direct
/// use in statements only, so no view or trigger of a database file can call it).
const REPORT_FILL: &str = "ozgsync_fill_report_cells";

/// One half of the scan as an SQLite aggregate (see `status::Fill`), with three
/// arguments per cell instead of five.
struct ReportFill {
    ids: Ids,
    scopes: usize,
    out: Arc<Mutex<Option<Part>>>,
}

impl Aggregate<Part, i64> for ReportFill {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Part> {
        Ok(Part::default())
    }

    fn step(&self, ctx: &mut Context<'_>, p: &mut Part) -> rusqlite::Result<()> {
        if p.ambiguous || p.later.len() > MAX_LOOKUPS {
            return Ok(());
        }
        let subject_id = int(ctx, 0)?;
        let scope_id = int(ctx, 1)?;
        let status = int(ctx, 2)?;
        // The Ressort cells (negative scope ids) are passed over here rather
        // than in SQL: two instructions less for each of the millions of rows.
        if scope_id <= 0 {
            return Ok(());
        }
        if status < 0 {
            p.later.push((subject_id, scope_id));
            return Ok(());
        }
        let (Some(_), Ok(code)) = (Status::from_ordinal(status), u8::try_from(status)) else {
            return Ok(());
        };
        // Rows come one subject after another: the subject is looked up once per run
        // of its rows, not once per row.
        if p.current != Some(subject_id) {
            let Some((s, _)) = self.ids.cell(subject_id, scope_id) else {
                return Ok(());
            };
            p.current = Some(subject_id);
            p.rows.push((s, subject_id, vec![0; self.scopes]));
        }
        let Some(a) = self.ids.scope(scope_id) else {
            return Ok(());
        };
        if let Some(slot) = p
            .rows
            .last_mut()
            .and_then(|(_, _, row)| row.get_mut(a as usize))
        {
            if *slot != 0 {
                p.ambiguous = true;
            }
            *slot = code;
        }
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, p: Option<Part>) -> rusqlite::Result<i64> {
        if let Ok(mut out) = self.out.lock() {
            *out = Some(p.unwrap_or_default());
        }
        Ok(0)
    }
}

/// Argument `i` of an aggregate step as an integer, read by its storage class
/// (`Context::get` wraps the same read in a conversion with a wider error: a
/// tenth of the scan's per-row hand-over).
fn int(ctx: &Context<'_>, i: usize) -> rusqlite::Result<i64> {
    match ctx.get_raw(i) {
        ValueRef::Integer(v) => Ok(v),
        other => Err(rusqlite::Error::InvalidFunctionParameterType(
            i,
            other.data_type(),
        )),
    }
}

/// Reads the municipal cells with subject ids in `subjects` (inclusive).
fn scan(
    conn: &Connection,
    ids: &Ids,
    scopes: usize,
    as_of: NaiveDate,
    subjects: (i64, i64),
) -> Result<Part, ExportError> {
    let out = Arc::new(Mutex::new(None));
    let fill = ReportFill {
        ids: ids.clone(),
        scopes,
        out: Arc::clone(&out),
    };
    // A range from the first subject up to a bound is read backwards, from the
    // bound down: SQLite seeks to the bound once and walks back to the table's
    // start, where a forward scan checks every row's key against the bound (about
    // 180 instructions a row, 255 M for the lower half of 2.8 M cells, which made
    // that half the critical path). Rows still come one subject after another.
    let backwards = subjects.0 == i64::MIN && subjects.1 != i64::MAX;
    if backwards {
        set_reverse(conn, true)?;
    }
    // The date is compared in SQL: a cell dated later hands over -1.
    let part = fill_once(
        conn,
        (REPORT_FILL, 3),
        fill,
        &format!(
            "SELECT {REPORT_FILL}(subject_id, scope_id,
                    CASE WHEN effective_on <= ?3 THEN status ELSE -1 END)
             FROM status_current_rows {}",
            subject_range(subjects)
        ),
        params![subjects.0, subjects.1, date_int(as_of)],
        &out,
    );
    if backwards {
        // The connection goes on to read other things in their usual order.
        set_reverse(conn, false)?;
    }
    part
}

/// Makes `conn`'s statements without `ORDER BY` scan backwards (or not).
fn set_reverse(conn: &Connection, on: bool) -> Result<(), ExportError> {
    conn.pragma_update(None, "reverse_unordered_selects", on)
        .map_err(db("setting the direction of the status scan"))
}

/// The `WHERE` clause of a scan over the subject ids `subjects` (bound as `?1`
/// and `?2`; an unused parameter still binds, as `?3` is used): a bound that is
/// the end of the i64 range is left out. SQLite seeks
/// to a lower bound once but compares every row's key with an upper one (a
/// record comparison of about 75 instructions a row: 0.1 G for the upper half of
/// 2.8 M cells), so the half that reads to the end has none; the half that
/// reads from the start is read backwards ([`scan`]), which makes its bound the
/// seek's.
fn subject_range(subjects: (i64, i64)) -> &'static str {
    match (subjects.0 == i64::MIN, subjects.1 == i64::MAX) {
        (true, true) => "",
        (true, false) => "WHERE subject_id <= ?2",
        (false, true) => "WHERE subject_id >= ?1",
        (false, false) => "WHERE subject_id >= ?1 AND subject_id <= ?2",
    }
}
