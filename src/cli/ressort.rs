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
    List(ListArgs),
    Rename(RenameArgs),
}

/// List the Ressorts with their current Kürzel and name, and planned renames.
#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Every name a Ressort has had, with the dates it was valid.
    #[arg(long)]
    history: bool,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Rename a Ressort from a date on: closes the current name, opens the new one. A
/// date after today plans the rename; it takes effect on that date.
#[derive(Debug, clap::Args)]
struct RenameArgs {
    /// Current Kürzel (e.g. MW).
    kuerzel: String,
    /// New Kürzel [default: unchanged].
    #[arg(long = "kuerzel", value_name = "NEW")]
    new_kuerzel: Option<String>,
    /// New full name [default: unchanged].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Date the new name takes effect (YYYY-MM-DD or DD.MM.YYYY).
    #[arg(long, value_name = "DATE", value_parser = super::date_arg)]
    from: chrono::NaiveDate,
}

impl Ressort {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        match self.action {
            Action::List(ListArgs { history, format }) => {
                let conn = ctx.open_reader()?;
                let rows = ressort::list(&conn, history)?;
                let header = [
                    "id",
                    "kuerzel",
                    "name",
                    "valid_from",
                    "valid_to",
                    "dissolved_on",
                    "planned",
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
                            if r.planned { "planned" } else { "" }.to_owned(),
                        ]
                    })
                    .collect();
                render(format, &header, &table, &rows)?;
                Ok(ExitCode::SUCCESS)
            }
            Action::Rename(RenameArgs {
                kuerzel,
                new_kuerzel,
                name,
                from,
            }) => {
                let mut conn = ctx.open_writer()?;
                let renamed = ressort::rename(
                    &mut conn,
                    &kuerzel,
                    new_kuerzel.as_deref(),
                    name.as_deref(),
                    from,
                )?;
                if !ctx.quiet && renamed.planned {
                    say!(
                        "Ressort {} will be {} ({}) from {}; until then it stays {kuerzel}",
                        renamed.ressort_id,
                        renamed.kuerzel,
                        renamed.name,
                        renamed.valid_from
                    );
                } else if !ctx.quiet {
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
