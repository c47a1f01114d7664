//! `ozgsync ressort list|rename`: the ministries as data. Renames keep the
//! Ressort's id, so annotations and status follow it.

use std::process::ExitCode;

use super::output::{opt, render, say};
use super::{Context, Format};
use crate::store::ressort;

/// Lower Saxony's ministries (Ressorts): list them, or rename one after a cabinet
/// re-cut without losing history.
#[derive(Debug, clap::Args)]
pub struct Ressort {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// List the Ressorts with their current Kürzel and name.
    List {
        /// Every name a Ressort has had, with the dates it was valid.
        #[arg(long)]
        history: bool,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Rename a Ressort from a date on: closes the current name, opens the new one.
    Rename {
        /// Current Kürzel (e.g. MW).
        kuerzel: String,
        /// New Kürzel [default: unchanged].
        #[arg(long = "kuerzel", value_name = "NEW")]
        new_kuerzel: Option<String>,
        /// New full name [default: unchanged].
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Date the new name takes effect (YYYY-MM-DD or DD.MM.YYYY).
        #[arg(long, value_name = "DATE")]
        from: String,
    },
}

impl Ressort {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        match self.action {
            Action::List { history, format } => {
                let conn = ctx.open_reader()?;
                let rows = ressort::list(&conn, history)?;
                let header = [
                    "id",
                    "kuerzel",
                    "name",
                    "valid_from",
                    "valid_to",
                    "dissolved_on",
                ];
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.ressort_id.to_string(),
                            r.kuerzel.clone(),
                            r.name.clone(),
                            r.valid_from.clone(),
                            opt(&r.valid_to),
                            opt(&r.dissolved_on),
                        ]
                    })
                    .collect();
                render(format, &header, &table, &rows)?;
                Ok(ExitCode::SUCCESS)
            }
            Action::Rename {
                kuerzel,
                new_kuerzel,
                name,
                from,
            } => {
                let date = crate::parse::csv_text::parse_date(&from).ok_or_else(|| {
                    crate::Error::Usage(format!("--from {from:?} is not a date like 2027-11-08"))
                })?;
                let mut conn = ctx.open_writer()?;
                let renamed = ressort::rename(
                    &mut conn,
                    &kuerzel,
                    new_kuerzel.as_deref(),
                    name.as_deref(),
                    date,
                )?;
                if !ctx.quiet {
                    say!(
                        "Ressort {} is {} ({}) from {}",
                        renamed.ressort_id,
                        renamed.kuerzel,
                        renamed.name,
                        renamed.valid_from
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
