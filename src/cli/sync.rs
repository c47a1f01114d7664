//! `ozgsync sync`: pull every configured source (or one) and apply what changed,
//! holding the database's writer lock and recording each source as a manual run.

use crate::error::ShowPath;
use std::process::ExitCode;

use serde::Serialize;

use super::output::{say, say_json, SummaryFormat};
use super::Context;
use crate::jobs::{run_due_exports, run_sync_job, CommandExports};
use crate::store::release::{Counts, ReleaseStatus, ReleaseSummary};
use crate::store::runs::{Outcome, Trigger};

/// Fetch every configured source and store each new payload as a release, then run
/// every export that is due (data it shows changed since its last success).
///
/// A source that fails is reported and the others still run; a failed export stays
/// due and runs again next time. Exit code: 0 when all were applied or unchanged
/// and no export failed, 1 if any source or export failed (or another ozgsync holds
/// the database, or SIGTERM/SIGINT stopped it), 2 on usage errors. With --quiet only
/// errors are printed, for cron mail. A closed stdout does not stop the sync.
#[derive(Debug, clap::Args)]
pub struct Sync {
    /// Sync only the source with this name.
    #[arg(long, value_name = "NAME")]
    only: Option<String>,
    /// `text`: a line per release; `json`: one document at the end with every
    /// source (applied, unchanged or failed, with counts) and the exports run.
    #[arg(long, value_enum, default_value_t)]
    format: SummaryFormat,
}

/// `sync --format json` and `import --format json`: their own types, so an
/// internal rename never changes what scripts read.
#[derive(Debug, Serialize)]
struct SyncOut {
    sources: Vec<SourceOut>,
    exports: ExportsOut,
}

#[derive(Debug, Serialize)]
pub(super) struct SourceOut {
    source: String,
    /// `applied`, `unchanged` or `failed`.
    outcome: &'static str,
    release_id: Option<i64>,
    added: u64,
    changed: u64,
    retired: u64,
    unchanged: u64,
    rejected: u64,
    warnings: u64,
    kept: u64,
    error: Option<String>,
}

impl SourceOut {
    pub(super) fn new(source: &str, outcome: Outcome, release_id: Option<i64>, c: &Counts) -> Self {
        SourceOut {
            source: source.to_owned(),
            outcome: outcome.as_str(),
            release_id,
            added: c.added,
            changed: c.changed,
            retired: c.retired,
            unchanged: c.unchanged,
            rejected: c.rejected,
            warnings: c.warnings,
            kept: c.kept,
            error: None,
        }
    }
}

#[derive(Debug, Serialize)]
struct ExportsOut {
    succeeded: Vec<String>,
    failed: Vec<FailedExport>,
    /// Due exports not started because the sync was stopped.
    not_started: usize,
}

#[derive(Debug, Serialize)]
struct FailedExport {
    export: String,
    error: String,
}

impl Sync {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let config = ctx.require_config()?;
        if let Some(only) = &self.only {
            if config.source(only).is_none() {
                return Err(crate::Error::usage(format!(
                    "no source named {only:?} in {}; configured: {}",
                    config.path.shown(),
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
        let mut conn = ctx.open_release_writer("sync")?;
        let runtime = super::runtime()?;
        let stop = super::stop_on_signals(&runtime)?;
        let mut failed = 0;
        let mut sources = Vec::new();
        for source in &config.sources {
            if self.only.as_deref().is_some_and(|o| o != source.name) {
                continue;
            }
            if stop.requested() {
                failed += 1;
                eprintln!("error: source {}: not synced, stopped", source.name);
                let mut out =
                    SourceOut::new(&source.name, Outcome::Failed, None, &Counts::default());
                out.error = Some("not synced, stopped".into());
                sources.push(out);
                continue;
            }
            let report = run_sync_job(
                &mut conn,
                config,
                source,
                Trigger::Manual,
                runtime.handle(),
                &stop,
            )?;
            // A new database stays in rollback-journal mode after its first release
            // (`store::open_release_writer`; the release leaves the switch to the
            // caller that writes again). A source that committed none (it failed)
            // still left its run for readers to see, and in that mode a reader's
            // open transaction would hold off the next source's commit past the
            // busy timeout: the rest of the sync runs in WAL mode.
            crate::store::enter_wal(&conn);
            let r = &report.result;
            let mut out = SourceOut::new(&source.name, r.outcome, r.release_id, &r.counts);
            out.error = r.error.clone();
            match (&r.outcome, &r.error) {
                (Outcome::Failed, error) => {
                    failed += 1;
                    eprintln!(
                        "error: source {}: {}",
                        source.name,
                        super::output::visible(error.as_deref().unwrap_or("failed"))
                    );
                }
                _ if ctx.quiet || self.format == SummaryFormat::Json => {}
                (outcome, _) => {
                    if let Some(release_id) = r.release_id {
                        say!(
                            "{}",
                            super::output::describe(&ReleaseSummary {
                                release_id,
                                source: source.name.clone(),
                                status: if *outcome == Outcome::Applied {
                                    ReleaseStatus::Applied
                                } else {
                                    ReleaseStatus::Unchanged
                                },
                                counts: r.counts.clone(),
                            })
                        );
                    }
                }
            }
            sources.push(out);
        }
        // The demo after the sources: it refers to their LeiKa keys and Gemeinden.
        if let (Some(demo), None) = (&config.demo, &self.only) {
            match crate::demo::apply(&mut conn, demo, &config.base_dir) {
                Ok(applied) if !ctx.quiet && applied != crate::demo::Applied::default() => {
                    say!(
                        "demo data (Beispieldaten): {} annotation(s) changed, {} status event(s) recorded, {} EfA-Nachnutzung row(s) changed",
                        applied.annotations_changed, applied.status_events, applied.nachnutzung_changed
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    failed += 1;
                    eprintln!(
                        "error: demo data: {}",
                        super::output::visible(&e.to_string())
                    );
                }
            }
        }
        let exporter = CommandExports { quiet: ctx.quiet };
        // Every due export, also when no source changed now: an export left due by
        // a crash after a commit, or failed before, runs until it succeeds.
        let exports = run_due_exports(&conn, config, db, Trigger::Manual, &exporter, &stop)?;
        for (name, error) in &exports.failed {
            failed += 1;
            eprintln!(
                "error: export {name}: {} (it stays due; the next sync runs it again)",
                super::output::visible(&error.to_string())
            );
        }
        if exports.not_started > 0 {
            failed += 1;
            eprintln!(
                "error: {} due export(s) not run, stopped; the next sync runs them",
                exports.not_started
            );
        }
        match self.format {
            // Errors are on stderr already; the document is for scripts, which
            // ask for it, so --quiet does not hold it back.
            SummaryFormat::Json => {
                let doc = SyncOut {
                    sources,
                    exports: ExportsOut {
                        succeeded: exports.succeeded,
                        failed: exports
                            .failed
                            .into_iter()
                            .map(|(export, error)| FailedExport { export, error })
                            .collect(),
                        not_started: exports.not_started,
                    },
                };
                say_json(&doc);
            }
            SummaryFormat::Text if !ctx.quiet && !exports.succeeded.is_empty() => {
                say!("{} export(s) done", exports.succeeded.len());
            }
            SummaryFormat::Text => {}
        }
        Ok(if failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    }
}
