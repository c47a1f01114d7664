//! The daemon: the scheduler driven by a simulated clock (DST switches, catch-up,
//! retries, reload), and the real `ozgsync daemon` binary against a local HTTP
//! server on 127.0.0.1 (several cycles, exports, credentials, the writer lock,
//! SIGTERM during an import), read back through `ozgsync status --json`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ozgsync::config::Config;
use ozgsync::daemon::{self, Clock, Control, Executor};
use ozgsync::store::runs::{Outcome, Trigger};
use tokio::sync::{mpsc, watch};

use super::support::{self, command, Reply, Server};

// ---------------------------------------------------------------------------
// The scheduler with a simulated clock
// ---------------------------------------------------------------------------

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn berlin(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Europe::Berlin).to_rfc3339()
}

/// Time that jumps to whatever the scheduler waits for; asking to wait past `end`
/// requests shutdown instead.
struct SimClock {
    now: Mutex<DateTime<Utc>>,
    end: DateTime<Utc>,
    stop: watch::Sender<bool>,
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }

    async fn sleep_until(&self, instant: DateTime<Utc>) {
        if instant > self.end {
            let _ = self.stop.send(true);
            std::future::pending::<()>().await;
        }
        let mut now = self.now.lock().unwrap();
        *now = (*now).max(instant);
    }
}

type Reload = (
    DateTime<Utc>,
    mpsc::UnboundedSender<Arc<Config>>,
    Arc<Config>,
);

/// Records every run; fails the sources named in `failing`.
struct FakeExecutor {
    clock: Arc<SimClock>,
    failing: HashSet<String>,
    last_success: HashMap<String, DateTime<Utc>>,
    runs: Mutex<Vec<(String, Trigger, DateTime<Utc>)>>,
    /// At this time, send this config to the scheduler as a reload.
    reload: Option<Reload>,
}

impl Executor for FakeExecutor {
    async fn last_success(&self, job: &str) -> Option<DateTime<Utc>> {
        self.last_success.get(job).copied()
    }

    async fn run(&self, _config: Arc<Config>, job: &str, trigger: Trigger) -> Outcome {
        let now = self.clock.now();
        self.runs
            .lock()
            .unwrap()
            .push((job.to_owned(), trigger, now));
        if let Some((at, tx, config)) = &self.reload {
            if now >= *at {
                let _ = tx.send(config.clone());
            }
        }
        if self.failing.contains(job) {
            Outcome::Failed
        } else {
            Outcome::Applied
        }
    }
}

struct Sim {
    start: &'static str,
    end: &'static str,
    failing: &'static [&'static str],
    /// Jobs whose last success is this long before the start (others: at start).
    last_success: &'static [(&'static str, i64)],
    reload_at: Option<(&'static str, &'static str)>,
}

impl Sim {
    /// From `start` to `end`, nothing failing, every job last succeeded at start,
    /// no reload.
    fn between(start: &'static str, end: &'static str) -> Sim {
        Sim {
            start,
            end,
            failing: &[],
            last_success: &[],
            reload_at: None,
        }
    }
}

fn config(text: &str) -> Config {
    Config::parse(text, Path::new("sim.toml"), PathBuf::from("/nonexistent")).unwrap()
}

fn simulate(config_text: &str, sim: Sim) -> Vec<(String, String, String)> {
    let config = Arc::new(config(config_text));
    let start = utc(sim.start);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (reload_tx, reload_rx) = mpsc::unbounded_channel();
    let clock = Arc::new(SimClock {
        now: Mutex::new(start),
        end: utc(sim.end),
        stop: stop_tx,
    });
    let mut last_success: HashMap<String, DateTime<Utc>> = config
        .sources
        .iter()
        .map(|s| (s.name.clone(), start))
        .collect();
    for (job, hours) in sim.last_success {
        last_success.insert(job.to_string(), start - chrono::Duration::hours(*hours));
    }
    let executor = FakeExecutor {
        clock: clock.clone(),
        failing: sim.failing.iter().map(|s| s.to_string()).collect(),
        last_success,
        runs: Mutex::new(Vec::new()),
        reload: sim
            .reload_at
            .map(|(at, text)| (utc(at), reload_tx.clone(), Arc::new(self::config(text)))),
    };
    let control = Control {
        shutdown: stop_rx,
        reload: reload_rx,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(daemon::run(config, clock.as_ref(), &executor, control));
    let runs = executor.runs.into_inner().unwrap();
    runs.into_iter()
        .map(|(job, trigger, at)| (job, trigger.to_string(), berlin(at)))
        .collect()
}

fn check(config_text: &str, sim: Sim, expected: &[(&str, &str, &str)]) {
    let got = simulate(config_text, sim);
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, expected);
}

const DAILY_0230: &str = r#"
    [[source]]
    name = "leika"
    kind = "leika"
    location = "leika.csv"
    schedule = "0 30 2 * * *"
"#;

#[test]
fn scheduler_fires_a_0230_job_once_per_day_across_spring_forward() {
    check(
        DAILY_0230,
        Sim::between("2026-03-27T12:00:00Z", "2026-03-31T12:00:00Z"),
        &[
            ("leika", "schedule", "2026-03-28T02:30:00+01:00"),
            // 02:30 does not exist on 2026-03-29: once, when the gap ends
            ("leika", "schedule", "2026-03-29T03:00:00+02:00"),
            ("leika", "schedule", "2026-03-30T02:30:00+02:00"),
            ("leika", "schedule", "2026-03-31T02:30:00+02:00"),
        ],
    );
}

#[test]
fn scheduler_fires_a_0230_job_once_per_day_across_fall_back() {
    check(
        DAILY_0230,
        Sim::between("2026-10-23T12:00:00Z", "2026-10-27T12:00:00Z"),
        &[
            ("leika", "schedule", "2026-10-24T02:30:00+02:00"),
            // 02:30 happens twice on 2026-10-25: only the first one fires
            ("leika", "schedule", "2026-10-25T02:30:00+02:00"),
            ("leika", "schedule", "2026-10-26T02:30:00+01:00"),
            ("leika", "schedule", "2026-10-27T02:30:00+01:00"),
        ],
    );
}

const TWO_SOURCES: &str = r#"
    [daemon]
    retries = 2
    retry_base_ms = 60000
    [[source]]
    name = "bad"
    kind = "leika"
    location = "bad.csv"
    schedule = "0 0 3 * * *"
    [[source]]
    name = "good"
    kind = "gv100ad"
    location = "good.txt"
    schedule = "0 0 3,15 * * *"
"#;

#[test]
fn a_missed_run_is_caught_up_on_start_once() {
    check(
        TWO_SOURCES,
        Sim {
            // "bad" last succeeded two days ago: yesterday's 03:00 was missed.
            // "good" succeeded at start: nothing missed.
            last_success: &[("bad", 48)],
            ..Sim::between("2026-06-10T10:00:00Z", "2026-06-11T02:00:00Z")
        },
        &[
            ("bad", "catch-up", "2026-06-10T12:00:00+02:00"),
            ("good", "schedule", "2026-06-10T15:00:00+02:00"),
            ("bad", "schedule", "2026-06-11T03:00:00+02:00"),
            ("good", "schedule", "2026-06-11T03:00:00+02:00"),
        ],
    );
}

#[test]
fn a_failing_source_retries_with_backoff_and_others_keep_their_schedule() {
    check(
        TWO_SOURCES,
        Sim {
            failing: &["bad"],
            ..Sim::between("2026-06-10T00:00:00Z", "2026-06-11T02:00:00Z")
        },
        &[
            ("bad", "schedule", "2026-06-10T03:00:00+02:00"),
            ("good", "schedule", "2026-06-10T03:00:00+02:00"),
            ("bad", "retry", "2026-06-10T03:01:00+02:00"),
            ("bad", "retry", "2026-06-10T03:03:00+02:00"),
            ("good", "schedule", "2026-06-10T15:00:00+02:00"),
            // still scheduled the next day, retries start again
            ("bad", "schedule", "2026-06-11T03:00:00+02:00"),
            ("good", "schedule", "2026-06-11T03:00:00+02:00"),
            ("bad", "retry", "2026-06-11T03:01:00+02:00"),
            ("bad", "retry", "2026-06-11T03:03:00+02:00"),
        ],
    );
}

#[test]
fn a_new_config_replaces_the_schedule() {
    check(
        TWO_SOURCES,
        Sim {
            // After the 03:00 runs, "good" moves to 05:00 and "bad" is dropped.
            reload_at: Some((
                "2026-06-10T01:00:00Z",
                r#"
                [[source]]
                name = "good"
                kind = "gv100ad"
                location = "good.txt"
                schedule = "0 0 5 * * *"
                "#,
            )),
            ..Sim::between("2026-06-10T00:00:00Z", "2026-06-10T16:00:00Z")
        },
        &[
            ("bad", "schedule", "2026-06-10T03:00:00+02:00"),
            ("good", "schedule", "2026-06-10T03:00:00+02:00"),
            ("good", "schedule", "2026-06-10T05:00:00+02:00"),
        ],
    );
}

// ---------------------------------------------------------------------------
// The real binary against a local HTTP server
// ---------------------------------------------------------------------------

const RELEASE_1: &str = "fixtures/leika/leika_sample_nrw2019.csv";
const RELEASE_2: &str = "fixtures/leika/leika_release2.csv";

/// A local server (`support::serve`): `GET /leika.csv` alternates between two
/// LeiKa releases, `/slow.csv` stalls halfway through its body for `stall`,
/// anything else is 404. Also returns each `/leika.csv` request's Authorization
/// header.
fn serve(stall: Duration) -> (Server, Arc<Mutex<Vec<Option<String>>>>) {
    let releases = [
        std::fs::read(RELEASE_1).unwrap(),
        std::fs::read(RELEASE_2).unwrap(),
    ];
    let hits = AtomicUsize::new(0);
    let authorization = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&authorization);
    let server = support::serve(move |target, headers| match target {
        "/leika.csv" => {
            let auth = headers.iter().find(|(name, _)| name == "authorization");
            seen.lock()
                .unwrap()
                .push(auth.map(|(_, value)| value.clone()));
            let n = hits.fetch_add(1, Ordering::SeqCst);
            Reply::ok(releases[n % 2].clone())
        }
        "/slow.csv" => Reply::ok(releases[0].clone()).stall(stall),
        _ => Reply::status(404, "not here"),
    });
    (server, authorization)
}

/// The binary in `dir` with only `PATH`, an info log and the test token in its
/// environment (the daemon must need nothing else).
fn daemon_command(dir: &Path) -> Command {
    let mut cmd = command(dir);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .env("TEST_LEIKA_TOKEN", "t0ken")
        .stdin(Stdio::null());
    cmd
}

/// A running daemon; killed if the test panics before it stopped it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn start_daemon(dir: &Path) -> Running {
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    Running(
        daemon_command(dir)
            .args(["daemon", "--config", "ozgsync.toml", "--log-format", "json"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// Polls `done` until it holds; panics with the daemon's log after a generous limit
/// (a hang guard, not a timing assertion).
fn wait_for(dir: &Path, what: &str, mut done: impl FnMut() -> bool) {
    let limit = Instant::now() + Duration::from_secs(40);
    while !done() {
        assert!(
            Instant::now() < limit,
            "gave up waiting for {what}; daemon log:\n{}",
            std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigterm(daemon: &Running) {
    signal(daemon, "-TERM");
}

/// Sends `signal` (`kill`'s form, `-HUP`) to the daemon.
fn signal(Running(child): &Running, signal: &str) {
    super::support::signal(child.id(), signal);
}

fn wait_exit(dir: &Path, mut running: Running) -> std::process::ExitStatus {
    let child = &mut running.0;
    let mut status = None;
    wait_for(dir, "the daemon to exit", || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    status.unwrap()
}

fn finished_runs(db: &Path, job: &str) -> usize {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    conn.query_row(
        "SELECT count(*) FROM runs WHERE job = ?1 AND finished IS NOT NULL",
        [job],
        |r| r.get::<_, i64>(0),
    )
    .map_or(0, |n| n as usize)
}

fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// Runs a command to completion; kills it after a generous limit (a hang guard,
/// not a timing assertion).
fn output(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let limit = Instant::now() + Duration::from_secs(40);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

trait Guarded {
    fn guarded(&mut self) -> Output;
}

impl Guarded for Command {
    fn guarded(&mut self) -> Output {
        output(self)
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn real_daemon_runs_cycles_exports_and_stops_on_sigterm() {
    let (server, authorization) = serve(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let port = server.port;
    std::fs::write(
        dir.path().join("ozgsync.toml"),
        format!(
            r#"
            database = "ozgsync.db"
            [fetch]
            allow_http = true
            max_retries = 0
            [daemon]
            retries = 1
            retry_base_ms = 100
            [[source]]
            name = "leika"
            kind = "leika"
            location = "http://127.0.0.1:{port}/leika.csv"
            schedule = "* * * * * *"
            credentials = {{ env = "TEST_LEIKA_TOKEN" }}
            [[source]]
            name = "broken"
            kind = "leika"
            location = "http://127.0.0.1:{port}/missing.csv"
            schedule = "*/2 * * * * *"
            [[export]]
            name = "marker"
            command = ["sh", "-c", "echo $OZGSYNC_EXPORT_SOURCE $OZGSYNC_EXPORT_RELEASE >> exports.log"]
            after = ["leika"]
            "#
        ),
    )
    .unwrap();
    let db = dir.path().join("ozgsync.db");
    let daemon = start_daemon(dir.path());
    wait_for(dir.path(), "three leika runs", || {
        finished_runs(&db, "leika") >= 3
    });

    // While it runs, nothing else may write the database.
    for args in [
        &["daemon", "--config", "ozgsync.toml"][..],
        &["sync", "--config", "ozgsync.toml"][..],
    ] {
        let out = daemon_command(dir.path()).args(args).guarded();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("is being written by another ozgsync (daemon, pid"),
            "{args:?}: {err}"
        );
    }
    // A backup works meanwhile and is private.
    let backup = daemon_command(dir.path())
        .args(["backup", "copy.db", "--config", "ozgsync.toml"])
        .guarded();
    assert!(backup.status.success(), "{}", text(&backup));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("copy.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(integrity(&dir.path().join("copy.db")), "ok");

    sigterm(&daemon);
    let status = wait_exit(dir.path(), daemon);
    assert_eq!(status.code(), Some(0));
    assert_eq!(integrity(&db), "ok");

    let out = daemon_command(dir.path())
        .args(["status", "--json", "--config", "ozgsync.toml"])
        .guarded();
    assert!(out.status.success(), "{}", text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let job = |name: &str| {
        status["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job"] == name)
            .unwrap_or_else(|| panic!("no job {name} in {status:#}"))
            .clone()
    };
    let leika = job("leika");
    assert!(
        ["applied", "unchanged"].contains(&leika["last_run"]["outcome"].as_str().unwrap()),
        "{leika:#}"
    );
    assert!(leika["next_run"].is_string(), "{leika:#}");
    let broken = job("broken");
    assert_eq!(broken["last_run"]["outcome"], "failed", "{broken:#}");
    assert!(
        broken["last_run"]["error"]
            .as_str()
            .unwrap()
            .contains("404"),
        "{broken:#}"
    );
    assert_eq!(job("export:marker")["last_run"]["outcome"], "applied");
    assert_eq!(status["sources"][0]["source"], "leika", "{status:#}");
    assert!(status["database"]["size_bytes"].as_u64().unwrap() > 0);

    // The releases alternate, so every leika run applied changes and exported.
    let exports = std::fs::read_to_string(dir.path().join("exports.log")).unwrap();
    assert!(exports.lines().count() >= 2, "{exports}");
    assert!(
        exports.lines().all(|l| l.starts_with("leika ")),
        "{exports}"
    );
    // The first run was a catch-up (a new database), later ones the schedule.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let triggers: Vec<String> = conn
        .prepare("SELECT trigger FROM runs WHERE job = 'leika' ORDER BY run_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(triggers.first().map(String::as_str), Some("catch-up"));
    assert!(
        triggers[1..]
            .iter()
            .all(|t| t == "schedule" || t == "retry"),
        "{triggers:?}"
    );
    // The credential came from the environment and was sent as a bearer token.
    let auth = authorization.lock().unwrap().clone();
    assert!(server.hits("/leika.csv") >= 3);
    assert!(
        auth.iter().all(|a| a.as_deref() == Some("Bearer t0ken")),
        "{auth:?}"
    );

    // --log-format json: one object per line, with the run and release spans.
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "release applied"
                && l["spans"][0]["name"] == "run"
                && l["spans"][0]["job"] == "leika"
                && l["spans"][1]["name"] == "release"),
        "{log}"
    );

    // After the daemon, `sync` may write again and records a manual run.
    let out = daemon_command(dir.path())
        .args([
            "sync",
            "--config",
            "ozgsync.toml",
            "--only",
            "leika",
            "--quiet",
        ])
        .guarded();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        out.stdout.is_empty(),
        "--quiet prints nothing on success: {}",
        text(&out)
    );
    let out = daemon_command(dir.path())
        .args(["sync", "--config", "ozgsync.toml", "--quiet"])
        .guarded();
    assert_eq!(
        out.status.code(),
        Some(1),
        "broken source fails: {}",
        text(&out)
    );
}

/// A daemon config with one source on `/slow.csv` that runs at once (catch-up on a
/// new database) and otherwise never.
fn slow_config(dir: &Path, port: u16, shutdown_timeout_secs: u64) {
    std::fs::write(
        dir.join("ozgsync.toml"),
        format!(
            r#"
            database = "ozgsync.db"
            [fetch]
            allow_http = true
            max_retries = 0
            [daemon]
            shutdown_timeout_secs = {shutdown_timeout_secs}
            [[source]]
            name = "leika"
            kind = "leika"
            location = "http://127.0.0.1:{port}/slow.csv"
            schedule = "0 0 0 1 1 * 2099"
            "#
        ),
    )
    .unwrap();
}

/// SIGTERM to a daemon while its one job downloads `/slow.csv`, whose body stalls
/// for `stall`, with `shutdown_timeout_secs`: the daemon exits 0 and leaves an
/// intact database, returned open (with its directory).
fn sigterm_while_downloading(
    stall: Duration,
    shutdown_timeout_secs: u64,
) -> (tempfile::TempDir, rusqlite::Connection) {
    let (server, _) = serve(stall);
    let dir = tempfile::tempdir().unwrap();
    slow_config(dir.path(), server.port, shutdown_timeout_secs);
    let daemon = start_daemon(dir.path());
    wait_for(dir.path(), "the download to start", || {
        server.hits("/slow.csv") > 0
    });
    sigterm(&daemon);
    assert_eq!(wait_exit(dir.path(), daemon).code(), Some(0));
    let db = dir.path().join("ozgsync.db");
    assert_eq!(integrity(&db), "ok");
    let conn = rusqlite::Connection::open(&db).unwrap();
    (dir, conn)
}

#[test]
fn sigterm_during_an_import_lets_it_finish_and_exits_cleanly() {
    let (_dir, conn) = sigterm_while_downloading(Duration::from_millis(1500), 30);
    // The new release is complete: its run finished and all its records are there.
    let (outcome, release): (String, i64) = conn
        .query_row(
            "SELECT outcome, release_id FROM runs WHERE job = 'leika'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(outcome, "applied");
    let (added, written): (i64, i64) = conn
        .query_row(
            "SELECT added, (SELECT count(*) FROM record_versions WHERE valid_from = ?1)
             FROM releases WHERE release_id = ?1",
            [release],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(added > 0);
    assert_eq!(added, written);
}

/// A burst of SIGHUPs while a job downloads, first over a config broken on disk,
/// then over the good one again: the broken one is refused and the schedule kept,
/// the good one reloaded (tokio may fold signals that arrive together into one
/// wake-up, so "each" is at least one reload per burst), the running job's release
/// commits whole, and SIGTERM then stops the daemon cleanly.
#[test]
fn a_burst_of_sighups_during_an_import_loses_nothing() {
    let (server, _) = serve(Duration::from_millis(2500));
    let dir = tempfile::tempdir().unwrap();
    slow_config(dir.path(), server.port, 30);
    let config = dir.path().join("ozgsync.toml");
    let good = std::fs::read_to_string(&config).unwrap();
    let log = || std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();
    let daemon = start_daemon(dir.path());
    wait_for(dir.path(), "the download to start", || {
        server.hits("/slow.csv") > 0
    });
    std::fs::write(&config, "[[source]\nname = ").unwrap();
    for _ in 0..25 {
        signal(&daemon, "-HUP");
    }
    wait_for(dir.path(), "the broken config to be refused", || {
        log().contains("config not reloaded; keeping the current schedule")
    });
    std::fs::write(&config, &good).unwrap();
    for _ in 0..25 {
        signal(&daemon, "-HUP");
    }
    wait_for(dir.path(), "the good config to be reloaded", || {
        log().contains("configuration reloaded")
    });
    let db = dir.path().join("ozgsync.db");
    wait_for(dir.path(), "the import to finish", || {
        finished_runs(&db, "leika") > 0
    });
    sigterm(&daemon);
    assert_eq!(wait_exit(dir.path(), daemon).code(), Some(0));
    assert_eq!(integrity(&db), "ok");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (outcome, added, written): (String, i64, i64) = conn
        .query_row(
            "SELECT r.outcome, l.added,
                    (SELECT count(*) FROM record_versions WHERE valid_from = l.release_id)
             FROM runs r JOIN releases l ON l.release_id = r.release_id
             WHERE r.job = 'leika'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(outcome, "applied");
    assert!(added > 0);
    assert_eq!(added, written);
    let log = log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn sigterm_with_a_job_outliving_the_shutdown_timeout_exits_and_keeps_the_old_state() {
    let (dir, conn) = sigterm_while_downloading(Duration::from_secs(8), 1);
    let releases: i64 = conn
        .query_row("SELECT count(*) FROM releases", [], |r| r.get(0))
        .unwrap();
    assert_eq!(releases, 0, "the previous state (empty) is kept");
    let (outcome, error): (Option<String>, Option<String>) = conn
        .query_row(
            "SELECT outcome, error FROM runs WHERE job = 'leika'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    // The job is asked to stop after the timeout and records itself as failed
    // ("stopped (shutdown timeout)"); unfinished only if it could not unwind in time.
    assert!(
        outcome.is_none() || outcome.as_deref() == Some("failed"),
        "{outcome:?} {error:?}"
    );
    let out = output(daemon_command(dir.path()).args(["status", "--config", "ozgsync.toml"]));
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn config_check_lists_problems_and_prints_the_effective_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ozgsync.toml"),
        r#"
        timezone = "Europe/Berlin"
        [[source]]
        name = "leika"
        kind = "leika"
        location = "https://example.org/leika.csv"
        schedule = "0 30 2 * * *"
        credentials = { scheme = "basic", user = "svc", env = "TEST_LEIKA_TOKEN" }
        "#,
    )
    .unwrap();
    let out = daemon_command(dir.path())
        .args(["config", "check"])
        .env("OZGSYNC_CONFIG", "ozgsync.toml")
        .env("OZGSYNC_FETCH__MAX_RETRIES", "9")
        .guarded();
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("max_retries = 9"), "{shown}");
    assert!(shown.contains("OZGSYNC_FETCH__MAX_RETRIES"), "{shown}");
    assert!(shown.contains("env = \"TEST_LEIKA_TOKEN\""), "{shown}");
    assert!(
        !shown.contains("t0ken"),
        "the secret is never printed: {shown}"
    );

    let out = daemon_command(dir.path())
        .args(["config", "check", "--config", "ozgsync.toml"])
        .env_remove("TEST_LEIKA_TOKEN")
        .env("OZGSYNC_TIMEZONE", "Mars/Olympus")
        .env("OZGSYNC_SOURCE__LEIKA__SCHEDULE", "daily")
        .guarded();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("timezone: unknown timezone"), "{err}");
    assert!(
        err.contains("source[0].schedule: invalid cron expression"),
        "{err}"
    );
}

/// Config mistakes that parsed and then failed (or did nothing) only at run time:
/// a `~` path (TOML expands nothing: it became a directory named `~` beside the
/// config, "No such file" at the first sync), a schedule no date matches (the
/// daemon kept the source without a word, `status` showed no next run), and zero
/// limits (every download timed out or was too large, every job stopped at once).
/// `config check` names each with its key and exits 1; `sync` refuses the config.
#[test]
fn config_mistakes_that_only_showed_at_run_time_are_named() {
    let dir = support::scratch();
    std::fs::write(
        dir.path().join("ozgsync.toml"),
        r#"
        database = "~/ozgsync.db"
        [fetch]
        read_timeout_secs = 0
        max_body_mb = 0
        [daemon]
        job_timeout_secs = 0
        [[source]]
        name = "leika"
        kind = "leika"
        location = "~/leika.csv"
        schedule = "0 3 31 2 *"
        [[source]]
        name = "gv100ad"
        kind = "gv100ad"
        location = "gv.txt"
        schedule = "0 0 3 * * * 2020"
        [[export]]
        name = "site"
        command = ["true"]
        timeout_secs = 0
        "#,
    )
    .unwrap();
    let run = support::run_in(dir.path(), &["config", "check", "--config", "ozgsync.toml"]);
    run.assert_code(1);
    for says in [
        "database: \"~/ozgsync.db\" starts with `~`, which is not expanded here",
        "source[0].location: \"~/leika.csv\" starts with `~`",
        "source[0].schedule: \"0 3 31 2 *\" never fires",
        "source[1].schedule: \"0 0 3 * * * 2020\" never fires",
        "fetch.read_timeout_secs: must be greater than 0",
        "fetch.max_body_mb: must be greater than 0",
        "daemon.job_timeout_secs: must be greater than 0",
        "export[0].timeout_secs: must be greater than 0",
    ] {
        assert!(run.stderr.contains(says), "{says}: {run:#?}");
    }
    assert!(run.stderr.contains("8 problem(s)"), "{run:#?}");
    let run = support::run_in(dir.path(), &["sync", "--config", "ozgsync.toml"]);
    assert_ne!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("never fires"), "{run:#?}");
    assert!(
        !dir.path().join("~").exists(),
        "a directory named ~ was made"
    );

    // Every second is allowed (tests, a local file) but noted: six fields put
    // seconds first, so `* * * * * *` is not "every minute".
    std::fs::write(
        dir.path().join("ozgsync.toml"),
        "[[source]]\nname = \"leika\"\nkind = \"leika\"\nlocation = \"https://example.org/l.csv\"\nschedule = \"* * * * * *\"\n[[source]]\nname = \"gv\"\nkind = \"gv100ad\"\nlocation = \"https://example.org/g.txt\"\nschedule = \"* * * * *\"\n",
    )
    .unwrap();
    let run = support::run_in(dir.path(), &["config", "check", "--config", "ozgsync.toml"]);
    run.assert_ok();
    assert!(
        run.stderr.contains("note: source[0].schedule: \"* * * * * *\" fires every 1 s (with six fields the first is seconds"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains("source[1].schedule"), "{run:#?}");

    // The same `~` given as OZGSYNC_DB (a systemd unit's Environment=) or quoted.
    std::fs::remove_file(dir.path().join("ozgsync.toml")).unwrap();
    let run = support::collect(command(dir.path()).env("OZGSYNC_DB", "~/ozgsync.db").args([
        "status",
        "set",
        "99001001002000",
        "--ressort",
        "MI",
        "--status",
        "pilot",
        "--on",
        "2025-01-01",
        "--by",
        "x",
    ]));
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("\"~/ozgsync.db\" starts with `~`, which nothing expanded"),
        "{run:#?}"
    );
    let run = support::run_in(dir.path(), &["--db", "~/x.db", "releases"]);
    run.assert_code(2);
    assert!(
        !dir.path().join("~").exists(),
        "a directory named ~ was made"
    );
}
