//! The TOML configuration: database, timezone, fetch limits and the sources to sync.
//! Relative paths in the file are relative to the file's directory, so a config and
//! its fixtures can move together.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::fetch::{FetchPolicy, Location};
use crate::store::release::Mode;
use crate::sync::SourceKind;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// SQLite database file; `--db` / `OZGSYNC_DB` override it.
    #[serde(default)]
    pub database: Option<PathBuf>,
    /// IANA timezone for schedules and report dates.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default)]
    pub fetch: FetchSettings,
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceConfig>,
    /// The directory relative paths are resolved against (the config's directory).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// Where the config was read from, for messages.
    #[serde(skip)]
    pub path: PathBuf,
}

fn default_timezone() -> String {
    "Europe/Berlin".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchSettings {
    pub allow_http: bool,
    pub connect_timeout_secs: u64,
    pub read_timeout_secs: u64,
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
            max_retries: self.max_retries,
            backoff_base: Duration::from_millis(self.backoff_base_ms),
            max_backoff: Duration::from_secs(self.max_backoff_secs),
            max_body_bytes: self.max_body_mb.saturating_mul(1024 * 1024),
            allow_http: self.allow_http,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Unique name; releases are recorded under it.
    pub name: String,
    pub kind: SourceKind,
    /// https URL or file path (relative to the config file).
    pub location: String,
    /// `full` or `incremental`; defaults by kind (see `SourceKind::default_mode`).
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Cron expression (seconds field first) for the daemon.
    #[serde(default)]
    pub schedule: Option<String>,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(Error::io("reading config", path))?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Config::parse(&text, path, base_dir)
    }

    pub fn parse(text: &str, path: &Path, base_dir: PathBuf) -> Result<Config> {
        let mut config: Config = toml::from_str(text).map_err(|e| Error::Config {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        config.base_dir = base_dir;
        config.path = path.to_owned();
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(Error::Config {
                path: path.display().to_string(),
                message: problems.join("; "),
            });
        }
        Ok(config)
    }

    /// Every problem found, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            out.push(format!("timezone: unknown timezone {:?}", self.timezone));
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            if s.name.trim().is_empty() {
                out.push(format!("source[{i}].name: must not be empty"));
            } else if !names.insert(s.name.as_str()) {
                out.push(format!("source[{i}].name: duplicate name {:?}", s.name));
            }
            if let Err(e) = Location::parse(&s.location, Some(&self.base_dir)) {
                out.push(format!("source[{i}].location: {e}"));
            }
            if let Some(expr) = &s.schedule {
                if let Err(e) = expr.parse::<cron::Schedule>() {
                    out.push(format!(
                        "source[{i}].schedule: invalid cron expression {expr:?}: {e}"
                    ));
                }
            }
        }
        out
    }

    /// The database path from the config, resolved against the config's directory.
    pub fn database_path(&self) -> Option<PathBuf> {
        self.database.as_ref().map(|p| self.base_dir.join(p))
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }
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
        assert_eq!(c.timezone, "Europe/Berlin");
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
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("timezone"), "{err}");
        assert!(err.contains("source[0].schedule"), "{err}");
        assert!(err.contains("source[1].name: duplicate"), "{err}");
    }

    #[test]
    fn rejects_unknown_keys_and_kinds() {
        assert!(parse("databse = \"x\"").is_err());
        assert!(parse("[[source]]\nname='a'\nkind='nope'\nlocation='x'").is_err());
    }
}
