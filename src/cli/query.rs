//! `ozgsync query "SQL"`: one read-only SQL statement against the database, rendered
//! as a table, CSV, JSON or NDJSON. The guards and limits are in `store::query`; the
//! views to query are documented in docs/views.md. Every format streams: rows are
//! written as SQLite produces them, so output of any length needs constant memory.

use std::io::Write;
use std::process::ExitCode;

use super::output::StreamingTable;
use super::Context;
use crate::export::render::csv as excel;
use crate::store::query::{self, Limits, QueryConnection};

/// Rows a table looks at to decide its column widths before printing.
const TABLE_SAMPLE_ROWS: usize = 200;

/// Widest a table column gets; use `--format csv` for whole values.
const TABLE_MAX_WIDTH: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum QueryFormat {
    #[default]
    Table,
    Csv,
    /// CSV for German Excel, like the report's CSV files: `;`, a UTF-8
    /// byte-order mark, CRLF, formula-like text guarded with `'`.
    ExcelCsv,
    Json,
    Ndjson,
}

/// Run one read-only SQL statement (SELECT over the tables and v_* views). Writes,
/// ATTACH, PRAGMA changes and extension loading are refused.
#[derive(Debug, clap::Args)]
pub struct Query {
    /// The SQL statement, e.g. "SELECT * FROM v_status_current LIMIT 10".
    sql: String,
    /// `table` (widths from the first 200 rows, cells cut at 80 characters with …),
    /// `csv`, `excel-csv` (`;`, BOM, CRLF for German Excel), `json` (keys in the
    /// SELECT's order) or `ndjson`.
    #[arg(long, value_enum, default_value_t)]
    format: QueryFormat,
    /// Stop the query after SQLite has worked on it this long; 0 = no limit.
    #[arg(long, value_name = "SECONDS", default_value_t = query::DEFAULT_TIMEOUT.as_secs())]
    timeout: u64,
    /// SQLite's working memory for sorting, DISTINCT, GROUP BY and temporary
    /// results, in MiB; more stops the query. 0 = no limit (large sorts then spill
    /// to temporary files).
    #[arg(long, value_name = "MIB", default_value_t = query::DEFAULT_MEMORY_MIB)]
    max_memory: u64,
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One row as a JSON object with the keys in the SELECT's order (a `serde_json`
/// map would sort them).
fn object(columns: &[String], values: Vec<serde_json::Value>) -> String {
    let mut s = String::from("{");
    for (i, (column, value)) in columns.iter().zip(values).enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&serde_json::Value::from(column.as_str()).to_string());
        s.push(':');
        s.push_str(&value.to_string());
    }
    s.push('}');
    s
}

/// Refuses a result whose columns share a name (`SELECT s.*, a.*` of a join, or two
/// `AS x`) before a JSON object is written: an object holds a key once, and
/// readers keep one of the two values without a word.
fn refuse_repeated_names(columns: &[String]) -> std::io::Result<()> {
    for (i, name) in columns.iter().enumerate() {
        if let Some(j) = columns.iter().skip(i + 1).position(|other| other == name) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "the result has two columns named {name:?} (columns {} and {}), and a JSON \
                     object keeps a key once: name them apart with AS (e.g. SELECT a.{name} \
                     AS {name}_a, ...), or use --format csv",
                    i + 1,
                    i + j + 2
                ),
            ));
        }
    }
    Ok(())
}

/// Streams the result as CSV, header first (also for a result without rows).
fn write_csv<W: Write>(
    conn: &QueryConnection,
    sql: &str,
    mut w: csv::Writer<W>,
    cell: impl Fn(&serde_json::Value) -> String,
) -> anyhow::Result<query::Ran> {
    let mut started = false;
    let ran = conn.run(sql, |c, r| {
        if !started {
            started = true;
            w.write_record(c).map_err(std::io::Error::other)?;
        }
        w.write_record(r.iter().map(&cell))
            .map_err(std::io::Error::other)
    })?;
    if !started {
        w.write_record(&ran.columns)?;
    }
    w.flush()?;
    Ok(ran)
}

/// Whether `sql` holds anything but white space, `;` and comments: SQLite prepares
/// such text to no statement, which rusqlite reports as "bad parameter or other API
/// misuse".
fn holds_a_statement(sql: &str) -> bool {
    let mut rest = sql;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return !rest.is_empty();
        }
    }
}

impl Query {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        if !holds_a_statement(&self.sql) {
            return Err(crate::Error::usage(
                "the query is empty (only white space, `;` or comments); give one SQL statement, e.g. ozgsync query \"SELECT * FROM v_releases\"",
            )
            .into());
        }
        let limits = Limits {
            time: (self.timeout > 0).then(|| std::time::Duration::from_secs(self.timeout)),
            memory_mib: (self.max_memory > 0).then_some(self.max_memory),
        };
        let conn = QueryConnection::open(&ctx.db, limits)?;
        let mut out = std::io::BufWriter::new(super::output::stdout());
        let ran = match self.format {
            QueryFormat::Table => {
                let mut table = StreamingTable::new(&mut out, TABLE_SAMPLE_ROWS, TABLE_MAX_WIDTH);
                let ran = conn.run(&self.sql, |c, r| table.row(c, r.iter().map(text).collect()))?;
                table.finish(&ran.columns)?;
                ran
            }
            QueryFormat::Csv => {
                write_csv(&conn, &self.sql, csv::Writer::from_writer(&mut out), text)?
            }
            QueryFormat::ExcelCsv => {
                out.write_all(excel::BOM)?;
                write_csv(&conn, &self.sql, excel::excel_writer(&mut out), |v| {
                    excel::guard_formula(text(v))
                })?
            }
            QueryFormat::Json => {
                let mut first = true;
                let ran = conn.run(&self.sql, |c, r| {
                    if first {
                        refuse_repeated_names(c)?;
                    }
                    let sep = if first { "[\n" } else { ",\n" };
                    first = false;
                    write!(out, "{sep}{}", object(c, r))
                })?;
                refuse_repeated_names(&ran.columns)?;
                writeln!(out, "{}]", if first { "[" } else { "\n" })?;
                ran
            }
            QueryFormat::Ndjson => {
                let mut first = true;
                let ran = conn.run(&self.sql, |c, r| {
                    if std::mem::take(&mut first) {
                        refuse_repeated_names(c)?;
                    }
                    writeln!(out, "{}", object(c, r))
                })?;
                refuse_repeated_names(&ran.columns)?;
                ran
            }
        };
        out.flush()?;
        if ran.cut_cells > 0 {
            eprintln!(
                "warning: {} value(s) longer than {} bytes were cut (they end in …); read them in parts with substr(column, start, length)",
                ran.cut_cells,
                query::MAX_CELL_BYTES
            );
        }
        if let Some((row, column)) = &ran.not_finite.first {
            eprintln!(
                "warning: {} value(s) are real numbers beyond a double's range (infinity; the first in row {row}, column {column:?}), written as {}: select CAST({column} AS TEXT) to see them as text (\"Inf\", \"-Inf\")",
                ran.not_finite.count,
                if matches!(self.format, QueryFormat::Json | QueryFormat::Ndjson) { "null" } else { "an empty cell, as NULL is" },
            );
        }
        if let Some((row, column)) = &ran.blobs.first {
            eprintln!(
                "warning: {} value(s) are BLOBs (binary; the first in row {row}, column {column:?}), written as hex text, two digits per byte, which reads like text: select hex({column}) to make that plain, or length({column}) for the size in bytes",
                ran.blobs.count
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
