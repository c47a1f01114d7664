//! The coordinators' sheets in the database, whatever their kind (annotations,
//! EfA-Nachnutzung): applying a validated sheet with one audit row per changed
//! field, the audit trails, and the reads every kind's knowledge is made of.
//!
//! An import is one transaction: knowledge is loaded, the sheet validated (pure,
//! `crate::annotations::sheet::validate`) and the valid rows written inside it, so
//! no other writer can slip in between check and write, and a refused sheet
//! leaves the database untouched.

use std::collections::HashSet;

use rusqlite::{params, Connection, TransactionBehavior};
use serde::Serialize;

use crate::annotations::csv::Sheet;
use crate::annotations::sheet::{validate, SheetField, SheetKind, ValidRow};
use crate::annotations::RowError;
use crate::error::{Error, Result};

/// A kind of sheet as the database keeps it.
pub(crate) trait StoredSheet: SheetKind {
    /// What an import is called in error messages ("annotation import").
    const IMPORT: &'static str;
    /// Its audit trail.
    const TRAIL: Trail;
    /// Loads what a sheet of this kind is validated against.
    fn load_known(conn: &Connection) -> Result<Self::Known>;
    /// Writes the state a valid row leads to (the audit is written apart).
    fn write(conn: &Connection, row: &ValidRow<Self>, stamp: &Stamp<'_>) -> Result<()>;
}

/// Who wrote, when and from where: what every written row and audit row carries.
pub(crate) struct Stamp<'a> {
    pub by: &'a str,
    /// UTC, RFC 3339.
    pub now: &'a str,
    /// The file or command the change came from.
    pub origin: &'a str,
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
    fn of_sheet(
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

/// The one way a coordinators' sheet is applied: in one `BEGIN IMMEDIATE`
/// transaction, knowledge is loaded, the sheet validated (pure) and, unless a row
/// was refused and not `partial`, every row that changes something written with
/// its audit and the exports marked due — all committed together, so no other
/// writer slips in between check and write and a refused sheet leaves the
/// database untouched. With `partial` the valid rows are applied and the refused
/// ones reported.
pub(crate) fn import<S: StoredSheet>(
    conn: &mut Connection,
    sheet: &Sheet<S::Field>,
    by: &str,
    origin: &str,
    partial: bool,
) -> Result<ImportReport> {
    let what = S::IMPORT;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(Error::db(format!("starting {what}")))?;
    let known = S::load_known(&tx)?;
    let checked = validate::<S>(&sheet.rows, &known);
    let mut report = ImportReport::of_sheet(
        sheet.rows.len(),
        &sheet.errors,
        checked.errors,
        checked.refused_lines,
    );
    if !report.errors.is_empty() && !partial {
        report.not_applied = checked.valid.len();
        // dropping the transaction rolls back; nothing was written anyway
        return Ok(report);
    }
    let now = super::now_utc();
    let stamp = Stamp {
        by,
        now: &now,
        origin,
    };
    for row in &checked.valid {
        if row.is_noop() {
            report.unchanged += 1;
            continue;
        }
        S::write(&tx, row, &stamp)?;
        let changes = row
            .changes(&known)
            .into_iter()
            .map(|(f, o, n)| (f.column(), o, n));
        report.audited_fields += write_audit(&tx, &S::TRAIL, &row.key, changes, &stamp)?;
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

/// An audit table and its key column (both constants, never user input).
pub(crate) struct Trail {
    pub table: &'static str,
    pub key: &'static str,
}

/// One audited change of one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub changed_by: String,
    pub changed_at: String,
    pub origin: String,
}

/// Writes one audit row per changed field (column name, old, new); returns how many.
fn write_audit(
    conn: &Connection,
    trail: &Trail,
    key: &str,
    changes: impl Iterator<Item = (&'static str, Option<String>, Option<String>)>,
    stamp: &Stamp<'_>,
) -> Result<usize> {
    let mut n = 0;
    for (field, old, new) in changes {
        conn.prepare_cached(&format!(
            "INSERT INTO {} ({}, field, old_value, new_value, changed_by, changed_at, origin)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            trail.table, trail.key
        ))
        .and_then(|mut s| {
            s.execute(params![
                key,
                field,
                old,
                new,
                stamp.by,
                stamp.now,
                stamp.origin
            ])
        })
        .map_err(Error::db(format!("auditing {key} in {}", trail.table)))?;
        n += 1;
    }
    Ok(n)
}

/// The audit trail of `key` in `trail`, oldest first.
pub(crate) fn read_audit(conn: &Connection, trail: &Trail, key: &str) -> Result<Vec<AuditRow>> {
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

/// Every key ever stored of catalogue `entity`, as (current, retired).
pub(crate) fn keys_by_currency(
    conn: &Connection,
    entity: &str,
) -> Result<(HashSet<String>, HashSet<String>)> {
    let context = || format!("reading {entity} keys");
    let mut stmt = conn
        .prepare(
            "SELECT key, max(valid_to IS NULL) FROM record_versions
             WHERE entity = ?1 GROUP BY key",
        )
        .map_err(Error::db(context()))?;
    let rows = stmt
        .query_map([entity], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(Error::db(context()))?;
    let (mut current, mut retired) = (HashSet::new(), HashSet::new());
    for (key, is_current) in rows {
        if is_current {
            current.insert(key);
        } else {
            retired.insert(key);
        }
    }
    Ok((current, retired))
}

/// The current records of catalogue `entity` as (key, the text of JSON field
/// `name_field` or ""), in key order: the template's key and name columns.
pub(crate) fn current_names(
    conn: &Connection,
    entity: &str,
    name_field: &str,
) -> Result<Vec<(String, String)>> {
    let context = || format!("reading current {entity} records");
    let mut stmt = conn
        .prepare(
            "SELECT key, coalesce(json_extract(data, '$.' || ?2), '') FROM record_versions
             WHERE entity = ?1 AND valid_to IS NULL ORDER BY key",
        )
        .map_err(Error::db(context()))?;
    let rows = stmt
        .query_map([entity, name_field], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(Error::db(context()))?;
    Ok(rows)
}
