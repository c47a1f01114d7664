//! Exports: the report renderers on a model built here (XLSX read back with
//! calamine, CSV bytes, HTML parsed, JSON validated against its schema, Markdown and
//! JSON pinned by snapshots), and the dashboards from a real database (GV100AD
//! fixture plus constructed coordination data): every file validated against its
//! schema, one pinned by a snapshot, unchanged re-exports rewrite nothing.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, TimeZone, Utc};
use ozgsync::efa_nachnutzung::{Bewertung, Field, KostenLand, Parametrisierung, State};
use ozgsync::export::model::*;
use ozgsync::export::{self, render_report, ExportJob, ExportOutcome, Part, ReportFormat};

use super::support::Db;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn phases(total: u32, produktiv: u32, einfuehrung: u32, geplant: u32) -> Phases {
    Phases {
        total,
        produktiv,
        einfuehrung,
        geplant,
    }
}

/// A small report with every part filled and some awkward text.
fn fixture_report() -> Report {
    Report {
        generated_at: Utc.with_ymd_and_hms(2026, 3, 15, 0, 0, 0).unwrap(),
        as_of: d("2026-03-15"),
        since: Some(d("2026-02-01")),
        sources: vec![SourceRelease {
            source: "efa".into(),
            release_id: 7,
            fetched_at: "2026-03-01T06:00:00Z".into(),
        }],
        services: vec![
            ServiceRow {
                efa_id: "EFA-0001".into(),
                name: "Wohngeld digital".into(),
                ozg_leistungen: vec![OzgRef {
                    ozg_id: "10110".into(),
                    name: "Wohngeld".into(),
                }],
                themenfeld: Some("bauen_wohnen".into()),
                federfuehrendes_land: Some("NW".into()),
                status_land: Some(Status::Produktiv),
                ressort: Some("MW".into()),
                umsetzungsweg: Some("efa".into()),
                reifegrad: Some(Reifegrad {
                    model: "1.1".into(),
                    level: 3,
                }),
                kommunen: phases(939, 312, 100, 50),
                verfuegbarkeit: Some(Availability {
                    online: 300,
                    observed: 420,
                }),
                url: Some("https://example.org/wohngeld?a=1&b=2".into()),
                kostenmodell: Some(
                    "Einer für Alle, Kostenteilung nach Königsteiner Schlüssel".into(),
                ),
                nachnutzung: Nachnutzung {
                    stage: Stage::KommunenProduktiv,
                    state: Some(State {
                        bewertung: Some(Bewertung::Geeignet),
                        bewertet_am: Some(d("2026-01-15")),
                        ressort_id: Some(6),
                        parametrisierung: Some(Parametrisierung::NichtNoetig),
                        kanal: Some(Kanal::Govconnect),
                        bereitgestellt_ab: Some(d("2026-03-01")),
                        kosten_land: Some(KostenLand::Anteilig),
                        kontakt: Some("efa@mw.example".into()),
                        ..State::default()
                    }),
                },
            },
            ServiceRow {
                efa_id: "EFA-0002".into(),
                name: "=Gewerbe | <An- & Abmeldung>".into(),
                ozg_leistungen: vec![],
                themenfeld: None,
                federfuehrendes_land: None,
                status_land: None,
                ressort: None,
                umsetzungsweg: None,
                reifegrad: None,
                kommunen: Phases::default(),
                verfuegbarkeit: None,
                url: None,
                kostenmodell: None,
                nachnutzung: Nachnutzung {
                    stage: Stage::Angeboten,
                    state: None,
                },
            },
        ],
        ressorts: vec![ProgressRow {
            key: "MW".into(),
            name: "Ministerium für Wirtschaft, Verkehr, Bauen und Digitalisierung".into(),
            services: phases(2, 1, 0, 0),
            kommunen: phases(939, 312, 100, 50),
        }],
        themenfelder: vec![ProgressRow {
            key: "bauen_wohnen".into(),
            name: "Bauen & Wohnen".into(),
            services: phases(1, 1, 0, 0),
            kommunen: phases(939, 312, 100, 50),
        }],
        kreise: vec![KreisRow {
            ars: "031510000000".into(),
            name: "Gifhorn".into(),
            gemeinden: 41,
            paare: phases(82, 20, 10, 5),
        }],
        changes: Changes {
            new_services: vec![NewService {
                efa_id: "EFA-0002".into(),
                name: "Gewerbe".into(),
                first_seen: d("2026-03-01"),
            }],
            status_changes: vec![StatusChange {
                effective_on: d("2026-02-20"),
                subject_kind: "efa".into(),
                subject: "EFA-0001".into(),
                subject_name: "Wohngeld digital".into(),
                scope: "MW".into(),
                scope_name: "Ministerium für Wirtschaft".into(),
                old: Some(Status::Beauftragt),
                new: Status::Produktiv,
                retired: false,
            }],
            retired_keys: vec![RetiredKey {
                entity: "service".into(),
                key: "99999999999000".into(),
                name: "Entfallen".into(),
                retired_on: d("2026-03-03"),
            }],
            nachnutzung: vec![NachnutzungChange {
                recorded_on: d("2026-03-01"),
                efa_id: "EFA-0001".into(),
                name: "Wohngeld digital".into(),
                field: Field::Kanal,
                old: None,
                new: Some("govconnect".into()),
            }],
        },
        demo: false,
        funnel: Stage::ALL
            .iter()
            .map(|s| (*s, if *s == Stage::Angeboten { 2 } else { 1 }))
            .collect(),
    }
}

fn one(report: &Report, format: ReportFormat) -> Vec<u8> {
    let mut files = render_report(report, format, None).unwrap();
    assert_eq!(files.len(), 1);
    files.remove(0).1
}

fn schema(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(format!("schema/{name}.schema.json")).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, bytes: &[u8], what: &str) {
    let value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

#[test]
fn xlsx_has_typed_sheets_and_is_deterministic() {
    use calamine::{Data, Reader, Xlsx};
    let report = fixture_report();
    let bytes = one(&report, ReportFormat::Xlsx);
    assert_eq!(
        bytes,
        one(&report, ReportFormat::Xlsx),
        "same data, same bytes"
    );
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).unwrap();
    assert_eq!(
        wb.sheet_names(),
        [
            "EfA-Nachnutzung",
            "Für Kommunen",
            "Leistungen",
            "Ressorts",
            "Themenfelder",
            "Kreise",
            "Änderungen"
        ]
    );
    let range = wb.worksheet_range("Leistungen").unwrap();
    let header: Vec<String> = range
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(&header[..3], ["EfA-ID", "Onlinedienst", "OZG-Leistung(en)"]);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let row = range.rows().nth(1).unwrap();
    assert_eq!(row[col("EfA-ID")], Data::String("EFA-0001".into()));
    assert_eq!(row[col("Kommunen gesamt")], Data::Float(939.0));
    assert_eq!(row[col("Anteil produktiv")], Data::Float(0.3323));
    assert_eq!(row[col("Reifegrad")], Data::Float(3.0));
    assert_eq!(row[col("Landesstatus")], Data::String("produktiv".into()));
    assert_eq!(
        range.rows().nth(2).unwrap()[col("Anteil produktiv")],
        Data::Empty
    );

    let kreise = wb.worksheet_range("Kreise").unwrap();
    // ARS stays text with its leading zero.
    assert_eq!(
        kreise.rows().nth(1).unwrap()[0],
        Data::String("031510000000".into())
    );
    let changes = wb.worksheet_range("Änderungen").unwrap();
    match &changes.rows().nth(1).unwrap()[0] {
        Data::DateTime(dt) => assert_eq!(dt.as_datetime().unwrap().date(), d("2026-03-01")),
        other => panic!("date cell is {other:?}"),
    }
}

#[test]
fn csv_is_for_german_excel() {
    let report = fixture_report();
    let files = render_report(&report, ReportFormat::Csv, None).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "nachnutzung.csv",
            "kommunen.csv",
            "leistungen.csv",
            "ressorts.csv",
            "themenfelder.csv",
            "kreise.csv",
            "aenderungen.csv"
        ]
    );
    let (_, leistungen) = &files[2];
    assert!(leistungen.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM");
    let text = std::str::from_utf8(&leistungen[3..]).unwrap();
    assert!(text.ends_with("\r\n"));
    assert!(!text.replace("\r\n", "").contains('\n'), "CRLF only");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(headers.len(), 22);
    assert_eq!(&headers[14], "Anteil produktiv");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(&rows[0][14], "33,2 %");
    assert_eq!(
        &rows[1][1], "'=Gewerbe | <An- & Abmeldung>",
        "formula defused"
    );
    let only = render_report(&report, ReportFormat::Csv, Some(Part::Kreise)).unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].0, "kreise.csv");
}

#[test]
fn html_is_self_contained_accessible_and_parses() {
    let bytes = one(&fixture_report(), ReportFormat::Html);
    let text = String::from_utf8(bytes).unwrap();
    let doc = scraper::Html::parse_document(&text);
    assert!(doc.errors.is_empty(), "parse errors: {:?}", doc.errors);
    let sel = |s: &str| scraper::Selector::parse(s).unwrap();
    assert_eq!(doc.select(&sel("html[lang=de]")).count(), 1);
    assert_eq!(doc.select(&sel("table")).count(), 7);
    assert_eq!(doc.select(&sel("table > caption")).count(), 7);
    assert!(doc
        .select(&sel("thead th"))
        .all(|th| th.value().attr("scope") == Some("col")));
    // The Ressort bars (value and background) and one funnel bar per stage.
    assert_eq!(doc.select(&sel("svg[role=img] rect")).count(), 2 + 7);
    for asset in ["script", "link", "img", "iframe", "object"] {
        assert_eq!(doc.select(&sel(asset)).count(), 0, "no {asset}");
    }
    assert!(text.contains("@media print"));
    assert!(text.contains("=Gewerbe | &lt;An- &amp; Abmeldung&gt;"));
    let th: Vec<String> = doc
        .select(&sel("#kreise thead th"))
        .map(|e| e.text().collect())
        .collect();
    assert_eq!(th[1], "Kreis");
}

#[test]
fn json_report_matches_its_schema_and_snapshot() {
    let bytes = one(&fixture_report(), ReportFormat::Json);
    assert_valid(&schema("report"), &bytes, "report.json");
    insta::assert_snapshot!("report_json", String::from_utf8(bytes).unwrap());
}

#[test]
fn markdown_report_snapshot() {
    let bytes = one(&fixture_report(), ReportFormat::Md);
    insta::assert_snapshot!("report_md", String::from_utf8(bytes).unwrap());
}

/// A database with the real GV100AD fixture and the constructed coordination data.
fn fixture_db() -> Db {
    let db = Db::new();
    db.ok(&[
        "import",
        "gv100ad",
        "fixtures/gv100ad/GV100AD_30112025_NI.txt",
    ]);
    let sql = std::fs::read_to_string("fixtures/export/coordination.sql").unwrap();
    db.conn().execute_batch(&sql).unwrap();
    db
}

fn read_set(dir: &Path) -> BTreeMap<String, (Vec<u8>, u64, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let m = e.metadata().unwrap();
                let rel = e
                    .path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(
                    rel,
                    (
                        std::fs::read(e.path()).unwrap(),
                        m.ino(),
                        m.mtime_nsec() + m.mtime() * 1_000_000_000,
                    ),
                );
            }
        }
    }
    out
}

fn dashboards(db: &Db, out: &Path, gzip: bool) -> export::publish::PublishSummary {
    let job = ExportJob::Dashboards {
        land: Default::default(),
        out: out.to_path_buf(),
        gzip,
        as_of: Some(d("2026-03-15")),
        site: false,
    };
    match export::run_job(&db.path, &job).unwrap() {
        ExportOutcome::Dashboards(s) => s,
        other => panic!("{other:?}"),
    }
}

/// The dashboards read each Gemeinde's status cells as its files are built,
/// through the scope index of schema 0017; a database without that index is read
/// as the whole matrix up front. Both give the same files byte for byte: as of a
/// date before most events, between them (cells dated later are looked up, the
/// change window holds some), and after all of them.
#[test]
fn dashboards_read_gemeinde_by_gemeinde_equal_the_whole_matrix_read() {
    let db = fixture_db();
    let root = tempfile::tempdir().unwrap();
    let whole = root.path().join("whole.db");
    std::fs::copy(&db.path, &whole).unwrap();
    rusqlite::Connection::open(&whole)
        .unwrap()
        .execute_batch("DROP INDEX status_current_by_scope")
        .unwrap();
    let export = |db: &Path, as_of: &str, out: &Path| {
        let run = super::support::run_db(
            db,
            &[
                "export",
                "dashboards",
                "--as-of",
                as_of,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        run.assert_ok();
        read_set(out)
            .into_iter()
            .map(|(path, (bytes, _, _))| (path, bytes))
            .collect::<BTreeMap<_, _>>()
    };
    let mut gifhorn = Vec::new();
    for as_of in ["2026-01-20", "2026-02-10", "2026-03-15", "2026-12-31"] {
        let by_gemeinde = export(&db.path, as_of, &root.path().join(format!("g-{as_of}")));
        gifhorn.push(by_gemeinde["gemeinden/031510009009.json"].clone());
        let from_matrix = export(&whole, as_of, &root.path().join(format!("m-{as_of}")));
        assert!(by_gemeinde.len() > 900, "{}", by_gemeinde.len());
        assert_eq!(
            by_gemeinde.keys().collect::<Vec<_>>(),
            from_matrix.keys().collect::<Vec<_>>()
        );
        for (path, bytes) in &by_gemeinde {
            assert!(
                from_matrix.get(path) == Some(bytes),
                "{path} as of {as_of} differs between the two reads"
            );
        }
    }
    // The dates see different statuses and change windows (pilot, then produktiv).
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    assert!(
        text(&gifhorn[0]).contains("\"pilot\""),
        "{}",
        text(&gifhorn[0])
    );
    assert!(text(&gifhorn[2]).contains("\"produktiv\""));
    assert!(text(&gifhorn[2]).contains("\"old\":\"pilot\""));
    assert!(text(&gifhorn[3]).contains("\"changes_30d\":[]"));
}

#[test]
fn dashboards_validate_snapshot_and_stay_untouched_when_unchanged() {
    let db = fixture_db();
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("dash");
    let first = dashboards(&db, &out, true);
    assert!(!first.unchanged);
    let set = read_set(&out);

    let validators: BTreeMap<&str, jsonschema::Validator> = [
        ("gemeinde", schema("dashboard-gemeinde")),
        ("aggregate", schema("dashboard-aggregate")),
        ("index", schema("dashboard-index")),
        ("meta", schema("dashboard-meta")),
        ("services", schema("dashboard-services")),
    ]
    .into_iter()
    .collect();
    let mut counts = BTreeMap::new();
    for (path, (bytes, _, _)) in &set {
        if let Some(plain) = path.strip_suffix(".gz") {
            let mut text = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
                .unwrap();
            assert_eq!(&text, &set[plain].0, "{path} decompresses to its sibling");
            continue;
        }
        let kind = match path.split('/').next().unwrap() {
            "gemeinden" => "gemeinde",
            "verbaende" | "kreise" => "aggregate",
            "index.json" => "index",
            "meta.json" => "meta",
            "services.json" => "services",
            "schema" => continue,
            // The publisher's manifest, checked below.
            export::publish::MANIFEST => continue,
            other => panic!("unexpected file {other}"),
        };
        *counts
            .entry(path.split('/').next().unwrap().to_owned())
            .or_insert(0) += 1;
        assert_valid(&validators[kind], bytes, path);
    }
    let manifest = String::from_utf8(set[export::publish::MANIFEST].0.clone()).unwrap();
    let listed: Vec<&str> = manifest.lines().skip(1).collect();
    let published: Vec<&str> = set
        .keys()
        .map(String::as_str)
        .filter(|p| *p != export::publish::MANIFEST)
        .collect();
    assert_eq!(
        listed, published,
        "the manifest lists exactly the published files"
    );
    assert_eq!(counts["gemeinden"], 939);
    assert_eq!(counts["kreise"], 45);
    assert!(
        counts["verbaende"] >= 114,
        "Samtgemeinden and other Verbände"
    );
    assert!(set.contains_key("schema/dashboard-gemeinde.schema.json"));
    assert!(set.contains_key("schema/dashboard-services.schema.json"));
    // Every service a unit file names is described in services.json.
    let services: serde_json::Value = serde_json::from_slice(&set["services.json"].0).unwrap();
    insta::assert_snapshot!(
        "dashboard_services",
        serde_json::to_string_pretty(&services).unwrap()
    );
    for (path, (bytes, _, _)) in &set {
        if path.ends_with(".json") && !path.starts_with("schema/") && path.contains('/') {
            let file: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            for key in file["services"].as_object().unwrap().keys() {
                assert!(services["services"].get(key).is_some(), "{path}: {key}");
            }
        }
    }

    let gifhorn: serde_json::Value =
        serde_json::from_slice(&set["gemeinden/031510009009.json"].0).unwrap();
    insta::assert_snapshot!(
        "dashboard_gemeinde_gifhorn",
        serde_json::to_string_pretty(&gifhorn).unwrap()
    );
    let kreis: serde_json::Value =
        serde_json::from_slice(&set["kreise/031510000000.json"].0).unwrap();
    assert_eq!(kreis["counts"]["produktiv"], 1);
    assert_eq!(kreis["members"].as_array().unwrap().len(), 41);
    let bs: serde_json::Value =
        serde_json::from_slice(&set["gemeinden/031010000000.json"].0).unwrap();
    // The EfA-subject event counts for the LeiKa key it implements; the event after
    // the as-of date does not.
    let statuses: Vec<(&str, &str)> = bs["services"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, s)| (key.as_str(), s["status"].as_str().unwrap_or("-")))
        .collect();
    assert_eq!(
        statuses,
        [("99050012104000", "-"), ("99108013017000", "produktiv")]
    );

    // Unchanged data: nothing rewritten, not even meta.json.
    let again = dashboards(&db, &out, true);
    assert!(again.unchanged, "{again:?}");
    assert_eq!(read_set(&out), set);

    // One new status for one Gemeinde (pilot: no headline number moves, so the index
    // stays): its file and its Verband's and Kreis's files change, and meta.json,
    // which names the status batch, and the manifest, which every publish writes
    // last; every other file keeps inode and mtime.
    db.conn()
        .execute_batch(
            "INSERT INTO status_batches (batch_id, origin, recorded_at, recorded_by, last_event_id)
             VALUES (9, 'test', '2026-03-12T00:00:00Z', 'test', 9);
             INSERT INTO status_events (subject_kind, subject, scope_kind, scope, effective_on,
                 event_id, status, batch_id)
             VALUES ('leika', '99108013017000', 'ars', '031515401002', '2026-03-12', 9, 'pilot', 9)",
        )
        .unwrap();
    let third = dashboards(&db, &out, true);
    let after = read_set(&out);
    let changed: Vec<&String> = after
        .iter()
        .filter(|(p, (_, ino, mtime))| set.get(*p).is_none_or(|(_, i, m)| i != ino || m != mtime))
        .map(|(p, _)| p)
        .collect();
    let expected = [
        export::publish::MANIFEST,
        "gemeinden/031515401002.json",
        "gemeinden/031515401002.json.gz",
        "kreise/031510000000.json",
        "kreise/031510000000.json.gz",
        "meta.json",
        "meta.json.gz",
        "verbaende/031515401000.json",
        "verbaende/031515401000.json.gz",
    ];
    assert_eq!(changed, expected.iter().collect::<Vec<_>>());
    // The manifest is the publisher's bookkeeping, not counted.
    assert_eq!(third.written, expected.len() - 1);
    let meta: serde_json::Value = serde_json::from_slice(&after["meta.json"].0).unwrap();
    assert_eq!(meta["inputs"]["status_batch"], 9);
}

/// An unchanged re-export stops before reading the data when the published
/// meta.json names the same data and the files are the ones published; any change
/// of the data, and any file changed or deleted by hand, sends it the full way,
/// which writes what a full export writes (and repairs the set).
#[test]
fn unchanged_dashboards_stop_early_unless_data_or_files_changed() {
    let db = fixture_db();
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("dash");
    let out_s = out.to_str().unwrap();
    let export = || {
        db.ok(&[
            "export",
            "dashboards",
            "--as-of",
            "2026-03-15",
            "--out",
            out_s,
        ])
    };
    const EARLY: &str = "the published meta.json names the same data";

    let first = export();
    assert!(first.contains("dashboards published"), "{first}");
    let set = read_set(&out);
    let again = export();
    assert!(again.contains(EARLY), "{again}");
    assert_eq!(
        read_set(&out),
        set,
        "nothing written: bytes, inodes, mtimes"
    );

    // A file edited by hand: the full way, which puts the published bytes back.
    let gemeinde = out.join("gemeinden/031010000000.json");
    let mut edited = std::fs::read(&gemeinde).unwrap();
    edited.extend_from_slice(b" ");
    std::fs::write(&gemeinde, &edited).unwrap();
    let repaired = export();
    assert!(!repaired.contains(EARLY), "{repaired}");
    assert!(repaired.contains("1 written"), "{repaired}");
    assert_eq!(
        read_set(&out)["gemeinden/031010000000.json"].0,
        set["gemeinden/031010000000.json"].0
    );
    assert!(
        export().contains(EARLY),
        "the repaired set is current again"
    );

    // A file deleted by hand: written again.
    std::fs::remove_file(out.join("kreise/031510000000.json")).unwrap();
    let restored = export();
    assert!(
        !restored.contains(EARLY) && restored.contains("1 written"),
        "{restored}"
    );
    assert_eq!(
        read_set(&out)["kreise/031510000000.json"].0,
        set["kreise/031510000000.json"].0
    );

    // A file added to the published set by someone else: the full way, which keeps
    // it and writes nothing, as it always did.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let beside = export();
    assert!(
        !beside.contains(EARLY) && beside.contains("unchanged"),
        "{beside}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    std::fs::remove_file(out.join("notes.txt")).unwrap();

    // Another --as-of date, or --gzip, is other data: never stopped early.
    let other_day = db.ok(&[
        "export",
        "dashboards",
        "--as-of",
        "2026-03-16",
        "--out",
        out_s,
    ]);
    assert!(!other_day.contains(EARLY), "{other_day}");
    let gz = db.ok(&[
        "export",
        "dashboards",
        "--as-of",
        "2026-03-16",
        "--gzip",
        "--out",
        out_s,
    ]);
    assert!(!gz.contains(EARLY) && gz.contains("written"), "{gz}");
    assert!(out.join("meta.json.gz").exists());
    assert!(export().contains("dashboards published"));

    // One annotation changed through the coordinators' sheet: not skipped, and the
    // change is in the files.
    let before = read_set(&out);
    assert!(export().contains(EARLY));
    let sheet = root.path().join("annotations.csv");
    std::fs::write(
        &sheet,
        "Leistungsschlüssel;Leistungsbezeichnung;Ressort;Vollzug;Umsetzungsweg;EfA-ID;\
         Depriorisierungsgrund;Priorität;Zieldatum;Bemerkung\n\
         99108013017000;Test-Gewerbeanmeldung;MW;kommune;eigenloesung;-;;2;;\n",
    )
    .unwrap();
    db.ok(&[
        "annotations",
        "import",
        sheet.to_str().unwrap(),
        "--by",
        "MW",
    ]);
    let changed = export();
    assert!(
        !changed.contains(EARLY) && changed.contains("dashboards published"),
        "{changed}"
    );
    let after = read_set(&out);
    assert_ne!(after["services.json"].0, before["services.json"].0);
    let services: serde_json::Value = serde_json::from_slice(&after["services.json"].0).unwrap();
    assert_eq!(
        services["services"]["99108013017000"]["umsetzungsweg"], "eigenloesung",
        "{services}"
    );
    assert!(export().contains(EARLY));
}

#[test]
fn report_from_the_database_in_every_format() {
    let db = fixture_db();
    let root = tempfile::tempdir().unwrap();
    let job = |format: ReportFormat, out: PathBuf| ExportJob::Report {
        land: Default::default(),
        format,
        part: None,
        as_of: Some(d("2026-03-15")),
        since: Some(d("2026-02-15")),
        out,
    };
    let json_path = root.path().join("r.json");
    // Made a day after its Stichtag: `erstellt` is the time of making, not the Stichtag.
    let made = Utc.with_ymd_and_hms(2026, 3, 16, 8, 30, 0).unwrap();
    export::run_job_at(
        &db.path,
        &job(ReportFormat::Json, json_path.clone()),
        &Default::default(),
        made,
    )
    .unwrap();
    let bytes = std::fs::read(&json_path).unwrap();
    assert_valid(&schema("report"), &bytes, "report.json");
    let mut report: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    // The GV100AD import is stamped with the time the test ran.
    for s in report["sources"].as_array_mut().unwrap() {
        if s["source"] == "gv100ad" {
            s["fetched_at"] = "[import time]".into();
        }
    }
    insta::assert_snapshot!(
        "report_from_db_json",
        serde_json::to_string_pretty(&report).unwrap()
    );
    for format in [ReportFormat::Xlsx, ReportFormat::Html, ReportFormat::Md] {
        let out = root.path().join(format!("r.{}", format.extension()));
        export::run_job_at(
            &db.path,
            &job(format, out.clone()),
            &Default::default(),
            made,
        )
        .unwrap();
        let first = std::fs::read(&out).unwrap();
        export::run_job_at(
            &db.path,
            &job(format, out.clone()),
            &Default::default(),
            made,
        )
        .unwrap();
        assert_eq!(
            first,
            std::fs::read(&out).unwrap(),
            "{format:?} is deterministic"
        );
    }
    let dir = root.path().join("csv");
    let ExportOutcome::Report { files } = export::run_job_at(
        &db.path,
        &job(ReportFormat::Csv, dir.clone()),
        &Default::default(),
        made,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(files.len(), 7);
}

#[test]
fn cli_export_report_and_usage_errors() {
    let db = fixture_db();
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("report.xlsx");
    db.ok(&[
        "export",
        "report",
        "--format",
        "xlsx",
        "--as-of",
        "2026-03-15",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(std::fs::metadata(&out).unwrap().len() > 1000);
    let bad = db.run(&[
        "export", "report", "--format", "html", "--part", "kreise", "--out", "x.html",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let dash = root.path().join("dash");
    let stdout = db.ok(&[
        "export",
        "dashboards",
        "--as-of",
        "2026-03-15",
        "--out",
        dash.to_str().unwrap(),
    ]);
    assert!(stdout.contains("dashboards published"), "{stdout}");
    let stdout = db.ok(&[
        "export",
        "dashboards",
        "--as-of",
        "2026-03-15",
        "--out",
        dash.to_str().unwrap(),
    ]);
    assert!(stdout.contains("unchanged"), "{stdout}");
}

/// The report counts per EfA service and per Kreis what the dashboards' Gemeinde
/// rows hold, on a matrix with several LeiKa keys per EfA service (statuses of
/// every kind, kommunal keys relevant everywhere, a Land key only where it has a
/// status, a retired key, EfA statuses of their own, observed availability): an
/// EfA service counts once per Gemeinde with a row of any of its keys, `produktiv`
/// if one of them is, else the first status in key order, online if any row was
/// observed online; a Kreis counts every row of its Gemeinden.
#[test]
fn report_counts_what_the_dashboard_rows_hold() {
    let db = fixture_db();
    let sql = std::fs::read_to_string("fixtures/export/report_matrix.sql").unwrap();
    db.conn().execute_batch(&sql).unwrap();
    // Before most events; the Stichtag, with cells dated later (looked up); after
    // every event. On each, LeiKa keys' cells and their EfA services' cells meet
    // in one row, where the later event decides. The report reads its own cells
    // (a byte each, `export::query::cells`), the dashboards Gemeinde by Gemeinde.
    for as_of in ["2026-01-20", "2026-03-15", "2026-12-31"] {
        report_counts_as_of(&db, as_of);
    }
}

fn report_counts_as_of(db: &Db, as_of: &str) {
    let root = tempfile::tempdir().unwrap();
    let dash = root.path().join("dash");
    let json = root.path().join("r.json");
    let as_of = ["--as-of", as_of];
    db.ok(&[
        "export",
        "dashboards",
        as_of[0],
        as_of[1],
        "--out",
        dash.to_str().unwrap(),
    ]);
    db.ok(&[
        "export",
        "report",
        "--format",
        "json",
        as_of[0],
        as_of[1],
        "--out",
        json.to_str().unwrap(),
    ]);
    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let services = read(&dash.join("services.json"));
    let efa_of: BTreeMap<String, String> = services["services"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, s)| Some((k.clone(), s["efa"]["efa_id"].as_str()?.to_owned())))
        .collect();
    // (total, produktiv, in_einfuehrung, geplant), as the report names them.
    type Count = [u64; 4];
    fn add(c: &mut Count, status: Option<&str>) {
        c[0] += 1;
        match status {
            Some("produktiv") => c[1] += 1,
            Some("beauftragt" | "in_umsetzung" | "pilot") => c[2] += 1,
            Some("nicht_begonnen" | "geplant") => c[3] += 1,
            _ => {}
        }
    }
    let mut per_efa: BTreeMap<String, (Count, [u64; 2])> = BTreeMap::new();
    let mut per_kreis: BTreeMap<String, (u64, Count)> = BTreeMap::new();
    let mut multi_key = 0;
    let mut gemeinden = 0;
    for e in std::fs::read_dir(dash.join("gemeinden")).unwrap() {
        let g = read(&e.unwrap().path());
        gemeinden += 1;
        let kreis = per_kreis
            .entry(g["unit"]["kreis_ars"].as_str().unwrap().to_owned())
            .or_default();
        kreis.0 += 1;
        // Per EfA service of this Gemeinde: (status, online) over its rows in key order.
        let mut best: BTreeMap<&str, (Option<&str>, Option<bool>, u32)> = BTreeMap::new();
        for (key, row) in g["services"].as_object().unwrap() {
            if row["retired"] == true {
                continue;
            }
            let status = row["status"].as_str();
            add(&mut kreis.1, status);
            let Some(efa) = efa_of.get(key) else {
                continue;
            };
            let b = best.entry(efa.as_str()).or_default();
            b.2 += 1;
            if status == Some("produktiv") || b.0.is_none() {
                b.0 = status.or(b.0);
            }
            b.1 = match (b.1, row["online"].as_bool()) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (a, b) => a.or(b),
            };
        }
        for (efa, (status, online, rows)) in best {
            multi_key += u32::from(rows > 1);
            let e = per_efa.entry(efa.to_owned()).or_default();
            add(&mut e.0, status);
            if let Some(o) = online {
                e.1[0] += 1;
                e.1[1] += u64::from(o);
            }
        }
    }
    assert_eq!(gemeinden, 939);
    assert!(
        multi_key > 500,
        "the matrix has EfA services with several rows per Gemeinde"
    );
    let count = |v: &serde_json::Value| -> Count {
        ["total", "produktiv", "in_einfuehrung", "geplant"].map(|f| v[f].as_u64().unwrap())
    };
    let report = read(&json);
    let reported: BTreeMap<String, (Count, [u64; 2])> = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let v = &s["verfuegbarkeit"];
            let avail = if v.is_null() {
                [0, 0]
            } else {
                [
                    v["observed"].as_u64().unwrap(),
                    v["online"].as_u64().unwrap(),
                ]
            };
            (
                s["efa_id"].as_str().unwrap().to_owned(),
                (count(&s["kommunen"]), avail),
            )
        })
        .collect();
    assert_eq!(reported.len(), 3);
    assert_eq!(reported, per_efa);
    // Availability was observed by the Stichtag (release 103, fetched 2026-03-02).
    assert!(
        as_of[1] < "2026-03-02"
            || reported
                .values()
                .any(|(_, a)| a[0] > 0 && a[1] > 0 && a[1] < a[0])
    );
    let kreise: BTreeMap<String, (u64, Count)> = report["kreise"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["ars"].as_str().unwrap().to_owned(),
                (
                    k["gemeinden"].as_u64().unwrap(),
                    count(&k["gemeinde_leistungen"]),
                ),
            )
        })
        .collect();
    assert_eq!(kreise, per_kreis);
}

/// A current cell whose packed `cell` (schema 0019) is NULL, as a writer that
/// does not keep it leaves it, is read from its events: the dashboards' Gemeinde
/// files and the report are what they are with every `cell` kept, not an
/// "Invalid function parameter type" error.
#[test]
fn a_null_cell_is_read_from_its_events() {
    let db = fixture_db();
    let sql = std::fs::read_to_string("fixtures/export/report_matrix.sql").unwrap();
    db.conn().execute_batch(&sql).unwrap();
    let root = tempfile::tempdir().unwrap();
    let export = |name: &str| {
        let dash = root.path().join(format!("dash-{name}"));
        let json = root.path().join(format!("{name}.json"));
        for args in [
            ["dashboards", "--out", dash.to_str().unwrap()].as_slice(),
            [
                "report",
                "--format",
                "json",
                "--out",
                json.to_str().unwrap(),
            ]
            .as_slice(),
        ] {
            let mut all = vec!["export"];
            all.extend(args);
            all.extend(["--as-of", "2026-03-15"]);
            db.ok(&all);
        }
        let mut report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        report.as_object_mut().unwrap().remove("generated_at");
        let files: BTreeMap<String, Vec<u8>> = read_set(&dash)
            .into_iter()
            .filter(|(name, _)| name.starts_with("gemeinden"))
            .map(|(name, (bytes, ..))| (name, bytes))
            .collect();
        (files, report)
    };
    let (kept_files, kept_report) = export("kept");
    assert!(!kept_files.is_empty());
    // Schema 0020 refuses a NULL `cell` unless its CHECK is switched off, as a
    // deliberate writer can.
    let conn = db.conn();
    conn.execute_batch("PRAGMA ignore_check_constraints = ON")
        .unwrap();
    let nulled = conn
        .execute(
            "UPDATE status_current_rows SET cell = NULL WHERE subject_id % 2 = 0",
            [],
        )
        .unwrap();
    drop(conn);
    assert!(nulled > 0);
    let (files, report) = export("nulled");
    assert_eq!(files, kept_files);
    assert_eq!(report, kept_report);
}
