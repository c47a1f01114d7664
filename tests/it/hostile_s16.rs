//! The hostile tester's list of session 16 (the fourteenth round), each through the
//! real binary: what the thirteenth round left (a payload that is not the format,
//! imported into a new path, left an empty database), HTTP sources that misbehave,
//! hostile paths, and `--help` against README.

use super::support::{self, scratch};

/// The files a refused command must not leave in `dir` (the database, its lock
/// file and SQLite's files beside it).
fn leftovers(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("n.db"))
        .collect();
    names.sort();
    names
}

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
    assert_eq!(leftovers(dir.path()), Vec::<String>::new(), "{run:#?}");

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
            leftovers(dir.path()),
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
