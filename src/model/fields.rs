//! Which top-level fields of a record are filled, read through the record's own
//! `Serialize` without building a `serde_json::Value` of the whole record (that
//! copy of every string into a map was a tenth of the LeiKa import's parsing
//! thread). Pure.
//!
//! "Filled" is exactly `store::prepare`'s rule on the field's JSON value: not
//! null, not an empty string, list or object. Only the shapes whose answer needs
//! no copy are read here (text, numbers, options, lists of those); anything else,
//! and any error, makes [`probe`] answer `None`, and the caller takes the JSON
//! value the old way, so the answers (and the error messages) stay the same.
//!
//! The few fields a search document needs (`keep`) are read as text, into one
//! buffer reused from record to record ([`probe_into`]), with no JSON value or map
//! between the record and `store::search::document_from`.

use std::ops::Range;

use serde::ser::{self, Impossible, Serialize};

/// What [`probe`] found in one record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Probed {
    /// Every field the record serialises, in its order, and whether it is filled.
    pub fields: Vec<(&'static str, bool)>,
    /// The fields named in `keep` that the record has, in its order, read as far as
    /// a search document needs them (see [`Kept`]).
    pub kept: Vec<(&'static str, Kept)>,
    /// The kept texts, one after another: [`Kept`]'s ranges point into it.
    text: String,
    /// The ranges in `text` of the elements of kept lists.
    elements: Vec<Range<usize>>,
}

/// A kept field: its JSON value's text when that is a string, its elements' texts
/// when it is an array of strings, or neither. An array with an element that is
/// no string makes [`probe`] fall back to the JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Kept {
    /// A JSON string: its range in [`Probed`]'s text.
    Text(Range<usize>),
    /// A JSON array of strings: the range of its elements' ranges.
    List(Range<usize>),
    /// Anything else (null, a number, a boolean).
    Neither,
}

impl Probed {
    /// The kept field `name` (the last one if a record names it twice, as a JSON
    /// map of its fields would keep it).
    fn kept(&self, name: &str) -> Option<&Kept> {
        self.kept
            .iter()
            .rev()
            .find(|(field, _)| *field == name)
            .map(|(_, kept)| kept)
    }

    /// The kept field `name` where its JSON value is a string.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.kept(name)? {
            Kept::Text(range) => self.text.get(range.clone()),
            Kept::List(_) | Kept::Neither => None,
        }
    }

    /// The elements of the kept field `name` where its JSON value is an array (of
    /// strings: see [`Kept`]).
    pub fn list(&self, name: &str) -> Option<impl Iterator<Item = &str> + Clone + '_> {
        match self.kept(name)? {
            Kept::List(range) => Some(
                self.elements
                    .get(range.clone())
                    .unwrap_or_default()
                    .iter()
                    .map(|element| self.text.get(element.clone()).unwrap_or_default()),
            ),
            Kept::Text(_) | Kept::Neither => None,
        }
    }

    fn clear(&mut self) {
        self.fields.clear();
        self.kept.clear();
        self.text.clear();
        self.elements.clear();
    }
}

/// The fields of `record` (see the module comment), or `None` when the record is
/// not a plain struct of simple values: then read `serde_json::to_value` instead.
pub fn probe<T: Serialize + ?Sized>(record: &T, keep: &[&str]) -> Option<Probed> {
    let mut probed = Probed::default();
    probe_into(record, keep, &mut probed).then_some(probed)
}

/// [`probe`] into `probed`, whose room is reused (a parser's records one after
/// another): whether the record is a plain struct; if not, `probed` holds nothing
/// of use.
pub fn probe_into<T: Serialize + ?Sized>(record: &T, keep: &[&str], probed: &mut Probed) -> bool {
    probed.clear();
    record.serialize(Top { keep, probed }).is_ok()
}

/// "Take the JSON value instead": the one error of the probes, and of the stored
/// text's writer (`store::prepare::json`), which leaves such a shape to serde_json.
#[derive(Debug)]
pub(crate) struct Fallback;

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a shape left to serde_json")
    }
}

impl std::error::Error for Fallback {}

impl ser::Error for Fallback {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Fallback
    }
}

/// The record itself: a struct, nothing else.
struct Top<'k, 'p> {
    keep: &'k [&'k str],
    probed: &'p mut Probed,
}

/// A struct's fields as they are serialised.
struct Fields<'k, 'p> {
    keep: &'k [&'k str],
    probed: &'p mut Probed,
}

/// Whether one value is filled.
struct Filled;

/// A list's elements: filled when there is one.
struct Elements {
    any: bool,
}

/// The scalar methods of a serializer that asks only whether a field is filled: a
/// number or a boolean is, except a number that is not finite (serde_json writes it
/// as null). `$filled` names that answer in `$ok`, the serializer's `Ok` value.
macro_rules! scalars {
    ($filled:ident => $ok:expr) => {
        scalars!(@one $filled => $ok; true; serialize_bool(bool), serialize_i8(i8),
            serialize_i16(i16), serialize_i32(i32), serialize_i64(i64), serialize_u8(u8),
            serialize_u16(u16), serialize_u32(u32), serialize_u64(u64));
        scalars!(@finite $filled => $ok; serialize_f32(f32), serialize_f64(f64));
    };
    (@one $filled:ident => $ok:expr; $value:expr; $($name:ident($arg:ty)),*) => {
        $(fn $name(self, _: $arg) -> Result<Self::Ok, Fallback> {
            let $filled = $value;
            Ok($ok)
        })*
    };
    (@finite $filled:ident => $ok:expr; $($name:ident($arg:ty)),*) => {
        $(fn $name(self, v: $arg) -> Result<Self::Ok, Fallback> {
            let $filled = v.is_finite();
            Ok($ok)
        })*
    };
}

/// serde's three list traits (sequence, tuple, tuple struct) for a list serializer
/// whose inherent `element` takes one element and `finish` gives the answer (the
/// probes here, and the stored text's writer in `store::prepare::json`).
macro_rules! list_serializers {
    ($ty:ty => $ok:ty) => {
        $crate::model::fields::list_serializers!(@one $ty => $ok; SerializeSeq, serialize_element);
        $crate::model::fields::list_serializers!(@one $ty => $ok; SerializeTuple, serialize_element);
        $crate::model::fields::list_serializers!(@one $ty => $ok; SerializeTupleStruct, serialize_field);
    };
    (@one $ty:ty => $ok:ty; $trait:ident, $method:ident) => {
        impl ::serde::ser::$trait for $ty {
            type Ok = $ok;
            type Error = $crate::model::fields::Fallback;
            fn $method<V: ::serde::Serialize + ?Sized>(
                &mut self,
                value: &V,
            ) -> Result<(), $crate::model::fields::Fallback> {
                self.element(value)
            }
            fn end(self) -> Result<$ok, $crate::model::fields::Fallback> {
                self.finish()
            }
        }
    };
}
pub(crate) use list_serializers;

macro_rules! fall_back {
    ($($name:ident($($arg:ty),*) -> $ok:ty;)*) => {
        $(fn $name(self, $(_: $arg),*) -> Result<$ok, Fallback> { Err(Fallback) })*
    };
}

impl<'k, 'p> ser::Serializer for Top<'k, 'p> {
    type Ok = ();
    type Error = Fallback;
    type SerializeSeq = Impossible<(), Fallback>;
    type SerializeTuple = Impossible<(), Fallback>;
    type SerializeTupleStruct = Impossible<(), Fallback>;
    type SerializeTupleVariant = Impossible<(), Fallback>;
    type SerializeMap = Impossible<(), Fallback>;
    type SerializeStruct = Fields<'k, 'p>;
    type SerializeStructVariant = Impossible<(), Fallback>;

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Fields<'k, 'p>, Fallback> {
        // serde_json's own tokens (numbers, raw values) are no records.
        if name.starts_with("$serde_json") {
            return Err(Fallback);
        }
        self.probed.fields.reserve(len);
        Ok(Fields {
            keep: self.keep,
            probed: self.probed,
        })
    }

    fall_back! {
        serialize_bool(bool) -> ();
        serialize_i8(i8) -> ();
        serialize_i16(i16) -> ();
        serialize_i32(i32) -> ();
        serialize_i64(i64) -> ();
        serialize_u8(u8) -> ();
        serialize_u16(u16) -> ();
        serialize_u32(u32) -> ();
        serialize_u64(u64) -> ();
        serialize_f32(f32) -> ();
        serialize_f64(f64) -> ();
        serialize_char(char) -> ();
        serialize_str(&str) -> ();
        serialize_bytes(&[u8]) -> ();
        serialize_none() -> ();
        serialize_unit() -> ();
        serialize_unit_struct(&'static str) -> ();
        serialize_unit_variant(&'static str, u32, &'static str) -> ();
        serialize_seq(Option<usize>) -> Impossible<(), Fallback>;
        serialize_tuple(usize) -> Impossible<(), Fallback>;
        serialize_tuple_struct(&'static str, usize) -> Impossible<(), Fallback>;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Impossible<(), Fallback>;
        serialize_map(Option<usize>) -> Impossible<(), Fallback>;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Impossible<(), Fallback>;
    }

    fn serialize_some<V: Serialize + ?Sized>(self, _: &V) -> Result<(), Fallback> {
        Err(Fallback)
    }
    fn serialize_newtype_struct<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &V,
    ) -> Result<(), Fallback> {
        Err(Fallback)
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
}

impl ser::SerializeStruct for Fields<'_, '_> {
    type Ok = ();
    type Error = Fallback;

    fn serialize_field<V: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &V,
    ) -> Result<(), Fallback> {
        let filled = if self.keep.contains(&key) {
            let (kept, filled) = value.serialize(Capture {
                text: &mut self.probed.text,
                elements: &mut self.probed.elements,
            })?;
            self.probed.kept.push((key, kept));
            filled
        } else {
            value.serialize(Filled)?
        };
        self.probed.fields.push((key, filled));
        Ok(())
    }

    fn end(self) -> Result<(), Fallback> {
        Ok(())
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

    scalars!(filled => filled);
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

/// A kept field's value as far as a search document reads it (see [`Kept`]), and
/// whether it is filled: the answers `serde_json::to_value` and [`is_filled`] give.
struct Capture<'t> {
    text: &'t mut String,
    elements: &'t mut Vec<Range<usize>>,
}

impl<'t> Capture<'t> {
    fn text(self, text: &str) -> Result<(Kept, bool), Fallback> {
        let start = self.text.len();
        self.text.push_str(text);
        Ok((Kept::Text(start..self.text.len()), !text.is_empty()))
    }

    fn list(self) -> Result<CaptureList<'t>, Fallback> {
        let start = self.elements.len();
        Ok(CaptureList {
            text: self.text,
            elements: self.elements,
            start,
        })
    }
}

impl<'t> ser::Serializer for Capture<'t> {
    type Ok = (Kept, bool);
    type Error = Fallback;
    type SerializeSeq = CaptureList<'t>;
    type SerializeTuple = CaptureList<'t>;
    type SerializeTupleStruct = CaptureList<'t>;
    type SerializeTupleVariant = Impossible<(Kept, bool), Fallback>;
    type SerializeMap = Impossible<(Kept, bool), Fallback>;
    type SerializeStruct = Impossible<(Kept, bool), Fallback>;
    type SerializeStructVariant = Impossible<(Kept, bool), Fallback>;

    fn serialize_str(self, v: &str) -> Result<(Kept, bool), Fallback> {
        self.text(v)
    }
    fn serialize_char(self, v: char) -> Result<(Kept, bool), Fallback> {
        self.text(v.encode_utf8(&mut [0; 4]))
    }
    // The variant's name as a string.
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(Kept, bool), Fallback> {
        self.text(variant)
    }
    scalars!(filled => (Kept::Neither, filled));
    fn serialize_none(self) -> Result<(Kept, bool), Fallback> {
        Ok((Kept::Neither, false))
    }
    fn serialize_some<V: Serialize + ?Sized>(self, value: &V) -> Result<(Kept, bool), Fallback> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(Kept, bool), Fallback> {
        Ok((Kept::Neither, false))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(Kept, bool), Fallback> {
        Ok((Kept::Neither, false))
    }
    fn serialize_newtype_struct<V: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &V,
    ) -> Result<(Kept, bool), Fallback> {
        if name.starts_with("$serde_json") {
            return Err(Fallback);
        }
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<CaptureList<'t>, Fallback> {
        self.list()
    }
    fn serialize_tuple(self, _: usize) -> Result<CaptureList<'t>, Fallback> {
        self.list()
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<CaptureList<'t>, Fallback> {
        self.list()
    }

    // Bytes (an array of numbers), wider integers, nested objects: the JSON value
    // decides.
    fall_back! {
        serialize_bytes(&[u8]) -> (Kept, bool);
        serialize_i128(i128) -> (Kept, bool);
        serialize_u128(u128) -> (Kept, bool);
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Impossible<(Kept, bool), Fallback>;
        serialize_map(Option<usize>) -> Impossible<(Kept, bool), Fallback>;
        serialize_struct(&'static str, usize) -> Impossible<(Kept, bool), Fallback>;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Impossible<(Kept, bool), Fallback>;
    }
    fn serialize_newtype_variant<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &V,
    ) -> Result<(Kept, bool), Fallback> {
        Err(Fallback)
    }
}

/// A kept list's elements, each of which must be a string.
struct CaptureList<'t> {
    text: &'t mut String,
    elements: &'t mut Vec<Range<usize>>,
    start: usize,
}

impl CaptureList<'_> {
    fn element<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Fallback> {
        let mut none = Vec::new();
        let (kept, _) = value.serialize(Capture {
            text: self.text,
            elements: &mut none,
        })?;
        match kept {
            Kept::Text(range) => {
                self.elements.push(range);
                Ok(())
            }
            // Only lists of strings are read here.
            Kept::List(_) | Kept::Neither => Err(Fallback),
        }
    }

    fn finish(self) -> Result<(Kept, bool), Fallback> {
        let end = self.elements.len();
        Ok((Kept::List(self.start..end), end > self.start))
    }
}

list_serializers!(CaptureList<'_> => (Kept, bool));

impl Elements {
    /// Each element is probed too, so that an element serde_json would refuse
    /// (or one this probe does not read) falls back as a whole.
    fn element<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Fallback> {
        value.serialize(Filled)?;
        self.any = true;
        Ok(())
    }

    fn finish(self) -> Result<bool, Fallback> {
        Ok(self.any)
    }
}

list_serializers!(Elements => bool);

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
            same_kept(&probed, &whole, &keep);
        }
        let pair = LeikaOzgRecord {
            leistungsschluessel: "99001001000000".into(),
            ozg_id: "10001".into(),
        };
        assert_eq!(sorted(&probe(&pair, &keep).unwrap()), by_value(&pair));
    }

    /// The kept fields read as the JSON value of the whole record reads them.
    fn same_kept(probed: &Probed, whole: &Value, keep: &[&str]) {
        for key in keep {
            let value = whole.get(key);
            assert_eq!(probed.text(key), value.and_then(Value::as_str), "{key}");
            let list = value.and_then(Value::as_array).map(|list| {
                list.iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            });
            let probed_list = probed
                .list(key)
                .map(|list| list.map(str::to_owned).collect::<Vec<_>>());
            assert_eq!(probed_list, list, "{key}");
        }
        let present = keep.iter().filter(|k| whole.get(**k).is_some()).count();
        assert_eq!(probed.kept.len(), present);
    }

    #[derive(serde::Serialize)]
    struct Kinds {
        text: &'static str,
        empty: String,
        letter: char,
        variant: Kind,
        none: Option<String>,
        some: Option<&'static str>,
        number: u16,
        nan: f64,
        unit: (),
        flag: bool,
        list: Vec<Option<&'static str>>,
        empty_list: Vec<String>,
        pair: (char, Kind),
        wrapped: Wrapped,
    }

    #[derive(serde::Serialize)]
    struct Wrapped(&'static str);

    #[test]
    fn kept_fields_read_as_their_json_value() {
        let kinds = Kinds {
            text: "Straße",
            empty: String::new(),
            letter: 'ẞ',
            variant: Kind::A,
            none: None,
            some: Some("x"),
            number: 7,
            nan: f64::NAN,
            unit: (),
            flag: false,
            list: vec![Some("a"), Some("")],
            empty_list: vec![],
            pair: ('p', Kind::A),
            wrapped: Wrapped("w"),
        };
        let keep = [
            "text",
            "empty",
            "letter",
            "variant",
            "none",
            "some",
            "number",
            "nan",
            "unit",
            "flag",
            "list",
            "empty_list",
            "pair",
            "wrapped",
            "absent",
        ];
        let probed = probe(&kinds, &keep).unwrap();
        assert_eq!(sorted(&probed), by_value(&kinds));
        same_kept(&probed, &serde_json::to_value(&kinds).unwrap(), &keep);
        // Reused room reads the next record afresh.
        let mut room = probed;
        assert!(probe_into(&service(), &keep, &mut room));
        assert_eq!(room, probe(&service(), &keep).unwrap());
    }

    #[derive(serde::Serialize)]
    struct ListOf<T> {
        list: Vec<T>,
    }

    #[test]
    fn kept_lists_of_other_than_strings_fall_back_to_the_json_value() {
        let keep = ["list"];
        assert_eq!(probe(&ListOf { list: vec![1u8] }, &keep), None);
        assert_eq!(
            probe(
                &ListOf {
                    list: vec![None::<String>]
                },
                &keep
            ),
            None
        );
        assert_eq!(
            probe(
                &ListOf {
                    list: vec![vec!["x"]]
                },
                &keep
            ),
            None
        );
        assert_eq!(
            probe(&ListOf::<u8> { list: vec![] }, &keep).map(|p| p.kept.len()),
            Some(1)
        );
        // Unkept, the same lists are only asked whether they are filled.
        assert!(probe(&ListOf { list: vec![1u8] }, &[]).is_some());
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
