//! Bounded work on any input, through the real binary: conditional-GET validators
//! stay with the URL that sent them, `status import` refuses endless lines and huge
//! notes in bounded memory, and `query` ends by itself (time limit, value size,
//! temporary space) and streams every format.

use std::sync::{Arc, Mutex};

use super::support::{self, Reply};

/// A source moved to another URL whose server happens to hand out the same ETag
/// (version counters do that): the new URL must be fetched in full, not answered
/// 304 with the old URL's data kept as if it were the new one's.
#[test]
fn validators_belong_to_the_url_they_came_from() {
    let old = std::fs::read(support::fixture("leika/leika_sample_nrw2019.csv")).unwrap();
    let new = std::fs::read(support::fixture("leika/leika_release2.csv")).unwrap();
    // (path, If-None-Match) of every request
    type Seen = Vec<(String, Option<String>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let log = Arc::clone(&seen);
    let server = support::serve(move |path, headers| {
        let inm = headers
            .iter()
            .find(|(n, _)| n == "if-none-match")
            .map(|(_, v)| v.clone());
        log.lock().unwrap().push((path.to_owned(), inm.clone()));
        if inm.as_deref() == Some("\"v1\"") {
            return Reply::status(304, "").header("ETag", "\"v1\"");
        }
        let body = if path == "/old.csv" { &old } else { &new };
        Reply::ok(body.clone()).header("ETag", "\"v1\"")
    });
    let dir = support::scratch();
    let db = dir.path().join("ozgsync.db");
    let import = |path: &str| {
        let url = format!("{}{path}", server.base);
        support::run_db(&db, &["import", "leika", &url, "--allow-http"])
    };
    import("/old.csv").assert_ok();
    // the same URL again: conditional, 304, unchanged
    import("/old.csv").assert_ok();
    // moved: fetched without the old validators, and applied
    import("/new.csv").assert_ok();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            ("/old.csv".to_owned(), None),
            ("/old.csv".to_owned(), Some("\"v1\"".to_owned())),
            ("/new.csv".to_owned(), None),
        ]
    );
    let releases = support::run_db(
        &db,
        &[
            "query",
            "SELECT status FROM releases ORDER BY release_id",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        releases.assert_ok().stdout,
        "status\napplied\nunchanged\napplied\n"
    );
}

/// Runs `cmd` to its end while sampling the child's peak resident memory (VmHWM in
/// /proc, which the kernel keeps as a high-water mark, so sampling cannot miss the
/// peak as long as one sample lands before the exit). Returns the run and the peak
/// in KiB.
fn run_measured(cmd: &mut std::process::Command) -> (support::Run, u64) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    // Pipes are drained by threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).map(|_| s).unwrap_or_default()
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).map(|_| s).unwrap_or_default()
    });
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                peak = peak.max(kib);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let run = support::Run {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    (run, peak)
}

/// A 50 MB line, as the header or as a data row, or 50 MB of short lines inside one
/// quoted cell, is refused with its line number after reading at most the cap, in
/// memory far below the file's size.
#[test]
fn status_import_of_an_endless_line_is_refused_in_bounded_memory() {
    let dir = support::scratch();
    let db = support::leika_db(dir.path());
    let huge = "x".repeat(50 * 1024 * 1024);
    let cases = [
        ("header.csv", huge.clone(), "line 1 is longer than 1048576 bytes"),
        (
            "row.csv",
            format!("Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung\n99041006017000;032410001001;pilot;2024-03-01;{huge}"),
            "line 2 is longer than 1048576 bytes",
        ),
        // short lines, all inside one cell whose quote never closes
        (
            "quote.csv",
            format!(
                "Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung\n99041006017000;032410001001;pilot;2024-03-01;\"{}",
                "ten bytes\n".repeat(5 * 1024 * 1024)
            ),
            "the record starting on line 2 is longer than 1048576 bytes over several lines",
        ),
    ];
    for (name, text, expected) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let mut cmd = support::command(dir.path());
        cmd.arg("--db")
            .arg(&db)
            .args(["status", "import", file.to_str().unwrap(), "--by", "test"]);
        let (run, peak_kib) = run_measured(&mut cmd);
        assert!(!run.ok(), "{name}: {run:#?}");
        assert!(run.stderr.contains(expected), "{name}: {}", run.stderr);
        // the old reader held the file, its decoded copy and the record: > 150 MB
        assert!(peak_kib < 60 * 1024, "{name}: peak {peak_kib} KiB");
    }
    assert_eq!(status_events(&db), 0, "nothing recorded");
}

/// A note of a few KB is a remark; 100 KB is a document and is refused with its
/// line and column, and nothing is recorded.
#[test]
fn status_import_refuses_a_huge_note_with_line_and_column() {
    let dir = support::scratch();
    let db = support::leika_db(dir.path());
    let text = format!(
        "Leistungsschluessel;Ressort;Status;Gueltig ab;Bemerkung\n99001001002000;MI;pilot;2024-03-01;{}\n",
        "n".repeat(100 * 1024)
    );
    let (run, file) = import_file(&db, &["status", "import"], "notes.csv", &text);
    // Refused data is a failed run (1), not a usage error (2): README "Exit codes".
    run.assert_code(1);
    assert_eq!(
        run.stderr,
        format!(
            "{file}: line 2, column Bemerkung (\"{note}…\"): 102400 bytes is longer than the 4096 bytes a remark may have; shorten it or put a link to a document\n\
             error: {file}: 1 error(s) in 1 of 1 rows; nothing was applied (no row is valid; fix the rows)\n",
            file = file.display(),
            note = "n".repeat(80)
        )
    );
    assert_eq!(status_events(&db), 0, "nothing recorded");
}

/// Writes `text` as `name` beside `db` and runs `command FILE --by test` on it.
fn import_file(
    db: &std::path::Path,
    command: &[&str],
    name: &str,
    text: &str,
) -> (support::Run, std::path::PathBuf) {
    let file = db.with_file_name(name);
    std::fs::write(&file, text).unwrap();
    let mut args = command.to_vec();
    args.extend([file.to_str().unwrap(), "--by", "test"]);
    (support::run_db(db, &args), file)
}

/// How many status events the database holds.
fn status_events(db: &std::path::Path) -> u64 {
    let run = support::run_db(
        db,
        &[
            "query",
            "SELECT count(*) FROM status_events",
            "--format",
            "csv",
        ],
    );
    run.assert_ok()
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

/// `WITH RECURSIVE` counting to 10^9 as a query: `--timeout` stops it.
const ENDLESS: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c";

/// The first `n` integers as a query, with `select` over them (column `x`).
fn series(n: u64, select: &str) -> String {
    format!("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT {select} FROM c")
}

#[test]
fn query_of_an_endless_recursive_cte_ends_by_itself() {
    let dir = support::scratch();
    let db = support::leika_db(dir.path());
    let started = std::time::Instant::now();
    let run = support::run_db(&db, &["query", "--timeout", "1", ENDLESS]);
    run.assert_code(1);
    assert!(
        run.stderr.contains(
            "query stopped: it ran longer than the time limit of 1 s (--timeout); narrow it (WHERE, LIMIT, a bound on a recursive CTE) or raise --timeout (0 = no limit)"
        ),
        "{}",
        run.stderr
    );
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
}

/// Only SQLite's work counts: a reader that takes longer than the limit to read
/// the output (a pager) does not make the query fail.
#[test]
fn query_time_limit_does_not_count_a_slow_reader() {
    use std::io::Read;
    let dir = support::scratch();
    let db = support::leika_db(dir.path());
    // ~300 KB of CSV: more than a pipe holds, so the child waits for us; SQLite's
    // own work on it takes milliseconds, far inside the limit even on a busy machine
    let sql = series(20_000, "x, 'abcdefghij' AS y");
    let mut child = support::command(dir.path())
        .arg("--db")
        .arg(&db)
        .args(["query", "--timeout", "2", "--format", "csv", &sql])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3000));
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{err}");
    assert_eq!(out.lines().count(), 20_001);
    assert!(out.ends_with("20000,abcdefghij\n"));
}

/// `randomblob(999999999)` took 5.9 GB; now SQLite's heap limit refuses it.
#[test]
fn query_of_a_giant_value_hits_the_memory_limit() {
    let dir = support::scratch();
    let db = support::leika_db(dir.path());
    let mut cmd = support::command(dir.path());
    cmd.arg("--db")
        .arg(&db)
        .args(["query", "SELECT randomblob(999999999) AS b"]);
    let (run, peak_kib) = run_measured(&mut cmd);
    run.assert_code(1);
    assert!(
        run.stderr.contains(
            "query stopped: it needs more than the memory limit of 512 MiB (--max-memory)"
        ),
        "{}",
        run.stderr
    );
    assert!(peak_kib < 100 * 1024, "peak {peak_kib} KiB");
}

/// A DISTINCT over more rows than the memory limit holds stops with the limit
/// named instead of writing gigabytes of temporary files: sorts are kept in memory
/// (`temp_store = MEMORY`), where the heap limit counts them.
#[test]
fn query_sorting_beyond_the_memory_limit_stops_with_a_clear_message() {
    let dir = support::scratch();
    let db = support::leika_db(dir.path());
    let sql = format!(
        "SELECT count(*) FROM ({})",
        series(2_000_000, "DISTINCT x || 'abcdefghij'")
    );
    let run = support::run_db(&db, &["query", "--max-memory", "16", &sql]);
    run.assert_code(1);
    assert!(
        run.stderr.contains(
            "query stopped: it needs more than the memory limit of 16 MiB (--max-memory) for sorting, DISTINCT, GROUP BY, temporary results or a large value; narrow it, or raise --max-memory (0 = no limit; large sorts then go to temporary files)"
        ),
        "{}",
        run.stderr
    );
    // the same query within a limit that holds it
    let run = support::run_db(
        &db,
        &["query", "--format", "csv", &sql.replace("2000000", "1000")],
    );
    assert_eq!(run.assert_ok().stdout, "count(*)\n1000\n");
}

/// The default table format streams: widths come from the first 200 rows, later
/// wider cells are cut with `…`, and half a million rows need no more memory than a few.
#[test]
fn query_table_streams_in_bounded_memory() {
    let dir = support::scratch();
    let db = support::leika_db(dir.path());
    let sql = series(500_000, "x, hex(zeroblob(50)) AS filler");
    let mut cmd = support::command(dir.path());
    cmd.arg("--db").arg(&db).args(["query", &sql]);
    let (run, peak_kib) = run_measured(&mut cmd);
    run.assert_ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 500_001);
    let filler = "0".repeat(80 - 1) + "…";
    assert_eq!(lines[0], "x    filler");
    assert_eq!(lines[200], format!("200  {filler}"));
    assert_eq!(lines[500_000], format!("50…  {filler}"));
    // holding every row, as the table did before, costs ~250 bytes a row here (125 MB)
    assert!(peak_kib < 60 * 1024, "peak {peak_kib} KiB");
}

/// A value longer than the cell cap is cut in every format, and stderr says so.
#[test]
fn query_cuts_giant_cells_and_keeps_the_column_order() {
    let dir = support::scratch();
    let db = support::leika_db(dir.path());
    let run = support::run_db(
        &db,
        &[
            "query",
            "--format",
            "ndjson",
            "SELECT 2 AS zweite, hex(zeroblob(600000)) AS lang, zeroblob(600000) AS roh, 1 AS erste",
        ],
    );
    run.assert_ok();
    let cut = format!("\"{}…\"", "0".repeat(1024 * 1024));
    assert_eq!(
        run.stdout,
        format!("{{\"zweite\":2,\"lang\":{cut},\"roh\":{cut},\"erste\":1}}\n")
    );
    assert!(
        run.stderr.contains(
            "warning: 2 value(s) longer than 1048576 bytes were cut (they end in …); read them in parts with substr(column, start, length)"
        ),
        "{}",
        run.stderr
    );
}

/// `status set --note` takes the same remark bound as a report's `Bemerkung`.
#[test]
fn status_set_refuses_a_huge_note() {
    let dir = support::scratch();
    let db = support::leika_db(dir.path());
    let note = "n".repeat(5000);
    let run = support::run_db(
        &db,
        &[
            "status",
            "set",
            "99001001002000",
            "--ressort",
            "MI",
            "--status",
            "pilot",
            "--on",
            "2024-03-01",
            "--note",
            &note,
            "--by",
            "test",
        ],
    );
    run.assert_code(2);
    assert_eq!(
        run.stderr,
        format!(
            "error: --note \"{}…\": 5000 bytes is longer than the 4096 bytes a remark may have; shorten it or put a link to a document\n",
            "n".repeat(80)
        )
    );
    assert_eq!(status_events(&db), 0, "nothing recorded");
}

/// Annotation sheets share the remark bound: a 10 KB Bemerkung is refused with its
/// line and column, and the sheet applies nothing.
#[test]
fn annotation_import_refuses_a_huge_remark() {
    let dir = support::scratch();
    let db = support::leika_db(dir.path());
    let text = format!(
        "Leistungsschlüssel;Bemerkung\n99001001002000;kurz\n99001006000000;{}\n",
        "n".repeat(10 * 1024)
    );
    let (run, _) = import_file(&db, &["annotations", "import"], "sheet.csv", &text);
    run.assert_code(1);
    assert!(
        run.stderr.contains(
            "line 3, column Bemerkung: 10240 bytes is longer than the 4096 bytes a remark may have; shorten it or put a link to a document"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("nothing applied"), "{}", run.stdout);
}
