//! Ressorts (Lower Saxony's ministries) as data: listing their names over time and
//! renaming one. A rename closes the current name and opens a new one under the
//! same `ressort_id`, so annotations and status events, which point at the id,
//! follow the Ressort through every rename.
//!
//! A rename dated after today is only planned (table `ressort_renames_planned`):
//! until its date every reader keeps using the name in effect, and [`apply_due`]
//! carries it out on the first read-write open on or after that date.

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
    /// A rename dated after today, not yet in effect.
    pub planned: bool,
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
                planned: false,
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(Error::db("listing Ressorts"))?;
    let mut rows = rows;
    rows.extend(planned(conn)?);
    rows.sort_by(|a, b| (a.ressort_id, &a.valid_from).cmp(&(b.ressort_id, &b.valid_from)));
    Ok(rows)
}

/// Renames planned for a later date and not yet carried out.
pub fn planned(conn: &Connection) -> Result<Vec<RessortName>> {
    let mut stmt = conn
        .prepare(
            "SELECT ressort_id, kuerzel, name, valid_from FROM ressort_renames_planned
             WHERE applied_at IS NULL ORDER BY ressort_id, valid_from",
        )
        .map_err(Error::db("listing planned Ressort renames"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(RessortName {
                ressort_id: r.get(0)?,
                kuerzel: r.get(1)?,
                name: r.get(2)?,
                valid_from: r.get(3)?,
                valid_to: None,
                dissolved_on: None,
                planned: true,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(Error::db("listing planned Ressort renames"))?;
    Ok(rows)
}

/// Carries out the planned renames whose date is `today` or earlier, each in its own
/// savepoint. One that can no longer be done (its Kürzel was taken meanwhile) is
/// left planned with a warning rather than making the database unusable.
pub fn apply_due(conn: &mut Connection, today: NaiveDate) -> Result<usize> {
    let due: Vec<RessortName> = planned(conn)?
        .into_iter()
        .filter(|p| p.valid_from <= today.format("%Y-%m-%d").to_string())
        .collect();
    let mut applied = 0;
    for plan in due {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::db("starting a planned Ressort rename"))?;
        let done = close_and_open(
            &tx,
            plan.ressort_id,
            &plan.kuerzel,
            &plan.name,
            &plan.valid_from,
        )
        .and_then(|()| {
            tx.execute(
                "UPDATE ressort_renames_planned SET applied_at = ?3
                     WHERE ressort_id = ?1 AND valid_from = ?2",
                params![plan.ressort_id, plan.valid_from, super::now_utc()],
            )
            .map_err(Error::db("recording a planned Ressort rename"))
        });
        match done {
            Ok(_) => {
                tx.commit()
                    .map_err(Error::db("committing a planned Ressort rename"))?;
                tracing::info!(ressort = plan.ressort_id, kuerzel = %plan.kuerzel, from = %plan.valid_from, "planned Ressort rename took effect");
                applied += 1;
            }
            Err(e) => {
                drop(tx);
                tracing::warn!(ressort = plan.ressort_id, kuerzel = %plan.kuerzel, from = %plan.valid_from, "planned Ressort rename cannot take effect, left planned: {e}");
            }
        }
    }
    Ok(applied)
}

/// Closes the current name of Ressort `id` at `from` and opens the new one.
fn close_and_open(conn: &Connection, id: i64, kuerzel: &str, name: &str, from: &str) -> Result<()> {
    conn.execute(
        "UPDATE ressort_names SET valid_to = ?2 WHERE ressort_id = ?1 AND valid_to IS NULL",
        params![id, from],
    )
    .map_err(Error::db(format!(
        "closing the current name of Ressort {id}"
    )))?;
    conn.execute(
        "INSERT INTO ressort_names (ressort_id, kuerzel, name, valid_from) VALUES (?1, ?2, ?3, ?4)",
        params![id, kuerzel, name, from],
    )
    .map_err(Error::db(format!("naming Ressort {kuerzel}")))?;
    // The exports show Ressort names: a rename in effect makes them due.
    super::due::mark(conn, super::due::Cause::Ressort)
}

/// Renames the Ressort currently called `kuerzel` from date `from` on. `new_kuerzel`
/// and `new_name` default to the current ones; at least one must differ. A date after
/// today only plans the rename (see the module comment).
pub fn rename(
    conn: &mut Connection,
    kuerzel: &str,
    new_kuerzel: Option<&str>,
    new_name: Option<&str>,
    from: NaiveDate,
) -> Result<RessortName> {
    rename_on(
        conn,
        kuerzel,
        new_kuerzel,
        new_name,
        from,
        crate::model::date::today(),
    )
}

/// [`rename`] with today's date given.
pub fn rename_on(
    conn: &mut Connection,
    kuerzel: &str,
    new_kuerzel: Option<&str>,
    new_name: Option<&str>,
    from: NaiveDate,
    today: NaiveDate,
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
    let pending: Option<(String, String)> = tx
        .query_row(
            "SELECT kuerzel, valid_from FROM ressort_renames_planned
             WHERE applied_at IS NULL AND (ressort_id = ?1 OR kuerzel = ?2 COLLATE NOCASE)",
            params![id, new_kuerzel],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(Error::db("checking planned renames"))?;
    if let Some((k, date)) = pending {
        return Err(Error::Invalid(format!(
            "a rename to {k} from {date} is already planned (for this Ressort or this Kürzel); `ozgsync ressort list` shows it"
        )));
    }
    let planned = from > today;
    if planned {
        tx.execute(
            "INSERT INTO ressort_renames_planned (ressort_id, kuerzel, name, valid_from, planned_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, new_kuerzel, new_name, from_text, super::now_utc()],
        )
        .map_err(Error::db(format!("planning the rename of {old_kuerzel}")))?;
    } else {
        close_and_open(&tx, id, &new_kuerzel, &new_name, &from_text)?;
    }
    tx.commit()
        .map_err(Error::db("committing Ressort rename"))?;
    Ok(RessortName {
        ressort_id: id,
        kuerzel: new_kuerzel,
        name: new_name,
        valid_from: from_text,
        valid_to: None,
        dissolved_on: None,
        planned,
    })
}
