//! The annotation sheet as an Excel workbook: the template with the key column
//! formatted as text (so Excel keeps all 14 digits), drop-down lists for the
//! coded columns, a frozen header and a German instruction sheet; and reading a
//! returned workbook into the same [`Sheet`] the CSV reader gives, so validation
//! and its "line N, column C" messages are shared (line = Excel row).

use std::io::{Read, Seek};

use rust_xlsxwriter::XlsxError;

use super::csv::{headers, Sheet, TemplateRow};
use super::{Field, Umsetzungsweg, Vollzug, CLEAR};
use crate::parse::{xlsx_sheet, ParseError};

const EXPECTED: &str = "annotation sheet (XLSX)";

/// The name of the data sheet; it comes first, which is the sheet import reads.
pub const DATA_SHEET: &str = "Annotationen";

/// What the drop-down lists offer besides the fixed vocabularies: the current
/// Ressort Kürzel and EfA ids (empty for a template written without a database).
#[derive(Debug, Clone, Default)]
pub struct Lists {
    pub ressorts: Vec<String>,
    pub efa_ids: Vec<String>,
}

/// Reads a returned workbook's first sheet.
pub fn read<R: Read + Seek>(input: R) -> Result<Sheet, ParseError> {
    let table = xlsx_sheet::read(input, EXPECTED)?;
    let columns = super::csv::columns(&table.header, EXPECTED)?;
    let mut sheet = Sheet::empty("XLSX");
    for row in &table.rows {
        sheet.push(&columns, row);
    }
    sheet.hidden_rows = table.hidden_rows;
    Ok(sheet)
}

/// Writes the template workbook with `rows` (none for an empty template).
pub fn write_template(rows: &[TemplateRow], lists: &Lists) -> Result<Vec<u8>, XlsxError> {
    let column = |f: Field| 2 + Field::ALL.iter().position(|x| *x == f).unwrap_or(0) as u16;
    xlsx_sheet::write_template(&xlsx_sheet::Template {
        data_sheet: DATA_SHEET,
        headers: headers(),
        rows: rows
            .iter()
            .map(|r| {
                [r.leistungsschluessel.clone(), r.bezeichnung.clone()]
                    .into_iter()
                    .chain(r.cells.iter().cloned())
                    .collect()
            })
            .collect(),
        lists: list_columns(lists)
            .into_iter()
            .map(|(f, values)| (column(f), values))
            .collect(),
        widths: vec![(1, 60.0)],
        guide: GUIDE,
    })
}

/// A drop-down list of `values` with [`CLEAR`] last (an empty list stays empty:
/// no drop-down then). Shared by every coordinators' sheet.
pub(crate) fn with_clear(values: Vec<String>) -> Vec<String> {
    if values.is_empty() {
        values
    } else {
        values.into_iter().chain([CLEAR.to_owned()]).collect()
    }
}

/// A drop-down list of a vocabulary's labels, with [`CLEAR`] last.
pub(crate) fn labels(labels: Vec<&str>) -> Vec<String> {
    with_clear(labels.into_iter().map(str::to_owned).collect())
}

/// The drop-down values per coded column, each with [`CLEAR`] last.
fn list_columns(lists: &Lists) -> Vec<(Field, Vec<String>)> {
    vec![
        (Field::Ressort, with_clear(lists.ressorts.clone())),
        (
            Field::Vollzug,
            labels(Vollzug::ALL.iter().map(|v| v.label()).collect()),
        ),
        (
            Field::Umsetzungsweg,
            labels(Umsetzungsweg::ALL.iter().map(|u| u.label()).collect()),
        ),
        (Field::EfaId, with_clear(lists.efa_ids.clone())),
        (Field::Prioritaet, labels(vec!["1", "2", "3"])),
    ]
}

/// The instruction sheet, one line per row.
const GUIDE: &[&str] = &[
    "Annotationsbogen des Landes Niedersachsen – Anleitung",
    "",
    "1. Tragen Sie im Blatt „Annotationen“ je Leistungsschlüssel die Werte Ihres Ressorts ein.",
    "2. Eine leere Zelle lässt den gespeicherten Wert unverändert; ein Bindestrich „-“ löscht ihn.",
    "3. Ressort, Vollzug, Umsetzungsweg, EfA-ID und Priorität wählen Sie aus der Liste der Zelle.",
    "4. Der Leistungsschlüssel bleibt Text mit 14 Ziffern; ändern Sie ihn nicht und fügen Sie keine Zeilen für unbekannte Schlüssel ein.",
    "5. Die Spalte Leistungsbezeichnung dient nur der Orientierung und wird beim Einlesen nicht übernommen.",
    "6. Zieldatum als TT.MM.JJJJ oder JJJJ-MM-TT; Priorität 1 (hoch) bis 3.",
    "7. Umsetzungsweg „EfA“ braucht eine EfA-ID, „depriorisiert“ einen Depriorisierungsgrund.",
    "8. Speichern Sie die Datei als Excel-Arbeitsmappe (.xlsx) und senden Sie sie an die OZG-Koordinierung.",
    "",
    "Beim Einlesen wird der ganze Bogen geprüft; jeder Fehler wird mit Zeile (Excel-Zeilennummer) und Spalte gemeldet.",
    "Enthält der Bogen einen Fehler, wird nichts übernommen, bis er behoben ist.",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn template_round_trips_through_read() {
        let row = TemplateRow {
            leistungsschluessel: "99001001001000".into(),
            bezeichnung: "Abfall".into(),
            cells: vec![
                "MI".into(),
                "Land".into(),
                "EfA".into(),
                "EFA-1".into(),
                String::new(),
                "1".into(),
                "2026-12-31".into(),
                "mit\nZeilenumbruch".into(),
            ],
        };
        let lists = Lists {
            ressorts: vec!["MI".into()],
            efa_ids: vec!["EFA-1".into()],
        };
        let bytes = write_template(&[row.clone(), row], &lists).unwrap();
        let sheet = read(Cursor::new(bytes)).unwrap();
        assert_eq!(sheet.rows.len(), 2);
        let r = &sheet.rows[1];
        assert_eq!((r.line, r.key.as_str()), (3, "99001001001000"));
        assert_eq!(r.cells[&Field::Zieldatum], "2026-12-31");
        assert_eq!(r.cells[&Field::Bemerkung], "mit\nZeilenumbruch");
        assert_eq!(r.cells[&Field::DepriorisierungGrund], "");
    }
}
