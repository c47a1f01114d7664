//! `ozgsync service`: one LeiKa service's current record and its history.

use std::process::ExitCode;

use super::output::json;
use super::{Context, Format};
use crate::model::{Entity, Leistungsschluessel};
use crate::store::read;

/// Show a service (by Leistungsschlüssel): its current record and every version.
#[derive(Debug, clap::Args)]
pub struct Service {
    /// 14-digit Leistungsschlüssel (or its URN form).
    key: Leistungsschluessel,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

impl Service {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let key = self.key.as_str();
        let conn = ctx.open_reader()?;
        let versions = read::history(&conn, Entity::Service, key)?;
        if versions.is_empty() {
            return Err(crate::Error::NotFound(format!("no service {key} in any release")).into());
        }
        let mut out = super::output::stdout();
        if self.format == Format::Json {
            json(&mut out, &versions)?;
            return Ok(ExitCode::SUCCESS);
        }
        super::output::print_history(&mut out, key, &versions, |v| {
            v.get("bezeichnung")
                .and_then(|b| b.as_str())
                .unwrap_or_default()
                .to_owned()
        })?;
        Ok(ExitCode::SUCCESS)
    }
}
