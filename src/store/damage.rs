//! Finding the stored records another program changed into something ozgsync
//! never writes: `record_versions.data` that is not JSON, not an object, or holds a
//! field of another type than the record's (a name stored as a number). The
//! readers meet such a record as SQLite's "malformed JSON" or rusqlite's "Invalid
//! column type Integer at index: 1, name: name", naming neither the table nor the
//! record; [`damaged_versions`] finds and names them. It reads every version, so it
//! runs only once a command has failed with such an error ([`is_data_shape_error`]),
//! never on the good path.

use rusqlite::Connection;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::model::{
    AvailabilityRecord, EfaServiceRecord, Entity, LeikaOzgRecord, MunicipalityRecord,
    OzgLeistungRecord, ServiceRecord,
};

/// One stored version that is not what ozgsync wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    pub version_id: i64,
    pub entity: String,
    pub key: String,
    /// The release that made this version, and the one that closed it (None:
    /// current).
    pub valid_from: i64,
    pub valid_to: Option<i64>,
    /// What is wrong, naming the field where one is.
    pub what: String,
}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.valid_to {
            None => "current".to_owned(),
            Some(to) => format!("until release {to}"),
        };
        write!(
            f,
            "{} {} (version_id {}, release {}, {state}): {}",
            self.entity, self.key, self.version_id, self.valid_from, self.what
        )
    }
}

/// Whether `e` is an error a reader meets on a record another program changed:
/// SQLite's JSON functions refusing the text, or a column of another type than the
/// reader expects (the JSON field it reads had another type).
pub fn is_data_shape_error(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.contains("JSON"),
        rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => true,
        _ => false,
    }
}

/// The stored versions (at most `limit`, in version order) that are not JSON, not
/// an object, or do not read as their entity's record, and how many there are in
/// all. Versions of an entity this ozgsync does not know are left alone.
pub fn damaged_versions(conn: &Connection, limit: usize) -> Result<(Vec<Damaged>, usize)> {
    const CTX: &str = "looking for stored records another program changed";
    let mut stmt = conn
        .prepare(
            "SELECT version_id, entity, key, valid_from, valid_to, data
             FROM record_versions ORDER BY version_id",
        )
        .map_err(Error::db(CTX))?;
    let mut rows = stmt.query([]).map_err(Error::db(CTX))?;
    let mut found = Vec::new();
    let mut total = 0;
    while let Some(row) = rows.next().map_err(Error::db(CTX))? {
        let entity: String = row.get(1).map_err(Error::db(CTX))?;
        let Some(kind) = Entity::parse(&entity) else {
            continue;
        };
        // `data` is TEXT in a STRICT table: text, or bytes that are not UTF-8.
        let data = row.get_ref(5).map_err(Error::db(CTX))?;
        let what = match data.as_str() {
            Ok(text) => fault(kind, text),
            Err(_) => Some("`data` is not text in UTF-8".to_owned()),
        };
        let Some(what) = what else {
            continue;
        };
        total += 1;
        if found.len() < limit {
            found.push(Damaged {
                version_id: row.get(0).map_err(Error::db(CTX))?,
                entity,
                key: row
                    .get_ref(2)
                    .map_err(Error::db(CTX))?
                    .as_bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
                valid_from: row.get(3).map_err(Error::db(CTX))?,
                valid_to: row.get(4).map_err(Error::db(CTX))?,
                what,
            });
        }
    }
    Ok((found, total))
}

/// What is wrong with `text` as a stored record of `kind`, if anything.
fn fault(kind: Entity, text: &str) -> Option<String> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Some(format!("`data` is not JSON ({e})")),
    };
    let Value::Object(fields) = value else {
        return Some("`data` is JSON but not an object".to_owned());
    };
    match kind {
        Entity::Service => field_faults::<ServiceRecord>(fields),
        Entity::Municipality => field_faults::<MunicipalityRecord>(fields),
        Entity::Availability => field_faults::<AvailabilityRecord>(fields),
        Entity::EfaService => field_faults::<EfaServiceRecord>(fields),
        Entity::OzgLeistung => field_faults::<OzgLeistungRecord>(fields),
        Entity::LeikaOzg => field_faults::<LeikaOzgRecord>(fields),
    }
}

/// The fields of `fields` that keep it from reading as a `T`, each with serde's
/// reason ("field `name`: invalid type: integer `5`, expected a string"), or a
/// field `T` needs that is missing. The object is written out field by field so
/// that the position of serde's error names the field it is in; a field found is
/// left out and the rest read again, so every wrong field is named.
fn field_faults<T: DeserializeOwned>(mut fields: Map<String, Value>) -> Option<String> {
    let mut faults = Vec::new();
    let mut missing_left_out = Vec::new();
    for _ in 0..=fields.len() {
        let (text, spans) = write_out(&fields);
        let Err(e) = serde_json::from_str::<T>(&text) else {
            break;
        };
        let reason = reason_of(&e);
        if let Some(name) = reason
            .strip_prefix("missing field `")
            .and_then(|r| r.strip_suffix('`'))
        {
            if missing_left_out.iter().any(|m: &String| m == name) {
                // A field named above, left out to read the rest: it is the
                // field's fault already told, not a missing field.
                break;
            }
            faults.push(format!("field `{name}` is missing"));
            break;
        }
        // serde_json's column counts bytes from 1 on the one line written out.
        let at = e.column().saturating_sub(1);
        let Some(name) = spans
            .iter()
            .rev()
            .find(|(_, start)| *start <= at)
            .map(|(name, _)| name.clone())
        else {
            faults.push(reason);
            break;
        };
        faults.push(format!("field `{name}`: {reason}"));
        fields.remove(&name);
        missing_left_out.push(name);
    }
    (!faults.is_empty()).then(|| faults.join("; "))
}

/// `fields` as one line of JSON, with the byte offset where each field's name starts.
fn write_out(fields: &Map<String, Value>) -> (String, Vec<(String, usize)>) {
    let mut text = String::from("{");
    let mut spans = Vec::with_capacity(fields.len());
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        spans.push((name.clone(), text.len()));
        text.push_str(&Value::String(name.clone()).to_string());
        text.push(':');
        text.push_str(&value.to_string());
    }
    text.push('}');
    (text, spans)
}

/// serde_json's message without its " at line L column C".
fn reason_of(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: Entity, text: &str, expected: Option<&str>) {
        assert_eq!(fault(kind, text).as_deref(), expected, "{text}");
    }

    /// Each way a record can be changed, and what is said of it.
    #[test]
    fn names_the_fault_and_the_field() {
        let good = r#"{"leistungsschluessel":"99088026034000","bezeichnung":"A","leistungstyp":"lov","typisierung":["4"]}"#;
        check(Entity::Service, good, None);
        check(
            Entity::Service,
            r#"{"leistungsschluessel":"99088026034000", broken"#,
            Some("`data` is not JSON (key must be a string at line 1 column 42)"),
        );
        check(
            Entity::Service,
            "[1]",
            Some("`data` is JSON but not an object"),
        );
        check(
            Entity::Service,
            r#"{"leistungsschluessel":"99088026034000","bezeichnung":5,"leistungstyp":"lov"}"#,
            Some("field `bezeichnung`: invalid type: integer `5`, expected a string"),
        );
        // Two wrong fields, each named; then a field that is missing.
        check(
            Entity::Service,
            r#"{"leistungsschluessel":7,"bezeichnung":"A","leistungstyp":"lov","typisierung":"4"}"#,
            Some(
                "field `leistungsschluessel`: invalid type: integer `7`, expected a string; \
                 field `typisierung`: invalid type: string \"4\", expected a sequence",
            ),
        );
        check(
            Entity::Service,
            r#"{"leistungsschluessel":"99088026034000","leistungstyp":"lov"}"#,
            Some("field `bezeichnung` is missing"),
        );
        // A field ozgsync does not know is no fault (readers do not read it).
        check(
            Entity::Service,
            r#"{"leistungsschluessel":"99088026034000","bezeichnung":"A","leistungstyp":"lov","x":1}"#,
            None,
        );
    }
}
