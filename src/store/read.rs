//! Reads for the CLI and exports: releases, rejects, record history, and the state of
//! an entity as of a release (which `diff` compares).

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::Entity;

#[derive(Debug, Clone, Serialize)]
pub struct ReleaseRow {
    pub release_id: i64,
    pub source: String,
    pub kind: String,
    pub entity: String,
    pub mode: String,
    pub location: String,
    pub fetched_at: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub sha256: Option<String>,
    pub added: i64,
    pub changed: i64,
    pub retired: i64,
    pub unchanged: i64,
    pub rejected: i64,
    pub warnings: i64,
    pub status: String,
    /// Keys whose rejected record left their previous version current (schema 0009).
    pub kept: i64,
}

const RELEASE_COLUMNS: &str = "release_id, source, kind, entity, mode, location, fetched_at, etag,
    last_modified, sha256, added, changed, retired, unchanged, rejected, warnings, status, kept";

fn release_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReleaseRow> {
    Ok(ReleaseRow {
        release_id: r.get(0)?,
        source: r.get(1)?,
        kind: r.get(2)?,
        entity: r.get(3)?,
        mode: r.get(4)?,
        location: r.get(5)?,
        fetched_at: r.get(6)?,
        etag: r.get(7)?,
        last_modified: r.get(8)?,
        sha256: r.get(9)?,
        added: r.get(10)?,
        changed: r.get(11)?,
        retired: r.get(12)?,
        unchanged: r.get(13)?,
        rejected: r.get(14)?,
        warnings: r.get(15)?,
        status: r.get(16)?,
        kept: r.get(17)?,
    })
}

/// All releases, oldest first, optionally of one source.
pub fn releases(conn: &Connection, source: Option<&str>) -> Result<Vec<ReleaseRow>> {
    let sql = format!(
        "SELECT {RELEASE_COLUMNS} FROM releases WHERE ?1 IS NULL OR source = ?1 ORDER BY release_id"
    );
    let mut stmt = conn.prepare(&sql).map_err(Error::db("listing releases"))?;
    let rows = stmt
        .query_map([source], release_row)
        .and_then(|rows| rows.collect())
        .map_err(Error::db("listing releases"))?;
    Ok(rows)
}

pub fn release(conn: &Connection, release_id: i64) -> Result<ReleaseRow> {
    let sql = format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE release_id = ?1");
    conn.query_row(&sql, [release_id], release_row)
        .optional()
        .map_err(Error::db(format!("reading release {release_id}")))?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no release {release_id}; `ozgsync releases` lists them"
            ))
        })
}

#[derive(Debug, Clone, Serialize)]
pub struct RejectRow {
    pub seq: i64,
    pub severity: String,
    pub position: String,
    pub key: Option<String>,
    pub reason: String,
    pub raw: Option<String>,
}

pub fn rejects(conn: &Connection, release_id: i64) -> Result<Vec<RejectRow>> {
    let mut stmt = conn
        .prepare(
            "SELECT seq, severity, position, key, reason, raw FROM rejects
             WHERE release_id = ?1 ORDER BY seq",
        )
        .map_err(Error::db("listing rejects"))?;
    let rows = stmt
        .query_map([release_id], |r| {
            Ok(RejectRow {
                seq: r.get(0)?,
                severity: r.get(1)?,
                position: r.get(2)?,
                key: r.get(3)?,
                reason: r.get(4)?,
                raw: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(Error::db("listing rejects"))?;
    Ok(rows)
}

/// One version of a record with the releases that bound it.
#[derive(Debug, Clone, Serialize)]
pub struct VersionRow {
    pub key: String,
    pub valid_from: i64,
    pub valid_from_at: String,
    pub valid_to: Option<i64>,
    pub valid_to_at: Option<String>,
    pub data: serde_json::Value,
}

/// Every version of `key`, oldest first.
pub fn history(conn: &Connection, entity: Entity, key: &str) -> Result<Vec<VersionRow>> {
    versions_where(conn, entity, "v.key = ?2", key)
}

/// Every version of the municipality records (of any level) whose ARS is `ars`,
/// found by their keys (`<level>:<ars>`, `model::municipality_key`), not by reading
/// every municipality's JSON.
pub fn municipality_versions_by_ars(conn: &Connection, ars: &str) -> Result<Vec<VersionRow>> {
    let keys: Vec<String> = crate::model::Level::ALL
        .iter()
        .map(|level| crate::model::municipality_key(*level, ars))
        .collect();
    let keys = serde_json::Value::from(keys).to_string();
    versions_where(
        conn,
        Entity::Municipality,
        "v.key IN (SELECT value FROM json_each(?2))",
        &keys,
    )
}

/// Every version of the Gemeinde whose 8-digit AGS is `ags`. An AGS is the ARS's
/// first five digits (Land to Kreis) and its last three (the Gemeinde), so the
/// Gemeinde's key lies among its Kreis's, `gemeinde:<the five digits>…`: only
/// those are read.
pub fn municipality_versions_by_ags(conn: &Connection, ags: &str) -> Result<Vec<VersionRow>> {
    // ':' is the byte after '9': every key of the Kreis's Gemeinden sorts below it.
    let condition = format!(
        "v.key > '{gemeinde}:' || substr(?2, 1, 5) AND v.key < '{gemeinde}:' || substr(?2, 1, 5) || ':'
         AND json_extract(v.data, '$.ags') = ?2",
        gemeinde = crate::model::Level::Gemeinde.as_str(),
    );
    versions_where(conn, Entity::Municipality, &condition, ags)
}

fn versions_where(
    conn: &Connection,
    entity: Entity,
    condition: &str,
    value: &str,
) -> Result<Vec<VersionRow>> {
    let sql = format!(
        "SELECT v.key, v.valid_from, f.fetched_at, v.valid_to, t.fetched_at, v.data
         FROM record_versions v
         JOIN releases f ON f.release_id = v.valid_from
         LEFT JOIN releases t ON t.release_id = v.valid_to
         WHERE v.entity = ?1 AND {condition}
         ORDER BY v.key, v.valid_from"
    );
    let mut stmt = conn.prepare(&sql).map_err(Error::db("reading history"))?;
    let rows = stmt
        .query_map(params![entity.as_str(), value], |r| {
            let data: String = r.get(5)?;
            Ok(VersionRow {
                key: r.get(0)?,
                valid_from: r.get(1)?,
                valid_from_at: r.get(2)?,
                valid_to: r.get(3)?,
                valid_to_at: r.get(4)?,
                data: serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data)),
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(Error::db("reading history"))?;
    Ok(rows)
}

/// How a record was found by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameMatch {
    /// Its current name matches.
    Current,
    /// It is current, and one of its earlier names matches (a rename).
    Earlier,
    /// It was retired (merged, dissolved); one of its names matches.
    Retired,
}

/// A record found by name: its key, how, and the name that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameHit {
    pub key: String,
    pub found: NameMatch,
    pub name: String,
}

/// Records whose name, current or earlier, contains `text`, both folded by
/// [`crate::model::fold`] (so `GÖTTINGEN`, `Goettingen` and `göttingen` are alike;
/// `text` by [`crate::model::fold_typed`], so a Turkish `İ` is an `i`).
/// Current names first, then earlier names of current records, then retired
/// records; by name within each.
pub fn keys_by_name(conn: &Connection, entity: Entity, text: &str) -> Result<Vec<NameHit>> {
    let needle = crate::model::fold_typed(text.trim());
    let mut stmt = conn
        .prepare(
            "SELECT v.key, json_extract(v.data, '$.name'), v.valid_to IS NULL,
                    EXISTS (SELECT 1 FROM record_versions c
                            WHERE c.entity = v.entity AND c.key = v.key AND c.valid_to IS NULL)
             FROM record_versions v
             WHERE v.entity = ?1 AND instr(fold(json_extract(v.data, '$.name')), ?2) > 0",
        )
        .map_err(Error::db("searching names"))?;
    let rows: Vec<(String, String, bool, bool)> = stmt
        .query_map(params![entity.as_str(), needle], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(Error::db("searching names"))?;
    let mut best: std::collections::BTreeMap<String, NameHit> = Default::default();
    for (key, name, is_current_version, key_is_current) in rows {
        let found = match (is_current_version, key_is_current) {
            (true, _) => NameMatch::Current,
            (false, true) => NameMatch::Earlier,
            (false, false) => NameMatch::Retired,
        };
        let hit = NameHit {
            key: key.clone(),
            found,
            name,
        };
        match best.get(&key) {
            Some(seen) if seen.found <= found => {}
            _ => {
                best.insert(key, hit);
            }
        }
    }
    let mut hits: Vec<NameHit> = best.into_values().collect();
    hits.sort_by(|a, b| (a.found, &a.name, &a.key).cmp(&(b.found, &b.name, &b.key)));
    Ok(hits)
}

/// Matches of an ambiguous name shown in the error (the rest are counted).
const SHOWN_MATCHES: usize = 10;

/// The 12-digit ARS a user means by `text`: an ARS as written, the ARS of an 8-digit
/// AGS, or the ARS of the one current Gemeinde or Kreis whose name is `text` (folded;
/// "Göttingen" also matches "Göttingen, Stadt"). Several matching ARS are an error
/// that lists them; a name never guesses, and `%` or `_` in it are letters, not
/// wildcards.
pub fn resolve_ars(conn: &Connection, text: &str) -> Result<String> {
    let q = text.trim();
    let digits = !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit());
    if digits && q.len() != 8 {
        // the status validation explains a wrong length
        return Ok(q.to_owned());
    }
    let mut stmt = conn
        .prepare(
            "SELECT DISTINCT json_extract(data, '$.ars'), json_extract(data, '$.name'),
                    json_extract(data, '$.level')
             FROM record_versions
             WHERE entity = 'municipality' AND valid_to IS NULL
               AND json_extract(data, '$.level') IN ('gemeinde', 'kreis')
               AND CASE WHEN ?2 THEN json_extract(data, '$.ags') = ?1
                        ELSE fold(json_extract(data, '$.name')) = ?3
                          OR substr(fold(json_extract(data, '$.name')), 1, length(?3) + 1)
                             = ?3 || ',' END
             ORDER BY 1",
        )
        .map_err(Error::db("resolving a municipality"))?;
    let typed = crate::model::fold_typed(q);
    let found: Vec<(String, String, String)> = stmt
        .query_map(params![q, digits, typed], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(Error::db("resolving a municipality"))?;
    let mut arss: Vec<&str> = found.iter().map(|(ars, _, _)| ars.as_str()).collect();
    arss.dedup();
    match arss.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(Error::NotFound(format!(
            "no current Gemeinde or Kreis {} {q:?}; give the 12-digit ARS (`ozgsync municipality NAME` finds it)",
            if digits { "has the AGS" } else { "is named" }
        ))),
        _ => Err(Error::Invalid(format!(
            "{q:?} names several municipalities: {}{}; give the 12-digit ARS or the full name",
            found
                .iter()
                .take(SHOWN_MATCHES)
                .map(|(ars, name, level)| format!("{name} ({level}) {ars}"))
                .collect::<Vec<_>>()
                .join(", "),
            match found.len().saturating_sub(SHOWN_MATCHES) {
                0 => String::new(),
                more => format!(" and {more} more"),
            }
        ))),
    }
}

/// The current name of the municipality with `ars` (its Gemeinde record, else its
/// Kreis or Verband record).
pub fn municipality_name(conn: &Connection, ars: &str) -> Result<Option<String>> {
    conn.query_row(
        "SELECT json_extract(data, '$.name') FROM record_versions
         WHERE entity = 'municipality' AND valid_to IS NULL
           AND key IN ('gemeinde:' || ?1, 'kreis:' || ?1, 'verband:' || ?1)
         ORDER BY key LIMIT 1",
        [ars],
        |r| r.get(0),
    )
    .optional()
    .map_err(Error::db(format!("reading the name of ARS {ars}")))
}

/// The ids of the last two applied releases of `source`, older first. With a single
/// release, `from` is `None` (everything in it counts as added).
pub fn last_two_releases(conn: &Connection, source: &str) -> Result<(Option<i64>, i64)> {
    let mut stmt = conn
        .prepare(
            "SELECT release_id FROM releases WHERE source = ?1 AND status = 'applied'
             ORDER BY release_id DESC LIMIT 2",
        )
        .map_err(Error::db("finding releases"))?;
    let ids: Vec<i64> = stmt
        .query_map([source], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(Error::db("finding releases"))?;
    match ids.as_slice() {
        [to, from] => Ok((Some(*from), *to)),
        [to] => Ok((None, *to)),
        _ => Err(Error::NotFound(format!(
            "source {source} has no applied release; `ozgsync releases` lists the sources"
        ))),
    }
}

/// The states, at release `from` and at release `to`, of every key of `entity` that
/// changed between them. Keys absent at a side are missing from that map. `from =
/// None` means the empty state before any release.
pub type State = BTreeMap<String, serde_json::Value>;

pub fn states_between(
    conn: &Connection,
    entity: Entity,
    from: Option<i64>,
    to: i64,
) -> Result<(State, State)> {
    states_of_keys_touched_by(conn, entity, None, from, to)
}

/// Like [`states_between`], for the keys that releases of `source` wrote or closed
/// between `from` and `to` only. Several sources can feed one entity (LeiKa CSV and
/// XZuFi services, or two LeiKa sources): `diff SOURCE` shows what the named source
/// changed, not what another source changed in between. A key both changed is shown
/// with its whole change between the two releases.
pub fn source_states_between(
    conn: &Connection,
    entity: Entity,
    source: &str,
    from: Option<i64>,
    to: i64,
) -> Result<(State, State)> {
    states_of_keys_touched_by(conn, entity, Some(source), from, to)
}

fn states_of_keys_touched_by(
    conn: &Connection,
    entity: Entity,
    source: Option<&str>,
    from: Option<i64>,
    to: i64,
) -> Result<(State, State)> {
    let from = from.unwrap_or(0);
    let (lo, hi) = if from <= to { (from, to) } else { (to, from) };
    let mut stmt = conn
        .prepare(
            // keys with a version that starts or ends inside (lo, hi], in a
            // release of source ?5 when one is named: the versions those
            // releases created by the range of ids they recorded (schema 0024),
            // the ones they closed by `record_versions_to` (`+entity` keeps
            // SQLite from reading the whole entity by the key index instead:
            // `tests/it/plans.rs`)
            "WITH of_source AS (
                 SELECT release_id, first_version_id, last_version_id FROM releases
                 WHERE release_id > ?2 AND release_id <= ?3 AND (?5 IS NULL OR source = ?5)),
             touched AS (
                 SELECT key FROM record_versions
                 WHERE version_id BETWEEN (SELECT min(first_version_id) FROM of_source)
                                      AND (SELECT max(last_version_id) FROM of_source)
                   AND valid_from > ?2 AND valid_from <= ?3 AND +entity = ?1
                   AND valid_from IN (SELECT release_id FROM of_source)
                 UNION
                 SELECT key FROM record_versions
                 WHERE valid_to > ?2 AND valid_to <= ?3 AND +entity = ?1
                   AND valid_to IN (SELECT release_id FROM of_source))
             SELECT v.key, v.data FROM touched t CROSS JOIN record_versions v
                 ON v.entity = ?1 AND v.key = t.key
             WHERE v.valid_from <= ?4
               AND (v.valid_to IS NULL OR v.valid_to > ?4)",
        )
        .map_err(Error::db("reading states for diff"))?;
    let mut state_at = |at: i64| -> Result<State> {
        let rows = stmt
            .query_map(params![entity.as_str(), lo, hi, at, source], |r| {
                let key: String = r.get(0)?;
                let data: String = r.get(1)?;
                Ok((key, data))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(Error::db("reading states for diff"))?;
        rows.into_iter()
            .map(|(k, d)| {
                serde_json::from_str(&d)
                    .map(|v| (k.clone(), v))
                    .map_err(|e| Error::Invalid(format!("stored record {k} is not JSON: {e}")))
            })
            .collect()
    };
    let before = state_at(from)?;
    let after = state_at(to)?;
    Ok((before, after))
}
