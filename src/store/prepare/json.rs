//! A record's stored JSON text written straight into a `String`, byte for byte the
//! text `serde_json::to_string` gives (stored hashes tell unchanged records, so not
//! one byte may differ), for the shapes records are made of: structs, strings,
//! options, lists, booleans and integers. Anything else (a float, a map, an enum
//! with data, bytes) or any error makes [`to_string`] answer `None`, and the
//! caller asks serde_json, so the text and the error messages stay serde_json's.
//!
//! Why not serde_json itself: its string escaping looks every byte up in a table
//! and branches on it, one byte at a time; nearly no field of a catalogue holds a
//! byte that needs escaping, so [`push_str`] first asks whether the string holds
//! one in a loop the compiler runs many bytes at a time, and copies it whole when
//! not (a tenth of the LeiKa import's parsing thread was serde_json's escaping).

use std::fmt::Write as _;

use serde::ser::{self, Serialize};

use crate::model::fields::{list_serializers, Fallback};

/// `value`'s JSON text as serde_json's compact writer gives it, written into
/// `out` (cleared first); `false`, with `out` holding nothing of use, when
/// `value` is not of the shapes named in the module comment.
pub(super) fn to_string<T: Serialize + ?Sized>(value: &T, out: &mut String) -> bool {
    out.clear();
    value.serialize(Json { out }).is_ok()
}

/// Whether a byte is one serde_json escapes: a C0 control character, `"` or `\`
/// (not DEL, not U+2028/U+2029, not anything above ASCII).
fn escaped(b: u8) -> bool {
    (b < 0x20) | (b == b'"') | (b == b'\\')
}

/// Whether any byte of `bytes` is [`escaped`], eight bytes a word at a time: most
/// strings here are names and values of 10 to 60 bytes, for which a vectorised
/// fold spends more on its set-up and its byte-wise tail than on the bytes. Each
/// test of a word is exact for "any byte of it" (a borrow can mark the wrong byte,
/// never a word without one); a string's last bytes are tested as its last eight
/// bytes (read twice, which changes no answer) or, in a string shorter than a word,
/// padded with spaces, which need no escape.
fn any_escaped(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    fn zero_byte(w: u64) -> u64 {
        w.wrapping_sub(ONES) & !w & HIGH
    }
    fn word(w: u64) -> u64 {
        // A byte below 0x20 (the form for n <= 0x80), a `"`, a `\`.
        (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
            | zero_byte(w ^ (ONES * u64::from(b'"')))
            | zero_byte(w ^ (ONES * u64::from(b'\\')))
    }
    let mut chunks = bytes.chunks_exact(8);
    let mut found = 0;
    for chunk in &mut chunks {
        let mut w = [0; 8];
        w.copy_from_slice(chunk);
        found |= word(u64::from_le_bytes(w));
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        // The last eight bytes again when there are eight (a fixed-size copy, where
        // a copy of the tail's own length calls `memcpy`), else the tail padded.
        let mut w = [b' '; 8];
        match bytes
            .len()
            .checked_sub(8)
            .and_then(|from| bytes.get(from..))
        {
            Some(last) => w.copy_from_slice(last),
            None => {
                for (to, &b) in w.iter_mut().zip(tail) {
                    *to = b;
                }
            }
        }
        found |= word(u64::from_le_bytes(w));
    }
    found != 0
}

/// `text` as a JSON string, quotes included, escaped exactly as serde_json does.
fn push_str(out: &mut String, text: &str) {
    out.push('"');
    if any_escaped(text.as_bytes()) {
        push_escaped(out, text);
    } else {
        out.push_str(text);
    }
    out.push('"');
}

/// The rare string that holds a byte to escape: the runs between such bytes copied
/// whole, each such byte written as serde_json writes it (`\"`, `\\`, `\b`, `\t`,
/// `\n`, `\f`, `\r`, else `\u00` and two lower-case hex digits).
fn push_escaped(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut run = 0;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if !escaped(b) {
            continue;
        }
        // `b` is ASCII, so `run..i` and `i + 1..` cut `text` at character bounds.
        out.push_str(text.get(run..i).unwrap_or_default());
        run = i + 1;
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            0x0c => out.push_str("\\f"),
            b'\r' => out.push_str("\\r"),
            _ => {
                out.push_str("\\u00");
                for digit in [b >> 4, b & 0xf] {
                    out.push(char::from(
                        HEX.get(usize::from(digit)).copied().unwrap_or(b'0'),
                    ));
                }
            }
        }
    }
    out.push_str(text.get(run..).unwrap_or_default());
}

/// The writer of one value.
struct Json<'o> {
    out: &'o mut String,
}

/// A list or a struct being written: whether an element or field came before.
struct Compound<'o> {
    out: &'o mut String,
    first: bool,
}

impl Compound<'_> {
    fn element<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Fallback> {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
        value.serialize(Json { out: self.out })
    }

    /// The end of a list.
    fn finish(self) -> Result<(), Fallback> {
        self.out.push(']');
        Ok(())
    }

    fn field<V: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &V,
    ) -> Result<(), Fallback> {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
        push_str(self.out, name);
        self.out.push(':');
        value.serialize(Json { out: self.out })
    }
}

/// An integer in decimal, as serde_json (its `itoa`) writes it.
macro_rules! integers {
    ($($name:ident($ty:ty)),*) => {
        $(fn $name(self, v: $ty) -> Result<(), Fallback> {
            write!(self.out, "{v}").map_err(|_| Fallback)
        })*
    };
}

/// The shapes this writer refuses (see the module comment).
macro_rules! unsupported {
    ($($name:ident($($arg:ty),*)),*) => {
        $(fn $name(self, $(_: $arg),*) -> Result<(), Fallback> {
            Err(Fallback)
        })*
    };
}

impl<'o> ser::Serializer for Json<'o> {
    type Ok = ();
    type Error = Fallback;
    type SerializeSeq = Compound<'o>;
    type SerializeTuple = Compound<'o>;
    type SerializeTupleStruct = Compound<'o>;
    type SerializeTupleVariant = ser::Impossible<(), Fallback>;
    type SerializeMap = ser::Impossible<(), Fallback>;
    type SerializeStruct = Compound<'o>;
    type SerializeStructVariant = ser::Impossible<(), Fallback>;

    integers!(
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128)
    );
    // serde_json writes floats with `ryu`, whose text is not `Display`'s.
    unsupported!(
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_bytes(&[u8])
    );

    fn serialize_bool(self, v: bool) -> Result<(), Fallback> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Fallback> {
        push_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Fallback> {
        push_str(self.out, v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Fallback> {
        self.serialize_unit()
    }

    fn serialize_some<V: Serialize + ?Sized>(self, value: &V) -> Result<(), Fallback> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Fallback> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Fallback> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Fallback> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &V,
    ) -> Result<(), Fallback> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &V,
    ) -> Result<(), Fallback> {
        Err(Fallback)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'o>, Fallback> {
        self.out.push('[');
        Ok(Compound {
            out: self.out,
            first: true,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'o>, Fallback> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Compound<'o>, Fallback> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Fallback> {
        Err(Fallback)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Fallback> {
        Err(Fallback)
    }

    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Compound<'o>, Fallback> {
        // serde_json's own tokens (`$serde_json::private::RawValue`, `…::Number`)
        // are written as their content, not as a struct.
        if name.starts_with('$') {
            return Err(Fallback);
        }
        self.out.push('{');
        Ok(Compound {
            out: self.out,
            first: true,
        })
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Fallback> {
        Err(Fallback)
    }
}

list_serializers!(Compound<'_> => ());

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Fallback;
    fn serialize_field<V: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &V,
    ) -> Result<(), Fallback> {
        self.field(name, value)
    }
    fn end(self) -> Result<(), Fallback> {
        self.out.push('}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AvailabilityRecord, ServiceRecord};

    /// The word-at-a-time scan against the byte-by-byte definition: every byte
    /// value at every position of every length up to 17 (two words and a tail),
    /// among neighbours that stress a borrow (0x00 before, 0x80 and 0xff after).
    #[test]
    fn any_escaped_is_the_bytewise_definition() {
        for background in [b'a', b' ', 0x21, 0x5b, 0x7f, 0x80, 0xc3, 0xff] {
            for len in 0..=17 {
                let plain = vec![background; len];
                assert_eq!(
                    any_escaped(&plain),
                    plain.iter().any(|&b| escaped(b)),
                    "{plain:?}"
                );
                for at in 0..len {
                    for b in 0..=255u8 {
                        let mut bytes = plain.clone();
                        bytes[at] = b;
                        assert_eq!(
                            any_escaped(&bytes),
                            bytes.iter().any(|&b| escaped(b)),
                            "{bytes:?}"
                        );
                    }
                }
            }
        }
    }

    /// The text of `value`, checked against serde_json's: the same bytes when this
    /// writer takes it, and `None` only where it means to refuse.
    fn check<T: Serialize + ?Sized>(value: &T) -> Option<String> {
        let mut out = String::from("left over");
        let taken = to_string(value, &mut out);
        let theirs = serde_json::to_string(value).ok();
        if taken {
            assert_eq!(Some(&out), theirs.as_ref());
            Some(out)
        } else {
            None
        }
    }

    /// Every string of interest: each byte that needs escaping, alone and between
    /// others, every C0 control, DEL, C1 controls, U+2028/U+2029, non-BMP, and
    /// generated mixes of them with plain text.
    fn hostile_strings() -> Vec<String> {
        let mut all: Vec<String> = vec![
            String::new(),
            "\"".into(),
            "\\".into(),
            "\\\"".into(),
            "a\"b\\c".into(),
            "\"quoted\" and \\back\\slashed\\".into(),
            "\u{7f}".into(),
            "\u{80}\u{9f}".into(),
            "\u{2028}\u{2029}".into(),
            "\u{1F600} non-BMP \u{10FFFF}".into(),
            "Ermäßigung – STRAẞE € §".into(),
            "\u{FEFF}99001001014000".into(),
            "line\r\nbreak\ttab".into(),
            "x".repeat(1000),
            format!("{}\"", "y".repeat(63)),
            format!("\\{}", "z".repeat(64)),
        ];
        for c in 0u8..0x20 {
            let c = char::from(c);
            all.push(c.to_string());
            all.push(format!("a{c}b"));
            all.push(format!("{c}{c}ä{c}"));
        }
        // Generated: each length 0..80 over an alphabet of plain, multi-byte and
        // escaped characters, from a SplitMix64 stream (deterministic).
        let alphabet: Vec<char> = "aZ 09;|\"\\\n\r\t\u{0}\u{1f}\u{7f}äß€\u{2028}\u{1F600}"
            .chars()
            .collect();
        let mut state = 1u64;
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        for len in 0..80 {
            for _ in 0..20 {
                let text: String = (0..len)
                    .map(|_| {
                        let i = usize::try_from(next() % alphabet.len() as u64).unwrap();
                        alphabet[i]
                    })
                    .collect();
                all.push(text);
            }
        }
        all
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for text in hostile_strings() {
            assert!(check(&text).is_some(), "{text:?}");
            assert!(check(&Some(text.as_str())).is_some());
            assert!(check(&vec![text.clone(), text.clone()]).is_some());
        }
        for c in [
            '"',
            '\\',
            '\u{0}',
            '\n',
            '\u{7f}',
            'ä',
            '\u{2028}',
            '\u{1F600}',
        ] {
            assert!(check(&c).is_some(), "{c:?}");
        }
    }

    #[test]
    fn records_are_written_as_serde_json_writes_them() {
        for text in hostile_strings() {
            let full = ServiceRecord {
                leistungsschluessel: "99001001014000".into(),
                bezeichnung: text.clone(),
                bezeichnung2: Some(text.clone()),
                leistungstyp: "lovd".into(),
                typisierung: vec![text.clone(), "2/3".into()],
                leistungsgruppierung: Some("Abfall".into()),
                leistungskennung: Some(String::new()),
                verrichtung: Some(text.clone()),
                verrichtungsdetail: None,
                veroeffentlicht: Some("2022-11-22T06:47:00".into()),
                besondere_merkmale: vec![String::new()],
                synonyme: vec![text.clone(), "Bußgeld".into()],
                kurztext: Some(text.clone()),
                ozg_ids: vec!["10001".into()],
            };
            assert!(check(&full).is_some());
            // Skipped fields, empty lists and the record without any option.
            assert!(check(&ServiceRecord {
                bezeichnung: text,
                ..ServiceRecord::default()
            })
            .is_some());
        }
        for ozg_id in [None, Some(0), Some(-1), Some(i64::MIN), Some(i64::MAX)] {
            let availability = AvailabilityRecord {
                ars: "031510001001".into(),
                leistungsschluessel: "99001001014000".into(),
                online_status: "ok".into(),
                url: Some("https://example.org/?a=\"b\"".into()),
                art_flaechendeckung: None,
                aktiv: Some("ja".into()),
                leika_name: None,
                ars_name: Some("Gifhorn".into()),
                ozg_id,
            };
            assert!(check(&availability).is_some());
        }
        assert!(check(&(true, false, (), u128::MAX, i8::MIN)).is_some());
        assert!(check(&Vec::<String>::new()).is_some());
    }

    /// Every record the parsers make of the fixtures of three formats (LeiKa CSV,
    /// EfA JSON and CSV, GV100AD): the same text as serde_json's, none refused.
    #[test]
    fn fixture_records_are_written_as_serde_json_writes_them() {
        use crate::parse::test_support::fixture;
        use crate::parse::{Change, Item};
        use std::io::Cursor;
        fn all<T: Serialize>(items: crate::parse::Items<'_, T>) -> usize {
            let mut n = 0;
            for item in items {
                if let Ok(Item::Record {
                    change: Change::Upsert(record),
                    ..
                }) = item
                {
                    assert!(check(&record).is_some());
                    n += 1;
                }
            }
            n
        }
        let mut n = 0;
        for name in ["leika_fim_portal_iso8859-1.csv", "leika_release2.csv"] {
            let input = Cursor::new(fixture("leika", name));
            n += all(crate::parse::leika_csv::parse(input).unwrap());
        }
        for name in [
            "release1.json",
            "release2.json",
            "release1_cp1252_comma.csv",
        ] {
            n += all(crate::parse::efa::parse(Cursor::new(fixture("efa", name))).unwrap());
        }
        let input = Cursor::new(fixture("gv100ad", "GV100AD_30112025_NI.txt"));
        n += all(crate::parse::gv100ad::parse(input).unwrap());
        assert!(n > 1000, "{n} records");
    }

    #[test]
    fn other_shapes_are_left_to_serde_json() {
        // Floats (ryu's text), maps, bytes and enums with data: refused, so the
        // caller's serde_json gives the text (and any error) as before.
        assert_eq!(check(&1.5f64), None);
        assert_eq!(check(&f64::NAN), None);
        assert_eq!(check(&serde_json::json!({"a": 1})), None);
        assert_eq!(check(&std::collections::BTreeMap::from([("a", 1)])), None);
        assert_eq!(check(&serde_bytes_like()), None);
        assert_eq!(check(&Ok::<u8, u8>(1)), None);
        // A refusal leaves nothing of use; the same writer is fine afterwards.
        let mut out = String::new();
        assert!(!to_string(&vec![1.0f32], &mut out));
        assert!(to_string(&vec!["a"], &mut out));
        assert_eq!(out, r#"["a"]"#);
    }

    /// A value that serialises as bytes.
    fn serde_bytes_like() -> impl Serialize {
        struct Bytes;
        impl Serialize for Bytes {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(b"ab")
            }
        }
        Bytes
    }
}
