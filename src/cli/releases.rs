//! `ozgsync releases` and `ozgsync rejects`: the import history and what each
//! release refused.

use std::process::ExitCode;

use super::output::{opt, render, say};
use super::{Context, Format};
use crate::store::read;

/// List releases, oldest first.
#[derive(Debug, clap::Args)]
pub struct Releases {
    /// Only releases of this source.
    #[arg(long)]
    source: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

impl Releases {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let conn = ctx.open_reader()?;
        let rows = read::releases(&conn, self.source.as_deref())?;
        let header = [
            "release",
            "source",
            "kind",
            "mode",
            "fetched_at",
            "status",
            "added",
            "changed",
            "retired",
            "unchanged",
            "rejected",
            "warnings",
            "kept",
            "sha256",
        ];
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.release_id.to_string(),
                    r.source.clone(),
                    r.kind.clone(),
                    r.mode.clone(),
                    r.fetched_at.clone(),
                    r.status.clone(),
                    r.added.to_string(),
                    r.changed.to_string(),
                    r.retired.to_string(),
                    r.unchanged.to_string(),
                    r.rejected.to_string(),
                    r.warnings.to_string(),
                    r.kept.to_string(),
                    r.sha256
                        .as_deref()
                        .map(|s| s.chars().take(12).collect())
                        .unwrap_or_default(),
                ]
            })
            .collect();
        render(self.format, &header, &table, &rows)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// List the rows a release rejected or warned about, with position and reason.
#[derive(Debug, clap::Args)]
pub struct Rejects {
    /// Release id (see `ozgsync releases`).
    release: i64,
    /// Only rejects (not warnings).
    #[arg(long)]
    rejects_only: bool,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

impl Rejects {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let conn = ctx.open_reader()?;
        let release = read::release(&conn, self.release)?;
        let mut rows = read::rejects(&conn, self.release)?;
        if self.rejects_only {
            rows.retain(|r| r.severity == "reject");
        }
        if self.format == Format::Text && !ctx.quiet {
            say!(
                "release {} ({}, {}): {} rejected, {} warnings, {} kept",
                release.release_id,
                release.source,
                release.location,
                release.rejected,
                release.warnings,
                release.kept
            );
        }
        let header = ["severity", "position", "key", "reason", "raw"];
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.severity.clone(),
                    r.position.clone(),
                    opt(&r.key),
                    r.reason.clone(),
                    opt(&r.raw),
                ]
            })
            .collect();
        render(self.format, &header, &table, &rows)?;
        Ok(ExitCode::SUCCESS)
    }
}
