//! The hostile tester's list of session 10, each through the real binary: what
//! session 9 left open (a failure another try cannot mend was retried, a LeiKa
//! column named twice, `--out .` naming a folder that is then refused) and what
//! the eighth round's sweep found.

use super::support::{self, scratch};

/// A config that retries up to 3 times with hardly any wait.
fn quick_retries(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("ozgsync.toml");
    std::fs::write(&config, "[fetch]\nmax_retries = 3\nbackoff_base_ms = 1\n").unwrap();
    config
}

fn import_leika(db: &std::path::Path, config: &std::path::Path, url: &str) -> support::Run {
    support::run_db(
        db,
        &[
            "--config",
            config.to_str().unwrap(),
            "import",
            "leika",
            "--allow-http",
            url,
        ],
    )
}

/// A server answering with 500 header lines ("message head is too large"), and an
/// https URL whose port speaks plain HTTP (the TLS handshake fails): each was
/// retried like a network fault (5 attempts by default) although another try gets
/// the same answer. Each is now tried once, saying so and what to do; a 408
/// (the server timed out waiting for the request) is retried like a 429.
#[test]
fn a_failure_another_try_cannot_mend_is_tried_once_and_says_what_to_do() {
    let dir = scratch();
    let config = quick_retries(dir.path());
    let db = dir.path().join("x.db");

    let server = support::raw_server(|_, _| {
        let mut head = String::from("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
        for i in 0..500 {
            head.push_str(&format!("X-Filler-{i}: {i}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    });
    let run = import_leika(&db, &config, &format!("{}/leika.csv", server.base));
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("cannot be read as HTTP (message head is too large)")
            && run.stderr.contains("another try would get the same answer")
            && run.stderr.contains("after 1 attempt)"),
        "{run:#?}"
    );
    assert_eq!(server.requests(), 1, "not retried: {run:#?}");

    let plain = support::raw_server(|_, _| {
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
    });
    let run = import_leika(
        &db,
        &config,
        &format!("https://127.0.0.1:{}/leika.csv", plain.port),
    );
    run.assert_code(1);
    assert!(
        run.stderr.contains("the TLS handshake failed")
            && run.stderr.contains("another try would fail the same way")
            && run.stderr.contains("serve https (not plain http)"),
        "{run:#?}"
    );
    assert_eq!(plain.requests(), 1, "not retried: {run:#?}");
    assert!(!db.exists() || support::rows(&db, "SELECT count(*) FROM v_releases") == ["0"]);

    // 408 once, then the file: applied on the second attempt.
    let body = std::fs::read(support::fixture("leika/leika_sample_nrw2019.csv")).unwrap();
    let timed_out = support::raw_server(move |n, _| match n {
        1 => b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .to_vec(),
        _ => [
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
            &body,
        ]
        .concat(),
    });
    let run = import_leika(&db, &config, &format!("{}/leika.csv", timed_out.base));
    run.assert_ok();
    assert!(run.stdout.contains("release 1 applied"), "{run:#?}");
    assert_eq!(timed_out.requests(), 2, "{run:#?}");
}

/// A LeiKa file whose header names a column twice (a spreadsheet's copied column,
/// a merged export) was read from the first of the two without a word, whatever
/// the second said. Now the header gets a warning naming the column and both
/// fields; a row whose two values agree is applied, a row where they differ is
/// rejected naming both values (and its service keeps its previous version).
#[test]
fn a_leika_column_named_twice_is_warned_of_and_a_row_that_disagrees_is_rejected() {
    let dir = scratch();
    let file = dir.path().join("leika.csv");
    std::fs::write(
        &file,
        "Schluessel;Bezeichnung;Typ;Bezeichnung\n\
         99088026034000;Abendrealschule Aufnahme;4;Abendrealschule Aufnahme\n\
         99001001000000;Fischereischein Erteilung;1;Jagdschein Erteilung\n",
    )
    .unwrap();
    let db = dir.path().join("x.db");
    let run = support::run_db(&db, &["import", "leika", file.to_str().unwrap()]);
    run.assert_ok();
    assert!(
        run.stdout.contains("1 added") && run.stdout.contains("1 rejected, 1 warnings"),
        "{run:#?}"
    );
    let run = support::run_db(&db, &["rejects", "1"]);
    assert!(
        run.stdout
            .contains("the header names the column Bezeichnung twice, as field 2 and field 4"),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains(
            "this row gives it two values: 'Fischereischein Erteilung' (field 2) and \
             'Jagdschein Erteilung' (field 4)"
        ),
        "{run:#?}"
    );
    assert_eq!(
        support::rows(&db, "SELECT bezeichnung FROM v_services ORDER BY 1"),
        ["Abendrealschule Aufnahme"],
        "{run:#?}"
    );
}

/// `export dashboards --out .` run in the database's folder suggested `--out
/// /that/folder`, which is then refused because the folder holds the database;
/// likewise a folder of other files. The suggestion is now a folder of its own
/// below it, and that one works.
#[test]
fn dashboards_into_dot_suggest_a_folder_that_is_then_accepted() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let here = dir.path().canonicalize().unwrap();
    let db_arg = db.to_str().unwrap();
    let suggested = |stderr: &str| {
        let at = stderr.rfind("--out ").expect("a suggestion");
        stderr[at + 6..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let run = support::run_in(
        &here,
        &["--db", db_arg, "export", "dashboards", "--out", "."],
    );
    run.assert_code(2);
    assert!(run.stderr.contains("holds a database"), "{run:#?}");
    let target = suggested(&run.stderr);
    assert_eq!(
        target,
        here.join("dashboards").to_str().unwrap(),
        "{run:#?}"
    );
    support::run_in(
        &here,
        &["--db", db_arg, "export", "dashboards", "--out", &target],
    )
    .assert_ok();
    assert!(here.join("dashboards/index.json").is_file());

    // A folder of other files: the folder itself would be refused too.
    let docs = here.join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("notes.txt"), "mine").unwrap();
    let run = support::run_in(
        &docs,
        &["--db", db_arg, "export", "dashboards", "--out", "."],
    );
    run.assert_code(2);
    assert!(
        run.stderr.contains("files ozgsync did not write"),
        "{run:#?}"
    );
    let target = suggested(&run.stderr);
    support::run_in(
        &docs,
        &["--db", db_arg, "export", "dashboards", "--out", &target],
    )
    .assert_ok();
    assert_eq!(std::fs::read(docs.join("notes.txt")).unwrap(), b"mine");
}

/// A chunked body with a bad chunk size ("ZZ", or one overflowing 64 bits) was
/// "body broken off … check the network", retried: it is the server's framing,
/// the same every time; now tried once, saying so.
#[test]
fn a_chunked_body_with_a_bad_chunk_size_is_tried_once() {
    let dir = scratch();
    let config = quick_retries(dir.path());
    let db = dir.path().join("x.db");
    for size in ["ZZ", "ffffffffffffffffff"] {
        let server = support::raw_server(move |_, _| {
            format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nabc\r\n0\r\n\r\n"
            )
            .into_bytes()
        });
        let run = import_leika(&db, &config, &format!("{}/leika.csv", server.base));
        run.assert_code(1);
        assert!(
            run.stderr
                .contains("the server's body is not valid HTTP after 0 bytes")
                && run.stderr.contains("chunk size")
                && run.stderr.contains("another try would get the same answer"),
            "{size}: {run:#?}"
        );
        assert_eq!(server.requests(), 1, "{size}: not retried: {run:#?}");
    }
}

/// A redirect to a server that cannot be reached said "http://first/x: cannot
/// connect", naming the server that answered fine; and a redirect to `file://`
/// said "HTTP 302 (unexpected redirect answer; use the final URL directly)"
/// without saying where to. Both now name where the redirect pointed.
#[test]
fn a_redirect_that_fails_names_where_it_pointed() {
    let dir = scratch();
    let config = quick_retries(dir.path());
    let db = dir.path().join("x.db");
    // A port nobody listens on: bound, then closed.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    for (to, says) in [
        (
            format!("http://127.0.0.1:{dead_port}/moved.csv"),
            format!("cannot connect to http://127.0.0.1:{dead_port}/moved.csv, where the server redirected"),
        ),
        (
            "file:///etc/passwd".to_owned(),
            "HTTP 302 (a redirect to file:///etc/passwd, which is not followed".to_owned(),
        ),
    ] {
        let location = to.clone();
        let server = support::raw_server(move |_, _| {
            format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
                .into_bytes()
        });
        let run = import_leika(&db, &config, &format!("{}/leika.csv", server.base));
        run.assert_code(1);
        assert!(run.stderr.contains(&says), "{to}: {run:#?}");
    }
}

/// Two LeiKa files joined with `cat a.csv b.csv` bring the second one's BOM into
/// the middle: its first row was "Schluessel '99088026034001' is not a 14-digit
/// Leistungsschlüssel", the BOM invisible in the key quoted. A key Excel turned
/// into `9,9088E+13` got the same bare words. Each now names the cause.
#[test]
fn a_key_spoilt_by_an_invisible_cause_names_it() {
    let dir = scratch();
    let file = dir.path().join("leika.csv");
    std::fs::write(
        &file,
        "\u{FEFF}Schluessel;Bezeichnung;Typ\n99088026034000;A;4\n\
         \u{FEFF}99088026034001;B;4\n9,9088E+13;C;4\n",
    )
    .unwrap();
    let db = dir.path().join("x.db");
    let run = support::run_db(&db, &["import", "leika", file.to_str().unwrap()]);
    run.assert_ok();
    assert!(
        run.stdout.contains("1 added") && run.stdout.contains("2 rejected"),
        "{run:#?}"
    );
    let run = support::run_db(&db, &["rejects", "1"]);
    assert!(
        run.stdout.contains(
            "Schluessel '99088026034001' is not a 14-digit Leistungsschlüssel: it starts with \
             an invisible byte-order mark (U+FEFF)"
        ) && run.stdout.contains("(cat a.csv b.csv)"),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains(
            "Schluessel '9,9088E+13' is not a 14-digit Leistungsschlüssel: a spreadsheet \
             turned it into a number in scientific notation"
        ),
        "{run:#?}"
    );
}

/// A GV100AD file with a NUL byte inside a later line (a damaged copy) was
/// applied with the NUL inside the Gemeinde's name ("Salzgitt\0r, Stadt"), no
/// reject; only a NUL in the first line was caught. That line is now rejected
/// naming the column, the rest applied.
#[test]
fn a_nul_byte_inside_a_gv100ad_line_rejects_that_line() {
    let dir = scratch();
    let whole = std::fs::read(support::fixture("gv100ad/GV100AD_30112025_NI.txt")).unwrap();
    let mut lines: Vec<Vec<u8>> = whole.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    lines[5][30] = 0;
    let file = dir.path().join("gv.txt");
    std::fs::write(&file, lines.join(&b'\n')).unwrap();
    let db = dir.path().join("x.db");
    let run = support::run_db(&db, &["import", "gv100ad", file.to_str().unwrap()]);
    run.assert_ok();
    assert!(run.stdout.contains("1 rejected"), "{run:#?}");
    let run = support::run_db(&db, &["rejects", "1"]);
    assert!(
        run.stdout.contains("line 6") && run.stdout.contains("a NUL byte at column 31"),
        "{run:#?}"
    );
    assert_eq!(
        support::rows(
            &db,
            "SELECT count(*) FROM v_municipalities WHERE instr(name, char(0)) > 0"
        ),
        ["0"]
    );
}

/// `query --format json` (and `ndjson`) of a result whose columns share a name
/// (`SELECT s.*, a.*` of a join) wrote `{"a":1,"a":2}`: JSON readers keep one of
/// the two without a word. Refused before any object is written, naming the
/// columns and the way out; a result without rows likewise; CSV keeps both.
#[test]
fn a_json_query_whose_columns_share_a_name_is_refused() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    for format in ["json", "ndjson"] {
        for sql in ["SELECT 1 AS a, 2 AS a", "SELECT 1 AS a, 2 AS a WHERE 0"] {
            let run = support::run_db(&db, &["query", "--format", format, sql]);
            run.assert_code(1);
            assert!(
                run.stderr
                    .contains("the result has two columns named \"a\" (columns 1 and 2)"),
                "{format} {sql}: {run:#?}"
            );
            assert!(!run.stdout.contains("\"a\""), "{format} {sql}: {run:#?}");
        }
    }
    let run = support::run_db(&db, &["query", "--format", "json", "SELECT 1 AS a WHERE 0"]);
    run.assert_ok();
    assert_eq!(run.stdout, "[]\n");
    let run = support::run_db(&db, &["query", "--format", "csv", "SELECT 1 AS a, 2 AS a"]);
    run.assert_ok();
    assert_eq!(run.stdout, "a,a\n1,2\n");
}
