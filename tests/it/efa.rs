//! The EfA and OZG catalogues as sources: the EfA format's JSON Schema agrees with
//! the parser and the fixtures, JSON and CSV give the same records, releases keep
//! history and `diff` shows field changes, bad records are rejected with their
//! position, non-EfA payloads fail whole, and the OZG files fill `v_ozg_leistungen`
//! and `v_leika_ozg`.

use std::path::Path;

use ozgsync::model::{EfaServiceRecord, Entity, ServiceRecord};
use ozgsync::parse::{Change, Item};
use ozgsync::store::read;
use ozgsync::sync::SourceKind;
use serde_json::Value;

use super::support::{apply, database, fixture, import, output_db};

fn parse_file(path: &Path) -> Vec<EfaServiceRecord> {
    let file = std::fs::File::open(path).unwrap();
    ozgsync::parse::efa::parse(file)
        .unwrap()
        .map(|item| match item.unwrap() {
            Item::Record {
                change: Change::Upsert(r),
                ..
            } => r,
            other => panic!("{}: {other:?}", path.display()),
        })
        .collect()
}

fn schema_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(super::support::root().join("schema/efa-release.schema.json"))
            .unwrap(),
    )
    .unwrap();
    jsonschema::meta::validate(&schema).expect("the schema is a valid JSON Schema");
    jsonschema::validator_for(&schema).unwrap()
}

fn load_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn json_schema_agrees_with_the_fixtures_and_the_parser() {
    let validator = schema_validator();
    for good in ["efa/release1.json", "efa/release2.json"] {
        let doc = load_json(&fixture(good));
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{good}: {errors:?}");
    }
    // What the parser stores, wrapped in the envelope, conforms too: the CSV form
    // maps onto the same schema.
    let records = parse_file(&fixture("efa/release1.csv"));
    let doc = serde_json::json!({"format": "ozgsync-efa", "version": 1, "services": records});
    assert!(validator.is_valid(&doc));

    for bad in ["efa/broken_records.json", "efa/wrong_version.json"] {
        assert!(!validator.is_valid(&load_json(&fixture(bad))), "{bad}");
    }
    // the schema refuses exactly the services the parser refuses (the duplicate id
    // of record 5 is the store's business, not the schema's)
    let broken = load_json(&fixture("efa/broken_records.json"));
    let services = broken["services"].as_array().unwrap();
    let verdicts: Vec<bool> = services
        .iter()
        .map(|s| {
            validator.is_valid(&serde_json::json!({
                "format": "ozgsync-efa", "version": 1, "services": [s]
            }))
        })
        .collect();
    assert_eq!(verdicts, [true, false, false, false, true]);
}

#[test]
fn json_and_both_csv_forms_give_the_same_records() {
    let json = parse_file(&fixture("efa/release1.json"));
    assert_eq!(json.len(), 4);
    assert_eq!(parse_file(&fixture("efa/release1.csv")), json);
    assert_eq!(parse_file(&fixture("efa/release1_cp1252_comma.csv")), json);
}

#[test]
fn efa_releases_keep_history_and_diff_shows_field_changes() {
    let (_dir, db, mut conn) = database();
    let r1 = import(&mut conn, SourceKind::Efa, &fixture("efa/release1.json")).unwrap();
    assert_eq!((r1.counts.added, r1.counts.rejected), (4, 0));
    let r2 = import(&mut conn, SourceKind::Efa, &fixture("efa/release2.json")).unwrap();
    assert_eq!(
        (
            r2.counts.added,
            r2.counts.changed,
            r2.counts.retired,
            r2.counts.unchanged
        ),
        (1, 1, 1, 2)
    );

    let rows: Vec<String> = conn
        .prepare(
            "SELECT efa_id || ' ' || marktplatz_status || ' ' || coalesce(reifegrad_modell, '-')
                    || '/' || coalesce(reifegrad_stufe, '-') || ' retired=' || retired
             FROM v_efa_services ORDER BY efa_id",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            "EFA-0001 verfuegbar 1.1/3 retired=0",
            "EFA-0002 verfuegbar 2.0/4 retired=0",
            "EFA-0003 verfuegbar 2.0/5 retired=1",
            "EFA-0004 in_entwicklung -/- retired=0",
            "EFA-0005 pilot 2.0/3 retired=0",
        ]
    );
    assert_eq!(
        read::history(&conn, Entity::EfaService, "EFA-0002")
            .unwrap()
            .len(),
        2
    );

    let (before, after) = read::states_between(
        &conn,
        Entity::EfaService,
        Some(r1.release_id),
        r2.release_id,
    )
    .unwrap();
    let d = ozgsync::diff::diff(&before, &after, Entity::EfaService.volatile_fields());
    let fields: Vec<&str> = d.changed[0]
        .fields
        .iter()
        .map(|f| f.field.as_str())
        .collect();
    assert_eq!(d.changed[0].key, "EFA-0002");
    // `stand` changed too, but it is the entry's confirmation date (volatile)
    assert_eq!(fields, ["marktplatz_status", "reifegrad"]);

    // and through the CLI
    let out = output_db(&db, &["diff", "efa", "--format", "csv"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "change,key,field,old,new",
            "added,EFA-0005,,,Emissionshandel Kontoauskunft",
            "changed,EFA-0002,marktplatz_status,pilot,verfuegbar",
            "changed,EFA-0002,reifegrad,\"{\"\"modell\"\":\"\"1.1\"\",\"\"stufe\"\":2}\",\"{\"\"modell\"\":\"\"2.0\"\",\"\"stufe\"\":4}\"",
            "retired,EFA-0003,,Hundehaltung,",
        ]
    );
}

#[test]
fn a_new_stand_alone_is_a_reconfirmation_not_a_change() {
    let (dir, _db, mut conn) = database();
    import(&mut conn, SourceKind::Efa, &fixture("efa/release1.json")).unwrap();
    let text = std::fs::read_to_string(fixture("efa/release1.json")).unwrap();
    let reconfirmed = dir.path().join("reconfirmed.json");
    std::fs::write(&reconfirmed, text.replace("2026-01-15", "2026-04-01")).unwrap();
    let r = import(&mut conn, SourceKind::Efa, &reconfirmed).unwrap();
    assert_eq!((r.counts.changed, r.counts.unchanged), (0, 4));
}

#[test]
fn bad_efa_records_are_rejected_with_their_position() {
    let (_dir, _db, mut conn) = database();
    let r = import(
        &mut conn,
        SourceKind::Efa,
        &fixture("efa/broken_records.json"),
    )
    .unwrap();
    assert_eq!((r.counts.added, r.counts.rejected), (1, 4));
    let rejects: Vec<(String, Option<String>, String)> = read::rejects(&conn, r.release_id)
        .unwrap()
        .into_iter()
        .map(|r| (r.position, r.key, r.reason))
        .collect();
    assert_eq!(
        rejects,
        vec![
            (
                "record 2".into(),
                Some("EFA-0002".into()),
                "reifegrad: level 6 is not in Reifegrad model 1.1 (levels 0–4)".into()
            ),
            (
                "record 3".into(),
                Some("EFA-0003".into()),
                "name: missing; ozg_ids: \"1016\" is not a 5-digit OZG-ID".into()
            ),
            (
                "record 4".into(),
                Some("EFA-0004".into()),
                "federfuehrendes_land: unknown Land \"Niedersachsen\"; allowed: BW, BY, BE, BB, HB, HH, HE, MV, NI, NW, RP, SL, SN, ST, SH, TH, BUND; stand: \"31.13.2025\" is not a date; write YYYY-MM-DD or DD.MM.YYYY (a four-digit year)".into()
            ),
            (
                "record 5".into(),
                Some("EFA-0001".into()),
                "key occurs more than once in this payload (first at record 1); this occurrence was skipped".into()
            ),
        ]
    );

    let r = import(
        &mut conn,
        SourceKind::Efa,
        &fixture("efa/broken_records.csv"),
    )
    .unwrap();
    let reasons: Vec<String> = read::rejects(&conn, r.release_id)
        .unwrap()
        .into_iter()
        .map(|r| format!("{}: {}", r.position, r.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            "line 3: reifegrad: level 6 is not in Reifegrad model 1.1 (levels 0–4)",
            "line 4: fit_connect: \"vielleicht\" is not ja or nein; reifegrad: level given without its model (1.1 or 2.0); a level means nothing without it",
        ]
    );
}

#[test]
fn payloads_that_are_not_efa_fail_whole_and_write_nothing() {
    let (_dir, _db, mut conn) = database();
    for (file, reason) in [
        ("efa/not_efa.html", "markup (HTML or XML)"),
        ("efa/wrong_version.json", "unsupported version 2"),
        (
            "ozg/ozg_leistungen_nrw2019.csv",
            "unknown column \"ozg_id\"",
        ),
    ] {
        let err = import(&mut conn, SourceKind::Efa, &fixture(file)).unwrap_err();
        assert!(matches!(err, ozgsync::Error::Parse { .. }), "{file}: {err}");
        assert!(err.to_string().contains(reason), "{file}: {err}");
    }
    let releases: i64 = conn
        .query_row("SELECT count(*) FROM releases", [], |r| r.get(0))
        .unwrap();
    assert_eq!(releases, 0);
}

#[test]
fn ozg_catalogue_and_map_fill_the_views() {
    let (_dir, _db, mut conn) = database();
    let r = import(
        &mut conn,
        SourceKind::Ozg,
        &fixture("ozg/ozg_leistungen_nrw2019.csv"),
    )
    .unwrap();
    assert_eq!(
        (r.counts.added, r.counts.rejected, r.counts.warnings),
        (557, 0, 0)
    );
    let r = import(
        &mut conn,
        SourceKind::OzgMap,
        &fixture("ozg/leika_to_ozg_nrw2019_sample.csv"),
    )
    .unwrap();
    assert_eq!((r.counts.added, r.counts.rejected), (610, 2));

    let (name, themenfeld): (String, String) = conn
        .query_row(
            "SELECT bezeichnung, themenfeld FROM v_ozg_leistungen WHERE ozg_id = '10110'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (name.as_str(), themenfeld.as_str()),
        ("Abfallentsorgung", "bauen_wohnen")
    );
    // every published Themenfeld name maps onto one of the 14 slugs
    let without: i64 = conn
        .query_row(
            "SELECT count(*) FROM v_ozg_leistungen WHERE themenfeld IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(without, 0);

    // the FIM API's `ozg` arrays join the map, with their origin
    apply(
        &mut conn,
        "fim-api",
        Entity::Service,
        vec![ServiceRecord {
            leistungsschluessel: "99001001002000".into(),
            bezeichnung: "Abfallgebühr Festsetzung".into(),
            leistungstyp: "lov".into(),
            ozg_ids: vec!["10110".into(), "10111".into()],
            ..Default::default()
        }],
    );
    let pairs: Vec<(String, String)> = conn
        .prepare(
            "SELECT ozg_id, origin FROM v_leika_ozg WHERE leistungsschluessel = '99001001002000'
             ORDER BY ozg_id, origin",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        pairs,
        vec![
            ("10110".into(), "fim-api".into()),
            ("10110".into(), "ozg-map".into()),
            ("10111".into(), "fim-api".into()),
        ]
    );
}

#[test]
fn ozg_kinds_name_each_other_when_given_the_wrong_file() {
    let (_dir, _db, mut conn) = database();
    let err = import(
        &mut conn,
        SourceKind::Ozg,
        &fixture("ozg/leika_to_ozg_nrw2019_sample.csv"),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("import it as kind ozg-map"),
        "{err}"
    );
    let err = import(
        &mut conn,
        SourceKind::OzgMap,
        &fixture("ozg/ozg_leistungen_nrw2019.csv"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("import it as kind ozg"), "{err}");
}
