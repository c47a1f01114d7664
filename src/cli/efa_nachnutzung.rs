//! `ozgsync efa-nachnutzung import|show`: the EfA-Nachnutzung per EfA service
//! (evaluation, parametrisation, channel to the Kommunen), delivered by the
//! Ressorts and the MI as sheets (see README, "EfA-Nachnutzung").

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;

use super::annotations::{audit_rows, write_audit, SheetImport};
use super::output::{json, opt, visible};
use super::{Context, Format};
use crate::efa_nachnutzung::State;
use crate::store::efa_nachnutzung::{self as store, Current};
use crate::store::sheet::{import, AuditRow};

/// EfA-Nachnutzung in Lower Saxony: import a sheet of evaluations, parametrisations
/// and channels to the Kommunen; show one EfA service with its history.
#[derive(Debug, clap::Args)]
pub struct EfaNachnutzung {
    #[command(subcommand)]
    action: Action,
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
}

/// Show the current Nachnutzung state of an EfA service, its stage and history.
#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// The EfA-ID (as in view v_efa_services).
    #[arg(value_parser = super::id_arg)]
    efa_id: String,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

impl EfaNachnutzung {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        match self.action {
            Action::Import(args) => args.run(ctx, crate::efa_nachnutzung::read, import::<State>),
            Action::Show(a) => show(ctx, a.efa_id.trim(), a.format),
        }
    }
}

#[derive(Serialize)]
struct ShowOut {
    current: Option<Current>,
    audit: Vec<AuditRow>,
}

fn show(ctx: &Context, efa_id: &str, format: Format) -> anyhow::Result<ExitCode> {
    let conn = ctx.open_reader()?;
    let current = store::current(&conn, efa_id)?;
    let audit = store::audit(&conn, efa_id)?;
    if current.is_none() && audit.is_empty() {
        return Err(crate::Error::NotFound(format!(
            "{efa_id} is not a current EfA service and has no Nachnutzung history (ids in view v_efa_services)"
        ))
        .into());
    }
    let mut out = super::output::stdout();
    match format {
        Format::Json => json(&mut out, &ShowOut { current, audit })?,
        Format::Csv => super::output::csv(
            &mut out,
            &super::annotations::AUDIT_HEADER,
            &audit_rows(&audit),
        )?,
        Format::Text => {
            if let Some(c) = &current {
                writeln!(out, "{}  {}", visible(&c.efa_id), visible(&opt(&c.name)))?;
                let lines = [
                    ("Stufe", format!("{} ({}/7)", c.stage, c.stufe)),
                    ("Bewertung", opt(&c.bewertung)),
                    ("Bewertungsgrund", opt(&c.bewertungsgrund)),
                    ("Bewertet am", opt(&c.bewertet_am)),
                    ("Ressort", opt(&c.ressort)),
                    ("Parametrisierung", opt(&c.parametrisierung)),
                    ("Parametrisiert am", opt(&c.parametrisiert_am)),
                    ("Kanal", opt(&c.kanal)),
                    ("Bereitgestellt ab", opt(&c.bereitgestellt_ab)),
                    ("Kosten Land", opt(&c.kosten_land)),
                    ("Kontakt", opt(&c.kontakt)),
                    ("Bemerkung", opt(&c.bemerkung)),
                    ("Kommunen produktiv", c.kommunen_produktiv.to_string()),
                    (
                        "geändert",
                        match (&c.updated_at, &c.updated_by) {
                            (Some(at), Some(by)) => format!("{at} by {by}"),
                            _ => String::new(),
                        },
                    ),
                ];
                for (label, value) in lines {
                    let line = format!("  {label:<20} {}", visible(&value));
                    writeln!(out, "{}", line.trim_end())?;
                }
            }
            write_audit(&mut out, &audit)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
