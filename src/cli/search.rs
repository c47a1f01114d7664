//! `ozgsync search TEXT`: full-text search over current service names, synonyms and
//! EfA service names, with case, umlauts and ß folded (see `store::search`).

use std::process::ExitCode;

use super::output::{opt, render};
use super::{Context, Format};
use crate::store;

/// Search services and EfA services by name or synonym ("Strasse" finds "Straße").
#[derive(Debug, clap::Args)]
pub struct Search {
    /// Words to find; every word must occur (as a word prefix).
    text: String,
    /// Most hits shown (at least 1: `--limit 0` answered "nothing found").
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

impl Search {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let conn = ctx.open_reader()?;
        // Releases written by an ozgsync that indexed lazily (before the search
        // index moved into the release transaction) are indexed by the next release.
        let behind = store::search::pending_releases(&conn)?.len();
        if behind > 0 && !ctx.quiet {
            eprintln!(
                "warning: the search index does not cover the last {behind} release(s) yet; the next `ozgsync sync` or `ozgsync import` brings it up to date"
            );
        }
        let hits = store::search::search(&conn, &self.text, self.limit)?;
        if hits.is_empty() && self.format == Format::Text {
            if !ctx.quiet {
                eprintln!("nothing found for {:?}", self.text);
            }
            return Ok(ExitCode::SUCCESS);
        }
        let rows: Vec<Vec<String>> = hits
            .iter()
            .map(|h| {
                vec![
                    h.entity.clone(),
                    h.key.clone(),
                    h.name.clone(),
                    opt(&h.synonyms),
                ]
            })
            .collect();
        render(
            self.format,
            &["entity", "key", "name", "synonyms"],
            &rows,
            &hits,
        )?;
        Ok(ExitCode::SUCCESS)
    }
}
