//! Markdown rendering of the report for wikis: a title, the summary sentence, the
//! sources, then one GitHub-flavoured table per part (the Nachnutzung funnel and
//! the "Für Kommunen" list first). Cell text is escaped so a `|` or a line break
//! in a name cannot break the table.

use std::fmt::Write;

use crate::export::model::Report;
use crate::export::tables::{german_text, report_tables, summary, Kind};

/// The whole report as Markdown.
pub fn render(report: &Report) -> Vec<u8> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Onlinedienste-Report Niedersachsen\n\nStichtag: {} · erstellt: {}",
        report.as_of.format("%d.%m.%Y"),
        report.generated_at.format("%Y-%m-%dT%H:%M:%SZ")
    );
    if report.demo {
        let _ = writeln!(out, "\n> **{}**", crate::demo::NOTICE);
    }
    let _ = writeln!(out, "\n{}", escape(&summary(report)));
    if !report.sources.is_empty() {
        out.push_str("\nDatenstand der Quellen:\n\n");
        for s in &report.sources {
            let _ = writeln!(
                out,
                "- {}: Release {} vom {}",
                escape(&s.source),
                s.release_id,
                escape(&s.fetched_at)
            );
        }
    }
    for table in report_tables(report) {
        let _ = write!(
            out,
            "\n## {}\n\n{}\n\n",
            table.part.title(),
            escape(&table.caption)
        );
        if table.rows.is_empty() {
            out.push_str("Keine Einträge.\n");
            continue;
        }
        out.push('|');
        for c in &table.columns {
            let _ = write!(out, " {} |", c.header);
        }
        out.push_str("\n|");
        for c in &table.columns {
            out.push_str(match c.kind {
                Kind::Int | Kind::Percent => " ---: |",
                _ => " --- |",
            });
        }
        out.push('\n');
        for row in &table.rows {
            out.push('|');
            for cell in row {
                let _ = write!(out, " {} |", escape(&german_text(cell)));
            }
            out.push('\n');
        }
    }
    out.into_bytes()
}

/// Escapes what would end a cell or start markup in a table cell.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '|' | '\\' | '*' | '_' | '`' | '<' | '>' | '[' | ']' => {
                out.push('\\');
                out.push(ch);
            }
            '\r' | '\n' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_keeps_tables_intact() {
        assert_eq!(super::escape("a|b\nc_d"), "a\\|b c\\_d");
    }
}
