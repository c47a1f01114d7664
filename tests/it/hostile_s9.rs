//! The hostile tester's list of session 9, each through the real binary: what
//! session 8 left open (gzip-encoded downloads, `import leika x.gz`, an empty
//! `OZGSYNC_DB`, `--out` into missing folders, the first sync's journal mode) and
//! what the sweep found.

use std::io::Write;
use std::path::Path;

use super::support::{self, scratch};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A body whose end is the connection's: `head` (no length, not chunked), then
/// `body`.
fn close_delimited(head: &str, body: &[u8]) -> Vec<u8> {
    [head.as_bytes(), body].concat()
}

const GZIP_HEAD: &str = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Encoding: gzip\r\n\r\n";

/// A gzip-encoded download whose text has no final line break was refused as "cut
/// short", because reqwest dropped `Content-Length` when it decoded the body and the
/// body then looked unframed. A gzip stream carries its own end marker, length and
/// CRC: a whole one is applied (with a length or without), a cut one is refused as
/// cut and retried, nothing applied.
#[test]
fn a_gzip_download_is_framed_by_its_own_trailer() {
    let dir = scratch();
    let config = dir.path().join("ozgsync.toml");
    std::fs::write(&config, "[fetch]\nmax_retries = 1\nbackoff_base_ms = 1\n").unwrap();
    for (kind, file) in [
        ("ozg", "ozg/ozg_leistungen_nrw2019.csv"),
        ("leika", "leika/leika_sample_nrw2019.csv"),
    ] {
        let mut text = std::fs::read(support::fixture(file)).unwrap();
        while text.last().is_some_and(|b| b"\r\n".contains(b)) {
            text.pop();
        }
        let packed = gzip(&text);
        let import = |db: &std::path::Path, url: &str| {
            support::run_db(
                db,
                &[
                    "--config",
                    config.to_str().unwrap(),
                    "import",
                    kind,
                    "--allow-http",
                    url,
                ],
            )
        };
        let applied = |db: &std::path::Path| {
            support::rows(
                db,
                "SELECT count(*) FROM v_releases WHERE status = 'applied'",
            )
        };

        // Whole, with a Content-Length (of the compressed bytes).
        let served = packed.clone();
        let server = support::serve(move |_, _| {
            support::Reply::ok(served.clone()).header("Content-Encoding", "gzip")
        });
        let db = dir.path().join(format!("{kind}-length.db"));
        let run = import(&db, &format!("{}/{kind}", server.base));
        run.assert_ok();
        assert!(run.stdout.contains("release 1 applied"), "{kind}: {run:#?}");

        // Whole, without a length: the connection's end is the body's end.
        let whole = packed.clone();
        let server = support::raw_server(move |_, _| close_delimited(GZIP_HEAD, &whole));
        let db = dir.path().join(format!("{kind}-close.db"));
        let run = import(&db, &format!("{}/{kind}", server.base));
        run.assert_ok();
        assert!(run.stdout.contains("release 1 applied"), "{kind}: {run:#?}");

        // Cut inside the deflate data, and inside the 8-byte trailer.
        for cut in [packed.len() / 2, packed.len() - 3] {
            let part = packed[..cut].to_vec();
            let server = support::raw_server(move |_, _| close_delimited(GZIP_HEAD, &part));
            let db = dir.path().join(format!("{kind}-cut{cut}.db"));
            let run = import(&db, &format!("{}/{kind}", server.base));
            run.assert_code(1);
            assert!(
                run.stderr.contains("body cut short: the gzip stream ended"),
                "{kind} cut at {cut}: {run:#?}"
            );
            assert_eq!(server.requests(), 2, "retried once: {run:#?}");
            assert_eq!(applied(&db), ["0"], "{kind} cut at {cut}: {run:#?}");
        }
    }
}

/// A server that sends an encoding it was not asked for (only gzip is): the body
/// was handed on still compressed and refused by the parser as binary; it is named.
#[test]
fn a_body_in_an_encoding_not_asked_for_is_named() {
    let dir = scratch();
    let server = support::serve(|_, _| {
        support::Reply::ok(b"\x8b\x01\x80abc".to_vec()).header("Content-Encoding", "br")
    });
    let db = dir.path().join("x.db");
    let run = support::run_db(
        &db,
        &[
            "import",
            "ozg",
            "--allow-http",
            &format!("{}/ozg", server.base),
        ],
    );
    run.assert_code(1);
    assert!(
        run.stderr.contains(
            "the server sent the body with Content-Encoding \"br\", but only gzip was asked for"
        ),
        "{run:#?}"
    );
    assert_eq!(server.targets().len(), 1, "not retried: {run:#?}");
}

/// `import leika x.csv.gz` said "the file contains NUL bytes: it is binary or
/// UTF-16", `import xzufi`/`fim-api`/`pvog` blamed a character reference or "not
/// JSON": every import now names gzip and how to unpack or pipe it (one check
/// before any format's parser; the sheets have the same in their text reader).
#[test]
fn every_import_names_a_gzip_file_as_one() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    for (kind, file, name) in [
        ("leika", "leika/leika_sample_nrw2019.csv", "a LeiKa CSV"),
        ("xzufi", "xzufi/doctype.xml", "an XZuFi 2.2.0"),
        (
            "fim-api",
            "fim-api/steckbriefe_pull.json",
            "a FIM Portal API",
        ),
        ("gv100ad", "gv100ad/GV100AD_30112025_NI.txt", "a GV100AD"),
        ("efa", "efa/release1.json", "an EfA release"),
        ("efa", "efa/release1.csv", "an EfA release"),
        (
            "ozg",
            "ozg/ozg_leistungen_nrw2019.csv",
            "an OZG-Leistungen CSV",
        ),
        (
            "ozg-map",
            "ozg/leika_to_ozg_nrw2019_sample.csv",
            "a LeiKa→OZG map CSV",
        ),
        ("pvog", "pvog/pull.json", "a Dashboard Digitale Verwaltung"),
    ] {
        let packed = gzip(&std::fs::read(support::fixture(file)).unwrap());
        let path = dir.path().join("payload.gz");
        std::fs::write(&path, &packed).unwrap();
        let run = support::run_db(&db, &["import", kind, path.to_str().unwrap()]);
        run.assert_code(1);
        assert!(
            run.stderr.contains(&format!(
                "not {name}"
            )) && run.stderr.contains(
                "(byte 0): the file is gzip-compressed (.gz): unpack it (gunzip FILE.gz) and import the file inside"
            ),
            "{kind} {file}: {run:#?}"
        );
        assert!(!run.stderr.contains("NUL"), "{kind} {file}: {run:#?}");
    }
}

/// `OZGSYNC_DB=` (an empty line in a systemd unit's env file, or `export
/// OZGSYNC_DB=`) was "a value is required for '--db <PATH>' but none was
/// supplied", naming a flag nobody typed; and it failed even when `--db` was given
/// after the subcommand. The variable is named with what to do; a flag given on the
/// command line wins over its empty variable.
#[test]
fn an_empty_environment_variable_is_named_and_a_given_flag_wins() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let db_arg = db.to_str().unwrap();
    let run_env = |var: &str, args: &[&str]| {
        support::collect(
            support::command(dir.path())
                .env(var, "")
                .args(args)
                .stdin(std::process::Stdio::null()),
        )
    };
    for (var, flag) in [
        ("OZGSYNC_DB", "--db"),
        ("OZGSYNC_CONFIG", "--config"),
        ("OZGSYNC_LOG_FORMAT", "--log-format"),
    ] {
        let run = run_env(var, &["releases"]);
        run.assert_code(2);
        assert!(
            run.stderr.contains(&format!(
                "the environment variable {var} is set but empty, and stands for {flag} when that is not given: unset it (unset {var}"
            )),
            "{var}: {run:#?}"
        );
        assert!(
            !run.stderr.contains("a value is required"),
            "{var}: {run:#?}"
        );
    }
    // A subcommand's variable, when that subcommand runs.
    let out = dir.path().join("r.xlsx");
    let report = [
        "--db",
        db_arg,
        "export",
        "report",
        "--format",
        "xlsx",
        "--out",
        out.to_str().unwrap(),
    ];
    let run = run_env("OZGSYNC_FILE_MODE", &report);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("the environment variable OZGSYNC_FILE_MODE is set but empty"),
        "{run:#?}"
    );
    // Given flags win, before or after the subcommand.
    run_env("OZGSYNC_DB", &["releases", "--db", db_arg]).assert_ok();
    run_env("OZGSYNC_DB", &[&format!("--db={db_arg}"), "releases"]).assert_ok();
    let mut with_mode = report.to_vec();
    with_mode.extend(["--file-mode", "0600"]);
    run_env("OZGSYNC_FILE_MODE", &with_mode).assert_ok();
    // Only white space is no path either.
    let run = support::collect(
        support::command(dir.path())
            .env("OZGSYNC_DB", " ")
            .arg("releases"),
    );
    run.assert_code(2);
    assert!(run.stderr.contains("is only white space"), "{run:#?}");
}

/// A `sync` into a new database whose first source fails: the connection stayed in
/// rollback-journal mode (kept for a new database until its first release commits)
/// for the rest of the command, though the database now held the failed run that
/// a reader may look at. A reader with an open read transaction (a `query` into a
/// slow pipe, Datasette, a script) then held off the next source's commit, which
/// failed after the 10 s busy timeout with "database is locked"; in WAL mode a
/// reader never holds off a writer. After a source that committed no release the
/// connection enters WAL mode as after one that did.
#[test]
fn a_reader_beside_a_sync_whose_first_source_failed_does_not_hold_off_the_next() {
    use std::time::{Duration, Instant};
    let dir = scratch();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap().port();
    drop(closed);
    let body = std::fs::read(support::fixture("ozg/ozg_leistungen_nrw2019.csv")).unwrap();
    // Half the body, then a pause in which the test opens its reader.
    let server = support::serve(move |_, _| {
        support::Reply::ok(body.clone()).stall(Duration::from_millis(1500))
    });
    std::fs::write(
        dir.path().join("ozgsync.toml"),
        format!(
            "database = \"new.db\"\n[fetch]\nallow_http = true\nmax_retries = 0\n\
             [[source]]\nname = \"first\"\nkind = \"ozg\"\nlocation = \"http://127.0.0.1:{dead}/ozg.csv\"\n\
             [[source]]\nname = \"second\"\nkind = \"ozg\"\nlocation = \"{}/ozg.csv\"\n",
            server.base
        ),
    )
    .unwrap();
    let db = dir.path().join("new.db");
    let mut child = support::command(dir.path())
        .args(["sync", "--config", "ozgsync.toml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while server.hits("/ozg.csv") == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "second source never fetched"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A reader's open transaction, held across the second source's commit.
    let reader =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let runs: i64 = reader
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert!(runs > 0, "the schema is there");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the sync did not end"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = start.elapsed();
    reader.execute_batch("COMMIT").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(1), "the first source failed: {stderr}");
    assert!(stderr.contains("error: source first:"), "{stderr}");
    assert!(!stderr.contains("error: source second"), "{stderr}");
    assert!(!stderr.contains("locked"), "{stderr}");
    assert!(
        took < Duration::from_secs(9),
        "waited for the reader: {took:?}"
    );
    assert_eq!(
        support::rows(
            &db,
            "SELECT source FROM v_releases WHERE status = 'applied'"
        ),
        ["second"]
    );
}

/// `--out a/b/c.xlsx` created the missing folders `a/b` without a word, so a
/// mistyped path grew a new tree in silence. Every `--out` (a report file, a CSV
/// folder, dashboards, a template) still creates them, as scheduled exports into a
/// new web folder need, and now says so on stderr (not with `--quiet`). `backup`
/// refused with "creating …/b.db.partial: No such file or directory"; it names the
/// missing folder and still creates none (a backup disk that is not mounted would
/// otherwise be filled in its mount point's place).
#[test]
fn every_out_says_which_folders_it_created_and_backup_creates_none() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let base = dir.path().join("new");
    let path = |rel: &str| base.join(rel).to_str().unwrap().to_owned();
    for (args, made) in [
        (
            vec![
                "export",
                "report",
                "--format",
                "xlsx",
                "--out",
                &path("a/b/r.xlsx"),
            ],
            "a/b/r.xlsx",
        ),
        (
            vec![
                "export",
                "report",
                "--format",
                "csv",
                "--out",
                &path("c/d/csv"),
            ],
            "c/d/csv/leistungen.csv",
        ),
        (
            vec!["export", "dashboards", "--out", &path("e/f/dash")],
            "e/f/dash/index.json",
        ),
        (
            vec!["template", "status", "--out", &path("g/h/t.xlsx")],
            "g/h/t.xlsx",
        ),
    ] {
        let run = support::run_db(&db, &args);
        run.assert_ok();
        assert!(base.join(made).is_file(), "{args:?}: {run:#?}");
        assert!(
            run.stderr
                .contains("created missing folders for the output"),
            "{args:?}: {run:#?}"
        );
        // Again: nothing is missing now, nothing is said.
        let run = support::run_db(&db, &args);
        run.assert_ok();
        assert!(
            !run.stderr.contains("created missing"),
            "{args:?}: {run:#?}"
        );
    }
    let run = support::run_db(
        &db,
        &[
            "--quiet",
            "export",
            "report",
            "--format",
            "xlsx",
            "--out",
            &path("q/r.xlsx"),
        ],
    );
    run.assert_ok();
    assert_eq!(run.stderr, "", "--quiet");
    assert!(base.join("q/r.xlsx").is_file());

    let run = support::run_db(&db, &["backup", &path("i/j/b.db")]);
    run.assert_code(1);
    assert!(
        run.stderr.contains(&format!(
            "the folder {} for the backup does not exist (is the backup disk mounted?): create it first",
            path("i/j")
        )),
        "{run:#?}"
    );
    assert!(!base.join("i").exists());
}

/// `export dashboards --out .` from inside the web folder said only ".: not a usable
/// directory name". The set replaces DIR by its name in its parent, so `.` stays
/// refused, now saying why and naming the folder to give instead.
#[test]
fn dashboards_into_dot_are_refused_naming_the_folder_to_give() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let web = dir.path().join("web");
    std::fs::create_dir(&web).unwrap();
    let db_arg = db.to_str().unwrap();
    let run = support::run_in(
        &web,
        &["--db", db_arg, "export", "dashboards", "--out", "."],
    );
    run.assert_code(2);
    let target = web.canonicalize().unwrap();
    let target = target.to_str().unwrap();
    assert!(run.stderr.contains("names no folder"), "{run:#?}");
    assert!(run.stderr.contains(&format!("--out {target}")), "{run:#?}");
    assert_eq!(std::fs::read_dir(&web).unwrap().count(), 0);
    // The folder it names works.
    support::run_in(
        &web,
        &["--db", db_arg, "export", "dashboards", "--out", target],
    )
    .assert_ok();
    assert!(web.join("index.json").is_file());
}

/// `export dashboards --out q/.` (a folder named with a trailing `/.`, as a shell
/// completion or a script's "$DIR/." gives it) failed with "swapping in q/.: Device
/// or resource busy (os error 16)": the set was renamed onto `q/.` itself. It is
/// the folder `q`, published like `--out q`; a non-empty folder of other files is
/// refused as for `--out q`.
#[test]
fn dashboards_into_a_folder_named_with_a_trailing_dot_are_published_there() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let out = dir.path().join("q");
    std::fs::create_dir(&out).unwrap();
    let dotted = format!("{}/.", out.display());
    let run = support::run_db(&db, &["export", "dashboards", "--out", &dotted]);
    run.assert_ok();
    assert!(out.join("index.json").is_file(), "{run:#?}");
    // Again, unchanged: the same set.
    support::run_db(&db, &["export", "dashboards", "--out", &dotted]).assert_ok();
    let foreign = dir.path().join("f");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("mine.txt"), "not ozgsync's").unwrap();
    let run = support::run_db(
        &db,
        &[
            "export",
            "dashboards",
            "--out",
            &format!("{}/.", foreign.display()),
        ],
    );
    // As for `--out f`: a usage error.
    run.assert_code(2);
    assert!(run.stderr.contains("mine.txt"), "{run:#?}");
    assert!(!run.stderr.contains("busy"), "{run:#?}");
    assert_eq!(
        std::fs::read_to_string(foreign.join("mine.txt")).unwrap(),
        "not ozgsync's"
    );
}

/// A GV100AD file with classic Mac line ends (a bare CR, no LF) is one line to the
/// reader: into a new database its first record was applied and every other one
/// dropped without a word ("release 1 applied: 1 added"). It is refused naming
/// the line ends, as the LeiKa reader does; a bare CR inside a later line rejects
/// that line.
#[test]
fn a_gv100ad_file_with_bare_cr_line_ends_is_refused_not_cut_to_one_record() {
    let dir = scratch();
    let text = std::fs::read_to_string(support::fixture("gv100ad/GV100AD_30112025_NI.txt"))
        .unwrap()
        .replace('\r', "");
    for lines in [3, 50, usize::MAX] {
        let cr: String = text.lines().take(lines).map(|l| format!("{l}\r")).collect();
        let file = dir.path().join(format!("cr{lines}.txt"));
        std::fs::write(&file, cr).unwrap();
        let db = dir.path().join(format!("cr{lines}.db"));
        let run = support::run_db(&db, &["import", "gv100ad", file.to_str().unwrap()]);
        run.assert_code(1);
        assert!(
            run.stderr
                .contains("not a GV100AD payload (line 1): the lines end with a bare CR"),
            "{lines}: {run:#?}"
        );
    }
    // One line with a CR in its middle (two records run together) among LF lines.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let joined = format!("{}\r{}", lines[2], lines[3]);
    lines.splice(2..4, [joined]);
    let file = dir.path().join("inner.txt");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let db = dir.path().join("inner.db");
    let run = support::run_db(&db, &["import", "gv100ad", file.to_str().unwrap()]);
    run.assert_ok();
    assert!(run.stdout.contains("1 rejected"), "{run:#?}");
    let rejects = support::run_db(&db, &["rejects", "1"]);
    assert!(
        rejects.stdout.contains("a bare CR inside the line"),
        "{rejects:#?}"
    );
}

/// The missing-folder checks of `backup` and `--out` ask only whether a folder is
/// missing, not whether this user may look into it: as `nobody`, a backup into a
/// folder inside root's 0700 folder is not called "does not exist (is the backup
/// disk mounted?)", and an export there does not claim to have created anything.
#[test]
fn a_folder_this_user_cannot_look_into_is_not_called_missing() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch();
    if support::command_as_nobody(dir.path()).is_none() {
        eprintln!("SKIPPED: needs root and util-linux setpriv to run as nobody");
        return;
    }
    let db = support::leika_db(dir.path());
    let private = dir.path().join("private");
    std::fs::create_dir_all(private.join("sub")).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let as_nobody = |args: &[&str]| {
        let mut cmd = support::command_as_nobody(dir.path()).unwrap();
        support::collect(cmd.arg("--db").arg(&db).args(args))
    };
    let run = as_nobody(&["backup", "private/sub/x.db"]);
    run.assert_code(1);
    assert!(run.stderr.contains("Permission denied"), "{run:#?}");
    assert!(!run.stderr.contains("does not exist"), "{run:#?}");
    let run = as_nobody(&[
        "export",
        "report",
        "--format",
        "xlsx",
        "--out",
        "private/sub/new/r.xlsx",
    ]);
    run.assert_code(1);
    assert!(!run.stderr.contains("created missing"), "{run:#?}");
}

/// `--db link.db` where the link points at a file that does not exist: `import`
/// created the database at the link's target (SQLite follows it), so a link
/// planted in a shared folder chose where root's database went; a reader said
/// "unable to open database file". Both now name the link and its target, and
/// nothing is created.
#[test]
fn a_database_path_that_is_a_dangling_link_is_refused() {
    let dir = scratch();
    let target = dir.path().join("elsewhere.db");
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let ozg = support::fixture("ozg/ozg_leistungen_nrw2019.csv");
    for args in [
        &["import", "ozg", ozg.to_str().unwrap()][..],
        &["releases"][..],
        &[
            "status",
            "set",
            "99001001002000",
            "--status",
            "geplant",
            "--on",
            "2026-01-01",
            "--by",
            "X",
            "--ressort",
            "MI",
        ][..],
    ] {
        let run = support::run_db(&link, args);
        run.assert_code(1);
        assert!(
            run.stderr.contains(&format!(
                "is a symbolic link to {}, which does not exist; ozgsync creates no database through a link",
                target.display()
            )),
            "{args:?}: {run:#?}"
        );
        assert!(!target.exists(), "{args:?}: {run:#?}");
    }
    // A link to an existing database is the user's own choice and is used.
    support::run_db(&target, &["import", "ozg", ozg.to_str().unwrap()]).assert_ok();
    support::run_db(&link, &["releases"]).assert_ok();
}

/// `import leika /dev/zero` (or any device or pipe that never ends and is not
/// text) was copied into `TMPDIR` up to `fetch.max_body_mb` (512 MB, 3–14 s here)
/// and then refused as "larger than the limit". The copy of a pipe or device stops
/// at a chunk with a NUL byte, which no source format holds, and the format's own
/// check names it.
#[test]
fn an_endless_binary_device_is_named_by_its_first_bytes_not_copied_to_the_limit() {
    let dir = scratch();
    for kind in ["leika", "gv100ad", "ozg", "efa", "xzufi", "fim-api"] {
        let db = dir.path().join(format!("{kind}.db"));
        let run = support::run_db(&db, &["import", kind, "/dev/zero"]);
        run.assert_code(1);
        assert!(run.stderr.contains("payload"), "{kind}: {run:#?}");
        assert!(
            !run.stderr.contains("larger than the limit"),
            "{kind}: {run:#?}"
        );
    }
    // A pipe of text is still read whole.
    let text = std::fs::read(support::fixture("ozg/ozg_leistungen_nrw2019.csv")).unwrap();
    let db = dir.path().join("pipe.db");
    let mut child = support::command(dir.path())
        .arg("--db")
        .arg(&db)
        .args(["import", "ozg", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("557 added"),
        "{out:?}"
    );
}

/// An annotation sheet, status report or OZG CSV with classic Mac line ends (a
/// bare CR, no LF) was read, but every row was "line 1" (the CSV reader counts
/// lines by LF): two bad rows were reported as "line 1" twice and counted as "1 of
/// 5 rows refused". Every spreadsheet-CSV reader now refuses such a file naming
/// its line ends, as LeiKa and GV100AD do; the same rows with LF are read as before.
#[test]
fn a_spreadsheet_csv_with_bare_cr_line_ends_is_refused_naming_them() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let cr = |from: &str| {
        let text = std::fs::read_to_string(support::fixture(from))
            .unwrap()
            .replace('\r', "")
            .replace('\n', "\r");
        let path = dir.path().join(Path::new(from).file_name().unwrap());
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let annotations = cr("annotations/valid.csv");
    let status = cr("demo/status.csv");
    let ozg = cr("ozg/ozg_leistungen_nrw2019.csv");
    let efa = cr("efa/release1.csv");
    for args in [
        vec!["annotations", "import", &annotations, "--by", "X"],
        vec!["status", "import", &status, "--by", "X"],
        vec!["import", "ozg", &ozg],
        vec!["import", "efa", &efa],
    ] {
        let run = support::run_db(&db, &args);
        run.assert_code(1);
        assert!(
            run.stderr
                .contains("(line 1): the lines end with a bare CR"),
            "{args:?}: {run:#?}"
        );
    }
    assert_eq!(
        support::rows(
            &db,
            "SELECT count(*) FROM v_releases WHERE source IN ('ozg', 'efa')"
        ),
        ["0"]
    );
}
