//! Unix habits of the binary: a closed stdout (`| head`) is success and never stops
//! a command that writes data, `--quiet` prints errors only, `--color`, one
//! `--format` for summaries, one exit-code policy (0 success, 1 failed or refused,
//! 2 usage), and the config as cron and `config check` see it.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::support::{self, command, fixture, run_db, run_in, scratch, serve, Reply, Run};

const LEIKA: &str = "leika/leika_sample_nrw2019.csv";

/// Runs `cmd` with its stdout a pipe the test closes after reading `keep` bytes
/// (0: closed before the binary writes anything), then waits for it. Returns what
/// was read, the exit code and stderr.
fn with_stdout_closed(cmd: &mut Command, keep: usize) -> (Vec<u8>, Run) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ozgsync binary runs");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut read = vec![0; keep];
    stdout.read_exact(&mut read).expect("the first bytes");
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    let run = Run {
        code: status.code(),
        stdout: String::new(),
        stderr,
    };
    (read, run)
}

fn db_command(db: &Path, args: &[&str]) -> Command {
    let mut cmd = command(db.parent().unwrap());
    cmd.arg("--db").arg(db).args(args);
    cmd
}

fn releases(db: &Path) -> Vec<serde_json::Value> {
    let run = run_db(db, &["releases", "--format", "json"]);
    run.assert_ok();
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
fn reading_commands_end_quietly_with_exit_0_when_stdout_closes() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let big = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 300000) SELECT i FROM n";
    let cases: &[&[&str]] = &[
        &["releases", "--format", "json"],
        &["rejects", "1", "--format", "json"],
        &["status", "--json"],
        &["status", "--format", "json"],
        &["ressort", "list", "--format", "json"],
        &["query", "--format", "csv", big],
        &["query", "--format", "json", big],
        &["template", "annotations", "--fill"],
        &["export", "report", "--format", "md", "--out", "-"],
    ];
    for args in cases {
        for keep in [0, 1] {
            let (_, run) = with_stdout_closed(&mut db_command(&db, args), keep);
            assert_eq!(run.code, Some(0), "{args:?} keep {keep}: {run:#?}");
            assert!(!run.stderr.contains("panicked"), "{args:?}: {run:#?}");
            assert!(!run.stderr.contains("Broken pipe"), "{args:?}: {run:#?}");
        }
    }
}

#[test]
fn a_report_to_a_closed_pipe_gives_its_first_line() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let mut child = db_command(&db, &["export", "report", "--format", "md", "--out", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(first.starts_with('#'), "{first:?}");
    assert_eq!(status.code(), Some(0));
}

/// A config with two sources read from files (`a` and `b`, both the LeiKa sample).
fn two_source_config(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("ozgsync.toml");
    let leika = fixture(LEIKA);
    std::fs::write(
        &config,
        format!(
            "database = \"ozgsync.db\"\n\
             [[source]]\nname = \"a\"\nkind = \"leika\"\nlocation = {leika:?}\n\
             [[source]]\nname = \"b\"\nkind = \"leika\"\nlocation = {leika:?}\n"
        ),
    )
    .unwrap();
    config
}

#[test]
fn sync_into_a_closed_pipe_runs_to_its_end() {
    let dir = scratch();
    let config = two_source_config(dir.path());
    // Closed before the first summary line: the old `println!` panicked there
    // (exit 101) and source `b` was never synced.
    let mut cmd = command(dir.path());
    cmd.arg("--config").arg(&config).arg("sync");
    let (_, run) = with_stdout_closed(&mut cmd, 0);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let db = dir.path().join("ozgsync.db");
    let sources: Vec<String> = releases(&db)
        .iter()
        .map(|r| r["source"].as_str().unwrap().to_owned())
        .collect();
    assert!(sources.contains(&"a".to_owned()), "{sources:?}");
    assert!(sources.contains(&"b".to_owned()), "{sources:?}");
}

#[test]
fn imports_into_a_closed_pipe_commit() {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    let leika = fixture(LEIKA);
    let (_, run) = with_stdout_closed(
        &mut db_command(&db, &["import", "leika", leika.to_str().unwrap()]),
        0,
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(releases(&db).len(), 1);

    let report = dir.path().join("report.csv");
    std::fs::write(
        &report,
        "Leistungsschluessel;Ressort;Status;Gueltig ab;Bemerkung\n99001001002000;MI;pilot;2024-03-01;\n",
    )
    .unwrap();
    let args = ["status", "import", report.to_str().unwrap(), "--by", "t"];
    let (_, run) = with_stdout_closed(&mut db_command(&db, &args), 0);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let shown = run_db(
        &db,
        &["status", "show", "99001001002000", "--format", "json"],
    );
    assert!(shown.assert_ok().stdout.contains("pilot"), "{shown:#?}");

    // Refused rows stay a failure when nobody reads the summary.
    let broken = fixture("annotations/broken.csv");
    let args = [
        "annotations",
        "import",
        broken.to_str().unwrap(),
        "--by",
        "t",
    ];
    for format in ["text", "json"] {
        let mut cmd = db_command(&db, &args);
        cmd.args(["--format", format]);
        let (_, run) = with_stdout_closed(&mut cmd, 0);
        assert_eq!(run.code, Some(1), "{format}: {run:#?}");
    }
}

#[test]
fn a_retry_that_succeeds_is_silent_with_quiet() {
    let dir = scratch();
    let body = std::fs::read(fixture(LEIKA)).unwrap();
    let calls = AtomicUsize::new(0);
    let server = serve(move |_, _| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::status(503, "busy")
        } else {
            Reply::ok(body.clone())
        }
    });
    let config = dir.path().join("ozgsync.toml");
    std::fs::write(
        &config,
        format!(
            "[fetch]\nallow_http = true\nbackoff_base_ms = 10\n\
             [[source]]\nname = \"leika\"\nkind = \"leika\"\nlocation = \"{}/leika.csv\"\n",
            server.base
        ),
    )
    .unwrap();
    let run = run_in(dir.path(), &["sync", "--quiet"]);
    run.assert_ok();
    assert_eq!(run.stdout, "", "{run:#?}");
    assert_eq!(run.stderr, "", "{run:#?}");
    assert_eq!(server.requests.lock().unwrap().len(), 2, "retried once");
}

#[test]
fn colours_follow_the_color_flag() {
    let dir = scratch();
    let config = dir.path().join("ozgsync.toml");
    std::fs::write(
        &config,
        "[[source]]\nname = \"gone\"\nkind = \"leika\"\nlocation = \"missing.csv\"\n",
    )
    .unwrap();
    let esc = |run: &Run| run.stderr.contains('\u{1b}');
    let always = run_in(dir.path(), &["sync", "--color", "always"]);
    always.assert_code(1);
    assert!(esc(&always), "{always:#?}");
    // --quiet still shows the error: sync's own line, once (no log line repeats
    // it since the twelfth round; that line is not a log line, so not coloured).
    let quiet = run_in(dir.path(), &["sync", "--quiet", "--color", "always"]);
    assert!(
        quiet.stderr.starts_with("error: source gone: ") && quiet.stderr.lines().count() == 1,
        "{quiet:#?}"
    );
    for args in [
        &["sync", "--color", "never"][..],
        &["sync", "--quiet"],
        &["sync"],
    ] {
        let run = collect_with_no_color(dir.path(), args);
        run.assert_code(1);
        assert!(!esc(&run), "{args:?}: {run:#?}");
    }
}

#[test]
fn help_and_usage_errors_follow_the_color_flag_too() {
    let dir = scratch();
    let esc = |run: &Run| (run.stdout.clone() + &run.stderr).contains('\u{1b}');
    assert!(esc(&run_in(dir.path(), &["--color", "always", "--help"])));
    assert!(esc(&run_in(
        dir.path(),
        &["--color=always", "--no-such-flag"]
    )));
    assert!(!esc(&run_in(dir.path(), &["--color", "never", "--help"])));
    let run = run_in(dir.path(), &["--no-such-flag"]);
    run.assert_code(2);
    assert!(!esc(&run), "{run:#?}");
}

fn collect_with_no_color(dir: &Path, args: &[&str]) -> Run {
    support::collect(command(dir).env("NO_COLOR", "1").args(args))
}

/// Adds an export that writes the report as Markdown (and prints its path).
fn with_report_export(config: &Path) {
    let mut text = std::fs::read_to_string(config).unwrap();
    text.push_str(
        "[[export]]\nname = \"report\"\n\
         command = [\"ozgsync\", \"export\", \"report\", \"--format\", \"md\", \"--out\", \"report.md\"]\n",
    );
    std::fs::write(config, text).unwrap();
}

#[test]
fn a_quiet_sync_with_an_export_prints_nothing() {
    let dir = scratch();
    with_report_export(&two_source_config(dir.path()));
    let run = run_in(dir.path(), &["sync", "--quiet"]);
    run.assert_ok();
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));
    assert!(dir.path().join("report.md").exists());
}

#[test]
fn sync_and_import_summaries_as_json() {
    let dir = scratch();
    with_report_export(&two_source_config(dir.path()));
    let run = run_in(dir.path(), &["sync", "--format", "json"]);
    run.assert_ok();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let sources = doc["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2, "{doc:#}");
    assert_eq!(sources[0]["source"], "a");
    assert_eq!(sources[0]["outcome"], "applied");
    assert!(sources[0]["added"].as_u64().unwrap() > 0, "{doc:#}");
    assert_eq!(sources[1]["outcome"], "applied");
    // The export's own output (its file's path) is not in the document.
    assert_eq!(doc["exports"]["succeeded"], serde_json::json!(["report"]));

    let again = run_in(dir.path(), &["sync", "--format", "json", "--quiet"]);
    again.assert_ok();
    let doc: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(doc["sources"][0]["outcome"], "unchanged", "{doc:#}");

    let db = dir.path().join("other.db");
    let leika = fixture(LEIKA);
    let run = run_db(
        &db,
        &[
            "import",
            "leika",
            leika.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let doc: serde_json::Value = serde_json::from_str(&run.assert_ok().stdout).unwrap();
    assert_eq!(doc["source"], "leika");
    assert_eq!(doc["outcome"], "applied");
    assert_eq!(doc["release_id"], 1);
}

#[test]
fn query_writes_csv_for_german_excel() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let run = run_db(
        &db,
        &[
            "query",
            "--format",
            "excel-csv",
            "SELECT 'a;b' AS x, '=1+1' AS y, 2 AS z",
        ],
    );
    assert_eq!(
        run.assert_ok().stdout,
        "\u{feff}x;y;z\r\n\"a;b\";'=1+1;2\r\n"
    );
}

#[test]
fn exit_codes_2_for_usage_1_for_refused_data() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    // Usage: clap's own errors and malformed argument values.
    run_db(&db, &["releases", "--no-such-flag"]).assert_code(2);
    run_db(
        &db,
        &["import", "leika", "x.csv", "--max-retire-share", "2"],
    )
    .assert_code(2);
    run_db(&db, &["service", "123"]).assert_code(2);
    // Refused data: every import's validation errors.
    let report = dir.path().join("report.csv");
    std::fs::write(
        &report,
        "Leistungsschluessel;Ressort;Status;Gueltig ab;Bemerkung\n99001001002000;MI;nonsense;2024-03-01;\n",
    )
    .unwrap();
    let run = run_db(
        &db,
        &["status", "import", report.to_str().unwrap(), "--by", "t"],
    );
    run.assert_code(1);
    assert!(run.stderr.contains("nothing was applied"), "{run:#?}");
    let broken = fixture("annotations/broken.csv");
    run_db(
        &db,
        &[
            "annotations",
            "import",
            broken.to_str().unwrap(),
            "--by",
            "t",
        ],
    )
    .assert_code(1);
    let run = run_db(
        &db,
        &[
            "import",
            "efa",
            fixture("efa/not_efa.html").to_str().unwrap(),
        ],
    );
    run.assert_code(1);
    // Nothing to do is success.
    run_db(&db, &["import", "leika", fixture(LEIKA).to_str().unwrap()]).assert_ok();
    // --help states the policy.
    let help = run_in(dir.path(), &["--help"]);
    assert!(help.assert_ok().stdout.contains("Exit codes:"), "{help:#?}");
}

#[test]
fn ozgsync_config_names_the_database() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::write(
        dir.path().join("prod.toml"),
        format!("database = {:?}\n", db.file_name().unwrap()),
    )
    .unwrap();
    let run = support::collect(
        command(&elsewhere)
            .env("OZGSYNC_CONFIG", dir.path().join("prod.toml"))
            .args(["releases", "--format", "json"]),
    );
    let rows: Vec<serde_json::Value> = serde_json::from_str(&run.assert_ok().stdout).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(!elsewhere.join("ozgsync.db").exists());
}

#[test]
fn schedules_take_five_fields_and_show_their_next_run_in_local_time() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    std::fs::write(
        dir.path().join("ozgsync.toml"),
        format!(
            "database = {:?}\ntimezone = \"Europe/Berlin\"\n\
             [[source]]\nname = \"leika\"\nkind = \"leika\"\nlocation = {:?}\nschedule = \"30 2 * * *\"\n",
            db.file_name().unwrap(),
            fixture(LEIKA)
        ),
    )
    .unwrap();
    run_in(dir.path(), &["config", "check"]).assert_ok();
    let run = run_in(dir.path(), &["status", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&run.assert_ok().stdout).unwrap();
    let next = doc["jobs"][0]["next_run"].as_str().unwrap();
    // 02:30 Berlin time, with Berlin's offset (+01:00 in winter, +02:00 in summer).
    assert!(
        next.ends_with("T02:30:00+01:00") || next.ends_with("T02:30:00+02:00"),
        "{next}"
    );
}

#[test]
fn config_check_lists_every_problem_at_once() {
    let dir = scratch();
    std::fs::write(
        dir.path().join("ozgsync.toml"),
        "[fetch]\nmax_retries = \"x\"\n\
         [[source]]\nname = \"a\"\nkind = \"leika\"\nlocation = \"http://example.org/l.csv\"\nschedule = \"every night\"\n\
         [[source]]\nname = 7\nkind = \"leika\"\nlocation = \"l.csv\"\n",
    )
    .unwrap();
    let run = run_in(dir.path(), &["config", "check"]);
    run.assert_code(1);
    assert!(run.stderr.contains("max_retries"), "{run:#?}");
    assert!(run.stderr.contains("source[1]"), "{run:#?}");

    // Once the types are right, the values: the schedule names the accepted
    // forms, and a plain-http location is refused as sync would.
    std::fs::write(
        dir.path().join("ozgsync.toml"),
        "[[source]]\nname = \"a\"\nkind = \"leika\"\nlocation = \"http://example.org/l.csv\"\nschedule = \"every night\"\n",
    )
    .unwrap();
    let run = run_in(dir.path(), &["config", "check"]);
    run.assert_code(1);
    assert!(run.stderr.contains("5 fields"), "{run:#?}");
    std::fs::write(
        dir.path().join("ozgsync.toml"),
        "[[source]]\nname = \"a\"\nkind = \"leika\"\nlocation = \"http://example.org/l.csv\"\n",
    )
    .unwrap();
    let run = run_in(dir.path(), &["config", "check"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("source[0].location: plain http"),
        "{run:#?}"
    );
}

#[test]
fn the_example_config_documents_every_key() {
    let example_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ozgsync.example.toml");
    let example = std::fs::read_to_string(&example_path).unwrap();
    let dir = scratch();
    let run = support::collect(
        command(dir.path())
            .arg("--config")
            .arg(&example_path)
            .args(["config", "check"]),
    );
    let effective = &run.assert_ok().stdout;
    // What the effective config prints, plus the optional keys it prints only
    // when they are set.
    let printed = effective
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim().to_owned()));
    let optional = [
        "database",
        "mode",
        "max_retire_share",
        "credentials",
        "after",
        "file_mode",
        "dir_mode",
    ]
    .map(String::from);
    for key in printed.chain(optional) {
        let documented = example.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}="))
        });
        assert!(documented, "{key} is not in deploy/ozgsync.example.toml");
    }
}
