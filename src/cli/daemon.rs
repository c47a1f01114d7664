//! `ozgsync daemon`: hold the database's writer lock and run the scheduler until
//! SIGTERM or SIGINT; SIGHUP or a changed config file reloads the schedule.

use crate::error::ShowPath;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use super::Context;
use crate::config::Config;
use crate::daemon::{Control, DbExecutor, Ended, SystemClock};
use crate::jobs::CommandExports;

/// Run unattended: sync each source on its `schedule` (cron, seconds first, in the
/// configured timezone), catch up runs missed while down, retry failures with
/// backoff, run exports after changes. Stops cleanly on SIGTERM/SIGINT; reloads the
/// schedule on SIGHUP or when the config file changes.
#[derive(Debug, clap::Args)]
pub struct Daemon {}

impl Daemon {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let config = ctx.require_config()?.clone();
        let config_path = ctx.require_config_path()?.to_owned();
        for problem in config.secret_problems(&crate::config::process_env) {
            tracing::warn!(%problem, "credentials unavailable; that source will fail until fixed");
        }
        for note in config.schedule_notes() {
            tracing::warn!(%note, "a schedule fires more often than once a minute");
        }
        let db = ctx.db.clone();
        let conn = ctx.open_locked_writer("daemon")?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let executor = DbExecutor::new(
            conn,
            db.clone(),
            runtime.handle().clone(),
            Arc::new(CommandExports::default()),
        );
        let poll = Duration::from_secs(config.daemon.reload_poll_secs);
        tracing::info!(database = %db.shown(), config = %config_path.shown(), pid = std::process::id(), "daemon starting");
        let ended = runtime.block_on(async {
            let (stop_tx, stop_rx) = watch::channel(false);
            let (reload_tx, reload_rx) = mpsc::unbounded_channel();
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            let mut hup = signal(SignalKind::hangup())?;
            let path = config_path.clone();
            let db_for_reload = db.clone();
            let db_given = ctx.db_given.clone();
            tokio::spawn(async move {
                let mut seen = fingerprint(&path);
                let mut ticker = tokio::time::interval(if poll.is_zero() {
                    Duration::from_secs(3600)
                } else {
                    poll
                });
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    let reason = tokio::select! {
                        _ = term.recv() => { tracing::info!("SIGTERM: no new work; stopping"); break }
                        _ = int.recv() => { tracing::info!("SIGINT: no new work; stopping"); break }
                        _ = hup.recv() => "SIGHUP",
                        _ = ticker.tick() => {
                            let now = fingerprint(&path);
                            if poll.is_zero() || now == seen { continue }
                            seen = now;
                            "config file changed"
                        }
                    };
                    match Config::load(&path) {
                        Ok(new) => {
                            let new_db = crate::config::database(db_given.as_deref(), Some(&new));
                            if new_db != db_for_reload {
                                tracing::warn!(database = %new_db.shown(), "the database path changed; that takes a restart");
                            }
                            tracing::info!(reason, "reloading the schedule");
                            let _ = reload_tx.send(Arc::new(new));
                        }
                        Err(e) => tracing::error!(reason, error = %e, "config not reloaded; keeping the current schedule"),
                    }
                }
                let _ = stop_tx.send(true);
            });
            let control = Control {
                shutdown: stop_rx,
                reload: reload_rx,
            };
            anyhow::Ok(
                crate::daemon::run(Arc::new(config), &SystemClock, &executor, control).await,
            )
        })?;
        if ended == Ended::Abandoned {
            // A job that ignored even the stop request is still on its thread; shutting
            // the runtime down under it would make it panic. Leave without it: the
            // kernel drops the writer lock and SQLite rolls its transaction back; an
            // export command it ran is killed, not left running without us.
            crate::jobs::kill_running_exports();
            std::process::exit(0);
        }
        runtime.shutdown_timeout(Duration::from_millis(100));
        match ended {
            Ended::Requested | Ended::Abandoned => Ok(ExitCode::SUCCESS),
            Ended::Unusable(reason) => Err(anyhow::anyhow!(reason)),
        }
    }
}

/// What identifies a version of the config file: modification time and size.
fn fingerprint(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}
