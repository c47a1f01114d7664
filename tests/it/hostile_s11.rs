//! The hostile tester's list of session 11, each through the real binary: what
//! session 10 left open (integrity checks refused by `query`, values JSON cannot
//! hold written without a word, a hidden-row warning that said "imported" of a
//! refused workbook, a lock file left in the user's folder) and what the ninth
//! round's sweep found.

use super::support::{self, scratch};

/// `query "PRAGMA integrity_check"` (and `quick_check`, `foreign_key_check`, a
/// setting read without a value) was refused although it only reads; a pragma
/// that changes a setting (`query_only = 0`, `hard_heap_limit = 0`, which would lift
/// `--max-memory`) is still refused, and one that would write fails on the
/// read-only file, the database unchanged.
#[test]
fn pragmas_that_only_read_or_check_are_allowed_and_settings_stay_refused() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let before = std::fs::read(&db).unwrap();
    for (sql, expected) in [
        ("PRAGMA integrity_check", "ok"),
        ("PRAGMA quick_check", "ok"),
        ("PRAGMA integrity_check(3)", "ok"),
        ("SELECT * FROM pragma_quick_check('releases')", "ok"),
        ("PRAGMA encoding", "UTF-8"),
        ("PRAGMA query_only", "1"),
    ] {
        let run = support::run_db(&db, &["query", "--format", "csv", sql]);
        run.assert_ok();
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.get(1).copied(), Some(expected), "{sql}: {run:#?}");
    }
    // No foreign key is broken: a header and no rows.
    let run = support::run_db(
        &db,
        &["query", "--format", "csv", "PRAGMA foreign_key_check"],
    );
    run.assert_ok();
    assert_eq!(run.stdout.lines().count(), 1, "{run:#?}");
    for (sql, said) in [
        (
            "PRAGMA hard_heap_limit = 0",
            "PRAGMA hard_heap_limit = 0 is not allowed: it changes a setting",
        ),
        (
            "PRAGMA query_only = 0",
            "PRAGMA query_only = 0 is not allowed: it changes a setting",
        ),
        (
            "PRAGMA cache_size(5)",
            "PRAGMA cache_size = 5 is not allowed: it changes a setting",
        ),
    ] {
        let run = support::run_db(&db, &["query", sql]);
        run.assert_code(1);
        assert!(run.stderr.contains(said), "{sql}: {run:#?}");
    }
    // SQLite itself counts these as able to write, even without a value.
    for sql in [
        "PRAGMA incremental_vacuum",
        "PRAGMA optimize",
        "PRAGMA wal_checkpoint",
        "PRAGMA journal_mode",
    ] {
        let run = support::run_db(&db, &["query", sql]);
        run.assert_code(1);
        assert!(
            run.stderr
                .contains("the statement would change the database"),
            "{sql}: {run:#?}"
        );
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the database unchanged"
    );
}

/// `query` of a REAL beyond a double's range (`1e400`: SQLite's infinity) wrote
/// `null` in JSON (an empty cell in CSV, as NULL) and a BLOB as hex text, with no
/// word: a reader took infinity for "no value" and hex for text. Both are still
/// written so (JSON has no infinity; hex is how a BLOB reads as text), now with a
/// warning on stderr naming how many, the first one's row and column, and the SQL
/// that says it plainly.
#[test]
fn values_json_cannot_hold_are_named_on_stderr() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let sql = "SELECT 1 AS n, 1e400 AS big, x'00ff' AS raw UNION ALL SELECT 2, -1e400, NULL";
    let run = support::run_db(&db, &["query", "--format", "json", sql]);
    run.assert_ok();
    let rows: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        rows,
        serde_json::json!([
            {"n": 1, "big": null, "raw": "00ff"},
            {"n": 2, "big": null, "raw": null}
        ])
    );
    assert!(
        run.stderr.contains(
            "warning: 2 value(s) are real numbers beyond a double's range (infinity; the first in row 1, column \"big\"), written as null: select CAST(big AS TEXT)"
        ),
        "{run:#?}"
    );
    assert!(
        run.stderr.contains(
            "warning: 1 value(s) are BLOBs (binary; the first in row 1, column \"raw\"), written as hex text"
        ),
        "{run:#?}"
    );
    let run = support::run_db(&db, &["query", "--format", "csv", sql]);
    run.assert_ok();
    assert!(
        run.stderr.contains("written as an empty cell, as NULL is"),
        "{run:#?}"
    );
    // What the warning advises shows the value.
    let run = support::run_db(
        &db,
        &[
            "query",
            "--format",
            "json",
            "SELECT CAST(1e400 AS TEXT) AS big",
        ],
    );
    run.assert_ok();
    assert!(run.stdout.contains("\"Inf\""), "{run:#?}");
    assert_eq!(run.stderr, "", "no warning for text");
}

/// A status report workbook with a hidden (filtered-out) row holding an error,
/// imported without `--partial`: the warning said the hidden rows "are imported
/// like the others", and then nothing was. It now says they were read and nothing
/// was imported, and that a row named in the errors may be hidden; a workbook that
/// is recorded still says "are imported".
#[test]
fn a_refused_workbook_does_not_say_its_hidden_rows_are_imported() {
    use rust_xlsxwriter::{FilterCondition, Workbook};
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let gv100ad = support::fixture("gv100ad/GV100AD_30112025_NI.txt");
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
    // Row 3 (hidden by the filter) has a status that does not exist.
    for (r, status) in [(1u32, "pilot"), (2, "fertig")] {
        sheet.write_string(r, 0, "99088026034000").unwrap();
        sheet.write_string(r, 3, "032410001001").unwrap();
        sheet.write_string(r, 4, status).unwrap();
        sheet.write_string(r, 5, "2025-03-01").unwrap();
    }
    sheet.autofilter(0, 0, 2, 6).unwrap();
    sheet
        .filter_column(4, &FilterCondition::new().add_list_filter("pilot"))
        .unwrap();
    book.save(&file).unwrap();
    let run = support::run_db(
        &db,
        &["status", "import", "--by", "MK", file.to_str().unwrap()],
    );
    run.assert_code(1);
    assert!(!run.stderr.contains("are imported"), "{run:#?}");
    assert!(
        run.stderr.contains(
            "warning: 1 row(s) hidden in the workbook (by a filter or by hand) were read like the others, and nothing was imported: row(s) 3. A row named in the errors may be one of them"
        ),
        "{run:#?}"
    );
    assert!(run.stderr.contains("nothing was applied"), "{run:#?}");
    // With --partial the valid row is recorded, and the warning says imported.
    let run = support::run_db(
        &db,
        &[
            "status",
            "import",
            "--partial",
            "--by",
            "MK",
            file.to_str().unwrap(),
        ],
    );
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("1 row(s) hidden in the workbook (by a filter or by hand) are imported like the others: row(s) 3"),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains("1 status event(s) recorded"),
        "{run:#?}"
    );
}

/// `export dashboards --out web/dash` left an empty `web/.dash.lock` beside the set
/// for good: a file ozgsync made in the user's folder and never removed. It is
/// removed when the export ends (with the lock still held); two exports racing
/// still publish one after the other, each set whole; a file of that name with
/// bytes in it (not ozgsync's) is kept.
#[test]
fn dashboards_leave_no_lock_file_beside_the_set() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let web = dir.path().join("web");
    std::fs::create_dir(&web).unwrap();
    let out = web.join("dash");
    let out_arg = out.to_str().unwrap();
    support::run_db(&db, &["export", "dashboards", "--out", out_arg]).assert_ok();
    let names = |d: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&web), ["dash"]);
    // Two at once, twice over: both succeed, nothing is left beside the set.
    for _ in 0..2 {
        let children: Vec<_> = (0..2)
            .map(|_| {
                support::command(dir.path())
                    .args(["--db", db.to_str().unwrap(), "export", "dashboards"])
                    .args(["--out", out_arg])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "{output:#?}");
        }
        assert_eq!(names(&web), ["dash"]);
    }
    assert!(out.join("index.json").is_file());
    // Someone's own file of that name is used as the lock and kept.
    std::fs::write(web.join(".dash.lock"), "mine").unwrap();
    support::run_db(&db, &["export", "dashboards", "--out", out_arg]).assert_ok();
    assert_eq!(std::fs::read(web.join(".dash.lock")).unwrap(), b"mine");
}

/// The bytes of `data` up to and including the first byte of its last multi-byte
/// UTF-8 character: a file cut inside that character.
fn cut_inside_last_character(data: &[u8]) -> Vec<u8> {
    let lead = data
        .iter()
        .rposition(|&b| b >= 0xC0)
        .expect("a multi-byte character");
    data[..=lead].to_vec()
}

/// A LeiKa or GV100AD file in UTF-8, or a status report, cut in the middle of a
/// character (a copy or download that broke off, no final line break): the LeiKa
/// release was applied with its last row rejected for "bytes that are not UTF-8
/// although the file is UTF-8 elsewhere … save the whole file as UTF-8", and every
/// service after the cut retired; GV100AD likewise. Each is now refused as a
/// whole, naming the cut, the database unchanged. A Windows-1252 LeiKa file that
/// ends in an umlaut without a line break is not taken for one.
#[test]
fn a_file_cut_inside_a_character_is_refused_not_applied_short() {
    let dir = scratch();
    let db = dir.path().join("cut.db");
    // The LeiKa sample (Windows-1252) as UTF-8: its umlauts are Latin-1's.
    let latin = std::fs::read(support::fixture("leika/leika_sample_nrw2019.csv")).unwrap();
    let utf8: String = latin.iter().map(|&b| b as char).collect();
    let whole = dir.path().join("leika.csv");
    std::fs::write(&whole, &utf8).unwrap();
    support::run_db(&db, &["import", "leika", whole.to_str().unwrap()]).assert_ok();
    let releases = || support::rows(&db, "SELECT count(*) FROM releases");
    let before = releases();
    let said = "ends in the middle of a character (its last 1 byte(s) begin a UTF-8 character that is never finished): it was cut short";

    // Cut inside the last line's last umlaut: too little lost for the guard
    // against a release that retires most services.
    let cut = dir.path().join("cut.csv");
    std::fs::write(&cut, cut_inside_last_character(utf8.as_bytes())).unwrap();
    let run = support::run_db(&db, &["import", "leika", cut.to_str().unwrap()]);
    run.assert_code(1);
    assert!(run.stderr.contains(said), "{run:#?}");
    assert_eq!(releases(), before, "no release recorded");

    let gv100ad = std::fs::read(support::fixture("gv100ad/GV100AD_30112025_NI.txt")).unwrap();
    let cut = dir.path().join("gv.txt");
    std::fs::write(&cut, cut_inside_last_character(&gv100ad)).unwrap();
    let run = support::run_db(&db, &["import", "gv100ad", cut.to_str().unwrap()]);
    run.assert_code(1);
    assert!(run.stderr.contains(said), "{run:#?}");

    let report = dir.path().join("status.csv");
    std::fs::write(
        &report,
        "Leistungsschlüssel;ARS;Status;Gültig ab;Bemerkung\n99088026034000;032410001001;pilot;2025-03-01;Prüfung l\u{e4}",
    )
    .unwrap();
    let mut bytes = std::fs::read(&report).unwrap();
    bytes.pop(); // the second byte of the final ä
    std::fs::write(&report, bytes).unwrap();
    let run = support::run_db(
        &db,
        &["status", "import", "--by", "MK", report.to_str().unwrap()],
    );
    run.assert_code(1);
    assert!(run.stderr.contains(said), "{run:#?}");
    assert_eq!(releases(), before);

    // Windows-1252 ending in ä, no line break: read as before.
    let mut latin_cut = latin.clone();
    while latin_cut.last().is_some_and(|b| b.is_ascii_whitespace()) {
        latin_cut.pop();
    }
    latin_cut.push(0xE4);
    let file = dir.path().join("latin.csv");
    std::fs::write(&file, latin_cut).unwrap();
    let run = support::run_db(&db, &["import", "leika", file.to_str().unwrap()]);
    assert!(!run.stderr.contains("middle of a character"), "{run:#?}");
}

/// A status report whose key a spreadsheet spoilt: a Leistungsschlüssel or ARS in
/// scientific notation (`9,9088E+13`), or read as a date (`01.03.2025`: the cell
/// taken for a date, or the columns shifted). The report said "not a 14-digit
/// Leistungsschluessel" / "not a 12-digit ARS" with no cause, where the LeiKa and
/// annotation imports named it since the eighth round; it now names the cause and
/// what to do, as they do (one home, `model::keys::invisible_cause`).
#[test]
fn a_status_key_a_spreadsheet_spoilt_names_the_cause() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let gv100ad = support::fixture("gv100ad/GV100AD_30112025_NI.txt");
    support::run_db(&db, &["import", "gv100ad", gv100ad.to_str().unwrap()]).assert_ok();
    let report = dir.path().join("status.csv");
    std::fs::write(
        &report,
        "Leistungsschlüssel;ARS;Status;Gültig ab\n\
         9,9088E+13;032410001001;pilot;2025-03-01\n\
         99088026034000;3,2410E+10;pilot;2025-03-01\n\
         99088026034000;01.03.2025;pilot;2025-03-01\n\
         2025-03-01;032410001001;pilot;2025-03-01\n",
    )
    .unwrap();
    let run = support::run_db(
        &db,
        &["status", "import", "--by", "MK", report.to_str().unwrap()],
    );
    run.assert_code(1);
    for expected in [
        "line 2, column Leistungsschluessel (\"9,9088E+13\"): not a 14-digit Leistungsschluessel: a spreadsheet turned it into a number in scientific notation",
        "line 3, column ARS (\"3,2410E+10\"): not a 12-digit ARS: a spreadsheet turned it into a number in scientific notation",
        "line 4, column ARS (\"01.03.2025\"): not a 12-digit ARS: it reads as a date",
        "line 5, column Leistungsschluessel (\"2025-03-01\"): not a 14-digit Leistungsschluessel: it reads as a date",
    ] {
        assert!(run.stderr.contains(expected), "{expected}\n{run:#?}");
    }
}

/// A status report (likewise an annotation sheet's Zieldatum, an EfA `stand`) with
/// `29.02.2025`, `31.04.2025`, `2025-03-01 13:00` (a date cell with a time, as a
/// spreadsheet writes it) or `1.3.25`: each "not a date; write YYYY-MM-DD or
/// DD.MM.YYYY", although it was written in one of those forms. The message now
/// says what is wrong with it.
#[test]
fn a_date_in_the_right_form_that_is_none_says_why() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let gv100ad = support::fixture("gv100ad/GV100AD_30112025_NI.txt");
    support::run_db(&db, &["import", "gv100ad", gv100ad.to_str().unwrap()]).assert_ok();
    let report = dir.path().join("status.csv");
    std::fs::write(
        &report,
        "Leistungsschlüssel;ARS;Status;Gültig ab\n\
         99088026034000;032410001001;pilot;29.02.2025\n\
         99088026034000;032410001001;pilot;31.04.2025\n\
         99088026034000;032410001001;pilot;2025-03-01 13:00\n\
         99088026034000;032410001001;pilot;1.3.25\n",
    )
    .unwrap();
    let run = support::run_db(
        &db,
        &["status", "import", "--by", "MK", report.to_str().unwrap()],
    );
    run.assert_code(1);
    for expected in [
        "line 2, column Gueltig ab (\"29.02.2025\"): not a date; write YYYY-MM-DD or DD.MM.YYYY (a four-digit year); there is no such day: month 02 of 2025 has 28 days",
        "line 3, column Gueltig ab (\"31.04.2025\"): not a date; write YYYY-MM-DD or DD.MM.YYYY (a four-digit year); there is no such day: month 04 of 2025 has 30 days",
        "line 4, column Gueltig ab (\"2025-03-01 13:00\"): not a date; write YYYY-MM-DD or DD.MM.YYYY (a four-digit year); it holds a time of day (13:00) after the date: write the date alone",
        "line 5, column Gueltig ab (\"1.3.25\"): not a date; write YYYY-MM-DD or DD.MM.YYYY (a four-digit year); the year has 2 digits: write it with four",
    ] {
        assert!(run.stderr.contains(expected), "{expected}\n{run:#?}");
    }
}

/// A path running through a file (`--out afile/d`, `backup afile/b.db`, `import
/// leika afile/x.csv`): "inspecting afile/d: Not a directory (os error 20)", which
/// does not say which part is wrong. The system's message now names the file in
/// the way.
#[test]
fn a_path_through_a_file_names_the_file() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let file = dir.path().join("afile");
    std::fs::write(&file, "x").unwrap();
    let said = format!(
        "{} is a file, not a folder, so nothing can be below it",
        file.display()
    );
    let below = |name: &str| file.join(name).to_str().unwrap().to_owned();
    let (d, r, b, x) = (below("d"), below("r.xlsx"), below("b.db"), below("x.csv"));
    for args in [
        vec!["export", "dashboards", "--out", d.as_str()],
        vec!["export", "report", "--format", "xlsx", "--out", r.as_str()],
        vec!["backup", b.as_str()],
        vec!["import", "leika", x.as_str()],
    ] {
        let run = support::run_db(&db, &args);
        assert!(!run.ok(), "{args:?}: {run:#?}");
        assert!(run.stderr.contains(&said), "{args:?}: {run:#?}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}
