//! The annotation sheet as an Excel workbook: the template with the key column
//! formatted as text (so Excel keeps all 14 digits), drop-down lists for the
//! coded columns, a frozen header and a German instruction sheet; and reading a
//! returned workbook into the same [`Sheet`] the CSV reader gives, so validation
//! and its "line N, column C" messages are shared (line = Excel row).

use std::io::{Read, Seek};

use rust_xlsxwriter::{DataValidation, Format, Formula, Workbook, XlsxError};

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
    let mut sheet = Sheet {
        encoding: "XLSX",
        ..Sheet::default()
    };
    for row in &table.rows {
        sheet.push(&columns, row);
    }
    Ok(sheet)
}

/// Writes the template workbook with `rows` (none for an empty template).
pub fn write_template(rows: &[TemplateRow], lists: &Lists) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");

    let list_columns = list_columns(lists);
    let data = book.add_worksheet();
    data.set_name(DATA_SHEET)?;
    for (col, header) in (0u16..).zip(headers()) {
        data.write_string_with_format(0, col, header, &bold)?;
        // Every column is text: Excel would otherwise turn a key into 9.9E+13, a
        // priority into a number and a date into a serial.
        data.set_column_format(col, &text)?;
        data.set_column_width(col, if col == 1 { 60 } else { 18 })?;
    }
    for (row, t) in (1u32..).zip(rows) {
        data.write_string_with_format(row, 0, &t.leistungsschluessel, &text)?;
        data.write_string_with_format(row, 1, &t.bezeichnung, &text)?;
        for (col, cell) in (2u16..).zip(&t.cells) {
            if !cell.is_empty() {
                data.write_string_with_format(row, col, cell, &text)?;
            }
        }
    }
    data.set_freeze_panes(1, 1)?;
    for (i, (field, values)) in (0u16..).zip(&list_columns) {
        if values.is_empty() {
            continue;
        }
        let col = 2 + Field::ALL.iter().position(|f| f == field).unwrap_or(0) as u16;
        let letter = char::from(b'A' + i as u8);
        let range = format!("=Listen!${letter}$2:${letter}${}", values.len() + 1);
        let validation = DataValidation::new()
            .allow_list_formula(Formula::new(range))
            .set_error_title("Wert nicht in der Liste")?
            .set_error_message(format!(
                "Bitte einen Wert aus der Liste wählen; \"{CLEAR}\" löscht den Wert, eine leere Zelle lässt ihn unverändert."
            ))?;
        data.add_data_validation(1, col, 1_048_575, col, &validation)?;
    }

    let guide = book.add_worksheet();
    guide.set_name("Anleitung")?;
    guide.set_column_width(0, 110)?;
    for (row, line) in (0u32..).zip(GUIDE) {
        if row == 0 {
            guide.write_string_with_format(row, 0, *line, &bold)?;
        } else {
            guide.write_string(row, 0, *line)?;
        }
    }

    let hidden = book.add_worksheet();
    hidden.set_name("Listen")?;
    for (col, (field, values)) in (0u16..).zip(&list_columns) {
        hidden.write_string_with_format(0, col, field.header(), &bold)?;
        for (row, v) in (1u32..).zip(values) {
            hidden.write_string_with_format(row, col, v, &text)?;
        }
    }
    hidden.set_hidden(true);
    book.save_to_buffer()
}

/// The drop-down values per coded column, each with [`CLEAR`] last.
fn list_columns(lists: &Lists) -> Vec<(Field, Vec<String>)> {
    let with_clear = |values: Vec<String>| {
        if values.is_empty() {
            values
        } else {
            values.into_iter().chain([CLEAR.to_owned()]).collect()
        }
    };
    let labels = |l: Vec<&str>| with_clear(l.into_iter().map(str::to_owned).collect());
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
