//! The daemon's scheduler: an async loop that fires each source's sync at the times
//! of its cron schedule (in the configured timezone, see [`schedule`]), catches up
//! a run missed while the daemon was down, retries failed jobs with backoff, reloads
//! the schedule when a new config arrives, and stops taking work on shutdown.
//!
//! Time and work are injected ([`Clock`], [`Executor`]), so tests drive the loop
//! through days of schedule instantly. The real executor ([`DbExecutor`]) runs one
//! job at a time on a blocking thread through [`crate::jobs::run_sync_job`] and
//! then the exports that are due: jobs never overlap (SQLite has one writer
//! anyway). A job is bounded as a whole (`daemon.job_timeout_secs`); on shutdown
//! it may finish within `daemon.shutdown_timeout_secs`, after that it is asked to
//! stop ([`crate::stop`]) and unwinds: its transaction commits or rolls back and
//! its temporary files are removed before we exit.

pub mod schedule;

use crate::error::ShowPath;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::jobs::ExportRunner;
use crate::stop::Stop;
use crate::store::runs::{self, Outcome, Trigger};

/// The longest the loop sleeps before looking at the clock again, so a wall-clock
/// jump (NTP, suspend) delays a run by at most this much.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// How often an idle daemon looks whether another process (a status or annotation
/// import) made exports due: one cheap query.
const EXPORTS_POLL: Duration = Duration::from_secs(5);

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
    /// Runs the exports that are due (left by a process that died after a commit,
    /// or made due by another process); called on start and whenever
    /// [`Executor::newest_change`] moves. Executors without exports have none.
    fn run_due_exports(&self, _config: Arc<Config>) -> impl Future<Output = Outcome> + Send {
        async { Outcome::Unchanged }
    }
    /// The newest data change's generation (see [`crate::store::due`]); `None`
    /// when the executor does not track exports.
    fn newest_change(&self) -> impl Future<Output = Option<i64>> + Send {
        async { None }
    }
    /// The earliest time the source of `job`'s last run, if it failed, asked to
    /// be asked again (a server's `Retry-After`, capped at
    /// `fetch.max_backoff_secs`): its retry waits for it.
    fn not_before(&self, _job: &str) -> Option<DateTime<Utc>> {
        None
    }
    /// Asks the running work to stop early and unwind (rolling back what has not
    /// committed); called when it outlives the shutdown timeout.
    fn stop_running(&self, _reason: &str) {}
    /// Why no job may run any more (e.g. the database file was deleted or
    /// replaced), or None. Asked before each job; the scheduler then stops.
    fn unusable(&self) -> Option<String> {
        None
    }
}

/// Why [`run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Shutdown was requested (SIGTERM, SIGINT) and every job ended.
    Requested,
    /// Shutdown was requested and a job did not stop even when asked: it is still
    /// on its thread, and the process must leave without it.
    Abandoned,
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
    schedule: crate::config::Schedule,
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

/// The jobs of `config`'s scheduled sources (the schedules were parsed when the
/// config was loaded); a source that stays keeps its pending catch-up or retry
/// from `old`.
fn build_jobs(config: &Config, now: DateTime<Utc>, old: &mut HashMap<String, Job>) -> Vec<Job> {
    config
        .sources
        .iter()
        .filter_map(|s| {
            let schedule = s.schedule.clone()?;
            let previous = old.remove(&s.name);
            Some(Job {
                name: s.name.clone(),
                next: schedule::next_after(schedule.cron(), config.timezone, now),
                schedule,
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

/// Runs the schedule until shutdown (see [`Scheduler`]).
pub async fn run<C: Clock, E: Executor>(
    config: Arc<Config>,
    clock: &C,
    executor: &E,
    control: Control,
) -> Ended {
    Scheduler::new(config, clock, executor, control).run().await
}

/// How long a job asked to stop may take to unwind (roll back, remove its files)
/// before the daemon exits without it.
const STOP_GRACE: Duration = Duration::from_secs(10);

// An export asked to stop is killed after its own grace, and its last stderr lines
// are awaited up to a second more: all of that ends within the job's grace here.
const _: () = assert!(crate::jobs::STOP_GRACE.as_secs() + 2 < STOP_GRACE.as_secs());

/// The scheduling loop: the config in effect, its jobs, the clock, the work and
/// the signals from outside. One job runs at a time.
pub struct Scheduler<'a, C: Clock, E: Executor> {
    config: Arc<Config>,
    clock: &'a C,
    executor: &'a E,
    control: Control,
    jobs: Vec<Job>,
}

impl<'a, C: Clock, E: Executor> Scheduler<'a, C, E> {
    pub fn new(
        config: Arc<Config>,
        clock: &'a C,
        executor: &'a E,
        control: Control,
    ) -> Scheduler<'a, C, E> {
        let jobs = build_jobs(&config, clock.now(), &mut HashMap::new());
        Scheduler {
            config,
            clock,
            executor,
            control,
            jobs,
        }
    }

    /// Runs the schedule until shutdown: why it ended, [`Ended::Abandoned`] when
    /// the running job ignored even the request to stop (the caller should then
    /// exit without waiting for it).
    pub async fn run(mut self) -> Ended {
        self.plan_catch_up().await;
        tracing::info!(
            jobs = self.jobs.len(),
            timezone = %self.config.timezone,
            "daemon scheduling"
        );
        // The data generation last looked at (`None` before the first look, which
        // runs the exports left due on start): a status or annotation import made
        // beside the daemon (they take no writer lock) moves it, and its exports
        // run at the next look instead of after the next job.
        let mut seen: Option<Option<i64>> = None;
        loop {
            if *self.control.shutdown.borrow() {
                break;
            }
            let newest = self.executor.newest_change().await;
            if seen != Some(newest) {
                seen = Some(newest);
                let executor = self.executor;
                let exports = executor.run_due_exports(self.config.clone());
                if self.finish_or_stop("due exports", exports).await.is_none() {
                    return Ended::Abandoned;
                }
                continue;
            }
            let now = self.clock.now();
            let due = self
                .jobs
                .iter()
                .enumerate()
                .filter_map(|(i, j)| j.due().map(|(t, trigger)| (t, i, trigger)))
                .min_by_key(|(t, i, _)| (*t, *i));
            if let Some((at, index, trigger)) = due {
                if at <= now {
                    if let Some(reason) = self.executor.unusable() {
                        tracing::error!(%reason, "cannot run jobs any more; stopping");
                        return Ended::Unusable(reason);
                    }
                    if !self.run_job(index, at, trigger).await {
                        return Ended::Abandoned;
                    }
                    // The job ran the exports its changes made due.
                    seen = Some(self.executor.newest_change().await);
                    continue;
                }
            }
            let nap = if matches!(seen, Some(Some(_))) {
                EXPORTS_POLL
            } else {
                MAX_SLEEP
            };
            let cap = now + chrono::Duration::from_std(nap).unwrap_or_default();
            let wake = due.map_or(cap, |(t, _, _)| t.min(cap));
            tokio::select! {
                () = self.clock.sleep_until(wake) => {}
                () = shutdown_requested(&mut self.control.shutdown) => {}
                Some(new) = self.control.reload.recv() => self.reload(new),
            }
        }
        tracing::info!("daemon stopped");
        Ended::Requested
    }

    /// Marks for a catch-up run every job whose scheduled time fell between its
    /// last success and now. A source that never succeeded counts as missed, so a
    /// new install fills its database.
    async fn plan_catch_up(&mut self) {
        let now = self.clock.now();
        for job in &mut self.jobs {
            let missed = match self.executor.last_success(&job.name).await {
                None => true,
                Some(last) => schedule::next_after(job.schedule.cron(), self.config.timezone, last)
                    .is_some_and(|t| t <= now),
            };
            if missed {
                tracing::info!(job = %job.name, "scheduled run missed while down; catching up");
                job.catch_up = Some(now);
            }
        }
    }

    /// Takes a new config: the jobs of its sources, keeping pending catch-ups and
    /// retries of those that stay.
    fn reload(&mut self, new: Arc<Config>) {
        let mut old: HashMap<String, Job> =
            self.jobs.drain(..).map(|j| (j.name.clone(), j)).collect();
        self.jobs = build_jobs(&new, self.clock.now(), &mut old);
        self.config = new;
        tracing::info!(jobs = self.jobs.len(), "configuration reloaded");
    }

    /// Awaits `work`; on shutdown waits for it up to `daemon.shutdown_timeout_secs`,
    /// then asks it to stop and waits [`STOP_GRACE`] more. Returns its outcome, or
    /// `None` when it did not end even then. Logs what became of it: a job that
    /// ends has committed or rolled back, and says which in its own log lines.
    async fn finish_or_stop(
        &mut self,
        what: &str,
        work: impl Future<Output = Outcome>,
    ) -> Option<Outcome> {
        tokio::pin!(work);
        tokio::select! {
            outcome = &mut work => return Some(outcome),
            () = shutdown_requested(&mut self.control.shutdown) => {}
        }
        let limit = Duration::from_secs(self.config.daemon.shutdown_timeout_secs);
        tracing::info!(
            job = what,
            timeout_secs = limit.as_secs(),
            "shutdown requested; waiting for the running job"
        );
        let outcome = match tokio::time::timeout(limit, &mut work).await {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::warn!(
                    job = what,
                    "the running job did not finish within the shutdown timeout; stopping it"
                );
                self.executor.stop_running("shutdown timeout");
                match tokio::time::timeout(STOP_GRACE, &mut work).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        tracing::error!(job = what, grace_secs = STOP_GRACE.as_secs(), "the running job did not stop; exiting without it (SQLite rolls back its open transaction on the next start)");
                        return None;
                    }
                }
            }
        };
        tracing::info!(
            job = what,
            outcome = outcome.as_str(),
            "the running job ended (`ozgsync status` shows what it committed)"
        );
        Some(outcome)
    }

    /// Runs job `index`, planned for `at`, and plans its next run or retry; returns
    /// false when shutdown came and the job did not finish within the shutdown
    /// timeout (the caller then stops at once).
    async fn run_job(&mut self, index: usize, at: DateTime<Utc>, trigger: Trigger) -> bool {
        let Some(job) = self.jobs.get_mut(index) else {
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
        let name = job.name.clone();
        let executor = self.executor;
        let work = executor.run(self.config.clone(), &name, trigger);
        let Some(outcome) = self.finish_or_stop(&name, work).await else {
            return false;
        };
        let now = self.clock.now();
        let config = &self.config;
        let Some(job) = self.jobs.get_mut(index) else {
            return true;
        };
        // From the later of the planned time and now: occurrences that passed while
        // the job ran are skipped, not piled up.
        if trigger != Trigger::Retry || job.next.is_some_and(|n| n <= now) {
            job.next = schedule::next_after(job.schedule.cron(), config.timezone, at.max(now));
        }
        if outcome == Outcome::Failed {
            let next_attempt = attempt + 1;
            if next_attempt <= config.daemon.retries {
                let delay = config.daemon.retry_delay(next_attempt);
                let own = now + chrono::Duration::from_std(delay).unwrap_or_default();
                // Not sooner than the server asked (its Retry-After, within
                // fetch.max_backoff_secs): the one-shot fetch waits so too.
                let when = self.executor.not_before(&name).map_or(own, |t| t.max(own));
                let delay = (when - now).to_std().unwrap_or(delay);
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
}

/// The real executor: one database connection, jobs on a blocking thread, each
/// with its own stop request (the job time limit, or the shutdown timeout through
/// [`Executor::stop_running`]).
pub struct DbExecutor {
    conn: Arc<Mutex<crate::store::WriterConnection>>,
    db: PathBuf,
    /// Device and inode of the database file when it was opened: a file deleted
    /// or replaced under the daemon must not be written through the old handle.
    identity: Option<(u64, u64)>,
    runtime: tokio::runtime::Handle,
    exports: Arc<dyn ExportRunner>,
    running: Arc<Mutex<Option<Stop>>>,
    /// Per job, when its last failed run's server asked to be asked again.
    not_before: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
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
            running: Arc::new(Mutex::new(None)),
            not_before: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Runs `work` on a blocking thread with a fresh stop request, requested by
    /// itself after `limit` (if any) so one hanging source cannot hold the only
    /// worker.
    async fn blocking(
        &self,
        what: &str,
        limit: Option<Duration>,
        work: impl FnOnce(&mut rusqlite::Connection, &Stop) -> Outcome + Send + 'static,
    ) -> Outcome {
        let stop = Stop::new();
        if let Ok(mut running) = self.running.lock() {
            *running = Some(stop.clone());
        }
        let timer = limit.map(|limit| {
            let stop = stop.clone();
            self.runtime.spawn(async move {
                tokio::time::sleep(limit).await;
                stop.request(&format!(
                    "the job time limit of {} s, daemon.job_timeout_secs",
                    limit.as_secs()
                ));
            })
        });
        let conn = self.conn.clone();
        let what = what.to_owned();
        let task = tokio::task::spawn_blocking(move || {
            let Ok(mut conn) = conn.lock() else {
                tracing::error!(job = %what, "the database connection is unusable after a panic");
                return Outcome::Failed;
            };
            work(&mut conn, &stop)
        });
        let outcome = task.await.unwrap_or(Outcome::Failed);
        if let Some(timer) = timer {
            timer.abort();
        }
        if let Ok(mut running) = self.running.lock() {
            *running = None;
        }
        outcome
    }
}

/// Runs the due exports for the daemon; a failed one makes the job fail so it is
/// retried with backoff (the retry finds the source unchanged and exports again).
fn exports_outcome(
    conn: &rusqlite::Connection,
    config: &Config,
    db: &std::path::Path,
    trigger: Trigger,
    exports: &dyn ExportRunner,
    stop: &Stop,
) -> Outcome {
    match crate::jobs::run_due_exports(conn, config, db, trigger, exports, stop) {
        Ok(report) if report.all_done() && !report.succeeded.is_empty() => Outcome::Applied,
        Ok(report) if report.all_done() => Outcome::Unchanged,
        Ok(_) => Outcome::Failed,
        Err(e) => {
            tracing::error!(error = %e, "reading or recording the due exports failed");
            Outcome::Failed
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
        let path = self.db.shown();
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
        let db = self.db.clone();
        let runtime = self.runtime.clone();
        let exports = self.exports.clone();
        let name = job.to_owned();
        let limit = Some(Duration::from_secs(config.daemon.job_timeout_secs));
        let asked = self.not_before.clone();
        self.blocking(job, limit, move |conn, stop| {
            let Some(source) = config.source(&name) else {
                return Outcome::Failed;
            };
            let synced =
                match crate::jobs::run_sync_job(conn, &config, source, trigger, &runtime, stop) {
                    Ok(report) => {
                        if let Ok(mut asked) = asked.lock() {
                            match report.not_before {
                                Some(t) => asked.insert(name.clone(), t),
                                None => asked.remove(&name),
                            };
                        }
                        report.result.outcome
                    }
                    Err(e) => {
                        tracing::error!(job = %name, error = %e, "recording the run failed");
                        Outcome::Failed
                    }
                };
            // After every job, not only one that changed data: an export left due
            // by an earlier failure or crash is run (and retried) here.
            match exports_outcome(conn, &config, &db, trigger, exports.as_ref(), stop) {
                Outcome::Failed => Outcome::Failed,
                _ => synced,
            }
        })
        .await
    }

    async fn run_due_exports(&self, config: Arc<Config>) -> Outcome {
        let db = self.db.clone();
        let exports = self.exports.clone();
        self.blocking("due exports", None, move |conn, stop| {
            exports_outcome(conn, &config, &db, Trigger::CatchUp, exports.as_ref(), stop)
        })
        .await
    }

    async fn newest_change(&self) -> Option<i64> {
        let conn = self.conn.lock().ok()?;
        match crate::store::due::newest(&conn) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::error!(error = %e, "reading the newest data change");
                None
            }
        }
    }

    fn not_before(&self, job: &str) -> Option<DateTime<Utc>> {
        self.not_before.lock().ok()?.get(job).copied()
    }

    fn stop_running(&self, reason: &str) {
        if let Ok(running) = self.running.lock() {
            if let Some(stop) = running.as_ref() {
                stop.request(reason);
            }
        }
    }
}
