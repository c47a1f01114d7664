//! The OZG catalogue CSVs: the OZG-Leistungen (`ozg_id;ozg_leistung;lebenslage;
//! themenfeld`, source kind `ozg`) and the LeiKa → OZG map (`leika_schluessel;
//! ozg_id`, source kind `ozg-map`). Two kinds rather than one that guesses, because a
//! release holds one entity and is decided before the payload is read; each parser
//! recognises the other file and says which kind to use instead.
//!
//! Themenfelder are accepted as slugs or as published names (`Bauen & Wohnen`); an
//! unknown one is a warning and the Leistung is kept without it.

use std::io::{Read, Seek};

use super::csv_text::{self, Columns};
use super::{Change, Item, Items, ParseError, Reject};
use crate::model::{
    is_valid_ozg_id, LeikaOzgRecord, Leistungsschluessel, OzgLeistungRecord, Themenfeld,
};

pub(super) const EXPECTED_LEISTUNGEN: &str = "OZG-Leistungen CSV";
pub(super) const EXPECTED_MAP: &str = "LeiKa→OZG map CSV";

pub const LEISTUNGEN_COLUMNS: &[&str] = &["ozg_id", "ozg_leistung", "lebenslage", "themenfeld"];
pub const MAP_COLUMNS: &[&str] = &["leika_schluessel", "ozg_id"];

fn looks_like_map(slugs: &[String]) -> Option<String> {
    slugs
        .iter()
        .any(|s| s == "leika_schluessel")
        .then(|| "this looks like the LeiKa→OZG map: import it as kind ozg-map".to_owned())
}

fn looks_like_leistungen(slugs: &[String]) -> Option<String> {
    slugs
        .iter()
        .any(|s| s == "ozg_leistung")
        .then(|| "this looks like the OZG-Leistungen list: import it as kind ozg".to_owned())
}

/// Parses the OZG-Leistungen CSV.
pub fn parse_leistungen<'a, R: Read + Seek + 'a>(
    input: R,
) -> Result<Items<'a, OzgLeistungRecord>, ParseError> {
    let mut input = csv_text::open(input, EXPECTED_LEISTUNGEN)?;
    let header = csv_text::header(&mut input.reader, EXPECTED_LEISTUNGEN)?;
    let columns = Columns::match_header(
        &header,
        LEISTUNGEN_COLUMNS,
        &["ozg_id", "ozg_leistung"],
        EXPECTED_LEISTUNGEN,
        looks_like_map,
    )?;
    Ok(csv_text::items(input, move |record, delimiter| {
        leistung_items(&columns, record, delimiter)
    }))
}

fn leistung_items(
    columns: &Columns,
    record: &csv::StringRecord,
    delimiter: u8,
) -> Vec<Item<OzgLeistungRecord>> {
    let position = format!("line {}", csv_text::line_of(record));
    let raw = || csv_text::raw_of(record, delimiter);
    let ozg_id = columns.get(record, "ozg_id");
    let name = columns.get(record, "ozg_leistung");
    let key = (!ozg_id.is_empty()).then(|| ozg_id.to_owned());
    let mut problems = Vec::new();
    if !is_valid_ozg_id(ozg_id) {
        problems.push(format!("ozg_id: {ozg_id:?} is not a 5-digit OZG-ID"));
    }
    if name.is_empty() {
        problems.push("ozg_leistung: missing".to_owned());
    }
    if !problems.is_empty() {
        return vec![Item::Reject(
            Reject::reject(position, key, problems.join("; "))
                .key_checked(is_valid_ozg_id)
                .with_raw(raw()),
        )];
    }
    let mut items = Vec::with_capacity(2);
    let themenfeld_text = columns.get(record, "themenfeld");
    let themenfeld = match themenfeld_text {
        "" => None,
        text => {
            let parsed = Themenfeld::parse_lenient(text);
            if parsed.is_none() {
                items.push(Item::Reject(Reject::warning(
                    position.clone(),
                    key.clone(),
                    format!(
                        "themenfeld: unknown Themenfeld {text:?}, kept without one; allowed: {}",
                        Themenfeld::allowed()
                    ),
                )));
            }
            parsed
        }
    };
    let lebenslage = columns.get(record, "lebenslage");
    items.push(Item::Record {
        position,
        change: Change::Upsert(OzgLeistungRecord {
            ozg_id: ozg_id.to_owned(),
            bezeichnung: name.to_owned(),
            lebenslage: (!lebenslage.is_empty()).then(|| lebenslage.to_owned()),
            themenfeld,
        }),
    });
    items
}

/// Parses the LeiKa → OZG map CSV.
pub fn parse_map<'a, R: Read + Seek + 'a>(
    input: R,
) -> Result<Items<'a, LeikaOzgRecord>, ParseError> {
    let mut input = csv_text::open(input, EXPECTED_MAP)?;
    let header = csv_text::header(&mut input.reader, EXPECTED_MAP)?;
    let columns = Columns::match_header(
        &header,
        MAP_COLUMNS,
        MAP_COLUMNS,
        EXPECTED_MAP,
        looks_like_leistungen,
    )?;
    Ok(csv_text::items(input, move |record, delimiter| {
        [map_item(&columns, record, delimiter)]
    }))
}

fn map_item(columns: &Columns, record: &csv::StringRecord, delimiter: u8) -> Item<LeikaOzgRecord> {
    let position = format!("line {}", csv_text::line_of(record));
    let key = columns.get(record, "leika_schluessel");
    let ozg_id = columns.get(record, "ozg_id");
    let mut problems = Vec::new();
    if !Leistungsschluessel::is_valid(key) {
        problems.push(format!(
            "leika_schluessel: {key:?} is not a 14-digit Leistungsschlüssel"
        ));
    }
    match ozg_id {
        "" => problems.push("ozg_id: missing (the key has no OZG-Leistung)".to_owned()),
        id if !is_valid_ozg_id(id) => {
            problems.push(format!("ozg_id: {id:?} is not a 5-digit OZG-ID"))
        }
        _ => {}
    }
    // Every problem of a map row is one of the two halves of its key, so a rejected
    // pair never has a valid key to keep: the store retires it by absence.
    if !problems.is_empty() {
        return Item::Reject(
            Reject::reject(
                position,
                (!key.is_empty()).then(|| key.to_owned()),
                problems.join("; "),
            )
            .with_raw(csv_text::raw_of(record, delimiter)),
        );
    }
    Item::Record {
        position,
        change: Change::Upsert(LeikaOzgRecord {
            leistungsschluessel: key.to_owned(),
            ozg_id: ozg_id.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn render<T: std::fmt::Debug>(items: Result<Items<'_, T>, ParseError>) -> Vec<String> {
        match items {
            Err(e) => vec![format!("error: {e}")],
            Ok(items) => items
                .map(|item| match item {
                    Ok(Item::Record { position, change }) => format!("{position}: {change:?}"),
                    Ok(Item::Reject(r)) => {
                        format!("{}: {} {}", r.position, r.severity.as_str(), r.reason)
                    }
                    Err(e) => format!("error: {e}"),
                })
                .collect(),
        }
    }

    fn check_leistungen(input: &str, expected: &[&str]) {
        let got = render(parse_leistungen(Cursor::new(input.as_bytes().to_vec())));
        assert_eq!(got, expected);
    }

    fn check_map(input: &str, expected: &[&str]) {
        let got = render(parse_map(Cursor::new(input.as_bytes().to_vec())));
        assert_eq!(got, expected);
    }

    #[test]
    fn leistungen() {
        check_leistungen(
            "ozg_id;ozg_leistung;lebenslage;themenfeld\r\n\
             10110;Abfallentsorgung;Wohnen & Umzug;Bauen & Wohnen\r\n\
             1011;Kurz;;\r\n\
             10111;Mond;;Raumfahrt\r\n",
            &[
                "line 2: Upsert(OzgLeistungRecord { ozg_id: \"10110\", bezeichnung: \"Abfallentsorgung\", lebenslage: Some(\"Wohnen & Umzug\"), themenfeld: Some(BauenWohnen) })",
                "line 3: reject ozg_id: \"1011\" is not a 5-digit OZG-ID",
                "line 4: warning themenfeld: unknown Themenfeld \"Raumfahrt\", kept without one; allowed: mobilitaet_reisen, bildung, engagement_hobby, ein_auswanderung, unternehmensfuehrung_entwicklung, steuern_zoll, umwelt, arbeit_ruhestand, familie_kind, querschnittsleistungen, bauen_wohnen, forschung_foerderung, gesundheit, recht_ordnung",
                "line 4: Upsert(OzgLeistungRecord { ozg_id: \"10111\", bezeichnung: \"Mond\", lebenslage: None, themenfeld: None })",
            ],
        );
    }

    #[test]
    fn map() {
        check_map(
            "leika_schluessel;ozg_id\n99088026034000;10041\n99089003034002;\nnicht im LeiKa;10110\n",
            &[
                "line 2: Upsert(LeikaOzgRecord { leistungsschluessel: \"99088026034000\", ozg_id: \"10041\" })",
                "line 3: reject ozg_id: missing (the key has no OZG-Leistung)",
                "line 4: reject leika_schluessel: \"nicht im LeiKa\" is not a 14-digit Leistungsschlüssel",
            ],
        );
    }

    #[test]
    fn a_leistung_reject_keeps_a_valid_ozg_id_and_a_map_reject_never_has_one() {
        let keys = |items: Result<Items<'_, OzgLeistungRecord>, ParseError>| {
            crate::parse::reject_keys(items.unwrap())
        };
        assert_eq!(
            keys(parse_leistungen(Cursor::new(
                b"ozg_id;ozg_leistung\n1011;Kurz\n10112;\n".to_vec()
            ))),
            ["line 2 1011", "line 3 10112 kept"]
        );
        let map = parse_map(Cursor::new(
            b"leika_schluessel;ozg_id\n99089003034002;\nnicht im LeiKa;10110\n".to_vec(),
        ))
        .unwrap();
        assert_eq!(
            crate::parse::reject_keys(map),
            ["line 2 99089003034002", "line 3 nicht im LeiKa"]
        );
    }

    #[test]
    fn each_file_names_the_kind_of_the_other() {
        check_leistungen(
            "leika_schluessel;ozg_id\n99088026034000;10041\n",
            &["error: not an OZG-Leistungen CSV payload (line 1): unknown column \"leika_schluessel\"; known columns: ozg_id, ozg_leistung, lebenslage, themenfeld; this looks like the LeiKa→OZG map: import it as kind ozg-map"],
        );
        check_map(
            "ozg_id;ozg_leistung;lebenslage;themenfeld\n10110;A;;\n",
            &["error: not a LeiKa→OZG map CSV payload (line 1): unknown column \"ozg_leistung\"; known columns: leika_schluessel, ozg_id; this looks like the OZG-Leistungen list: import it as kind ozg"],
        );
    }
}
