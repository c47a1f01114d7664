//! Reads and writes of Onlinedienst status events: the catalogue a report is checked
//! against, appending validated rows as events (one transaction; `status_current`
//! follows by trigger), and reading a subject's status now or as of a date.
//! Validation itself is pure and lives in `crate::status::report`.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use rusqlite::{params, Connection, TransactionBehavior};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::status::report::{Catalog, StatusRow};
use crate::status::{Scope, Status, Subject};

/// Loads what rows are validated against: current LeiKa keys, EfA ids, ARS of
/// current municipality-directory records, and current Ressort Kürzel.
pub fn catalog(conn: &Connection) -> Result<Catalog> {
    let keys = |entity: &str| -> Result<HashSet<String>> {
        let mut stmt = conn
            .prepare("SELECT key FROM record_versions WHERE entity = ?1 AND valid_to IS NULL")
            .map_err(Error::db(format!("reading current {entity} keys")))?;
        let rows = stmt
            .query_map([entity], |r| r.get(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<HashSet<String>>>())
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

/// Appends `rows` as events in one transaction. Returns the number written.
pub fn record(conn: &mut Connection, rows: &[StatusRow], origin: &str, by: &str) -> Result<u64> {
    let recorded_at = super::now_utc();
    // Insert in the order of the as-of index (and so of each cell's history): the
    // index then grows at its end instead of at random places, which is what makes
    // a 2.8-million-row report fast. Same-cell rows keep their file order, which
    // decides between two events of the same day.
    let mut order: Vec<&StatusRow> = rows.iter().collect();
    order.sort_by(|a, b| {
        (
            a.subject.kind(),
            a.subject.id(),
            a.scope.kind(),
            a.scope.id(),
            a.effective_on,
        )
            .cmp(&(
                b.subject.kind(),
                b.subject.id(),
                b.scope.kind(),
                b.scope.id(),
                b.effective_on,
            ))
    });
    // A large page cache for this connection's big transactions (allocated only as
    // used); status_current is keyed by scope, so its inserts are not in index order.
    conn.pragma_update(None, "cache_size", -512 * 1024)
        .map_err(Error::db("setting cache_size"))?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(Error::db("starting status transaction"))?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO status_events (subject_kind, subject, scope_kind, scope, status,
                     effective_on, origin, note, recorded_at, recorded_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(Error::db("preparing status insert"))?;
        for row in order {
            stmt.execute(params![
                row.subject.kind(),
                row.subject.id(),
                row.scope.kind(),
                row.scope.id(),
                row.status.as_str(),
                row.effective_on.to_string(),
                origin,
                row.note,
                recorded_at,
                by
            ])
            .map_err(Error::db(format!("recording status of line {}", row.line)))?;
        }
    }
    tx.commit().map_err(Error::db("committing status events"))?;
    Ok(rows.len() as u64)
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
    pub status: String,
    pub effective_on: String,
    pub note: Option<String>,
    pub origin: String,
    pub recorded_at: String,
    pub recorded_by: String,
    pub event_id: i64,
}

const CELL_COLUMNS: &str = "e.subject_kind, e.subject, e.scope_kind, e.scope,
    CASE WHEN e.scope_kind = 'ressort' THEN
        (SELECT n.kuerzel FROM ressort_names n
          WHERE n.ressort_id = CAST(e.scope AS INTEGER) AND n.valid_to IS NULL) END,
    e.status, e.effective_on, e.note, e.origin, e.recorded_at, e.recorded_by, e.event_id";

fn cell_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CellStatus> {
    Ok(CellStatus {
        subject_kind: r.get(0)?,
        subject: r.get(1)?,
        scope_kind: r.get(2)?,
        scope: r.get(3)?,
        ressort: r.get(4)?,
        status: r.get(5)?,
        effective_on: r.get(6)?,
        note: r.get(7)?,
        origin: r.get(8)?,
        recorded_at: r.get(9)?,
        recorded_by: r.get(10)?,
        event_id: r.get(11)?,
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
    let date = as_of
        .map(|d| d.to_string())
        .unwrap_or_else(|| "9999-12-31".to_owned());
    let sql = format!(
        "SELECT {CELL_COLUMNS} FROM status_events e
                 WHERE e.subject_kind = ?1 AND e.subject = ?2 AND e.effective_on <= ?3
                   AND NOT EXISTS (
                       SELECT 1 FROM status_events l
                        WHERE l.subject_kind = e.subject_kind AND l.subject = e.subject
                          AND l.scope_kind = e.scope_kind AND l.scope = e.scope
                          AND l.effective_on <= ?3
                          AND (l.effective_on > e.effective_on
                               OR (l.effective_on = e.effective_on AND l.event_id > e.event_id)))
                 ORDER BY e.scope_kind DESC, e.scope"
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
        "SELECT {CELL_COLUMNS} FROM status_events e
         WHERE e.subject_kind = ?1 AND e.subject = ?2
         ORDER BY e.scope_kind DESC, e.scope, e.effective_on, e.event_id"
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
