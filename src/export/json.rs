//! The published JSON: export structs for the report and the dashboard files,
//! separate from the model so an internal rename never changes a published file
//! (serialization is a boundary). Field names here are the public contract, pinned by the JSON Schemas
//! in `schema/` and by snapshot tests. Dates are `YYYY-MM-DD`, times RFC 3339 UTC,
//! shares numbers 0..=1 (four decimals) or null when nothing is relevant.

use serde::Serialize;

use super::model::{
    self, Changes, DashService, Phases, ProgressRow, Reifegrad, Report, SourceRelease, Status,
};

/// Version of the report's JSON format; bump on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// Version of the dashboard file formats (every file of the set, and meta.json);
/// bump on any incompatible change. 2: static service fields moved to
/// `services.json`, services keyed by leistungsschluessel.
pub const DASHBOARD_FORMAT_VERSION: u32 = 2;

#[derive(Debug, Serialize)]
pub struct SourceJson<'a> {
    pub source: &'a str,
    pub release_id: i64,
    pub fetched_at: &'a str,
}

impl<'a> From<&'a SourceRelease> for SourceJson<'a> {
    fn from(s: &'a SourceRelease) -> Self {
        SourceJson {
            source: &s.source,
            release_id: s.release_id,
            fetched_at: &s.fetched_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ReifegradJson<'a> {
    pub model: &'a str,
    pub level: u8,
}

fn reifegrad(r: Option<&Reifegrad>) -> Option<ReifegradJson<'_>> {
    r.map(|r| ReifegradJson {
        model: &r.model,
        level: r.level,
    })
}

/// Counts by phase with the share live.
#[derive(Debug, Serialize, PartialEq)]
pub struct PhasesJson {
    pub total: u32,
    pub produktiv: u32,
    pub in_einfuehrung: u32,
    pub geplant: u32,
    pub anteil_produktiv: Option<f64>,
}

impl From<&Phases> for PhasesJson {
    fn from(p: &Phases) -> Self {
        PhasesJson {
            total: p.total,
            produktiv: p.produktiv,
            in_einfuehrung: p.einfuehrung,
            geplant: p.geplant,
            anteil_produktiv: p.share_produktiv(),
        }
    }
}

fn status(s: Option<Status>) -> Option<&'static str> {
    s.map(Status::as_str)
}

// ---------------------------------------------------------------- report

#[derive(Debug, Serialize)]
pub struct ReportJson<'a> {
    pub format: &'static str,
    pub format_version: u32,
    pub generated_at: String,
    pub as_of: String,
    pub since: Option<String>,
    pub sources: Vec<SourceJson<'a>>,
    pub services: Vec<ReportServiceJson<'a>>,
    pub ressorts: Vec<ProgressJson<'a>>,
    pub themenfelder: Vec<ProgressJson<'a>>,
    pub kreise: Vec<KreisJson<'a>>,
    pub changes: ChangesJson<'a>,
    /// How many EfA services reached each Nachnutzung stage, in order.
    pub nachnutzung_funnel: Vec<FunnelJson>,
}

#[derive(Debug, Serialize)]
pub struct FunnelJson {
    pub stage: &'static str,
    pub services: u32,
}

#[derive(Debug, Serialize)]
pub struct ReportServiceJson<'a> {
    pub efa_id: &'a str,
    pub name: &'a str,
    pub ozg_leistungen: Vec<OzgJson<'a>>,
    pub themenfeld: Option<&'a str>,
    pub federfuehrendes_land: Option<&'a str>,
    pub status_land: Option<&'static str>,
    pub ressort: Option<&'a str>,
    pub umsetzungsweg: Option<&'a str>,
    pub reifegrad: Option<ReifegradJson<'a>>,
    pub kommunen: PhasesJson,
    pub verfuegbarkeit: Option<AvailabilityJson>,
    pub url: Option<&'a str>,
    /// The Nachnutzung stage as of the report date.
    pub nachnutzung_stage: &'static str,
    /// The recorded Nachnutzung state; absent when none is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nachnutzung: Option<NachnutzungJson>,
}

#[derive(Debug, Serialize)]
pub struct OzgJson<'a> {
    pub ozg_id: &'a str,
    pub name: &'a str,
}

/// The OZG-Leistungen of a service or report row as written.
fn ozg_json(list: &[model::OzgRef]) -> Vec<OzgJson<'_>> {
    list.iter()
        .map(|o| OzgJson {
            ozg_id: &o.ozg_id,
            name: &o.name,
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct AvailabilityJson {
    pub online: u32,
    pub observed: u32,
}

#[derive(Debug, Serialize)]
pub struct ProgressJson<'a> {
    pub key: &'a str,
    pub name: &'a str,
    pub services: PhasesJson,
    pub kommunen: PhasesJson,
}

#[derive(Debug, Serialize)]
pub struct KreisJson<'a> {
    pub ars: &'a str,
    pub name: &'a str,
    pub gemeinden: u32,
    pub gemeinde_leistungen: PhasesJson,
}

#[derive(Debug, Serialize)]
pub struct ChangesJson<'a> {
    pub new_services: Vec<NewServiceJson<'a>>,
    pub status_changes: Vec<StatusChangeJson<'a>>,
    pub retired_keys: Vec<RetiredKeyJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct NewServiceJson<'a> {
    pub efa_id: &'a str,
    pub name: &'a str,
    pub first_seen: String,
}

#[derive(Debug, Serialize)]
pub struct StatusChangeJson<'a> {
    pub effective_on: String,
    pub subject_kind: &'a str,
    pub subject: &'a str,
    pub subject_name: &'a str,
    pub scope: &'a str,
    pub scope_name: &'a str,
    pub old: Option<&'static str>,
    pub new: &'static str,
    /// `true` when the subject is a LeiKa key that is retired now; absent otherwise.
    #[serde(skip_serializing_if = "is_false")]
    pub retired: bool,
}

#[derive(Debug, Serialize)]
pub struct RetiredKeyJson<'a> {
    pub entity: &'a str,
    pub key: &'a str,
    pub name: &'a str,
    pub retired_on: String,
}

fn progress(rows: &[ProgressRow]) -> Vec<ProgressJson<'_>> {
    rows.iter()
        .map(|r| ProgressJson {
            key: &r.key,
            name: &r.name,
            services: (&r.services).into(),
            kommunen: (&r.kommunen).into(),
        })
        .collect()
}

fn changes(c: &Changes) -> ChangesJson<'_> {
    ChangesJson {
        new_services: c
            .new_services
            .iter()
            .map(|n| NewServiceJson {
                efa_id: &n.efa_id,
                name: &n.name,
                first_seen: n.first_seen.to_string(),
            })
            .collect(),
        status_changes: c
            .status_changes
            .iter()
            .map(|s| StatusChangeJson {
                effective_on: s.effective_on.to_string(),
                subject_kind: &s.subject_kind,
                subject: &s.subject,
                subject_name: &s.subject_name,
                scope: &s.scope,
                scope_name: &s.scope_name,
                old: status(s.old),
                new: s.new.as_str(),
                retired: s.retired,
            })
            .collect(),
        retired_keys: c
            .retired_keys
            .iter()
            .map(|r| RetiredKeyJson {
                entity: &r.entity,
                key: &r.key,
                name: &r.name,
                retired_on: r.retired_on.to_string(),
            })
            .collect(),
    }
}

pub fn timestamp(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl<'a> From<&'a Report> for ReportJson<'a> {
    fn from(r: &'a Report) -> Self {
        ReportJson {
            format: "ozgsync-onlinedienste-report",
            format_version: FORMAT_VERSION,
            generated_at: timestamp(&r.generated_at),
            as_of: r.as_of.to_string(),
            since: r.since.map(|d| d.to_string()),
            sources: r.sources.iter().map(SourceJson::from).collect(),
            services: r
                .services
                .iter()
                .map(|s| ReportServiceJson {
                    efa_id: &s.efa_id,
                    name: &s.name,
                    ozg_leistungen: ozg_json(&s.ozg_leistungen),
                    themenfeld: s.themenfeld.as_deref(),
                    federfuehrendes_land: s.federfuehrendes_land.as_deref(),
                    status_land: status(s.status_land),
                    ressort: s.ressort.as_deref(),
                    umsetzungsweg: s.umsetzungsweg.as_deref(),
                    reifegrad: reifegrad(s.reifegrad.as_ref()),
                    kommunen: (&s.kommunen).into(),
                    verfuegbarkeit: s.verfuegbarkeit.map(|a| AvailabilityJson {
                        online: a.online,
                        observed: a.observed,
                    }),
                    url: s.url.as_deref(),
                    nachnutzung_stage: s.nachnutzung.stage.as_str(),
                    nachnutzung: s.nachnutzung.state.as_ref().map(NachnutzungJson::from),
                })
                .collect(),
            ressorts: progress(&r.ressorts),
            themenfelder: progress(&r.themenfelder),
            kreise: r
                .kreise
                .iter()
                .map(|k| KreisJson {
                    ars: &k.ars,
                    name: &k.name,
                    gemeinden: k.gemeinden,
                    gemeinde_leistungen: (&k.paare).into(),
                })
                .collect(),
            changes: changes(&r.changes),
            nachnutzung_funnel: r
                .funnel
                .iter()
                .map(|(stage, n)| FunnelJson {
                    stage: stage.as_str(),
                    services: *n,
                })
                .collect(),
        }
    }
}

/// The report as pretty JSON with a final newline.
pub fn render_report(report: &Report) -> Result<Vec<u8>, serde_json::Error> {
    to_bytes(&ReportJson::from(report))
}

/// Pretty JSON with a final newline: readable in a browser, diffable.
pub fn to_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = serde_json::to_vec_pretty(value)?;
    out.push(b'\n');
    Ok(out)
}

// ---------------------------------------------------------------- dashboards

/// The unit a dashboard file is about.
#[derive(Debug, Serialize)]
pub struct UnitJson<'a> {
    pub ars: &'a str,
    pub name: &'a str,
    /// `gemeinde`, `verband` or `kreis`.
    pub level: &'static str,
    pub textkennzeichen: Option<&'a str>,
    pub kreis_ars: Option<&'a str>,
    pub verband_ars: Option<&'a str>,
}

/// Counts by status (every code of the vocabulary, plus `ohne_status`).
#[derive(Debug, Serialize, Default, Clone, PartialEq)]
pub struct StatusCountsJson {
    pub nicht_begonnen: u32,
    pub geplant: u32,
    pub beauftragt: u32,
    pub in_umsetzung: u32,
    pub pilot: u32,
    pub produktiv: u32,
    pub eingestellt: u32,
    pub abgelehnt: u32,
    pub ohne_status: u32,
}

impl StatusCountsJson {
    pub fn add(&mut self, s: Option<Status>) {
        *self.slot(s) += 1;
    }

    /// The counter of status `s` (`None`: `ohne_status`).
    fn slot(&mut self, s: Option<Status>) -> &mut u32 {
        match s {
            None => &mut self.ohne_status,
            Some(Status::NichtBegonnen) => &mut self.nicht_begonnen,
            Some(Status::Geplant) => &mut self.geplant,
            Some(Status::Beauftragt) => &mut self.beauftragt,
            Some(Status::InUmsetzung) => &mut self.in_umsetzung,
            Some(Status::Pilot) => &mut self.pilot,
            Some(Status::Produktiv) => &mut self.produktiv,
            Some(Status::Eingestellt) => &mut self.eingestellt,
            Some(Status::Abgelehnt) => &mut self.abgelehnt,
        }
    }
}

/// Headline numbers of a unit (also in `index.json`).
#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct CountsJson {
    /// Relevant services (for aggregates: Gemeinde × service pairs).
    pub relevant: u32,
    pub produktiv: u32,
    pub in_einfuehrung: u32,
    pub geplant: u32,
    pub anteil_produktiv: Option<f64>,
    /// Seen online (observed availability, `online_status = ok`).
    pub online_beobachtet: u32,
    pub by_status: StatusCountsJson,
}

#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub phases: Phases,
    pub online: u32,
    pub by_status: StatusCountsJson,
}

impl Tally {
    pub fn add(&mut self, status: Option<Status>, online: Option<bool>) {
        self.phases.add(status);
        self.by_status.add(status);
        if online == Some(true) {
            self.online += 1;
        }
    }

    pub fn json(&self) -> CountsJson {
        CountsJson {
            relevant: self.phases.total,
            produktiv: self.phases.produktiv,
            in_einfuehrung: self.phases.einfuehrung,
            geplant: self.phases.geplant,
            anteil_produktiv: model::share(self.phases.produktiv, self.phases.total),
            online_beobachtet: self.online,
            by_status: self.by_status.clone(),
        }
    }
}

/// A [`Tally`] kept as plain counters while many rows are counted (an aggregate
/// file counts every member row of every service, 2.8 M rows per Lower Saxony
/// set): one increment per row, folded into a `Tally` once ([`Counts::tally`]).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Counts {
    /// Rows by status: `[0]` without a status, `[1 + i]` with `Status::ALL[i]`.
    by_status: [u32; 1 + Status::ALL.len()],
    online: u32,
}

impl Counts {
    /// Counts a row as [`Tally::add`] does.
    pub fn add(&mut self, status: Option<Status>, online: Option<bool>) {
        let at = status.map_or(0, |s| 1 + s as usize);
        if let Some(n) = self.by_status.get_mut(at) {
            *n += 1;
        }
        self.online += u32::from(online == Some(true));
    }

    pub fn merge(&mut self, other: &Counts) {
        for (n, m) in self.by_status.iter_mut().zip(other.by_status) {
            *n += m;
        }
        self.online += other.online;
    }

    /// Whether no row was counted.
    pub fn is_empty(&self) -> bool {
        self.by_status.iter().all(|&n| n == 0)
    }

    /// The values of [`ServiceCountsJson`] for the rows counted, in its order
    /// (`relevant`, each status in `Status::ALL` order, `ohne_status`,
    /// `online_beobachtet`), without making the [`Tally`].
    pub fn service_values(&self) -> [u32; 3 + Status::ALL.len()] {
        let mut values = [0; 3 + Status::ALL.len()];
        let (without, with) = self.by_status.split_first().unwrap_or((&0, &[]));
        let total = self.by_status.iter().sum();
        let tail = [*without, self.online];
        for (v, n) in values
            .iter_mut()
            .zip(std::iter::once(&total).chain(with).chain(&tail))
        {
            *v = *n;
        }
        values
    }

    /// The tally of the rows counted: what [`Tally::add`] of each would give.
    pub fn tally(&self) -> Tally {
        let mut t = Tally {
            online: self.online,
            ..Tally::default()
        };
        let statuses = std::iter::once(None).chain(Status::ALL.map(Some));
        for (status, &n) in statuses.zip(&self.by_status) {
            *t.by_status.slot(status) += n;
            t.phases.total += n;
            match status.map(model::phase) {
                Some(model::Phase::Produktiv) => t.phases.produktiv += n,
                Some(model::Phase::Einfuehrung) => t.phases.einfuehrung += n,
                Some(model::Phase::Geplant) => t.phases.geplant += n,
                Some(model::Phase::Beendet) | None => {}
            }
        }
        t
    }
}

#[derive(Debug, Serialize)]
pub struct EfaJson<'a> {
    pub efa_id: &'a str,
    pub name: Option<&'a str>,
    /// Lower Saxony's Nachnutzung of the EfA service; absent when none is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nachnutzung: Option<NachnutzungJson>,
}

/// The EfA-Nachnutzung state in `services.json` (stored codes; absent fields are
/// not recorded).
#[derive(Debug, Serialize)]
pub struct NachnutzungJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bewertung: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bewertet_am: Option<DateJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parametrisierung: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kanal: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bereitgestellt_ab: Option<DateJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kosten_land: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kontakt: Option<String>,
}

impl From<&crate::efa_nachnutzung::State> for NachnutzungJson {
    fn from(s: &crate::efa_nachnutzung::State) -> Self {
        NachnutzungJson {
            bewertung: s.bewertung.map(|b| b.as_str()),
            bewertet_am: s.bewertet_am.map(DateJson),
            parametrisierung: s.parametrisierung.map(|p| p.as_str()),
            kanal: s.kanal.map(|k| k.as_str()),
            bereitgestellt_ab: s.bereitgestellt_ab.map(DateJson),
            kosten_land: s.kosten_land.map(|k| k.as_str()),
            kontakt: s.kontakt.clone(),
        }
    }
}

/// A JSON object from `(key, value)` pairs, in the order given (the callers pass
/// them sorted by key, so the bytes are deterministic).
#[derive(Debug)]
pub struct Keyed<'a, T>(pub Vec<(&'a str, T)>);

impl<T: Serialize> Serialize for Keyed<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// The static part of a service, written once into `services.json`.
#[derive(Debug, Serialize)]
pub struct ServiceInfoJson<'a> {
    pub name: &'a str,
    pub reifegrad: Option<ReifegradJson<'a>>,
    pub umsetzungsweg: Option<&'a str>,
    pub efa: Option<EfaJson<'a>>,
    pub ozg_leistungen: Vec<OzgJson<'a>>,
    /// The general URL (the EfA service's); a Gemeinde file may name its own.
    pub url: Option<&'a str>,
    /// The OZG Themenfeld slug (labels in the site's `labels.json`); absent when
    /// no EfA service names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub themenfeld: Option<&'a str>,
    /// `true` when the LeiKa key is retired; absent otherwise.
    #[serde(skip_serializing_if = "is_false")]
    pub retired: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl<'a> From<&'a DashService> for ServiceInfoJson<'a> {
    fn from(s: &'a DashService) -> Self {
        ServiceInfoJson {
            name: &s.name,
            reifegrad: reifegrad(s.reifegrad.as_ref()),
            umsetzungsweg: s.umsetzungsweg.as_deref(),
            efa: s.efa_id.as_deref().map(|id| EfaJson {
                efa_id: id,
                name: s.efa_name.as_deref(),
                nachnutzung: s.nachnutzung.as_ref().map(NachnutzungJson::from),
            }),
            ozg_leistungen: ozg_json(&s.ozg_leistungen),
            url: s.url.as_deref(),
            themenfeld: s.themenfeld.as_deref(),
            retired: s.retired,
        }
    }
}

/// `services.json`
#[derive(Debug, Serialize)]
pub struct ServicesFileJson<'a> {
    pub format: &'static str,
    pub format_version: u32,
    pub services: Keyed<'a, ServiceInfoJson<'a>>,
}

/// A date written as `YYYY-MM-DD` without going through `fmt` (millions of them
/// go into a dashboard set).
#[derive(Debug, Clone, Copy)]
pub struct DateJson(pub chrono::NaiveDate);

impl DateJson {
    /// `YYYY-MM-DD` as ten ASCII bytes, for years 0–9999 (others: `None`, and the
    /// caller falls back to chrono's `Display`).
    pub fn ascii(self) -> Option<[u8; 10]> {
        use chrono::Datelike;
        let (m, d) = (self.0.month(), self.0.day());
        let Ok(y @ 0..=9999) = u32::try_from(self.0.year()) else {
            return None;
        };
        let digit = |n: u32| b'0' + (n % 10) as u8;
        Some([
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(d / 10),
            digit(d),
        ])
    }
}

impl Serialize for DateJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.ascii() {
            Some(buf) => {
                serializer.serialize_str(std::str::from_utf8(&buf).unwrap_or("0000-00-00"))
            }
            None => serializer.collect_str(&self.0),
        }
    }
}

/// What varies per municipality, by leistungsschluessel. Absent fields are
/// unknown (no status yet, not observed): 3,000 services × 939 Gemeinden make
/// every byte count.
#[derive(Debug, Serialize)]
pub struct GemeindeServiceJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    /// Effective date of the status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateJson>,
    /// Observed availability: true online, false seen but not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    /// The URL observed for this municipality (else the one in services.json).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<&'a str>,
    /// `true` for a status whose LeiKa key is retired: shown, not counted.
    #[serde(skip_serializing_if = "is_false")]
    pub retired: bool,
    /// The channel through which this Gemeinde can order the service's EfA
    /// service on the export date (`govconnect`, `govdigital`, `land`); absent
    /// when it is not available to the Kommunen (yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efa_kanal: Option<&'static str>,
}

/// A status change; `ars` only in aggregate files (a Gemeinde file is one ARS).
#[derive(Debug, Serialize)]
pub struct ChangeJson<'a> {
    pub effective_on: DateJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ars: Option<&'a str>,
    pub leistungsschluessel: &'a str,
    pub old: Option<&'static str>,
    pub new: &'static str,
}

/// `gemeinden/{ars}.json`
#[derive(Debug, Serialize)]
pub struct GemeindeFileJson<'a> {
    pub format: &'static str,
    pub format_version: u32,
    pub unit: UnitJson<'a>,
    pub counts: CountsJson,
    pub services: Keyed<'a, GemeindeServiceJson<'a>>,
    /// Status events in the 30 days up to the export's as-of date, newest first.
    pub changes_30d: Vec<ChangeJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct MemberJson<'a> {
    pub ars: &'a str,
    pub name: &'a str,
    pub counts: CountsJson,
}

/// Per service in an aggregate: member Gemeinden it is relevant to, by status,
/// zero counts left out.
#[derive(Debug)]
pub struct ServiceCountsJson<'a>(pub &'a Tally);

impl Serialize for ServiceCountsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let b = &t.by_status;
        let entries = [
            ("relevant", t.phases.total),
            ("nicht_begonnen", b.nicht_begonnen),
            ("geplant", b.geplant),
            ("beauftragt", b.beauftragt),
            ("in_umsetzung", b.in_umsetzung),
            ("pilot", b.pilot),
            ("produktiv", b.produktiv),
            ("eingestellt", b.eingestellt),
            ("abgelehnt", b.abgelehnt),
            ("ohne_status", b.ohne_status),
            ("online_beobachtet", t.online),
        ];
        serializer.collect_map(entries.into_iter().filter(|(_, n)| *n > 0))
    }
}

/// `verbaende/{ars}.json` and `kreise/{ars}.json`
#[derive(Debug, Serialize)]
pub struct AggregateFileJson<'a> {
    pub format: &'static str,
    pub format_version: u32,
    pub unit: UnitJson<'a>,
    /// Over all member Gemeinden × relevant services.
    pub counts: CountsJson,
    pub members: Vec<MemberJson<'a>>,
    pub services: Keyed<'a, ServiceCountsJson<'a>>,
    pub changes_30d: Vec<ChangeJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct IndexEntryJson<'a> {
    pub ars: &'a str,
    pub name: &'a str,
    pub level: &'static str,
    pub path: String,
    pub kreis_ars: Option<&'a str>,
    pub counts: HeadlineJson,
}

/// The headline numbers in `index.json` (without the per-status breakdown).
#[derive(Debug, Serialize)]
pub struct HeadlineJson {
    pub relevant: u32,
    pub produktiv: u32,
    pub anteil_produktiv: Option<f64>,
    pub online_beobachtet: u32,
}

impl From<&CountsJson> for HeadlineJson {
    fn from(c: &CountsJson) -> Self {
        HeadlineJson {
            relevant: c.relevant,
            produktiv: c.produktiv,
            anteil_produktiv: c.anteil_produktiv,
            online_beobachtet: c.online_beobachtet,
        }
    }
}

/// `index.json`
#[derive(Debug, Serialize)]
pub struct IndexFileJson<'a> {
    pub format: &'static str,
    pub format_version: u32,
    /// Path of the shared service file.
    pub services: &'static str,
    pub units: Vec<IndexEntryJson<'a>>,
}

/// `meta.json`: the only file with a time stamp (see `export::dashboards`).
#[derive(Debug, Serialize)]
pub struct MetaFileJson<'a> {
    pub format: &'static str,
    pub format_version: u32,
    pub generated_at: String,
    pub as_of: String,
    pub ozgsync_version: &'static str,
    pub database_schema_version: i64,
    /// The Land the set shows: its two-digit key, or `all`.
    pub land: String,
    /// `true` when the set shows synthetic demo data ("Beispieldaten"); pages
    /// that show the set must say so.
    pub demo: bool,
    /// The licence of the data and the attribution its sources require.
    pub licence: LicenceJson,
    pub sources: Vec<SourceJson<'a>>,
    /// What else the set was made from; an export that finds the same (and the
    /// same sources, as-of date, Land and version) stops early.
    pub inputs: InputsJson,
    pub files: MetaCountsJson,
}

/// `meta.json`'s `inputs`: the status batch and data generation the set was read
/// at, and the export's options that change the files.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct InputsJson {
    pub status_batch: i64,
    pub data_generation: i64,
    pub gzip: bool,
    pub site: bool,
}

#[derive(Debug, Serialize)]
pub struct LicenceJson {
    pub name: &'static str,
    pub url: &'static str,
    /// One line per source, to be shown wherever the data is shown.
    pub attribution: &'static [&'static str],
}

#[derive(Debug, Serialize)]
pub struct MetaCountsJson {
    pub services: usize,
    pub gemeinden: usize,
    pub verbaende: usize,
    pub kreise: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Counts` folds into the same tally as `Tally::add` of every row, for every
    /// status (and none) with and without an online observation.
    #[test]
    fn counts_fold_into_the_tally_of_their_rows() {
        let statuses: Vec<Option<Status>> =
            std::iter::once(None).chain(Status::ALL.map(Some)).collect();
        let onlines = [None, Some(false), Some(true)];
        let (mut tally, mut counts, mut halves) =
            (Tally::default(), Counts::default(), [Counts::default(); 2]);
        assert!(counts.is_empty());
        for (i, status) in statuses.iter().enumerate() {
            // A different number of rows per status, so a swapped slot shows.
            for j in 0..=i * 2 {
                let online = onlines[(i + j) % onlines.len()];
                tally.add(*status, online);
                counts.add(*status, online);
                halves[j % 2].add(*status, online);
            }
        }
        let [mut merged, other] = halves;
        merged.merge(&other);
        assert_eq!(merged, counts);
        let folded = counts.tally();
        assert_eq!(folded.phases, tally.phases);
        assert_eq!(folded.online, tally.online);
        assert_eq!(folded.json(), tally.json());
        assert!(!counts.is_empty());
        assert_eq!(Counts::default().tally().json(), Tally::default().json());
    }
}
