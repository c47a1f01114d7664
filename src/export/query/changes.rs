//! The report's change section between two dates: new EfA services, status
//! changes (Land level, and municipal ones of EfA subjects), retired keys and
//! EfA-Nachnutzung changes.

use std::collections::HashMap;

use chrono::NaiveDate;
use rusqlite::{params, Connection};

use super::catalog::{leika_names, Efa};
use super::db;
use crate::annotations::sheet::SheetField;
use crate::export::model::{
    Changes, NachnutzungChange, NewService, RetiredKey, Status, StatusChange,
};
use crate::export::ExportError;
use crate::model::date::iso_date;
use crate::model::LandScope;

/// subject_kind, subject, scope_kind, scope, old status, new status, effective_on.
pub(super) type ChangeRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
);

pub(super) fn changes(
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
                first_seen: iso_date(d.as_bytes())?,
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
                effective_on: iso_date(on.as_bytes())?,
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
                retired_on: iso_date(d.as_bytes())?,
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
                recorded_on: iso_date(c.day.as_bytes())?,
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
