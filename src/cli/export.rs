//! `ozgsync export`: the Onlinedienste-Report in one format, and the municipal
//! dashboard files. Both read the database read-only and go through
//! [`crate::export::run_job`], the same entry point a sync-triggered export uses.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;

use super::Context;
use crate::export::{self, ExportJob, ExportOutcome, Part, ReportFormat};

/// Export the Onlinedienste-Report or the municipal dashboard JSON files.
#[derive(Debug, clap::Args)]
pub struct Export {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    Report(ReportArgs),
    Dashboards(DashboardArgs),
}

/// The Onlinedienste-Report: per EfA service status, Reifegrad and municipal
/// rollout, with summaries per Ressort, Themenfeld and Kreis and the changes since
/// a date. Same data and dates give the same bytes.
#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// Statuses as of this date (YYYY-MM-DD or DD.MM.YYYY) [default: today]; shown
    /// as the report's Stichtag.
    #[arg(long, value_name = "DATE", value_parser = super::date_arg)]
    as_of: Option<NaiveDate>,
    /// List the changes after this date (new services, status changes, retired keys;
    /// YYYY-MM-DD or DD.MM.YYYY).
    #[arg(long, value_name = "DATE", value_parser = super::date_arg)]
    since: Option<NaiveDate>,
    #[arg(long, value_enum)]
    format: ReportFormat,
    /// For CSV: write only this part to --out (else --out is a directory that gets
    /// one file per part).
    #[arg(long, value_enum)]
    part: Option<Part>,
    /// Output file (for CSV without --part: a directory).
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
}

/// Municipal dashboard JSON: one file per Gemeinde, Samtgemeinde/Verband and Kreis,
/// index.json, meta.json and the JSON Schemas, published atomically into DIR.
/// Files whose content did not change keep their bytes and mtime.
#[derive(Debug, clap::Args)]
struct DashboardArgs {
    /// Target directory (replaced atomically as a whole).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Also write deterministic `.gz` siblings for web servers (gzip_static).
    #[arg(long)]
    gzip: bool,
    /// Statuses as of this date (YYYY-MM-DD or DD.MM.YYYY) [default: today].
    #[arg(long, value_name = "DATE", value_parser = super::date_arg)]
    as_of: Option<NaiveDate>,
}

impl Export {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let db = ctx.db_path(None);
        let job = match self.what {
            What::Report(a) => {
                if a.part.is_some() && a.format != ReportFormat::Csv {
                    return Err(crate::Error::Invalid(
                        "--part applies to --format csv only".into(),
                    )
                    .into());
                }
                if let (Some(since), Some(as_of)) = (a.since, a.as_of) {
                    if since > as_of {
                        return Err(crate::Error::Invalid(format!(
                            "--since {since} is after --as-of {as_of}"
                        ))
                        .into());
                    }
                }
                ExportJob::Report {
                    format: a.format,
                    part: a.part,
                    as_of: a.as_of,
                    since: a.since,
                    out: a.out,
                }
            }
            What::Dashboards(a) => ExportJob::Dashboards {
                out: a.out,
                gzip: a.gzip,
                as_of: a.as_of,
            },
        };
        let outcome = export::run_job(&db, &job).map_err(|e| match e {
            export::ExportError::Store(inner) => anyhow::Error::new(inner),
            export::ExportError::InvalidArs(_) | export::ExportError::Invalid(_) => {
                anyhow::Error::new(crate::Error::Invalid(e.to_string()))
            }
            other => anyhow::Error::new(other),
        })?;
        if !ctx.quiet {
            match outcome {
                ExportOutcome::Report { files } => {
                    for f in files {
                        println!("{}", f.display());
                    }
                }
                ExportOutcome::Dashboards(s) if s.unchanged => {
                    println!("dashboards unchanged ({} files kept)", s.kept);
                }
                ExportOutcome::Dashboards(s) => println!(
                    "dashboards published: {} written, {} kept, {} removed",
                    s.written, s.kept, s.removed
                ),
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
