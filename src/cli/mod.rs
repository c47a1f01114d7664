//! The command line: one enum variant per subcommand, each with its own `run` in a
//! file of its own. The doc comments are the help text. Errors are typed in the
//! library and get their context here.

mod annotations;
mod backup;
mod completions;
mod config_cmd;
mod daemon;
mod diff;
mod efa_nachnutzung;
mod export;
mod import;
mod man;
mod municipality;
mod ops_status;
pub(crate) mod output;
mod query;
mod releases;
mod ressort;
mod search;
mod service;
mod status;
mod status_events;
mod sync;
mod template;
mod values;

use crate::error::ShowPath;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use output::{stdout_closed, visible, Format};

use crate::config::Config;

/// Lower Saxony's OZG service database: syncs LeiKa, the municipality directory and
/// more into SQLite, keeping every release.
#[derive(Debug, Parser)]
#[command(
    name = "ozgsync",
    version,
    propagate_version = true,
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArg,

    /// Print only errors (for cron mail): no summaries, no progress, log level
    /// `error` (a retry that then succeeds is not an error).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Colour log lines on stderr, help and usage errors: `auto` on a terminal
    /// (not `TERM=dumb`) when `NO_COLOR` is unset, `always`, or `never`.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t = crate::logging::Color::Auto
    )]
    pub color: crate::logging::Color,

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

/// Which configuration and database every subcommand uses, given once here for
/// all of them; [`Cli::run`] resolves them into [`Context`].
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// SQLite database file [default: the config's `database`, else ./ozgsync.db]
    #[arg(long, global = true, env = "OZGSYNC_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Configuration file [default: the first present of ./ozgsync.toml,
    /// $XDG_CONFIG_HOME/ozgsync/ozgsync.toml (else ~/.config/ozgsync/ozgsync.toml),
    /// /etc/ozgsync/ozgsync.toml]
    #[arg(long, global = true, env = "OZGSYNC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
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
    EfaNachnutzung(efa_nachnutzung::EfaNachnutzung),
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

/// The exit code policy, shown by `--help` and documented in README ("Exit codes").
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success, or nothing to do (an unchanged source); also when the reader of
     stdout went away (`ozgsync releases | head -1`)
  1  the work failed or data was refused: a source or export failed, a sheet or
     payload did not pass validation, the database is busy or missing
  2  usage error: unknown flag or subcommand, malformed argument value

With --quiet only errors are printed (cron mails only when something failed).
Colours follow --color and NO_COLOR.";

/// What every command gets: the configuration and the database, found once and
/// the same way for every command (`crate::config::locate`, `crate::config::database`),
/// and how chatty to be.
pub struct Context {
    pub quiet: bool,
    /// `--db` / `OZGSYNC_DB` as given.
    pub db_given: Option<PathBuf>,
    /// The configuration file in effect, if any.
    pub config_path: Option<PathBuf>,
    /// That file, loaded (None for `config check`, which reports its problems itself).
    pub config: Option<Config>,
    /// The database every command of this run uses.
    pub db: PathBuf,
}

impl Context {
    /// The loaded configuration, for commands that cannot run without one.
    pub fn require_config(&self) -> anyhow::Result<&Config> {
        self.config.as_ref().ok_or_else(no_config)
    }

    /// The configuration file in effect, for commands that cannot run without one.
    pub fn require_config_path(&self) -> anyhow::Result<&std::path::Path> {
        self.config_path.as_deref().ok_or_else(no_config)
    }

    /// Opens the database for a command that only reads: never creates or
    /// migrates it, needs read permission only.
    pub fn open_reader(&self) -> anyhow::Result<rusqlite::Connection> {
        Ok(crate::store::open_reader(&self.db)?)
    }

    /// Opens (creating and migrating if needed) the database for a command that
    /// writes data beside others (annotations, status, ressort).
    pub fn open_writer(&self) -> anyhow::Result<crate::store::WriterConnection> {
        Ok(crate::store::open_writer(&self.db)?)
    }

    /// Takes the writer lock (`what` names this command to others) and opens the
    /// database for writing, for `sync`, `import` and the daemon. A file that is
    /// not a database is refused before a lock file is created beside it.
    pub fn open_locked_writer(&self, what: &str) -> anyhow::Result<crate::store::WriterConnection> {
        self.open_locked(what, crate::store::open_writer)
    }

    /// [`Self::open_locked_writer`] for `import` and `sync`, whose writes are
    /// releases: a database this creates is written in rollback-journal mode until
    /// its first release has committed (`store::open_release_writer`).
    pub fn open_release_writer(
        &self,
        what: &str,
    ) -> anyhow::Result<crate::store::WriterConnection> {
        self.open_locked(what, crate::store::open_release_writer)
    }

    /// [`Self::open_release_writer`] for `import` into a path where no database
    /// existed: a database this creates gets its schema in its first release's
    /// transaction (`store::open_new_release_writer`).
    pub fn open_new_release_writer(
        &self,
        what: &str,
    ) -> anyhow::Result<crate::store::WriterConnection> {
        self.open_locked(what, crate::store::open_new_release_writer)
    }

    fn open_locked(
        &self,
        what: &str,
        open: fn(&std::path::Path) -> crate::error::Result<crate::store::WriterConnection>,
    ) -> anyhow::Result<crate::store::WriterConnection> {
        crate::store::check_database_file(&self.db)?;
        let lock = crate::store::lock::acquire(&self.db, what)?;
        // Under the lock: payload files of writers that died (SIGKILL) go now.
        crate::fetch::remove_stale_payloads(&std::env::temp_dir());
        Ok(open(&self.db)?.holding(lock))
    }

    /// An error a reader meets on a stored record another program changed (SQLite's
    /// "malformed JSON", rusqlite's "Invalid column type Integer at index: 1, name:
    /// name") names neither the table nor the record: the records are looked for
    /// (`store::damage`, a read of every version, so only on such an error) and
    /// named with what to do. Without a damaged record the error stays as it was.
    fn name_damaged_records(&self, err: anyhow::Error) -> anyhow::Error {
        const SHOWN: usize = 5;
        let shape = err.chain().any(|e| {
            e.downcast_ref::<rusqlite::Error>()
                .is_some_and(crate::store::damage::is_data_shape_error)
        });
        if !shape {
            return err;
        }
        let Ok(conn) = crate::store::open_reader(&self.db) else {
            return err;
        };
        let (found, total) = match crate::store::damage::damaged_versions(&conn, SHOWN) {
            Ok(found) if found.1 > 0 => found,
            _ => return err,
        };
        let mut list = found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        if total > found.len() {
            list.push_str(&format!("; and {} more", total - found.len()));
        }
        err.context(format!(
            "database {} holds {total} stored record{} that ozgsync did not write so: {list}. \
             Another program changed {} (`sqlite3` by hand, Datasette, a script): ozgsync writes \
             `record_versions.data` only as its record's JSON, and a new import does not \
             rewrite a record its source left unchanged. Restore a backup taken before the \
             change (`ozgsync backup` makes one), or put `data` of each version_id named \
             back as the source has it",
            self.db.shown(),
            if total == 1 { "" } else { "s" },
            if total == 1 { "it" } else { "them" },
        ))
    }

    /// A "database is locked" met while a `sync`, an `import` or the daemon holds
    /// the writer lock says who that is (commands without the lock, such as
    /// `annotations import`, otherwise only see SQLite's bare message).
    fn name_the_writer(&self, err: anyhow::Error) -> anyhow::Error {
        let busy = err.chain().any(|e| {
            e.downcast_ref::<rusqlite::Error>().is_some_and(|e| {
                matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                )
            })
        });
        match crate::store::lock::holder(&self.db) {
            Some(holder) if busy && !holder.contains(&format!("pid {},", std::process::id())) => {
                err.context(format!(
                    "database {} is being written by another ozgsync ({holder}), which kept it locked longer than this command waits ({} s): try again when it has finished",
                    self.db.shown(),
                    crate::store::BUSY_TIMEOUT.as_secs()
                ))
            }
            // No ozgsync writer: another program (a `sqlite3` shell in a
            // transaction, Datasette, a copy tool) holds the file; SQLite's bare
            // "database is locked" names neither it nor what to do.
            _ if busy => err.context(format!(
                "database {} is locked by another program that has it open (a `sqlite3` shell in a transaction, Datasette, a copy) longer than this command waits ({} s): try again when it has finished, or close it",
                self.db.shown(),
                crate::store::BUSY_TIMEOUT.as_secs()
            )),
            _ => err,
        }
    }
}

fn no_config() -> anyhow::Error {
    crate::Error::usage(format!(
        "no configuration found: pass --config FILE or set OZGSYNC_CONFIG, or create {}",
        crate::config::config_search_path(&crate::config::process_env)
            .iter()
            .map(|p| p.shown().to_string())
            .collect::<Vec<_>>()
            .join(" or ")
    ))
    .into()
}

/// Parses the command line, clap's own help and usage errors coloured as
/// `--color` says too: clap picks its colours before it has parsed that flag, so
/// the flag is looked up first (its `auto` honours `NO_COLOR` itself).
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let env = |name: &std::ffi::OsStr| std::env::var_os(name);
    let mut command = ignore_empty_env_of_given_flags(
        Cli::command().color(color_arg(&args)),
        &|long| flag_given(&args, long),
        &env,
    );
    let matches = match command.try_get_matches_from_mut(&args) {
        Ok(matches) => matches,
        Err(e) => {
            if let Some(message) = empty_env_value(&e, &command, &args, &env) {
                eprintln!("error: {message}");
                std::process::exit(2);
            }
            e.exit()
        }
    };
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// A database path that is a symbolic link to nothing: SQLite would create the
/// database at the link's target (a writer), or say "unable to open database
/// file" (a reader). ozgsync follows no link to a file it did not create.
fn refuse_dangling_link(db: &std::path::Path) -> anyhow::Result<()> {
    let is_link = std::fs::symlink_metadata(db).is_ok_and(|m| m.file_type().is_symlink());
    if is_link && std::fs::metadata(db).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
        let target = std::fs::read_link(db).unwrap_or_default();
        anyhow::bail!(
            "database {}: is a symbolic link to {}, which does not exist; ozgsync creates no database through a link: give the real path (--db {}), or remove the link",
            db.shown(),
            target.shown(),
            target.shown()
        );
    }
    Ok(())
}

/// Whether `--LONG` (or `--LONG=…`) is on the command line, before any `--`.
fn flag_given(args: &[std::ffi::OsString], long: &str) -> bool {
    args.iter()
        .skip(1)
        .map(|a| a.to_string_lossy())
        .take_while(|a| a != "--")
        .any(|a| a == format!("--{long}") || a.starts_with(&format!("--{long}=")))
}

/// Clap reads a global flag's environment variable even when the flag is given
/// after the subcommand, so `OZGSYNC_DB= ozgsync releases --db x.db` failed on the
/// empty variable. A flag given on the command line wins over its variable: for
/// those the (empty) variable is not read at all.
fn ignore_empty_env_of_given_flags(
    command: clap::Command,
    given: &dyn Fn(&str) -> bool,
    env: &dyn Fn(&std::ffi::OsStr) -> Option<std::ffi::OsString>,
) -> clap::Command {
    let ignored: Vec<clap::Id> = command
        .get_arguments()
        .filter(|arg| {
            arg.get_env().and_then(env).is_some_and(|v| v.is_empty())
                && arg.get_long().is_some_and(given)
        })
        .map(|arg| arg.get_id().clone())
        .collect();
    let mut command = command;
    for id in ignored {
        command = command.mut_arg(id, |arg| arg.env(None::<&'static str>));
    }
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in names {
        command =
            command.mut_subcommand(name, |sub| ignore_empty_env_of_given_flags(sub, given, env));
    }
    command
}

/// When clap refuses an empty value that came from an environment variable
/// (`OZGSYNC_DB=` in a unit file or an `export` with nothing after it), clap's
/// "a value is required for '--db <PATH>'" names a flag the user never typed; this
/// names the variable and what to do instead.
fn empty_env_value(
    e: &clap::Error,
    command: &clap::Command,
    args: &[std::ffi::OsString],
    env: &dyn Fn(&std::ffi::OsStr) -> Option<std::ffi::OsString>,
) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        e.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let Some(ContextValue::String(shown)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    // The flag as clap shows it, e.g. "--db <PATH>".
    let long = shown.split_whitespace().next()?.strip_prefix("--")?;
    if flag_given(args, long) {
        return None;
    }
    let mut stack = vec![command];
    while let Some(cmd) = stack.pop() {
        stack.extend(cmd.get_subcommands());
        for arg in cmd.get_arguments() {
            let (Some(name), Some(arg_long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            if arg_long != long || env(name).is_none_or(|v| !v.is_empty()) {
                continue;
            }
            let name = name.to_string_lossy();
            return Some(format!(
                "the environment variable {name} is set but empty, and stands for --{long} when that is not given: \
                 unset it (unset {name}, or remove it from the service's Environment= or env file) to use the default, \
                 or give it a value (see ozgsync --help)"
            ));
        }
    }
    None
}

/// The last `--color WHEN` / `--color=WHEN` before `--`, as clap's choice.
fn color_arg(args: &[std::ffi::OsString]) -> clap::ColorChoice {
    let mut value = None;
    for (i, arg) in args.iter().enumerate() {
        let arg = arg.to_string_lossy();
        if arg == "--" {
            break;
        } else if let Some(v) = arg.strip_prefix("--color=") {
            value = Some(v.to_owned());
        } else if arg == "--color" {
            value = args.get(i + 1).map(|v| v.to_string_lossy().into_owned());
        }
    }
    match value.as_deref() {
        Some("always") => clap::ColorChoice::Always,
        Some("never") => clap::ColorChoice::Never,
        _ => clap::ColorChoice::Auto,
    }
}

impl Cli {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let ConfigArg { db, config } = self.config;
        let config_path =
            crate::config::locate(config.as_deref(), &crate::config::process_env, &|p| {
                p.exists()
            });
        let config = match (&config_path, &self.command) {
            (Some(path), command) if !matches!(command, Command::Config(_)) => {
                Some(Config::load(path)?)
            }
            _ => None,
        };
        // `--db ~/x.db` is expanded by the shell; `OZGSYNC_DB=~/x.db` in a systemd
        // unit or an env file, or a quoted `"~/x.db"`, is not, and a writer then
        // fails with SQLite's "unable to open database file" under `./~/`.
        if let Some(given) = db.as_deref() {
            let needs_db = !matches!(self.command, Command::Completions(_) | Command::Man(_));
            if needs_db && given.to_string_lossy().trim().is_empty() {
                return Err(crate::Error::usage(format!(
                    "--db (or OZGSYNC_DB) {:?} is only white space: give the database file's path, or unset OZGSYNC_DB to use the config's `database`",
                    given.shown().to_string()
                ))
                .into());
            }
            if needs_db && given.to_string_lossy().starts_with('~') && !given.exists() {
                return Err(crate::Error::usage(format!(
                    "--db (or OZGSYNC_DB) {:?} starts with `~`, which nothing expanded (a quoted path, or one set in a systemd unit or an env file): write the full path",
                    given.shown().to_string()
                ))
                .into());
            }
        }
        let ctx = Context {
            quiet: self.quiet,
            db: crate::config::database(db.as_deref(), config.as_ref()),
            db_given: db,
            config_path,
            config,
        };
        if !matches!(
            self.command,
            Command::Completions(_) | Command::Man(_) | Command::Config(_)
        ) {
            refuse_dangling_link(&ctx.db)?;
        }
        let result = match self.command {
            Command::Sync(c) => c.run(&ctx),
            Command::Import(c) => c.run(&ctx),
            Command::Releases(c) => c.run(&ctx),
            Command::Rejects(c) => c.run(&ctx),
            Command::Diff(c) => c.run(&ctx),
            Command::Service(c) => c.run(&ctx),
            Command::Municipality(c) => c.run(&ctx),
            Command::Status(c) => c.run(&ctx),
            Command::Annotations(c) => c.run(&ctx),
            Command::EfaNachnutzung(c) => c.run(&ctx),
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
        };
        result.map_err(|e| ctx.name_damaged_records(ctx.name_the_writer(e)))
    }
}

/// The one reader of date arguments (`--as-of`, `--since`, `--from`,
/// `--updated-since`; `status set --on` goes through the status validation, which
/// uses the same reader): `YYYY-MM-DD` or `DD.MM.YYYY`, as the imported sheets
/// write them.
pub(crate) fn date_arg(s: &str) -> Result<chrono::NaiveDate, String> {
    crate::model::date::parse_date(s)
        .ok_or_else(|| format!("{s:?} is {}", crate::model::date::not_a_date(s)))
}

/// A subject or id argument that must name something (`status show`,
/// `efa-nachnutzung show`): a blank one is a usage error, as for `service` and
/// `municipality`, instead of a search for the empty id.
pub(crate) fn id_arg(s: &str) -> Result<String, String> {
    let id = s.trim();
    if id.is_empty() {
        return Err("empty; give the id to show (see --help)".to_owned());
    }
    Ok(id.to_owned())
}

/// Opens a sheet or report named on the command line
/// ([`crate::fetch::open_rereadable`]): a FIFO is waited on for the config's
/// `fetch.connect_timeout_secs` (default 10 s) until a program writes into it; a
/// pipe, `-` (standard input) or FIFO is read through a private temporary copy of
/// at most `fetch.max_body_mb`, since sheets are read more than once.
pub(crate) fn open_input(ctx: &Context, file: &Path) -> std::io::Result<std::fs::File> {
    let policy = ctx
        .config
        .as_ref()
        .map_or_else(crate::fetch::FetchPolicy::default, |c| c.fetch.policy());
    crate::fetch::open_rereadable(file, &policy)
}

/// Longest `--by` (in characters) a status or sheet import keeps: a name or an
/// office, stored with every event or audit row forever and shown in `status show`,
/// `annotations show` and the exports.
pub(crate) const MAX_BY_CHARS: usize = 200;

/// The one check of `--by` (`status set`/`import`, `annotations import`,
/// `efa-nachnutzung import`): trimmed; refused when blank (`blank` says what it
/// must name), longer than [`MAX_BY_CHARS`] or holding a control character (a
/// line break would forge lines in the text outputs and logs that show it).
pub(crate) fn by_arg<'a>(by: &'a str, blank: &str) -> Result<&'a str, crate::Error> {
    let by = by.trim();
    if by.is_empty() {
        return Err(crate::Error::usage(blank));
    }
    let chars = by.chars().count();
    if chars > MAX_BY_CHARS {
        return Err(crate::Error::usage(format!(
            "--by is {chars} characters long; at most {MAX_BY_CHARS} (a name or an office, kept with every change)"
        )));
    }
    if by.chars().any(char::is_control) {
        return Err(crate::Error::usage(
            "--by holds a control character (a line break or tab); write the name on one line",
        ));
    }
    Ok(by)
}

/// Exit code for an error, the one place it is decided: 2 for a usage error (a
/// [`crate::error::Usage`] anywhere among its causes), 1 for everything else,
/// refused data included (see `EXIT_CODES`).
pub fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    if err.chain().any(|cause| cause.is::<crate::error::Usage>()) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
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

/// A stop requested by the first SIGTERM or SIGINT, so `import`, `sync` and `export` unwind
/// (rolling back, removing temporary payload files, recording the run) instead of
/// dying mid-write. A second signal ends the process at once: the operator insists,
/// and SQLite rolls back whatever was open on the next start.
pub(crate) fn stop_on_signals(
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<crate::stop::Stop> {
    use tokio::signal::unix::{signal, SignalKind};
    let _context = runtime.enter();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let stop = crate::stop::Stop::new();
    let requested = stop.clone();
    runtime.spawn(async move {
        for round in 0.. {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            if round > 0 {
                tracing::warn!("{name} again: exiting at once");
                // A running export cannot be waited for now; it must not run on.
                crate::jobs::kill_running_exports();
                std::process::exit(1);
            }
            tracing::warn!("{name}: stopping; what has not committed rolls back");
            requested.request(name);
        }
    });
    Ok(stop)
}
