//! The TOML configuration: database, timezone, the Land the exports show, fetch
//! limits, daemon behaviour, the sources to sync (with optional credentials) and
//! the exports to run after a sync.
//! Relative paths in the file are relative to the file's directory, so a config and
//! its fixtures can move together.
//!
//! Environment variables override single keys: `OZGSYNC_` followed by the key path in
//! upper case, levels joined by `__` (`OZGSYNC_DATABASE`, `OZGSYNC_FETCH__MAX_RETRIES`,
//! `OZGSYNC_SOURCE__LEIKA__LOCATION`; a source or export is named by its `name`, upper
//! case, other characters as `_`). `OZGSYNC_DB`, `OZGSYNC_CONFIG` and
//! `OZGSYNC_LOG_FORMAT` are command-line options, not config keys; neither are
//! `OZGSYNC_EXPORT_SOURCE` and `OZGSYNC_EXPORT_RELEASE`, set for export commands.
//!
//! Secrets never live in the TOML: a source's `credentials` name an environment
//! variable or a file that holds the token or password.
//!
//! The file is read into [`ConfigFile`] (serde, the text as written) and validated
//! once into [`Config`], which holds the parsed values: the timezone as a `Tz`, each
//! schedule as a [`Schedule`], each location as a [`Location`] resolved against the
//! config's directory. Nothing parses them again later.

use crate::error::ShowPath;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fetch::{Authorization, FetchPolicy, Location};
use crate::model::LandScope;
use crate::store::release::Mode;
use crate::sync::SourceKind;

/// Environment variables that are command-line options rather than config keys, and
/// those an export command is started with (it may read the config itself, e.g.
/// `export dashboards` for `land`).
const NOT_CONFIG_KEYS: &[&str] = &[
    "OZGSYNC_DB",
    "OZGSYNC_CONFIG",
    "OZGSYNC_LOG_FORMAT",
    "OZGSYNC_FILE_MODE",
    "OZGSYNC_DIR_MODE",
    "OZGSYNC_EXPORT_SOURCE",
    "OZGSYNC_EXPORT_RELEASE",
];

/// The configuration file as written (after `OZGSYNC_*` overrides), before
/// validation: what serde reads, and what `config check` shows as TOML.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// SQLite database file; `--db` / `OZGSYNC_DB` override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<PathBuf>,
    /// IANA timezone for schedules and report dates.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// The Land the exports show (`"01"`–`"16"`, or `"all"`); the database keeps
    /// every Land a directory brings. Default `"03"`, Niedersachsen.
    #[serde(default)]
    pub land: LandScope,
    #[serde(default)]
    pub fetch: FetchSettings,
    #[serde(default)]
    pub daemon: DaemonSettings,
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceFile>,
    #[serde(default, rename = "export", skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<ExportConfig>,
    /// The quick start's synthetic demo data ("Beispieldaten"), imported by `sync`
    /// after its sources; absent in production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demo: Option<DemoConfig>,
}

/// A validated configuration: every value parsed once, relative paths resolved.
/// Made only by [`Config::load`] and its siblings, which refuse an invalid file.
#[derive(Debug, Clone)]
pub struct Config {
    /// SQLite database file as written; `--db` / `OZGSYNC_DB` override it (see
    /// [`Config::database_path`]).
    pub database: Option<PathBuf>,
    /// The timezone of schedules and report dates.
    pub timezone: Tz,
    /// The Land the exports show.
    pub land: LandScope,
    pub fetch: FetchSettings,
    pub daemon: DaemonSettings,
    pub sources: Vec<SourceConfig>,
    pub exports: Vec<ExportConfig>,
    pub demo: Option<DemoConfig>,
    /// The directory relative paths are resolved against (the config's directory).
    pub base_dir: PathBuf,
    /// Where the config was read from, for messages.
    pub path: PathBuf,
    /// The environment variables that overrode keys, for `config check`.
    pub overrides: Vec<String>,
    /// The file as read, for `config check`'s effective TOML.
    file: ConfigFile,
}

/// The longest time any setting may ask ozgsync to wait (a leap year in seconds):
/// checked with the other limits when a configuration is read.
pub const MAX_WAIT_SECS: u64 = 366 * 24 * 3600;

fn default_timezone() -> String {
    "Europe/Berlin".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchSettings {
    pub allow_http: bool,
    pub connect_timeout_secs: u64,
    pub read_timeout_secs: u64,
    /// Longest time one source's download may take, retries included.
    pub total_timeout_secs: u64,
    pub max_retries: u32,
    pub backoff_base_ms: u64,
    pub max_backoff_secs: u64,
    pub max_body_mb: u64,
}

impl Default for FetchSettings {
    fn default() -> Self {
        let p = FetchPolicy::default();
        FetchSettings {
            allow_http: p.allow_http,
            connect_timeout_secs: p.connect_timeout.as_secs(),
            read_timeout_secs: p.read_timeout.as_secs(),
            total_timeout_secs: p.total_timeout.as_secs(),
            max_retries: p.max_retries,
            backoff_base_ms: p.backoff_base.as_millis() as u64,
            max_backoff_secs: p.max_backoff.as_secs(),
            max_body_mb: p.max_body_bytes / (1024 * 1024),
        }
    }
}

impl FetchSettings {
    pub fn policy(&self) -> FetchPolicy {
        FetchPolicy {
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            read_timeout: Duration::from_secs(self.read_timeout_secs),
            total_timeout: Duration::from_secs(self.total_timeout_secs),
            max_retries: self.max_retries,
            backoff_base: Duration::from_millis(self.backoff_base_ms),
            max_backoff: Duration::from_secs(self.max_backoff_secs),
            max_body_bytes: self.max_body_mb.saturating_mul(1024 * 1024),
            allow_http: self.allow_http,
            authorization: None,
        }
    }
}

/// How the daemon retries failed jobs and shuts down.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonSettings {
    /// Retries of a failed job before waiting for its next scheduled time.
    pub retries: u32,
    /// Wait before the first retry; doubles with each further retry.
    pub retry_base_ms: u64,
    /// Longest wait between retries.
    pub retry_max_secs: u64,
    /// On SIGTERM, how long to wait for a running job to finish before it is asked
    /// to stop (rolling back what has not committed).
    pub shutdown_timeout_secs: u64,
    /// Longest one daemon job (download, release and the due exports it runs) may
    /// run before it is stopped, rolled back and retried: one hanging source must
    /// not hold the daemon's only worker.
    pub job_timeout_secs: u64,
    /// How often to look at the config file for changes (0: only on SIGHUP).
    pub reload_poll_secs: u64,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            retries: 5,
            retry_base_ms: 60_000,
            retry_max_secs: 3600,
            shutdown_timeout_secs: 30,
            job_timeout_secs: 3600,
            reload_poll_secs: 5,
        }
    }
}

impl DaemonSettings {
    /// The wait before retry number `attempt` (1-based): base · 2^(attempt-1), capped.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let factor = 1u64 << attempt.saturating_sub(1).min(20);
        Duration::from_millis(self.retry_base_ms.saturating_mul(factor))
            .min(Duration::from_secs(self.retry_max_secs))
    }
}

/// A `[[source]]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// Unique name; releases are recorded under it.
    pub name: String,
    pub kind: SourceKind,
    /// https URL or file path (relative to the config file).
    pub location: String,
    /// `full` or `incremental`; defaults by kind (see `SourceKind::default_mode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Cron expression for the daemon: crontab's 5 fields (`30 2 * * *`) or 6
    /// with seconds first (`0 30 2 * * *`); see [`parse_schedule`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The largest share (0–1) of current records one full release may retire;
    /// more is refused as a probably truncated download. Default 0.5; 1.0 = off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retire_share: Option<f64>,
    /// Where the secret for this source's server comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
}

/// A validated source: its location parsed and resolved, its schedule parsed.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Unique name; releases are recorded under it.
    pub name: String,
    pub kind: SourceKind,
    /// The URL, or the file path resolved against the config's directory.
    pub location: Location,
    pub mode: Option<Mode>,
    /// When the daemon syncs it; none: only by `sync`.
    pub schedule: Option<Schedule>,
    pub max_retire_share: Option<f64>,
    pub credentials: Option<Credentials>,
}

/// A source's cron schedule, parsed once on load ([`parse_schedule`]), with the
/// expression as written for display.
#[derive(Debug, Clone)]
pub struct Schedule {
    expr: String,
    cron: cron::Schedule,
}

impl Schedule {
    /// Parses a 5- or 6-field expression (see [`parse_schedule`]).
    pub fn parse(expr: &str) -> std::result::Result<Schedule, String> {
        Ok(Schedule {
            expr: expr.to_owned(),
            cron: parse_schedule(expr)?,
        })
    }

    /// The expression as written in the config.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The parsed schedule (see [`crate::daemon::schedule::next_after`] for when it
    /// fires in a timezone).
    pub fn cron(&self) -> &cron::Schedule {
        &self.cron
    }
}

/// A source's credentials: the scheme and where its secret is read from at run
/// time — an environment variable or a file (e.g. a systemd credential or a Docker
/// secret), exactly one of the two. The TOML never holds the secret itself.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// `bearer` (the secret is a token) or `basic` (the secret is the password).
    #[serde(default)]
    pub scheme: AuthScheme,
    /// User name for `basic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Environment variable holding the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// File holding the secret (trailing newline ignored); relative to the config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthScheme {
    #[default]
    Bearer,
    Basic,
}

impl Credentials {
    /// Reads the secret and builds the header; `env` looks variables up.
    pub fn resolve(
        &self,
        base_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<Authorization, String> {
        let secret = match (&self.env, &self.file) {
            (Some(var), None) => {
                env(var).ok_or_else(|| format!("environment variable {var} is not set"))?
            }
            (None, Some(file)) => {
                let path = base_dir.join(file);
                read_small_file(&path, "a credentials file")?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned()
            }
            _ => return Err("give exactly one of `env` and `file`".into()),
        };
        if secret.is_empty() {
            return Err("the secret is empty".into());
        }
        Ok(match self.scheme {
            AuthScheme::Bearer => Authorization::Bearer(secret),
            AuthScheme::Basic => Authorization::Basic {
                user: self.user.clone().unwrap_or_default(),
                password: secret,
            },
        })
    }

    fn problems(&self, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        match (&self.env, &self.file) {
            (Some(_), Some(_)) | (None, None) => {
                out.push(format!("{key}: give exactly one of `env` and `file`"))
            }
            _ => {}
        }
        match (self.scheme, &self.user) {
            (AuthScheme::Basic, None) => {
                out.push(format!("{key}.user: required for scheme = \"basic\""))
            }
            (AuthScheme::Bearer, Some(_)) => out.push(format!(
                "{key}.user: only for scheme = \"basic\" (a bearer token has no user)"
            )),
            _ => {}
        }
        out
    }
}

/// `[demo]`: an annotation sheet, a status report and (optionally) an
/// EfA-Nachnutzung sheet of synthetic data (`fixtures/demo/`) that `sync` imports
/// so a fresh installation shows something. Paths relative to the config's
/// directory.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    pub annotations: PathBuf,
    pub status: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nachnutzung: Option<PathBuf>,
}

/// A command run while the data it shows changed since its last success, e.g. an
/// `ozgsync export` call (see [`crate::store::due`]). It gets `OZGSYNC_DB`,
/// `OZGSYNC_CONFIG`, `OZGSYNC_EXPORT_SOURCE` and, after a release,
/// `OZGSYNC_EXPORT_RELEASE` in its environment and runs in the config's directory.
/// `file_mode`/`dir_mode` reach it as `OZGSYNC_FILE_MODE`/`OZGSYNC_DIR_MODE`, which
/// `ozgsync export` and `template` read as their `--file-mode`/`--dir-mode`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    /// Unique name; runs are recorded as job `export:<name>`.
    pub name: String,
    /// Program and arguments (no shell).
    pub command: Vec<String>,
    /// Sources whose releases make it due; empty: any source. Status, annotation
    /// and Ressort changes make every export due.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// Longest run time before the command is asked to stop (SIGTERM; SIGKILL
    /// `jobs::STOP_GRACE` later if it still runs).
    #[serde(default = "default_export_timeout")]
    pub timeout_secs: u64,
    /// Mode of the files it writes, octal (`"0644"` when not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<String>,
    /// Mode of the directories it creates, octal (`"0755"` when not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir_mode: Option<String>,
}

fn default_export_timeout() -> u64 {
    600
}

impl ExportConfig {
    /// Whether a release of `source` makes this export due.
    pub fn runs_after(&self, source: &str) -> bool {
        self.after.is_empty() || self.after.iter().any(|s| s == source)
    }
}

/// The text of the config file at `path`, or what is wrong with it and what to do.
fn read_config_text(path: &Path) -> std::result::Result<String, String> {
    read_small_file(path, "a config file (TOML)")
}

/// Largest config or credentials file read: both are a few lines.
const MAX_SMALL_FILE: u64 = 16 << 20;

/// Reads a small text file the operator names (the config, a credentials file):
/// only a regular file (symbolic links followed), at most 16 MiB. A FIFO would
/// block the command forever, a directory or device gives the kernel's bare
/// words; each is said with what `what` should be instead.
fn read_small_file(path: &Path, what: &str) -> std::result::Result<String, String> {
    use std::io::Read;
    let shown = path.shown();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("reading {shown}: no such file; check the path"),
        _ => format!("reading {shown}: {e}"),
    })?;
    if meta.is_dir() {
        let inside = path.join("ozgsync.toml");
        let example = if path.extension().is_some_and(|e| e == "toml") || !inside.is_file() {
            String::new()
        } else {
            format!(" ({} is one)", inside.shown())
        };
        return Err(format!(
            "{shown} is a directory; give {what} itself{example}"
        ));
    }
    if !meta.is_file() {
        return Err(format!(
            "{shown} is not a regular file (a FIFO, device or socket); give {what}"
        ));
    }
    if meta.len() > MAX_SMALL_FILE {
        return Err(format!(
            "{shown} is {} bytes; {what} is a few lines, at most {MAX_SMALL_FILE} bytes",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SMALL_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("reading {shown}: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{shown} is not UTF-8 text (byte {} is not): save it as UTF-8",
            e.utf8_error().valid_up_to()
        )
    })
}

impl Config {
    /// Reads a config file, applies `OZGSYNC_*` overrides from the process
    /// environment, and validates it.
    pub fn load(path: &Path) -> Result<Config> {
        Config::load_with_env(path, std::env::vars())
    }

    /// Like [`Config::load`] with the environment given (tests inject it).
    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config> {
        let text = read_config_text(path).map_err(|message| Error::Config {
            path: path.shown().to_string(),
            message,
        })?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Config::parse_with_env(&text, path, base_dir, env)
    }

    /// Parses and validates config text without environment overrides.
    pub fn parse(text: &str, path: &Path, base_dir: PathBuf) -> Result<Config> {
        Config::parse_with_env(text, path, base_dir, std::iter::empty())
    }

    pub fn parse_with_env(
        text: &str,
        path: &Path,
        base_dir: PathBuf,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config> {
        Config::check_text(text, path, base_dir, env).map_err(|problems| Error::Config {
            path: path.shown().to_string(),
            message: problems.join("; "),
        })
    }

    /// Reads a config file with the environment given and returns it, or every
    /// problem found (each naming its key) — what `config check` shows.
    pub fn check_file(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> std::result::Result<Config, Vec<String>> {
        let text = read_config_text(path).map_err(|e| vec![e])?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Config::check_text(&text, path, base_dir, env)
    }

    fn check_text(
        text: &str,
        path: &Path,
        base_dir: PathBuf,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> std::result::Result<Config, Vec<String>> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut overrides: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("OZGSYNC_") && !NOT_CONFIG_KEYS.contains(&k.as_str()))
            .collect();
        overrides.sort();
        let mut problems = Vec::new();
        let mut applied = Vec::new();
        for (var, value) in &overrides {
            match apply_override(&mut table, var, value) {
                Ok(()) => applied.push(var.clone()),
                Err(e) => problems.push(format!("{var}: {e}")),
            }
        }
        let parsed = if applied.is_empty() {
            // Straight from the text, so errors carry line and column.
            toml::from_str::<ConfigFile>(text).map_err(|e| e.to_string())
        } else {
            ConfigFile::deserialize(table.clone()).map_err(|e| {
                format!(
                    "{} (after environment overrides {})",
                    e.to_string().trim_end(),
                    applied.join(", ")
                )
            })
        };
        let file = match parsed {
            Ok(c) => c,
            Err(e) => {
                // serde stops at the first bad value; the other parts, read one
                // by one, show the rest, so one `config check` lists them all.
                let first = e.trim_end().lines().last().unwrap_or_default().to_owned();
                problems.push(e);
                let mut rest = part_problems(&table);
                if let Some(same) = rest.iter().position(|p| p.ends_with(&first)) {
                    rest.remove(same);
                }
                problems.extend(rest);
                return Err(problems);
            }
        };
        match Config::validate(file, path, base_dir, applied) {
            Ok(config) if problems.is_empty() => Ok(config),
            Ok(_) => Err(problems),
            Err(found) => {
                problems.extend(found);
                Err(problems)
            }
        }
    }

    /// Turns the file into the validated config, parsing every value once, or
    /// returns every problem found, each naming its key.
    fn validate(
        file: ConfigFile,
        path: &Path,
        base_dir: PathBuf,
        overrides: Vec<String>,
    ) -> std::result::Result<Config, Vec<String>> {
        let mut out = Vec::new();
        let timezone = file.timezone.parse::<Tz>().ok();
        if timezone.is_none() {
            out.push(format!("timezone: unknown timezone {:?}", file.timezone));
        }
        if let Some(problem) = file.database.as_deref().and_then(|p| {
            tilde_problem(&p.to_string_lossy()).or_else(|| directory_problem(p, &base_dir))
        }) {
            out.push(format!("database: {problem}"));
        }
        let mut names = std::collections::HashSet::new();
        let mut sources = Vec::new();
        for (i, s) in file.sources.iter().enumerate() {
            if let Some(problem) = tilde_problem(&s.location) {
                out.push(format!("source[{i}].location: {problem}"));
            }
            if s.name.trim().is_empty() {
                out.push(format!("source[{i}].name: must not be empty"));
            } else if !names.insert(s.name.as_str()) {
                out.push(format!("source[{i}].name: duplicate name {:?}", s.name));
            }
            let location = match Location::parse(&s.location, Some(&base_dir)) {
                Err(e) => {
                    out.push(format!("source[{i}].location: {e}"));
                    None
                }
                Ok(Location::Url(url)) if url.password().is_some() => {
                    out.push(format!(
                        "source[{i}].location: holds a password; use `credentials` instead"
                    ));
                    None
                }
                Ok(location) => Some(location),
            };
            let schedule = match s.schedule.as_deref().map(Schedule::parse).transpose() {
                // "0 3 31 2 *" (31 February) parses, and then never runs: the daemon
                // would keep the source without a word.
                Ok(Some(schedule)) if schedule.cron().upcoming(chrono::Utc).next().is_none() => {
                    out.push(format!(
                        "source[{i}].schedule: {:?} never fires (no date after today matches it, e.g. a 31st in a month that has none, or a year gone by)",
                        schedule.expr()
                    ));
                    None
                }
                Ok(schedule) => schedule,
                Err(e) => {
                    out.push(format!("source[{i}].schedule: {e}"));
                    None
                }
            };
            if let Some(c) = &s.credentials {
                out.extend(c.problems(&format!("source[{i}].credentials")));
            }
            if let Some(share) = s.max_retire_share {
                if !(0.0..=1.0).contains(&share) {
                    out.push(format!(
                        "source[{i}].max_retire_share: {share} is not a share between 0 and 1"
                    ));
                }
            }
            if let Some(location) = location {
                sources.push(SourceConfig {
                    name: s.name.clone(),
                    kind: s.kind,
                    location,
                    mode: s.mode,
                    schedule,
                    max_retire_share: s.max_retire_share,
                    credentials: s.credentials.clone(),
                });
            }
        }
        let mut export_names = std::collections::HashSet::new();
        for (i, e) in file.exports.iter().enumerate() {
            if e.name.trim().is_empty() {
                out.push(format!("export[{i}].name: must not be empty"));
            } else if !export_names.insert(e.name.as_str()) {
                out.push(format!("export[{i}].name: duplicate name {:?}", e.name));
            }
            if e.command.first().is_none_or(|p| p.trim().is_empty()) {
                out.push(format!("export[{i}].command: must name a program"));
            }
            for source in &e.after {
                if !names.contains(source.as_str()) {
                    out.push(format!("export[{i}].after: no source named {source:?}"));
                }
            }
            for (key, mode) in [("file_mode", &e.file_mode), ("dir_mode", &e.dir_mode)] {
                if let Some(Err(problem)) = mode.as_deref().map(crate::export::target::parse_mode) {
                    out.push(format!("export[{i}].{key}: {problem}"));
                }
            }
        }
        if file.daemon.retry_base_ms == 0 {
            out.push("daemon.retry_base_ms: must be greater than 0".into());
        }
        // Each `[[export]]`'s own time limit, checked beside the global ones below.
        let export_timeouts = || {
            file.exports
                .iter()
                .enumerate()
                .map(|(i, e)| (format!("export[{i}].timeout_secs"), e.timeout_secs))
        };
        // A zero limit does not mean "no limit": every download would time out or
        // be too large, and every job or export be stopped at once.
        let limits = [
            (
                "fetch.connect_timeout_secs",
                file.fetch.connect_timeout_secs,
            ),
            ("fetch.read_timeout_secs", file.fetch.read_timeout_secs),
            ("fetch.total_timeout_secs", file.fetch.total_timeout_secs),
            ("fetch.max_body_mb", file.fetch.max_body_mb),
            ("daemon.job_timeout_secs", file.daemon.job_timeout_secs),
        ]
        .map(|(key, value)| (key.to_owned(), value))
        .into_iter()
        .chain(export_timeouts());
        for (key, value) in limits {
            if value == 0 {
                out.push(format!(
                    "{key}: must be greater than 0 (0 is not \"no limit\": every download or run would fail at once)"
                ));
            }
        }
        // A time so far away that the clock cannot count to it (`total_timeout_secs
        // = 9223372036854775807` for "no limit") ended the download in a panic, "overflow
        // when adding duration to instant". One year is longer than any wait means.
        let times = [
            (
                "fetch.connect_timeout_secs",
                file.fetch.connect_timeout_secs,
            ),
            ("fetch.read_timeout_secs", file.fetch.read_timeout_secs),
            ("fetch.total_timeout_secs", file.fetch.total_timeout_secs),
            ("fetch.backoff_base_ms", file.fetch.backoff_base_ms / 1000),
            ("fetch.max_backoff_secs", file.fetch.max_backoff_secs),
            ("daemon.retry_base_ms", file.daemon.retry_base_ms / 1000),
            ("daemon.retry_max_secs", file.daemon.retry_max_secs),
            (
                "daemon.shutdown_timeout_secs",
                file.daemon.shutdown_timeout_secs,
            ),
            ("daemon.job_timeout_secs", file.daemon.job_timeout_secs),
            ("daemon.reload_poll_secs", file.daemon.reload_poll_secs),
        ]
        .map(|(key, secs)| (key.to_owned(), secs))
        .into_iter()
        .chain(export_timeouts());
        for (key, secs) in times {
            if secs > MAX_WAIT_SECS {
                out.push(format!(
                    "{key}: more than a year ({MAX_WAIT_SECS} s), the longest time ozgsync waits for anything; for \"practically no limit\" write at most {MAX_WAIT_SECS} s (in {} for a key in milliseconds)",
                    MAX_WAIT_SECS * 1000
                ));
            }
        }
        match timezone {
            Some(timezone) if out.is_empty() => Ok(Config {
                database: file.database.clone(),
                timezone,
                land: file.land.clone(),
                fetch: file.fetch.clone(),
                daemon: file.daemon.clone(),
                sources,
                exports: file.exports.clone(),
                demo: file.demo.clone(),
                base_dir,
                path: path.to_owned(),
                overrides,
                file,
            }),
            _ => Err(out),
        }
    }

    /// Schedules that are legal but likely slips, for `config check` and the
    /// daemon's start to show without failing:
    /// - firing more often than once a minute (tests and a local file may want it,
    ///   but six fields put seconds first, so `* * * * * *` is every second);
    /// - restricting both day of month and day of week: crontab fires on a day
    ///   matching either, the `cron` crate only on one matching both (`0 3 1 * 1`
    ///   is "the 1st when it is a Monday", not "the 1st and every Monday").
    pub fn schedule_notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for (i, s) in self.sources.iter().enumerate() {
            let Some(schedule) = s.schedule.as_ref() else {
                continue;
            };
            let mut next = schedule.cron().upcoming(chrono::Utc).take(2);
            if let (Some(a), Some(b)) = (next.next(), next.next()) {
                if (b - a) < chrono::Duration::minutes(1) {
                    notes.push(format!(
                        "source[{i}].schedule: {:?} fires every {} s (with six fields the first is seconds; every minute is \"* * * * *\" or \"0 * * * * *\")",
                        schedule.expr(),
                        (b - a).num_seconds()
                    ));
                }
            }
            let fields: Vec<&str> = schedule.expr().split_whitespace().collect();
            let (day, weekday) = if fields.len() == 5 { (2, 4) } else { (3, 5) };
            let restricted = |i: usize| fields.get(i).is_some_and(|f| !matches!(*f, "*" | "?"));
            if restricted(day) && restricted(weekday) {
                notes.push(format!(
                    "source[{i}].schedule: {:?} fires only on days that match both its day of month and its day of week, where crontab fires on either (\"0 3 1 * 1\" is the 1st when it is a Monday); if that is not what you meant, put \"*\" in one of the two fields",
                    schedule.expr()
                ));
            }
        }
        notes
    }

    /// Locations `sync` would refuse: plain `http://` without `fetch.allow_http`.
    /// Not a load error, so every other command still reads the config; `config
    /// check` reports them.
    pub fn refused_locations(&self) -> Vec<String> {
        self.sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match &s.location {
                Location::Url(url) if url.scheme() == "http" && !self.fetch.allow_http => {
                    Some(format!(
                        "source[{i}].location: plain http is refused by sync; use https or set allow_http = true in [fetch]"
                    ))
                }
                _ => None,
            })
            .collect()
    }

    /// Problems only visible at run time: credentials that cannot be read now.
    pub fn secret_problems(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        self.sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let c = s.credentials.as_ref()?;
                c.resolve(&self.base_dir, env)
                    .err()
                    .map(|e| format!("source[{i}].credentials: {e}"))
            })
            .collect()
    }

    /// The effective config as TOML, for `config check`. Secrets are never in it
    /// (credentials name only their variable or file); URL passwords are redacted.
    pub fn effective_toml(&self) -> String {
        let mut shown = self.file.clone();
        for s in &mut shown.sources {
            if let Ok(mut url) = url::Url::parse(&s.location) {
                if url.password().is_some() {
                    let _ = url.set_password(Some("REDACTED"));
                    s.location = url.to_string();
                }
            }
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// The database path from the config, resolved against the config's directory.
    pub fn database_path(&self) -> Option<PathBuf> {
        self.database.as_ref().map(|p| self.base_dir.join(p))
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// The fetch policy for one source, with its credentials read now.
    pub fn policy_for(
        &self,
        source: &SourceConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<FetchPolicy> {
        let mut policy = self.fetch.policy();
        if let Some(c) = &source.credentials {
            policy.authorization =
                Some(c.resolve(&self.base_dir, env).map_err(|e| Error::Config {
                    path: self.path.shown().to_string(),
                    message: format!("source {:?} credentials: {e}", source.name),
                })?);
        }
        Ok(policy)
    }
}

/// The problems of a config table's parts, each read alone (a top-level key, one
/// key of a section such as `[fetch]`, one `[[source]]` or `[[export]]`), each
/// named by its key, in the order of the file's keys.
fn part_problems(table: &toml::Table) -> Vec<String> {
    let check = |name: String, key: &str, value: toml::Value| {
        let mut part = toml::Table::new();
        part.insert(key.to_owned(), value);
        ConfigFile::deserialize(part)
            .err()
            // The message alone: the key is named in front, not after it.
            .map(|e| {
                format!(
                    "{name}: {}",
                    e.to_string().lines().next().unwrap_or_default()
                )
            })
    };
    let mut out = Vec::new();
    for (key, value) in table {
        match value {
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let one = toml::Value::Array(vec![item.clone()]);
                    out.extend(check(format!("{key}[{i}]"), key, one));
                }
            }
            toml::Value::Table(section) => {
                for (inner, v) in section {
                    let mut one = toml::Table::new();
                    one.insert(inner.clone(), v.clone());
                    out.extend(check(
                        format!("{key}.{inner}"),
                        key,
                        toml::Value::Table(one),
                    ));
                }
            }
            other => out.extend(check(key.clone(), key, other.clone())),
        }
    }
    out
}

/// Where a configuration is looked for when none is given, in this order: the
/// working directory's, the user's (XDG base directories:
/// `$XDG_CONFIG_HOME/ozgsync/ozgsync.toml`, else `$HOME/.config/ozgsync/ozgsync.toml`;
/// a relative or empty variable is ignored, as the XDG spec says), the system's.
/// `env` looks up an environment variable ([`process_env`]).
pub fn config_search_path(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let absolute = |name: &str| env(name).map(PathBuf::from).filter(|p| p.is_absolute());
    let user = absolute("XDG_CONFIG_HOME").or_else(|| absolute("HOME").map(|h| h.join(".config")));
    let mut path = vec![PathBuf::from("ozgsync.toml")];
    path.extend(user.map(|dir| dir.join("ozgsync").join("ozgsync.toml")));
    path.push(PathBuf::from("/etc/ozgsync/ozgsync.toml"));
    path
}

/// The database used when neither `--db`, `OZGSYNC_DB` nor a config names one.
pub const DEFAULT_DATABASE: &str = "ozgsync.db";

/// The forms a schedule may take, named when one is refused.
pub const SCHEDULE_FORMS: &str = "write crontab's 5 fields `minute hour day-of-month month day-of-week` (e.g. \"30 2 * * *\"), or 6 with seconds first (\"0 30 2 * * *\"), optionally a 7th for the year";

/// A source's schedule: the one place an expression becomes a `cron::Schedule`,
/// so the daemon, `status` and `config check` accept the same forms. The `cron`
/// crate wants seconds first; crontab's 5-field form gets `0` seconds.
///
/// Day-of-week numbers are crontab's (0 or 7 Sunday, 1 Monday … 6 Saturday), which
/// the `cron` crate counts from 1 for Sunday: handed on as they were, `* * 1` ran
/// on Sundays instead of Mondays and `* * 0` was refused. They are turned into
/// names first ([`crontab_weekdays`]).
pub fn parse_schedule(expr: &str) -> std::result::Result<cron::Schedule, String> {
    let mut fields: Vec<String> = expr.split_whitespace().map(str::to_owned).collect();
    if fields.len() == 5 {
        fields.insert(0, "0".to_owned());
    }
    if let Some(weekdays) = fields.get_mut(5) {
        *weekdays = crontab_weekdays(weekdays);
    }
    fields
        .join(" ")
        .parse::<cron::Schedule>()
        .map_err(|e| format!("invalid cron expression {expr:?} ({e}); {SCHEDULE_FORMS}"))
}

/// A day-of-week field with crontab's numbers (`1`, `1-5`, `0,6`, `*/2`, `5-7`)
/// as the weekday names the `cron` crate reads the same way everywhere; an item
/// with names, `*` or `?` alone, or anything not understood here, is kept as it is
/// (the crate then accepts or names it).
fn crontab_weekdays(field: &str) -> String {
    const NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let day = |s: &str| s.parse::<usize>().ok().filter(|d| *d <= 7);
    let item = |item: &str| -> Option<String> {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, step.parse::<usize>().ok().filter(|s| *s > 0)?),
            None => (item, 1),
        };
        let (first, last) = match range {
            "*" => (0, 6),
            _ => match range.split_once('-') {
                Some((a, b)) => (day(a)?, day(b)?),
                None if step > 1 => (day(range)?, 6),
                None => (day(range)?, day(range)?),
            },
        };
        if (range == "*" && step == 1) || first > last {
            return None;
        }
        let mut days: Vec<&str> = (first..=last)
            .step_by(step)
            .filter_map(|d| NAMES.get(d % 7).copied())
            .collect();
        days.dedup();
        Some(days.join(","))
    };
    field
        .split(',')
        .map(|i| item(i).unwrap_or_else(|| i.to_owned()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Why a path in the config that starts with `~` is refused: nothing expands it
/// (TOML is no shell), so `~/ozgsync.db` would be a directory named `~` beside the
/// config, which only shows up as "No such file" at run time.
fn tilde_problem(path: &str) -> Option<String> {
    path.starts_with('~').then(|| {
        format!(
            "{path:?} starts with `~`, which is not expanded here (it would be a directory named `~` beside the config); write the full path, e.g. /home/NAME/{}",
            path.trim_start_matches('~').trim_start_matches(|c| c != '/').trim_start_matches('/')
        )
    })
}

/// Why a `database` that cannot be a database file is refused: empty (which
/// resolves to the config's own directory), a path ending in `/`, `.` or `..`, or
/// an existing directory. Every command refused it at open ("is not a file"), but
/// `config check` said "ok" (session 7).
fn directory_problem(path: &Path, base_dir: &Path) -> Option<String> {
    let text = path.to_string_lossy();
    if text.trim().is_empty() {
        return Some(format!(
            "{text:?} is empty; name the SQLite database file (e.g. /var/lib/ozgsync/ozgsync.db), or leave the key out for {DEFAULT_DATABASE} in the working directory"
        ));
    }
    let names_no_file = text.ends_with('/')
        || !matches!(
            path.components().next_back(),
            Some(std::path::Component::Normal(_))
        );
    if names_no_file || base_dir.join(path).is_dir() {
        let example = Path::new(&*text).join(DEFAULT_DATABASE);
        return Some(format!(
            "{text:?} is a directory, not a file; name the database file in it (e.g. {})",
            example.shown()
        ));
    }
    None
}

/// Which configuration file a command reads: the one given (`--config` or
/// `OZGSYNC_CONFIG`; it need not exist here, reading it reports that), else the
/// first of [`config_search_path`] that `exists`, else none.
pub fn locate(
    given: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    exists: &dyn Fn(&Path) -> bool,
) -> Option<PathBuf> {
    if let Some(path) = given {
        return Some(path.to_owned());
    }
    config_search_path(env).into_iter().find(|p| exists(p))
}

/// The database a command uses: the one given (`--db` or `OZGSYNC_DB`), else the
/// config's `database` (relative to the config's directory), else
/// [`DEFAULT_DATABASE`] in the working directory.
pub fn database(given: Option<&Path>, config: Option<&Config>) -> PathBuf {
    given
        .map(Path::to_path_buf)
        .or_else(|| config.and_then(Config::database_path))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATABASE))
}

/// The process environment as a lookup function.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Sets one key named by an `OZGSYNC_A__B__C` variable in the parsed TOML.
fn apply_override(
    table: &mut toml::Table,
    var: &str,
    value: &str,
) -> std::result::Result<(), String> {
    let path: Vec<String> = var
        .trim_start_matches("OZGSYNC_")
        .split("__")
        .map(str::to_lowercase)
        .collect();
    let Some((last, parents)) = path.split_last() else {
        return Err("no key named".into());
    };
    let mut current = table;
    let mut i = 0;
    while let Some(segment) = parents.get(i) {
        i += 1;
        let entry = current
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(t) => t,
            // `[[source]]` / `[[export]]`: the next segment is the element's name.
            toml::Value::Array(items) => {
                let Some(wanted) = parents.get(i) else {
                    return Err(format!("{segment} is a list; name an element"));
                };
                i += 1;
                items
                    .iter_mut()
                    .filter_map(toml::Value::as_table_mut)
                    .find(|t| {
                        t.get("name")
                            .and_then(toml::Value::as_str)
                            .is_some_and(|n| env_name(n) == *wanted)
                    })
                    .ok_or_else(|| format!("no {segment} named {wanted:?} in the config"))?
            }
            _ => return Err(format!("{segment} is not a table")),
        };
    }
    let typed = match current.get(last.as_str()) {
        Some(toml::Value::Integer(_)) | None if value.parse::<i64>().is_ok() => {
            toml::Value::Integer(value.parse().map_err(|e| format!("{e}"))?)
        }
        Some(toml::Value::Boolean(_)) | None if matches!(value, "true" | "false") => {
            toml::Value::Boolean(value == "true")
        }
        Some(toml::Value::Integer(_)) => return Err(format!("{value:?} is not an integer")),
        Some(toml::Value::Boolean(_)) => return Err(format!("{value:?} is not true or false")),
        _ => toml::Value::String(value.to_owned()),
    };
    current.insert(last.clone(), typed);
    Ok(())
}

/// A source or export name as it appears in a variable name: lower case here (the
/// variable is lower-cased before matching), other characters as `_`.
fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("test.toml"), PathBuf::from("/etc/ozgsync"))
    }

    #[test]
    fn reads_sources_and_resolves_relative_paths() {
        let c = parse(
            r#"
            database = "data/ozgsync.db"
            [[source]]
            name = "leika"
            kind = "leika"
            location = "fixtures/leika.csv"
            schedule = "0 0 3 * * *"
            "#,
        )
        .unwrap();
        assert_eq!(
            c.database_path().unwrap(),
            PathBuf::from("/etc/ozgsync/data/ozgsync.db")
        );
        assert_eq!(c.sources[0].kind, SourceKind::Leika);
        assert_eq!(c.timezone, chrono_tz::Europe::Berlin);
    }

    #[test]
    fn lists_every_problem_with_its_key() {
        let err = parse(
            r#"
            timezone = "Mars/Olympus"
            [[source]]
            name = "a"
            kind = "leika"
            location = "x"
            schedule = "every day"
            [[source]]
            name = "a"
            kind = "gv100ad"
            location = "y"
            max_retire_share = 1.5
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("timezone"), "{err}");
        assert!(err.contains("source[0].schedule"), "{err}");
        assert!(err.contains("source[1].max_retire_share"), "{err}");
        assert!(err.contains("source[1].name: duplicate"), "{err}");
    }

    #[test]
    fn land_is_a_key_from_01_to_16_or_all() {
        assert_eq!(parse("").unwrap().land, LandScope::niedersachsen());
        assert_eq!(parse("land = \"08\"").unwrap().land.to_string(), "08");
        assert_eq!(parse("land = \"all\"").unwrap().land, LandScope::all());
        // The key with or without its zero, as text or a TOML integer: one Land.
        for same in ["land = \"03\"", "land = \"3\"", "land = 3"] {
            assert_eq!(
                parse(same).unwrap().land,
                LandScope::niedersachsen(),
                "{same}"
            );
        }
        for bad in [
            "land = \"17\"",
            "land = \"NI\"",
            "land = 17",
            "land = 0",
            "land = -3",
            "land = 3.0",
            "land = true",
            "land = \"003\"",
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("expected a Land key from 1 to 16, written \"03\", 3 or \"3\""),
                "{bad}: {err}"
            );
        }
        let c = with_env("", &[("OZGSYNC_LAND", "3")]).unwrap();
        assert_eq!(c.land, LandScope::niedersachsen());
        // An environment override arrives as a number; "03" must stay Niedersachsen.
        let c = with_env("", &[("OZGSYNC_LAND", "03")]).unwrap();
        assert_eq!(c.land, LandScope::niedersachsen());
        let c = with_env("", &[("OZGSYNC_LAND", "all")]).unwrap();
        assert_eq!(c.land, LandScope::all());
        // What an export command started after a sync finds in its environment
        // is no config key: it must still read the config for `land`.
        let c = with_env(
            "land = \"08\"",
            &[
                ("OZGSYNC_EXPORT_SOURCE", "gv100ad"),
                ("OZGSYNC_EXPORT_RELEASE", "7"),
            ],
        )
        .unwrap();
        assert_eq!(c.land.to_string(), "08");
        assert!(with_env("", &[("OZGSYNC_LAND", "99")]).is_err());
    }

    #[test]
    fn rejects_unknown_keys_and_kinds() {
        assert!(parse("databse = \"x\"").is_err());
        assert!(parse("[[source]]\nname='a'\nkind='nope'\nlocation='x'").is_err());
    }

    fn with_env(text: &str, env: &[(&str, &str)]) -> Result<Config> {
        Config::parse_with_env(
            text,
            Path::new("test.toml"),
            PathBuf::from("/etc/ozgsync"),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    const TWO_SOURCES: &str = r#"
        database = "a.db"
        [fetch]
        max_retries = 2
        [[source]]
        name = "leika"
        kind = "leika"
        location = "https://example.org/leika.csv"
        [[source]]
        name = "gv-100"
        kind = "gv100ad"
        location = "gv.txt"
        "#;

    #[test]
    fn environment_overrides_single_keys() {
        let c = with_env(
            TWO_SOURCES,
            &[
                ("OZGSYNC_DATABASE", "/var/lib/ozgsync/x.db"),
                ("OZGSYNC_TIMEZONE", "UTC"),
                ("OZGSYNC_FETCH__MAX_RETRIES", "7"),
                ("OZGSYNC_DAEMON__RETRIES", "1"),
                ("OZGSYNC_SOURCE__GV_100__SCHEDULE", "0 0 4 * * *"),
                // command-line options and other programs' variables are not keys
                ("OZGSYNC_DB", "ignored.db"),
                ("PATH", "/bin"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.database_path().unwrap(),
            PathBuf::from("/var/lib/ozgsync/x.db")
        );
        assert_eq!(c.timezone, chrono_tz::UTC);
        assert_eq!(c.fetch.max_retries, 7);
        assert_eq!(c.daemon.retries, 1);
        assert_eq!(
            c.sources[1].schedule.as_ref().map(Schedule::expr),
            Some("0 0 4 * * *")
        );
        assert_eq!(c.overrides.len(), 5);
    }

    #[test]
    fn bad_overrides_name_their_variable() {
        let check = |var: &str, value: &str, expected: &str| {
            let err = with_env(TWO_SOURCES, &[(var, value)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{var}={value}: {err}");
        };
        check(
            "OZGSYNC_FETCH__MAX_RETRIES",
            "many",
            "OZGSYNC_FETCH__MAX_RETRIES: \"many\" is not an integer",
        );
        check(
            "OZGSYNC_SOURCE__NOPE__LOCATION",
            "x",
            "no source named \"nope\"",
        );
        check("OZGSYNC_FETCH__MAX_RETRIS", "3", "max_retris");
        check(
            "OZGSYNC_TIMEZONE",
            "Mars/Olympus",
            "timezone: unknown timezone",
        );
    }

    #[test]
    fn credentials_come_from_env_or_file_never_the_toml() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
        let c = Config::parse(
            r#"
            [[source]]
            name = "a"
            kind = "leika"
            location = "https://example.org/a"
            credentials = { env = "A_TOKEN" }
            [[source]]
            name = "b"
            kind = "leika"
            location = "https://example.org/b"
            credentials = { scheme = "basic", user = "svc", file = "pw" }
            "#,
            Path::new("t.toml"),
            dir.path().to_owned(),
        )
        .unwrap();
        let env = |k: &str| (k == "A_TOKEN").then(|| "tok".to_owned());
        assert_eq!(
            c.policy_for(&c.sources[0], &env).unwrap().authorization,
            Some(Authorization::Bearer("tok".into()))
        );
        let basic = c
            .policy_for(&c.sources[1], &env)
            .unwrap()
            .authorization
            .unwrap();
        assert_eq!(
            basic,
            Authorization::Basic {
                user: "svc".into(),
                password: "s3cret".into()
            }
        );
        assert!(!format!("{basic:?}").contains("s3cret"));
        let effective = c.effective_toml();
        assert!(
            effective.contains("A_TOKEN") && !effective.contains("tok\""),
            "{effective}"
        );
        assert_eq!(
            c.secret_problems(&|_: &str| None::<String>),
            ["source[0].credentials: environment variable A_TOKEN is not set"]
        );
    }

    #[test]
    fn credential_and_export_problems_name_their_keys() {
        let err = parse(
            r#"
            [[source]]
            name = "a"
            kind = "leika"
            location = "https://u:pw@example.org/a"
            credentials = { scheme = "basic", env = "X", file = "y" }
            [[export]]
            name = "report"
            command = []
            after = ["b"]
            "#,
        )
        .unwrap_err()
        .to_string();
        for key in [
            "source[0].location: holds a password",
            "source[0].credentials: give exactly one",
            "source[0].credentials.user: required",
            "export[0].command",
            "export[0].after: no source named \"b\"",
        ] {
            assert!(err.contains(key), "{key} missing in {err}");
        }
        assert!(
            parse("[[source]]\nname='a'\nkind='leika'\nlocation='x'\ncredentials={token='t'}")
                .is_err()
        );
    }

    #[test]
    fn config_and_database_are_found_in_one_order() {
        let none = |_: &Path| false;
        let all = |_: &Path| true;
        let etc_only = |p: &Path| p.starts_with("/etc");
        let given = Path::new("/srv/o.toml");
        let env = |name: &str| (name == "HOME").then(|| "/home/u".to_owned());
        assert_eq!(locate(Some(given), &env, &none).as_deref(), Some(given));
        assert_eq!(
            locate(None, &env, &all),
            Some(PathBuf::from("ozgsync.toml"))
        );
        assert_eq!(
            locate(None, &env, &etc_only),
            Some(PathBuf::from("/etc/ozgsync/ozgsync.toml"))
        );
        assert_eq!(locate(None, &env, &none), None);
        // The user's config comes between the working directory's and the system's.
        let not_cwd = |p: &Path| p.is_absolute();
        assert_eq!(
            locate(None, &env, &not_cwd),
            Some(PathBuf::from("/home/u/.config/ozgsync/ozgsync.toml"))
        );
        let xdg = |name: &str| match name {
            "XDG_CONFIG_HOME" => Some("/cfg".to_owned()),
            "HOME" => Some("/home/u".to_owned()),
            _ => None,
        };
        assert_eq!(
            config_search_path(&xdg),
            [
                PathBuf::from("ozgsync.toml"),
                PathBuf::from("/cfg/ozgsync/ozgsync.toml"),
                PathBuf::from("/etc/ozgsync/ozgsync.toml"),
            ]
        );
        // A relative or empty XDG_CONFIG_HOME is ignored (XDG spec); no HOME, no
        // user config.
        let relative = |name: &str| match name {
            "XDG_CONFIG_HOME" => Some("cfg".to_owned()),
            "HOME" => Some("/home/u".to_owned()),
            _ => None,
        };
        assert_eq!(
            config_search_path(&relative)[1],
            PathBuf::from("/home/u/.config/ozgsync/ozgsync.toml")
        );
        assert_eq!(config_search_path(&|_| Some(String::new())).len(), 2);

        let c = parse("database = \"data/x.db\"").unwrap();
        let db = Path::new("/tmp/given.db");
        assert_eq!(database(Some(db), Some(&c)), db);
        assert_eq!(
            database(None, Some(&c)),
            PathBuf::from("/etc/ozgsync/data/x.db")
        );
        assert_eq!(database(None, None), PathBuf::from("ozgsync.db"));
    }

    #[test]
    fn schedules_take_crontab_five_fields_or_six_with_seconds() {
        let at = |expr: &str| {
            let s = parse_schedule(expr).unwrap();
            let start: chrono::DateTime<chrono::Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
            let t = s.after(&start).next().unwrap();
            t.format("%S %M %H").to_string()
        };
        assert_eq!(at("30 2 * * *"), "00 30 02");
        assert_eq!(at("0 30 2 * * *"), "00 30 02");
        assert_eq!(at("15 30 2 * * * 2030"), "15 30 02");
        let err = parse_schedule("every day").unwrap_err();
        assert!(err.contains("\"every day\""), "{err}");
        assert!(
            err.contains("5 fields") && err.contains("6 with seconds"),
            "{err}"
        );
    }

    #[test]
    fn weekday_numbers_are_crontab_s_sunday_zero_or_seven() {
        // The weekdays each expression fires on in the week from Monday 2026-11-30.
        let days = |expr: &str| {
            let s = parse_schedule(expr).unwrap();
            let start: chrono::DateTime<chrono::Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
            s.after(&start)
                .take_while(|t| {
                    t.date_naive() <= chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap()
                })
                .map(|t| t.format("%a").to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(days("30 2 * * 1"), "Mon");
        assert_eq!(days("30 2 * * 0"), "Sun");
        assert_eq!(days("30 2 * * 7"), "Sun");
        assert_eq!(days("0 30 2 * * 6"), "Sat");
        assert_eq!(days("30 2 * * 1-5"), "Mon Tue Wed Thu Fri");
        assert_eq!(days("30 2 * * 5-7"), "Fri Sat Sun");
        assert_eq!(days("30 2 * * 0,3"), "Wed Sun");
        assert_eq!(days("30 2 * * */2"), "Tue Thu Sat Sun");
        assert_eq!(days("30 2 * * Mon,Fri"), "Mon Fri");
        assert_eq!(days("30 2 * * Mon-Wed"), "Mon Tue Wed");
        assert_eq!(days("30 2 * * *").split(' ').count(), 7);
        assert!(parse_schedule("30 2 * * 8").is_err());
    }

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let d = DaemonSettings {
            retry_base_ms: 1000,
            retry_max_secs: 5,
            ..DaemonSettings::default()
        };
        let secs: Vec<u64> = (1..=5).map(|a| d.retry_delay(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 5, 5]);
    }
}
