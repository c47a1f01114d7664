//! `ozgsync backup FILE`: a consistent copy of the database, made by
//! [`crate::store::backup`] (SQLite's online backup, safe while the daemon writes).

use std::path::PathBuf;
use std::process::ExitCode;

use super::output::say;
use super::Context;

/// Copy the database to FILE (mode 0600) with SQLite's online backup; safe while
/// the daemon runs. Restore by stopping ozgsync and copying FILE back.
#[derive(Debug, clap::Args)]
pub struct Backup {
    /// Where to write the copy (must not exist).
    file: PathBuf,
}

impl Backup {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        crate::store::backup::backup(&ctx.db, &self.file)?;
        if !ctx.quiet {
            say!("{} backed up to {}", ctx.db.display(), self.file.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}
