//! The hostile tester's open list of session 6, each through the real binary:
//! what a user meets on a database it may not write, an empty full release, odd
//! config values, Excel's habits (date serials, filtered rows), odd SQL arguments
//! and ids that differ only in case.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::support::{self, collect, fixture, leika_db, scratch};

const LEIKA: &str = "leika/leika_sample_nrw2019.csv";

/// A file's bytes, to show it unchanged.
fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn a_user_who_may_not_write_the_database_is_told_what_to_do() {
    let dir = scratch();
    if support::command_as_nobody(dir.path()).is_none() {
        eprintln!("SKIPPED: needs root and util-linux setpriv to run as nobody");
        return;
    }
    // root's database in root's 0755 folder, readable by everyone, no lock file yet.
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let db = leika_db(&data);
    std::fs::remove_file(data.join("ozgsync.db.lock")).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let work = scratch();
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::copy(fixture("status/report_ok.csv"), work.path().join("s.csv")).unwrap();
    std::fs::copy(fixture(LEIKA), work.path().join("l.csv")).unwrap();
    let before = bytes(&db);
    let as_nobody = |args: &[&str]| {
        let mut cmd = support::command_as_nobody(work.path()).unwrap();
        collect(cmd.arg("--db").arg(&db).args(args))
    };
    for args in [
        &["import", "leika", "l.csv"][..],
        &["status", "import", "--by", "MI", "s.csv"][..],
        &[
            "ressort",
            "rename",
            "MW",
            "--name",
            "X",
            "--from",
            "2025-01-01",
        ][..],
    ] {
        let run = as_nobody(args);
        assert_eq!(run.code, Some(1), "{args:?}: {run:#?}");
        for said in [
            "cannot be written by this user (nobody, uid 65534)",
            "the file is not writable",
            "as the database's owner (root, uid 0: `sudo -u root ozgsync …`)",
            "backup /var/tmp/ozgsync.db`) and point --db at the copy",
            "commands that only read",
        ] {
            assert!(run.stderr.contains(said), "{args:?}: {said}: {run:#?}");
        }
        assert!(!run.stderr.contains("Permission denied"), "{run:#?}");
        assert!(!run.stderr.contains("Operation not permitted"), "{run:#?}");
    }
    // A file it may write in a folder it may not: the folder is named.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o666)).unwrap();
    let run = as_nobody(&["import", "leika", "l.csv"]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "its folder {} is not writable for this user",
            data.display()
        )),
        "{run:#?}"
    );
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A new database there: where to point --db instead.
    let mut cmd = support::command_as_nobody(work.path()).unwrap();
    let run = collect(
        cmd.arg("--db")
            .arg(data.join("new.db"))
            .args(["import", "leika", "l.csv"]),
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr
            .contains("does not exist and cannot be created: this user (nobody, uid 65534) may not write in its folder"),
        "{run:#?}"
    );
    assert_eq!(bytes(&db), before);
    assert!(!data.join("ozgsync.db.lock").exists());
    assert!(!data.join("new.db").exists());
    // The way out the message names works: a backup copy takes the import.
    let copy = work.path().join("copy.db");
    let run = as_nobody(&["backup", copy.to_str().unwrap()]);
    assert!(run.ok(), "{run:#?}");
    let mut cmd = support::command_as_nobody(work.path()).unwrap();
    let run = collect(
        cmd.arg("--db")
            .arg(&copy)
            .args(["import", "leika", "l.csv"]),
    );
    assert!(run.ok(), "{run:#?}");
    assert!(as_nobody(&["search", "Abendrealschule"]).ok());
}

#[test]
fn a_full_release_with_no_record_is_refused_even_as_the_first() {
    let dir = scratch();
    let db = dir.path().join("o.db");
    let first_line = |rel: &str| {
        let bytes = std::fs::read(fixture(rel)).unwrap();
        let end = bytes.iter().position(|b| *b == b'\n').unwrap();
        bytes[..end]
            .strip_suffix(b"\r")
            .unwrap_or(&bytes[..end])
            .to_vec()
    };
    let files = [
        (
            "leika",
            "l.csv",
            [first_line(LEIKA), b"\r\n\r\n".to_vec()].concat(),
        ),
        (
            "efa",
            "e.csv",
            [first_line("efa/release1.csv"), b"\n".to_vec()].concat(),
        ),
        (
            "efa",
            "e.json",
            br#"{"format":"ozgsync-efa","version":1,"herausgeber":"x","services":[]}"#.to_vec(),
        ),
    ];
    for (kind, name, text) in &files {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let run = support::run_db(&db, &["import", kind, file.to_str().unwrap()]);
        assert_eq!(run.code, Some(1), "{name}: {run:#?}");
        assert!(
            run.stderr
                .contains(&format!("{name}: the payload holds no record at all")),
            "{run:#?}"
        );
        assert!(run.stderr.contains("nothing was applied"), "{run:#?}");
    }
    assert_eq!(
        support::rows(
            &db,
            "SELECT count(*) FROM releases WHERE status = 'applied'"
        ),
        ["0"],
        "nothing recorded as applied"
    );
    // A change list with no change is a normal delta.
    let (_, name, _) = &files[1];
    let run = support::run_db(
        &db,
        &[
            "import",
            "efa",
            "--mode",
            "incremental",
            dir.path().join(name).to_str().unwrap(),
        ],
    );
    run.assert_ok();
    assert!(run.stdout.contains("0 added, 0 changed"), "{run:#?}");
}
