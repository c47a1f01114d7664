//! Making parser items ready to store, away from the SQLite writer: the record's
//! stored JSON text, its content hash, the fields it fills and its search document
//! ([`Preparer`]). `sync` runs this on the parsing thread; [`super::release`] writes
//! what it yields.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::model::fields::{is_filled, Probed};
use crate::model::Record;
use crate::parse::{Change, Item, Reject};

mod json;

/// A stable 64-bit content hash of a record's JSON, stored to detect changes without
/// loading every record's data.
pub fn content_hash(data: &str) -> String {
    // `format!("{:016x}")`'s text, written without the formatting machinery.
    let hash = xxhash_rust::xxh3::xxh3_64(data.as_bytes());
    (0..16)
        .rev()
        .map(|nibble| {
            let digit = (hash >> (4 * nibble)) & 0xf;
            char::from_digit(digit as u32, 16).unwrap_or('0')
        })
        .collect()
}

/// One parser item made ready for [`super::release::apply_prepared`]: everything that needs no database
/// (serialising, hashing, the search document, which fields are filled) is done
/// here, so it can run on another thread than the SQLite writer.
#[derive(Debug)]
pub enum Prepared {
    Upsert(PreparedRecord),
    /// The format retires `key` explicitly.
    Retire {
        key: String,
    },
    Reject(Reject),
    /// The last item: the names behind [`PreparedRecord::filled`]'s field numbers.
    Fields(Vec<String>),
}

/// A record ready to store.
#[derive(Debug)]
pub struct PreparedRecord {
    /// Where the record stood, e.g. `line 12`.
    pub(super) position: String,
    pub(super) key: String,
    /// The edition date the record carries ([`Record::edition`]).
    pub(super) edition: Option<String>,
    /// The stored text: exactly serde_json's text of the record.
    pub(super) data: String,
    /// [`content_hash`] of the record without its volatile fields.
    pub(super) hash: String,
    /// The search document ([`crate::store::search::document`]), for searchable
    /// entities.
    pub(super) document: Option<(String, Option<String>)>,
    /// The fields the record fills (see `is_filled`), as numbers into the names of
    /// [`Prepared::Fields`], in ascending order.
    pub(super) filled: Vec<u16>,
}

/// What [`Preparer`] derives from a record besides its text: the numbers of the
/// fields it fills, its search document, its hash.
type Filled = (Vec<u16>, Option<(String, Option<String>)>, String);

/// Turns one format's items into [`Prepared`] ones (see [`Prepared`]); numbers the
/// field names it meets, handed out at the end by [`Preparer::fields`].
#[derive(Debug, Default)]
pub struct Preparer {
    numbers: HashMap<String, u16>,
    names: Vec<String>,
    /// The field names probed records had, by address (they are the `&'static str`s
    /// of the records' `Serialize`), each with its number once it was filled: the
    /// records of one payload name the same few fields, so most records are numbered
    /// without hashing, comparing or sorting a name.
    seen: Vec<(&'static str, Option<u16>)>,
    /// The room each record is probed into, reused from record to record.
    probed: Probed,
    /// The length of the last record's text: the next one's room, so that its text
    /// is seldom copied to a larger one while it is written.
    last_len: usize,
}

impl Preparer {
    /// One parser item made ready to store; `location` names the payload in errors.
    pub fn ready<T: Record>(&mut self, item: Item<T>, location: &str) -> Result<Prepared> {
        let (position, record) = match item {
            Item::Reject(reject) => return Ok(Prepared::Reject(reject)),
            Item::Record {
                change: Change::Retire { key },
                ..
            } => return Ok(Prepared::Retire { key }),
            Item::Record {
                position,
                change: Change::Upsert(record),
            } => (position, record),
        };
        let key = record.key();
        let serialize_err = |e: serde_json::Error| {
            Error::Invalid(format!(
                "{location}, {position}: serializing record {key}: {e}"
            ))
        };
        // The stored text (its hash tells "unchanged", so it stays exactly
        // serde_json's text of the record: `json` writes the same bytes, faster,
        // for the shapes records have, and leaves any other to serde_json)...
        let mut data = String::with_capacity(self.last_len + self.last_len / 4 + 64);
        if !json::to_string(&record, &mut data) {
            data = serde_json::to_string(&record).map_err(serialize_err)?;
        }
        self.last_len = data.len();
        let searchable = crate::store::search::is_searchable(T::ENTITY);
        // ...and which fields are filled (the emptied-field guard) and the search
        // document's fields, read through the record without a JSON copy of all of
        // it (`model::fields::probe`) unless the volatile-free hash needs that copy
        // or the record is no plain struct.
        let probed = if T::ENTITY.volatile_fields().is_empty() {
            let keep: &[&str] = if searchable {
                &crate::store::search::DOCUMENT_FIELDS
            } else {
                &[]
            };
            let mut probed = std::mem::take(&mut self.probed);
            crate::model::fields::probe_into(&record, keep, &mut probed).then_some(probed)
        } else {
            None
        };
        let (filled, document, hash) = match probed {
            Some(mut probed) => {
                let prepared = self.by_probe(&mut probed, &data, searchable);
                self.probed = probed;
                prepared?
            }
            None => self.by_value(&record, &data, searchable, serialize_err)?,
        };
        Ok(Prepared::Upsert(PreparedRecord {
            edition: record.edition().map(str::to_owned),
            position,
            key,
            data,
            hash,
            document,
            filled,
        }))
    }

    /// The filled fields, search document and hash of a record read by
    /// [`crate::model::fields::probe`]: the same as [`Self::by_value`] gives.
    fn by_probe(&mut self, probed: &mut Probed, data: &str, searchable: bool) -> Result<Filled> {
        let filled = match self.numbered(&probed.fields) {
            Some(filled) => filled,
            None => self.number_sorted(&mut probed.fields)?,
        };
        // The search document straight from the probed texts, without a JSON value.
        let document = searchable.then(|| {
            let [.., synonyme] = crate::store::search::DOCUMENT_FIELDS;
            crate::store::search::document_from(|field| probed.text(field), probed.list(synonyme))
        });
        Ok((filled, document, content_hash(data)))
    }

    /// The numbers of the filled `fields` when every field is one met before (by
    /// address), none twice, and every filled one already numbered: then the
    /// order in which new names are numbered ([`Self::number_sorted`]) is moot.
    fn numbered(&self, fields: &[(&'static str, bool)]) -> Option<Vec<u16>> {
        let mut met = 0u64;
        let mut filled = Vec::with_capacity(fields.len());
        for &(name, fills) in fields {
            let i = self
                .seen
                .iter()
                .position(|(seen, _)| std::ptr::eq(*seen, name))?;
            let bit = 1u64.checked_shl(u32::try_from(i).ok()?)?;
            if met & bit != 0 {
                return None;
            }
            met |= bit;
            if fills {
                filled.push(self.seen.get(i)?.1?);
            }
        }
        filled.sort_unstable();
        Some(filled)
    }

    /// The numbers of the filled `fields`, numbering new names in the order and
    /// with the last-wins of the JSON map they were read from before (sorted by
    /// name), so that the numbers are the same as [`Self::by_value`] gives.
    fn number_sorted(&mut self, fields: &mut Vec<(&'static str, bool)>) -> Result<Vec<u16>> {
        fields.sort_by_key(|(name, _)| *name);
        fields.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1 = later.1;
            }
            same
        });
        let mut filled = Vec::with_capacity(fields.len());
        for &(name, fills) in fields.iter() {
            let number = if fills {
                let n = self.number(name)?;
                filled.push(n);
                Some(n)
            } else {
                None
            };
            match self
                .seen
                .iter_mut()
                .find(|(seen, _)| std::ptr::eq(*seen, name))
            {
                Some(slot) => slot.1 = slot.1.or(number),
                None => self.seen.push((name, number)),
            }
        }
        filled.sort_unstable();
        Ok(filled)
    }

    /// The filled fields, search document and hash of a record read as a whole
    /// JSON value.
    fn by_value<T: Record>(
        &mut self,
        record: &T,
        data: &str,
        searchable: bool,
        serialize_err: impl Fn(serde_json::Error) -> Error,
    ) -> Result<Filled> {
        let mut value = serde_json::to_value(record).map_err(&serialize_err)?;
        let mut filled = Vec::new();
        if let serde_json::Value::Object(fields) = &value {
            for (field, value) in fields {
                if is_filled(value) {
                    filled.push(self.number(field)?);
                }
            }
        }
        filled.sort_unstable();
        let document = searchable.then(|| crate::store::search::document(&value));
        let hash = if T::ENTITY.volatile_fields().is_empty() {
            content_hash(data)
        } else {
            if let Some(fields) = value.as_object_mut() {
                for f in T::ENTITY.volatile_fields() {
                    fields.remove(*f);
                }
            }
            content_hash(&value.to_string())
        };
        Ok((filled, document, hash))
    }

    fn number(&mut self, field: &str) -> Result<u16> {
        if let Some(&n) = self.numbers.get(field) {
            return Ok(n);
        }
        let n = u16::try_from(self.names.len())
            .map_err(|_| Error::Invalid(format!("too many distinct fields (at {field})")))?;
        self.numbers.insert(field.to_owned(), n);
        self.names.push(field.to_owned());
        Ok(n)
    }

    /// The last item of a payload: the names of the numbered fields.
    pub fn fields(self) -> Prepared {
        Prepared::Fields(self.names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AvailabilityRecord, LeikaOzgRecord, OzgLeistungRecord, ServiceRecord};

    /// Both readings of a record, each with a fresh numbering: the same numbers,
    /// names, document and hash.
    fn same_both_ways<T: Record>(record: &T) {
        let data = serde_json::to_string(record).unwrap();
        let searchable = crate::store::search::is_searchable(T::ENTITY);
        let keep: &[&str] = if searchable {
            &crate::store::search::DOCUMENT_FIELDS
        } else {
            &[]
        };
        let mut probed = crate::model::fields::probe(record, keep).expect("a plain struct");
        let (mut by_probe, mut by_value) = (Preparer::default(), Preparer::default());
        let a = by_probe.by_probe(&mut probed, &data, searchable).unwrap();
        let b = by_value
            .by_value(record, &data, searchable, |e| Error::Invalid(e.to_string()))
            .unwrap();
        assert_eq!(a, b, "{data}");
        assert_eq!(by_probe.names, by_value.names, "{data}");
    }

    #[test]
    fn the_content_hash_is_the_hex_it_was() {
        // Stored hashes tell unchanged records: the text must stay `{:016x}`'s,
        // leading zeros included (one in 16 hashes starts with one).
        for i in 0..2000 {
            let data = format!("{{\"n\":{i}}}");
            let hash = xxhash_rust::xxh3::xxh3_64(data.as_bytes());
            assert_eq!(content_hash(&data), format!("{hash:016x}"), "{data}");
        }
        assert_eq!(
            content_hash(""),
            format!("{:016x}", xxhash_rust::xxh3::xxh3_64(b""))
        );
    }

    #[test]
    fn a_probed_record_prepares_as_its_json_value() {
        let full = ServiceRecord {
            leistungsschluessel: "99001001014000".into(),
            bezeichnung: "Wohnberechtigungsschein Ermäßigung".into(),
            bezeichnung2: Some("Ermäßigung – STRAẞE".into()),
            leistungstyp: "lov".into(),
            typisierung: vec!["2/3a".into(), "".into()],
            leistungsgruppierung: Some("Abfall".into()),
            leistungskennung: Some("".into()),
            verrichtung: Some("Ermäßigung \"x\"".into()),
            verrichtungsdetail: None,
            veroeffentlicht: Some("2022-11-22T06:47:00".into()),
            besondere_merkmale: vec!["".into()],
            synonyme: vec!["Mu\u{308}den".into(), "Bußgeld".into()],
            kurztext: Some("€".into()),
            ozg_ids: vec!["10001".into()],
        };
        let bare = ServiceRecord {
            bezeichnung: String::new(),
            bezeichnung2: None,
            typisierung: vec![],
            leistungsgruppierung: None,
            leistungskennung: None,
            verrichtung: None,
            veroeffentlicht: None,
            besondere_merkmale: vec![],
            synonyme: vec![],
            kurztext: None,
            ozg_ids: vec![],
            ..full.clone()
        };
        same_both_ways(&full);
        same_both_ways(&bare);
        // One preparer for records filling different fields, in turn: the same
        // numbers as reading each as a JSON value.
        let (mut by_probe, mut by_value) = (Preparer::default(), Preparer::default());
        for record in [&bare, &full, &bare, &full, &full] {
            let data = serde_json::to_string(record).unwrap();
            let mut probed =
                crate::model::fields::probe(record, &crate::store::search::DOCUMENT_FIELDS)
                    .unwrap();
            assert_eq!(
                by_probe.by_probe(&mut probed, &data, true).unwrap(),
                by_value
                    .by_value(record, &data, true, |e| Error::Invalid(e.to_string()))
                    .unwrap()
            );
        }
        assert_eq!(by_probe.names, by_value.names);
        same_both_ways(&LeikaOzgRecord {
            leistungsschluessel: "99001001014000".into(),
            ozg_id: "10001".into(),
        });
        let ozg: OzgLeistungRecord = serde_json::from_value(serde_json::json!({
            "ozg_id": "10001", "bezeichnung": "Wohngeld", "lebenslage": "",
            "themenfeld": "bildung"
        }))
        .expect("the test's OZG-Leistung reads");
        same_both_ways(&ozg);
        same_both_ways(&AvailabilityRecord {
            ars: "031510001001".into(),
            leistungsschluessel: "99001001014000".into(),
            online_status: "ok".into(),
            url: Some(String::new()),
            art_flaechendeckung: None,
            aktiv: Some("ja".into()),
            leika_name: None,
            ars_name: Some("Gifhorn".into()),
            ozg_id: Some(0),
        });
    }
}
