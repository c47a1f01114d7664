//! The `runs` table: one row per job execution (a source sync or an export), written
//! when the job starts and completed when it ends, so a run that died with its
//! process stays visible as unfinished. Read by `status` and by the daemon's
//! catch-up on start.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::release::Counts;

/// Why a job ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// The job's cron schedule fired.
    Schedule,
    /// On daemon start, a scheduled run was found missed while the daemon was down.
    CatchUp,
    /// A human ran `ozgsync sync`.
    Manual,
    /// A retry after a failed run.
    Retry,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::CatchUp => "catch-up",
            Trigger::Manual => "manual",
            Trigger::Retry => "retry",
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A release with changes was written (or an export ran).
    Applied,
    /// The payload was identical or not modified; nothing changed.
    Unchanged,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::Failed => "failed",
        }
    }
}

/// What a finished job reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    pub outcome: Outcome,
    pub release_id: Option<i64>,
    pub counts: Counts,
    pub error: Option<String>,
}

/// One row of `runs`, as shown by `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRow {
    pub run_id: i64,
    pub job: String,
    pub trigger: String,
    pub started: String,
    pub finished: Option<String>,
    /// `None` while running or when the process died mid-run.
    pub outcome: Option<String>,
    pub release_id: Option<i64>,
    #[serde(flatten)]
    pub counts: Counts,
    pub error: Option<String>,
    pub pid: i64,
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Records that `job` started; returns the run id to [`finish`] it with.
pub fn start(
    conn: &Connection,
    job: &str,
    trigger: Trigger,
    started: DateTime<Utc>,
) -> Result<i64> {
    conn.execute(
        "INSERT INTO runs (job, trigger, started, pid) VALUES (?1, ?2, ?3, ?4)",
        params![job, trigger.as_str(), stamp(started), std::process::id()],
    )
    .map_err(Error::db(format!("recording the start of a run of {job}")))?;
    Ok(conn.last_insert_rowid())
}

/// Completes a run row with its outcome.
pub fn finish(
    conn: &Connection,
    run_id: i64,
    finished: DateTime<Utc>,
    result: &RunResult,
) -> Result<()> {
    let c = &result.counts;
    conn.execute(
        "UPDATE runs SET finished = ?2, outcome = ?3, release_id = ?4, added = ?5,
                changed = ?6, retired = ?7, unchanged = ?8, rejected = ?9, warnings = ?10,
                error = ?11
         WHERE run_id = ?1",
        params![
            run_id,
            stamp(finished),
            result.outcome.as_str(),
            result.release_id,
            c.added as i64,
            c.changed as i64,
            c.retired as i64,
            c.unchanged as i64,
            c.rejected as i64,
            c.warnings as i64,
            result.error,
        ],
    )
    .map_err(Error::db(format!("recording the end of run {run_id}")))?;
    Ok(())
}

// `kept` lives only on the release (schema 0009): a run reads it from there.
const COLUMNS: &str = "run_id, job, trigger, started, finished, outcome, release_id, added,
    changed, retired, unchanged, rejected, warnings, error, pid,
    coalesce((SELECT k.kept FROM releases k WHERE k.release_id = runs.release_id), 0)";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    Ok(RunRow {
        run_id: r.get(0)?,
        job: r.get(1)?,
        trigger: r.get(2)?,
        started: r.get(3)?,
        finished: r.get(4)?,
        outcome: r.get(5)?,
        release_id: r.get(6)?,
        counts: Counts {
            added: n(7)?,
            changed: n(8)?,
            retired: n(9)?,
            unchanged: n(10)?,
            rejected: n(11)?,
            warnings: n(12)?,
            kept: n(15)?,
        },
        error: r.get(13)?,
        pid: r.get(14)?,
    })
}

/// The latest run of every job, by job name.
pub fn last_per_job(conn: &Connection) -> Result<Vec<RunRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM runs
         WHERE run_id IN (SELECT max(run_id) FROM runs GROUP BY job)
         ORDER BY job"
    );
    let mut stmt = conn.prepare(&sql).map_err(Error::db("reading last runs"))?;
    let rows = stmt
        .query_map([], row)
        .and_then(Iterator::collect)
        .map_err(Error::db("reading last runs"))?;
    Ok(rows)
}

/// All runs of `job` (or of every job), newest first, at most `limit`.
pub fn recent(conn: &Connection, job: Option<&str>, limit: u32) -> Result<Vec<RunRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM runs WHERE ?1 IS NULL OR job = ?1
         ORDER BY run_id DESC LIMIT ?2"
    );
    let mut stmt = conn.prepare(&sql).map_err(Error::db("reading runs"))?;
    let rows = stmt
        .query_map(params![job, limit], row)
        .and_then(Iterator::collect)
        .map_err(Error::db("reading runs"))?;
    Ok(rows)
}

/// When the last successful (applied or unchanged) run of `job` started: the daemon
/// catches up a scheduled run that fell after it.
pub fn last_success(conn: &Connection, job: &str) -> Result<Option<DateTime<Utc>>> {
    let started: Option<String> = conn
        .query_row(
            "SELECT started FROM runs WHERE job = ?1 AND outcome IN ('applied', 'unchanged')
             ORDER BY run_id DESC LIMIT 1",
            [job],
            |r| r.get(0),
        )
        .optional()
        .map_err(Error::db(format!("reading the last success of {job}")))?;
    match started {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(&text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| Error::Invalid(format!("runs.started {text:?} of {job}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn records_runs_and_finds_the_last_success() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(&dir.path().join("t.db")).unwrap();
        assert_eq!(last_success(&conn, "leika").unwrap(), None);
        let ok = start(
            &conn,
            "leika",
            Trigger::Schedule,
            at("2026-03-01T01:30:00Z"),
        )
        .unwrap();
        let done = RunResult {
            outcome: Outcome::Unchanged,
            release_id: None,
            counts: Counts::default(),
            error: None,
        };
        finish(&conn, ok, at("2026-03-01T01:30:02Z"), &done).unwrap();
        let bad = start(&conn, "leika", Trigger::Retry, at("2026-03-02T01:30:00Z")).unwrap();
        let failed = RunResult {
            outcome: Outcome::Failed,
            error: Some("HTTP 503".into()),
            ..done.clone()
        };
        finish(&conn, bad, at("2026-03-02T01:30:01Z"), &failed).unwrap();
        start(
            &conn,
            "gv100ad",
            Trigger::Manual,
            at("2026-03-02T02:00:00Z"),
        )
        .unwrap();

        assert_eq!(
            last_success(&conn, "leika").unwrap(),
            Some(at("2026-03-01T01:30:00Z"))
        );
        let last = last_per_job(&conn).unwrap();
        let summary: Vec<_> = last
            .iter()
            .map(|r| (r.job.as_str(), r.trigger.as_str(), r.outcome.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("gv100ad", "manual", None),
                ("leika", "retry", Some("failed"))
            ]
        );
        assert_eq!(recent(&conn, Some("leika"), 10).unwrap().len(), 2);
    }
}
