//! The command line: one enum variant per subcommand, each with its own `run` in a
//! file of its own. The doc comments are the help text. Errors are typed in the
//! library and get their context here.

mod annotations;
mod backup;
mod completions;
mod config_cmd;
mod daemon;
mod diff;
mod export;
mod import;
mod man;
mod municipality;
mod ops_status;
mod output;
mod query;
mod releases;
mod ressort;
mod search;
mod service;
mod status;
mod status_events;
mod sync;
mod template;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use output::Format;

/// Lower Saxony's OZG service database: syncs LeiKa, the municipality directory and
/// more into SQLite, keeping every release.
#[derive(Debug, Parser)]
#[command(name = "ozgsync", version, propagate_version = true)]
pub struct Cli {
    /// SQLite database file [default: the config's `database`, else ./ozgsync.db]
    #[arg(long, global = true, env = "OZGSYNC_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Print only errors (for cron mail).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Log format on stderr: `text` for people, `json` for journald or log shippers.
    #[arg(
        long,
        global = true,
        env = "OZGSYNC_LOG_FORMAT",
        value_enum,
        default_value_t = crate::logging::LogFormat::Text
    )]
    pub log_format: crate::logging::LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Sync(sync::Sync),
    Import(import::Import),
    Releases(releases::Releases),
    Rejects(releases::Rejects),
    Diff(diff::Diff),
    Service(service::Service),
    Municipality(municipality::Municipality),
    Status(status::Status),
    Annotations(annotations::Annotations),
    Ressort(ressort::Ressort),
    Template(template::Template),
    Daemon(daemon::Daemon),
    Config(config_cmd::ConfigCmd),
    Backup(backup::Backup),
    Query(query::Query),
    Search(search::Search),
    Export(export::Export),
    Completions(completions::Completions),
    Man(man::Man),
}

/// What every command gets: where the database is and how chatty to be.
pub struct Context {
    pub db: Option<PathBuf>,
    pub quiet: bool,
}

impl Context {
    /// The database path: `--db`/`OZGSYNC_DB`, else the config's, else ./ozgsync.db.
    pub fn db_path(&self, config_db: Option<&Path>) -> PathBuf {
        self.db
            .clone()
            .or_else(|| config_db.map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("ozgsync.db"))
    }

    pub fn open(&self) -> anyhow::Result<rusqlite::Connection> {
        let path = self.db_path(None);
        Ok(crate::store::open(&path)?)
    }
}

impl Cli {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let ctx = Context {
            db: self.db,
            quiet: self.quiet,
        };
        match self.command {
            Command::Sync(c) => c.run(&ctx),
            Command::Import(c) => c.run(&ctx),
            Command::Releases(c) => c.run(&ctx),
            Command::Rejects(c) => c.run(&ctx),
            Command::Diff(c) => c.run(&ctx),
            Command::Service(c) => c.run(&ctx),
            Command::Municipality(c) => c.run(&ctx),
            Command::Status(c) => c.run(&ctx),
            Command::Annotations(c) => c.run(&ctx),
            Command::Ressort(c) => c.run(&ctx),
            Command::Template(c) => c.run(&ctx),
            Command::Daemon(c) => c.run(&ctx),
            Command::Config(c) => c.run(&ctx),
            Command::Backup(c) => c.run(&ctx),
            Command::Query(c) => c.run(&ctx),
            Command::Search(c) => c.run(&ctx),
            Command::Export(c) => c.run(&ctx),
            Command::Completions(c) => c.run(&ctx),
            Command::Man(c) => c.run(&ctx),
        }
    }
}

/// Exit code for an error: 2 for usage errors (bad argument values), 1 otherwise.
pub fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    match err.downcast_ref::<crate::Error>() {
        Some(crate::Error::Invalid(_)) => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}

/// A tokio runtime for the network parts of a command. One worker thread, not a
/// current-thread runtime: `sync::run_source` blocks on its `Handle`, and a
/// current-thread runtime's handle cannot drive I/O (every HTTP fetch would hang).
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?)
}
