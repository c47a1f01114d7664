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

/// `status import FILE` with small sorted runs (so the rows spill to disk as a big
/// report's would), and `--partial` when asked.
fn status_import(db: &Path, file: &Path, partial: bool) -> support::Run {
    let mut cmd = support::command(db.parent().unwrap());
    cmd.env("OZGSYNC_STATUS_RUN_ROWS", "1000")
        .arg("--db")
        .arg(db)
        .args(["status", "import", file.to_str().unwrap(), "--by", "Test"]);
    if partial {
        cmd.arg("--partial");
    }
    support::collect(&mut cmd)
}

/// A 6,000-row status workbook (streamed, not held) imports exactly as the same
/// report saved as CSV: the same events, the same errors by the same line (the
/// Excel row), although the workbook has what Excel gives it: the table starting
/// in column B, keys typed as numbers, dates as date cells or German text, the
/// status and date merged over each block of three rows, and hidden rows.
#[test]
fn a_large_status_workbook_imports_like_its_csv_twin() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let gv100ad = support::fixture("gv100ad/GV100AD_30112025_NI.txt");
    run_db(&db, &["import", "gv100ad", gv100ad.to_str().unwrap()]).assert_ok();
    let keys = support::rows(
        &db,
        "SELECT leistungsschluessel FROM v_services ORDER BY 1 LIMIT 60",
    );
    let ars = support::rows(
        &db,
        "SELECT ars FROM v_municipalities WHERE length(ars) = 12 ORDER BY 1 LIMIT 100",
    );
    assert_eq!((keys.len(), ars.len()), (60, 100));
    let statuses = ["geplant", "in_umsetzung", "pilot", "produktiv"];
    // Rows of (key, ars, status, date, note); line i + 2 in both files.
    let mut rows: Vec<[String; 5]> = Vec::new();
    for (i, (k, a)) in keys
        .iter()
        .flat_map(|k| ars.iter().map(move |a| (k, a)))
        .enumerate()
    {
        let block = i / 3;
        let status = if i == 4_321 {
            "fertig".to_owned() // one bad row, deep down
        } else {
            statuses[block % statuses.len()].to_owned()
        };
        let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
            + chrono::Duration::days((block % 500) as i64);
        let note = if i % 7 == 0 {
            format!("Notiz {i}")
        } else {
            String::new()
        };
        rows.push([k.clone(), a.clone(), status, day.to_string(), note]);
    }
    // The bad row must not sit inside a merged block (its status would be merged).
    assert_eq!(4_321 % 3, 1);

    let csv = dir.path().join("status.csv");
    let mut text = String::from("Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung\n");
    for r in &rows {
        text.push_str(&r.join(";"));
        text.push('\n');
    }
    std::fs::write(&csv, text).unwrap();

    let xlsx = dir.path().join("status.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date = rust_xlsxwriter::Format::new().set_num_format("dd.mm.yyyy");
    let plain = rust_xlsxwriter::Format::new();
    let header = [
        "Leistungsschlüssel",
        "ARS",
        "Status",
        "Gültig ab",
        "Bemerkung",
    ];
    for (c, h) in (1u16..).zip(header) {
        sheet.write_string(0, c, h).unwrap();
    }
    let mut hidden = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        if i % 2 == 0 {
            sheet
                .write_number(row, 1, r[0].parse::<f64>().unwrap())
                .unwrap();
        } else {
            sheet.write_string(row, 1, &r[0]).unwrap();
        }
        sheet.write_string(row, 2, &r[1]).unwrap();
        if !r[4].is_empty() {
            sheet.write_string(row, 5, &r[4]).unwrap();
        }
        if i % 1_000 == 500 {
            sheet.set_row_hidden(row).unwrap();
            hidden.push(row + 1);
        }
    }
    for (b, block) in rows.chunks(3).enumerate() {
        let top = b as u32 * 3 + 1;
        let bottom = top + block.len() as u32 - 1;
        let day = chrono::NaiveDate::parse_from_str(&block[0][3], "%Y-%m-%d").unwrap();
        let bad = block.iter().position(|r| r[2] == "fertig");
        match bad {
            // The block with the bad row: each cell its own.
            Some(_) => {
                for (j, r) in block.iter().enumerate() {
                    let row = top + j as u32;
                    sheet.write_string(row, 3, &r[2]).unwrap();
                    let german = day.format("%d.%m.%Y").to_string();
                    sheet.write_string(row, 4, &german).unwrap();
                }
            }
            None => {
                sheet
                    .merge_range(top, 3, bottom, 3, &block[0][2], &plain)
                    .unwrap();
                sheet.merge_range(top, 4, bottom, 4, "", &date).unwrap();
                let excel = rust_xlsxwriter::ExcelDateTime::parse_from_str(&block[0][3]).unwrap();
                sheet
                    .write_datetime_with_format(top, 4, &excel, &date)
                    .unwrap();
            }
        }
    }
    book.save(&xlsx).unwrap();

    let csv_db = dir.path().join("csv.db");
    let xlsx_db = dir.path().join("xlsx.db");
    std::fs::copy(&db, &csv_db).unwrap();
    std::fs::copy(&db, &xlsx_db).unwrap();

    // Refused alike: the same error by the same line, nothing applied.
    let from_csv = status_import(&csv_db, &csv, false);
    let from_xlsx = status_import(&xlsx_db, &xlsx, false);
    assert_eq!(from_csv.code, Some(1), "{from_csv:#?}");
    assert_eq!(from_xlsx.code, Some(1), "{from_xlsx:#?}");
    let errors = |run: &support::Run, file: &Path| -> Vec<String> {
        let prefix = format!("{}: ", file.display());
        run.stderr
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .filter(|l| !l.starts_with("warning"))
            .map(str::to_owned)
            .collect()
    };
    let csv_errors = errors(&from_csv, &csv);
    assert_eq!(
        csv_errors,
        [
            "line 4323, column Status (\"fertig\"): unknown status; use one of nicht_begonnen, geplant, beauftragt, in_umsetzung, pilot, produktiv, eingestellt, abgelehnt".to_owned(),
        ]
    );
    assert_eq!(errors(&from_xlsx, &xlsx), csv_errors);
    for run in [&from_csv, &from_xlsx] {
        assert!(
            run.stderr
                .contains("1 error(s) in 1 of 6000 rows; nothing was applied (fix the rows, or pass --partial to apply the 5999 valid rows)"),
            "{run:#?}"
        );
    }
    // The hidden rows are named by their Excel rows.
    let named: Vec<String> = hidden.iter().map(u32::to_string).collect();
    assert!(
        from_xlsx.stderr.contains(&named.join(", ")),
        "{hidden:?}: {}",
        from_xlsx.stderr
    );

    // Applied alike with --partial: the same 5,999 events.
    let from_csv = status_import(&csv_db, &csv, true);
    let from_xlsx = status_import(&xlsx_db, &xlsx, true);
    assert!(
        from_csv.stdout.contains("5999 status event(s) recorded"),
        "{from_csv:#?}"
    );
    assert_eq!(
        from_xlsx.stdout,
        from_csv.stdout.replace("status.csv", "status.xlsx")
    );
    let events =
        "SELECT subject_kind, subject, scope_kind, scope, status, effective_on, valid_until, note \
                  FROM v_status_history ORDER BY subject, scope, effective_on, event_id";
    let csv_events = support::rows(&csv_db, events);
    assert_eq!(csv_events.len(), 5_999);
    assert_eq!(support::rows(&xlsx_db, events), csv_events);
    // What a user sees, but for the file's name and the second it was recorded.
    let show = |db: &Path| -> Vec<String> {
        let out = run_db(db, &["status", "show", &keys[7], "--format", "csv"]).stdout;
        out.lines()
            .map(|l| {
                l.split(',')
                    .filter(|f| !f.ends_with('Z') || f.len() != 20)
                    .collect::<Vec<_>>()
                    .join(",")
                    .replace("status.xlsx", "status.csv")
            })
            .collect()
    };
    let shown = show(&csv_db);
    assert!(shown.len() > 50, "{shown:?}");
    assert_eq!(show(&xlsx_db), shown);
}
