//! Fills the export model from the database, read-only. All SQL of the exports is
//! here. Municipal statuses come from `status_current` (the latest event per
//! subject and ARS), corrected by index lookups for the few cells whose current
//! event lies after the as-of date, read in two halves on two connections; the
//! same scan finds the cells changed in the last 30 days, whose events are then
//! looked up. Subjects and ARS are interned to integers so millions of cells stay
//! cheap.
//!
//! Record shapes read from `record_versions` (JSON in `data`):
//! `efa_service` (0003): `name, ozg_ids[], leistungsschluessel[], themenfeld,
//! federfuehrendes_land, reifegrad{modell, stufe}, url`; `ozg_leistung`:
//! `bezeichnung, themenfeld`;
//! `availability` (key `<ars>:<leika key>`): `ars, leistungsschluessel,
//! online_status (ok | nicht ok), url`. The JSON paths are the constants below.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection};

use super::model::{
    Availability, Changes, DashService, DashboardData, Gemeinde, GemeindeChange, GemeindeService,
    KreisRow, Nachnutzung, NachnutzungChange, NewService, OzgRef, Phases, ProgressRow, Reifegrad,
    Report, RetiredKey, ServiceRow, SourceRelease, Stage, Status, StatusChange, Unit,
};
use super::ExportError;
use crate::error::Error;
use crate::model::date::iso_date;
use crate::model::{LandScope, Vollzug};

/// Days of status changes a dashboard file lists.
pub const CHANGE_WINDOW_DAYS: i64 = 30;

fn db(context: &'static str) -> impl FnOnce(rusqlite::Error) -> ExportError {
    move |e| ExportError::Store(Error::db(context)(e))
}

fn date(s: &str) -> Option<NaiveDate> {
    s.get(..10)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
}

/// subject_kind, subject, scope_kind, scope, old status, new status, effective_on.
type ChangeRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
);

/// (ARS, LeiKa key) → (seen online and ok, observed URL).
type Observed = HashMap<(String, String), (bool, Option<String>)>;

/// The latest applied release per source (the data the export is based on).
pub fn sources(conn: &Connection) -> Result<Vec<SourceRelease>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT source, max(release_id), fetched_at FROM releases
             WHERE status = 'applied' GROUP BY source ORDER BY source",
        )
        .map_err(db("reading the releases used"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(SourceRelease {
                source: r.get(0)?,
                release_id: r.get(1)?,
                fetched_at: r.get(2)?,
            })
        })
        .map_err(db("reading the releases used"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading the releases used"))
}

/// One latest status: (effective_on, event_id) orders events.
#[derive(Debug, Clone, Copy)]
struct Latest {
    on: NaiveDate,
    event: i64,
    status: Status,
}

impl Latest {
    fn newer(a: Option<Latest>, b: Option<Latest>) -> Option<Latest> {
        match (a, b) {
            (Some(x), Some(y)) => Some(if (y.on, y.event) > (x.on, x.event) {
                y
            } else {
                x
            }),
            (x, None) => x,
            (None, y) => y,
        }
    }
}

/// Latest status per (subject, scope) as of a date, with interned keys: a dense
/// table per subject, since nearly every Gemeinde has a status for nearly every
/// subject. Rows are per subject because `status_current` is read subject first:
/// a subject's cells are written one after another into one row, and two parts read
/// from disjoint subject ranges merge by moving rows.
#[derive(Default)]
struct Matrix {
    leika: HashMap<String, u32>,
    efa: HashMap<String, u32>,
    ars: HashMap<String, u32>,
    /// `latest[subject][ars]`.
    latest: Vec<Vec<Option<Latest>>>,
    /// Events in the change window: (subject, ars, effective_on, old, new).
    recent: Vec<(u32, u32, NaiveDate, Option<Status>, Status)>,
    last_subject: Option<(bool, String, u32)>,
    /// Scope names by id, and for each scope the one that followed it last: every
    /// subject lists the Gemeinden in the same order, so the next scope is nearly
    /// always the predicted one, checked by one comparison instead of a hash lookup.
    scope_names: Vec<String>,
    next_scope: Vec<u32>,
    last_scope: Option<u32>,
}

impl Matrix {
    fn subject(&self, efa: bool, key: &str) -> Option<u32> {
        if efa { &self.efa } else { &self.leika }.get(key).copied()
    }

    fn get(&self, subject: Option<u32>, ars: Option<u32>) -> Option<Latest> {
        *self.latest.get(subject? as usize)?.get(ars? as usize)?
    }

    /// The ids of a cell, interning new keys. The table is read in key order, so
    /// consecutive rows mostly share their subject: the last one is remembered and
    /// the hash lookup skipped.
    fn cell(&mut self, efa: bool, subject: &[u8], scope: &[u8]) -> (u32, u32) {
        if let Some((last_efa, last_subject, s)) = &self.last_subject {
            if *last_efa == efa && last_subject.as_bytes() == subject {
                let s = *s;
                let a = self.scope_id_bytes(scope);
                return (s, a);
            }
        }
        let subject = std::str::from_utf8(subject).unwrap_or("");
        let s = self.subject_id(efa, subject);
        let last = self
            .last_subject
            .get_or_insert_with(|| (efa, String::new(), s));
        last.0 = efa;
        last.1.clear();
        last.1.push_str(subject);
        last.2 = s;
        (s, self.scope_id_bytes(scope))
    }

    fn subject_id(&mut self, efa: bool, subject: &str) -> u32 {
        let next = (self.leika.len() + self.efa.len()) as u32;
        let map = if efa { &mut self.efa } else { &mut self.leika };
        match map.get(subject) {
            Some(id) => *id,
            None => {
                map.insert(subject.to_owned(), next);
                self.latest.push(Vec::new());
                next
            }
        }
    }

    /// [`Matrix::scope_id`] for a stored key: the predicted scope is compared as bytes,
    /// so only a scope that has to be looked up is checked as UTF-8.
    fn scope_id_bytes(&mut self, scope: &[u8]) -> u32 {
        match self.predicted_scope(scope) {
            Some(a) => {
                self.last_scope = Some(a);
                a
            }
            None => self.scope_id(std::str::from_utf8(scope).unwrap_or("")),
        }
    }

    fn predicted_scope(&self, scope: &[u8]) -> Option<u32> {
        self.last_scope
            .and_then(|last| self.next_scope.get(last as usize))
            .copied()
            .filter(|&p| {
                self.scope_names
                    .get(p as usize)
                    .is_some_and(|n| n.as_bytes() == scope)
            })
    }

    fn scope_id(&mut self, scope: &str) -> u32 {
        let a = match self.predicted_scope(scope.as_bytes()) {
            Some(a) => a,
            None => {
                let a = match self.ars.get(scope) {
                    Some(a) => *a,
                    None => {
                        let a = self.ars.len() as u32;
                        self.ars.insert(scope.to_owned(), a);
                        self.scope_names.push(scope.to_owned());
                        self.next_scope.push(u32::MAX);
                        a
                    }
                };
                if let Some(next) = self
                    .last_scope
                    .and_then(|last| self.next_scope.get_mut(last as usize))
                {
                    *next = a;
                }
                a
            }
        };
        self.last_scope = Some(a);
        a
    }

    /// Adds the cells of `other` (read from another part of the table).
    fn merge(&mut self, other: Matrix) {
        if self.latest.is_empty() {
            *self = other;
            return;
        }
        let mut scopes = vec![0u32; other.ars.len()];
        for (name, id) in &other.ars {
            let mine = self.scope_id(name);
            if let Some(slot) = scopes.get_mut(*id as usize) {
                *slot = mine;
            }
        }
        let identity = scopes.iter().enumerate().all(|(i, &a)| i as u32 == a);
        let mut names: Vec<(bool, u32, String)> = Vec::new();
        for (efa, map) in [(false, &other.leika), (true, &other.efa)] {
            names.extend(map.iter().map(|(name, id)| (efa, *id, name.clone())));
        }
        let mut rows: Vec<Option<Vec<Option<Latest>>>> =
            other.latest.into_iter().map(Some).collect();
        for (efa, id, name) in names {
            let mine = self.subject_id(efa, &name);
            let Some(row) = rows.get_mut(id as usize).and_then(Option::take) else {
                continue;
            };
            let target_empty = self
                .latest
                .get(mine as usize)
                .is_some_and(|r| r.iter().all(Option::is_none));
            if identity && target_empty {
                // Disjoint subject ranges with the same scope ids: move the row.
                if let Some(slot) = self.latest.get_mut(mine as usize) {
                    *slot = row;
                }
                continue;
            }
            for (a, cell) in row.into_iter().enumerate() {
                if let (Some(cell), Some(&a)) = (cell, scopes.get(a)) {
                    self.fold((mine, a), cell);
                }
            }
        }
    }

    /// Keeps `this` if it is newer than what the cell holds.
    fn fold(&mut self, (s, a): (u32, u32), this: Latest) {
        let scopes = self.ars.len();
        let Some(row) = self.latest.get_mut(s as usize) else {
            return;
        };
        let a = a as usize;
        if row.len() <= a {
            row.resize(scopes.max(a + 1), None);
        }
        if let Some(slot) = row.get_mut(a) {
            *slot = Latest::newer(*slot, Some(this));
        }
    }
}

/// One row as read: efa?, subject and scope (stored bytes), and the status if valid.
type StatusRow<'r> = (bool, &'r [u8], &'r [u8], Option<Latest>);

/// One status row: subject_kind, subject, scope, status, effective_on and, if
/// `event` names a column, event_id (else 0). Subject and scope stay bytes: they
/// are checked as UTF-8 only when they become map keys.
fn status_row<'r>(
    r: &'r rusqlite::Row<'_>,
    event: Option<usize>,
    context: &'static str,
) -> Result<StatusRow<'r>, ExportError> {
    let bytes = |i: usize| -> Result<&'r [u8], ExportError> {
        Ok(r.get_ref(i).map_err(db(context))?.as_bytes().unwrap_or(b""))
    };
    let latest = match (Status::from_code(bytes(3)?), iso_date(bytes(4)?)) {
        (Some(status), Some(on)) => Some(Latest {
            on,
            event: match event {
                Some(i) => r.get(i).map_err(db(context))?,
                None => 0,
            },
            status,
        }),
        _ => None,
    };
    Ok((bytes(0)? == b"efa", bytes(1)?, bytes(2)?, latest))
}

/// A stored key as text (keys are checked as UTF-8 when they are interned or kept).
fn key_text(b: &[u8]) -> String {
    std::str::from_utf8(b).unwrap_or("").to_owned()
}

/// Cells dated after the as-of date are looked up one by one up to this many; a
/// date so far back that more cells changed since is cheaper as one fold.
const MAX_LOOKUPS: usize = 20_000;

/// Part of `status_current` to read: a range of its leading key column.
#[derive(Debug, Clone)]
struct Range {
    /// `AND ...` restricting the rows to this part, with `?1` as the bound.
    clause: &'static str,
    bound: String,
}

/// How to read the municipal cells of `status_current` in two halves along its
/// primary key, so each half is one range read: by ARS when the key starts with
/// the scope, by leistungsschluessel when it starts with the subject. The split
/// point is the middle Gemeinde or annotated key (cheap lists that follow the
/// matrix's shape). `None` when the key is neither or the lists are empty.
fn split_ranges(conn: &Connection) -> Option<[Range; 2]> {
    let first: String = conn
        .query_row(
            "SELECT name FROM pragma_index_info(
                 (SELECT name FROM pragma_index_list('status_current') WHERE origin = 'pk'))
             ORDER BY seqno LIMIT 1",
            [],
            |r| r.get(0),
        )
        .ok()?;
    let (median_sql, below, above) = match first.as_str() {
        "scope_kind" => (
            "SELECT ars FROM v_municipalities WHERE level = 'gemeinde' AND ars IS NOT NULL
             ORDER BY ars LIMIT 1 OFFSET (SELECT count(*) / 2 FROM v_municipalities
                                          WHERE level = 'gemeinde' AND ars IS NOT NULL)",
            "AND scope < ?1",
            "AND scope >= ?1",
        ),
        "subject_kind" => (
            "SELECT leistungsschluessel FROM annotations ORDER BY 1
             LIMIT 1 OFFSET (SELECT count(*) / 2 FROM annotations)",
            "AND subject_kind IN ('leika', 'efa') AND subject < ?1",
            "AND subject_kind IN ('leika', 'efa') AND subject >= ?1",
        ),
        _ => return None,
    };
    let bound: String = conn.query_row(median_sql, [], |r| r.get(0)).ok()?;
    Some([
        Range {
            clause: below,
            bound: bound.clone(),
        },
        Range {
            clause: above,
            bound,
        },
    ])
}

/// A second read-only connection to the same database file, mapped for scans.
fn second_connection(conn: &Connection) -> Option<Connection> {
    let path = conn.path().filter(|p| !p.is_empty())?;
    let other = crate::store::open_read_only(std::path::Path::new(path)).ok()?;
    map_for_scans(&other);
    // The export reads one snapshot (run_job holds a read transaction on `conn`).
    // This connection's own read transaction must show the same status data: every
    // status write adds a batch, so equal last batch ids mean equal status tables.
    // If a report landed in between, read on `conn` alone.
    other.execute_batch("BEGIN").ok()?;
    let mine = status_stamp(conn)?;
    (status_stamp(&other)? == mine).then_some(other)
}

/// The last status batch id visible to `conn` (its read snapshot).
fn status_stamp(conn: &Connection) -> Option<i64> {
    conn.query_row(
        "SELECT coalesce(max(batch_id), 0) FROM status_batches",
        [],
        |r| r.get(0),
    )
    .ok()
}

/// Cells whose current event is after the as-of date: (efa, subject, scope).
type Later = Vec<(bool, String, String)>;

/// What one read of (part of) `status_current` yields: the matrix as of the date,
/// the cells dated later, and, when a change window was asked for, the events in it.
struct Part {
    m: Matrix,
    later: Later,
    recent: Option<Vec<Recent>>,
}

/// Reads (part of) `status_current` for one scope kind: the cells current as of
/// `as_of`, and those dated later (`None` when more than `max_lookups`). With
/// `window_from`, also the events in (`window_from`, `as_of`] of the cells read:
/// only a cell whose current event is after `window_from` can have one, so the
/// same scan finds them and each gets one index seek (no second scan).
fn read_current(
    conn: &Connection,
    scope_kind: &str,
    as_of: NaiveDate,
    max_lookups: usize,
    range: Option<&Range>,
    window_from: Option<NaiveDate>,
) -> Result<Option<Part>, ExportError> {
    const CTX: &str = "reading current statuses";
    let mut m = Matrix::default();
    let mut later = Vec::new();
    let mut changed: Later = Vec::new();
    // The scope kind is written into the statement, not bound: the Ressort cells are
    // then read through the partial index `status_current_ressort` (schema 0007)
    // instead of a scan past every municipal cell.
    let kind = match scope_kind {
        "ressort" => "'ressort'",
        _ => "'ars'",
    };
    let sql = format!(
        "SELECT subject_kind, subject, scope, status, effective_on
         FROM status_current WHERE scope_kind = {kind} {}",
        range.map_or("", |r| r.clause)
    );
    let mut stmt = conn.prepare(&sql).map_err(db(CTX))?;
    let mut rows = match range {
        Some(r) => stmt.query(params![r.bound]),
        None => stmt.query([]),
    }
    .map_err(db(CTX))?;
    while let Some(r) = rows.next().map_err(db(CTX))? {
        let (efa, subject, scope, latest) = status_row(r, None, CTX)?;
        let Some(latest) = latest else { continue };
        if window_from.is_some_and(|from| latest.on > from) {
            changed.push((efa, key_text(subject), key_text(scope)));
        }
        if latest.on <= as_of {
            let cell = m.cell(efa, subject, scope);
            m.fold(cell, latest);
        } else if later.len() < max_lookups {
            later.push((efa, key_text(subject), key_text(scope)));
        } else {
            return Ok(None);
        }
    }
    let recent = match window_from {
        Some(from) => Some(changes_of(conn, scope_kind, &changed, from, as_of)?),
        None => None,
    };
    Ok(Some(Part { m, later, recent }))
}

/// The status an event `e` replaced in its cell: the cell's event before it by
/// (effective_on, event_id), one index seek.
const PREVIOUS_STATUS: &str = "(SELECT p.status FROM status_events p
      WHERE p.subject_kind = e.subject_kind AND p.subject = e.subject
        AND p.scope_kind = e.scope_kind AND p.scope = e.scope
        AND (p.effective_on < e.effective_on
             OR (p.effective_on = e.effective_on AND p.event_id < e.event_id))
      ORDER BY p.effective_on DESC, p.event_id DESC LIMIT 1)";

/// A change read from the columns at `at`: status, effective date and the status
/// it replaced ([`PREVIOUS_STATUS`]); `None` for a row that is not a valid event.
fn change_at(
    r: &rusqlite::Row<'_>,
    at: usize,
    context: &'static str,
) -> Result<Option<(Status, NaiveDate, Option<Status>)>, ExportError> {
    let bytes = |i: usize| -> Result<&[u8], ExportError> {
        Ok(r.get_ref(i).map_err(db(context))?.as_bytes().unwrap_or(b""))
    };
    let (Some(new), Some(on)) = (Status::from_code(bytes(at)?), iso_date(bytes(at + 1)?)) else {
        return Ok(None);
    };
    let old = r
        .get_ref(at + 2)
        .map_err(db(context))?
        .as_bytes()
        .ok()
        .and_then(Status::from_code);
    Ok(Some((new, on, old)))
}

/// The events in (`from`, `as_of`] of the given cells, each with the status it
/// replaced, in the cells' order and by date within a cell.
fn changes_of(
    conn: &Connection,
    scope_kind: &str,
    cells: &Later,
    from: NaiveDate,
    as_of: NaiveDate,
) -> Result<Vec<Recent>, ExportError> {
    const CTX: &str = "reading recent status changes";
    let mut stmt = conn
        .prepare(&format!(
            "SELECT e.status, e.effective_on, {PREVIOUS_STATUS}
             FROM status_events e
             WHERE e.subject_kind = ?1 AND e.subject = ?2 AND e.scope_kind = ?3
               AND e.scope = ?4 AND e.effective_on > ?5 AND e.effective_on <= ?6
             ORDER BY e.effective_on, e.event_id"
        ))
        .map_err(db(CTX))?;
    let (from, as_of) = (from.to_string(), as_of.to_string());
    let mut out = Vec::new();
    for (efa, subject, scope) in cells {
        let kind = if *efa { "efa" } else { "leika" };
        let mut rows = stmt
            .query(params![kind, subject, scope_kind, scope, from, as_of])
            .map_err(db(CTX))?;
        while let Some(r) = rows.next().map_err(db(CTX))? {
            let Some((new, on, old)) = change_at(r, 0, CTX)? else {
                continue;
            };
            out.push(Recent {
                efa: *efa,
                subject: subject.clone(),
                scope: scope.clone(),
                on,
                old,
                new,
            });
        }
    }
    Ok(out)
}

/// The status matrix of one scope kind (`ars` or `ressort`) as of a date.
/// `status_current` holds the latest event per cell, so for the usual as-of date
/// (today, or any date after the newest event) it is the answer as is; the few
/// cells whose current event lies after the as-of date (future-dated events, or
/// an as-of date in the past) get one index lookup each. Only when too many cells
/// need that is every event up to the date folded instead. The municipal cells
/// (millions) are read in two halves on two connections, one per core.
///
/// With `window_from`, the events of the change window come along (see
/// [`read_current`]); `None` in their place when the matrix had to be folded from
/// the events instead.
fn status_matrix(
    conn: &Connection,
    scope_kind: &str,
    as_of: NaiveDate,
    max_lookups: usize,
    window_from: Option<NaiveDate>,
) -> Result<(Matrix, Option<Vec<Recent>>), ExportError> {
    let split = if scope_kind == "ars" {
        split_ranges(conn).and_then(|r| Some((r, second_connection(conn)?)))
    } else {
        None
    };
    let parts = match split {
        Some(([low, high], other)) => std::thread::scope(|scope| {
            let high = scope.spawn(move || {
                read_current(
                    &other,
                    scope_kind,
                    as_of,
                    max_lookups,
                    Some(&high),
                    window_from,
                )
            });
            let low = read_current(
                conn,
                scope_kind,
                as_of,
                max_lookups,
                Some(&low),
                window_from,
            );
            let high = high.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            Ok::<_, ExportError>([low?, high?])
        })?
        .into_iter()
        .collect::<Option<Vec<_>>>(),
        None => {
            read_current(conn, scope_kind, as_of, max_lookups, None, window_from)?.map(|p| vec![p])
        }
    };
    let Some(parts) = parts else {
        return Ok((fold_events(conn, scope_kind, as_of)?, None));
    };
    let mut m = Matrix::default();
    let mut later: Later = Vec::new();
    let mut recent: Option<Vec<Recent>> = None;
    for part in parts {
        m.merge(part.m);
        later.extend(part.later);
        if let Some(r) = part.recent {
            recent.get_or_insert_with(Vec::new).extend(r);
        }
    }
    if later.len() > max_lookups {
        return Ok((fold_events(conn, scope_kind, as_of)?, None));
    }
    if later.is_empty() {
        return Ok((m, recent));
    }
    const LOOKUP: &str = "reading a status as of a date";
    let mut stmt = conn
        .prepare(
            "SELECT subject_kind, subject, scope, status, effective_on, event_id
             FROM status_events
             WHERE subject_kind = ?1 AND subject = ?2 AND scope_kind = ?5 AND scope = ?3
               AND effective_on <= ?4
             ORDER BY effective_on DESC, event_id DESC LIMIT 1",
        )
        .map_err(db(LOOKUP))?;
    let as_of_s = as_of.to_string();
    for (efa, subject, scope) in &later {
        let kind = if *efa { "efa" } else { "leika" };
        let mut rows = stmt
            .query(params![kind, subject, scope, as_of_s, scope_kind])
            .map_err(db(LOOKUP))?;
        if let Some(r) = rows.next().map_err(db(LOOKUP))? {
            if let (efa, subject, scope, Some(latest)) = status_row(r, Some(5), LOOKUP)? {
                let cell = m.cell(efa, subject, scope);
                m.fold(cell, latest);
            }
        }
    }
    Ok((m, recent))
}

/// Every municipal event up to `as_of`, folded per cell, in table order (the table
/// is clustered by cell, schema 0006). The unary `+` keeps the filters out of any
/// index choice, so the read stays one sequential scan.
fn fold_events(
    conn: &Connection,
    scope_kind: &str,
    as_of: NaiveDate,
) -> Result<Matrix, ExportError> {
    const CTX: &str = "reading status events";
    let mut m = Matrix::default();
    let mut stmt = conn
        .prepare(
            "SELECT subject_kind, subject, scope, status, effective_on, event_id
             FROM status_events WHERE +scope_kind = ?2 AND +effective_on <= ?1",
        )
        .map_err(db(CTX))?;
    let mut rows = stmt
        .query(params![as_of.to_string(), scope_kind])
        .map_err(db(CTX))?;
    while let Some(r) = rows.next().map_err(db(CTX))? {
        if let (efa, subject, scope, Some(latest)) = status_row(r, Some(5), CTX)? {
            let cell = m.cell(efa, subject, scope);
            m.fold(cell, latest);
        }
    }
    Ok(m)
}

/// A municipal status event in the change window, with the status it replaced.
struct Recent {
    efa: bool,
    subject: String,
    scope: String,
    on: NaiveDate,
    old: Option<Status>,
    new: Status,
}

/// The municipal events with effective_on in (`from`, `as_of`] and each one's
/// previous status in its cell. Only cells whose current event is after `from` can
/// have such events, so the read starts from `status_current` by date and looks up
/// just those cells' events (one index seek each), not the whole history.
fn recent_changes(
    conn: &Connection,
    from: NaiveDate,
    as_of: NaiveDate,
) -> Result<Vec<Recent>, ExportError> {
    const CTX: &str = "reading recent status changes";
    let mut stmt = conn
        .prepare(&format!(
            "SELECT e.subject_kind, e.subject, e.scope, e.status, e.effective_on,
                    {PREVIOUS_STATUS}
             FROM status_current c
             JOIN status_events e
               ON e.subject_kind = c.subject_kind AND e.subject = c.subject
              AND e.scope_kind = c.scope_kind AND e.scope = c.scope
              AND e.effective_on > ?1 AND e.effective_on <= ?2
             WHERE c.scope_kind = 'ars' AND c.effective_on > ?1"
        ))
        .map_err(db(CTX))?;
    let mut rows = stmt
        .query(params![from.to_string(), as_of.to_string()])
        .map_err(db(CTX))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(db(CTX))? {
        let text = |i: usize| -> Result<&str, ExportError> {
            Ok(r.get_ref(i).map_err(db(CTX))?.as_str().unwrap_or(""))
        };
        let Some((new, on, old)) = change_at(r, 3, CTX)? else {
            continue;
        };
        out.push(Recent {
            efa: text(0)? == "efa",
            subject: text(1)?.to_owned(),
            scope: text(2)?.to_owned(),
            on,
            old,
            new,
        });
    }
    Ok(out)
}

/// Lets SQLite read the database through a memory map: the exports scan millions
/// of rows, and reading each page with a system call and a copy costs a sixth of
/// that. Best effort: without it the reads are only slower.
fn map_for_scans(conn: &Connection) {
    let _ = conn.pragma_update(None, "mmap_size", 1i64 << 32);
}

/// The municipal matrix and, if asked, the recent changes (found by the same scan;
/// a full scan for them only when the matrix had to be folded from the events).
fn matrix_and_changes(
    conn: &Connection,
    as_of: NaiveDate,
    window_from: Option<NaiveDate>,
) -> Result<Matrix, ExportError> {
    let (mut m, recent) = status_matrix(conn, "ars", as_of, MAX_LOOKUPS, window_from)?;
    let recent = match (window_from, recent) {
        (Some(from), None) => recent_changes(conn, from, as_of)?,
        (_, recent) => recent.unwrap_or_default(),
    };
    for r in recent {
        let (Some(s), Some(a)) = (m.subject(r.efa, &r.subject), m.ars.get(&r.scope).copied())
        else {
            continue;
        };
        m.recent.push((s, a, r.on, r.old, r.new));
    }
    Ok(m)
}

struct Annotation {
    ressort: Option<String>,
    vollzug: Option<String>,
    umsetzungsweg: Option<String>,
    efa_id: Option<String>,
}

fn annotations(conn: &Connection) -> Result<BTreeMap<String, Annotation>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT a.leistungsschluessel, n.kuerzel, a.vollzug, a.umsetzungsweg, a.efa_id
             FROM annotations a
             LEFT JOIN ressort_names n ON n.ressort_id = a.ressort_id AND n.valid_to IS NULL",
        )
        .map_err(db("reading annotations"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Annotation {
                    ressort: r.get(1)?,
                    vollzug: r.get(2)?,
                    umsetzungsweg: r.get(3)?,
                    efa_id: r.get(4)?,
                },
            ))
        })
        .map_err(db("reading annotations"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading annotations"))
}

struct Efa {
    id: String,
    name: String,
    ozg_ids: Vec<String>,
    leika_keys: Vec<String>,
    themenfeld: Option<String>,
    federfuehrendes_land: Option<String>,
    reifegrad: Option<Reifegrad>,
    url: Option<String>,
    kostenmodell: Option<String>,
}

/// Current EfA services, by id.
fn efa_services(conn: &Connection) -> Result<Vec<Efa>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT key, json_extract(data, '$.name'),
                    coalesce(json_extract(data, '$.ozg_ids'), '[]'),
                    coalesce(json_extract(data, '$.leistungsschluessel'), '[]'),
                    json_extract(data, '$.themenfeld'),
                    json_extract(data, '$.federfuehrendes_land'),
                    json_extract(data, '$.reifegrad.modell'),
                    json_extract(data, '$.reifegrad.stufe'),
                    json_extract(data, '$.url'),
                    json_extract(data, '$.kostenmodell')
             FROM record_versions
             WHERE entity = 'efa_service' AND valid_to IS NULL
             ORDER BY key",
        )
        .map_err(db("reading EfA services"))?;
    let rows = stmt
        .query_map([], |r| {
            let list = |i: usize| -> rusqlite::Result<Vec<String>> {
                let text: String = r.get(i)?;
                Ok(serde_json::from_str::<Vec<serde_json::Value>>(&text)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect())
            };
            let model: Option<String> =
                r.get::<_, Option<rusqlite::types::Value>>(6)?
                    .map(|v| match v {
                        rusqlite::types::Value::Text(s) => s,
                        rusqlite::types::Value::Real(f) => format!("{f:.1}"),
                        rusqlite::types::Value::Integer(i) => i.to_string(),
                        _ => String::new(),
                    });
            let level: Option<i64> = r.get(7).ok().flatten();
            let key: String = r.get(0)?;
            Ok(Efa {
                name: r
                    .get::<_, Option<String>>(1)?
                    .unwrap_or_else(|| key.clone()),
                id: key,
                ozg_ids: list(2)?,
                leika_keys: list(3)?,
                themenfeld: r.get(4)?,
                federfuehrendes_land: r.get(5)?,
                reifegrad: match (model, level.and_then(|l| u8::try_from(l).ok())) {
                    (Some(model), Some(level)) if !model.is_empty() => {
                        Some(Reifegrad { model, level })
                    }
                    _ => None,
                },
                url: r.get(8)?,
                kostenmodell: r.get(9)?,
            })
        })
        .map_err(db("reading EfA services"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading EfA services"))
}

/// The Themenfeld of an EfA service: its own, else the first of its OZG-Leistungen's.
fn efa_themenfeld(e: &Efa, ozg: &HashMap<String, (String, Option<String>)>) -> Option<String> {
    e.themenfeld.clone().or_else(|| {
        e.ozg_ids
            .iter()
            .find_map(|id| ozg.get(id).and_then(|o| o.1.clone()))
    })
}

fn ozg_names(conn: &Connection) -> Result<HashMap<String, (String, Option<String>)>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT key, coalesce(json_extract(data, '$.bezeichnung'), key), json_extract(data, '$.themenfeld')
             FROM record_versions WHERE entity = 'ozg_leistung' AND valid_to IS NULL",
        )
        .map_err(db("reading OZG-Leistungen"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .map_err(db("reading OZG-Leistungen"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading OZG-Leistungen"))
}

/// Observed availability as of a date: the version valid then, per (ARS, key).
fn availability(conn: &Connection, as_of: NaiveDate) -> Result<Observed, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT json_extract(v.data, '$.ars'),
                    coalesce(json_extract(v.data, '$.leistungsschluessel'), json_extract(v.data, '$.leika_key')),
                    json_extract(v.data, '$.online_status'), json_extract(v.data, '$.url')
             FROM record_versions v
             JOIN releases f ON f.release_id = v.valid_from
             LEFT JOIN releases t ON t.release_id = v.valid_to
             WHERE v.entity = 'availability'
               AND substr(f.fetched_at, 1, 10) <= ?1
               AND (t.release_id IS NULL OR substr(t.fetched_at, 1, 10) > ?1)",
        )
        .map_err(db("reading observed availability"))?;
    let rows = stmt
        .query_map(params![as_of.to_string()], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .map_err(db("reading observed availability"))?;
    let mut out = HashMap::new();
    for row in rows {
        if let (Some(ars), Some(key), status, url) =
            row.map_err(db("reading observed availability"))?
        {
            out.insert((ars, key), (status.as_deref() == Some("ok"), url));
        }
    }
    Ok(out)
}

/// The current units of `level` in the Land scope. For level `gemeinde` only the
/// Gemeinden proper (`is_gemeinde`: the codes of table `gemeinde_textkennzeichen`),
/// not the gemeindefreie Gebiete.
fn units(
    conn: &Connection,
    level: &str,
    land: &LandScope,
) -> Result<Vec<(Unit, Option<String>)>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT ars, name, kreis_ars, textkennzeichen, verband_ars FROM v_municipalities
             WHERE level = ?1 AND NOT retired AND ars IS NOT NULL
               AND (level <> 'gemeinde' OR is_gemeinde)
               AND (?2 IS NULL OR land = ?2)
             ORDER BY ars",
        )
        .map_err(db("reading municipalities"))?;
    let rows = stmt
        .query_map(params![level, land.key()], |r| {
            Ok((
                Unit {
                    ars: r.get(0)?,
                    name: r.get(1)?,
                    kreis_ars: r.get(2)?,
                    textkennzeichen: r.get(3)?,
                },
                r.get(4)?,
            ))
        })
        .map_err(db("reading municipalities"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading municipalities"))
}

/// Every LeiKa key ever imported → (name, retired). A key missing here was never in
/// LeiKa (or LeiKa was never imported), which says nothing about whether it is gone.
fn leika_names(conn: &Connection) -> Result<HashMap<String, (String, bool)>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT leistungsschluessel, coalesce(bezeichnung, leistungsschluessel), retired
             FROM v_services",
        )
        .map_err(db("reading services"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .map_err(db("reading services"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading services"))
}

/// Everything the dashboards need, as of a date.
pub fn dashboards(
    conn: &Connection,
    land: &LandScope,
    as_of: NaiveDate,
    generated_at: DateTime<Utc>,
) -> Result<DashboardData, ExportError> {
    dashboard_data(conn, land, as_of, generated_at, true)
}

/// The dashboard data; the report, which shows no per-Gemeinde changes, skips them.
fn dashboard_data(
    conn: &Connection,
    land: &LandScope,
    as_of: NaiveDate,
    generated_at: DateTime<Utc>,
    with_changes: bool,
) -> Result<DashboardData, ExportError> {
    map_for_scans(conn);
    let window_from = as_of - chrono::Duration::days(CHANGE_WINDOW_DAYS);
    let started = std::time::Instant::now();
    let matrix = matrix_and_changes(conn, as_of, with_changes.then_some(window_from))?;
    tracing::debug!(elapsed = ?started.elapsed(), "export: status matrix read");
    let notes = annotations(conn)?;
    let efa: HashMap<String, Efa> = efa_services(conn)?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    let names = leika_names(conn)?;
    let ozg = ozg_names(conn)?;
    let seen = availability(conn, as_of)?;
    tracing::debug!(elapsed = ?started.elapsed(), "export: catalogue read");
    // An EfA service names the LeiKa keys it implements; an annotation's efa_id wins.
    let mut efa_of_key: HashMap<&str, &str> = HashMap::new();
    let mut sorted_efa: Vec<&Efa> = efa.values().collect();
    sorted_efa.sort_by(|a, b| a.id.cmp(&b.id));
    for e in sorted_efa {
        for k in &e.leika_keys {
            efa_of_key.entry(k.as_str()).or_insert(e.id.as_str());
        }
    }

    let nachnutzung = crate::store::efa_nachnutzung::states_as_of(conn, as_of)?;
    // Services: every LeiKa key a municipality executes (annotation) or has a status for.
    let mut keys: BTreeMap<String, ()> = BTreeMap::new();
    for (key, a) in &notes {
        if Vollzug::is_municipal_code(a.vollzug.as_deref()) {
            keys.insert(key.clone(), ());
        }
    }
    for subject in matrix.leika.keys() {
        keys.insert(subject.clone(), ());
    }
    let services: Vec<DashService> = keys
        .keys()
        .map(|key| {
            let a = notes.get(key);
            let efa_id = a
                .and_then(|a| a.efa_id.clone())
                .or_else(|| efa_of_key.get(key.as_str()).map(|s| s.to_string()));
            let e = efa_id.as_ref().and_then(|id| efa.get(id));
            let leika = names.get(key);
            DashService {
                leistungsschluessel: key.clone(),
                name: leika.map_or_else(|| key.clone(), |(name, _)| name.clone()),
                retired: leika.is_some_and(|(_, retired)| *retired),
                reifegrad: e.and_then(|e| e.reifegrad.clone()),
                umsetzungsweg: a.and_then(|a| a.umsetzungsweg.clone()),
                efa_name: e.map(|e| e.name.clone()),
                ozg_leistungen: e
                    .map(|e| {
                        e.ozg_ids
                            .iter()
                            .map(|id| OzgRef {
                                ozg_id: id.clone(),
                                name: ozg.get(id).map(|o| o.0.clone()).unwrap_or_default(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                url: e.and_then(|e| e.url.clone()),
                nachnutzung: efa_id.as_ref().and_then(|id| nachnutzung.get(id).cloned()),
                themenfeld: e.and_then(|e| efa_themenfeld(e, &ozg)),
                efa_id,
            }
        })
        .collect();
    // For each service, the interned subjects whose events count: its key and its EfA
    // service; and whether it is relevant to every Gemeinde. This is the one place
    // that decides what is relevant: a retired LeiKa key is relevant to no one, what
    // its annotation says notwithstanding (its statuses go to `retired_services`).
    let subjects: Vec<(Option<u32>, Option<u32>, bool)> = services
        .iter()
        .map(|s| {
            let all = !s.retired
                && notes
                    .get(&s.leistungsschluessel)
                    .is_some_and(|a| Vollzug::is_municipal_code(a.vollzug.as_deref()));
            (
                matrix.subject(false, &s.leistungsschluessel),
                s.efa_id.as_deref().and_then(|id| matrix.subject(true, id)),
                all,
            )
        })
        .collect();
    let mut service_of_subject: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, (l, e, _)) in subjects.iter().enumerate() {
        for s in [l, e].into_iter().flatten() {
            service_of_subject.entry(*s).or_default().push(i);
        }
    }
    let mut recent_by_ars: HashMap<u32, Vec<GemeindeChange>> = HashMap::new();
    for (s, a, on, old, new) in &matrix.recent {
        for i in service_of_subject.get(s).into_iter().flatten() {
            recent_by_ars.entry(*a).or_default().push(GemeindeChange {
                effective_on: *on,
                service: *i,
                old: *old,
                new: *new,
            });
        }
    }

    // Each Gemeinde with its recent changes; then its service rows (3,000 pairs
    // each) built on every core.
    let members: Vec<_> = units(conn, "gemeinde", land)?
        .into_iter()
        .map(|(u, verband_ars)| {
            let ars_id = matrix.ars.get(&u.ars).copied();
            let mut changes = ars_id
                .and_then(|a| recent_by_ars.remove(&a))
                .unwrap_or_default();
            changes.sort_by(|a, b| {
                b.effective_on
                    .cmp(&a.effective_on)
                    .then(a.service.cmp(&b.service))
            });
            (u, verband_ars, ars_id, changes)
        })
        .collect();
    let rows = super::par_map(&members, |(u, _, ars_id, _)| {
        let mut svc = Vec::with_capacity(subjects.len());
        let mut retired = Vec::new();
        for (i, (l, e, all)) in subjects.iter().enumerate() {
            let latest = Latest::newer(matrix.get(*l, *ars_id), matrix.get(*e, *ars_id));
            if latest.is_none() && !all {
                continue;
            }
            // Skips two key allocations per pair when nothing was observed.
            let observed = (!seen.is_empty())
                .then(|| services.get(i))
                .flatten()
                .and_then(|s| seen.get(&(u.ars.clone(), s.leistungsschluessel.clone())));
            let row = GemeindeService {
                service: i,
                status: latest.map(|l| l.status),
                status_since: latest.map(|l| l.on),
                online: observed.map(|o| o.0),
                url: observed.and_then(|o| o.1.clone()),
            };
            if services.get(i).is_some_and(|s| s.retired) {
                retired.push(row);
            } else {
                svc.push(row);
            }
        }
        (svc, retired)
    });
    tracing::debug!(elapsed = ?started.elapsed(), "export: service rows built");
    let gemeinden = members
        .into_iter()
        .zip(rows)
        .map(|((u, verband_ars, _, changes), (svc, retired))| Gemeinde {
            ars: u.ars,
            name: u.name,
            kreis_ars: u.kreis_ars,
            verband_ars,
            textkennzeichen: u.textkennzeichen,
            services: svc,
            retired_services: retired,
            changes,
        })
        .collect();
    Ok(DashboardData {
        demo: crate::demo::present(conn).map_err(db("looking for demo data"))?,
        land: land.clone(),
        generated_at,
        as_of,
        sources: sources(conn)?,
        services,
        kreise: units(conn, "kreis", land)?
            .into_iter()
            .map(|(u, _)| u)
            .collect(),
        verbaende: units(conn, "verband", land)?
            .into_iter()
            .map(|(u, _)| u)
            .collect(),
        gemeinden,
    })
}

/// Land-level status per subject (latest event at any Ressort scope) as of a date,
/// from the Ressort cells of the status matrix.
fn land_status(
    conn: &Connection,
    as_of: NaiveDate,
) -> Result<HashMap<(String, String), Status>, ExportError> {
    let (m, _) = status_matrix(conn, "ressort", as_of, MAX_LOOKUPS, None)?;
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

/// The Onlinedienste-Report as of a date, with changes since `since`.
pub fn report(
    conn: &Connection,
    scope: &LandScope,
    as_of: NaiveDate,
    since: Option<NaiveDate>,
    generated_at: DateTime<Utc>,
) -> Result<Report, ExportError> {
    let started = std::time::Instant::now();
    let dash = dashboard_data(conn, scope, as_of, generated_at, false)?;
    tracing::debug!(elapsed = ?started.elapsed(), "report: dashboard data");
    let notes = annotations(conn)?;
    let ozg = ozg_names(conn)?;
    let land = land_status(conn, as_of)?;
    let efas = efa_services(conn)?;
    let mut nachnutzung = crate::store::efa_nachnutzung::states_as_of(conn, as_of)?;
    tracing::debug!(elapsed = ?started.elapsed(), "report: catalogue read");

    // Per EfA service: municipal phases over the Gemeinden, counting the best-known
    // status of any of its LeiKa keys' dashboard rows. EfA services are numbered
    // once, so the 1,500 × 939 pairs are counted in vectors, not hash maps.
    let mut efa_index: HashMap<&str, usize> = HashMap::new();
    let efa_of_service: Vec<Option<usize>> = dash
        .services
        .iter()
        .map(|s| {
            let id = s.efa_id.as_deref()?;
            let next = efa_index.len();
            Some(*efa_index.entry(id).or_insert(next))
        })
        .collect();
    let mut per_efa = vec![
        (
            Phases::default(),
            Availability {
                online: 0,
                observed: 0,
            },
        );
        efa_index.len()
    ];
    let mut best: Vec<Option<(Option<Status>, Option<bool>)>> = vec![None; efa_index.len()];
    let mut touched: Vec<usize> = Vec::new();
    for g in &dash.gemeinden {
        for gs in &g.services {
            let Some(id) = efa_of_service.get(gs.service).copied().flatten() else {
                continue;
            };
            let e = best[id].get_or_insert_with(|| {
                touched.push(id);
                (None, None)
            });
            if gs.status.map(super::model::phase) == Some(super::model::Phase::Produktiv)
                || e.0.is_none()
            {
                e.0 = gs.status.or(e.0);
            }
            e.1 = match (e.1, gs.online) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (a, b) => a.or(b),
            };
        }
        for id in touched.drain(..) {
            let Some((status, online)) = best[id].take() else {
                continue;
            };
            let (phases, avail) = &mut per_efa[id];
            phases.add(status);
            if let Some(o) = online {
                avail.observed += 1;
                if o {
                    avail.online += 1;
                }
            }
        }
    }

    let mut services = Vec::with_capacity(efas.len());
    for e in &efas {
        let note = notes
            .values()
            .filter(|a| a.efa_id.as_deref() == Some(e.id.as_str()))
            .min_by(|a, b| a.ressort.cmp(&b.ressort));
        let (kommunen, avail) = efa_index
            .get(e.id.as_str())
            .and_then(|&i| per_efa.get(i))
            .copied()
            .unwrap_or_default_pair();
        let status_land = land.get(&("efa".to_owned(), e.id.clone())).copied();
        let state = nachnutzung.remove(&e.id);
        let stage = Stage::of(
            state.as_ref(),
            status_land == Some(Status::Produktiv),
            kommunen.produktiv,
            as_of,
        );
        services.push(ServiceRow {
            efa_id: e.id.clone(),
            name: e.name.clone(),
            ozg_leistungen: e
                .ozg_ids
                .iter()
                .map(|id| OzgRef {
                    ozg_id: id.clone(),
                    name: ozg.get(id).map(|o| o.0.clone()).unwrap_or_default(),
                })
                .collect(),
            themenfeld: efa_themenfeld(e, &ozg),
            federfuehrendes_land: e.federfuehrendes_land.clone(),
            status_land,
            ressort: note.and_then(|a| a.ressort.clone()),
            umsetzungsweg: note
                .and_then(|a| a.umsetzungsweg.clone())
                .or_else(|| Some("efa".into())),
            reifegrad: e.reifegrad.clone(),
            kommunen,
            verfuegbarkeit: (avail.observed > 0).then_some(avail),
            url: e.url.clone(),
            kostenmodell: e.kostenmodell.clone(),
            nachnutzung: Nachnutzung { stage, state },
        });
    }

    tracing::debug!(elapsed = ?started.elapsed(), "report: services counted");
    let ressort_names = ressorts(conn)?;
    let ressorts = group(
        &services,
        |s| s.ressort.clone(),
        |k| {
            ressort_names
                .iter()
                .find(|(kz, _)| kz == k)
                .map(|(_, n)| n.clone())
        },
        ressort_names.iter().map(|(k, _)| k.clone()).collect(),
    );
    let themenfelder = group(
        &services,
        |s| s.themenfeld.clone(),
        |k| Some(super::model::themenfeld_label(k).to_owned()),
        Vec::new(),
    );

    let kreise = dash
        .kreise
        .iter()
        .map(|k| {
            let mut paare = Phases::default();
            let mut n = 0;
            for g in dash
                .gemeinden
                .iter()
                .filter(|g| g.kreis_ars.as_deref() == Some(k.ars.as_str()))
            {
                n += 1;
                for gs in &g.services {
                    paare.add(gs.status);
                }
            }
            KreisRow {
                ars: k.ars.clone(),
                name: k.name.clone(),
                gemeinden: n,
                paare,
            }
        })
        .collect();

    let changes = match since {
        Some(since) => changes(conn, scope, &efas, since, as_of)?,
        None => Changes::default(),
    };
    let funnel = Stage::ALL
        .iter()
        .map(|stage| {
            let reached = services
                .iter()
                .filter(|s| s.nachnutzung.stage >= *stage)
                .count();
            (*stage, u32::try_from(reached).unwrap_or(u32::MAX))
        })
        .collect();
    Ok(Report {
        generated_at,
        as_of,
        since,
        sources: dash.sources,
        services,
        ressorts,
        themenfelder,
        kreise,
        changes,
        demo: dash.demo,
        funnel,
    })
}

trait PairDefault {
    fn unwrap_or_default_pair(self) -> (Phases, Availability);
}

impl PairDefault for Option<(Phases, Availability)> {
    fn unwrap_or_default_pair(self) -> (Phases, Availability) {
        self.unwrap_or((
            Phases::default(),
            Availability {
                online: 0,
                observed: 0,
            },
        ))
    }
}

/// Current Ressorts (Kürzel, name) in id order.
fn ressorts(conn: &Connection) -> Result<Vec<(String, String)>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT n.kuerzel, n.name FROM ressort_names n JOIN ressorts r USING (ressort_id)
             WHERE n.valid_to IS NULL AND r.dissolved_on IS NULL ORDER BY n.ressort_id",
        )
        .map_err(db("reading Ressorts"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db("reading Ressorts"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading Ressorts"))
}

/// Groups services by a key into progress rows: the `always` keys first (in their
/// order, even when empty), then the others sorted, then "ohne Zuordnung".
fn group(
    services: &[ServiceRow],
    key: impl Fn(&ServiceRow) -> Option<String>,
    name: impl Fn(&str) -> Option<String>,
    always: Vec<String>,
) -> Vec<ProgressRow> {
    let mut acc: BTreeMap<Option<String>, (Phases, Phases)> = BTreeMap::new();
    for k in &always {
        acc.entry(Some(k.clone())).or_default();
    }
    for s in services {
        let e = acc.entry(key(s)).or_default();
        e.0.add(s.status_land);
        e.1.merge(&s.kommunen);
    }
    let row = |k: &Option<String>, (services, kommunen): &(Phases, Phases)| ProgressRow {
        key: k.clone().unwrap_or_else(|| "–".into()),
        name: k
            .as_deref()
            .and_then(&name)
            .unwrap_or_else(|| k.clone().unwrap_or_else(|| "ohne Zuordnung".into())),
        services: *services,
        kommunen: *kommunen,
    };
    let mut out: Vec<ProgressRow> = always
        .iter()
        .filter_map(|k| acc.get(&Some(k.clone())).map(|v| row(&Some(k.clone()), v)))
        .collect();
    for (k, v) in &acc {
        if k.as_ref().is_some_and(|k| always.contains(k)) || k.is_none() {
            continue;
        }
        out.push(row(k, v));
    }
    if let Some(v) = acc.get(&None) {
        out.push(row(&None, v));
    }
    out
}

fn changes(
    conn: &Connection,
    land: &LandScope,
    efas: &[Efa],
    since: NaiveDate,
    as_of: NaiveDate,
) -> Result<Changes, ExportError> {
    let efa_name: HashMap<&str, &str> = efas
        .iter()
        .map(|e| (e.id.as_str(), e.name.as_str()))
        .collect();
    let (since_s, as_of_s) = (since.to_string(), as_of.to_string());

    let mut stmt = conn
        .prepare(
            "SELECT v.key, coalesce(json_extract(v.data, '$.name'), v.key), min(substr(r.fetched_at, 1, 10))
             FROM record_versions v JOIN releases r ON r.release_id = v.valid_from
             WHERE v.entity = 'efa_service'
             GROUP BY v.key
             HAVING min(substr(r.fetched_at, 1, 10)) > ?1 AND min(substr(r.fetched_at, 1, 10)) <= ?2
             ORDER BY 3, 1",
        )
        .map_err(db("reading new EfA services"))?;
    let new_services = stmt
        .query_map(params![since_s, as_of_s], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(db("reading new EfA services"))?
        .filter_map(|r| r.ok())
        .filter_map(|(efa_id, name, d)| {
            Some(NewService {
                efa_id,
                name,
                first_seen: date(&d)?,
            })
        })
        .collect();

    // Land-level changes of every subject, and municipal changes of EfA subjects.
    let mut stmt = conn
        .prepare(
            "SELECT subject_kind, subject, scope_kind, scope, old, status, effective_on FROM (
                SELECT subject_kind, subject, scope_kind, scope, status, effective_on, event_id,
                       lag(status) OVER (PARTITION BY subject_kind, subject, scope_kind, scope
                                         ORDER BY effective_on, event_id) AS old
                FROM status_events
                WHERE effective_on <= ?2 AND (scope_kind = 'ressort' OR subject_kind = 'efa'))
             WHERE effective_on > ?1
             ORDER BY effective_on, subject_kind, subject, scope_kind, scope, event_id",
        )
        .map_err(db("reading status changes"))?;
    let raw: Vec<ChangeRow> = stmt
        .query_map(params![since_s, as_of_s], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .map_err(db("reading status changes"))?
        .collect::<Result<_, _>>()
        .map_err(db("reading status changes"))?;
    let ressorts: HashMap<String, (String, String)> = {
        let mut stmt = conn
            .prepare("SELECT CAST(ressort_id AS TEXT), kuerzel, name FROM ressort_names WHERE valid_to IS NULL")
            .map_err(db("reading Ressorts"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
            .map_err(db("reading Ressorts"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("reading Ressorts"))?
    };
    let places: HashMap<String, String> = {
        let mut stmt = conn
            .prepare("SELECT ars, name FROM v_municipalities WHERE level = 'gemeinde'")
            .map_err(db("reading municipalities"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db("reading municipalities"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("reading municipalities"))?
    };
    let leika = leika_names(conn)?;
    let status_changes = raw
        .into_iter()
        // Municipal changes outside the Land scope belong to another Land's report.
        .filter(|(_, _, scope_kind, scope, ..)| scope_kind == "ressort" || land.contains(scope))
        .filter_map(|(kind, subject, scope_kind, scope, old, new, on)| {
            let (subject_name, retired) = if kind == "efa" {
                (efa_name.get(subject.as_str()).map(|s| s.to_string()), false)
            } else {
                leika
                    .get(&subject)
                    .map_or((None, false), |(name, retired)| {
                        (Some(name.clone()), *retired)
                    })
            };
            let subject_name = subject_name.unwrap_or_else(|| subject.clone());
            let (scope, scope_name) = if scope_kind == "ressort" {
                ressorts
                    .get(&scope)
                    .cloned()
                    .unwrap_or_else(|| (scope.clone(), scope.clone()))
            } else {
                let name = places.get(&scope).cloned().unwrap_or_else(|| scope.clone());
                (scope, name)
            };
            Some(StatusChange {
                effective_on: date(&on)?,
                subject_kind: kind,
                subject,
                subject_name,
                scope,
                scope_name,
                old: old.as_deref().and_then(Status::parse),
                new: Status::parse(&new)?,
                retired,
            })
        })
        .collect();

    let mut stmt = conn
        .prepare(
            "SELECT v.entity, v.key, coalesce(json_extract(v.data, '$.name'), json_extract(v.data, '$.bezeichnung'), v.key),
                    substr(r.fetched_at, 1, 10)
             FROM record_versions v JOIN releases r ON r.release_id = v.valid_to
             WHERE v.entity IN ('service', 'efa_service')
               AND NOT EXISTS (SELECT 1 FROM record_versions n
                               WHERE n.entity = v.entity AND n.key = v.key AND n.valid_from = v.valid_to)
               AND substr(r.fetched_at, 1, 10) > ?1 AND substr(r.fetched_at, 1, 10) <= ?2
             ORDER BY 4, 1, 2",
        )
        .map_err(db("reading retired keys"))?;
    let retired_keys = stmt
        .query_map(params![since_s, as_of_s], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map_err(db("reading retired keys"))?
        .filter_map(|r| r.ok())
        .filter_map(|(entity, key, name, d)| {
            Some(RetiredKey {
                entity,
                key,
                name,
                retired_on: date(&d)?,
            })
        })
        .collect();
    let nachnutzung = crate::store::efa_nachnutzung::changes_between(conn, since, as_of)?
        .into_iter()
        .filter_map(|c| {
            let field = crate::efa_nachnutzung::Field::ALL
                .into_iter()
                .find(|f| f.column() == c.field)?;
            Some(NachnutzungChange {
                recorded_on: date(&c.day)?,
                name: efa_name
                    .get(c.efa_id.as_str())
                    .map_or_else(|| c.efa_id.clone(), |n| (*n).to_owned()),
                efa_id: c.efa_id,
                field,
                old: c.old_value,
                new: c.new_value,
            })
        })
        .collect();
    Ok(Changes {
        new_services,
        status_changes,
        retired_keys,
        nachnutzung,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
                let (m, _) = status_matrix(&conn, "ars", d(as_of), max_lookups, None).unwrap();
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

    #[test]
    fn recent_changes_carry_the_previous_status() {
        let (_dir, conn) = db();
        let check =
            |from: &str, as_of: &str, expected: &[(&str, &str, &str, Option<&str>, &str)]| {
                let listed = |recent: Vec<Recent>| {
                    let mut got: Vec<_> = recent
                        .into_iter()
                        .map(|r| {
                            (
                                r.subject,
                                r.scope,
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
                    status_matrix(&conn, "ars", d(as_of), MAX_LOOKUPS, Some(d(from))).unwrap();
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
