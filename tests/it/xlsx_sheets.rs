//! Annotation sheets as Excel workbooks through the real binary: the template
//! written by `template annotations --format xlsx --fill` imports unchanged with
//! no change; a workbook as Excel saves it after one edit (numbers where the user
//! typed digits, another program's file layout) imports exactly that change; a bad
//! cell is reported with its Excel row and column, and nothing is applied.

use std::path::Path;

use calamine::{Data, Reader, Xlsx};
use rust_xlsxwriter::Workbook;
use serde_json::Value;

use super::support::{self, leika_db, run_db, scratch};

/// `annotations import FILE --format json`, parsed.
fn import(db: &Path, file: &Path) -> (Option<i32>, Value) {
    let run = run_db(
        db,
        &[
            "annotations",
            "import",
            file.to_str().unwrap(),
            "--by",
            "Test",
            "--format",
            "json",
        ],
    );
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", run.stdout, run.stderr));
    (run.code, report)
}

fn template(db: &Path, out: &Path) {
    run_db(
        db,
        &[
            "template",
            "annotations",
            "--format",
            "xlsx",
            "--fill",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .assert_ok();
}

/// The first sheet's cells as calamine reads them.
fn cells(file: &Path) -> Vec<Vec<Data>> {
    let mut book: Xlsx<_> = calamine::open_workbook(file).unwrap();
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    range.rows().map(<[Data]>::to_vec).collect()
}

/// Writes `rows` as a plain workbook the way Excel stores typed cells: digits as
/// numbers, the rest as text.
fn save_as_excel_would(rows: &[Vec<Data>], out: &Path) {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in (0u32..).zip(rows) {
        for (c, cell) in (0u16..).zip(row) {
            let text = cell.to_string();
            match text.parse::<f64>() {
                Ok(n) if r > 0 => sheet.write_number(r, c, n).map(|_| ()),
                _ if text.is_empty() => Ok(()),
                _ => sheet.write_string(r, c, &text).map(|_| ()),
            }
            .unwrap();
        }
    }
    book.save(out).unwrap();
}

#[test]
fn template_saved_unchanged_imports_with_no_change_and_one_edit_with_one() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let first = dir.path().join("erst.csv");
    std::fs::write(
        &first,
        "Leistungsschlüssel;Ressort;Vollzug;Priorität;Zieldatum\r\n99088026034000;MI;Land;1;31.12.2026\r\n",
    )
    .unwrap();
    let (code, report) = import(&db, &first);
    assert_eq!(
        (code, report["changed"].as_u64()),
        (Some(0), Some(1)),
        "{report}"
    );

    let sheet = dir.path().join("annotationen.xlsx");
    template(&db, &sheet);
    let rows = cells(&sheet);
    assert_eq!(rows[0][0], Data::String("Leistungsschlüssel".into()));
    let annotated = rows
        .iter()
        .position(|r| r[0] == Data::String("99088026034000".into()))
        .expect("the annotated key is a text cell");
    assert_eq!(rows[annotated][2], Data::String("MI".into()));
    assert_eq!(rows[annotated][8], Data::String("2026-12-31".into()));

    let (code, report) = import(&db, &sheet);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["changed"], 0, "{report}");
    assert_eq!(report["rows"].as_u64(), Some(rows.len() as u64 - 1));

    // One edit: priority 1 → 2, in a workbook that stores every digit cell as a
    // number, keys included.
    let mut edited = rows.clone();
    edited[annotated][7] = Data::String("2".into());
    let saved = dir.path().join("gespeichert.xlsx");
    save_as_excel_would(&edited, &saved);
    assert!(matches!(cells(&saved)[annotated][0], Data::Float(_)));
    let (code, report) = import(&db, &saved);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(
        (
            report["changed"].as_u64(),
            report["audited_fields"].as_u64()
        ),
        (Some(1), Some(1)),
        "{report}"
    );
    let show = run_db(&db, &["annotations", "show", "99088026034000"]);
    assert!(
        show.stdout.contains("Priorität              2"),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout.contains("Zieldatum              2026-12-31"),
        "{}",
        show.stdout
    );
}

#[test]
fn a_bad_cell_names_its_excel_row_and_nothing_is_applied() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let sheet = dir.path().join("annotationen.xlsx");
    template(&db, &sheet);
    let mut rows = cells(&sheet);
    rows[1][3] = Data::String("Bund".into());
    rows[4][2] = Data::String("MI".into());
    let saved = dir.path().join("falsch.xlsx");
    save_as_excel_would(&rows, &saved);
    let (code, report) = import(&db, &saved);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["changed"], 0, "{report}");
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!(
        (errors[0]["line"].as_u64(), errors[0]["column"].as_str()),
        (Some(2), Some("Vollzug"))
    );
    let show = run_db(&db, &["annotations", "orphans", "--format", "json"]);
    show.assert_ok();
    let audit = run_db(
        &db,
        &[
            "query",
            "SELECT count(*) AS n FROM annotation_audit",
            "--format",
            "csv",
        ],
    );
    assert_eq!(audit.stdout.trim(), "n\n0", "{}", audit.stderr);
}

#[test]
fn a_workbook_that_is_not_the_sheet_is_refused_whole() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let wrong = dir.path().join("andere.xlsx");
    let mut book = Workbook::new();
    book.add_worksheet().write_string(0, 0, "Farbe").unwrap();
    book.save(&wrong).unwrap();
    let run = run_db(
        &db,
        &[
            "annotations",
            "import",
            wrong.to_str().unwrap(),
            "--by",
            "Test",
        ],
    );
    assert!(!run.ok());
    assert!(
        run.stderr.contains("unknown column \"Farbe\""),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("andere.xlsx"), "{}", run.stderr);
}

#[test]
fn a_status_report_as_excel_saves_it_imports_with_excel_rows_in_errors() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let gv100ad = super::support::fixture("gv100ad/GV100AD_30112025_NI.txt");
    run_db(&db, &["import", "gv100ad", gv100ad.to_str().unwrap()]).assert_ok();
    let template = dir.path().join("status.xlsx");
    run_db(
        &db,
        &[
            "template",
            "status",
            "--format",
            "xlsx",
            "--out",
            template.to_str().unwrap(),
        ],
    )
    .assert_ok();
    let header = cells(&template).remove(0);
    assert_eq!(header[4], Data::String("Status".into()));

    // As Excel stores what a coordinator types: the date as a date cell (a serial
    // number with a date format); the ARS as text in the template's text column,
    // and in row 5 as a number that lost its leading zero (pasted over the format).
    let filled = dir.path().join("gefuellt.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    support::write_row(sheet, 0, &header);
    let date = rust_xlsxwriter::Format::new().set_num_format("dd.mm.yyyy");
    for (r, status) in [(1u32, "pilot"), (2, "produktiv"), (4, "fertig")] {
        sheet.write_string(r, 0, "99088026034000").unwrap();
        if r == 4 {
            sheet.write_number(r, 3, 32_410_001_001.0).unwrap();
        } else {
            sheet.write_string(r, 3, "032410001001").unwrap();
        }
        sheet.write_string(r, 4, status).unwrap();
        let day = rust_xlsxwriter::ExcelDateTime::from_ymd(2025, 3, r as u8).unwrap();
        sheet.write_datetime_with_format(r, 5, &day, &date).unwrap();
    }
    book.save(&filled).unwrap();

    let run = run_db(
        &db,
        &["status", "import", filled.to_str().unwrap(), "--by", "Test"],
    );
    assert!(!run.ok());
    assert!(
        run.stderr.contains("line 5, column Status"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "line 5, column ARS (\"32410001001\"): not a 12-digit ARS (leading zero lost?"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was applied"), "{}", run.stderr);

    let run = run_db(
        &db,
        &[
            "status",
            "import",
            filled.to_str().unwrap(),
            "--by",
            "Test",
            "--partial",
        ],
    );
    run.assert_code(1);
    assert!(
        run.stdout.contains("2 status event(s) recorded"),
        "{} {}",
        run.stdout,
        run.stderr
    );
    let history = run_db(
        &db,
        &[
            "query",
            "SELECT scope, status, effective_on FROM v_status_history ORDER BY event_id",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        history.stdout.replace("\r\n", "\n"),
        "scope,status,effective_on\n032410001001,pilot,2025-03-01\n032410001001,produktiv,2025-03-02\n"
    );
}

/// Date cells whose serial is no date Excel can show (1e308, -1e308, a year past
/// 9999; a broken or hostile workbook): each row is reported as not a date, by
/// Excel row, and nothing is applied. The serial went through chrono and the
/// import panicked ("TimeDelta::milliseconds out of bounds").
#[test]
fn date_cells_beyond_excel_s_calendar_are_bad_rows_not_a_panic() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let gv100ad = super::support::fixture("gv100ad/GV100AD_30112025_NI.txt");
    run_db(&db, &["import", "gv100ad", gv100ad.to_str().unwrap()]).assert_ok();
    let filled = dir.path().join("kaputt.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    support::write_row(
        sheet,
        0,
        ["Leistungsschlüssel", "ARS", "Status", "Gültig ab"],
    );
    let date = rust_xlsxwriter::Format::new().set_num_format("dd.mm.yyyy");
    let serials = [1e308, -1e308, 1e10, 2_958_466.0 + 1_462.0, 45_000.0];
    for (r, serial) in (1u32..).zip(serials) {
        sheet.write_string(r, 0, "99088026034000").unwrap();
        sheet.write_string(r, 1, "032410001001").unwrap();
        sheet.write_string(r, 2, "pilot").unwrap();
        sheet.write_number_with_format(r, 3, serial, &date).unwrap();
    }
    book.save(&filled).unwrap();
    let run = run_db(
        &db,
        &["status", "import", filled.to_str().unwrap(), "--by", "Test"],
    );
    run.assert_code(1);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    for line in 2..=5 {
        assert!(
            run.stderr
                .contains(&format!("line {line}, column Gueltig ab")),
            "line {line}: {}",
            run.stderr
        );
    }
    assert!(
        run.stderr.contains("4 error(s) in 4 of 5 rows"),
        "{}",
        run.stderr
    );
    assert_eq!(
        super::support::rows(&db, "SELECT count(*) FROM status_events"),
        ["0"]
    );
}

/// A workbook as people leave it: a hidden sheet first (a list of values moved to
/// the front), the report on the visible sheet after it, the Status and the
/// Gültig-ab merged over three rows each (Excel keeps the value only in the
/// top-left cell), an empty row between blocks. Before, the import read the hidden
/// sheet ("not a status report") and, once that was moved, refused the two lower
/// rows of each merge for an empty Status; now it reads the sheet that shows, and
/// each merged cell as it shows in every row it covers.
#[test]
fn the_visible_sheet_is_read_and_merged_cells_as_they_show() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let gv100ad = super::support::fixture("gv100ad/GV100AD_30112025_NI.txt");
    run_db(&db, &["import", "gv100ad", gv100ad.to_str().unwrap()]).assert_ok();
    let template = dir.path().join("status.xlsx");
    run_db(
        &db,
        &[
            "template",
            "status",
            "--format",
            "xlsx",
            "--out",
            template.to_str().unwrap(),
        ],
    )
    .assert_ok();
    let header = cells(&template).remove(0);

    let filled = dir.path().join("verbunden.xlsx");
    let mut book = Workbook::new();
    let lists = book.add_worksheet();
    lists.set_name("Listen").unwrap();
    lists.write_string(0, 0, "pilot").unwrap();
    lists.write_string(1, 0, "produktiv").unwrap();
    lists.set_hidden(true);
    let sheet = book.add_worksheet();
    sheet.set_name("Bericht").unwrap();
    // The sheet Excel opens on (a hidden sheet cannot be the active one).
    sheet.set_active(true);
    support::write_row(sheet, 0, &header);
    let plain = rust_xlsxwriter::Format::new();
    // Rows 2–4 Hannover, Braunschweig, Göttingen; row 5 empty.
    for (r, ars) in [
        (1u32, "032410001001"),
        (2, "031010000000"),
        (3, "031590016016"),
    ] {
        sheet.write_string(r, 0, "99088026034000").unwrap();
        sheet.write_string(r, 3, ars).unwrap();
    }
    sheet.merge_range(1, 4, 3, 4, "pilot", &plain).unwrap();
    sheet.merge_range(1, 5, 3, 5, "2025-03-01", &plain).unwrap();
    book.save(&filled).unwrap();

    let run = run_db(
        &db,
        &["status", "import", filled.to_str().unwrap(), "--by", "Test"],
    );
    run.assert_ok();
    assert!(
        run.stdout.contains("3 status event(s) recorded"),
        "{run:#?}"
    );
    let current = run_db(
        &db,
        &[
            "query",
            "SELECT scope, status, effective_on FROM v_status_current ORDER BY scope",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        current.stdout.replace("\r\n", "\n"),
        "scope,status,effective_on\n031010000000,pilot,2025-03-01\n031590016016,pilot,2025-03-01\n032410001001,pilot,2025-03-01\n"
    );

    // Only hidden sheets: nothing that was seen, so nothing to read.
    let hidden = dir.path().join("versteckt.xlsx");
    let mut book = Workbook::new();
    let only = book.add_worksheet();
    only.write_string(0, 0, "Leistungsschluessel").unwrap();
    only.set_hidden(true);
    book.add_worksheet().set_hidden(true);
    let _ = book.save(&hidden);
    if hidden.exists() {
        let run = run_db(
            &db,
            &["status", "import", hidden.to_str().unwrap(), "--by", "Test"],
        );
        run.assert_code(1);
        assert!(!run.stderr.contains("panicked"), "{run:#?}");
    }
}
