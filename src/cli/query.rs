//! `ozgsync query "SQL"`: one read-only SQL statement against the database, rendered
//! as a table, CSV, JSON or NDJSON. The guards are in `store::query`; the views to
//! query are documented in docs/views.md.

use std::io::Write;
use std::process::ExitCode;

use super::Context;
use crate::store::query::QueryConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum QueryFormat {
    #[default]
    Table,
    Csv,
    Json,
    Ndjson,
}

/// Run one read-only SQL statement (SELECT over the tables and v_* views). Writes,
/// ATTACH, PRAGMA changes and extension loading are refused.
#[derive(Debug, clap::Args)]
pub struct Query {
    /// The SQL statement, e.g. "SELECT * FROM v_status_current LIMIT 10".
    sql: String,
    #[arg(long, value_enum, default_value_t)]
    format: QueryFormat,
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn object(columns: &[String], values: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::Value::Object(columns.iter().cloned().zip(values).collect())
}

impl Query {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let conn = QueryConnection::open(&ctx.db)?;
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        match self.format {
            QueryFormat::Table => {
                let mut rows = Vec::new();
                let header = conn.run(&self.sql, |_, r| {
                    rows.push(r.iter().map(text).collect());
                    Ok(())
                })?;
                let header: Vec<&str> = header.iter().map(String::as_str).collect();
                super::output::table(&mut out, &header, &rows)?;
            }
            QueryFormat::Csv => {
                let mut w = csv::Writer::from_writer(&mut out);
                let mut started = false;
                let header = conn.run(&self.sql, |c, r| {
                    if !started {
                        started = true;
                        w.write_record(c).map_err(std::io::Error::other)?;
                    }
                    w.write_record(r.iter().map(text))
                        .map_err(std::io::Error::other)
                })?;
                if !started {
                    w.write_record(&header)?;
                }
                w.flush()?;
            }
            QueryFormat::Json => {
                let mut first = true;
                write!(out, "[")?;
                conn.run(&self.sql, |c, r| {
                    let sep = if first { "\n" } else { ",\n" };
                    first = false;
                    write!(out, "{sep}{}", object(c, r))
                })?;
                writeln!(out, "{}]", if first { "" } else { "\n" })?;
            }
            QueryFormat::Ndjson => {
                conn.run(&self.sql, |c, r| writeln!(out, "{}", object(c, r)))?;
            }
        }
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    }
}
