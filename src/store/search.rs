//! Full-text search over current service names, synonyms and EfA service names
//! (FTS5 table `search_fts`, schema 0005, its rowid the current version's
//! `version_id` since 0016; since 0023 its text is the view `search_content`, the
//! [`document`] of each current version, where `bm25` finds a matched document's
//! length, and it keeps no row per document). The index is
//! written inside each release's transaction by the release itself, from the
//! versions it wrote and closed (a [`Batch`] filled by `store::release`), so
//! `search` only reads: a reader never writes, and never
//! holds a write transaction that makes an import wait. The index
//! holds each name twice: folded by [`crate::model::fold`] (SQL function `fold`),
//! which the user's words are folded the same way to match (`Goettingen`,
//! `GÖTTINGEN`), and as written, which the tokenizer strips of diacritics, with ß as
//! ss (so `Strassenbehorde` without the umlaut still finds "Straßenbehörde"); hits
//! show the names as stored, never the folded text. Common accented letters and
//! separators reach the tokenizer as the ASCII it would make of them (the same
//! tokens, less work on the SQLite writer's thread). A query that is a key (a
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

/// Empties the index and indexes every current version of the searchable entities:
/// FTS5's own `rebuild`, from the view `search_content` (schema 0023), which gives
/// each current version's [`document`].
fn rebuild(conn: &Connection) -> Result<()> {
    const CONTEXT: &str = "rebuilding the search index";
    conn.execute("INSERT INTO search_fts (search_fts) VALUES ('rebuild')", [])
        .map_err(|e| {
            first_error(
                conn,
                "SELECT name, synonyms FROM search_content",
                [],
                CONTEXT,
            )
            .unwrap_or_else(|| Error::db(CONTEXT)(e))
        })?;
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
/// [`crate::model::fold`] and once as written with ß as ss; in both, the
/// characters of [`pre_tokenized`] are replaced by what the tokenizer makes of
/// them. FTS5 keeps no copy of the text, so removing a document needs the tokens
/// it was added with, and `bm25` tokenizes the text again for a document's length:
/// this one function derives it for every [`Batch`], for the migrations that
/// rebuild the index and for the view `search_content` (SQL function
/// `search_text`). A change that changes the tokens needs a migration that
/// rebuilds the index; one that keeps them (as [`pre_tokenized`], by a test
/// against the tokenizer) does not.
pub fn document(data: &serde_json::Value) -> (String, Option<String>) {
    let text = |field: &str| data.get(field).and_then(serde_json::Value::as_str);
    let synonyms = data
        .get(DOCUMENT_FIELDS[3])
        .and_then(serde_json::Value::as_array)
        .map(|list| {
            list.iter().map(|v| match v {
                serde_json::Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
                other => std::borrow::Cow::Owned(other.to_string()),
            })
        });
    document_from(text, synonyms)
}

/// [`document`] of a record read without a JSON value of it: `text` gives a field
/// of [`DOCUMENT_FIELDS`] where its JSON value is a string, `synonyms` the elements
/// of `synonyme` where its JSON value is an array (each element as [`document`]
/// joins it: a string as it is, anything else as its JSON text). The same text as
/// [`document`] of that JSON value (a test pins it).
///
/// Built in one pass per copy, straight into the two texts: the folded copy of
/// each part, then each part as written with ß as ss (a folded part that is not
/// all ASCII goes through a scratch buffer for [`pre_tokenized`]).
pub fn document_from<'a, S, I>(
    text: impl Fn(&str) -> Option<&'a str>,
    synonyms: Option<I>,
) -> (String, Option<String>)
where
    S: AsRef<str>,
    I: Iterator<Item = S> + Clone,
{
    let [bezeichnung, name_field, bezeichnung2, _] = DOCUMENT_FIELDS;
    let name = text(bezeichnung)
        .or_else(|| text(name_field))
        .unwrap_or_default();
    let second = text(bezeichnung2);
    // The name and the second name are joined by a space, as one text; the folding
    // and the ß rule read one character at a time, so each part is done alone.
    let mut name_doc =
        String::with_capacity(2 * (name.len() + second.map_or(0, |s| s.len() + 1)) + 16);
    let mut scratch = String::new();
    push_folded(&mut name_doc, &mut scratch, name);
    if let Some(second) = second {
        name_doc.push(' ');
        push_folded(&mut name_doc, &mut scratch, second);
    }
    name_doc.push(' ');
    push_as_written(&mut name_doc, name);
    if let Some(second) = second {
        name_doc.push(' ');
        push_as_written(&mut name_doc, second);
    }
    let synonyms = synonyms
        .filter(|list| list.clone().next().is_some())
        .map(|list| {
            // Joined by " | ": the separator folds to itself and ends in a space, so
            // no combining mark of the next synonym joins the one before.
            let joined: usize = list.clone().map(|s| s.as_ref().len() + 3).sum();
            let mut doc = String::with_capacity(2 * joined + 16);
            for (i, synonym) in list.clone().enumerate() {
                if i > 0 {
                    doc.push_str(" | ");
                }
                push_folded(&mut doc, &mut scratch, synonym.as_ref());
            }
            doc.push(' ');
            for (i, synonym) in list.enumerate() {
                if i > 0 {
                    doc.push_str(" | ");
                }
                push_as_written(&mut doc, synonym.as_ref());
            }
            doc
        });
    (name_doc, synonyms)
}

/// Appends [`crate::model::fold`] of `text`, its characters of [`pre_tokenized`]
/// replaced. Folding leaves most names ASCII (`ä` is `ae`); one that is not yet (a
/// dash, `§`, `é`) is copied to `scratch` and appended again, replaced.
fn push_folded(out: &mut String, scratch: &mut String, text: &str) {
    let start = out.len();
    crate::model::fold_into(out, text);
    let Some(folded) = out.get(start..).filter(|folded| !folded.is_ascii()) else {
        return;
    };
    scratch.clear();
    scratch.push_str(folded);
    out.truncate(start);
    push_pre_tokenized(out, scratch, |_| None);
}

/// Appends `text` as written (the index's second copy of each name: `Strasse`
/// finds `Straße`, `Behorde` finds `Behörde`), with `ß` as `ss` and `ẞ` as `SS`
/// and the characters of [`pre_tokenized`] replaced.
fn push_as_written(out: &mut String, text: &str) {
    push_pre_tokenized(out, text, |c| match c {
        'ß' => Some("ss"),
        'ẞ' => Some("SS"),
        _ => None,
    });
}

/// Appends `text`, each non-ASCII character replaced by `special`'s text, else by
/// [`pre_tokenized`]'s character, else kept.
fn push_pre_tokenized(
    out: &mut String,
    text: &str,
    special: impl Fn(char) -> Option<&'static str>,
) {
    let mut rest = text;
    while !rest.is_empty() {
        let (run, tail) = rest.split_at(ascii_len(rest.as_bytes()));
        out.push_str(run);
        let mut chars = tail.chars();
        if let Some(c) = chars.next() {
            match (special(c), pre_tokenized(c)) {
                (Some(with), _) => out.push_str(with),
                (None, Some(with)) => out.push(with),
                (None, None) => out.push(c),
            }
        }
        rest = chars.as_str();
    }
}

/// How many bytes `bytes` starts with that are ASCII, read eight at a time (names
/// are mostly ASCII).
fn ascii_len(bytes: &[u8]) -> usize {
    let mut words = bytes.chunks_exact(8);
    let mut len = 0;
    for word in words.by_ref() {
        let word = u64::from_le_bytes(word.try_into().unwrap_or([0x80; 8]));
        if word & 0x8080_8080_8080_8080 != 0 {
            break;
        }
        len += 8;
    }
    let rest = bytes.get(len..).unwrap_or_default();
    len + rest
        .iter()
        .position(|b| !b.is_ascii())
        .unwrap_or(rest.len())
}

/// What the index's tokenizer (`unicode61 remove_diacritics 2`) makes of `c` when
/// that is one ASCII character: a letter it folds to that lower-case ASCII letter
/// (`Ä`, `é` → `a`, `e`), or a separator (`–`, `§`, `„` → a space). The document
/// carries that character instead, so the tokens, and so the index, are the ones
/// `c` gives (a test compares them, character by character, with the tokenizer's
/// own), while the tokenizer, on the SQLite writer's thread, reads ASCII: its
/// non-ASCII path (decoding, then a search in each of its category, fold and
/// diacritic tables) cost the writer about 3 % of its instructions in a
/// 100k-row LeiKa import (benches/HISTORY.md, session 13). Characters not listed
/// go to the tokenizer as they are.
fn pre_tokenized(c: char) -> Option<char> {
    Some(match c {
        'ä' | 'Ä' | 'à' | 'À' | 'á' | 'Á' | 'â' | 'Â' | 'ã' | 'Ã' | 'å' | 'Å' => 'a',
        'ç' | 'Ç' => 'c',
        'è' | 'È' | 'é' | 'É' | 'ê' | 'Ê' | 'ë' | 'Ë' => 'e',
        'ì' | 'Ì' | 'í' | 'Í' | 'î' | 'Î' | 'ï' | 'Ï' => 'i',
        'ñ' | 'Ñ' => 'n',
        'ö' | 'Ö' | 'ò' | 'Ò' | 'ó' | 'Ó' | 'ô' | 'Ô' | 'õ' | 'Õ' => 'o',
        'ü' | 'Ü' | 'ù' | 'Ù' | 'ú' | 'Ú' | 'û' | 'Û' => 'u',
        'ý' | 'Ý' | 'ÿ' => 'y',
        '–' | '—' | '§' | '„' | '“' | '”' | '‚' | '‘' | '’' | '«' | '»' | '·' | '•' | '…'
        | '\u{a0}' => ' ',
        _ => return None,
    })
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

/// A document's text: its name and its synonyms ([`document`]).
pub type DocumentText = (String, Option<String>);

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
    "coalesce(json_extract(v.data, '$.bezeichnung'), json_extract(v.data, '$.name'), '') AS name,
     (SELECT group_concat(value, ' | ') FROM json_each(v.data, '$.synonyme')) AS synonyme";

/// The best `limit` matches for `text`, best first: a current record whose key is
/// `text` (Leistungsschlüssel, EfA-ID; case ignored), then name and synonym matches.
pub fn search(conn: &Connection, text: &str, limit: u32) -> Result<Vec<Hit>> {
    let Some(query) = fts_query(text) else {
        return Err(Error::Invalid(format!(
            "nothing to search for in {text:?}; give at least one word"
        )));
    };
    // Case ignored as `NOCASE` ignores it (ASCII letters), read through the key
    // index: every ASCII case variant of a text sorts between its upper- and its
    // lower-case form (upper-case letters sort first, other bytes are equal), so
    // the range holds all candidates; for a Leistungsschlüssel it is one key, for a
    // word it starts at a letter, above every digit key.
    let by_key = format!(
        "SELECT v.entity, v.key, {SHOWN}
         FROM record_versions v
         WHERE v.entity IN ('service', 'efa_service') AND v.valid_to IS NULL
           AND v.key BETWEEN upper(?1) AND lower(?1) AND v.key = ?1 COLLATE NOCASE
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
    let by_name = collect_hits(conn, &by_name, params![query, limit], text).map_err(|e| {
        let matched = "SELECT c.name, c.synonyms FROM search_fts f
                       JOIN search_content c ON c.version_id = f.rowid
                       WHERE search_fts MATCH ?1";
        first_error(conn, matched, [&query], &format!("searching for {text:?}")).unwrap_or(e)
    })?;
    for hit in by_name {
        if hits.len() < limit as usize && !hits.contains(&hit) {
            hits.push(hit);
        }
    }
    Ok(hits)
}

/// The first error reading the rows of `sql` gives, if any. FTS5 reads
/// `search_content` inside its own statements (`bm25`, `'rebuild'`) and reports
/// any error met there as a bare "SQL logic error"; read directly, the text of a
/// stored version that is not JSON fails with `search_text`'s own message, which
/// the CLI knows as a record another program changed and names (`store::damage`).
fn first_error(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    context: &str,
) -> Option<Error> {
    let mut stmt = conn.prepare(sql).ok()?;
    let mut rows = stmt.query(params).ok()?;
    loop {
        match rows.next() {
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => return Some(Error::db(context.to_owned())(e)),
        }
    }
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
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// The definition `document` had before it was built in one pass (schema 0014's
    /// index was made with it): the one it must keep giving.
    fn document_before(data: &Value) -> (String, Option<String>) {
        let [bezeichnung, name_field, bezeichnung2, synonyme] = DOCUMENT_FIELDS;
        let text = |field: &str| data.get(field).and_then(Value::as_str);
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
            .and_then(Value::as_array)
            .filter(|list| !list.is_empty())
            .map(|list| {
                list.iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" | ")
            });
        let both = |t: &str| {
            let mut out = crate::model::fold(t);
            out.push(' ');
            out.push_str(&t.replace('ß', "ss").replace('ẞ', "SS"));
            out
        };
        (both(&name), synonyms.as_deref().map(both))
    }

    /// Text with the characters the document treats specially, often.
    fn text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("ß".to_owned()),
            Just("ẞ".to_owned()),
            Just("\u{308}".to_owned()),
            Just("Ä".to_owned()),
            Just("ü".to_owned()),
            Just("İ".to_owned()),
            Just("Σ".to_owned()),
            Just("Ö".to_owned()),
            Just("é".to_owned()),
            Just("–".to_owned()),
            Just("§".to_owned()),
            Just("„".to_owned()),
            Just(" | ".to_owned()),
            Just("\u{e1}\u{ba}".to_owned()),
            Just("\u{1e9f}\u{1e01}".to_owned()),
            "[a-zA-Z ]{0,4}",
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..8).prop_map(|p| p.concat())
    }

    /// A field's JSON value: mostly text, sometimes something else.
    fn field() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            4 => text().prop_map(|t| Some(Value::String(t))),
            1 => Just(None),
            1 => Just(Some(Value::Null)),
            1 => any::<i64>().prop_map(|n| Some(json!(n))),
            1 => proptest::collection::vec(text(), 0..3).prop_map(|l| Some(json!(l))),
        ]
    }

    /// `synonyme`'s JSON value: mostly a list of texts, sometimes of other things.
    fn synonyms() -> impl Strategy<Value = Option<Value>> {
        let element = prop_oneof![
            4 => text().prop_map(Value::String),
            1 => any::<i64>().prop_map(|n| json!(n)),
            1 => Just(Value::Null),
            1 => Just(json!({"a": [1, "ß"]})),
        ];
        prop_oneof![
            4 => proptest::collection::vec(element, 0..4).prop_map(|l| Some(Value::Array(l))),
            1 => field(),
        ]
    }

    /// A database made by ozgsync, whose `search_fts` is the index as the migrations
    /// made it, with a table of that index's tokens (`fts5vocab`, one row a token).
    fn index_db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(&dir.path().join("search.db")).unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE temp.tokens USING fts5vocab(main, search_fts, instance)",
        )
        .unwrap();
        (dir, conn)
    }

    /// The tokens (term, column, position) the index's own tokenizer makes of a
    /// document, added to the index and removed again.
    fn tokens(
        conn: &Connection,
        (name, synonyms): &(String, Option<String>),
    ) -> Vec<(String, String, i64)> {
        conn.execute(
            "INSERT INTO search_fts (rowid, name, synonyms) VALUES (1, ?1, ?2)",
            params![name, synonyms],
        )
        .unwrap();
        let got = conn
            .prepare("SELECT term, col, offset FROM tokens WHERE doc = 1 ORDER BY col, offset")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        conn.execute(
            "INSERT INTO search_fts (search_fts, rowid, name, synonyms) VALUES ('delete', 1, ?1, ?2)",
            params![name, synonyms],
        )
        .unwrap();
        got
    }

    /// The document indexes exactly the tokens of the text schema 0014's index was
    /// made with (the tokenizer's own, compared), so the index, and every answer
    /// it gives (`search`, a `MATCH` typed in Datasette, `bm25`), is the one it was;
    /// and a version indexed before is removed with the text made now.
    #[test]
    fn the_document_gives_the_tokens_it_gave() {
        let (_dir, conn) = index_db();
        let config = proptest::test_runner::Config {
            cases: 512,
            failure_persistence: None,
            ..Default::default()
        };
        proptest::test_runner::TestRunner::new(config)
            .run(
                &(field(), field(), field(), synonyms()),
                |(bezeichnung, name, bezeichnung2, synonyme)| {
                    let mut data = serde_json::Map::new();
                    let values = [bezeichnung, name, bezeichnung2, synonyme];
                    for (key, value) in DOCUMENT_FIELDS.iter().zip(values) {
                        if let Some(value) = value {
                            data.insert((*key).to_owned(), value);
                        }
                    }
                    let data = Value::Object(data);
                    let (now, before) = (document(&data), document_before(&data));
                    prop_assert_eq!(now.1.is_some(), before.1.is_some());
                    prop_assert_eq!(tokens(&conn, &now), tokens(&conn, &before));
                    Ok(())
                },
            )
            .unwrap();
    }

    /// Each character `pre_tokenized` replaces gives the tokenizer's own tokens for
    /// it, at a word's start, inside and at its end, alone and beside a combining
    /// mark.
    #[test]
    fn pre_tokenized_is_what_the_tokenizer_makes() {
        let (_dir, conn) = index_db();
        let mut replaced = 0;
        for c in (0x80..0x3000).filter_map(char::from_u32) {
            let Some(with) = pre_tokenized(c) else {
                continue;
            };
            replaced += 1;
            for pattern in [
                "{}",
                "x{}y",
                "{}x y{} z{}",
                "a\u{308}{}\u{301}b",
                "{}\u{308}",
            ] {
                let text = |c: char| pattern.replace("{}", &c.to_string());
                let (as_is, instead) = (text(c), text(with));
                assert_eq!(
                    tokens(&conn, &(as_is.clone(), Some(as_is.clone()))),
                    tokens(&conn, &(instead.clone(), Some(instead))),
                    "{c:?} ({:04X}) in {as_is:?}",
                    c as u32
                );
            }
        }
        assert!(replaced > 60, "{replaced}");
    }

    #[test]
    fn the_document_folds_and_writes_eszett_as_ss() {
        let data = json!({
            "bezeichnung": "Straßenbau ẞ", "bezeichnung2": "Mu\u{308}ll",
            "synonyme": ["Fuß", 5, "\u{308}x"]
        });
        let expected = (
            "strassenbau ss muell Strassenbau SS Mu\u{308}ll".to_owned(),
            Some("fuss | 5 | \u{308}x Fuss | 5 | \u{308}x".to_owned()),
        );
        assert_eq!(document(&data), expected);
        assert_eq!(document_before(&data), expected);
        // Umlauts, accents and separators as the tokenizer will take them.
        let data = json!({"bezeichnung": "Behörde – § 5", "bezeichnung2": "Café"});
        assert_eq!(
            document(&data),
            ("behoerde     5 cafe Behorde     5 Cafe".to_owned(), None)
        );
    }

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

    /// An index rebuilt (an older ozgsync's lazily indexed releases, or one emptied
    /// by hand) over a current version whose `data` another program made not JSON:
    /// FTS5's `'rebuild'` reports a bare "SQL logic error"; the error says what
    /// `search_text` said, which the CLI names the record by.
    #[test]
    fn a_rebuild_over_a_version_that_is_not_json_says_so() {
        let (_dir, mut conn) = index_db();
        conn.execute_batch(
            "INSERT INTO sources (name, kind, location, updated_at) VALUES ('l', 'leika', 'x', 'now');
             INSERT INTO releases (release_id, source, kind, entity, mode, location, fetched_at, status)
             VALUES (1, 'l', 'leika', 'service', 'full', 'x', '2026-01-01T00:00:00Z', 'applied');
             INSERT INTO record_versions (entity, key, valid_from, hash, data)
             VALUES ('service', '99001001000000', 1, 'h', '{\"bezeichnung\": broken');",
        )
        .unwrap();
        let err = refresh(&mut conn).unwrap_err();
        let chain = format!("{:#}", anyhow::Error::new(err));
        assert!(chain.contains("rebuilding the search index"), "{chain}");
        assert!(chain.contains("not JSON"), "{chain}");
    }
}
