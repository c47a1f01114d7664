//! The catalogue readers of the exports: releases used, annotations, EfA services,
//! OZG-Leistungen, observed availability, municipalities, LeiKa names, Ressorts.
//!
//! Record shapes read from `record_versions` (JSON in `data`):
//! `efa_service` (0003): `name, ozg_ids[], leistungsschluessel[], themenfeld,
//! federfuehrendes_land, reifegrad{modell, stufe}, url`; `ozg_leistung`:
//! `bezeichnung, themenfeld`;
//! `availability` (key `<ars>:<leika key>`): `ars, leistungsschluessel,
//! online_status (ok | nicht ok), url`. The JSON paths are written in the queries.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use rusqlite::{params, Connection};

use super::db;
use crate::export::model::{DataStamp, Reifegrad, SourceRelease, Unit};
use crate::export::ExportError;
use crate::model::LandScope;

/// (ARS, LeiKa key) → (seen online and ok, observed URL).
pub(super) type Observed = HashMap<(String, String), (bool, Option<String>)>;

/// The latest applied release per source (the data the export is based on).
pub fn sources(conn: &Connection) -> Result<Vec<SourceRelease>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT source, max(release_id), fetched_at FROM releases
             WHERE status = 'applied' GROUP BY source ORDER BY source",
        )
        .map_err(db("reading the releases used"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(SourceRelease {
                source: r.get(0)?,
                release_id: r.get(1)?,
                fetched_at: r.get(2)?,
            })
        })
        .map_err(db("reading the releases used"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading the releases used"))
}

/// What the database contributes to a dashboard set besides its rows; a handful of
/// small reads, so an unchanged re-export can be recognised without the matrix.
pub fn stamp(conn: &Connection) -> Result<DataStamp, ExportError> {
    const CTX: &str = "reading the status batch and data generation";
    let (status_batch, data_generation) = conn
        .query_row(
            "SELECT (SELECT coalesce(max(batch_id), 0) FROM status_batches),
                    (SELECT coalesce(max(generation), 0) FROM data_changes)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(db(CTX))?;
    Ok(DataStamp {
        sources: sources(conn)?,
        status_batch,
        data_generation,
        demo: crate::demo::present(conn).map_err(db("looking for demo data"))?,
    })
}

pub(super) struct Annotation {
    pub(super) ressort: Option<String>,
    pub(super) vollzug: Option<String>,
    pub(super) umsetzungsweg: Option<String>,
    pub(super) efa_id: Option<String>,
}

pub(super) fn annotations(conn: &Connection) -> Result<BTreeMap<String, Annotation>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT a.leistungsschluessel, n.kuerzel, a.vollzug, a.umsetzungsweg, a.efa_id
             FROM annotations a
             LEFT JOIN ressort_names n ON n.ressort_id = a.ressort_id AND n.valid_to IS NULL",
        )
        .map_err(db("reading annotations"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Annotation {
                    ressort: r.get(1)?,
                    vollzug: r.get(2)?,
                    umsetzungsweg: r.get(3)?,
                    efa_id: r.get(4)?,
                },
            ))
        })
        .map_err(db("reading annotations"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading annotations"))
}

#[cfg_attr(test, derive(Debug, PartialEq))]
pub(super) struct Efa {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) ozg_ids: Vec<String>,
    pub(super) leika_keys: Vec<String>,
    pub(super) themenfeld: Option<String>,
    pub(super) federfuehrendes_land: Option<String>,
    pub(super) reifegrad: Option<Reifegrad>,
    pub(super) url: Option<String>,
    pub(super) kostenmodell: Option<String>,
}

/// The fields of an `efa_service` record the exports read, in the shape
/// `model::EfaServiceRecord` is stored: strings, lists of strings, the Reifegrad
/// an object of a string and an integer. A record of any other shape (a number
/// where a string belongs, a duplicate field, JSON that is not an object) does
/// not deserialize into this and is read by [`EFA_BY_SQL`] instead.
#[derive(serde::Deserialize)]
struct EfaFields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    ozg_ids: Option<Vec<String>>,
    #[serde(default)]
    leistungsschluessel: Option<Vec<String>>,
    #[serde(default)]
    themenfeld: Option<String>,
    #[serde(default)]
    federfuehrendes_land: Option<String>,
    #[serde(default)]
    reifegrad: Option<ReifegradFields>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    kostenmodell: Option<String>,
}

#[derive(serde::Deserialize)]
struct ReifegradFields {
    #[serde(default)]
    modell: Option<String>,
    #[serde(default)]
    stufe: Option<i64>,
}

impl EfaFields {
    /// The record `text` in the stored shape; `None` for any other (see [`EfaFields`]).
    fn parse(text: &[u8]) -> Option<EfaFields> {
        // A struct deserializes from a JSON array too (by position), where
        // `json_extract(data, '$.name')` is NULL: only an object is read here.
        if text.trim_ascii_start().first() != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(text).ok()
    }

    /// What [`efa_of_row`] makes of the same record's `json_extract`s.
    fn into_efa(self, key: String) -> Efa {
        let (model, level) = match self.reifegrad {
            Some(r) => (r.modell, r.stufe),
            None => (None, None),
        };
        Efa {
            name: self.name.unwrap_or_else(|| key.clone()),
            id: key,
            ozg_ids: self.ozg_ids.unwrap_or_default(),
            leika_keys: self.leistungsschluessel.unwrap_or_default(),
            themenfeld: self.themenfeld,
            federfuehrendes_land: self.federfuehrendes_land,
            reifegrad: reifegrad(model, level),
            url: self.url,
            kostenmodell: self.kostenmodell,
        }
    }
}

fn reifegrad(model: Option<String>, level: Option<i64>) -> Option<Reifegrad> {
    match (model, level.and_then(|l| u8::try_from(l).ok())) {
        (Some(model), Some(level)) if !model.is_empty() => Some(Reifegrad { model, level }),
        _ => None,
    }
}

/// An EfA service's fields by `json_extract`, for a record [`EfaFields`] does not
/// take: SQLite's answer for every shape (NULL for a missing path, a number's
/// text for a Reifegrad model, an error for malformed JSON), as before the
/// records were parsed in Rust. `?1` is the version's id.
const EFA_BY_SQL: &str = "SELECT key, json_extract(data, '$.name'),
        coalesce(json_extract(data, '$.ozg_ids'), '[]'),
        coalesce(json_extract(data, '$.leistungsschluessel'), '[]'),
        json_extract(data, '$.themenfeld'),
        json_extract(data, '$.federfuehrendes_land'),
        json_extract(data, '$.reifegrad.modell'),
        json_extract(data, '$.reifegrad.stufe'),
        json_extract(data, '$.url'),
        json_extract(data, '$.kostenmodell')
    FROM record_versions WHERE version_id = ?1";

/// A row of [`EFA_BY_SQL`] as an [`Efa`].
fn efa_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Efa> {
    let list = |i: usize| -> rusqlite::Result<Vec<String>> {
        let text: String = r.get(i)?;
        Ok(serde_json::from_str::<Vec<serde_json::Value>>(&text)
            .unwrap_or_default()
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect())
    };
    let model: Option<String> = r
        .get::<_, Option<rusqlite::types::Value>>(6)?
        .map(|v| match v {
            rusqlite::types::Value::Text(s) => s,
            rusqlite::types::Value::Real(f) => format!("{f:.1}"),
            rusqlite::types::Value::Integer(i) => i.to_string(),
            _ => String::new(),
        });
    let level: Option<i64> = r.get(7).ok().flatten();
    let key: String = r.get(0)?;
    Ok(Efa {
        name: r
            .get::<_, Option<String>>(1)?
            .unwrap_or_else(|| key.clone()),
        id: key,
        ozg_ids: list(2)?,
        leika_keys: list(3)?,
        themenfeld: r.get(4)?,
        federfuehrendes_land: r.get(5)?,
        reifegrad: reifegrad(model, level),
        url: r.get(8)?,
        kostenmodell: r.get(9)?,
    })
}

/// Current EfA services, by id.
///
/// Each record's JSON is parsed once, here, in the shape ozgsync stores; ten
/// `json_extract`s a record made SQLite parse and walk it for each (about 53 M
/// instructions for 1,500 services, before the report's scan starts). A record
/// of another shape is read by those `json_extract`s, so every record gives
/// what it gave before.
pub(super) fn efa_services(conn: &Connection) -> Result<Vec<Efa>, ExportError> {
    const CTX: &str = "reading EfA services";
    let mut stmt = conn
        .prepare(
            "SELECT version_id, key, data FROM record_versions
             WHERE entity = 'efa_service' AND valid_to IS NULL
             ORDER BY key",
        )
        .map_err(db(CTX))?;
    let mut rows = stmt.query([]).map_err(db(CTX))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db(CTX))? {
        // `data` is a STRICT TEXT column: text, or the statement failed.
        let fields = match row.get_ref(2).map_err(db(CTX))? {
            rusqlite::types::ValueRef::Text(text) => EfaFields::parse(text),
            _ => None,
        };
        let efa = match fields {
            Some(fields) => fields.into_efa(row.get(1).map_err(db(CTX))?),
            None => {
                let version: i64 = row.get(0).map_err(db(CTX))?;
                conn.prepare_cached(EFA_BY_SQL)
                    .and_then(|mut stmt| stmt.query_row([version], efa_of_row))
                    .map_err(db(CTX))?
            }
        };
        out.push(efa);
    }
    Ok(out)
}

/// The Themenfeld of an EfA service: its own, else the first of its OZG-Leistungen's.
pub(super) fn efa_themenfeld(
    e: &Efa,
    ozg: &HashMap<String, (String, Option<String>)>,
) -> Option<String> {
    e.themenfeld.clone().or_else(|| {
        e.ozg_ids
            .iter()
            .find_map(|id| ozg.get(id).and_then(|o| o.1.clone()))
    })
}

pub(super) fn ozg_names(
    conn: &Connection,
) -> Result<HashMap<String, (String, Option<String>)>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT key, coalesce(json_extract(data, '$.bezeichnung'), key), json_extract(data, '$.themenfeld')
             FROM record_versions WHERE entity = 'ozg_leistung' AND valid_to IS NULL",
        )
        .map_err(db("reading OZG-Leistungen"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .map_err(db("reading OZG-Leistungen"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading OZG-Leistungen"))
}

/// The fields of an `availability` record the exports read (`AvailabilityRecord`
/// as `store::release` serialises it; `leika_key` is the field's older name).
#[derive(serde::Deserialize)]
struct Sighting<'a> {
    #[serde(borrow, default)]
    ars: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    leistungsschluessel: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    leika_key: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    online_status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
}

/// Observed availability as of a date: the version valid then, per (ARS, key).
///
/// Each record's JSON is parsed once, here, for the four fields: five
/// `json_extract`s a row made SQLite parse and walk it for each (≈ 390 M
/// instructions for 28,170 observations, before any Gemeinde is built).
pub(super) fn availability(conn: &Connection, as_of: NaiveDate) -> Result<Observed, ExportError> {
    const CTX: &str = "reading observed availability";
    let mut stmt = conn
        .prepare(
            "SELECT v.data
             FROM record_versions v
             JOIN releases f ON f.release_id = v.valid_from
             LEFT JOIN releases t ON t.release_id = v.valid_to
             WHERE v.entity = 'availability'
               AND substr(f.fetched_at, 1, 10) <= ?1
               AND (t.release_id IS NULL OR substr(t.fetched_at, 1, 10) > ?1)",
        )
        .map_err(db(CTX))?;
    let mut rows = stmt.query(params![as_of.to_string()]).map_err(db(CTX))?;
    let mut out = HashMap::new();
    while let Some(row) = rows.next().map_err(db(CTX))? {
        // `data` is a STRICT TEXT column: text, or the statement failed.
        let text = match row.get_ref(0).map_err(db(CTX))? {
            rusqlite::types::ValueRef::Text(text) => text,
            _ => &[],
        };
        let seen: Sighting<'_> = serde_json::from_slice(text).map_err(|e| {
            ExportError::invalid(format!(
                "{CTX}: an availability record is not the JSON ozgsync writes ({e}); \
                 re-fetch the source with `ozgsync sync`"
            ))
        })?;
        if let (Some(ars), Some(key)) = (seen.ars, seen.leistungsschluessel.or(seen.leika_key)) {
            out.insert(
                (ars.into_owned(), key.into_owned()),
                (
                    seen.online_status.as_deref() == Some("ok"),
                    seen.url.map(Cow::into_owned),
                ),
            );
        }
    }
    Ok(out)
}

/// The current units of `level` in the Land scope. For level `gemeinde` only the
/// Gemeinden proper (`is_gemeinde`: the codes of table `gemeinde_textkennzeichen`),
/// not the gemeindefreie Gebiete.
pub(super) fn units(
    conn: &Connection,
    level: &str,
    land: &LandScope,
) -> Result<Vec<(Unit, Option<String>)>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT ars, name, kreis_ars, textkennzeichen, verband_ars FROM v_municipalities
             WHERE level = ?1 AND NOT retired AND ars IS NOT NULL
               AND (level <> 'gemeinde' OR is_gemeinde)
               AND (?2 IS NULL OR land = ?2)
             ORDER BY ars",
        )
        .map_err(db("reading municipalities"))?;
    let rows = stmt
        .query_map(params![level, land.key()], |r| {
            Ok((
                Unit {
                    ars: r.get(0)?,
                    name: r.get(1)?,
                    kreis_ars: r.get(2)?,
                    textkennzeichen: r.get(3)?,
                },
                r.get(4)?,
            ))
        })
        .map_err(db("reading municipalities"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading municipalities"))
}

/// The current Gemeinden (each with its Verband's ARS, as [`units`] reads them),
/// Verbände and Kreise of the Land scope.
pub(super) struct Levels {
    pub(super) gemeinden: Vec<(Unit, Option<String>)>,
    pub(super) verbaende: Vec<Unit>,
    pub(super) kreise: Vec<Unit>,
}

/// [`units`] of the levels `gemeinde`, `verband` and `kreis` in one pass over
/// `v_municipalities` instead of three: each pass extracts every municipality's
/// level and ARS from its JSON (56 M instructions for three passes over Lower
/// Saxony's 1,442 municipalities, on the dashboards' critical path).
pub(super) fn units_of_levels(conn: &Connection, land: &LandScope) -> Result<Levels, ExportError> {
    const CTX: &str = "reading municipalities";
    let mut stmt = conn
        .prepare(
            "SELECT level, ars, name, kreis_ars, textkennzeichen, verband_ars FROM v_municipalities
             WHERE level IN ('gemeinde', 'verband', 'kreis') AND NOT retired AND ars IS NOT NULL
               AND (level <> 'gemeinde' OR is_gemeinde)
               AND (?1 IS NULL OR land = ?1)
             ORDER BY ars",
        )
        .map_err(db(CTX))?;
    let mut rows = stmt.query(params![land.key()]).map_err(db(CTX))?;
    let mut levels = Levels {
        gemeinden: Vec::new(),
        verbaende: Vec::new(),
        kreise: Vec::new(),
    };
    while let Some(r) = rows.next().map_err(db(CTX))? {
        let unit = Unit {
            ars: r.get(1).map_err(db(CTX))?,
            name: r.get(2).map_err(db(CTX))?,
            kreis_ars: r.get(3).map_err(db(CTX))?,
            textkennzeichen: r.get(4).map_err(db(CTX))?,
        };
        // Only a Gemeinde's Verband is read on: it places the Gemeinde.
        match r.get_ref(0).map_err(db(CTX))?.as_str() {
            Ok("gemeinde") => levels.gemeinden.push((unit, r.get(5).map_err(db(CTX))?)),
            Ok("verband") => levels.verbaende.push(unit),
            _ => levels.kreise.push(unit),
        }
    }
    Ok(levels)
}

/// Every LeiKa key ever imported → (name, retired). A key missing here was never in
/// LeiKa (or LeiKa was never imported), which says nothing about whether it is gone.
pub(super) fn leika_names(
    conn: &Connection,
) -> Result<HashMap<String, (String, bool)>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT leistungsschluessel, coalesce(bezeichnung, leistungsschluessel), retired
             FROM v_services",
        )
        .map_err(db("reading services"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .map_err(db("reading services"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading services"))
}

/// Current Ressorts (Kürzel, name) in id order.
pub(super) fn ressorts(conn: &Connection) -> Result<Vec<(String, String)>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT n.kuerzel, n.name FROM ressort_names n JOIN ressorts r USING (ressort_id)
             WHERE n.valid_to IS NULL AND r.dissolved_on IS NULL ORDER BY n.ressort_id",
        )
        .map_err(db("reading Ressorts"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db("reading Ressorts"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading Ressorts"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database whose current `efa_service` versions hold `records` (key, data).
    fn with_efa(records: &[(&str, &str)]) -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(&dir.path().join("t.db")).unwrap();
        conn.execute_batch(
            "INSERT INTO sources (name, kind, location, updated_at) VALUES ('e', 'efa', 'x', 'now');
             INSERT INTO releases (release_id, source, kind, entity, mode, location, fetched_at, status)
             VALUES (1, 'e', 'efa', 'efa_service', 'full', 'x', '2026-01-01T00:00:00Z', 'applied');",
        )
        .unwrap();
        for (key, data) in records {
            conn.execute(
                "INSERT INTO record_versions (entity, key, valid_from, hash, data)
                 VALUES ('efa_service', ?1, 1, 'h', ?2)",
                params![key, data],
            )
            .unwrap();
        }
        (dir, conn)
    }

    /// Every current EfA service as the ten `json_extract`s read it.
    fn by_sql(conn: &Connection) -> rusqlite::Result<Vec<Efa>> {
        let versions: Vec<i64> = conn
            .prepare(
                "SELECT version_id FROM record_versions
                 WHERE entity = 'efa_service' AND valid_to IS NULL ORDER BY key",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = conn.prepare(EFA_BY_SQL)?;
        versions
            .into_iter()
            .map(|v| stmt.query_row([v], efa_of_row))
            .collect()
    }

    /// A record as `store::release` writes it: an `EfaServiceRecord` serialised.
    fn stored(json: &str) -> String {
        let record: crate::model::EfaServiceRecord = serde_json::from_str(json).unwrap();
        serde_json::to_string(&record).unwrap()
    }

    #[test]
    fn efa_services_read_what_json_extract_reads() {
        let full = stored(
            r#"{"efa_id":"EFA-1","name":"Wohngeld \"digital\" – Antrag","ozg_ids":["10001","10002"],
                "leistungsschluessel":["99001001000000"],"themenfeld":"bildung",
                "federfuehrendes_land":"NI","marktplatz_status":"verfuegbar",
                "reifegrad":{"modell":"2.0","stufe":3},"kostenmodell":"pauschal",
                "url":"https://example.org/a","stand":"2026-01-01"}"#,
        );
        let bare = stored(
            r#"{"efa_id":"EFA-2","name":"B","federfuehrendes_land":"HB",
                "marktplatz_status":"pilot","stand":"2026-01-01"}"#,
        );
        let records: Vec<(&str, &str)> = vec![
            ("EFA-1", &full),
            ("EFA-2", &bare),
            // Shapes ozgsync does not write, from older releases or edited by hand.
            (
                "EFA-3",
                r#"{"name":null,"ozg_ids":null,"reifegrad":{"modell":1.1,"stufe":2}}"#,
            ),
            (
                "EFA-4",
                r#"{"reifegrad":{"modell":2,"stufe":2.0},"ozg_ids":["1",2,{"a":1},null]}"#,
            ),
            (
                "EFA-5",
                r#"{"name":["x"],"ozg_ids":"[\"9\"]","leistungsschluessel":{"a":1}}"#,
            ),
            (
                "EFA-6",
                r#"{"name":"first","name":"second","reifegrad":"hoch"}"#,
            ),
            ("EFA-7", r#"["name","url"]"#),
            (
                "EFA-8",
                r#"{"reifegrad":{"modell":"","stufe":300},"url":null}"#,
            ),
            ("EFA-9", r#"{'name':'json5',ozg_ids:['1',],}"#),
            ("EFA-A", "  {\"name\":\"A\"}  "),
        ];
        let (_dir, conn) = with_efa(&records);
        let read = efa_services(&conn).unwrap();
        assert_eq!(read, by_sql(&conn).unwrap());
        assert_eq!(read.len(), records.len());
        // The stored shape is read in Rust, not by the fallback.
        for data in [&full, &bare] {
            assert!(EfaFields::parse(data.as_bytes()).is_some(), "{data}");
        }
        assert_eq!(
            read.first().and_then(|e| e.reifegrad.clone()),
            Some(Reifegrad {
                model: "2.0".into(),
                level: 3
            })
        );
    }

    #[test]
    fn an_efa_record_that_is_not_json_fails_the_read_as_json_extract_did() {
        for data in [r#"{"name":"x""#, "nicht json", ""] {
            let (_dir, conn) = with_efa(&[("EFA-1", data)]);
            let old = by_sql(&conn).unwrap_err().to_string();
            let err = efa_services(&conn).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(&old)),
                "{data}: {err:?} against {old}"
            );
        }
    }

    #[test]
    fn an_efa_name_of_the_wrong_type_fails_the_read_as_before() {
        let (_dir, conn) = with_efa(&[("EFA-1", r#"{"name":5}"#)]);
        assert!(by_sql(&conn).is_err());
        assert!(efa_services(&conn).is_err());
    }
}
