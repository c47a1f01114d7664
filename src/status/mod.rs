//! Onlinedienst status over time, as pure logic: the status vocabulary, subjects
//! (LeiKa key or EfA service) and scopes (Ressort or municipality ARS), and the
//! resolution of "status as of a date" from append-only events. No database here:
//! `report` validates status reports (CSV, or XLSX streamed row by row), `sorted`
//! holds a report's valid rows in bounded memory (its only I/O: anonymous
//! temporary files for sorted runs), and `store::status` writes and reads the
//! events.

pub mod report;
pub mod sorted;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

/// The status vocabulary, in rollout order. The string form is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    NichtBegonnen,
    Geplant,
    Beauftragt,
    InUmsetzung,
    Pilot,
    Produktiv,
    Eingestellt,
    Abgelehnt,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::NichtBegonnen,
        Status::Geplant,
        Status::Beauftragt,
        Status::InUmsetzung,
        Status::Pilot,
        Status::Produktiv,
        Status::Eingestellt,
        Status::Abgelehnt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::NichtBegonnen => "nicht_begonnen",
            Status::Geplant => "geplant",
            Status::Beauftragt => "beauftragt",
            Status::InUmsetzung => "in_umsetzung",
            Status::Pilot => "pilot",
            Status::Produktiv => "produktiv",
            Status::Eingestellt => "eingestellt",
            Status::Abgelehnt => "abgelehnt",
        }
    }

    /// Reads a status as people write it in spreadsheets: case, spaces and hyphens
    /// do not matter (`In Umsetzung`, `in-umsetzung`, `IN_UMSETZUNG`).
    /// The German label for tables and reports.
    pub fn label(self) -> &'static str {
        match self {
            Status::NichtBegonnen => "nicht begonnen",
            Status::Geplant => "geplant",
            Status::Beauftragt => "beauftragt",
            Status::InUmsetzung => "in Umsetzung",
            Status::Pilot => "Pilot",
            Status::Produktiv => "produktiv",
            Status::Eingestellt => "eingestellt",
            Status::Abgelehnt => "abgelehnt",
        }
    }

    /// Parses a stored code, leniently (case, spaces and dashes folded).
    pub fn parse(s: &str) -> Option<Status> {
        // Most rows carry the code itself; only other spellings need folding.
        if let Some(exact) = Status::from_code(s.as_bytes()) {
            return Some(exact);
        }
        let norm: String = s
            .trim()
            .chars()
            .map(|c| match c {
                ' ' | '-' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        Status::ALL.into_iter().find(|st| st.as_str() == norm)
    }

    /// A stored code exactly as stored (the CHECK constraints keep them canonical),
    /// without the allocation of the lenient [`Status::parse`].
    pub fn from_code(code: &[u8]) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().as_bytes() == code)
    }

    /// The stored integer of the status (`status_codes.code`, schema 0013): its
    /// position in [`Status::ALL`], from 1.
    pub fn ordinal(self) -> i64 {
        Status::ALL
            .iter()
            .position(|s| *s == self)
            .map_or(0, |i| i as i64 + 1)
    }

    /// The status of a stored integer ([`Status::ordinal`]).
    pub fn from_ordinal(code: i64) -> Option<Status> {
        usize::try_from(code)
            .ok()
            .and_then(|c| c.checked_sub(1))
            .and_then(|i| Status::ALL.get(i).copied())
    }

    /// The vocabulary for error messages.
    pub fn vocabulary() -> String {
        Status::ALL.map(Status::as_str).join(", ")
    }
}

/// What a status is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Subject {
    /// A 14-digit Leistungsschlüssel.
    Leika(String),
    /// An EfA service id (ozgsync's EfA release format).
    Efa(String),
}

impl Subject {
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Leika(_) => "leika",
            Subject::Efa(_) => "efa",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Subject::Leika(s) | Subject::Efa(s) => s,
        }
    }

    /// A CLI argument: a 14-digit key (or its URN) is a LeiKa key, anything else
    /// an EfA id.
    pub fn from_arg(arg: &str) -> Subject {
        if let Ok(key) = crate::model::Leistungsschluessel::parse_urn(arg) {
            Subject::Leika(key.to_string())
        } else {
            Subject::Efa(arg.trim().to_owned())
        }
    }
}

/// Where a status holds: for a Ressort (Land services) or a municipality.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Scope {
    /// The Ressort's id (stable across renames).
    Ressort(i64),
    /// A 12-digit ARS.
    Ars(String),
}

impl Scope {
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Ressort(_) => "ressort",
            Scope::Ars(_) => "ars",
        }
    }

    /// The stored form: the Ressort id as text, or the ARS.
    pub fn id(&self) -> String {
        match self {
            Scope::Ressort(id) => id.to_string(),
            Scope::Ars(ars) => ars.clone(),
        }
    }
}

/// One status event as far as resolution is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Insertion order: among events of one cell with the same effective date, the
    /// later recorded one wins (a correction made the same day).
    pub event_id: i64,
    pub subject: Subject,
    pub scope: Scope,
    pub status: Status,
    pub effective_on: NaiveDate,
}

/// A cell of the status matrix.
pub type Cell = (Subject, Scope);

/// The status of every cell as of `date`: per cell the event with the greatest
/// (effective_on, event_id) among those effective on or before `date`. Cells with no
/// such event are absent. This is the reference the SQL as-of queries must agree with.
pub fn as_of<'e>(
    events: impl IntoIterator<Item = &'e Event>,
    date: NaiveDate,
) -> BTreeMap<Cell, &'e Event> {
    let mut out: BTreeMap<Cell, &Event> = BTreeMap::new();
    for e in events {
        if e.effective_on > date {
            continue;
        }
        let cell = (e.subject.clone(), e.scope.clone());
        match out.get(&cell) {
            Some(cur) if (cur.effective_on, cur.event_id) >= (e.effective_on, e.event_id) => {}
            _ => {
                out.insert(cell, e);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        crate::model::date::parse_date(s).unwrap()
    }

    #[test]
    fn status_spellings() {
        let check = |input: &str, expected: Option<Status>| {
            assert_eq!(Status::parse(input), expected, "{input}");
        };
        check("produktiv", Some(Status::Produktiv));
        check(" In Umsetzung ", Some(Status::InUmsetzung));
        check("nicht-begonnen", Some(Status::NichtBegonnen));
        check("PILOT", Some(Status::Pilot));
        check("live", None);
        check("", None);
    }

    #[test]
    fn subject_from_argument() {
        assert_eq!(
            Subject::from_arg("urn:de:fim:leika:leistung:99012001001000"),
            Subject::Leika("99012001001000".into())
        );
        assert_eq!(Subject::from_arg("EfA-123"), Subject::Efa("EfA-123".into()));
    }

    #[test]
    fn as_of_takes_latest_effective_then_latest_recorded() {
        let ev = |id, status, on: &str| Event {
            event_id: id,
            subject: Subject::Leika("99012001001000".into()),
            scope: Scope::Ars("032410001001".into()),
            status,
            effective_on: d(on),
        };
        let events = [
            ev(1, Status::Geplant, "2024-01-01"),
            ev(2, Status::Produktiv, "2024-06-01"),
            // recorded later, effective earlier: a backdated correction of the pilot
            ev(3, Status::Pilot, "2024-03-01"),
            ev(4, Status::InUmsetzung, "2024-03-01"),
        ];
        let check = |date: &str, expected: Option<Status>| {
            let got = as_of(&events, d(date));
            assert_eq!(got.values().next().map(|e| e.status), expected, "{date}");
        };
        check("2023-12-31", None);
        check("2024-01-01", Some(Status::Geplant));
        check("2024-03-01", Some(Status::InUmsetzung));
        check("2024-05-31", Some(Status::InUmsetzung));
        check("2030-01-01", Some(Status::Produktiv));
    }
}
