//! `ozgsync status`: without a subcommand, the operations overview (last runs, next
//! schedule, last release per source, database size); with one, the Onlinedienst
//! status per Ressort and municipality (`set`, `import`, `show`).

use std::process::ExitCode;

use super::output::SummaryFormat;
use super::Context;

/// Operations overview, or (with a subcommand) the Onlinedienst status.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Status {
    #[command(subcommand)]
    action: Option<super::status_events::StatusAction>,
    /// Overview as `text` or `json` (the schedule comes from the configuration,
    /// if any).
    #[arg(long, value_enum, default_value_t)]
    format: SummaryFormat,
    /// The same as `--format json` (kept for scripts written before `--format`).
    #[arg(long, conflicts_with = "format")]
    json: bool,
}

impl Status {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        match self.action {
            Some(action) => action.run(ctx),
            None => super::ops_status::run(ctx, self.json || self.format == SummaryFormat::Json),
        }
    }
}
