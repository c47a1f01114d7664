//! Pure comparison of two states of a versioned entity: which keys were added,
//! which changed (field by field) and which were retired. No I/O; the store supplies
//! the states, the CLI renders the result.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Value,
    pub new: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changed {
    pub key: String,
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diff {
    pub added: Vec<(String, Value)>,
    pub changed: Vec<Changed>,
    pub retired: Vec<(String, Value)>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.retired.is_empty()
    }
}

/// Compares two states keyed by record key. Keys are reported in key order. Fields
/// named in `ignore` (an entity's volatile fields) do not count as changes.
pub fn diff(
    before: &BTreeMap<String, Value>,
    after: &BTreeMap<String, Value>,
    ignore: &[&str],
) -> Diff {
    let mut out = Diff::default();
    for (key, new) in after {
        match before.get(key) {
            None => out.added.push((key.clone(), new.clone())),
            Some(old) => {
                let fields: Vec<FieldChange> = field_changes(old, new)
                    .into_iter()
                    .filter(|c| !ignore.contains(&c.field.as_str()))
                    .collect();
                if !fields.is_empty() {
                    out.changed.push(Changed {
                        key: key.clone(),
                        fields,
                    });
                }
            }
        }
    }
    for (key, old) in before {
        if !after.contains_key(key) {
            out.retired.push((key.clone(), old.clone()));
        }
    }
    out
}

/// Field-level differences of two JSON objects; a field absent on one side is `null`
/// there. Non-objects compare as one field named `value`.
pub fn field_changes(old: &Value, new: &Value) -> Vec<FieldChange> {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut fields: Vec<&String> = a.keys().chain(b.keys()).collect();
            fields.sort();
            fields.dedup();
            fields
                .into_iter()
                .filter_map(|f| {
                    let o = a.get(f).unwrap_or(&Value::Null);
                    let n = b.get(f).unwrap_or(&Value::Null);
                    (o != n).then(|| FieldChange {
                        field: f.clone(),
                        old: o.clone(),
                        new: n.clone(),
                    })
                })
                .collect()
        }
        _ if old != new => vec![FieldChange {
            field: "value".into(),
            old: old.clone(),
            new: new.clone(),
        }],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(items: &[(&str, Value)]) -> BTreeMap<String, Value> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn reports_added_changed_retired_with_fields() {
        let before = state(&[
            ("a", json!({"name": "A", "typ": ["1"]})),
            ("b", json!({"name": "B"})),
            ("c", json!({"name": "C"})),
        ]);
        let after = state(&[
            ("a", json!({"name": "A2", "typ": ["1"], "extra": "x"})),
            ("c", json!({"name": "C"})),
            ("d", json!({"name": "D"})),
        ]);
        let d = diff(&before, &after, &[]);
        assert_eq!(d.added, vec![("d".to_string(), json!({"name": "D"}))]);
        assert_eq!(d.retired, vec![("b".to_string(), json!({"name": "B"}))]);
        assert_eq!(
            d.changed,
            vec![Changed {
                key: "a".into(),
                fields: vec![
                    FieldChange {
                        field: "extra".into(),
                        old: Value::Null,
                        new: json!("x")
                    },
                    FieldChange {
                        field: "name".into(),
                        old: json!("A"),
                        new: json!("A2")
                    },
                ]
            }]
        );
    }

    #[test]
    fn identical_states_have_no_diff() {
        let s = state(&[("a", json!({"x": 1}))]);
        assert!(diff(&s, &s, &[]).is_empty());
    }

    #[test]
    fn ignored_fields_alone_are_no_change() {
        let before = state(&[
            ("a", json!({"name": "A", "stand": 1})),
            ("b", json!({"name": "B", "stand": 1})),
        ]);
        let after = state(&[
            ("a", json!({"name": "A", "stand": 2})),
            ("b", json!({"name": "B2", "stand": 2})),
        ]);
        let d = diff(&before, &after, &["stand"]);
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].key, "b");
        assert_eq!(d.changed[0].fields.len(), 1);
    }
}
