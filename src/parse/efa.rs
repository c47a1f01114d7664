//! ozgsync's EfA release format, JSON or CSV, into [`EfaServiceRecord`]s.
//!
//! There is no public machine-readable EfA list, so ozgsync defines one: a JSON
//! document `{"format": "ozgsync-efa", "version": 1, "services": [...]}` (JSON
//! Schema: `schema/efa-release.schema.json`) or a CSV with one service per row and
//! the same field names as columns (`reifegrad` split into `reifegrad_modell` and
//! `reifegrad_stufe`; lists separated by `|`). The first non-blank byte decides: `{`
//! is JSON, anything else CSV.
//!
//! JSON is read as one document of at most [`MAX_JSON_BYTES`] (an EfA list has
//! hundreds of entries, not millions); CSV streams. Both go through one validation,
//! so a service is accepted or refused the same way in either form.

use std::io::{Read, Seek, SeekFrom};

use serde_json::{Map, Value};

use super::csv_text::{self, split_ids, Columns};
use super::{Change, Item, Items, ParseError, Reject};
use crate::model::date::{not_a_date, parse_date};
use crate::model::{
    is_valid_efa_id, is_valid_ozg_id, EfaServiceRecord, Kostenmodell, Land, Leistungsschluessel,
    MarktplatzStatus, Reifegrad, ReifegradModell, Themenfeld,
};

pub(super) const EXPECTED: &str = "EfA release";

/// The value of the JSON document's `format` field.
pub const FORMAT_MARKER: &str = "ozgsync-efa";

/// Largest JSON document read.
pub const MAX_JSON_BYTES: u64 = 64 * 1024 * 1024;

/// The CSV columns (slugs of the header cells).
pub const CSV_COLUMNS: &[&str] = &[
    "efa_id",
    "name",
    "ozg_ids",
    "leistungsschluessel",
    "themenfeld",
    "federfuehrendes_land",
    "betreiber",
    "marktplatz_status",
    "reifegrad_modell",
    "reifegrad_stufe",
    "kostenmodell",
    "fit_connect",
    "url",
    "stand",
];

/// Columns (and JSON fields) every service must have.
pub const REQUIRED: &[&str] = &[
    "efa_id",
    "name",
    "federfuehrendes_land",
    "marktplatz_status",
    "stand",
];

const JSON_FIELDS: &[&str] = &[
    "efa_id",
    "name",
    "ozg_ids",
    "leistungsschluessel",
    "themenfeld",
    "federfuehrendes_land",
    "betreiber",
    "marktplatz_status",
    "reifegrad",
    "kostenmodell",
    "fit_connect",
    "url",
    "stand",
];

/// Parses an EfA release in JSON or CSV form.
pub fn parse<'a, R: Read + Seek + 'a>(
    mut input: R,
) -> Result<Items<'a, EfaServiceRecord>, ParseError> {
    let mut head = [0u8; 512];
    let n = read_up_to(&mut input, &mut head)?;
    input.seek(SeekFrom::Start(0))?;
    let head = head.get(..n).unwrap_or_default();
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => parse_json(input),
        Some(b'[') => Err(ParseError::not_format(
            EXPECTED,
            "start",
            "a JSON array; an EfA release is an object {\"format\": \"ozgsync-efa\", \"version\": 1, \"services\": [...]}",
        )),
        Some(b'<') => Err(ParseError::not_format(
            EXPECTED,
            "start",
            "markup (HTML or XML), not JSON or CSV",
        )),
        None => Err(ParseError::not_format(EXPECTED, "start", "empty payload")),
        Some(_) => parse_csv(input),
    }
}

fn read_up_to<R: Read>(input: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let Some(rest) = buf.get_mut(filled..) else {
            break;
        };
        match input.read(rest)? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn parse_json<'a, R: Read + 'a>(input: R) -> Result<Items<'a, EfaServiceRecord>, ParseError> {
    let mut bytes = Vec::new();
    input.take(MAX_JSON_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_JSON_BYTES {
        return Err(ParseError::not_format(
            EXPECTED,
            "start",
            format!(
                "JSON document larger than {} MiB",
                MAX_JSON_BYTES / 1024 / 1024
            ),
        ));
    }
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let doc = super::json_strict::from_slice(text).map_err(|e| {
        ParseError::not_format(
            EXPECTED,
            format!("line {}, column {}", e.line(), e.column()),
            format!("invalid JSON: {e}"),
        )
    })?;
    let Value::Object(mut doc) = doc else {
        return Err(ParseError::not_format(
            EXPECTED,
            "start",
            "not a JSON object",
        ));
    };
    match doc.get("format") {
        Some(Value::String(s)) if s == FORMAT_MARKER => {}
        other => {
            return Err(ParseError::not_format(
                EXPECTED,
                "field format",
                format!(
                    "expected \"format\": \"{FORMAT_MARKER}\", found {}",
                    other.map_or("nothing".to_owned(), Value::to_string)
                ),
            ))
        }
    }
    match doc.get("version").and_then(Value::as_i64) {
        Some(1) => {}
        _ => {
            return Err(ParseError::not_format(
                EXPECTED,
                "field version",
                format!(
                    "unsupported version {}; this ozgsync reads version 1",
                    doc.get("version")
                        .map_or("(missing)".to_owned(), Value::to_string)
                ),
            ))
        }
    }
    let services = match doc.remove("services") {
        Some(Value::Array(services)) => services,
        _ => {
            return Err(ParseError::not_format(
                EXPECTED,
                "field services",
                "\"services\" must be an array of services",
            ))
        }
    };
    Ok(Box::new(services.into_iter().enumerate().flat_map(
        |(i, v)| json_items(i + 1, v).into_iter().map(Ok),
    )))
}

/// One service of the JSON `services` array: a record (perhaps with a warning about
/// unknown fields) or a reject.
fn json_items(n: usize, value: Value) -> Vec<Item<EfaServiceRecord>> {
    let position = format!("record {n}");
    let Value::Object(obj) = value else {
        return vec![Item::Reject(
            Reject::reject(position, None, "a service must be a JSON object")
                .with_raw(value.to_string()),
        )];
    };
    let mut problems = Vec::new();
    let (modell, stufe) = match obj.get("reifegrad") {
        None | Some(Value::Null) => (None, None),
        Some(Value::Object(r)) => (
            json_str(r, "modell", "reifegrad.modell", &mut problems),
            match r.get("stufe") {
                None | Some(Value::Null) => None,
                Some(v) => match v.as_i64() {
                    Some(s) => Some(s),
                    None => {
                        problems.push(format!(
                            "reifegrad.stufe: expected a whole number, found {v}"
                        ));
                        None
                    }
                },
            },
        ),
        Some(other) => {
            problems.push(format!(
                "reifegrad: expected an object {{\"modell\": \"1.1\", \"stufe\": 3}}, found {other}"
            ));
            (None, None)
        }
    };
    let draft = Draft {
        efa_id: json_str(&obj, "efa_id", "efa_id", &mut problems),
        name: json_str(&obj, "name", "name", &mut problems),
        ozg_ids: json_list(&obj, "ozg_ids", &mut problems),
        leistungsschluessel: json_list(&obj, "leistungsschluessel", &mut problems),
        themenfeld: json_str(&obj, "themenfeld", "themenfeld", &mut problems),
        federfuehrendes_land: json_str(
            &obj,
            "federfuehrendes_land",
            "federfuehrendes_land",
            &mut problems,
        ),
        betreiber: json_str(&obj, "betreiber", "betreiber", &mut problems),
        marktplatz_status: json_str(
            &obj,
            "marktplatz_status",
            "marktplatz_status",
            &mut problems,
        ),
        reifegrad_modell: modell,
        reifegrad_stufe: stufe,
        kostenmodell: json_str(&obj, "kostenmodell", "kostenmodell", &mut problems),
        fit_connect: match obj.get("fit_connect") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                problems.push(format!(
                    "fit_connect: expected true or false, found {other}"
                ));
                None
            }
        },
        url: json_str(&obj, "url", "url", &mut problems),
        stand: json_str(&obj, "stand", "stand", &mut problems),
    };
    let unknown: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| !JSON_FIELDS.contains(k))
        .collect();
    let key = draft.efa_id.clone();
    let raw = || Value::Object(obj.clone()).to_string();
    match build(draft, &mut problems) {
        Some(record) => {
            let mut items = Vec::with_capacity(2);
            if !unknown.is_empty() {
                items.push(Item::Reject(Reject::warning(
                    position.clone(),
                    key,
                    format!(
                        "unknown field(s) {} ignored; known: {}",
                        unknown.join(", "),
                        JSON_FIELDS.join(", ")
                    ),
                )));
            }
            items.push(Item::Record {
                position,
                change: Change::Upsert(record),
            });
            items
        }
        None => vec![Item::Reject(
            Reject::reject(position, key, problems.join("; "))
                .key_checked(is_valid_efa_id)
                .with_raw(raw()),
        )],
    }
}

/// A string field; `null`, absent and blank are `None`.
fn json_str(
    obj: &Map<String, Value>,
    field: &str,
    label: &str,
    problems: &mut Vec<String>,
) -> Option<String> {
    match obj.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(other) => {
            problems.push(format!("{label}: expected a string, found {other}"));
            None
        }
    }
}

fn json_list(obj: &Map<String, Value>, field: &str, problems: &mut Vec<String>) -> Vec<String> {
    match obj.get(field) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.trim().to_owned()),
                other => {
                    problems.push(format!("{field}: expected strings, found {other}"));
                    None
                }
            })
            .collect(),
        Some(other) => {
            problems.push(format!(
                "{field}: expected an array of strings, found {other}"
            ));
            Vec::new()
        }
    }
}

fn parse_csv<'a, R: Read + Seek + 'a>(input: R) -> Result<Items<'a, EfaServiceRecord>, ParseError> {
    let mut input = csv_text::open(input, EXPECTED)?;
    let header = csv_text::header(&mut input.reader, EXPECTED)?;
    let columns = Columns::match_header(&header, CSV_COLUMNS, REQUIRED, EXPECTED, |_| None)?;
    Ok(csv_text::items(input, move |record, delimiter| {
        [csv_item(&columns, record, delimiter)]
    }))
}

fn csv_item(
    columns: &Columns,
    record: &csv::StringRecord,
    delimiter: u8,
) -> Item<EfaServiceRecord> {
    let position = format!("line {}", csv_text::line_of(record));
    let mut problems = Vec::new();
    if record.len() > columns.width() {
        problems.push(format!(
            "the row has {} cells, the header {}",
            record.len(),
            columns.width()
        ));
    }
    let cell = |name: &str| {
        let v = columns.get(record, name);
        (!v.is_empty()).then(|| v.to_owned())
    };
    let list = |name: &str| {
        split_ids(columns.get(record, name))
            .map(str::to_owned)
            .collect()
    };
    let stufe = match cell("reifegrad_stufe") {
        None => None,
        Some(s) => match s.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                problems.push(format!("reifegrad_stufe: {s:?} is not a whole number"));
                None
            }
        },
    };
    let fit_connect = match cell("fit_connect") {
        None => None,
        Some(s) => match s.to_lowercase().as_str() {
            "ja" | "true" | "1" | "yes" | "x" => Some(true),
            "nein" | "false" | "0" | "no" => Some(false),
            _ => {
                problems.push(format!("fit_connect: {s:?} is not ja or nein"));
                None
            }
        },
    };
    let draft = Draft {
        efa_id: cell("efa_id"),
        name: cell("name"),
        ozg_ids: list("ozg_ids"),
        leistungsschluessel: list("leistungsschluessel"),
        themenfeld: cell("themenfeld"),
        federfuehrendes_land: cell("federfuehrendes_land"),
        betreiber: cell("betreiber"),
        marktplatz_status: cell("marktplatz_status"),
        reifegrad_modell: cell("reifegrad_modell"),
        reifegrad_stufe: stufe,
        kostenmodell: cell("kostenmodell"),
        fit_connect,
        url: cell("url"),
        stand: cell("stand"),
    };
    let key = draft.efa_id.clone();
    match build(draft, &mut problems) {
        Some(record) => Item::Record {
            position,
            change: Change::Upsert(record),
        },
        None => Item::Reject(
            Reject::reject(position, key, problems.join("; "))
                .key_checked(is_valid_efa_id)
                .with_raw(csv_text::raw_of(record, delimiter)),
        ),
    }
}

/// One service as read from either form, before validation.
#[derive(Debug, Default)]
struct Draft {
    efa_id: Option<String>,
    name: Option<String>,
    ozg_ids: Vec<String>,
    leistungsschluessel: Vec<String>,
    themenfeld: Option<String>,
    federfuehrendes_land: Option<String>,
    betreiber: Option<String>,
    marktplatz_status: Option<String>,
    reifegrad_modell: Option<String>,
    reifegrad_stufe: Option<i64>,
    kostenmodell: Option<String>,
    fit_connect: Option<bool>,
    url: Option<String>,
    stand: Option<String>,
}

/// `value` read by `parse`, a closed vocabulary: a value it does not know is a
/// problem of `field`, named `what` (`unknown WHAT "value"; allowed: ...`).
fn vocabulary<T>(
    problems: &mut Vec<String>,
    (field, what): (&str, &str),
    value: Option<String>,
    parse: impl Fn(&str) -> Option<T>,
    allowed: impl Fn() -> String,
) -> Option<T> {
    value.and_then(|v| {
        let parsed = parse(&v);
        if parsed.is_none() {
            problems.push(format!(
                "{field}: unknown {what} {v:?}; allowed: {}",
                allowed()
            ));
        }
        parsed
    })
}

/// Validates a draft; every problem is added to `problems` (so one reject names
/// them all), and the record is returned only when there are none.
fn build(d: Draft, problems: &mut Vec<String>) -> Option<EfaServiceRecord> {
    let mut required = |field: &str, value: Option<String>| {
        // a value of the wrong type was already reported
        let reported = problems.iter().any(|p| p.starts_with(&format!("{field}:")));
        if value.is_none() && !reported {
            problems.push(format!("{field}: missing"));
        }
        value
    };
    let efa_id = required("efa_id", d.efa_id);
    let name = required("name", d.name);
    let land = required("federfuehrendes_land", d.federfuehrendes_land);
    let status = required("marktplatz_status", d.marktplatz_status);
    let stand = required("stand", d.stand);

    if let Some(id) = &efa_id {
        if !is_valid_efa_id(id) {
            // A byte order mark inside the file: two saved CSV files joined.
            let bom = if id.starts_with('\u{feff}') {
                "; it starts with a byte order mark (U+FEFF), which a file joined from two \
                 saved CSV files carries at the seam: remove it"
            } else {
                ""
            };
            problems.push(format!(
                "efa_id: {id:?} is not a valid EfA id (1–64 of A–Z a–z 0–9 . _ -, starting with a letter or digit){bom}"
            ));
        }
    }
    let ozg_ids = sorted_ids(d.ozg_ids, |id| {
        let ok = is_valid_ozg_id(id);
        if !ok {
            problems.push(format!("ozg_ids: {id:?} is not a 5-digit OZG-ID"));
        }
        ok
    });
    let leistungsschluessel = sorted_ids(
        d.leistungsschluessel
            .into_iter()
            .map(|k| Leistungsschluessel::strip_urn(&k).to_owned())
            .collect(),
        |key| {
            let ok = Leistungsschluessel::is_valid(key);
            if !ok {
                problems.push(format!(
                    "leistungsschluessel: {key:?} is not a 14-digit Leistungsschlüssel"
                ));
            }
            ok
        },
    );
    let themenfeld = vocabulary(
        problems,
        ("themenfeld", "Themenfeld"),
        d.themenfeld,
        Themenfeld::parse_lenient,
        Themenfeld::allowed,
    );
    let land = vocabulary(
        problems,
        ("federfuehrendes_land", "Land"),
        land,
        Land::parse,
        Land::allowed,
    );
    let status = vocabulary(
        problems,
        ("marktplatz_status", "status"),
        status,
        MarktplatzStatus::parse,
        MarktplatzStatus::allowed,
    );
    let reifegrad = match (d.reifegrad_modell, d.reifegrad_stufe) {
        (None, None) => None,
        (Some(m), Some(s)) => match ReifegradModell::parse(&m) {
            Some(modell) => match Reifegrad::new(modell, s) {
                Ok(r) => Some(r),
                Err(e) => {
                    problems.push(format!("reifegrad: {e}"));
                    None
                }
            },
            None => {
                problems.push(format!(
                    "reifegrad: unknown model {m:?}; allowed: {}",
                    ReifegradModell::allowed()
                ));
                None
            }
        },
        (Some(_), None) => {
            problems.push("reifegrad: model given without a level (stufe)".into());
            None
        }
        (None, Some(_)) => {
            problems.push(
                "reifegrad: level given without its model (1.1 or 2.0); a level means nothing without it"
                    .into(),
            );
            None
        }
    };
    let kostenmodell = d.kostenmodell.and_then(|k| {
        let parsed = Kostenmodell::parse(&k);
        if parsed.is_none() {
            problems.push(format!(
                "kostenmodell: unknown cost model {k:?}; allowed: {}",
                Kostenmodell::allowed()
            ));
        }
        parsed
    });
    if let Some(u) = &d.url {
        // The URL parser drops tabs and line breaks and percent-encodes other
        // controls, so such a URL parses; stored as published, it would reach every
        // report and the site holding a character no address has. A row with a bad
        // URL is rejected as one with another scheme is, and its key keeps its
        // previous version (`Reject::key_checked`).
        if let Some(fault) = super::url_fault("url", u) {
            problems.push(fault);
        } else {
            match url::Url::parse(u) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                _ => problems.push(format!("url: {u:?} is not an http(s) URL")),
            }
        }
    }
    let stand = stand.and_then(|s| match parse_date(&s) {
        Some(date) => Some(date.format("%Y-%m-%d").to_string()),
        None => {
            problems.push(format!("stand: {s:?} is {}", not_a_date(&s)));
            None
        }
    });
    if !problems.is_empty() {
        return None;
    }
    Some(EfaServiceRecord {
        efa_id: efa_id?,
        name: name?,
        ozg_ids,
        leistungsschluessel,
        themenfeld,
        federfuehrendes_land: land?,
        betreiber: d.betreiber,
        marktplatz_status: status?,
        reifegrad,
        kostenmodell,
        fit_connect: d.fit_connect,
        url: d.url,
        stand: stand?,
    })
}

/// Keeps the ids `valid` accepts, sorted and without repeats, so that reordering a
/// list in the source is not a change.
fn sorted_ids(ids: Vec<String>, mut valid: impl FnMut(&str) -> bool) -> Vec<String> {
    let mut ids: Vec<String> = ids.into_iter().filter(|id| valid(id)).collect();
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Parses `input` and renders each item as `position: key` for records and
    /// `position: reason` for rejects and warnings.
    fn run(input: &str) -> Result<Vec<String>, String> {
        let items = parse(Cursor::new(input.as_bytes().to_vec())).map_err(|e| e.to_string())?;
        items
            .map(|item| match item {
                Ok(Item::Record {
                    position,
                    change: Change::Upsert(r),
                }) => Ok(format!("{position}: {}", r.efa_id)),
                Ok(Item::Record { position, .. }) => Ok(format!("{position}: retire")),
                Ok(Item::Reject(r)) => Ok(format!(
                    "{}: {} {}",
                    r.position,
                    r.severity.as_str(),
                    r.reason
                )),
                Err(e) => Err(e.to_string()),
            })
            .collect()
    }

    fn check(input: &str, expected: &[&str]) {
        assert_eq!(run(input).unwrap(), expected, "{input}");
    }

    fn check_not_format(input: &str, reason: &str) {
        let err = run(input).unwrap_err();
        assert!(err.contains(reason), "{err}");
    }

    const CSV_HEADER: &str =
        "efa_id;name;ozg_ids;leistungsschluessel;themenfeld;federfuehrendes_land;betreiber;marktplatz_status;reifegrad_modell;reifegrad_stufe;kostenmodell;fit_connect;url;stand\n";

    #[test]
    fn csv_rows_become_records_or_rejects() {
        let csv = format!(
            "{CSV_HEADER}EFA-1;Wohngeld;10110|10111;99001001001000;Bauen & Wohnen;NI;IT.N;verfuegbar;1.1;3;pauschal;ja;https://example.org;01.02.2026\n\
             EFA-2;Bad;1011;;nowhere;XX;;weg;1.1;6;;vielleicht;ftp://x;2026-13-01\n\
             ;;;;;;;;;;;;;\n"
        );
        check(
            &csv,
            &[
                "line 2: EFA-1",
                "line 3: reject fit_connect: \"vielleicht\" is not ja or nein; \
                 ozg_ids: \"1011\" is not a 5-digit OZG-ID; \
                 themenfeld: unknown Themenfeld \"nowhere\"; allowed: mobilitaet_reisen, bildung, engagement_hobby, ein_auswanderung, unternehmensfuehrung_entwicklung, steuern_zoll, umwelt, arbeit_ruhestand, familie_kind, querschnittsleistungen, bauen_wohnen, forschung_foerderung, gesundheit, recht_ordnung; \
                 federfuehrendes_land: unknown Land \"XX\"; allowed: BW, BY, BE, BB, HB, HH, HE, MV, NI, NW, RP, SL, SN, ST, SH, TH, BUND; \
                 marktplatz_status: unknown status \"weg\"; allowed: nicht_gelistet, in_entwicklung, pilot, verfuegbar, eingestellt; \
                 reifegrad: level 6 is not in Reifegrad model 1.1 (levels 0–4); \
                 url: \"ftp://x\" is not an http(s) URL; stand: \"2026-13-01\" is not a date; write YYYY-MM-DD or DD.MM.YYYY (a four-digit year)",
            ],
        );
    }

    #[test]
    fn a_url_holding_a_control_character_rejects_its_row() {
        let csv = format!(
            "{CSV_HEADER}EFA-1;Abfall;;;;NI;;pilot;;;;;https://abfall.example/\u{1b}x;2026-01-01\n\
             EFA-2;Tab;;;;NI;;pilot;;;;;https://a.example/a\tb;2026-01-01\n\
             EFA-3;Nicht;;;;NI;;pilot;;;;;https://a.example/\u{ffff};2026-01-01\n\
             EFA-4;Gut;;;;NI;;pilot;;;;;https://a.example/Stra%C3%9Fe?x=1 ;2026-01-01\n"
        );
        check(
            &csv,
            &[
                "line 2: reject url: \"https://abfall.example/\\u{1b}x\" holds U+001B at character 24, a control character or noncharacter that no address holds (left by a copy or an export): correct the URL in the source",
                "line 3: reject url: \"https://a.example/a\\tb\" holds U+0009 at character 20, a control character or noncharacter that no address holds (left by a copy or an export): correct the URL in the source",
                "line 4: reject url: \"https://a.example/\\u{ffff}\" holds U+FFFF at character 19, a control character or noncharacter that no address holds (left by a copy or an export): correct the URL in the source",
                "line 5: EFA-4",
            ],
        );
    }

    #[test]
    fn csv_missing_required_values_and_half_a_reifegrad() {
        let csv = format!("{CSV_HEADER}EFA-3;;;;;NI;;pilot;;2;;;;2026-01-01\n");
        check(
            &csv,
            &["line 2: reject name: missing; reifegrad: level given without its model (1.1 or 2.0); a level means nothing without it"],
        );
    }

    #[test]
    fn csv_record_fields_are_normalised() {
        let csv = format!(
            "{CSV_HEADER}EFA-1;Wohngeld;10111 | 10110 | 10110;urn:de:fim:leika:leistung:99001001001000;bauen_wohnen;ni;;Verfuegbar;2.0;7;;nein;;2026-02-01\n"
        );
        let items: Vec<_> = parse(Cursor::new(csv.into_bytes())).unwrap().collect();
        let Ok(Item::Record {
            change: Change::Upsert(r),
            ..
        }) = &items[0]
        else {
            panic!("{items:?}")
        };
        assert_eq!(r.ozg_ids, ["10110", "10111"]);
        assert_eq!(r.leistungsschluessel, ["99001001001000"]);
        assert_eq!(r.federfuehrendes_land, Land::NI);
        assert_eq!(r.marktplatz_status, MarktplatzStatus::Verfuegbar);
        assert_eq!(
            r.reifegrad,
            Some(Reifegrad {
                modell: ReifegradModell::V2_0,
                stufe: 7
            })
        );
        assert_eq!(r.fit_connect, Some(false));
    }

    #[test]
    fn json_services_become_records_rejects_and_warnings() {
        let json = r#"{"format": "ozgsync-efa", "version": 1, "services": [
            {"efa_id": "EFA-1", "name": "Wohngeld", "federfuehrendes_land": "NI",
             "marktplatz_status": "pilot", "stand": "2026-01-01",
             "reifegrad": {"modell": "2.0", "stufe": 5}, "farbe": "blau"},
            {"efa_id": "EFA-2", "name": 7, "federfuehrendes_land": "NI",
             "marktplatz_status": "pilot", "stand": "2026-01-01", "fit_connect": "ja",
             "reifegrad": {"modell": "1.1", "stufe": 5}},
            "EFA-3"
        ]}"#;
        check(
            json,
            &[
                "record 1: warning unknown field(s) farbe ignored; known: efa_id, name, ozg_ids, leistungsschluessel, themenfeld, federfuehrendes_land, betreiber, marktplatz_status, reifegrad, kostenmodell, fit_connect, url, stand",
                "record 1: EFA-1",
                "record 2: reject name: expected a string, found 7; fit_connect: expected true or false, found \"ja\"; reifegrad: level 5 is not in Reifegrad model 1.1 (levels 0–4)",
                "record 3: reject a service must be a JSON object",
            ],
        );
    }

    #[test]
    fn a_reject_keeps_its_key_when_the_efa_id_is_valid() {
        let csv = format!(
            "{CSV_HEADER}EFA-0001;;;;;NI;;pilot;;;;;;2026-01-01\n\
             -kaputt;Name;;;;NI;;pilot;;;;;;2026-01-01\n\
             ;Name;;;;NI;;pilot;;;;;;2026-01-01\n"
        );
        let items = parse(Cursor::new(csv.as_bytes().to_vec())).unwrap();
        assert_eq!(
            crate::parse::reject_keys(items),
            ["line 2 EFA-0001 kept", "line 3 -kaputt", "line 4 -"]
        );
    }

    #[test]
    fn payloads_that_are_not_efa_releases() {
        check_not_format("", "empty payload");
        check_not_format("<html><body>502</body></html>", "markup");
        check_not_format("[1, 2]", "a JSON array");
        check_not_format(
            "{\"format\": \"other\"}",
            "expected \"format\": \"ozgsync-efa\"",
        );
        check_not_format(
            "{\"format\": \"ozgsync-efa\", \"version\": 2, \"services\": []}",
            "unsupported version 2",
        );
        check_not_format(
            "{\"format\": \"ozgsync-efa\", \"version\": 1}",
            "\"services\" must be an array",
        );
        check_not_format("{\"format\": \"ozgsync-efa\", ", "invalid JSON");
        check_not_format(
            "Schluessel;Bezeichnung\n1;x\n",
            "unknown column \"Schluessel\"",
        );
        check_not_format(
            "efa_id;name\nEFA-1;x\n",
            "missing column(s) federfuehrendes_land",
        );
    }
}
