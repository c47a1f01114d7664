//! `ozgsync diff`: what changed in a source's catalogue between two releases.

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::Value;

use super::output::{csv, json};
use super::{Context, Format};
use crate::diff;
use crate::model::Entity;
use crate::store::read;

/// Show added, changed (field by field) and retired records between two releases of
/// a source [default: its last two applied releases].
#[derive(Debug, clap::Args)]
pub struct Diff {
    /// Source name (see `ozgsync releases`).
    source: String,
    /// Older release id.
    from: Option<i64>,
    /// Newer release id [default: the source's latest].
    to: Option<i64>,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Serialize)]
struct DiffOut<'a> {
    source: &'a str,
    from: Option<i64>,
    to: i64,
    #[serde(flatten)]
    diff: &'a diff::Diff,
}

impl Diff {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let conn = ctx.open_reader()?;
        let (last_from, last_to) = read::last_two_releases(&conn, &self.source)?;
        let (from, to) = match (self.from, self.to) {
            (None, None) => (last_from, last_to),
            (Some(f), None) => (Some(f), last_to),
            (f, Some(t)) => (f, t),
        };
        let to_release = read::release(&conn, to)?;
        // A release id of another source would be diffed and shown under this
        // source's name: `diff gv100ad 3 3` of an EfA release said "no changes".
        let of_other_source = |id: i64, source: &str| {
            crate::Error::usage(format!(
                "release {id} is of source {source}, not {}; `ozgsync releases --source {}` lists its releases",
                self.source, self.source
            ))
        };
        if to_release.source != self.source {
            return Err(of_other_source(to, &to_release.source).into());
        }
        let entity = Entity::parse(&to_release.entity).ok_or_else(|| {
            crate::Error::usage(format!(
                "release {to} holds records of unknown kind {:?}",
                to_release.entity
            ))
        })?;
        if let Some(f) = from {
            let from_release = read::release(&conn, f)?;
            if from_release.source != self.source {
                return Err(of_other_source(f, &from_release.source).into());
            }
            if from_release.entity != to_release.entity {
                return Err(crate::Error::usage(format!(
                    "releases {f} ({}) and {to} ({}) hold different kinds of records",
                    from_release.entity, to_release.entity
                ))
                .into());
            }
        }
        let (before, after) = read::source_states_between(&conn, entity, &self.source, from, to)?;
        let diff = diff::diff(&before, &after, entity.volatile_fields());
        let mut out = super::output::stdout();
        match self.format {
            Format::Json => json(
                &mut out,
                &DiffOut {
                    source: &self.source,
                    from,
                    to,
                    diff: &diff,
                },
            )?,
            Format::Csv => csv(
                &mut out,
                &["change", "key", "field", "old", "new"],
                &csv_rows(&diff),
            )?,
            Format::Text => write_text(&mut out, &self.source, from, to, &diff)?,
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn name_of(v: &Value) -> String {
    let name = v
        .get("bezeichnung")
        .or_else(|| v.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    super::output::visible(name).into_owned()
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "∅".into(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn write_text(
    out: &mut impl Write,
    source: &str,
    from: Option<i64>,
    to: i64,
    d: &diff::Diff,
) -> std::io::Result<()> {
    let from = from.map_or("(empty)".to_owned(), |f| format!("release {f}"));
    writeln!(out, "{source}: {from} → release {to}")?;
    writeln!(out, "added ({}):", d.added.len())?;
    for (k, v) in &d.added {
        writeln!(out, "  + {k}  {}", name_of(v))?;
    }
    writeln!(out, "changed ({}):", d.changed.len())?;
    for c in &d.changed {
        writeln!(out, "  ~ {k}", k = c.key)?;
        for f in &c.fields {
            writeln!(
                out,
                "      {}: {} → {}",
                f.field,
                show(&f.old),
                show(&f.new)
            )?;
        }
    }
    writeln!(out, "retired ({}):", d.retired.len())?;
    for (k, v) in &d.retired {
        writeln!(out, "  - {k}  {}", name_of(v))?;
    }
    Ok(())
}

fn csv_rows(d: &diff::Diff) -> Vec<Vec<String>> {
    let plain = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut rows = Vec::new();
    for (k, v) in &d.added {
        rows.push(vec![
            "added".into(),
            k.clone(),
            String::new(),
            String::new(),
            name_of(v),
        ]);
    }
    for c in &d.changed {
        for f in &c.fields {
            rows.push(vec![
                "changed".into(),
                c.key.clone(),
                f.field.clone(),
                plain(&f.old),
                plain(&f.new),
            ]);
        }
    }
    for (k, v) in &d.retired {
        rows.push(vec![
            "retired".into(),
            k.clone(),
            String::new(),
            name_of(v),
            String::new(),
        ]);
    }
    rows
}
