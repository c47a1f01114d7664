//! `ozgsync export`: the Onlinedienste-Report in one format, and the municipal
//! dashboard files. Both read the database read-only and go through
//! [`crate::export::run_job`], the same entry point a sync-triggered export uses.

use crate::error::ShowPath;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;

use super::output::say;
use super::Context;
use crate::export::target::{self, Modes, OutputOptions};
use crate::export::{self, ExportJob, ExportOutcome, Part, ReportFormat};
use crate::model::LandScope;

/// Export the Onlinedienste-Report or the municipal dashboard JSON files.
#[derive(Debug, clap::Args)]
pub struct Export {
    #[command(subcommand)]
    what: What,
}

/// Which Land to show, shared by both exports: `--land`, else the `land` of the
/// config in effect (`--config`, `OZGSYNC_CONFIG`, ...), else 03 (Niedersachsen).
#[derive(Debug, clap::Args)]
struct LandArgs {
    /// Show this Land's Gemeinden, Verbände and Kreise: a two-digit Land key (03
    /// Niedersachsen, 08 Baden-Württemberg, ...) or `all` [default: the config's
    /// `land`, else 03].
    #[arg(long, value_name = "01..16|all")]
    land: Option<LandScope>,
}

impl LandArgs {
    fn scope(self, ctx: &Context) -> LandScope {
        self.land
            .or_else(|| ctx.config.as_ref().map(|c| c.land.clone()))
            .unwrap_or_default()
    }
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
    /// Output file, `-` for standard output (for CSV without --part: a directory).
    /// An existing file is replaced, never a database, a link or a device.
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
    #[command(flatten)]
    modes: ModeArgs,
    #[command(flatten)]
    land: LandArgs,
}

/// Permissions of the written files and of directories ozgsync creates; explicit,
/// so the umask (the units' `UMask=0077`) does not decide what a web server reads.
#[derive(Debug, clap::Args)]
pub struct ModeArgs {
    /// Mode of written files (octal).
    #[arg(long, value_name = "MODE", env = "OZGSYNC_FILE_MODE", default_value = "0644",
          value_parser = target::parse_mode)]
    file_mode: u32,
    /// Mode of created directories (octal).
    #[arg(long, value_name = "MODE", env = "OZGSYNC_DIR_MODE", default_value = "0755",
          value_parser = target::parse_mode)]
    dir_mode: u32,
}

impl ModeArgs {
    pub fn modes(&self) -> Modes {
        Modes {
            file: self.file_mode,
            dir: self.dir_mode,
        }
    }
}

/// Municipal dashboard JSON: one file per Gemeinde, Samtgemeinde/Verband and Kreis
/// of the Land (see --land), index.json, meta.json and the JSON Schemas, published
/// atomically into DIR; with --site also the web site that shows them.
/// Files whose content did not change keep their bytes and mtime.
#[derive(Debug, clap::Args)]
struct DashboardArgs {
    /// Target directory: new, empty, or published by ozgsync before (it keeps a
    /// manifest, `.ozgsync-published`); replaced atomically as a whole. Only files
    /// ozgsync published there are replaced or removed; a DIR holding a database
    /// is refused.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Publish into a DIR that holds files ozgsync did not write (e.g. a web root
    /// with its own index.html). They are kept as they are; the set is then updated
    /// file by file instead of swapped as a whole.
    #[arg(long)]
    allow_foreign_files: bool,
    #[command(flatten)]
    modes: ModeArgs,
    /// Also write deterministic `.gz` siblings for web servers (gzip_static).
    #[arg(long)]
    gzip: bool,
    /// Statuses as of this date (YYYY-MM-DD or DD.MM.YYYY) [default: today].
    #[arg(long, value_name = "DATE", value_parser = super::date_arg)]
    as_of: Option<NaiveDate>,
    /// Also publish the dashboard site: index.html with its script and style,
    /// labels.json and openapi.json, which read the JSON from the same directory.
    #[arg(long)]
    site: bool,
    #[command(flatten)]
    land: LandArgs,
}

impl Export {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let mut output = OutputOptions::default();
        let job = match self.what {
            What::Report(a) => {
                if a.part.is_some() && a.format != ReportFormat::Csv {
                    return Err(crate::Error::usage("--part applies to --format csv only").into());
                }
                if let (Some(since), Some(as_of)) = (a.since, a.as_of) {
                    if since > as_of {
                        return Err(crate::Error::usage(format!(
                            "--since {since} is after --as-of {as_of}"
                        ))
                        .into());
                    }
                }
                output.modes = a.modes.modes();
                ExportJob::Report {
                    land: a.land.scope(ctx),
                    format: a.format,
                    part: a.part,
                    as_of: a.as_of,
                    since: a.since,
                    out: a.out,
                }
            }
            What::Dashboards(a) => {
                output.modes = a.modes.modes();
                output.allow_foreign_files = a.allow_foreign_files;
                ExportJob::Dashboards {
                    land: a.land.scope(ctx),
                    out: a.out,
                    gzip: a.gzip,
                    as_of: a.as_of,
                    site: a.site,
                }
            }
        };
        // SIGTERM or SIGINT stops the export before its next file: the staging
        // files go and what was published stays (a second signal exits at once).
        let runtime = super::runtime()?;
        output.stop = Some(super::stop_on_signals(&runtime)?);
        let outcome = export::run_job_with(&ctx.db, &job, &output).inspect_err(|e| {
            if let Some(err) = e.stdout_error() {
                super::output::note_closed(err);
            }
        })?;
        if !ctx.quiet {
            match outcome {
                ExportOutcome::Report { files } => {
                    for f in files {
                        say!("{}", f.shown());
                    }
                }
                ExportOutcome::Dashboards(s) if s.current => {
                    say!(
                        "dashboards unchanged ({} files kept; the published meta.json names the same data)",
                        s.kept
                    );
                }
                ExportOutcome::Dashboards(s) if s.unchanged => {
                    say!("dashboards unchanged ({} files kept)", s.kept);
                }
                ExportOutcome::Dashboards(s) => say!(
                    "dashboards published: {} written, {} kept, {} removed",
                    s.written,
                    s.kept,
                    s.removed
                ),
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
