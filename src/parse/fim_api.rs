//! Parser for the FIM Portal API v0 list answers (`GET /api/v0/leistung-steckbriefe`,
//! items of shape `LeistungStammtextOut`): pages of LeiKa services turned into
//! [`ServiceRecord`]s.
//!
//! One page is `{items, offset, limit, count, total_count}` ([`parse_page`]). The
//! fetcher stores a whole paged pull as one payload, a JSON array of the pages as
//! received; [`parse`] reads that array one page at a time, so memory is bounded by
//! the largest page (at most 200 items), not by the pull. A bare page object is
//! accepted as a pull of one page.
//!
//! Mapping decisions:
//! - an item may carry several `leistungsschluessel`; each valid one (14 digits)
//!   becomes its own record, invalid ones next to a valid one are a warning, an item
//!   with no valid key is a reject (`page P item I`);
//! - `leistungstyp` is derived from each key ([`leistungstyp_of`]), because one item's
//!   single value cannot fit several keys; a published value that disagrees is a
//!   warning;
//! - `bezeichnung` is `leistungsbezeichnung` (empty when the API has none, as for an
//!   empty CSV cell; the API's `title` is a display fallback and may be the
//!   placeholder "Kein Titel"), `bezeichnung2` is `leistungsbezeichnung_2`;
//! - `veroeffentlicht` is `geaendert_datum_zeit`, shown as `YYYY-MM-DDTHH:MM:SS`;
//!   a value with a zone offset is converted to German local time (Europe/Berlin),
//!   as the LeiKa CSV publishes local time; an unreadable value is a warning;
//! - `ozg_ids`: every `ozg[]` entry (`OzgOut`) names the key it belongs to, so a
//!   record gets the `id`s of the entries for its own key (entries without a key go
//!   to every key of the item; entries for a key the item does not carry are a
//!   warning);
//! - a field of the wrong JSON type rejects the whole item, with the field named;
//!   unknown Typisierung codes are kept and warned about, as for the CSV;
//! - a key that an earlier item of the same payload already had is rejected (the
//!   first wins), so the store never sees two versions of one key in one release.
//!
//! Whole-payload rule ([`ParseError::NotFormat`]): not JSON (an HTML error page, a
//! truncated answer), JSON that is not a page (no `items` array, paging fields
//! missing or not integers, an API error body), or a pull that does not cover the
//! result exactly: every page must report the same `total_count`, each page's
//! `offset` must be where the previous page ended, and the items together must
//! number `total_count`. A pull with pages missing would otherwise retire the
//! services it skipped. `count` must be a non-negative integer but is not checked
//! against the items.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read};

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use chrono_tz::Europe::Berlin;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{json_strict, Change, Item, Items, ParseError, Queued, Reject, Step};
use crate::model::{leistungstyp_of, Leistungsschluessel, ServiceRecord, TYPISIERUNG_CODES};

pub(super) const FORMAT: &str = "FIM Portal API";

/// The paging facts of one page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Number of entries in `items` (not of records: one item may yield several).
    pub items: usize,
    pub offset: u64,
    pub limit: u64,
    pub total_count: u64,
}

/// Parses the bytes of one page answer into its paging facts and items. Positions
/// read `page 0 item I`.
pub fn parse_page(bytes: &[u8]) -> Result<(Page, Vec<Item<ServiceRecord>>), ParseError> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    match start.and_then(|i| bytes.get(i)) {
        Some(b'{') => {}
        other => return Err(not_json_start(other.copied(), "page 0")),
    }
    let value = json_strict::from_slice(bytes).map_err(|e| json_error(e, "page 0"))?;
    let mut seen = HashMap::new();
    convert_page(value, 0, &mut seen)
}

/// Parses a stored pull: a JSON array of pages (or one bare page), page by page.
pub fn parse<'a, R: Read + 'a>(input: R) -> Result<Items<'a, ServiceRecord>, ParseError> {
    Ok(Box::new(Queued::new(Pull {
        reader: BufReader::new(input),
        state: State::Start,
        page_no: 0,
        pending: VecDeque::new(),
        seen: HashMap::new(),
        covered: 0,
        total_count: None,
    })))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    /// Inside the top-level array; `first` until the first page was read.
    InArray {
        first: bool,
    },
    /// A bare page object was read; only whitespace may follow.
    AfterSingle,
    Done,
}

struct Pull<R> {
    reader: BufReader<R>,
    state: State,
    /// Index of the next page in the array.
    page_no: usize,
    pending: VecDeque<Item<ServiceRecord>>,
    /// Key → position of the item that brought it first.
    seen: HashMap<String, String>,
    /// Items read so far, to check the next page's offset and the total.
    covered: u64,
    total_count: Option<u64>,
}

impl<R: Read> Step for Pull<R> {
    type Record = ServiceRecord;

    fn pending(&mut self) -> &mut VecDeque<Item<ServiceRecord>> {
        &mut self.pending
    }

    /// Advances by one page (or to the end), queueing what the page yields.
    fn step(&mut self) -> Result<bool, ParseError> {
        let position = format!("page {}", self.page_no);
        match self.state {
            State::Start => match self.peek_after_bom()? {
                Some(b'[') => {
                    self.reader.consume(1);
                    self.state = State::InArray { first: true };
                }
                Some(b'{') => {
                    self.read_page()?;
                    self.state = State::AfterSingle;
                }
                other => return Err(not_json_start(other, "page 0")),
            },
            State::InArray { first } => match self.peek()? {
                Some(b']') => {
                    self.reader.consume(1);
                    self.finish()?;
                }
                Some(b',') if !first => {
                    self.reader.consume(1);
                    match self.peek()? {
                        Some(b'{') => self.read_page()?,
                        other => return Err(not_a_page(other, &position)),
                    }
                }
                Some(b'{') if first => {
                    self.read_page()?;
                    self.state = State::InArray { first: false };
                }
                None => {
                    return Err(ParseError::not_format(
                        FORMAT,
                        position,
                        "the array of pages ends without `]` (truncated?)",
                    ))
                }
                other if first => return Err(not_a_page(other, &position)),
                Some(b) => {
                    return Err(ParseError::not_format(
                        FORMAT,
                        position,
                        format!(
                            "expected `,` or `]` between pages, found {:?}",
                            char::from(b)
                        ),
                    ))
                }
            },
            State::AfterSingle => self.finish()?,
            State::Done => {}
        }
        Ok(self.state != State::Done)
    }
}

impl<R: Read> Pull<R> {
    /// The next byte after whitespace, without consuming it.
    /// [`Self::peek`] at the start of the stream, past a UTF-8 byte order mark: a
    /// pull saved by a Windows editor starts with one (the EfA reader skips it too).
    fn peek_after_bom(&mut self) -> Result<Option<u8>, ParseError> {
        if self.reader.fill_buf()?.starts_with(BOM) {
            self.reader.consume(BOM.len());
        }
        self.peek()
    }

    fn peek(&mut self) -> Result<Option<u8>, ParseError> {
        loop {
            let buf = self.reader.fill_buf()?;
            let Some(&b) = buf.first() else {
                return Ok(None);
            };
            if b.is_ascii_whitespace() {
                self.reader.consume(1);
            } else {
                return Ok(Some(b));
            }
        }
    }

    /// Reads one page object from the stream and converts it.
    fn read_page(&mut self) -> Result<(), ParseError> {
        let position = format!("page {}", self.page_no);
        // A JSON object ends at its `}`, so the deserializer reads no byte past it
        // and the stream stays positioned for the `,` or `]` that follows.
        let mut de = serde_json::Deserializer::from_reader(&mut self.reader);
        let value = json_strict::Strict::deserialize(&mut de)
            .map_err(|e| json_error(e, &position))?
            .0;
        let (page, items) = convert_page(value, self.page_no, &mut self.seen)?;

        let total = *self.total_count.get_or_insert(page.total_count);
        if page.total_count != total {
            return Err(ParseError::not_format(
                FORMAT,
                position,
                format!(
                    "total_count {} differs from the first page's {total}: the result changed during the pull",
                    page.total_count
                ),
            ));
        }
        if page.offset != self.covered {
            return Err(ParseError::not_format(
                FORMAT,
                position,
                format!(
                    "offset {} but the pages before held {} items: a page is missing or repeated",
                    page.offset, self.covered
                ),
            ));
        }
        self.covered += page.items as u64;
        self.pending.extend(items);
        self.page_no += 1;
        Ok(())
    }

    /// Checks the end of the payload and that the pull covered the whole result.
    fn finish(&mut self) -> Result<(), ParseError> {
        let position = format!("page {}", self.page_no);
        if let Some(b) = self.peek()? {
            return Err(ParseError::not_format(
                FORMAT,
                position,
                format!("unexpected {:?} after the pages", char::from(b)),
            ));
        }
        let Some(total) = self.total_count else {
            return Err(ParseError::not_format(
                FORMAT,
                position,
                "the array holds no pages",
            ));
        };
        if self.covered != total {
            return Err(ParseError::not_format(
                FORMAT,
                position,
                format!(
                    "the pages hold {} items but total_count is {total}: the pull is incomplete",
                    self.covered
                ),
            ));
        }
        self.state = State::Done;
        Ok(())
    }
}

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xef\xbb\xbf";

fn not_json_start(first: Option<u8>, position: &str) -> ParseError {
    let reason = match first {
        None => "the payload is empty".to_owned(),
        Some(b'<') => "the payload starts with `<`: an HTML or XML page, not JSON".to_owned(),
        Some(b) if b.is_ascii_graphic() => {
            format!(
                "the payload starts with {:?}, not with a JSON array or object",
                char::from(b)
            )
        }
        Some(b) => format!("the payload starts with byte 0x{b:02X}, not with JSON"),
    };
    ParseError::not_format(FORMAT, position, reason)
}

fn not_a_page(found: Option<u8>, position: &str) -> ParseError {
    let reason = match found {
        None => "the array of pages ends early (truncated?)".to_owned(),
        Some(b) => format!("expected a page object, found {:?}", char::from(b)),
    };
    ParseError::not_format(FORMAT, position, reason)
}

fn json_error(e: serde_json::Error, position: &str) -> ParseError {
    if e.is_io() {
        return ParseError::Io(e.into());
    }
    let reason = if e.is_eof() {
        format!("the JSON ends early (truncated?): {e}")
    } else {
        format!("invalid JSON: {e}")
    };
    ParseError::not_format(FORMAT, position, reason)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks the page shape and converts its items.
fn convert_page(
    value: Value,
    page_no: usize,
    seen: &mut HashMap<String, String>,
) -> Result<(Page, Vec<Item<ServiceRecord>>), ParseError> {
    let position = format!("page {page_no}");
    let Value::Object(mut page) = value else {
        return Err(ParseError::not_format(
            FORMAT,
            position,
            format!("a page must be an object, found {}", kind(&value)),
        ));
    };
    let items = match page.remove("items") {
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ParseError::not_format(
                FORMAT,
                position,
                format!("field `items` must be an array, found {}", kind(&other)),
            ))
        }
        None => {
            // FastAPI answers errors with `{"detail": ...}`; show it.
            let reason = match page.get("detail") {
                Some(detail) => format!(
                    "no `items`: the answer is an API error: {}",
                    super::shorten(&detail.to_string(), 300)
                ),
                None => "no `items` array: not a leistung-steckbriefe page".to_owned(),
            };
            return Err(ParseError::not_format(FORMAT, position, reason));
        }
    };
    let number = |field: &str| -> Result<u64, ParseError> {
        match page.get(field) {
            Some(v) => v.as_u64().ok_or_else(|| {
                ParseError::not_format(
                    FORMAT,
                    position.clone(),
                    format!("field `{field}` must be a non-negative integer, found {v}"),
                )
            }),
            None => Err(ParseError::not_format(
                FORMAT,
                position.clone(),
                format!("field `{field}` is missing: not a leistung-steckbriefe page"),
            )),
        }
    };
    let info = Page {
        items: items.len(),
        offset: number("offset")?,
        limit: number("limit")?,
        total_count: number("total_count")?,
    };
    number("count")?;

    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        convert_item(item, &format!("page {page_no} item {i}"), seen, &mut out);
    }
    Ok((info, out))
}

/// Reads an optional string field: absent and null are `None`, `""` too.
fn opt_string(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        Some(other) => Err(format!(
            "field `{field}` must be a string, found {}",
            kind(other)
        )),
    }
}

/// Reads an optional array of strings: absent and null are empty.
fn string_list(obj: &Map<String, Value>, field: &str) -> Result<Vec<String>, String> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.trim().to_owned()),
                other => Err(format!(
                    "field `{field}` must hold strings, found {}",
                    kind(other)
                )),
            })
            .collect(),
        Some(other) => Err(format!(
            "field `{field}` must be an array of strings, found {}",
            kind(other)
        )),
    }
}

/// One `ozg[]` entry: the OZG-ID and the key it is linked to, if given.
struct OzgLink {
    id: String,
    leistungsschluessel: Option<String>,
}

fn ozg_links(obj: &Map<String, Value>) -> Result<Vec<OzgLink>, String> {
    let entries = match obj.get("ozg") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(entries)) => entries,
        Some(other) => {
            return Err(format!(
                "field `ozg` must be an array, found {}",
                kind(other)
            ))
        }
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let Value::Object(entry) = entry else {
                return Err(format!(
                    "field `ozg` entry {i} must be an object, found {}",
                    kind(entry)
                ));
            };
            let field =
                |name: &str| opt_string(entry, name).map_err(|e| format!("`ozg` entry {i}: {e}"));
            let id = field("id")?.ok_or_else(|| format!("`ozg` entry {i} has no `id`"))?;
            Ok(OzgLink {
                id,
                leistungsschluessel: field("leistungsschluessel")?,
            })
        })
        .collect()
}

/// Normalises an API date-time to `YYYY-MM-DDTHH:MM:SS` German local time.
fn normalize_datetime(s: &str) -> Option<String> {
    const OUT: &str = "%Y-%m-%dT%H:%M:%S";
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Berlin).format(OUT).to_string());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, format) {
            return Some(dt.format(OUT).to_string());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| format!("{}T00:00:00", d.format("%Y-%m-%d")))
}

/// Converts one item into its records, warnings and rejects, appended to `out`.
fn convert_item(
    item: Value,
    position: &str,
    seen: &mut HashMap<String, String>,
    out: &mut Vec<Item<ServiceRecord>>,
) {
    let raw = || super::shorten(&item.to_string(), 400);
    let Value::Object(obj) = &item else {
        let reason = format!("an item must be an object, found {}", kind(&item));
        out.push(Item::Reject(
            Reject::reject(position, None, reason).with_raw(raw()),
        ));
        return;
    };

    let keys = match obj.get("leistungsschluessel") {
        None | Some(Value::Null) => Err("field `leistungsschluessel` is missing".to_owned()),
        Some(_) => string_list(obj, "leistungsschluessel"),
    };
    let keys = match keys {
        Ok(keys) => keys,
        Err(reason) => {
            out.push(Item::Reject(
                Reject::reject(position, None, reason).with_raw(raw()),
            ));
            return;
        }
    };
    let mut valid: Vec<String> = Vec::new();
    let mut invalid: Vec<String> = Vec::new();
    for key in keys {
        let list = if Leistungsschluessel::is_valid(&key) {
            &mut valid
        } else {
            &mut invalid
        };
        if !list.contains(&key) {
            list.push(key);
        }
    }
    let Some(first_key) = valid.first().cloned() else {
        let reason = if invalid.is_empty() {
            "no leistungsschluessel (the list is empty)".to_owned()
        } else {
            format!("no valid leistungsschluessel (14 digits) among {invalid:?}")
        };
        out.push(Item::Reject(
            Reject::reject(position, invalid.first().cloned(), reason).with_raw(raw()),
        ));
        return;
    };

    let fields = (|| {
        Ok::<_, String>((
            opt_string(obj, "leistungsbezeichnung")?,
            opt_string(obj, "leistungsbezeichnung_2")?,
            opt_string(obj, "kurztext")?,
            opt_string(obj, "leistungstyp")?,
            string_list(obj, "typisierung")?,
            opt_string(obj, "geaendert_datum_zeit")?,
            ozg_links(obj)?,
        ))
    })();
    let (bezeichnung, bezeichnung2, kurztext, leistungstyp, typisierung, geaendert, ozg) =
        match fields {
            Ok(fields) => fields,
            Err(reason) => {
                // One reject per valid key: each names a service that is still
                // published, whose current version the store keeps.
                for key in valid {
                    out.push(Item::Reject(
                        Reject::reject(position, Some(key), reason.clone())
                            .key_checked(Leistungsschluessel::is_valid)
                            .with_raw(raw()),
                    ));
                }
                return;
            }
        };

    // Warnings about the item as a whole go with its first key.
    let warn = |out: &mut Vec<Item<ServiceRecord>>, key: &str, reason: String| {
        out.push(Item::Reject(Reject::warning(
            position,
            Some(key.to_owned()),
            reason,
        )));
    };
    if !invalid.is_empty() {
        warn(
            out,
            &first_key,
            format!("ignored invalid leistungsschluessel {invalid:?} next to valid ones"),
        );
    }
    for code in typisierung
        .iter()
        .filter(|c| !TYPISIERUNG_CODES.contains(&c.as_str()))
    {
        warn(
            out,
            &first_key,
            format!(
                "unknown Typisierung code {code:?} (not in urn:de:fim:leika:typisierung); kept"
            ),
        );
    }
    let veroeffentlicht = geaendert.as_deref().and_then(|s| {
        let normalized = normalize_datetime(s);
        if normalized.is_none() {
            warn(
                out,
                &first_key,
                format!("geaendert_datum_zeit {s:?} is not a date-time; left empty"),
            );
        }
        normalized
    });
    for link in &ozg {
        if let Some(key) = &link.leistungsschluessel {
            if !valid.contains(key) {
                warn(
                    out,
                    &first_key,
                    format!(
                        "ozg entry {} names leistungsschluessel {key}, which this item does not carry; ignored",
                        link.id
                    ),
                );
            }
        }
    }

    for key in valid {
        if let Some(first) = seen.get(&key) {
            let reason =
                format!("leistungsschluessel {key} already came at {first}; kept the first");
            out.push(Item::Reject(Reject::reject(position, Some(key), reason)));
            continue;
        }
        seen.insert(key.clone(), position.to_owned());
        let derived = leistungstyp_of(&key);
        if let Some(published) = leistungstyp.as_deref().filter(|t| *t != derived) {
            warn(
                out,
                &key,
                format!("leistungstyp {published:?} does not fit the key, which makes it {derived:?}; used {derived:?}"),
            );
        }
        let mut ozg_ids: Vec<String> = Vec::new();
        for link in &ozg {
            let applies = link.leistungsschluessel.as_ref().is_none_or(|k| *k == key);
            if applies && !ozg_ids.contains(&link.id) {
                ozg_ids.push(link.id.clone());
            }
        }
        out.push(Item::Record {
            position: position.to_owned(),
            change: Change::Upsert(ServiceRecord {
                leistungstyp: derived.to_owned(),
                leistungsschluessel: key,
                bezeichnung: bezeichnung.clone().unwrap_or_default(),
                bezeichnung2: bezeichnung2.clone(),
                typisierung: typisierung.clone(),
                veroeffentlicht: veroeffentlicht.clone(),
                kurztext: kurztext.clone(),
                ozg_ids,
                ..ServiceRecord::default()
            }),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Severity;

    /// One item line per yielded element: records as `position key typ typisierung
    /// ozg veroeffentlicht bezeichnung`, rejects as `severity position [key]: reason`,
    /// errors as `ERR message`.
    fn render(items: impl Iterator<Item = Result<Item<ServiceRecord>, ParseError>>) -> Vec<String> {
        items
            .map(|item| match item {
                Ok(Item::Record {
                    position,
                    change: Change::Upsert(r),
                }) => format!(
                    "{position} {} {} [{}] [{}] {} {}",
                    r.leistungsschluessel,
                    r.leistungstyp,
                    r.typisierung.join(","),
                    r.ozg_ids.join(","),
                    r.veroeffentlicht.unwrap_or_default(),
                    r.bezeichnung
                ),
                Ok(Item::Record { change, .. }) => format!("unexpected {change:?}"),
                Ok(Item::Reject(r)) => format!(
                    "{} {} [{}]: {}",
                    match r.severity {
                        Severity::Reject => "reject",
                        Severity::Warning => "warning",
                    },
                    r.position,
                    r.key.unwrap_or_default(),
                    r.reason
                ),
                Err(e) => format!("ERR {e}"),
            })
            .collect()
    }

    fn check(input: &str, expected: &[&str]) {
        assert_eq!(
            render(parse(input.as_bytes()).unwrap()),
            expected,
            "input:\n{input}"
        );
    }

    /// A page around `items` (a JSON array text) covering all of them.
    fn page(offset: u64, total: u64, items: &str) -> String {
        let n = serde_json::from_str::<Vec<Value>>(items)
            .map(|v| v.len())
            .unwrap_or(0);
        format!(
            r#"{{"items": {items}, "offset": {offset}, "limit": 2, "count": {n}, "total_count": {total}}}"#
        )
    }

    const ABFALL: &str = r#"{"leistungsschluessel": ["99001001002000"], "leistungstyp": "lov",
        "typisierung": ["5"], "leistungsbezeichnung": "Abfallgebühr Festsetzung",
        "leistungsbezeichnung_2": null, "kurztext": null,
        "geaendert_datum_zeit": "2024-06-03T08:15:00Z",
        "ozg": [{"leistungsschluessel": "99001001002000", "id": "10110", "leistung": "Abfallentsorgung",
                 "themenfeld": "bauen_wohnen", "themenfeld_label": "Bauen & Wohnen", "vollzugsbehoerden": []}]}"#;

    #[test]
    fn pages_in_an_array_and_a_bare_page() {
        let first = page(
            0,
            3,
            &format!("[{ABFALL}, {ABFALL}]").replacen("99001001002000", "99088026034000", 2),
        );
        let second = page(2, 3, &format!("[{ABFALL}]"));
        check(
            &format!("[\n{first} ,\n {second}\n]\n"),
            &[
                "page 0 item 0 99088026034000 lov [5] [10110] 2024-06-03T10:15:00 Abfallgebühr Festsetzung",
                "page 0 item 1 99001001002000 lov [5] [10110] 2024-06-03T10:15:00 Abfallgebühr Festsetzung",
                "reject page 1 item 0 [99001001002000]: leistungsschluessel 99001001002000 already came at page 0 item 1; kept the first",
            ],
        );
        check(
            &page(0, 1, &format!("[{ABFALL}]")),
            &["page 0 item 0 99001001002000 lov [5] [10110] 2024-06-03T10:15:00 Abfallgebühr Festsetzung"],
        );
        check(&page(0, 0, "[]"), &[]);
    }

    #[test]
    fn one_record_per_valid_key() {
        let item = r#"[{"leistungsschluessel": ["99050012104000", "99050012000000", "nicht im LeiKa", "99050012104000"],
            "leistungstyp": "lov", "typisierung": ["2/3", "13"], "leistungsbezeichnung": "Erlaubnis",
            "leistungsbezeichnung_2": "Erlaubnis beantragen", "kurztext": "  ",
            "geaendert_datum_zeit": "2023-01-15T12:00:00.123456",
            "ozg": [{"leistungsschluessel": "99050012104000", "id": "10300"},
                    {"id": "10301"},
                    {"leistungsschluessel": "99999999999999", "id": "10302"}]}]"#;
        check(
            &page(0, 1, item),
            &[
                "warning page 0 item 0 [99050012104000]: ignored invalid leistungsschluessel [\"nicht im LeiKa\"] next to valid ones",
                "warning page 0 item 0 [99050012104000]: unknown Typisierung code \"13\" (not in urn:de:fim:leika:typisierung); kept",
                "warning page 0 item 0 [99050012104000]: ozg entry 10302 names leistungsschluessel 99999999999999, which this item does not carry; ignored",
                "page 0 item 0 99050012104000 lov [2/3,13] [10300,10301] 2023-01-15T12:00:00 Erlaubnis",
                "warning page 0 item 0 [99050012000000]: leistungstyp \"lov\" does not fit the key, which makes it \"lo\"; used \"lo\"",
                "page 0 item 0 99050012000000 lo [2/3,13] [10301] 2023-01-15T12:00:00 Erlaubnis",
            ],
        );
    }

    #[test]
    fn a_bad_item_keeps_each_of_its_valid_keys() {
        let items = r#"[
            {"leistungsschluessel": ["99001001002000", "99001001001000", "kaputt"], "leistungsbezeichnung": 42},
            {"leistungsschluessel": ["nicht im LeiKa"]},
            {"leistungsbezeichnung": "ohne Schlüssel"}
        ]"#;
        assert_eq!(
            crate::parse::reject_keys(parse(page(0, 3, items).as_bytes()).unwrap()),
            [
                "page 0 item 0 99001001002000 kept",
                "page 0 item 0 99001001001000 kept",
                "page 0 item 1 nicht im LeiKa",
                "page 0 item 2 -",
            ]
        );
    }

    #[test]
    fn bad_items_are_rejected_alone() {
        let items = r#"[
            "99001001002000",
            {"leistungsbezeichnung": "ohne Schlüssel"},
            {"leistungsschluessel": "99001001002000"},
            {"leistungsschluessel": ["nicht im LeiKa", "9901200100100"]},
            {"leistungsschluessel": []},
            {"leistungsschluessel": ["99001001002000"], "typisierung": "5"},
            {"leistungsschluessel": ["99001001002000"], "leistungsbezeichnung": 42},
            {"leistungsschluessel": ["99001001002000"], "ozg": [{"id": 10110}]},
            {"leistungsschluessel": ["99001001002000"], "ozg": ["10110"]},
            {"leistungsschluessel": [99001001002000]},
            {"leistungsschluessel": ["99001001002000"], "geaendert_datum_zeit": "gestern"}
        ]"#;
        check(
            &page(0, 11, items),
            &[
                "reject page 0 item 0 []: an item must be an object, found a string",
                "reject page 0 item 1 []: field `leistungsschluessel` is missing",
                "reject page 0 item 2 []: field `leistungsschluessel` must be an array of strings, found a string",
                "reject page 0 item 3 [nicht im LeiKa]: no valid leistungsschluessel (14 digits) among [\"nicht im LeiKa\", \"9901200100100\"]",
                "reject page 0 item 4 []: no leistungsschluessel (the list is empty)",
                "reject page 0 item 5 [99001001002000]: field `typisierung` must be an array of strings, found a string",
                "reject page 0 item 6 [99001001002000]: field `leistungsbezeichnung` must be a string, found a number",
                "reject page 0 item 7 [99001001002000]: `ozg` entry 0: field `id` must be a string, found a number",
                "reject page 0 item 8 [99001001002000]: field `ozg` entry 0 must be an object, found a string",
                "reject page 0 item 9 []: field `leistungsschluessel` must hold strings, found a number",
                "warning page 0 item 10 [99001001002000]: geaendert_datum_zeit \"gestern\" is not a date-time; left empty",
                "page 0 item 10 99001001002000 lov [] []  ",
            ],
        );
    }

    #[test]
    fn not_the_format() {
        let one = page(0, 1, &format!("[{ABFALL}]"));
        for (input, why) in [
            ("", "page 0): the payload is empty"),
            ("<!DOCTYPE html><html></html>", "HTML"),
            // A BOM is skipped (RFC 8259 lets a parser ignore one), so what
            // follows it decides.
            ("\u{FEFF}[]", "no pages"),
            ("\u{FEFF}\u{FEFF}[]", "byte 0xEF"),
            ("[]", "no pages"),
            ("[1]", "expected a page object"),
            (r#"{"detail": "Not Found"}"#, "API error: \"Not Found\""),
            (
                r#"{"items": {}, "offset": 0, "limit": 2, "count": 0, "total_count": 0}"#,
                "`items` must be an array",
            ),
            (
                r#"{"items": [], "offset": -1, "limit": 2, "count": 0, "total_count": 0}"#,
                "`offset` must be a non-negative",
            ),
            (
                r#"{"items": [], "offset": 0, "limit": 2, "total_count": 0}"#,
                "`count` is missing",
            ),
            (&one[..one.len() - 20], "truncated"),
            (&format!("[{one}"), "ends without `]`"),
            (&format!("[{one},]"), "expected a page object, found ']'"),
            (&format!("[{one}] x"), "unexpected 'x' after the pages"),
            (&format!("{one}{one}"), "unexpected '{' after the pages"),
            (
                &page(0, 2, &format!("[{ABFALL}]")),
                "hold 1 items but total_count is 2",
            ),
            (
                &format!("[{one}, {}]", page(1, 2, "[]")),
                "total_count 2 differs",
            ),
            (
                &format!(
                    "[{}, {}]",
                    page(0, 2, &format!("[{ABFALL}]")),
                    page(0, 2, "[]")
                ),
                "offset 0 but the pages before held 1",
            ),
        ] {
            let out = render(parse(input.as_bytes()).unwrap());
            let last = out.last().cloned().unwrap_or_default();
            assert!(
                last.starts_with("ERR ") && last.contains(why),
                "{input:?}: {out:?}"
            );
        }
    }

    #[test]
    fn single_page_api() {
        let (info, items) =
            parse_page(page(400, 401, &format!("[{ABFALL}]")).as_bytes()).expect("a page");
        assert_eq!(
            info,
            Page {
                items: 1,
                offset: 400,
                limit: 2,
                total_count: 401
            }
        );
        assert_eq!(
            render(items.into_iter().map(Ok)),
            ["page 0 item 0 99001001002000 lov [5] [10110] 2024-06-03T10:15:00 Abfallgebühr Festsetzung"]
        );
        for bad in [&b"<html>"[..], b"[]", b"{\"items\": [", b""] {
            assert!(
                matches!(parse_page(bad), Err(ParseError::NotFormat { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn datetimes_become_german_local_time() {
        for (input, expected) in [
            ("2024-06-03T08:15:00Z", Some("2024-06-03T10:15:00")),
            ("2024-01-03T08:15:00+00:00", Some("2024-01-03T09:15:00")),
            ("2024-01-03T08:15:00.5+01:00", Some("2024-01-03T08:15:00")),
            ("2024-01-03T08:15:00", Some("2024-01-03T08:15:00")),
            ("2024-01-03T08:15:00.999", Some("2024-01-03T08:15:00")),
            ("2024-01-03", Some("2024-01-03T00:00:00")),
            ("03.01.2024 08:15", None),
        ] {
            assert_eq!(normalize_datetime(input).as_deref(), expected, "{input}");
        }
    }
}
