//! The hostile tester's list of session 16 (the fourteenth round), each through the
//! real binary: what the thirteenth round left (a payload that is not the format,
//! imported into a new path, left an empty database), HTTP sources that misbehave,
//! hostile paths, and `--help` against README.

use super::support::{self, scratch};

/// `import` into a path where no database exists, of a download that fails (HTTP
/// 404) or of a payload that is not the format (`/etc/passwd` as LeiKa, as
/// GV100AD, as XZuFi: the last two find that out with their first item): the
/// thirteenth round left each with a new, empty database and its lock file, as
/// the fetch ran with the database open. The payload is now fetched and its start
/// checked before the database is created; the same path then takes a good
/// payload, and the next import of it is "unchanged" as before.
#[test]
fn a_payload_that_fails_leaves_no_new_database() {
    let dir = scratch();
    let db = dir.path().join("n.db");
    let server = support::serve(|_, _| support::Reply::status(404, "gone"));
    let missing = format!("{}/leika.csv", server.base);
    let run = support::run_db(&db, &["import", "leika", "--allow-http", &missing]);
    run.assert_code(1);
    assert!(run.stderr.contains("HTTP 404"), "{run:#?}");
    assert_eq!(
        support::files_starting_with(dir.path(), "n.db"),
        Vec::<String>::new(),
        "{run:#?}"
    );

    let passwd = dir.path().join("passwd");
    std::fs::write(
        &passwd,
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
    )
    .unwrap();
    let passwd = passwd.to_str().unwrap();
    for (kind, says) in [
        ("leika", "not a LeiKa CSV payload (line 1)"),
        ("gv100ad", "not a GV100AD payload (line 1)"),
        ("xzufi", "not an XZuFi 2.2.0 payload"),
        ("pvog", "not a Dashboard Digitale Verwaltung (PVOG)"),
    ] {
        let run = support::run_db(&db, &["import", kind, passwd]);
        run.assert_code(1);
        assert!(run.stderr.contains(says), "{kind}: {run:#?}");
        assert_eq!(
            support::files_starting_with(dir.path(), "n.db"),
            Vec::<String>::new(),
            "{kind}: {run:#?}"
        );
    }

    let good = support::fixture("leika/leika_release2.csv");
    let good = good.to_str().unwrap();
    let run = support::run_db(&db, &["import", "leika", good]);
    run.assert_ok();
    assert!(
        run.stdout.contains("release 1 applied: 614 added"),
        "{run:#?}"
    );
    let run = support::run_db(&db, &["import", "leika", good]);
    run.assert_ok();
    assert!(run.stdout.contains("unchanged (release 2)"), "{run:#?}");
}

/// A config with quick retries (three attempts, at most 2 s apart), for the
/// import to read its [fetch] limits from.
fn quick_retries(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("ozgsync.toml");
    std::fs::write(
        &config,
        "[fetch]\nmax_retries = 2\nbackoff_base_ms = 10\nmax_backoff_secs = 2\n",
    )
    .unwrap();
    config
}

fn import_url(dir: &std::path::Path, url: &str) -> support::Run {
    let config = quick_retries(dir);
    support::run_in(
        dir,
        &[
            "--config",
            config.to_str().unwrap(),
            "--db",
            "x.db",
            "import",
            "leika",
            "--allow-http",
            url,
        ],
    )
}

/// A redirect to `ftp://` said "invalid URL http://127.0.0.1:…/leika.csv:
/// builder error: URL scheme is not allowed", blaming the URL the user gave and
/// naming neither the redirect nor where it pointed. (A redirect to `file://`
/// was named already, the tenth round.) Now refused as a redirect, naming it.
#[test]
fn a_redirect_to_another_scheme_names_where_it_pointed() {
    let dir = scratch();
    for to in ["ftp://example.org/leika.csv", "gopher://example.org/1"] {
        let location = to.to_owned();
        let server = support::serve(move |_, _| {
            support::Reply::status(302, "").header("Location", &location)
        });
        let run = import_url(dir.path(), &format!("{}/leika.csv", server.base));
        run.assert_code(1);
        assert!(
            run.stderr.contains(&format!(
                "redirect refused: a redirect to {to}, which is not followed: only http and \
                 https locations are"
            )) && !run.stderr.contains("invalid URL"),
            "{to}: {run:#?}"
        );
        assert_eq!(server.hits("/leika.csv"), 1, "{to}: not retried");
    }
}

/// A server answering 429 or 503 with a `Retry-After` longer than
/// `fetch.max_backoff_secs` (an hour; a maintenance window given as a date) was
/// asked again after the capped backoff, every attempt, against its word, and
/// the error said only "gave up after 3 attempts, try again later". Now it is not
/// asked again sooner than it said: one request, and the error names the wait,
/// the setting and the time to try again.
#[test]
fn a_retry_after_longer_than_the_backoff_is_not_overridden() {
    let dir = scratch();
    for (status, wait, says) in [
        (
            429,
            "3600",
            "rate limited; the server asks for 3600 s before the next try",
        ),
        (
            503,
            "Wed, 21 Oct 2099 07:28:00 GMT",
            "server error; the server asks for ",
        ),
    ] {
        let server = support::serve(move |_, _| {
            support::Reply::status(status, "later").header("Retry-After", wait)
        });
        let run = import_url(dir.path(), &format!("{}/leika.csv", server.base));
        run.assert_code(1);
        assert!(
            run.stderr.contains(says)
                && run.stderr.contains(
                    "(Retry-After), longer than fetch.max_backoff_secs (2 s), so it was not asked again sooner; gave up after 1 attempt, try again after "
                ),
            "{status}: {run:#?}"
        );
        assert_eq!(server.hits("/leika.csv"), 1, "{status}: asked once");
    }
    // Within the backoff the wait is kept, and the error says it was asked for.
    let server = support::serve(|_, _| support::Reply::status(429, "").header("Retry-After", "1"));
    let run = import_url(dir.path(), &format!("{}/leika.csv", server.base));
    run.assert_code(1);
    assert!(
        run.stderr.contains(
            "rate limited; gave up after 3 attempts (the server last asked for 1 s between tries, Retry-After)"
        ),
        "{run:#?}"
    );
    assert_eq!(server.hits("/leika.csv"), 3);
}

/// A database path holding a line break: the error printed the break, and the
/// rest of the name on an indented line of its own, as if the message went on
/// ("database a⏎  c.db: does not exist"). A path in a message now shows it as
/// `\n`, as every other text ozgsync prints shows a control character.
#[test]
fn a_line_break_in_a_path_is_shown_as_an_escape() {
    let dir = scratch();
    let run = support::run_in(dir.path(), &["--db", "a\nc.db", "releases"]);
    run.assert_code(1);
    assert!(
        run.stderr
            .starts_with("error: database a\\nc.db: does not exist; commands that only read"),
        "{run:#?}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");

    // An export's file of such a name is written under its real name; the line
    // naming it is one line.
    let db = support::leika_db(dir.path());
    let run = support::run_db(
        &db,
        &["export", "report", "--format", "xlsx", "--out", "r\n.xlsx"],
    );
    run.assert_ok();
    assert_eq!(run.stdout.lines().count(), 1, "{run:#?}");
    assert!(run.stdout.contains("r\\n.xlsx"), "{run:#?}");
    assert!(db.with_file_name("r\n.xlsx").is_file());
}

/// A database that cannot be created (its folder does not exist) is refused as
/// before, before anything is downloaded: the fetch that runs ahead for a new
/// path (`a_payload_that_fails_leaves_no_new_database`) would otherwise pull a
/// whole payload only to be told the path is wrong.
#[test]
fn a_database_that_cannot_be_created_is_refused_before_the_download() {
    let sample = std::fs::read(support::fixture("leika/leika_release2.csv")).unwrap();
    let server = support::serve(move |_, _| support::Reply::ok(sample.clone()));
    let dir = scratch();
    let url = format!("{}/leika.csv", server.base);
    let run = support::run_in(
        dir.path(),
        &[
            "--db",
            "missing/n.db",
            "import",
            "leika",
            "--allow-http",
            &url,
        ],
    );
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("does not exist, and neither does its folder"),
        "{run:#?}"
    );
    assert_eq!(server.hits("/leika.csv"), 0, "nothing downloaded");
    assert!(!dir.path().join("missing").exists());
}
