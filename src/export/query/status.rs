//! The status readers of the exports. Municipal statuses come from
//! `status_current_rows` (the latest event per subject and ARS, integer keys of
//! schema 0013, turned into text through the small lookup tables), corrected by index
//! lookups for the few cells whose current event lies after the as-of date, read
//! in two halves on two connections; the same scan finds the cells changed in the
//! change window, whose events are then looked up.

use std::collections::HashMap;

use chrono::NaiveDate;
use rusqlite::{params, Connection};

use super::matrix::{Latest, Matrix};
use super::{db, map_for_scans};
use crate::export::model::Status;
use crate::export::ExportError;
use crate::model::date::iso_date;

/// One row as read: efa?, subject and scope (stored bytes), and the status if valid.
pub(super) type StatusRow<'r> = (bool, &'r [u8], &'r [u8], Option<Latest>);

/// One status row: subject_kind, subject, scope, status, effective_on and, if
/// `event` names a column, event_id (else 0). Subject and scope stay bytes: they
/// are checked as UTF-8 only when they become map keys.
pub(super) fn status_row<'r>(
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

/// Cells dated after the as-of date are looked up one by one up to this many; a
/// date so far back that more cells changed since is cheaper as one fold.
pub(super) const MAX_LOOKUPS: usize = 20_000;

/// Part of `status_current_rows` to read: a range of its leading key column.
#[derive(Debug, Clone)]
pub(super) struct Range {
    /// `AND ...` restricting the rows to this part, with `?1` as the bound.
    clause: &'static str,
    bound: i64,
}

/// How to read the municipal cells of `status_current_rows` in two halves along its
/// primary key (subject id first, schema 0013), so each half is one range read:
/// split at the middle subject id. `None` when there are no subjects.
pub(super) fn split_ranges(conn: &Connection) -> Option<[Range; 2]> {
    let bound: i64 = conn
        .query_row(
            "SELECT subject_id FROM status_subjects ORDER BY subject_id
             LIMIT 1 OFFSET (SELECT count(*) / 2 FROM status_subjects)",
            [],
            |r| r.get(0),
        )
        .ok()?;
    Some([
        Range {
            clause: "AND subject_id < ?1",
            bound,
        },
        Range {
            clause: "AND subject_id >= ?1",
            bound,
        },
    ])
}

/// The lookup tables of the integer status storage (schema 0013): subject ids to
/// (efa?, key), scope ids to scope text, status ordinals to statuses.
struct Names {
    subjects: HashMap<i64, (bool, String)>,
    scopes: HashMap<i64, String>,
    statuses: HashMap<i64, Status>,
}

fn names(conn: &Connection) -> Result<Names, ExportError> {
    const CTX: &str = "reading the status lookup tables";
    let mut subjects = HashMap::new();
    let mut stmt = conn
        .prepare("SELECT subject_id, subject_kind, subject FROM status_subjects")
        .map_err(db(CTX))?;
    let mut rows = stmt.query([]).map_err(db(CTX))?;
    while let Some(r) = rows.next().map_err(db(CTX))? {
        let kind: String = r.get(1).map_err(db(CTX))?;
        subjects.insert(
            r.get::<_, i64>(0).map_err(db(CTX))?,
            (kind == "efa", r.get::<_, String>(2).map_err(db(CTX))?),
        );
    }
    let mut scopes = HashMap::new();
    let mut stmt = conn
        .prepare("SELECT scope_id, scope FROM status_scopes")
        .map_err(db(CTX))?;
    let mut rows = stmt.query([]).map_err(db(CTX))?;
    while let Some(r) = rows.next().map_err(db(CTX))? {
        scopes.insert(
            r.get::<_, i64>(0).map_err(db(CTX))?,
            r.get::<_, String>(1).map_err(db(CTX))?,
        );
    }
    let mut statuses = HashMap::new();
    let mut stmt = conn
        .prepare("SELECT code, status FROM status_codes")
        .map_err(db(CTX))?;
    let mut rows = stmt.query([]).map_err(db(CTX))?;
    while let Some(r) = rows.next().map_err(db(CTX))? {
        let text: String = r.get(1).map_err(db(CTX))?;
        if let Some(status) = Status::from_code(text.as_bytes()) {
            statuses.insert(r.get::<_, i64>(0).map_err(db(CTX))?, status);
        }
    }
    Ok(Names {
        subjects,
        scopes,
        statuses,
    })
}

/// A stored YYYYMMDD day (schema 0013) as a date.
fn day(d: i64) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        i32::try_from(d / 10_000).ok()?,
        u32::try_from(d / 100 % 100).ok()?,
        u32::try_from(d % 100).ok()?,
    )
}

/// A second read-only connection to the same database file, mapped for scans.
pub(super) fn second_connection(conn: &Connection) -> Option<Connection> {
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
pub(super) fn status_stamp(conn: &Connection) -> Option<i64> {
    conn.query_row(
        "SELECT coalesce(max(batch_id), 0) FROM status_batches",
        [],
        |r| r.get(0),
    )
    .ok()
}

/// Cells whose current event is after the as-of date: (efa, subject, scope).
pub(super) type Later = Vec<(bool, String, String)>;

/// What one read of (part of) `status_current` yields: the matrix as of the date,
/// the cells dated later, and, when a change window was asked for, the events in it.
pub(super) struct Part {
    m: Matrix,
    later: Later,
    recent: Option<Vec<Recent>>,
}

/// Reads (part of) `status_current` for one scope kind: the cells current as of
/// `as_of`, and those dated later (`None` when more than `max_lookups`). With
/// `window_from`, also the events in (`window_from`, `as_of`] of the cells read:
/// only a cell whose current event is after `window_from` can have one, so the
/// same scan finds them and each gets one index seek (no second scan).
pub(super) fn read_current(
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
    let names = names(conn)?;
    // Ressort scopes have negative ids, ARS positive (schema 0013); the sign is
    // written into the statement, so the Ressort cells are read through the partial
    // index `status_current_ressort` instead of a scan past every municipal cell.
    let kind = match scope_kind {
        "ressort" => "scope_id < 0",
        _ => "scope_id > 0",
    };
    let sql = format!(
        "SELECT subject_id, scope_id, status, effective_on
         FROM status_current_rows WHERE {kind} {}",
        range.map_or("", |r| r.clause)
    );
    let mut stmt = conn.prepare(&sql).map_err(db(CTX))?;
    let mut rows = match range {
        Some(r) => stmt.query(params![r.bound]),
        None => stmt.query([]),
    }
    .map_err(db(CTX))?;
    while let Some(r) = rows.next().map_err(db(CTX))? {
        let int = |i: usize| -> Result<i64, ExportError> { r.get(i).map_err(db(CTX)) };
        let (Some((efa, subject)), Some(scope)) =
            (names.subjects.get(&int(0)?), names.scopes.get(&int(1)?))
        else {
            continue;
        };
        let (Some(&status), Some(on)) = (names.statuses.get(&int(2)?), day(int(3)?)) else {
            continue;
        };
        let latest = Latest {
            on,
            event: 0,
            status,
        };
        let efa = *efa;
        if window_from.is_some_and(|from| latest.on > from) {
            changed.push((efa, subject.clone(), scope.clone()));
        }
        if latest.on <= as_of {
            let cell = m.cell(efa, subject.as_bytes(), scope.as_bytes());
            m.fold(cell, latest);
        } else if later.len() < max_lookups {
            later.push((efa, subject.clone(), scope.clone()));
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
pub(super) const PREVIOUS_STATUS: &str = "(SELECT p.status FROM status_events p
      WHERE p.subject_kind = e.subject_kind AND p.subject = e.subject
        AND p.scope_kind = e.scope_kind AND p.scope = e.scope
        AND (p.effective_on < e.effective_on
             OR (p.effective_on = e.effective_on AND p.event_id < e.event_id))
      ORDER BY p.effective_on DESC, p.event_id DESC LIMIT 1)";

/// A change read from the columns at `at`: status, effective date and the status
/// it replaced ([`PREVIOUS_STATUS`]); `None` for a row that is not a valid event.
pub(super) fn change_at(
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
pub(super) fn changes_of(
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
pub(super) fn status_matrix(
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
pub(super) fn fold_events(
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
pub(super) struct Recent {
    pub(super) efa: bool,
    pub(super) subject: String,
    pub(super) scope: String,
    pub(super) on: NaiveDate,
    pub(super) old: Option<Status>,
    pub(super) new: Status,
}

/// The municipal events with effective_on in (`from`, `as_of`] and each one's
/// previous status in its cell. Only cells whose current event is after `from` can
/// have such events, so the read starts from `status_current` by date and looks up
/// just those cells' events (one index seek each), not the whole history.
pub(super) fn recent_changes(
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

/// The municipal matrix and, if asked, the recent changes (found by the same scan;
/// a full scan for them only when the matrix had to be folded from the events).
pub(super) fn matrix_and_changes(
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

/// Land-level status per subject (latest event at any Ressort scope) as of a date,
/// from the Ressort cells of the status matrix.
pub(super) fn land_status(
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
