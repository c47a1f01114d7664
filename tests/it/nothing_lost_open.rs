//! Finding, opening and locking the database (issue 11, items 4, 5 and 7): every
//! command finds the config and the database the same way; commands that only
//! read never create, migrate or write a database and work with read permission
//! alone; the writer lock cannot be abused through symlinks, stale notes or a lock
//! file another user left; the daemon stops when its database file is replaced.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::support::{self, collect, command, fixture, leika_db, run_db, run_in, scratch};

const LEIKA: &str = "leika/leika_sample_nrw2019.csv";

/// A write by a command that does not take the writer lock (like `annotations
/// import` and `status import`, beside the daemon).
const RENAME: &[&str] = &[
    "ressort",
    "rename",
    "MW",
    "--name",
    "X",
    "--from",
    "2025-01-01",
];

/// A LeiKa key of the sample, for commands that take one.
const KEY: &str = "99088026034000";

/// Every command that only reads, with arguments that would succeed on a filled
/// database (`out` is a scratch path for the ones that write files).
fn reading_commands(out: &str) -> Vec<Vec<String>> {
    let owned = |args: &[&str]| args.iter().map(|a| (*a).to_owned()).collect();
    vec![
        owned(&["releases"]),
        owned(&["rejects", "1"]),
        owned(&["diff", "leika"]),
        owned(&["service", KEY]),
        owned(&["municipality", "03241001"]),
        owned(&["search", "Abfall"]),
        owned(&["template", "annotations", "--fill"]),
        owned(&["ressort", "list"]),
        owned(&["annotations", "show", KEY]),
        owned(&["annotations", "orphans"]),
        owned(&["status"]),
        owned(&["status", "show", KEY]),
        owned(&["query", "SELECT count(*) FROM v_services"]),
        owned(&["export", "report", "--format", "json", "--out", out]),
        owned(&["backup", out]),
    ]
}

/// Imports the LeiKa sample into `db`.
fn import_leika(db: &Path) -> support::Run {
    run_db(db, &["import", "leika", fixture(LEIKA).to_str().unwrap()])
}

/// Asserts that `run` failed because this test process holds the writer lock as
/// `what`, and that the message names it.
#[track_caller]
fn assert_refused_by_this_test(run: &support::Run, what: &str) {
    assert_eq!(run.code, Some(1), "{run:#?}");
    let holder = format!(
        "being written by another ozgsync ({what}, pid {}",
        std::process::id()
    );
    assert!(run.stderr.contains(&holder), "{run:#?}");
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn readers_refuse_a_missing_database_and_create_nothing() {
    let dir = scratch();
    let db = dir.path().join("missing.db");
    let out = dir.path().join("out.json");
    for args in reading_commands(out.to_str().unwrap()) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = run_db(&db, &args);
        assert_eq!(run.code, Some(1), "{args:?}: {run:#?}");
        assert!(
            run.stderr
                .contains("missing.db: does not exist; commands that only read never create one"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            listing(dir.path()).is_empty(),
            "{args:?} left {:?}",
            listing(dir.path())
        );
    }
}

#[test]
fn a_file_that_is_not_a_database_is_refused_before_it_is_touched() {
    let dir = scratch();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "meeting notes, not a database\n").unwrap();
    std::fs::set_permissions(&notes, std::fs::Permissions::from_mode(0o644)).unwrap();
    let leika = fixture(LEIKA);
    for args in [
        &["import", "leika", leika.to_str().unwrap()][..],
        &["releases"][..],
        &["query", "SELECT 1"][..],
    ] {
        let run = run_db(&notes, args);
        assert_eq!(run.code, Some(1), "{args:?}: {run:#?}");
        assert!(
            run.stderr.contains("is not an SQLite database"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let meta = std::fs::metadata(&notes).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o644, "mode changed");
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "meeting notes, not a database\n"
    );
    assert_eq!(listing(dir.path()), ["notes.txt"]);
}

#[test]
fn config_and_database_are_found_the_same_way_by_every_command() {
    let dir = scratch();
    let conf_dir = dir.path().join("etc");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&conf_dir).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let config = conf_dir.join("ozgsync.toml");
    std::fs::write(
        &config,
        format!(
            "database = \"from-config.db\"\n[[source]]\nname = \"leika\"\nkind = \"leika\"\nlocation = {:?}\n",
            fixture(LEIKA).to_str().unwrap()
        ),
    )
    .unwrap();
    let config_arg = config.to_str().unwrap();

    // OZGSYNC_CONFIG alone: `sync` writes into the config's database.
    collect(
        command(&elsewhere)
            .env("OZGSYNC_CONFIG", &config)
            .args(["sync", "--quiet"]),
    )
    .assert_ok();
    assert!(conf_dir.join("from-config.db").exists());
    assert!(listing(&elsewhere).is_empty(), "{:?}", listing(&elsewhere));

    let releases = |run: support::Run| {
        run.assert_ok();
        assert!(run.stdout.contains("leika"), "{run:#?}");
    };
    // A reader finds the same database through OZGSYNC_CONFIG, --config before or
    // after the subcommand, and ./ozgsync.toml.
    releases(collect(
        command(&elsewhere)
            .env("OZGSYNC_CONFIG", &config)
            .arg("releases"),
    ));
    releases(run_in(&elsewhere, &["--config", config_arg, "releases"]));
    releases(run_in(&elsewhere, &["releases", "--config", config_arg]));
    releases(run_in(&conf_dir, &["releases"]));
    releases(run_in(&conf_dir, &["status"]));
    releases(run_in(
        &conf_dir,
        &["query", "SELECT source FROM v_releases"],
    ));

    // --db and OZGSYNC_DB come before the config's database.
    let other = dir.path().join("other.db");
    let run = run_in(&conf_dir, &["--db", other.to_str().unwrap(), "releases"]);
    assert!(run.stderr.contains("other.db: does not exist"), "{run:#?}");
    let run = collect(command(&conf_dir).env("OZGSYNC_DB", &other).arg("releases"));
    assert!(run.stderr.contains("other.db: does not exist"), "{run:#?}");
    assert!(!other.exists());

    // A command that needs a config says where it looked.
    let run = run_in(&elsewhere, &["sync"]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(
        run.stderr.contains("no configuration found")
            && run.stderr.contains("/etc/ozgsync/ozgsync.toml"),
        "{run:#?}"
    );
}

#[test]
fn a_writer_leaves_no_wal_behind_and_readers_leave_nothing() {
    let dir = scratch();
    let db = leika_db(dir.path());
    assert_eq!(listing(dir.path()), ["ozgsync.db", "ozgsync.db.lock"]);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let report = out.join("r.json");
    for args in reading_commands(report.to_str().unwrap()) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = run_db(&db, &args);
        // Reading succeeds, or fails for the data, never for the database.
        assert!(
            run.ok() || !run.stderr.contains("database"),
            "{args:?}: {run:#?}"
        );
        assert_eq!(
            listing(dir.path()),
            ["out", "ozgsync.db", "ozgsync.db.lock"],
            "{args:?}"
        );
        let _ = std::fs::remove_file(&report);
    }
    // A writer without the lock leaves nothing behind either.
    run_db(&db, RENAME).assert_ok();
    assert_eq!(
        listing(dir.path()),
        ["out", "ozgsync.db", "ozgsync.db.lock"]
    );
    // The search index was written with the release: the first search finds it.
    let run = run_db(&db, &["search", "Abendrealschule"]);
    run.assert_ok();
    assert!(run.stdout.contains(KEY), "{run:#?}");
    assert!(!run.stderr.contains("warning"), "{run:#?}");
}

/// Makes `db` and its directory readable, but not writable, by group `nogroup`
/// (the coordinator): the directory 0755 (root's), the database 0640 root:nogroup.
fn share_read_only(dir: &Path, db: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(db, None, Some(65534)).unwrap();
    std::fs::set_permissions(db, std::fs::Permissions::from_mode(0o640)).unwrap();
}

#[test]
fn a_read_only_user_can_read_a_database_in_a_directory_it_cannot_write() {
    let dir = scratch();
    if support::command_as_nobody(dir.path()).is_none() {
        eprintln!("SKIPPED: needs root and util-linux setpriv to run as nobody");
        return;
    }
    let db = leika_db(dir.path());
    share_read_only(dir.path(), &db);
    // Somewhere nobody may write its output.
    let out = scratch();
    std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let before = std::fs::metadata(&db).unwrap().mtime_nsec();
    for args in [
        &[
            "query",
            "--format",
            "csv",
            "SELECT count(*) FROM v_services",
        ][..],
        &["status"][..],
        &["releases"][..],
        &["search", "Abendrealschule"][..],
        &["export", "report", "--format", "json", "--out", "r.json"][..],
        &["backup", "copy.db"][..],
    ] {
        let mut cmd = support::command_as_nobody(out.path()).unwrap();
        let run = collect(cmd.arg("--db").arg(&db).args(args));
        assert!(run.ok(), "{args:?} as nobody: {run:#?}");
        assert!(!run.stderr.contains("readonly"), "{args:?}: {run:#?}");
        if args[0] == "search" {
            assert!(run.stdout.contains(KEY), "{run:#?}");
        }
        assert_eq!(
            listing(dir.path()),
            ["ozgsync.db", "ozgsync.db.lock"],
            "{args:?} left files beside the database"
        );
    }
    assert_eq!(std::fs::metadata(&db).unwrap().mtime_nsec(), before);
    assert!(out.path().join("copy.db").exists());

    // Beside a writer (the daemon between jobs) the database is in WAL mode; its
    // -wal and -shm carry the database's mode and group, so the reader still reads.
    let writer = ozgsync::store::open(&db).unwrap();
    writer
        .execute_batch("UPDATE search_state SET indexed_release = indexed_release")
        .unwrap();
    assert!(dir.path().join("ozgsync.db-shm").exists());
    let mut cmd = support::command_as_nobody(out.path()).unwrap();
    let run = collect(
        cmd.arg("--db")
            .arg(&db)
            .args(["query", "SELECT count(*) FROM v_services"]),
    );
    assert!(run.ok(), "query as nobody beside a writer: {run:#?}");
    drop(writer);

    // A writer as nobody is refused by the file system, and says so.
    let mut cmd = support::command_as_nobody(out.path()).unwrap();
    let run = collect(cmd.arg("--db").arg(&db).args(RENAME));
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.contains("cannot be written by this user"),
        "{run:#?}"
    );
}

#[test]
fn a_symlink_at_the_lock_path_is_refused_and_its_target_kept() {
    let dir = scratch();
    let precious = dir.path().join("precious.txt");
    std::fs::write(&precious, "keep me").unwrap();
    let db = dir.path().join("o.db");
    std::os::unix::fs::symlink(&precious, dir.path().join("o.db.lock")).unwrap();
    let run = import_leika(&db);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("is a symbolic link"), "{run:#?}");
    assert!(run.stderr.contains("rm "), "{run:#?}");
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me");
    assert!(!db.exists());
}

#[test]
fn two_paths_to_one_database_take_one_lock() {
    let dir = scratch();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let db = leika_db(&real);
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&db, &link).unwrap();
    let held = ozgsync::store::lock::acquire(&db, "daemon").unwrap();
    assert_refused_by_this_test(&import_leika(&link), "daemon");
    drop(held);
    import_leika(&link).assert_ok();
    assert!(!dir.path().join("link.db.lock").exists());
}

#[test]
fn a_note_from_an_earlier_holder_is_not_shown() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let lock = dir.path().join("ozgsync.db.lock");
    // A note naming a process that does not hold the lock ...
    std::fs::write(&lock, "sync, pid 4000000, since 2020-01-01T00:00:00Z").unwrap();
    // ... while this test holds it without writing a note of its own.
    let file = std::fs::OpenOptions::new().read(true).open(&lock).unwrap();
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    let run = import_leika(&db);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr
            .contains(&format!("(pid {})", std::process::id())),
        "{run:#?}"
    );
    assert!(!run.stderr.contains("4000000"), "{run:#?}");
    drop(file);
    import_leika(&db).assert_ok();
}

#[test]
fn a_lock_file_left_by_root_is_handed_over_or_explained() {
    let dir = scratch();
    if support::command_as_nobody(dir.path()).is_none() {
        eprintln!("SKIPPED: needs root and util-linux setpriv to run as nobody");
        return;
    }
    // The service user (nobody) owns the data directory and the database.
    std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
    let db = dir.path().join("ozgsync.db");
    // A copy the service user can read wherever the checkout lies (a clone in a
    // 0700 directory is not readable by nobody).
    let leika = dir.path().join("leika.csv");
    std::fs::copy(fixture(LEIKA), &leika).unwrap();
    let import = |cmd: &mut std::process::Command| {
        collect(
            cmd.arg("--db")
                .arg(&db)
                .args(["import", "leika", leika.to_str().unwrap()]),
        )
    };
    import(&mut support::command_as_nobody(dir.path()).unwrap()).assert_ok();
    // A run as root creates no lock file that shuts the service user out ...
    let lock = dir.path().join("ozgsync.db.lock");
    std::fs::remove_file(&lock).unwrap();
    import(&mut command(dir.path())).assert_ok();
    assert_eq!(std::fs::metadata(&lock).unwrap().uid(), 65534);
    import(&mut support::command_as_nobody(dir.path()).unwrap()).assert_ok();
    // ... and one left by an older version is explained with what to do.
    std::fs::remove_file(&lock).unwrap();
    std::fs::write(&lock, "").unwrap();
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = import(&mut support::command_as_nobody(dir.path()).unwrap());
    assert_eq!(run.code, Some(1), "{run:#?}");
    for needed in ["belongs to uid 0", "uid 65534", "chown 65534", "rm "] {
        assert!(run.stderr.contains(needed), "{needed}: {run:#?}");
    }
}

#[test]
fn an_unlocked_writer_that_meets_the_writer_lock_names_its_holder() {
    let dir = scratch();
    let db = leika_db(dir.path());
    // This test is the `sync`: it holds the writer lock and SQLite's write lock.
    let _held = ozgsync::store::lock::acquire(&db, "sync").unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let run = run_db(&db, RENAME);
    assert_refused_by_this_test(&run, "sync");
    assert!(
        run.stderr.contains("try again when it has finished"),
        "{run:#?}"
    );
}

/// Waits until `child` exits (at most `limit`), killing it if it does not.
fn wait_for(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn releases_in(db: &Path) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT count(*) FROM releases", [], |r| r.get(0)))
        .unwrap_or(0)
}

#[test]
fn the_daemon_stops_when_its_database_file_is_replaced() {
    let dir = scratch();
    std::fs::write(
        dir.path().join("ozgsync.toml"),
        format!(
            "database = \"o.db\"\n[daemon]\nretry_base_ms = 100\n[[source]]\nname = \"leika\"\nkind = \"leika\"\nlocation = {:?}\nschedule = \"* * * * * *\"\n",
            fixture(LEIKA).to_str().unwrap()
        ),
    )
    .unwrap();
    let db = dir.path().join("o.db");
    let mut daemon = command(dir.path())
        .arg("daemon")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while releases_in(&db) < 2 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(releases_in(&db) >= 2, "the daemon never ran its job");
    let moved: PathBuf = dir.path().join("moved.db");
    std::fs::rename(&db, &moved).unwrap();
    let status = wait_for(&mut daemon, Duration::from_secs(30));
    let mut stderr = String::new();
    std::io::Read::read_to_string(daemon.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let status = status.unwrap_or_else(|| panic!("the daemon kept running: {stderr}"));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("o.db is gone"), "{stderr}");
    assert!(stderr.contains("restart the daemon"), "{stderr}");
    assert!(!db.exists(), "the daemon created a new database");
}

#[test]
fn a_writer_beside_the_daemon_leaves_its_wal_alone() {
    let dir = scratch();
    let db = leika_db(dir.path());
    // This test is the daemon between jobs: the writer lock and an idle connection.
    let lock = ozgsync::store::lock::acquire(&db, "daemon").unwrap();
    let daemon = ozgsync::store::open(&db).unwrap();
    daemon
        .execute_batch("UPDATE search_state SET indexed_release = indexed_release")
        .unwrap();
    run_db(&db, RENAME).assert_ok();
    // The daemon's connection still works in WAL mode ...
    let renamed: String = daemon
        .query_row(
            "SELECT name FROM ressort_names WHERE valid_from = '2025-01-01'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(renamed, "X");
    assert!(dir.path().join("ozgsync.db-wal").exists());
    drop(daemon);
    drop(lock);
    // ... and the file was never switched under it (header bytes 18/19: 2 = WAL).
    let header = std::fs::read(&db).unwrap();
    assert_eq!(header[18..20], [2, 2]);
}

#[test]
fn releases_indexed_lazily_by_an_older_version_are_caught_up_by_the_next_release() {
    let dir = scratch();
    let db = leika_db(dir.path());
    // The state an older ozgsync left: an applied release the index does not cover.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "INSERT INTO search_fts (search_fts) VALUES ('delete-all');
             UPDATE search_state SET indexed_release = 0;",
        )
        .unwrap();
    let run = run_db(&db, &["search", "Abendrealschule"]);
    run.assert_ok();
    assert!(
        run.stderr.contains("does not cover the last 1 release(s)"),
        "{run:#?}"
    );
    assert!(!run.stdout.contains(KEY), "{run:#?}");
    // Even an unchanged re-import brings the index up to date.
    let again = import_leika(&db);
    assert!(again.stdout.contains("unchanged"), "{again:#?}");
    let run = run_db(&db, &["search", "Abendrealschule"]);
    assert!(run.stdout.contains(KEY), "{run:#?}");
    assert!(!run.stderr.contains("does not cover"), "{run:#?}");
}
