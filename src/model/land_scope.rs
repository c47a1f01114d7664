//! Which Land the exports and coverage counts speak for. The municipality directory
//! is kept whole (Destatis publishes GV100AD for all of Germany, and the history of
//! every Land costs little), but Lower Saxony's annotations and statuses mean
//! nothing for a Bavarian village: the dashboards and the report show the Gemeinden,
//! Verbände and Kreise of one Land, the setting `land` (default `03`, Niedersachsen),
//! or of all Länder with `all`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One Land by its two-digit key (the first two digits of the ARS, `01`–`16`), or
/// all of Germany. Only [`FromStr`] and the constructors make one, so a key is
/// always valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "LandText", into = "String")]
pub struct LandScope {
    /// `None`: all Länder.
    key: Option<String>,
}

impl LandScope {
    /// Niedersachsen, whose database this is unless the config says otherwise.
    pub fn niedersachsen() -> LandScope {
        LandScope {
            key: Some("03".into()),
        }
    }

    /// Every Land.
    pub fn all() -> LandScope {
        LandScope { key: None }
    }

    /// The two-digit Land key, or `None` for all of Germany.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Whether the unit with this ARS lies in the scope.
    pub fn contains(&self, ars: &str) -> bool {
        self.key().is_none_or(|key| ars.starts_with(key))
    }
}

impl Default for LandScope {
    fn default() -> Self {
        LandScope::niedersachsen()
    }
}

impl FromStr for LandScope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("all") {
            return Ok(LandScope::all());
        }
        match s.parse::<u8>() {
            Ok(n @ 1..=16) if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(LandScope {
                    key: Some(format!("{n:02}")),
                })
            }
            _ => Err(format!(
                "{s:?} is not a Land: expected a two-digit Land key from \"01\" to \"16\" \
                 (\"03\" is Niedersachsen) or \"all\""
            )),
        }
    }
}

impl fmt::Display for LandScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key().unwrap_or("all"))
    }
}

impl From<LandScope> for String {
    fn from(scope: LandScope) -> String {
        scope.to_string()
    }
}

/// What the config may hold: the documented string, or a number, which is what an
/// environment override `OZGSYNC_LAND=03` turns into before it is read.
#[derive(Deserialize)]
#[serde(untagged)]
enum LandText {
    Text(String),
    Number(i64),
}

impl TryFrom<LandText> for LandScope {
    type Error = String;

    fn try_from(value: LandText) -> Result<Self, Self::Error> {
        match value {
            LandText::Text(s) => s.parse(),
            LandText::Number(n) => format!("{n:02}").parse(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn land_keys_and_all() {
        for (text, expected) in [
            ("03", Ok(Some("03"))),
            ("16", Ok(Some("16"))),
            ("01", Ok(Some("01"))),
            ("all", Ok(None)),
            ("ALL", Ok(None)),
            ("3", Err(())),
            ("00", Err(())),
            ("17", Err(())),
            ("003", Err(())),
            ("NI", Err(())),
            ("", Err(())),
            ("+3", Err(())),
        ] {
            let parsed = text.parse::<LandScope>();
            assert_eq!(
                parsed.as_ref().map(LandScope::key).map_err(|_| ()),
                expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn scope_contains_the_ars_of_its_land() {
        let ni = LandScope::niedersachsen();
        assert!(ni.contains("032410001001"));
        assert!(!ni.contains("081150003003"));
        assert!(LandScope::all().contains("081150003003"));
        assert_eq!(ni.to_string(), "03");
        assert_eq!(LandScope::all().to_string(), "all");
    }
}
