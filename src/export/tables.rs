//! The report as typed tables: one [`Table`] per part (Leistungen, Ressorts,
//! Themenfelder, Kreise, Änderungen) with German headers and typed cells. XLSX,
//! CSV, HTML and Markdown all render these, so every format shows the same columns
//! in the same order; only JSON has its own structure (`export::json`).

use chrono::NaiveDate;

use super::model::{Phases, ProgressRow, Report, Stage, Status};
use crate::annotations::sheet::SheetField;

/// The parts of the report; `--part` and the CSV file names use [`Part::slug`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The funnel of the EfA-Nachnutzung: how many services reached each stage.
    Nachnutzung,
    /// What a Kommune can order now, and through whom.
    Kommunen,
    Leistungen,
    Ressorts,
    Themenfelder,
    Kreise,
    Aenderungen,
}

impl Part {
    /// In reading order: the overview, what the Kommunen can use, the details.
    pub const ALL: [Part; 7] = [
        Part::Nachnutzung,
        Part::Kommunen,
        Part::Leistungen,
        Part::Ressorts,
        Part::Themenfelder,
        Part::Kreise,
        Part::Aenderungen,
    ];

    /// File-name slug (ASCII).
    pub fn slug(self) -> &'static str {
        match self {
            Part::Nachnutzung => "nachnutzung",
            Part::Kommunen => "kommunen",
            Part::Leistungen => "leistungen",
            Part::Ressorts => "ressorts",
            Part::Themenfelder => "themenfelder",
            Part::Kreise => "kreise",
            Part::Aenderungen => "aenderungen",
        }
    }

    /// XLSX sheet name: at most 31 characters, no `:` (Excel's rules).
    pub fn sheet_name(self) -> &'static str {
        match self {
            Part::Kommunen => "Für Kommunen",
            other => other.title(),
        }
    }

    /// Heading (and, through [`Part::sheet_name`], the sheet).
    pub fn title(self) -> &'static str {
        match self {
            Part::Nachnutzung => "EfA-Nachnutzung",
            Part::Kommunen => "Für Kommunen: verfügbare EfA-Onlinedienste",
            Part::Leistungen => "Leistungen",
            Part::Ressorts => "Ressorts",
            Part::Themenfelder => "Themenfelder",
            Part::Kreise => "Kreise",
            Part::Aenderungen => "Änderungen",
        }
    }
}

/// How a column's values are typed and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// Identifiers made of digits (ARS, keys): text, never a number (leading zeros).
    Code,
    Int,
    /// A share 0..=1, shown as a percentage.
    Percent,
    Date,
    Url,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub header: &'static str,
    pub kind: Kind,
    /// Width in characters for XLSX.
    pub width: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Int(i64),
    Percent(f64),
    Date(NaiveDate),
}

impl Cell {
    fn opt_text(s: Option<&str>) -> Cell {
        s.map_or(Cell::Empty, |s| Cell::Text(s.to_owned()))
    }
    fn text(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }
    fn percent(p: Option<f64>) -> Cell {
        p.map_or(Cell::Empty, Cell::Percent)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub part: Part,
    /// Caption: what the table shows (accessible name in HTML).
    pub caption: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// The column that names a row (service, Ressort, Kreis; a row header in
    /// HTML): the second, after the key, except in the Themenfelder, which are
    /// named by their label alone.
    pub fn row_header(&self) -> usize {
        if self.part == Part::Themenfelder {
            0
        } else {
            1
        }
    }
}

const fn col(header: &'static str, kind: Kind, width: u16) -> Column {
    Column {
        header,
        kind,
        width,
    }
}

/// All parts of the report, in order.
pub fn report_tables(report: &Report) -> Vec<Table> {
    Part::ALL.iter().map(|p| table(report, *p)).collect()
}

/// One part of the report.
pub fn table(report: &Report, part: Part) -> Table {
    match part {
        Part::Nachnutzung => funnel(report),
        Part::Kommunen => kommunen(report),
        Part::Leistungen => leistungen(report),
        Part::Ressorts => progress(
            part,
            Some("Ressort"),
            "Fortschritt je Ressort (Landesstatus der EfA-Leistungen und kommunale Einführung)",
            &report.ressorts,
        ),
        // The Themenfeld's label only: its slug is a code, not a word people use.
        Part::Themenfelder => progress(
            part,
            None,
            "Fortschritt je OZG-Themenfeld",
            &report.themenfelder,
        ),
        Part::Kreise => kreise(report),
        Part::Aenderungen => aenderungen(report),
    }
}

fn funnel(report: &Report) -> Table {
    let columns = vec![
        col("Stufe", Kind::Int, 7),
        col("Bezeichnung", Kind::Text, 36),
        col("EfA-Onlinedienste", Kind::Int, 14),
        col("Anteil der angebotenen", Kind::Percent, 14),
    ];
    let offered = report.funnel.first().map_or(0, |(_, n)| *n);
    let rows = report
        .funnel
        .iter()
        .map(|(stage, n)| {
            vec![
                Cell::Int(i64::try_from(stage.stufe()).unwrap_or(0)),
                Cell::text(stage.label()),
                Cell::Int(i64::from(*n)),
                Cell::percent(super::model::share(*n, offered)),
            ]
        })
        .collect();
    Table {
        part: Part::Nachnutzung,
        caption: format!(
            "EfA-Onlinedienste je Stufe der Nachnutzung (ein Dienst zählt auf seiner Stufe und allen davor), Stand {}",
            report.as_of.format("%d.%m.%Y")
        ),
        columns,
        rows,
    }
}

/// The services a Kommune can order on the report date, by Themenfeld and name.
fn kommunen(report: &Report) -> Table {
    let columns = vec![
        col("Themenfeld", Kind::Text, 22),
        col("Onlinedienst", Kind::Text, 40),
        col("EfA-ID", Kind::Code, 12),
        col("Bezug über", Kind::Text, 12),
        col("Bereitgestellt ab", Kind::Date, 12),
        col("Kostenmodell", Kind::Text, 20),
        col("Kosten trägt das Land", Kind::Text, 12),
        col("Kontakt", Kind::Text, 28),
        col("Link", Kind::Url, 40),
    ];
    let mut available: Vec<_> = report
        .services
        .iter()
        .filter_map(|s| Some((s, s.nachnutzung.channel_on(report.as_of)?)))
        .map(|(s, kanal)| {
            let themenfeld = s
                .themenfeld
                .as_deref()
                .map(super::model::themenfeld_label)
                .unwrap_or_default();
            (themenfeld, s, kanal)
        })
        .collect();
    available.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
    let rows = available
        .into_iter()
        .map(|(themenfeld, s, kanal)| {
            let state = s.nachnutzung.state.as_ref();
            vec![
                Cell::text(themenfeld),
                Cell::text(&s.name),
                Cell::text(&s.efa_id),
                Cell::text(kanal.label()),
                state
                    .and_then(|st| st.bereitgestellt_ab)
                    .map_or(Cell::Empty, Cell::Date),
                Cell::opt_text(
                    s.kostenmodell
                        .as_deref()
                        .map(|k| crate::model::Kostenmodell::parse(k).map_or(k, |m| m.label())),
                ),
                Cell::opt_text(state.and_then(|st| st.kosten_land).map(|k| k.label())),
                Cell::opt_text(state.and_then(|st| st.kontakt.as_deref())),
                Cell::opt_text(s.url.as_deref()),
            ]
        })
        .collect();
    Table {
        part: Part::Kommunen,
        caption: format!(
            "EfA-Onlinedienste, die Kommunen am {} bestellen können, und über wen",
            report.as_of.format("%d.%m.%Y")
        ),
        columns,
        rows,
    }
}

fn leistungen(report: &Report) -> Table {
    let columns = vec![
        col("EfA-ID", Kind::Code, 12),
        col("Onlinedienst", Kind::Text, 40),
        col("OZG-Leistung(en)", Kind::Text, 40),
        col("Themenfeld", Kind::Text, 22),
        col("Federführendes Land", Kind::Text, 12),
        col("Stufe der Nachnutzung", Kind::Text, 18),
        col("Bezug über", Kind::Text, 12),
        col("Landesstatus", Kind::Text, 16),
        col("Ressort", Kind::Text, 9),
        col("Umsetzungsweg", Kind::Text, 14),
        col("Reifegrad", Kind::Int, 10),
        col("Reifegradmodell", Kind::Text, 10),
        col("Kommunen gesamt", Kind::Int, 10),
        col("Kommunen produktiv", Kind::Int, 10),
        col("Anteil produktiv", Kind::Percent, 10),
        col("Kommunen in Einführung", Kind::Int, 12),
        col("Anteil in Einführung", Kind::Percent, 12),
        col("Kommunen geplant", Kind::Int, 10),
        col("Anteil geplant", Kind::Percent, 10),
        col("Online beobachtet", Kind::Int, 10),
        col("Beobachtet gesamt", Kind::Int, 10),
        col("Link", Kind::Url, 40),
    ];
    let rows =
        report
            .services
            .iter()
            .map(|s| {
                let ozg = s
                    .ozg_leistungen
                    .iter()
                    .map(|o| format!("{} {}", o.ozg_id, o.name))
                    .collect::<Vec<_>>()
                    .join("; ");
                let k = &s.kommunen;
                vec![
                    Cell::text(&s.efa_id),
                    Cell::text(&s.name),
                    if ozg.is_empty() {
                        Cell::Empty
                    } else {
                        Cell::Text(ozg)
                    },
                    Cell::opt_text(s.themenfeld.as_deref().map(super::model::themenfeld_label)),
                    Cell::opt_text(s.federfuehrendes_land.as_deref()),
                    Cell::text(s.nachnutzung.stage.label()),
                    Cell::opt_text(s.nachnutzung.channel_on(report.as_of).map(|k| k.label())),
                    Cell::opt_text(s.status_land.map(Status::label)),
                    Cell::opt_text(s.ressort.as_deref()),
                    Cell::opt_text(s.umsetzungsweg.as_deref().map(|w| {
                        crate::annotations::Umsetzungsweg::parse(w).map_or(w, |u| u.label())
                    })),
                    s.reifegrad
                        .as_ref()
                        .map_or(Cell::Empty, |r| Cell::Int(i64::from(r.level))),
                    Cell::opt_text(s.reifegrad.as_ref().map(|r| r.model.as_str())),
                    Cell::Int(i64::from(k.total)),
                    Cell::Int(i64::from(k.produktiv)),
                    Cell::percent(k.share_produktiv()),
                    Cell::Int(i64::from(k.einfuehrung)),
                    Cell::percent(super::model::share(k.einfuehrung, k.total)),
                    Cell::Int(i64::from(k.geplant)),
                    Cell::percent(super::model::share(k.geplant, k.total)),
                    s.verfuegbarkeit
                        .map_or(Cell::Empty, |a| Cell::Int(i64::from(a.online))),
                    s.verfuegbarkeit
                        .map_or(Cell::Empty, |a| Cell::Int(i64::from(a.observed))),
                    Cell::opt_text(s.url.as_deref()),
                ]
            })
            .collect();
    Table {
        part: Part::Leistungen,
        caption: format!(
            "EfA-Onlinedienste für Niedersachsen, Stand {}",
            report.as_of.format("%d.%m.%Y")
        ),
        columns,
        rows,
    }
}

fn phase_cells(p: &Phases) -> [Cell; 5] {
    [
        Cell::Int(i64::from(p.total)),
        Cell::Int(i64::from(p.produktiv)),
        Cell::Int(i64::from(p.einfuehrung)),
        Cell::Int(i64::from(p.geplant)),
        Cell::percent(p.share_produktiv()),
    ]
}

/// A progress table; `key` is the header of a column for the group's key (a
/// Ressort's Kürzel), `None` for groups whose key is a code (a Themenfeld's slug),
/// which are named by their label alone.
fn progress(part: Part, key: Option<&'static str>, caption: &str, rows: &[ProgressRow]) -> Table {
    let mut columns = vec![
        // A group named by its label alone calls the label column by the group.
        col(key.map_or("Themenfeld", |_| "Bezeichnung"), Kind::Text, 50),
        col("Leistungen", Kind::Int, 11),
        col("Leistungen produktiv", Kind::Int, 11),
        col("Leistungen in Einführung", Kind::Int, 12),
        col("Leistungen geplant", Kind::Int, 11),
        col("Anteil Leistungen produktiv", Kind::Percent, 12),
        col("Kommunale Einführungen", Kind::Int, 12),
        col("davon produktiv", Kind::Int, 11),
        col("davon in Einführung", Kind::Int, 11),
        col("davon geplant", Kind::Int, 11),
        col("Anteil kommunal produktiv", Kind::Percent, 12),
    ];
    let rows = rows
        .iter()
        .map(|r| {
            let mut row = Vec::with_capacity(columns.len() + 1);
            if key.is_some() {
                row.push(Cell::text(&r.key));
            }
            row.push(Cell::text(&r.name));
            row.extend(phase_cells(&r.services));
            row.extend(phase_cells(&r.kommunen));
            row
        })
        .collect();
    if let Some(header) = key {
        columns.insert(0, col(header, Kind::Text, 14));
    }
    Table {
        part,
        caption: caption.to_owned(),
        columns,
        rows,
    }
}

fn kreise(report: &Report) -> Table {
    let columns = vec![
        col("ARS", Kind::Code, 14),
        col("Kreis", Kind::Text, 30),
        col("Gemeinden", Kind::Int, 10),
        col("Gemeinde-Leistungen", Kind::Int, 12),
        col("produktiv", Kind::Int, 10),
        col("in Einführung", Kind::Int, 10),
        col("geplant", Kind::Int, 10),
        col("Anteil produktiv", Kind::Percent, 10),
    ];
    let rows = report
        .kreise
        .iter()
        .map(|k| {
            let mut row = vec![
                Cell::text(&k.ars),
                Cell::text(&k.name),
                Cell::Int(i64::from(k.gemeinden)),
            ];
            row.extend(phase_cells(&k.paare));
            row
        })
        .collect();
    Table {
        part: Part::Kreise,
        caption: "Kommunale Einführung je Kreis (Gemeinden × relevante Leistungen)".to_owned(),
        columns,
        rows,
    }
}

fn aenderungen(report: &Report) -> Table {
    let columns = vec![
        col("Datum", Kind::Date, 11),
        col("Art", Kind::Text, 20),
        col("Schlüssel", Kind::Code, 16),
        col("Bezeichnung", Kind::Text, 40),
        col("Bereich", Kind::Text, 30),
        col("vorher", Kind::Text, 14),
        col("neu", Kind::Text, 14),
    ];
    let c = &report.changes;
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    for n in &c.new_services {
        rows.push(vec![
            Cell::Date(n.first_seen),
            Cell::text("neue Leistung"),
            Cell::text(&n.efa_id),
            Cell::text(&n.name),
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
        ]);
    }
    for s in &c.status_changes {
        rows.push(vec![
            Cell::Date(s.effective_on),
            Cell::text(if s.retired {
                "Statusänderung (Schlüssel entfallen)"
            } else {
                "Statusänderung"
            }),
            Cell::text(&s.subject),
            Cell::text(&s.subject_name),
            Cell::Text(format!("{} ({})", s.scope_name, s.scope)),
            Cell::opt_text(s.old.map(Status::label)),
            Cell::text(s.new.label()),
        ]);
    }
    for r in &c.retired_keys {
        rows.push(vec![
            Cell::Date(r.retired_on),
            Cell::text(if r.entity == "efa_service" {
                "EfA-Leistung entfallen"
            } else {
                "Schlüssel entfallen"
            }),
            Cell::text(&r.key),
            Cell::text(&r.name),
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
        ]);
    }
    for n in &c.nachnutzung {
        let value = |v: &Option<String>| {
            v.as_deref().map_or(Cell::Empty, |v| {
                Cell::Text(crate::efa_nachnutzung::value_label(n.field, v))
            })
        };
        rows.push(vec![
            Cell::Date(n.recorded_on),
            Cell::Text(format!("Nachnutzung: {}", n.field.header())),
            Cell::text(&n.efa_id),
            Cell::text(&n.name),
            Cell::Empty,
            value(&n.old),
            value(&n.new),
        ]);
    }
    let caption = match report.since {
        Some(since) => format!(
            "Änderungen vom {} bis {}",
            since.format("%d.%m.%Y"),
            report.as_of.format("%d.%m.%Y")
        ),
        None => "Änderungen (kein Vergleichsdatum angegeben)".to_owned(),
    };
    Table {
        part: Part::Aenderungen,
        caption,
        columns,
        rows,
    }
}

/// The report in one sentence, for the top of the page: how many EfA services
/// are offered, evaluated, suitable, available to the Kommunen and live there.
pub fn summary(report: &Report) -> String {
    let at = |stage: Stage| {
        report
            .funnel
            .iter()
            .find(|(s, _)| *s == stage)
            .map_or(0, |(_, n)| *n)
    };
    format!(
        "Stand {}: {} EfA-Onlinedienste werden angeboten; {} sind für die Nachnutzung in Niedersachsen bewertet, {} davon geeignet. {} sind in der Landesverwaltung produktiv, {} stehen den Kommunen zur Verfügung, {} sind in Kommunen produktiv.",
        report.as_of.format("%d.%m.%Y"),
        at(Stage::Angeboten),
        at(Stage::Bewertet),
        at(Stage::Geeignet),
        at(Stage::LandProduktiv),
        at(Stage::Bereitgestellt),
        at(Stage::KommunenProduktiv),
    )
}

/// A cell as German text (CSV for German Excel, HTML, Markdown): decimal comma,
/// `DD.MM.YYYY` dates, percentages with one decimal and ` %`.
pub fn german_text(cell: &Cell) -> String {
    match cell {
        Cell::Empty => String::new(),
        Cell::Text(s) => s.clone(),
        Cell::Int(i) => i.to_string(),
        Cell::Percent(p) => format!("{:.1} %", p * 100.0).replace('.', ","),
        Cell::Date(d) => d.format("%d.%m.%Y").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn german_text_formats() {
        let check = |cell: Cell, expected: &str| assert_eq!(german_text(&cell), expected);
        check(Cell::Percent(0.4556), "45,6 %");
        check(Cell::Percent(1.0), "100,0 %");
        check(Cell::Int(-3), "-3");
        check(
            Cell::Date(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()),
            "01.03.2026",
        );
        check(Cell::Empty, "");
    }
}
