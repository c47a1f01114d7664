//! FIM Portal API parser against constructed page fixtures (see fixtures/fim-api/README.md).

use std::fs::File;
use std::path::PathBuf;

use ozgsync::model::ServiceRecord;
use ozgsync::parse::fim_api::{self, Page};
use ozgsync::parse::{Change, Item, ParseError, Reject, Severity};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/fim-api")
        .join(name)
}

#[derive(Default)]
struct Parsed {
    records: Vec<(String, ServiceRecord)>,
    warnings: Vec<Reject>,
    rejects: Vec<Reject>,
    error: Option<ParseError>,
}

fn collect(items: impl Iterator<Item = Result<Item<ServiceRecord>, ParseError>>) -> Parsed {
    let mut parsed = Parsed::default();
    for item in items {
        match item {
            Ok(Item::Record {
                position,
                change: Change::Upsert(r),
            }) => parsed.records.push((position, r)),
            Ok(Item::Record { change, .. }) => panic!("unexpected {change:?}"),
            Ok(Item::Reject(r)) if r.severity == Severity::Warning => parsed.warnings.push(r),
            Ok(Item::Reject(r)) => parsed.rejects.push(r),
            Err(e) => parsed.error = Some(e),
        }
    }
    parsed
}

fn parse_file(name: &str) -> Parsed {
    collect(
        fim_api::parse(File::open(fixture(name)).expect("fixture exists"))
            .expect("a stored pull fails only in its items"),
    )
}

fn keys(parsed: &Parsed) -> Vec<&str> {
    parsed
        .records
        .iter()
        .map(|(_, r)| r.leistungsschluessel.as_str())
        .collect()
}

#[test]
fn whole_pull() {
    let parsed = parse_file("steckbriefe_pull.json");
    assert!(parsed.error.is_none(), "{:?}", parsed.error);
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects);
    assert_eq!(
        keys(&parsed),
        [
            "99001001002000",
            "99110042000000",
            "99012050001000",
            "99088026034000",
            "99013002000000",
            "99114031000000"
        ]
    );
    let positions: Vec<_> = parsed.records.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        positions,
        [
            "page 0 item 0",
            "page 0 item 1",
            "page 0 item 1",
            "page 1 item 0",
            "page 1 item 1",
            "page 2 item 0"
        ]
    );

    let abfall = &parsed.records[0].1;
    assert_eq!(
        abfall,
        &ServiceRecord {
            leistungsschluessel: "99001001002000".into(),
            bezeichnung: "Abfallgebühr Festsetzung".into(),
            leistungstyp: "lov".into(),
            typisierung: vec!["5".into()],
            veroeffentlicht: Some("2024-06-03T10:15:00".into()),
            ozg_ids: vec!["10110".into()],
            ..ServiceRecord::default()
        }
    );
    let (hunde, erdbau) = (&parsed.records[1].1, &parsed.records[2].1);
    assert_eq!(
        (hunde.leistungstyp.as_str(), erdbau.leistungstyp.as_str()),
        ("lo", "lov")
    );
    assert_eq!(
        (hunde.ozg_ids.clone(), erdbau.ozg_ids.clone()),
        (vec!["10282".to_owned()], vec!["10282".to_owned()])
    );
    assert_eq!(
        hunde.veroeffentlicht.as_deref(),
        Some("2024-11-20T16:05:12")
    );
    assert!(parsed.records[3]
        .1
        .kurztext
        .as_deref()
        .is_some_and(|k| k.starts_with("Sie möchten")));
    assert_eq!(parsed.records[4].1.typisierung, ["2/3", "99"]);
    let rente = &parsed.records[5].1;
    assert_eq!(rente.bezeichnung, "");
    assert_eq!(
        rente.bezeichnung2.as_deref(),
        Some("Altersrente für besonders langjährige Versicherte beantragen")
    );
    assert_eq!(rente.veroeffentlicht, None);

    let warnings: Vec<_> = parsed
        .warnings
        .iter()
        .map(|w| (w.position.as_str(), w.key.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        warnings,
        [
            ("page 0 item 1", "99012050001000"),
            ("page 1 item 1", "99013002000000")
        ]
    );
    assert!(parsed.warnings[1]
        .reason
        .contains("unknown Typisierung code \"99\""));
}

#[test]
fn single_page() {
    let bytes = std::fs::read(fixture("steckbriefe_page.json")).expect("fixture");
    let (page, items) = fim_api::parse_page(&bytes).expect("a page");
    assert_eq!(
        page,
        Page {
            items: 2,
            offset: 2,
            limit: 2,
            total_count: 5
        }
    );
    let parsed = collect(items.into_iter().map(Ok));
    assert_eq!(keys(&parsed), ["99088026034000", "99013002000000"]);
    assert_eq!(parsed.warnings.len(), 1);

    // As a whole payload a lone page 1 does not cover the result.
    let parsed = parse_file("steckbriefe_page.json");
    assert!(parsed.records.is_empty());
    assert!(matches!(parsed.error, Some(ParseError::NotFormat { .. })));
}

#[test]
fn wrong_types_reject_single_items() {
    let parsed = parse_file("wrong_types.json");
    assert!(parsed.error.is_none(), "{:?}", parsed.error);
    assert_eq!(keys(&parsed), ["99058001000000"]);
    let rejects: Vec<_> = parsed
        .rejects
        .iter()
        .map(|r| (r.position.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        rejects,
        [
            (
                "page 0 item 1",
                "field `leistungsschluessel` must be an array of strings, found a string"
            ),
            (
                "page 0 item 2",
                "field `typisierung` must be an array of strings, found a number"
            ),
            (
                "page 0 item 3",
                "no valid leistungsschluessel (14 digits) among [\"nicht im LeiKa\"]"
            ),
            (
                "page 0 item 4",
                "`ozg` entry 0: field `id` must be a string, found a number"
            ),
        ]
    );
    assert!(parsed.rejects.iter().all(|r| r.raw.is_some()));
}

#[test]
fn not_the_format() {
    for (name, records, why) in [
        ("error.html", 0, "HTML"),
        ("truncated.json", 3, "truncated"),
        (
            "incomplete_pull.json",
            3,
            "offset 4 but the pages before held 2 items",
        ),
    ] {
        let parsed = parse_file(name);
        assert_eq!(parsed.records.len(), records, "{name}");
        match parsed.error {
            Some(e @ ParseError::NotFormat { .. }) => {
                assert!(e.to_string().contains(why), "{name}: {e}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}
