//! Fills the export model from the database, read-only. All SQL of the exports is
//! here. Municipal statuses are read in one ordered pass over `status_events`
//! (the latest event per subject and ARS up to the as-of date), with subjects and
//! ARS interned to integers so millions of events stay cheap.
//!
//! Record shapes read from `record_versions` (JSON in `data`):
//! `efa_service` (0003): `name, ozg_ids[], leistungsschluessel[], themenfeld,
//! federfuehrendes_land, reifegrad{modell, stufe}, url`; `ozg_leistung`:
//! `bezeichnung, themenfeld`;
//! `availability` (key `<ars>:<leika key>`): `ars, leistungsschluessel,
//! online_status (ok | nicht ok), url`. The JSON paths are the constants below.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection};

use super::model::{
    Availability, Changes, DashService, DashboardData, Gemeinde, GemeindeChange, GemeindeService,
    KreisRow, NewService, OzgRef, Phases, ProgressRow, Reifegrad, Report, RetiredKey, ServiceRow,
    SourceRelease, Status, StatusChange, Unit,
};
use super::ExportError;
use crate::error::Error;

/// Days of status changes a dashboard file lists.
pub const CHANGE_WINDOW_DAYS: i64 = 30;

fn db(context: &'static str) -> impl FnOnce(rusqlite::Error) -> ExportError {
    move |e| ExportError::Store(Error::db(context)(e))
}

fn date(s: &str) -> Option<NaiveDate> {
    s.get(..10)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
}

/// subject_kind, subject, scope_kind, scope, old status, new status, effective_on.
type ChangeRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
);

/// (ARS, LeiKa key) → (seen online and ok, observed URL).
type Observed = HashMap<(String, String), (bool, Option<String>)>;

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

/// One latest status: (effective_on, event_id) orders events.
#[derive(Debug, Clone, Copy)]
struct Latest {
    on: NaiveDate,
    event: i64,
    status: Status,
}

impl Latest {
    fn newer(a: Option<Latest>, b: Option<Latest>) -> Option<Latest> {
        match (a, b) {
            (Some(x), Some(y)) => Some(if (y.on, y.event) > (x.on, x.event) {
                y
            } else {
                x
            }),
            (x, None) => x,
            (None, y) => y,
        }
    }
}

/// Latest status per (subject, ARS) as of a date, with interned keys.
#[derive(Default)]
struct Matrix {
    subjects: HashMap<(bool, String), u32>,
    ars: HashMap<String, u32>,
    latest: HashMap<(u32, u32), Latest>,
    /// Events in the change window: (subject, ars, effective_on, old, new).
    recent: Vec<(u32, u32, NaiveDate, Option<Status>, Status)>,
}

impl Matrix {
    fn subject(&self, efa: bool, key: &str) -> Option<u32> {
        // Avoids allocating for the lookup in the common case.
        self.subjects.get(&(efa, key.to_owned())).copied()
    }

    fn get(&self, subject: Option<u32>, ars: Option<u32>) -> Option<Latest> {
        self.latest.get(&(subject?, ars?)).copied()
    }
}

fn intern<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: K) -> u32 {
    let next = map.len() as u32;
    *map.entry(key).or_insert(next)
}

/// One pass over the municipal status events up to `as_of`, in table order (an
/// ordered read through the index costs a random table lookup per event: 20 s for
/// 2.8 million). The latest event per cell is folded in a hash map; events in the
/// change window are kept and get their previous status after the pass.
fn status_matrix(
    conn: &Connection,
    as_of: NaiveDate,
    window_from: NaiveDate,
) -> Result<Matrix, ExportError> {
    let mut m = Matrix::default();
    let mut leika: HashMap<String, u32> = HashMap::new();
    let mut efa: HashMap<String, u32> = HashMap::new();
    // Per cell: the latest event, and the latest one on or before the window start.
    let mut before: HashMap<(u32, u32), Latest> = HashMap::new();
    let mut recent: Vec<(u32, u32, Latest)> = Vec::new();
    let mut stmt = conn
        .prepare(
            "SELECT subject_kind, subject, scope, status, effective_on, event_id
             FROM status_events NOT INDEXED
             WHERE scope_kind = 'ars' AND effective_on <= ?1",
        )
        .map_err(db("reading status events"))?;
    let mut rows = stmt
        .query(params![as_of.to_string()])
        .map_err(db("reading status events"))?;
    let text = |r: &rusqlite::Row<'_>, i: usize| -> Result<String, ExportError> {
        Ok(r.get_ref(i)
            .map_err(db("reading status events"))?
            .as_str()
            .unwrap_or("")
            .to_owned())
    };
    while let Some(r) = rows.next().map_err(db("reading status events"))? {
        let kind = r
            .get_ref(0)
            .map_err(db("reading status events"))?
            .as_str()
            .unwrap_or("");
        let subject = r
            .get_ref(1)
            .map_err(db("reading status events"))?
            .as_str()
            .unwrap_or("");
        let map = if kind == "efa" { &mut efa } else { &mut leika };
        let s = match map.get(subject) {
            Some(id) => *id,
            None => {
                let id = (m.subjects.len()) as u32;
                map.insert(subject.to_owned(), id);
                m.subjects.insert((kind == "efa", subject.to_owned()), id);
                id
            }
        };
        let scope = r
            .get_ref(2)
            .map_err(db("reading status events"))?
            .as_str()
            .unwrap_or("");
        let a = match m.ars.get(scope) {
            Some(a) => *a,
            None => intern(&mut m.ars, scope.to_owned()),
        };
        let (Some(status), Some(on)) = (Status::parse(&text(r, 3)?), date(&text(r, 4)?)) else {
            continue;
        };
        let event: i64 = r.get(5).map_err(db("reading status events"))?;
        let this = Latest { on, event, status };
        let key = (s, a);
        let latest = m.latest.get(&key).copied();
        if let Some(newer) = Latest::newer(latest, Some(this)) {
            m.latest.insert(key, newer);
        }
        if on > window_from {
            recent.push((s, a, this));
        } else if let Some(newer) = Latest::newer(before.get(&key).copied(), Some(this)) {
            before.insert(key, newer);
        }
    }
    recent.sort_by_key(|(s, a, l)| (*s, *a, l.on, l.event));
    let mut prev: Option<((u32, u32), Option<Status>)> = None;
    for (s, a, l) in recent {
        let old = match prev {
            Some((cell, status)) if cell == (s, a) => status,
            _ => before.get(&(s, a)).map(|b| b.status),
        };
        m.recent.push((s, a, l.on, old, l.status));
        prev = Some(((s, a), Some(l.status)));
    }
    Ok(m)
}

struct Annotation {
    ressort: Option<String>,
    vollzug: Option<String>,
    umsetzungsweg: Option<String>,
    efa_id: Option<String>,
}

fn annotations(conn: &Connection) -> Result<BTreeMap<String, Annotation>, ExportError> {
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

struct Efa {
    id: String,
    name: String,
    ozg_ids: Vec<String>,
    leika_keys: Vec<String>,
    themenfeld: Option<String>,
    federfuehrendes_land: Option<String>,
    reifegrad: Option<Reifegrad>,
    url: Option<String>,
}

/// Current EfA services, by id.
fn efa_services(conn: &Connection) -> Result<Vec<Efa>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT key, json_extract(data, '$.name'),
                    coalesce(json_extract(data, '$.ozg_ids'), '[]'),
                    coalesce(json_extract(data, '$.leistungsschluessel'), '[]'),
                    json_extract(data, '$.themenfeld'),
                    json_extract(data, '$.federfuehrendes_land'),
                    json_extract(data, '$.reifegrad.modell'),
                    json_extract(data, '$.reifegrad.stufe'),
                    json_extract(data, '$.url')
             FROM record_versions
             WHERE entity = 'efa_service' AND valid_to IS NULL
             ORDER BY key",
        )
        .map_err(db("reading EfA services"))?;
    let rows = stmt
        .query_map([], |r| {
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
            let model: Option<String> =
                r.get::<_, Option<rusqlite::types::Value>>(6)?
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
                reifegrad: match (model, level.and_then(|l| u8::try_from(l).ok())) {
                    (Some(model), Some(level)) if !model.is_empty() => {
                        Some(Reifegrad { model, level })
                    }
                    _ => None,
                },
                url: r.get(8)?,
            })
        })
        .map_err(db("reading EfA services"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading EfA services"))
}

fn ozg_names(conn: &Connection) -> Result<HashMap<String, (String, Option<String>)>, ExportError> {
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

/// Observed availability as of a date: the version valid then, per (ARS, key).
fn availability(conn: &Connection, as_of: NaiveDate) -> Result<Observed, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT json_extract(v.data, '$.ars'),
                    coalesce(json_extract(v.data, '$.leistungsschluessel'), json_extract(v.data, '$.leika_key')),
                    json_extract(v.data, '$.online_status'), json_extract(v.data, '$.url')
             FROM record_versions v
             JOIN releases f ON f.release_id = v.valid_from
             LEFT JOIN releases t ON t.release_id = v.valid_to
             WHERE v.entity = 'availability'
               AND substr(f.fetched_at, 1, 10) <= ?1
               AND (t.release_id IS NULL OR substr(t.fetched_at, 1, 10) > ?1)",
        )
        .map_err(db("reading observed availability"))?;
    let rows = stmt
        .query_map(params![as_of.to_string()], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .map_err(db("reading observed availability"))?;
    let mut out = HashMap::new();
    for row in rows {
        if let (Some(ars), Some(key), status, url) =
            row.map_err(db("reading observed availability"))?
        {
            out.insert((ars, key), (status.as_deref() == Some("ok"), url));
        }
    }
    Ok(out)
}

fn units(conn: &Connection, level: &str) -> Result<Vec<(Unit, Option<String>)>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT ars, name, kreis_ars, textkennzeichen, verband_ars FROM v_municipalities
             WHERE level = ?1 AND NOT retired AND ars IS NOT NULL ORDER BY ars",
        )
        .map_err(db("reading municipalities"))?;
    let rows = stmt
        .query_map(params![level], |r| {
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

fn leika_names(conn: &Connection) -> Result<HashMap<String, String>, ExportError> {
    let mut stmt = conn
        .prepare("SELECT leistungsschluessel, coalesce(bezeichnung, leistungsschluessel) FROM v_services")
        .map_err(db("reading services"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db("reading services"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading services"))
}

/// Everything the dashboards need, as of a date.
pub fn dashboards(
    conn: &Connection,
    as_of: NaiveDate,
    generated_at: DateTime<Utc>,
) -> Result<DashboardData, ExportError> {
    let window_from = as_of - chrono::Duration::days(CHANGE_WINDOW_DAYS);
    let matrix = status_matrix(conn, as_of, window_from)?;
    let notes = annotations(conn)?;
    let efa: HashMap<String, Efa> = efa_services(conn)?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    let names = leika_names(conn)?;
    let seen = availability(conn, as_of)?;
    // An EfA service names the LeiKa keys it implements; an annotation's efa_id wins.
    let mut efa_of_key: HashMap<&str, &str> = HashMap::new();
    let mut sorted_efa: Vec<&Efa> = efa.values().collect();
    sorted_efa.sort_by(|a, b| a.id.cmp(&b.id));
    for e in sorted_efa {
        for k in &e.leika_keys {
            efa_of_key.entry(k.as_str()).or_insert(e.id.as_str());
        }
    }

    // Services: every LeiKa key a municipality executes (annotation) or has a status for.
    let mut keys: BTreeMap<String, ()> = BTreeMap::new();
    for (key, a) in &notes {
        if matches!(a.vollzug.as_deref(), Some("kommune" | "beide")) {
            keys.insert(key.clone(), ());
        }
    }
    for (efa_kind, subject) in matrix.subjects.keys() {
        if !efa_kind {
            keys.insert(subject.clone(), ());
        }
    }
    let services: Vec<DashService> = keys
        .keys()
        .map(|key| {
            let a = notes.get(key);
            let efa_id = a
                .and_then(|a| a.efa_id.clone())
                .or_else(|| efa_of_key.get(key.as_str()).map(|s| s.to_string()));
            let e = efa_id.as_ref().and_then(|id| efa.get(id));
            DashService {
                leistungsschluessel: key.clone(),
                name: names.get(key).cloned().unwrap_or_else(|| key.clone()),
                reifegrad: e.and_then(|e| e.reifegrad.clone()),
                umsetzungsweg: a.and_then(|a| a.umsetzungsweg.clone()),
                efa_name: e.map(|e| e.name.clone()),
                url: e.and_then(|e| e.url.clone()),
                efa_id,
            }
        })
        .collect();
    // For each service, the interned subjects whose events count: its key and its EfA service.
    let subjects: Vec<(Option<u32>, Option<u32>, bool)> = services
        .iter()
        .map(|s| {
            let all = notes
                .get(&s.leistungsschluessel)
                .is_some_and(|a| matches!(a.vollzug.as_deref(), Some("kommune" | "beide")));
            (
                matrix.subject(false, &s.leistungsschluessel),
                s.efa_id.as_deref().and_then(|id| matrix.subject(true, id)),
                all,
            )
        })
        .collect();
    let mut service_of_subject: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, (l, e, _)) in subjects.iter().enumerate() {
        for s in [l, e].into_iter().flatten() {
            service_of_subject.entry(*s).or_default().push(i);
        }
    }
    let mut recent_by_ars: HashMap<u32, Vec<GemeindeChange>> = HashMap::new();
    for (s, a, on, old, new) in &matrix.recent {
        for i in service_of_subject.get(s).into_iter().flatten() {
            recent_by_ars.entry(*a).or_default().push(GemeindeChange {
                effective_on: *on,
                service: *i,
                old: *old,
                new: *new,
            });
        }
    }

    let gemeinden = units(conn, "gemeinde")?
        .into_iter()
        .filter(|(u, _)| {
            matches!(
                u.textkennzeichen.as_deref(),
                Some("60" | "61" | "62" | "63" | "64")
            )
        })
        .map(|(u, verband_ars)| {
            let ars_id = matrix.ars.get(&u.ars).copied();
            let mut svc = Vec::new();
            for (i, (l, e, all)) in subjects.iter().enumerate() {
                let latest = Latest::newer(matrix.get(*l, ars_id), matrix.get(*e, ars_id));
                if latest.is_none() && !all {
                    continue;
                }
                // Skips two key allocations per pair when nothing was observed.
                let observed = (!seen.is_empty())
                    .then(|| services.get(i))
                    .flatten()
                    .and_then(|s| seen.get(&(u.ars.clone(), s.leistungsschluessel.clone())));
                svc.push(GemeindeService {
                    service: i,
                    status: latest.map(|l| l.status),
                    status_since: latest.map(|l| l.on),
                    online: observed.map(|o| o.0),
                    url: observed.and_then(|o| o.1.clone()),
                });
            }
            let mut changes = ars_id
                .and_then(|a| recent_by_ars.remove(&a))
                .unwrap_or_default();
            changes.sort_by(|a, b| {
                b.effective_on
                    .cmp(&a.effective_on)
                    .then(a.service.cmp(&b.service))
            });
            Gemeinde {
                ars: u.ars,
                name: u.name,
                kreis_ars: u.kreis_ars,
                verband_ars,
                textkennzeichen: u.textkennzeichen,
                services: svc,
                changes,
            }
        })
        .collect();
    Ok(DashboardData {
        generated_at,
        as_of,
        sources: sources(conn)?,
        services,
        kreise: units(conn, "kreis")?.into_iter().map(|(u, _)| u).collect(),
        verbaende: units(conn, "verband")?
            .into_iter()
            .map(|(u, _)| u)
            .collect(),
        gemeinden,
    })
}

/// Land-level status per subject (latest event at any Ressort scope) as of a date.
fn land_status(
    conn: &Connection,
    as_of: NaiveDate,
) -> Result<HashMap<(String, String), Status>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT subject_kind, subject, status FROM status_events
             WHERE scope_kind = 'ressort' AND effective_on <= ?1
             ORDER BY effective_on, event_id",
        )
        .map_err(db("reading Land status"))?;
    let rows = stmt
        .query_map(params![as_of.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(db("reading Land status"))?;
    let mut out = HashMap::new();
    for row in rows {
        let (kind, subject, status) = row.map_err(db("reading Land status"))?;
        if let Some(s) = Status::parse(&status) {
            out.insert((kind, subject), s);
        }
    }
    Ok(out)
}

/// The Onlinedienste-Report as of a date, with changes since `since`.
pub fn report(
    conn: &Connection,
    as_of: NaiveDate,
    since: Option<NaiveDate>,
    generated_at: DateTime<Utc>,
) -> Result<Report, ExportError> {
    let dash = dashboards(conn, as_of, generated_at)?;
    let notes = annotations(conn)?;
    let ozg = ozg_names(conn)?;
    let land = land_status(conn, as_of)?;
    let efas = efa_services(conn)?;

    // Per EfA service: municipal phases over the Gemeinden, counting the best-known
    // status of any of its LeiKa keys' dashboard rows.
    let mut per_efa: HashMap<&str, (Phases, Availability)> = HashMap::new();
    for g in &dash.gemeinden {
        let mut best: HashMap<&str, (Option<Status>, Option<bool>)> = HashMap::new();
        for gs in &g.services {
            let Some(id) = dash
                .services
                .get(gs.service)
                .and_then(|s| s.efa_id.as_deref())
            else {
                continue;
            };
            let e = best.entry(id).or_insert((None, None));
            if gs.status.map(super::model::phase) == Some(super::model::Phase::Produktiv)
                || e.0.is_none()
            {
                e.0 = gs.status.or(e.0);
            }
            e.1 = match (e.1, gs.online) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (a, b) => a.or(b),
            };
        }
        for (id, (status, online)) in best {
            let (phases, avail) = per_efa.entry(id).or_insert((
                Phases::default(),
                Availability {
                    online: 0,
                    observed: 0,
                },
            ));
            phases.add(status);
            if let Some(o) = online {
                avail.observed += 1;
                if o {
                    avail.online += 1;
                }
            }
        }
    }

    let mut services = Vec::with_capacity(efas.len());
    for e in &efas {
        let note = notes
            .values()
            .filter(|a| a.efa_id.as_deref() == Some(e.id.as_str()))
            .min_by(|a, b| a.ressort.cmp(&b.ressort));
        let (kommunen, avail) = per_efa.get(e.id.as_str()).copied().unwrap_or_default_pair();
        services.push(ServiceRow {
            efa_id: e.id.clone(),
            name: e.name.clone(),
            ozg_leistungen: e
                .ozg_ids
                .iter()
                .map(|id| OzgRef {
                    ozg_id: id.clone(),
                    name: ozg.get(id).map(|o| o.0.clone()).unwrap_or_default(),
                })
                .collect(),
            themenfeld: e.themenfeld.clone().or_else(|| {
                e.ozg_ids
                    .iter()
                    .find_map(|id| ozg.get(id).and_then(|o| o.1.clone()))
            }),
            federfuehrendes_land: e.federfuehrendes_land.clone(),
            status_land: land.get(&("efa".to_owned(), e.id.clone())).copied(),
            ressort: note.and_then(|a| a.ressort.clone()),
            umsetzungsweg: note
                .and_then(|a| a.umsetzungsweg.clone())
                .or_else(|| Some("efa".into())),
            reifegrad: e.reifegrad.clone(),
            kommunen,
            verfuegbarkeit: (avail.observed > 0).then_some(avail),
            url: e.url.clone(),
        });
    }

    let ressort_names = ressorts(conn)?;
    let ressorts = group(
        &services,
        |s| s.ressort.clone(),
        |k| {
            ressort_names
                .iter()
                .find(|(kz, _)| kz == k)
                .map(|(_, n)| n.clone())
        },
        ressort_names.iter().map(|(k, _)| k.clone()).collect(),
    );
    let themenfelder = group(
        &services,
        |s| s.themenfeld.clone(),
        |k| Some(super::model::themenfeld_label(k).to_owned()),
        Vec::new(),
    );

    let kreise = dash
        .kreise
        .iter()
        .map(|k| {
            let mut paare = Phases::default();
            let mut n = 0;
            for g in dash
                .gemeinden
                .iter()
                .filter(|g| g.kreis_ars.as_deref() == Some(k.ars.as_str()))
            {
                n += 1;
                for gs in &g.services {
                    paare.add(gs.status);
                }
            }
            KreisRow {
                ars: k.ars.clone(),
                name: k.name.clone(),
                gemeinden: n,
                paare,
            }
        })
        .collect();

    let changes = match since {
        Some(since) => changes(conn, &efas, since, as_of)?,
        None => Changes::default(),
    };
    Ok(Report {
        generated_at,
        as_of,
        since,
        sources: dash.sources,
        services,
        ressorts,
        themenfelder,
        kreise,
        changes,
    })
}

trait PairDefault {
    fn unwrap_or_default_pair(self) -> (Phases, Availability);
}

impl PairDefault for Option<(Phases, Availability)> {
    fn unwrap_or_default_pair(self) -> (Phases, Availability) {
        self.unwrap_or((
            Phases::default(),
            Availability {
                online: 0,
                observed: 0,
            },
        ))
    }
}

/// Current Ressorts (Kürzel, name) in id order.
fn ressorts(conn: &Connection) -> Result<Vec<(String, String)>, ExportError> {
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

/// Groups services by a key into progress rows: the `always` keys first (in their
/// order, even when empty), then the others sorted, then "ohne Zuordnung".
fn group(
    services: &[ServiceRow],
    key: impl Fn(&ServiceRow) -> Option<String>,
    name: impl Fn(&str) -> Option<String>,
    always: Vec<String>,
) -> Vec<ProgressRow> {
    let mut acc: BTreeMap<Option<String>, (Phases, Phases)> = BTreeMap::new();
    for k in &always {
        acc.entry(Some(k.clone())).or_default();
    }
    for s in services {
        let e = acc.entry(key(s)).or_default();
        e.0.add(s.status_land);
        e.1.merge(&s.kommunen);
    }
    let row = |k: &Option<String>, (services, kommunen): &(Phases, Phases)| ProgressRow {
        key: k.clone().unwrap_or_else(|| "–".into()),
        name: k
            .as_deref()
            .and_then(&name)
            .unwrap_or_else(|| k.clone().unwrap_or_else(|| "ohne Zuordnung".into())),
        services: *services,
        kommunen: *kommunen,
    };
    let mut out: Vec<ProgressRow> = always
        .iter()
        .filter_map(|k| acc.get(&Some(k.clone())).map(|v| row(&Some(k.clone()), v)))
        .collect();
    for (k, v) in &acc {
        if k.as_ref().is_some_and(|k| always.contains(k)) || k.is_none() {
            continue;
        }
        out.push(row(k, v));
    }
    if let Some(v) = acc.get(&None) {
        out.push(row(&None, v));
    }
    out
}

fn changes(
    conn: &Connection,
    efas: &[Efa],
    since: NaiveDate,
    as_of: NaiveDate,
) -> Result<Changes, ExportError> {
    let efa_name: HashMap<&str, &str> = efas
        .iter()
        .map(|e| (e.id.as_str(), e.name.as_str()))
        .collect();
    let (since_s, as_of_s) = (since.to_string(), as_of.to_string());

    let mut stmt = conn
        .prepare(
            "SELECT v.key, coalesce(json_extract(v.data, '$.name'), v.key), min(substr(r.fetched_at, 1, 10))
             FROM record_versions v JOIN releases r ON r.release_id = v.valid_from
             WHERE v.entity = 'efa_service'
             GROUP BY v.key
             HAVING min(substr(r.fetched_at, 1, 10)) > ?1 AND min(substr(r.fetched_at, 1, 10)) <= ?2
             ORDER BY 3, 1",
        )
        .map_err(db("reading new EfA services"))?;
    let new_services = stmt
        .query_map(params![since_s, as_of_s], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(db("reading new EfA services"))?
        .filter_map(|r| r.ok())
        .filter_map(|(efa_id, name, d)| {
            Some(NewService {
                efa_id,
                name,
                first_seen: date(&d)?,
            })
        })
        .collect();

    // Land-level changes of every subject, and municipal changes of EfA subjects.
    let mut stmt = conn
        .prepare(
            "SELECT subject_kind, subject, scope_kind, scope, old, status, effective_on FROM (
                SELECT subject_kind, subject, scope_kind, scope, status, effective_on, event_id,
                       lag(status) OVER (PARTITION BY subject_kind, subject, scope_kind, scope
                                         ORDER BY effective_on, event_id) AS old
                FROM status_events
                WHERE effective_on <= ?2 AND (scope_kind = 'ressort' OR subject_kind = 'efa'))
             WHERE effective_on > ?1
             ORDER BY effective_on, subject_kind, subject, scope_kind, scope, event_id",
        )
        .map_err(db("reading status changes"))?;
    let raw: Vec<ChangeRow> = stmt
        .query_map(params![since_s, as_of_s], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .map_err(db("reading status changes"))?
        .collect::<Result<_, _>>()
        .map_err(db("reading status changes"))?;
    let ressorts: HashMap<String, (String, String)> = {
        let mut stmt = conn
            .prepare("SELECT CAST(ressort_id AS TEXT), kuerzel, name FROM ressort_names WHERE valid_to IS NULL")
            .map_err(db("reading Ressorts"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
            .map_err(db("reading Ressorts"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("reading Ressorts"))?
    };
    let places: HashMap<String, String> = {
        let mut stmt = conn
            .prepare("SELECT ars, name FROM v_municipalities WHERE level = 'gemeinde'")
            .map_err(db("reading municipalities"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db("reading municipalities"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("reading municipalities"))?
    };
    let leika = leika_names(conn)?;
    let status_changes = raw
        .into_iter()
        .filter_map(|(kind, subject, scope_kind, scope, old, new, on)| {
            let subject_name = if kind == "efa" {
                efa_name.get(subject.as_str()).map(|s| s.to_string())
            } else {
                leika.get(&subject).cloned()
            }
            .unwrap_or_else(|| subject.clone());
            let (scope, scope_name) = if scope_kind == "ressort" {
                ressorts
                    .get(&scope)
                    .cloned()
                    .unwrap_or_else(|| (scope.clone(), scope.clone()))
            } else {
                let name = places.get(&scope).cloned().unwrap_or_else(|| scope.clone());
                (scope, name)
            };
            Some(StatusChange {
                effective_on: date(&on)?,
                subject_kind: kind,
                subject,
                subject_name,
                scope,
                scope_name,
                old: old.as_deref().and_then(Status::parse),
                new: Status::parse(&new)?,
            })
        })
        .collect();

    let mut stmt = conn
        .prepare(
            "SELECT v.entity, v.key, coalesce(json_extract(v.data, '$.name'), json_extract(v.data, '$.bezeichnung'), v.key),
                    substr(r.fetched_at, 1, 10)
             FROM record_versions v JOIN releases r ON r.release_id = v.valid_to
             WHERE v.entity IN ('service', 'efa_service')
               AND NOT EXISTS (SELECT 1 FROM record_versions n
                               WHERE n.entity = v.entity AND n.key = v.key AND n.valid_from = v.valid_to)
               AND substr(r.fetched_at, 1, 10) > ?1 AND substr(r.fetched_at, 1, 10) <= ?2
             ORDER BY 4, 1, 2",
        )
        .map_err(db("reading retired keys"))?;
    let retired_keys = stmt
        .query_map(params![since_s, as_of_s], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map_err(db("reading retired keys"))?
        .filter_map(|r| r.ok())
        .filter_map(|(entity, key, name, d)| {
            Some(RetiredKey {
                entity,
                key,
                name,
                retired_on: date(&d)?,
            })
        })
        .collect();
    Ok(Changes {
        new_services,
        status_changes,
        retired_keys,
    })
}
