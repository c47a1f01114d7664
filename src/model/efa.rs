//! An EfA ("Einer für Alle") online service as ozgsync's EfA release format carries
//! it (`schema/efa-release.schema.json`), and the vocabularies of its fields.
//! The parser (`parse::efa`) validates; this is the validated, stored shape.

use serde::{Deserialize, Serialize};

use super::vocab::{vocabulary, Land, Themenfeld};
use super::{Entity, Record};

/// One EfA service in one release. Field names are the JSON format's, and the
/// stored JSON, so `diff` shows them as the publisher wrote them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EfaServiceRecord {
    /// Stable identifier chosen by the publisher of the list, see [`is_valid_efa_id`].
    pub efa_id: String,
    pub name: String,
    /// 5-digit OZG-IDs the service implements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ozg_ids: Vec<String>,
    /// 14-digit LeiKa keys the service covers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leistungsschluessel: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub themenfeld: Option<Themenfeld>,
    pub federfuehrendes_land: Land,
    /// Provider or operator (e.g. a Land's IT service provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub betreiber: Option<String>,
    pub marktplatz_status: MarktplatzStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reifegrad: Option<Reifegrad>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kostenmodell: Option<Kostenmodell>,
    /// Whether the service delivers applications through FIT-Connect; absent when
    /// not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit_connect: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Date the publisher last confirmed this entry, `YYYY-MM-DD`.
    pub stand: String,
}

impl Record for EfaServiceRecord {
    const ENTITY: Entity = Entity::EfaService;
    fn key(&self) -> String {
        self.efa_id.clone()
    }
}

/// A maturity level together with the model it is measured in: level 3 means
/// something else in model 1.1 than in 2.0, so the two never travel apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reifegrad {
    pub modell: ReifegradModell,
    pub stufe: u8,
}

vocabulary! {
    /// The OZG maturity models: 1.1 with levels 0–4, 2.0 (since 2025) with 0–7.
    ReifegradModell {
        V1_1 => "1.1",
        V2_0 => "2.0",
    }
}

impl ReifegradModell {
    /// The highest level of the model.
    pub fn max_stufe(self) -> u8 {
        match self {
            ReifegradModell::V1_1 => 4,
            ReifegradModell::V2_0 => 7,
        }
    }
}

impl Reifegrad {
    /// A level checked against its model.
    pub fn new(modell: ReifegradModell, stufe: i64) -> Result<Reifegrad, String> {
        match u8::try_from(stufe) {
            Ok(s) if s <= modell.max_stufe() => Ok(Reifegrad { modell, stufe: s }),
            _ => Err(format!(
                "level {stufe} is not in Reifegrad model {modell} (levels 0–{})",
                modell.max_stufe()
            )),
        }
    }
}

vocabulary! {
    /// Where the service stands on the EfA marketplace.
    MarktplatzStatus {
        /// Not offered on the marketplace.
        NichtGelistet => "nicht_gelistet",
        /// Being built; not yet available for reuse.
        InEntwicklung => "in_entwicklung",
        /// Running with pilot users.
        Pilot => "pilot",
        /// Available for reuse by other Länder and municipalities.
        Verfuegbar => "verfuegbar",
        /// Withdrawn.
        Eingestellt => "eingestellt",
    }
}

vocabulary! {
    /// How reusing Länder pay for the service.
    Kostenmodell {
        Kostenfrei => "kostenfrei",
        /// Shares by the Königsteiner Schlüssel.
        KoenigsteinerSchluessel => "koenigsteiner_schluessel",
        /// By number of inhabitants.
        Einwohnerbasiert => "einwohnerbasiert",
        /// Flat fee.
        Pauschal => "pauschal",
        /// Per transaction or use.
        Nutzungsabhaengig => "nutzungsabhaengig",
        /// Negotiated case by case.
        Individuell => "individuell",
    }
}

impl Kostenmodell {
    /// The words the report uses.
    pub fn label(self) -> &'static str {
        match self {
            Kostenmodell::Kostenfrei => "kostenfrei",
            Kostenmodell::KoenigsteinerSchluessel => "nach Königsteiner Schlüssel",
            Kostenmodell::Einwohnerbasiert => "nach Einwohnerzahl",
            Kostenmodell::Pauschal => "pauschal",
            Kostenmodell::Nutzungsabhaengig => "nutzungsabhängig",
            Kostenmodell::Individuell => "individuell vereinbart",
        }
    }
}

/// Whether `id` is a valid EfA id: 1–64 characters of `A–Z a–z 0–9 . _ -`, starting
/// with a letter or digit (the same pattern as the JSON Schema).
pub fn is_valid_efa_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    id.len() <= 64 && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reifegrad_levels_follow_the_model() {
        assert!(Reifegrad::new(ReifegradModell::V1_1, 4).is_ok());
        assert!(Reifegrad::new(ReifegradModell::V1_1, 5).is_err());
        assert!(Reifegrad::new(ReifegradModell::V2_0, 7).is_ok());
        assert!(Reifegrad::new(ReifegradModell::V2_0, 8).is_err());
        let err = Reifegrad::new(ReifegradModell::V2_0, -1).unwrap_err();
        assert_eq!(err, "level -1 is not in Reifegrad model 2.0 (levels 0–7)");
    }

    #[test]
    fn efa_ids() {
        for good in ["EFA-0001", "ni.wohngeld_2", "7"] {
            assert!(is_valid_efa_id(good), "{good}");
        }
        for bad in ["", "-x", "EFA 1", "Ä1", &"x".repeat(65)] {
            assert!(!is_valid_efa_id(bad), "{bad}");
        }
    }
}
