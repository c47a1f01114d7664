//! Full-text search over current service names, synonyms and EfA service names
//! (FTS5 table `search_fts`, schema 0005, contentless since 0014, its rowid the
//! current version's `version_id` since 0016). The index is
//! written inside each release's transaction by the release itself, from the
//! versions it wrote and closed (a [`Batch`] filled by `store::release`), so
//! `search` only reads: a reader never writes, and never
//! holds a write transaction that makes an import wait. The index
//! holds each name twice: folded by [`crate::model::fold`] (SQL function `fold`),
//! which the user's words are folded the same way to match (`Goettingen`,
//! `GÖTTINGEN`), and as written, which the tokenizer strips of diacritics, with ß as
//! ss (so `Strassenbehorde` without the umlaut still finds "Straßenbehörde"); hits
//! show the names as stored, never the folded text. A query that is a key (a
//! Leistungsschlüssel, an EfA-ID) finds that record first.

use rusqlite::{params, Connection};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::Entity;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// `service` or `efa_service`.
    pub entity: String,
    pub key: String,
    pub name: String,
    pub synonyms: Option<String>,
}

/// Entities whose current names are searchable.
pub fn is_searchable(entity: Entity) -> bool {
    matches!(entity, Entity::Service | Entity::EfaService)
}

/// Brings the index up to date in its own transaction (see [`index_pending`]).
/// Returns how many releases were caught up.
pub fn refresh(conn: &mut Connection) -> Result<usize> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(Error::db("starting search index refresh"))?;
    let indexed = index_pending(&tx)?;
    tx.commit()
        .map_err(Error::db("committing search index refresh"))?;
    Ok(indexed)
}

/// Catches the index up with applied releases it does not cover, within the
/// caller's (write) transaction. Releases index what they write themselves
/// (a [`Batch`], then [`mark_indexed`]), so this finds work only in a
/// database whose index was left behind (written by an ozgsync that indexed
/// lazily, or emptied by hand); it then rebuilds the index from the current
/// versions, which is always right, whatever state the index was in. Returns how
/// many releases were pending.
pub fn index_pending(conn: &Connection) -> Result<usize> {
    let pending = pending_releases(conn)?;
    let Some(&(last, _)) = pending.last() else {
        return Ok(0);
    };
    rebuild(conn)?;
    mark_indexed(conn, last)?;
    Ok(pending.len())
}

/// Records that the index covers every release up to `release_id`.
pub fn mark_indexed(conn: &Connection, release_id: i64) -> Result<()> {
    conn.prepare_cached("UPDATE search_state SET indexed_release = ?1 WHERE id = 1")
        .and_then(|mut s| s.execute([release_id]))
        .map_err(Error::db("recording search index state"))?;
    Ok(())
}

/// The applied releases the index does not cover yet (id and entity), oldest first.
pub fn pending_releases(conn: &Connection) -> Result<Vec<(i64, String)>> {
    conn.prepare(
        "SELECT release_id, entity FROM releases
         WHERE release_id > (SELECT indexed_release FROM search_state WHERE id = 1)
           AND status = 'applied' ORDER BY release_id",
    )
    .and_then(|mut s| {
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()
    })
    .map_err(Error::db("listing releases not yet in the search index"))
}

/// Empties the index and indexes every current version of the searchable entities.
fn rebuild(conn: &Connection) -> Result<()> {
    conn.execute(
        "INSERT INTO search_fts (search_fts) VALUES ('delete-all')",
        [],
    )
    .map_err(Error::db("emptying the search index"))?;
    let mut stmt = conn
        .prepare(
            "SELECT entity, version_id, key, data FROM record_versions
             WHERE entity IN ('service', 'efa_service') AND valid_to IS NULL",
        )
        .map_err(Error::db("reading current versions for the search index"))?;
    let mut rows = stmt
        .query([])
        .map_err(Error::db("reading current versions for the search index"))?;
    let mut batches: std::collections::BTreeMap<&str, Batch> = Default::default();
    while let Some(row) = rows
        .next()
        .map_err(Error::db("reading current versions for the search index"))?
    {
        let (entity, version_id, key, data): (String, i64, String, String) = (
            row.get(0).map_err(Error::db("reading a current version"))?,
            row.get(1).map_err(Error::db("reading a current version"))?,
            row.get(2).map_err(Error::db("reading a current version"))?,
            row.get(3).map_err(Error::db("reading a current version"))?,
        );
        let Some(entity) = Entity::parse(&entity) else {
            continue;
        };
        let batch = batches
            .entry(entity.as_str())
            .or_insert_with(|| Batch::new(entity));
        batch.add(version_id, &stored_data(&key, &data)?);
        if batch.is_full() {
            batch.write(conn)?;
        }
    }
    drop(rows);
    for batch in batches.values_mut() {
        batch.write(conn)?;
    }
    Ok(())
}

/// The stored JSON of a version, parsed.
pub(crate) fn stored_data(key: &str, data: &str) -> Result<serde_json::Value> {
    serde_json::from_str(data)
        .map_err(|e| Error::Invalid(format!("stored record {key} is not JSON: {e}")))
}

/// The fields [`document`] reads, and all it reads: `prepare::Preparer` takes only
/// these as JSON values from a record.
pub const DOCUMENT_FIELDS: [&str; 4] = ["bezeichnung", "name", "bezeichnung2", "synonyme"];

/// The text a version is indexed with: its name (`bezeichnung`, else `name`, then
/// `bezeichnung2`) and its synonyms joined by ` | `, each once folded by
/// [`crate::model::fold`] and once as written with ß as ss. The index is
/// contentless, so removing a document needs exactly the text it was added with:
/// this one function derives it for every [`Batch`] and migration 0014 (SQL
/// function `search_text`). Changing it needs a migration that rebuilds the index.
pub fn document(data: &serde_json::Value) -> (String, Option<String>) {
    let [bezeichnung, name_field, bezeichnung2, synonyme] = DOCUMENT_FIELDS;
    let text = |field: &str| data.get(field).and_then(serde_json::Value::as_str);
    let mut name = text(bezeichnung)
        .or_else(|| text(name_field))
        .unwrap_or_default()
        .to_owned();
    if let Some(second) = text(bezeichnung2) {
        name.push(' ');
        name.push_str(second);
    }
    let synonyms = data
        .get(synonyme)
        .and_then(serde_json::Value::as_array)
        .filter(|list| !list.is_empty())
        .map(|list| {
            list.iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" | ")
        });
    let both = |t: &str| {
        // Room for both copies at once (the folded one grows by ae/oe/ue/ss).
        let mut out = String::with_capacity(2 * t.len() + 16);
        crate::model::fold_into(&mut out, t);
        out.push(' ');
        if t.contains(['ß', 'ẞ']) {
            out.push_str(&t.replace('ß', "ss").replace('ẞ', "SS"));
        } else {
            out.push_str(t);
        }
        out
    };
    (both(&name), synonyms.as_deref().map(both))
}

/// The index changes of one release, collected and written a few thousand at a
/// time ([`Batch::write`] when [`Batch::is_full`], and at the end). A document's
/// rowid is the `version_id` of the version it was made from (schema 0016): the
/// index holds exactly the current versions of the searchable entities.
///
/// Collected, not written row by row: any statement that opens a statement journal
/// (an upsert, `RETURNING`, a foreign key check) while FTS5 holds pending terms
/// makes FTS5 flush them to a new segment, and flushing after every record turned
/// a 100k-row import's index into thousands of tiny segments to merge (measured:
/// 1.4× the CPU of the whole import before). A chunk of [`Batch::CHUNK`] documents
/// is about what FTS5 holds in memory before it flushes by itself, so chunks cost
/// no more segments than one batch would, and memory stays bounded.
pub struct Batch {
    entity: Entity,
    /// Documents of closed versions: version id, and the text they were indexed with.
    removals: Vec<Document>,
    /// Documents of new current versions: version id and text.
    additions: Vec<Document>,
}

/// A document of the index: the version id (its rowid) and its text, name and
/// synonyms ([`document`]).
pub type Document = (i64, String, Option<String>);

impl Batch {
    /// Documents collected before they are written.
    pub const CHUNK: usize = 4096;

    pub fn new(entity: Entity) -> Batch {
        Batch {
            entity,
            removals: Vec::new(),
            additions: Vec::new(),
        }
    }

    /// Version `version_id`, with the fields `data`, is a new current version.
    pub fn add(&mut self, version_id: i64, data: &serde_json::Value) {
        if is_searchable(self.entity) {
            let (name, synonyms) = document(data);
            self.additions.push((version_id, name, synonyms));
        }
    }

    /// Version `version_id`, whose [`document`] is `document`, is a new current
    /// version.
    pub fn add_document(&mut self, version_id: i64, document: (String, Option<String>)) {
        if is_searchable(self.entity) {
            let (name, synonyms) = document;
            self.additions.push((version_id, name, synonyms));
        }
    }

    /// The current version `version_id`, with the fields `data`, was closed.
    pub fn remove(&mut self, version_id: i64, data: &serde_json::Value) {
        if is_searchable(self.entity) {
            let (name, synonyms) = document(data);
            self.removals.push((version_id, name, synonyms));
        }
    }

    /// Whether a chunk is collected and should be written.
    pub fn is_full(&self) -> bool {
        self.removals.len() + self.additions.len() >= Self::CHUNK
    }

    /// Writes and forgets the collected changes: removals first (a version's
    /// document is only ever removed after it was added, in an earlier release or
    /// an earlier chunk: a release closes only versions it did not write).
    pub fn write(&mut self, conn: &Connection) -> Result<()> {
        self.write_returning(conn, &mut Vec::new())
    }

    /// [`Batch::write`] that moves the documents it added into `written` instead of
    /// freeing them (see `release::Spent`).
    pub fn write_returning(
        &mut self,
        conn: &Connection,
        written: &mut Vec<Document>,
    ) -> Result<()> {
        let mut fts_delete = conn
            .prepare_cached(
                "INSERT INTO search_fts (search_fts, rowid, name, synonyms)
                 VALUES ('delete', ?1, ?2, ?3)",
            )
            .map_err(Error::db("preparing the search index"))?;
        for (id, name, synonyms) in &self.removals {
            fts_delete
                .execute(params![id, name, synonyms])
                .map_err(|e| {
                    Error::db(format!("removing version {id} from the search index"))(e)
                })?;
        }
        let mut fts_insert = conn
            .prepare_cached("INSERT INTO search_fts (rowid, name, synonyms) VALUES (?1, ?2, ?3)")
            .map_err(Error::db("preparing the search index"))?;
        for (id, name, synonyms) in &self.additions {
            fts_insert
                .execute(params![id, name, synonyms])
                .map_err(|e| Error::db(format!("indexing version {id} for search"))(e))?;
        }
        self.removals.clear();
        written.append(&mut self.additions);
        Ok(())
    }
}

/// Turns free text into an FTS5 query: folded as indexed, every word a quoted prefix
/// term, all words required. Returns None when there is no word.
///
/// Combining marks are dropped, not taken as word breaks: the index's tokenizer
/// (`unicode61 remove_diacritics 2`) drops them from the names too, and as breaks
/// they cut a word in two — the Turkish `İ` lower-cases to `i` + U+0307, so
/// `EİNBÜRGERUNG` (Turkish keyboard, caps lock) became `ei` and `nbuergerung`, and
/// a decomposed `É` (`E` + U+0301, as macOS writes it) made `Étienne` `e` and `tienne`.
pub fn fts_query(text: &str) -> Option<String> {
    let folded = crate::model::fold_typed(text);
    let terms: Vec<String> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// The stored name and synonyms of a search document's current version.
const SHOWN: &str =
    "coalesce(json_extract(v.data, '$.bezeichnung'), json_extract(v.data, '$.name'), ''),
     (SELECT group_concat(value, ' | ') FROM json_each(v.data, '$.synonyme'))";

/// The best `limit` matches for `text`, best first: a current record whose key is
/// `text` (Leistungsschlüssel, EfA-ID; case ignored), then name and synonym matches.
pub fn search(conn: &Connection, text: &str, limit: u32) -> Result<Vec<Hit>> {
    let Some(query) = fts_query(text) else {
        return Err(Error::Invalid(format!(
            "nothing to search for in {text:?}; give at least one word"
        )));
    };
    let by_key = format!(
        "SELECT v.entity, v.key, {SHOWN}
         FROM record_versions v
         WHERE v.entity IN ('service', 'efa_service') AND v.valid_to IS NULL
           AND v.key = ?1 COLLATE NOCASE
         ORDER BY v.entity LIMIT ?2"
    );
    let mut hits = collect_hits(conn, &by_key, params![text.trim(), limit], text)?;
    let by_name = format!(
        "SELECT v.entity, v.key, {SHOWN}
         FROM search_fts f JOIN record_versions v ON v.version_id = f.rowid
         WHERE search_fts MATCH ?1 AND v.valid_to IS NULL
         ORDER BY bm25(search_fts, 10.0, 1.0), v.key
         LIMIT ?2"
    );
    for hit in collect_hits(conn, &by_name, params![query, limit], text)? {
        if hits.len() < limit as usize && !hits.contains(&hit) {
            hits.push(hit);
        }
    }
    Ok(hits)
}

fn collect_hits(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    text: &str,
) -> Result<Vec<Hit>> {
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(Error::db("preparing search"))?;
    let hits = stmt
        .query_map(params, |r| {
            Ok(Hit {
                entity: r.get(0)?,
                key: r.get(1)?,
                name: r.get(2)?,
                synonyms: r.get(3)?,
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(Error::db(format!("searching for {text:?}")))?;
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let check = |input: &str, expected: Option<&str>| {
            assert_eq!(fts_query(input).as_deref(), expected, "{input}");
        };
        check("Straße", Some("\"strasse\"*"));
        check("GÖTTINGEN", Some("\"goettingen\"*"));
        check(
            "  AUSWEIS beantragen!",
            Some("\"ausweis\"* \"beantragen\"*"),
        );
        check("\"; DROP", Some("\"drop\"*"));
        check("EİNBÜRGERUNG", Some("\"einbuergerung\"*"));
        check("Saint-E\u{301}tienne", Some("\"saint\"* \"etienne\"*"));
        check("e\u{301}", Some("\"e\"*"));
        check("\u{301}", None);
        check(" -- ", None);
    }
}
