//! Annotation sheets end to end: a valid sheet is applied and audited field by field,
//! a refused sheet leaves the database exactly as it was, `--partial` applies only
//! the valid rows, annotations of retired keys become orphans, and a Ressort rename
//! keeps history while annotations follow the Ressort. Plus the CLI's exit codes,
//! report and template.

use ozgsync::annotations::csv as sheet;
use ozgsync::store::annotations as store;
use ozgsync::store::ressort;
use ozgsync::store::sheet::ImportReport;
use ozgsync::sync::SourceKind;

use super::support::{database, fixture, import, leika_release, output_db};

const SERVICES: &[(&str, &str)] = &[
    ("99001001002000", "Abfallgebühr Festsetzung"),
    ("99088026034000", "Abendrealschule Aufnahme"),
    ("99022001011000", "Ausbildungsförderung Änderung"),
    ("99110009029000", "Hundehaltung Prüfung"),
    ("99012027000000", "Genehmigungsfreistellungsverfahren"),
    (
        "99058001000000",
        "Abgrenzung zwischen Handwerk und Industrie",
    ),
];

/// A database with the LeiKa services above and EfA release 1.
fn catalogue() -> (tempfile::TempDir, std::path::PathBuf, rusqlite::Connection) {
    let (dir, path, mut conn) = database();
    leika_release(&mut conn, "leika", SERVICES);
    import(&mut conn, SourceKind::Efa, &fixture("efa/release1.json")).unwrap();
    (dir, path, conn)
}

fn apply(conn: &mut rusqlite::Connection, file: &str, by: &str, partial: bool) -> ImportReport {
    let path = fixture(file);
    let parsed = sheet::read(std::fs::File::open(&path).unwrap()).unwrap();
    store::import(conn, &parsed, by, file, partial).unwrap()
}

/// Everything an import may write, as text, to prove a refused one wrote nothing.
fn snapshot(conn: &rusqlite::Connection) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        "SELECT * FROM annotations ORDER BY 1",
        "SELECT * FROM annotation_audit ORDER BY 1",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|cells| cells.join("|"))
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        out.extend(rows);
    }
    out
}

fn view_row(conn: &rusqlite::Connection, key: &str) -> Vec<Option<String>> {
    conn.query_row(
        "SELECT bezeichnung, ressort, vollzug, umsetzungsweg, efa_id, efa_name,
                depriorisierung_grund, CAST(prioritaet AS TEXT), zieldatum, bemerkung,
                CAST(orphaned AS TEXT), updated_by
         FROM v_annotations WHERE leistungsschluessel = ?1",
        [key],
        |r| (0..12).map(|i| r.get(i)).collect(),
    )
    .unwrap()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

#[test]
fn a_valid_sheet_is_applied_and_every_field_change_audited() {
    let (_dir, _db, mut conn) = catalogue();
    let report = apply(&mut conn, "annotations/valid.csv", "MU Referat 12", false);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!((report.rows, report.changed, report.refused), (5, 5, 0));
    // 7 + 5 + 5 + 5 + 4 non-empty annotated cells
    assert_eq!(report.audited_fields, 26);
    assert_eq!(
        view_row(&conn, "99001001002000"),
        vec![
            s("Abfallgebühr Festsetzung"),
            s("MU"),
            s("kommune"),
            s("efa"),
            s("EFA-0002"),
            s("Abfallentsorgung online"),
            None,
            s("1"),
            s("2026-12-31"),
            s("Rollout über GovConnect"),
            s("0"),
            s("MU Referat 12"),
        ]
    );
    assert_eq!(
        view_row(&conn, "99110009029000")[9],
        s("Satzungsrecht; je Kommune")
    );

    // the same sheet again changes nothing and audits nothing
    let again = apply(&mut conn, "annotations/valid.csv", "MU Referat 12", false);
    assert_eq!(
        (again.changed, again.unchanged, again.audited_fields),
        (0, 5, 0)
    );

    // a second sheet with some columns: `-` clears, empty keeps, old → new audited
    let update = apply(&mut conn, "annotations/update.csv", "MS Referat 3", false);
    assert_eq!((update.changed, update.audited_fields), (2, 3));
    let row = view_row(&conn, "99001001002000");
    assert_eq!(
        (row[1].clone(), row[7].clone(), row[9].clone()),
        (s("MU"), s("2"), None)
    );
    let audit: Vec<String> = store::audit(&conn, "99001001002000")
        .unwrap()
        .into_iter()
        .map(|a| {
            format!(
                "{}: {:?} → {:?} by {} from {}",
                a.field, a.old_value, a.new_value, a.changed_by, a.origin
            )
        })
        .collect();
    assert_eq!(audit.len(), 9);
    assert_eq!(
        audit[7..],
        [
            "prioritaet: Some(\"1\") → Some(\"2\") by MS Referat 3 from annotations/update.csv",
            "bemerkung: Some(\"Rollout über GovConnect\") → None by MS Referat 3 from annotations/update.csv",
        ]
    );
    assert_eq!(view_row(&conn, "99088026034000")[1], s("MS"));
}

#[test]
fn windows_1252_sheets_with_commas_are_read() {
    let (_dir, _db, mut conn) = catalogue();
    let report = apply(&mut conn, "annotations/valid_cp1252_comma.csv", "MW", false);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let row = view_row(&conn, "99058001000000");
    assert_eq!(
        (row[1].clone(), row[9].clone()),
        (s("MW"), s("Prüfung läuft"))
    );
}

const BROKEN_ERRORS: &[&str] = &[
    "line 3, column Ressort: unknown Ressort \"MX\"; known: StK, MI, MF, MS, MK, MW, MWK, ML, MJ, MU, MB",
    "line 4, column Leistungsschlüssel: 99999999999999 is not in the current LeiKa catalogue",
    "line 5, column EfA-ID: required when Umsetzungsweg is EfA: name the EfA service",
    "line 7, column Priorität: \"hoch\" is not a priority; allowed: 1 (highest), 2, 3",
    "line 7, column Zieldatum: \"bald\" is not a date; write YYYY-MM-DD or DD.MM.YYYY (a four-digit year)",
    "line 8, column Leistungsschlüssel: 99001001002000 already appears on line 2; give each key one row",
];

#[test]
fn a_sheet_with_any_bad_row_is_refused_whole_and_changes_nothing() {
    let (_dir, _db, mut conn) = catalogue();
    // something to keep: a key the broken sheet does not name
    apply(&mut conn, "annotations/valid_cp1252_comma.csv", "MW", false);
    let before = snapshot(&conn);
    assert_eq!(before.len(), 1 + 5);
    let report = apply(&mut conn, "annotations/broken.csv", "MK", false);
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors, BROKEN_ERRORS);
    assert_eq!(
        (
            report.rows,
            report.refused,
            report.not_applied,
            report.changed
        ),
        (7, 5, 2, 0)
    );
    assert_eq!(snapshot(&conn), before);
}

#[test]
fn partial_applies_the_valid_rows_and_reports_the_rest() {
    let (_dir, _db, mut conn) = catalogue();
    let report = apply(&mut conn, "annotations/broken.csv", "MK", true);
    assert_eq!(report.errors.len(), BROKEN_ERRORS.len());
    assert_eq!((report.changed, report.refused), (2, 5));
    let keys: Vec<String> = conn
        .prepare("SELECT leistungsschluessel FROM annotations ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(keys, ["99001001002000", "99110009029000"]);
}

#[test]
fn a_file_that_is_not_a_sheet_fails_whole() {
    let err = sheet::read(std::fs::File::open(fixture("annotations/not_a_sheet.csv")).unwrap())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("missing column(s) leistungsschluessel"),
        "{err}"
    );
}

#[test]
fn annotations_of_retired_keys_become_orphans_and_are_kept() {
    let (_dir, _db, mut conn) = catalogue();
    apply(&mut conn, "annotations/valid.csv", "MU", false);
    // the next LeiKa release no longer has 99110009029000
    let without: Vec<(&str, &str)> = SERVICES
        .iter()
        .copied()
        .filter(|(k, _)| *k != "99110009029000")
        .collect();
    leika_release(&mut conn, "leika", &without);

    let orphans = store::orphans(&conn).unwrap();
    assert_eq!(orphans.len(), 1);
    let o = &orphans[0];
    assert_eq!(o.annotation.leistungsschluessel, "99110009029000");
    assert_eq!(o.reason, "retired");
    assert!(o.retired_in.is_some());
    assert_eq!(
        o.annotation.bezeichnung.as_deref(),
        Some("Hundehaltung Prüfung")
    );
    assert_eq!(o.annotation.ressort.as_deref(), Some("MI"));

    // the orphan cannot be changed by a sheet any more: a clear error
    let report = apply(&mut conn, "annotations/valid.csv", "MU", false);
    assert_eq!(report.errors.len(), 1);
    assert!(
        report.errors[0]
            .to_string()
            .starts_with("line 5, column Leistungsschlüssel: 99110009029000 has been retired"),
        "{}",
        report.errors[0]
    );
}

#[test]
fn a_ressort_rename_keeps_history_and_annotations_follow() {
    let (_dir, _db, mut conn) = catalogue();
    apply(&mut conn, "annotations/valid.csv", "MU", false);
    // A date already come: the rename takes effect at once (a later one is planned,
    // see silently_wrong_text.rs).
    let date = chrono::NaiveDate::from_ymd_opt(2025, 11, 8).unwrap();
    let renamed = ressort::rename(
        &mut conn,
        "mw",
        Some("MWD"),
        Some("Ministerium für Wirtschaft und Digitales"),
        date,
    )
    .unwrap();
    assert_eq!(renamed.ressort_id, 6);

    let history: Vec<(String, String, Option<String>)> = ressort::list(&conn, true)
        .unwrap()
        .into_iter()
        .filter(|r| r.ressort_id == 6)
        .map(|r| (r.kuerzel, r.valid_from, r.valid_to))
        .collect();
    assert_eq!(
        history,
        vec![
            ("MW".into(), "2022-11-08".into(), Some("2025-11-08".into())),
            ("MWD".into(), "2025-11-08".into(), None),
        ]
    );
    // the annotation points at the Ressort, so it now shows the new name
    assert_eq!(view_row(&conn, "99012027000000")[1], s("MWD"));
    let frueher: String = conn
        .query_row(
            "SELECT frueher FROM v_ressorts WHERE ressort_id = 6",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        frueher,
        "MW Ministerium für Wirtschaft, Verkehr, Bauen und Digitalisierung (bis 2025-11-08)"
    );
    // the old Kürzel is no longer accepted in sheets
    let report = apply(&mut conn, "annotations/valid_cp1252_comma.csv", "MW", false);
    assert!(
        report.errors[0]
            .message
            .contains("unknown Ressort \"MW\"; known: StK, MI, MF, MS, MK, MWD,"),
        "{}",
        report.errors[0]
    );

    // a rename must move forward in time and keep Kürzel unique
    for (kuerzel, new, from, expected) in [
        ("MWD", Some("MWE"), "2025-11-08", "must be after 2025-11-08"),
        ("MWD", Some("MI"), "2028-01-01", "Kürzel MI is in use"),
        ("MX", Some("MY"), "2028-01-01", "no current Ressort \"MX\""),
        ("MWD", None, "2028-01-01", "give --kuerzel or --name"),
    ] {
        let date = chrono::NaiveDate::parse_from_str(from, "%Y-%m-%d").unwrap();
        let err = ressort::rename(&mut conn, kuerzel, new, None, date).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[test]
fn cli_reports_every_error_and_exits_1_when_rows_are_refused() {
    let (_dir, db, conn) = catalogue();
    drop(conn);
    let broken = fixture("annotations/broken.csv");
    let out = output_db(
        &db,
        &[
            "annotations",
            "import",
            broken.to_str().unwrap(),
            "--by",
            "MK",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    for e in BROKEN_ERRORS {
        assert!(stderr.contains(e), "missing {e:?} in {stderr}");
    }
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("5 of 7 rows refused; nothing applied. Fix the rows listed above, or apply the 2 valid rows with --partial."),
        "{stdout}"
    );
    // Every row refused: --partial would apply nothing, so it is not offered.
    let all_bad = db.with_file_name("all_bad.csv");
    let header = std::fs::read_to_string(fixture("annotations/valid.csv")).unwrap();
    let header = header.lines().next().unwrap();
    std::fs::write(
        &all_bad,
        format!("{header}\n99088026034000;;MK;Land;WfU/NAVO;;;1.0;31.12.2026;\n"),
    )
    .unwrap();
    let out = output_db(
        &db,
        &[
            "annotations",
            "import",
            all_bad.to_str().unwrap(),
            "--by",
            "MK",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(
            "1 of 1 rows refused; nothing applied. No row is valid: fix the rows listed above."
        ),
        "{stdout}"
    );

    let valid = fixture("annotations/valid.csv");
    let out = output_db(
        &db,
        &[
            "annotations",
            "import",
            valid.to_str().unwrap(),
            "--by",
            "MU",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let out = output_db(&db, &["annotations", "show", "99001001002000"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("EFA-0002 (Abfallentsorgung online)"),
        "{text}"
    );
    assert!(text.contains("ressort: ∅ → MU"), "{text}");

    let out = output_db(&db, &["annotations", "orphans", "--format", "csv"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
}

#[test]
fn cli_template_is_excel_ready_and_filled_from_the_database() {
    let (dir, db, conn) = catalogue();
    drop(conn);
    let out = output_db(&db, &["template", "annotations"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "\u{feff}Leistungsschlüssel;Leistungsbezeichnung;Ressort;Vollzug;Umsetzungsweg;EfA-ID;Depriorisierungsgrund;Priorität;Zieldatum;Bemerkung\r\n"
    );

    let valid = fixture("annotations/valid.csv");
    output_db(
        &db,
        &[
            "annotations",
            "import",
            valid.to_str().unwrap(),
            "--by",
            "MU",
        ],
    );
    let filled = dir.path().join("filled.csv");
    let out = output_db(
        &db,
        &[
            "template",
            "annotations",
            "--fill",
            "--out",
            filled.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&filled).unwrap();
    assert_eq!(text.lines().count(), 1 + SERVICES.len());
    assert!(
        text.contains("99001001002000;Abfallgebühr Festsetzung;MU;Kommune;EfA;EFA-0002;;1;2026-12-31;Rollout über GovConnect\r\n"),
        "{text}"
    );
    // a filled template re-imports without changes
    let out = output_db(
        &db,
        &[
            "annotations",
            "import",
            filled.to_str().unwrap(),
            "--by",
            "MU",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["changed"], 0);
    assert_eq!(report["unchanged"], 6);
}

#[test]
fn cli_ressort_list_and_rename() {
    let (_dir, db, conn) = catalogue();
    drop(conn);
    let out = output_db(
        &db,
        &[
            "ressort",
            "rename",
            "MW",
            "--name",
            "Wirtschaftsministerium",
            "--from",
            "08.11.2027",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let out = output_db(&db, &["ressort", "list", "--history", "--format", "csv"]);
    let text = String::from_utf8(out.stdout).unwrap();
    // dated in the future: planned, the current name stays in effect until then
    assert!(
        text.contains("6,MW,Wirtschaftsministerium,2027-11-08,,,planned\n"),
        "{text}"
    );
    assert!(text.contains("6,MW,\"Ministerium für Wirtschaft, Verkehr, Bauen und Digitalisierung\",2022-11-08,,,\n"), "{text}");
}
