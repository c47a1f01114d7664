//! The annotation sheet as CSV: reading a ministry's file into [`RawRow`]s, and
//! writing the template. The template is UTF-8 with BOM, `;`-separated, CRLF, so
//! Excel opens it with umlauts intact; imports also take `,` and Windows-1252
//! (what Excel writes for "CSV (Trennzeichen-getrennt)").

use std::io::{Read, Seek, Write};

use super::{sheet, Annotation, Field, RawRow, RowError};
use crate::model::vocab::slug;
use crate::parse::csv_text::{self, Columns};
use crate::parse::ParseError;

/// Header of the key column.
pub const KEY_HEADER: &str = "Leistungsschlüssel";
/// Header of the informational name column (filled by the template, ignored on
/// import).
pub const NAME_HEADER: &str = "Leistungsbezeichnung";

const EXPECTED: &str = "annotation sheet (CSV)";

/// The template's columns in order.
pub fn headers() -> Vec<&'static str> {
    sheet::headers::<Annotation>()
}

/// A sheet as read: its data rows, and rows the CSV reader itself refused.
#[derive(Debug, Clone)]
pub struct Sheet<F: Ord = Field> {
    pub rows: Vec<RawRow<F>>,
    pub errors: Vec<RowError>,
    /// `UTF-8` or `windows-1252`.
    pub encoding: &'static str,
    /// Excel rows of a workbook's data the sheet hides (an autofilter or by hand):
    /// imported like the others, and named in a warning (see README, "Hidden rows").
    pub hidden_rows: Vec<u64>,
}

/// What a sheet import tells the sender besides the rows: the workbook rows that
/// were hidden when it was saved.
pub trait HiddenRows {
    fn hidden_rows(&self) -> &[u64];
}

impl<F: Ord> HiddenRows for Sheet<F> {
    fn hidden_rows(&self) -> &[u64] {
        &self.hidden_rows
    }
}

/// Reads a sheet. Fails as a whole when the file is not a CSV with the template's
/// header (unknown or missing key column); row problems are left to validation.
pub fn read<R: Read + Seek>(input: R) -> Result<Sheet, ParseError> {
    sheet::with_columns::<Annotation, _>(EXPECTED, |spec| read_sheet(input, spec))
}

/// The columns of one kind of sheet the coordinators fill in: the key column,
/// columns the template fills for reading only, and the edited fields.
pub struct SheetColumns<'a, F> {
    pub key: &'static str,
    /// Ignored on import (e.g. the service's name beside its key).
    pub informational: &'a [&'static str],
    /// Each edited field with its header.
    pub fields: &'a [(F, &'static str)],
    /// What the file should be, for "not the format" messages.
    pub expected: &'static str,
    /// The command that writes the template.
    pub template: &'static str,
}

/// Matches a sheet's header against `spec`: headers folded by slug (case, umlauts,
/// blanks); unknown columns and a missing key column refuse the file.
pub fn match_columns<F>(
    header: &csv::StringRecord,
    spec: &SheetColumns<'_, F>,
) -> Result<Columns, ParseError> {
    let mut known: Vec<String> = vec![slug(spec.key)];
    known.extend(spec.informational.iter().map(|h| slug(h)));
    known.extend(spec.fields.iter().map(|(_, h)| slug(h)));
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    Columns::match_header(header, &known, &[&slug(spec.key)], spec.expected, |_| {
        Some(format!("write the template with `{}`", spec.template))
    })
}

/// Matches an annotation sheet's header (CSV and XLSX alike).
pub(super) fn columns(
    header: &csv::StringRecord,
    expected: &'static str,
) -> Result<Columns, ParseError> {
    sheet::with_columns::<Annotation, _>(expected, |spec| match_columns(header, spec))
}

/// Reads any coordinators' sheet as CSV: `;` or `,`, UTF-8 or Windows-1252. A
/// column the sheet lacks is absent from the rows' cells ("keep").
pub fn read_sheet<R: Read + Seek, F: Copy + Ord>(
    input: R,
    spec: &SheetColumns<'_, F>,
) -> Result<Sheet<F>, ParseError> {
    let mut input = csv_text::open(input, spec.expected)?;
    let header = csv_text::header(&mut input.reader, spec.expected)?;
    let columns = match_columns(&header, spec)?;
    let mut sheet = Sheet {
        rows: Vec::new(),
        errors: Vec::new(),
        encoding: input.encoding,
        hidden_rows: Vec::new(),
    };
    for record in input.reader.into_records() {
        let record = match record {
            Ok(r) => r,
            Err(err) => {
                let reject = csv_text::row_error(err)?;
                sheet.errors.push(RowError {
                    line: reject
                        .position
                        .trim_start_matches("line ")
                        .parse()
                        .unwrap_or(0),
                    column: None,
                    message: reject.reason,
                });
                continue;
            }
        };
        if let Some(reject) = csv_text::undecodable(&record, input.delimiter) {
            sheet.errors.push(RowError {
                line: csv_text::line_of(&record),
                column: None,
                message: reject.reason,
            });
            continue;
        }
        sheet.push_with(spec, &columns, &record);
    }
    Ok(sheet)
}

impl<F: Copy + Ord> Sheet<F> {
    /// An empty sheet read in `encoding`.
    pub fn empty(encoding: &'static str) -> Self {
        Sheet {
            rows: Vec::new(),
            errors: Vec::new(),
            encoding,
            hidden_rows: Vec::new(),
        }
    }

    /// Adds one data row of a sheet with `spec`'s columns (blank rows, which
    /// spreadsheets save, are skipped).
    pub fn push_with(
        &mut self,
        spec: &SheetColumns<'_, F>,
        columns: &Columns,
        record: &csv::StringRecord,
    ) {
        if csv_text::is_blank(record) {
            return;
        }
        let cells = spec
            .fields
            .iter()
            .filter_map(|(f, header)| {
                let s = slug(header);
                columns
                    .has(&s)
                    .then(|| (*f, columns.get(record, &s).to_owned()))
            })
            .collect();
        self.rows.push(RawRow {
            line: csv_text::line_of(record),
            key: columns.get(record, &slug(spec.key)).to_owned(),
            cells,
            overflow: (record.len() > columns.width()).then(|| (record.len(), columns.width())),
        });
    }
}

impl Sheet {
    /// Adds one data row of an annotation sheet.
    pub(super) fn push(&mut self, columns: &Columns, record: &csv::StringRecord) {
        sheet::with_columns::<Annotation, _>(EXPECTED, |spec| {
            self.push_with(spec, columns, record)
        });
    }
}

/// One filled row of the template: the key, its name and the current values as
/// sheet text.
#[derive(Debug, Clone, Default)]
pub struct TemplateRow {
    pub leistungsschluessel: String,
    pub bezeichnung: String,
    /// Cells of [`Field::ALL`], in order.
    pub cells: Vec<String>,
}

/// Writes the template: BOM, header, and `rows` (none for an empty template).
pub fn write_template(out: &mut dyn Write, rows: &[TemplateRow]) -> std::io::Result<()> {
    let records: Vec<Vec<&str>> = rows
        .iter()
        .map(|row| {
            let mut record = vec![row.leistungsschluessel.as_str(), row.bezeichnung.as_str()];
            record.extend(row.cells.iter().map(String::as_str));
            record
        })
        .collect();
    write_sheet(out, &headers(), &records)
}

/// Writes any coordinators' sheet as Excel opens it: BOM, `;`, CRLF.
pub fn write_sheet(
    out: &mut dyn Write,
    header: &[&str],
    rows: &[Vec<&str>],
) -> std::io::Result<()> {
    out.write_all("\u{feff}".as_bytes())?;
    let mut w = ::csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(::csv::Terminator::CRLF)
        .from_writer(out);
    let io = |e: ::csv::Error| std::io::Error::other(e.to_string());
    w.write_record(header).map_err(io)?;
    for record in rows {
        w.write_record(record).map_err(io)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn sheet(text: &[u8]) -> Result<Sheet, String> {
        read(Cursor::new(text.to_vec())).map_err(|e| e.to_string())
    }

    #[test]
    fn template_round_trips_through_read() {
        let mut buf = Vec::new();
        write_template(
            &mut buf,
            &[TemplateRow {
                leistungsschluessel: "99001001001000".into(),
                bezeichnung: "Abfall; Entsorgung".into(),
                cells: vec![
                    "MI".into(),
                    "Land".into(),
                    "EfA".into(),
                    "EFA-1".into(),
                    String::new(),
                    "1".into(),
                    "31.12.2026".into(),
                    "mit \"Zitat\"".into(),
                ],
            }],
        )
        .unwrap();
        assert!(
            buf.starts_with(b"\xef\xbb\xbfLeistungsschl\xc3\xbcssel;Leistungsbezeichnung;Ressort;")
        );
        let s = sheet(&buf).unwrap();
        assert_eq!(s.rows.len(), 1);
        let row = &s.rows[0];
        assert_eq!((row.line, row.key.as_str()), (2, "99001001001000"));
        assert_eq!(row.cells[&Field::Umsetzungsweg], "EfA");
        assert_eq!(row.cells[&Field::Bemerkung], "mit \"Zitat\"");
        assert_eq!(row.cells[&Field::DepriorisierungGrund], "");
    }

    #[test]
    fn windows_1252_commas_and_partial_columns() {
        // Excel's "CSV (Trennzeichen-getrennt)" in a German locale uses `;`; other
        // locales `,`. Only some columns: the others are kept.
        let s = sheet(b"Leistungsschl\xfcssel,Priorit\xe4t\r\n99001001001000,2\r\n,\r\n").unwrap();
        assert_eq!(s.encoding, "windows-1252");
        assert_eq!(s.rows.len(), 1);
        assert_eq!(s.rows[0].cells.len(), 1);
        assert_eq!(s.rows[0].cells[&Field::Prioritaet], "2");
    }

    #[test]
    fn files_that_are_not_sheets() {
        let err = sheet(b"Ressort;Bemerkung\nMI;x\n").unwrap_err();
        assert!(
            err.contains("missing column(s) leistungsschluessel"),
            "{err}"
        );
        let err = sheet(b"Leistungsschluessel;Farbe\n1;2\n").unwrap_err();
        assert!(err.contains("unknown column \"Farbe\""), "{err}");
        assert!(err.contains("ozgsync template annotations"), "{err}");
    }

    #[test]
    fn overlong_rows_are_flagged() {
        let s = sheet(b"Leistungsschluessel;Bemerkung\n99001001001000;a;b\n").unwrap();
        assert_eq!(s.rows[0].overflow, Some((3, 2)));
    }
}
