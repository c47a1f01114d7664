//! Lower Saxony's annotations per LeiKa key (responsible Ressort, executing level,
//! implementation path, EfA service, priority, target date, remark): the typed
//! values, and the pure validation of an imported sheet against what the database
//! knows. No I/O here: `csv.rs` reads and writes the spreadsheet form,
//! `store::annotations` loads [`Known`] and applies the validated rows.
//!
//! Cell rules (README, "Annotations"): an empty cell keeps the current value, `-`
//! clears it, anything else sets it. A row is valid or refused as a whole.

pub mod csv;
pub mod sheet;
pub mod xlsx;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::model::date::{not_a_date, parse_date};
pub use crate::model::vocab::Vollzug;
use crate::model::vocab::{slug, vocabulary};
use crate::model::Leistungsschluessel;
use sheet::{kuerzel_of, ressort_cell, sheet_fields, Catalogue, SheetKind};

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

sheet_fields! {
    /// The annotated fields, in sheet order. `column` is the database column and the
    /// field name in the audit trail; `header` the spreadsheet column.
    Field {
        Ressort => "ressort", "Ressort",
        Vollzug => "vollzug", "Vollzug",
        Umsetzungsweg => "umsetzungsweg", "Umsetzungsweg",
        EfaId => "efa_id", "EfA-ID",
        DepriorisierungGrund => "depriorisierung_grund", "Depriorisierungsgrund",
        Prioritaet => "prioritaet", "Priorität",
        Zieldatum => "zieldatum", "Zieldatum",
        Bemerkung => "bemerkung", "Bemerkung",
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
}

impl SheetKind for Annotation {
    type Field = Field;
    type Known = Known;
    const KEY_HEADER: &'static str = csv::KEY_HEADER;
    const NAME_HEADER: &'static str = csv::NAME_HEADER;
    const TEMPLATE: &'static str = "ozgsync template annotations";
    const ONE_ROW_EACH: &'static str = "give each key one row";

    fn key(cell: &str) -> (&str, Option<String>) {
        let key = Leistungsschluessel::strip_urn(cell);
        let malformed = if key.is_empty() {
            Some("missing; every row needs the 14-digit Leistungsschlüssel".into())
        } else if let Some(cause) =
            crate::model::keys::invisible_cause(key).filter(|_| !Leistungsschluessel::is_valid(key))
        {
            Some(format!(
                "{:?} is not a 14-digit Leistungsschlüssel: {cause}",
                key.trim_start_matches('\u{FEFF}')
            ))
        } else if !Leistungsschluessel::is_valid(key) {
            Some(format!("{key:?} is not a 14-digit Leistungsschlüssel (e.g. 99012001001000); in Excel, format the column as text so leading digits survive"))
        } else {
            None
        };
        (key, malformed)
    }

    fn catalogue(known: &Known) -> Catalogue<'_, Annotation> {
        Catalogue {
            current: &known.current_keys,
            retired: &known.retired_keys,
            existing: &known.existing,
        }
    }

    fn refused(key: &str, retired: bool) -> String {
        if retired {
            format!("{key} has been retired from the LeiKa catalogue; its annotation is kept but can no longer be changed (see `ozgsync annotations orphans`)")
        } else {
            format!("{key} is not in the current LeiKa catalogue")
        }
    }

    fn edit(
        row: &RawRow,
        known: &Known,
        base: &Annotation,
        e: &mut Vec<(Field, String)>,
    ) -> Annotation {
        Annotation {
            ressort_id: row.edit(Field::Ressort, &base.ressort_id, e, |s| {
                ressort_cell(&known.ressorts, s)
            }),
            vollzug: row.edit(Field::Vollzug, &base.vollzug, e, |s| {
                Vollzug::parse(&slug(s))
                    .ok_or_else(|| format!("{s:?} is not a Vollzug; allowed: Land, Kommune, beide"))
            }),
            umsetzungsweg: row.edit(Field::Umsetzungsweg, &base.umsetzungsweg, e, |s| {
                Umsetzungsweg::parse(&slug(s)).ok_or_else(|| {
                    format!("{s:?} is not an Umsetzungsweg; allowed: EfA, WfU/NAVO, Eigenlösung, keine, depriorisiert")
                })
            }),
            efa_id: row.edit(Field::EfaId, &base.efa_id, e, |s| {
                if known.efa_ids.contains(s) {
                    Ok(s.to_owned())
                } else {
                    Err(format!(
                        "unknown EfA service {s:?}: not in the current EfA catalogue (`ozgsync import efa FILE`, ids in view v_efa_services)"
                    ))
                }
            }),
            depriorisierung_grund: row.edit(
                Field::DepriorisierungGrund,
                &base.depriorisierung_grund,
                e,
                remark,
            ),
            prioritaet: row.edit(Field::Prioritaet, &base.prioritaet, e, |s| match s {
                "1" => Ok(1u8),
                "2" => Ok(2),
                "3" => Ok(3),
                _ => Err(format!(
                    "{s:?} is not a priority; allowed: 1 (highest), 2, 3"
                )),
            }),
            zieldatum: row.edit(Field::Zieldatum, &base.zieldatum, e, |s| {
                parse_date(s)
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .ok_or_else(|| format!("{s:?} is {}", not_a_date(s)))
            }),
            bemerkung: row.edit(Field::Bemerkung, &base.bemerkung, e, remark),
        }
    }

    fn consistency(&self) -> Vec<(Field, String)> {
        consistency(self)
    }

    fn audit_values(&self, known: &Known) -> Vec<(Field, Option<String>)> {
        self.values(known).to_vec()
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
    /// The current Kürzel of a Ressort (its id as text if it has none).
    pub fn kuerzel_of(&self, id: i64) -> String {
        kuerzel_of(&self.ressorts, id)
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
pub type ValidRow = sheet::ValidRow<Annotation>;

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

/// Validates every row against `known` ([`sheet::validate`]). Pure: the same rows
/// and knowledge give the same result, so the whole sheet is checked before
/// anything is written.
pub fn validate(rows: &[RawRow], known: &Known) -> Validation {
    sheet::validate(rows, known)
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
    use super::sheet::test_support::row;
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

    /// Validates `rows` and compares the rendered errors.
    fn check_errors(rows: &[RawRow], expected: &[&str]) {
        sheet::test_support::check_errors::<Annotation>(rows, &known(), expected);
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
                "line 7, column Zieldatum: \"bald\" is not a date; write YYYY-MM-DD or DD.MM.YYYY (a four-digit year)",
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
