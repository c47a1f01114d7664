//! Assembles the Onlinedienste-`Report` from the dashboard data: per EfA service
//! the Land status, municipal phases and Nachnutzung stage; groups by Ressort and
//! Themenfeld; the Kreise; the changes since a date.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::Connection;

use super::catalog::{efa_themenfeld, ozg_names, ressorts, stamp, units, Annotation};
use super::changes::changes;
use super::dashboard::{base_of, base_with, Base, Catalogue};
use super::matrix::Latest;
use super::status::land_status;
use crate::export::model::{
    Availability, Changes, KreisRow, Nachnutzung, OzgRef, Phases, ProgressRow, Report, ServiceRow,
    Stage, Status, Unit,
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
    // The cells as the counts need them (a byte each); the whole matrix of dated
    // cells only where that read gives up (see `cells`). What the report reads
    // besides is read while the other core scans.
    let (beside, cells) = super::cells::read(conn, as_of, |interned| {
        let catalogue = Catalogue::read(conn)?;
        let base = base_of(conn, scope, as_of, interned, &catalogue)?;
        Ok((
            catalogue,
            base,
            ozg_names(conn)?,
            land_status(conn, as_of)?,
            crate::store::efa_nachnutzung::states_as_of(conn, as_of)?,
            units(conn, "kreis", scope)?,
        ))
    })?;
    let (catalogue, base, ozg, land, mut nachnutzung, kreise) = beside;
    let cells = match cells {
        Some(cells) => cells.resolve_pairs(conn, &base.pairs())?,
        None => None,
    };
    // Where the cells' read gave up, the base of the whole matrix.
    let base = match cells {
        Some(_) => base,
        None => base_with(conn, scope, as_of, &catalogue)?,
    };
    tracing::debug!(elapsed = ?started.elapsed(), "report: status cells and services");
    let Catalogue { notes, efas } = &catalogue;
    let (efa_index, per_efa, paare) = match &cells {
        // A service's two subjects' rows looked up once, not once per Gemeinde.
        Some(cells) => count(&base, &kreise, |i| {
            let rows = base
                .subjects_of(i)
                .map(|(l, e, all)| (cells.row(l), cells.row(e), all));
            move |a| {
                let (l, e, all) = rows?;
                Base::row_of(all, cells.get_in(l, a), cells.get_in(e, a))
            }
        }),
        None => {
            let base = &base;
            count(base, &kreise, |i| move |a| base.row(i, a))
        }
    };
    tracing::debug!(elapsed = ?started.elapsed(), "report: pairs counted");

    // Per EfA id its annotation: of those naming it, the first (in key order) with
    // the least Ressort; one pass, not one pass over every annotation per service.
    let mut note_of: HashMap<&str, &Annotation> = HashMap::new();
    for a in notes.values() {
        if let Some(id) = a.efa_id.as_deref() {
            let slot = note_of.entry(id).or_insert(a);
            if a.ressort < slot.ressort {
                *slot = a;
            }
        }
    }
    let mut services = Vec::with_capacity(efas.len());
    for e in efas {
        let note = note_of.get(e.id.as_str()).copied();
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

    let kreise = kreise
        .into_iter()
        .zip(paare)
        .map(|((k, _), (gemeinden, paare))| KreisRow {
            ars: k.ars,
            name: k.name,
            gemeinden,
            paare,
        })
        .collect();

    let changes = match since {
        Some(since) => changes(conn, scope, efas, since, as_of)?,
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
    let stamp = stamp(conn)?;
    Ok(Report {
        generated_at,
        as_of,
        since,
        sources: stamp.sources,
        services,
        ressorts,
        themenfelder,
        kreise,
        changes,
        demo: stamp.demo,
        funnel,
    })
}

/// Per EfA service and per Kreis, the phases over the Gemeinden, counted from the
/// rows the dashboards would build (`Base::row`, or `row(i, ars_id)` from the
/// report's own read of the cells) without building them: one pass
/// over the services, each a row of the status matrix, the Gemeinden in order.
///
/// An EfA service counts once per Gemeinde that has a row of any of its LeiKa
/// keys: `produktiv` if any of those rows is, else the first status in service
/// order; online if any row was observed online. A Kreis counts every row of its
/// Gemeinden. Retired keys' rows count for neither (the dashboards keep them apart).
/// Returns the EfA ids' indexes, per EfA index the phases and availability, and
/// per entry of `kreise` its number of Gemeinden and its phases.
#[allow(clippy::type_complexity)]
fn count<'a, R>(
    base: &'a Base,
    kreise: &[(Unit, Option<String>)],
    rows: impl Fn(usize) -> R + Sync,
) -> (
    HashMap<&'a str, usize>,
    Vec<(Phases, Availability)>,
    Vec<(u32, Phases)>,
)
where
    R: Fn(Option<u32>) -> Option<Option<Latest>>,
{
    let mut efa_index: HashMap<&str, usize> = HashMap::new();
    let efa_of_service: Vec<Option<usize>> = base
        .services
        .iter()
        .map(|s| {
            let id = s.efa_id.as_deref()?;
            let next = efa_index.len();
            Some(*efa_index.entry(id).or_insert(next))
        })
        .collect();
    let n = base.members.len();
    // Each Gemeinde's Kreis as an index into `kreise` (the first of that ARS).
    let mut kreis_index: HashMap<&str, usize> = HashMap::new();
    for (i, (k, _)) in kreise.iter().enumerate() {
        kreis_index.entry(k.ars.as_str()).or_insert(i);
    }
    let kreis_of: Vec<Option<usize>> = base
        .members
        .iter()
        .map(|(u, ..)| kreis_index.get(u.kreis_ars.as_deref()?).copied())
        .collect();
    let mut per_kreis = vec![(0u32, Phases::default()); kreise.len()];
    for k in kreis_of.iter().flatten() {
        if let Some((gemeinden, _)) = per_kreis.get_mut(*k) {
            *gemeinden += 1;
        }
    }
    // The Gemeinden in as many ranges as there are cores, counted at once: a
    // Gemeinde's figures depend on its own rows only, and the ranges' sums add up.
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let step = n.div_ceil(threads.max(1)).max(1);
    let ranges: Vec<(usize, usize)> = (0..n)
        .step_by(step)
        .map(|from| (from, (from + step).min(n)))
        .collect();
    let efas = efa_index.len();
    let parts = crate::export::par_map(&ranges, |&(from, to)| {
        count_range(
            base,
            &rows,
            &efa_of_service,
            &kreis_of,
            kreise.len(),
            efas,
            from..to,
        )
    });
    let mut per_efa = vec![
        (
            Phases::default(),
            Availability {
                online: 0,
                observed: 0,
            }
        );
        efas
    ];
    for (kreis_part, efa_part) in parts {
        for ((_, total), part) in per_kreis.iter_mut().zip(&kreis_part) {
            total.merge(part);
        }
        for ((phases, avail), (p, a)) in per_efa.iter_mut().zip(&efa_part) {
            phases.merge(p);
            avail.online += a.online;
            avail.observed += a.observed;
        }
    }
    // A Kreis listed twice counts like the first of its ARS.
    for (i, (k, _)) in kreise.iter().enumerate() {
        let first = kreis_index.get(k.ars.as_str()).copied();
        if let Some(v) = first
            .filter(|f| *f != i)
            .and_then(|f| per_kreis.get(f).copied())
        {
            if let Some(slot) = per_kreis.get_mut(i) {
                *slot = v;
            }
        }
    }
    (efa_index, per_efa, per_kreis)
}

/// [`count`] over the Gemeinden `range` (indexes into `base.members`): per Kreis
/// (index into the Kreise) the phases of its Gemeinden's rows, and per EfA index
/// the phases and availability over these Gemeinden.
fn count_range<R: Fn(Option<u32>) -> Option<Option<Latest>>>(
    base: &Base,
    rows: &(impl Fn(usize) -> R + Sync),
    efa_of_service: &[Option<usize>],
    kreis_of: &[Option<usize>],
    kreise: usize,
    efas: usize,
    range: std::ops::Range<usize>,
) -> (Vec<Phases>, Vec<(Phases, Availability)>) {
    let members = base.members.get(range.clone()).unwrap_or_default();
    let kreis_of = kreis_of.get(range).unwrap_or_default();
    let n = members.len();
    let mut per_kreis = vec![Phases::default(); kreise];
    // Per (EfA index, Gemeinde): whether it has a row, its status, online.
    type Best = (bool, Option<Status>, Option<bool>);
    let mut best: Vec<Best> = vec![(false, None, None); efas * n];
    // Per Gemeinde what was observed, by service index ascending, and how far
    // the services below reached into it: one hash of its ARS per Gemeinde, not
    // one per Gemeinde and service.
    let mut seen: Vec<Cursor<'_>> = members
        .iter()
        .map(|(u, ..)| (0, base.observed_in(&u.ars)))
        .collect();
    for (i, efa) in efa_of_service.iter().enumerate() {
        if base.retired(i) {
            continue;
        }
        let cells = efa.and_then(|e| best.get_mut(e * n..(e + 1) * n));
        let mut cells = cells.map(|c| c.iter_mut());
        let row = rows(i);
        for ((g, (_, _, ars_id, _)), seen) in members.iter().enumerate().zip(&mut seen) {
            let cell = cells.as_mut().and_then(Iterator::next);
            let Some(latest) = row(*ars_id) else {
                continue;
            };
            let status = latest.map(|l| l.status);
            if let Some(phases) = kreis_of
                .get(g)
                .copied()
                .flatten()
                .and_then(|k| per_kreis.get_mut(k))
            {
                phases.add(status);
            }
            let Some((has, best_status, online)) = cell else {
                continue;
            };
            *has = true;
            if status == Some(Status::Produktiv) || best_status.is_none() {
                *best_status = status.or(*best_status);
            }
            *online = match (*online, observed(seen, i)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (a, b) => a.or(b),
            };
        }
    }
    let none = Availability {
        online: 0,
        observed: 0,
    };
    let per_efa = if n == 0 {
        vec![(Phases::default(), none); efas]
    } else {
        best.chunks(n)
            .map(|cells| {
                let mut phases = Phases::default();
                let mut avail = none;
                for (_, status, online) in cells.iter().filter(|c| c.0) {
                    phases.add(*status);
                    if let Some(o) = online {
                        avail.observed += 1;
                        if *o {
                            avail.online += 1;
                        }
                    }
                }
                (phases, avail)
            })
            .collect()
    };
    (per_kreis, per_efa)
}

/// A Gemeinde's observations (`Base::observed_in`: by service index, ascending)
/// and how far into them the services counted so far reached.
type Cursor<'a> = (usize, &'a [(usize, (bool, Option<String>))]);

/// Whether service `i` was observed online in a Gemeinde (`Base::observed`),
/// from its list of observations and a cursor into it; `i` only grows from one
/// call to the next, so the cursor only moves forward.
fn observed(seen: &mut Cursor<'_>, i: usize) -> Option<bool> {
    let (at, list) = seen;
    while list.get(*at).is_some_and(|(s, _)| *s < i) {
        *at += 1;
    }
    list.get(*at).filter(|(s, _)| *s == i).map(|(_, o)| o.0)
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
