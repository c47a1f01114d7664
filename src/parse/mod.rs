//! Parsers: bytes of one payload in, records and rejects out. Pure: no network, no
//! database. Every parser streams (memory does not grow with the payload) and yields
//! [`Item`]s through an iterator:
//!
//! - `Ok(Item::Record { .. })` a good record (or a retirement, for formats that carry
//!   deletions such as XZuFi `loesche`);
//! - `Ok(Item::Reject(..))` one bad row or record, with where and why; parsing goes on.
//!   A reject whose key is itself valid says so ([`Reject::key_valid`]): the record is
//!   still in the payload, only its new data is bad, so the store keeps the key's
//!   current version instead of retiring it;
//!   warnings (an unknown Typisierung code) are rejects with `Severity::Warning` that
//!   accompany a record that is still kept;
//! - `Err(ParseError)` the payload is not the format at all (HTML error page, wrong
//!   header, truncated XML, undecodable bytes); the iterator yields nothing after it
//!   and the caller rejects the whole release.
//!
//! Every format has one entry, `parse(input) -> Result<Items, ParseError>` over a
//! buffered, seekable input, and [`Format`] is the table of them: `sync` picks the
//! format of a source kind and hands the items to the store through [`Consume`];
//! the fuzz targets and tests call the same entries. Parsers that read a bit of
//! input at a time and queue what it yields implement [`Step`] and are driven by
//! [`Queued`].

pub mod csv_text;
pub mod efa;
pub mod fim_api;
pub mod gv100ad;
pub mod json_strict;
pub mod leika_csv;
pub mod ozg;
pub mod pvog;
pub mod text;
pub mod xlsx_sheet;
pub mod xzufi;

use std::collections::VecDeque;
use std::io::{BufRead, Seek};

use serde::Serialize;

use crate::model::Record;

/// What one good input record asks the store to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<T> {
    /// Insert or update the record under its key.
    Upsert(T),
    /// The source says this key is gone (XZuFi `loesche`). Only meaningful for
    /// incremental payloads; full payloads retire by absence.
    Retire { key: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item<T> {
    Record {
        /// Where the record stood, e.g. `line 12` or `record 3`.
        position: String,
        change: Change<T>,
    },
    Reject(Reject),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The row was dropped.
    Reject,
    /// The row was kept; something in it is suspicious (e.g. unknown code).
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Reject => "reject",
            Severity::Warning => "warning",
        }
    }
}

/// One rejected (or warned-about) row, stored with the release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reject {
    pub severity: Severity,
    /// `line 12`, `record 3`, `line 40, column Typ`.
    pub position: String,
    /// The record's key as far as it could be read.
    pub key: Option<String>,
    /// `key` is a valid key, spelled as the store keys the record (`<level>:<ars>` for
    /// GV100AD). Set only through [`Reject::key_checked`], so every parser states
    /// the rule it checked. A full release keeps the current version of such a key
    /// rather than retire it: the key is still published, only its new data is bad.
    pub key_valid: bool,
    /// What is wrong and, where it helps, what to do about it.
    pub reason: String,
    /// The raw row or value, shortened to a few hundred characters.
    pub raw: Option<String>,
}

impl Reject {
    // Reads as the pair `Reject::reject(..)` / `Reject::warning(..)`.
    #[allow(clippy::self_named_constructors)]
    pub fn reject(
        position: impl Into<String>,
        key: Option<String>,
        reason: impl Into<String>,
    ) -> Self {
        Reject {
            severity: Severity::Reject,
            position: position.into(),
            key,
            key_valid: false,
            reason: reason.into(),
            raw: None,
        }
    }

    pub fn warning(
        position: impl Into<String>,
        key: Option<String>,
        reason: impl Into<String>,
    ) -> Self {
        Reject {
            severity: Severity::Warning,
            ..Reject::reject(position, key, reason)
        }
    }

    /// Marks the key valid when it passes `valid`, the parser's own key rule; an
    /// absent key stays invalid.
    pub fn key_checked(mut self, valid: impl FnOnce(&str) -> bool) -> Self {
        self.key_valid = self.key.as_deref().is_some_and(valid);
        self
    }

    pub fn with_raw(mut self, raw: impl AsRef<str>) -> Self {
        self.raw = Some(shorten(raw.as_ref(), 400));
        self
    }
}

/// Why a published URL is no address, when it holds a character no written URL
/// holds: a control (C0 with tab and line breaks, DEL, C1) or the noncharacters
/// U+FFFE and U+FFFF, which XML (and so a workbook's link) forbids. The URL parser
/// would let it through (it drops tabs and line breaks and percent-encodes other
/// controls); stored as published it reached every report and the site. `field`
/// names the column. The one rule for the EfA and PVOG parsers.
pub(crate) fn url_fault(field: &str, url: &str) -> Option<String> {
    let (at, c) = url
        .chars()
        .enumerate()
        .find(|&(_, c)| c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}'))?;
    Some(format!(
        "{field}: {url:?} holds U+{:04X} at character {}, a control character or \
         noncharacter that no address holds (left by a copy or an export): correct \
         the URL in the source",
        c as u32,
        at + 1
    ))
}

/// The warning of a LeiKa service whose Typisierung has codes that are not in the
/// code list (`urn:de:fim:leika:typisierung`), if it has; `column` names the field
/// the codes are in (`Typ` of the CSV, `typisierung` of XZuFi), `position` where.
/// The service is kept.
pub(crate) fn unknown_typisierung(
    codes: &[String],
    position: String,
    column: &str,
    key: Option<String>,
) -> Option<Reject> {
    let unknown: Vec<String> = codes
        .iter()
        .filter(|c| !crate::model::TYPISIERUNG_CODES.contains(&c.as_str()))
        .map(|c| format!("'{c}'"))
        .collect();
    (!unknown.is_empty()).then(|| {
        Reject::warning(
            position,
            key,
            format!(
                "{column} has code(s) {} that are not in the Typisierung code list \
                 (urn:de:fim:leika:typisierung); the service was kept with the codes as published",
                unknown.join(", ")
            ),
        )
    })
}

/// The payload as a whole is not what the source kind expects.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not {} {expected} payload ({position}): {reason}", article(expected))]
    NotFormat {
        expected: &'static str,
        position: String,
        reason: String,
    },
    #[error("reading payload: {0}")]
    Io(#[from] std::io::Error),
}

impl ParseError {
    pub fn not_format(
        expected: &'static str,
        position: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ParseError::NotFormat {
            expected,
            position: position.into(),
            reason: reason.into(),
        }
    }
}

/// The English indefinite article for a format's name: "an" before a vowel sound
/// ("an EfA release", "an annotation sheet", "an OZG-Leistungen CSV", "an XZuFi
/// 2.2.0" read as "ex"), else "a" ("a LeiKa CSV", "a GV100AD").
fn article(name: &str) -> &'static str {
    match name.bytes().next().map(|b| b.to_ascii_uppercase()) {
        Some(b'A' | b'E' | b'I' | b'O' | b'U' | b'X') => "an",
        _ => "a",
    }
}

/// Shortens `s` to at most `max` characters (not bytes), marking the cut.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// An iterator of parse items, as every parser returns.
pub type Items<'a, T> = Box<dyn Iterator<Item = Result<Item<T>, ParseError>> + 'a>;

/// The source formats, each with its one parser entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// LeiKa catalogue CSV ([`leika_csv::parse`]).
    LeikaCsv,
    /// XZuFi 2.2.0 XML ([`xzufi::parse`]).
    Xzufi,
    /// A stored FIM Portal API pull ([`fim_api::parse`]).
    FimApi,
    /// GV100AD fixed-width ([`gv100ad::parse`]).
    Gv100ad,
    /// ozgsync's EfA release format ([`efa::parse`]).
    Efa,
    /// OZG-Leistungen CSV ([`ozg::parse_leistungen`]).
    OzgLeistungen,
    /// LeiKa → OZG map CSV ([`ozg::parse_map`]).
    OzgMap,
    /// A stored Dashboard Digitale Verwaltung pull ([`pvog::parse`]).
    Pvog,
}

/// What is done with a format's items, whatever record type the format yields:
/// `sync` applies them as one release, [`Drain`] reads them through.
pub trait Consume {
    type Output;
    fn consume<T: Record>(self, items: Items<'_, T>) -> Self::Output;
}

impl Format {
    /// The format's name in "not a … payload".
    pub fn name(self) -> &'static str {
        match self {
            Format::LeikaCsv => leika_csv::EXPECTED,
            Format::Xzufi => xzufi::EXPECTED,
            Format::FimApi => fim_api::FORMAT,
            Format::Gv100ad => gv100ad::FORMAT,
            Format::Efa => efa::EXPECTED,
            Format::OzgLeistungen => ozg::EXPECTED_LEISTUNGEN,
            Format::OzgMap => ozg::EXPECTED_MAP,
            Format::Pvog => pvog::FORMAT,
        }
    }

    /// Parses `input` as this format and hands the items to `consumer`. Fails
    /// before anything is consumed when the payload is not the format at all
    /// (formats that find that out later end their items with the error).
    pub fn parse<'a, R: BufRead + Seek + 'a, C: Consume>(
        self,
        mut input: R,
        consumer: C,
    ) -> Result<C::Output, ParseError> {
        // One check for every format: a `.gz` file given as it came would otherwise
        // be "NUL bytes", "not JSON" or a bad character reference, per parser.
        if csv_text::is_gzip(input.fill_buf()?) {
            return Err(ParseError::not_format(
                self.name(),
                "byte 0",
                csv_text::GZIP_COMPRESSED,
            ));
        }
        // And a text payload cut inside a character, which each line parser would
        // take for one bad last row and apply the rest.
        csv_text::refuse_cut_inside_a_character(&mut input, self.name())?;
        Ok(match self {
            Format::LeikaCsv => consumer.consume(leika_csv::parse(input)?),
            Format::Xzufi => consumer.consume(xzufi::parse(input)?),
            Format::FimApi => consumer.consume(fim_api::parse(input)?),
            Format::Gv100ad => consumer.consume(gv100ad::parse(input)?),
            Format::Efa => consumer.consume(efa::parse(input)?),
            Format::OzgLeistungen => consumer.consume(ozg::parse_leistungen(input)?),
            Format::OzgMap => consumer.consume(ozg::parse_map(input)?),
            Format::Pvog => consumer.consume(pvog::parse(input)?),
        })
    }
}

/// What [`Drain`] read: good records (and retirements), rejects and warnings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    pub records: usize,
    pub rejects: usize,
    pub warnings: usize,
}

/// Reads a format's items through to the end or to the first error (which ends
/// them): the fuzz targets' consumer, and a quick count for tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Drain;

impl Consume for Drain {
    type Output = Result<Drained, ParseError>;
    fn consume<T: Record>(self, items: Items<'_, T>) -> Self::Output {
        let mut out = Drained::default();
        for item in items {
            match item? {
                Item::Record { .. } => out.records += 1,
                Item::Reject(r) if r.severity == Severity::Warning => out.warnings += 1,
                Item::Reject(_) => out.rejects += 1,
            }
        }
        Ok(out)
    }
}

/// One step of a parser that reads a bit of input at a time (a line, an XML
/// event, a page) and queues the items it yields in [`Step::pending`].
pub(crate) trait Step {
    type Record;
    /// The queue the step fills; [`Queued`] empties it before the next step.
    fn pending(&mut self) -> &mut VecDeque<Item<Self::Record>>;
    /// Reads the next bit of input; `Ok(false)` at the regular end of the input.
    fn step(&mut self) -> Result<bool, ParseError>;
}

/// The iterator of every queueing parser: hands out the queued items, steps when
/// the queue is empty, and yields nothing after the end or after an error (whose
/// half-queued items are dropped).
pub(crate) struct Queued<S> {
    steps: S,
    done: bool,
}

impl<S: Step> Queued<S> {
    pub(crate) fn new(steps: S) -> Queued<S> {
        Queued { steps, done: false }
    }
}

impl<S: Step> Iterator for Queued<S> {
    type Item = Result<Item<S::Record>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.steps.pending().pop_front() {
                return Some(Ok(item));
            }
            if self.done {
                return None;
            }
            match self.steps.step() {
                Ok(true) => {}
                Ok(false) => self.done = true,
                Err(e) => {
                    self.done = true;
                    self.steps.pending().clear();
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn a_format_is_named_with_its_article() {
        let message = |expected| ParseError::not_format(expected, "line 1", "x").to_string();
        assert_eq!(
            message("EfA release"),
            "not an EfA release payload (line 1): x"
        );
        assert_eq!(
            message("annotation sheet (CSV)"),
            "not an annotation sheet (CSV) payload (line 1): x"
        );
        assert_eq!(
            message("XZuFi 2.2.0"),
            "not an XZuFi 2.2.0 payload (line 1): x"
        );
        assert_eq!(message("LeiKa CSV"), "not a LeiKa CSV payload (line 1): x");
        assert_eq!(message("GV100AD"), "not a GV100AD payload (line 1): x");
    }

    #[test]
    fn every_format_reads_through_the_one_entry() {
        let leika = "Schluessel;Bezeichnung\n99012001001000;Wohngeld\nkein Schluessel;x\n";
        let drained = Format::LeikaCsv
            .parse(Cursor::new(leika), Drain)
            .unwrap()
            .unwrap();
        assert_eq!((drained.records, drained.rejects), (1, 1));
        // Not the format: an error, from the entry or from the items.
        for format in [
            Format::LeikaCsv,
            Format::Xzufi,
            Format::FimApi,
            Format::Gv100ad,
            Format::Efa,
            Format::OzgLeistungen,
            Format::OzgMap,
            Format::Pvog,
        ] {
            let html = Cursor::new("<html><body>Wartungsarbeiten</body></html>");
            let result = format.parse(html, Drain).and_then(|drained| drained);
            assert!(
                matches!(result, Err(ParseError::NotFormat { .. })),
                "{format:?}: {result:?}"
            );
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
pub use test_support::reject_keys;
