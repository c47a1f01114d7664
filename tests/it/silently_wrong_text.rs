//! Text that used to come out silently wrong (issue 12): encodings decided by
//! evidence, releases that empty a column, names found as people type them, dates
//! as people write them, and the sources as they are really served. Every test runs
//! the real binary against real SQLite files.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::support::{self, fixture, run_db, scratch};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn import(db: &Path, kind: &str, file: &Path) -> support::Run {
    run_db(db, &["import", kind, path(file)])
}

/// `(name, typisierung)` of every current service, sorted by key.
fn services(db: &Path) -> Vec<(String, String, String)> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT key, json_extract(data, '$.bezeichnung'), json_extract(data, '$.typisierung')
             FROM record_versions WHERE entity = 'service' AND valid_to IS NULL ORDER BY key",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn count(db: &Path, sql: &str) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

fn gv100ad_db(dir: &Path) -> PathBuf {
    let db = dir.join("ozgsync.db");
    import(&db, "gv100ad", &fixture("gv100ad/GV100AD_30112025_NI.txt")).assert_ok();
    db
}

#[test]
fn an_iso_8859_1_gv100ad_edition_imports_whole() {
    let dir = scratch();
    let latin1 = fixture("gv100ad/GV100AD_30112025_NI_latin1.txt");
    let fresh = dir.path().join("fresh.db");
    let out = import(&fresh, "gv100ad", &latin1);
    out.assert_ok();
    assert!(
        out.stdout.contains("1442 added") && out.stdout.contains("0 rejected"),
        "{out:#?}"
    );
    let name = |db: &Path| -> String {
        Connection::open(db)
            .unwrap()
            .query_row(
                "SELECT json_extract(data, '$.name') FROM record_versions
                 WHERE key = 'gemeinde:031515406001' AND valid_to IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(name(&fresh), "Adenbüttel");

    // On top of the UTF-8 edition it is the same directory: nothing changes.
    let db = gv100ad_db(dir.path());
    let out = import(&db, "gv100ad", &latin1);
    out.assert_ok();
    assert!(
        out.stdout
            .contains("0 added, 0 changed, 0 retired, 1442 unchanged, 0 rejected"),
        "{out:#?}"
    );
}

#[test]
fn a_stray_byte_in_a_utf8_leika_file_rejects_that_row_only() {
    let dir = scratch();
    let clean = fixture("leika/leika_release2.csv");
    let stray = fixture("leika/leika_release2_stray_byte.csv");

    // Fresh: 613 records with their real names, one reject naming line and bytes.
    let fresh = dir.path().join("fresh.db");
    let out = import(&fresh, "leika", &stray);
    out.assert_ok();
    assert!(out.stdout.contains("613 added"), "{out:#?}");
    let reference = dir.path().join("reference.db");
    import(&reference, "leika", &clean).assert_ok();
    let mut expected = services(&reference);
    expected.retain(|(key, _, _)| key != "99019004031000");
    assert_eq!(services(&fresh), expected);
    let rejects = run_db(&fresh, &["rejects", "1"]);
    rejects.assert_ok();
    let line = rejects
        .stdout
        .lines()
        .find(|l| l.contains("99019004031000"))
        .unwrap_or_else(|| panic!("{rejects:#?}"));
    assert!(
        line.contains("line 16, column Bezeichnung") && line.contains("not UTF-8"),
        "{line}"
    );

    // On top of the clean release: nothing changes, the rejected row's service stays.
    let out = import(&reference, "leika", &stray);
    out.assert_ok();
    assert!(
        out.stdout
            .contains("0 added, 0 changed, 0 retired, 613 unchanged, 56 rejected"),
        "{out:#?}"
    );
    assert_eq!(services(&reference).len(), 614);
}

#[test]
fn a_file_that_mixes_encodings_in_its_header_is_refused() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let before = services(&db);
    let out = import(&db, "leika", &fixture("hostile/leika_mixed_encoding.csv"));
    out.assert_code(1);
    assert!(
        out.stderr.contains("mixes encodings") && out.stderr.contains("leika_mixed_encoding.csv"),
        "{out:#?}"
    );
    assert_eq!(services(&db), before);
}

#[test]
fn a_release_that_empties_a_filled_column_is_refused() {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    let clean = fixture("leika/leika_release2.csv");
    import(&db, "leika", &clean).assert_ok();
    let before = services(&db);
    let releases = count(&db, "SELECT count(*) FROM releases");

    // The Typ column renamed: every record would lose its Typisierung.
    let text = std::fs::read_to_string(&clean).unwrap();
    let shifted = dir.path().join("typ_renamed.csv");
    std::fs::write(&shifted, text.replacen("\"Typ\"", "\"Typisierung\"", 1)).unwrap();
    assert_ne!(
        std::fs::read(&shifted).unwrap(),
        std::fs::read(&clean).unwrap()
    );
    let out = import(&db, "leika", &shifted);
    out.assert_code(1);
    assert!(
        out.stderr.contains("field `typisierung` is filled in")
            && out.stderr.contains("--max-retire-share 1"),
        "{out:#?}"
    );
    assert_eq!(services(&db), before);
    assert_eq!(count(&db, "SELECT count(*) FROM releases"), releases);

    // The documented override applies it.
    let out = run_db(
        &db,
        &["import", "leika", path(&shifted), "--max-retire-share", "1"],
    );
    out.assert_ok();
    assert!(out.stdout.contains("613 changed"), "{out:#?}");
}

/// The guard counts what the current records filled from what the release meets
/// (unchanged records, closed versions) and reads back only the rest (kept and
/// retired keys): the count it reports must still be the count over all current
/// versions, here taken by the SQL the guard used before (`json_each` over every
/// current version), with records in each of those four states.
#[test]
fn the_emptied_field_guard_counts_every_current_record() {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    let clean = fixture("leika/leika_release2.csv");
    import(&db, "leika", &clean).assert_ok();
    let filled = |field: &str| {
        count(
            &db,
            &format!(
                "SELECT count(*) FROM record_versions v, json_each(v.data) j
                 WHERE v.entity = 'service' AND v.valid_to IS NULL AND j.key = '{field}'
                   AND j.type != 'null' AND NOT (j.type = 'text' AND j.atom = '')
                   AND NOT (j.type = 'array' AND json_array_length(j.value) = 0)
                   AND NOT (j.type = 'object' AND j.value = '{{}}')"
            ),
        )
    };
    let before = filled("typisierung");
    let current = count(
        &db,
        "SELECT count(*) FROM record_versions WHERE entity = 'service' AND valid_to IS NULL",
    );
    assert!(before > 100, "{before}");

    // Of every 40 rows: one unchanged, one left out (retired), one with its
    // Bezeichnung emptied (rejected, its key kept), the rest with the Typ emptied
    // (changed, the old version closed).
    let text = std::fs::read_to_string(&clean).unwrap();
    let mut lines = text.lines();
    let mut out = vec![lines.next().unwrap().to_owned()];
    for (i, line) in lines.enumerate() {
        let mut cells: Vec<String> = line.split("\",\"").map(str::to_owned).collect();
        assert_eq!(cells.len(), 11, "{line}");
        match i % 40 {
            0 => {}
            1 => continue,
            2 => cells[5].clear(),
            _ => cells[7].clear(),
        }
        out.push(cells.join("\",\""));
    }
    let emptied = dir.path().join("typ_emptied.csv");
    std::fs::write(&emptied, out.join("\n") + "\n").unwrap();
    let out = import(&db, "leika", &emptied);
    out.assert_code(1);
    assert!(
        out.stderr.contains(&format!(
            "field `typisierung` is filled in {before} of {current} current records"
        )),
        "{out:#?}"
    );
    assert_eq!(filled("typisierung"), before);
}

/// The real directory, then the constructed later edition (a rename, a merger).
fn two_editions(dir: &Path) -> PathBuf {
    let db = gv100ad_db(dir);
    import(
        &db,
        "gv100ad",
        &fixture("gv100ad/GV100AD_31122025_NI_changed.txt"),
    )
    .assert_ok();
    db
}

/// The first lines (record titles) of `municipality QUERY`.
fn titles(db: &Path, query: &str) -> Vec<String> {
    let out = run_db(db, &["municipality", query]);
    out.assert_ok();
    out.stdout
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn municipalities_are_found_as_people_type_them() {
    let dir = scratch();
    let db = two_editions(dir.path());
    for query in [
        "GÖTTINGEN",
        "Goettingen",
        "göttingen, STADT",
        "Go\u{308}ttingen",
        // Turkish keyboard in caps lock: `İ` lower-cases to `i` + U+0307.
        "GÖTTİNGEN",
    ] {
        let found = titles(&db, query);
        assert!(
            found
                .iter()
                .any(|t| t.starts_with("gemeinde:031590016016  Göttingen, Stadt (gemeinde")),
            "{query}: {found:#?}"
        );
    }
    assert!(titles(&db, "Bueckeburg")[0].contains("Bückeburg, Stadt"));
    let gross = titles(&db, "GROSS");
    assert!(gross.iter().any(|t| t.contains("Groß")), "{gross:#?}");

    // An earlier name finds the renamed Gemeinde, marked as such.
    let renamed = titles(&db, "Müden (Aller)");
    assert_eq!(
        renamed,
        ["gemeinde:031515405018  Müden an der Aller (gemeinde, TK 64)  (found by its earlier name \"Müden (Aller)\")  [current]"]
    );
    // A merged-away Gemeinde is found too, after the current one that carries its name.
    let merged = titles(&db, "roetgesbuettel");
    assert_eq!(merged.len(), 2, "{merged:#?}");
    assert!(merged[0].contains("Adenbüttel-Rötgesbüttel") && merged[0].ends_with("[current]"));
    assert!(
        merged[1].starts_with("gemeinde:031515406023  Rötgesbüttel (gemeinde, TK 64)  (retired;")
            && merged[1].contains("[retired in release 2"),
        "{merged:#?}"
    );
    let json = run_db(&db, &["municipality", "Müden (Aller)", "--format", "json"]);
    json.assert_ok();
    let rows: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        rows[0]["found"], "found by its earlier name \"Müden (Aller)\"",
        "{rows:#}"
    );
    let none = run_db(&db, &["municipality", "Lübeck"]);
    none.assert_code(1);
    assert!(none.stderr.contains("no municipality matches \"Lübeck\""));
}

#[test]
fn search_shows_stored_names_and_finds_keys() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    for query in [
        "strassenverkehr bussgelder",
        "STRASSENVERKEHR",
        "Straßenverkehr",
    ] {
        let out = run_db(&db, &["search", query]);
        out.assert_ok();
        assert!(
            out.stdout
                .contains("99108031000000  Strafen und Bußgelder im Straßenverkehr"),
            "{query}: {out:#?}"
        );
    }
    let out = run_db(&db, &["search", "Abfindung fuer Unfallversicherte"]);
    out.assert_ok();
    assert!(
        out.stdout.contains("Abfindung für Unfallversicherte"),
        "{out:#?}"
    );

    // A key finds its service first; an EfA-ID its EfA service.
    let out = run_db(&db, &["search", "99108031000000"]);
    out.assert_ok();
    let first = out.stdout.lines().nth(1).unwrap_or_default();
    assert!(first.starts_with("service  99108031000000"), "{out:#?}");
    import(&db, "efa", &fixture("efa/release1.json")).assert_ok();
    let efa_id: String = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT key FROM record_versions WHERE entity = 'efa_service' AND valid_to IS NULL
             ORDER BY key LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let out = run_db(&db, &["search", &efa_id.to_lowercase()]);
    out.assert_ok();
    let first = out.stdout.lines().nth(1).unwrap_or_default();
    assert!(
        first.starts_with(&format!("efa_service  {efa_id}")),
        "{efa_id}: {out:#?}"
    );
}

#[test]
fn status_takes_an_ags_or_a_unique_name_and_shows_names() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    import(&db, "gv100ad", &fixture("gv100ad/GV100AD_30112025_NI.txt")).assert_ok();
    let key = "99088026034000";
    let set = |ars: &str, status: &str| {
        run_db(
            &db,
            &[
                "status",
                "set",
                key,
                "--ars",
                ars,
                "--status",
                status,
                "--on",
                "01.03.2026",
                "--by",
                "test",
            ],
        )
    };
    // Folded as typed: caps, `oe` for `ö`, and a Turkish keyboard's `İ` (`i` + a
    // combining dot once lower-cased), which matched no name before.
    let out = set("GOETTİNGEN, stadt", "pilot");
    out.assert_ok();
    assert!(
        out.stdout
            .contains("for ars 031590016016 (Göttingen, Stadt): pilot since 2026-03-01"),
        "{out:#?}"
    );
    set("03159016", "produktiv").assert_ok();
    // "Göttingen" is the Landkreis and the Stadt: refused, both listed.
    let out = set("Göttingen", "produktiv");
    out.assert_code(1);
    assert!(
        out.stderr.contains("names several municipalities")
            && out.stderr.contains("031590000000")
            && out.stderr.contains("031590016016"),
        "{out:#?}"
    );
    let out = run_db(&db, &["status", "show", key, "--ars", "Göttingen, Stadt"]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out:#?}");
    assert!(
        lines[1].contains("031590016016") && lines[1].contains("Göttingen, Stadt"),
        "{out:#?}"
    );
    assert!(lines[1].contains("produktiv"), "{out:#?}");
}

#[test]
fn dates_as_people_write_them_and_honest_report_metadata() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let out_file = dir.path().join("report.json");
    let before = chrono::Utc::now();
    let out = run_db(
        &db,
        &[
            "export",
            "report",
            "--format",
            "json",
            "--as-of",
            "31.12.2025",
            "--since",
            "01.12.2025",
            "--out",
            path(&out_file),
        ],
    );
    out.assert_ok();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    assert_eq!(report["as_of"], "2025-12-31");
    assert_eq!(report["since"], "2025-12-01");
    let made =
        chrono::DateTime::parse_from_rfc3339(report["generated_at"].as_str().unwrap()).unwrap();
    assert!(
        made >= before - chrono::Duration::seconds(2),
        "erstellt is the time of making, not the Stichtag: {made}"
    );
    let md = dir.path().join("report.md");
    run_db(
        &db,
        &[
            "export",
            "report",
            "--format",
            "md",
            "--as-of",
            "31.12.2025",
            "--out",
            path(&md),
        ],
    )
    .assert_ok();
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("Stichtag: 31.12.2025 · erstellt: "), "{text}");
    assert!(!text.contains("erstellt: 2025-12-31T00:00:00Z"), "{text}");

    let out = run_db(
        &db,
        &[
            "export",
            "report",
            "--format",
            "json",
            "--as-of",
            "31.13.2025",
            "--out",
            path(&out_file),
        ],
    );
    out.assert_code(2);
    assert!(
        out.stderr.contains("write YYYY-MM-DD or DD.MM.YYYY"),
        "{out:#?}"
    );
}

#[test]
fn a_future_ressort_rename_waits_for_its_date() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let kuerzel = |db: &Path| -> Vec<String> {
        Connection::open(db)
            .unwrap()
            .prepare("SELECT kuerzel FROM v_ressorts WHERE ressort_id = 6")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let out = run_db(
        &db,
        &[
            "ressort",
            "rename",
            "MW",
            "--kuerzel",
            "MWD",
            "--name",
            "Ministerium für Wirtschaft und Digitales",
            "--from",
            "08.11.2099",
        ],
    );
    out.assert_ok();
    assert!(out.stdout.contains("until then it stays MW"), "{out:#?}");
    assert_eq!(kuerzel(&db), ["MW"]);
    let list = run_db(&db, &["ressort", "list", "--format", "csv"]);
    list.assert_ok();
    assert!(list.stdout.contains("6,MW,"), "{list:#?}");
    assert!(
        list.stdout
            .contains("6,MWD,Ministerium für Wirtschaft und Digitales,2099-11-08,,,planned"),
        "{list:#?}"
    );
    // a second plan for the same Ressort is refused, not stacked
    let again = run_db(
        &db,
        &[
            "ressort",
            "rename",
            "MW",
            "--kuerzel",
            "MWX",
            "--from",
            "2099-12-01",
        ],
    );
    again.assert_code(1);
    assert!(again.stderr.contains("already planned"), "{again:#?}");

    // When the date has come, the first command that writes carries the rename out;
    // a reader only reads.
    Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE ressort_renames_planned SET valid_from = '2025-11-08' WHERE ressort_id = 6",
            [],
        )
        .unwrap();
    run_db(&db, &["ressort", "list"]).assert_ok();
    assert_eq!(kuerzel(&db), ["MW"]);
    let leika = support::fixture("leika/leika_sample_nrw2019.csv");
    run_db(&db, &["import", "leika", leika.to_str().unwrap()]).assert_ok();
    assert_eq!(kuerzel(&db), ["MWD"]);
    let list = run_db(&db, &["ressort", "list", "--history", "--format", "csv"]);
    assert!(
        list.stdout
            .contains("6,MWD,Ministerium für Wirtschaft und Digitales,2025-11-08,,,\n")
            && list.stdout.lines().skip(1).all(|l| !l.ends_with("planned")),
        "{list:#?}"
    );
}

#[test]
fn the_leika_csv_as_the_fim_portal_ships_it() {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    let out = import(
        &db,
        "leika",
        &fixture("leika/leika_fim_portal_iso8859-1.csv"),
    );
    out.assert_ok();
    assert!(
        out.stdout
            .contains("612 added, 0 changed, 0 retired, 0 unchanged, 55 rejected, 0 warnings"),
        "{out:#?}"
    );
    let all = services(&db);
    let typ = |key: &str| {
        all.iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, name, typ)| (name.clone(), typ.clone()))
    };
    assert_eq!(
        typ("99107002017000"),
        Some((
            "Arbeitslosengeld II Bewilligung".to_owned(),
            r#"["1","2/3"]"#.to_owned()
        ))
    );
    assert!(all.iter().any(|(_, name, _)| name.contains("für")));
    assert!(all.iter().all(|(_, name, _)| !name.contains('\u{FFFD}')));
}

/// `(ars, key, online_status, url, ozg_id)` of every current availability record.
fn availability(db: &Path) -> Vec<String> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT key || ' ' || json_extract(data, '$.online_status') || ' '
                    || coalesce(json_extract(data, '$.url'), '-') || ' '
                    || coalesce(json_extract(data, '$.ozg_id'), '-')
             FROM record_versions WHERE entity = 'availability' AND valid_to IS NULL ORDER BY key",
        )
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn pvog_is_read_as_served_json_pages_or_the_csv_file() {
    let pages: Vec<Vec<u8>> = (0..3)
        .map(|n| std::fs::read(fixture(&format!("pvog/page{n}.json"))).unwrap())
        .collect();
    // The same rows as the CSV file the API serves with filetype=csv.
    let columns = [
        "leika_key",
        "leika_name",
        "ars",
        "ars_name",
        "bundesland",
        "ozgid",
        "url",
        "online_status",
        "aktiv",
        "art_flaechendeckung",
    ];
    let mut csv_text = columns.join(";") + "\r\n";
    for page in &pages {
        let page: serde_json::Value = serde_json::from_slice(page).unwrap();
        for row in page["content"].as_array().unwrap() {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| match &row[*c] {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                })
                .collect();
            csv_text += &(cells.join(";") + "\r\n");
        }
    }

    let json_pages = pages.clone();
    let json_server = support::serve(move |path, _| {
        let n: usize = path
            .rsplit("page=")
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        support::Reply::ok(json_pages[n.min(2)].clone()).header("Content-Type", "application/json")
    });
    let csv_body = csv_text.clone().into_bytes();
    let csv_server = support::serve(move |_, _| {
        support::Reply::ok(csv_body.clone()).header("Content-Type", "application/octet-stream")
    });

    let dir = scratch();
    let from_json = dir.path().join("json.db");
    let from_csv = dir.path().join("csv.db");
    for (db, server) in [(&from_json, &json_server), (&from_csv, &csv_server)] {
        let out = run_db(
            db,
            &[
                "import",
                "pvog",
                &format!("{}/api/", server.base),
                "--allow-http",
            ],
        );
        out.assert_ok();
    }
    let rows = availability(&from_json);
    assert!(!rows.is_empty());
    assert_eq!(availability(&from_csv), rows);
    assert!(
        rows.iter().any(|r| r.starts_with(
            "032410001001:99041006017000 ok https://example.org/hannover/hundesteuer 10000"
        )),
        "{rows:#?}"
    );
    // The CSV answer is the whole data: one request, no paging.
    assert_eq!(csv_server.requests.lock().unwrap().len(), 1);
    assert_eq!(json_server.requests.lock().unwrap().len(), 3);
}

#[test]
fn several_leistung_objects_for_one_key_keep_the_first_and_warn() {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    let out = import(&db, "xzufi", &fixture("xzufi/multi_leistung.xml"));
    out.assert_ok();
    assert!(
        out.stdout.contains("2 added") && out.stdout.contains("0 rejected, 2 warnings"),
        "{out:#?}"
    );
    let all = services(&db);
    assert_eq!(
        all.iter()
            .map(|(k, name, _)| format!("{k} {name}"))
            .collect::<Vec<_>>(),
        [
            "99001001002000 Abfallgebühr Festsetzung",
            "99012001001000 Abwassereinleitung Erlaubnis Erteilung"
        ]
    );
    let rejects = run_db(&db, &["rejects", "1"]);
    rejects.assert_ok();
    let warnings: Vec<&str> = rejects
        .stdout
        .lines()
        .filter(|l| l.starts_with("warning"))
        .collect();
    assert_eq!(warnings.len(), 2, "{rejects:#?}");
    for w in warnings {
        assert!(
            w.contains("99012001001000")
                && w.contains("regional variant")
                && w.contains("record 1 (leistung id=B100019/B100019.LB.99012001001000)"),
            "{w}"
        );
    }
}

#[test]
fn a_status_sheet_with_a_stray_byte_names_that_row_only() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    import(&db, "gv100ad", &fixture("gv100ad/GV100AD_30112025_NI.txt")).assert_ok();
    let mut sheet = "Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung\r\n\
                     99088026034000;031590016016;pilot;01.03.2026;Göttingen zuerst\r\n"
        .as_bytes()
        .to_vec();
    sheet.extend_from_slice(
        b"99088026034000;032410001001;pilot;01.03.2026;Hannover f\xfcr alle\r\n",
    );
    let file = dir.path().join("status.csv");
    std::fs::write(&file, &sheet).unwrap();
    let out = run_db(&db, &["status", "import", path(&file), "--by", "test"]);
    assert!(!out.ok(), "{out:#?}");
    assert!(
        out.stderr.contains("line 3, column Bemerkung") && out.stderr.contains("not UTF-8"),
        "{out:#?}"
    );
    let out = run_db(
        &db,
        &["status", "import", path(&file), "--by", "test", "--partial"],
    );
    out.assert_code(1);
    assert!(
        out.stdout.contains("1 status event(s) recorded"),
        "{out:#?}"
    );
    let note: String = Connection::open(&db)
        .unwrap()
        .query_row("SELECT note FROM status_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(note, "Göttingen zuerst");
}
