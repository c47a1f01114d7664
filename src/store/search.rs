//! Full-text search over current service names, synonyms and EfA service names
//! (FTS5 table `search_fts`, schema 0005). The index is brought up to date inside
//! each release's transaction ([`index_pending`], called by `store::release`), set
//! by set for what that release changed, so `search` only reads: a reader never
//! writes, and never holds a write transaction that makes an import wait. The index
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

/// Indexes every applied release newer than the last one indexed, in its own
/// transaction. Returns how many releases were indexed. Writers call
/// [`index_pending`] inside their release transaction instead.
pub fn refresh(conn: &mut Connection) -> Result<usize> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(Error::db("starting search index refresh"))?;
    let indexed = index_pending(&tx)?;
    tx.commit()
        .map_err(Error::db("committing search index refresh"))?;
    Ok(indexed)
}

/// Indexes every applied release newer than the last one indexed, within the
/// caller's (write) transaction, and records the last one. A release calls it
/// before its commit, so the index commits with the release; releases of a
/// database written by an ozgsync that indexed lazily are caught up by the first
/// release after the upgrade. Returns how many releases were indexed.
pub fn index_pending(conn: &Connection) -> Result<usize> {
    let pending = pending_releases(conn)?;
    let Some(&(last, _)) = pending.last() else {
        return Ok(0);
    };
    for (release_id, entity) in &pending {
        if let Some(entity) = Entity::parse(entity) {
            reindex_release(conn, entity, *release_id)?;
        }
    }
    conn.execute(
        "UPDATE search_state SET indexed_release = ?1 WHERE id = 1",
        [last],
    )
    .map_err(Error::db("recording search index state"))?;
    Ok(pending.len())
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

/// Brings the index in line with what release `release_id` wrote for `entity`:
/// documents of versions it closed are removed, those of the versions it made
/// current are added. Set-based, so a large release costs one pass, not one
/// statement per record.
pub fn reindex_release(conn: &Connection, entity: Entity, release_id: i64) -> Result<()> {
    if !is_searchable(entity) {
        return Ok(());
    }
    conn.execute(
        "DELETE FROM search_fts WHERE rowid IN (
             SELECT d.docid FROM record_versions v
             JOIN search_docs d ON d.entity = v.entity AND d.key = v.key
             WHERE v.valid_to = ?2 AND v.entity = ?1)",
        params![entity.as_str(), release_id],
    )
    .map_err(Error::db("removing closed versions from the search index"))?;
    conn.execute(
        "INSERT OR IGNORE INTO search_docs (entity, key)
         SELECT entity, key FROM record_versions WHERE valid_from = ?2 AND entity = ?1",
        params![entity.as_str(), release_id],
    )
    .map_err(Error::db("registering search documents"))?;
    conn.execute(
        "INSERT INTO search_fts (rowid, name, synonyms)
         SELECT docid,
                fold(name) || ' ' || replace(replace(name, 'ß', 'ss'), 'ẞ', 'SS'),
                fold(synonyms) || ' ' || replace(replace(synonyms, 'ß', 'ss'), 'ẞ', 'SS')
         FROM (
             SELECT d.docid AS docid,
                    coalesce(json_extract(v.data, '$.bezeichnung'), json_extract(v.data, '$.name'), '')
                    || coalesce(' ' || json_extract(v.data, '$.bezeichnung2'), '') AS name,
                    (SELECT group_concat(value, ' | ') FROM json_each(v.data, '$.synonyme')) AS synonyms
             FROM record_versions v JOIN search_docs d ON d.entity = v.entity AND d.key = v.key
             WHERE v.valid_from = ?2 AND v.entity = ?1 AND v.valid_to IS NULL)",
        params![entity.as_str(), release_id],
    )
    .map_err(Error::db("indexing new versions for search"))?;
    Ok(())
}

/// Turns free text into an FTS5 query: folded as indexed, every word a quoted prefix
/// term, all words required. Returns None when there is no word.
pub fn fts_query(text: &str) -> Option<String> {
    let folded = crate::model::fold(text);
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
        "SELECT d.entity, d.key, {SHOWN}
         FROM search_docs d
         JOIN record_versions v ON v.entity = d.entity AND v.key = d.key AND v.valid_to IS NULL
         WHERE d.key = ?1 COLLATE NOCASE
         ORDER BY d.entity LIMIT ?2"
    );
    let mut hits = collect_hits(conn, &by_key, params![text.trim(), limit], text)?;
    let by_name = format!(
        "SELECT d.entity, d.key, {SHOWN}
         FROM search_fts f JOIN search_docs d ON d.docid = f.rowid
         JOIN record_versions v ON v.entity = d.entity AND v.key = d.key AND v.valid_to IS NULL
         WHERE search_fts MATCH ?1
         ORDER BY bm25(search_fts, 10.0, 1.0), d.key
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
        check(" -- ", None);
    }
}
