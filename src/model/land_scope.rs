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

/// The forms a Land is accepted in, for every message that refuses one.
pub const LAND_FORMS: &str = "expected a Land key from 1 to 16, written \"03\", 3 or \"3\" \
     (03 is Niedersachsen; OZGSYNC_LAND=03 and OZGSYNC_LAND=3 alike), or \"all\"";

impl FromStr for LandScope {
    type Err = String;

    /// `"all"` (any case), or the Land key with or without its leading zero
    /// (`"03"`, `"3"`): a TOML integer `3` and an environment override
    /// `OZGSYNC_LAND=3` arrive as the number 3, so the text `"3"` means the same.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("all") {
            return Ok(LandScope::all());
        }
        match s.parse::<u8>() {
            Ok(n @ 1..=16)
                if (1..=2).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Ok(LandScope {
                    key: Some(format!("{n:02}")),
                })
            }
            _ => Err(format!("{s:?} is not a Land: {LAND_FORMS}")),
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

/// What the config may hold: the documented string, or a number, which is what a
/// TOML integer and an environment override `OZGSYNC_LAND=03` turn into before it
/// is read; anything else (a float, a boolean, a table) is refused with the forms.
#[derive(Deserialize)]
#[serde(untagged)]
enum LandText {
    Text(String),
    Number(i64),
    Other(serde::de::IgnoredAny),
}

impl TryFrom<LandText> for LandScope {
    type Error = String;

    fn try_from(value: LandText) -> Result<Self, Self::Error> {
        match value {
            LandText::Text(s) => s.parse(),
            LandText::Number(n @ 1..=16) => format!("{n:02}").parse(),
            LandText::Number(n) => Err(format!("{n} is not a Land: {LAND_FORMS}")),
            LandText::Other(_) => Err(format!("not a Land: {LAND_FORMS}")),
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
            ("3", Ok(Some("03"))),
            (" 9 ", Ok(Some("09"))),
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
