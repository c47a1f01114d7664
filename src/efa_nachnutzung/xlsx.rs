//! The EfA-Nachnutzung sheet as an Excel workbook, built like the annotation
//! workbook (`annotations::xlsx`): every column text, drop-down lists for the
//! coded columns (Bewertung, Ressort, Parametrisierung, Kanal, Kosten Land), a
//! frozen header and a German instruction sheet; and reading a returned workbook
//! into the same [`Sheet`] the CSV reader gives, so validation and its "line N,
//! column C" messages are shared (line = Excel row).

use std::io::{Read, Seek};

use rust_xlsxwriter::XlsxError;

use super::{Bewertung, Field, Kanal, KostenLand, Parametrisierung, Sheet, State, NAME_HEADER};
use crate::annotations::csv::match_columns;
use crate::annotations::sheet::{with_columns, SheetField};
use crate::annotations::xlsx::Lists;
use crate::annotations::xlsx::{labels, with_clear};
use crate::parse::{xlsx_sheet, ParseError};

const EXPECTED: &str = "EfA-Nachnutzung sheet (XLSX)";

/// The name of the data sheet; it comes first, which is the sheet import reads.
pub const DATA_SHEET: &str = "Nachnutzung";

/// Reads a returned workbook's first sheet.
pub fn read<R: Read + Seek>(input: R) -> Result<Sheet, ParseError> {
    let table = xlsx_sheet::read(input, EXPECTED)?;
    with_columns::<State, _>(EXPECTED, |spec| {
        let columns = match_columns(&table.header, spec)?;
        let mut sheet = Sheet::empty("XLSX");
        for row in &table.rows {
            sheet.push_with(spec, &columns, row);
        }
        sheet.hidden_rows.clone_from(&table.hidden_rows);
        Ok(sheet)
    })
}

/// Writes the template workbook with `rows` (cells in [`super::headers`] order;
/// none for an empty template). `lists` gives the Ressort and EfA-ID drop-downs
/// (empty for a template written without a database).
pub fn write_template(rows: &[Vec<String>], lists: &Lists) -> Result<Vec<u8>, XlsxError> {
    let headers = super::headers();
    let column = |header: &str| headers.iter().position(|h| *h == header).unwrap_or(0) as u16;
    let field = |f: Field| column(f.header());
    xlsx_sheet::write_template(&xlsx_sheet::Template {
        data_sheet: DATA_SHEET,
        headers: headers.clone(),
        rows: rows.to_vec(),
        lists: vec![
            // The id column is the key: no "-" to clear it.
            (column(super::KEY_HEADER), lists.efa_ids.clone()),
            (
                field(Field::Bewertung),
                labels(Bewertung::ALL.iter().map(|b| b.label()).collect()),
            ),
            (field(Field::Ressort), with_clear(lists.ressorts.clone())),
            (
                field(Field::Parametrisierung),
                labels(Parametrisierung::ALL.iter().map(|p| p.label()).collect()),
            ),
            (
                field(Field::Kanal),
                labels(Kanal::ALL.iter().map(|k| k.label()).collect()),
            ),
            (
                field(Field::KostenLand),
                labels(KostenLand::ALL.iter().map(|k| k.label()).collect()),
            ),
        ],
        widths: vec![
            (column(NAME_HEADER), 50.0),
            (field(Field::Bewertungsgrund), 40.0),
            (field(Field::Kontakt), 30.0),
            (field(Field::Bemerkung), 40.0),
        ],
        guide: GUIDE,
    })
}

/// The instruction sheet, one line per row, in the Handlungsplan's words.
const GUIDE: &[&str] = &[
    "EfA-Nachnutzung in Niedersachsen – Anleitung",
    "",
    "Jeder EfA-Onlinedienst eines anderen Landes wird in einem Standardverfahren für die Nachnutzung bewertet, bei Bedarf an niedersächsisches Recht angepasst (parametrisiert), in der Landesverwaltung eingeführt und den Kommunen bereitgestellt – über GovConnect, über den Marktplatz von govdigital oder durch das Land selbst.",
    "",
    "1. Tragen Sie im Blatt „Nachnutzung“ je EfA-ID den Stand ein; jede EfA-ID steht in höchstens einer Zeile.",
    "2. Eine leere Zelle lässt den gespeicherten Wert unverändert; ein Bindestrich „-“ löscht ihn.",
    "3. Bewertung, Ressort, Parametrisierung, Kanal und Kosten Land wählen Sie aus der Liste der Zelle.",
    "4. Eine Bewertung außer „offen“ braucht „Bewertet am“ und das bewertende Ressort; „nicht geeignet“ zusätzlich einen Bewertungsgrund.",
    "5. Parametrisierung gilt nur für geeignete Dienste; „erledigt“ braucht „Parametrisiert am“.",
    "6. Ein Kanal außer „keiner“ braucht „Bereitgestellt ab“ und einen geeigneten, fertig parametrisierten Dienst.",
    "7. Kontakt ist ein Funktionspostfach (z. B. efa@mi.niedersachsen.de), kein Personenname.",
    "8. Daten als TT.MM.JJJJ oder JJJJ-MM-TT. Die Spalte Onlinedienst dient nur der Orientierung und wird nicht eingelesen.",
    "9. Speichern Sie die Datei als Excel-Arbeitsmappe (.xlsx) und senden Sie sie an die OZG-Koordinierung im MI.",
    "",
    "Beim Einlesen wird der ganze Bogen geprüft; jeder Fehler wird mit Zeile (Excel-Zeilennummer) und Spalte gemeldet.",
    "Enthält der Bogen einen Fehler, wird nichts übernommen, bis er behoben ist.",
];
