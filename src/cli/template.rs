//! `ozgsync template annotations|efa|efa-nachnutzung`: the spreadsheets people fill in, as CSV
//! that Excel opens directly (UTF-8 with BOM, `;`, CRLF). A file is written like
//! an export: through a temporary file and a rename, never through a link, never
//! over a database, with an explicit mode.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::export::ModeArgs;
use super::Context;
use crate::annotations::csv::{write_sheet, write_template, TemplateRow};
use crate::export::target;

/// Write a CSV template to fill in and import.
#[derive(Debug, clap::Args)]
pub struct Template {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// The annotation sheet for `ozgsync annotations import`.
    Annotations {
        /// Write here instead of standard output (`-`: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        modes: ModeArgs,
        /// One row per current LeiKa key, with its name and current annotation
        /// (reads the database).
        #[arg(long)]
        fill: bool,
    },
    /// The EfA-Nachnutzung sheet for `ozgsync efa-nachnutzung import`.
    EfaNachnutzung {
        /// Write here instead of standard output (`-`: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        modes: ModeArgs,
        /// The sheet's file format.
        #[arg(long, value_enum, default_value_t)]
        format: SheetFormat,
        /// One row per current EfA service, with its name and current state
        /// (reads the database).
        #[arg(long)]
        fill: bool,
    },
    /// The CSV form of the EfA release format for `ozgsync import efa`.
    Efa {
        /// Write here instead of standard output (`-`: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        modes: ModeArgs,
    },
}

/// File formats of a template. XLSX sheets are to come with the other XLSX
/// templates; until then CSV is what Excel opens directly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
enum SheetFormat {
    #[default]
    Csv,
}

impl Template {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        match self.what {
            What::Annotations { out, modes, fill } => {
                let rows: Vec<TemplateRow> = if fill {
                    crate::store::annotations::template_rows(&ctx.open_reader()?)?
                } else {
                    Vec::new()
                };
                let written = write_to(ctx, out.as_deref(), &modes, |w| write_template(w, &rows))?;
                if let (Some(path), false) = (written, ctx.quiet) {
                    eprintln!("wrote {} ({} rows)", path.display(), rows.len());
                }
            }
            What::EfaNachnutzung {
                out,
                modes,
                format: SheetFormat::Csv,
                fill,
            } => {
                let rows = if fill {
                    crate::store::efa_nachnutzung::template_rows(&ctx.open_reader()?)?
                } else {
                    Vec::new()
                };
                let records: Vec<Vec<&str>> = rows
                    .iter()
                    .map(|r| r.iter().map(String::as_str).collect())
                    .collect();
                let header = crate::efa_nachnutzung::headers();
                let written = write_to(ctx, out.as_deref(), &modes, |w| {
                    write_sheet(w, &header, &records)
                })?;
                if let (Some(path), false) = (written, ctx.quiet) {
                    eprintln!("wrote {} ({} rows)", path.display(), rows.len());
                }
            }
            What::Efa { out, modes } => {
                write_to(ctx, out.as_deref(), &modes, |w| {
                    w.write_all("\u{feff}".as_bytes())?;
                    write!(w, "{}\r\n", crate::parse::efa::CSV_COLUMNS.join(";"))
                })?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Writes the template to `path` (atomically, see the module comment) or to
/// standard output; returns the file written, if any.
fn write_to<'p>(
    ctx: &Context,
    path: Option<&'p Path>,
    modes: &ModeArgs,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> anyhow::Result<Option<&'p Path>> {
    let mut bytes = Vec::new();
    write(&mut bytes)?;
    match path.filter(|p| !target::is_stdout(p)) {
        Some(p) => {
            let db = ctx.db.clone();
            target::check_replaceable(p, &target::Protected::of(&[db]))
                .map_err(|e| crate::Error::Usage(e.to_string()))?;
            crate::export::write_atomic(p, &bytes, modes.modes())?;
            Ok(Some(p))
        }
        None => {
            let mut out = super::output::stdout();
            out.write_all(&bytes).and_then(|()| out.flush())?;
            Ok(None)
        }
    }
}
