//! The two keys every catalogue, sheet, argument and export shares: the
//! Leistungsschlüssel (14 digits, also written as its URN) and the Amtlicher
//! Regionalschlüssel (12 digits). The only place either is checked; everything
//! that takes one from outside goes through [`Leistungsschluessel::parse`],
//! [`Leistungsschluessel::parse_urn`] or [`Ars::parse`].

use std::fmt;
use std::str::FromStr;

/// The URN prefix of a LeiKa key (`urn:de:fim:leika:leistung:99012001001000`).
pub const LEIKA_URN_PREFIX: &str = "urn:de:fim:leika:leistung:";

/// A value that is not the key it should be. The message names what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {expected}")]
pub struct InvalidKey {
    /// The value as given (after the URN prefix was removed, for a LeiKa key).
    pub value: String,
    /// `14-digit Leistungsschlüssel (e.g. 99012001001000)` or `12-digit ARS`.
    pub expected: &'static str,
}

/// `s` as exactly `N` ASCII digits.
fn digits<const N: usize>(s: &str) -> Option<[u8; N]> {
    let bytes: [u8; N] = s.as_bytes().try_into().ok()?;
    bytes.iter().all(u8::is_ascii_digit).then_some(bytes)
}

/// Whether `s` is all ASCII digits and shorter than `n`: what a spreadsheet makes
/// of a key whose leading zeros it dropped.
pub fn lost_leading_digits(s: &str, n: usize) -> bool {
    s.len() < n && s.bytes().all(|b| b.is_ascii_digit())
}

/// Why a value that should be a key is not one, when the cause is one a user can
/// act on and cannot see: a byte-order mark before it (a second file appended to
/// the first, `cat a.csv b.csv`, brings its BOM into the middle), or a spreadsheet's
/// number in scientific notation (`9,9088E+13`: the digits are gone), or a date
/// (`01.03.2025`, `2025-03-01 00:00`: a spreadsheet took the cell for one, or the
/// columns were shifted). None when nothing is recognised.
pub fn invisible_cause(s: &str) -> Option<&'static str> {
    let s = s.trim();
    if s.starts_with('\u{FEFF}') {
        return Some(
            "it starts with an invisible byte-order mark (U+FEFF), as where a second file \
             was appended to this one (cat a.csv b.csv): join the files without the second \
             one's first bytes and header, or import them one by one",
        );
    }
    let mantissa_exponent = s.split_once(['E', 'e']).filter(|(m, e)| {
        !m.is_empty()
            && m.bytes()
                .all(|b| b.is_ascii_digit() || b == b',' || b == b'.')
            && e.trim_start_matches('+')
                .bytes()
                .all(|b| b.is_ascii_digit())
            && !e.trim_start_matches('+').is_empty()
    });
    if mantissa_exponent.is_some() {
        return Some(
            "a spreadsheet turned it into a number in scientific notation, which has lost \
             its digits: format the column as text and take the keys from the source again",
        );
    }
    if looks_like_a_date(s) {
        return Some(
            "it reads as a date: a spreadsheet took the cell for a date, or the columns are \
             shifted (a date column's value in the key's place): format the column as text, \
             check the columns against the header, and take the keys from the source again",
        );
    }
    None
}

/// `01.03.2025`, `1.3.25`, `2025-03-01`, `3/1/2025`, each optionally followed by a
/// time (`2025-03-01 00:00:00`, `…T00:00`): how a spreadsheet writes a date cell.
fn looks_like_a_date(s: &str) -> bool {
    let day = s.split([' ', 'T']).next().unwrap_or(s);
    let Some(sep) = [b'.', b'-', b'/']
        .into_iter()
        .find(|&c| day.as_bytes().contains(&c))
    else {
        return false;
    };
    let parts: Vec<&str> = day.trim_end_matches('.').split(sep as char).collect();
    let digits = |p: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    };
    match parts.as_slice() {
        [y, m, d] if y.len() == 4 => digits(y, 4..=4) && digits(m, 1..=2) && digits(d, 1..=2),
        [a, b, y] => digits(a, 1..=2) && digits(b, 1..=2) && (digits(y, 2..=2) || digits(y, 4..=4)),
        _ => false,
    }
}

/// A Leistungsschlüssel: exactly 14 ASCII digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Leistungsschluessel([u8; 14]);

impl Leistungsschluessel {
    const EXPECTED: &'static str = "14-digit Leistungsschlüssel (e.g. 99012001001000)";

    /// Exactly 14 digits, nothing around them.
    pub fn parse(s: &str) -> Result<Leistungsschluessel, InvalidKey> {
        digits(s)
            .map(Leistungsschluessel)
            .ok_or_else(|| InvalidKey {
                value: s.to_owned(),
                expected: Self::EXPECTED,
            })
    }

    /// A key as people write it: blanks around it and the URN prefix allowed.
    pub fn parse_urn(s: &str) -> Result<Leistungsschluessel, InvalidKey> {
        Self::parse(Self::strip_urn(s))
    }

    /// `s` without surrounding blanks and without the URN prefix (however often it
    /// was written). Not checked: for messages that quote the key as read.
    pub fn strip_urn(s: &str) -> &str {
        let mut key = s.trim();
        // (strip_prefix: trim_start_matches builds a substring searcher per call,
        // and reports have millions of keys)
        while let Some(rest) = key.strip_prefix(LEIKA_URN_PREFIX) {
            key = rest.trim();
        }
        key
    }

    /// Whether `s` is exactly 14 digits.
    pub fn is_valid(s: &str) -> bool {
        digits::<14>(s).is_some()
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("00000000000000")
    }
}

/// A validated Amtlicher Regionalschlüssel: exactly 12 ASCII digits, so it is also
/// safe as a file name.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ars([u8; 12]);

impl Ars {
    const EXPECTED: &'static str = "12-digit ARS";

    /// Exactly 12 digits, nothing around them.
    pub fn parse(s: &str) -> Result<Ars, InvalidKey> {
        digits(s).map(Ars).ok_or_else(|| InvalidKey {
            value: s.to_owned(),
            expected: Self::EXPECTED,
        })
    }

    /// Whether `s` is exactly 12 digits.
    pub fn is_valid(s: &str) -> bool {
        digits::<12>(s).is_some()
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("000000000000")
    }
}

macro_rules! key_traits {
    ($name:ident, $from_str:path) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        /// As a command-line argument (clap's value parser) or a config value.
        impl FromStr for $name {
            type Err = InvalidKey;
            fn from_str(s: &str) -> Result<Self, InvalidKey> {
                $from_str(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

key_traits!(Leistungsschluessel, Leistungsschluessel::parse_urn);
key_traits!(Ars, Ars::parse);

#[cfg(test)]
mod tests {

    #[test]
    fn invisible_causes_are_named() {
        let bom = "byte-order mark";
        let sci = "scientific notation";
        for (value, expected) in [
            ("\u{FEFF}99088026034000", Some(bom)),
            ("9,9088E+13", Some(sci)),
            ("01.03.2025", Some("reads as a date")),
            ("1.3.25", Some("reads as a date")),
            ("2025-03-01 00:00:00", Some("reads as a date")),
            ("3/1/2025", Some("reads as a date")),
            ("99.088.026", None),
            ("0324-10001-001", None),
            ("9.9088e13", Some(sci)),
            ("1E5", Some(sci)),
            ("nicht im LeiKa", None),
            ("E5", None),
            ("99E", None),
            ("9900100100100", None),
        ] {
            let got = invisible_cause(value);
            match expected {
                Some(word) => assert!(got.is_some_and(|c| c.contains(word)), "{value:?}: {got:?}"),
                None => assert_eq!(got, None, "{value:?}"),
            }
        }
    }

    use super::*;

    #[test]
    fn leistungsschluessel() {
        assert!(Leistungsschluessel::is_valid("99012001001000"));
        for bad in [
            "nicht im LeiKa",
            "9901200100100",
            "990120010010001",
            "9901200100100x",
            "",
            " 99012001001000",
            "٩9012001001000",
        ] {
            assert!(!Leistungsschluessel::is_valid(bad), "{bad}");
            assert!(Leistungsschluessel::parse(bad).is_err(), "{bad}");
        }
        for urn in [
            "99012001001000",
            " urn:de:fim:leika:leistung:99012001001000 ",
            "urn:de:fim:leika:leistung:urn:de:fim:leika:leistung:99012001001000",
        ] {
            let key = Leistungsschluessel::parse_urn(urn).unwrap();
            assert_eq!(key.as_str(), "99012001001000");
            assert_eq!(urn.parse::<Leistungsschluessel>(), Ok(key));
        }
        assert!(Leistungsschluessel::parse("urn:de:fim:leika:leistung:99012001001000").is_err());
        assert_eq!(
            Leistungsschluessel::parse_urn("urn:de:fim:leika:leistung:9901")
                .unwrap_err()
                .to_string(),
            "\"9901\" is not a 14-digit Leistungsschlüssel (e.g. 99012001001000)"
        );
    }

    #[test]
    fn ars_must_be_twelve_digits() {
        let check = |s: &str, ok: bool| {
            assert_eq!(Ars::parse(s).is_ok(), ok, "{s:?}");
            assert_eq!(Ars::is_valid(s), ok, "{s:?}");
        };
        check("031010000000", true);
        check("03101000000", false);
        check("0310100000000", false);
        check("03101000000a", false);
        check("../000000000", false);
        check("../../../etc", false);
        check("０３２４１０００１００１", false);
        check("", false);
        assert_eq!(
            Ars::parse("031010000000").unwrap().to_string(),
            "031010000000"
        );
        assert_eq!(
            Ars::parse("x").unwrap_err().to_string(),
            "\"x\" is not a 12-digit ARS"
        );
        assert!(lost_leading_digits("32410001001", 12));
        assert!(!lost_leading_digits("3241000100a", 12));
    }
}
