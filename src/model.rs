//! Domain records as the parsers produce them and the store versions them.
//!
//! Every versioned kind of record (a LeiKa service, a municipality, later EfA
//! services and OZG-Leistungen) implements [`Record`]: a stable key and a flat JSON
//! object of fields. The store keeps one row per version of that object, so history,
//! diffs and "unchanged" detection work the same for every kind. EfA services and
//! OZG-Leistungen live in `model/efa.rs` and `model/ozg.rs`; the closed vocabularies
//! they share (Themenfeld, Land) in `model/vocab.rs`; the Land the exports are
//! scoped to in `model/land_scope.rs`.

pub mod date;
mod efa;
pub mod fields;
pub mod fold;
pub mod keys;
mod land_scope;
mod ozg;
pub mod vocab;

pub use efa::{
    is_valid_efa_id, EfaServiceRecord, Kostenmodell, MarktplatzStatus, Reifegrad, ReifegradModell,
};
pub use fold::{fold, fold_into, fold_typed};
pub use keys::{Ars, InvalidKey, Leistungsschluessel, LEIKA_URN_PREFIX};
pub use land_scope::LandScope;
pub use ozg::{is_valid_ozg_id, LeikaOzgRecord, OzgLeistungRecord};
pub use vocab::{Land, Themenfeld, Vollzug};

use serde::{Deserialize, Serialize};

/// The kinds of versioned records. The string form is stored in the database
/// (`record_versions.entity`, `releases.entity`) and must never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Service,
    Municipality,
    /// Observed availability of a service at an ARS (PVOG / Dashboard Digitale
    /// Verwaltung).
    Availability,
    /// An EfA online service from ozgsync's EfA release format.
    EfaService,
    /// An OZG-Leistung (OZG-ID, name, Lebenslage, Themenfeld).
    OzgLeistung,
    /// One pair of the LeiKa → OZG map (key `<leistungsschluessel>:<ozg_id>`).
    LeikaOzg,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Service => "service",
            Entity::Municipality => "municipality",
            Entity::Availability => "availability",
            Entity::EfaService => "efa_service",
            Entity::OzgLeistung => "ozg_leistung",
            Entity::LeikaOzg => "leika_ozg",
        }
    }

    /// The entity stored as `s` (`releases.entity`), if known.
    pub fn parse(s: &str) -> Option<Entity> {
        [
            Entity::Service,
            Entity::Municipality,
            Entity::Availability,
            Entity::EfaService,
            Entity::OzgLeistung,
            Entity::LeikaOzg,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }

    /// Fields that describe the edition rather than the record (GV100AD's
    /// Gebietsstand): stored with a new version, but a change in them alone does not
    /// make one, and diffs leave them out, so history holds real changes only.
    pub fn volatile_fields(self) -> &'static [&'static str] {
        match self {
            Entity::Municipality => &["gebietsstand"],
            // An EfA entry's `stand` is the date it was last confirmed: a new date
            // alone is a re-confirmation, not a change of the service.
            Entity::EfaService => &["stand"],
            _ => &[],
        }
    }
}

/// How the date of the edition a record comes from is compared, so that an older
/// edition never silently replaces a newer one (see `store::release`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditionRule {
    /// The records carry no edition date.
    None,
    /// One date stands for the whole payload (GV100AD's Gebietsstand): the payload's
    /// latest date must not be earlier than the latest one among the current records.
    PerPayload,
    /// Each record carries its own change date (XZuFi `geaendertDatumZeit`, FIM API
    /// `geaendert_datum_zeit`): a changed record must not be older than the version
    /// it would replace.
    PerRecord,
}

impl Entity {
    /// How the edition date of a record is compared, the JSON field holding it and
    /// what it is called in messages. Dates are ISO 8601 text of one shape per
    /// entity, so they compare as strings.
    pub fn edition(self) -> (EditionRule, &'static str, &'static str) {
        match self {
            Entity::Municipality => (EditionRule::PerPayload, "gebietsstand", "Gebietsstand"),
            Entity::Service => (EditionRule::PerRecord, "veroeffentlicht", "change date"),
            _ => (EditionRule::None, "", ""),
        }
    }
}

/// A record that the store can version.
pub trait Record: Serialize {
    const ENTITY: Entity;
    /// The identity of the record across releases.
    fn key(&self) -> String;
    /// The edition date the record carries (the field named by
    /// [`Entity::edition`]), if any.
    fn edition(&self) -> Option<&str> {
        None
    }
}

/// One LeiKa service (Leistung) as published in one release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ServiceRecord {
    /// 14 digits, validated by the parser.
    pub leistungsschluessel: String,
    pub bezeichnung: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bezeichnung2: Option<String>,
    /// `lo`, `lov` or `lovd`; see [`leistungstyp_of`].
    pub leistungstyp: String,
    /// Typisierung codes as published, in order (`1`, `2/3`, `4a`, ...). Unknown codes
    /// are kept here too; the parser reports them as warnings.
    #[serde(default)]
    pub typisierung: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leistungsgruppierung: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leistungskennung: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verrichtung: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verrichtungsdetail: Option<String>,
    /// Publication or change date-time as `YYYY-MM-DDTHH:MM:SS` (local time as
    /// published; LeiKa gives no zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veroeffentlicht: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub besondere_merkmale: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub synonyme: Vec<String>,
    /// Short description where the source has one (XZuFi module 05, FIM API kurztext).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kurztext: Option<String>,
    /// OZG-IDs the source links to this key (FIM API `ozg`); empty for the CSV.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ozg_ids: Vec<String>,
}

impl Record for ServiceRecord {
    const ENTITY: Entity = Entity::Service;
    fn key(&self) -> String {
        self.leistungsschluessel.clone()
    }
    fn edition(&self) -> Option<&str> {
        self.veroeffentlicht.as_deref()
    }
}

/// The known Typisierung codes (code list `urn:de:fim:leika:typisierung`).
pub const TYPISIERUNG_CODES: &[&str] = &[
    "1", "2", "2a", "2b", "3", "3a", "3b", "2/3", "2/3a", "2/3b", "4", "4a", "4b", "5", "6", "7",
    "8", "9", "10", "11", "12",
];

/// Derives the Leistungstyp from a valid key: `lo` when Verrichtung and detail are
/// zero, `lov` when only the detail is zero, otherwise `lovd`.
pub fn leistungstyp_of(key: &str) -> &'static str {
    if key.ends_with("000000") {
        "lo"
    } else if key.ends_with("000") {
        "lov"
    } else {
        "lovd"
    }
}

/// Administrative level of a municipality-directory record (GV100AD record types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Land,
    Regierungsbezirk,
    Region,
    Kreis,
    Verband,
    Gemeinde,
}

impl Level {
    pub const ALL: [Level; 6] = [
        Level::Land,
        Level::Regierungsbezirk,
        Level::Region,
        Level::Kreis,
        Level::Verband,
        Level::Gemeinde,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Land => "land",
            Level::Regierungsbezirk => "regierungsbezirk",
            Level::Region => "region",
            Level::Kreis => "kreis",
            Level::Verband => "verband",
            Level::Gemeinde => "gemeinde",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "land" => Level::Land,
            "regierungsbezirk" => Level::Regierungsbezirk,
            "region" => Level::Region,
            "kreis" => Level::Kreis,
            "verband" => Level::Verband,
            "gemeinde" => Level::Gemeinde,
            _ => return None,
        })
    }
}

/// One record of the municipality directory (GV100AD) in one edition.
///
/// The ARS alone is not unique (a kreisfreie Stadt is Kreis, Verband and Gemeinde
/// with one ARS), so the key is level plus ARS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MunicipalityRecord {
    pub level: Level,
    /// Regionalschlüssel, 12 digits; shorter units are right-padded with zeros.
    pub ars: String,
    /// Amtlicher Gemeindeschlüssel (8 digits) for Gemeinden, else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ags: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub textkennzeichen: Option<String>,
    /// ARS of the Kreis the unit belongs to (for Verbände and Gemeinden).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kreis_ars: Option<String>,
    /// ARS of the Gemeindeverband the Gemeinde belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verband_ars: Option<String>,
    /// Gebietsstand of the edition, `YYYY-MM-DD`.
    pub gebietsstand: String,
    /// Seat of the administration where the record carries one (Kreise, Verbände).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sitz: Option<String>,
}

impl Record for MunicipalityRecord {
    const ENTITY: Entity = Entity::Municipality;
    fn key(&self) -> String {
        municipality_key(self.level, &self.ars)
    }
    fn edition(&self) -> Option<&str> {
        Some(&self.gebietsstand)
    }
}

/// The Textkennzeichen of the type-60 records that are Gemeinden proper: 60 Markt,
/// 61 kreisfreie Stadt, 62 Stadtkreis, 63 Stadt, 64 kreisangehörige Gemeinde and
/// 67 große Kreisstadt (Destatis, Datensatzbeschreibung GV100AD 2018 and 2021,
/// record type 60). The only home of this list in Rust; its SQL twin is the table
/// `gemeinde_textkennzeichen` of `schema/0010_land_scope.sql`, and a test keeps the
/// two equal.
pub const GEMEINDE_TEXTKENNZEICHEN: &[&str] = &["60", "61", "62", "63", "64", "67"];

/// German names of the GV100AD Textkennzeichen (Kreise 41–45, Verbände 50–58,
/// Gemeinden and gemeindefreie Gebiete 60–67; the GV100AD record description), as a dashboard shows
/// them next to a unit's name. Published as `labels.json` with the dashboard site.
pub const TEXTKENNZEICHEN_LABELS: &[(&str, &str)] = &[
    ("41", "Kreisfreie Stadt"),
    ("42", "Stadtkreis"),
    ("43", "Kreis"),
    ("44", "Landkreis"),
    ("45", "Regionalverband"),
    ("50", "Verbandsfreie Gemeinde"),
    ("51", "Amt"),
    ("52", "Samtgemeinde"),
    ("53", "Verbandsgemeinde"),
    ("54", "Verwaltungsgemeinschaft"),
    ("55", "Kirchspielslandgemeinde"),
    ("56", "Verwaltungsverband"),
    ("57", "Verwaltungsgemeinschaft (Trägermodell)"),
    ("58", "Erfüllende Gemeinde"),
    ("60", "Markt"),
    ("61", "Kreisfreie Stadt"),
    ("62", "Stadtkreis"),
    ("63", "Stadt"),
    ("64", "Kreisangehörige Gemeinde"),
    ("65", "Gemeindefreies Gebiet, bewohnt"),
    ("66", "Gemeindefreies Gebiet, unbewohnt"),
    ("67", "Große Kreisstadt"),
];

/// The Textkennzeichen of the gemeindefreie Gebiete (65 bewohnt, 66 unbewohnt): type-60
/// records with a Gemeinde-shaped key that are not Gemeinden.
pub const GEMEINDEFREI_TEXTKENNZEICHEN: &[&str] = &["65", "66"];

/// Whether a record is a Gemeinde proper (level Gemeinde, Textkennzeichen in
/// [`GEMEINDE_TEXTKENNZEICHEN`]). False for every other level.
pub fn is_gemeinde(record: &MunicipalityRecord) -> bool {
    record.level == Level::Gemeinde
        && record
            .textkennzeichen
            .as_deref()
            .is_some_and(|tk| GEMEINDE_TEXTKENNZEICHEN.contains(&tk))
}

/// Whether a record is a gemeindefreies Gebiet (level Gemeinde, Textkennzeichen in
/// [`GEMEINDEFREI_TEXTKENNZEICHEN`]).
pub fn is_gemeindefreies_gebiet(record: &MunicipalityRecord) -> bool {
    record.level == Level::Gemeinde
        && record
            .textkennzeichen
            .as_deref()
            .is_some_and(|tk| GEMEINDEFREI_TEXTKENNZEICHEN.contains(&tk))
}

/// The store key of a municipality record: `<level>:<ars>`.
pub fn municipality_key(level: Level, ars: &str) -> String {
    format!("{}:{}", level.as_str(), ars)
}

/// Whether `key` is a valid store key of an availability record, `<ARS>:<key>`.
pub fn is_valid_availability_key(key: &str) -> bool {
    key.split_once(':')
        .is_some_and(|(ars, leika)| Ars::is_valid(ars) && Leistungsschluessel::is_valid(leika))
}

/// One observation of an online service for a LeiKa key at an ARS, as the Dashboard
/// Digitale Verwaltung reports it. The source has no date: the observation time is
/// the release's fetch time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilityRecord {
    /// 12-digit ARS the row is about.
    pub ars: String,
    pub leistungsschluessel: String,
    /// `ok` or `nicht ok` as published.
    pub online_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub art_flaechendeckung: Option<String>,
    /// `ja` or `nein` as published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aktiv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leika_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ars_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ozg_id: Option<i64>,
}

impl Record for AvailabilityRecord {
    const ENTITY: Entity = Entity::Availability;
    /// `<ARS>:<Leistungsschlüssel>`; v_reconciliation looks rows up by this key.
    fn key(&self) -> String {
        format!("{}:{}", self.ars, self.leistungsschluessel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leistungstyp_follows_the_key_structure() {
        assert_eq!(leistungstyp_of("99012001000000"), "lo");
        assert_eq!(leistungstyp_of("99012001001000"), "lov");
        assert_eq!(leistungstyp_of("99008001012011"), "lovd");
    }

    #[test]
    fn entity_names_round_trip() {
        for e in [
            Entity::Service,
            Entity::Municipality,
            Entity::Availability,
            Entity::EfaService,
            Entity::OzgLeistung,
            Entity::LeikaOzg,
        ] {
            assert_eq!(Entity::parse(e.as_str()), Some(e));
        }
        assert_eq!(Entity::parse("nope"), None);
    }
}
