//! `ozgsync sync`: pull every configured source (or one) and apply what changed.

use std::path::PathBuf;
use std::process::ExitCode;

use super::Context;
use crate::config::Config;
use crate::fetch::Location;
use crate::store::release::{ReleaseStatus, ReleaseSummary};
use crate::sync::{run_source, SourceSpec};

/// Fetch every configured source and store each new payload as a release.
///
/// A source that fails is reported and the others still run; the exit code is 1 if
/// any failed, 0 when all were applied or unchanged.
#[derive(Debug, clap::Args)]
pub struct Sync {
    /// Configuration file.
    #[arg(
        long,
        env = "OZGSYNC_CONFIG",
        default_value = "ozgsync.toml",
        value_name = "FILE"
    )]
    config: PathBuf,
    /// Sync only the source with this name.
    #[arg(long, value_name = "NAME")]
    only: Option<String>,
}

impl Sync {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let config = Config::load(&self.config)?;
        if let Some(only) = &self.only {
            if config.source(only).is_none() {
                return Err(crate::Error::Invalid(format!(
                    "no source named {only:?} in {}; configured: {}",
                    self.config.display(),
                    config
                        .sources
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .into());
            }
        }
        let db = ctx.db_path(config.database_path().as_deref());
        let mut conn = crate::store::open(&db)?;
        let policy = config.fetch.policy();
        let runtime = super::runtime()?;
        let mut failed = 0;
        for source in &config.sources {
            if self.only.as_deref().is_some_and(|o| o != source.name) {
                continue;
            }
            let location = Location::parse(&source.location, Some(&config.base_dir))?;
            let spec = SourceSpec::new(&source.name, source.kind, location, source.mode);
            match run_source(&mut conn, &spec, &policy, runtime.handle()) {
                Ok(summary) => {
                    if !ctx.quiet {
                        println!("{}", describe(&summary));
                    }
                }
                Err(err) => {
                    failed += 1;
                    eprintln!("error: source {}: {err}", source.name);
                }
            }
        }
        Ok(if failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    }
}

/// One line per release for the terminal.
pub fn describe(s: &ReleaseSummary) -> String {
    match s.status {
        ReleaseStatus::Unchanged => format!("{}: unchanged (release {})", s.source, s.release_id),
        ReleaseStatus::Applied => {
            let c = &s.counts;
            let mut line = format!(
                "{}: release {} applied: {} added, {} changed, {} retired, {} unchanged, {} rejected, {} warnings",
                s.source, s.release_id, c.added, c.changed, c.retired, c.unchanged, c.rejected, c.warnings
            );
            if c.rejected + c.warnings > 0 {
                line.push_str(&format!(" (`ozgsync rejects {}` lists them)", s.release_id));
            }
            line
        }
    }
}
