//! Dashboard Digitale Verwaltung (Open-PVOG availability) pulls: a JSON array of the
//! pages `/v1/data/{ars}` answered (`{content[], number, last, ...}`), as written by
//! `fetch::pvog::pull`; a single page object is accepted too. Each row becomes an
//! [`AvailabilityRecord`] keyed by (ARS, Leistungsschlüssel).
//!
//! The API description also lets `/v1/data/{ars}` answer with the CSV file
//! (`filetype=csv`, `application/octet-stream`) and does not say which a request
//! without `filetype` gets, so the payload may be that CSV instead: a payload whose
//! first line names `leika_key` and `ars` is read as CSV with the same column names
//! (through [`super::csv_text`], encoding by evidence), one row per record.
//!
//! The pages are read whole: a Land's pull is a few ten thousand small rows, and the
//! page envelope has to be checked before any row is trusted.

use std::io::{BufRead, Seek};

use serde::Deserialize;

use super::{Change, Item, Items, ParseError, Reject};
use crate::model::{is_valid_availability_key, Ars, AvailabilityRecord, Leistungsschluessel};

pub(super) const FORMAT: &str = "Dashboard Digitale Verwaltung (PVOG) page array";
const CSV_FORMAT: &str = "Dashboard Digitale Verwaltung (PVOG) CSV";

/// The CSV columns read (the JSON rows' field names); others are ignored.
const CSV_COLUMNS: &[&str] = &[
    "leika_key",
    "leika_name",
    "leika_bezeichnung",
    "ars",
    "ars_name",
    "ozgid",
    "url",
    "online_status",
    "aktiv",
    "art_flaechendeckung",
];

/// Whether `bytes` (the start of an answer or payload) are JSON: the first character
/// after an optional BOM and blanks is `[` or `{`.
pub fn looks_like_json(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'[' | b'{')
    )
}

/// Whether `bytes` start like the API's CSV file: a header line naming `leika_key`
/// and `ars`.
pub fn looks_like_csv(bytes: &[u8]) -> bool {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let header = String::from_utf8_lossy(first).to_lowercase();
    !looks_like_json(bytes) && header.contains("leika_key") && header.contains("ars")
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Pages {
    Many(Vec<Page>),
    One(Page),
}

#[derive(Debug, Deserialize)]
struct Page {
    content: Vec<serde_json::Value>,
}

/// The fields ozgsync keeps; the others (ozg_bezeichnung, bundesland, ...) are
/// derivable or not needed.
#[derive(Debug, Deserialize)]
struct Row {
    leika_key: Option<String>,
    leika_name: Option<String>,
    leika_bezeichnung: Option<String>,
    ars: Option<String>,
    ars_name: Option<String>,
    ozgid: Option<serde_json::Value>,
    url: Option<String>,
    online_status: Option<String>,
    aktiv: Option<String>,
    art_flaechendeckung: Option<String>,
}

const ONLINE_STATUS: &[&str] = &["ok", "nicht ok"];
const ART_FLAECHENDECKUNG: &[&str] = &[
    "bundesweit flächendeckend",
    "landesweit flächendeckend",
    "kreisweit flächendeckend",
    "in mind. einer Kommune verfügbar",
    "nicht in Auswertung berücksichtigt",
];

/// Parses a saved pull: a JSON array of pages, or the CSV form. A payload that is
/// neither yields one `NotFormat` error as its only item.
pub fn parse<'a, R: BufRead + Seek + 'a>(
    input: R,
) -> Result<Items<'a, AvailabilityRecord>, ParseError> {
    Ok(read(input))
}

fn read<'a, R: BufRead + Seek + 'a>(mut input: R) -> Items<'a, AvailabilityRecord> {
    match input.fill_buf() {
        Ok(start) if looks_like_csv(start) => return parse_csv(input),
        _ => {}
    }
    let pages: Pages = match serde_json::from_reader(input) {
        Ok(p) => p,
        Err(e) => {
            return Box::new(std::iter::once(Err(ParseError::not_format(
                FORMAT,
                format!("line {}, column {}", e.line(), e.column()),
                format!(
                    "expected a JSON array of pages with `content`, or the CSV file with a header naming leika_key and ars: {e}"
                ),
            ))))
        }
    };
    let pages = match pages {
        Pages::Many(p) => p,
        Pages::One(p) => vec![p],
    };
    Box::new(pages.into_iter().enumerate().flat_map(|(p, page)| {
        page.content
            .into_iter()
            .enumerate()
            .flat_map(move |(r, value)| row_items(&format!("page {p}, row {}", r + 1), value))
            .map(Ok)
    }))
}

/// The CSV form: each row turned into the JSON row object the pages carry.
fn parse_csv<'a, R: BufRead + Seek + 'a>(input: R) -> Items<'a, AvailabilityRecord> {
    let opened = super::csv_text::open(input, CSV_FORMAT).and_then(|mut input| {
        let header = super::csv_text::header(&mut input.reader, CSV_FORMAT)?;
        let columns: Vec<Option<&'static str>> = header
            .iter()
            .map(|h| {
                let h = super::csv_text::clean_header(h).to_lowercase();
                CSV_COLUMNS.iter().copied().find(|c| *c == h)
            })
            .collect();
        if !columns.contains(&Some("leika_key")) || !columns.contains(&Some("ars")) {
            return Err(ParseError::not_format(
                CSV_FORMAT,
                "line 1",
                format!(
                    "expected a header with leika_key and ars (and online_status, url, ...); found {:?}",
                    header.iter().collect::<Vec<_>>()
                ),
            ));
        }
        Ok((input, columns))
    });
    let (input, columns) = match opened {
        Ok(o) => o,
        Err(e) => return Box::new(std::iter::once(Err(e))),
    };
    let delimiter = input.delimiter;
    Box::new(input.reader.into_records().flat_map(move |row| {
        let record = match row {
            Err(err) => return vec![super::csv_text::row_error(err).map(Item::Reject)],
            Ok(r) if super::csv_text::is_blank(&r) => return vec![],
            Ok(r) => r,
        };
        if let Some(reject) = super::csv_text::undecodable(&record, delimiter) {
            return vec![Ok(Item::Reject(reject))];
        }
        let object: serde_json::Map<String, serde_json::Value> = columns
            .iter()
            .zip(record.iter())
            .filter_map(|(c, cell)| {
                let cell = cell.trim();
                c.filter(|_| !cell.is_empty())
                    .map(|c| (c.to_owned(), serde_json::Value::String(cell.to_owned())))
            })
            .collect();
        let position = format!("line {}", super::csv_text::line_of(&record));
        row_items(&position, serde_json::Value::Object(object))
            .into_iter()
            .map(Ok)
            .collect()
    }))
}

fn row_items(position: &str, value: serde_json::Value) -> Vec<Item<AvailabilityRecord>> {
    let raw = value.to_string();
    let row: Row = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => {
            return vec![Item::Reject(
                Reject::reject(position, None, format!("not a data row: {e}")).with_raw(raw),
            )]
        }
    };
    let key = row.leika_key.as_deref().map(str::trim).unwrap_or("");
    let ars = row.ars.as_deref().map(str::trim).unwrap_or("");
    let reject = |reason: String| {
        vec![Item::Reject(
            Reject::reject(position, Some(format!("{ars}:{key}")), reason)
                .key_checked(is_valid_availability_key)
                .with_raw(&raw),
        )]
    };
    if !Leistungsschluessel::is_valid(key) {
        return reject(format!(
            "leika_key {key:?} is not a 14-digit Leistungsschlüssel"
        ));
    }
    if !Ars::is_valid(ars) {
        return reject(format!("ars {ars:?} is not a 12-digit ARS"));
    }
    let Some(online_status) = row.online_status.map(|s| s.trim().to_owned()) else {
        return reject("online_status is missing".into());
    };
    let url = row.url.filter(|u| !u.trim().is_empty());
    if let Some(fault) = url.as_deref().and_then(|u| super::url_fault("url", u)) {
        return reject(fault);
    }
    let mut items = Vec::new();
    let record_key = format!("{ars}:{key}");
    if !ONLINE_STATUS.contains(&online_status.as_str()) {
        items.push(Item::Reject(Reject::warning(
            position,
            Some(record_key.clone()),
            format!("online_status {online_status:?} is neither \"ok\" nor \"nicht ok\"; kept as published"),
        )));
    }
    let art = row.art_flaechendeckung.map(|s| s.trim().to_owned());
    if let Some(a) = &art {
        if !ART_FLAECHENDECKUNG.contains(&a.as_str()) {
            items.push(Item::Reject(Reject::warning(
                position,
                Some(record_key.clone()),
                format!(
                    "art_flaechendeckung {a:?} is not in the documented list; kept as published"
                ),
            )));
        }
    }
    let ozg_id = match row.ozgid {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let record = AvailabilityRecord {
        ars: ars.to_owned(),
        leistungsschluessel: key.to_owned(),
        online_status,
        url,
        art_flaechendeckung: art,
        aktiv: row.aktiv,
        leika_name: row.leika_name.or(row.leika_bezeichnung),
        ars_name: row.ars_name,
        ozg_id,
    };
    // The record first: a warning accompanies a record that is kept.
    items.insert(
        0,
        Item::Record {
            position: position.to_owned(),
            change: Change::Upsert(record),
        },
    );
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summarize(input: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for item in parse(std::io::Cursor::new(input.as_bytes())).unwrap() {
            match item.map_err(|e| e.to_string())? {
                Item::Record {
                    position,
                    change: Change::Upsert(r),
                } => out.push(format!(
                    "{position}: {} {} {}",
                    r.ars, r.leistungsschluessel, r.online_status
                )),
                Item::Record { position, .. } => out.push(format!("{position}: retire")),
                Item::Reject(r) => out.push(format!(
                    "{}: {} {}",
                    r.position,
                    r.severity.as_str(),
                    r.reason
                )),
            }
        }
        Ok(out)
    }

    fn check(input: &str, expected: &[&str]) {
        assert_eq!(summarize(input).unwrap(), expected);
    }

    #[test]
    fn pages_rows_rejects_and_warnings() {
        check(
            r#"[{"content":[
                 {"leika_key":"99041006017000","ars":"032410001001","online_status":"ok","url":"https://x"},
                 {"leika_key":"nicht im LeiKa","ars":"032410001001","online_status":"ok"}],"last":false},
               {"content":[
                 {"leika_key":"99041006017000","ars":"0324","online_status":"ok"},
                 {"leika_key":"99041006017000","ars":"031010000000","online_status":"kaputt",
                  "art_flaechendeckung":"irgendwo"},
                 {"leika_key":"99041006017000","ars":"031010000000"},
                 42],"last":true}]"#,
            &[
                "page 0, row 1: 032410001001 99041006017000 ok",
                "page 0, row 2: reject leika_key \"nicht im LeiKa\" is not a 14-digit Leistungsschlüssel",
                "page 1, row 1: reject ars \"0324\" is not a 12-digit ARS",
                "page 1, row 2: 031010000000 99041006017000 kaputt",
                "page 1, row 2: warning online_status \"kaputt\" is neither \"ok\" nor \"nicht ok\"; kept as published",
                "page 1, row 2: warning art_flaechendeckung \"irgendwo\" is not in the documented list; kept as published",
                "page 1, row 3: reject online_status is missing",
                "page 1, row 4: reject not a data row: invalid type: integer `42`, expected struct Row",
            ],
        );
    }

    #[test]
    fn a_reject_keeps_its_key_only_when_ars_and_leika_key_are_valid() {
        let input = r#"[{"content":[
            {"leika_key":"nicht im LeiKa","ars":"032410001001","online_status":"ok"},
            {"leika_key":"99041006017000","ars":"0324","online_status":"ok"},
            {"leika_key":"99041006017000","ars":"031010000000"},
            42]}]"#;
        assert_eq!(
            crate::parse::reject_keys(parse(std::io::Cursor::new(input.as_bytes())).unwrap()),
            [
                "page 0, row 1 032410001001:nicht im LeiKa",
                "page 0, row 2 0324:99041006017000",
                "page 0, row 3 031010000000:99041006017000 kept",
                "page 0, row 4 -",
            ]
        );
    }

    #[test]
    fn a_url_holding_a_control_character_rejects_its_row() {
        check(
            "[{\"content\":[\
               {\"leika_key\":\"99041006017000\",\"ars\":\"032410001001\",\"online_status\":\"ok\",\"url\":\"https://x.example/\\u001b[2J\"},\
               {\"leika_key\":\"99041006017000\",\"ars\":\"031010000000\",\"online_status\":\"ok\",\"url\":\"https://x.example/ok\"}],\
              \"last\":true}]",
            &[
                "page 0, row 1: reject url: \"https://x.example/\\u{1b}[2J\" holds U+001B at character 19, a control character or noncharacter that no address holds (left by a copy or an export): correct the URL in the source",
                "page 0, row 2: 031010000000 99041006017000 ok",
            ],
        );
    }

    #[test]
    fn single_page_and_empty() {
        check(
            r#"{"content":[{"leika_key":"99041006017000","ars":"032410001001","online_status":"nicht ok"}]}"#,
            &["page 0, row 1: 032410001001 99041006017000 nicht ok"],
        );
        check("[]", &[]);
    }

    #[test]
    fn the_csv_file_the_api_may_answer_with() {
        check(
            "\u{feff}leika_key;leika_name;ars;ars_name;ozgid;url;online_status;aktiv;art_flaechendeckung;bundesland\r\n\
             99041006017000;Hund Anmeldung;032410001001;Hannover;1234;https://x;ok;ja;landesweit flächendeckend;Niedersachsen\r\n\
             nicht im LeiKa;;032410001001;;;;ok;;;\r\n\
             99041006017000;;031010000000;;;;nicht ok;;;\r\n",
            &[
                "line 2: 032410001001 99041006017000 ok",
                "line 3: reject leika_key \"nicht im LeiKa\" is not a 14-digit Leistungsschlüssel",
                "line 4: 031010000000 99041006017000 nicht ok",
            ],
        );
        assert!(looks_like_csv(b"leika_key,ars,online_status\n"));
        assert!(!looks_like_csv(b"  [{\"content\":[]}]"));
        assert!(!looks_like_csv(b"<html>502 Bad Gateway</html>"));
    }

    #[test]
    fn not_the_format() {
        for input in [
            "<html>502 Bad Gateway</html>",
            r#"[{"items":[]}]"#,
            "[{\"content\":[",
        ] {
            let err = summarize(input).unwrap_err();
            assert!(
                err.starts_with("not a Dashboard Digitale Verwaltung"),
                "{err}"
            );
        }
    }
}
