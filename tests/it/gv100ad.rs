//! GV100AD parser against the real Lower Saxony extract and fixtures derived from it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use ozgsync::model::{Level, MunicipalityRecord};
use ozgsync::parse::gv100ad::{self, is_gemeinde, is_gemeindefreies_gebiet};
use ozgsync::parse::{Change, Item, ParseError, Reject};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/gv100ad")
        .join(name)
}

struct Parsed {
    records: Vec<MunicipalityRecord>,
    rejects: Vec<Reject>,
    error: Option<ParseError>,
}

fn parse_file(name: &str) -> Parsed {
    let file = File::open(fixture(name)).expect("fixture exists");
    let mut parsed = Parsed {
        records: Vec::new(),
        rejects: Vec::new(),
        error: None,
    };
    for item in gv100ad::parse(BufReader::new(file)).expect("GV100AD fails only in its items") {
        match item {
            Ok(Item::Record {
                change: Change::Upsert(r),
                ..
            }) => parsed.records.push(r),
            Ok(Item::Record { change, .. }) => panic!("unexpected {change:?}"),
            Ok(Item::Reject(r)) => parsed.rejects.push(r),
            Err(e) => parsed.error = Some(e),
        }
    }
    parsed
}

/// Counts records by (level, Textkennzeichen).
fn census(records: &[MunicipalityRecord]) -> BTreeMap<(Level, String), usize> {
    let mut counts = BTreeMap::new();
    for r in records {
        *counts
            .entry((r.level, r.textkennzeichen.clone().unwrap_or_default()))
            .or_default() += 1;
    }
    counts
}

fn find<'a>(records: &'a [MunicipalityRecord], level: Level, ars: &str) -> &'a MunicipalityRecord {
    records
        .iter()
        .find(|r| r.level == level && r.ars == ars)
        .unwrap_or_else(|| panic!("no {level:?} {ars}"))
}

#[test]
fn real_file_counts() {
    let parsed = parse_file("GV100AD_30112025_NI.txt");
    assert!(parsed.error.is_none(), "{:?}", parsed.error);
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects);
    assert_eq!(parsed.records.len(), 1442);

    let expected: BTreeMap<(Level, String), usize> = [
        ((Level::Land, ""), 1),
        ((Level::Regierungsbezirk, ""), 4),
        ((Level::Kreis, "41"), 8),
        ((Level::Kreis, "44"), 37),
        ((Level::Verband, "50"), 314),
        ((Level::Verband, "52"), 114),
        ((Level::Gemeinde, "61"), 8),
        ((Level::Gemeinde, "63"), 151),
        ((Level::Gemeinde, "64"), 780),
        ((Level::Gemeinde, "65"), 2),
        ((Level::Gemeinde, "66"), 23),
    ]
    .into_iter()
    .map(|((level, tk), n)| ((level, tk.to_owned()), n))
    .collect();
    assert_eq!(census(&parsed.records), expected);

    assert_eq!(
        parsed.records.iter().filter(|r| is_gemeinde(r)).count(),
        939
    );
    assert_eq!(
        parsed
            .records
            .iter()
            .filter(|r| is_gemeindefreies_gebiet(r))
            .count(),
        25
    );
    assert!(parsed
        .records
        .iter()
        .all(|r| r.gebietsstand == "2025-11-30"));
    assert!(parsed
        .records
        .iter()
        .all(|r| r.ars.len() == 12 && r.ars.bytes().all(|b| b.is_ascii_digit())));
}

#[test]
fn real_file_keys_and_links() {
    let records = parse_file("GV100AD_30112025_NI.txt").records;

    let land = find(&records, Level::Land, "030000000000");
    assert_eq!(
        (land.name.as_str(), land.sitz.as_deref()),
        ("Niedersachsen", Some("Hannover"))
    );

    let hannover = find(&records, Level::Gemeinde, "032410001001");
    assert_eq!(hannover.ags.as_deref(), Some("03241001"));
    assert_eq!(hannover.name, "Hannover, Landeshauptstadt");
    assert_eq!(hannover.kreis_ars.as_deref(), Some("032410000000"));
    assert_eq!(hannover.verband_ars.as_deref(), Some("032410001000"));
    let region = find(&records, Level::Kreis, "032410000000");
    assert_eq!(
        (region.name.as_str(), region.textkennzeichen.as_deref()),
        ("Region Hannover", Some("44"))
    );

    let adenbuettel = find(&records, Level::Gemeinde, "031515406001");
    assert_eq!(adenbuettel.name, "Adenbüttel");
    assert_eq!(adenbuettel.ags.as_deref(), Some("03151001"));
    let papenteich = find(&records, Level::Verband, "031515406000");
    assert_eq!(
        (
            papenteich.name.as_str(),
            papenteich.sitz.as_deref(),
            papenteich.kreis_ars.as_deref()
        ),
        ("Papenteich", Some("Meine"), Some("031510000000"))
    );

    // A kreisfreie Stadt is Kreis, Verband and Gemeinde under one ARS.
    let braunschweig: Vec<_> = records.iter().filter(|r| r.ars == "031010000000").collect();
    let levels: Vec<_> = braunschweig
        .iter()
        .map(|r| (r.level, r.textkennzeichen.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        levels,
        [
            (Level::Kreis, "41"),
            (Level::Verband, "50"),
            (Level::Gemeinde, "61")
        ]
    );
    assert_eq!(braunschweig[2].ags.as_deref(), Some("03101000"));

    // Every Gemeinde links to a Kreis and a Verband that exist in the same file.
    for g in records.iter().filter(|r| r.level == Level::Gemeinde) {
        let kreis = g.kreis_ars.as_deref().expect("kreis_ars");
        let verband = g.verband_ars.as_deref().expect("verband_ars");
        find(&records, Level::Kreis, kreis);
        find(&records, Level::Verband, verband);
    }
}

#[test]
fn changed_edition() {
    let parsed = parse_file("GV100AD_31122025_NI_changed.txt");
    assert!(parsed.error.is_none() && parsed.rejects.is_empty());
    let records = parsed.records;
    assert_eq!(records.len(), 1441);
    assert_eq!(records.iter().filter(|r| is_gemeinde(r)).count(), 938);
    assert!(records.iter().all(|r| r.gebietsstand == "2025-12-31"));
    assert_eq!(
        find(&records, Level::Gemeinde, "031515406001").name,
        "Adenbüttel-Rötgesbüttel"
    );
    assert_eq!(
        find(&records, Level::Gemeinde, "031515405018").name,
        "Müden an der Aller"
    );
    assert!(!records.iter().any(|r| r.ars == "031515406023"));
}

#[test]
fn broken_lines() {
    let parsed = parse_file("GV100AD_broken.txt");
    assert!(parsed.error.is_none(), "{:?}", parsed.error);
    let names: Vec<_> = parsed.records.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["Niedersachsen", "Gifhorn, Stadt", "Meinersen", "Adenbüttel"]
    );
    let rejects: Vec<_> = parsed
        .rejects
        .iter()
        .map(|r| {
            (
                r.position.as_str(),
                r.reason.split(' ').take(3).collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    assert_eq!(
        rejects,
        [
            ("line 3", "line too short".to_owned()),
            ("line 4", "unknown record type".to_owned()),
            ("line 5", "bytes that are".to_owned()),
            ("line 6", "a record with".to_owned()),
            ("line 7", "Gebietsstand \"20251131\" in".to_owned()),
            ("line 10", "key columns 11–15".to_owned()),
        ]
    );
    // The raw line travels with the reject, decoded lossily where it was not UTF-8.
    assert!(parsed.rejects[2]
        .raw
        .as_deref()
        .is_some_and(|raw| raw.contains("Hankensb\u{FFFD}ttel")));
}

#[test]
fn html_is_not_gv100ad() {
    let parsed = parse_file("not_gv100ad.html");
    assert!(parsed.records.is_empty() && parsed.rejects.is_empty());
    assert!(
        matches!(parsed.error, Some(ParseError::NotFormat { .. })),
        "{:?}",
        parsed.error
    );
}
