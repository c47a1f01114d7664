//! Full-text search over current service names, synonyms and EfA service names
//! (FTS5 table `search_fts`, kept in sync by triggers in schema 0004). Owns the
//! folding of the user's text into an FTS5 query the same way the index was built.

use rusqlite::{params, Connection};
use serde::Serialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// `service` or `efa_service`.
    pub entity: String,
    pub key: String,
    pub name: String,
    pub synonyms: Option<String>,
}

/// Turns free text into an FTS5 query: ß folded to ss (as indexed), every word a
/// quoted prefix term, all words required. Returns None when there is no word.
pub fn fts_query(text: &str) -> Option<String> {
    let folded = text.replace('ß', "ss").replace('ẞ', "SS");
    let terms: Vec<String> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// The best `limit` matches for `text`, best first.
pub fn search(conn: &Connection, text: &str, limit: u32) -> Result<Vec<Hit>> {
    let Some(query) = fts_query(text) else {
        return Err(Error::Invalid(format!(
            "nothing to search for in {text:?}; give at least one word"
        )));
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT d.entity, d.key, f.name, f.synonyms
             FROM search_fts f JOIN search_docs d ON d.docid = f.rowid
             WHERE search_fts MATCH ?1
             ORDER BY bm25(search_fts, 10.0, 1.0), d.key
             LIMIT ?2",
        )
        .map_err(Error::db("preparing search"))?;
    let hits = stmt
        .query_map(params![query, limit], |r| {
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
        check("Straße", Some("\"Strasse\"*"));
        check(
            "  AUSWEIS beantragen!",
            Some("\"AUSWEIS\"* \"beantragen\"*"),
        );
        check("\"; DROP", Some("\"DROP\"*"));
        check(" -- ", None);
    }
}
