//! CSV rendering for German Excel: `;` as delimiter, UTF-8 with a byte-order mark
//! (without it Excel reads UTF-8 as Windows-1252), CRLF line ends, German number
//! and date text (`45,6 %`, `01.03.2026`). One part per file.

use crate::export::tables::{german_text, Table};
use crate::export::ExportError;

pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A CSV writer as German Excel reads it (`;`, CRLF); the caller writes [`BOM`]
/// first. Shared with `query --format excel-csv`.
pub fn excel_writer<W: std::io::Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(out)
}

/// One table as a CSV file.
pub fn render(table: &Table) -> Result<Vec<u8>, ExportError> {
    let mut out = BOM.to_vec();
    {
        let mut w = excel_writer(&mut out);
        w.write_record(table.columns.iter().map(|c| c.header))
            .map_err(ExportError::Csv)?;
        for row in &table.rows {
            w.write_record(row.iter().map(|cell| guard_formula(german_text(cell))))
                .map_err(ExportError::Csv)?;
        }
        w.flush()
            .map_err(|e| ExportError::Csv(csv::Error::from(e)))?;
    }
    Ok(out)
}

/// Text that Excel would run as a formula (`=`, `+`, `-`, `@` first) gets a leading
/// apostrophe: names come from outside sources (CSV injection). Numbers and dates
/// are never text starting like that except negative numbers, which we keep.
pub fn guard_formula(s: String) -> String {
    let risky = matches!(s.chars().next(), Some('=' | '+' | '@'))
        || (s.starts_with('-') && s.parse::<i64>().is_err());
    if risky {
        format!("'{s}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_numbers_are_not() {
        let check = |s: &str, expected: &str| assert_eq!(guard_formula(s.to_owned()), expected);
        check("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")");
        check("@SUM(A1)", "'@SUM(A1)");
        check("-3", "-3");
        check("-x", "'-x");
        check("Bauantrag", "Bauantrag");
    }
}
