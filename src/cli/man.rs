//! `ozgsync man`: the roff man page ozgsync(1), generated from the clap definition
//! (every subcommand with its help text, the global options, the version), so the
//! page the Debian package installs matches the binary it ships with.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use super::{Cli, Context};

/// Print the man page ozgsync(1) in roff to stdout (`ozgsync man | man -l -`).
#[derive(Debug, clap::Args)]
pub struct Man {}

impl Man {
    pub fn run(self, _ctx: &Context) -> anyhow::Result<ExitCode> {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut page)?;
        std::io::stdout().lock().write_all(&page)?;
        Ok(ExitCode::SUCCESS)
    }
}
