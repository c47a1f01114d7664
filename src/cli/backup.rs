//! `ozgsync backup FILE`: a consistent copy of the database, made by
//! [`crate::store::backup`] (SQLite's online backup, safe while the daemon writes).

use crate::error::ShowPath;
use std::path::PathBuf;
use std::process::ExitCode;

use super::output::say;
use super::Context;

/// Copy the database to FILE (mode 0600) with SQLite's online backup; safe while
/// the daemon runs. Restore by stopping ozgsync, moving the database and its
/// `-wal`, `-shm` and `-journal` aside, and copying FILE in its place.
#[derive(Debug, clap::Args)]
pub struct Backup {
    /// Where to write the copy (must not exist).
    file: PathBuf,
}

impl Backup {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        // Elsewhere `-` is standard output (`--out -`) or input; here it made a
        // file named `-` in the working directory while `| gzip` got one line.
        if self.file.as_os_str() == "-" {
            return Err(crate::Error::usage(
                "a backup is a file, written beside its final name, checked and then linked into place, so it cannot go to standard output; give a file name (./- for a file named -), and compress that file afterwards if you want",
            )
            .into());
        }
        // Exports create a missing folder for their output (and say so); a backup
        // does not: a backup disk that is not mounted would be filled in its mount
        // point's place, on the disk the database is on.
        if let Some(folder) = self.file.parent().filter(|p| {
            !p.as_os_str().is_empty()
                && std::fs::symlink_metadata(p)
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        }) {
            anyhow::bail!(
                "the folder {} for the backup does not exist (is the backup disk mounted?): create it first; a backup never creates folders",
                folder.shown()
            );
        }
        crate::store::backup::backup(&ctx.db, &self.file)?;
        if !ctx.quiet {
            say!("{} backed up to {}", ctx.db.shown(), self.file.shown());
        }
        Ok(ExitCode::SUCCESS)
    }
}
