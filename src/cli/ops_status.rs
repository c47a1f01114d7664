//! The operations overview of `ozgsync status`: per job the last run and its
//! outcome, the next scheduled time (when a config is given), the last release per
//! source, and the database's size. Reads only; safe while the daemon runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::Utc;
use serde::Serialize;

use super::output;
use super::Context;
use crate::config::Config;
use crate::store::{read, runs};

/// The overview as printed with `--format json`: its own types, so internal renames never
/// change it by accident.
#[derive(Debug, Serialize)]
struct Overview {
    database: DatabaseInfo,
    jobs: Vec<JobInfo>,
    sources: Vec<SourceInfo>,
}

#[derive(Debug, Serialize)]
struct DatabaseInfo {
    path: PathBuf,
    size_bytes: u64,
    /// The write-ahead log not yet checkpointed into the file.
    wal_bytes: u64,
    schema_version: i64,
}

#[derive(Debug, Serialize)]
struct JobInfo {
    job: String,
    schedule: Option<String>,
    /// Next scheduled time in the config's timezone, with its offset.
    next_run: Option<String>,
    last_run: Option<LastRun>,
}

#[derive(Debug, Serialize)]
struct LastRun {
    run_id: i64,
    trigger: String,
    started: String,
    finished: Option<String>,
    /// `applied`, `unchanged`, `failed`, or `unfinished` (running, or its process died).
    outcome: String,
    release_id: Option<i64>,
    added: u64,
    changed: u64,
    retired: u64,
    rejected: u64,
    /// Keys whose rejected row left their previous version current.
    kept: u64,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct SourceInfo {
    source: String,
    release_id: i64,
    fetched_at: String,
    status: String,
    releases: usize,
}

pub fn run(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let conn = ctx.open_reader()?;
    let overview = overview(&conn, &ctx.db, ctx.config.as_ref())?;
    if json {
        output::json(&mut output::stdout(), &overview)?;
    } else {
        print_text(&overview)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn overview(
    conn: &rusqlite::Connection,
    db: &Path,
    config: Option<&Config>,
) -> anyhow::Result<Overview> {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let database = DatabaseInfo {
        path: db.to_owned(),
        size_bytes: size(db),
        wal_bytes: size(Path::new(&wal)),
        schema_version: conn.query_row("PRAGMA user_version", [], |r| r.get(0))?,
    };

    let mut jobs: BTreeMap<String, JobInfo> = BTreeMap::new();
    if let Some(config) = config {
        let now = Utc::now();
        for s in &config.sources {
            let next_run = s
                .schedule
                .as_deref()
                .and_then(|e| crate::config::parse_schedule(e).ok())
                .and_then(|sch| crate::daemon::schedule::next_after(&sch, config.tz(), now))
                // In the configured timezone, with its offset: the schedule is
                // written in local time, and `30 2 * * *` should read as 02:30.
                .map(|t| {
                    t.with_timezone(&config.tz())
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
                });
            jobs.insert(
                s.name.clone(),
                JobInfo {
                    job: s.name.clone(),
                    schedule: s.schedule.clone(),
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

fn print_text(o: &Overview) -> anyhow::Result<()> {
    let mut out = super::output::stdout();
    use std::io::Write;
    writeln!(
        out,
        "database {}: {} (+ {} write-ahead log), schema version {}\n",
        o.database.path.display(),
        human_size(o.database.size_bytes),
        human_size(o.database.wal_bytes),
        o.database.schema_version
    )?;
    let rows: Vec<Vec<String>> = o
        .jobs
        .iter()
        .map(|j| {
            let last = j.last_run.as_ref();
            vec![
                j.job.clone(),
                last.map(|l| l.started.clone())
                    .unwrap_or_else(|| "never".into()),
                last.map(|l| l.trigger.clone()).unwrap_or_default(),
                last.map(|l| l.outcome.clone()).unwrap_or_default(),
                output::opt(&j.next_run),
                last.and_then(|l| l.error.clone()).unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &mut out,
        &["JOB", "LAST RUN", "TRIGGER", "OUTCOME", "NEXT RUN", "ERROR"],
        &rows,
    )?;
    writeln!(out)?;
    let rows: Vec<Vec<String>> = o
        .sources
        .iter()
        .map(|s| {
            vec![
                s.source.clone(),
                s.release_id.to_string(),
                s.fetched_at.clone(),
                s.status.clone(),
                s.releases.to_string(),
            ]
        })
        .collect();
    output::table(
        &mut out,
        &["SOURCE", "LAST RELEASE", "FETCHED", "STATUS", "RELEASES"],
        &rows,
    )?;
    Ok(())
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match UNITS.get(unit) {
        Some(&"B") | None => format!("{bytes} B"),
        Some(u) => format!("{value:.1} {u}"),
    }
}
