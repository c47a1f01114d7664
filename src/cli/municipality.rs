//! `ozgsync municipality`: look a municipality up by ARS, AGS or name and show its
//! records (a kreisfreie Stadt has several: Kreis, Verband, Gemeinde) and history.
//! Names are matched folded ([`crate::model::fold`]), earlier names and retired
//! municipalities included and marked as such.

use std::process::ExitCode;

use serde_json::Value;

use super::output::json;
use super::{Context, Format};
use crate::model::{Ars, Entity};
use crate::store::read;

/// Show a municipality by 12-digit ARS, 8-digit AGS or (part of) its name, current or
/// earlier ("Goettingen", "GÖTTINGEN" and "göttingen" are alike).
#[derive(Debug, clap::Args)]
pub struct Municipality {
    /// ARS (12 digits), AGS (8 digits) or a name fragment (case, umlauts as ae/oe/ue
    /// and ß as ss do not matter).
    query: String,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

impl Municipality {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let conn = ctx.open_reader()?;
        let q = self.query.trim();
        let digits = q.bytes().all(|b| b.is_ascii_digit());
        // Why a record was found, when not by its current name.
        let mut notes: std::collections::HashMap<String, String> = Default::default();
        let versions = if Ars::is_valid(q) {
            read::municipality_versions_by_ars(&conn, q)?
        } else if digits && q.len() == 8 {
            read::municipality_versions_by_ags(&conn, q)?
        } else if digits {
            return Err(crate::Error::usage(format!(
                "{q:?}: give a 12-digit ARS, an 8-digit AGS or a name"
            ))
            .into());
        } else {
            let hits = read::keys_by_name(&conn, Entity::Municipality, q)?;
            let mut all = Vec::new();
            for hit in hits {
                match hit.found {
                    read::NameMatch::Current => {}
                    read::NameMatch::Earlier => {
                        notes.insert(
                            hit.key.clone(),
                            format!("found by its earlier name {:?}", hit.name),
                        );
                    }
                    read::NameMatch::Retired => {
                        notes.insert(
                            hit.key.clone(),
                            format!("retired; found by its name {:?}", hit.name),
                        );
                    }
                }
                all.extend(read::history(&conn, Entity::Municipality, &hit.key)?);
            }
            all
        };
        if versions.is_empty() {
            return Err(crate::Error::NotFound(format!("no municipality matches {q:?}")).into());
        }
        let mut out = super::output::stdout();
        if self.format == Format::Json {
            // Each version as stored, plus `found` where the match was not the
            // current name (an earlier name, a retired municipality).
            let mut rows = Vec::with_capacity(versions.len());
            for v in &versions {
                let mut row = serde_json::to_value(v)?;
                if let (Some(note), Value::Object(fields)) = (notes.get(&v.key), &mut row) {
                    fields.insert("found".into(), Value::String(note.clone()));
                }
                rows.push(row);
            }
            json(&mut out, &rows)?;
            return Ok(ExitCode::SUCCESS);
        }
        for group in versions.chunk_by(|a, b| a.key == b.key) {
            let Some(key) = group.first().map(|v| &v.key) else {
                continue;
            };
            super::output::print_history(&mut out, key, group, |v| {
                let s = |f: &str| {
                    v.get(f)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let note = notes
                    .get(key)
                    .map(|n| format!("  ({n})"))
                    .unwrap_or_default();
                format!(
                    "{} ({}, TK {}){note}",
                    s("name"),
                    s("level"),
                    s("textkennzeichen")
                )
            })?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
