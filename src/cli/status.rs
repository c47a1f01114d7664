//! `ozgsync status`: without a subcommand, the operations overview (last runs, next
//! schedule, last release per source, database size); with one, the Onlinedienst
//! status per Ressort and municipality (`set`, `import`, `show`).

use std::process::ExitCode;

use super::Context;

/// Operations overview, or (with a subcommand) the Onlinedienst status.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Status {
    #[command(subcommand)]
    action: Option<super::status_events::StatusAction>,
    /// Overview as JSON (the schedule comes from the configuration, if any).
    #[arg(long)]
    json: bool,
}

impl Status {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        match self.action {
            Some(action) => action.run(ctx),
            None => super::ops_status::run(ctx, self.json),
        }
    }
}
