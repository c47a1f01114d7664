//! Assembles the Onlinedienste-`Report` from the dashboard data: per EfA service
//! the Land status, municipal phases and Nachnutzung stage; groups by Ressort and
//! Themenfeld; the Kreise; the changes since a date.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::Connection;

use super::catalog::{annotations, efa_services, efa_themenfeld, ozg_names, ressorts};
use super::changes::changes;
use super::dashboard::dashboard_data;
use super::status::land_status;
use crate::export::model::{
    Availability, Changes, KreisRow, Nachnutzung, OzgRef, Phases, ProgressRow, Report, ServiceRow,
    Stage, Status,
};
use crate::export::ExportError;
use crate::model::LandScope;

/// The Onlinedienste-Report as of a date, with changes since `since`.
pub fn report(
    conn: &Connection,
    scope: &LandScope,
    as_of: NaiveDate,
    since: Option<NaiveDate>,
    generated_at: DateTime<Utc>,
) -> Result<Report, ExportError> {
    let started = std::time::Instant::now();
    let dash = dashboard_data(conn, scope, as_of, generated_at, false)?;
    tracing::debug!(elapsed = ?started.elapsed(), "report: dashboard data");
    let notes = annotations(conn)?;
    let ozg = ozg_names(conn)?;
    let land = land_status(conn, as_of)?;
    let efas = efa_services(conn)?;
    let mut nachnutzung = crate::store::efa_nachnutzung::states_as_of(conn, as_of)?;
    tracing::debug!(elapsed = ?started.elapsed(), "report: catalogue read");

    // Per EfA service: municipal phases over the Gemeinden, counting the best-known
    // status of any of its LeiKa keys' dashboard rows. EfA services are numbered
    // once, so the 1,500 × 939 pairs are counted in vectors, not hash maps.
    let mut efa_index: HashMap<&str, usize> = HashMap::new();
    let efa_of_service: Vec<Option<usize>> = dash
        .services
        .iter()
        .map(|s| {
            let id = s.efa_id.as_deref()?;
            let next = efa_index.len();
            Some(*efa_index.entry(id).or_insert(next))
        })
        .collect();
    let mut per_efa = vec![
        (
            Phases::default(),
            Availability {
                online: 0,
                observed: 0,
            },
        );
        efa_index.len()
    ];
    let mut best: Vec<Option<(Option<Status>, Option<bool>)>> = vec![None; efa_index.len()];
    let mut touched: Vec<usize> = Vec::new();
    for g in &dash.gemeinden {
        for gs in &g.services {
            let Some(id) = efa_of_service.get(gs.service).copied().flatten() else {
                continue;
            };
            let Some(slot) = best.get_mut(id) else {
                continue;
            };
            let e = slot.get_or_insert_with(|| {
                touched.push(id);
                (None, None)
            });
            if gs.status.map(crate::export::model::phase)
                == Some(crate::export::model::Phase::Produktiv)
                || e.0.is_none()
            {
                e.0 = gs.status.or(e.0);
            }
            e.1 = match (e.1, gs.online) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (a, b) => a.or(b),
            };
        }
        for id in touched.drain(..) {
            let Some((status, online)) = best.get_mut(id).and_then(Option::take) else {
                continue;
            };
            let Some((phases, avail)) = per_efa.get_mut(id) else {
                continue;
            };
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
        let (kommunen, avail) = efa_index
            .get(e.id.as_str())
            .and_then(|&i| per_efa.get(i))
            .copied()
            .unwrap_or_default_pair();
        let status_land = land.get(&("efa".to_owned(), e.id.clone())).copied();
        let state = nachnutzung.remove(&e.id);
        let stage = Stage::of(
            state.as_ref(),
            status_land == Some(Status::Produktiv),
            kommunen.produktiv,
            as_of,
        );
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
            themenfeld: efa_themenfeld(e, &ozg),
            federfuehrendes_land: e.federfuehrendes_land.clone(),
            status_land,
            ressort: note.and_then(|a| a.ressort.clone()),
            umsetzungsweg: note
                .and_then(|a| a.umsetzungsweg.clone())
                .or_else(|| Some("efa".into())),
            reifegrad: e.reifegrad.clone(),
            kommunen,
            verfuegbarkeit: (avail.observed > 0).then_some(avail),
            url: e.url.clone(),
            kostenmodell: e.kostenmodell.clone(),
            nachnutzung: Nachnutzung { stage, state },
        });
    }

    tracing::debug!(elapsed = ?started.elapsed(), "report: services counted");
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
        |k| Some(crate::export::model::themenfeld_label(k).to_owned()),
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
        Some(since) => changes(conn, scope, &efas, since, as_of)?,
        None => Changes::default(),
    };
    let funnel = Stage::ALL
        .iter()
        .map(|stage| {
            let reached = services
                .iter()
                .filter(|s| s.nachnutzung.stage >= *stage)
                .count();
            (*stage, u32::try_from(reached).unwrap_or(u32::MAX))
        })
        .collect();
    Ok(Report {
        generated_at,
        as_of,
        since,
        sources: dash.stamp.sources,
        services,
        ressorts,
        themenfelder,
        kreise,
        changes,
        demo: dash.stamp.demo,
        funnel,
    })
}

pub(super) trait PairDefault {
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

/// Groups services by a key into progress rows: the `always` keys first (in their
/// order, even when empty), then the others sorted, then "ohne Zuordnung".
pub(super) fn group(
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
