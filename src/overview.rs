//! The operations overview (`ozgsync status` without a subcommand): per job the
//! last run and its outcome, the next scheduled time (when a config is given), the
//! last release per source, and the database's size. Reads only; safe while the
//! daemon runs. The CLI renders it as a table or as JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::error::Result;
use crate::store::{self, read, runs};

/// The overview as `status --format json` prints it: its own types, so internal
/// renames never change it by accident.
#[derive(Debug, Serialize)]
pub struct Overview {
    pub database: DatabaseInfo,
    pub jobs: Vec<JobInfo>,
    pub sources: Vec<SourceInfo>,
}

#[derive(Debug, Serialize)]
pub struct DatabaseInfo {
    pub path: PathBuf,
    pub size_bytes: u64,
    /// The write-ahead log not yet checkpointed into the file.
    pub wal_bytes: u64,
    pub schema_version: i64,
}

#[derive(Debug, Serialize)]
pub struct JobInfo {
    pub job: String,
    pub schedule: Option<String>,
    /// Next scheduled time in the config's timezone, with its offset.
    pub next_run: Option<String>,
    pub last_run: Option<LastRun>,
}

#[derive(Debug, Serialize)]
pub struct LastRun {
    pub run_id: i64,
    pub trigger: String,
    pub started: String,
    pub finished: Option<String>,
    /// `applied`, `unchanged`, `failed`, or `unfinished` (running, or its process died).
    pub outcome: String,
    pub release_id: Option<i64>,
    pub added: u64,
    pub changed: u64,
    pub retired: u64,
    pub rejected: u64,
    /// Keys whose rejected row left their previous version current.
    pub kept: u64,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SourceInfo {
    pub source: String,
    pub release_id: i64,
    pub fetched_at: String,
    pub status: String,
    pub releases: usize,
}

/// The overview of the database at `db` (read through `conn`), with the jobs and
/// schedules of `config` if there is one, next runs as of `now`.
pub fn overview(
    conn: &rusqlite::Connection,
    db: &Path,
    config: Option<&Config>,
    now: DateTime<Utc>,
) -> Result<Overview> {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let database = DatabaseInfo {
        path: db.to_owned(),
        size_bytes: size(db),
        wal_bytes: size(Path::new(&wal)),
        schema_version: store::user_version(conn)?,
    };

    let mut jobs: BTreeMap<String, JobInfo> = BTreeMap::new();
    if let Some(config) = config {
        for s in &config.sources {
            let next_run = s
                .schedule
                .as_ref()
                .and_then(|sch| {
                    crate::daemon::schedule::next_after(sch.cron(), config.timezone, now)
                })
                // In the configured timezone, with its offset: the schedule is
                // written in local time, and `30 2 * * *` should read as 02:30.
                .map(|t| {
                    t.with_timezone(&config.timezone)
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
                });
            jobs.insert(
                s.name.clone(),
                JobInfo {
                    job: s.name.clone(),
                    schedule: s.schedule.as_ref().map(|sch| sch.expr().to_owned()),
                    next_run,
                    last_run: None,
                },
            );
        }
    }
    for r in runs::last_per_job(conn)? {
        let entry = jobs.entry(r.job.clone()).or_insert_with(|| JobInfo {
            job: r.job.clone(),
            schedule: None,
            next_run: None,
            last_run: None,
        });
        entry.last_run = Some(LastRun {
            run_id: r.run_id,
            trigger: r.trigger,
            started: r.started,
            finished: r.finished,
            outcome: r.outcome.unwrap_or_else(|| "unfinished".into()),
            release_id: r.release_id,
            added: r.counts.added,
            changed: r.counts.changed,
            retired: r.counts.retired,
            rejected: r.counts.rejected,
            kept: r.counts.kept,
            error: r.error,
        });
    }

    let mut sources: BTreeMap<String, SourceInfo> = BTreeMap::new();
    for r in read::releases(conn, None)? {
        let count = sources.get(&r.source).map_or(0, |s| s.releases) + 1;
        sources.insert(
            r.source.clone(),
            SourceInfo {
                source: r.source,
                release_id: r.release_id,
                fetched_at: r.fetched_at,
                status: r.status,
                releases: count,
            },
        );
    }
    Ok(Overview {
        database,
        jobs: jobs.into_values().collect(),
        sources: sources.into_values().collect(),
    })
}
