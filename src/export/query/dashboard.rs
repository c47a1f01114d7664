//! Assembles `DashboardData`: the services (every key a municipality executes or
//! has a status for) and each Gemeinde's rows from the status matrix. This is the
//! one place that decides which service is relevant where.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::Connection;

use super::catalog::{
    annotations, availability, efa_services, efa_themenfeld, leika_names, ozg_names, units,
    units_of_levels, Annotation, Efa, Observed,
};
use super::matrix::{Latest, Matrix};
use super::status::{matrix_and_changes, ScopeReader};
use super::{map_for_scans, CHANGE_WINDOW_DAYS};
use crate::export::dashboards::Made;
use crate::export::model::Status;
use crate::export::model::{
    DashService, DashboardData, DataStamp, Gemeinde, GemeindeChange, GemeindeRow, OzgRef, Unit,
};
use crate::export::ExportError;
use crate::model::{LandScope, Vollzug};

/// Everything the dashboards need, as of a date: the data without the
/// Gemeinden's service rows and recent changes, and where those come from
/// ([`GemeindeRows::rows`], called as each Gemeinde's files are built, so the
/// rows of all Gemeinden are never held at once). The status cells are read
/// Gemeinde by Gemeinde there too ([`ScopeReader`]); only where that reader
/// cannot be had is the whole matrix read here. `stamp` is the [`DataStamp`]
/// the caller read on `conn` (`query::stamp`).
pub fn dashboards(
    conn: &Connection,
    land: &LandScope,
    as_of: NaiveDate,
    generated_at: DateTime<Utc>,
    stamp: DataStamp,
) -> Result<(DashboardData, GemeindeRows), ExportError> {
    let window_from = window_from(as_of);
    // The Gemeinde reader's helper connections are opened (and the subjects
    // and scopes interned) on another thread while this one reads the units
    // and the catalogue.
    let opening = ScopeReader::opening(conn)?;
    let (opened, levels, catalogue) = std::thread::scope(|scope| {
        let opened =
            opening.map(|opening| scope.spawn(move || opening.open(as_of, Some(window_from))));
        map_for_scans(conn);
        let levels = units_of_levels(conn, land);
        let catalogue = Catalogue::read(conn);
        let opened = match opened {
            Some(o) => o.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            None => Ok(None),
        };
        (opened, levels, catalogue)
    });
    let (opened, levels, catalogue) = (opened?, levels?, catalogue?);
    // Read Gemeinde by Gemeinde as the files are built; only where that reader
    // cannot be had, the whole matrix here.
    let (matrix, mut reader) = match opened {
        Some((interned, reader)) => (interned, Some(reader)),
        None => (matrix_and_changes(conn, as_of, Some(window_from))?, None),
    };
    let mut base = base_of_members(conn, as_of, matrix, &catalogue, levels.gemeinden)?;
    if let Some(reader) = &mut reader {
        reader.set_pairs(base.pairs());
    }
    let members = std::mem::take(&mut base.members);
    let mut ars_ids = Vec::with_capacity(members.len());
    let gemeinden = members
        .into_iter()
        .map(|(u, verband_ars, ars_id, changes)| {
            ars_ids.push(ars_id);
            Gemeinde {
                ars: u.ars,
                name: u.name,
                kreis_ars: u.kreis_ars,
                verband_ars,
                textkennzeichen: u.textkennzeichen,
                services: Vec::new(),
                retired_services: Vec::new(),
                changes,
            }
        })
        .collect();
    let data = DashboardData {
        land: land.clone(),
        generated_at,
        as_of,
        stamp,
        services: base.services.clone(),
        kreise: levels.kreise,
        verbaende: levels.verbaende,
        gemeinden,
    };
    Ok((
        data,
        GemeindeRows {
            base,
            ars_ids,
            reader,
        },
    ))
}

/// The start of the change window of an export as of `as_of`.
fn window_from(as_of: NaiveDate) -> NaiveDate {
    as_of - chrono::Duration::days(CHANGE_WINDOW_DAYS)
}

/// The per-Gemeinde service rows of a [`DashboardData`] read by [`dashboards`],
/// made when asked for: from the Gemeinde's cells read then, or from the status
/// matrix read whole.
pub struct GemeindeRows {
    base: Base,
    /// The interned ARS of each Gemeinde, in the order of `DashboardData::gemeinden`.
    ars_ids: Vec<Option<u32>>,
    /// Reads each Gemeinde's cells; `None` when `base` holds the whole matrix
    /// (and the Gemeinden their recent changes).
    reader: Option<ScopeReader>,
}

impl GemeindeRows {
    /// Fills `out` with the rows of Gemeinde `i` (of `DashboardData::gemeinden`,
    /// which is `g`): relevant and retired ones in one list, in service order,
    /// each straight from the Gemeinde's cells. [`Made::Held`] for an index this
    /// data does not have.
    pub fn rows<'s>(
        &'s self,
        i: usize,
        g: &Gemeinde,
        out: &mut Vec<GemeindeRow<'s>>,
    ) -> Result<Made, ExportError> {
        let Some(&ars_id) = self.ars_ids.get(i) else {
            return Ok(Made::Held);
        };
        let base = &self.base;
        let (cells, changes) = match (&self.reader, ars_id) {
            (Some(reader), Some(a)) => {
                let cells = reader.cells(a)?;
                let changes = base.changes(cells.recent.iter().map(|r| (r.s, r.on, r.old, r.new)));
                (Some(cells.latest), Some(changes))
            }
            // A Gemeinde without any status cell.
            (Some(_), None) => (None, Some(Vec::new())),
            (None, _) => (None, None),
        };
        out.reserve(base.subjects.len());
        // The Gemeinde's observations by service, walked alongside the services.
        let mut seen = base.observed_in(&g.ars).iter().peekable();
        for i in 0..base.subjects.len() {
            let row = match &cells {
                Some(cells) => base.row_in(i, cells),
                None => base.row(i, ars_id),
            };
            let Some(latest) = row else {
                continue;
            };
            while seen.next_if(|(service, _)| *service < i).is_some() {}
            let observed = seen
                .peek()
                .filter(|(service, _)| *service == i)
                .map(|o| &o.1);
            out.push(GemeindeRow {
                service: i,
                status: latest.map(|l| l.status),
                since: latest.map(|l| l.on),
                online: observed.map(|o| o.0),
                url: observed.and_then(|o| o.1.as_deref()),
                retired: base.retired(i),
            });
        }
        Ok(Made::Filled(changes))
    }
}

/// What was observed of a service in a Gemeinde: seen online and ok, and the URL.
type Seen = (bool, Option<String>);

/// Observations by ARS, each ARS's by service index (ascending).
type SeenByArs = HashMap<String, Vec<(usize, Seen)>>;

/// A Gemeinde with its Verband, its interned ARS in the matrix and its recent changes.
pub(super) type Member = (Unit, Option<String>, Option<u32>, Vec<GemeindeChange>);

/// What the per-Gemeinde service rows are made from: the status matrix, the
/// services, which subjects count for each, and the Gemeinden. The dashboards build
/// every row from it; the report counts the same rows without building them.
pub(super) struct Base {
    matrix: Matrix,
    pub(super) services: Vec<DashService>,
    /// Per service: its LeiKa subject, its EfA service's subject, and whether it is
    /// relevant to every Gemeinde.
    subjects: Vec<(Option<u32>, Option<u32>, bool)>,
    /// What was observed online, per ARS: by service index, ascending.
    seen: SeenByArs,
    pub(super) members: Vec<Member>,
    /// The services each interned subject counts for.
    service_of_subject: HashMap<u32, Vec<usize>>,
    /// Per service: whether its LeiKa key is retired (`DashService::retired`, kept
    /// apart from the services' many other fields, which a row never needs).
    retired: Vec<bool>,
}

impl Base {
    /// The row of service `i` in the Gemeinde with interned ARS `ars_id`: `None`
    /// when there is none, else its latest status (if any).
    pub(super) fn row(&self, i: usize, ars_id: Option<u32>) -> Option<Option<Latest>> {
        self.relevant(i, |s| self.matrix.get(s, ars_id))
    }

    /// [`Base::row`] from one Gemeinde's cells by subject.
    fn row_in(&self, i: usize, cells: &[Option<Latest>]) -> Option<Option<Latest>> {
        self.relevant(i, |s| *cells.get(s? as usize)?)
    }

    /// The row of service `i` given its subjects' cells in one Gemeinde. This is
    /// the one place that decides which service is relevant where.
    pub(super) fn relevant(
        &self,
        i: usize,
        cell: impl Fn(Option<u32>) -> Option<Latest>,
    ) -> Option<Option<Latest>> {
        let (l, e, all) = self.subjects.get(i)?;
        Base::row_of(*all, cell(*l), cell(*e))
    }

    /// Service `i`'s LeiKa subject, EfA subject and whether it is relevant to
    /// every Gemeinde: for [`Base::row_of`] over many Gemeinden.
    pub(super) fn subjects_of(&self, i: usize) -> Option<(Option<u32>, Option<u32>, bool)> {
        self.subjects.get(i).copied()
    }

    /// The row of a service (relevant to every Gemeinde: `all`) from its LeiKa
    /// subject's and its EfA subject's cell ([`Base::relevant`]).
    pub(super) fn row_of(
        all: bool,
        l: Option<Latest>,
        e: Option<Latest>,
    ) -> Option<Option<Latest>> {
        let latest = Latest::newer(l, e);
        (latest.is_some() || all).then_some(latest)
    }

    /// The subjects that meet in one service's row (a LeiKa key's and its EfA
    /// service's): where both have a cell, the later event decides the row.
    pub(super) fn pairs(&self) -> Vec<(u32, u32)> {
        self.subjects
            .iter()
            .filter_map(|(l, e, _)| Some(((*l)?, (*e)?)))
            .collect()
    }

    /// One Gemeinde's recent changes (subject, date, old, new) as changes of the
    /// services they count for, newest first, then by service.
    fn changes(
        &self,
        recent: impl Iterator<Item = (u32, NaiveDate, Option<Status>, Status)>,
    ) -> Vec<GemeindeChange> {
        let mut changes = Vec::new();
        for (s, on, old, new) in recent {
            for i in self.service_of_subject.get(&s).into_iter().flatten() {
                changes.push(GemeindeChange {
                    effective_on: on,
                    service: *i,
                    old,
                    new,
                });
            }
        }
        sort_changes(&mut changes);
        changes
    }

    /// Everything observed online in the Gemeinde `ars`, by service index
    /// (ascending); looked up without allocating.
    pub(super) fn observed_in(&self, ars: &str) -> &[(usize, Seen)] {
        self.seen.get(ars).map_or(&[], Vec::as_slice)
    }

    /// Whether service `i` is a retired LeiKa key (its rows are kept apart).
    pub(super) fn retired(&self, i: usize) -> bool {
        self.retired.get(i).copied().unwrap_or(false)
    }
}

/// The annotations and EfA services, read once for an export that needs them
/// beside its [`Base`] (the report).
pub(super) struct Catalogue {
    pub(super) notes: BTreeMap<String, Annotation>,
    pub(super) efas: Vec<Efa>,
}

impl Catalogue {
    pub(super) fn read(conn: &Connection) -> Result<Catalogue, ExportError> {
        Ok(Catalogue {
            notes: annotations(conn)?,
            efas: efa_services(conn)?,
        })
    }
}

/// The [`Base`] from the whole matrix without its changes, from a [`Catalogue`]
/// already read (the report's).
pub(super) fn base_with(
    conn: &Connection,
    land: &LandScope,
    as_of: NaiveDate,
    catalogue: &Catalogue,
) -> Result<Base, ExportError> {
    map_for_scans(conn);
    let matrix = matrix_and_changes(conn, as_of, None)?;
    base_of(conn, land, as_of, matrix, catalogue)
}

/// The [`Base`] from a matrix already read (its `recent` changes go to the
/// members), or from an empty one that only interns the subjects and scopes, and
/// the annotations and EfA services already read. The caller has mapped `conn`
/// for the catalogue's scans.
pub(super) fn base_of(
    conn: &Connection,
    land: &LandScope,
    as_of: NaiveDate,
    matrix: Matrix,
    catalogue: &Catalogue,
) -> Result<Base, ExportError> {
    let gemeinden = units(conn, "gemeinde", land)?;
    base_of_members(conn, as_of, matrix, catalogue, gemeinden)
}

/// [`base_of`] with the Gemeinden (and their Verband) already read.
fn base_of_members(
    conn: &Connection,
    as_of: NaiveDate,
    matrix: Matrix,
    catalogue: &Catalogue,
    gemeinden: Vec<(Unit, Option<String>)>,
) -> Result<Base, ExportError> {
    let started = std::time::Instant::now();
    let notes = &catalogue.notes;
    let efa: HashMap<&str, &Efa> = catalogue.efas.iter().map(|e| (e.id.as_str(), e)).collect();
    let names = leika_names(conn)?;
    let ozg = ozg_names(conn)?;
    let seen = availability(conn, as_of)?;
    tracing::debug!(elapsed = ?started.elapsed(), "export: catalogue read");
    // An EfA service names the LeiKa keys it implements; an annotation's efa_id wins.
    let mut efa_of_key: HashMap<&str, &str> = HashMap::new();
    let mut sorted_efa: Vec<&Efa> = efa.values().copied().collect();
    sorted_efa.sort_by(|a, b| a.id.cmp(&b.id));
    for e in sorted_efa {
        for k in &e.leika_keys {
            efa_of_key.entry(k.as_str()).or_insert(e.id.as_str());
        }
    }

    let nachnutzung = crate::store::efa_nachnutzung::states_as_of(conn, as_of)?;
    // Services: every LeiKa key a municipality executes (annotation) or has a status for.
    let mut keys: BTreeMap<String, ()> = BTreeMap::new();
    for (key, a) in notes {
        if Vollzug::is_municipal_code(a.vollzug.as_deref()) {
            keys.insert(key.clone(), ());
        }
    }
    for subject in matrix.leika.keys() {
        keys.insert(subject.clone(), ());
    }
    let services: Vec<DashService> = keys
        .keys()
        .map(|key| {
            let a = notes.get(key);
            let efa_id = a
                .and_then(|a| a.efa_id.clone())
                .or_else(|| efa_of_key.get(key.as_str()).map(|s| s.to_string()));
            let e = efa_id.as_deref().and_then(|id| efa.get(id).copied());
            let leika = names.get(key);
            DashService {
                leistungsschluessel: key.clone(),
                name: leika.map_or_else(|| key.clone(), |(name, _)| name.clone()),
                retired: leika.is_some_and(|(_, retired)| *retired),
                reifegrad: e.and_then(|e| e.reifegrad.clone()),
                umsetzungsweg: a.and_then(|a| a.umsetzungsweg.clone()),
                efa_name: e.map(|e| e.name.clone()),
                ozg_leistungen: e
                    .map(|e| {
                        e.ozg_ids
                            .iter()
                            .map(|id| OzgRef {
                                ozg_id: id.clone(),
                                name: ozg.get(id).map(|o| o.0.clone()).unwrap_or_default(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                url: e.and_then(|e| e.url.clone()),
                nachnutzung: efa_id.as_ref().and_then(|id| nachnutzung.get(id).cloned()),
                themenfeld: e.and_then(|e| efa_themenfeld(e, &ozg)),
                efa_id,
            }
        })
        .collect();
    // For each service, the interned subjects whose events count: its key and its EfA
    // service; and whether it is relevant to every Gemeinde. This is the one place
    // that decides what is relevant: a retired LeiKa key is relevant to no one, what
    // its annotation says notwithstanding (its statuses go to `retired_services`).
    let subjects: Vec<(Option<u32>, Option<u32>, bool)> = services
        .iter()
        .map(|s| {
            let all = !s.retired
                && notes
                    .get(&s.leistungsschluessel)
                    .is_some_and(|a| Vollzug::is_municipal_code(a.vollzug.as_deref()));
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

    // Each Gemeinde with its recent changes.
    let members: Vec<Member> = gemeinden
        .into_iter()
        .map(|(u, verband_ars)| {
            let ars_id = matrix.ars.get(&u.ars).copied();
            let mut changes = ars_id
                .and_then(|a| recent_by_ars.remove(&a))
                .unwrap_or_default();
            sort_changes(&mut changes);
            (u, verband_ars, ars_id, changes)
        })
        .collect();
    let seen = observed_by_ars(seen, &services);
    Ok(Base {
        matrix,
        retired: services.iter().map(|s| s.retired).collect(),
        services,
        subjects,
        seen,
        members,
        service_of_subject,
    })
}

/// The observations by ARS, each ARS's by service index (ascending); those of a
/// key that is no service are never asked for and left out.
fn observed_by_ars(seen: Observed, services: &[DashService]) -> SeenByArs {
    let mut out = SeenByArs::new();
    for ((ars, key), o) in seen {
        // `services` is sorted by key (made from a BTreeMap's keys).
        let Ok(i) = services.binary_search_by(|s| s.leistungsschluessel.as_str().cmp(&key)) else {
            continue;
        };
        out.entry(ars).or_default().push((i, o));
    }
    for list in out.values_mut() {
        // (ARS, key) was a map key, so each service is there once.
        list.sort_unstable_by_key(|(i, _)| *i);
    }
    out
}

/// A Gemeinde's changes newest first, then by service (stable: changes of one
/// service on one day keep the order they were read in, by subject and event).
fn sort_changes(changes: &mut [GemeindeChange]) {
    changes.sort_by(|a, b| {
        b.effective_on
            .cmp(&a.effective_on)
            .then(a.service.cmp(&b.service))
    });
}
