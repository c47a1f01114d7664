//! One job execution, the same for `ozgsync sync` and the daemon: record the run,
//! sync one source through [`crate::sync::run_source_until`], record how it ended;
//! and, separately, run every export that is due by the database's record of
//! changes ([`crate::store::due`]), each recorded as a run of job `export:<name>`.
//! A failing job is an outcome here, not an error: the caller decides about retries
//! and exit codes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use rusqlite::Connection;

use crate::config::{Config, ExportConfig, SourceConfig};
use crate::error::{Error, Result};
use crate::stop::Stop;
use crate::store::due;
use crate::store::release::{Counts, ReleaseStatus};
use crate::store::runs::{self, Outcome, RunResult, Trigger};
use crate::sync::{run_source_until, SourceSpec};

/// What one sync job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReport {
    pub source: String,
    pub run_id: i64,
    pub result: RunResult,
    /// When a failed run's server asked not to be asked again before
    /// (`Retry-After`, capped at `fetch.max_backoff_secs`): the daemon's retry
    /// waits for it.
    pub not_before: Option<chrono::DateTime<Utc>>,
}

/// What one round of due exports did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportsReport {
    /// Exports that ran and succeeded, by name.
    pub succeeded: Vec<String>,
    /// Exports that ran and failed, with the error recorded in `runs`.
    pub failed: Vec<(String, String)>,
    /// Exports still due but not started because a stop was requested.
    pub not_started: usize,
}

impl ExportsReport {
    /// Whether every due export ran and succeeded.
    pub fn all_done(&self) -> bool {
        self.failed.is_empty() && self.not_started == 0
    }
}

/// What an export command is told about the newest change that made it due.
#[derive(Debug, Clone)]
pub struct ExportContext {
    pub db: PathBuf,
    pub config_path: PathBuf,
    pub base_dir: PathBuf,
    /// The source of that release, or `status`, `annotations` or `ressort` for the
    /// coordinators' writes.
    pub source: String,
    /// The release, when the change was one.
    pub release_id: Option<i64>,
}

/// Why an export command failed. Its text is what `runs` records and `sync`
/// prints, so it names the command and, where there is one, the last error line
/// of its stderr.
#[derive(Debug, thiserror::Error)]
pub enum ExportFailure {
    #[error("empty command")]
    EmptyCommand,
    #[error("starting {program}: {source}")]
    Start {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} exited with {status}{}", suffix(cause))]
    Exited {
        program: String,
        status: std::process::ExitStatus,
        /// The last error line (else the last line) of its stderr.
        cause: Option<String>,
    },
    #[error("{program} stopped ({reason}){}; still due", ended.note())]
    Stopped {
        program: String,
        reason: String,
        ended: Ended,
    },
    #[error(
        "{program} stopped after its timeout of {timeout_secs} s{}{}",
        ended.note(),
        suffix(cause)
    )]
    TimedOut {
        program: String,
        timeout_secs: u64,
        ended: Ended,
        cause: Option<String>,
    },
    #[error("waiting for {program}: {source}")]
    Wait {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

/// How an export that had to be stopped ended: it is asked first (SIGTERM to its
/// process group, on which an ozgsync export removes its staging directory and
/// leaves the published set) and killed (SIGKILL) only when any process of it is
/// still running [`STOP_GRACE`] later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It ended, with everything it started, within the grace after SIGTERM.
    Terminated,
    /// It was still running after the grace and got SIGKILL.
    Killed,
}

impl Ended {
    fn note(self) -> String {
        match self {
            Self::Terminated => String::new(),
            Self::Killed => format!(
                ", killed: still running {} s after SIGTERM",
                STOP_GRACE.as_secs()
            ),
        }
    }
}

/// How long an export asked to stop (SIGTERM) may take before it is killed: well
/// within the daemon's own grace for a stopped job (`daemon::STOP_GRACE`, checked
/// there), so the daemon records the export's end rather than exiting without it,
/// and within the unit's `TimeoutStopSec` (60 s) after `shutdown_timeout_secs`.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// The process groups of the export commands running now (their leaders' pids), so
/// that exiting at once ([`kill_running_exports`], on a second SIGTERM/SIGINT)
/// takes them along instead of leaving them running without us.
static RUNNING_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// An export command's process group, listed in [`RUNNING_GROUPS`] while the
/// command runs: from its spawn until it is reaped and this is dropped.
struct RunningGroup(i32);

impl RunningGroup {
    fn new(child: &std::process::Child) -> Self {
        let pid = rustix::process::Pid::from_child(child)
            .as_raw_nonzero()
            .get();
        if let Ok(mut groups) = RUNNING_GROUPS.lock() {
            groups.push(pid);
        }
        RunningGroup(pid)
    }
}

impl Drop for RunningGroup {
    fn drop(&mut self) {
        if let Ok(mut groups) = RUNNING_GROUPS.lock() {
            groups.retain(|&g| g != self.0);
        }
    }
}

/// Kills (SIGKILL) the process group of every export command running now: for an
/// exit at once, which cannot wait for them to stop. A group is listed only until
/// its leader is reaped, so the signal reaches only the commands' own processes.
pub fn kill_running_exports() {
    use rustix::process::{kill_process_group, Pid, Signal};
    let groups = RUNNING_GROUPS.lock().map(|g| g.clone()).unwrap_or_default();
    for group in groups.into_iter().filter_map(Pid::from_raw) {
        let _ = kill_process_group(group, Signal::KILL);
    }
}

/// Asks an export to stop: SIGTERM to its process group (the command leads a group
/// of its own, so `sh -c "…"` and what it started get the signal too, instead of
/// being left running once `sh` is gone), and SIGKILL to the group when any of it
/// still runs `grace` later. The leader is not reaped before this is called (its
/// `try_wait` said it runs), and a group's id is not reused while the group has a
/// member, so the signals reach only the command's own processes.
fn stop_child(child: &mut std::process::Child, grace: Duration) -> Ended {
    use rustix::process::{kill_process_group, test_kill_process_group, Pid, Signal};
    let group = Pid::from_child(child);
    if kill_process_group(group, Signal::TERM).is_ok() {
        let asked = Instant::now();
        let mut leader_ended = false;
        while asked.elapsed() < grace {
            leader_ended = leader_ended || !matches!(child.try_wait(), Ok(None));
            if leader_ended && test_kill_process_group(group) == Err(rustix::io::Errno::SRCH) {
                return Ended::Terminated;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = kill_process_group(group, Signal::KILL);
    let _ = child.kill();
    let _ = child.wait();
    Ended::Killed
}

fn suffix(cause: &Option<String>) -> String {
    cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default()
}

/// Runs exports. The daemon and `sync` use [`CommandExports`]; tests may record.
pub trait ExportRunner: Send + Sync {
    /// Runs `export`; gives up (and fails) when `stop` is requested meanwhile.
    fn run(
        &self,
        export: &ExportConfig,
        ctx: &ExportContext,
        stop: &Stop,
    ) -> std::result::Result<(), ExportFailure>;
}

/// Runs an export's command (no shell) in the config's directory, with the database
/// and the triggering change in its environment, stopped after its timeout or on a
/// stop request (SIGTERM, then SIGKILL after [`STOP_GRACE`]). Its stderr is passed
/// on line by line (kept only, when `quiet`) and its last error line kept, so
/// `runs` and the caller's error line name the real cause of a failure rather than
/// just the exit status. Its stdout is passed on to our stderr (dropped when
/// `quiet`): it is no part of the caller's own output (`sync --format json` prints
/// one document; a closed stdout of `sync | head` must not fail an export), and
/// under `sync --quiet` cron mails only on failure, one line for it that holds the
/// command's own error. Both go through pipes read here, so the command holds no
/// descriptor of a terminal (it runs in a process group of its own, which a
/// terminal set to `tostop` would stop on its first write), and a closed stderr of
/// ours only drops the lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct CommandExports {
    pub quiet: bool,
}

/// Writes `parts` to our stderr as one piece, false once that fails (a closed
/// pipe): the caller then drops what follows, but keeps reading the command's
/// pipe, so the command neither blocks nor fails on its own output.
fn pass_to_stderr(parts: &[&[u8]]) -> bool {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    parts
        .iter()
        .try_for_each(|part| err.write_all(part))
        .and_then(|()| err.flush())
        .is_ok()
}

/// Waits up to a second for `reader` to end: it ends when the command's pipe
/// closes, and a grandchild that keeps the pipe open must not hold the job.
fn wait_briefly(reader: Option<&std::thread::JoinHandle<()>>) {
    let waited = Instant::now();
    while reader.is_some_and(|r| !r.is_finished()) && waited.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl ExportRunner for CommandExports {
    fn run(
        &self,
        export: &ExportConfig,
        ctx: &ExportContext,
        stop: &Stop,
    ) -> std::result::Result<(), ExportFailure> {
        let Some((program, args)) = export.command.split_first() else {
            return Err(ExportFailure::EmptyCommand);
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
        // A group of its own, so a stop reaches everything the command started
        // (`stop_child`).
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
            .args(args)
            .current_dir(&ctx.base_dir)
            .env("OZGSYNC_DB", &ctx.db)
            .env("OZGSYNC_CONFIG", &ctx.config_path)
            .env("OZGSYNC_EXPORT_SOURCE", &ctx.source)
            .stdin(Stdio::null())
            .stdout(if self.quiet {
                Stdio::null()
            } else {
                Stdio::piped()
            })
            .stderr(Stdio::piped());
        match ctx.release_id {
            Some(id) => command.env("OZGSYNC_EXPORT_RELEASE", id.to_string()),
            None => command.env_remove("OZGSYNC_EXPORT_RELEASE"),
        };
        let mut child = command.spawn().map_err(|source| ExportFailure::Start {
            program: program.clone(),
            source,
        })?;
        let _running = RunningGroup::new(&child);
        let tail = Arc::new(Mutex::new(StderrTail::default()));
        // Under `quiet` the lines are only kept: a failure's cause reaches the
        // caller's own error line, and passed on too it mailed cron twice.
        let pass_on = !self.quiet;
        let reader = child.stderr.take().map(|pipe| {
            let tail = Arc::clone(&tail);
            std::thread::spawn(move || {
                let mut pass_on = pass_on;
                for line in BufReader::new(pipe).lines().map_while(std::io::Result::ok) {
                    pass_on = pass_on && pass_to_stderr(&[line.as_bytes(), b"\n"]);
                    if let Ok(mut tail) = tail.lock() {
                        tail.push(line);
                    }
                }
            })
        });
        let forwarder = child.stdout.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut pass_on = true;
                let mut buf = [0u8; 8192];
                loop {
                    match std::io::Read::read(&mut pipe, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            pass_on =
                                pass_on && pass_to_stderr(&[buf.get(..n).unwrap_or_default()]);
                        }
                        // A signal to this process is no end of the command's output.
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            })
        });
        let cause = || {
            wait_briefly(reader.as_ref());
            tail.lock().ok().and_then(|t| t.cause())
        };
        let deadline = Instant::now() + Duration::from_secs(export.timeout_secs);
        let ended = (|| loop {
            let stop_reason = stop.reason();
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(ExportFailure::Exited {
                        program: program.clone(),
                        status,
                        cause: cause(),
                    })
                }
                Ok(None) if stop_reason.is_some() || Instant::now() >= deadline => {
                    let ended = stop_child(&mut child, STOP_GRACE);
                    return Err(match stop_reason {
                        Some(reason) => ExportFailure::Stopped {
                            program: program.clone(),
                            reason,
                            ended,
                        },
                        None => ExportFailure::TimedOut {
                            program: program.clone(),
                            timeout_secs: export.timeout_secs,
                            ended,
                            cause: cause(),
                        },
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(source) => {
                    return Err(ExportFailure::Wait {
                        program: program.clone(),
                        source,
                    })
                }
            }
        })();
        // Its last output is passed on before the caller goes on (at most a second).
        wait_briefly(forwarder.as_ref());
        ended
    }
}

/// The end of an export's stderr: enough to name why it failed.
#[derive(Debug, Default)]
struct StderrTail {
    last: Option<String>,
    last_error: Option<String>,
}

impl StderrTail {
    /// Longest line kept, in characters: a cause, not a log.
    const MAX_CHARS: usize = 2000;

    fn push(&mut self, line: String) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        let line: String = line.chars().take(Self::MAX_CHARS).collect();
        // ozgsync and most tools end with "error: …"; that line is the cause even
        // when more lines (a hint, a backtrace note) follow it.
        if line.to_ascii_lowercase().starts_with("error") {
            self.last_error = Some(line.clone());
        }
        self.last = Some(line);
    }

    fn cause(&self) -> Option<String> {
        self.last_error.clone().or_else(|| self.last.clone())
    }
}

/// Syncs `source` once and records it as a run with `trigger`. Only a failure to
/// write the `runs` table itself is an error. Exports are separate
/// ([`run_due_exports`]): they are due by what the database holds, not by what this
/// run did.
pub fn run_sync_job(
    conn: &mut Connection,
    config: &Config,
    source: &SourceConfig,
    trigger: Trigger,
    runtime: &tokio::runtime::Handle,
    stop: &Stop,
) -> Result<JobReport> {
    let run_id = runs::start(conn, &source.name, trigger, Utc::now())?;
    let span = tracing::info_span!("run", job = %source.name, %trigger, run = run_id);
    let _entered = span.enter();
    let mut not_before = None;
    let result = match sync_once(conn, config, source, runtime, stop) {
        Ok(summary) => {
            if let Some(reason) = stop.reason() {
                tracing::info!(release = summary.release_id, %reason, "stop requested; the release had already committed");
            }
            RunResult {
                outcome: match summary.status {
                    ReleaseStatus::Applied => Outcome::Applied,
                    ReleaseStatus::Unchanged => Outcome::Unchanged,
                },
                release_id: Some(summary.release_id),
                counts: summary.counts,
                error: None,
            }
        }
        Err(err) => {
            match &err {
                Error::Stopped { .. } => tracing::warn!(error = %err, "sync stopped"),
                // `ozgsync sync` says it as its own `error:` line; at `error` here
                // too, cron (`--quiet`) mailed every failure twice.
                _ if trigger == Trigger::Manual => tracing::info!(error = %err, "sync failed"),
                _ => tracing::error!(error = %err, "sync failed"),
            }
            not_before = err.not_before();
            RunResult {
                outcome: Outcome::Failed,
                release_id: None,
                counts: Counts::default(),
                error: Some(err.to_string()),
            }
        }
    };
    runs::finish(conn, run_id, Utc::now(), &result)?;
    Ok(JobReport {
        source: source.name.clone(),
        run_id,
        result,
        not_before,
    })
}

/// Runs every configured export that is due (a change after its last success that
/// concerns it: a release of a source in its `after`, or any source when `after`
/// is empty, or a status, annotation or Ressort change), each recorded as a run of
/// job `export:<name>`. A failed export stays due. Only a failure to read or write
/// the bookkeeping is an error.
pub fn run_due_exports(
    conn: &Connection,
    config: &Config,
    db: &Path,
    trigger: Trigger,
    runner: &dyn ExportRunner,
    stop: &Stop,
) -> Result<ExportsReport> {
    let mut report = ExportsReport::default();
    for export in &config.exports {
        let concerns = |source: Option<&str>| source.is_none_or(|s| export.runs_after(s));
        let Some(change) = due::due_change(conn, &export.name, &concerns)? else {
            continue;
        };
        if stop.requested() {
            report.not_started += 1;
            continue;
        }
        // Read before the command starts: the export sees this change or a newer
        // one, so recording it on success never skips a change.
        let generation = due::newest(conn)?;
        let ctx = ExportContext {
            db: std::path::absolute(db).unwrap_or_else(|_| db.to_owned()),
            // Absolute like `db`: the command runs in the config's directory, where
            // a path relative to ours (README's `--config deploy/…`) points nowhere.
            config_path: std::path::absolute(&config.path).unwrap_or_else(|_| config.path.clone()),
            base_dir: config.base_dir.clone(),
            source: change
                .source
                .clone()
                .unwrap_or_else(|| change.cause.clone()),
            release_id: change.release_id,
        };
        match run_export(conn, export, &ctx, trigger, runner, stop)? {
            Ok(()) => {
                due::published(conn, &export.name, generation)?;
                report.succeeded.push(export.name.clone());
            }
            Err(error) => report.failed.push((export.name.clone(), error.to_string())),
        }
    }
    Ok(report)
}

fn sync_once(
    conn: &mut Connection,
    config: &Config,
    source: &SourceConfig,
    runtime: &tokio::runtime::Handle,
    stop: &Stop,
) -> Result<crate::store::release::ReleaseSummary> {
    let policy = config.policy_for(source, &crate::config::process_env)?;
    let mut spec = SourceSpec::new(
        &source.name,
        source.kind,
        source.location.clone(),
        source.mode,
    );
    if let Some(share) = source.max_retire_share {
        spec.max_retire_share = share;
    }
    run_source_until(conn, &spec, &policy, runtime, stop)
}

/// Runs one export and records it; returns how it ended.
fn run_export(
    conn: &Connection,
    export: &ExportConfig,
    ctx: &ExportContext,
    trigger: Trigger,
    runner: &dyn ExportRunner,
    stop: &Stop,
) -> Result<std::result::Result<(), ExportFailure>> {
    let job = format!("export:{}", export.name);
    let run_id = runs::start(conn, &job, trigger, Utc::now())?;
    let _span = tracing::info_span!("export", job = %job, run = run_id).entered();
    let outcome = runner.run(export, ctx, stop);
    let result = RunResult {
        outcome: if outcome.is_ok() {
            Outcome::Applied
        } else {
            Outcome::Failed
        },
        release_id: ctx.release_id,
        counts: Counts::default(),
        error: outcome.as_ref().err().map(ToString::to_string),
    };
    match &outcome {
        Ok(()) => tracing::info!("export done"),
        // As a failed sync above: the `sync` command reports it on its own line.
        Err(e) if trigger == Trigger::Manual => {
            tracing::info!(error = %e, "export failed; it stays due")
        }
        Err(e) => tracing::error!(error = %e, "export failed; it stays due"),
    }
    runs::finish(conn, run_id, Utc::now(), &result)?;
    Ok(outcome)
}
