//! Exports and every `--out` never touch what ozgsync did not write (issue 11,
//! items 1 and 7): a dashboard DIR holding the database or foreign files, a
//! symlinked DIR, a published set from before the manifest, explicit modes under
//! any umask, `template`/`report --out` through a link, onto a device or the
//! database, `--out -` to standard output, and `backup` never replacing a file.
//! Everything runs the real binary on real files.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;

use super::support::{self, collect, command, leika_db, run_db, scratch, Run};

/// Every entry below `dir` (links not followed): a hash of its bytes (or link
/// target) and its inode.
fn snapshot(dir: &Path) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((abs, prefix)) = stack.pop() {
        for entry in fs::read_dir(&abs).unwrap().flatten() {
            let rel = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            let bytes = if meta.file_type().is_symlink() {
                let target = fs::read_link(entry.path()).unwrap();
                target.into_os_string().into_encoded_bytes()
            } else if meta.is_dir() {
                stack.push((entry.path(), format!("{rel}/")));
                Vec::new()
            } else {
                fs::read(entry.path()).unwrap()
            };
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(&bytes, &mut hasher);
            out.insert(rel, (std::hash::Hasher::finish(&hasher), meta.ino()));
        }
    }
    out
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// `export dashboards --out <out>` with extra arguments, against `db`.
fn dashboards(db: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["export", "dashboards", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_db(db, &args)
}

/// Runs the binary against `db` under `umask`.
#[allow(
    unsafe_code,
    reason = "pre_exec is unsafe by signature; umask has no safe form"
)]
fn run_with_umask(db: &Path, umask: u32, args: &[&str]) -> Run {
    let mut cmd = command(db.parent().unwrap());
    cmd.arg("--db").arg(db).args(args);
    // SAFETY: umask is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            libc::umask(umask as libc::mode_t);
            Ok(())
        });
    }
    collect(&mut cmd)
}

#[test]
fn dashboards_into_the_database_directory_are_refused_and_touch_nothing() {
    let tmp = scratch();
    let db = leika_db(tmp.path());
    // The issue's reproduction: the database, its WAL files, a copy, a foreign file.
    let d = tmp.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::copy(&db, d.join("x.db")).unwrap();
    fs::copy(&db, d.join("backup.db")).unwrap();
    fs::write(d.join("keep.txt"), "not ozgsync's").unwrap();
    let x = d.join("x.db");
    // A running daemon keeps the database open: its -wal and -shm lie beside it.
    // (A writer that closes leaves rollback-journal mode; a running one is in WAL.)
    let daemon = rusqlite::Connection::open(&x).unwrap();
    let _: String = daemon
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    let _: i64 = daemon
        .query_row("SELECT count(*) FROM releases", [], |r| r.get(0))
        .unwrap();
    // The export reads x.db, and SQLite itself may write its shared-memory file.
    let ours = |d: &Path| {
        let mut s = snapshot(d);
        s.remove("x.db-shm");
        s
    };
    let before = ours(&d);
    assert!(d.join("x.db-wal").exists() && d.join("x.db-shm").exists());

    for extra in [&[][..], &["--allow-foreign-files"][..], &["--gzip"][..]] {
        let run = dashboards(&x, &d, extra);
        run.assert_code(2);
        assert!(
            run.stderr.contains("database") && run.stderr.contains("whatever the flags"),
            "{run:#?}"
        );
        assert_eq!(ours(&d), before, "nothing in DIR changed ({extra:?})");
        assert!(d.join("x.db-shm").exists());
    }
    // The database elsewhere, DIR holding only a copy: still refused by its header.
    drop(daemon);
    fs::remove_file(d.join("x.db")).unwrap();
    fs::remove_file(d.join("x.db-wal")).ok();
    fs::remove_file(d.join("x.db-shm")).ok();
    let run = dashboards(&db, &d, &["--allow-foreign-files"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("SQLite database") && run.stderr.contains("backup.db"),
        "{run:#?}"
    );
    assert!(d.join("keep.txt").exists() && d.join("backup.db").exists());
}

#[test]
fn a_foreign_web_root_is_refused_then_shared_with_the_flag_and_kept() {
    let tmp = scratch();
    let db = leika_db(tmp.path());
    let www = tmp.path().join("www");
    fs::create_dir_all(www.join("sub")).unwrap();
    fs::write(www.join("index.html"), "<h1>Kommune</h1>").unwrap();
    fs::write(www.join("sub/logo.svg"), "<svg/>").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", www.join("link")).unwrap();
    let foreign = snapshot(&www);

    let run = dashboards(&db, &www, &[]);
    run.assert_code(2);
    for name in ["index.html", "sub/", "link", "--allow-foreign-files"] {
        assert!(run.stderr.contains(name), "{name} named: {run:#?}");
    }
    assert_eq!(snapshot(&www), foreign);

    dashboards(&db, &www, &["--allow-foreign-files", "--gzip"]).assert_ok();
    let published = snapshot(&www);
    assert!(published.contains_key("index.json") && published.contains_key("meta.json.gz"));
    for (path, entry) in &foreign {
        assert_eq!(published.get(path), Some(entry), "{path} kept as it was");
    }
    // From now on DIR is a published set: no flag needed, a change (no --gzip)
    // removes ozgsync's .gz files and nothing of the user's.
    let run = dashboards(&db, &www, &[]);
    run.assert_ok();
    assert!(run.stdout.contains("removed"), "{run:#?}");
    let again = snapshot(&www);
    assert!(!again.keys().any(|p| p.ends_with(".gz")), "{again:?}");
    for (path, entry) in &foreign {
        assert_eq!(again.get(path), Some(entry), "{path} kept as it was");
    }
}

#[test]
fn a_set_from_the_previous_release_without_manifest_is_updated_and_user_files_kept() {
    let tmp = scratch();
    let db = leika_db(tmp.path());
    let out = tmp.path().join("dash");
    dashboards(&db, &out, &["--gzip"]).assert_ok();
    // What format 2 left: the same files without the manifest, plus a Gemeinde
    // file that no longer exists; the user added a folder of their own.
    fs::remove_file(out.join(".ozgsync-published")).unwrap();
    fs::create_dir_all(out.join("gemeinden")).unwrap();
    fs::write(out.join("gemeinden/039999999999.json"), "{}").unwrap();
    fs::write(out.join("gemeinden/039999999999.json.gz"), "gz").unwrap();
    fs::create_dir(out.join("extra")).unwrap();
    fs::write(out.join("extra/notes.txt"), "meine Notizen").unwrap();

    let run = dashboards(&db, &out, &["--gzip"]);
    run.assert_ok();
    assert!(run.stdout.contains("2 removed"), "{run:#?}");
    assert!(
        !out.join("gemeinden").exists(),
        "the stale published files went"
    );
    assert_eq!(
        fs::read_to_string(out.join("extra/notes.txt")).unwrap(),
        "meine Notizen"
    );
    let manifest = fs::read_to_string(out.join(".ozgsync-published")).unwrap();
    assert!(manifest.lines().any(|l| l == "meta.json.gz"), "{manifest}");
    assert!(!manifest.contains("extra"), "{manifest}");

    // A meta.json that is not ozgsync's does not make a DIR a published set.
    let fake = tmp.path().join("fake");
    fs::create_dir(&fake).unwrap();
    fs::write(fake.join("meta.json"), r#"{"format":"something-else"}"#).unwrap();
    dashboards(&db, &fake, &[]).assert_code(2);
    assert_eq!(
        fs::read_to_string(fake.join("meta.json")).unwrap(),
        r#"{"format":"something-else"}"#
    );
}

#[test]
fn a_symlinked_dir_or_a_file_as_dir_is_refused_and_left_alone() {
    let tmp = scratch();
    let db = leika_db(tmp.path());
    let real = tmp.path().join("real");
    dashboards(&db, &real, &[]).assert_ok();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let before = snapshot(&real);
    let run = dashboards(&db, &link, &[]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("symbolic link") && run.stderr.contains("real"),
        "{run:#?}"
    );
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(snapshot(&real), before);

    let file = tmp.path().join("file");
    fs::write(&file, "text").unwrap();
    dashboards(&db, &file, &[]).assert_code(2);
    assert_eq!(fs::read_to_string(&file).unwrap(), "text");
}

#[test]
fn exported_files_get_explicit_modes_whatever_the_umask() {
    let tmp = scratch();
    let db = leika_db(tmp.path());
    for umask in [0o077, 0o000] {
        let out = tmp.path().join(format!("dash-{umask:o}"));
        let report = tmp.path().join(format!("report-{umask:o}/r.md"));
        let args = ["export", "dashboards", "--out", out.to_str().unwrap()];
        run_with_umask(&db, umask, &args).assert_ok();
        assert_eq!(mode(&out), 0o755, "umask {umask:o}");
        assert_eq!(mode(&out.join("schema")), 0o755);
        assert_eq!(mode(&out.join("index.json")), 0o644);
        assert_eq!(mode(&out.join("schema/dashboard-meta.schema.json")), 0o644);
        let args = ["export", "report", "--format", "md", "--out"];
        let mut args = args.to_vec();
        args.push(report.to_str().unwrap());
        run_with_umask(&db, umask, &args).assert_ok();
        assert_eq!(mode(&report), 0o644);
        assert_eq!(mode(report.parent().unwrap()), 0o755);
    }
    // Configurable: a flag, or the environment a configured export gets.
    let out = tmp.path().join("dash-077");
    let args = [
        "export",
        "dashboards",
        "--file-mode",
        "0640",
        "--dir-mode",
        "0750",
    ];
    let mut args = args.to_vec();
    args.extend(["--out", out.to_str().unwrap()]);
    run_with_umask(&db, 0o077, &args).assert_ok();
    assert_eq!((mode(&out), mode(&out.join("index.json"))), (0o750, 0o640));
    let template = tmp.path().join("t.csv");
    let mut cmd = command(tmp.path());
    cmd.env("OZGSYNC_FILE_MODE", "0600").args([
        "template",
        "efa",
        "--out",
        template.to_str().unwrap(),
    ]);
    collect(&mut cmd).assert_ok();
    assert_eq!(mode(&template), 0o600);

    let run = run_db(
        &db,
        &[
            "export",
            "report",
            "--format",
            "md",
            "--file-mode",
            "rw-r--r--",
            "--out",
            "x.md",
        ],
    );
    run.assert_code(2);
    assert!(run.stderr.contains("not a permission mode"), "{run:#?}");
}

#[test]
fn a_configured_export_passes_its_modes_to_the_command() {
    let tmp = scratch();
    let leika = support::fixture("leika/leika_sample_nrw2019.csv");
    fs::write(
        tmp.path().join("ozgsync.toml"),
        format!(
            r#"
database = "ozgsync.db"
[[source]]
name = "leika"
kind = "leika"
location = "{}"

[[export]]
name = "report"
command = ["ozgsync", "export", "report", "--format", "md", "--out", "out/r.md"]
file_mode = "0600"
dir_mode = "0700"
"#,
            leika.display()
        ),
    )
    .unwrap();
    support::run_in(tmp.path(), &["sync", "--config", "ozgsync.toml"]).assert_ok();
    let report = tmp.path().join("out/r.md");
    assert_eq!(
        (mode(report.parent().unwrap()), mode(&report)),
        (0o700, 0o600)
    );
}

#[test]
fn a_configured_export_mode_must_be_octal() {
    let tmp = scratch();
    let config = tmp.path().join("ozgsync.toml");
    fs::write(
        &config,
        r#"
[[source]]
name = "leika"
kind = "leika"
location = "leika.csv"

[[export]]
name = "dashboards"
command = ["ozgsync", "export", "dashboards", "--out", "dash"]
file_mode = "0644"
dir_mode = "0859"
"#,
    )
    .unwrap();
    let run = support::run_in(tmp.path(), &["config", "check", "--config", "ozgsync.toml"]);
    assert!(!run.ok(), "{run:#?}");
    assert!(
        run.stderr.contains("export[0].dir_mode") && !run.stderr.contains("file_mode"),
        "{run:#?}"
    );
}

#[test]
fn template_never_writes_through_a_link_and_dash_means_stdout() {
    let tmp = scratch();
    let victim = tmp.path().join("victim.txt");
    fs::write(&victim, "precious").unwrap();
    let link = tmp.path().join("t.csv");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let run = support::run_in(tmp.path(), &["template", "efa", "--out", "t.csv"]);
    run.assert_code(2);
    assert!(run.stderr.contains("symbolic link"), "{run:#?}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());

    let run = support::run_in(tmp.path(), &["template", "efa", "--out", "-"]);
    run.assert_ok();
    assert!(run.stdout.starts_with('\u{feff}'), "{run:#?}");
    assert!(!tmp.path().join("-").exists(), "no file named -");

    // A regular file from an earlier run (its header, rows since edited) is
    // replaced (a new inode), not truncated.
    let plain = tmp.path().join("plain.csv");
    let header = run.stdout.lines().next().unwrap().to_owned();
    fs::write(&plain, format!("{header}\nold")).unwrap();
    let keep = tmp.path().join("hardlink.csv");
    fs::hard_link(&plain, &keep).unwrap();
    support::run_in(tmp.path(), &["template", "efa", "--out", "plain.csv"]).assert_ok();
    assert!(fs::read_to_string(&keep).unwrap().ends_with("\nold"));
    assert!(!fs::read_to_string(&plain).unwrap().ends_with("\nold"));
}

#[test]
fn report_out_refuses_the_database_a_device_and_a_link_and_writes_stdout_for_dash() {
    let tmp = scratch();
    let db = leika_db(tmp.path());
    let db_before = fs::read(&db).unwrap();
    let md = [
        "export",
        "report",
        "--format",
        "md",
        "--as-of",
        "2026-03-15",
    ];
    let with_out = |out: &str| {
        let mut args = md.to_vec();
        args.extend(["--out", out]);
        run_db(&db, &args)
    };
    let run = with_out(db.to_str().unwrap());
    run.assert_code(2);
    assert!(run.stderr.contains("database"), "{run:#?}");
    assert_eq!(fs::read(&db).unwrap(), db_before);

    let copy = tmp.path().join("copy.sqlite");
    fs::copy(&db, &copy).unwrap();
    with_out(copy.to_str().unwrap()).assert_code(2);
    assert_eq!(fs::read(&copy).unwrap(), db_before);

    let run = with_out("/dev/null");
    run.assert_code(2);
    assert!(run.stderr.contains("not a regular file"), "{run:#?}");

    std::os::unix::fs::symlink(&db, tmp.path().join("r.md")).unwrap();
    with_out("r.md").assert_code(2);
    assert_eq!(fs::read(&db).unwrap(), db_before);

    let run = with_out("-");
    run.assert_ok();
    assert!(run.stdout.starts_with("# Onlinedienste-Report"), "{run:#?}");
    assert!(!tmp.path().join("-").exists());
    let run = run_db(&db, &["export", "report", "--format", "csv", "--out", "-"]);
    run.assert_code(2);
    assert!(run.stderr.contains("--part"), "{run:#?}");

    // CSV parts into a directory leave the directory's other files alone.
    let csv_dir = tmp.path().join("csv");
    fs::create_dir(&csv_dir).unwrap();
    fs::write(csv_dir.join("notes.txt"), "mine").unwrap();
    run_db(
        &db,
        &[
            "export",
            "report",
            "--format",
            "csv",
            "--out",
            csv_dir.to_str().unwrap(),
        ],
    )
    .assert_ok();
    assert_eq!(
        fs::read_to_string(csv_dir.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn backup_never_replaces_a_file_or_a_dangling_link() {
    let tmp = scratch();
    let db = leika_db(tmp.path());
    let dangling = tmp.path().join("b.db");
    std::os::unix::fs::symlink(tmp.path().join("nowhere"), &dangling).unwrap();
    let run = run_db(&db, &["backup", dangling.to_str().unwrap()]);
    assert!(!run.ok(), "{run:#?}");
    assert!(run.stderr.contains("never overwrites"), "{run:#?}");
    assert!(fs::symlink_metadata(&dangling)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!tmp.path().join("nowhere").exists());
    let fresh = tmp.path().join("fresh.db");
    run_db(&db, &["backup", fresh.to_str().unwrap()]).assert_ok();
    assert!(!tmp.path().join("fresh.db.partial").exists());
    assert_eq!(mode(&fresh), 0o600);
}

/// `X-journal`, `X-wal` and `X-shm` beside a database `X` are SQLite's, even while
/// absent: a report written to `X-journal` was taken for a hot journal, and every
/// reading command then failed on `X` ("is in WAL journal mode … cannot create
/// them") until a writer came by. Refused for `export report`, `template` and
/// `backup`, for the database the command reads and for any other.
#[test]
fn out_never_names_a_file_sqlite_keeps_beside_a_database() {
    let tmp = scratch();
    let db = leika_db(tmp.path());
    let other = tmp.path().join("other.sqlite");
    fs::copy(&db, &other).unwrap();
    let before = snapshot(tmp.path());
    for base in [&db, &other] {
        for suffix in ["-journal", "-wal", "-shm"] {
            let mut target = base.clone().into_os_string();
            target.push(suffix);
            let target = target.to_str().unwrap();
            for args in [
                &["export", "report", "--format", "html", "--out", target][..],
                &["template", "status", "--out", target],
                &["backup", target],
            ] {
                let run = run_db(&db, args);
                run.assert_code(2);
                assert!(
                    run.stderr
                        .contains(&format!("where SQLite keeps the {suffix} file of")),
                    "{args:?}: {run:#?}"
                );
                assert!(!Path::new(target).exists(), "{args:?} wrote {target}");
            }
        }
    }
    assert_eq!(snapshot(tmp.path()), before);
    run_db(&db, &["releases"]).assert_ok();
    // A name that only ends like one, beside no database, is an ordinary file.
    let plain = tmp.path().join("tagebuch-journal");
    run_db(
        &db,
        &[
            "export",
            "report",
            "--format",
            "html",
            "--out",
            plain.to_str().unwrap(),
        ],
    )
    .assert_ok();
    assert!(plain.exists());
}
