//! `ozgsync annotations import|show|orphans`: Lower Saxony's annotations per LeiKa
//! key, delivered by the ministries as spreadsheets (see README, "Annotations").

use crate::error::ShowPath;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::output::{json, opt, render, say, say_json, visible};
use super::{Context, Format};
use crate::annotations::csv as sheet;
use crate::model::Leistungsschluessel;
use crate::store::annotations as store;
use crate::store::sheet::{AuditRow, ImportReport};

/// Lower Saxony's annotations per LeiKa key: import a ministry's sheet, show one
/// key with its audit trail, list annotations whose key left the catalogue.
#[derive(Debug, clap::Args)]
pub struct Annotations {
    #[command(subcommand)]
    action: Action,
}

/// The arguments of every coordinators' sheet import.
#[derive(Debug, clap::Args)]
pub(super) struct SheetImport {
    /// The sheet (write the template with `ozgsync template …`).
    pub file: PathBuf,
    /// Who delivered the sheet; recorded in the audit trail.
    #[arg(long, value_name = "NAME")]
    pub by: String,
    /// Apply the valid rows even if others are refused.
    #[arg(long)]
    pub partial: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Validate a sheet (XLSX, or CSV with `;` or `,`, UTF-8 or Windows-1252) and
    /// apply it.
    ///
    /// The whole file is checked first; every error is listed with line and column.
    /// If any row is wrong nothing is applied, unless --partial. Empty cells keep
    /// the current value, `-` clears it. Exit code 1 when any row was refused.
    Import(SheetImport),
    Show(ShowArgs),
    Orphans(OrphansArgs),
}

/// Show the annotation of a LeiKa key and its audit trail.
#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// 14-digit Leistungsschlüssel.
    key: Leistungsschluessel,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// List annotations whose key is retired from LeiKa or was never in it.
#[derive(Debug, clap::Args)]
struct OrphansArgs {
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

impl Annotations {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        match self.action {
            Action::Import(args) => args.run(ctx, annotation_sheet, store::import),
            Action::Show(a) => show(ctx, a.key.as_str(), a.format),
            Action::Orphans(a) => orphans(ctx, a.format),
        }
    }
}

impl SheetImport {
    /// Reads the sheet with `read`, applies it with `apply` (`--by`, origin,
    /// `--partial`) and prints what happened.
    pub(super) fn run<S: sheet::HiddenRows>(
        &self,
        ctx: &Context,
        read: impl FnOnce(std::io::BufReader<std::fs::File>) -> Result<S, crate::parse::ParseError>,
        apply: impl FnOnce(
            &mut rusqlite::Connection,
            &S,
            &str,
            &str,
            bool,
        ) -> crate::Result<ImportReport>,
    ) -> anyhow::Result<ExitCode> {
        let by = delivered_by(&self.by)?;
        let origin = self.file.shown().to_string();
        let sheet = read_sheet(ctx, &self.file, read)?;
        let mut conn = ctx.open_writer()?;
        let report = apply(&mut conn, &sheet, by, &origin, self.partial)?;
        // Said after the sheet was applied or refused, so that it says which.
        let imported = report.refused == 0 || self.partial;
        if let Some(warning) = hidden_rows_warning(sheet.hidden_rows(), imported) {
            eprintln!("{origin}: warning: {warning}");
        }
        print_import(ctx, &origin, &report, self.partial, self.format)
    }
}

/// The warning for workbook rows hidden when the sheet was saved (an autofilter
/// hides the rows it filters out): they are imported like the visible ones, since
/// a hidden row still holds what the sheet says, but the sender may not have seen
/// them. At most 20 row numbers are listed. `imported` is false when the sheet was
/// refused (a row with errors, no `--partial`): the hidden rows were read, and their
/// errors are among those listed, but nothing was imported.
pub(super) fn hidden_rows_warning(rows: &[u64], imported: bool) -> Option<String> {
    let (first, rest) = (rows.iter().take(20), rows.len().saturating_sub(20));
    let mut list = first.map(u64::to_string).collect::<Vec<_>>().join(", ");
    if list.is_empty() {
        return None;
    }
    if rest > 0 {
        list.push_str(&format!(" and {rest} more"));
    }
    let n = rows.len();
    Some(if imported {
        format!(
            "{n} row(s) hidden in the workbook (by a filter or by hand) are imported like the others: row(s) {list}. \
             Check them, or show all rows (Excel: Daten → Filter löschen, Zeilen einblenden) to see what is imported"
        )
    } else {
        format!(
            "{n} row(s) hidden in the workbook (by a filter or by hand) were read like the others, and nothing \
             was imported: row(s) {list}. A row named in the errors may be one of them: show all rows \
             (Excel: Daten → Filter löschen, Zeilen einblenden) to find it"
        )
    })
}

/// Prints what a sheet import did (errors with line and column on stderr) and
/// gives exit code 1 when any row was refused.
fn print_import(
    ctx: &Context,
    origin: &str,
    report: &ImportReport,
    partial: bool,
    format: Format,
) -> anyhow::Result<ExitCode> {
    // Printed like every writing command's summary: a closed stdout must not turn
    // the exit code of refused rows into success.
    if format == Format::Json {
        say_json(report);
    } else {
        let stderr = std::io::stderr();
        let mut err = stderr.lock();
        for e in &report.errors {
            writeln!(err, "{}: {}", visible(origin), visible(&e.to_string()))?;
        }
        if !ctx.quiet || report.refused > 0 {
            say!("{}", summary(origin, report, partial));
        }
    }
    Ok(if report.refused > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The `--by` of a sheet import (see [`super::by_arg`]).
fn delivered_by(by: &str) -> anyhow::Result<&str> {
    Ok(super::by_arg(by, "--by must name who delivered the sheet")?)
}

/// Opens `file` and reads it with `read`; a file that is not the sheet fails with
/// its name.
fn read_sheet<T>(
    ctx: &Context,
    file: &std::path::Path,
    read: impl FnOnce(std::io::BufReader<std::fs::File>) -> Result<T, crate::parse::ParseError>,
) -> anyhow::Result<T> {
    let input = super::open_input(ctx, file).map_err(crate::Error::io("opening", file))?;
    Ok(
        read(std::io::BufReader::new(input)).map_err(|source| crate::Error::Parse {
            location: file.shown().to_string(),
            source,
        })?,
    )
}

/// Reads an annotation sheet as XLSX when the file is a workbook (whatever its
/// name), else as CSV.
fn annotation_sheet(
    mut input: std::io::BufReader<std::fs::File>,
) -> Result<sheet::Sheet, crate::parse::ParseError> {
    let head = std::io::BufRead::fill_buf(&mut input)?;
    if crate::parse::xlsx_sheet::is_xlsx(head) {
        crate::annotations::xlsx::read(input)
    } else {
        sheet::read(input)
    }
}

fn summary(origin: &str, r: &ImportReport, partial: bool) -> String {
    if r.refused > 0 && !partial {
        // "apply the 0 valid rows with --partial" sends the operator to a flag
        // that would change nothing.
        let way_out = match r.not_applied {
            0 => "No row is valid: fix the rows listed above.".to_owned(),
            valid => format!(
                "Fix the rows listed above, or apply the {valid} valid rows with --partial."
            ),
        };
        return format!(
            "{origin}: {} of {} rows refused; nothing applied. {way_out}",
            r.refused, r.rows
        );
    }
    format!(
        "{origin}: {} rows changed ({} field changes audited), {} unchanged, {} refused",
        r.changed, r.audited_fields, r.unchanged, r.refused
    )
}

#[derive(Serialize)]
struct ShowOut {
    annotation: Option<store::AnnotationView>,
    audit: Vec<AuditRow>,
}

fn show(ctx: &Context, key: &str, format: Format) -> anyhow::Result<ExitCode> {
    let conn = ctx.open_reader()?;
    let annotation = store::annotation(&conn, key)?;
    let audit = store::audit(&conn, key)?;
    if annotation.is_none() && audit.is_empty() {
        return Err(crate::Error::NotFound(format!("no annotation for {key}")).into());
    }
    let mut out = super::output::stdout();
    match format {
        Format::Json => json(&mut out, &ShowOut { annotation, audit })?,
        Format::Csv => super::output::csv(&mut out, &AUDIT_HEADER, &audit_rows(&audit))?,
        Format::Text => {
            if let Some(a) = &annotation {
                writeln!(
                    out,
                    "{}  {}",
                    a.leistungsschluessel,
                    visible(&opt(&a.bezeichnung))
                )?;
                let ressort = match (&a.ressort, &a.ressort_name) {
                    (Some(k), Some(n)) => format!("{k} ({n})"),
                    _ => String::new(),
                };
                let efa = match (&a.efa_id, &a.efa_name) {
                    (Some(id), Some(n)) => format!("{id} ({n})"),
                    (Some(id), None) => id.clone(),
                    _ => String::new(),
                };
                let lines = [
                    ("Ressort", ressort),
                    ("Vollzug", opt(&a.vollzug)),
                    ("Umsetzungsweg", opt(&a.umsetzungsweg)),
                    ("EfA", efa),
                    ("Depriorisierungsgrund", opt(&a.depriorisierung_grund)),
                    ("Priorität", opt(&a.prioritaet)),
                    ("Zieldatum", opt(&a.zieldatum)),
                    ("Bemerkung", opt(&a.bemerkung)),
                    (
                        "verwaist",
                        if a.orphaned {
                            "ja (key not in the current LeiKa)".into()
                        } else {
                            "nein".into()
                        },
                    ),
                    ("geändert", format!("{} by {}", a.updated_at, a.updated_by)),
                ];
                for (label, value) in lines {
                    let line = format!("  {label:<22} {}", visible(&value));
                    writeln!(out, "{}", line.trim_end())?;
                }
            }
            write_audit(&mut out, &audit)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The columns of an audit trail as CSV.
pub(super) const AUDIT_HEADER: [&str; 6] = [
    "changed_at",
    "changed_by",
    "field",
    "old_value",
    "new_value",
    "origin",
];

/// An audit trail as text, oldest first.
pub(super) fn write_audit(out: &mut dyn Write, audit: &[AuditRow]) -> std::io::Result<()> {
    writeln!(out, "audit trail ({}):", audit.len())?;
    for a in audit {
        writeln!(
            out,
            "  {}  {}  {}: {} → {}  ({})",
            a.changed_at,
            a.changed_by,
            a.field,
            visible(a.old_value.as_deref().unwrap_or("∅")),
            visible(a.new_value.as_deref().unwrap_or("∅")),
            visible(&a.origin)
        )?;
    }
    Ok(())
}

pub(super) fn audit_rows(audit: &[AuditRow]) -> Vec<Vec<String>> {
    audit
        .iter()
        .map(|a| {
            vec![
                a.changed_at.clone(),
                a.changed_by.clone(),
                a.field.clone(),
                opt(&a.old_value),
                opt(&a.new_value),
                a.origin.clone(),
            ]
        })
        .collect()
}

fn orphans(ctx: &Context, format: Format) -> anyhow::Result<ExitCode> {
    let conn = ctx.open_reader()?;
    let rows = store::orphans(&conn)?;
    let header = [
        "leistungsschluessel",
        "reason",
        "retired_in",
        "bezeichnung",
        "ressort",
        "umsetzungsweg",
        "updated_at",
    ];
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|o| {
            let a = &o.annotation;
            vec![
                a.leistungsschluessel.clone(),
                o.reason.to_owned(),
                opt(&o.retired_in),
                opt(&a.bezeichnung),
                opt(&a.ressort),
                opt(&a.umsetzungsweg),
                a.updated_at.clone(),
            ]
        })
        .collect();
    render(format, &header, &table, &rows)?;
    Ok(ExitCode::SUCCESS)
}
