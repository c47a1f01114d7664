//! One job execution, the same for `ozgsync sync` and the daemon: record the run,
//! sync one source through [`crate::sync::run_source`], record how it ended, and
//! when the data changed, run the exports configured for that source (each recorded
//! as a run of job `export:<name>`). A failing job is an outcome here, not an error:
//! the caller decides about retries and exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use rusqlite::Connection;

use crate::config::{Config, ExportConfig, SourceConfig};
use crate::error::Result;
use crate::fetch::Location;
use crate::store::release::{Counts, ReleaseStatus};
use crate::store::runs::{self, Outcome, RunResult, Trigger};
use crate::sync::{run_source, SourceSpec};

/// What one job did: the sync's result and how many of its exports failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReport {
    pub source: String,
    pub run_id: i64,
    pub result: RunResult,
    pub exports_failed: usize,
}

impl JobReport {
    /// Whether the job (and its exports) went through.
    pub fn succeeded(&self) -> bool {
        self.result.outcome != Outcome::Failed && self.exports_failed == 0
    }
}

/// What an export command is told about the release that triggered it.
#[derive(Debug, Clone)]
pub struct ExportContext {
    pub db: PathBuf,
    pub config_path: PathBuf,
    pub base_dir: PathBuf,
    pub source: String,
    pub release_id: i64,
}

/// Runs exports. The daemon and `sync` use [`CommandExports`]; tests may record.
pub trait ExportRunner: Send + Sync {
    fn run(&self, export: &ExportConfig, ctx: &ExportContext) -> std::result::Result<(), String>;
}

/// Runs an export's command (no shell) in the config's directory, with the database
/// and the triggering release in its environment, killed after its timeout.
#[derive(Debug, Default, Clone, Copy)]
pub struct CommandExports;

impl ExportRunner for CommandExports {
    fn run(&self, export: &ExportConfig, ctx: &ExportContext) -> std::result::Result<(), String> {
        let Some((program, args)) = export.command.split_first() else {
            return Err("empty command".into());
        };
        // `ozgsync` means this very binary, so an export works without ozgsync on
        // PATH (e.g. under `cargo run`).
        let executable = match program.as_str() {
            "ozgsync" => std::env::current_exe().unwrap_or_else(|_| program.into()),
            _ => program.into(),
        };
        let mut command = Command::new(executable);
        // Only when configured: otherwise the command's own flags or defaults apply.
        for (var, mode) in [
            ("OZGSYNC_FILE_MODE", &export.file_mode),
            ("OZGSYNC_DIR_MODE", &export.dir_mode),
        ] {
            if let Some(mode) = mode {
                command.env(var, mode);
            }
        }
        let mut child = command
            .args(args)
            .current_dir(&ctx.base_dir)
            .env("OZGSYNC_DB", &ctx.db)
            .env("OZGSYNC_CONFIG", &ctx.config_path)
            .env("OZGSYNC_EXPORT_SOURCE", &ctx.source)
            .env("OZGSYNC_EXPORT_RELEASE", ctx.release_id.to_string())
            .stdin(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {program}: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(export.timeout_secs);
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("{program} exited with {status}")),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{program} killed after its timeout of {} s",
                        export.timeout_secs
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(format!("waiting for {program}: {e}")),
            }
        }
    }
}

/// Syncs `source` once and records it as a run with `trigger`; runs the exports
/// when data changed. Only a failure to write the `runs` table itself is an error.
pub fn run_sync_job(
    conn: &mut Connection,
    config: &Config,
    db: &Path,
    source: &SourceConfig,
    trigger: Trigger,
    runtime: &tokio::runtime::Handle,
    exports: &dyn ExportRunner,
) -> Result<JobReport> {
    let run_id = runs::start(conn, &source.name, trigger, Utc::now())?;
    let span = tracing::info_span!("run", job = %source.name, %trigger, run = run_id);
    let _entered = span.enter();
    let result = match sync_once(conn, config, source, runtime) {
        Ok(summary) => RunResult {
            outcome: match summary.status {
                ReleaseStatus::Applied => Outcome::Applied,
                ReleaseStatus::Unchanged => Outcome::Unchanged,
            },
            release_id: Some(summary.release_id),
            counts: summary.counts,
            error: None,
        },
        Err(err) => {
            tracing::error!(error = %err, "sync failed");
            RunResult {
                outcome: Outcome::Failed,
                release_id: None,
                counts: Counts::default(),
                error: Some(err.to_string()),
            }
        }
    };
    runs::finish(conn, run_id, Utc::now(), &result)?;
    let mut exports_failed = 0;
    if let (Outcome::Applied, Some(release_id)) = (result.outcome, result.release_id) {
        let ctx = ExportContext {
            db: std::path::absolute(db).unwrap_or_else(|_| db.to_owned()),
            config_path: config.path.clone(),
            base_dir: config.base_dir.clone(),
            source: source.name.clone(),
            release_id,
        };
        for export in config.exports.iter().filter(|e| e.runs_after(&source.name)) {
            if !run_export(conn, export, &ctx, trigger, exports)? {
                exports_failed += 1;
            }
        }
    }
    Ok(JobReport {
        source: source.name.clone(),
        run_id,
        result,
        exports_failed,
    })
}

fn sync_once(
    conn: &mut Connection,
    config: &Config,
    source: &SourceConfig,
    runtime: &tokio::runtime::Handle,
) -> Result<crate::store::release::ReleaseSummary> {
    let policy = config.policy_for(source, &crate::config::process_env)?;
    let location = Location::parse(&source.location, Some(&config.base_dir))?;
    let mut spec = SourceSpec::new(&source.name, source.kind, location, source.mode);
    if let Some(share) = source.max_retire_share {
        spec.max_retire_share = share;
    }
    run_source(conn, &spec, &policy, runtime)
}

/// Runs one export and records it; returns whether it succeeded.
fn run_export(
    conn: &Connection,
    export: &ExportConfig,
    ctx: &ExportContext,
    trigger: Trigger,
    runner: &dyn ExportRunner,
) -> Result<bool> {
    let job = format!("export:{}", export.name);
    let run_id = runs::start(conn, &job, trigger, Utc::now())?;
    let _span = tracing::info_span!("export", job = %job, run = run_id).entered();
    let outcome = runner.run(export, ctx);
    let result = RunResult {
        outcome: if outcome.is_ok() {
            Outcome::Applied
        } else {
            Outcome::Failed
        },
        release_id: Some(ctx.release_id),
        counts: Counts::default(),
        error: outcome.as_ref().err().cloned(),
    };
    match &outcome {
        Ok(()) => tracing::info!("export done"),
        Err(e) => tracing::error!(error = %e, "export failed"),
    }
    runs::finish(conn, run_id, Utc::now(), &result)?;
    Ok(outcome.is_ok())
}
