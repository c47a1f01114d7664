//! Exports due, as durable state (schema 0008): every write that changes what the
//! exports show appends a `data_changes` row inside its own transaction ([`mark`]),
//! and each export remembers the newest change it had seen when it last succeeded
//! ([`published`]). Whether an export is due is therefore a question to the
//! database ([`due_change`]), not to the memory of the process that committed the
//! change: a kill between a release's commit and its exports, or a failed export,
//! leaves the export due until a run of it succeeds. Which changes concern which
//! export (the config's `after`) is the caller's filter.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};

/// What changed the exported data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause<'a> {
    /// An applied release of a source (not an unchanged one).
    Release { source: &'a str, release_id: i64 },
    /// A batch of status events (`status import`, `status set`).
    Status,
    /// An annotation import that changed at least one field.
    Annotations,
    /// A Ressort rename.
    Ressort,
}

impl Cause<'_> {
    fn as_str(self) -> &'static str {
        match self {
            Cause::Release { .. } => "release",
            Cause::Status => "status",
            Cause::Annotations => "annotations",
            Cause::Ressort => "ressort",
        }
    }
}

/// One recorded change: the newest one that makes an export due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub generation: i64,
    /// `release`, `status`, `annotations` or `ressort`.
    pub cause: String,
    /// The source of a release; `None` for the coordinators' writes.
    pub source: Option<String>,
    pub release_id: Option<i64>,
}

/// Records that `cause` changed the exported data. Call it inside the transaction
/// that makes the change, so the change and its "exports due" commit together.
pub fn mark(tx: &Connection, cause: Cause<'_>) -> Result<()> {
    let (source, release_id) = match cause {
        Cause::Release { source, release_id } => (Some(source), Some(release_id)),
        _ => (None, None),
    };
    tx.execute(
        "INSERT INTO data_changes (cause, source, release_id, changed_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![cause.as_str(), source, release_id, super::now_utc()],
    )
    .map_err(Error::db("recording that the exports are due"))?;
    Ok(())
}

/// The newest change's generation (0 before any): what a run that starts now will
/// have published when it succeeds.
pub fn newest(conn: &Connection) -> Result<i64> {
    conn.query_row(
        "SELECT coalesce(max(generation), 0) FROM data_changes",
        [],
        |r| r.get(0),
    )
    .map_err(Error::db("reading the newest data change"))
}

/// The newest change after `export`'s last successful run that `concerns` it
/// (called with the change's source, `None` for coordinators' writes); `None` when
/// the export is not due.
pub fn due_change(
    conn: &Connection,
    export: &str,
    concerns: &dyn Fn(Option<&str>) -> bool,
) -> Result<Option<Change>> {
    let context = || format!("reading whether export {export} is due");
    let published: i64 = conn
        .query_row(
            "SELECT generation FROM exports_published WHERE export = ?1",
            [export],
            |r| r.get(0),
        )
        .optional()
        .map_err(Error::db(context()))?
        .unwrap_or(0);
    let mut stmt = conn
        .prepare_cached(
            "SELECT generation, cause, source, release_id FROM data_changes
             WHERE generation > ?1 ORDER BY generation DESC",
        )
        .map_err(Error::db(context()))?;
    let mut rows = stmt.query([published]).map_err(Error::db(context()))?;
    while let Some(row) = rows.next().map_err(Error::db(context()))? {
        let change = Change {
            generation: row.get(0).map_err(Error::db(context()))?,
            cause: row.get(1).map_err(Error::db(context()))?,
            source: row.get(2).map_err(Error::db(context()))?,
            release_id: row.get(3).map_err(Error::db(context()))?,
        };
        if concerns(change.source.as_deref()) {
            return Ok(Some(change));
        }
    }
    Ok(None)
}

/// Records that a run of `export` that started when `generation` was the newest
/// change succeeded. Never moves backwards, so a slow older run cannot undo a
/// newer one's record.
pub fn published(conn: &Connection, export: &str, generation: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO exports_published (export, generation, published_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (export) DO UPDATE SET
             generation = max(generation, excluded.generation),
             published_at = excluded.published_at",
        params![export, generation, super::now_utc()],
    )
    .map_err(Error::db(format!(
        "recording that export {export} succeeded"
    )))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_is_due_until_it_publishes_a_change_that_concerns_it() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(&dir.path().join("t.db")).unwrap();
        let only_ozg_map = |source: Option<&str>| source.is_none_or(|s| s == "ozg-map");
        assert_eq!(due_change(&conn, "report", &only_ozg_map).unwrap(), None);
        assert_eq!(newest(&conn).unwrap(), 0);

        conn.execute_batch(
            "INSERT INTO sources (name, kind, location, updated_at)
                 VALUES ('leika', 'leika', 'x', 't');
             INSERT INTO releases (source, kind, entity, mode, location, fetched_at, status)
                 VALUES ('leika', 'leika', 'service', 'full', 'x', 't', 'applied');",
        )
        .unwrap();
        mark(
            &conn,
            Cause::Release {
                source: "leika",
                release_id: 1,
            },
        )
        .unwrap();
        // A LeiKa release does not concern an export that runs after ozg-map only.
        assert_eq!(due_change(&conn, "report", &only_ozg_map).unwrap(), None);
        let any = |_: Option<&str>| true;
        let due = due_change(&conn, "dashboards", &any).unwrap().unwrap();
        assert_eq!(
            (due.cause.as_str(), due.source.as_deref(), due.release_id),
            ("release", Some("leika"), Some(1))
        );

        // Coordinators' writes concern every export.
        mark(&conn, Cause::Status).unwrap();
        let due = due_change(&conn, "report", &only_ozg_map).unwrap().unwrap();
        assert_eq!((due.generation, due.cause.as_str()), (2, "status"));

        published(&conn, "report", newest(&conn).unwrap()).unwrap();
        assert_eq!(due_change(&conn, "report", &only_ozg_map).unwrap(), None);
        // An older run finishing late does not make it due again ...
        published(&conn, "report", 1).unwrap();
        assert_eq!(due_change(&conn, "report", &only_ozg_map).unwrap(), None);
        // ... and another export's success is its own.
        assert!(due_change(&conn, "dashboards", &any).unwrap().is_some());
        mark(&conn, Cause::Annotations).unwrap();
        assert_eq!(
            due_change(&conn, "report", &only_ozg_map)
                .unwrap()
                .map(|c| c.cause),
            Some("annotations".to_owned())
        );
    }
}
