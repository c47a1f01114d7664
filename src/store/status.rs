//! Reads and writes of Onlinedienst status events: the catalogue a report is checked
//! against, appending validated rows as events (one transaction, in which this
//! module also brings `status_current` and `status_tally` up to date; see
//! schema/0006), and reading a subject's status now or as of a date.
//! Validation itself is pure and lives in `crate::status::report`.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use rusqlite::{params, Connection, TransactionBehavior};
use serde::Serialize;
use tracing::debug;

use crate::error::{Error, Result};
use crate::model::Vollzug;
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

/// Appends `rows` as events in one transaction (one `status_batches` row for the
/// report) and brings `status_current` and `status_tally` up to date set-wise.
/// Returns the number of events written.
///
/// Rows are written in the table's key order (cell, then date): the clustered
/// `status_events` and the subject-first `status_current` then grow at their ends
/// instead of at random places, which is what makes a 2.8-million-row report fast.
/// Same-cell rows of one date keep their file order and get growing event ids, so
/// the later line is the correction that wins.
pub fn record(conn: &mut Connection, rows: &[StatusRow], origin: &str, by: &str) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    // Rows are numbered with u32 while sorted (a 4-billion-row file is not a report).
    u32::try_from(rows.len())
        .map_err(|_| Error::Invalid("too many status rows in one report".into()))?;
    let recorded_at = super::now_utc();
    let started = std::time::Instant::now();
    let phase = |what: &str| debug!(rows = rows.len(), elapsed = ?started.elapsed(), "status record: {what}");
    let (keys, order) = Keys::sorted(rows);
    phase("sorted");
    // A large page cache for this connection's big transactions (allocated only as used).
    conn.pragma_update(None, "cache_size", -512 * 1024)
        .map_err(Error::db("setting cache_size"))?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(Error::db("starting status transaction"))?;
    // The per-row triggers that keep the derived tables for other writers would cost
    // a fifth of a large import; this transaction keeps the tables itself, so it sets
    // the triggers aside and puts back exactly what it took (their SQL from the
    // schema) before committing. Other connections never see them missing (WAL
    // snapshot), and a crash rolls the whole transaction back.
    let triggers = take_row_triggers(&tx)?;
    let first_id: i64 = tx
        .query_row(
            "SELECT coalesce(max(last_event_id), 0) + 1 FROM status_batches",
            [],
            |r| r.get(0),
        )
        .map_err(Error::db("reading the last status event id"))?;
    let count = i64::try_from(order.len())
        .map_err(|_| Error::Invalid("too many status rows in one report".into()))?;
    tx.execute(
        "INSERT INTO status_batches (origin, recorded_at, recorded_by, last_event_id)
         VALUES (?1, ?2, ?3, ?4)",
        params![origin, recorded_at, by, first_id + count - 1],
    )
    .map_err(Error::db("recording the status batch"))?;
    let batch_id = tx.last_insert_rowid();
    insert_chunked(
        &tx,
        "INSERT OR ROLLBACK INTO status_events (subject_kind, subject, scope_kind, scope,
             effective_on, event_id, status, note, batch_id) VALUES ",
        "",
        9,
        &order,
        |stmt, at, i, p| {
            let row = &rows[p.row as usize];
            keys.bind_cell(stmt, at, p)?;
            stmt.raw_bind_parameter(at + 4, &keys.dates[p.on as usize])?;
            stmt.raw_bind_parameter(at + 5, first_id + i as i64)?;
            stmt.raw_bind_parameter(at + 6, row.status.as_str())?;
            stmt.raw_bind_parameter(at + 7, row.note.as_deref())?;
            stmt.raw_bind_parameter(at + 8, batch_id)
        },
    )
    .map_err(Error::db("recording status events"))?;
    phase("events written");
    update_current(&tx, rows, &keys, &order, first_id)?;
    phase("current status and tally written");
    for sql in &triggers {
        tx.execute_batch(sql)
            .map_err(Error::db("restoring the status triggers"))?;
    }
    super::due::mark(&tx, super::due::Cause::Status)?;
    tx.commit().map_err(Error::db("committing status events"))?;
    phase("committed");
    Ok(rows.len() as u64)
}

/// The distinct subjects, scopes and dates of a report in their stored form, each
/// list in stored (binary) order, so that comparing positions compares the stored
/// values: rows then sort on four integers instead of four strings.
struct Keys<'a> {
    subjects: Vec<(&'static str, &'a str)>,
    scopes: Vec<(&'static str, String)>,
    dates: Vec<String>,
}

/// One row of a report on its way in: its index in the report and the positions of
/// its subject, scope and date in [`Keys`].
#[derive(Clone, Copy)]
struct Pending {
    row: u32,
    subject: u32,
    scope: u32,
    on: u32,
}

impl<'a> Keys<'a> {
    /// The report's keys, and its rows in key order (cell, date, then file order).
    fn sorted(rows: &'a [StatusRow]) -> (Keys<'a>, Vec<Pending>) {
        let (subjects, subject_of) = rank(rows.iter().map(|r| &r.subject), |s| (s.kind(), s.id()));
        let (scopes, scope_of) = rank(rows.iter().map(|r| &r.scope), |s| (s.kind(), s.id()));
        // ISO dates sort as their text.
        let (dates, date_of) = rank(rows.iter().map(|r| r.effective_on), |d| {
            d.format("%Y-%m-%d").to_string()
        });
        let mut order: Vec<Pending> = (0..rows.len())
            .map(|i| Pending {
                row: i as u32,
                subject: subject_of[i],
                scope: scope_of[i],
                on: date_of[i],
            })
            .collect();
        order.sort_unstable_by_key(|p| (p.subject, p.scope, p.on, p.row));
        let keys = Keys {
            subjects,
            scopes,
            dates,
        };
        (keys, order)
    }

    /// Binds a row's cell (subject kind, subject, scope kind, scope) from `at` on.
    fn bind_cell(
        &self,
        stmt: &mut rusqlite::Statement<'_>,
        at: usize,
        p: &Pending,
    ) -> rusqlite::Result<()> {
        let (subject_kind, subject) = self.subjects[p.subject as usize];
        let (scope_kind, scope) = &self.scopes[p.scope as usize];
        stmt.raw_bind_parameter(at, subject_kind)?;
        stmt.raw_bind_parameter(at + 1, subject)?;
        stmt.raw_bind_parameter(at + 2, *scope_kind)?;
        stmt.raw_bind_parameter(at + 3, scope)
    }
}

/// The distinct `items` in their stored form `stored(item)`, sorted, and for each
/// item the position of its stored form in that list.
fn rank<K: std::hash::Hash + Eq, S: Ord>(
    items: impl Iterator<Item = K>,
    stored: impl Fn(&K) -> S,
) -> (Vec<S>, Vec<u32>) {
    let mut ids: HashMap<K, u32> = HashMap::new();
    let mut first_seen: Vec<u32> = Vec::new();
    for item in items {
        let next = ids.len() as u32;
        first_seen.push(*ids.entry(item).or_insert(next));
    }
    let mut distinct: Vec<(S, u32)> = ids.iter().map(|(k, &id)| (stored(k), id)).collect();
    distinct.sort_by(|a, b| a.0.cmp(&b.0));
    let mut position = vec![0u32; distinct.len()];
    for (pos, (_, id)) in distinct.iter().enumerate() {
        position[*id as usize] = pos as u32;
    }
    let of = first_seen
        .into_iter()
        .map(|id| position[id as usize])
        .collect();
    (distinct.into_iter().map(|(s, _)| s).collect(), of)
}

/// Drops the per-row triggers on `status_events` that maintain the derived tables
/// and returns their `CREATE TRIGGER` statements, to be run again before commit.
fn take_row_triggers(tx: &rusqlite::Transaction<'_>) -> Result<Vec<String>> {
    let mut stmt = tx
        .prepare(
            "SELECT name, sql FROM sqlite_schema
             WHERE type = 'trigger' AND tbl_name = 'status_events'
               AND name IN ('status_events_current', 'status_events_id')",
        )
        .map_err(Error::db("reading the status triggers"))?;
    let triggers = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(Error::db("reading the status triggers"))?;
    let mut restore = Vec::with_capacity(triggers.len());
    for (name, sql) in triggers {
        tx.execute_batch(&format!("DROP TRIGGER \"{name}\""))
            .map_err(Error::db("setting the status triggers aside"))?;
        restore.push(sql);
    }
    Ok(restore)
}

/// Rows per multi-row statement: one statement execution per chunk instead of per
/// row (statement set-up and teardown were a fifth of a large import).
const CHUNK: usize = 50;

/// Runs `head (?, …), (?, …) … tail` over `items`, `CHUNK` rows per execution;
/// `bind(stmt, first parameter index, item index, item)` binds one row's `cols`
/// parameters.
fn insert_chunked<T>(
    tx: &rusqlite::Transaction<'_>,
    head: &str,
    tail: &str,
    cols: usize,
    items: &[T],
    bind: impl Fn(&mut rusqlite::Statement<'_>, usize, usize, &T) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let sql = |rows: usize| -> String {
        let one = format!("({})", vec!["?"; cols].join(", "));
        format!("{head}{}{tail}", vec![one; rows].join(", "))
    };
    // One statement for all full chunks, held (not returned to the cache) between
    // executions: its bindings are never cleared, so binding the next chunk's text
    // reuses the buffers of the last one instead of allocating 450 new ones.
    let mut full: Option<rusqlite::Statement<'_>> = None;
    for (c, chunk) in items.chunks(CHUNK).enumerate() {
        let mut last;
        let stmt = if chunk.len() == CHUNK {
            match &mut full {
                Some(stmt) => stmt,
                None => full.insert(tx.prepare(&sql(CHUNK))?),
            }
        } else {
            last = tx.prepare(&sql(chunk.len()))?;
            &mut last
        };
        for (j, item) in chunk.iter().enumerate() {
            bind(stmt, j * cols + 1, c * CHUNK + j, item)?;
        }
        stmt.raw_execute()?;
    }
    Ok(())
}

/// The tally key of one current cell: scope kind, scope, subject kind, status, and
/// whether the subject is a municipal service.
type TallyKey<'a> = (&'static str, &'a str, &'static str, &'static str, bool);

/// Brings `status_current` and `status_tally` up to date for the events just written
/// (`order`, sorted by cell and date, with ids from `first_id`): per cell the last
/// row is the candidate; it replaces the stored current status unless that one is
/// newer (a backdated report does not overrule a later status).
///
/// A subject whose every row is its cell's new current status (the usual case: one
/// row per cell, nothing newer stored) is copied into `status_current` from the events
/// just written by one statement over its id range, instead of binding every value
/// a second time; other subjects' winners are inserted row by row.
fn update_current(
    tx: &rusqlite::Transaction<'_>,
    rows: &[StatusRow],
    keys: &Keys<'_>,
    order: &[Pending],
    first_id: i64,
) -> Result<()> {
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
    let mut current_of = tx
        .prepare_cached(
            "SELECT scope_kind, scope, status, effective_on FROM status_current
             WHERE subject_kind = ?1 AND subject = ?2",
        )
        .map_err(Error::db("reading current status"))?;
    // Copies a subject's events in an id range into status_current: with an upsert
    // where the subject has current cells, as a plain insert where it has none (no
    // conflict to look for; the usual case for a large report).
    let copy_sql = |upsert: &str| {
        format!(
            "INSERT INTO status_current (subject_kind, subject, scope_kind, scope, status,
                                         effective_on, event_id)
             SELECT subject_kind, subject, scope_kind, scope, status, effective_on, event_id
             FROM status_events
             WHERE subject_kind = ?1 AND subject = ?2 AND event_id BETWEEN ?3 AND ?4 {upsert}"
        )
    };
    let mut copy_new = tx
        .prepare(&copy_sql(""))
        .map_err(Error::db("preparing the current status update"))?;
    let mut copy_over = tx
        .prepare(&copy_sql(
            "ON CONFLICT (subject_kind, subject, scope_kind, scope) DO UPDATE
                 SET status = excluded.status, effective_on = excluded.effective_on,
                     event_id = excluded.event_id",
        ))
        .map_err(Error::db("preparing the current status update"))?;
    // Indexes into `order` of winners that are inserted row by row.
    let mut singles: Vec<usize> = Vec::new();
    let mut tally: HashMap<TallyKey, i64> = HashMap::new();
    // Position in `order` of the group's first row.
    let mut at = 0;
    for group in order.chunk_by(|a, b| a.subject == b.subject) {
        let start = at;
        at += group.len();
        let Some(first) = group.first() else { continue };
        let (subject_kind, subject) = keys.subjects[first.subject as usize];
        // The stored current status of this subject, by (scope kind, scope).
        let stored: HashMap<(String, String), (String, String)> = current_of
            .query_map(params![subject_kind, subject], |r| {
                Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?)))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
            .map_err(Error::db(format!("reading current status of {subject}")))?;
        let municipal = subject_kind == "leika" && kommunal.contains(subject);
        let mut winners = Vec::new();
        for (j, p) in group.iter().enumerate() {
            let last_of_cell = group.get(j + 1).is_none_or(|next| next.scope != p.scope);
            if !last_of_cell {
                continue;
            }
            let (scope_kind, scope) = &keys.scopes[p.scope as usize];
            let on = &keys.dates[p.on as usize];
            // Most large reports are a subject's first: nothing stored, no lookup key built.
            let old = if stored.is_empty() {
                None
            } else {
                stored.get(&((*scope_kind).to_owned(), scope.clone()))
            };
            if let Some((old_status, old_on)) = old {
                if old_on > on {
                    continue;
                }
                let old = Status::parse(old_status).ok_or_else(|| {
                    Error::Invalid(format!("unknown status {old_status:?} in the database"))
                })?;
                *tally
                    .entry((scope_kind, scope, subject_kind, old.as_str(), municipal))
                    .or_default() -= 1;
            }
            let status = rows[p.row as usize].status;
            *tally
                .entry((scope_kind, scope, subject_kind, status.as_str(), municipal))
                .or_default() += 1;
            winners.push(start + j);
        }
        if winners.len() == group.len() {
            let copy = if stored.is_empty() {
                &mut copy_new
            } else {
                &mut copy_over
            };
            copy.execute(params![
                subject_kind,
                subject,
                first_id + start as i64,
                first_id + (at - 1) as i64
            ])
            .map_err(Error::db("updating the current status"))?;
        } else {
            singles.append(&mut winners);
        }
    }
    drop(current_of);
    drop(copy_new);
    drop(copy_over);
    insert_chunked(
        tx,
        "INSERT OR ROLLBACK INTO status_current (subject_kind, subject, scope_kind, scope,
             status, effective_on, event_id) VALUES ",
        " ON CONFLICT (subject_kind, subject, scope_kind, scope) DO UPDATE
             SET status = excluded.status, effective_on = excluded.effective_on,
                 event_id = excluded.event_id",
        7,
        &singles,
        |stmt, at, _, &i| {
            let Some(p) = order.get(i) else {
                return Ok(());
            };
            keys.bind_cell(stmt, at, p)?;
            stmt.raw_bind_parameter(at + 4, rows[p.row as usize].status.as_str())?;
            stmt.raw_bind_parameter(at + 5, &keys.dates[p.on as usize])?;
            stmt.raw_bind_parameter(at + 6, first_id + i as i64)
        },
    )
    .map_err(Error::db("updating the current status"))?;
    let mut add = tx
        .prepare_cached(
            "INSERT INTO status_tally (scope_kind, scope, subject_kind, status, kommunal, cells)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (scope_kind, scope, subject_kind, status, kommunal) DO UPDATE
                 SET cells = cells + excluded.cells",
        )
        .map_err(Error::db("preparing status tally update"))?;
    let mut deltas: Vec<_> = tally.into_iter().filter(|(_, n)| *n != 0).collect();
    // Key order: the tally's pages are then written front to back.
    deltas.sort();
    for ((scope_kind, scope, subject_kind, status, municipal), n) in deltas {
        add.execute(params![
            scope_kind,
            scope,
            subject_kind,
            status,
            municipal,
            n
        ])
        .map_err(Error::db("updating the status tally"))?;
    }
    Ok(())
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

const CELL_COLUMNS: &str = "e.subject_kind, e.subject, e.scope_kind, e.scope,
    CASE WHEN e.scope_kind = 'ressort' THEN
        (SELECT n.kuerzel FROM ressort_names n
          WHERE n.ressort_id = CAST(e.scope AS INTEGER) AND n.valid_to IS NULL) END,
    CASE WHEN e.scope_kind = 'ars' THEN
        (SELECT json_extract(m.data, '$.name') FROM record_versions m
          WHERE m.entity = 'municipality' AND m.valid_to IS NULL
            AND m.key IN ('gemeinde:' || e.scope, 'kreis:' || e.scope, 'verband:' || e.scope)
          ORDER BY m.key LIMIT 1) END,
    e.status, e.effective_on, e.note, b.origin, b.recorded_at, b.recorded_by, e.event_id";

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
    let date = as_of
        .map(|d| d.to_string())
        .unwrap_or_else(|| "9999-12-31".to_owned());
    let sql = format!(
        "SELECT {CELL_COLUMNS} FROM status_events e
                 JOIN status_batches b ON b.batch_id = e.batch_id
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
         JOIN status_batches b ON b.batch_id = e.batch_id
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

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.map(Result::unwrap).collect()
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
                "status_events_no_update"
            ]
        );
    }
}
