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

/// A 50 MB line, as the header or as a data row, is refused with its line number
/// after reading at most the line cap, in memory far below the file's size.
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
    let events = support::run_db(
        &db,
        &[
            "query",
            "SELECT count(*) AS n FROM status_events",
            "--format",
            "csv",
        ],
    );
    assert_eq!(events.assert_ok().stdout, "n\n0\n");
}

/// A note of a few KB is a remark; 100 KB is a document and is refused with its
/// line and column, and nothing is recorded.
#[test]
fn status_import_refuses_a_huge_note_with_line_and_column() {
    let dir = support::scratch();
    let db = support::leika_db(dir.path());
    let file = dir.path().join("notes.csv");
    std::fs::write(
        &file,
        format!(
            "Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung\n99041006017000;032410001001;pilot;2024-03-01;{}\n",
            "n".repeat(100 * 1024)
        ),
    )
    .unwrap();
    let run = support::run_db(
        &db,
        &["status", "import", file.to_str().unwrap(), "--by", "test"],
    );
    assert!(!run.ok(), "{run:#?}");
    assert!(
        run.stderr.contains("line 2, column Bemerkung (\"nnn")
            && run.stderr.contains(
                "102400 bytes is longer than the 4096 bytes a remark may have; shorten it or put a link to a document"
            ),
        "{}",
        run.stderr
    );
}
