//! Strict JSON reading for the JSON parsers (FIM API, EfA): builds a
//! `serde_json::Value` like `Value::deserialize`, but refuses an object that names
//! the same key twice. `serde_json` silently keeps the last of duplicate keys, other
//! readers keep the first, so a payload with duplicates means different things to
//! different tools; ozgsync refuses it instead of guessing.

use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON value without duplicate object keys.
pub struct Strict(pub Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

/// Parses one JSON document from bytes, refusing duplicate keys.
pub fn from_slice(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Strict>(bytes).map(|s| s.0)
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text cannot spell NaN or infinity; serde_json refuses overflowing
        // numbers before they get here.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if obj.contains_key(&key) {
                return Err(A::Error::custom(format!(
                    "the key \"{}\" appears twice in one object",
                    super::shorten(&key, 80)
                )));
            }
            let Strict(value) = map.next_value()?;
            obj.insert(key, value);
        }
        Ok(Value::Object(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<&str, &str>) {
        match (from_slice(input.as_bytes()), expected) {
            (Ok(v), Ok(want)) => assert_eq!(v.to_string(), want, "{input}"),
            (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{input}: {e}"),
            (got, want) => panic!("{input}: got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn same_values_as_serde_json_and_no_duplicates() {
        check(
            r#"{"a": [1, -2, 3.5, "x", null, true], "b": {"c": {}}}"#,
            Ok(r#"{"a":[1,-2,3.5,"x",null,true],"b":{"c":{}}}"#),
        );
        check(
            r#"{"a": 1, "a": 2}"#,
            Err("the key \"a\" appears twice in one object at line 1"),
        );
        check(r#"[{"x": {"y": 1, "y": 1}}]"#, Err("\"y\" appears twice"));
        check(
            &format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            Err("recursion limit"),
        );
        check("1e999999", Err("number out of range"));
        // The same key in sibling objects is fine.
        check(r#"[{"a": 1}, {"a": 2}]"#, Ok(r#"[{"a":1},{"a":2}]"#));
    }
}
