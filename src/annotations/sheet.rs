//! What every coordinators' sheet shares (the annotations per LeiKa key, the
//! EfA-Nachnutzung per EfA id): its columns, the validation of its rows against
//! what the database knows, and a valid row's changes. Each kind of sheet is
//! named by the state one row leads to ([`SheetKind`], implemented by
//! `Annotation` and `efa_nachnutzung::State`) and says only what differs: how a
//! key is checked, how its cells are read and which rules hold between fields.
//! Pure; `store::sheet` loads the knowledge and writes the valid rows.

use std::collections::{HashMap, HashSet};

use super::csv::SheetColumns;
use super::{overflow, RawRow, RowError, Validation, CLEAR};

/// A column of a sheet that the coordinators edit.
pub trait SheetField: Copy + Ord + 'static {
    /// Every field, in sheet order.
    const ALL_FIELDS: &'static [Self];
    /// Name in the database and the audit trail.
    fn column(self) -> &'static str;
    /// Spreadsheet column header.
    fn header(self) -> &'static str;
}

/// Defines the fields of a kind of sheet, in sheet order, each with its column
/// (the name in the database and the audit trail) and its spreadsheet header:
/// the enum, `ALL` and its [`SheetField`] implementation.
macro_rules! sheet_fields {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $variant:ident => $column:literal, $header:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $variant ),+
        }

        impl $name {
            /// Every field, in sheet order.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];
        }

        impl $crate::annotations::sheet::SheetField for $name {
            const ALL_FIELDS: &'static [$name] = &$name::ALL;

            fn column(self) -> &'static str {
                match self {
                    $($name::$variant => $column),+
                }
            }

            fn header(self) -> &'static str {
                match self {
                    $($name::$variant => $header),+
                }
            }
        }
    };
}
pub(crate) use sheet_fields;

/// One kind of coordinators' sheet, named by the state of one key that a row
/// leads to.
pub trait SheetKind: Clone + Default + PartialEq {
    type Field: SheetField;
    /// What the database knows that a sheet is checked against.
    type Known;
    /// Header of the key column.
    const KEY_HEADER: &'static str;
    /// Header of the name beside the key (filled by the template, ignored on import).
    const NAME_HEADER: &'static str;
    /// The command that writes the template.
    const TEMPLATE: &'static str;
    /// What to do about a key on two rows ("give each key one row").
    const ONE_ROW_EACH: &'static str;

    /// The key as stored, and why the cell is not a key (missing, malformed), if so.
    fn key(cell: &str) -> (&str, Option<String>);
    /// What `known` holds of the keys: which are current, which retired and the
    /// current state of each key that has one.
    fn catalogue(known: &Self::Known) -> Catalogue<'_, Self>;
    /// Why the row of a key not in the catalogue, or `retired` from it, is
    /// refused (a retired key's state is kept but can no longer be changed).
    fn refused(key: &str, retired: bool) -> String;
    /// `base` edited by the row's cells; a bad cell's error goes to `errors` and
    /// its field keeps its value (see [`RawRow::edit`]).
    fn edit(
        row: &RawRow<Self::Field>,
        known: &Self::Known,
        base: &Self,
        errors: &mut Vec<(Self::Field, String)>,
    ) -> Self;
    /// The rules between fields, on the state a row leads to.
    fn consistency(&self) -> Vec<(Self::Field, String)>;
    /// Each field as audit text (codes in stored form, dates ISO, the Ressort by
    /// its Kürzel).
    fn audit_values(&self, known: &Self::Known) -> Vec<(Self::Field, Option<String>)>;
}

/// The sheet's columns, for `f` (CSV and XLSX alike); `expected` names the file
/// kind in "not the format" messages.
pub(crate) fn with_columns<S: SheetKind, T>(
    expected: &'static str,
    f: impl FnOnce(&SheetColumns<'_, S::Field>) -> T,
) -> T {
    let fields: Vec<(S::Field, &str)> = S::Field::ALL_FIELDS
        .iter()
        .map(|f| (*f, f.header()))
        .collect();
    f(&SheetColumns {
        key: S::KEY_HEADER,
        informational: &[S::NAME_HEADER],
        fields: &fields,
        expected,
        template: S::TEMPLATE,
    })
}

/// The template's columns in order: key, name, the fields.
pub(crate) fn headers<S: SheetKind>() -> Vec<&'static str> {
    let mut h = vec![S::KEY_HEADER, S::NAME_HEADER];
    h.extend(S::Field::ALL_FIELDS.iter().map(|f| f.header()));
    h
}

/// The keys a sheet's rows are checked against, and their current states.
pub struct Catalogue<'a, S> {
    pub current: &'a HashSet<String>,
    pub retired: &'a HashSet<String>,
    pub existing: &'a HashMap<String, S>,
}

/// A row that passed: the key's state before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRow<S> {
    pub line: u64,
    /// The key as stored (a Leistungsschlüssel, an EfA id).
    pub key: String,
    pub before: Option<S>,
    pub after: S,
}

impl<S: SheetKind> ValidRow<S> {
    /// The fields that change, as audit text: (field, old, new).
    pub fn changes(&self, known: &S::Known) -> Vec<(S::Field, Option<String>, Option<String>)> {
        let before = self.before.clone().unwrap_or_default().audit_values(known);
        before
            .into_iter()
            .zip(self.after.audit_values(known))
            .filter(|((_, old), (_, new))| old != new)
            .map(|((field, old), (_, new))| (field, old, new))
            .collect()
    }

    /// Whether applying the row writes anything (a key without a state is the
    /// empty state).
    pub fn is_noop(&self) -> bool {
        match &self.before {
            Some(before) => *before == self.after,
            None => self.after == S::default(),
        }
    }
}

/// Validates every row against `known`. Pure: the same rows and knowledge give the
/// same result, so the whole sheet is checked before anything is written. A row is
/// valid or refused as a whole; the rules between fields are checked only once
/// each cell is valid on its own (otherwise they would repeat the cell's error in
/// other words).
pub fn validate<S: SheetKind>(
    rows: &[RawRow<S::Field>],
    known: &S::Known,
) -> Validation<ValidRow<S>> {
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
        let key_col = Some(S::KEY_HEADER);
        let (key, malformed) = S::key(&row.key);
        if let Some(message) = malformed {
            err(key_col, message);
        } else if let Some(first) = first_line.get(key) {
            err(
                key_col,
                format!("{key} already appears on line {first}; {}", S::ONE_ROW_EACH),
            );
        } else {
            first_line.insert(key.to_owned(), row.line);
            let catalogue = S::catalogue(known);
            if catalogue.retired.contains(key) {
                err(key_col, S::refused(key, true));
            } else if !catalogue.current.contains(key) {
                err(key_col, S::refused(key, false));
            }
        }

        let before = S::catalogue(known).existing.get(key).cloned();
        let mut cell_errors = Vec::new();
        let after = S::edit(
            row,
            known,
            &before.clone().unwrap_or_default(),
            &mut cell_errors,
        );
        let cells_ok = cell_errors.is_empty();
        for (field, message) in cell_errors {
            err(Some(field.header()), message);
        }
        if cells_ok {
            for (field, message) in after.consistency() {
                err(Some(field.header()), message);
            }
        }
        let valid = ValidRow {
            line: row.line,
            key: key.to_owned(),
            before,
            after,
        };
        out.settle(row.line, errors, valid);
    }
    out
}

impl<F: Copy + Ord> RawRow<F> {
    /// The cell of `field`, trimmed ("" when the sheet lacks the column).
    pub fn cell(&self, field: F) -> &str {
        self.cells.get(&field).map(|s| s.trim()).unwrap_or_default()
    }

    /// `current` as the cell of `field` leaves it: empty keeps, [`CLEAR`] clears,
    /// anything else goes through `parse`; a cell `parse` refuses keeps `current`
    /// and puts its error into `errors`.
    pub(crate) fn edit<T: Clone>(
        &self,
        field: F,
        current: &Option<T>,
        errors: &mut Vec<(F, String)>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.cell(field) {
            "" => current.clone(),
            CLEAR => None,
            s => match parse(s) {
                Ok(v) => Some(v),
                Err(message) => {
                    errors.push((field, message));
                    current.clone()
                }
            },
        }
    }
}

/// Reads a Ressort cell: a current Kürzel (any case) of `ressorts`.
pub(crate) fn ressort_cell(ressorts: &[(String, i64)], s: &str) -> Result<i64, String> {
    ressorts
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(s))
        .map(|(_, id)| *id)
        .ok_or_else(|| {
            let names: Vec<&str> = ressorts.iter().map(|(k, _)| k.as_str()).collect();
            format!("unknown Ressort {s:?}; known: {}", names.join(", "))
        })
}

/// The current Kürzel of a Ressort in `ressorts` (its id as text if it has none).
pub(crate) fn kuerzel_of(ressorts: &[(String, i64)], id: i64) -> String {
    ressorts
        .iter()
        .find(|(_, i)| *i == id)
        .map_or_else(|| format!("#{id}"), |(k, _)| k.clone())
}

/// What the validators' unit tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{validate, RawRow, SheetKind};

    /// A data row on `line` with `key` and `cells`.
    pub fn row<F: Copy + Ord>(line: u64, key: &str, cells: &[(F, &str)]) -> RawRow<F> {
        RawRow {
            line,
            key: key.into(),
            cells: cells.iter().map(|(f, s)| (*f, s.to_string())).collect(),
            overflow: None,
        }
    }

    /// Validates `rows` against `known` and compares the rendered errors.
    pub fn check_errors<S: SheetKind>(
        rows: &[RawRow<S::Field>],
        known: &S::Known,
        expected: &[&str],
    ) {
        let got: Vec<String> = validate::<S>(rows, known)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, expected);
    }
}
