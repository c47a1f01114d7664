//! The daemon's scheduler: an async loop that fires each source's sync at the times
//! of its cron schedule (in the configured timezone, see [`schedule`]), catches up
//! a run missed while the daemon was down, retries failed jobs with backoff, reloads
//! the schedule when a new config arrives, and stops taking work on shutdown.
//!
//! Time and work are injected ([`Clock`], [`Executor`]), so tests drive the loop
//! through days of schedule instantly. The real executor ([`DbExecutor`]) runs one
//! job at a time on a blocking thread through [`crate::jobs::run_sync_job`]: jobs
//! never overlap (SQLite has one writer anyway), and a job is never cancelled
//! midway — on shutdown its transaction commits or rolls back before we exit.

pub mod schedule;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::jobs::ExportRunner;
use crate::store::runs::{self, Outcome, Trigger};

/// The longest the loop sleeps before looking at the clock again, so a wall-clock
/// jump (NTP, suspend) delays a run by at most this much.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Wall-clock time and waiting for it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    fn sleep_until(&self, instant: DateTime<Utc>) -> impl Future<Output = ()> + Send;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, instant: DateTime<Utc>) {
        let wait = (instant - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
    }
}

/// Does the work the scheduler decides on.
pub trait Executor: Send + Sync {
    /// When `job` last succeeded, for catch-up on start.
    fn last_success(&self, job: &str) -> impl Future<Output = Option<DateTime<Utc>>> + Send;
    /// Runs `job` once; never fails the loop, only reports the outcome.
    fn run(
        &self,
        config: Arc<Config>,
        job: &str,
        trigger: Trigger,
    ) -> impl Future<Output = Outcome> + Send;

    /// Why no job may run any more (e.g. the database file was deleted or
    /// replaced), or None. Asked before each job; the scheduler then stops.
    fn unusable(&self) -> Option<String> {
        None
    }
}

/// Why [`run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Shutdown was requested (SIGTERM, SIGINT).
    Requested,
    /// The executor became unusable; the text says why and what to do.
    Unusable(String),
}

/// Signals from outside: shutdown (SIGTERM/SIGINT) and new configs (SIGHUP or a
/// changed file, already loaded and validated).
pub struct Control {
    pub shutdown: watch::Receiver<bool>,
    pub reload: mpsc::UnboundedReceiver<Arc<Config>>,
}

/// The scheduling state of one source.
#[derive(Debug)]
struct Job {
    name: String,
    schedule: Option<cron::Schedule>,
    /// The next scheduled fire time.
    next: Option<DateTime<Utc>>,
    /// A pending catch-up run (on start).
    catch_up: Option<DateTime<Utc>>,
    /// A pending retry: when, and which attempt it is (1-based).
    retry: Option<(DateTime<Utc>, u32)>,
}

impl Job {
    /// The earliest pending run and why.
    fn due(&self) -> Option<(DateTime<Utc>, Trigger)> {
        [
            self.catch_up.map(|t| (t, Trigger::CatchUp)),
            self.retry.map(|(t, _)| (t, Trigger::Retry)),
            self.next.map(|t| (t, Trigger::Schedule)),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|(t, _)| *t)
    }
}

fn build_jobs(config: &Config, now: DateTime<Utc>, old: &mut HashMap<String, Job>) -> Vec<Job> {
    let tz = config.tz();
    config
        .sources
        .iter()
        .filter_map(|s| {
            let expr = s.schedule.as_deref()?;
            let schedule: cron::Schedule = match expr.parse() {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(source = %s.name, error = %e, "invalid schedule; source not scheduled");
                    return None;
                }
            };
            let previous = old.remove(&s.name);
            Some(Job {
                name: s.name.clone(),
                next: schedule::next_after(&schedule, tz, now),
                schedule: Some(schedule),
                // A reload keeps a pending catch-up or retry of a source that stays.
                catch_up: previous.as_ref().and_then(|p| p.catch_up),
                retry: previous.and_then(|p| p.retry),
            })
        })
        .collect()
}

/// Returns when `shutdown` turns true; never if its sender is gone.
async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs the schedule until shutdown. Returns when no job is running any more, or
/// when the running one outlived `daemon.shutdown_timeout_secs`.
pub async fn run<C: Clock, E: Executor>(
    config: Arc<Config>,
    clock: &C,
    executor: &E,
    mut control: Control,
) -> Stop {
    let mut config = config;
    let mut jobs = build_jobs(&config, clock.now(), &mut HashMap::new());
    let now = clock.now();
    let tz = config.tz();
    for job in &mut jobs {
        let Some(schedule) = &job.schedule else {
            continue;
        };
        // Missed: a scheduled time fell between the last success and now. A source
        // that never succeeded counts as missed, so a new install fills its database.
        let missed = match executor.last_success(&job.name).await {
            None => true,
            Some(last) => schedule::next_after(schedule, tz, last).is_some_and(|t| t <= now),
        };
        if missed {
            tracing::info!(job = %job.name, "scheduled run missed while down; catching up");
            job.catch_up = Some(now);
        }
    }
    tracing::info!(
        jobs = jobs.len(),
        timezone = %config.timezone,
        "daemon scheduling"
    );
    loop {
        if *control.shutdown.borrow() {
            break;
        }
        let now = clock.now();
        let due = jobs
            .iter()
            .enumerate()
            .filter_map(|(i, j)| j.due().map(|(t, trigger)| (t, i, trigger)))
            .min_by_key(|(t, i, _)| (*t, *i));
        if let Some((at, index, trigger)) = due {
            if at <= now {
                if let Some(reason) = executor.unusable() {
                    tracing::error!(%reason, "cannot run jobs any more; stopping");
                    return Stop::Unusable(reason);
                }
                if !run_job(
                    &config,
                    clock,
                    executor,
                    &mut control,
                    &mut jobs,
                    index,
                    at,
                    trigger,
                )
                .await
                {
                    return Stop::Requested;
                }
                continue;
            }
        }
        let cap = now + chrono::Duration::from_std(MAX_SLEEP).unwrap_or_default();
        let wake = due.map_or(cap, |(t, _, _)| t.min(cap));
        tokio::select! {
            () = clock.sleep_until(wake) => {}
            () = shutdown_requested(&mut control.shutdown) => {}
            Some(new) = control.reload.recv() => {
                let mut old: HashMap<String, Job> =
                    jobs.drain(..).map(|j| (j.name.clone(), j)).collect();
                jobs = build_jobs(&new, clock.now(), &mut old);
                config = new;
                tracing::info!(jobs = jobs.len(), "configuration reloaded");
            }
        }
    }
    tracing::info!("daemon stopped");
    Stop::Requested
}

/// Runs job `index`; returns false when shutdown came and the job did not finish
/// within the shutdown timeout (the caller then stops at once).
#[allow(clippy::too_many_arguments)]
async fn run_job<C: Clock, E: Executor>(
    config: &Arc<Config>,
    clock: &C,
    executor: &E,
    control: &mut Control,
    jobs: &mut [Job],
    index: usize,
    at: DateTime<Utc>,
    trigger: Trigger,
) -> bool {
    let Some(job) = jobs.get_mut(index) else {
        return true;
    };
    let attempt = match trigger {
        Trigger::Retry => job.retry.map_or(1, |(_, a)| a),
        _ => 0,
    };
    match trigger {
        Trigger::CatchUp => job.catch_up = None,
        Trigger::Retry => job.retry = None,
        _ => {}
    }
    let work = executor.run(config.clone(), &job.name, trigger);
    tokio::pin!(work);
    let outcome = tokio::select! {
        outcome = &mut work => outcome,
        () = shutdown_requested(&mut control.shutdown) => {
            let limit = Duration::from_secs(config.daemon.shutdown_timeout_secs);
            tracing::info!(job = %job.name, timeout_secs = limit.as_secs(), "shutdown requested; waiting for the running job");
            match tokio::time::timeout(limit, &mut work).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    tracing::warn!(job = %job.name, "running job did not finish in time; exiting (its transaction rolls back)");
                    return false;
                }
            }
        }
    };
    let now = clock.now();
    let tz = config.tz();
    if let Some(schedule) = &job.schedule {
        // From the later of the planned time and now: occurrences that passed while
        // the job ran are skipped, not piled up.
        if trigger != Trigger::Retry || job.next.is_some_and(|n| n <= now) {
            job.next = schedule::next_after(schedule, tz, at.max(now));
        }
    }
    if outcome == Outcome::Failed {
        let next_attempt = attempt + 1;
        if next_attempt <= config.daemon.retries {
            let delay = config.daemon.retry_delay(next_attempt);
            let when = now + chrono::Duration::from_std(delay).unwrap_or_default();
            // A retry after the next scheduled run is pointless: that run is the retry.
            if job.next.is_none_or(|n| when < n) {
                tracing::warn!(job = %job.name, attempt = next_attempt, retry_in_ms = delay.as_millis() as u64, "job failed; retrying");
                job.retry = Some((when, next_attempt));
            }
        } else {
            tracing::error!(job = %job.name, "job failed; no retries left until its next scheduled time");
        }
    } else {
        job.retry = None;
    }
    true
}

/// The real executor: one database connection, jobs on a blocking thread.
pub struct DbExecutor {
    conn: Arc<Mutex<crate::store::WriterConnection>>,
    db: PathBuf,
    /// Device and inode of the database file when it was opened: a file deleted
    /// or replaced under the daemon must not be written through the old handle.
    identity: Option<(u64, u64)>,
    runtime: tokio::runtime::Handle,
    exports: Arc<dyn ExportRunner>,
}

impl DbExecutor {
    pub fn new(
        conn: crate::store::WriterConnection,
        db: PathBuf,
        runtime: tokio::runtime::Handle,
        exports: Arc<dyn ExportRunner>,
    ) -> DbExecutor {
        DbExecutor {
            conn: Arc::new(Mutex::new(conn)),
            identity: file_identity(&db).ok(),
            db,
            runtime,
            exports,
        }
    }
}

/// Device and inode of the file at `path` (symlinks followed).
fn file_identity(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

impl Executor for DbExecutor {
    fn unusable(&self) -> Option<String> {
        let path = self.db.display();
        match file_identity(&self.db) {
            Ok(now) if Some(now) == self.identity => None,
            Ok(_) => Some(format!(
                "database {path} was replaced by another file after the daemon opened it; the daemon stopped instead of writing into the old one. Check which file is right, then restart the daemon"
            )),
            Err(e) => Some(format!(
                "database {path} is gone ({e}) since the daemon opened it; the daemon stopped instead of writing into a deleted file. Restore it (e.g. from `ozgsync backup`) or move it back, then restart the daemon"
            )),
        }
    }

    async fn last_success(&self, job: &str) -> Option<DateTime<Utc>> {
        let conn = self.conn.lock().ok()?;
        match runs::last_success(&conn, job) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(job, error = %e, "reading the last success");
                None
            }
        }
    }

    async fn run(&self, config: Arc<Config>, job: &str, trigger: Trigger) -> Outcome {
        let conn = self.conn.clone();
        let db = self.db.clone();
        let runtime = self.runtime.clone();
        let exports = self.exports.clone();
        let job = job.to_owned();
        let task = tokio::task::spawn_blocking(move || {
            let Some(source) = config.source(&job) else {
                return Outcome::Failed;
            };
            let Ok(mut conn) = conn.lock() else {
                return Outcome::Failed;
            };
            match crate::jobs::run_sync_job(
                &mut conn,
                &config,
                &db,
                source,
                trigger,
                &runtime,
                exports.as_ref(),
            ) {
                // A failed export is recorded as its own run; it does not make the
                // sync fail (a retry would find the payload unchanged and not export).
                Ok(report) => report.result.outcome,
                Err(e) => {
                    tracing::error!(job, error = %e, "recording the run failed");
                    Outcome::Failed
                }
            }
        });
        task.await.unwrap_or(Outcome::Failed)
    }
}
