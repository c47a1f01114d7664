//! Tests of the benchmark data generator (`benches/harness/gen.rs`, included by path
//! in `support.rs` because a `harness = false` bench cannot hold tests): same seed same bytes,
//! row counts, key validity, the change share of a next release, and the character
//! layout of generated GV100AD lines.

use std::collections::{HashMap, HashSet};

use super::support::gen::{
    self, is_valid_schluessel, leika_next_release, leika_release, LeikaRelease,
};

const TYPISIERUNG: &[&str] = &[
    "1", "2", "2a", "2b", "3", "3a", "3b", "2/3", "2/3a", "2/3b", "4", "4a", "4b", "5", "6", "7",
    "8", "9", "10", "11", "12",
];

/// Decodes the Windows-1252 CSV and parses it as the official layout.
fn parse(bytes: &[u8]) -> Vec<Vec<String>> {
    let (text, _, had_errors) = encoding_rs::WINDOWS_1252.decode(bytes);
    assert!(!had_errors);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| {
            r.expect("generated CSV parses")
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn same_seed_same_bytes() {
    let check = |rows: usize, seed: u64| {
        let a = leika_release(rows, seed).to_csv_windows1252();
        let b = leika_release(rows, seed).to_csv_windows1252();
        assert_eq!(a, b, "rows {rows} seed {seed}");
        assert_ne!(a, leika_release(rows, seed + 1).to_csv_windows1252());
    };
    check(500, 1);
    check(3000, 42);
    let g1 = gen::gv100ad_directory(1, "20251130").to_text();
    assert_eq!(g1, gen::gv100ad_directory(1, "20251130").to_text());
    assert_ne!(g1, gen::gv100ad_directory(2, "20251130").to_text());
    let base = leika_release(2000, 3);
    assert_eq!(
        leika_next_release(&base, 0.1, 3),
        leika_next_release(&base, 0.1, 3)
    );
}

#[test]
fn leika_rows_and_layout() {
    let check = |rows: usize| {
        let bytes = leika_release(rows, 9).to_csv_windows1252();
        let records = parse(&bytes);
        assert_eq!(records.len(), rows + 1, "rows {rows}");
        assert_eq!(
            records.first().map(Vec::as_slice),
            Some(&gen::LEIKA_HEADER.map(String::from)[..])
        );
        assert!(records.iter().all(|r| r.len() == 11));
        // CRLF only, and Windows-1252 rather than UTF-8 (ü is 0xFC, not C3 BC).
        let lf = bytes.iter().filter(|&&b| b == b'\n').count();
        let crlf = bytes.windows(2).filter(|w| w == b"\r\n").count();
        assert_eq!(lf, crlf);
        assert_eq!(lf, rows + 1);
    };
    for rows in [0, 1, 10, 1234, 5000] {
        check(rows);
    }
    let bytes = leika_release(5000, 9).to_csv_windows1252();
    assert!(bytes.contains(&0xFC));
    assert!(!bytes.windows(2).any(|w| w == [0xC3, 0xBC]));
}

#[test]
fn leika_keys_types_dates() {
    let release = leika_release(20_000, 5);
    let mut seen = HashSet::new();
    let mut dirty = 0;
    let mut multi = 0;
    for row in &release.rows {
        let key = row.schluessel.as_str();
        if is_valid_schluessel(key) {
            assert!(seen.insert(key.to_string()), "duplicate key {key}");
            // lo rows carry no Verrichtung, lov/lovd rows do.
            assert_eq!(
                row.verrichtung.is_empty(),
                key.get(8..) == Some("000000"),
                "{row:?}"
            );
            assert_eq!(
                row.verrichtungsdetail.is_empty(),
                key.get(11..) == Some("000")
            );
        } else {
            dirty += 1;
            let short_numeric = key.len() < 14 && key.bytes().all(|b| b.is_ascii_digit());
            let other_prefix = key.len() == 14 && key.starts_with("98");
            assert!(
                key == "nicht im LeiKa" || short_numeric || other_prefix,
                "{key}"
            );
        }
        let codes: Vec<&str> = row.typ.split(", ").collect();
        if codes.len() > 1 {
            multi += 1;
        }
        if !codes.iter().all(|c| TYPISIERUNG.contains(c)) {
            dirty += usize::from(is_valid_schluessel(key));
            assert!(
                ["", "13", "1;2/3"].contains(&row.typ.as_str()),
                "{}",
                row.typ
            );
        }
        let d = row.veroeffentlichungsdatum.as_bytes();
        assert_eq!(d.len(), 16, "{}", row.veroeffentlichungsdatum);
        assert_eq!(
            (d.get(2), d.get(5), d.get(10), d.get(13)),
            (Some(&b'.'), Some(&b'.'), Some(&b' '), Some(&b':'))
        );
    }
    // A few dirty rows, as in real downloads, but not many.
    assert!((20..400).contains(&dirty), "dirty {dirty}");
    assert!(multi > 100, "multi-valued Typ {multi}");
    assert!(release.rows.iter().any(|r| r.synonyme.contains('|')));
    assert!(release
        .rows
        .iter()
        .any(|r| r.bezeichnung.contains(['ä', 'ö', 'ü', 'ß'])));
}

/// Key → (Bezeichnung, Typ) of the rows with valid keys.
fn by_key(release: &LeikaRelease) -> HashMap<String, (String, String)> {
    release
        .rows
        .iter()
        .filter(|r| is_valid_schluessel(&r.schluessel))
        .map(|r| (r.schluessel.clone(), (r.bezeichnung.clone(), r.typ.clone())))
        .collect()
}

#[test]
fn next_release_change_share() {
    let check = |rows: usize, share: f64| {
        let base = leika_release(rows, 11);
        let (next, changes) = leika_next_release(&base, share, 11);
        let (old, new) = (by_key(&base), by_key(&next));
        let renamed = old
            .iter()
            .filter(|(k, v)| new.get(*k).is_some_and(|n| n.0 != v.0))
            .count();
        let retyped = old
            .iter()
            .filter(|(k, v)| new.get(*k).is_some_and(|n| n.1 != v.1))
            .count();
        let removed = old.keys().filter(|k| !new.contains_key(*k)).count();
        let added = new.keys().filter(|k| !old.contains_key(*k)).count();
        assert_eq!(
            (renamed, retyped, removed, added),
            (
                changes.renamed,
                changes.retyped,
                changes.removed,
                changes.added
            ),
            "rows {rows} share {share}"
        );
        let expected = (share * rows as f64).round() as usize;
        assert_eq!(renamed + retyped + removed, expected);
        assert_eq!(next.rows.len(), base.rows.len());
    };
    check(10_000, 0.05);
    check(2_000, 0.2);
    check(1_000, 0.0);
}

#[test]
fn gv100ad_character_layout() {
    let directory = gen::gv100ad_directory(1, "20251130");
    let mut keys = HashSet::new();
    let mut multibyte = 0;
    for record in &directory.records {
        let chars: Vec<char> = record.line.chars().collect();
        // Columns are 1-based and inclusive, as in the Destatis description.
        let col = |from: usize, to: usize| -> String {
            chars.get(from - 1..to).unwrap_or(&[]).iter().collect()
        };
        assert_eq!(chars.len(), gen::GV100AD_LINE_CHARS, "{}", record.line);
        multibyte += usize::from(record.line.len() > chars.len());
        assert_eq!(col(1, 2), record.satzart.to_string());
        assert_eq!(col(3, 10), "20251130");
        assert_eq!(col(23, 72).trim_end(), record.name);
        assert_eq!(col(123, 124).trim(), record.textkennzeichen);
        let ars = match record.satzart {
            // The trap: AGS in 11-18, Verband in 19-22, ARS = 11-15 + 19-22 + 16-18.
            60 => format!("{}{}{}", col(11, 15), col(19, 22), col(16, 18)),
            50 => {
                assert_eq!(col(16, 18), "   ");
                format!("{}{}000", col(11, 15), col(19, 22))
            }
            _ => format!("{:0<12}", col(11, 22).trim_end()),
        };
        assert_eq!(ars, record.ars, "{}", record.line);
        assert!(
            ars.len() == 12 && ars.bytes().all(|b| b.is_ascii_digit()),
            "{ars}"
        );
        assert!(
            keys.insert((record.satzart, ars)),
            "duplicate {}",
            record.line
        );
    }
    assert!(multibyte > 1000, "umlauts in names: {multibyte}");
    let count = |satzart: u8| {
        directory
            .records
            .iter()
            .filter(|r| r.satzart == satzart)
            .count()
    };
    assert_eq!(count(10), 16);
    assert_eq!(directory.gemeinden(), gen::gv100ad_expected_gemeinden());
    assert!((10_000..12_000).contains(&directory.gemeinden()));
    assert!((380..420).contains(&count(40)), "Kreise {}", count(40));
    // Kreisfreie Städte: Kreis, Verband and Gemeinde share one ARS (Braunschweig-style).
    let kreisfrei = directory
        .records
        .iter()
        .find(|r| r.satzart == 60 && r.textkennzeichen == "61");
    let ars = kreisfrei.map(|r| r.ars.clone()).unwrap_or_default();
    assert!(keys.contains(&(40, ars.clone())) && keys.contains(&(50, ars)));
    assert!(directory.to_text().ends_with('\n'));
}
