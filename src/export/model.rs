//! The export data model: plain structs that the queries fill and the renderers
//! read. Nothing here knows SQL or a file format, and nothing here is serialized
//! directly: published JSON goes through the structs in `export::json`, so an
//! internal rename never changes a published file.
//! The small pure rules shared by every output (which status counts as which
//! phase, how a share is computed) live here too.

use chrono::{DateTime, NaiveDate, Utc};

/// The Onlinedienste-Report: per EfA online service relevant to Lower Saxony, and
/// summaries per Ressort, Themenfeld and Kreis, plus the changes since a date.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// When the report was made; fixed by `--as-of` so output is reproducible.
    pub generated_at: DateTime<Utc>,
    /// The date the statuses are taken at.
    pub as_of: NaiveDate,
    /// The start of the "changes" period, if asked for.
    pub since: Option<NaiveDate>,
    /// The releases the data comes from (latest applied release per source).
    pub sources: Vec<SourceRelease>,
    pub services: Vec<ServiceRow>,
    pub ressorts: Vec<ProgressRow>,
    pub themenfelder: Vec<ProgressRow>,
    pub kreise: Vec<KreisRow>,
    pub changes: Changes,
    /// The database holds the quick start's demo data: every rendering says
    /// "Beispieldaten" ([`crate::demo::NOTICE`]).
    pub demo: bool,
    /// How many current EfA services reached each Nachnutzung stage, in order.
    pub funnel: Vec<(Stage, u32)>,
}

/// One source release the export read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRelease {
    pub source: String,
    pub release_id: i64,
    pub fetched_at: String,
}

/// One EfA online service as the report shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub efa_id: String,
    pub name: String,
    pub ozg_leistungen: Vec<OzgRef>,
    pub themenfeld: Option<String>,
    pub federfuehrendes_land: Option<String>,
    /// Lower Saxony's reuse status of the service (the Land-level status event).
    pub status_land: Option<Status>,
    /// Kürzel of the responsible Ressort.
    pub ressort: Option<String>,
    pub umsetzungsweg: Option<String>,
    pub reifegrad: Option<Reifegrad>,
    /// Municipal rollout: how many municipalities are in which phase.
    pub kommunen: Phases,
    /// Observed availability (PVOG): municipalities where the service was seen online.
    pub verfuegbarkeit: Option<Availability>,
    pub url: Option<String>,
    /// The EfA catalogue's cost model (the conditions for the Kommunen).
    pub kostenmodell: Option<String>,
    /// The service's way through the Nachnutzung, as of the report date.
    pub nachnutzung: Nachnutzung,
}

/// The Nachnutzung of one EfA service as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nachnutzung {
    pub stage: Stage,
    pub state: Option<crate::efa_nachnutzung::State>,
}

impl Nachnutzung {
    /// Whether a Kommune can order the service on `day`, and through which channel.
    pub fn channel_on(&self, day: NaiveDate) -> Option<Kanal> {
        let s = self.state.as_ref()?;
        s.available_on(day).then_some(s.kanal).flatten()
    }
}

pub use crate::efa_nachnutzung::{Kanal, Stage};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OzgRef {
    pub ozg_id: String,
    pub name: String,
}

/// Reifegrad with its model: levels of model 1.1 (0–4) and 2.0 (0–7) differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reifegrad {
    pub model: String,
    pub level: u8,
}

impl std::fmt::Display for Reifegrad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (Modell {})", self.level, self.model)
    }
}

/// Observed availability of a service across municipalities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    /// Municipalities where it was seen with `online_status = ok`.
    pub online: u32,
    /// Municipalities where it was observed at all.
    pub observed: u32,
}

pub use crate::status::Status;

/// Which rollout phase a status counts toward in the summaries.
pub fn phase(status: Status) -> Phase {
    match status {
        Status::Produktiv => Phase::Produktiv,
        Status::Beauftragt | Status::InUmsetzung | Status::Pilot => Phase::Einfuehrung,
        Status::NichtBegonnen | Status::Geplant => Phase::Geplant,
        Status::Eingestellt | Status::Abgelehnt => Phase::Beendet,
    }
}

/// Rollout phases the report counts: live, being rolled out, planned, ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Produktiv,
    Einfuehrung,
    Geplant,
    Beendet,
}

/// Counts per phase over a set of units (municipalities or services). `total` is
/// every unit the set is relevant to, including those without any status yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    pub total: u32,
    pub produktiv: u32,
    pub einfuehrung: u32,
    pub geplant: u32,
}

impl Phases {
    /// Counts one unit with an optional status.
    pub fn add(&mut self, status: Option<Status>) {
        self.total += 1;
        match status.map(phase) {
            Some(Phase::Produktiv) => self.produktiv += 1,
            Some(Phase::Einfuehrung) => self.einfuehrung += 1,
            Some(Phase::Geplant) => self.geplant += 1,
            Some(Phase::Beendet) | None => {}
        }
    }

    pub fn merge(&mut self, other: &Phases) {
        self.total += other.total;
        self.produktiv += other.produktiv;
        self.einfuehrung += other.einfuehrung;
        self.geplant += other.geplant;
    }

    /// Share of `produktiv`, 0..=1; `None` when nothing is relevant (no 0/0).
    pub fn share_produktiv(&self) -> Option<f64> {
        share(self.produktiv, self.total)
    }
}

/// `part / total` rounded to four decimals (so every format shows the same value),
/// `None` for an empty total.
pub fn share(part: u32, total: u32) -> Option<f64> {
    if total == 0 {
        return None;
    }
    Some((f64::from(part) / f64::from(total) * 10_000.0).round() / 10_000.0)
}

/// German label of an OZG Themenfeld slug (`model::vocab::Themenfeld`); unknown slugs
/// stay as they are.
pub fn themenfeld_label(slug: &str) -> &str {
    match slug {
        "mobilitaet_reisen" => "Mobilität & Reisen",
        "bildung" => "Bildung",
        "engagement_hobby" => "Engagement & Hobby",
        "ein_auswanderung" => "Ein- & Auswanderung",
        "unternehmensfuehrung_entwicklung" => "Unternehmensführung & -entwicklung",
        "steuern_zoll" => "Steuern & Zoll",
        "umwelt" => "Umwelt",
        "arbeit_ruhestand" => "Arbeit & Ruhestand",
        "familie_kind" => "Familie & Kind",
        "querschnittsleistungen" => "Querschnittsleistungen",
        "bauen_wohnen" => "Bauen & Wohnen",
        "forschung_foerderung" => "Forschung & Förderung",
        "gesundheit" => "Gesundheit",
        "recht_ordnung" => "Recht & Ordnung",
        other => other,
    }
}

/// Progress of a group of services (a Ressort or a Themenfeld), by Land status.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressRow {
    /// Ressort Kürzel or Themenfeld slug.
    pub key: String,
    /// Ressort name or Themenfeld label.
    pub name: String,
    /// Services in the group, by phase of their Land status.
    pub services: Phases,
    /// Municipal rollout summed over the group's services.
    pub kommunen: Phases,
}

/// Municipal progress in one Kreis, over all its Gemeinden and relevant services.
#[derive(Debug, Clone, PartialEq)]
pub struct KreisRow {
    pub ars: String,
    pub name: String,
    pub gemeinden: u32,
    /// Gemeinde × service pairs, by phase.
    pub paare: Phases,
}

/// What changed since `Report::since`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub new_services: Vec<NewService>,
    pub status_changes: Vec<StatusChange>,
    pub retired_keys: Vec<RetiredKey>,
    /// Audited EfA-Nachnutzung field changes recorded in the period.
    pub nachnutzung: Vec<NachnutzungChange>,
}

/// One changed EfA-Nachnutzung field (stored codes as in the audit trail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NachnutzungChange {
    pub recorded_on: NaiveDate,
    pub efa_id: String,
    pub name: String,
    pub field: crate::efa_nachnutzung::Field,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewService {
    pub efa_id: String,
    pub name: String,
    pub first_seen: NaiveDate,
}

/// One status event in the period, with the status it replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub effective_on: NaiveDate,
    /// `efa` or `leika`.
    pub subject_kind: String,
    pub subject: String,
    pub subject_name: String,
    /// Ressort Kürzel or the municipality's ARS.
    pub scope: String,
    pub scope_name: String,
    pub old: Option<Status>,
    pub new: Status,
    /// The subject is a LeiKa key that is retired now: the change is shown, marked.
    pub retired: bool,
}

/// A key (LeiKa or EfA) retired by a release in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredKey {
    /// `service` (LeiKa) or `efa_service`.
    pub entity: String,
    pub key: String,
    pub name: String,
    pub retired_on: NaiveDate,
}

/// What the database contributes to a dashboard set besides the rows, read in a
/// few cheap statements: every write that changes exported data moves one of these
/// (a release its source's release id, a status report the batch id, and every such
/// transaction the `data_changes` generation; schema 0008). `meta.json` names them,
/// so an unchanged re-export can stop before reading the matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataStamp {
    /// The latest applied release per source.
    pub sources: Vec<SourceRelease>,
    /// The last `status_batches` id (0 before any).
    pub status_batch: i64,
    /// The newest `data_changes` generation (0 before any).
    pub data_generation: i64,
    /// The database holds the quick start's synthetic demo data
    /// ([`crate::demo::present`]); `meta.json` says so.
    pub demo: bool,
}

/// Everything the municipal dashboards are built from.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardData {
    /// The Land whose units the data holds (the `land` setting).
    pub land: crate::model::LandScope,
    pub generated_at: DateTime<Utc>,
    pub as_of: NaiveDate,
    /// The releases, status batch and data generation the data was read at.
    pub stamp: DataStamp,
    /// The services any municipality can be assigned, by LeiKa key (sorted).
    pub services: Vec<DashService>,
    pub kreise: Vec<Unit>,
    pub verbaende: Vec<Unit>,
    pub gemeinden: Vec<Gemeinde>,
}

/// A Kreis or a Gemeindeverband.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub ars: String,
    pub name: String,
    pub kreis_ars: Option<String>,
    /// Textkennzeichen (e.g. 52 Samtgemeinde, 44 Landkreis).
    pub textkennzeichen: Option<String>,
}

/// What the dashboards show of a service apart from its per-municipality status.
#[derive(Debug, Clone, PartialEq)]
pub struct DashService {
    pub leistungsschluessel: String,
    pub name: String,
    pub reifegrad: Option<Reifegrad>,
    pub umsetzungsweg: Option<String>,
    pub efa_id: Option<String>,
    pub efa_name: Option<String>,
    /// The OZG-Leistungen of its EfA service.
    pub ozg_leistungen: Vec<OzgRef>,
    pub url: Option<String>,
    /// The EfA-Nachnutzung of its EfA service as of the export date.
    pub nachnutzung: Option<crate::efa_nachnutzung::State>,
    /// The OZG Themenfeld slug of its EfA service (or of that service's
    /// OZG-Leistungen), by which a dashboard groups the services.
    pub themenfeld: Option<String>,
    /// The LeiKa key is retired (LeiKa knew it, no current version): the service is
    /// listed for the statuses that still name it, but relevant to no municipality.
    pub retired: bool,
}

/// A Gemeinde with its services' states.
#[derive(Debug, Clone, PartialEq)]
pub struct Gemeinde {
    pub ars: String,
    pub name: String,
    pub kreis_ars: Option<String>,
    pub verband_ars: Option<String>,
    pub textkennzeichen: Option<String>,
    /// Relevant services (indexes into `DashboardData::services`), sorted by index.
    /// Every count of the exports is taken over these.
    pub services: Vec<GemeindeService>,
    /// Statuses of services whose LeiKa key is retired, sorted by index: shown
    /// (marked) so a municipality sees what it reported, counted nowhere.
    pub retired_services: Vec<GemeindeService>,
    /// Status events at this ARS in the 30 days up to `as_of`, newest first.
    pub changes: Vec<GemeindeChange>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GemeindeService {
    pub service: usize,
    pub status: Option<Status>,
    pub status_since: Option<NaiveDate>,
    /// Observed: `Some(true)` seen online and ok, `Some(false)` seen but not ok.
    pub online: Option<bool>,
    /// The URL observed for this municipality, if any.
    pub url: Option<String>,
}

/// One service row of a Gemeinde as its dashboard file is written from it: a
/// relevant row or, marked `retired`, one of a retired LeiKa key. The dashboards
/// fill a list of these per Gemeinde (one buffer per thread, reused), in service
/// order, borrowing the observed URL instead of copying it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GemeindeRow<'a> {
    pub service: usize,
    pub status: Option<Status>,
    pub since: Option<NaiveDate>,
    pub online: Option<bool>,
    pub url: Option<&'a str>,
    /// The service's LeiKa key is retired: shown, counted nowhere.
    pub retired: bool,
}

impl<'a> GemeindeRow<'a> {
    /// The row of a held [`GemeindeService`].
    pub fn of(gs: &'a GemeindeService, retired: bool) -> GemeindeRow<'a> {
        GemeindeRow {
            service: gs.service,
            status: gs.status,
            since: gs.status_since,
            online: gs.online,
            url: gs.url.as_deref(),
            retired,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GemeindeChange {
    pub effective_on: NaiveDate,
    pub service: usize,
    pub old: Option<Status>,
    pub new: Status,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip_and_map_to_phases() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        let mut p = Phases::default();
        for s in [
            Some(Status::Produktiv),
            Some(Status::Pilot),
            None,
            Some(Status::Abgelehnt),
        ] {
            p.add(s);
        }
        assert_eq!(
            p,
            Phases {
                total: 4,
                produktiv: 1,
                einfuehrung: 1,
                geplant: 0
            }
        );
        assert_eq!(p.share_produktiv(), Some(0.25));
    }

    #[test]
    fn share_rounds_and_never_divides_by_zero() {
        let check = |part, total, expected| assert_eq!(share(part, total), expected);
        check(0, 0, None);
        check(1, 3, Some(0.3333));
        check(2, 3, Some(0.6667));
        check(3, 3, Some(1.0));
    }
}
