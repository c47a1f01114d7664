//! EfA-Nachnutzung through the real binary: the template, the sheet import (all or
//! nothing, `--partial`, line and column of every problem), the audit trail, the
//! history as recorded, the stage and funnel views, and the report's
//! "Für Kommunen" part in every format.

use std::path::{Path, PathBuf};

use super::support::{self, fixture, quick_start, run_db, scratch, Run};

/// A database with the bundled LeiKa sample and EfA release 1 (EFA-0001..0004).
fn efa_db(dir: &Path) -> PathBuf {
    let db = super::support::leika_db(dir);
    run_db(
        &db,
        &[
            "import",
            "efa",
            fixture("efa/release1.json").to_str().unwrap(),
        ],
    )
    .assert_ok();
    db
}

/// Adds Lower Saxony's municipalities (the bundled GV100AD).
fn import_gemeinden(db: &Path) {
    let gv100ad = fixture("gv100ad/GV100AD_30112025_NI.txt");
    run_db(db, &["import", "gv100ad", gv100ad.to_str().unwrap()]).assert_ok();
}

/// Writes `text` as a sheet beside the database and imports it.
fn import(db: &Path, name: &str, text: &str, extra: &[&str]) -> Run {
    let file = db.with_file_name(name);
    std::fs::write(&file, text).unwrap();
    let mut args = vec![
        "efa-nachnutzung",
        "import",
        file.to_str().unwrap(),
        "--by",
        "MI-Ref-11",
    ];
    args.extend_from_slice(extra);
    run_db(db, &args)
}

/// One SELECT as CSV lines without the header.
fn query(db: &Path, sql: &str) -> Vec<String> {
    let run = run_db(db, &["query", "--format", "csv", sql]);
    run.assert_ok();
    run.stdout.lines().skip(1).map(str::to_owned).collect()
}

/// The issue's example sheet: EFA-0003 geeignet, reused through GovConnect.
const EXAMPLE: &str =
    "EfA-ID;Bewertung;Bewertet am;Ressort;Parametrisierung;Kanal;Bereitgestellt ab\r\n\
                       EFA-0003;geeignet;15.01.2026;MI;nicht_noetig;GovConnect;01.03.2026\r\n";

#[test]
fn the_issue_example_imports_and_the_view_answers_govconnect() {
    let dir = scratch();
    let db = efa_db(dir.path());
    let run = import(&db, "mi.csv", EXAMPLE, &[]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("1 rows changed (6 field changes audited)"),
        "{run:#?}"
    );
    assert_eq!(
        query(
            &db,
            "SELECT kanal FROM v_efa_nachnutzung WHERE efa_id='EFA-0003'"
        ),
        ["govconnect"]
    );
    // Not in the Land's administration yet: the stage stops before land_produktiv.
    assert_eq!(
        query(
            &db,
            "SELECT stage, stufe FROM v_efa_nachnutzung WHERE efa_id='EFA-0003'"
        ),
        ["parametrisiert,4"]
    );
    run_db(
        &db,
        &[
            "status",
            "set",
            "EFA-0003",
            "--ressort",
            "MI",
            "--status",
            "produktiv",
            "--on",
            "2026-02-01",
            "--by",
            "MI",
        ],
    )
    .assert_ok();
    assert_eq!(
        query(
            &db,
            "SELECT stage FROM v_efa_nachnutzung WHERE efa_id='EFA-0003'"
        ),
        ["bereitgestellt"]
    );
    let funnel = |db: &Path| query(db, "SELECT stage, services FROM v_efa_funnel");
    assert_eq!(
        funnel(&db),
        [
            "angeboten,4",
            "bewertet,1",
            "geeignet,1",
            "parametrisiert,1",
            "land_produktiv,1",
            "bereitgestellt,1",
            "kommunen_produktiv,0"
        ]
    );
    // Live in a Gemeinde through one of its LeiKa keys: the last stage.
    import_gemeinden(&db);
    let ars = query(
        &db,
        "SELECT ars FROM v_municipalities WHERE is_gemeinde AND NOT retired LIMIT 1",
    );
    run_db(
        &db,
        &[
            "status",
            "set",
            "99110009029000",
            "--ars",
            &ars[0],
            "--status",
            "produktiv",
            "--on",
            "2026-04-01",
            "--by",
            "GovConnect",
        ],
    )
    .assert_ok();
    assert_eq!(
        query(
            &db,
            "SELECT stage, kommunen_produktiv FROM v_efa_nachnutzung WHERE efa_id='EFA-0003'"
        ),
        ["kommunen_produktiv,1"]
    );
    assert_eq!(funnel(&db).last().unwrap(), "kommunen_produktiv,1");
    // Importing the same sheet again changes nothing and audits nothing.
    let again = import(&db, "mi.csv", EXAMPLE, &[]);
    again.assert_ok();
    assert!(
        again
            .stdout
            .contains("0 rows changed (0 field changes audited), 1 unchanged"),
        "{again:#?}"
    );
    assert_eq!(
        query(&db, "SELECT count(*) FROM efa_nachnutzung_versions"),
        ["1"]
    );
}

#[test]
fn a_sheet_with_a_bad_kanal_is_refused_whole_with_line_and_column() {
    let dir = scratch();
    let db = efa_db(dir.path());
    let sheet = format!("{EXAMPLE}EFA-0001;offen;;;;Fax;\r\n");
    let run = import(&db, "bad.csv", &sheet, &[]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("bad.csv: line 3, column Kanal: \"Fax\" is not a Kanal; allowed: GovConnect, govdigital, Land, keiner"),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains("1 of 2 rows refused; nothing applied"),
        "{run:#?}"
    );
    assert_eq!(
        query(&db, "SELECT count(*) FROM efa_nachnutzung_versions"),
        ["0"]
    );
    assert_eq!(
        query(&db, "SELECT count(*) FROM efa_nachnutzung_audit"),
        ["0"]
    );

    let run = import(&db, "bad.csv", &sheet, &["--partial"]);
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("1 rows changed (6 field changes audited), 0 unchanged, 1 refused"),
        "{run:#?}"
    );
    assert_eq!(
        query(
            &db,
            "SELECT efa_id, kanal FROM v_efa_nachnutzung WHERE kanal IS NOT NULL"
        ),
        ["EFA-0003,govconnect"]
    );
}

#[test]
fn the_rules_between_fields_are_checked_on_the_resulting_state() {
    let dir = scratch();
    let db = efa_db(dir.path());
    import(&db, "mi.csv", EXAMPLE, &[]).assert_ok();
    // Clearing the Bewertung of a service handed to the Kommunen would leave a
    // channel without an evaluation; a person's name is no role mailbox.
    let sheet = "EfA-ID;Bewertung;Kontakt\nEFA-0003;-;Erika Mustermann\nEFA-0002;nicht geeignet;\n";
    let run = import(&db, "rules.csv", sheet, &[]);
    run.assert_code(1);
    for expected in [
        "line 2, column Kontakt: \"Erika Mustermann\" is not an e-mail address",
        "line 3, column Bewertet am: required once the service is evaluated",
        "line 3, column Ressort: required once the service is evaluated",
        "line 3, column Bewertungsgrund: required when the Bewertung is nicht geeignet",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing {expected:?}: {run:#?}"
        );
    }
    let sheet = "EfA-ID;Bewertung;Kontakt\nEFA-0003;-;efa@mi.example\n";
    let run = import(&db, "rules.csv", sheet, &[]);
    run.assert_code(1);
    assert!(run.stderr.contains("line 2, column Parametrisierung: only for a service evaluated as geeignet (the Bewertung is empty)"), "{run:#?}");
    assert!(
        run.stderr
            .contains("line 2, column Kanal: a service is made available"),
        "{run:#?}"
    );
}

#[test]
fn every_change_is_audited_and_the_history_answers_as_of() {
    let dir = scratch();
    let db = efa_db(dir.path());
    import(&db, "mi.csv", EXAMPLE, &[]).assert_ok();
    // A hand-edited header (case and blanks folded), commas.
    let sheet =
        b"efa-id,KOSTEN LAND,kontakt,Bereitgestellt  ab\r\nEFA-0003,anteilig,efa@mi.example,-\r\n";
    let run = import(&db, "fix.csv", std::str::from_utf8(sheet).unwrap(), &[]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("line 2, column Bereitgestellt ab: required with a Kanal"),
        "{run:#?}"
    );
    let sheet = "efa-id,KOSTEN LAND,kontakt\r\nEFA-0003,anteilig,efa@mi.example\r\n";
    import(&db, "fix.csv", sheet, &[]).assert_ok();

    let show = run_db(&db, &["efa-nachnutzung", "show", "EFA-0003"]);
    show.assert_ok();
    for expected in [
        "Stufe                parametrisiert (4/7)",
        "Kanal                govconnect",
        "Kosten Land          anteilig",
        "audit trail (8):",
        "MI-Ref-11  kanal: ∅ → govconnect",
        "MI-Ref-11  kosten_land: ∅ → anteilig",
    ] {
        assert!(
            show.stdout.contains(expected),
            "missing {expected:?}: {show:#?}"
        );
    }
    let history = query(
        &db,
        "SELECT kosten_land, valid_until IS NULL FROM v_efa_nachnutzung_history
         WHERE efa_id = 'EFA-0003' ORDER BY version_id",
    );
    assert_eq!(history, [",0", "anteilig,1"]);
    // As recorded at the second import: its version; before the first: nothing.
    // (Two imports in the same second leave the first an empty interval, as for
    // same-day status events.)
    let as_of = |t: &str| {
        query(
            &db,
            &format!(
                "SELECT coalesce(h.kosten_land, '') FROM v_efa_nachnutzung_history h
                 WHERE h.efa_id = 'EFA-0003' AND h.recorded_at <= {t}
                   AND (h.valid_until IS NULL OR h.valid_until > {t})"
            ),
        )
    };
    assert_eq!(
        as_of("(SELECT recorded_at FROM efa_nachnutzung_versions WHERE version_id = 2)"),
        ["anteilig"]
    );
    assert_eq!(as_of("'2000-01-01T00:00:00Z'"), Vec::<String>::new());
    // The versions are append-only.
    let err = rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM efa_nachnutzung_versions", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");

    let missing = run_db(&db, &["efa-nachnutzung", "show", "EFA-9999"]);
    missing.assert_code(1);
    assert!(
        missing
            .stderr
            .contains("EFA-9999 is not a current EfA service"),
        "{missing:#?}"
    );
}

#[test]
fn the_template_is_excel_ready_and_a_filled_one_reimports_unchanged() {
    let dir = scratch();
    let db = efa_db(dir.path());
    let empty = run_db(&db, &["template", "efa-nachnutzung"]);
    empty.assert_ok();
    assert_eq!(
        empty.stdout,
        "\u{feff}EfA-ID;Onlinedienst;Bewertung;Bewertungsgrund;Bewertet am;Ressort;Parametrisierung;Parametrisiert am;Kanal;Bereitgestellt ab;Kosten Land;Kontakt;Bemerkung\r\n"
    );
    import(&db, "mi.csv", EXAMPLE, &[]).assert_ok();
    let filled = dir.path().join("filled.csv");
    run_db(
        &db,
        &[
            "template",
            "efa-nachnutzung",
            "--fill",
            "--out",
            filled.to_str().unwrap(),
        ],
    )
    .assert_ok();
    let text = std::fs::read_to_string(&filled).unwrap();
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(
        text.contains("EFA-0003;")
            && text.contains(";geeignet;;15.01.2026;MI;nicht nötig;;GovConnect;01.03.2026;;;\r\n"),
        "{text}"
    );
    let run = run_db(
        &db,
        &[
            "efa-nachnutzung",
            "import",
            filled.to_str().unwrap(),
            "--by",
            "MI",
        ],
    );
    run.assert_ok();
    assert!(run.stdout.contains("0 rows changed"), "{run:#?}");
}

#[test]
fn the_report_lists_what_the_kommunen_can_order_in_every_format() {
    use calamine::{Data, Reader, Xlsx};
    let dir = scratch();
    let db = efa_db(dir.path());
    import(&db, "mi.csv", EXAMPLE, &[]).assert_ok();
    let export = |format: &str, out: &Path| {
        run_db(
            &db,
            &[
                "export",
                "report",
                "--format",
                format,
                "--since",
                "2026-01-01",
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .assert_ok();
    };

    let xlsx = dir.path().join("report.xlsx");
    export("xlsx", &xlsx);
    let mut wb: Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    assert_eq!(
        &wb.sheet_names()[..3],
        ["EfA-Nachnutzung", "Für Kommunen", "Leistungen"]
    );
    let kommunen = wb.worksheet_range("Für Kommunen").unwrap();
    let rows: Vec<Vec<String>> = kommunen
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    assert_eq!(rows[1][col("EfA-ID")], "EFA-0003");
    assert_eq!(rows[1][col("Bezug über")], "GovConnect");
    let funnel = wb.worksheet_range("EfA-Nachnutzung").unwrap();
    let counts: Vec<Data> = funnel.rows().skip(1).map(|r| r[2].clone()).collect();
    assert_eq!(
        counts,
        [4.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0].map(Data::Float),
        "not yet produktiv in the Land"
    );

    let md = dir.path().join("report.md");
    export("md", &md);
    let text = std::fs::read_to_string(&md).unwrap();
    let summary = text.find("EfA-Onlinedienste werden angeboten").unwrap();
    let kommunen = text
        .find("## Für Kommunen: verfügbare EfA-Onlinedienste")
        .unwrap();
    let details = text.find("## Leistungen").unwrap();
    assert!(summary < kommunen && kommunen < details, "{text}");
    assert!(text.contains("| Nachnutzung: Kanal | EFA-0003 |"), "{text}");
    assert!(
        text.contains("|  | GovConnect |"),
        "labels, not codes: {text}"
    );

    let csv_dir = dir.path().join("csv");
    export("csv", &csv_dir);
    let kommunen = std::fs::read_to_string(csv_dir.join("kommunen.csv")).unwrap();
    assert!(
        kommunen.contains(";EFA-0003;GovConnect;01.03.2026;"),
        "{kommunen}"
    );

    let json = dir.path().join("report.json");
    export("json", &json);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let hund = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["efa_id"] == "EFA-0003")
        .unwrap();
    assert_eq!(hund["nachnutzung_stage"], "parametrisiert");
    assert_eq!(hund["nachnutzung"]["kanal"], "govconnect");
    assert_eq!(report["nachnutzung_funnel"][2]["services"], 1);

    let html = dir.path().join("report.html");
    export("html", &html);
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(
        text.contains("<svg") && text.contains("chart-nachnutzung"),
        "funnel chart"
    );
    assert!(text.contains("<td>GovConnect</td>"), "{text}");
}

/// Headless Chromium at 1400 × 1000 with its profile in `profile`; `None` when
/// it is not installed (`support::chromium`: the caller skips loudly, CI fails).
fn chromium(profile: &Path) -> Option<std::process::Command> {
    let browser = support::chromium("the HTML report's layout")?;
    let mut cmd = support::headless(&browser, profile);
    cmd.arg("--window-size=1400,1000");
    Some(cmd)
}

/// The DOM of `page` (written to `dir/name`) after headless Chromium ran its
/// scripts: how the test's probes report what the browser measured.
fn dump_dom(dir: &Path, name: &str, page: &str) -> String {
    let probed = dir.join(name);
    std::fs::write(&probed, page).unwrap();
    let mut browser = chromium(&dir.join("profile")).unwrap();
    let dom = browser
        .args(["--dump-dom", "--virtual-time-budget=3000"])
        .arg(format!("file://{}", probed.display()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&dom.stdout).into_owned()
}

/// The quick start's report (demo data: every part filled, every stage of the
/// funnel) as a publication, looked at in headless Chromium at 1400 px: nothing
/// wider than the page, the summary above the fold, no bold body cells, labels
/// instead of codes, and printed on A4 landscape with every table inside the page.
#[test]
fn the_html_report_fits_the_page_in_chromium_with_the_summary_above_the_fold() {
    let dir = scratch();
    let Some(_) = chromium(&dir.path().join("profile")) else {
        return;
    };
    super::support::quick_start(dir.path());
    let html = dir.path().join("out/onlinedienste-report.html");
    let text = std::fs::read_to_string(&html).unwrap();
    // Codes the data holds, which the report shows as words.
    for code in [
        "bauen_wohnen",
        "engagement_hobby",
        "govconnect",
        "land_produktiv",
        "kommunen_produktiv",
        "in_umsetzung",
        "nicht_geeignet",
        "geeignet_mit_anpassung",
        "koenigsteiner_schluessel",
        "wfu_navo",
    ] {
        assert!(!text.contains(code), "the report shows the code {code}");
    }
    // The test's copy of the page carries a probe that writes what the browser
    // measured into the DOM; the report itself has no scripts.
    let page = text.replace(
        "</body>",
        "<script>const bold = [...document.querySelectorAll('tbody td, tbody th')]\
         .filter((c) => Number(getComputedStyle(c).fontWeight) > 400).length;\
         document.body.insertAdjacentHTML('beforeend', '<p id=\"probe\">fits=' \
         + (document.documentElement.scrollWidth <= window.innerWidth) + ' summary=' \
         + (document.getElementById('zusammenfassung').getBoundingClientRect().bottom \
         <= window.innerHeight) + ' bold=' + bold + '</p>')</script></body>",
    );
    let dom = dump_dom(dir.path(), "probed.html", &page);
    assert!(
        dom.contains("<p id=\"probe\">fits=true summary=true bold=0</p>"),
        "page wider than the window, summary below the fold or bold body cells: {}",
        dom.find("id=\"probe\"").map_or("no probe", |i| &dom[i..])
    );

    // Printed, the widest table (22 columns of Leistungen) must fit the A4 landscape
    // page too, not be cut off at its right edge: the print rules applied on screen
    // to a body as wide as the printable area (297 mm - 2 × 12 mm = 1032 px).
    let print = text
        .replace("@media print{", "@media all{")
        .replacen("</style>", "body{width:1032px}</style>", 1)
        .replace(
            "</body>",
            "<script>const right = document.body.getBoundingClientRect().right;\
             const wide = [...document.querySelectorAll('table')]\
             .filter((t) => t.getBoundingClientRect().right > right + 0.5).length;\
             document.body.insertAdjacentHTML('beforeend', '<p id=\"probe\">wide=' \
             + wide + '</p>')</script></body>",
        );
    let dom = dump_dom(dir.path(), "print-probed.html", &print);
    assert!(
        dom.contains("<p id=\"probe\">wide=0</p>"),
        "a table is wider than the printed A4 landscape page: {}",
        dom.rfind("id=\"probe\"").map_or("no probe", |i| &dom[i..])
    );

    let shot = dir.path().join("report.png");
    let mut browser = chromium(&dir.path().join("profile")).unwrap();
    let run = browser
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a screenshot was taken");

    // Printed as the page asks (`@page { size: A4 landscape }`): every page of
    // the PDF is 297 × 210 mm, i.e. 842 × 595 points.
    let pdf = dir.path().join("report.pdf");
    let mut browser = chromium(&dir.path().join("profile")).unwrap();
    let run = browser
        .args(["--no-pdf-header-footer"])
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let pdf = std::fs::read(&pdf).unwrap();
    let pdf = String::from_utf8_lossy(&pdf);
    let boxes: Vec<&str> = pdf
        .match_indices("/MediaBox [")
        .map(|(i, _)| pdf[i + 11..].split(']').next().unwrap_or_default())
        .collect();
    assert!(!boxes.is_empty(), "no page in the PDF");
    for b in &boxes {
        let size: Vec<f64> = b.split_whitespace().map(|n| n.parse().unwrap()).collect();
        assert!(
            (size[2] - 841.9).abs() < 1.0 && (size[3] - 595.3).abs() < 1.0,
            "not A4 landscape: {b}"
        );
    }
}

#[test]
fn dashboards_say_per_gemeinde_which_efa_services_it_can_order_and_through_whom() {
    let dir = scratch();
    let db = efa_db(dir.path());
    import_gemeinden(&db);
    // Hundehaltung (EFA-0003) is executed by the Kommunen.
    let notes = dir.path().join("notes.csv");
    std::fs::write(
        &notes,
        "Leistungsschlüssel;Vollzug;Umsetzungsweg;EfA-ID\n99110009029000;Kommune;EfA;EFA-0003\n",
    )
    .unwrap();
    run_db(
        &db,
        &[
            "annotations",
            "import",
            notes.to_str().unwrap(),
            "--by",
            "MI",
        ],
    )
    .assert_ok();
    let out = dir.path().join("dash");
    let export = || {
        run_db(
            &db,
            &["export", "dashboards", "--out", out.to_str().unwrap()],
        )
        .assert_ok();
        let json = |p: &Path| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
        };
        let gemeinde = std::fs::read_dir(out.join("gemeinden"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .min()
            .unwrap();
        (json(&out.join("services.json")), json(&gemeinde))
    };
    let (services, gemeinde) = export();
    let hund = &services["services"]["99110009029000"]["efa"];
    assert_eq!(hund["efa_id"], "EFA-0003");
    assert!(hund.get("nachnutzung").is_none(), "{hund}");
    assert!(gemeinde["services"]["99110009029000"]
        .get("efa_kanal")
        .is_none());

    import(&db, "mi.csv", EXAMPLE, &[]).assert_ok();
    let (services, gemeinde) = export();
    let n = &services["services"]["99110009029000"]["efa"]["nachnutzung"];
    assert_eq!(n["bewertung"], "geeignet");
    assert_eq!(n["kanal"], "govconnect");
    assert_eq!(n["bereitgestellt_ab"], "2026-03-01");
    assert_eq!(
        gemeinde["services"]["99110009029000"]["efa_kanal"],
        "govconnect"
    );
    for (file, schema) in [
        (out.join("services.json"), "dashboard-services"),
        (
            out.join("gemeinden").join(format!(
                "{}.json",
                gemeinde["unit"]["ars"].as_str().unwrap()
            )),
            "dashboard-gemeinde",
        ),
    ] {
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture("../schema").join(format!("{schema}.schema.json")))
                .unwrap(),
        )
        .unwrap();
        let value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
    }
}

/// The first sheet's cells, and the named sheet's, as calamine reads them.
fn workbook_cells(file: &Path, sheet: Option<&str>) -> Vec<Vec<calamine::Data>> {
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(file).unwrap();
    let range = match sheet {
        Some(name) => book.worksheet_range(name).unwrap(),
        None => book.worksheet_range_at(0).unwrap().unwrap(),
    };
    range.rows().map(<[calamine::Data]>::to_vec).collect()
}

#[test]
fn the_xlsx_template_filled_in_excel_imports_and_a_bad_kanal_is_refused_with_row_and_column() {
    use calamine::Data;
    let dir = scratch();
    let db = efa_db(dir.path());
    let template = dir.path().join("nachnutzung.xlsx");
    run_db(
        &db,
        &[
            "template",
            "efa-nachnutzung",
            "--format",
            "xlsx",
            "--fill",
            "--out",
            template.to_str().unwrap(),
        ],
    )
    .assert_ok();
    let rows = workbook_cells(&template, None);
    let text = |s: &str| Data::String(s.into());
    assert_eq!(rows[0][0], text("EfA-ID"));
    assert_eq!(rows[0][8], text("Kanal"));
    let ids: Vec<&Data> = rows[1..].iter().map(|r| &r[0]).collect();
    assert_eq!(
        ids,
        [
            &text("EFA-0001"),
            &text("EFA-0002"),
            &text("EFA-0003"),
            &text("EFA-0004")
        ]
    );
    // The drop-down lists' values, in labels; each column of the hidden sheet is
    // the list of the data column of the same header.
    let lists = workbook_cells(&template, Some("Listen"));
    let list = |header: &str| -> Vec<String> {
        let col = lists[0].iter().position(|h| *h == text(header)).unwrap();
        lists[1..]
            .iter()
            .filter_map(|r| r.get(col))
            .filter(|c| **c != Data::Empty)
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        list("Kanal"),
        ["GovConnect", "govdigital", "Land", "keiner", "-"]
    );
    assert_eq!(
        list("Bewertung"),
        [
            "offen",
            "geeignet",
            "geeignet mit Anpassung",
            "nicht geeignet",
            "-"
        ]
    );
    assert!(list("Ressort").contains(&"MI".to_owned()), "{lists:?}");
    assert_eq!(list("Kosten Land"), ["ja", "nein", "anteilig", "-"]);
    assert!(workbook_cells(&template, Some("Anleitung"))[0][0]
        .to_string()
        .contains("EfA-Nachnutzung"));

    // Returned unchanged: nothing to do.
    let run = run_db(
        &db,
        &[
            "efa-nachnutzung",
            "import",
            template.to_str().unwrap(),
            "--by",
            "MI",
        ],
    );
    run.assert_ok();
    assert!(run.stdout.contains("0 rows changed"), "{run:#?}");

    // Filled in as Excel stores it: the Bewertung date typed as a date cell, the
    // rest as text in the labels of the drop-down lists.
    let filled = |kanal: &str, out: &Path| {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        let date = rust_xlsxwriter::Format::new().set_num_format("dd.mm.yyyy");
        for (c, cell) in (0u16..).zip(&rows[0]) {
            sheet.write_string(0, c, cell.to_string()).unwrap();
        }
        for (r, row) in (1u32..).zip(&rows[1..]) {
            sheet.write_string(r, 0, row[0].to_string()).unwrap();
            if row[0] == text("EFA-0003") {
                let day = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 1, 15).unwrap();
                sheet.write_string(r, 2, "geeignet").unwrap();
                sheet.write_datetime_with_format(r, 4, &day, &date).unwrap();
                sheet.write_string(r, 5, "MI").unwrap();
                sheet.write_string(r, 6, "nicht nötig").unwrap();
                sheet.write_string(r, 8, kanal).unwrap();
                sheet.write_string(r, 9, "01.03.2026").unwrap();
                sheet.write_string(r, 10, "ja").unwrap();
            }
        }
        book.save(out).unwrap();
    };
    // Column indexes above are the template's: check them against its header.
    let header: Vec<String> = rows[0].iter().map(ToString::to_string).collect();
    assert_eq!(
        header[2..=10],
        [
            "Bewertung",
            "Bewertungsgrund",
            "Bewertet am",
            "Ressort",
            "Parametrisierung",
            "Parametrisiert am",
            "Kanal",
            "Bereitgestellt ab",
            "Kosten Land"
        ]
    );

    let bad = dir.path().join("fax.xlsx");
    filled("Fax", &bad);
    let run = run_db(
        &db,
        &[
            "efa-nachnutzung",
            "import",
            bad.to_str().unwrap(),
            "--by",
            "MI",
        ],
    );
    run.assert_code(1);
    assert!(
        run.stderr.contains(
            "fax.xlsx: line 4, column Kanal: \"Fax\" is not a Kanal; allowed: GovConnect, govdigital, Land, keiner"
        ),
        "{run:#?}"
    );
    assert_eq!(
        query(&db, "SELECT count(*) FROM efa_nachnutzung_versions"),
        ["0"]
    );

    let good = dir.path().join("mi.xlsx");
    filled("GovConnect", &good);
    let run = run_db(
        &db,
        &[
            "efa-nachnutzung",
            "import",
            good.to_str().unwrap(),
            "--by",
            "MI",
        ],
    );
    run.assert_ok();
    assert!(
        run.stdout
            .contains("1 rows changed (7 field changes audited), 3 unchanged, 0 refused"),
        "{run:#?}"
    );
    assert_eq!(
        query(
            &db,
            "SELECT bewertung, bewertet_am, parametrisierung, kanal, bereitgestellt_ab, kosten_land \
             FROM v_efa_nachnutzung WHERE efa_id='EFA-0003'"
        ),
        ["geeignet,2026-01-15,nicht_noetig,govconnect,2026-03-01,ja"]
    );
}

#[test]
fn a_nachnutzung_import_makes_report_and_dashboards_due_and_sync_republishes_them() {
    let dir = scratch();
    let d = dir.path();
    let f = |rel: &str| fixture(rel).display().to_string();
    let config = d.join("ozgsync.toml");
    std::fs::write(
        &config,
        format!(
            r#"database = "ozgsync.db"
[[source]]
name = "leika"
kind = "leika"
location = "{}"
[[source]]
name = "efa"
kind = "efa"
location = "{}"
[[export]]
name = "report"
command = ["ozgsync", "export", "report", "--format", "html", "--out", "report.html"]
[[export]]
name = "dashboards"
command = ["ozgsync", "export", "dashboards", "--out", "dash"]
"#,
            f("leika/leika_sample_nrw2019.csv"),
            f("efa/release1.json"),
        ),
    )
    .unwrap();
    let sync = || {
        let run = super::support::collect(super::support::command(d).args([
            "sync",
            "--config",
            "ozgsync.toml",
        ]));
        run.assert_ok();
        run
    };
    let db = d.join("ozgsync.db");
    let runs = |job: &str| {
        query(
            &db,
            &format!(
                "SELECT count(*) FROM runs WHERE job = 'export:{job}' AND outcome = 'applied'"
            ),
        )
    };
    sync();
    sync();
    assert_eq!(
        (runs("report"), runs("dashboards")),
        (vec!["1".to_owned()], vec!["1".to_owned()])
    );
    let report = || std::fs::read_to_string(d.join("report.html")).unwrap();
    assert!(!report().contains("<td>GovConnect</td>"));

    import(&db, "mi.csv", EXAMPLE, &[]).assert_ok();
    assert_eq!(
        query(
            &db,
            "SELECT cause FROM data_changes ORDER BY generation DESC LIMIT 1"
        ),
        ["annotations"],
        "recorded as a coordinators' change (schema 0008's cause vocabulary)"
    );
    sync();
    assert_eq!(
        (runs("report"), runs("dashboards")),
        (vec!["2".to_owned()], vec!["2".to_owned()])
    );
    assert!(report().contains("<td>GovConnect</td>"), "{}", report());
    // The same sheet again changes nothing, so nothing is due.
    import(&db, "mi.csv", EXAMPLE, &[]).assert_ok();
    sync();
    assert_eq!(
        (runs("report"), runs("dashboards")),
        (vec!["2".to_owned()], vec!["2".to_owned()])
    );
}

/// Schema 0012 writes the stage labels into `v_efa_funnel` (a shipped migration
/// cannot read them from Rust); they must be the words the report and
/// `labels.json` take from `Stage::label`.
#[test]
fn the_funnel_view_says_the_stages_in_the_report_s_words() {
    use ozgsync::efa_nachnutzung::Stage;
    let dir = scratch();
    let db = efa_db(dir.path());
    let expected: Vec<String> = Stage::ALL
        .iter()
        .map(|s| format!("{},{}", s.as_str(), s.label()))
        .collect();
    assert_eq!(
        query(&db, "SELECT stage, label FROM v_efa_funnel"),
        expected
    );
}

/// Schema 0022 rewrote how `v_efa_nachnutzung` finds the status cells of a
/// service (by subject instead of through the view `status_current`, which read
/// the whole matrix for each query). On the quick start's database, with more
/// cells set so that an EfA service and its LeiKa key are live in the same new
/// Gemeinde (counted once), a live cell is taken back and a Ressort cell goes
/// live, every row of the view is what the view of schema 0012 answers.
#[test]
fn the_view_answers_as_before_it_read_by_subject() {
    let dir = scratch();
    let db = quick_start(dir.path());
    let count = |efa: &str| -> i64 {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row(
            "SELECT kommunen_produktiv FROM v_efa_nachnutzung WHERE efa_id = ?1",
            [efa],
            |r| r.get(0),
        )
        .unwrap()
    };
    let first = count("EFA-0001");
    let set = |subject: &str, scope: &[&str], status: &str, on: &str| {
        let mut args = vec!["status", "set", subject];
        args.extend_from_slice(scope);
        args.extend_from_slice(&["--status", status, "--on", on, "--by", "test"]);
        run_db(&db, &args).assert_ok();
    };
    // A Gemeinde where neither EFA-0001 nor its key (99022001011000) was live:
    // both go live there; the key goes live in a second one and is taken back.
    set(
        "EFA-0001",
        &["--ars", "031510009009"],
        "produktiv",
        "2025-10-01",
    );
    set(
        "99022001011000",
        &["--ars", "031510009009"],
        "produktiv",
        "2025-10-02",
    );
    set(
        "99022001011000",
        &["--ars", "031515401004"],
        "produktiv",
        "2025-10-02",
    );
    set(
        "99022001011000",
        &["--ars", "031515401004"],
        "in_umsetzung",
        "2025-11-01",
    );
    set("EFA-0002", &["--ressort", "MI"], "produktiv", "2025-10-01");
    assert_eq!(count("EFA-0001"), first + 1);

    let before = support::view_of_schema_17("v_efa_nachnutzung", "v_efa_nachnutzung_0012");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(&before).unwrap();
    let rows =
        |view: &str| support::rows_of(&conn, &format!("SELECT * FROM {view} ORDER BY efa_id"));
    let now = rows("v_efa_nachnutzung");
    assert_eq!(now.len(), 4, "{now:?}");
    assert_eq!(now, rows("temp.v_efa_nachnutzung_0012"));
}
