//! Which top-level fields of a record are filled, read through the record's own
//! `Serialize` without building a `serde_json::Value` of the whole record (that
//! copy of every string into a map was a tenth of the LeiKa import's parsing
//! thread). Pure.
//!
//! "Filled" is exactly `store::release`'s rule on the field's JSON value: not
//! null, not an empty string, list or object. Only the shapes whose answer needs
//! no copy are read here (text, numbers, options, lists of those); anything else,
//! and any error, makes [`probe`] answer `None`, and the caller takes the JSON
//! value the old way, so the answers (and the error messages) stay the same.

use serde::ser::{self, Impossible, Serialize};

/// What [`probe`] found in one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    /// Every field the record serialises, in its order, and whether it is filled.
    pub fields: Vec<(&'static str, bool)>,
    /// The JSON values of the fields named in `keep` that the record has.
    pub kept: serde_json::Map<String, serde_json::Value>,
}

/// The fields of `record` (see the module comment), or `None` when the record is
/// not a plain struct of simple values: then read `serde_json::to_value` instead.
pub fn probe<T: Serialize + ?Sized>(record: &T, keep: &[&str]) -> Option<Probed> {
    record.serialize(Top { keep }).ok()
}

/// "Take the JSON value instead": the one error of the probes.
#[derive(Debug)]
struct Fallback;

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a plain record")
    }
}

impl std::error::Error for Fallback {}

impl ser::Error for Fallback {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Fallback
    }
}

/// The record itself: a struct, nothing else.
struct Top<'k> {
    keep: &'k [&'k str],
}

/// A struct's fields as they are serialised.
struct Fields<'k> {
    keep: &'k [&'k str],
    probed: Probed,
}

/// Whether one value is filled.
struct Filled;

/// A list's elements: filled when there is one.
struct Elements {
    any: bool,
}

macro_rules! fall_back {
    ($($name:ident($($arg:ty),*) -> $ok:ty;)*) => {
        $(fn $name(self, $(_: $arg),*) -> Result<$ok, Fallback> { Err(Fallback) })*
    };
}

impl<'k> ser::Serializer for Top<'k> {
    type Ok = Probed;
    type Error = Fallback;
    type SerializeSeq = Impossible<Probed, Fallback>;
    type SerializeTuple = Impossible<Probed, Fallback>;
    type SerializeTupleStruct = Impossible<Probed, Fallback>;
    type SerializeTupleVariant = Impossible<Probed, Fallback>;
    type SerializeMap = Impossible<Probed, Fallback>;
    type SerializeStruct = Fields<'k>;
    type SerializeStructVariant = Impossible<Probed, Fallback>;

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Fields<'k>, Fallback> {
        // serde_json's own tokens (numbers, raw values) are no records.
        if name.starts_with("$serde_json") {
            return Err(Fallback);
        }
        Ok(Fields {
            keep: self.keep,
            probed: Probed {
                fields: Vec::with_capacity(len),
                kept: serde_json::Map::new(),
            },
        })
    }

    fall_back! {
        serialize_bool(bool) -> Probed;
        serialize_i8(i8) -> Probed;
        serialize_i16(i16) -> Probed;
        serialize_i32(i32) -> Probed;
        serialize_i64(i64) -> Probed;
        serialize_u8(u8) -> Probed;
        serialize_u16(u16) -> Probed;
        serialize_u32(u32) -> Probed;
        serialize_u64(u64) -> Probed;
        serialize_f32(f32) -> Probed;
        serialize_f64(f64) -> Probed;
        serialize_char(char) -> Probed;
        serialize_str(&str) -> Probed;
        serialize_bytes(&[u8]) -> Probed;
        serialize_none() -> Probed;
        serialize_unit() -> Probed;
        serialize_unit_struct(&'static str) -> Probed;
        serialize_unit_variant(&'static str, u32, &'static str) -> Probed;
        serialize_seq(Option<usize>) -> Impossible<Probed, Fallback>;
        serialize_tuple(usize) -> Impossible<Probed, Fallback>;
        serialize_tuple_struct(&'static str, usize) -> Impossible<Probed, Fallback>;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Impossible<Probed, Fallback>;
        serialize_map(Option<usize>) -> Impossible<Probed, Fallback>;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Impossible<Probed, Fallback>;
    }

    fn serialize_some<V: Serialize + ?Sized>(self, _: &V) -> Result<Probed, Fallback> {
        Err(Fallback)
    }
    fn serialize_newtype_struct<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &V,
    ) -> Result<Probed, Fallback> {
        Err(Fallback)
    }
    fn serialize_newtype_variant<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &V,
    ) -> Result<Probed, Fallback> {
        Err(Fallback)
    }
}

impl ser::SerializeStruct for Fields<'_> {
    type Ok = Probed;
    type Error = Fallback;

    fn serialize_field<V: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &V,
    ) -> Result<(), Fallback> {
        let filled = if self.keep.contains(&key) {
            let value = serde_json::to_value(value).map_err(|_| Fallback)?;
            let filled = is_filled(&value);
            self.probed.kept.insert(key.to_owned(), value);
            filled
        } else {
            value.serialize(Filled)?
        };
        self.probed.fields.push((key, filled));
        Ok(())
    }

    fn end(self) -> Result<Probed, Fallback> {
        Ok(self.probed)
    }
}

impl ser::Serializer for Filled {
    type Ok = bool;
    type Error = Fallback;
    type SerializeSeq = Elements;
    type SerializeTuple = Elements;
    type SerializeTupleStruct = Elements;
    type SerializeTupleVariant = Impossible<bool, Fallback>;
    type SerializeMap = Impossible<bool, Fallback>;
    type SerializeStruct = Impossible<bool, Fallback>;
    type SerializeStructVariant = Impossible<bool, Fallback>;

    fn serialize_bool(self, _: bool) -> Result<bool, Fallback> {
        Ok(true)
    }
    fn serialize_i8(self, _: i8) -> Result<bool, Fallback> {
        Ok(true)
    }
    fn serialize_i16(self, _: i16) -> Result<bool, Fallback> {
        Ok(true)
    }
    fn serialize_i32(self, _: i32) -> Result<bool, Fallback> {
        Ok(true)
    }
    fn serialize_i64(self, _: i64) -> Result<bool, Fallback> {
        Ok(true)
    }
    fn serialize_u8(self, _: u8) -> Result<bool, Fallback> {
        Ok(true)
    }
    fn serialize_u16(self, _: u16) -> Result<bool, Fallback> {
        Ok(true)
    }
    fn serialize_u32(self, _: u32) -> Result<bool, Fallback> {
        Ok(true)
    }
    fn serialize_u64(self, _: u64) -> Result<bool, Fallback> {
        Ok(true)
    }
    // serde_json writes a number that is not finite as null.
    fn serialize_f32(self, v: f32) -> Result<bool, Fallback> {
        Ok(v.is_finite())
    }
    fn serialize_f64(self, v: f64) -> Result<bool, Fallback> {
        Ok(v.is_finite())
    }
    fn serialize_char(self, _: char) -> Result<bool, Fallback> {
        Ok(true)
    }
    fn serialize_str(self, v: &str) -> Result<bool, Fallback> {
        Ok(!v.is_empty())
    }
    // A list of numbers in JSON.
    fn serialize_bytes(self, v: &[u8]) -> Result<bool, Fallback> {
        Ok(!v.is_empty())
    }
    fn serialize_none(self) -> Result<bool, Fallback> {
        Ok(false)
    }
    fn serialize_some<V: Serialize + ?Sized>(self, value: &V) -> Result<bool, Fallback> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<bool, Fallback> {
        Ok(false)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<bool, Fallback> {
        Ok(false)
    }
    // The variant's name as a string.
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<bool, Fallback> {
        Ok(!variant.is_empty())
    }
    fn serialize_newtype_struct<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &V,
    ) -> Result<bool, Fallback> {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Elements, Fallback> {
        Ok(Elements { any: false })
    }
    fn serialize_tuple(self, _: usize) -> Result<Elements, Fallback> {
        Ok(Elements { any: false })
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Elements, Fallback> {
        Ok(Elements { any: false })
    }

    // Wider integers (which serde_json may refuse) and nested objects: the JSON
    // value decides.
    fall_back! {
        serialize_i128(i128) -> bool;
        serialize_u128(u128) -> bool;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Impossible<bool, Fallback>;
        serialize_map(Option<usize>) -> Impossible<bool, Fallback>;
        serialize_struct(&'static str, usize) -> Impossible<bool, Fallback>;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Impossible<bool, Fallback>;
    }
    fn serialize_newtype_variant<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &V,
    ) -> Result<bool, Fallback> {
        Err(Fallback)
    }
}

impl Elements {
    /// Each element is probed too, so that an element serde_json would refuse
    /// (or one this probe does not read) falls back as a whole.
    fn element<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Fallback> {
        value.serialize(Filled)?;
        self.any = true;
        Ok(())
    }
}

impl ser::SerializeSeq for Elements {
    type Ok = bool;
    type Error = Fallback;
    fn serialize_element<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Fallback> {
        self.element(value)
    }
    fn end(self) -> Result<bool, Fallback> {
        Ok(self.any)
    }
}

impl ser::SerializeTuple for Elements {
    type Ok = bool;
    type Error = Fallback;
    fn serialize_element<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Fallback> {
        self.element(value)
    }
    fn end(self) -> Result<bool, Fallback> {
        Ok(self.any)
    }
}

impl ser::SerializeTupleStruct for Elements {
    type Ok = bool;
    type Error = Fallback;
    fn serialize_field<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Fallback> {
        self.element(value)
    }
    fn end(self) -> Result<bool, Fallback> {
        Ok(self.any)
    }
}

/// Whether a JSON value carries something: not null, not an empty string, list or
/// object. The one definition of "filled" (the store's emptied-field guard).
pub fn is_filled(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LeikaOzgRecord, ServiceRecord};
    use serde_json::Value;

    /// The old reading: the whole record as a JSON value.
    fn by_value<T: Serialize>(record: &T) -> Vec<(String, bool)> {
        match serde_json::to_value(record).unwrap() {
            Value::Object(fields) => fields
                .iter()
                .map(|(k, v)| (k.clone(), is_filled(v)))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn sorted(probed: &Probed) -> Vec<(String, bool)> {
        let mut fields: Vec<(String, bool)> = probed
            .fields
            .iter()
            .map(|(k, f)| ((*k).to_owned(), *f))
            .collect();
        fields.sort();
        fields
    }

    fn service() -> ServiceRecord {
        ServiceRecord {
            leistungsschluessel: "99001001000000".into(),
            bezeichnung: "Straßenbehörde Ärger".into(),
            bezeichnung2: Some(String::new()),
            leistungstyp: "lo".into(),
            typisierung: vec![],
            leistungsgruppierung: Some("Abfall".into()),
            leistungskennung: None,
            verrichtung: Some("\"quoted\" €".into()),
            verrichtungsdetail: None,
            veroeffentlicht: Some("2022-11-22T06:47:00".into()),
            besondere_merkmale: vec![String::new()],
            synonyme: vec!["Mu\u{308}den".into(), "x".into()],
            kurztext: Some("".into()),
            ozg_ids: vec![],
        }
    }

    #[test]
    fn a_record_reads_as_its_json_value() {
        let keep = ["bezeichnung", "name", "bezeichnung2", "synonyme"];
        let mut empty = service();
        empty.bezeichnung = String::new();
        empty.synonyme.clear();
        for record in [service(), empty] {
            let probed = probe(&record, &keep).unwrap();
            assert_eq!(sorted(&probed), by_value(&record));
            let whole = serde_json::to_value(&record).unwrap();
            for (key, value) in &probed.kept {
                assert_eq!(Some(value), whole.get(key), "{key}");
            }
            let kept: Vec<&str> = keep
                .iter()
                .copied()
                .filter(|k| whole.get(*k).is_some())
                .collect();
            assert_eq!(probed.kept.keys().collect::<Vec<_>>().len(), kept.len());
        }
        let pair = LeikaOzgRecord {
            leistungsschluessel: "99001001000000".into(),
            ozg_id: "10001".into(),
        };
        assert_eq!(sorted(&probe(&pair, &keep).unwrap()), by_value(&pair));
    }

    #[derive(serde::Serialize)]
    struct Odd {
        nan: f64,
        one: f32,
        unit: (),
        bytes: &'static [u8],
        nested: Vec<Vec<u8>>,
        empty_nested: Vec<Vec<u8>>,
        pair: (u8, Option<u8>),
        none_in_list: Vec<Option<u8>>,
        word: char,
        variant: Kind,
    }

    #[derive(serde::Serialize)]
    enum Kind {
        A,
    }

    #[test]
    fn simple_shapes_read_as_their_json_value() {
        let odd = Odd {
            nan: f64::NAN,
            one: 1.0,
            unit: (),
            bytes: b"",
            nested: vec![vec![]],
            empty_nested: vec![],
            pair: (1, None),
            none_in_list: vec![None],
            word: 'x',
            variant: Kind::A,
        };
        assert_eq!(sorted(&probe(&odd, &[]).unwrap()), by_value(&odd));
    }

    #[derive(serde::Serialize)]
    struct WithMap {
        map: std::collections::BTreeMap<String, u8>,
    }

    #[derive(serde::Serialize)]
    struct Flattened {
        #[serde(flatten)]
        inner: WithMap,
    }

    #[test]
    fn other_shapes_fall_back_to_the_json_value() {
        let with_map = WithMap {
            map: Default::default(),
        };
        assert_eq!(probe(&with_map, &[]), None);
        assert_eq!(probe(&Flattened { inner: with_map }, &[]), None);
        assert_eq!(probe(&vec![1u8], &[]), None);
        assert_eq!(probe("text", &[]), None);
        assert_eq!(probe(&1u128, &[]), None);
    }
}
