//! One source, one release: fetch the payload, skip it when unchanged, otherwise
//! parse it and apply it as one transaction. Used alike by `sync`, `import` and the
//! daemon, so every path into the database behaves the same.

use std::io::BufReader;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fetch::{self, FetchPolicy, Fetched, Location};
use crate::model::Entity;
use crate::parse;
use crate::stop::Stop;
use crate::store::release::{self, Mode, Prepared, Preparer, ReleaseMeta, ReleaseSummary, Spent};

/// SQLite VM steps between two looks at the stop request during a release: often
/// enough to stop within milliseconds, rare enough to cost nothing measurable.
const STOP_CHECK_STEPS: std::ffi::c_int = 10_000;

/// The kinds of source ozgsync can read. The string form is stored in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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

    /// Whether the payload's dates say which edition it is, so that an older one
    /// must not replace a newer one: GV100AD's Gebietsstand, the change time of
    /// each XZuFi or FIM API service. The LeiKa CSV's Veröffentlichungsdatum and the
    /// other formats are not checked (no edition date, or one that says less).
    pub fn carries_edition(self) -> bool {
        matches!(
            self,
            SourceKind::Gv100ad | SourceKind::Xzufi | SourceKind::FimApi
        )
    }

    /// The format of the payload, and so its parser.
    pub fn format(self) -> parse::Format {
        match self {
            SourceKind::Leika => parse::Format::LeikaCsv,
            SourceKind::Xzufi => parse::Format::Xzufi,
            SourceKind::FimApi => parse::Format::FimApi,
            SourceKind::Gv100ad => parse::Format::Gv100ad,
            SourceKind::Efa => parse::Format::Efa,
            SourceKind::Ozg => parse::Format::OzgLeistungen,
            SourceKind::OzgMap => parse::Format::OzgMap,
            SourceKind::Pvog => parse::Format::Pvog,
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

/// Prepared items the parsing thread hands to the writer at a time.
const PIPELINE_BATCH: usize = 512;
/// Batches on their way to the writer at most: bounds the memory a parser that is
/// faster than the writer can fill.
const PIPELINE_DEPTH: usize = 8;

/// Batches of [`Spent`] on their way back to the parsing thread at most.
const SPENT_DEPTH: usize = 2 * PIPELINE_DEPTH;

/// What the parsing thread sends the writer.
enum Message {
    Items(Vec<Prepared>),
    /// The payload is not the format, a row broke the format, or a record could
    /// not be prepared: the release must not be applied.
    Failed(Error),
    /// Every item was sent.
    End,
}

/// The consumer `sync` gives every format's parser, on the parsing thread: each
/// item is prepared for the store ([`Preparer`]: serialised, hashed, its search
/// document made) and sent to the writer in batches.
struct Forward {
    tx: SyncSender<Message>,
    /// What the writer is done with, coming back to be freed on this thread, which
    /// made it (see [`release::apply_prepared_recycling`]).
    back: Receiver<Spent>,
    /// The payload's origin, for errors.
    origin: String,
}

impl Forward {
    /// Frees what the writer has handed back so far.
    fn free_spent(&self) {
        while let Ok(spent) = self.back.try_recv() {
            drop(spent);
        }
    }
}

impl parse::Consume for Forward {
    type Output = ();
    fn consume<T: crate::model::Record>(self, items: parse::Items<'_, T>) {
        let mut preparer = Preparer::default();
        let mut batch = Vec::with_capacity(PIPELINE_BATCH);
        for item in items {
            let prepared = item
                .map_err(|source| Error::Parse {
                    location: self.origin.clone(),
                    source,
                })
                .and_then(|item| preparer.ready(item, &self.origin));
            match prepared {
                Ok(prepared) => batch.push(prepared),
                Err(e) => {
                    // The writer stops at the error; if it is gone, nobody waits.
                    let _ = self.tx.send(Message::Items(batch));
                    let _ = self.tx.send(Message::Failed(e));
                    return;
                }
            }
            if batch.len() == PIPELINE_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(PIPELINE_BATCH));
                if self.tx.send(Message::Items(full)).is_err() {
                    // The writer gave up (an error, a stop request): stop parsing.
                    return;
                }
                self.free_spent();
            }
        }
        batch.push(preparer.fields());
        if self.tx.send(Message::Items(batch)).is_ok() {
            let _ = self.tx.send(Message::End);
        }
        // Free the rest (the writer's map of the keys it saw comes last) while the
        // writer builds indexes and commits, until it drops its end of the channel.
        for spent in self.back.iter() {
            drop(spent);
        }
    }
}

/// The writer's side of the channel: the prepared items in payload order. A
/// channel that closes without [`Message::End`] (the parsing thread died) ends the
/// items with an error, never as if the payload ended there: a full release would
/// retire every key after that point.
struct Received {
    rx: Receiver<Message>,
    items: std::vec::IntoIter<Prepared>,
    ended: bool,
    location: String,
}

impl Iterator for Received {
    type Item = Result<Prepared>;
    fn next(&mut self) -> Option<Result<Prepared>> {
        loop {
            if let Some(item) = self.items.next() {
                return Some(Ok(item));
            }
            if self.ended {
                return None;
            }
            match self.rx.recv() {
                Ok(Message::Items(items)) => self.items = items.into_iter(),
                Ok(Message::End) => self.ended = true,
                Ok(Message::Failed(e)) => {
                    self.ended = true;
                    return Some(Err(e));
                }
                Err(_) => {
                    self.ended = true;
                    return Some(Err(parser_died(&self.location)));
                }
            }
        }
    }
}

fn parser_died(location: &str) -> Error {
    Error::Invalid(format!(
        "reading {location}: the parsing thread stopped before the end of the payload \
         (a bug in ozgsync: please report it with the payload); nothing was applied"
    ))
}

/// Fetches `spec`'s payload; a stop request drops the download, and with it its
/// temporary file.
fn download(
    spec: &SourceSpec,
    validators: &fetch::Validators,
    policy: &FetchPolicy,
    runtime: &tokio::runtime::Handle,
    stop: &Stop,
) -> Result<Fetched> {
    runtime.block_on(async {
        let download = async {
            match (&spec.kind, &spec.location) {
                (SourceKind::FimApi, Location::Url(base)) => {
                    fetch::fim_api::pull(base, spec.updated_since.as_deref(), policy)
                        .await
                        .map(Fetched::Payload)
                }
                (SourceKind::Pvog, Location::Url(location)) => fetch::pvog::pull(location, policy)
                    .await
                    .map(Fetched::Payload),
                (_, location) => fetch::fetch(location, validators, policy).await,
            }
        };
        tokio::select! {
            fetched = download => fetched.map_err(Error::from),
            () = stop.wait() => Err(Error::Stopped {
                reason: stop.reason().unwrap_or_default(),
                what: format!("the download of {}", spec.name),
            }),
        }
    })
}

/// The parsing thread of one payload and the writer's ends of its two channels:
/// started right before the release, or by [`prefetch`] before the database is
/// opened.
struct Parsing {
    worker: std::thread::JoinHandle<()>,
    received: Received,
    back_tx: SyncSender<Spent>,
}

impl Parsing {
    /// Starts parsing the payload (its own copy, on its own file handle) on a
    /// second thread, which prepares the items and sends them in batches.
    fn start(spec: &SourceSpec, payload: &fetch::Payload) -> Result<Parsing> {
        let file = payload
            .file
            .reopen()
            .map_err(Error::io("opening payload", payload.file.path()))?;
        let format = spec.kind.format();
        let origin = payload.origin.clone();
        let location_text = spec.location_text.clone();
        let span = tracing::Span::current();
        let (tx, rx) = sync_channel(PIPELINE_DEPTH);
        let (back_tx, back) = sync_channel(SPENT_DEPTH);
        let forward = Forward {
            tx: tx.clone(),
            back,
            origin: origin.clone(),
        };
        let worker = std::thread::Builder::new()
            .name("ozgsync-parse".into())
            .spawn(move || {
                let _span = span.entered();
                if let Err(source) = format.parse(BufReader::new(file), forward) {
                    let _ = tx.send(Message::Failed(Error::Parse {
                        location: location_text,
                        source,
                    }));
                }
            })
            .map_err(Error::io(
                "starting the parsing thread",
                payload.file.path(),
            ))?;
        Ok(Parsing {
            worker,
            received: Received {
                rx,
                items: Vec::new().into_iter(),
                ended: false,
                location: origin,
            },
            back_tx,
        })
    }

    /// Waits for the parser's first items and keeps them for the release: the
    /// error of a payload that is not the format comes before them (after an
    /// empty batch, when a format finds it with its first item).
    /// A batch of field names alone (`Prepared::Fields`) is kept and waited past,
    /// so that a payload without a row is known here as one ([`Parsing::holds_no_row`]).
    fn check_start(mut self) -> Result<Parsing> {
        let mut held: Vec<Prepared> = Vec::new();
        let failed = loop {
            match self.received.rx.recv() {
                Ok(Message::Items(items))
                    if items.iter().all(|i| matches!(i, Prepared::Fields(_))) =>
                {
                    held.extend(items);
                }
                Ok(Message::Items(items)) => {
                    held.extend(items);
                    self.received.items = held.into_iter();
                    return Ok(self);
                }
                Ok(Message::End) => {
                    self.received.items = held.into_iter();
                    self.received.ended = true;
                    return Ok(self);
                }
                Ok(Message::Failed(e)) => break e,
                Err(_) => break parser_died(&self.received.location),
            }
        };
        // The thread ends after its error.
        drop(self.received);
        drop(self.back_tx);
        let _ = self.worker.join();
        Err(failed)
    }
}

impl Parsing {
    /// After [`Parsing::check_start`]: the payload ended without a record, a
    /// reject or a retirement (field names at most).
    fn holds_no_row(&self) -> bool {
        self.received.ended
            && self
                .received
                .items
                .as_slice()
                .iter()
                .all(|i| matches!(i, Prepared::Fields(_)))
    }
}

/// Applies the items `parsing` sends as one release on this thread, on `conn`:
/// parsing, serialising and making search documents overlap with SQLite's work,
/// through a bounded channel. The release is still one transaction on one
/// connection; a parse error, a payload that is not the format and a parsing
/// thread that dies all roll it back.
fn parse_and_apply(
    conn: &mut Connection,
    meta: &ReleaseMeta,
    payload: &mut fetch::Payload,
    parsing: Parsing,
) -> Result<ReleaseSummary> {
    let Parsing {
        worker,
        received,
        back_tx,
    } = parsing;
    let origin = received.location.clone();
    // Never waits: what the parsing thread cannot take now (or at all, once it
    // has ended) is freed here.
    let mut hand_back = move |spent: Spent| drop(back_tx.try_send(spent));
    let applied = release::apply_prepared_recycling(conn, meta, payload, received, &mut hand_back);
    // The parsing thread frees what comes back until this end is gone.
    drop(hand_back);
    match (worker.join(), applied) {
        (Ok(()), applied) => applied,
        // A panic in a parser is a bug; the release rolled back (its items
        // ended with an error), say what happened instead of the panic.
        (Err(_), Ok(_)) | (Err(_), Err(_)) => Err(parser_died(&origin)),
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
    /// Apply the payload even if it is an older edition than the data it replaces
    /// (`import --allow-older-edition`); see [`ReleaseMeta::check_edition`].
    pub allow_older_edition: bool,
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
            allow_older_edition: false,
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
    run_source_until(conn, spec, policy, runtime, &Stop::new())
}

/// [`run_source`] that gives up when `stop` is requested: the download is dropped
/// (and its temporary file with it) or the release transaction is interrupted and
/// rolls back; the error is then [`Error::Stopped`]. A release that committed
/// before the request is reported as applied.
pub fn run_source_until(
    conn: &mut Connection,
    spec: &SourceSpec,
    policy: &FetchPolicy,
    runtime: &tokio::runtime::Handle,
    stop: &Stop,
) -> Result<ReleaseSummary> {
    run_until(conn, spec, policy, runtime, stop, None)
}

/// A payload fetched, and its parsing begun and found to be the format, before
/// any database was opened ([`prefetch`]); [`apply_prefetched_until`] applies it.
pub struct Prefetched {
    fetched: Fetched,
    parsing: Option<Parsing>,
}

/// Fetches `spec`'s payload without a database and starts parsing it, until the
/// parser's first batch: a payload that is not the format says so there (every
/// format does, at its start or with its first item). For `import` into a path
/// where no database exists yet: a download that fails or a payload that is not
/// the format then leaves no new, empty database behind. A new database holds no
/// validators and no last hash, so this is the fetch the release would make, and
/// the parsing goes on into the release: nothing is read twice.
pub fn prefetch(
    spec: &SourceSpec,
    policy: &FetchPolicy,
    runtime: &tokio::runtime::Handle,
    stop: &Stop,
) -> Result<Prefetched> {
    let fetched = download(spec, &fetch::Validators::default(), policy, runtime, stop)?;
    let parsing = match &fetched {
        Fetched::Payload(payload) => {
            let parsing = Parsing::start(spec, payload)?.check_start()?;
            // A full edition with no row at all is refused by the release into any
            // source (`Error::NoRecords`); with nothing read yet, that is known
            // now, before the database is created.
            let full = spec.mode == Mode::Full && spec.updated_since.is_none();
            if full && parsing.holds_no_row() {
                return Err(Error::NoRecords {
                    location: payload.origin.clone(),
                });
            }
            Some(parsing)
        }
        Fetched::NotModified => None,
    };
    Ok(Prefetched { fetched, parsing })
}

/// [`run_source_until`] with the payload [`prefetch`] fetched.
pub fn apply_prefetched_until(
    conn: &mut Connection,
    spec: &SourceSpec,
    policy: &FetchPolicy,
    runtime: &tokio::runtime::Handle,
    stop: &Stop,
    prefetched: Prefetched,
) -> Result<ReleaseSummary> {
    run_until(conn, spec, policy, runtime, stop, Some(prefetched))
}

fn run_until(
    conn: &mut Connection,
    spec: &SourceSpec,
    policy: &FetchPolicy,
    runtime: &tokio::runtime::Handle,
    stop: &Stop,
    prefetched: Option<Prefetched>,
) -> Result<ReleaseSummary> {
    let stopped = |reason: String| Error::Stopped {
        reason,
        what: format!("the release of {}", spec.name),
    };
    if let Some(reason) = stop.reason() {
        return Err(stopped(reason));
    }
    let watcher = stop.clone();
    conn.progress_handler(STOP_CHECK_STEPS, Some(move || watcher.requested()));
    let result = fetch_and_apply(conn, spec, policy, runtime, stop, prefetched);
    conn.progress_handler(STOP_CHECK_STEPS, None::<fn() -> bool>);
    match (result, stop.reason()) {
        (Err(e), Some(reason)) if e.is_interrupt() || matches!(e, Error::Stopped { .. }) => {
            Err(stopped(reason))
        }
        (result, _) => result,
    }
}

fn fetch_and_apply(
    conn: &mut Connection,
    spec: &SourceSpec,
    policy: &FetchPolicy,
    runtime: &tokio::runtime::Handle,
    stop: &Stop,
    prefetched: Option<Prefetched>,
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
        check_edition: spec.kind.carries_edition() && !spec.allow_older_edition,
    };
    // Validators belong to the URL that sent them: after a move the new location
    // is fetched in full.
    let validators = state.validators_for(&meta.location);
    let (fetched, parsing) = match prefetched {
        // Fetched before the database existed: nothing to compare it with then.
        Some(Prefetched { fetched, parsing }) => (fetched, parsing),
        None => {
            // A local file that has not changed since the last release is
            // recognised by its hash alone, before it is parsed. Only a regular
            // file: a pipe (`<(zcat x.gz)`, a FIFO) can be read once, and its copy
            // then found it empty.
            if let (Location::Path(path), Some(last)) =
                (&spec.location, state.last_sha256.as_deref())
            {
                let regular = std::fs::metadata(path).is_ok_and(|m| m.is_file());
                if regular && fetch::hash_file(path, policy)? == last {
                    tracing::info!(sha256 = last, "file identical to the last release");
                    return release::record_unchanged(conn, &meta, &validators, Some(last));
                }
            }
            (download(spec, &validators, policy, runtime, stop)?, None)
        }
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
    // A regular local file has no hash yet (the release computes it); it was
    // compared with the last release by `hash_file` above.
    if let Some(sha256) =
        (payload.sha256.as_deref()).filter(|s| state.last_sha256.as_deref() == Some(*s))
    {
        tracing::info!(sha256, "payload identical to the last release");
        return release::record_unchanged(conn, &meta, &payload.validators, Some(sha256));
    }
    let parsing = match parsing {
        Some(parsing) => parsing,
        None => Parsing::start(spec, &payload)?,
    };
    let summary = parse_and_apply(conn, &meta, &mut payload, parsing)?;
    tracing::info!(
        release = summary.release_id,
        added = summary.counts.added,
        changed = summary.counts.changed,
        retired = summary.counts.retired,
        unchanged = summary.counts.unchanged,
        rejected = summary.counts.rejected,
        warnings = summary.counts.warnings,
        kept = summary.counts.kept,
        "release applied"
    );
    Ok(summary)
}
