//! Lower Saxony's annotations per LeiKa key (responsible Ressort, executing level,
//! implementation path, EfA service, priority, target date, remark): the typed
//! values, and the pure validation of an imported sheet against what the database
//! knows. No I/O here: `csv.rs` reads and writes the spreadsheet form,
//! `store::annotations` loads [`Known`] and applies the validated rows.
//!
//! Cell rules (README, "Annotations"): an empty cell keeps the current value, `-`
//! clears it, anything else sets it. A row is valid or refused as a whole.

pub mod csv;
pub mod xlsx;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::model::date::parse_date;
pub use crate::model::vocab::Vollzug;
use crate::model::vocab::{slug, vocabulary};
use crate::model::Leistungsschluessel;

vocabulary! {
    /// How Lower Saxony implements the online service.
    Umsetzungsweg {
        /// Reuse of an EfA service (the EfA-ID names which).
        Efa => "efa",
        /// "Wir für Uns": built by the Land, usually on its form platform NAVO.
        WfuNavo => "wfu_navo",
        Eigenloesung => "eigenloesung",
        Keine => "keine",
        /// Not offered online, with a reason (law requires presence, uneconomic).
        Depriorisiert => "depriorisiert",
    }
}

impl Umsetzungsweg {
    /// The spreadsheet label.
    pub fn label(self) -> &'static str {
        match self {
            Umsetzungsweg::Efa => "EfA",
            Umsetzungsweg::WfuNavo => "WfU/NAVO",
            Umsetzungsweg::Eigenloesung => "Eigenlösung",
            Umsetzungsweg::Keine => "keine",
            Umsetzungsweg::Depriorisiert => "depriorisiert",
        }
    }
}

/// The cell that clears a value.
pub const CLEAR: &str = "-";

/// The annotated fields, in sheet order. `column` is the database column and the
/// field name in the audit trail; `header` the spreadsheet column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Ressort,
    Vollzug,
    Umsetzungsweg,
    EfaId,
    DepriorisierungGrund,
    Prioritaet,
    Zieldatum,
    Bemerkung,
}

impl Field {
    pub const ALL: [Field; 8] = [
        Field::Ressort,
        Field::Vollzug,
        Field::Umsetzungsweg,
        Field::EfaId,
        Field::DepriorisierungGrund,
        Field::Prioritaet,
        Field::Zieldatum,
        Field::Bemerkung,
    ];

    /// Name in the database and the audit trail.
    pub fn column(self) -> &'static str {
        match self {
            Field::Ressort => "ressort",
            Field::Vollzug => "vollzug",
            Field::Umsetzungsweg => "umsetzungsweg",
            Field::EfaId => "efa_id",
            Field::DepriorisierungGrund => "depriorisierung_grund",
            Field::Prioritaet => "prioritaet",
            Field::Zieldatum => "zieldatum",
            Field::Bemerkung => "bemerkung",
        }
    }

    /// Spreadsheet column header.
    pub fn header(self) -> &'static str {
        match self {
            Field::Ressort => "Ressort",
            Field::Vollzug => "Vollzug",
            Field::Umsetzungsweg => "Umsetzungsweg",
            Field::EfaId => "EfA-ID",
            Field::DepriorisierungGrund => "Depriorisierungsgrund",
            Field::Prioritaet => "Priorität",
            Field::Zieldatum => "Zieldatum",
            Field::Bemerkung => "Bemerkung",
        }
    }
}

/// The annotation of one key as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Annotation {
    pub ressort_id: Option<i64>,
    pub vollzug: Option<Vollzug>,
    pub umsetzungsweg: Option<Umsetzungsweg>,
    pub efa_id: Option<String>,
    pub depriorisierung_grund: Option<String>,
    /// 1 (highest) to 3.
    pub prioritaet: Option<u8>,
    /// `YYYY-MM-DD`.
    pub zieldatum: Option<String>,
    pub bemerkung: Option<String>,
}

impl Annotation {
    /// Each field as audit text (the Ressort by its Kürzel, codes by stored form).
    pub fn values(&self, known: &Known) -> [(Field, Option<String>); 8] {
        [
            (
                Field::Ressort,
                self.ressort_id.map(|id| known.kuerzel_of(id)),
            ),
            (Field::Vollzug, self.vollzug.map(|v| v.as_str().to_owned())),
            (
                Field::Umsetzungsweg,
                self.umsetzungsweg.map(|u| u.as_str().to_owned()),
            ),
            (Field::EfaId, self.efa_id.clone()),
            (
                Field::DepriorisierungGrund,
                self.depriorisierung_grund.clone(),
            ),
            (Field::Prioritaet, self.prioritaet.map(|p| p.to_string())),
            (Field::Zieldatum, self.zieldatum.clone()),
            (Field::Bemerkung, self.bemerkung.clone()),
        ]
    }

    fn is_empty(&self) -> bool {
        *self == Annotation::default()
    }
}

/// What a cell asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit<T> {
    Keep,
    Clear,
    Set(T),
}

impl<T: Clone> Edit<T> {
    pub(crate) fn apply(&self, current: &Option<T>) -> Option<T> {
        match self {
            Edit::Keep => current.clone(),
            Edit::Clear => None,
            Edit::Set(v) => Some(v.clone()),
        }
    }
}

/// What the database knows that a sheet is checked against.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Keys current in the LeiKa catalogue.
    pub current_keys: HashSet<String>,
    /// Keys that were in the catalogue and are retired.
    pub retired_keys: HashSet<String>,
    /// Current Ressort Kürzel → ressort_id, in ressort_id order.
    pub ressorts: Vec<(String, i64)>,
    /// EfA ids current in the EfA catalogue.
    pub efa_ids: HashSet<String>,
    /// Current annotations by key.
    pub existing: HashMap<String, Annotation>,
}

impl Known {
    fn ressort_by_kuerzel(&self, kuerzel: &str) -> Option<i64> {
        self.ressorts
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(kuerzel))
            .map(|(_, id)| *id)
    }

    /// The current Kürzel of a Ressort (its id as text if it has none).
    pub fn kuerzel_of(&self, id: i64) -> String {
        self.ressorts
            .iter()
            .find(|(_, i)| *i == id)
            .map_or_else(|| format!("#{id}"), |(k, _)| k.clone())
    }
}

/// One data row of a sheet as read: the key cell and the cells of the annotated
/// columns the sheet has (a column the sheet lacks is "keep").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow<F: Ord = Field> {
    /// Line in the file (the header is line 1).
    pub line: u64,
    pub key: String,
    pub cells: BTreeMap<F, String>,
    /// Set when the row has more cells than the header.
    pub overflow: Option<(usize, usize)>,
}

/// One problem of a sheet, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: u64,
    /// The column header, when the problem is in one cell.
    pub column: Option<&'static str>,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "line {}, column {c}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// A row that passed: the key's annotation before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRow {
    pub line: u64,
    pub leistungsschluessel: String,
    pub before: Option<Annotation>,
    pub after: Annotation,
}

impl ValidRow {
    /// The fields that change, as audit text: (field, old, new).
    pub fn changes(&self, known: &Known) -> Vec<(Field, Option<String>, Option<String>)> {
        let before = self.before.clone().unwrap_or_default().values(known);
        let after = self.after.values(known);
        before
            .into_iter()
            .zip(after)
            .filter(|((_, old), (_, new))| old != new)
            .map(|((field, old), (_, new))| (field, old, new))
            .collect()
    }

    /// Whether applying the row writes anything.
    pub fn is_noop(&self) -> bool {
        match &self.before {
            Some(before) => *before == self.after,
            None => self.after.is_empty(),
        }
    }
}

/// The outcome of validating a sheet (of annotations, or another coordinators'
/// sheet with its own valid rows `R`).
#[derive(Debug, Clone)]
pub struct Validation<R = ValidRow> {
    pub valid: Vec<R>,
    pub errors: Vec<RowError>,
    /// Lines refused (a line with several errors counts once).
    pub refused_lines: Vec<u64>,
}

impl<R> Validation<R> {
    /// Settles one row: valid when it has no errors, else refused with them.
    pub(crate) fn settle(&mut self, line: u64, mut errors: Vec<RowError>, valid: R) {
        if errors.is_empty() {
            self.valid.push(valid);
        } else {
            self.refused_lines.push(line);
            self.errors.append(&mut errors);
        }
    }
}

/// The error of a row with more cells than the header, if it has.
pub(crate) fn overflow(row_overflow: Option<(usize, usize)>) -> Option<String> {
    row_overflow.map(|(cells, width)| {
        format!("the row has {cells} cells but the header only {width}; is a value split by an unquoted delimiter?")
    })
}

impl<R> Default for Validation<R> {
    fn default() -> Self {
        Validation {
            valid: Vec::new(),
            errors: Vec::new(),
            refused_lines: Vec::new(),
        }
    }
}

/// Validates every row against `known`. Pure: the same rows and knowledge give the
/// same result, so the whole sheet is checked before anything is written.
pub fn validate(rows: &[RawRow], known: &Known) -> Validation {
    let mut out = Validation::default();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    for row in rows {
        let mut errors = Vec::new();
        let mut err = |column: Option<&'static str>, message: String| {
            errors.push(RowError {
                line: row.line,
                column,
                message,
            });
        };
        if let Some(message) = overflow(row.overflow) {
            err(None, message);
        }
        let key = Leistungsschluessel::strip_urn(&row.key);
        let key_col = Some(csv::KEY_HEADER);
        if key.is_empty() {
            err(
                key_col,
                "missing; every row needs the 14-digit Leistungsschlüssel".into(),
            );
        } else if !Leistungsschluessel::is_valid(key) {
            err(
                key_col,
                format!("{key:?} is not a 14-digit Leistungsschlüssel (e.g. 99012001001000); in Excel, format the column as text so leading digits survive"),
            );
        } else if let Some(first) = first_line.get(key) {
            err(
                key_col,
                format!("{key} already appears on line {first}; give each key one row"),
            );
        } else {
            first_line.insert(key.to_owned(), row.line);
            if known.retired_keys.contains(key) {
                err(
                    key_col,
                    format!("{key} has been retired from the LeiKa catalogue; its annotation is kept but can no longer be changed (see `ozgsync annotations orphans`)"),
                );
            } else if !known.current_keys.contains(key) {
                err(
                    key_col,
                    format!("{key} is not in the current LeiKa catalogue"),
                );
            }
        }

        let cell = |f: Field| row.cells.get(&f).map(|s| s.trim()).unwrap_or_default();
        let mut edit_errors = Vec::new();
        let ressort = parse_cell(
            cell(Field::Ressort),
            Field::Ressort,
            &mut edit_errors,
            |s| {
                known.ressort_by_kuerzel(s).ok_or_else(|| {
                    format!(
                        "unknown Ressort {s:?}; known: {}",
                        known
                            .ressorts
                            .iter()
                            .map(|(k, _)| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            },
        );
        let vollzug = parse_cell(
            cell(Field::Vollzug),
            Field::Vollzug,
            &mut edit_errors,
            |s| {
                Vollzug::parse(&slug(s))
                    .ok_or_else(|| format!("{s:?} is not a Vollzug; allowed: Land, Kommune, beide"))
            },
        );
        let weg = parse_cell(
            cell(Field::Umsetzungsweg),
            Field::Umsetzungsweg,
            &mut edit_errors,
            |s| {
                Umsetzungsweg::parse(&slug(s)).ok_or_else(|| {
                    format!("{s:?} is not an Umsetzungsweg; allowed: EfA, WfU/NAVO, Eigenlösung, keine, depriorisiert")
                })
            },
        );
        let efa_id = parse_cell(cell(Field::EfaId), Field::EfaId, &mut edit_errors, |s| {
            if known.efa_ids.contains(s) {
                Ok(s.to_owned())
            } else {
                Err(format!(
                    "unknown EfA service {s:?}: not in the current EfA catalogue (`ozgsync import efa FILE`, ids in view v_efa_services)"
                ))
            }
        });
        let grund = parse_cell(
            cell(Field::DepriorisierungGrund),
            Field::DepriorisierungGrund,
            &mut edit_errors,
            remark,
        );
        let prioritaet = parse_cell(
            cell(Field::Prioritaet),
            Field::Prioritaet,
            &mut edit_errors,
            |s| match s {
                "1" => Ok(1u8),
                "2" => Ok(2),
                "3" => Ok(3),
                _ => Err(format!(
                    "{s:?} is not a priority; allowed: 1 (highest), 2, 3"
                )),
            },
        );
        let zieldatum = parse_cell(
            cell(Field::Zieldatum),
            Field::Zieldatum,
            &mut edit_errors,
            |s| {
                parse_date(s)
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .ok_or_else(|| format!("{s:?} is not a date; write 31.12.2026 or 2026-12-31"))
            },
        );
        let bemerkung = parse_cell(
            cell(Field::Bemerkung),
            Field::Bemerkung,
            &mut edit_errors,
            remark,
        );
        let cells_ok = edit_errors.is_empty();
        for (field, message) in edit_errors {
            err(Some(field.header()), message);
        }

        let before = known.existing.get(key).cloned();
        let base = before.clone().unwrap_or_default();
        let after = Annotation {
            ressort_id: ressort.apply(&base.ressort_id),
            vollzug: vollzug.apply(&base.vollzug),
            umsetzungsweg: weg.apply(&base.umsetzungsweg),
            efa_id: efa_id.apply(&base.efa_id),
            depriorisierung_grund: grund.apply(&base.depriorisierung_grund),
            prioritaet: prioritaet.apply(&base.prioritaet),
            zieldatum: zieldatum.apply(&base.zieldatum),
            bemerkung: bemerkung.apply(&base.bemerkung),
        };
        // Cross-field rules only once each cell is valid on its own; otherwise they
        // would repeat the cell's error in other words.
        if cells_ok {
            for (field, message) in consistency(&after) {
                err(Some(field.header()), message);
            }
        }

        let valid = ValidRow {
            line: row.line,
            leistungsschluessel: key.to_owned(),
            before,
            after,
        };
        out.settle(row.line, errors, valid);
    }
    out
}

/// Reads one cell: empty keeps, [`CLEAR`] clears, anything else goes through `parse`.
pub(crate) fn parse_cell<T, F>(
    text: &str,
    field: F,
    errors: &mut Vec<(F, String)>,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Edit<T> {
    match text {
        "" => Edit::Keep,
        CLEAR => Edit::Clear,
        s => match parse(s) {
            Ok(v) => Edit::Set(v),
            Err(message) => {
                errors.push((field, message));
                Edit::Keep
            }
        },
    }
}

/// A free-text remark, refused when longer than the bound every sheet shares.
pub(crate) fn remark(s: &str) -> Result<String, String> {
    match crate::parse::csv_text::note_too_long(s) {
        Some(message) => Err(message),
        None => Ok(s.to_owned()),
    }
}

/// Rules between fields of the resulting annotation (mirrored by CHECK constraints
/// in schema 0002 for the two that the database enforces).
fn consistency(a: &Annotation) -> Vec<(Field, String)> {
    let mut out = Vec::new();
    let weg = a.umsetzungsweg;
    match (weg, &a.efa_id) {
        (Some(Umsetzungsweg::Efa), None) => out.push((
            Field::EfaId,
            "required when Umsetzungsweg is EfA: name the EfA service".to_owned(),
        )),
        (Some(w), Some(_)) if w != Umsetzungsweg::Efa => out.push((
            Field::EfaId,
            format!(
                "only allowed when Umsetzungsweg is EfA (it is {}); clear it with {CLEAR}",
                w.label()
            ),
        )),
        (None, Some(_)) => out.push((
            Field::EfaId,
            "only allowed when Umsetzungsweg is EfA (it is empty)".to_owned(),
        )),
        _ => {}
    }
    match (weg, &a.depriorisierung_grund) {
        (Some(Umsetzungsweg::Depriorisiert), None) => out.push((
            Field::DepriorisierungGrund,
            "required when Umsetzungsweg is depriorisiert: say why the service is not offered online".to_owned(),
        )),
        (Some(w), Some(_)) if w != Umsetzungsweg::Depriorisiert => out.push((
            Field::DepriorisierungGrund,
            format!(
                "only allowed when Umsetzungsweg is depriorisiert (it is {}); clear it with {CLEAR}",
                w.label()
            ),
        )),
        (None, Some(_)) => out.push((
            Field::DepriorisierungGrund,
            "only allowed when Umsetzungsweg is depriorisiert (it is empty)".to_owned(),
        )),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "99001001001000";
    const B: &str = "99001001002000";
    const RETIRED: &str = "99001001003000";

    fn known() -> Known {
        Known {
            current_keys: [A, B].iter().map(|s| s.to_string()).collect(),
            retired_keys: [RETIRED.to_string()].into(),
            ressorts: vec![("MI".into(), 2), ("MF".into(), 3), ("MS".into(), 4)],
            efa_ids: ["EFA-1".to_string()].into(),
            existing: [(
                B.to_string(),
                Annotation {
                    ressort_id: Some(2),
                    umsetzungsweg: Some(Umsetzungsweg::Efa),
                    efa_id: Some("EFA-1".into()),
                    bemerkung: Some("alt".into()),
                    ..Default::default()
                },
            )]
            .into(),
        }
    }

    fn row(line: u64, key: &str, cells: &[(Field, &str)]) -> RawRow {
        RawRow {
            line,
            key: key.into(),
            cells: cells.iter().map(|(f, s)| (*f, s.to_string())).collect(),
            overflow: None,
        }
    }

    /// Validates `rows` and compares the rendered errors.
    fn check_errors(rows: &[RawRow], expected: &[&str]) {
        let v = validate(rows, &known());
        let got: Vec<String> = v.errors.iter().map(ToString::to_string).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_valid_new_row_sets_fields() {
        let v = validate(
            &[row(
                2,
                A,
                &[
                    (Field::Ressort, "mf"),
                    (Field::Vollzug, "Kommune"),
                    (Field::Umsetzungsweg, "WfU/NAVO"),
                    (Field::Prioritaet, "1"),
                    (Field::Zieldatum, "31.12.2026"),
                ],
            )],
            &known(),
        );
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        assert_eq!(
            v.valid[0].after,
            Annotation {
                ressort_id: Some(3),
                vollzug: Some(Vollzug::Kommune),
                umsetzungsweg: Some(Umsetzungsweg::WfuNavo),
                prioritaet: Some(1),
                zieldatum: Some("2026-12-31".into()),
                ..Default::default()
            }
        );
        let changes = v.valid[0].changes(&known());
        assert_eq!(changes[0], (Field::Ressort, None, Some("MF".to_string())));
        assert_eq!(changes.len(), 5);
    }

    #[test]
    fn empty_keeps_and_dash_clears() {
        let v = validate(
            &[row(2, B, &[(Field::Bemerkung, "-"), (Field::Ressort, "")])],
            &known(),
        );
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        let after = &v.valid[0].after;
        assert_eq!(after.bemerkung, None);
        assert_eq!(after.ressort_id, Some(2));
        assert_eq!(after.efa_id.as_deref(), Some("EFA-1"));
        assert_eq!(
            v.valid[0].changes(&known()),
            vec![(Field::Bemerkung, Some("alt".into()), None)]
        );
    }

    #[test]
    fn unchanged_rows_are_noops() {
        let v = validate(&[row(2, B, &[]), row(3, A, &[])], &known());
        assert!(v.valid.iter().all(ValidRow::is_noop));
    }

    #[test]
    fn each_bad_cell_is_named_with_line_and_column() {
        check_errors(
            &[row(
                7,
                A,
                &[
                    (Field::Ressort, "MX"),
                    (Field::Vollzug, "Bund"),
                    (Field::Umsetzungsweg, "Fax"),
                    (Field::EfaId, "EFA-9"),
                    (Field::Prioritaet, "hoch"),
                    (Field::Zieldatum, "bald"),
                ],
            )],
            &[
                "line 7, column Ressort: unknown Ressort \"MX\"; known: MI, MF, MS",
                "line 7, column Vollzug: \"Bund\" is not a Vollzug; allowed: Land, Kommune, beide",
                "line 7, column Umsetzungsweg: \"Fax\" is not an Umsetzungsweg; allowed: EfA, WfU/NAVO, Eigenlösung, keine, depriorisiert",
                "line 7, column EfA-ID: unknown EfA service \"EFA-9\": not in the current EfA catalogue (`ozgsync import efa FILE`, ids in view v_efa_services)",
                "line 7, column Priorität: \"hoch\" is not a priority; allowed: 1 (highest), 2, 3",
                "line 7, column Zieldatum: \"bald\" is not a date; write 31.12.2026 or 2026-12-31",
            ],
        );
    }

    #[test]
    fn remarks_are_bounded() {
        let long = "x".repeat(crate::parse::csv_text::MAX_NOTE_BYTES + 1);
        let at_bound = "y".repeat(crate::parse::csv_text::MAX_NOTE_BYTES);
        check_errors(
            &[
                row(
                    2,
                    A,
                    &[(Field::Bemerkung, &long), (Field::DepriorisierungGrund, &long)],
                ),
                row(3, B, &[(Field::Bemerkung, &at_bound)]),
            ],
            &[
                "line 2, column Depriorisierungsgrund: 4097 bytes is longer than the 4096 bytes a remark may have; shorten it or put a link to a document",
                "line 2, column Bemerkung: 4097 bytes is longer than the 4096 bytes a remark may have; shorten it or put a link to a document",
            ],
        );
    }

    #[test]
    fn keys_must_be_current_and_once() {
        check_errors(
            &[
                row(2, "", &[]),
                row(3, "9900100100100", &[]),
                row(4, "99999999999999", &[]),
                row(5, RETIRED, &[]),
                row(6, A, &[]),
                row(7, A, &[]),
            ],
            &[
                "line 2, column Leistungsschlüssel: missing; every row needs the 14-digit Leistungsschlüssel",
                "line 3, column Leistungsschlüssel: \"9900100100100\" is not a 14-digit Leistungsschlüssel (e.g. 99012001001000); in Excel, format the column as text so leading digits survive",
                "line 4, column Leistungsschlüssel: 99999999999999 is not in the current LeiKa catalogue",
                "line 5, column Leistungsschlüssel: 99001001003000 has been retired from the LeiKa catalogue; its annotation is kept but can no longer be changed (see `ozgsync annotations orphans`)",
                "line 7, column Leistungsschlüssel: 99001001001000 already appears on line 6; give each key one row",
            ],
        );
    }

    #[test]
    fn fields_must_agree_with_the_umsetzungsweg() {
        check_errors(
            &[
                // B is EfA with EFA-1: switching to WfU/NAVO without clearing the id
                row(2, B, &[(Field::Umsetzungsweg, "WfU/NAVO")]),
                row(3, A, &[(Field::Umsetzungsweg, "EfA")]),
                row(4, A.replace("1000", "1001").as_str(), &[]),
            ],
            &[
                "line 2, column EfA-ID: only allowed when Umsetzungsweg is EfA (it is WfU/NAVO); clear it with -",
                "line 3, column EfA-ID: required when Umsetzungsweg is EfA: name the EfA service",
                "line 4, column Leistungsschlüssel: 99001001001001 is not in the current LeiKa catalogue",
            ],
        );
        let v = validate(
            &[row(
                2,
                B,
                &[
                    (Field::Umsetzungsweg, "depriorisiert"),
                    (Field::EfaId, "-"),
                    (
                        Field::DepriorisierungGrund,
                        "Schriftform gesetzlich vorgeschrieben",
                    ),
                ],
            )],
            &known(),
        );
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        check_errors(
            &[row(2, A, &[(Field::Umsetzungsweg, "depriorisiert")])],
            &["line 2, column Depriorisierungsgrund: required when Umsetzungsweg is depriorisiert: say why the service is not offered online"],
        );
    }

    #[test]
    fn refused_lines_count_once() {
        let v = validate(
            &[row(
                2,
                A,
                &[(Field::Ressort, "MX"), (Field::Prioritaet, "9")],
            )],
            &known(),
        );
        assert_eq!(v.errors.len(), 2);
        assert_eq!(v.refused_lines, vec![2]);
        assert!(v.valid.is_empty());
    }
}
