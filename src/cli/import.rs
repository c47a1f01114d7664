//! `ozgsync import`: apply one file or URL as a release, through the same code path
//! as `sync`.

use std::process::ExitCode;

use super::output::{say, say_json, SummaryFormat};
use super::sync::SourceOut;
use super::Context;
use crate::fetch::{FetchPolicy, Location};
use crate::store::release::{Mode, ReleaseStatus};
use crate::store::runs::Outcome;
use crate::sync::{apply_prefetched_until, prefetch, run_source_until, SourceKind, SourceSpec};

/// Import one payload (file or URL) of the given kind as a release.
#[derive(Debug, clap::Args)]
pub struct Import {
    /// What the payload is.
    kind: SourceKind,
    /// File path or https URL (for fim-api: the portal's base URL).
    location: std::ffi::OsString,
    /// Source name to record the release under [default: the kind].
    #[arg(long)]
    name: Option<String>,
    /// `full` retires keys missing from the payload; `incremental` only upserts.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Allow plain http URLs.
    #[arg(long)]
    allow_http: bool,
    /// fim-api only: pull services changed since this date (YYYY-MM-DD or
    /// DD.MM.YYYY); incremental.
    #[arg(long, value_name = "DATE", value_parser = super::date_arg)]
    updated_since: Option<chrono::NaiveDate>,
    /// The largest share (0–1) of current records this full release may retire;
    /// more is refused as a probably truncated payload. 1 turns the guard off.
    #[arg(long, value_name = "SHARE", default_value_t = crate::store::release::DEFAULT_MAX_RETIRE_SHARE)]
    max_retire_share: f64,
    /// Apply the payload even if it is an older edition than the data it would
    /// replace (an earlier GV100AD Gebietsstand, an XZuFi or FIM API service changed
    /// earlier than the stored version). Without it such a payload is refused.
    #[arg(long)]
    allow_older_edition: bool,
    /// `text`: one line; `json`: the release as a document (source, outcome
    /// `applied`/`unchanged`, release_id, counts).
    #[arg(long, value_enum, default_value_t)]
    format: SummaryFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Full,
    Incremental,
}

impl Import {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        // A file name need not be UTF-8 (one saved on a Latin-1 system); a URL is.
        let location = match self.location.to_str() {
            Some(text) => Location::parse(text, None)?,
            None => Location::Path(self.location.clone().into()),
        };
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| self.kind.as_str().to_owned());
        let mode = self.mode.map(|m| match m {
            ModeArg::Full => Mode::Full,
            ModeArg::Incremental => Mode::Incremental,
        });
        if !(0.0..=1.0).contains(&self.max_retire_share) {
            return Err(crate::Error::usage(format!(
                "--max-retire-share {} is not a share between 0 and 1",
                self.max_retire_share
            ))
            .into());
        }
        let mut spec = SourceSpec::new(&name, self.kind, location, mode);
        spec.max_retire_share = self.max_retire_share;
        spec.allow_older_edition = self.allow_older_edition;
        if let Some(date) = self.updated_since {
            spec.updated_since = Some(date.to_string());
        }
        // The config's [fetch] limits and timeouts hold for `import` as for `sync`:
        // otherwise a payload above the default body limit could not be imported
        // at all. Plain http still takes --allow-http here.
        let base = ctx
            .config
            .as_ref()
            .map_or_else(FetchPolicy::default, |c| c.fetch.policy());
        let policy = FetchPolicy {
            allow_http: self.allow_http,
            ..base
        };
        // What can be refused without the database is refused before it is opened:
        // a mistyped path or a refused URL must not leave a new, empty database.
        spec.location.check(&policy).map_err(|e| match e {
            // `import` reads no allow_http from the config: say what works here.
            crate::fetch::FetchError::HttpNotAllowed { url } => anyhow::anyhow!(
                "{url}: plain http is not allowed; use https, or pass --allow-http if the source offers nothing else (`import` reads no allow_http from the config)"
            ),
            e => anyhow::Error::from(e),
        })?;
        let runtime = super::runtime()?;
        let stop = super::stop_on_signals(&runtime)?;
        // Into a path where no database exists yet, the payload is fetched and its
        // start checked first: a download that fails or a payload that is not the
        // format must not leave a new, empty database (and its lock file) behind.
        // (An existing database is opened first: its validators and last hash
        // decide whether there is anything to fetch at all. So is one that cannot
        // be created, in a missing or read-only folder: the open refuses it at
        // once, creating nothing, instead of after a download.)
        let new = std::fs::symlink_metadata(&ctx.db)
            .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
        let creatable = || {
            crate::store::lock::write_access_problem(&ctx.db).is_none()
                && !crate::store::lock::on_read_only_mount(&ctx.db)
        };
        let prefetched = if new && creatable() {
            Some(prefetch(&spec, &policy, runtime.handle(), &stop)?)
        } else {
            None
        };
        // One writer at a time: a running daemon or sync holds the lock. A database
        // created now gets its schema in the release's transaction: a crash or a
        // failed release leaves an empty file, never a schema without a release.
        let mut conn = if prefetched.is_some() {
            ctx.open_new_release_writer("import")?
        } else {
            ctx.open_release_writer("import")?
        };
        let summary = match prefetched {
            Some(prefetched) => apply_prefetched_until(
                &mut conn,
                &spec,
                &policy,
                runtime.handle(),
                &stop,
                prefetched,
            )?,
            None => run_source_until(&mut conn, &spec, &policy, runtime.handle(), &stop)?,
        };
        match self.format {
            SummaryFormat::Json => {
                let outcome = match summary.status {
                    ReleaseStatus::Applied => Outcome::Applied,
                    ReleaseStatus::Unchanged => Outcome::Unchanged,
                };
                let out = SourceOut::new(
                    &summary.source,
                    outcome,
                    Some(summary.release_id),
                    &summary.counts,
                );
                say_json(&out);
            }
            SummaryFormat::Text if !ctx.quiet => say!("{}", super::output::describe(&summary)),
            SummaryFormat::Text => {}
        }
        Ok(ExitCode::SUCCESS)
    }
}
