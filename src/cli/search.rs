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
    /// Most hits shown.
    #[arg(long, default_value_t = 20)]
    limit: u32,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

impl Search {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        // Opened read-write: the index is refreshed for releases imported since the
        // last search (see store::search::refresh).
        let mut conn = ctx.open()?;
        store::search::refresh(&mut conn)?;
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
