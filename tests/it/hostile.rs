//! Hostile and broken files through the real binary, one table row per file of
//! `fixtures/hostile/` (see its README) plus generated giants (a 50 MB field, 100,000
//! levels of nesting) that are too big to commit. Every case: no panic, a message
//! that names the file, and either the release refused with the database exactly as
//! before, or (where a bad row is the expectation) a release with rejects.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;

use rusqlite::Connection;
use sha2::{Digest, Sha256};

use super::support::{command, leika_db, root, run_db, scratch};

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Exit 1, stderr names the file and contains this text; nothing written.
    Refused(&'static str),
    /// Exit 0, a release with at least this many rejects.
    Rejects(i64),
}
use Expect::{Refused, Rejects};

const CASES: &[(&str, &str, Expect)] = &[
    ("leika", "leika_broken_quotes.csv", Rejects(1)),
    (
        "leika",
        "leika_mixed_encoding.csv",
        Refused("mixes encodings"),
    ),
    ("leika", "leika_wrong_columns.csv", Rejects(2)),
    ("leika", "leika_nul_bytes.csv", Refused("NUL bytes")),
    ("leika", "leika_only_nul.csv", Refused("NUL bytes")),
    ("xzufi", "xzufi_truncated.xml", Refused("truncated")),
    ("xzufi", "xzufi_doctype.xml", Refused("DOCTYPE not allowed")),
    (
        "xzufi",
        "xzufi_billion_laughs.xml",
        Refused("DOCTYPE not allowed"),
    ),
    (
        "xzufi",
        "xzufi_external_file.xml",
        Refused("never resolved"),
    ),
    (
        "xzufi",
        "xzufi_external_http.xml",
        Refused("never resolved"),
    ),
    (
        "xzufi",
        "xzufi_external_param.xml",
        Refused("never resolved"),
    ),
    ("xzufi", "xzufi_wrong_namespace.xml", Refused("namespace")),
    (
        "xzufi",
        "xzufi_wrong_version.xml",
        Refused("xzufiVersion is 1.0.0"),
    ),
    ("xzufi", "xzufi_undeclared_prefix.xml", Refused("namespace")),
    (
        "fim-api",
        "fim_api_wrong_types.json",
        Refused("holds no valid record"),
    ),
    (
        "fim-api",
        "fim_api_huge_numbers.json",
        Refused("number out of range"),
    ),
    (
        "fim-api",
        "fim_api_huge_exponent.json",
        Refused("number out of range"),
    ),
    (
        "fim-api",
        "fim_api_duplicate_keys.json",
        Refused("appears twice"),
    ),
    (
        "fim-api",
        "fim_api_not_array.json",
        Refused("must be an array"),
    ),
    (
        "efa",
        "efa_wrong_types.json",
        Refused("holds no valid record"),
    ),
    (
        "efa",
        "efa_huge_numbers.json",
        Refused("number out of range"),
    ),
    (
        "efa",
        "efa_huge_version.json",
        Refused("number out of range"),
    ),
    ("efa", "efa_duplicate_keys.json", Refused("appears twice")),
    (
        "efa",
        "efa_services_duplicate_after.json",
        Refused("appears twice"),
    ),
    ("gv100ad", "gv100ad_short_lines.txt", Rejects(3)),
    ("gv100ad", "gv100ad_wrong_record_types.txt", Rejects(3)),
    ("gv100ad", "gv100ad_not_utf8.txt", Rejects(1)),
    ("gv100ad", "gv100ad_latin1_whole.txt", Rejects(0)),
    ("gv100ad", "gv100ad_nul_bytes.txt", Rejects(1)),
];

/// A database with one release of every kind the cases attack, checkpointed so a
/// file copy is the whole state.
fn pristine(dir: &Path) -> PathBuf {
    let db = dir.join("pristine.db");
    for (kind, file) in [
        ("leika", "fixtures/leika/leika_sample_nrw2019.csv"),
        ("gv100ad", "fixtures/gv100ad/GV100AD_30112025_NI.txt"),
        ("efa", "fixtures/efa/release1.json"),
        ("xzufi", "fixtures/xzufi/transfer.xml"),
        ("fim-api", "fixtures/fim-api/steckbriefe_pull.json"),
        ("ozg", "fixtures/ozg/ozg_leistungen_nrw2019.csv"),
    ] {
        // leika, xzufi and fim-api feed the same service catalogue: each full
        // release replaces the previous one's services, a mass retirement allowed here.
        let out = run(&db, &["import", kind, file, "--max-retire-share", "1"]);
        assert!(out.status.success(), "{file}: {}", text(&out.stderr));
    }
    Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    db
}

/// `--db DB --quiet ARGS` in the repository root; the raw output.
fn run(db: &Path, args: &[&str]) -> Output {
    command(root())
        .arg("--db")
        .arg(db)
        .arg("--quiet")
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Integrity check plus a digest of every release, version and reject row.
fn state(db: &Path) -> String {
    let conn = Connection::open(db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let mut hasher = Sha256::new();
    for sql in [
        "SELECT key || '|' || valid_from || '|' || ifnull(valid_to, '') || '|' || data FROM record_versions ORDER BY 1",
        "SELECT release_id || '|' || source || '|' || status FROM releases ORDER BY release_id",
        "SELECT count(*) || '' FROM rejects",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            hasher.update(row.get::<_, String>(0).unwrap());
            hasher.update(b"\n");
        }
    }
    ozgsync::fetch::hex(&hasher.finalize())
}

/// Imports `file` as `kind` into a fresh copy of `pristine` and checks `expect`.
fn check(pristine: &Path, work: &Path, kind: &str, file: &Path, expect: Expect) {
    let db = work.join("case.db");
    for ext in ["db-wal", "db-shm"] {
        let _ = std::fs::remove_file(db.with_extension(ext));
    }
    std::fs::copy(pristine, &db).unwrap();
    let before = state(&db);
    // The retire guard is off: a hostile GV100AD file with a few valid lines would
    // otherwise be refused as a mass retirement (tested in cli.rs) before its bad
    // lines are reported, and the rejects are what these cases check.
    let out = run(
        &db,
        &[
            "import",
            kind,
            file.to_str().unwrap(),
            "--max-retire-share",
            "1",
        ],
    );
    let err = text(&out.stderr);
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(!err.contains("panicked"), "{name} panicked: {err}");
    match expect {
        Refused(says) => {
            assert_eq!(out.status.code(), Some(1), "{name}: {err}");
            assert!(
                err.contains(name),
                "{name}: message does not name the file: {err}"
            );
            assert!(err.contains(says), "{name}: expected {says:?} in: {err}");
            assert!(!err.contains("root:"), "{name} leaked /etc/passwd: {err}");
            assert_eq!(state(&db), before, "{name} changed the database");
        }
        Rejects(min) => {
            assert_eq!(out.status.code(), Some(0), "{name}: {err}");
            let conn = Connection::open(&db).unwrap();
            let rejects: i64 = conn
                .query_row(
                    "SELECT count(*) FROM rejects WHERE severity = 'reject'
                     AND release_id = (SELECT max(release_id) FROM releases)",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(
                rejects >= min,
                "{name}: {rejects} rejects, expected ≥ {min}"
            );
            let ok: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(ok, "ok");
        }
    }
}

#[test]
fn hostile_corpus_is_refused_or_rejected_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = pristine(dir.path());
    // External entities point at a listener of ours: a fetch would show as a
    // connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut seen = std::collections::HashSet::new();
    for &(kind, name, expect) in CASES {
        seen.insert(name);
        let source = Path::new("fixtures/hostile").join(name);
        let bytes = std::fs::read(&source).unwrap();
        let file = dir.path().join(name);
        let bytes = match String::from_utf8(bytes) {
            Ok(s) => s.replace("PORT", &port).into_bytes(),
            Err(e) => e.into_bytes(),
        };
        std::fs::write(&file, bytes).unwrap();
        check(&pristine, dir.path(), kind, &file, expect);
    }
    assert!(listener.accept().is_err(), "an external entity was fetched");
    // Every file of the corpus has a row in a table.
    seen.extend(STATUS_CASES.iter().map(|c| c.0));
    for entry in std::fs::read_dir("fixtures/hostile").unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            name == "README.md" || seen.contains(name.as_str()),
            "{name} has no case"
        );
    }
}

/// What `status import` must do with a hostile report.
#[derive(Debug, Clone, Copy)]
enum StatusExpect {
    /// Exit 1, stderr names the file and says this; no status event written.
    NotAReport(&'static str),
    /// Exit 1, stderr holds each of these (the bad rows by line and column);
    /// no status event written.
    BadRows(&'static [&'static str]),
    /// Exit 0 and this many events recorded.
    Recorded(i64),
    /// `--partial`: this many events recorded, yet exit 1 (rows were refused), as
    /// the sheet imports do.
    PartlyRecorded(i64),
}

/// Status reports of `fixtures/hostile/`: file, `--partial`, expectation.
const STATUS_CASES: &[(&str, bool, StatusExpect)] = &[
    (
        "status_short_year.csv",
        false,
        StatusExpect::BadRows(&[
            "line 3, column Gueltig ab (\"01.05.24\"): not a date",
            "four-digit year",
            "1 error(s) in 1 of 2 rows",
        ]),
    ),
    // Before the year had to be four digits, year 0 passed validation and the
    // store's CHECK then failed the whole import with SQLite's message.
    (
        "status_year_zero.csv",
        true,
        StatusExpect::PartlyRecorded(1),
    ),
    // With --partial the one good row is recorded, and the exit code says that
    // seven were not.
    (
        "status_bad_cells.csv",
        true,
        StatusExpect::PartlyRecorded(1),
    ),
    // Only bad rows: --partial has nothing to apply, so it is a refusal.
    (
        "status_all_bad.csv",
        true,
        StatusExpect::BadRows(&[
            "line 2, column Status (\"live\")",
            "2 error(s) in 2 of 2 rows; nothing was applied (no row is valid; fix the rows)",
        ]),
    ),
    // An export cut after its header: refused like an empty LeiKa payload, not
    // "0 status event(s) recorded" with exit 0.
    (
        "status_header_only.csv",
        false,
        StatusExpect::NotAReport("holds the header line but no rows; nothing was recorded"),
    ),
    (
        "status_header_only.csv",
        true,
        StatusExpect::NotAReport("holds the header line but no rows"),
    ),
    (
        "status_unclosed_quote.csv",
        false,
        StatusExpect::NotAReport("line 2: a quote (\") there is never closed"),
    ),
    (
        "status_html_error_page.csv",
        false,
        StatusExpect::NotAReport("header line"),
    ),
    (
        "status_gzip.csv",
        false,
        StatusExpect::NotAReport("the file is gzip-compressed (.gz): unpack it"),
    ),
    (
        "status_nul_bytes.csv",
        false,
        StatusExpect::NotAReport("NUL byte"),
    ),
    // Excel's "Unicode Text": it was "binary data (NUL byte)", true but no help.
    (
        "status_utf16.csv",
        false,
        StatusExpect::NotAReport("the file is UTF-16 text (Excel's \"Unicode Text\""),
    ),
    (
        "status_empty.csv",
        false,
        StatusExpect::NotAReport("the file is empty"),
    ),
    (
        "status_bad_cells.csv",
        false,
        StatusExpect::BadRows(&[
            "line 2, column Leistungsschluessel (\"9900100100200\")",
            "line 3, column Leistungsschluessel (\"99001001002000X\")",
            "line 4, column ARS (\"03101000000\")",
            "line 5, column ARS (\"03101000000A\")",
            "line 6, column Status (\"live\")",
            "line 7, column Gueltig ab (\"2026-02-30\")",
            "line 8, column Gueltig ab (\"9999-12-31\"): date is in the future",
            "7 error(s) in 7 of 8 rows",
        ]),
    ),
    (
        "status_bom_crlf_same_day.csv",
        false,
        StatusExpect::Recorded(3),
    ),
];

/// Every status event, batch and current status, in order.
fn status_state(db: &Path) -> String {
    let conn = Connection::open(db).unwrap();
    let mut out = String::new();
    for sql in [
        "SELECT subject_kind || subject || scope_kind || scope || effective_on || event_id || status || ifnull(note, '-') || batch_id FROM status_events ORDER BY event_id",
        "SELECT batch_id || '|' || ifnull(last_event_id, '') FROM status_batches ORDER BY batch_id",
        "SELECT subject || scope || status || effective_on FROM status_current ORDER BY 1",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            out.push_str(&row.get::<_, String>(0).unwrap());
            out.push('\n');
        }
    }
    out
}

fn events(db: &Path) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row("SELECT count(*) FROM status_events", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn hostile_status_reports_are_refused_or_reported_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = pristine(dir.path());
    let db = dir.path().join("status.db");
    for &(name, partial, expect) in STATUS_CASES {
        for ext in ["db-wal", "db-shm"] {
            let _ = std::fs::remove_file(db.with_extension(ext));
        }
        std::fs::copy(&pristine, &db).unwrap();
        let before = (state(&db), status_state(&db));
        let file = root().join("fixtures/hostile").join(name);
        let mut args = vec![
            "status",
            "import",
            file.to_str().unwrap(),
            "--by",
            "hostile",
        ];
        if partial {
            args.push("--partial");
        }
        let out = run(&db, &args);
        let err = text(&out.stderr);
        assert!(!err.contains("panicked"), "{name} panicked: {err}");
        assert!(
            !err.contains("constraint"),
            "{name}: SQLite's message: {err}"
        );
        match expect {
            StatusExpect::NotAReport(says) => {
                assert_eq!(out.status.code(), Some(1), "{name}: {err}");
                assert!(
                    err.contains(name),
                    "{name}: message does not name the file: {err}"
                );
                assert!(err.contains(says), "{name}: expected {says:?} in: {err}");
                assert_eq!(
                    (state(&db), status_state(&db)),
                    before,
                    "{name} changed the database"
                );
            }
            StatusExpect::BadRows(says) => {
                assert_eq!(out.status.code(), Some(1), "{name}: {err}");
                assert!(
                    err.contains(name),
                    "{name}: message does not name the file: {err}"
                );
                for says in says {
                    assert!(err.contains(says), "{name}: expected {says:?} in: {err}");
                }
                assert_eq!(
                    (state(&db), status_state(&db)),
                    before,
                    "{name} changed the database"
                );
            }
            StatusExpect::Recorded(n) => {
                assert_eq!(out.status.code(), Some(0), "{name}: {err}");
                assert_eq!(events(&db) - events(&pristine), n, "{name}: {err}");
            }
            StatusExpect::PartlyRecorded(n) => {
                assert_eq!(out.status.code(), Some(1), "{name}: {err}");
                assert_eq!(events(&db) - events(&pristine), n, "{name}: {err}");
            }
        }
    }
    // The same-day correction wins (file order), its quoted CRLF note kept whole.
    let current: (String, String) = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT c.status, e.note FROM status_current c JOIN status_events e USING (event_id)
             WHERE c.subject = '99001001002000' AND c.scope = '031010000000'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        current,
        (
            "produktiv".to_owned(),
            "dann, am selben Tag,\nproduktiv".to_owned()
        )
    );
}

/// Writes `head`, then `count` copies of `unit`, then `tail`, without building the
/// whole text in memory.
fn generate(path: &Path, head: &str, unit: &str, count: usize, tail: &str) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(head.as_bytes()).unwrap();
    for _ in 0..count {
        f.write_all(unit.as_bytes()).unwrap();
    }
    f.write_all(tail.as_bytes()).unwrap();
    f.flush().unwrap();
}

/// The 50 MB field, for LeiKa; the other formats get a smaller giant that is
/// still several times their line bound (the test's wall time stays short).
const FIFTY_MB: usize = 50 * 1024 * 1024;
const FOUR_MB: usize = 4 * 1024 * 1024;

#[test]
fn generated_giants_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = pristine(dir.path());
    let leika_header = "Schluessel;Leistungsgruppierung;Leistungskennung;Verrichtung;Verrichtungsdetail;Bezeichnung;Bezeichnung2;Typ;Veröffentlichungsdatum;Besondere Merkmale;Synonyme\n";
    let gv_first = std::fs::read_to_string("fixtures/gv100ad/GV100AD_30112025_NI.txt")
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned()
        + "\n";
    let xml_root = "<?xml version=\"1.0\"?>\n<leistung xmlns=\"http://xoev.de/schemata/xzufi/2_2_0\" xzufiVersion=\"2.2.0\">";
    let deep = 100_000;
    let cases: Vec<(&str, &str, String, &str, usize, String, Expect)> = vec![
        (
            "leika",
            "field_50mb.csv",
            format!("{leika_header}99001001002000;;;;;"),
            "A",
            FIFTY_MB,
            ";;5;05.10.2019 14:38;;\n".into(),
            Refused("longer than 1048576 bytes"),
        ),
        (
            "efa",
            "field_50mb_efa.csv",
            "efa_id;name;ozg_ids;leistungsschluessel;themenfeld;federfuehrendes_land;betreiber;marktplatz_status;reifegrad_modell;reifegrad_stufe;kostenmodell;fit_connect;url;stand\nEFA-0001;".into(),
            "B",
            FOUR_MB,
            "\n".into(),
            Refused("longer than 1048576 bytes"),
        ),
        (
            "ozg",
            "field_50mb_ozg.csv",
            "ozg_id;ozg_leistung;lebenslage;themenfeld\n10001;\"".into(),
            "C",
            FOUR_MB,
            "\n".into(),
            Refused("longer than 1048576 bytes"),
        ),
        (
            "gv100ad",
            "line_50mb.txt",
            gv_first,
            "6",
            FOUR_MB,
            "\n".into(),
            Rejects(1),
        ),
        (
            "xzufi",
            "nested_100000.xml",
            xml_root.into(),
            "<a>",
            deep,
            "</leistung>".into(),
            Refused("nest deeper"),
        ),
        (
            "fim-api",
            "nested_100000.json",
            "[{\"items\": [{\"title\": ".into(),
            "[",
            deep,
            "]".repeat(deep) + "}]}]",
            Refused("recursion limit"),
        ),
        (
            "efa",
            "nested_100000_efa.json",
            "{\"format\": \"ozgsync-efa\", \"version\": 1, \"services\": [{\"name\": ".into(),
            "{\"a\":",
            deep,
            "1".to_owned() + &"}".repeat(deep) + "}]}",
            Refused("recursion limit"),
        ),
    ];
    for (kind, name, head, unit, count, tail, expect) in cases {
        let file = dir.path().join(name);
        generate(&file, &head, unit, count, &tail);
        check(&pristine, dir.path(), kind, &file, expect);
        std::fs::remove_file(&file).unwrap();
    }
}

/// FTS5's own syntax, broken syntax, giant and exotic text as search words: hits
/// or "nothing found" (exit 0), or "nothing to search for" (exit 1); never
/// SQLite's or FTS5's message, never a panic. Exotic spellings of real names find
/// them: the Turkish `İ` of a Turkish keyboard in caps lock, a combining umlaut,
/// the capital `ẞ`.
#[test]
fn hostile_search_text_finds_or_says_so_without_sql_errors() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let long = "a".repeat(10_000);
    let words = ["Stra"; 3_000].join(" ");
    let parens = "(".repeat(5_000) + "x";
    let near = ["\"a\" NEAR"; 2_000].join(" ");
    let queries = [
        "\"",
        "\"\"",
        "Abfall\"",
        "NEAR(Abfall Gebühr)",
        "NEAR(a b, 3)",
        "name:Abfall",
        "{name synonyms}:x",
        "- name:x",
        "*",
        "Abf*",
        "^Abfall",
        "(Abfall",
        "Abfall)",
        "AND",
        "OR OR",
        "NOT",
        "Abfall NOT",
        "-",
        "+",
        "😀",
        "👩‍👩‍👧",
        "ß",
        "ẞ",
        "İ",
        "\u{301}",
        "';--",
        "%_",
        "\\",
        &long,
        &words,
        &parens,
        &near,
    ];
    for q in queries {
        // `--`: text starting with `-` is the user's, not an option
        let run = run_db(&db, &["search", "--", q]);
        let shown: String = q.chars().take(40).collect();
        let err = run.stderr.to_lowercase();
        for leak in ["fts5", "syntax", "sql", "sqlite", "panicked", "error code"] {
            assert!(!err.contains(leak), "{shown:?} leaks {leak:?}: {run:#?}");
        }
        match run.code {
            Some(0) => {}
            Some(1) => assert!(err.contains("nothing to search for"), "{shown:?}: {run:#?}"),
            _ => panic!("{shown:?}: {run:#?}"),
        }
    }
    // `--limit 0` said "nothing found" for words that match.
    let run = run_db(&db, &["search", "Einbürgerung", "--limit", "0"]);
    run.assert_code(2);
    assert!(run.stderr.contains("--limit"), "{run:#?}");
    for (q, key) in [
        ("EİNBÜRGERUNG", "99099002000000"),
        ("Einbu\u{308}rgerung", "99099002000000"),
        ("STRAẞE", "99108022000000"),
    ] {
        let run = run_db(&db, &["search", q]);
        run.assert_ok();
        assert!(run.stdout.contains(key), "{q}: {run:#?}");
    }
}

/// An endless stream of NULs as a status report (`/dev/zero`; a copy that crashed
/// into gigabytes of sparse file reads the same): refused at the first NUL. The
/// encoding sniffer used to read the whole input before looking at what it found,
/// so this never ended. Killed after a minute, which only a hang reaches.
#[test]
fn an_endless_binary_report_is_refused_at_once() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let mut child = command(root())
        .arg("--db")
        .arg(&db)
        .args(["status", "import", "/dev/zero", "--by", "hostile"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("status import /dev/zero still reading after a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("/dev/zero") && err.contains("binary data (NUL byte)"),
        "{err}"
    );
}
