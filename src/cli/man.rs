//! `ozgsync man`: the roff man pages, generated from the clap definition (every
//! subcommand with its help text, the global options, the version), so the pages
//! the Debian package installs match the binary it ships with. ozgsync(1) lists the
//! subcommands as ozgsync-sync(1), ozgsync-status-set(1), ...; `--dir` writes those
//! pages too.

use crate::error::ShowPath;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory;

use super::{Cli, Context};

/// Print the man page ozgsync(1) in roff to stdout (`ozgsync man | man -l -`), or
/// with `--dir` write it and one page per subcommand into DIR.
#[derive(Debug, clap::Args)]
pub struct Man {
    /// Write ozgsync.1 and a page per subcommand (ozgsync-sync.1, ...) into this
    /// directory instead; existing files are never overwritten.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

impl Man {
    pub fn run(self, _ctx: &Context) -> anyhow::Result<ExitCode> {
        let Some(dir) = self.dir else {
            let mut page = Vec::new();
            clap_mangen::Man::new(command()).render(&mut page)?;
            super::output::stdout().write_all(&page)?;
            return Ok(ExitCode::SUCCESS);
        };
        let mut pages = Vec::new();
        render_all(command(), &mut pages)?;
        for (name, page) in pages {
            write_new(&dir.join(name), &page)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The command line as the pages show it. `build` names each subcommand after its
/// parents (ozgsync-status-set), the names ozgsync(1) refers to; `help` is left out
/// because it would be a page that only says "see the other pages".
fn command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// (file name, roff) for `cmd` and every visible subcommand below it.
fn render_all(cmd: clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        render_all(sub.clone(), out)?;
    }
    let man = clap_mangen::Man::new(cmd);
    let mut page = Vec::new();
    man.render(&mut page)?;
    out.push((man.get_filename(), page));
    Ok(())
}

/// Creates `path` with `bytes`; refuses to replace a file that is already there.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create {} (man never overwrites; use an empty directory)",
                path.shown()
            )
        })?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.shown()))
}
