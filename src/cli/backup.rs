//! `ozgsync backup FILE`: a consistent copy of the database with SQLite's online
//! backup, safe while the daemon writes (it copies a snapshot, page by page).

use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use rusqlite::{Connection, MAIN_DB};

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
        let db = &ctx.db;
        // Not `exists()`: that follows a link, and a dangling one would be replaced.
        if std::fs::symlink_metadata(&self.file).is_ok() {
            return Err(crate::Error::usage(format!(
                "{} exists; choose a new file name (a backup never overwrites)",
                self.file.display()
            ))
            .into());
        }
        let source = ctx.open_reader()?;
        // Written beside the target and renamed, so FILE is either absent or complete.
        let mut partial = self.file.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        let result = copy(&source, &partial);
        if let Err(e) = result {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        // A hard link never replaces: if FILE appeared meanwhile (a file, a link),
        // it stays and the backup fails, instead of a rename silently replacing it.
        // File systems without hard links (FAT) get the plain rename.
        match std::fs::hard_link(&partial, &self.file) {
            Ok(()) => std::fs::remove_file(&partial)
                .with_context(|| format!("removing {}", partial.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(anyhow::Error::new(e).context(format!(
                    "{} appeared while backing up; a backup never overwrites: the copy is \
                     kept as {}",
                    self.file.display(),
                    partial.display()
                )))
            }
            Err(_) => std::fs::rename(&partial, &self.file).with_context(|| {
                format!("renaming {} to {}", partial.display(), self.file.display())
            })?,
        }
        if !ctx.quiet {
            say!("{} backed up to {}", db.display(), self.file.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn copy(source: &Connection, target: &std::path::Path) -> anyhow::Result<()> {
    let mut copy = Connection::open(target)?;
    // All pages in one step: one read transaction, so the copy is one snapshot and
    // is never restarted by the daemon's writes (in WAL mode a reader does not block
    // the writer).
    let backup = rusqlite::backup::Backup::new_with_names(source, MAIN_DB, &mut copy, MAIN_DB)
        .with_context(|| format!("starting the backup to {}", target.display()))?;
    let mut busy = 0;
    loop {
        use rusqlite::backup::StepResult;
        match backup
            .step(-1)
            .with_context(|| format!("backing up to {}", target.display()))?
        {
            StepResult::Done => break,
            StepResult::More => {}
            // A writer holds a lock only in rollback-journal mode; wait it out.
            StepResult::Busy | StepResult::Locked if busy < 300 => {
                busy += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => anyhow::bail!(
                "backing up to {}: database stays busy ({other:?})",
                target.display()
            ),
        }
    }
    drop(backup);
    // One self-contained file: no -wal beside it to forget when copying it around.
    copy.pragma_update(None, "journal_mode", "DELETE")?;
    let check: String = copy.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    anyhow::ensure!(check == "ok", "the copy fails its check: {check}");
    Ok(())
}
