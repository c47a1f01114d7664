//! The report's read of the municipal status cells: only what its counts need.
//! The report counts statuses per EfA service and per Kreis; a cell's date and
//! event id decide nothing there except where a LeiKa key's cell and its EfA
//! service's cell meet in one row. So the scan hands SQLite's aggregate two
//! integers per cell (scope, and `cell`, the packed date and status of schema
//! 0019; the subject follows from where each subject's rows end, [`runs`])
//! and keeps one byte per cell, instead of the dashboards'
//! matrix of dated cells (16 bytes each, 2.8 M of them for Lower Saxony). The
//! cells dated later get one lookup each, as in `status::status_matrix`; the
//! cells where two subjects meet get their date and event by one lookup each.
//! Where that would take too many lookups (an as-of date far back, EfA statuses
//! for most Gemeinden), or ids are ambiguous, the caller reads the whole matrix
//! as before. The table is read on two connections from both ends until the
//! two scans meet, while the calling thread reads what else the report needs
//! before it starts its own end. Both read through SQLite's page cache, not a
//! memory map ([`unmapped`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use rusqlite::functions::{Aggregate, Context};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension};

use super::db;
use super::matrix::{Latest, Matrix};
use super::status::{
    date_int, fill_once, int_arg as int, int_date, interned, latest_as_of, second_connection, Ids,
    Kind, MAX_LOOKUPS,
};
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

/// Reads the municipal cells as of `as_of` on two connections (one per core):
/// a second thread reads from the last subject down while this thread runs
/// `alongside` (reads the report needs anyway) and then reads from the first
/// subject up, until the two meet ([`Meeting`]); so the thread with more to do
/// besides scans less. `alongside` gets the interned subjects and scopes (a
/// matrix without cells). Returns what it returned and, unless the read gives
/// up, the cells; the read gives up (`None`) when more than [`MAX_LOOKUPS`]
/// cells are dated after `as_of` or two database ids meet in one cell: the
/// whole matrix is read then.
pub(super) fn read<T>(
    conn: &Connection,
    as_of: NaiveDate,
    alongside: impl FnOnce(Matrix) -> Result<T, ExportError>,
) -> Result<(T, Option<Cells>), ExportError> {
    unmapped(conn);
    let (m, ids) = interned(conn, Kind::Ars)?;
    let scopes = m.ars.len();
    let subjects = m.latest.len();
    let (beside, parts) = match second_connection(conn) {
        Some(other) => {
            unmapped(&other);
            let meeting = Arc::new(Mutex::new(Meeting::default()));
            std::thread::scope(|scope| {
                let (ids, meeting) = (&ids, &meeting);
                let down = scope.spawn(move || {
                    scan(&other, ids, scopes, as_of, Some((Direction::Down, meeting)))
                });
                let beside = alongside(m);
                let up = match beside {
                    Ok(_) => scan(conn, ids, scopes, as_of, Some((Direction::Up, meeting))),
                    // Nothing to read for: the other thread stops at its next subject.
                    Err(_) => Ok(Meeting::stop_all(meeting)),
                };
                let down = down.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                Ok::<_, ExportError>((beside?, vec![up?, down?]))
            })?
        }
        None => {
            let beside = alongside(m)?;
            (beside, vec![scan(conn, &ids, scopes, as_of, None)?])
        }
    };
    let mut cells = Cells {
        rows: vec![Vec::new(); subjects],
        subject_ids: vec![None; subjects],
        full: HashMap::new(),
        ids,
        scopes,
    };
    let mut later = Vec::new();
    for part in parts {
        if part.ambiguous || part.mismatch || part.later.len() > MAX_LOOKUPS {
            return Ok((beside, None));
        }
        for (s, subject_id, row) in part.rows {
            // A subject's cells arrive as one row: a second row of the same
            // subject means two database ids share it.
            let slot = cells.rows.get_mut(s as usize);
            match slot {
                Some(slot) if slot.is_empty() => *slot = row,
                _ => return Ok((beside, None)),
            }
            if let Some(id) = cells.subject_ids.get_mut(s as usize) {
                *id = Some(subject_id);
            }
        }
        later.extend(part.later);
    }
    if later.len() > MAX_LOOKUPS {
        return Ok((beside, None));
    }
    let as_of_n = date_int(as_of);
    for (subject_id, scope_id) in later {
        let Some(cell) = cells.ids.cell(subject_id, scope_id) else {
            continue;
        };
        if let Some(id) = cells.subject_ids.get_mut(cell.0 as usize) {
            if id.is_some_and(|id| id != subject_id) {
                return Ok((beside, None));
            }
            *id = Some(subject_id);
        }
        if cells.code(cell.0, cell.1 as usize) != 0 {
            return Ok((beside, None));
        }
        let found = latest_as_of(conn, (subject_id, scope_id), as_of_n)?;
        if found.is_some() {
            cells.set_full(cell, found);
        }
    }
    Ok((beside, Some(cells)))
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
    /// The rows were not the runs read before them (see [`runs`]).
    mismatch: bool,
    /// The subject id of the row being filled (rows come one subject after
    /// another, in subject id order or, read backwards, its reverse).
    current: Option<i64>,
    /// The run of rows being read: its subject id and the scope id of its last
    /// row (see [`runs`]); `None` between runs.
    run: Option<(i64, i64)>,
    /// The index of the next run in [`ReportFill::runs`].
    next: usize,
    /// The scan stopped where the other scan had been (see [`Meeting`]).
    met: bool,
}

/// Which way a scan reads the subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// From the first subject up.
    Up,
    /// From the last subject down.
    Down,
}

/// Where two scans of the cells, one from each end, meet: each takes a subject
/// before it reads that subject's rows, and stops at the first subject the other
/// has taken. So every subject is read by exactly one of them (taking is one step
/// under the lock), and each reads as much as it has time for.
#[derive(Default)]
struct Meeting {
    /// The highest subject id the upward scan has taken.
    up: Option<i64>,
    /// The lowest subject id the downward scan has taken.
    down: Option<i64>,
    /// Both stop at their next subject (the other thread's work failed).
    stop: bool,
}

impl Meeting {
    /// Takes `subject` for the scan going `way`; `false` when the other scan has
    /// taken it or one beyond it.
    fn take(meeting: &Mutex<Meeting>, way: Direction, subject: i64) -> bool {
        let Ok(mut m) = meeting.lock() else {
            return false;
        };
        if m.stop {
            return false;
        }
        match way {
            Direction::Up if m.down.is_none_or(|d| subject < d) => m.up = Some(subject),
            Direction::Down if m.up.is_none_or(|u| subject > u) => m.down = Some(subject),
            _ => return false,
        }
        true
    }

    /// Stops both scans at their next subject; an empty part for the scan that
    /// does not run.
    fn stop_all(meeting: &Mutex<Meeting>) -> Part {
        if let Ok(mut m) = meeting.lock() {
            m.stop = true;
        }
        Part::default()
    }
}

/// The name of [`ReportFill`] while a read runs (on its connection only; direct
/// use in statements only, so no view or trigger of a database file can call it).
const REPORT_FILL: &str = "ozgsync_fill_report_cells";

/// The scan of [`ReportFill`]: each row's scope and `cell` (schema 0019).
const REPORT_SCAN: &str =
    "SELECT ozgsync_fill_report_cells(scope_id, cell) FROM status_current_rows";

/// One scan as an SQLite aggregate (see `status::Fill`), with two arguments per
/// cell instead of five.
struct ReportFill {
    ids: Ids,
    scopes: usize,
    /// The as-of date (YYYYMMDD): a cell dated later is looked up.
    as_of_n: i64,
    /// The subjects' runs of rows in the order the scan reads them ([`runs`]).
    runs: Vec<(i64, i64)>,
    /// The other scan to meet, and this one's direction; `None` for a scan of
    /// every subject.
    meeting: Option<(Direction, Arc<Mutex<Meeting>>)>,
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
        let scope_id = int(ctx, 0)?;
        // `cell` packs the current event's date and status (schema 0019): one
        // column read, not two and a comparison in SQL. A cell that is not
        // packed (NULL, from a writer that does not keep it) and one dated after
        // the as-of date are looked up from their events (-1).
        let status = match ctx.get_raw(1) {
            ValueRef::Integer(cell) => {
                let ((status, on), _) = crate::store::status::unpack_cell(cell);
                if on <= self.as_of_n {
                    status
                } else {
                    -1
                }
            }
            _ => -1,
        };
        // The subject of the row: the runs say where each subject's rows end, so
        // SQLite need not hand over its id with every row.
        let (subject_id, end) = match p.run {
            Some(run) => run,
            None => {
                let Some(&run) = self.runs.get(p.next) else {
                    p.mismatch = true;
                    return Ok(());
                };
                p.next += 1;
                if let Some((way, meeting)) = &self.meeting {
                    self.take(p, *way, meeting, run.0)?;
                }
                p.run = Some(run);
                run
            }
        };
        if scope_id == end {
            p.run = None;
        }

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
            // A scan that met the other has handed over already; SQLite still
            // finalizes the aggregate when it ends the statement.
            if out.is_none() {
                let mut p = p.unwrap_or_default();
                // Read to the end, every run must have been read whole.
                p.mismatch |= p.run.is_some() || p.next != self.runs.len();
                *out = Some(p);
            }
        }
        Ok(0)
    }
}

impl ReportFill {
    /// Takes `subject` in the meeting, or, where the other scan has been, hands
    /// over what this one read and ends the statement (an error is the one way
    /// to end it).
    fn take(
        &self,
        p: &mut Part,
        way: Direction,
        meeting: &Mutex<Meeting>,
        subject: i64,
    ) -> rusqlite::Result<()> {
        if Meeting::take(meeting, way, subject) {
            return Ok(());
        }
        p.met = true;
        p.run = None;
        if let Ok(mut out) = self.out.lock() {
            *out = Some(std::mem::take(p));
        }
        Err(rusqlite::Error::UserFunctionError(
            "the scans of the status cells met".into(),
        ))
    }
}

/// Reads the municipal cells: every subject's, or, meeting another scan, those
/// of the subjects this one takes going its way.
fn scan(
    conn: &Connection,
    ids: &Ids,
    scopes: usize,
    as_of: NaiveDate,
    meeting: Option<(Direction, &Arc<Mutex<Meeting>>)>,
) -> Result<Part, ExportError> {
    let way = meeting.map_or(Direction::Up, |(way, _)| way);
    let out = Arc::new(Mutex::new(None));
    let fill = ReportFill {
        ids: ids.clone(),
        scopes,
        as_of_n: date_int(as_of),
        runs: runs(conn, way)?,
        meeting: meeting.map(|(way, m)| (way, Arc::clone(m))),
        out: Arc::clone(&out),
    };
    // Read from the end, SQLite walks the table backwards from its last row; with
    // no bound in either direction no row's key is compared with one (a bound
    // on the far side costs about 180 instructions a row).
    let down = way == Direction::Down;
    if down {
        set_reverse(conn, true)?;
    }
    let part = fill_once(conn, (REPORT_FILL, 2), fill, REPORT_SCAN, [], &out);
    if down {
        // The connection may go on to read other things in their usual order.
        set_reverse(conn, false)?;
    }
    match part {
        Ok(part) => Ok(part),
        // Ended where the other scan had been: what it read was handed over.
        Err(e) => match out.lock().ok().and_then(|mut o| o.take()) {
            Some(part) if part.met => Ok(part),
            _ => Err(e),
        },
    }
}

/// The runs of rows of `status_current_rows`, one per subject, in the order a
/// scan going `way` reads them: the subject id and the scope id of the run's
/// last row (the highest going up, the lowest going down; the key is (subject,
/// scope)). A scan that knows them is handed only scope and status: a row is the
/// first of the next run after the last of one (about a tenth of the scan's
/// cost a row, for two index seeks a subject). Read in the scan's snapshot, so
/// they are its runs; a scan that finds otherwise gives up ([`Part::mismatch`]).
fn runs(conn: &Connection, way: Direction) -> Result<Vec<(i64, i64)>, ExportError> {
    const CTX: &str = "reading where each subject's status cells end";
    let end = match way {
        Direction::Up => "max",
        Direction::Down => "min",
    };
    let mut stmt = conn
        .prepare(&format!(
            "WITH RECURSIVE s(id) AS (
                 SELECT (SELECT min(subject_id) FROM status_current_rows)
                 UNION ALL
                 SELECT (SELECT min(subject_id) FROM status_current_rows
                         WHERE subject_id > s.id)
                 FROM s WHERE s.id IS NOT NULL
             )
             SELECT id, (SELECT {end}(scope_id) FROM status_current_rows
                         WHERE subject_id = s.id)
             FROM s WHERE id IS NOT NULL"
        ))
        .map_err(db(CTX))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .map_err(db(CTX))?;
    let mut runs = rows.collect::<Result<Vec<_>, _>>().map_err(db(CTX))?;
    runs.sort_unstable();
    if way == Direction::Down {
        runs.reverse();
    }
    Ok(runs)
}

/// Makes `conn` read through SQLite's page cache, not a memory map. Through
/// the map every page the scans touched stayed resident until the end, and each
/// page fault maps the cached pages around it too (the scope index's among the
/// table's): peak RSS 198 MiB on the bench's database, 48 MiB without, for the
/// same CPU time (pages copied by `pread` instead of faulted in: +0.2 %
/// instructions, system time alike). [`runs`]' seeks, a few pages apart all
/// over the table, made the whole table resident on both connections through
/// the map (171 → 293 MiB). Best effort, as the map itself: the cells are the
/// same either way.
fn unmapped(conn: &Connection) {
    let _ = conn.pragma_update(None, "mmap_size", 0);
}

/// Makes `conn`'s statements without `ORDER BY` scan backwards (or not).
fn set_reverse(conn: &Connection, on: bool) -> Result<(), ExportError> {
    conn.pragma_update(None, "reverse_unordered_selects", on)
        .map_err(db("setting the direction of the status scan"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::date::iso_date;
    use crate::status::report::StatusRow;
    use crate::status::{Scope, Subject};

    const SUBJECTS: usize = 7;
    const ARS: [&str; 3] = ["031010000000", "031020000000", "031030000000"];
    const STATUSES: [&str; 4] = ["geplant", "pilot", "produktiv", "beauftragt"];

    /// A database of `SUBJECTS` LeiKa keys with a cell in each ARS, the status
    /// varying by key and ARS; one Ressort cell, which the scans pass over.
    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::store::open(&dir.path().join("t.db")).unwrap();
        let mut rows = Vec::new();
        for k in 0..SUBJECTS {
            for (a, ars) in ARS.iter().enumerate() {
                rows.push(StatusRow {
                    line: rows.len() as u64 + 1,
                    subject: Subject::Leika(format!("990000000000{k:02}")),
                    scope: Scope::Ars((*ars).into()),
                    status: Status::parse(STATUSES[(k + a) % STATUSES.len()]).unwrap(),
                    effective_on: iso_date(b"2026-03-01").unwrap(),
                    note: None,
                });
            }
        }
        rows.push(StatusRow {
            line: rows.len() as u64 + 1,
            subject: Subject::Leika("99000000000003".into()),
            scope: Scope::Ressort(1),
            status: Status::parse("produktiv").unwrap(),
            effective_on: iso_date(b"2026-03-01").unwrap(),
            note: None,
        });
        crate::store::status::record(&mut conn, &rows, "test", "test").unwrap();
        (dir, conn)
    }

    fn as_of() -> NaiveDate {
        iso_date(b"2026-06-30").unwrap()
    }

    /// The database subject ids, ascending.
    fn subject_ids(conn: &Connection) -> Vec<i64> {
        let mut stmt = conn
            .prepare("SELECT subject_id FROM status_subjects ORDER BY 1")
            .unwrap();
        let ids = stmt.query_map([], |r| r.get(0)).unwrap();
        ids.collect::<Result<_, _>>().unwrap()
    }

    /// The subjects a part read, ascending, and whether each row is whole.
    fn read_by(part: &Part) -> Vec<i64> {
        let mut ids: Vec<i64> = part.rows.iter().map(|(_, id, _)| *id).collect();
        for (_, _, row) in &part.rows {
            assert_eq!(row.iter().filter(|c| **c != 0).count(), ARS.len());
        }
        ids.sort_unstable();
        ids
    }

    /// Two scans from both ends take every subject exactly once, however their
    /// steps interleave: each schedule says which scan moves to its next subject.
    #[test]
    fn scans_from_both_ends_take_each_subject_once() {
        let n = 6i64;
        for up_first in 0..=n + 1 {
            for ratio in 1..=3 {
                let meeting = Mutex::new(Meeting::default());
                let (mut up, mut down) = (Some(1i64), Some(n));
                let mut taken: Vec<i64> = Vec::new();
                let mut step = 0;
                while up.is_some() || down.is_some() {
                    let up_turn = (step < up_first || step % (ratio + 1) != 0) && up.is_some();
                    step += 1;
                    if up_turn || down.is_none() {
                        let s = up.unwrap_or(n + 1);
                        up = (s <= n && Meeting::take(&meeting, Direction::Up, s)).then(|| {
                            taken.push(s);
                            s + 1
                        });
                    } else {
                        let s = down.unwrap_or(0);
                        down = (s >= 1 && Meeting::take(&meeting, Direction::Down, s)).then(|| {
                            taken.push(s);
                            s - 1
                        });
                    }
                }
                taken.sort_unstable();
                assert_eq!(taken, (1..=n).collect::<Vec<_>>(), "{up_first} {ratio}");
            }
        }
    }

    /// A scan that reaches a subject the other has taken ends there through SQLite
    /// and hands over the whole rows of the subjects it took, going either way.
    #[test]
    fn a_scan_stops_where_the_other_has_been() {
        let (_dir, conn) = db();
        let (m, ids) = interned(&conn, Kind::Ars).unwrap();
        let all = subject_ids(&conn);
        assert_eq!(all.len(), SUBJECTS);
        let scopes = m.ars.len();
        for (i, &at) in all.iter().enumerate() {
            let met = |up, down| {
                Arc::new(Mutex::new(Meeting {
                    up,
                    down,
                    stop: false,
                }))
            };
            let below = met(None, Some(at));
            let part = scan(&conn, &ids, scopes, as_of(), Some((Direction::Up, &below))).unwrap();
            assert!(part.met);
            assert_eq!(read_by(&part), all[..i]);
            let above = met(Some(at), None);
            let part = scan(
                &conn,
                &ids,
                scopes,
                as_of(),
                Some((Direction::Down, &above)),
            )
            .unwrap();
            assert!(part.met);
            assert_eq!(read_by(&part), all[i + 1..]);
            // The connection reads forwards again afterwards.
            let first: i64 = conn
                .query_row("SELECT subject_id FROM status_current_rows", [], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(first, all[0]);
        }
        // Neither scan takes anything once both are told to stop.
        let stopped = Arc::new(Mutex::new(Meeting::default()));
        Meeting::stop_all(&stopped);
        let part = scan(
            &conn,
            &ids,
            scopes,
            as_of(),
            Some((Direction::Up, &stopped)),
        )
        .unwrap();
        assert!(part.rows.is_empty());
    }

    /// The runs are each subject's rows, ending where the key order ends them
    /// going either way; a scan handed runs that are not the table's gives up.
    #[test]
    fn runs_end_where_each_subject_s_rows_end() {
        let (_dir, conn) = db();
        let by_sql = |sql: &str| -> Vec<(i64, i64)> {
            let mut stmt = conn.prepare(sql).unwrap();
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            rows.collect::<Result<_, _>>().unwrap()
        };
        let up = by_sql(
            "SELECT subject_id, max(scope_id) FROM status_current_rows
             GROUP BY 1 ORDER BY 1",
        );
        let down = by_sql(
            "SELECT subject_id, min(scope_id) FROM status_current_rows
             GROUP BY 1 ORDER BY 1 DESC",
        );
        assert_eq!(up.len(), SUBJECTS);
        // The subject with a Ressort cell begins with it (a negative scope id).
        assert!(down.iter().any(|(_, first)| *first < 0));
        assert_eq!(runs(&conn, Direction::Up).unwrap(), up);
        assert_eq!(runs(&conn, Direction::Down).unwrap(), down);

        let (m, ids) = interned(&conn, Kind::Ars).unwrap();
        let scan_with = |runs: Vec<(i64, i64)>| {
            let out = Arc::new(Mutex::new(None));
            let fill = ReportFill {
                ids: ids.clone(),
                scopes: m.ars.len(),
                as_of_n: date_int(as_of()),
                runs,
                meeting: None,
                out: Arc::clone(&out),
            };
            fill_once(&conn, (REPORT_FILL, 2), fill, REPORT_SCAN, [], &out).unwrap()
        };
        let whole = scan_with(up.clone());
        assert!(!whole.mismatch && !whole.ambiguous);
        assert_eq!(whole.rows.len(), SUBJECTS);
        // A run that ends a row early, one that never ends, one too few.
        let mut early = up.clone();
        early[0].1 = early[1].1 - 1;
        let mut never = up.clone();
        never[0].1 = i64::MAX;
        for wrong in [early, never, up[1..].to_vec()] {
            assert!(scan_with(wrong).mismatch);
        }
    }

    /// The cells read by two scans that meet are the cells of the whole matrix,
    /// as of a date after the events and before them, also where `cell` is NULL
    /// (a writer that does not keep it: looked up from the events); what runs
    /// alongside gets the interned matrix, and its error is the read's.
    #[test]
    fn the_cells_read_from_both_ends_are_the_matrix() {
        let (_dir, conn) = db();
        let check = |as_of: NaiveDate| -> usize {
            let (beside, cells) = read(&conn, as_of, |m| Ok(m.leika.len())).unwrap();
            assert_eq!(beside, SUBJECTS);
            let cells = cells.unwrap();
            let (m, _) =
                super::super::status::status_matrix(&conn, Kind::Ars, as_of, MAX_LOOKUPS, None)
                    .unwrap();
            let (interned, _) = interned(&conn, Kind::Ars).unwrap();
            let mut compared = 0;
            for (key, s) in &interned.leika {
                for (ars, a) in &interned.ars {
                    let whole = m.get(m.subject(false, key), m.ars.get(ars).copied());
                    let got = cells.get_in(cells.row(Some(*s)), Some(*a));
                    assert_eq!(
                        got.map(|l| l.status),
                        whole.map(|l| l.status),
                        "{key} {ars} as of {as_of}"
                    );
                    compared += usize::from(got.is_some());
                }
            }
            compared
        };
        let before = iso_date(b"2026-02-01").unwrap();
        assert_eq!(check(as_of()), SUBJECTS * ARS.len());
        assert_eq!(check(before), 0);
        // A NULL `cell` (schema 0020 refuses one unless its CHECK is switched off).
        conn.execute_batch(
            "PRAGMA ignore_check_constraints = ON;
             UPDATE status_current_rows SET cell = NULL WHERE subject_id % 2 = 0",
        )
        .unwrap();
        assert_eq!(check(as_of()), SUBJECTS * ARS.len());
        assert_eq!(check(before), 0);
        let failed = read(&conn, as_of(), |_| {
            Err::<(), _>(ExportError::invalid("alongside".into()))
        });
        assert!(matches!(failed, Err(ExportError::Invalid(_))));
    }
}
