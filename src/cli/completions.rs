//! `ozgsync completions SHELL`: the shell completion script for bash, zsh, fish,
//! PowerShell or Elvish, generated from the same clap definition as the parser, so
//! it can never list a subcommand or flag that does not exist. The Debian package
//! installs the bash, zsh and fish scripts; others redirect it to their shell's
//! completion directory.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, Context};

/// Print the shell completion script for SHELL to stdout (e.g.
/// `ozgsync completions bash > /etc/bash_completion.d/ozgsync`).
#[derive(Debug, clap::Args)]
pub struct Completions {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

impl Completions {
    pub fn run(self, _ctx: &Context) -> anyhow::Result<ExitCode> {
        let mut cmd = Cli::command();
        // Rendered into memory first: `clap_complete::generate` panics when its
        // writer fails, and a closed pipe (`| head`) must end quietly instead.
        let mut script = Vec::new();
        clap_complete::generate(self.shell, &mut cmd, "ozgsync", &mut script);
        super::output::stdout().write_all(&script)?;
        Ok(ExitCode::SUCCESS)
    }
}
