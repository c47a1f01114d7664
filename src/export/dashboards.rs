//! The municipal dashboard files, built from [`DashboardData`]: one file
//! per Gemeinde, per Gemeindeverband (Samtgemeinden and other multi-member
//! Verbände) and per Kreis, `index.json`, `meta.json` and the JSON Schemas. Pure:
//! data in, `relative path → bytes` out, each file handed to a sink as soon as it
//! is built ([`build_into`]; `export::publish::Staging` puts it on disk), so the
//! set (2.2 GB for all of Germany) is never held in memory.
//!
//! The static fields of every service (name, Reifegrad, Umsetzungsweg, EfA
//! service, OZG-Leistungen, URL) are written once into `services.json`; the unit
//! files hold per service only what varies, keyed by leistungsschluessel, so 939
//! Gemeinden × 3,000 services stay small. The files are built Kreis by Kreis on
//! every core, each Gemeinde's service rows made (by the caller's row source) only
//! while its Kreis is built, so the rows of the whole set are never held either.
//!
//! Only `meta.json` carries a time stamp. Every other file depends on the data
//! alone, so a re-export of unchanged data produces identical bytes and the
//! publisher can keep the old files (and their mtimes, so ETags stay valid).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::json::{
    self, Counts, CountsJson, DateJson, HeadlineJson, IndexEntryJson, IndexFileJson, InputsJson,
    Keyed, LicenceJson, MemberJson, MetaCountsJson, MetaFileJson, ServiceInfoJson,
    ServicesFileJson, SourceJson, Tally, UnitJson, DASHBOARD_FORMAT_VERSION as FORMAT_VERSION,
};
#[cfg(test)]
use super::json::{ChangeJson, GemeindeFileJson, GemeindeServiceJson, ServiceCountsJson};
use super::model::{DashboardData, DataStamp, Gemeinde, GemeindeChange, GemeindeRow, Unit};
use super::publish::Legacy;
use super::{Ars, ExportError};

/// The JSON Schemas published with the files (`schema/*.schema.json` in DIR).
pub const SCHEMAS: &[(&str, &str)] = &[
    (
        "dashboard-services.schema.json",
        include_str!("../../schema/dashboard-services.schema.json"),
    ),
    (
        "dashboard-gemeinde.schema.json",
        include_str!("../../schema/dashboard-gemeinde.schema.json"),
    ),
    (
        "dashboard-aggregate.schema.json",
        include_str!("../../schema/dashboard-aggregate.schema.json"),
    ),
    (
        "dashboard-index.schema.json",
        include_str!("../../schema/dashboard-index.schema.json"),
    ),
    (
        "dashboard-meta.schema.json",
        include_str!("../../schema/dashboard-meta.schema.json"),
    ),
];

/// The file that may change without the set counting as changed.
pub const META_FILE: &str = "meta.json";

/// The shared file with the static fields of every service.
pub const SERVICES_FILE: &str = "services.json";

/// The `format` marker of `meta.json`, by which a published set is recognised.
const META_FORMAT: &str = "ozgsync-dashboard-meta";

/// The folders of the per-unit files, one file per ARS.
const UNIT_DIRS: &[&str] = &["gemeinden", "verbaende", "kreise"];

/// A dashboard set published before the publisher kept a manifest (formats 1 and
/// 2): recognised by `meta.json`'s format marker; ozgsync wrote the fixed files,
/// the schemas and one file per ARS in the unit folders, each perhaps with `.gz`.
pub const LEGACY: Legacy = Legacy {
    recognise: is_legacy_set,
    owns: legacy_owns,
};

fn is_legacy_set(dir: &Path) -> bool {
    let path = dir.join(META_FILE);
    // A link or a huge file is not a meta.json we wrote.
    let plausible =
        std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() < 1 << 20);
    plausible
        && std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .is_some_and(|meta| meta.get("format").and_then(|f| f.as_str()) == Some(META_FORMAT))
}

fn legacy_owns(path: &str) -> bool {
    let path = path.strip_suffix(".gz").unwrap_or(path);
    match path.split_once('/') {
        None => [META_FILE, SERVICES_FILE, "index.json"].contains(&path),
        Some(("schema", name)) => {
            name.starts_with("dashboard-") && name.ends_with(".schema.json") && !name.contains('/')
        }
        Some((folder, name)) => {
            UNIT_DIRS.contains(&folder)
                && name
                    .strip_suffix(".json")
                    .is_some_and(|ars| Ars::parse(ars).is_ok())
        }
    }
}

/// The licence of the published data: Destatis publishes GV100AD, and FIM/LeiKa
/// their catalogue, under the Datenlizenz Deutschland – Namensnennung 2.0, which
/// asks every user to name the sources; the status data is the Land's own.
const LICENCE: LicenceJson = LicenceJson {
    name: "Datenlizenz Deutschland – Namensnennung – Version 2.0 (dl-de/by-2-0)",
    url: "https://www.govdata.de/dl-de/by-2-0",
    attribution: &[
        "Gemeindeverzeichnis GV100AD: © Statistisches Bundesamt (Destatis)",
        "Leistungskatalog LeiKa / FIM: FITKO, Föderales Informationsmanagement",
        "Umsetzungsstand: ozgsync-Datenbank des Landes",
    ],
};

/// Verbände with Textkennzeichen 50 (verbandsfrei) are one Gemeinde each: no file.
const VERBANDSFREI: &str = "50";

/// The export's options that change the files of a set; `meta.json` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetOptions {
    /// Every file has a `.gz` sibling.
    pub gzip: bool,
    /// The dashboard site's files are part of the set.
    pub site: bool,
}

fn inputs_json(stamp: &DataStamp, options: SetOptions) -> InputsJson {
    InputsJson {
        status_batch: stamp.status_batch,
        data_generation: stamp.data_generation,
        gzip: options.gzip,
        site: options.site,
    }
}

/// The fields of `meta.json` that name what a set was made from: everything but
/// the time stamp, the licence and the file counts (which follow from the data).
#[derive(serde::Serialize)]
struct MadeFromJson<'a> {
    format: &'static str,
    format_version: u32,
    as_of: String,
    ozgsync_version: &'static str,
    database_schema_version: i64,
    land: String,
    demo: bool,
    sources: Vec<SourceJson<'a>>,
    inputs: InputsJson,
}

/// Whether a published `meta.json` names exactly what a set would now be made
/// from: the same sources (release ids), status batch, data generation, as-of
/// date, Land, options, format and ozgsync version. The files depend on nothing
/// else, so a set whose `meta.json` says so holds what a full export would write
/// (the publisher checks that the files are still the ones it wrote). A set from
/// before `inputs` existed never matches.
pub fn made_from(
    meta: &[u8],
    land: &crate::model::LandScope,
    as_of: chrono::NaiveDate,
    stamp: &DataStamp,
    database_schema_version: i64,
    options: SetOptions,
) -> bool {
    let Ok(serde_json::Value::Object(published)) = serde_json::from_slice(meta) else {
        return false;
    };
    let expected = MadeFromJson {
        format: META_FORMAT,
        format_version: FORMAT_VERSION,
        as_of: as_of.to_string(),
        ozgsync_version: env!("CARGO_PKG_VERSION"),
        database_schema_version,
        land: land.to_string(),
        demo: stamp.demo,
        sources: stamp.sources.iter().map(SourceJson::from).collect(),
        inputs: inputs_json(stamp, options),
    };
    match serde_json::to_value(&expected) {
        Ok(serde_json::Value::Object(expected)) => expected
            .iter()
            .all(|(key, value)| published.get(key) == Some(value)),
        _ => false,
    }
}

/// All files of a dashboard set, by relative path (`/`-separated), without the
/// site's (`export::site` adds those). The Gemeinden's rows are the ones `data`
/// holds.
pub fn build(
    data: &DashboardData,
    database_schema_version: i64,
    options: SetOptions,
) -> Result<BTreeMap<String, Vec<u8>>, ExportError> {
    let files = std::sync::Mutex::new(BTreeMap::new());
    build_into(
        data,
        &|_, _, _| Ok(Made::Held),
        database_schema_version,
        options,
        &|path, bytes| {
            files
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(path.to_owned(), bytes.to_vec());
            Ok(())
        },
    )?;
    Ok(files.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// Where a built file goes: (relative path, bytes), called from every core.
pub type Sink<'a> = dyn Fn(&str, &[u8]) -> Result<(), ExportError> + Sync + 'a;

/// What a row source did for a Gemeinde.
pub enum Made {
    /// Nothing: the rows (and changes) the Gemeinde holds are used.
    Held,
    /// It filled the list with the Gemeinde's rows, relevant and retired ones in
    /// one list in service order, and read its recent changes (newest first, then
    /// by service) with them, or left them to the Gemeinde (`None`).
    Filled(Option<Vec<GemeindeChange>>),
}

/// Where the service rows of Gemeinde `i` (of `data.gemeinden`) come from when
/// its files are built: the source fills the (emptied) list handed to it, which
/// is reused from Gemeinde to Gemeinde, so no Gemeinde's rows are allocated.
pub type RowSource<'d> =
    dyn Fn(usize, &Gemeinde, &mut Vec<GemeindeRow<'d>>) -> Result<Made, ExportError> + Sync + 'd;

/// Fills `rows` with Gemeinde `g`'s rows (from the source, or the ones it holds)
/// and returns its recent changes.
fn rows_of<'d>(
    source: &RowSource<'d>,
    i: usize,
    g: &'d Gemeinde,
    rows: &mut Vec<GemeindeRow<'d>>,
) -> Result<Cow<'d, [GemeindeChange]>, ExportError> {
    rows.clear();
    match source(i, g, rows)? {
        Made::Filled(Some(changes)) => Ok(Cow::Owned(changes)),
        Made::Filled(None) => Ok(Cow::Borrowed(&g.changes)),
        Made::Held => {
            rows.clear();
            // Two lists sorted by service, merged into one.
            let (mut relevant, mut retired) = (
                g.services.iter().peekable(),
                g.retired_services.iter().peekable(),
            );
            loop {
                let take_retired = match (relevant.peek(), retired.peek()) {
                    (Some(a), Some(b)) => b.service < a.service,
                    (None, Some(_)) => true,
                    (_, None) => false,
                };
                let next = if take_retired {
                    retired.next().map(|gs| GemeindeRow::of(gs, true))
                } else {
                    relevant.next().map(|gs| GemeindeRow::of(gs, false))
                };
                let Some(row) = next else { break };
                rows.push(row);
            }
            Ok(Cow::Borrowed(&g.changes))
        }
    }
}

/// Gemeinden whose files are built together, with the aggregate units (indexes
/// into the unit list) all of whose members are among them: one Kreis with its
/// Gemeinden and Verbände. Their changes live only while the group is built.
#[derive(Default)]
struct Group {
    gemeinden: Vec<usize>,
    units: Vec<usize>,
}

/// The groups (by Kreis), and the units left over: those without members and
/// Verbände whose members lie in several Kreise (their members' rows are made
/// again when they are built).
fn groups(data: &DashboardData, units: &[(&str, &str, &Unit)]) -> (Vec<Group>, Vec<usize>) {
    let mut by_kreis: BTreeMap<Option<&str>, Group> = BTreeMap::new();
    // The Kreis group of every Verband's members; `None` once they disagree.
    let mut verband_kreis: HashMap<&str, Option<Option<&str>>> = HashMap::new();
    for (i, g) in data.gemeinden.iter().enumerate() {
        let kreis = g.kreis_ars.as_deref();
        by_kreis.entry(kreis).or_default().gemeinden.push(i);
        if let Some(v) = g.verband_ars.as_deref() {
            verband_kreis
                .entry(v)
                .and_modify(|k| {
                    if *k != Some(kreis) {
                        *k = None;
                    }
                })
                .or_insert(Some(kreis));
        }
    }
    let mut loose = Vec::new();
    for (u, (level, _, unit)) in units.iter().enumerate() {
        let kreis = match *level {
            "kreis" => Some(Some(unit.ars.as_str())),
            _ => verband_kreis.get(unit.ars.as_str()).copied().flatten(),
        };
        match kreis.and_then(|k| by_kreis.get_mut(&k)) {
            Some(group) => group.units.push(u),
            None => loose.push(u),
        }
    }
    (by_kreis.into_values().collect(), loose)
}

/// Maps `f` over `items` on every core, each thread taking the next item when it
/// is done with one (Kreise differ in size tenfold, so fixed halves would leave a
/// core idle), keeping the order.
fn par_each<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || items.len() < 2 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (f, next) = (&f, &next);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.min(items.len()))
            .map(|_| {
                scope.spawn(move || {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        out.push((i, f(item)));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// What building a group gave: per Gemeinde (index) its path and tally, per unit
/// (index) its path and counts.
type GroupOut = (
    Vec<(usize, String, Tally)>,
    Vec<(usize, String, CountsJson)>,
);

/// Builds the files of a dashboard set (see [`build`]) and hands each to `put`
/// as soon as it is built. The Gemeinden are built Kreis by Kreis (one Kreis per
/// core at a time), each Gemeinde's rows taken from `rows`, counted into its
/// Kreis's and Verband's counter arrays right after its own file and dropped (its
/// changes are kept until the Kreis's aggregate files are built), so neither the
/// files nor the rows of the whole set are ever held (the publisher writes each
/// file into its staging directory).
pub fn build_into<'d>(
    data: &'d DashboardData,
    rows: &RowSource<'d>,
    database_schema_version: i64,
    options: SetOptions,
    put: &Sink<'_>,
) -> Result<(), ExportError> {
    let services = ServicesFileJson {
        format: "ozgsync-dashboard-services",
        format_version: FORMAT_VERSION,
        services: Keyed(
            data.services
                .iter()
                .map(|s| (s.leistungsschluessel.as_str(), ServiceInfoJson::from(s)))
                .collect(),
        ),
    };
    put(SERVICES_FILE, &compact(&services)?)?;

    let keys = service_keys(data)?;
    let keys = &keys;
    let mut units: Vec<(&'static str, &'static str, &Unit)> = Vec::new();
    for (level, dir, list) in [
        ("verband", "verbaende", &data.verbaende),
        ("kreis", "kreise", &data.kreise),
    ] {
        for unit in list {
            if level == "verband" && unit.textkennzeichen.as_deref() == Some(VERBANDSFREI) {
                continue;
            }
            units.push((level, dir, unit));
        }
    }
    let is_member = |g: &Gemeinde, level: &str, ars: &str| match level {
        "kreis" => g.kreis_ars.as_deref() == Some(ars),
        _ => g.verband_ars.as_deref() == Some(ars),
    };
    // `bytes`: a buffer to build the file in (emptied here).
    let unit_file = |u: usize,
                     members: &[Member<'_>],
                     counted: &ServiceCounts,
                     tallies: &HashMap<&str, Tally>,
                     bytes: &mut Vec<u8>| {
        let Some((level, dir, unit)) = units.get(u) else {
            return Err(ExportError::invalid(format!("no aggregate unit {u}")));
        };
        let ars = Ars::parse(&unit.ars)?;
        bytes.clear();
        let counts = aggregate_file(data, unit, level, (members, counted), tallies, keys, bytes)?;
        let path = format!("{dir}/{ars}.json");
        put(&path, bytes)?;
        Ok::<_, ExportError>((u, path, counts))
    };

    let (mut groups, loose) = groups(data, &units);
    // The biggest Kreise first, so the cores finish together.
    groups.sort_by_key(|g| std::cmp::Reverse(g.gemeinden.len()));
    let built = par_each(&groups, |group| -> Result<GroupOut, ExportError> {
        let mut made: Vec<Member<'_>> = Vec::with_capacity(group.gemeinden.len());
        let mut out = Vec::with_capacity(group.gemeinden.len());
        let mut tallies: HashMap<&str, Tally> = HashMap::new();
        // Each unit's per-service counts, counted from a member's rows right after
        // its own file (while they are in cache); only its changes are kept for
        // the unit files, its rows are dropped.
        let mut counted: Vec<ServiceCounts> = group
            .units
            .iter()
            .map(|_| ServiceCounts::new(data.services.len()))
            .collect();
        // One list of rows and one file buffer for every Gemeinde of the group.
        let mut r: Vec<GemeindeRow<'d>> = Vec::with_capacity(data.services.len());
        let mut bytes = Vec::new();
        let mut dates = DateCache::default();
        for &i in &group.gemeinden {
            let Some(g) = data.gemeinden.get(i) else {
                continue;
            };
            let ars = Ars::parse(&g.ars)?;
            let changes = rows_of(rows, i, g, &mut r)?;
            bytes.clear();
            let tally = gemeinde_file(data, g, (&r, &changes), keys, &mut dates, &mut bytes)?;
            let path = format!("gemeinden/{ars}.json");
            put(&path, &bytes)?;
            for (&u, c) in group.units.iter().zip(&mut counted) {
                if units
                    .get(u)
                    .is_some_and(|(level, _, unit)| is_member(g, level, &unit.ars))
                {
                    c.add_rows(&r);
                }
            }
            tallies.insert(g.ars.as_str(), tally.clone());
            out.push((i, path, tally));
            made.push((g, changes));
        }
        let mut unit_out = Vec::with_capacity(group.units.len());
        for (&u, c) in group.units.iter().zip(&counted) {
            let Some((level, _, unit)) = units.get(u) else {
                continue;
            };
            let members: Vec<Member<'_>> = made
                .iter()
                .filter(|(g, _)| is_member(g, level, &unit.ars))
                .map(|(g, changes)| (*g, Cow::Borrowed(&**changes)))
                .collect();
            unit_out.push(unit_file(u, &members, c, &tallies, &mut bytes)?);
        }
        Ok((out, unit_out))
    });
    let mut gemeinde_out: Vec<Option<(String, Tally)>> = vec![None; data.gemeinden.len()];
    let mut unit_out: Vec<Option<(String, CountsJson)>> = vec![None; units.len()];
    for result in built {
        let (gemeinden, built_units) = result?;
        for (i, path, tally) in gemeinden {
            if let Some(slot) = gemeinde_out.get_mut(i) {
                *slot = Some((path, tally));
            }
        }
        for (u, path, counts) in built_units {
            if let Some(slot) = unit_out.get_mut(u) {
                *slot = Some((path, counts));
            }
        }
    }
    let tallies: HashMap<&str, Tally> = data
        .gemeinden
        .iter()
        .zip(&gemeinde_out)
        .filter_map(|(g, out)| Some((g.ars.as_str(), out.as_ref()?.1.clone())))
        .collect();
    let built = super::par_map(&loose, |&u| {
        let Some((level, _, unit)) = units.get(u) else {
            return Err(ExportError::invalid(format!("no aggregate unit {u}")));
        };
        let mut counted = ServiceCounts::new(data.services.len());
        let mut r = Vec::with_capacity(data.services.len());
        let members = data
            .gemeinden
            .iter()
            .enumerate()
            .filter(|(_, g)| is_member(g, level, &unit.ars))
            .map(|(i, g)| {
                let changes = rows_of(rows, i, g, &mut r)?;
                counted.add_rows(&r);
                Ok((g, changes))
            })
            .collect::<Result<Vec<Member<'_>>, ExportError>>()?;
        unit_file(u, &members, &counted, &tallies, &mut Vec::new())
    });
    for result in built {
        let (u, path, counts) = result?;
        if let Some(slot) = unit_out.get_mut(u) {
            *slot = Some((path, counts));
        }
    }

    let mut index = Vec::with_capacity(data.gemeinden.len() + units.len());
    for (g, out) in data.gemeinden.iter().zip(gemeinde_out) {
        let Some((path, tally)) = out else {
            continue;
        };
        let counts = tally.json();
        index.push(IndexEntryJson {
            ars: &g.ars,
            name: &g.name,
            level: "gemeinde",
            path,
            kreis_ars: g.kreis_ars.as_deref(),
            counts: HeadlineJson::from(&counts),
        });
    }
    let mut n_verbaende = 0;
    for ((level, _, unit), out) in units.iter().zip(unit_out) {
        let Some((path, counts)) = out else {
            continue;
        };
        index.push(IndexEntryJson {
            ars: &unit.ars,
            name: &unit.name,
            level,
            path,
            kreis_ars: unit.kreis_ars.as_deref(),
            counts: HeadlineJson::from(&counts),
        });
        if *level == "verband" {
            n_verbaende += 1;
        }
    }

    let index_file = IndexFileJson {
        format: "ozgsync-dashboard-index",
        format_version: FORMAT_VERSION,
        services: SERVICES_FILE,
        units: index,
    };
    put(
        "index.json",
        &json::to_bytes(&index_file).map_err(ExportError::Json)?,
    )?;
    let meta = MetaFileJson {
        format: META_FORMAT,
        format_version: FORMAT_VERSION,
        generated_at: json::timestamp(&data.generated_at),
        as_of: data.as_of.to_string(),
        ozgsync_version: env!("CARGO_PKG_VERSION"),
        database_schema_version,
        land: data.land.to_string(),
        demo: data.stamp.demo,
        licence: LICENCE,
        sources: data.stamp.sources.iter().map(SourceJson::from).collect(),
        inputs: inputs_json(&data.stamp, options),
        files: MetaCountsJson {
            services: data.services.len(),
            gemeinden: data.gemeinden.len(),
            verbaende: n_verbaende,
            kreise: data.kreise.len(),
        },
    };
    put(
        META_FILE,
        &json::to_bytes(&meta).map_err(ExportError::Json)?,
    )?;
    for (name, text) in SCHEMAS {
        put(&format!("schema/{name}"), text.as_bytes())?;
    }
    Ok(())
}

fn unit_json<'a>(
    ars: &'a str,
    name: &'a str,
    level: &'static str,
    textkennzeichen: Option<&'a str>,
    kreis_ars: Option<&'a str>,
    verband_ars: Option<&'a str>,
) -> UnitJson<'a> {
    UnitJson {
        ars,
        name,
        level,
        textkennzeichen,
        kreis_ars,
        verband_ars,
    }
}

/// The changes of one Gemeinde; `with_ars` for the aggregate files (the
/// reference [`changes_list`] is checked against).
#[cfg(test)]
fn change_json<'a>(
    data: &'a DashboardData,
    g: &'a Gemeinde,
    changes: &'a [GemeindeChange],
    with_ars: bool,
) -> Vec<ChangeJson<'a>> {
    changes
        .iter()
        .filter_map(|c| {
            let s = data.services.get(c.service)?;
            Some(ChangeJson {
                effective_on: DateJson(c.effective_on),
                ars: with_ars.then_some(g.ars.as_str()),
                leistungsschluessel: &s.leistungsschluessel,
                old: c.old.map(|s| s.as_str()),
                new: c.new.as_str(),
            })
        })
        .collect()
}

/// What every Gemeinde file writes the same for a service: its key as a JSON
/// object key (`"…":`, escaped once) and, when the Kommunen can order its EfA
/// service on the export date, the field naming the channel (`"efa_kanal":"…"`).
/// Indexed like `data.services`.
struct ServiceKey {
    key: Vec<u8>,
    efa_kanal: Option<Vec<u8>>,
}

fn service_keys(data: &DashboardData) -> Result<Vec<ServiceKey>, ExportError> {
    data.services
        .iter()
        .map(|s| {
            let mut key = serde_json::to_vec(&s.leistungsschluessel).map_err(ExportError::Json)?;
            key.push(b':');
            let kanal = s
                .nachnutzung
                .as_ref()
                .filter(|n| n.available_on(data.as_of))
                .and_then(|n| n.kanal);
            let efa_kanal = match kanal {
                Some(k) => {
                    let mut field = b"\"efa_kanal\":".to_vec();
                    json_str(&mut field, k.as_str())?;
                    Some(field)
                }
                None => None,
            };
            Ok(ServiceKey { key, efa_kanal })
        })
        .collect()
}

/// The head of a Gemeinde file: the fields of [`GemeindeFileJson`] before
/// `services`, in its order.
#[derive(serde::Serialize)]
struct GemeindeHeadJson<'a> {
    format: &'static str,
    format_version: u32,
    unit: UnitJson<'a>,
    counts: CountsJson,
}

/// A Gemeinde file into `out` (empty), byte for byte what serde_json writes for
/// [`GemeindeFileJson`] (a unit test holds the two equal), but with the services
/// map (3,000 entries per Gemeinde, most of the set's bytes) written straight from
/// the rows: keys escaped once per set, each status's field and each date's
/// string made once, no per-string escaping.
fn gemeinde_file(
    data: &DashboardData,
    g: &Gemeinde,
    (rows, changes): (&[GemeindeRow<'_>], &[GemeindeChange]),
    keys: &[ServiceKey],
    dates: &mut DateCache,
    out: &mut Vec<u8>,
) -> Result<Tally, ExportError> {
    let mut counts = Counts::default();
    for r in rows.iter().filter(|r| !r.retired) {
        counts.add(r.status, r.online);
    }
    let tally = counts.tally();
    let head = GemeindeHeadJson {
        format: "ozgsync-dashboard-gemeinde",
        format_version: FORMAT_VERSION,
        unit: unit_json(
            &g.ars,
            &g.name,
            "gemeinde",
            g.textkennzeichen.as_deref(),
            g.kreis_ars.as_deref(),
            g.verband_ars.as_deref(),
        ),
        counts: tally.json(),
    };
    // About 80 bytes per service and 90 per change.
    out.reserve(1024 + 96 * rows.len() + 96 * changes.len());
    serde_json::to_writer(&mut *out, &head).map_err(ExportError::Json)?;
    // The head is an object: reopen it for the fields that follow.
    if out.pop() != Some(b'}') {
        return Err(ExportError::invalid(
            "a Gemeinde file's head is not a JSON object".into(),
        ));
    }
    out.extend_from_slice(b",\"services\":{");
    let mut first = true;
    for r in rows {
        let Some(k) = keys.get(r.service) else {
            continue;
        };
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(&k.key);
        service_entry(out, r, k.efa_kanal.as_deref(), dates)?;
    }
    out.extend_from_slice(b"},\"changes_30d\":");
    changes_list(
        out,
        changes
            .iter()
            .filter_map(|c| ChangeOut::of(data, keys, c, None)),
    )?;
    out.extend_from_slice(b"}\n");
    Ok(tally)
}

/// One entry of a `changes_30d` list, as [`ChangeJson`](super::json::ChangeJson)
/// has it, with the service's key escaped once per set.
struct ChangeOut<'a> {
    on: chrono::NaiveDate,
    /// The Gemeinde's ARS, in aggregate files only.
    ars: Option<&'a str>,
    /// The leistungsschluessel (for the aggregate's order) and its JSON form.
    key: &'a str,
    quoted: &'a [u8],
    old: Option<super::model::Status>,
    new: super::model::Status,
}

impl<'a> ChangeOut<'a> {
    /// The change `c` of a Gemeinde; `None` for a service the data does not have.
    fn of(
        data: &'a DashboardData,
        keys: &'a [ServiceKey],
        c: &GemeindeChange,
        ars: Option<&'a str>,
    ) -> Option<ChangeOut<'a>> {
        let s = data.services.get(c.service)?;
        let k = keys.get(c.service)?;
        Some(ChangeOut {
            on: c.effective_on,
            ars,
            key: &s.leistungsschluessel,
            // `"…":` without its colon.
            quoted: k.key.split_last()?.1,
            old: c.old,
            new: c.new,
        })
    }
}

/// A `changes_30d` list, byte for byte what serde_json writes for a list of
/// [`ChangeJson`](super::json::ChangeJson) (a unit test holds the two equal):
/// 124,000 changes of Lower Saxony go into the Gemeinde files and again into
/// the Kreis and Verband files.
fn changes_list<'a>(
    out: &mut Vec<u8>,
    changes: impl IntoIterator<Item = ChangeOut<'a>>,
) -> Result<(), ExportError> {
    out.push(b'[');
    let mut first = true;
    for c in changes {
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(b"{\"effective_on\":");
        json_date(out, c.on)?;
        if let Some(ars) = c.ars {
            out.extend_from_slice(b",\"ars\":");
            json_str(out, ars)?;
        }
        out.extend_from_slice(b",\"leistungsschluessel\":");
        out.extend_from_slice(c.quoted);
        out.extend_from_slice(b",\"old\":");
        match c.old {
            Some(old) => json_str(out, old.as_str())?,
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"new\":");
        json_str(out, c.new.as_str())?;
        out.push(b'}');
    }
    out.push(b']');
    Ok(())
}

/// A row's `"status":"…"` field (the codes need no escaping; the unit test
/// against serde_json covers every status).
fn status_field(s: super::model::Status) -> &'static [u8] {
    use super::model::Status;
    match s {
        Status::NichtBegonnen => b"\"status\":\"nicht_begonnen\"",
        Status::Geplant => b"\"status\":\"geplant\"",
        Status::Beauftragt => b"\"status\":\"beauftragt\"",
        Status::InUmsetzung => b"\"status\":\"in_umsetzung\"",
        Status::Pilot => b"\"status\":\"pilot\"",
        Status::Produktiv => b"\"status\":\"produktiv\"",
        Status::Eingestellt => b"\"status\":\"eingestellt\"",
        Status::Abgelehnt => b"\"status\":\"abgelehnt\"",
    }
}

/// One value of a Gemeinde file's services map: what serde_json writes for
/// [`GemeindeServiceJson`], fields in its order, absent ones left out.
fn service_entry(
    out: &mut Vec<u8>,
    r: &GemeindeRow<'_>,
    efa_kanal: Option<&[u8]>,
    dates: &mut DateCache,
) -> Result<(), ExportError> {
    let mut sep = false;
    let mut field = |out: &mut Vec<u8>, name: &[u8]| {
        if sep {
            out.push(b',');
        }
        sep = true;
        out.extend_from_slice(name);
    };
    out.push(b'{');
    if let Some(s) = r.status {
        field(out, status_field(s));
    }
    if let Some(d) = r.since {
        field(out, b"\"since\":");
        dates.write(out, d)?;
    }
    if let Some(online) = r.online {
        field(out, b"\"online\":");
        out.extend_from_slice(if online { b"true" } else { b"false" });
    }
    if let Some(url) = r.url {
        field(out, b"\"url\":");
        json_str(out, url)?;
    }
    if r.retired {
        field(out, b"\"retired\":true");
    }
    if let Some(k) = efa_kanal {
        field(out, k);
    }
    out.push(b'}');
    Ok(())
}

/// A JSON string: copied between quotes when nothing needs escaping (the status
/// codes and channels always), else through serde_json.
fn json_str(out: &mut Vec<u8>, s: &str) -> Result<(), ExportError> {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(out, s).map_err(ExportError::Json)
    }
}

/// A date as [`DateJson`] writes it: `"YYYY-MM-DD"` directly for years 0–9999.
fn json_date(out: &mut Vec<u8>, d: chrono::NaiveDate) -> Result<(), ExportError> {
    let Some(ascii) = DateJson(d).ascii() else {
        return serde_json::to_writer(out, &DateJson(d)).map_err(ExportError::Json);
    };
    out.push(b'"');
    out.extend_from_slice(&ascii);
    out.push(b'"');
    Ok(())
}

/// Dates as JSON strings, remembered by year and day of the year (both read
/// straight from chrono's packed date): a set writes 2.8 M dates of a few hundred
/// distinct days. Direct-mapped; a slot holds its key (never 0: days count from
/// 1) and the string with its quotes.
#[derive(Default)]
struct DateCache(Vec<(u32, [u8; 12])>);

impl DateCache {
    const SLOTS: usize = 1024;

    /// [`json_date`], remembered.
    fn write(&mut self, out: &mut Vec<u8>, d: chrono::NaiveDate) -> Result<(), ExportError> {
        use chrono::Datelike;
        let key = match u32::try_from(d.year()) {
            Ok(y @ 0..=9999) => y << 9 | d.ordinal(),
            _ => return json_date(out, d),
        };
        if self.0.is_empty() {
            self.0 = vec![(0, [0; 12]); Self::SLOTS];
        }
        let Some(slot) = self.0.get_mut(key as usize % Self::SLOTS) else {
            return json_date(out, d);
        };
        if slot.0 != key {
            let Some(ascii) = DateJson(d).ascii() else {
                return json_date(out, d);
            };
            let mut quoted = [b'"'; 12];
            for (to, from) in quoted.iter_mut().skip(1).zip(ascii) {
                *to = from;
            }
            *slot = (key, quoted);
        }
        out.extend_from_slice(&slot.1);
        Ok(())
    }
}

/// The Gemeinde file through serde alone: the reference the direct writer is
/// checked against.
#[cfg(test)]
fn gemeinde_file_serde(
    data: &DashboardData,
    g: &Gemeinde,
    rows: &[GemeindeRow<'_>],
    changes: &[GemeindeChange],
) -> Result<Vec<u8>, ExportError> {
    let mut tally = Tally::default();
    for r in rows.iter().filter(|r| !r.retired) {
        tally.add(r.status, r.online);
    }
    let mut services = Vec::new();
    for r in rows {
        let Some(s) = data.services.get(r.service) else {
            continue;
        };
        services.push((
            s.leistungsschluessel.as_str(),
            GemeindeServiceJson {
                status: r.status.map(|s| s.as_str()),
                since: r.since.map(DateJson),
                online: r.online,
                url: r.url,
                retired: r.retired,
                efa_kanal: s
                    .nachnutzung
                    .as_ref()
                    .filter(|n| n.available_on(data.as_of))
                    .and_then(|n| n.kanal)
                    .map(|k| k.as_str()),
            },
        ));
    }
    let file = GemeindeFileJson {
        format: "ozgsync-dashboard-gemeinde",
        format_version: FORMAT_VERSION,
        unit: unit_json(
            &g.ars,
            &g.name,
            "gemeinde",
            g.textkennzeichen.as_deref(),
            g.kreis_ars.as_deref(),
            g.verband_ars.as_deref(),
        ),
        counts: tally.json(),
        services: Keyed(services),
        changes_30d: change_json(data, g, changes, false),
    };
    compact(&file)
}

/// A member Gemeinde of an aggregate unit and its recent changes.
type Member<'d> = (&'d Gemeinde, Cow<'d, [GemeindeChange]>);

/// The relevant rows of an aggregate unit's members, counted per service (one
/// counter array each, one increment per row) as each member's rows are made.
struct ServiceCounts {
    per_service: Vec<Counts>,
    /// Rows of a service the data does not have: in the total only.
    stray: Counts,
}

impl ServiceCounts {
    fn new(services: usize) -> ServiceCounts {
        ServiceCounts {
            per_service: vec![Counts::default(); services],
            stray: Counts::default(),
        }
    }

    /// Counts the relevant rows (not the retired ones) of a member.
    fn add_rows(&mut self, rows: &[GemeindeRow<'_>]) {
        for r in rows.iter().filter(|r| !r.retired) {
            match self.per_service.get_mut(r.service) {
                Some(c) => c.add(r.status, r.online),
                None => self.stray.add(r.status, r.online),
            }
        }
    }
}

/// An aggregate unit's file into `out` (empty) from its members (their changes)
/// and the counts of their rows; returns its counts.
fn aggregate_file(
    data: &DashboardData,
    unit: &Unit,
    level: &'static str,
    (members, counted): (&[Member<'_>], &ServiceCounts),
    tallies: &HashMap<&str, Tally>,
    keys: &[ServiceKey],
    out: &mut Vec<u8>,
) -> Result<CountsJson, ExportError> {
    let mut member_json = Vec::with_capacity(members.len());
    // Each member's place in ARS order (equal ARS, equal place), so that sorting
    // the changes compares integers where it compared the ARS texts.
    let ars_of = |i: usize| members.get(i).map(|(g, _)| g.ars.as_str());
    let mut by_ars: Vec<usize> = (0..members.len()).collect();
    by_ars.sort_by(|&a, &b| ars_of(a).cmp(&ars_of(b)));
    let mut place = vec![0u32; members.len()];
    let mut at = 0u32;
    for (n, &i) in by_ars.iter().enumerate() {
        if n > 0 && by_ars.get(n - 1).map(|&p| ars_of(p)) != Some(ars_of(i)) {
            at += 1;
        }
        if let Some(slot) = place.get_mut(i) {
            *slot = at;
        }
    }
    let mut changes = Vec::new();
    for (m, (g, member_changes)) in members.iter().enumerate() {
        let at = place.get(m).copied().unwrap_or(0);
        member_json.push(MemberJson {
            ars: &g.ars,
            name: &g.name,
            counts: tallies
                .get(g.ars.as_str())
                .map(Tally::json)
                .unwrap_or_else(|| Tally::default().json()),
        });
        changes.extend(
            member_changes
                .iter()
                .filter_map(|c| ChangeOut::of(data, keys, c, Some(g.ars.as_str())))
                .map(|c| (at, c)),
        );
    }
    let mut total = counted.stray;
    for c in &counted.per_service {
        total.merge(c);
    }
    let total = total.tally();
    // Newest first, then by place and service, so the order never depends on input order.
    changes.sort_by(|(pa, a), (pb, b)| {
        b.on.cmp(&a.on)
            .then(pa.cmp(pb))
            .then_with(|| a.key.cmp(b.key))
    });
    let counts = total.json();
    let head = AggregateHeadJson {
        format: if level == "kreis" {
            "ozgsync-dashboard-kreis"
        } else {
            "ozgsync-dashboard-verband"
        },
        format_version: FORMAT_VERSION,
        unit: unit_json(
            &unit.ars,
            &unit.name,
            level,
            unit.textkennzeichen.as_deref(),
            unit.kreis_ars.as_deref(),
            None,
        ),
        counts: counts.clone(),
        members: member_json,
    };
    // A service's counts take up to about 200 bytes, a change about 110.
    out.reserve(
        4096 + 400 * head.members.len() + 200 * counted.per_service.len() + 110 * changes.len(),
    );
    serde_json::to_writer(&mut *out, &head).map_err(ExportError::Json)?;
    // The head is an object: reopen it for the fields that follow.
    if out.pop() != Some(b'}') {
        return Err(ExportError::invalid(
            "an aggregate file's head is not a JSON object".into(),
        ));
    }
    out.extend_from_slice(b",\"services\":");
    services_counts(out, &counted.per_service, keys);
    out.extend_from_slice(b",\"changes_30d\":");
    changes_list(out, changes.into_iter().map(|(_, c)| c))?;
    out.extend_from_slice(b"}\n");
    Ok(counts)
}

/// The head of an aggregate file: the fields of `json::AggregateFileJson` before
/// `services`, in its order.
#[derive(serde::Serialize)]
struct AggregateHeadJson<'a> {
    format: &'static str,
    format_version: u32,
    unit: UnitJson<'a>,
    counts: CountsJson,
    members: Vec<MemberJson<'a>>,
}

/// An aggregate file's services map, what serde_json writes for
/// `Keyed<ServiceCountsJson>` over the services with a row counted (a unit test
/// holds the two equal): keys escaped once per set, counts written directly from
/// the counters.
fn services_counts(out: &mut Vec<u8>, per_service: &[Counts], keys: &[ServiceKey]) {
    // Each name with the comma before it; the first field of an entry skips it.
    const NAMES: [&[u8]; 11] = [
        b",\"relevant\":",
        b",\"nicht_begonnen\":",
        b",\"geplant\":",
        b",\"beauftragt\":",
        b",\"in_umsetzung\":",
        b",\"pilot\":",
        b",\"produktiv\":",
        b",\"eingestellt\":",
        b",\"abgelehnt\":",
        b",\"ohne_status\":",
        b",\"online_beobachtet\":",
    ];
    out.push(b'{');
    let mut first = true;
    for (c, k) in per_service.iter().zip(keys) {
        if c.is_empty() {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(&k.key);
        out.push(b'{');
        let mut sep = false;
        for (name, n) in NAMES.into_iter().zip(c.service_values()) {
            if n == 0 {
                continue;
            }
            out.extend_from_slice(name.get(usize::from(!sep)..).unwrap_or_default());
            sep = true;
            json_u32(out, n);
        }
        out.push(b'}');
    }
    out.push(b'}');
}

/// A count in decimal, as serde_json writes it.
fn json_u32(out: &mut Vec<u8>, mut n: u32) {
    // Most counts of an aggregate's services have one or two digits.
    if n < 10 {
        out.push(b'0' + n as u8);
        return;
    }
    if n < 100 {
        out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]);
        return;
    }
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(d) = buf.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(buf.get(i..).unwrap_or_default());
}

/// Dashboard files are compact JSON with a final newline: they are many, large
/// and read by programs; `index.json` and `meta.json` are pretty for people.
fn compact<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ExportError> {
    compact_sized(value, 4096)
}

/// As [`compact`], into a buffer of about the expected size (no regrowing).
fn compact_sized<T: serde::Serialize>(value: &T, size: usize) -> Result<Vec<u8>, ExportError> {
    let mut out = Vec::with_capacity(size);
    serde_json::to_writer(&mut out, value).map_err(ExportError::Json)?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::model::GemeindeService;

    /// The direct writer of Gemeinde files gives serde_json's bytes for every
    /// combination of fields, keys and URLs that need escaping, and odd years.
    #[test]
    fn gemeinde_files_written_directly_equal_serde() {
        use crate::efa_nachnutzung::{Kanal, State};
        use crate::export::model::{DashService, GemeindeChange, Status};
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let as_of = day(2026, 6, 30);
        let service = |key: &str, kanal: Option<Kanal>, from: chrono::NaiveDate| DashService {
            leistungsschluessel: key.into(),
            name: format!("Leistung {key}"),
            reifegrad: None,
            umsetzungsweg: None,
            efa_id: None,
            efa_name: None,
            ozg_leistungen: Vec::new(),
            url: None,
            nachnutzung: kanal.map(|k| State {
                kanal: Some(k),
                bereitgestellt_ab: Some(from),
                ..State::default()
            }),
            themenfeld: None,
            retired: false,
        };
        let services = vec![
            service("99000000000001", None, as_of),
            service("99000000000002", Some(Kanal::Govconnect), as_of),
            service("99000000000003", Some(Kanal::Land), day(2027, 1, 1)),
            service("99000000000004", Some(Kanal::Keiner), as_of),
            service(
                "9900\"quote\\ü\u{1}",
                Some(Kanal::Govdigital),
                day(2020, 2, 29),
            ),
        ];
        let urls = [
            None,
            Some("https://example.org/a?b=c&d=\"e\""),
            Some("tab\there, ü, \u{7f}, </script>"),
        ];
        // 2024-02-29 and 2026-03-01 share a slot of the date cache (day 60 of
        // an even year), so each replaces the other there again and again.
        let dates = [
            None,
            Some(day(2026, 3, 1)),
            Some(day(2024, 2, 29)),
            Some(day(0, 1, 1)),
            Some(day(-12, 1, 1)),
            Some(day(12345, 12, 31)),
        ];
        let mut rows = Vec::new();
        let mut retired = Vec::new();
        let mut n = 0usize;
        for status in std::iter::once(None).chain(Status::ALL.map(Some)) {
            for since in dates {
                for online in [None, Some(true), Some(false)] {
                    for url in urls {
                        let row = GemeindeService {
                            service: n % services.len(),
                            status,
                            status_since: since,
                            online,
                            url: url.map(str::to_owned),
                        };
                        if n % 7 == 3 {
                            retired.push(row);
                        } else {
                            rows.push(row);
                        }
                        n += 1;
                    }
                }
            }
        }
        rows.sort_by_key(|r| r.service);
        retired.sort_by_key(|r| r.service);
        let gemeinde = |services: Vec<GemeindeService>, retired: Vec<GemeindeService>| Gemeinde {
            ars: "031010000000".into(),
            name: "Gemeinde \"A\" an der Aue".into(),
            kreis_ars: Some("031010000000".into()),
            verband_ars: None,
            textkennzeichen: Some("60".into()),
            services,
            retired_services: retired,
            changes: vec![
                GemeindeChange {
                    effective_on: day(2026, 6, 1),
                    service: 1,
                    old: None,
                    new: Status::Pilot,
                },
                GemeindeChange {
                    effective_on: day(2026, 6, 1),
                    service: 4,
                    old: Some(Status::Geplant),
                    new: Status::InUmsetzung,
                },
                GemeindeChange {
                    effective_on: day(2026, 5, 20),
                    service: 0,
                    old: Some(Status::Pilot),
                    new: Status::Produktiv,
                },
                // A service the data does not have: left out.
                GemeindeChange {
                    effective_on: day(2026, 5, 20),
                    service: 99,
                    old: None,
                    new: Status::Produktiv,
                },
            ],
        };
        let data = DashboardData {
            land: crate::model::LandScope::niedersachsen(),
            generated_at: chrono::DateTime::UNIX_EPOCH,
            as_of,
            stamp: DataStamp {
                sources: Vec::new(),
                status_batch: 1,
                data_generation: 0,
                demo: false,
            },
            services,
            kreise: Vec::new(),
            verbaende: Vec::new(),
            gemeinden: vec![
                gemeinde(rows, retired),
                Gemeinde {
                    ars: "031010000001".into(),
                    ..gemeinde(Vec::new(), Vec::new())
                },
                Gemeinde {
                    ars: "03101000000\"".into(),
                    changes: Vec::new(),
                    ..gemeinde(Vec::new(), Vec::new())
                },
            ],
        };
        let keys = service_keys(&data).unwrap();
        let mut made = Vec::new();
        // One date cache and one buffer for all files, as a thread of the build has.
        let (mut dates, mut direct) = (DateCache::default(), Vec::new());
        for (i, g) in data.gemeinden.iter().enumerate() {
            let mut rows = Vec::new();
            let changes = rows_of(&|_, _, _| Ok(Made::Held), i, g, &mut rows).unwrap();
            assert!(rows.is_sorted_by_key(|r| r.service));
            assert_eq!(
                rows.len(),
                g.services.len() + g.retired_services.len(),
                "{}",
                g.ars
            );
            direct.clear();
            gemeinde_file(&data, g, (&rows, &changes), &keys, &mut dates, &mut direct).unwrap();
            let reference = gemeinde_file_serde(&data, g, &rows, &changes).unwrap();
            assert_eq!(
                String::from_utf8(direct.clone()).unwrap(),
                String::from_utf8(reference).unwrap()
            );
            made.push((g, rows, changes));
        }
        // An aggregate's changes: every member's, newest first, then by ARS and
        // key, as serde_json writes them.
        let mut counted = ServiceCounts::new(data.services.len());
        for (_, rows, _) in &made {
            counted.add_rows(rows);
        }
        let members: Vec<Member<'_>> = made
            .iter()
            .map(|(g, _, changes)| (*g, Cow::Borrowed(&**changes)))
            .collect();
        let unit = Unit {
            ars: "031010000000".into(),
            name: "Kreis".into(),
            kreis_ars: None,
            textkennzeichen: Some("41".into()),
        };
        let mut direct = Vec::new();
        aggregate_file(
            &data,
            &unit,
            "kreis",
            (&members, &counted),
            &HashMap::new(),
            &keys,
            &mut direct,
        )
        .unwrap();
        let mut changes: Vec<ChangeJson<'_>> = members
            .iter()
            .flat_map(|(g, changes)| change_json(&data, g, changes, true))
            .collect();
        changes.sort_by(|a, b| {
            b.effective_on
                .0
                .cmp(&a.effective_on.0)
                .then_with(|| a.ars.cmp(&b.ars))
                .then_with(|| a.leistungsschluessel.cmp(b.leistungsschluessel))
        });
        assert_eq!(changes.len(), 6);
        let mut tail = b",\"changes_30d\":".to_vec();
        tail.extend(serde_json::to_vec(&changes).unwrap());
        tail.extend(b"}\n");
        let direct = String::from_utf8(direct).unwrap();
        let tail = String::from_utf8(tail).unwrap();
        assert!(direct.ends_with(&tail), "{direct}\n{tail}");
    }

    /// Built Kreis by Kreis with rows from a source: every aggregate still counts
    /// all its members, also a Verband whose members lie in two Kreise and a Kreis
    /// without any; `index.json` keeps the order of the data; the rows the data
    /// holds are not used when the source gives them.
    #[test]
    fn kreis_by_kreis_build_counts_every_member_from_the_row_source() {
        use crate::export::model::{DashService, Status};
        let unit = |ars: &str, kreis: Option<&str>, tk: &str| Unit {
            ars: ars.into(),
            name: format!("Einheit {ars}"),
            kreis_ars: kreis.map(str::to_owned),
            textkennzeichen: Some(tk.into()),
        };
        let (ka, kb, kc, v) = (
            "031010000000",
            "031020000000",
            "031030000000",
            "031015401000",
        );
        let gemeinde = |ars: &str, kreis: &str, verband: Option<&str>| Gemeinde {
            ars: ars.into(),
            name: format!("Gemeinde {ars}"),
            kreis_ars: Some(kreis.into()),
            verband_ars: verband.map(str::to_owned),
            textkennzeichen: Some("60".into()),
            services: Vec::new(),
            retired_services: Vec::new(),
            changes: Vec::new(),
        };
        let data = DashboardData {
            land: crate::model::LandScope::niedersachsen(),
            generated_at: chrono::DateTime::UNIX_EPOCH,
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
            stamp: DataStamp {
                sources: Vec::new(),
                status_batch: 1,
                data_generation: 0,
                demo: false,
            },
            services: vec![DashService {
                leistungsschluessel: "99000000000001".into(),
                name: "Leistung".into(),
                reifegrad: None,
                umsetzungsweg: None,
                efa_id: None,
                efa_name: None,
                ozg_leistungen: Vec::new(),
                url: None,
                nachnutzung: None,
                themenfeld: None,
                retired: false,
            }],
            kreise: vec![
                unit(ka, None, "41"),
                unit(kb, None, "41"),
                unit(kc, None, "41"),
            ],
            verbaende: vec![unit(v, Some(ka), "52")],
            gemeinden: vec![
                gemeinde("031010001001", ka, Some(v)),
                gemeinde("031020002002", kb, Some(v)),
                gemeinde("031010003003", ka, None),
            ],
        };
        // Gemeinde i reports `produktiv` for i ≠ 1, `pilot` for 1.
        let source = |i: usize, _: &Gemeinde, rows: &mut Vec<GemeindeRow<'_>>| {
            let status = if i == 1 {
                Status::Pilot
            } else {
                Status::Produktiv
            };
            rows.push(GemeindeRow {
                service: 0,
                status: Some(status),
                since: None,
                online: None,
                url: None,
                retired: false,
            });
            Ok(Made::Filled(None))
        };
        let files = std::sync::Mutex::new(BTreeMap::new());
        build_into(&data, &source, 15, SetOptions::default(), &|path, bytes| {
            let value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            files.lock().unwrap().insert(path.to_owned(), value);
            Ok(())
        })
        .unwrap();
        let files = files.into_inner().unwrap();
        let members = |path: &str| -> Vec<String> {
            files[path]["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["ars"].as_str().unwrap().to_owned())
                .collect()
        };
        let service = |path: &str| files[path]["services"]["99000000000001"].clone();
        assert_eq!(
            members(&format!("verbaende/{v}.json")),
            ["031010001001", "031020002002"]
        );
        assert_eq!(
            service(&format!("verbaende/{v}.json")),
            serde_json::json!({"relevant": 2, "pilot": 1, "produktiv": 1})
        );
        assert_eq!(
            members(&format!("kreise/{ka}.json")),
            ["031010001001", "031010003003"]
        );
        assert_eq!(
            service(&format!("kreise/{ka}.json")),
            serde_json::json!({"relevant": 2, "produktiv": 2})
        );
        assert!(members(&format!("kreise/{kc}.json")).is_empty());
        assert_eq!(
            files["gemeinden/031020002002.json"]["services"]["99000000000001"]["status"],
            "pilot"
        );
        let order: Vec<&str> = files["index.json"]["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["ars"].as_str().unwrap())
            .collect();
        assert_eq!(
            order,
            [
                "031010001001",
                "031020002002",
                "031010003003",
                v,
                ka,
                kb,
                kc
            ]
        );
    }

    /// The direct writer of an aggregate file's services map gives serde_json's
    /// bytes: zero counts left out, keys escaped, services without a tally absent.
    #[test]
    fn aggregate_service_counts_written_directly_equal_serde() {
        use crate::export::model::Status;
        let keys: Vec<ServiceKey> = ["99000000000001", "9900\"x\\ü", "99000000000003", "4"]
            .iter()
            .map(|k| {
                let mut key = serde_json::to_vec(k).unwrap();
                key.push(b':');
                ServiceKey {
                    key,
                    efa_kanal: None,
                }
            })
            .collect();
        // Every status a different number of times, so a field out of place shows.
        let mut big = Counts::default();
        for (i, s) in std::iter::once(None)
            .chain(Status::ALL.map(Some))
            .enumerate()
        {
            for n in 0..(i * 1_234_567 % 99_991 + 1) {
                big.add(s, (n % 3 == 0).then_some(n % 2 == 0));
            }
        }
        let mut one = Counts::default();
        one.add(Some(Status::Produktiv), None);
        let mut unset = Counts::default();
        unset.add(None, Some(true));
        let none = Counts::default();
        for per_service in [
            vec![none, none, none, none],
            vec![big, none, unset, one],
            vec![one, big, none, big],
        ] {
            let mut direct = Vec::new();
            services_counts(&mut direct, &per_service, &keys);
            let names = ["99000000000001", "9900\"x\\ü", "99000000000003", "4"];
            let tallies: Vec<Option<Tally>> = per_service
                .iter()
                .map(|c| (!c.is_empty()).then(|| c.tally()))
                .collect();
            let reference = serde_json::to_vec(&Keyed(
                tallies
                    .iter()
                    .zip(names)
                    .filter_map(|(t, k)| t.as_ref().map(|t| (k, ServiceCountsJson(t))))
                    .collect(),
            ))
            .unwrap();
            assert_eq!(
                String::from_utf8(direct).unwrap(),
                String::from_utf8(reference).unwrap()
            );
        }
        for n in [
            0,
            7,
            9,
            10,
            42,
            99,
            100,
            101,
            999,
            1000,
            65_536,
            4_294_967_295,
        ] {
            let mut out = Vec::new();
            json_u32(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }

    /// The date cache writes what serde_json writes for every day of 1999–2031,
    /// read in two passes (filled, then remembered or replaced), and for years it
    /// does not hold.
    #[test]
    fn remembered_dates_are_written_as_serde_writes_them() {
        let mut cache = DateCache::default();
        let first = chrono::NaiveDate::from_ymd_opt(1999, 1, 1).unwrap();
        let days: Vec<chrono::NaiveDate> = first.iter_days().take(33 * 366).collect();
        let mut odd = vec![
            chrono::NaiveDate::from_ymd_opt(0, 1, 1).unwrap(),
            chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(),
            chrono::NaiveDate::from_ymd_opt(10000, 1, 1).unwrap(),
            chrono::NaiveDate::from_ymd_opt(-1, 12, 31).unwrap(),
        ];
        odd.extend(days.iter().rev().step_by(7));
        for d in days.iter().chain(&days).chain(&odd) {
            let mut out = Vec::new();
            cache.write(&mut out, *d).unwrap();
            assert_eq!(out, serde_json::to_vec(&DateJson(*d)).unwrap(), "{d}");
        }
    }

    #[test]
    fn the_legacy_rule_claims_exactly_what_format_2_wrote() {
        let check = |p: &str, owned: bool| assert_eq!(legacy_owns(p), owned, "{p}");
        for p in [
            "meta.json",
            "index.json.gz",
            "services.json",
            "schema/dashboard-meta.schema.json",
            "gemeinden/031010000000.json",
            "verbaende/031515401000.json.gz",
            "kreise/031510000000.json",
        ] {
            check(p, true);
        }
        for p in [
            "index.html",
            "meta.json.bak",
            "gemeinden/notes.txt",
            "gemeinden/0310100000.json",
            "gemeinden/sub/031010000000.json",
            "bilder/031010000000.json",
            "schema/other.json",
            "x.db",
        ] {
            check(p, false);
        }
    }

    #[test]
    fn a_legacy_set_is_recognised_by_the_meta_format_marker_only() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_legacy_set(dir.path()));
        let meta = dir.path().join(META_FILE);
        std::fs::write(&meta, r#"{"format":"something-else"}"#).unwrap();
        assert!(!is_legacy_set(dir.path()));
        std::fs::write(
            &meta,
            r#"{"format":"ozgsync-dashboard-meta","format_version":2}"#,
        )
        .unwrap();
        assert!(is_legacy_set(dir.path()));
    }
}
