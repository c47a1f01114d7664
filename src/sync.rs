//! One source, one release: fetch the payload, skip it when unchanged, otherwise
//! parse it and apply it as one transaction. Used alike by `sync`, `import` and the
//! daemon, so every path into the database behaves the same.

use std::io::BufReader;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fetch::{self, FetchPolicy, Fetched, Location};
use crate::model::Entity;
use crate::parse;
use crate::store::release::{self, Mode, ReleaseMeta, ReleaseSummary};

/// The kinds of source ozgsync can read. The string form is stored in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
#[value(rename_all = "kebab-case")]
pub enum SourceKind {
    /// LeiKa catalogue CSV (FIM Portal download).
    Leika,
    /// XZuFi 2.2.0 XML (transfer message or single-service export).
    Xzufi,
    /// FIM Portal API v0 `leistung-steckbriefe`, paged (base URL of the portal).
    FimApi,
    /// Destatis GV100AD municipality directory.
    Gv100ad,
    /// ozgsync's EfA release format, JSON or CSV (schema/efa-release.schema.json).
    Efa,
    /// OZG-Leistungen CSV (ozg_id;ozg_leistung;lebenslage;themenfeld).
    Ozg,
    /// LeiKa → OZG map CSV (leika_schluessel;ozg_id).
    OzgMap,
    /// Dashboard Digitale Verwaltung (Open-PVOG availability), paged: an API base URL
    /// (region Land 03) or a URL ending in `/v1/data/<ARS>`; a file is a saved pull.
    Pvog,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Leika => "leika",
            SourceKind::Xzufi => "xzufi",
            SourceKind::FimApi => "fim-api",
            SourceKind::Gv100ad => "gv100ad",
            SourceKind::Efa => "efa",
            SourceKind::Ozg => "ozg",
            SourceKind::OzgMap => "ozg-map",
            SourceKind::Pvog => "pvog",
        }
    }

    pub fn entity(self) -> Entity {
        match self {
            SourceKind::Leika | SourceKind::Xzufi | SourceKind::FimApi => Entity::Service,
            SourceKind::Gv100ad => Entity::Municipality,
            SourceKind::Efa => Entity::EfaService,
            SourceKind::Ozg => Entity::OzgLeistung,
            SourceKind::OzgMap => Entity::LeikaOzg,
            SourceKind::Pvog => Entity::Availability,
        }
    }

    /// Catalogue downloads are complete; XZuFi transfer messages carry changes.
    pub fn default_mode(self) -> Mode {
        match self {
            SourceKind::Xzufi => Mode::Incremental,
            _ => Mode::Full,
        }
    }
}

/// Everything needed to pull one source once.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub name: String,
    pub kind: SourceKind,
    pub location: Location,
    /// The location as configured (stored with releases).
    pub location_text: String,
    pub mode: Mode,
    /// FIM API only: pull only services changed since this date (makes the release
    /// incremental).
    pub updated_since: Option<String>,
    /// See [`ReleaseMeta::max_retire_share`].
    pub max_retire_share: f64,
}

impl SourceSpec {
    pub fn new(name: &str, kind: SourceKind, location: Location, mode: Option<Mode>) -> SourceSpec {
        SourceSpec {
            name: name.to_owned(),
            kind,
            location_text: location.to_string(),
            location,
            mode: mode.unwrap_or(kind.default_mode()),
            updated_since: None,
            max_retire_share: release::DEFAULT_MAX_RETIRE_SHARE,
        }
    }
}

/// Fetches `spec` and applies it as a release. Blocks on `runtime` for the network
/// part; the database work runs on the calling thread.
pub fn run_source(
    conn: &mut Connection,
    spec: &SourceSpec,
    policy: &FetchPolicy,
    runtime: &tokio::runtime::Handle,
) -> Result<ReleaseSummary> {
    let _span =
        tracing::info_span!("release", source = %spec.name, kind = spec.kind.as_str()).entered();
    let state = release::source_state(conn, &spec.name)?;
    let meta = ReleaseMeta {
        source: spec.name.clone(),
        kind: spec.kind.as_str().to_owned(),
        entity: spec.kind.entity(),
        mode: if spec.updated_since.is_some() {
            Mode::Incremental
        } else {
            spec.mode
        },
        location: spec.location_text.clone(),
        fetched_at: crate::store::now_utc(),
        max_retire_share: spec.max_retire_share,
    };
    // Validators belong to the URL that sent them: after a move the new location
    // is fetched in full.
    let validators = state.validators_for(&meta.location);
    // A local file that has not changed since the last release is recognised by its
    // hash alone, before it is copied.
    if let (Location::Path(path), Some(last)) = (&spec.location, state.last_sha256.as_deref()) {
        if fetch::hash_file(path, policy)? == last {
            tracing::info!(sha256 = last, "file identical to the last release");
            return release::record_unchanged(conn, &meta, &validators, Some(last));
        }
    }
    let fetched = match (&spec.kind, &spec.location) {
        (SourceKind::FimApi, Location::Url(base)) => runtime
            .block_on(fetch::fim_api::pull(
                base,
                spec.updated_since.as_deref(),
                policy,
            ))
            .map(Fetched::Payload)?,
        (SourceKind::Pvog, Location::Url(location)) => runtime
            .block_on(fetch::pvog::pull(location, policy))
            .map(Fetched::Payload)?,
        (_, location) => runtime.block_on(fetch::fetch(location, &validators, policy))?,
    };
    let mut payload = match fetched {
        Fetched::NotModified => {
            tracing::info!("not modified (HTTP 304)");
            return release::record_unchanged(
                conn,
                &meta,
                &validators,
                state.last_sha256.as_deref(),
            );
        }
        Fetched::Payload(p) => p,
    };
    if state.last_sha256.as_deref() == Some(payload.sha256.as_str()) {
        tracing::info!(sha256 = %payload.sha256, "payload identical to the last release");
        return release::record_unchanged(conn, &meta, &payload.validators, Some(&payload.sha256));
    }
    let file = payload
        .file
        .reopen()
        .map_err(Error::io("opening payload", payload.file.path()))?;
    let parse_err = |source| Error::Parse {
        location: spec.location_text.clone(),
        source,
    };
    let summary = match spec.kind {
        SourceKind::Leika => {
            let items = parse::leika_csv::parse(file).map_err(parse_err)?;
            release::apply(conn, &meta, &mut payload, items)?
        }
        SourceKind::Xzufi => release::apply(
            conn,
            &meta,
            &mut payload,
            parse::xzufi::parse(BufReader::new(file)),
        )?,
        SourceKind::FimApi => release::apply(
            conn,
            &meta,
            &mut payload,
            parse::fim_api::parse(BufReader::new(file)),
        )?,
        SourceKind::Gv100ad => release::apply(
            conn,
            &meta,
            &mut payload,
            parse::gv100ad::parse(BufReader::new(file)),
        )?,
        SourceKind::Efa => {
            let items = parse::efa::parse(BufReader::new(file)).map_err(parse_err)?;
            release::apply(conn, &meta, &mut payload, items)?
        }
        SourceKind::Ozg => {
            let items = parse::ozg::parse_leistungen(BufReader::new(file)).map_err(parse_err)?;
            release::apply(conn, &meta, &mut payload, items)?
        }
        SourceKind::OzgMap => {
            let items = parse::ozg::parse_map(BufReader::new(file)).map_err(parse_err)?;
            release::apply(conn, &meta, &mut payload, items)?
        }
        SourceKind::Pvog => release::apply(
            conn,
            &meta,
            &mut payload,
            parse::pvog::parse(BufReader::new(file)),
        )?,
    };
    tracing::info!(
        release = summary.release_id,
        added = summary.counts.added,
        changed = summary.counts.changed,
        retired = summary.counts.retired,
        unchanged = summary.counts.unchanged,
        rejected = summary.counts.rejected,
        warnings = summary.counts.warnings,
        "release applied"
    );
    Ok(summary)
}
