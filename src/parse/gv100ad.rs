//! Parser for the Destatis municipality directory GV100AD (Gemeindeverzeichnis,
//! fixed width): one line per unit, turned into [`MunicipalityRecord`]s.
//!
//! Editions up to 2018 are ISO-8859-1 with CRLF, later ones UTF-8. The encoding is
//! decided per file by evidence before the first line is read ([`super::text`]): any
//! valid multi-byte UTF-8 makes the file UTF-8 (a line with bytes that do not decode
//! is then one reject), a file without any is ISO-8859-1 (one byte per character, so
//! the character columns below hold either way).
//!
//! Layout (1-based, inclusive, counted in **characters**, because names carry
//! umlauts): columns 1–2 record type (10 Land, 20 Regierungsbezirk, 30 Region,
//! 40 Kreis, 50 Gemeindeverband, 60 Gemeinde), 3–10 Gebietsstand `YYYYMMDD`,
//! 11–22 key, 23–72 name, 73–122 seat of the administration, 123–124
//! Textkennzeichen. Columns after 124 (area, population, ...) are not read.
//!
//! The key is not laid out the same in every record type:
//! - type 60 holds the AGS in 11–18 and the Verband in 19–22, so the ARS is
//!   columns 11–15 + 19–22 + 16–18 (`6020251130031510015406Adenbüttel` →
//!   ARS `031515406001`, AGS `03151001`);
//! - type 50 leaves 16–18 blank and holds the Verband in 19–22, so the ARS is
//!   11–15 + 19–22 + `000`;
//! - types 10–40 hold a left-aligned prefix of the ARS (2, 3, 4 or 5 digits),
//!   right-padded here with zeros to 12 digits (Land `03` → `030000000000`).
//!
//! A kreisfreie Stadt appears three times with one ARS (Kreis, Verband,
//! Gemeinde), so the record key is level plus ARS (see
//! [`crate::model::municipality_key`]); a repeated level+ARS within one payload is
//! rejected.
//!
//! Record type 20 maps to [`Level::Regierungsbezirk`] even where the Land has no
//! Regierungsbezirke any more: Lower Saxony's four type-20 records are the
//! "Statistische Regionen" that replaced them. Type 30 maps to [`Level::Region`].
//!
//! **Gemeindefreie Gebiete** (Textkennzeichen 65 and 66) are type-60 records but not
//! Gemeinden; 67 (große Kreisstadt: Böblingen, Bad Waldsee, ...) *is* a Gemeinde.
//! Both are emitted as [`Level::Gemeinde`] records like the rest (they carry an ARS
//! and AGS of Gemeinde form and belong to a Kreis and a Verband or pseudo-Verband
//! `95xx`), and are told apart by `textkennzeichen`; [`is_gemeinde`] and
//! [`is_gemeindefreies_gebiet`] (lists in [`crate::model::GEMEINDE_TEXTKENNZEICHEN`])
//! say which is which, so "the 939 Gemeinden" is `is_gemeinde(..)`. Their pseudo-Verbände are type-50
//! records with Textkennzeichen 50 (verbandsfrei), so the count of TK-50 Verbände
//! includes them.
//!
//! Whole-payload rule: the first non-empty line must be a valid record (after an
//! optional UTF-8 byte-order mark); otherwise the payload is not GV100AD at all
//! (HTML error page, binary, another file) and the parser returns
//! [`ParseError::NotFormat`]. An empty payload is also `NotFormat`, since a full
//! directory without records would retire every municipality. After the first
//! line, each bad line (too short, unknown record type, key not digits, bad date,
//! bytes that do not decode in a UTF-8 file, duplicate key) is one reject and
//! parsing goes on.

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, Read, Seek, SeekFrom};

use chrono::NaiveDate;

use super::text::{self, Legacy, TextEncoding};
use super::{Change, Item, Items, ParseError, Queued, Reject, Step};
use crate::model::{municipality_key, Level, MunicipalityRecord};
// Re-exported where callers of the parser look for them; the list lives in the model.
pub use crate::model::{is_gemeinde, is_gemeindefreies_gebiet};

pub(super) const FORMAT: &str = "GV100AD";

/// Longest line read. A GV100AD record has 220 characters; a line far longer is not a
/// record, and reading it whole would let one missing newline pull the payload into
/// memory (a 50 MB line cost 250 MB of RSS before this bound).
const MAX_LINE_BYTES: usize = 64 * 1024;

/// Parses one GV100AD payload. Reads it once to decide the encoding, rewinds, then
/// reads line by line; memory grows only with the set of keys seen (for the
/// duplicate check), not with the payload.
pub fn parse<'a, R: BufRead + Seek + 'a>(
    input: R,
) -> Result<Items<'a, MunicipalityRecord>, ParseError> {
    Ok(Box::new(Queued::new(Parser {
        input,
        encoding: None,
        line_no: 0,
        buf: Vec::new(),
        pending: VecDeque::new(),
        state: State::Start,
        seen: HashSet::new(),
        gebietsstand: None,
    })))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No non-empty line seen yet: the next one decides whether this is GV100AD.
    Start,
    Running,
    Done,
}

struct Parser<R> {
    input: R,
    /// Decided before the first line is read.
    encoding: Option<TextEncoding>,
    line_no: usize,
    buf: Vec<u8>,
    pending: VecDeque<Item<MunicipalityRecord>>,
    state: State,
    seen: HashSet<String>,
    /// The first record's Gebietsstand; later lines that differ get a warning.
    gebietsstand: Option<String>,
}

impl<R: BufRead + Seek> Step for Parser<R> {
    type Record = MunicipalityRecord;

    fn pending(&mut self) -> &mut VecDeque<Item<MunicipalityRecord>> {
        &mut self.pending
    }

    fn step(&mut self) -> Result<bool, ParseError> {
        self.read_line()?;
        Ok(self.state != State::Done)
    }
}

/// Why a first line shows the payload is no text file at all: Destatis publishes
/// GV100AD as a ZIP archive, and a binary file would otherwise be blamed on "bytes
/// that are not UTF-8" as if one line had been pasted from another edition.
fn not_a_text_file(first_line: &[u8]) -> Option<&'static str> {
    if first_line.starts_with(b"PK\x03\x04") {
        Some("the file is a ZIP archive (Destatis publishes GV100AD zipped): unzip it and import the GV100AD_….ASC or .txt file inside")
    } else if first_line.contains(&0) {
        Some("the file holds NUL bytes, so it is binary (or UTF-16), not the GV100AD text file (fixed-width lines in UTF-8 or ISO-8859-1)")
    } else {
        None
    }
}

/// Consumes input up to and including the next newline (or the end), without
/// keeping it.
fn skip_rest_of_line<R: BufRead>(input: &mut R) -> std::io::Result<()> {
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(());
            }
            None => {
                let len = chunk.len();
                input.consume(len);
            }
        }
    }
}

impl<R: BufRead + Seek> Parser<R> {
    /// The file's encoding, read from the whole input once (see [`super::text`]).
    fn encoding(&mut self) -> Result<TextEncoding, ParseError> {
        if let Some(encoding) = self.encoding {
            return Ok(encoding);
        }
        let start = self.input.stream_position()?;
        let evidence = text::sniff(&mut self.input)?;
        self.input.seek(SeekFrom::Start(start))?;
        let encoding = evidence.decide(Legacy::Latin1);
        self.encoding = Some(encoding);
        Ok(encoding)
    }

    /// Reads one line and queues what it yields. Sets `Done` at the end of input.
    fn read_line(&mut self) -> Result<(), ParseError> {
        let encoding = self.encoding()?;
        self.buf.clear();
        let n = (&mut self.input)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            if self.state == State::Start {
                return Err(ParseError::not_format(
                    FORMAT,
                    "line 1",
                    "the payload is empty",
                ));
            }
            self.state = State::Done;
            return Ok(());
        }
        self.line_no += 1;
        let position = format!("line {}", self.line_no);
        // Classic Mac line ends (a bare CR, no LF): the whole file is one line,
        // whose first record would otherwise be read and the rest dropped.
        let body = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
        if body.strip_suffix(b"\r").unwrap_or(body).contains(&b'\r') {
            if self.state == State::Start {
                // A ZIP archive or binary file holds CR bytes too: named as what it is.
                let first = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
                if let Some(reason) = not_a_text_file(first) {
                    return Err(ParseError::not_format(FORMAT, position, reason));
                }
                return Err(ParseError::not_format(
                    FORMAT,
                    position,
                    super::csv_text::BARE_CR,
                ));
            }
            if self.buf.len() > MAX_LINE_BYTES && !self.buf.ends_with(b"\n") {
                skip_rest_of_line(&mut self.input)?;
            }
            let raw =
                String::from_utf8_lossy(self.buf.get(..400).unwrap_or(&self.buf)).into_owned();
            self.pending.push_back(Item::Reject(
                Reject::reject(
                    position,
                    None,
                    "a bare CR inside the line: two records run together, or a line end lost; \
                     a GV100AD record is one line of 220 characters",
                )
                .with_raw(raw),
            ));
            return Ok(());
        }
        if self.buf.len() > MAX_LINE_BYTES && !self.buf.ends_with(b"\n") {
            skip_rest_of_line(&mut self.input)?;
            let reason = format!(
                "the line is longer than {MAX_LINE_BYTES} bytes; a GV100AD record has 220 characters"
            );
            if self.state == State::Start {
                return Err(ParseError::not_format(FORMAT, position, reason));
            }
            let raw =
                String::from_utf8_lossy(self.buf.get(..400).unwrap_or(&self.buf)).into_owned();
            self.pending.push_back(Item::Reject(
                Reject::reject(position, None, reason).with_raw(raw),
            ));
            return Ok(());
        }
        let mut bytes = self.buf.as_slice();
        if self.line_no == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if self.state == State::Start {
            if let Some(reason) = not_a_text_file(bytes) {
                return Err(ParseError::not_format(FORMAT, position, reason));
            }
        } else if let Some(at) = bytes.iter().position(|&b| b == 0) {
            // A NUL in a later line was stored inside a name ("Salzgitt\0r").
            let raw = String::from_utf8_lossy(bytes).replace('\0', "\\0");
            self.pending.push_back(Item::Reject(
                Reject::reject(
                    position,
                    None,
                    format!(
                        "a NUL byte at column {}: no GV100AD record holds one, so the file is \
                         damaged in this line (a disk or transfer fault); take the file from \
                         the source again",
                        at + 1
                    ),
                )
                .with_raw(raw),
            ));
            return Ok(());
        }

        // An ISO-8859-1 edition never holds bytes 0x80-0x9F (control characters
        // there); a file edited and saved on Windows does ("–" is 0x96, "€" 0x80),
        // and they would be stored as invisible controls. Such a line is read as
        // Windows-1252, with a warning.
        let windows_bytes =
            encoding == TextEncoding::Latin1 && bytes.iter().any(|b| (0x80..=0x9F).contains(b));
        let line_encoding = if windows_bytes {
            TextEncoding::Windows1252
        } else {
            encoding
        };
        let line = match text::decode_line(bytes, line_encoding) {
            Ok(line) => line,
            Err(at) => {
                let raw = String::from_utf8_lossy(bytes);
                let reason = format!(
                    "bytes that are not UTF-8 at byte {at} although the file is UTF-8 elsewhere \
                     (was this line pasted from an ISO-8859-1 edition?); correct the characters or \
                     re-encode the whole file"
                );
                if self.state == State::Start {
                    return Err(ParseError::not_format(FORMAT, position, reason));
                }
                self.pending.push_back(Item::Reject(
                    Reject::reject(position, None, reason).with_raw(raw),
                ));
                return Ok(());
            }
        };
        if line.trim().is_empty() {
            return Ok(());
        }

        match parse_line(&line) {
            Ok((record, warnings)) => {
                self.state = State::Running;
                let key = municipality_key(record.level, &record.ars);
                if !self.seen.insert(key.clone()) {
                    let reject = Reject::reject(
                        position,
                        Some(key),
                        "a record with the same level and ARS came earlier in this payload; kept the first",
                    )
                    .with_raw(line);
                    self.pending.push_back(Item::Reject(reject));
                    return Ok(());
                }
                match &self.gebietsstand {
                    None => self.gebietsstand = Some(record.gebietsstand.clone()),
                    Some(first) if *first != record.gebietsstand => {
                        let reason = format!(
                            "Gebietsstand {} differs from the first record's {first}; one edition should carry one date",
                            record.gebietsstand
                        );
                        self.pending.push_back(Item::Reject(Reject::warning(
                            position.clone(),
                            Some(key.clone()),
                            reason,
                        )));
                    }
                    Some(_) => {}
                }
                if windows_bytes {
                    self.pending.push_back(Item::Reject(Reject::warning(
                        position.clone(),
                        Some(key.clone()),
                        "the line holds bytes 0x80-0x9F, control characters in ISO-8859-1 (this file's encoding) but letters such as \"–\" or \"€\" in Windows-1252, as a file edited on Windows has them: read as Windows-1252; check the names against the official edition",
                    )));
                }
                for reason in warnings {
                    self.pending.push_back(Item::Reject(Reject::warning(
                        position.clone(),
                        Some(key.clone()),
                        reason,
                    )));
                }
                self.pending.push_back(Item::Record {
                    position,
                    change: Change::Upsert(record),
                });
            }
            Err(bad) => {
                if self.state == State::Start {
                    return Err(ParseError::not_format(
                        FORMAT,
                        position,
                        format!("the first line is not a GV100AD record: {}", bad.reason),
                    ));
                }
                let reject = Reject::reject(position, bad.key, bad.reason)
                    .key_checked(|_| bad.key_valid)
                    .with_raw(line);
                self.pending.push_back(Item::Reject(reject));
            }
        }
        Ok(())
    }
}

/// Why one line is not a record, and the key as far as it could be read.
#[derive(Debug, PartialEq)]
struct BadLine {
    key: Option<String>,
    /// `key` is the store key `<level>:<ars>` of a record type and ARS that both read
    /// correctly: only the rest of the line is bad.
    key_valid: bool,
    reason: String,
}

fn bad(reason: impl Into<String>) -> BadLine {
    BadLine {
        key: None,
        key_valid: false,
        reason: reason.into(),
    }
}

/// The characters of a line, addressed by 1-based inclusive column ranges as the
/// GV100AD record description gives them. Columns past the end read as empty.
struct Columns(Vec<char>);

impl Columns {
    fn get(&self, from: usize, to: usize) -> String {
        let start = from.saturating_sub(1).min(self.0.len());
        let end = to.min(self.0.len()).max(start);
        self.0
            .get(start..end)
            .map(|c| c.iter().collect())
            .unwrap_or_default()
    }
}

fn is_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses one decoded line into a record plus warnings (kept-but-suspicious).
fn parse_line(line: &str) -> Result<(MunicipalityRecord, Vec<String>), BadLine> {
    let cols = Columns(line.chars().collect());
    // Type, date, key and at least one character of the name.
    if cols.0.len() < 23 {
        return Err(bad(format!(
            "line too short ({} characters; a record needs at least 23: type, Gebietsstand, key, name)",
            cols.0.len()
        )));
    }
    let satzart = cols.get(1, 2);
    let level = match satzart.as_str() {
        "10" => Level::Land,
        "20" => Level::Regierungsbezirk,
        "30" => Level::Region,
        "40" => Level::Kreis,
        "50" => Level::Verband,
        "60" => Level::Gemeinde,
        _ => {
            return Err(bad(format!(
                "unknown record type {satzart:?} in columns 1–2 (expected 10, 20, 30, 40, 50 or 60)"
            )))
        }
    };

    let key_cols = cols.get(11, 22);
    let (ars, ags) = read_key(level, &cols).map_err(|reason| BadLine {
        key: Some(key_cols.trim_end().to_owned()),
        key_valid: false,
        reason,
    })?;
    let key = municipality_key(level, &ars);
    let fail = |reason: String| BadLine {
        key: Some(key.clone()),
        key_valid: true,
        reason,
    };

    let date = cols.get(3, 10);
    let gebietsstand = NaiveDate::parse_from_str(&date, "%Y%m%d")
        .ok()
        .filter(|_| is_digits(&date, 8))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .ok_or_else(|| {
            fail(format!(
                "Gebietsstand {date:?} in columns 3–10 is not a date YYYYMMDD"
            ))
        })?;

    let name = cols.get(23, 72).trim().to_owned();
    if name.is_empty() {
        return Err(fail("name (columns 23–72) is empty".to_owned()));
    }
    let sitz = Some(cols.get(73, 122).trim().to_owned()).filter(|s| !s.is_empty());

    let tk = cols.get(123, 124).trim().to_owned();
    let textkennzeichen = if tk.is_empty() {
        None
    } else if is_digits(&tk, 2) {
        Some(tk)
    } else {
        return Err(fail(format!(
            "Textkennzeichen {tk:?} in columns 123–124 is not two digits"
        )));
    };

    let mut warnings = Vec::new();
    let expected_tk: Option<(&str, &str)> = match level {
        Level::Kreis => Some(("41", "45")),
        Level::Verband => Some(("50", "58")),
        // Gemeinden and gemeindefreie Gebiete together; which is which is
        // `model::GEMEINDE_TEXTKENNZEICHEN`, not this range.
        Level::Gemeinde => Some(("60", "67")),
        _ => None,
    };
    if let Some((lo, hi)) = expected_tk {
        match textkennzeichen.as_deref() {
            None => {
                return Err(fail(format!(
                    "Textkennzeichen (columns 123–124) is missing; record type {satzart} needs one"
                )))
            }
            Some(tk) if tk < lo || tk > hi => warnings.push(format!(
                "Textkennzeichen {tk} is unusual for record type {satzart} (expected {lo}–{hi})"
            )),
            Some(_) => {}
        }
    }

    let prefix = |n: usize| ars.get(..n).map(|p| format!("{p:0<12}"));
    let (kreis_ars, verband_ars) = match level {
        Level::Verband => (prefix(5), None),
        Level::Gemeinde => (prefix(5), prefix(9)),
        _ => (None, None),
    };

    Ok((
        MunicipalityRecord {
            level,
            ars,
            ags,
            name,
            textkennzeichen,
            kreis_ars,
            verband_ars,
            gebietsstand,
            sitz,
        },
        warnings,
    ))
}

/// Reads the key columns 11–22 of a record of `level` into (ARS, AGS).
fn read_key(level: Level, cols: &Columns) -> Result<(String, Option<String>), String> {
    let need = |from: usize, to: usize| -> Result<String, String> {
        let s = cols.get(from, to);
        if is_digits(&s, to - from + 1) {
            Ok(s)
        } else {
            Err(format!(
                "key columns {from}–{to} should be digits, found {s:?}"
            ))
        }
    };
    let blank = |from: usize, to: usize| -> Result<(), String> {
        let s = cols.get(from, to);
        if s.trim().is_empty() {
            Ok(())
        } else {
            Err(format!(
                "key columns {from}–{to} should be blank for this record type, found {s:?}"
            ))
        }
    };
    let padded = |digits: String| format!("{digits:0<12}");
    match level {
        Level::Land => {
            let land = need(11, 12)?;
            blank(13, 22)?;
            Ok((padded(land), None))
        }
        Level::Regierungsbezirk => {
            let rb = need(11, 13)?;
            blank(14, 22)?;
            Ok((padded(rb), None))
        }
        Level::Region => {
            let region = need(11, 14)?;
            blank(15, 22)?;
            Ok((padded(region), None))
        }
        Level::Kreis => {
            let kreis = need(11, 15)?;
            blank(16, 22)?;
            Ok((padded(kreis), None))
        }
        Level::Verband => {
            let kreis = need(11, 15)?;
            blank(16, 18)?;
            let verband = need(19, 22)?;
            Ok((format!("{kreis}{verband}000"), None))
        }
        Level::Gemeinde => {
            // The trap: AGS first (Kreis + Gemeinde), then the Verband.
            let kreis = need(11, 15)?;
            let gemeinde = need(16, 18)?;
            let verband = need(19, 22)?;
            Ok((
                format!("{kreis}{verband}{gemeinde}"),
                Some(format!("{kreis}{gemeinde}")),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Severity;

    /// Builds a fixed-width line from its fields, padding by characters.
    fn line(satzart: &str, key: &str, name: &str, sitz: &str, tk: &str) -> String {
        format!("{satzart}20251130{key:<12}{name:<50}{sitz:<50}{tk:<2}")
    }

    /// What a parse of `input` yields, in a form easy to compare.
    #[derive(Debug, PartialEq)]
    enum Out {
        Rec(String),
        Rej(&'static str, String, String),
        NotFormat(String),
    }

    fn run(input: &[u8]) -> Vec<Out> {
        parse(std::io::Cursor::new(input)).unwrap()
            .map(|item| match item {
                Ok(Item::Record {
                    change: Change::Upsert(r),
                    position,
                }) => Out::Rec(format!(
                    "{position} {} ars={} ags={} name={} tk={} kreis={} verband={} stand={} sitz={}",
                    r.level.as_str(),
                    r.ars,
                    r.ags.unwrap_or_default(),
                    r.name,
                    r.textkennzeichen.unwrap_or_default(),
                    r.kreis_ars.unwrap_or_default(),
                    r.verband_ars.unwrap_or_default(),
                    r.gebietsstand,
                    r.sitz.unwrap_or_default()
                )),
                Ok(Item::Record { .. }) => unreachable!("GV100AD has no retirements"),
                Ok(Item::Reject(r)) => Out::Rej(
                    match r.severity {
                        Severity::Reject => "reject",
                        Severity::Warning => "warning",
                    },
                    r.position,
                    r.reason,
                ),
                Err(e) => Out::NotFormat(e.to_string()),
            })
            .collect()
    }

    fn check(input: &str, expected: &[&str]) {
        let got: Vec<String> = run(input.as_bytes())
            .into_iter()
            .map(|o| match o {
                Out::Rec(s) => s,
                Out::Rej(sev, pos, reason) => format!("{sev} {pos}: {reason}"),
                Out::NotFormat(e) => format!("ERR {e}"),
            })
            .collect();
        assert_eq!(got, expected, "input:\n{input}");
    }

    #[test]
    fn key_layout_per_record_type() {
        let input = [
            line("10", "03", "Niedersachsen", "Hannover", ""),
            line("20", "031", "Statistische Region Braunschweig", "", ""),
            line("40", "03151", "Gifhorn", "Gifhorn", "44"),
            line("50", "03151   5406", "Papenteich", "Meine", "52"),
            line("60", "031510015406", "Adenbüttel", "", "64"),
        ]
        .join("\n");
        check(
            &input,
            &[
                "line 1 land ars=030000000000 ags= name=Niedersachsen tk= kreis= verband= stand=2025-11-30 sitz=Hannover",
                "line 2 regierungsbezirk ars=031000000000 ags= name=Statistische Region Braunschweig tk= kreis= verband= stand=2025-11-30 sitz=",
                "line 3 kreis ars=031510000000 ags= name=Gifhorn tk=44 kreis= verband= stand=2025-11-30 sitz=Gifhorn",
                "line 4 verband ars=031515406000 ags= name=Papenteich tk=52 kreis=031510000000 verband= stand=2025-11-30 sitz=Meine",
                "line 5 gemeinde ars=031515406001 ags=03151001 name=Adenbüttel tk=64 kreis=031510000000 verband=031515406000 stand=2025-11-30 sitz=",
            ],
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        // "Königslutter" has a two-byte character before the Textkennzeichen.
        let input = [
            line("10", "03", "Niedersachsen", "", ""),
            line(
                "60",
                "031545039503",
                "Königslutter, gemfr. Gebiet",
                "",
                "66",
            ),
        ]
        .join("\r\n");
        check(
            &input,
            &[
                "line 1 land ars=030000000000 ags= name=Niedersachsen tk= kreis= verband= stand=2025-11-30 sitz=",
                "line 2 gemeinde ars=031549503503 ags=03154503 name=Königslutter, gemfr. Gebiet tk=66 kreis=031540000000 verband=031549503000 stand=2025-11-30 sitz=",
            ],
        );
    }

    /// Only a line whose record type and key both read keeps its key, spelled as the
    /// store keys it.
    #[test]
    fn a_reject_keeps_its_key_when_type_and_ars_are_valid() {
        let input = [
            line("10", "03", "Niedersachsen", "", ""),
            "6020251130".to_owned(),
            line("70", "03151", "Unbekannt", "", ""),
            line("40", "03x51", "Gifhorn", "", "44"),
            line("40", "03151", "Gifhorn", "", "44").replace("20251130", "20251331"),
            line("40", "03152", "", "", "44"),
        ]
        .join("\n");
        assert_eq!(
            crate::parse::reject_keys(parse(std::io::Cursor::new(input.as_bytes())).unwrap()),
            [
                "line 2 -",
                "line 3 -",
                "line 4 03x51",
                "line 5 kreis:031510000000 kept",
                "line 6 kreis:031520000000 kept",
            ]
        );
    }

    #[test]
    fn bad_lines_are_rejected_one_by_one() {
        let good = line("10", "03", "Niedersachsen", "", "");
        let input = [
            good.clone(),
            "6020251130".to_owned(),
            line("70", "03151", "Unbekannt", "", ""),
            line("40", "03x51", "Gifhorn", "", "44"),
            line("40", "03151", "Gifhorn", "", "44").replace("20251130", "20251331"),
            line("40", "03151   0001", "Gifhorn", "", "44"),
            line("60", "031510015406", "Adenbüttel", "", ""),
            line("40", "03152", "", "", "44"),
            line("40", "03153", "Goslar", "", "4x"),
            good.clone(),
            line("40", "03154", "Helmstedt", "", "52"),
            String::new(),
        ]
        .join("\n");
        check(
            &input,
            &[
                "line 1 land ars=030000000000 ags= name=Niedersachsen tk= kreis= verband= stand=2025-11-30 sitz=",
                "reject line 2: line too short (10 characters; a record needs at least 23: type, Gebietsstand, key, name)",
                "reject line 3: unknown record type \"70\" in columns 1–2 (expected 10, 20, 30, 40, 50 or 60)",
                "reject line 4: key columns 11–15 should be digits, found \"03x51\"",
                "reject line 5: Gebietsstand \"20251331\" in columns 3–10 is not a date YYYYMMDD",
                "reject line 6: key columns 16–22 should be blank for this record type, found \"   0001\"",
                "reject line 7: Textkennzeichen (columns 123–124) is missing; record type 60 needs one",
                "reject line 8: name (columns 23–72) is empty",
                "reject line 9: Textkennzeichen \"4x\" in columns 123–124 is not two digits",
                "reject line 10: a record with the same level and ARS came earlier in this payload; kept the first",
                "warning line 11: Textkennzeichen 52 is unusual for record type 40 (expected 41–45)",
                "line 11 kreis ars=031540000000 ags= name=Helmstedt tk=52 kreis= verband= stand=2025-11-30 sitz=",
            ],
        );
    }

    #[test]
    fn a_differing_gebietsstand_is_a_warning() {
        let input = [
            line("10", "03", "Niedersachsen", "", ""),
            line("40", "03151", "Gifhorn", "", "44").replace("20251130", "20241231"),
        ]
        .join("\n");
        check(
            &input,
            &[
                "line 1 land ars=030000000000 ags= name=Niedersachsen tk= kreis= verband= stand=2025-11-30 sitz=",
                "warning line 2: Gebietsstand 2024-12-31 differs from the first record's 2025-11-30; one edition should carry one date",
                "line 2 kreis ars=031510000000 ags= name=Gifhorn tk=44 kreis= verband= stand=2024-12-31 sitz=",
            ],
        );
    }

    #[test]
    fn an_iso_8859_1_edition_reads_by_characters() {
        let text = format!(
            "{}\r\n{}\r\n",
            line("10", "03", "Niedersachsen", "", ""),
            line("60", "031510015406", "Adenbüttel", "", "64")
        );
        let latin1: Vec<u8> = text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap())
            .collect();
        let out = run(&latin1);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(
            matches!(&out[1], Out::Rec(s) if s.contains("name=Adenbüttel") && s.contains("tk=64")),
            "{out:?}"
        );
    }

    #[test]
    fn non_utf8_line_in_a_utf8_file_is_rejected() {
        let mut input = line("10", "03", "Niedersachsen", "", "").into_bytes();
        input.push(b'\n');
        input.extend(line("40", "03151", "Gifhorn", "Gifhorn", "").bytes());
        input.extend("  Müden\n".bytes());
        // "Adenbüttel" in Latin-1: the ü is the single byte 0xFC.
        let latin1 = line("60", "031510015406", "Adenb_ttel", "", "64").replace('_', "\u{0}");
        input.extend(latin1.bytes().map(|b| if b == 0 { 0xFC } else { b }));
        let out = run(&input);
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(
            matches!(&out[2], Out::Rej("reject", pos, reason) if pos == "line 3" && reason.contains("not UTF-8")),
            "{out:?}"
        );
    }

    #[test]
    fn not_gv100ad_at_all() {
        for (input, why) in [
            (&b""[..], "the payload is empty"),
            (b"\n\n  \n", "the payload is empty"),
            (
                b"<!DOCTYPE html>\n<html><body>Wartungsarbeiten</body></html>\n",
                "the first line is not",
            ),
            (b"\xFF\xD8\xFF\xE0\x00\x10JFIF", "so it is binary"),
            (b"Satzart;Gebietsstand;ARS;Name\n", "the first line is not"),
        ] {
            let out = run(input);
            assert_eq!(out.len(), 1, "{out:?}");
            assert!(
                matches!(&out[0], Out::NotFormat(e) if e.contains(why)),
                "{out:?}"
            );
        }
    }

    #[test]
    fn byte_order_mark_and_blank_lines_are_tolerated() {
        let input = format!("\u{FEFF}{}\n\n", line("10", "03", "Niedersachsen", "", ""));
        check(
            &input,
            &["line 1 land ars=030000000000 ags= name=Niedersachsen tk= kreis= verband= stand=2025-11-30 sitz="],
        );
    }

    #[test]
    fn a_line_past_the_bound_is_refused_without_reading_it_whole() {
        let land = line("10", "03", "Niedersachsen", "", "");
        let long = "6".repeat(MAX_LINE_BYTES * 3);
        let first = "line 1 land ars=030000000000 ags= name=Niedersachsen tk= kreis= verband= stand=2025-11-30 sitz=";
        let too_long = format!(
            "reject line 2: the line is longer than {MAX_LINE_BYTES} bytes; a GV100AD record has 220 characters"
        );
        // Reading goes on at the next line (here a duplicate of line 1).
        let duplicate = "reject line 3: a record with the same level and ARS came earlier in this payload; kept the first";
        check(
            &format!("{land}\n{long}\n{land}\n"),
            &[first, &too_long, duplicate],
        );
        check(
            &long,
            &[&format!(
                "ERR not a GV100AD payload (line 1): the line is longer than {MAX_LINE_BYTES} bytes; a GV100AD record has 220 characters"
            )],
        );
    }

    #[test]
    fn gemeinde_versus_gemeindefreies_gebiet() {
        let rec = |tk: &str, level| MunicipalityRecord {
            level,
            ars: "031510015406".into(),
            ags: None,
            name: "x".into(),
            textkennzeichen: Some(tk.into()),
            kreis_ars: None,
            verband_ars: None,
            gebietsstand: "2025-11-30".into(),
            sitz: None,
        };
        for (tk, level, gemeinde, gemfrei) in [
            ("61", Level::Gemeinde, true, false),
            ("64", Level::Gemeinde, true, false),
            ("65", Level::Gemeinde, false, true),
            ("66", Level::Gemeinde, false, true),
            // große Kreisstadt (Böblingen): a Gemeinde, not gemeindefrei.
            ("67", Level::Gemeinde, true, false),
            ("68", Level::Gemeinde, false, false),
            ("64", Level::Verband, false, false),
        ] {
            assert_eq!(is_gemeinde(&rec(tk, level)), gemeinde, "{tk}");
            assert_eq!(is_gemeindefreies_gebiet(&rec(tk, level)), gemfrei, "{tk}");
        }
    }
}
