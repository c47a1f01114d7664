//! The hostile tester's list of session 7, each through the real binary: the small
//! mends left open by session 6 and what the sweep found.

use super::support::{self, scratch};

#[test]
fn an_over_long_leika_line_without_a_quote_is_not_blamed_on_a_quote() {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    let file = dir.path().join("leika.csv");
    let mut text = String::from("Schluessel;Bezeichnung\n99001001002000;Abfall\n99001001003000;");
    text.push_str(&"x".repeat(3 << 20));
    text.push('\n');
    std::fs::write(&file, text).unwrap();
    let run = support::run_db(&db, &["import", "leika", file.to_str().unwrap()]);
    assert!(!run.ok(), "{run:#?}");
    assert!(run.stderr.contains("line 3"), "{run:#?}");
    assert!(run.stderr.contains("one over-long line"), "{run:#?}");
    assert!(!run.stderr.contains("never closed"), "{run:#?}");
}

#[test]
fn diff_of_a_source_shows_what_that_source_changed_not_another_of_its_kind() {
    let dir = scratch();
    let db = support::leika_db(dir.path()); // release 1: source leika
    let change = |name: &str, file: &str, key: &str, bezeichnung: &str| {
        let path = dir.path().join(file);
        std::fs::write(
            &path,
            format!("Schluessel;Bezeichnung\n{key};{bezeichnung}\n"),
        )
        .unwrap();
        let run = support::run_db(
            &db,
            &[
                "import",
                "leika",
                "--name",
                name,
                "--mode",
                "incremental",
                path.to_str().unwrap(),
            ],
        );
        run.assert_ok();
    };
    // Release 2: a second LeiKa source renames one service; release 3: leika another.
    change(
        "leika_nrw",
        "nrw.csv",
        "99088026034000",
        "Aufnahme in die Abendrealschule",
    );
    change(
        "leika",
        "nds.csv",
        "99001001002000",
        "Abfallgebühr festsetzen",
    );
    for args in [&["diff", "leika"][..], &["diff", "leika", "1", "3"][..]] {
        let mut all = args.to_vec();
        all.extend(["--format", "csv"]);
        let run = support::run_db(&db, &all);
        run.assert_ok();
        assert!(run.stdout.contains("99001001002000"), "{args:?}: {run:#?}");
        assert!(!run.stdout.contains("99088026034000"), "{args:?}: {run:#?}");
    }
    // The other source's diff shows its own change.
    let run = support::run_db(&db, &["diff", "leika_nrw", "--format", "csv"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("Aufnahme in die Abendrealschule"),
        "{run:#?}"
    );
    assert!(!run.stdout.contains("Abfallgebühr festsetzen"), "{run:#?}");
}

#[test]
fn the_user_config_is_found_under_xdg_config_home_else_home_dot_config() {
    let dir = scratch();
    let work = dir.path().join("work");
    let home = dir.path().join("home");
    let xdg = dir.path().join("xdg");
    std::fs::create_dir_all(&work).unwrap();
    // Each config names its own database, so the error names which was read.
    let config_in = |folder: &std::path::Path, db: &str| {
        std::fs::create_dir_all(folder).unwrap();
        std::fs::write(
            folder.join("ozgsync.toml"),
            format!("database = \"{db}\"\n"),
        )
        .unwrap();
    };
    let read_from = |env: &[(&str, &std::path::Path)]| {
        let mut cmd = support::command(&work);
        cmd.env_remove("XDG_CONFIG_HOME");
        for (name, value) in env {
            cmd.env(name, value);
        }
        support::collect(cmd.arg("releases"))
    };
    // Nothing anywhere: the default database in the working directory.
    let run = read_from(&[("HOME", &home)]);
    assert!(
        run.stderr.contains("ozgsync.db: does not exist"),
        "{run:#?}"
    );
    config_in(&home.join(".config/ozgsync"), "home.db");
    let run = read_from(&[("HOME", &home)]);
    assert!(
        run.stderr
            .contains(".config/ozgsync/home.db: does not exist"),
        "{run:#?}"
    );
    config_in(&xdg.join("ozgsync"), "xdg.db");
    let run = read_from(&[("HOME", &home), ("XDG_CONFIG_HOME", &xdg)]);
    assert!(
        run.stderr.contains("xdg/ozgsync/xdg.db: does not exist"),
        "{run:#?}"
    );
    // The working directory's config comes first.
    config_in(&work, "here.db");
    let run = read_from(&[("HOME", &home), ("XDG_CONFIG_HOME", &xdg)]);
    assert!(
        run.stderr.contains("database ./here.db: does not exist"),
        "{run:#?}"
    );
    // A command that needs a config, with none, names the user's path.
    std::fs::remove_file(work.join("ozgsync.toml")).unwrap();
    std::fs::remove_dir_all(&xdg).unwrap();
    std::fs::remove_dir_all(&home).unwrap();
    let mut cmd = support::command(&work);
    let run = support::collect(
        cmd.env_remove("XDG_CONFIG_HOME")
            .env("HOME", &home)
            .arg("sync"),
    );
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(
        run.stderr
            .contains(&format!("{}/.config/ozgsync/ozgsync.toml", home.display())),
        "{run:#?}"
    );
}

/// The coordinators' sheets that take a workbook: `template KIND` writes one and
/// `KIND import` reads it.
const SHEET_KINDS: [&str; 3] = ["annotations", "status", "efa-nachnutzung"];

#[test]
fn a_workbook_cut_short_or_saved_as_xls_says_what_to_do() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    for template in SHEET_KINDS {
        let whole = dir.path().join(format!("{template}.xlsx"));
        support::run_db(
            &db,
            &[
                "template",
                template,
                "--format",
                "xlsx",
                "--out",
                whole.to_str().unwrap(),
            ],
        )
        .assert_ok();
        let bytes = std::fs::read(&whole).unwrap();
        // A download or copy that stopped halfway: the ZIP directory at the end is gone.
        let cut = dir.path().join(format!("{template}-cut.xlsx"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let run = support::run_db(
            &db,
            &[template, "import", "--by", "MK", cut.to_str().unwrap()],
        );
        assert_eq!(run.code, Some(1), "{template}: {run:#?}");
        assert!(
            run.stderr.contains("is not a whole one")
                && run.stderr.contains("cut short while downloaded or copied"),
            "{template}: {run:#?}"
        );
        // Excel 97-2003 (.xls) and password-protected workbooks are OLE compound files.
        let xls = dir.path().join(format!("{template}.xls"));
        let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        ole.resize(4096, 0);
        std::fs::write(&xls, ole).unwrap();
        let run = support::run_db(
            &db,
            &[template, "import", "--by", "MK", xls.to_str().unwrap()],
        );
        assert_eq!(run.code, Some(1), "{template}: {run:#?}");
        assert!(
            run.stderr
                .contains("Excel 97-2003 workbook (.xls) or a password-protected workbook")
                && run.stderr.contains("Excel-Arbeitsmappe (*.xlsx)"),
            "{template}: {run:#?}"
        );
    }
}
