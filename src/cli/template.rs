//! `ozgsync template annotations|efa`: the spreadsheets people fill in, as CSV
//! that Excel opens directly (UTF-8 with BOM, `;`, CRLF).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::Context;
use crate::annotations::csv::{write_template, TemplateRow};

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
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// One row per current LeiKa key, with its name and current annotation
        /// (reads the database).
        #[arg(long)]
        fill: bool,
    },
    /// The CSV form of the EfA release format for `ozgsync import efa`.
    Efa {
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

impl Template {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        match self.what {
            What::Annotations { out, fill } => {
                let rows: Vec<TemplateRow> = if fill {
                    crate::store::annotations::template_rows(&ctx.open_reader()?)?
                } else {
                    Vec::new()
                };
                write_to(out.as_deref(), |w| write_template(w, &rows))?;
                if let (Some(path), false) = (&out, ctx.quiet) {
                    eprintln!("wrote {} ({} rows)", path.display(), rows.len());
                }
            }
            What::Efa { out } => {
                write_to(out.as_deref(), |w| {
                    w.write_all("\u{feff}".as_bytes())?;
                    write!(w, "{}\r\n", crate::parse::efa::CSV_COLUMNS.join(";"))
                })?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn write_to(
    path: Option<&std::path::Path>,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    match path {
        Some(p) => {
            let file = std::fs::File::create(p).map_err(crate::Error::io("creating", p))?;
            let mut w = std::io::BufWriter::new(file);
            write(&mut w).map_err(crate::Error::io("writing", p))?;
            w.flush().map_err(crate::Error::io("writing", p))?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = stdout.lock();
            write(&mut w)?;
            w.flush()?;
        }
    }
    Ok(())
}
