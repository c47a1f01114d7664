//! OZG-Leistungen and the LeiKa → OZG map as versioned records. One OZG-Leistung
//! bundles many LeiKa keys and a key may belong to several OZG-Leistungen, so each
//! pair of the map is a record of its own.

use serde::{Deserialize, Serialize};

use super::vocab::Themenfeld;
use super::{Entity, Record};

/// One OZG-Leistung in one release of the OZG catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OzgLeistungRecord {
    /// 5 digits, e.g. `10110`.
    pub ozg_id: String,
    pub bezeichnung: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lebenslage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub themenfeld: Option<Themenfeld>,
}

impl Record for OzgLeistungRecord {
    const ENTITY: Entity = Entity::OzgLeistung;
    fn key(&self) -> String {
        self.ozg_id.clone()
    }
}

/// One LeiKa key ↔ OZG-ID pair of the map file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeikaOzgRecord {
    pub leistungsschluessel: String,
    pub ozg_id: String,
}

impl Record for LeikaOzgRecord {
    const ENTITY: Entity = Entity::LeikaOzg;
    fn key(&self) -> String {
        format!("{}:{}", self.leistungsschluessel, self.ozg_id)
    }
}

/// Whether `id` is a syntactically valid OZG-ID (exactly 5 ASCII digits).
pub fn is_valid_ozg_id(id: &str) -> bool {
    id.len() == 5 && id.bytes().all(|b| b.is_ascii_digit())
}
