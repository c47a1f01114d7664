//! Rendering for the terminal and for scripts: aligned text tables, CSV and JSON,
//! the line a release gets ([`describe`]), a record with its history
//! ([`print_history`]), and the one way to standard output. A closed stdout
//! (`ozgsync releases | head`) is not a failure: a reading command's output ([`stdout`]) stops there and the
//! binary exits 0 ([`stdout_closed`]); a command that writes data prints its lines
//! with [`say!`], which drops them once nobody reads, so the work runs to its end.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde_json::Value;

use crate::diff;
pub use crate::logging::visible;
use crate::store::read::VersionRow;
use crate::store::release::{ReleaseStatus, ReleaseSummary};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
    Csv,
}

/// The format of a command's summary or overview (`sync`, `import`, `status`):
/// a line for people, or one JSON document for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SummaryFormat {
    #[default]
    Text,
    Json,
}

/// Set when a write to [`stdout`] met a closed pipe. Kept apart from [`say!`]'s
/// dropped lines, so only a reading command's cut-off output turns its error into
/// success, never a failure of a command that writes data.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether a reading command's output met a closed stdout: its error is then the
/// closed pipe (however a serializer wrapped it) and the run counts as success.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Standard output for a command's result: fails with `BrokenPipe` once the
/// reader has gone, and remembers that it did ([`stdout_closed`]).
pub fn stdout() -> Out {
    Out(std::io::stdout().lock())
}

pub struct Out(std::io::StdoutLock<'static>);

impl Out {
    /// Notes a closed pipe; any other failure but an interrupted call is named as
    /// standard output's (`releases > /dev/full` said only "No space left on
    /// device"), keeping its kind.
    fn noting<T>(result: std::io::Result<T>) -> std::io::Result<T> {
        result.map_err(|e| {
            note_closed(&e);
            match e.kind() {
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::Interrupted => e,
                kind => std::io::Error::new(kind, format!("writing to standard output: {e}")),
            }
        })
    }
}

/// Notes `err`, met writing to stdout somewhere else (the export library's
/// `--out -`), if it is the closed pipe.
pub(crate) fn note_closed(err: &std::io::Error) {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Self::noting(self.0.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Self::noting(self.0.flush())
    }
}

/// Prints one line of a command's progress or summary. Unlike `println!` it never
/// panics: a closed stdout drops the line, and a command that writes data goes on
/// to commit and finish.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::output::say_line(format_args!($($arg)*))
    };
}
pub(crate) use say;

pub(crate) fn say_line(line: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    // Ignored on purpose: the reader having gone must not stop the work.
    let _ = out
        .write_fmt(line)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
}

/// Prints a command's JSON summary like [`say!`]: never stops the work, whoever
/// reads or not.
pub(crate) fn say_json(value: &impl Serialize) {
    let mut out = std::io::stdout().lock();
    // Ignored on purpose, as in `say_line`.
    let _ = json(&mut out, value).map(|()| out.flush());
}

/// The widest a column of [`table`] is padded to, in characters. A wider cell
/// (a rejected row's 1 MB key, a long raw line) is written whole and overflows its
/// column on its own line instead of padding every other line to its width: one
/// such cell made `rejects` print 114 MB of blanks for 56 rows.
pub const MAX_PADDED: usize = 400;

/// Writes rows as an aligned text table with a header line, every row known up
/// front (the widths fit every cell up to [`MAX_PADDED`]; nothing is cut).
pub fn table(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header
        .iter()
        .map(|h| h.chars().count().min(MAX_PADDED))
        .collect();
    for row in rows {
        widen(&mut widths, row, MAX_PADDED);
    }
    writeln!(
        out,
        "{}",
        line(header.iter().copied(), &widths, Width::Overflow)
    )?;
    for row in rows {
        writeln!(
            out,
            "{}",
            line(row.iter().map(String::as_str), &widths, Width::Overflow)
        )?;
    }
    Ok(())
}

/// What [`line`] does with a cell wider than its column.
#[derive(Clone, Copy)]
enum Width {
    /// Written whole; the line's later cells move right ([`table`]).
    Overflow,
    /// Cut, ending in `…`; the last column at this many characters
    /// ([`StreamingTable`]).
    Cut { last_max: usize },
}

/// Widens `widths` to fit `row`, up to `max` characters a column.
fn widen(widths: &mut [usize], row: &[String], max: usize) {
    for (w, cell) in widths.iter_mut().zip(row) {
        *w = (*w).max(visible(cell).chars().count().min(max));
    }
}

/// One table line: cells padded to their column's width, a cell wider than it
/// written whole or cut as `width` says; trailing blanks trimmed. The last column
/// needs no alignment, so it is cut only at `last_max`.
fn line<'a>(cells: impl Iterator<Item = &'a str>, widths: &[usize], width: Width) -> String {
    let mut s = String::new();
    for (i, (cell, &w)) in cells.zip(widths).enumerate() {
        if i > 0 {
            s.push_str("  ");
        }
        let last = i + 1 == widths.len();
        let cell = visible(cell);
        let len = cell.chars().count();
        match width {
            Width::Cut { last_max } if len > if last { last_max } else { w } => {
                let w = if last { last_max } else { w };
                s.extend(cell.chars().take(w.saturating_sub(1)));
                s.push('…');
            }
            _ => {
                s.push_str(&cell);
                if !last {
                    s.extend(std::iter::repeat_n(' ', w.saturating_sub(len)));
                }
            }
        }
    }
    s.trim_end().to_owned()
}

/// A text table written while rows still arrive: the column widths are decided
/// from the header and the first `sample` rows (each at most `max_width`
/// characters), then every row is printed as it comes and a wider cell is cut with
/// `…`. Memory holds `sample` rows at most, whatever the number of rows. The header
/// comes with the rows (and with `finish`, for a result without rows), as a query
/// learns its column names only when it runs.
pub struct StreamingTable<W: Write> {
    out: W,
    header: Option<Vec<String>>,
    sample: usize,
    max_width: usize,
    /// Rows held until the widths are decided.
    pending: Vec<Vec<String>>,
    widths: Option<Vec<usize>>,
}

impl<W: Write> StreamingTable<W> {
    pub fn new(out: W, sample: usize, max_width: usize) -> Self {
        StreamingTable {
            out,
            header: None,
            sample,
            max_width,
            pending: Vec::new(),
            widths: None,
        }
    }

    pub fn row(&mut self, header: &[String], row: Vec<String>) -> std::io::Result<()> {
        self.header.get_or_insert_with(|| header.to_vec());
        match &self.widths {
            Some(widths) => writeln!(
                self.out,
                "{}",
                line(
                    row.iter().map(String::as_str),
                    widths,
                    Width::Cut {
                        last_max: self.max_width
                    }
                )
            ),
            None => {
                self.pending.push(row);
                if self.pending.len() >= self.sample {
                    self.decide()?;
                }
                Ok(())
            }
        }
    }

    /// Decides the widths from what was seen and prints the header and held rows.
    fn decide(&mut self) -> std::io::Result<()> {
        let header = self.header.take().unwrap_or_default();
        let mut widths: Vec<usize> = header
            .iter()
            .map(|h| h.chars().count().min(self.max_width))
            .collect();
        for row in &self.pending {
            widen(&mut widths, row, self.max_width);
        }
        let max = Width::Cut {
            last_max: self.max_width,
        };
        writeln!(
            self.out,
            "{}",
            line(header.iter().map(String::as_str), &widths, max)
        )?;
        for row in self.pending.drain(..) {
            writeln!(
                self.out,
                "{}",
                line(row.iter().map(String::as_str), &widths, max)
            )?;
        }
        self.widths = Some(widths);
        Ok(())
    }

    /// Prints what is still held (all rows, when there were fewer than `sample`;
    /// only `header` when there were none).
    pub fn finish(mut self, header: &[String]) -> std::io::Result<W> {
        if self.widths.is_none() {
            self.header.get_or_insert_with(|| header.to_vec());
            self.decide()?;
        }
        Ok(self.out)
    }
}

/// Writes rows as CSV with a header.
pub fn csv(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header)?;
    for row in rows {
        w.write_record(row)?;
    }
    w.flush()?;
    Ok(())
}

pub fn json(out: &mut impl Write, value: &impl Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Renders rows in the chosen format; JSON uses `value` (the typed rows).
pub fn render(
    format: Format,
    header: &[&str],
    rows: &[Vec<String>],
    value: &impl Serialize,
) -> anyhow::Result<()> {
    let mut out = stdout();
    match format {
        Format::Text => table(&mut out, header, rows)?,
        Format::Csv => csv(&mut out, header, rows)?,
        Format::Json => json(&mut out, value)?,
    }
    Ok(())
}

pub fn opt(v: &Option<impl ToString>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// One line per release for the terminal.
pub fn describe(s: &ReleaseSummary) -> String {
    match s.status {
        ReleaseStatus::Unchanged => format!("{}: unchanged (release {})", s.source, s.release_id),
        ReleaseStatus::Applied => {
            let c = &s.counts;
            let mut line = format!(
                "{}: release {} applied: {} added, {} changed, {} retired, {} unchanged, {} rejected, {} warnings",
                s.source, s.release_id, c.added, c.changed, c.retired, c.unchanged, c.rejected, c.warnings
            );
            // Only when it happened: most releases keep nothing, and the line is long.
            if c.kept > 0 {
                line.push_str(&format!(", {} kept at the previous version", c.kept));
            }
            if c.rejected + c.warnings > 0 {
                line.push_str(&format!(" (`ozgsync rejects {}` lists them)", s.release_id));
            }
            line
        }
    }
}

/// Prints a record's current state and its versions, each with what changed.
pub(super) fn print_history(
    out: &mut impl Write,
    key: &str,
    versions: &[VersionRow],
    title: impl Fn(&Value) -> String,
) -> std::io::Result<()> {
    let Some(last) = versions.last() else {
        return Ok(());
    };
    let state = match last.valid_to {
        None => "current".to_owned(),
        Some(r) => format!(
            "retired in release {r} ({})",
            last.valid_to_at.as_deref().unwrap_or("")
        ),
    };
    writeln!(
        out,
        "{}  {}  [{state}]",
        visible(key),
        visible(&title(&last.data))
    )?;
    if let Value::Object(fields) = &last.data {
        for (f, v) in fields {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            writeln!(out, "    {f}: {}", visible(&v))?;
        }
    } else {
        // ozgsync stores every record as a JSON object (`store::release`); this
        // text was written by another program, and is shown as it is, not dropped.
        let text = match &last.data {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        writeln!(
            out,
            "    stored data (not the JSON object ozgsync writes: another program changed it; restore a backup): {}",
            visible(&text)
        )?;
    }
    writeln!(out, "  history:")?;
    let mut previous: Option<&Value> = None;
    for v in versions {
        let until = v
            .valid_to
            .map(|t| format!(" until release {t}"))
            .unwrap_or_default();
        writeln!(
            out,
            "    release {} ({}){until}",
            v.valid_from, v.valid_from_at
        )?;
        if let Some(p) = previous {
            for c in diff::field_changes(p, &v.data) {
                // JSON escapes C0 controls, not C1 or the bidi overrides.
                writeln!(
                    out,
                    "        {}: {} → {}",
                    c.field,
                    visible(&c.old.to_string()),
                    visible(&c.new.to_string())
                )?;
            }
        }
        previous = Some(&v.data);
    }
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(sample: usize, max_width: usize, rows: &[&[&str]]) -> String {
        let header = vec!["id".to_owned(), "name".to_owned()];
        let mut t = StreamingTable::new(Vec::new(), sample, max_width);
        for row in rows {
            t.row(&header, row.iter().map(|c| (*c).to_owned()).collect())
                .unwrap();
        }
        String::from_utf8(t.finish(&header).unwrap()).unwrap()
    }

    #[test]
    fn streaming_table_takes_widths_from_the_first_rows() {
        // all rows within the sample: as wide as needed, like `table`
        assert_eq!(
            stream(10, 80, &[&["1", "Alpha"], &["22", "B"]]),
            "id  name\n1   Alpha\n22  B\n"
        );
        // a later, wider cell is cut to the decided width; the last column,
        // which needs no alignment, only at max_width
        assert_eq!(
            stream(1, 80, &[&["1", "Alpha"], &["333", "Beta Gamma"]]),
            "id  name\n1   Alpha\n3…  Beta Gamma\n"
        );
        // no column wider than max_width, even within the sample
        assert_eq!(stream(10, 4, &[&["1", "Alphabet"]]), "id  name\n1   Alp…\n");
        assert_eq!(stream(10, 80, &[]), "id  name\n");
    }
}
