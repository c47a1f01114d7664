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

#[test]
fn a_land_is_the_same_land_as_text_number_or_environment() {
    let dir = scratch();
    let config = dir.path().join("c.toml");
    let check = |toml: &str, env: Option<&str>| {
        std::fs::write(&config, toml).unwrap();
        let mut cmd = support::command(dir.path());
        cmd.args(["--config", config.to_str().unwrap(), "config", "check"]);
        if let Some(value) = env {
            cmd.env("OZGSYNC_LAND", value);
        }
        collect(&mut cmd)
    };
    for (toml, env) in [
        ("land = \"03\"\n", None),
        ("land = \"3\"\n", None),
        ("land = 3\n", None),
        ("", Some("3")),
        ("", Some("03")),
        ("land = \"08\"\n", Some("3")),
    ] {
        let run = check(toml, env);
        assert!(run.ok(), "{toml:?} {env:?}: {run:#?}");
        assert!(
            run.stdout.contains("land = \"03\""),
            "{toml:?} {env:?}: {run:#?}"
        );
    }
    for (toml, env) in [
        ("land = 17\n", None),
        ("land = 0\n", None),
        ("land = 3.0\n", None),
        ("land = true\n", None),
        ("land = \"NI\"\n", None),
        ("land = \"003\"\n", None),
        ("", Some("17")),
    ] {
        let run = check(toml, env);
        assert_eq!(run.code, Some(1), "{toml:?} {env:?}: {run:#?}");
        assert!(
            run.stderr.contains("land")
                && run
                    .stderr
                    .contains("expected a Land key from 1 to 16, written \"03\", 3 or \"3\""),
            "{toml:?} {env:?}: {run:#?}"
        );
    }
}

const SERIAL_HINT: &str = "\"46022\" looks like an Excel date serial (it stands for 2025-12-31): format the column as text or as a date before saving, or write YYYY-MM-DD";

#[test]
fn an_excel_date_serial_is_named_wherever_a_date_is_read() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let at = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    // The status report, the annotation sheet, the EfA CSV and a date argument.
    let status = at(
        "s.csv",
        "Leistungsschlüssel;EfA-ID;Ressort;ARS;Status;Gültig ab;Bemerkung\n\
         99088026034000;;;032410001001;pilot;46022;\n",
    );
    let sheet = at(
        "a.csv",
        "Leistungsschlüssel;Leistungsbezeichnung;Ressort;Vollzug;Umsetzungsweg;EfA-ID;\
         Depriorisierungsgrund;Priorität;Zieldatum;Bemerkung\n\
         99088026034000;Abendrealschule;MK;Land;Eigenentwicklung;;;1;46022;\n",
    );
    let efa_csv = std::fs::read_to_string(fixture("efa/release1.csv")).unwrap();
    let efa = at("e.csv", &efa_csv.replace("2026-01-15", "46022"));
    for (args, code) in [
        (vec!["status", "import", "--by", "MK", status.as_str()], 1),
        (
            vec!["annotations", "import", "--by", "MK", sheet.as_str()],
            1,
        ),
        (vec!["status", "show", "--as-of", "46022"], 2),
    ] {
        let run = support::run_db(&db, &args);
        assert_eq!(run.code, Some(code), "{args:?}: {run:#?}");
        assert!(run.stderr.contains(SERIAL_HINT), "{args:?}: {run:#?}");
    }
    let run = support::run_db(&db, &["import", "efa", &efa]);
    run.assert_ok();
    assert!(run.stdout.contains("release 2 applied"), "{run:#?}");
    let run = support::run_db(&db, &["rejects", "2"]);
    assert!(run.stdout.contains(SERIAL_HINT), "{run:#?}");
}

#[test]
fn fold_of_bytes_that_are_no_text_is_a_clear_error() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let run = support::run_db(&db, &["query", "SELECT fold(x'ff')"]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.contains(
            "fold(): argument 1 is a BLOB of 1 byte(s) that is not UTF-8; fold takes UTF-8 text"
        ),
        "{run:#?}"
    );
    assert!(
        !run.stderr.contains("Invalid function parameter type"),
        "{run:#?}"
    );
    // What SQLite's lower() takes, fold takes.
    let run = support::run_db(
        &db,
        &[
            "query",
            "--format",
            "csv",
            "SELECT fold(CAST('Ä' AS BLOB)), fold(42), fold(NULL) IS NULL",
        ],
    );
    run.assert_ok();
    assert!(run.stdout.contains("ae,42,1"), "{run:#?}");
}

#[test]
fn an_efa_id_respelled_in_case_is_named_in_the_release_report() {
    let dir = scratch();
    let db = dir.path().join("o.db");
    let first = fixture("efa/release1.csv");
    support::run_db(&db, &["import", "efa", first.to_str().unwrap()]).assert_ok();
    let text = std::fs::read_to_string(&first).unwrap();
    assert!(text.contains("\nEFA-0001;"));
    let second = dir.path().join("release2.csv");
    std::fs::write(&second, text.replace("\nEFA-0001;", "\nefa-0001;")).unwrap();
    let run = support::run_db(&db, &["import", "efa", second.to_str().unwrap()]);
    run.assert_ok();
    assert!(
        run.stdout.contains("1 added, 0 changed, 1 retired") && run.stdout.contains("1 warnings"),
        "{run:#?}"
    );
    assert!(run.stdout.contains("release 2 applied"), "{run:#?}");
    let run = support::run_db(&db, &["rejects", "2"]);
    assert!(
        run.stdout.contains(
            "efa-0001 differs from EFA-0001 only in case: keys are compared exactly, so this release retires EFA-0001 and adds efa-0001"
        ),
        "{run:#?}"
    );
    // An unrelated retirement is no pair.
    let third = dir.path().join("release3.csv");
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("EFA-0001;"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&third, without).unwrap();
    let run = support::run_db(&db, &["import", "efa", third.to_str().unwrap()]);
    run.assert_ok();
    assert!(run.stdout.contains(", 0 warnings"), "{run:#?}");
}

#[test]
fn rows_hidden_by_a_filter_are_imported_and_named() {
    use rust_xlsxwriter::{FilterCondition, Workbook};
    let dir = scratch();
    let db = leika_db(dir.path());
    let header = [
        "Leistungsschlüssel",
        "Leistungsbezeichnung",
        "Ressort",
        "Vollzug",
        "Umsetzungsweg",
        "EfA-ID",
        "Depriorisierungsgrund",
        "Priorität",
        "Zieldatum",
        "Bemerkung",
    ];
    let rows = [
        ["99088026034000", "MK", "gefiltert sichtbar"],
        ["99001001002000", "MU", "vom Filter verborgen"],
        ["99111001017002", "MK", "von Hand verborgen"],
    ];
    let file = dir.path().join("a.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    support::write_row(sheet, 0, header);
    for (r, [key, ressort, note]) in (1u32..).zip(rows) {
        sheet.write_string(r, 0, key).unwrap();
        sheet.write_string(r, 2, ressort).unwrap();
        sheet.write_string(r, 9, note).unwrap();
    }
    // The coordinator filtered on Ressort MK (Excel hides row 3) and hid row 4.
    sheet.autofilter(0, 0, 3, 9).unwrap();
    sheet
        .filter_column(2, &FilterCondition::new().add_list_filter("MK"))
        .unwrap();
    sheet.set_row_hidden(3).unwrap();
    book.save(&file).unwrap();

    let import = || support::import_sheet(&db, "annotations", &file);
    let run = import();
    run.assert_ok();
    assert!(
        run.stderr.contains(
            "warning: 2 row(s) hidden in the workbook (by a filter or by hand) are imported like the others: row(s) 3, 4."
        ),
        "{run:#?}"
    );
    assert!(run.stdout.contains("3 rows changed"), "{run:#?}");
    let shown = support::run_db(&db, &["annotations", "show", "99001001002000"]);
    assert!(shown.stdout.contains("vom Filter verborgen"), "{shown:#?}");
    // A sheet with nothing hidden says nothing.
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    support::write_row(sheet, 0, header);
    sheet.write_string(1, 0, "99088026034000").unwrap();
    book.save(&file).unwrap();
    let run = import();
    run.assert_ok();
    assert!(!run.stderr.contains("hidden"), "{run:#?}");
}

#[test]
fn an_export_never_replaces_a_file_of_another_kind() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let victim = dir.path().join("passwd");
    let precious = "root:x:0:0:root:/root:/bin/bash\n";
    for args in [
        &["export", "report", "--format", "json", "--out"][..],
        &["export", "report", "--format", "md", "--out"][..],
        &["export", "report", "--format", "xlsx", "--out"][..],
        &["template", "annotations", "--format", "csv", "--out"][..],
    ] {
        std::fs::write(&victim, precious).unwrap();
        let mut all = args.to_vec();
        all.push(victim.to_str().unwrap());
        let run = support::run_db(&db, &all);
        assert_eq!(run.code, Some(2), "{args:?}: {run:#?}");
        assert!(
            run.stderr
                .contains("exists and does not start like the file this command writes"),
            "{args:?}: {run:#?}"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), precious);
        // Its own earlier output, and an empty file, are replaced.
        std::fs::remove_file(&victim).unwrap();
        support::run_db(&db, &all).assert_ok();
        let first = std::fs::read(&victim).unwrap();
        support::run_db(&db, &all).assert_ok();
        assert_eq!(std::fs::read(&victim).unwrap()[..4], first[..4]);
        std::fs::write(&victim, "").unwrap();
        support::run_db(&db, &all).assert_ok();
        std::fs::remove_file(&victim).unwrap();
    }
}

#[test]
fn a_config_that_is_not_a_file_is_named_and_never_waited_on() {
    let dir = scratch();
    let fifo = dir.path().join("fifo.toml");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::write(dir.path().join("etc/ozgsync.toml"), "").unwrap();
    for (config, said) in [
        (
            "fifo.toml",
            "fifo.toml is not a regular file (a FIFO, device or socket); give a config file (TOML)",
        ),
        (
            "etc",
            "etc is a directory; give a config file (TOML) itself (etc/ozgsync.toml is one)",
        ),
        (
            "missing.toml",
            "reading missing.toml: no such file; check the path",
        ),
    ] {
        for args in [&["config", "check"][..], &["sync"][..]] {
            // A FIFO without a writer blocked the command forever: `timeout` ends
            // such a run, and the assertion below then fails.
            let mut cmd = std::process::Command::new("timeout");
            cmd.arg("60")
                .arg(support::binary())
                .args(["--config", config])
                .args(args)
                .current_dir(dir.path())
                .stdin(std::process::Stdio::null());
            let run = collect(&mut cmd);
            assert_eq!(run.code, Some(1), "{config} {args:?}: {run:#?}");
            assert!(run.stderr.contains(said), "{config} {args:?}: {run:#?}");
        }
    }
}

#[test]
fn odd_line_ends_and_a_bom_inside_a_file_are_named() {
    let dir = scratch();
    let db = dir.path().join("o.db");
    // LeiKa with classic Mac line ends (CR alone): the header check read the whole
    // file as one line ("no line break in the first 65536 bytes").
    let leika = std::fs::read(fixture(LEIKA)).unwrap();
    let mut cr = Vec::new();
    for (i, b) in leika.iter().enumerate() {
        if !(*b == b'\n' && leika.get(i.wrapping_sub(1)) == Some(&b'\r')) {
            cr.push(*b);
        }
    }
    let file = dir.path().join("cr.csv");
    std::fs::write(&file, &cr[..2000]).unwrap();
    let run = support::run_db(&db, &["import", "leika", file.to_str().unwrap()]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr
            .contains("the lines end with a bare CR (classic Mac OS line ends, no LF)"),
        "{run:#?}"
    );
    // EfA CSV joined from two saved files: the BOM at the seam is named.
    let efa = std::fs::read_to_string(fixture("efa/release1.csv")).unwrap();
    let joined = efa.replacen("\nEFA-0002;", "\n\u{feff}EFA-0002;", 1);
    let file = dir.path().join("joined.csv");
    std::fs::write(&file, joined).unwrap();
    let run = support::run_db(&db, &["import", "efa", file.to_str().unwrap()]);
    run.assert_ok();
    let release = run
        .stdout
        .split("release ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let rejects = support::run_db(&db, &["rejects", release]);
    assert!(
        rejects
            .stdout
            .contains("it starts with a byte order mark (U+FEFF)"),
        "{rejects:#?}"
    );
}

#[test]
fn a_status_report_workbook_names_its_hidden_rows() {
    use rust_xlsxwriter::{FilterCondition, Workbook};
    let dir = scratch();
    let db = leika_db(dir.path());
    let gv100ad = fixture("gv100ad/GV100AD_30112025_NI.txt");
    support::run_db(&db, &["import", "gv100ad", gv100ad.to_str().unwrap()]).assert_ok();
    let file = dir.path().join("status.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let header = [
        "Leistungsschlüssel",
        "EfA-ID",
        "Ressort",
        "ARS",
        "Status",
        "Gültig ab",
        "Bemerkung",
    ];
    support::write_row(sheet, 0, header);
    for (r, status, day) in [
        (1u32, "pilot", "2025-03-01"),
        (2, "produktiv", "2025-04-01"),
    ] {
        sheet.write_string(r, 0, "99088026034000").unwrap();
        sheet.write_string(r, 3, "032410001001").unwrap();
        sheet.write_string(r, 4, status).unwrap();
        sheet.write_string(r, 5, day).unwrap();
    }
    // Filtered on Status "pilot": Excel hides row 3.
    sheet.autofilter(0, 0, 2, 6).unwrap();
    sheet
        .filter_column(4, &FilterCondition::new().add_list_filter("pilot"))
        .unwrap();
    book.save(&file).unwrap();
    let run = support::run_db(
        &db,
        &["status", "import", "--by", "MK", file.to_str().unwrap()],
    );
    run.assert_ok();
    assert!(
        run.stderr.contains(
            "warning: 1 row(s) hidden in the workbook (by a filter or by hand) are imported like the others: row(s) 3."
        ),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains("2 status event(s) recorded"),
        "{run:#?}"
    );
}

#[test]
fn an_empty_database_file_is_named_as_empty_to_a_reader() {
    let dir = scratch();
    let db = dir.path().join("empty.db");
    std::fs::write(&db, "").unwrap();
    for args in [
        &["search", "x"][..],
        &["query", "SELECT 1"][..],
        &["releases"][..],
    ] {
        let run = support::run_db(&db, args);
        assert_eq!(run.code, Some(1), "{args:?}: {run:#?}");
        assert!(
            run.stderr
                .contains("is an empty file (0 bytes), not a database yet"),
            "{args:?}: {run:#?}"
        );
        assert!(!run.stderr.contains("migrate"), "{run:#?}");
        assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
    }
    // Beside the writer creating it (`import` into a new path creates the schema
    // in its first release's transaction, so the file stays empty until the
    // commit), a reader is told who, and to read again when it has finished.
    let lock = ozgsync::store::lock::acquire(&db, "import").unwrap();
    let run = support::run_db(&db, &["releases"]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "is being created by import, pid {}",
            std::process::id()
        )) && run
            .stderr
            .contains("its first release has not committed yet"),
        "{run:#?}"
    );
    drop(lock);
    // A writer takes it as a new database, as before.
    let leika = fixture(LEIKA);
    support::run_db(&db, &["import", "leika", leika.to_str().unwrap()]).assert_ok();
    assert!(support::run_db(&db, &["search", "Abendrealschule"]).ok());
}

#[test]
fn a_database_in_a_folder_that_does_not_exist_is_named() {
    let dir = scratch();
    let db = dir.path().join("no/such/folder/o.db");
    let leika = fixture(LEIKA);
    for args in [
        &["import", "leika", leika.to_str().unwrap()][..],
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
        let run = collect(support::command(dir.path()).arg("--db").arg(&db).args(args));
        assert_eq!(run.code, Some(1), "{args:?}: {run:#?}");
        assert!(
            run.stderr.contains(&format!(
                "does not exist, and neither does its folder {}: create the folder",
                db.parent().unwrap().display()
            )),
            "{args:?}: {run:#?}"
        );
        assert!(!dir.path().join("no").exists());
    }
}
