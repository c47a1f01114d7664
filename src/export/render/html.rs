//! HTML rendering of the report: one self-contained file (inline CSS, inline SVG,
//! no scripts, no external assets) that MI can publish to the Kommunen as it is:
//! the summary and the Nachnutzung funnel first, then what the Kommunen can order,
//! then the details. Accessible tables (`caption`, `th scope`); a wide table
//! scrolls inside its own box, never the page, and prints on A4 landscape with
//! wrapped cells. Every piece of data is escaped.

use std::fmt::Write;

use crate::export::model::Report;
use crate::export::tables::{german_text, report_tables, summary, Cell, Kind, Part, Table};

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Arial,sans-serif;margin:2rem;color:#1a1a1a;max-width:100%}\
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem}\
.summary{font-size:1.05rem;max-width:60rem}\
.scroll{overflow-x:auto;max-width:100%}\
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.85rem}\
caption{text-align:left;font-weight:600;padding:.25rem 0}\
th,td{border:1px solid #bbb;padding:.25rem .45rem;vertical-align:top;text-align:left}\
td,tbody th{font-weight:normal;overflow-wrap:anywhere;max-width:22rem}\
thead th{background:#d9e1f2}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
figure{margin:1rem 0}figcaption{font-weight:600}svg{max-width:100%;height:auto}\
.meta{color:#444}\
@page{size:A4 landscape;margin:12mm}\
@media print{body{margin:0;font-size:9pt}h2{break-before:page}#nachnutzung h2{break-before:auto}\
.scroll{overflow:visible}table{font-size:7pt;width:100%}td,tbody th{max-width:none}\
th,td{overflow-wrap:anywhere;padding:1px 3px}\
thead{display:table-header-group}tr{break-inside:avoid}a{color:inherit;text-decoration:none}}";

/// The whole report as one HTML document.
pub fn render(report: &Report) -> Vec<u8> {
    let mut out = String::with_capacity(64 * 1024);
    let title = format!(
        "Onlinedienste-Report Niedersachsen, Stichtag {}",
        report.as_of.format("%d.%m.%Y")
    );
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"de\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"ozgsync\">\n<title>{t}</title>\n<style>{STYLE}</style>\n\
         </head>\n<body>\n<header>\n<h1>{t}</h1>\n<p class=\"meta\">Stichtag: {d} · Erstellt: {g}</p>\n",
        t = esc(&title),
        d = report.as_of.format("%d.%m.%Y"),
        g = esc(&report.generated_at.format("%d.%m.%Y %H:%M UTC").to_string()),
    );
    if report.demo {
        let _ = writeln!(
            out,
            "<p class=\"demo\" role=\"note\"><strong>{}</strong></p>",
            esc(crate::demo::NOTICE)
        );
    }
    if !report.sources.is_empty() {
        out.push_str("<p class=\"meta\">Datenstand der Quellen: ");
        let list: Vec<String> = report
            .sources
            .iter()
            .map(|s| {
                format!(
                    "{} (Release {}, {})",
                    esc(&s.source),
                    s.release_id,
                    esc(&s.fetched_at)
                )
            })
            .collect();
        out.push_str(&list.join(", "));
        out.push_str("</p>\n");
    }
    let _ = writeln!(
        out,
        "<p class=\"summary\" id=\"zusammenfassung\">{}</p>",
        esc(&summary(report))
    );
    out.push_str("</header>\n<main>\n");
    for table in report_tables(report) {
        let _ = write!(
            out,
            "<section id=\"{}\">\n<h2>{}</h2>\n",
            table.part.slug(),
            esc(table.part.title())
        );
        match table.part {
            Part::Nachnutzung => funnel(&mut out, report),
            Part::Ressorts => chart(&mut out, report),
            _ => {}
        }
        html_table(&mut out, &table);
        out.push_str("</section>\n");
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out.into_bytes()
}

fn html_table(out: &mut String, table: &Table) {
    if table.rows.is_empty() {
        let _ = writeln!(out, "<p>{}: keine Einträge.</p>", esc(&table.caption));
        return;
    }
    let _ = write!(
        out,
        "<div class=\"scroll\">\n<table>\n<caption>{}</caption>\n<thead><tr>",
        esc(&table.caption)
    );
    for c in &table.columns {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(c.header));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let row_header = table.row_header();
    for row in &table.rows {
        out.push_str("<tr>");
        for (i, (cell, column)) in row.iter().zip(&table.columns).enumerate() {
            let text = esc(&german_text(cell));
            let (open, close) = if i == row_header {
                ("<th scope=\"row\">", "</th>")
            } else if matches!(column.kind, Kind::Int | Kind::Percent) {
                ("<td class=\"num\">", "</td>")
            } else {
                ("<td>", "</td>")
            };
            out.push_str(open);
            match cell {
                Cell::Text(s) if column.kind == Kind::Url && is_http(s) => {
                    let _ = write!(out, "<a href=\"{text}\">{text}</a>");
                }
                Cell::Date(d) => {
                    let _ = write!(
                        out,
                        "<time datetime=\"{}\">{text}</time>",
                        d.format("%Y-%m-%d")
                    );
                }
                _ => out.push_str(&text),
            }
            out.push_str(close);
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
}

/// The Nachnutzung funnel: one bar per stage, as wide as the services that
/// reached it, beside its label and count.
fn funnel(out: &mut String, report: &Report) {
    let Some(offered) = report.funnel.first().map(|(_, n)| *n) else {
        return;
    };
    const ROW: usize = 26;
    const LABEL: usize = 250;
    const BAR: f64 = 420.0;
    let height = report.funnel.len() * ROW + 6;
    let _ = write!(
        out,
        "<figure>\n<figcaption id=\"chart-nachnutzung\">Weg der EfA-Onlinedienste zu den Kommunen</figcaption>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-labelledby=\"chart-nachnutzung\" \
         width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\" font-size=\"13\">\n",
        w = LABEL + 420 + 60,
    );
    for (i, (stage, n)) in report.funnel.iter().enumerate() {
        let y = i * ROW + 3;
        let share = if offered == 0 {
            0.0
        } else {
            f64::from(*n) / f64::from(offered)
        };
        let _ = writeln!(
            out,
            "<g><title>{label}: {n}</title>\
             <text x=\"0\" y=\"{ty}\">{label}</text>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{bw:.1}\" height=\"20\" fill=\"#2f5597\"/>\
             <text x=\"{tx:.1}\" y=\"{ty}\">{n}</text></g>",
            label = esc(stage.label()),
            ty = y + 15,
            bw = share * BAR,
            tx = LABEL as f64 + share * BAR + 6.0,
        );
    }
    out.push_str("</svg>\n</figure>\n");
}

fn is_http(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

/// Horizontal bars: share of each Ressort's services that are live in Lower Saxony.
fn chart(out: &mut String, report: &Report) {
    if report.ressorts.is_empty() {
        return;
    }
    const ROW: usize = 22;
    const LABEL: usize = 60;
    const BAR: f64 = 300.0;
    let height = report.ressorts.len() * ROW + 10;
    let _ = write!(
        out,
        "<figure>\n<figcaption id=\"chart-ressorts\">Anteil produktiver EfA-Leistungen je Ressort</figcaption>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-labelledby=\"chart-ressorts\" \
         width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\" font-size=\"12\">\n",
        w = LABEL + 300 + 70,
    );
    for (i, r) in report.ressorts.iter().enumerate() {
        let y = i * ROW + 5;
        let share = r.services.share_produktiv().unwrap_or(0.0).clamp(0.0, 1.0);
        let label = german_text(&Cell::Percent(share));
        let _ = writeln!(
            out,
            "<g><title>{name}: {label}</title>\
             <text x=\"0\" y=\"{ty}\">{key}</text>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{BAR}\" height=\"16\" fill=\"#e6e6e6\"/>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{bw:.1}\" height=\"16\" fill=\"#2f5597\"/>\
             <text x=\"{tx}\" y=\"{ty}\">{label}</text></g>",
            name = esc(&r.name),
            key = esc(&r.key),
            ty = y + 13,
            bw = share * BAR,
            tx = LABEL + 300 + 6,
        );
    }
    out.push_str("</svg>\n</figure>\n");
}

/// HTML escaping for text and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn esc_covers_markup_and_quotes() {
        assert_eq!(
            super::esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
