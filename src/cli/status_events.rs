//! Onlinedienst status subcommands (`ozgsync status set|import|show`).
//! TODO(issue 3 status helper).

use std::process::ExitCode;

use super::Context;

#[derive(Debug, clap::Subcommand)]
pub enum StatusAction {
    /// Show the status of a service (placeholder).
    Show {
        /// LeiKa key or EfA id.
        subject: String,
    },
}

impl StatusAction {
    pub fn run(self, _ctx: &Context) -> anyhow::Result<ExitCode> {
        anyhow::bail!("not implemented yet")
    }
}
