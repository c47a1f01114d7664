//! The hostile tester's list of session 7, each through the real binary: the small
//! mends left open by session 6 and what the sweep found.

use super::support::{self, scratch};

const LEIKA_SAMPLE: &str = "leika/leika_sample_nrw2019.csv";

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
        support::write_template(&db, template, &whole);
        let bytes = std::fs::read(&whole).unwrap();
        // A download or copy that stopped halfway: the ZIP directory at the end is gone.
        let cut = dir.path().join(format!("{template}-cut.xlsx"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let run = support::import_sheet(&db, template, &cut);
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
        let run = support::import_sheet(&db, template, &xls);
        assert_eq!(run.code, Some(1), "{template}: {run:#?}");
        assert!(
            run.stderr
                .contains("Excel 97-2003 workbook (.xls) or a password-protected workbook")
                && run.stderr.contains("Excel-Arbeitsmappe (*.xlsx)"),
            "{template}: {run:#?}"
        );
    }
}

/// A ZIP archive holding `name` with `content`.
fn zipped(name: &str, content: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    zip.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(content).unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

#[test]
fn a_zipped_download_is_named_a_zip_archive_not_bad_text() {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    // Destatis publishes GV100AD as a ZIP archive; it was "bytes that are not UTF-8
    // … pasted from an ISO-8859-1 edition?".
    let gv = std::fs::read(support::fixture("gv100ad/GV100AD_30112025_NI.txt")).unwrap();
    let file = dir.path().join("GV100AD_30112025.zip");
    std::fs::write(&file, zipped("GV100AD_30112025.ASC", &gv)).unwrap();
    let run = support::run_db(&db, &["import", "gv100ad", file.to_str().unwrap()]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr
            .contains("is a ZIP archive (Destatis publishes GV100AD zipped): unzip it"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains("ISO-8859-1"), "{run:#?}");
    // Binary that is no ZIP either.
    std::fs::write(&file, b"\x7fELF\x02\x01\x01\x00\x00\x00\n").unwrap();
    let run = support::run_db(&db, &["import", "gv100ad", file.to_str().unwrap()]);
    assert!(
        run.stderr.contains("holds NUL bytes, so it is binary"),
        "{run:#?}"
    );
    // An Excel workbook where only CSV is read (the EfA release, OZG lists).
    let sheet = dir.path().join("efa.xlsx");
    std::fs::write(&sheet, zipped("xl/workbook.xml", b"<workbook/>")).unwrap();
    for kind in ["efa", "ozg", "ozg-map"] {
        let run = support::run_db(&db, &["import", kind, sheet.to_str().unwrap()]);
        assert_eq!(run.code, Some(1), "{kind}: {run:#?}");
        assert!(
            run.stderr.contains(
                "is a ZIP archive (an Excel workbook, .xlsx, or a zipped download), not CSV text"
            ),
            "{kind}: {run:#?}"
        );
    }
    assert!(!db.exists() || support::rows(&db, "SELECT count(*) FROM releases") == ["0"]);
}

#[test]
fn out_dev_stdout_writes_to_standard_output_like_a_dash() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    for out in ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "-"] {
        let run = support::run_db(&db, &["export", "report", "--format", "md", "--out", out]);
        run.assert_ok();
        assert!(
            run.stdout.starts_with("# Onlinedienste-Report"),
            "{out}: {run:#?}"
        );
        let run = support::run_db(&db, &["template", "status", "--out", out]);
        run.assert_ok();
        assert!(
            run.stdout.contains("Leistungsschlüssel;"),
            "{out}: {run:#?}"
        );
    }
    // A set of files still needs a directory.
    let run = support::run_db(&db, &["export", "dashboards", "--out", "/dev/stdout"]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("--out names a directory"), "{run:#?}");
}

#[test]
fn a_fifo_nobody_writes_into_is_waited_on_for_the_connect_timeout_then_named() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let fifo = dir.path().join("feed");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let config = dir.path().join("ozgsync.toml");
    std::fs::write(&config, "[fetch]\nconnect_timeout_secs = 1\n").unwrap();
    // It blocked in open(2) for ever, and SIGTERM did not end it.
    for args in [
        &["import", "leika"][..],
        &["annotations", "import", "--by", "MK"][..],
        &["status", "import", "--by", "MK"][..],
        &["efa-nachnutzung", "import", "--by", "MK"][..],
    ] {
        let started = std::time::Instant::now();
        let mut cmd = support::command(dir.path());
        cmd.arg("--config").arg(&config).arg("--db").arg(&db);
        let run = support::collect(cmd.args(args).arg(&fifo));
        assert_eq!(run.code, Some(1), "{args:?}: {run:#?}");
        assert!(
            run.stderr
                .contains("is a FIFO (named pipe) and no program wrote into it within 1 s"),
            "{args:?}: {run:#?}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{args:?}"
        );
    }
    // A FIFO a program feeds is read as before.
    let feeder = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            std::fs::write(
                &fifo,
                std::fs::read(support::fixture("status/report_ok.csv")).unwrap(),
            )
        })
    };
    let mut cmd = support::command(dir.path());
    cmd.arg("--config").arg(&config).arg("--db").arg(&db);
    let run = support::collect(cmd.args(["import", "leika", "--name", "piped"]).arg(&fifo));
    feeder.join().unwrap().unwrap();
    // (A status report is not LeiKa: what matters is that it was read, not waited on.)
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("not a LeiKa CSV payload"), "{run:#?}");
}

#[test]
fn a_windows_byte_in_an_iso_8859_1_gv100ad_is_read_as_windows_1252_with_a_warning() {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    // The Latin-1 edition with one name edited on Windows: "Gifhorn–Nord" (0x96).
    let mut text =
        std::fs::read(support::fixture("gv100ad/GV100AD_30112025_NI_latin1.txt")).unwrap();
    let at = text
        .windows(7)
        .position(|w| w == b"Gifhorn")
        .expect("Gifhorn in the fixture");
    text.splice(at + 7..at + 12, *b"\x96Nord");
    let file = dir.path().join("gv100ad.txt");
    std::fs::write(&file, &text).unwrap();
    let run = support::run_db(&db, &["import", "gv100ad", file.to_str().unwrap()]);
    run.assert_ok();
    assert!(run.stdout.contains(", 1 warnings"), "{run:#?}");
    // It was stored as U+0096, an invisible control character.
    assert_eq!(
        support::rows(
            &db,
            "SELECT count(*) FROM v_municipalities WHERE name LIKE '%' || char(150) || '%'"
        ),
        ["0"]
    );
    assert_eq!(
        support::rows(
            &db,
            "SELECT count(*) FROM v_municipalities WHERE name LIKE 'Gifhorn–Nord%'"
        ),
        ["1"]
    );
    let rejects = support::run_db(&db, &["rejects", "1"]);
    assert!(
        rejects.stdout.contains("read as Windows-1252"),
        "{rejects:#?}"
    );
}

/// `workbook` with one more row, holding `cell` (e.g. `XFD1048576`), in its first
/// worksheet.
fn with_far_cell(workbook: &[u8], cell: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut zin = zip::ZipArchive::new(std::io::Cursor::new(workbook)).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zout = zip::ZipWriter::new(&mut out);
    for i in 0..zin.len() {
        let mut part = zin.by_index(i).unwrap();
        let name = part.name().to_owned();
        let mut bytes = Vec::new();
        part.read_to_end(&mut bytes).unwrap();
        if name == "xl/worksheets/sheet1.xml" {
            let row: String = cell.chars().filter(char::is_ascii_digit).collect();
            let far = format!(
                "<row r=\"{row}\"><c r=\"{cell}\" t=\"inlineStr\"><is><t>x</t></is></c></row></sheetData>"
            );
            bytes = String::from_utf8(bytes)
                .unwrap()
                .replacen("</sheetData>", &far, 1)
                .into_bytes();
        }
        zout.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zout.write_all(&bytes).unwrap();
    }
    zout.finish().unwrap();
    out.into_inner()
}

#[test]
fn a_workbook_with_a_stray_cell_far_away_is_refused_or_streamed_instead_of_aborting() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    for template in SHEET_KINDS {
        let file = dir.path().join(format!("{template}.xlsx"));
        support::write_template(&db, template, &file);
        let whole = std::fs::read(&file).unwrap();
        // Two cells 16,384 columns and a million rows apart: a 5 KB file whose
        // dense cell array was 512 GiB ("memory allocation … failed", SIGABRT).
        std::fs::write(&file, with_far_cell(&whole, "XFD1048576")).unwrap();
        let run = support::import_sheet(&db, template, &file);
        assert_eq!(run.code, Some(1), "{template}: {run:#?}");
        if template == "status" {
            // The status report is streamed row by row, nothing held densely: the
            // far cell is one more row, refused by its Excel row like any other.
            assert!(
                run.stderr.contains("line 1048576, column ")
                    && run.stderr.contains("nothing was applied")
                    && !run.stderr.contains("cells span"),
                "{template}: {run:#?}"
            );
        } else {
            assert!(
                run.stderr
                    .contains("cells span 1048576 rows × 16384 columns (from A1 to XFD1048576)")
                    && run.stderr.contains("delete the stray cells"),
                "{template}: {run:#?}"
            );
        }
        // A far cell within the bound is read as before (an empty row far below).
        std::fs::write(&file, with_far_cell(&whole, "A5000")).unwrap();
        let run = support::import_sheet(&db, template, &file);
        assert!(!run.stderr.contains("cells span"), "{template}: {run:#?}");
        assert!(
            !run.stderr.contains("memory allocation"),
            "{template}: {run:#?}"
        );
    }
}

#[test]
fn a_pipe_is_imported_again_after_the_first_release() {
    let dir = scratch();
    let db = support::leika_db(dir.path()); // release 1, so the next import has a hash to compare
    let fifo = dir.path().join("feed");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let sample = std::fs::read(support::fixture(LEIKA_SAMPLE)).unwrap();
    let changed = {
        let at = sample
            .windows(24)
            .position(|w| w == b"Abendrealschule Aufnahme")
            .unwrap();
        let mut bytes = sample.clone();
        bytes.splice(at..at + 24, *b"Abendrealschule Zulassen");
        bytes
    };
    let feeder = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(&fifo, changed))
    };
    // It was hashed first, which read the pipe, and then found empty.
    let run = support::run_db(&db, &["import", "leika", fifo.to_str().unwrap()]);
    feeder.join().unwrap().unwrap();
    run.assert_ok();
    assert!(
        run.stdout.contains("release 2 applied: 0 added, 1 changed"),
        "{run:#?}"
    );
}
