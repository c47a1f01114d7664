//! Ressorts (Lower Saxony's ministries) as data: listing their names over time and
//! renaming one. A rename closes the current name and opens a new one under the
//! same `ressort_id`, so annotations and status events, which point at the id,
//! follow the Ressort through every rename.

use chrono::NaiveDate;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::error::{Error, Result};

/// One name of a Ressort, valid from `valid_from` up to (excluding) `valid_to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RessortName {
    pub ressort_id: i64,
    pub kuerzel: String,
    pub name: String,
    pub valid_from: String,
    pub valid_to: Option<String>,
    pub dissolved_on: Option<String>,
}

/// Current names (or, with `history`, every name), by Ressort and date.
pub fn list(conn: &Connection, history: bool) -> Result<Vec<RessortName>> {
    let mut stmt = conn
        .prepare(
            "SELECT n.ressort_id, n.kuerzel, n.name, n.valid_from, n.valid_to, r.dissolved_on
             FROM ressort_names n JOIN ressorts r USING (ressort_id)
             WHERE ?1 OR n.valid_to IS NULL
             ORDER BY n.ressort_id, n.valid_from",
        )
        .map_err(Error::db("listing Ressorts"))?;
    let rows = stmt
        .query_map([history], |r| {
            Ok(RessortName {
                ressort_id: r.get(0)?,
                kuerzel: r.get(1)?,
                name: r.get(2)?,
                valid_from: r.get(3)?,
                valid_to: r.get(4)?,
                dissolved_on: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(Error::db("listing Ressorts"))?;
    Ok(rows)
}

/// Renames the Ressort currently called `kuerzel` from date `from` on. `new_kuerzel`
/// and `new_name` default to the current ones; at least one must differ.
pub fn rename(
    conn: &mut Connection,
    kuerzel: &str,
    new_kuerzel: Option<&str>,
    new_name: Option<&str>,
    from: NaiveDate,
) -> Result<RessortName> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(Error::db("starting Ressort rename"))?;
    let current: Option<(i64, String, String, String)> = tx
        .query_row(
            "SELECT ressort_id, kuerzel, name, valid_from FROM ressort_names
             WHERE valid_to IS NULL AND kuerzel = ?1 COLLATE NOCASE",
            [kuerzel],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(Error::db(format!("looking up Ressort {kuerzel}")))?;
    let Some((id, old_kuerzel, old_name, old_from)) = current else {
        let known: Vec<String> = list(&tx, false)?.into_iter().map(|r| r.kuerzel).collect();
        return Err(Error::NotFound(format!(
            "no current Ressort {kuerzel:?}; known: {}",
            known.join(", ")
        )));
    };
    let new_kuerzel = new_kuerzel
        .map(str::trim)
        .unwrap_or(&old_kuerzel)
        .to_owned();
    let new_name = new_name.map(str::trim).unwrap_or(&old_name).to_owned();
    if new_kuerzel.is_empty() || new_name.is_empty() {
        return Err(Error::Invalid("Kürzel and name must not be empty".into()));
    }
    if new_kuerzel == old_kuerzel && new_name == old_name {
        return Err(Error::Invalid(format!(
            "{old_kuerzel} is already called {old_name:?}; give --kuerzel or --name"
        )));
    }
    let from_text = from.format("%Y-%m-%d").to_string();
    if from_text <= old_from {
        return Err(Error::Invalid(format!(
            "--from {from_text} must be after {old_from}, when the current name of {old_kuerzel} took effect"
        )));
    }
    let taken: Option<i64> = tx
        .query_row(
            "SELECT ressort_id FROM ressort_names
             WHERE valid_to IS NULL AND kuerzel = ?1 COLLATE NOCASE AND ressort_id <> ?2",
            params![new_kuerzel, id],
            |r| r.get(0),
        )
        .optional()
        .map_err(Error::db("checking the new Kürzel"))?;
    if taken.is_some() {
        return Err(Error::Invalid(format!(
            "Kürzel {new_kuerzel} is in use by another current Ressort"
        )));
    }
    tx.execute(
        "UPDATE ressort_names SET valid_to = ?2 WHERE ressort_id = ?1 AND valid_to IS NULL",
        params![id, from_text],
    )
    .map_err(Error::db(format!("closing the name of {old_kuerzel}")))?;
    tx.execute(
        "INSERT INTO ressort_names (ressort_id, kuerzel, name, valid_from) VALUES (?1, ?2, ?3, ?4)",
        params![id, new_kuerzel, new_name, from_text],
    )
    .map_err(Error::db(format!("naming Ressort {new_kuerzel}")))?;
    super::due::mark(&tx, super::due::Cause::Ressort)?;
    tx.commit()
        .map_err(Error::db("committing Ressort rename"))?;
    Ok(RessortName {
        ressort_id: id,
        kuerzel: new_kuerzel,
        name: new_name,
        valid_from: from_text,
        valid_to: None,
        dissolved_on: None,
    })
}
