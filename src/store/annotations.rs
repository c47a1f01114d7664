//! Annotations in the database: loading what a sheet is validated against, writing
//! the state a valid row leads to (the import itself, one transaction with the
//! audit, is `store::sheet::import`), and the reads behind `annotations show`,
//! `annotations orphans` and the filled template.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::sheet::{
    current_names, current_ressorts, keys_by_currency, read_audit, AuditRow, ImportReport, Stamp,
    StoredSheet, Trail,
};
use crate::annotations::csv::{Sheet, TemplateRow};
use crate::annotations::xlsx::Lists;
use crate::annotations::{Annotation, Field, Known, Umsetzungsweg, ValidRow, Vollzug};
use crate::error::{Error, Result};

const ANNOTATION_COLUMNS: &str = "leistungsschluessel, ressort_id, vollzug, umsetzungsweg, efa_id,
    depriorisierung_grund, prioritaet, zieldatum, bemerkung";

fn annotation_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, Annotation)> {
    let vollzug: Option<String> = r.get(2)?;
    let weg: Option<String> = r.get(3)?;
    Ok((
        r.get(0)?,
        Annotation {
            ressort_id: r.get(1)?,
            // The CHECK constraints admit only the vocabulary, so these parse.
            vollzug: vollzug.as_deref().and_then(Vollzug::parse),
            umsetzungsweg: weg.as_deref().and_then(Umsetzungsweg::parse),
            efa_id: r.get(4)?,
            depriorisierung_grund: r.get(5)?,
            prioritaet: r.get(6)?,
            zieldatum: r.get(7)?,
            bemerkung: r.get(8)?,
        },
    ))
}

fn annotations(conn: &Connection) -> Result<HashMap<String, Annotation>> {
    let mut stmt = conn
        .prepare(&format!("SELECT {ANNOTATION_COLUMNS} FROM annotations"))
        .map_err(Error::db("reading annotations"))?;
    let rows = stmt
        .query_map([], annotation_row)
        .and_then(|rows| rows.collect())
        .map_err(Error::db("reading annotations"))?;
    Ok(rows)
}

/// Validates an annotation sheet and applies it, all or nothing unless `partial`:
/// then the valid rows are applied and the refused ones reported (the library's
/// entry for [`super::sheet::import`] of annotations).
pub fn import(
    conn: &mut Connection,
    sheet: &Sheet,
    by: &str,
    origin: &str,
    partial: bool,
) -> Result<ImportReport> {
    super::sheet::import::<Annotation>(conn, sheet, by, origin, partial)
}

impl StoredSheet for Annotation {
    const IMPORT: &'static str = "annotation import";
    const TRAIL: Trail = Trail {
        table: "annotation_audit",
        key: "leistungsschluessel",
    };

    /// Loads keys, Ressorts, EfA ids and current annotations.
    fn load_known(conn: &Connection) -> Result<Known> {
        let (current_keys, retired_keys) = keys_by_currency(conn, "service")?;
        Ok(Known {
            current_keys,
            retired_keys,
            ressorts: current_ressorts(conn)?,
            efa_ids: keys_by_currency(conn, "efa_service")?.0,
            existing: annotations(conn)?,
        })
    }

    fn write(conn: &Connection, row: &ValidRow, stamp: &Stamp<'_>) -> Result<()> {
        let key = &row.key;
        let a = &row.after;
        conn.prepare_cached(
            "INSERT INTO annotations (leistungsschluessel, ressort_id, vollzug, umsetzungsweg,
                 efa_id, depriorisierung_grund, prioritaet, zieldatum, bemerkung, updated_at,
                 updated_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (leistungsschluessel) DO UPDATE SET
                 ressort_id = excluded.ressort_id, vollzug = excluded.vollzug,
                 umsetzungsweg = excluded.umsetzungsweg, efa_id = excluded.efa_id,
                 depriorisierung_grund = excluded.depriorisierung_grund,
                 prioritaet = excluded.prioritaet, zieldatum = excluded.zieldatum,
                 bemerkung = excluded.bemerkung, updated_at = excluded.updated_at,
                 updated_by = excluded.updated_by",
        )
        .and_then(|mut s| {
            s.execute(params![
                key,
                a.ressort_id,
                a.vollzug.map(Vollzug::as_str),
                a.umsetzungsweg.map(Umsetzungsweg::as_str),
                a.efa_id,
                a.depriorisierung_grund,
                a.prioritaet,
                a.zieldatum,
                a.bemerkung,
                stamp.now,
                stamp.by
            ])
        })
        .map_err(Error::db(format!(
            "writing annotation of {key} (line {})",
            row.line
        )))?;
        Ok(())
    }
}

/// One row of `v_annotations`.
#[derive(Debug, Clone, Serialize)]
pub struct AnnotationView {
    pub leistungsschluessel: String,
    pub bezeichnung: Option<String>,
    pub ressort: Option<String>,
    pub ressort_name: Option<String>,
    pub vollzug: Option<String>,
    pub umsetzungsweg: Option<String>,
    pub efa_id: Option<String>,
    pub efa_name: Option<String>,
    pub depriorisierung_grund: Option<String>,
    pub prioritaet: Option<i64>,
    pub zieldatum: Option<String>,
    pub bemerkung: Option<String>,
    pub orphaned: bool,
    pub updated_at: String,
    pub updated_by: String,
}

const VIEW_COLUMNS: &str = "leistungsschluessel, bezeichnung, ressort, ressort_name, vollzug,
    umsetzungsweg, efa_id, efa_name, depriorisierung_grund, prioritaet, zieldatum, bemerkung,
    orphaned, updated_at, updated_by";

fn view_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AnnotationView> {
    Ok(AnnotationView {
        leistungsschluessel: r.get(0)?,
        bezeichnung: r.get(1)?,
        ressort: r.get(2)?,
        ressort_name: r.get(3)?,
        vollzug: r.get(4)?,
        umsetzungsweg: r.get(5)?,
        efa_id: r.get(6)?,
        efa_name: r.get(7)?,
        depriorisierung_grund: r.get(8)?,
        prioritaet: r.get(9)?,
        zieldatum: r.get(10)?,
        bemerkung: r.get(11)?,
        orphaned: r.get(12)?,
        updated_at: r.get(13)?,
        updated_by: r.get(14)?,
    })
}

/// The annotation of `key`, if any.
pub fn annotation(conn: &Connection, key: &str) -> Result<Option<AnnotationView>> {
    conn.query_row(
        &format!("SELECT {VIEW_COLUMNS} FROM v_annotations WHERE leistungsschluessel = ?1"),
        [key],
        view_row,
    )
    .optional()
    .map_err(Error::db(format!("reading annotation of {key}")))
}

/// The audit trail of `key`, oldest first.
pub fn audit(conn: &Connection, key: &str) -> Result<Vec<AuditRow>> {
    read_audit(conn, &Annotation::TRAIL, key)
}

/// An annotation whose key is not current in the LeiKa catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct Orphan {
    #[serde(flatten)]
    pub annotation: AnnotationView,
    /// `retired` (the key was in the catalogue) or `unknown` (never seen).
    pub reason: &'static str,
    /// The release that retired the key.
    pub retired_in: Option<i64>,
}

/// Annotations whose key is retired or was never in the catalogue.
pub fn orphans(conn: &Connection) -> Result<Vec<Orphan>> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {VIEW_COLUMNS},
                 (SELECT max(v.valid_to) FROM record_versions v
                   WHERE v.entity = 'service' AND v.key = a.leistungsschluessel)
             FROM v_annotations a WHERE orphaned ORDER BY leistungsschluessel"
        ))
        .map_err(Error::db("listing orphaned annotations"))?;
    let rows = stmt
        .query_map([], |r| {
            let retired_in: Option<i64> = r.get(15)?;
            Ok(Orphan {
                annotation: view_row(r)?,
                reason: if retired_in.is_some() {
                    "retired"
                } else {
                    "unknown"
                },
                retired_in,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(Error::db("listing orphaned annotations"))?;
    Ok(rows)
}

/// The drop-down lists of the XLSX template: current Ressort Kürzel (by id) and
/// current EfA ids (sorted).
pub fn sheet_lists(conn: &Connection) -> Result<Lists> {
    let mut efa_ids: Vec<String> = keys_by_currency(conn, "efa_service")?
        .0
        .into_iter()
        .collect();
    efa_ids.sort();
    Ok(Lists {
        ressorts: current_ressorts(conn)?
            .into_iter()
            .map(|(k, _)| k)
            .collect(),
        efa_ids,
    })
}

/// Template rows: every current LeiKa key with its name and current annotation, in
/// key order, as sheet text (so a filled template re-imports without changes).
pub fn template_rows(conn: &Connection) -> Result<Vec<TemplateRow>> {
    let known = Annotation::load_known(conn)?;
    Ok(current_names(conn, "service", "bezeichnung")?
        .into_iter()
        .map(|(key, name)| {
            let a = known.existing.get(&key).cloned().unwrap_or_default();
            let cells = Field::ALL
                .iter()
                .map(|f| match f {
                    Field::Ressort => a.ressort_id.map(|id| known.kuerzel_of(id)),
                    Field::Vollzug => a.vollzug.map(|v| v.label().to_owned()),
                    Field::Umsetzungsweg => a.umsetzungsweg.map(|u| u.label().to_owned()),
                    Field::EfaId => a.efa_id.clone(),
                    Field::DepriorisierungGrund => a.depriorisierung_grund.clone(),
                    Field::Prioritaet => a.prioritaet.map(|p| p.to_string()),
                    Field::Zieldatum => a.zieldatum.clone(),
                    Field::Bemerkung => a.bemerkung.clone(),
                })
                .map(Option::unwrap_or_default)
                .collect();
            TemplateRow {
                leistungsschluessel: key,
                bezeichnung: name,
                cells,
            }
        })
        .collect())
}
