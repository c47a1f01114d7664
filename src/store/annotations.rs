//! Annotations in the database: loading what a sheet is validated against, applying
//! a validated sheet with one audit row per changed field, and the reads behind
//! `annotations show`, `annotations orphans` and the filled template.
//!
//! An import is one transaction: knowledge is loaded, the sheet validated (pure,
//! `crate::annotations::validate`) and the valid rows written inside it, so no other
//! writer can slip in between check and write, and a refused sheet leaves the
//! database untouched.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::annotations::csv::{Sheet, TemplateRow};
use crate::annotations::xlsx::Lists;
use crate::annotations::{
    validate, Annotation, Field, Known, RowError, Umsetzungsweg, ValidRow, Validation, Vollzug,
};
use crate::error::{Error, Result};

/// Loads keys, Ressorts, EfA ids and current annotations.
pub fn load_known(conn: &Connection) -> Result<Known> {
    let mut known = Known::default();
    let mut stmt = conn
        .prepare(
            "SELECT key, max(valid_to IS NULL) FROM record_versions
             WHERE entity = 'service' GROUP BY key",
        )
        .map_err(Error::db("reading LeiKa keys"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(Error::db("reading LeiKa keys"))?;
    for (key, current) in rows {
        if current {
            known.current_keys.insert(key);
        } else {
            known.retired_keys.insert(key);
        }
    }
    known.ressorts = current_ressorts(conn)?;
    known.efa_ids = current_keys(conn, "efa_service")?;
    known.existing = annotations(conn)?;
    Ok(known)
}

fn current_keys(conn: &Connection, entity: &str) -> Result<HashSet<String>> {
    let mut stmt = conn
        .prepare("SELECT key FROM record_versions WHERE entity = ?1 AND valid_to IS NULL")
        .map_err(Error::db(format!("reading current {entity} keys")))?;
    let keys = stmt
        .query_map([entity], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(Error::db(format!("reading current {entity} keys")))?;
    Ok(keys)
}

/// Current Kürzel → ressort_id, in ressort_id order.
pub fn current_ressorts(conn: &Connection) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn
        .prepare(
            "SELECT n.kuerzel, n.ressort_id FROM ressort_names n JOIN ressorts r USING (ressort_id)
             WHERE n.valid_to IS NULL AND r.dissolved_on IS NULL ORDER BY n.ressort_id",
        )
        .map_err(Error::db("reading Ressorts"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(Error::db("reading Ressorts"))?;
    Ok(rows)
}

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

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Data rows in the sheet.
    pub rows: usize,
    /// Rows whose annotation changed.
    pub changed: usize,
    /// Valid rows that changed nothing.
    pub unchanged: usize,
    /// Rows refused (with at least one error).
    pub refused: usize,
    /// Valid rows not applied because other rows were refused (without `--partial`).
    pub not_applied: usize,
    /// Field changes written to the audit trail.
    pub audited_fields: usize,
    pub errors: Vec<RowError>,
}

impl ImportReport {
    /// The report of a validated sheet before anything is applied: the CSV
    /// reader's errors and the validation's, by line; a line refused by both
    /// counts once.
    pub(crate) fn of_sheet(
        rows: usize,
        read_errors: &[RowError],
        errors: Vec<RowError>,
        mut refused: Vec<u64>,
    ) -> ImportReport {
        let mut all = read_errors.to_vec();
        all.extend(errors);
        all.sort_by_key(|e| e.line);
        refused.extend(read_errors.iter().map(|e| e.line));
        refused.sort_unstable();
        refused.dedup();
        ImportReport {
            rows,
            refused: refused.len(),
            errors: all,
            ..ImportReport::default()
        }
    }
}

/// Validates `sheet` and applies it, all or nothing unless `partial`: then the valid
/// rows are applied and the refused ones reported.
pub fn import(
    conn: &mut Connection,
    sheet: &Sheet,
    by: &str,
    origin: &str,
    partial: bool,
) -> Result<ImportReport> {
    apply_sheet(
        conn,
        "annotation import",
        (sheet.rows.len(), &sheet.errors),
        partial,
        load_known,
        |known| validate(&sheet.rows, known),
        ValidRow::is_noop,
        |tx, row, known, now, report| write_row(tx, row, known, by, now, origin, report),
    )
}

/// The one way a coordinators' sheet is applied: in one `BEGIN IMMEDIATE`
/// transaction, knowledge is loaded (`load`), the sheet validated (`check`, pure)
/// and, unless a row was refused and not `partial`, every row that changes
/// something written (`write`, with the time stamp) and the exports marked due —
/// all committed together, so no other writer slips in between check and write
/// and a refused sheet leaves the database untouched. `sheet` is the number of
/// data rows and the CSV reader's own errors.
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply_sheet<K, R>(
    conn: &mut Connection,
    what: &str,
    sheet: (usize, &[RowError]),
    partial: bool,
    load: impl FnOnce(&Connection) -> Result<K>,
    check: impl FnOnce(&K) -> Validation<R>,
    is_noop: impl Fn(&R) -> bool,
    mut write: impl FnMut(&Connection, &R, &K, &str, &mut ImportReport) -> Result<()>,
) -> Result<ImportReport> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(Error::db(format!("starting {what}")))?;
    let known = load(&tx)?;
    let checked = check(&known);
    let mut report =
        ImportReport::of_sheet(sheet.0, sheet.1, checked.errors, checked.refused_lines);
    if !report.errors.is_empty() && !partial {
        report.not_applied = checked.valid.len();
        // dropping the transaction rolls back; nothing was written anyway
        return Ok(report);
    }
    let now = super::now_utc();
    for row in &checked.valid {
        if is_noop(row) {
            report.unchanged += 1;
            continue;
        }
        write(&tx, row, &known, &now, &mut report)?;
        report.changed += 1;
    }
    if report.changed > 0 {
        // A Nachnutzung sheet is the coordinators' annotation of an EfA service;
        // schema 0008's cause vocabulary has no word of its own for it.
        super::due::mark(&tx, super::due::Cause::Annotations)?;
    }
    tx.commit()
        .map_err(Error::db(format!("committing {what}")))?;
    Ok(report)
}

fn write_row(
    conn: &Connection,
    row: &ValidRow,
    known: &Known,
    by: &str,
    now: &str,
    origin: &str,
    report: &mut ImportReport,
) -> Result<()> {
    let key = &row.leistungsschluessel;
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
            now,
            by
        ])
    })
    .map_err(Error::db(format!(
        "writing annotation of {key} (line {})",
        row.line
    )))?;
    let changes = row
        .changes(known)
        .into_iter()
        .map(|(f, o, n)| (f.column(), o, n));
    report.audited_fields += write_audit(conn, Trail::ANNOTATIONS, key, changes, by, now, origin)?;
    Ok(())
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub changed_by: String,
    pub changed_at: String,
    pub origin: String,
}

/// The audit trail of `key`, oldest first.
pub fn audit(conn: &Connection, key: &str) -> Result<Vec<AuditRow>> {
    read_audit(conn, Trail::ANNOTATIONS, key)
}

/// An audit table and its key column (both constants, never user input).
pub(crate) struct Trail {
    pub table: &'static str,
    pub key: &'static str,
}

impl Trail {
    pub const ANNOTATIONS: Trail = Trail {
        table: "annotation_audit",
        key: "leistungsschluessel",
    };
}

/// Writes one audit row per changed field (column name, old, new); returns how many.
pub(crate) fn write_audit(
    conn: &Connection,
    trail: Trail,
    key: &str,
    changes: impl Iterator<Item = (&'static str, Option<String>, Option<String>)>,
    by: &str,
    now: &str,
    origin: &str,
) -> Result<usize> {
    let mut n = 0;
    for (field, old, new) in changes {
        conn.prepare_cached(&format!(
            "INSERT INTO {} ({}, field, old_value, new_value, changed_by, changed_at, origin)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            trail.table, trail.key
        ))
        .and_then(|mut s| s.execute(params![key, field, old, new, by, now, origin]))
        .map_err(Error::db(format!("auditing {key} in {}", trail.table)))?;
        n += 1;
    }
    Ok(n)
}

/// The audit trail of `key` in `trail`, oldest first.
pub(crate) fn read_audit(conn: &Connection, trail: Trail, key: &str) -> Result<Vec<AuditRow>> {
    let context = || format!("reading audit trail of {key}");
    let mut stmt = conn
        .prepare(&format!(
            "SELECT field, old_value, new_value, changed_by, changed_at, origin
             FROM {} WHERE {} = ?1 ORDER BY audit_id",
            trail.table, trail.key
        ))
        .map_err(Error::db(context()))?;
    let rows = stmt
        .query_map([key], |r| {
            Ok(AuditRow {
                field: r.get(0)?,
                old_value: r.get(1)?,
                new_value: r.get(2)?,
                changed_by: r.get(3)?,
                changed_at: r.get(4)?,
                origin: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(Error::db(context()))?;
    Ok(rows)
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
    let mut efa_ids: Vec<String> = current_keys(conn, "efa_service")?.into_iter().collect();
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
    let known = load_known(conn)?;
    let mut stmt = conn
        .prepare(
            "SELECT key, coalesce(json_extract(data, '$.bezeichnung'), '') FROM record_versions
             WHERE entity = 'service' AND valid_to IS NULL ORDER BY key",
        )
        .map_err(Error::db("reading current services"))?;
    let services = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(Error::db("reading current services"))?;
    Ok(services
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
