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

use serde::Serialize;

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

/// The payload as a whole is not what the source kind expects.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not a {expected} payload ({position}): {reason}")]
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

/// Shortens `s` to at most `max` characters (not bytes), marking the cut.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// An iterator of parse items, as every parser returns.
pub type Items<'a, T> = Box<dyn Iterator<Item = Result<Item<T>, ParseError>> + 'a>;

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
pub use test_support::reject_keys;
