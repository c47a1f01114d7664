//! `ozgsync template annotations|status|efa|efa-nachnutzung`: the spreadsheets people
//! fill in, as CSV that Excel opens directly (UTF-8 with BOM, `;`, CRLF), or for
//! annotations, status reports and the EfA-Nachnutzung as an XLSX workbook with
//! drop-down lists (`--format xlsx`). A file is written like
//! an export: through a temporary file and a rename, never through a link, never
//! over a database, with an explicit mode.

use crate::error::ShowPath;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::export::ModeArgs;
use super::Context;
use crate::annotations::csv::{write_sheet, write_template, TemplateRow};
use crate::annotations::xlsx::Lists;
use crate::export::target;

/// Write a template (CSV, or XLSX for annotations, status reports and the
/// EfA-Nachnutzung) to fill in
/// and import.
#[derive(Debug, clap::Args)]
pub struct Template {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// The annotation sheet for `ozgsync annotations import`.
    Annotations {
        #[command(flatten)]
        dest: Dest,
        /// One row per current LeiKa key, with its name and current annotation
        /// (reads the database; with xlsx also the Ressort and EfA drop-down lists).
        #[arg(long)]
        fill: bool,
        /// csv: UTF-8 with BOM, `;`; xlsx: a workbook with text key column,
        /// drop-down lists, frozen header and a German instruction sheet.
        #[arg(long, value_enum, default_value_t)]
        format: SheetFormat,
    },
    /// The status report for `ozgsync status import`.
    Status {
        #[command(flatten)]
        dest: Dest,
        /// csv: UTF-8 with BOM, `;`; xlsx: a workbook with text columns, the
        /// Status drop-down, frozen header and a German instruction sheet.
        #[arg(long, value_enum, default_value_t)]
        format: SheetFormat,
    },
    /// The EfA-Nachnutzung sheet for `ozgsync efa-nachnutzung import`.
    EfaNachnutzung {
        #[command(flatten)]
        dest: Dest,
        /// csv: UTF-8 with BOM, `;`; xlsx: a workbook with text columns, drop-down
        /// lists (Bewertung, Ressort, Parametrisierung, Kanal, Kosten Land), frozen
        /// header and a German instruction sheet.
        #[arg(long, value_enum, default_value_t)]
        format: SheetFormat,
        /// One row per current EfA service, with its name and current state
        /// (reads the database; with xlsx also the Ressort and EfA-ID drop-down
        /// lists).
        #[arg(long)]
        fill: bool,
    },
    /// The CSV form of the EfA release format for `ozgsync import efa`.
    Efa {
        #[command(flatten)]
        dest: Dest,
    },
}

/// Where a template goes: a file (written atomically, with explicit modes) or
/// standard output.
#[derive(Debug, clap::Args)]
struct Dest {
    /// Write here instead of standard output (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    modes: ModeArgs,
}

/// The file format of a sheet template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
enum SheetFormat {
    #[default]
    Csv,
    Xlsx,
}

impl Template {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        match self.what {
            What::Annotations { dest, fill, format } => {
                let (rows, lists): (Vec<TemplateRow>, Lists) = if fill {
                    let conn = ctx.open_reader()?;
                    (
                        crate::store::annotations::template_rows(&conn)?,
                        crate::store::annotations::sheet_lists(&conn)?,
                    )
                } else {
                    Default::default()
                };
                let written = write_to(ctx, &dest, |w| match format {
                    SheetFormat::Csv => write_template(w, &rows),
                    SheetFormat::Xlsx => {
                        let bytes = crate::annotations::xlsx::write_template(&rows, &lists)
                            .map_err(|e| std::io::Error::other(e.to_string()))?;
                        w.write_all(&bytes)
                    }
                })?;
                if let (Some(path), false) = (written, ctx.quiet) {
                    eprintln!("wrote {} ({} rows)", path.shown(), rows.len());
                }
            }
            What::Status { dest, format } => {
                use crate::status::report;
                write_to(ctx, &dest, |w| match format {
                    SheetFormat::Csv => {
                        w.write_all("\u{feff}".as_bytes())?;
                        write!(w, "{}\r\n", report::TEMPLATE_HEADERS.join(";"))
                    }
                    SheetFormat::Xlsx => w.write_all(
                        &report::template_xlsx()
                            .map_err(|e| std::io::Error::other(e.to_string()))?,
                    ),
                })?;
            }
            What::EfaNachnutzung { dest, format, fill } => {
                let (rows, lists) = if fill {
                    let conn = ctx.open_reader()?;
                    (
                        crate::store::efa_nachnutzung::template_rows(&conn)?,
                        crate::store::annotations::sheet_lists(&conn)?,
                    )
                } else {
                    Default::default()
                };
                let written = write_to(ctx, &dest, |w| match format {
                    SheetFormat::Csv => {
                        let records: Vec<Vec<&str>> = rows
                            .iter()
                            .map(|r| r.iter().map(String::as_str).collect())
                            .collect();
                        write_sheet(w, &crate::efa_nachnutzung::headers(), &records)
                    }
                    SheetFormat::Xlsx => w.write_all(
                        &crate::efa_nachnutzung::xlsx::write_template(&rows, &lists)
                            .map_err(|e| std::io::Error::other(e.to_string()))?,
                    ),
                })?;
                if let (Some(path), false) = (written, ctx.quiet) {
                    eprintln!("wrote {} ({} rows)", path.shown(), rows.len());
                }
            }
            What::Efa { dest } => {
                write_to(ctx, &dest, |w| {
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
    dest: &'p Dest,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> anyhow::Result<Option<&'p Path>> {
    let mut bytes = Vec::new();
    write(&mut bytes)?;
    match dest.out.as_deref().filter(|p| !target::is_stdout(p)) {
        Some(p) => {
            let db = ctx.db.clone();
            target::check_replaceable(p, &target::Protected::of(&[db]), &bytes)?;
            crate::export::write_atomic(p, &bytes, dest.modes.modes())?;
            Ok(Some(p))
        }
        None => {
            let mut out = super::output::stdout();
            out.write_all(&bytes).and_then(|()| out.flush())?;
            Ok(None)
        }
    }
}
