//! EfA-Nachnutzung in the database (schema 0012): loading what a sheet is
//! validated against, applying a validated sheet as new versions with one audit
//! row per changed field, and the reads behind `efa-nachnutzung show` and the
//! filled template.
//!
//! An import is one transaction, as for the annotations (`store::sheet::import`):
//! knowledge is loaded, the sheet validated and the valid rows written inside it,
//! with the exports marked due; a refused sheet writes nothing.

use std::collections::HashMap;

use chrono::NaiveDate;
use rusqlite::{params, Connection};
use serde::Serialize;

use super::sheet::{
    current_names, current_ressorts, keys_by_currency, read_audit, AuditRow, Stamp, StoredSheet,
    Trail,
};
use crate::efa_nachnutzung::{
    Bewertung, Kanal, Known, KostenLand, Parametrisierung, State, ValidRow,
};
use crate::error::{Error, Result};

const STATE_COLUMNS: &str = "bewertung, bewertungsgrund, bewertet_am, ressort_id,
    parametrisierung, parametrisiert_am, kanal, bereitgestellt_ab, kosten_land, kontakt,
    bemerkung";

/// Reads a state from columns `offset..` in [`STATE_COLUMNS`] order. The CHECKs
/// admit only the vocabularies and the import writes ISO dates, so these parse.
fn state_at(r: &rusqlite::Row<'_>, offset: usize) -> rusqlite::Result<State> {
    let text = |i: usize| r.get::<_, Option<String>>(offset + i);
    let date = |i: usize| -> rusqlite::Result<Option<NaiveDate>> {
        Ok(text(i)?.and_then(|d| d.parse().ok()))
    };
    Ok(State {
        bewertung: text(0)?.as_deref().and_then(Bewertung::parse),
        bewertungsgrund: text(1)?,
        bewertet_am: date(2)?,
        ressort_id: r.get(offset + 3)?,
        parametrisierung: text(4)?.as_deref().and_then(Parametrisierung::parse),
        parametrisiert_am: date(5)?,
        kanal: text(6)?.as_deref().and_then(Kanal::parse),
        bereitgestellt_ab: date(7)?,
        kosten_land: text(8)?.as_deref().and_then(KostenLand::parse),
        kontakt: text(9)?,
        bemerkung: text(10)?,
    })
}

/// The state of every EfA service as recorded by the end of `day` (UTC), for
/// the report as of a date.
pub fn states_as_of(conn: &Connection, day: NaiveDate) -> Result<HashMap<String, State>> {
    states_until(conn, &day.to_string())
}

/// The newest version per EfA service recorded on or before `day` (`YYYY-MM-DD`).
fn states_until(conn: &Connection, day: &str) -> Result<HashMap<String, State>> {
    let context = "reading EfA-Nachnutzung states";
    let mut stmt = conn
        .prepare(&format!(
            "SELECT efa_id, {STATE_COLUMNS} FROM efa_nachnutzung_versions n
             WHERE version_id = (SELECT max(m.version_id) FROM efa_nachnutzung_versions m
                                  WHERE m.efa_id = n.efa_id AND substr(m.recorded_at, 1, 10) <= ?1)"
        ))
        .map_err(Error::db(context))?;
    let states = stmt
        .query_map([day], |r| Ok((r.get::<_, String>(0)?, state_at(r, 1)?)))
        .and_then(|rows| rows.collect::<rusqlite::Result<HashMap<_, _>>>())
        .map_err(Error::db(context))?;
    Ok(states)
}

/// One audited field change, for the report's changes since a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub efa_id: String,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    /// The day it was recorded (UTC, `YYYY-MM-DD`).
    pub day: String,
}

/// The audited changes recorded after `since` up to the end of `until`.
pub fn changes_between(
    conn: &Connection,
    since: NaiveDate,
    until: NaiveDate,
) -> Result<Vec<FieldChange>> {
    let context = "reading EfA-Nachnutzung changes";
    let mut stmt = conn
        .prepare(
            "SELECT efa_id, field, old_value, new_value, substr(changed_at, 1, 10)
             FROM efa_nachnutzung_audit
             WHERE substr(changed_at, 1, 10) > ?1 AND substr(changed_at, 1, 10) <= ?2
             ORDER BY audit_id",
        )
        .map_err(Error::db(context))?;
    let rows = stmt
        .query_map([since.to_string(), until.to_string()], |r| {
            Ok(FieldChange {
                efa_id: r.get(0)?,
                field: r.get(1)?,
                old_value: r.get(2)?,
                new_value: r.get(3)?,
                day: r.get(4)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(Error::db(context))?;
    Ok(rows)
}

impl StoredSheet for State {
    const IMPORT: &'static str = "EfA-Nachnutzung import";
    const TRAIL: Trail = Trail {
        table: "efa_nachnutzung_audit",
        key: "efa_id",
    };

    /// Loads EfA ids, Ressorts and the current states.
    fn load_known(conn: &Connection) -> Result<Known> {
        let (current, retired) = keys_by_currency(conn, "efa_service")?;
        Ok(Known {
            current,
            retired,
            ressorts: current_ressorts(conn)?,
            existing: states_until(conn, "9999-12-31")?,
        })
    }

    /// A new version of the service's state (versions are never overwritten).
    fn write(conn: &Connection, row: &ValidRow, stamp: &Stamp<'_>) -> Result<()> {
        let id = &row.key;
        let s = &row.after;
        let iso = |d: Option<NaiveDate>| d.map(|d| d.to_string());
        conn.prepare_cached(&format!(
            "INSERT INTO efa_nachnutzung_versions (efa_id, {STATE_COLUMNS}, recorded_at,
                 recorded_by, origin)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
        ))
        .and_then(|mut stmt| {
            stmt.execute(params![
                id,
                s.bewertung.map(Bewertung::as_str),
                s.bewertungsgrund,
                iso(s.bewertet_am),
                s.ressort_id,
                s.parametrisierung.map(Parametrisierung::as_str),
                iso(s.parametrisiert_am),
                s.kanal.map(Kanal::as_str),
                iso(s.bereitgestellt_ab),
                s.kosten_land.map(KostenLand::as_str),
                s.kontakt,
                s.bemerkung,
                stamp.now,
                stamp.by,
                stamp.origin
            ])
        })
        .map_err(Error::db(format!(
            "writing EfA-Nachnutzung of {id} (line {})",
            row.line
        )))?;
        Ok(())
    }
}

/// One row of `v_efa_nachnutzung`.
#[derive(Debug, Clone, Serialize)]
pub struct Current {
    pub efa_id: String,
    pub name: Option<String>,
    pub stage: String,
    pub stufe: i64,
    pub bewertung: Option<String>,
    pub bewertungsgrund: Option<String>,
    pub bewertet_am: Option<String>,
    pub ressort: Option<String>,
    pub parametrisierung: Option<String>,
    pub parametrisiert_am: Option<String>,
    pub kanal: Option<String>,
    pub bereitgestellt_ab: Option<String>,
    pub kosten_land: Option<String>,
    pub kontakt: Option<String>,
    pub bemerkung: Option<String>,
    pub kommunen_produktiv: i64,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
}

/// The current state of `efa_id` (None when it is not a current EfA service).
pub fn current(conn: &Connection, efa_id: &str) -> Result<Option<Current>> {
    let context = || format!("reading EfA-Nachnutzung of {efa_id}");
    let mut stmt = conn
        .prepare(
            "SELECT efa_id, name, stage, stufe, bewertung, bewertungsgrund, bewertet_am,
                    ressort, parametrisierung, parametrisiert_am, kanal, bereitgestellt_ab,
                    kosten_land, kontakt, bemerkung, kommunen_produktiv, updated_at,
                    updated_by
             FROM v_efa_nachnutzung WHERE efa_id = ?1",
        )
        .map_err(Error::db(context()))?;
    let mut rows = stmt
        .query_map([efa_id], |r| {
            Ok(Current {
                efa_id: r.get(0)?,
                name: r.get(1)?,
                stage: r.get(2)?,
                stufe: r.get(3)?,
                bewertung: r.get(4)?,
                bewertungsgrund: r.get(5)?,
                bewertet_am: r.get(6)?,
                ressort: r.get(7)?,
                parametrisierung: r.get(8)?,
                parametrisiert_am: r.get(9)?,
                kanal: r.get(10)?,
                bereitgestellt_ab: r.get(11)?,
                kosten_land: r.get(12)?,
                kontakt: r.get(13)?,
                bemerkung: r.get(14)?,
                kommunen_produktiv: r.get(15)?,
                updated_at: r.get(16)?,
                updated_by: r.get(17)?,
            })
        })
        .map_err(Error::db(context()))?;
    rows.next().transpose().map_err(Error::db(context()))
}

/// The audit trail of `efa_id`, oldest first.
pub fn audit(conn: &Connection, efa_id: &str) -> Result<Vec<AuditRow>> {
    read_audit(conn, &State::TRAIL, efa_id)
}

/// Template rows: every current EfA service with its name and current state as
/// sheet text, in id order (a filled template re-imports without changes).
pub fn template_rows(conn: &Connection) -> Result<Vec<Vec<String>>> {
    let known = State::load_known(conn)?;
    Ok(current_names(conn, "efa_service", "name")?
        .into_iter()
        .map(|(id, name)| {
            let state = known.existing.get(&id).cloned().unwrap_or_default();
            let mut row = vec![id, name];
            row.extend(
                state
                    .values(&known, true)
                    .into_iter()
                    .map(|(_, v)| v.unwrap_or_default()),
            );
            row
        })
        .collect())
}
