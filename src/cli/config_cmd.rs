//! `ozgsync config check`: validate the configuration and show what takes effect.

use crate::error::ShowPath;
use std::process::ExitCode;

use super::output::say;
use super::Context;
use crate::config::Config;

/// Work with the configuration file.
#[derive(Debug, clap::Args)]
pub struct ConfigCmd {
    #[command(subcommand)]
    action: ConfigAction,
}

#[derive(Debug, clap::Subcommand)]
enum ConfigAction {
    /// Validate the configuration: list every problem with its key (exit 1 if any),
    /// check that credentials can be read, and print the effective configuration
    /// (after OZGSYNC_* environment overrides) with secrets redacted.
    Check,
}

impl ConfigCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let ConfigAction::Check = self.action;
        let path = ctx.require_config_path()?;
        let config = match Config::check_file(path, std::env::vars()) {
            Ok(config) => config,
            Err(problems) => {
                eprintln!("{}: {} problem(s)", path.shown(), problems.len());
                for p in &problems {
                    eprintln!("  {}", crate::logging::visible_lines(&p.to_string()));
                }
                return Ok(ExitCode::FAILURE);
            }
        };
        let mut run_problems = config.secret_problems(&crate::config::process_env);
        run_problems.extend(config.refused_locations());
        if !ctx.quiet {
            say!("# effective configuration of {}", path.shown());
            say!(
                "# database: {}",
                crate::config::database(ctx.db_given.as_deref(), Some(&config)).shown()
            );
            for var in &config.overrides {
                say!("# overridden by the environment: {var}");
            }
            say!("{}", config.effective_toml().trim_end());
        }
        for note in config.schedule_notes() {
            eprintln!("{}: note: {note}", path.shown());
        }
        if run_problems.is_empty() {
            if !ctx.quiet {
                eprintln!("{}: ok", path.shown());
            }
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!("{}: {} problem(s)", path.shown(), run_problems.len());
            for p in &run_problems {
                eprintln!("  {}", crate::logging::visible_lines(&p.to_string()));
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
