//! Reads and writes of Onlinedienst status events: the catalogue a report is checked
//! against, appending validated rows as events (one transaction, in which this
//! module also brings `status_current` and `status_tally` up to date; see
//! schema/0006), and reading a subject's status now or as of a date.
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
    let recorded_at = super::now_utc();
    let mut order: Vec<Pending<'_>> = rows
        .iter()
        .map(|row| Pending {
            row,
            scope: row.scope.id(),
            on: row.effective_on.to_string(),
        })
        .collect();
    // Stable: same cell and date stay in file order.
    order.sort_by(|a, b| {
        (
            a.row.subject.kind(),
            a.row.subject.id(),
            a.row.scope.kind(),
            &a.scope,
            a.row.effective_on,
        )
            .cmp(&(
                b.row.subject.kind(),
                b.row.subject.id(),
                b.row.scope.kind(),
                &b.scope,
                b.row.effective_on,
            ))
    });
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
        |stmt, at, i, Pending { row, scope, on }| {
            stmt.raw_bind_parameter(at, row.subject.kind())?;
            stmt.raw_bind_parameter(at + 1, row.subject.id())?;
            stmt.raw_bind_parameter(at + 2, row.scope.kind())?;
            stmt.raw_bind_parameter(at + 3, scope)?;
            stmt.raw_bind_parameter(at + 4, on)?;
            stmt.raw_bind_parameter(at + 5, first_id + i as i64)?;
            stmt.raw_bind_parameter(at + 6, row.status.as_str())?;
            stmt.raw_bind_parameter(at + 7, row.note.as_deref())?;
            stmt.raw_bind_parameter(at + 8, batch_id)
        },
    )
    .map_err(Error::db("recording status events"))?;
    update_current(&tx, &order, first_id)?;
    for sql in &triggers {
        tx.execute_batch(sql)
            .map_err(Error::db("restoring the status triggers"))?;
    }
    tx.commit().map_err(Error::db("committing status events"))?;
    Ok(rows.len() as u64)
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
    let full = sql(CHUNK);
    for (c, chunk) in items.chunks(CHUNK).enumerate() {
        let mut stmt = if chunk.len() == CHUNK {
            tx.prepare_cached(&full)?
        } else {
            tx.prepare_cached(&sql(chunk.len()))?
        };
        for (j, item) in chunk.iter().enumerate() {
            bind(&mut stmt, j * cols + 1, c * CHUNK + j, item)?;
        }
        stmt.raw_execute()?;
    }
    Ok(())
}

/// One row of a report on its way in, with its scope and date in stored form
/// (computed once: both the event and the current-status update write them).
struct Pending<'a> {
    row: &'a StatusRow,
    scope: String,
    on: String,
}

/// The tally key of one current cell: scope kind, scope, subject kind, status, and
/// whether the subject is a municipal service.
type TallyKey<'a> = (&'static str, &'a str, &'static str, &'static str, bool);

/// Brings `status_current` and `status_tally` up to date for the events just written
/// (`order`, sorted by cell and date, with ids from `first_id`): per cell the last
/// row is the candidate; it replaces the stored current status unless that one is
/// newer (a backdated report does not overrule a later status).
fn update_current(
    tx: &rusqlite::Transaction<'_>,
    order: &[Pending<'_>],
    first_id: i64,
) -> Result<()> {
    let kommunal: HashSet<String> = {
        let mut stmt = tx
            .prepare(
                "SELECT leistungsschluessel FROM annotations WHERE vollzug IN ('kommune', 'beide')",
            )
            .map_err(Error::db("reading municipal services"))?;
        let keys = stmt
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<HashSet<String>>>())
            .map_err(Error::db("reading municipal services"))?;
        keys
    };
    let mut current_of = tx
        .prepare_cached(
            "SELECT scope_kind, scope, status, effective_on FROM status_current
             WHERE subject_kind = ?1 AND subject = ?2",
        )
        .map_err(Error::db("reading current status"))?;
    // Index into order of each cell's row that becomes its current status.
    let mut winners: Vec<usize> = Vec::new();
    let mut tally: HashMap<TallyKey, i64> = HashMap::new();
    // The stored current status of the subject being processed, by (scope kind, scope).
    let mut stored: HashMap<(String, String), (String, String)> = HashMap::new();
    let mut stored_for: Option<(&str, &str)> = None;
    for (i, Pending { row, scope, on }) in order.iter().enumerate() {
        let last_of_cell = order.get(i + 1).is_none_or(|next| {
            next.row.subject != row.subject
                || next.row.scope.kind() != row.scope.kind()
                || &next.scope != scope
        });
        if !last_of_cell {
            continue;
        }
        let subject = (row.subject.kind(), row.subject.id());
        if stored_for != Some(subject) {
            stored = current_of
                .query_map(params![subject.0, subject.1], |r| {
                    Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?)))
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
                .map_err(Error::db(format!(
                    "reading current status of {}",
                    subject.1
                )))?;
            stored_for = Some(subject);
        }
        let municipal =
            matches!(row.subject, Subject::Leika(_)) && kommunal.contains(row.subject.id());
        let scope_kind = row.scope.kind();
        // Most large reports are a subject's first: nothing stored, no lookup key built.
        let old = if stored.is_empty() {
            None
        } else {
            stored.get(&(scope_kind.to_owned(), scope.clone()))
        };
        if let Some((old_status, old_on)) = old {
            if old_on > on {
                continue;
            }
            let old = Status::parse(old_status).ok_or_else(|| {
                Error::Invalid(format!("unknown status {old_status:?} in the database"))
            })?;
            *tally
                .entry((scope_kind, scope, subject.0, old.as_str(), municipal))
                .or_default() -= 1;
        }
        *tally
            .entry((scope_kind, scope, subject.0, row.status.as_str(), municipal))
            .or_default() += 1;
        winners.push(i);
    }
    drop(current_of);
    insert_chunked(
        tx,
        "INSERT OR ROLLBACK INTO status_current (subject_kind, subject, scope_kind, scope,
             status, effective_on, event_id) VALUES ",
        " ON CONFLICT (subject_kind, subject, scope_kind, scope) DO UPDATE
             SET status = excluded.status, effective_on = excluded.effective_on,
                 event_id = excluded.event_id",
        7,
        &winners,
        |stmt, at, _, i| {
            let Some(Pending { row, scope, on }) = order.get(*i) else {
                return Ok(());
            };
            stmt.raw_bind_parameter(at, row.subject.kind())?;
            stmt.raw_bind_parameter(at + 1, row.subject.id())?;
            stmt.raw_bind_parameter(at + 2, row.scope.kind())?;
            stmt.raw_bind_parameter(at + 3, scope)?;
            stmt.raw_bind_parameter(at + 4, row.status.as_str())?;
            stmt.raw_bind_parameter(at + 5, on)?;
            stmt.raw_bind_parameter(at + 6, first_id + *i as i64)
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
    e.status, e.effective_on, e.note, b.origin, b.recorded_at, b.recorded_by, e.event_id";

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
