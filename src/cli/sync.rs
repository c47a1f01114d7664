//! `ozgsync sync`: pull every configured source (or one) and apply what changed,
//! holding the database's writer lock and recording each source as a manual run.

use std::process::ExitCode;

use super::Context;
use crate::jobs::{run_sync_job, CommandExports};
use crate::store::release::{ReleaseStatus, ReleaseSummary};
use crate::store::runs::{Outcome, Trigger};

/// Fetch every configured source and store each new payload as a release, then run
/// the exports configured for sources that changed.
///
/// A source that fails is reported and the others still run. Exit code: 0 when all
/// were applied or unchanged, 1 if any source or export failed (or another ozgsync
/// holds the database), 2 on usage errors. With --quiet only errors are printed,
/// for cron mail.
#[derive(Debug, clap::Args)]
pub struct Sync {
    /// Sync only the source with this name.
    #[arg(long, value_name = "NAME")]
    only: Option<String>,
}

impl Sync {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let config = ctx.require_config()?;
        if let Some(only) = &self.only {
            if config.source(only).is_none() {
                return Err(crate::Error::Invalid(format!(
                    "no source named {only:?} in {}; configured: {}",
                    config.path.display(),
                    config
                        .sources
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .into());
            }
        }
        let db = &ctx.db;
        let mut conn = ctx.open_locked_writer("sync")?;
        let runtime = super::runtime()?;
        let mut failed = 0;
        for source in &config.sources {
            if self.only.as_deref().is_some_and(|o| o != source.name) {
                continue;
            }
            let report = run_sync_job(
                &mut conn,
                config,
                db,
                source,
                Trigger::Manual,
                runtime.handle(),
                &CommandExports,
            )?;
            match (&report.result.outcome, &report.result.error) {
                (Outcome::Failed, error) => {
                    failed += 1;
                    eprintln!(
                        "error: source {}: {}",
                        source.name,
                        error.as_deref().unwrap_or("failed")
                    );
                }
                _ if !ctx.quiet => {
                    if let Some(release_id) = report.result.release_id {
                        println!(
                            "{}",
                            describe(&ReleaseSummary {
                                release_id,
                                source: source.name.clone(),
                                status: if report.result.outcome == Outcome::Applied {
                                    ReleaseStatus::Applied
                                } else {
                                    ReleaseStatus::Unchanged
                                },
                                counts: report.result.counts.clone(),
                            })
                        );
                    }
                }
                _ => {}
            }
            if report.exports_failed > 0 {
                failed += 1;
                eprintln!(
                    "error: source {}: {} export(s) failed (`ozgsync status` shows them)",
                    source.name, report.exports_failed
                );
            }
        }
        Ok(if failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    }
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
            if c.rejected + c.warnings > 0 {
                line.push_str(&format!(" (`ozgsync rejects {}` lists them)", s.release_id));
            }
            line
        }
    }
}
