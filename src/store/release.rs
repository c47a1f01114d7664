//! Writing releases: one payload applied as one transaction. Stores the compressed
//! payload, the release row, its rejects, and new record versions; closes versions
//! that changed or were retired. A failure anywhere (including a parse error that
//! says the payload is not the format at all) rolls everything back.
//!
//! A rejected record whose key is valid ([`Reject::key_valid`]) still says "this key
//! is published": its current version is *kept* (left current, untouched, not
//! retired) and a warning naming the key and both releases is stored with the
//! release. A key with no current version has nothing to keep and is only rejected.
//!
//! History never runs backwards silently: a payload from an older edition than the
//! data it would replace (an older GV100AD Gebietsstand, an XZuFi or FIM API service
//! changed earlier than the stored version) is refused whole unless the release
//! says the user wants it ([`ReleaseMeta::check_edition`] off).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::error::{Error, Result, ShowPath};
use crate::fetch::{Payload, Validators};
use crate::model::fields::is_filled;
use crate::model::{EditionRule, Entity, Record};
use crate::parse::{Items, Reject, Severity};

pub use super::prepare::{content_hash, Prepared, PreparedRecord, Preparer};

/// Whether a payload is the whole catalogue or a set of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Keys missing from the payload are retired.
    Full,
    /// Only upserts (and explicit retirements the format carries).
    Incremental,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Incremental => "incremental",
        }
    }
}

/// What is known about a release before its records are read.
#[derive(Debug, Clone)]
pub struct ReleaseMeta {
    /// The source's name (config name, or the kind for a CLI import).
    pub source: String,
    /// Source kind: `leika`, `xzufi`, `fim-api`, `gv100ad`, ...
    pub kind: String,
    pub entity: Entity,
    pub mode: Mode,
    /// The configured location (URL or path) of the source.
    pub location: String,
    /// When the fetch started, UTC RFC 3339.
    pub fetched_at: String,
    /// A full release may retire at most this share (0–1) of the current records;
    /// more is refused as a probably truncated payload. 1.0 turns the guard off.
    pub max_retire_share: f64,
    /// Refuse the release if it is an older edition than the data it would replace
    /// (by the entity's [`crate::model::EditionRule`]). Off for sources whose dates
    /// are no edition, and when the user asked for an older edition on purpose.
    pub check_edition: bool,
}

/// The default of [`ReleaseMeta::max_retire_share`]: no real catalogue drops half
/// its entries from one edition to the next, a truncated download does.
pub const DEFAULT_MAX_RETIRE_SHARE: f64 = 0.5;

/// Below this many current records the retire guard does not apply (a handful of
/// test records, or a catalogue just started).
const RETIRE_GUARD_MIN_CURRENT: usize = 20;

/// The emptied-field guard looks at fields at least this share of the current records
/// fill...
const EMPTIED_GUARD_FILLED_BEFORE: f64 = 0.5;
/// ...and refuses the release when at most this share of its records fill them.
const EMPTIED_GUARD_FILLED_NOW: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStatus {
    Applied,
    Unchanged,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub added: u64,
    pub changed: u64,
    pub retired: u64,
    pub unchanged: u64,
    pub rejected: u64,
    pub warnings: u64,
    /// Current keys whose record in this payload was rejected: left at their
    /// previous version instead of retired (each also counts one warning).
    pub kept: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseSummary {
    pub release_id: i64,
    pub source: String,
    pub status: ReleaseStatus,
    #[serde(flatten)]
    pub counts: Counts,
}

/// What the store remembers about a source between runs.
#[derive(Debug, Clone, Default)]
pub struct SourceState {
    /// The validators of the last release, as answered by `location`.
    pub validators: Validators,
    /// The location the validators came from (`sources.location`, written together
    /// with them).
    pub location: Option<String>,
    /// SHA-256 of the payload of the last applied release.
    pub last_sha256: Option<String>,
}

impl SourceState {
    /// The validators to send when fetching `location`: the remembered ones only if
    /// they came from that very location. An ETag or date of another URL says
    /// nothing about this one, and a 304 to it would keep the old URL's data as if
    /// it were the new one's.
    pub fn validators_for(&self, location: &str) -> Validators {
        if self.location.as_deref() == Some(location) {
            self.validators.clone()
        } else {
            Validators::default()
        }
    }
}

/// Reads the remembered validators (with the location they belong to) and last
/// applied payload hash of `source`.
pub fn source_state(conn: &Connection, source: &str) -> Result<SourceState> {
    // A new database whose schema its first release creates holds no source yet.
    if crate::store::schema_pending(conn)? {
        return Ok(SourceState::default());
    }
    let (validators, location) = conn
        .query_row(
            "SELECT etag, last_modified, location FROM sources WHERE name = ?1",
            [source],
            |r| {
                Ok((
                    Validators {
                        etag: r.get(0)?,
                        last_modified: r.get(1)?,
                    },
                    Some(r.get(2)?),
                ))
            },
        )
        .optional()
        .map_err(Error::db(format!("reading source {source}")))?
        .unwrap_or_default();
    let last_sha256 = conn
        .query_row(
            "SELECT sha256 FROM releases WHERE source = ?1 AND status = 'applied'
             ORDER BY release_id DESC LIMIT 1",
            [source],
            |r| r.get(0),
        )
        .optional()
        .map_err(Error::db(format!("reading last release of {source}")))?;
    Ok(SourceState {
        validators,
        location,
        last_sha256,
    })
}

/// Records a release whose payload was not modified (HTTP 304) or is byte-identical
/// to the last applied one. Writes the release row and the source's validators,
/// nothing else.
pub fn record_unchanged(
    conn: &mut Connection,
    meta: &ReleaseMeta,
    validators: &Validators,
    sha256: Option<&str>,
) -> Result<ReleaseSummary> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(Error::db("starting release transaction"))?;
    crate::store::create_schema_if_pending(&tx)?;
    upsert_source(&tx, meta, validators)?;
    let release_id = insert_release(&tx, meta, validators, sha256, ReleaseStatus::Unchanged)?;
    // Releases of a database that an older ozgsync indexed lazily are caught up
    // by any release, also an unchanged one (one query when nothing is pending).
    crate::store::search::index_pending(&tx)?;
    tx.commit().map_err(Error::db("committing release"))?;
    // A database this command created stays in rollback-journal mode: the caller
    // that writes again enters WAL mode first (see [`apply_prepared`]).
    Ok(ReleaseSummary {
        release_id,
        source: meta.source.clone(),
        status: ReleaseStatus::Unchanged,
        counts: Counts::default(),
    })
}

/// Applies a parsed payload as one release, in one transaction, preparing the
/// items on this thread (`sync` prepares them on another one and calls
/// [`apply_prepared`]).
///
/// `items` must be the parser's iterator over `payload`. A parse error (payload not
/// the format at all) or a database error rolls back everything, including the
/// stored payload.
pub fn apply<T: Record>(
    conn: &mut Connection,
    meta: &ReleaseMeta,
    payload: &mut Payload,
    items: Items<'_, T>,
) -> Result<ReleaseSummary> {
    debug_assert_eq!(T::ENTITY, meta.entity);
    let prepared = PrepareAll {
        items,
        preparer: Some(Preparer::default()),
        origin: payload.origin.clone(),
    };
    apply_prepared(conn, meta, payload, prepared)
}

/// [`Preparer`] over a whole iterator of items, ending with [`Prepared::Fields`].
struct PrepareAll<'a, T> {
    items: Items<'a, T>,
    preparer: Option<Preparer>,
    origin: String,
}

impl<T: Record> Iterator for PrepareAll<'_, T> {
    type Item = Result<Prepared>;
    fn next(&mut self) -> Option<Result<Prepared>> {
        let preparer = self.preparer.as_mut()?;
        match self.items.next() {
            Some(Ok(item)) => Some(preparer.ready(item, &self.origin)),
            Some(Err(source)) => Some(Err(Error::Parse {
                location: self.origin.clone(),
                source,
            })),
            None => self.preparer.take().map(|p| Ok(p.fields())),
        }
    }
}

/// Applies prepared items as one release, in one transaction.
///
/// `items` are the parser's items over `payload`, made ready to store by
/// [`Preparer`] (on another thread, see `sync`), ending with [`Prepared::Fields`].
/// An error among them (a payload that is not the format at all, a parser that
/// stopped early) or a database error rolls back everything, including the stored
/// payload.
pub fn apply_prepared(
    conn: &mut Connection,
    meta: &ReleaseMeta,
    payload: &mut Payload,
    items: impl Iterator<Item = Result<Prepared>>,
) -> Result<ReleaseSummary> {
    apply_prepared_recycling(conn, meta, payload, items, &mut drop)
}

/// [`apply_prepared`] that hands what it is done with of the records ([`Spent`])
/// to `spent`, a few hundred records at a time, instead of freeing it: `sync`
/// sends it back to its parsing thread, which made those buffers and frees them
/// for less than the writer would.
pub fn apply_prepared_recycling(
    conn: &mut Connection,
    meta: &ReleaseMeta,
    payload: &mut Payload,
    items: impl Iterator<Item = Result<Prepared>>,
    spent: &mut dyn FnMut(Spent),
) -> Result<ReleaseSummary> {
    let cache = ReleaseCache::enter(conn)?;
    let applied = apply_in_transaction(conn, meta, payload, items, spent);
    cache.leave(conn);
    applied
}

/// The page cache a release runs with, in KiB, instead of the connection's 32 MiB:
/// a release reads each current version once (to know its hash) and writes its
/// rows, index entries and search segments once each, so a large cache only
/// held pages it did not need again. The LeiKa import's writer thread needed
/// no more CPU with 8 MiB than with 32, and its peak RSS fell by ~24 MiB
/// (benches/HISTORY.md, session 8).
const RELEASE_CACHE_KIB: i64 = 8 * 1024;

/// The connection's page cache size while a release runs with [`RELEASE_CACHE_KIB`].
struct ReleaseCache {
    /// `PRAGMA cache_size` as it was (pages if positive, KiB if negative).
    before: i64,
}

impl ReleaseCache {
    fn enter(conn: &Connection) -> Result<ReleaseCache> {
        let before = conn
            .query_row("PRAGMA cache_size", [], |r| r.get(0))
            .map_err(Error::db("reading the page cache size"))?;
        conn.pragma_update(None, "cache_size", -RELEASE_CACHE_KIB)
            .map_err(Error::db("setting the page cache size of the release"))?;
        Ok(ReleaseCache { before })
    }

    /// Gives the connection its cache back; best effort, as the release is over
    /// (committed or rolled back) and a smaller cache is no error.
    fn leave(self, conn: &Connection) {
        if let Err(e) = conn.pragma_update(None, "cache_size", self.before) {
            tracing::debug!(error = %e, "page cache size left at the release's");
        }
    }
}

/// [`apply_prepared_recycling`] within its transaction.
fn apply_in_transaction(
    conn: &mut Connection,
    meta: &ReleaseMeta,
    payload: &mut Payload,
    items: impl Iterator<Item = Result<Prepared>>,
    spent: &mut dyn FnMut(Spent),
) -> Result<ReleaseSummary> {
    // Made before the transaction and dropped after it: closing its descriptor
    // while the transaction holds SQLite's locks would drop them (`writeback`).
    let writeback = super::writeback::Writeback::open(conn);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(Error::db("starting release transaction"))?;
    // A new database opened by `store::open_new_release_writer` gets its schema
    // here, so that it commits with its first release or not at all.
    crate::store::create_schema_if_pending(&tx)?;
    // The release indexes what it writes; an index an older ozgsync left behind is
    // caught up first (before this release's row exists, which would count as
    // pending too), so the documents the release removes are there.
    crate::store::search::index_pending(&tx)?;
    upsert_source(&tx, meta, &payload.validators)?;
    // A payload not stored yet is compressed on a thread of its own (zlib took
    // ~0.1 s of the SQLite writer's critical path for a 16 MB LeiKa file), and
    // stored at the end of the same transaction. A payload without a hash yet (a
    // local file read in place, `fetch::read_file`) is hashed there too, and compressed
    // in case it is new: the release row gets its hash, and the payload is stored
    // unless one with that hash is. The thread starts its work once the records
    // are all read (`rows_read`): until then the parsing thread and the writer
    // keep both cores busy, and a third thread only took CPU from the writer; after
    // it the parsing thread's core idles while the writer finishes the release
    // (benches/HISTORY.md, session 21).
    let compress = match &payload.sha256 {
        Some(sha256) if payload_stored(&tx, sha256)? => None,
        _ => Some(
            payload
                .file
                .reopen()
                .map_err(Error::io("reopening payload", payload.file.path()))?,
        ),
    };
    let hash = payload.sha256.is_none();
    let path = payload.file.path().to_owned();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (rows_read, start) = std::sync::mpsc::channel::<()>();
    let written = std::thread::scope(|scope| {
        // The new database's file is synced while the rows are written, so that
        // the commit's `fsync` has little left; it stops when `_syncing` is dropped
        // with this closure's locals.
        let (_syncing, synced) = std::sync::mpsc::channel::<()>();
        if let Some(writeback) = &writeback {
            std::thread::Builder::new()
                .name("ozgsync-writeback".into())
                .spawn_scoped(scope, move || writeback.run(&synced))
                .map_err(Error::io("starting the early writeback thread", &path))?;
        }
        let compressing = match compress {
            Some(file) => Some(
                std::thread::Builder::new()
                    .name("ozgsync-gzip".into())
                    .spawn_scoped(scope, {
                        let (path, stop) = (&path, &stop);
                        move || {
                            // Started by `rows_read`, or by its drop on a failure
                            // (which also sets `stop`).
                            let _ = start.recv();
                            compress_payload(file, path, hash, stop)
                        }
                    })
                    .map_err(Error::io("starting the payload compression thread", &path))?,
            ),
            None => None,
        };
        let written = write_items(&tx, meta, payload, items, spent, &|| {
            let _ = rows_read.send(());
        });
        let Some(compressing) = compressing else {
            return written;
        };
        if written.is_err() {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        drop(rows_read);
        let compressed = compressing.join();
        let (release_id, counts) = written?;
        let compressed = compressed.map_err(|_| {
            Error::Invalid(format!(
                "compressing the payload {} stopped unexpectedly (a bug in ozgsync: please \
                 report it); nothing was applied",
                path.shown()
            ))
        })??;
        let Some(compressed) = compressed else {
            return Ok((release_id, counts));
        };
        if let Some(sha256) = compressed.sha256 {
            tx.execute(
                "UPDATE releases SET sha256 = ?2 WHERE release_id = ?1",
                params![release_id, sha256],
            )
            .map_err(Error::db("recording the payload's hash"))?;
            payload.sha256 = Some(sha256);
        }
        let sha256 = payload.sha256.as_deref().unwrap_or_default();
        if !hash || !payload_stored(&tx, sha256)? {
            tx.execute(
                "INSERT INTO payloads (sha256, size, codec, data, stored_at)
                 VALUES (?1, ?2, 'gzip', ?3, ?4)",
                params![
                    sha256,
                    payload.size as i64,
                    compressed.data,
                    super::now_utc()
                ],
            )
            .map_err(Error::db("storing payload"))?;
        }
        Ok((release_id, counts))
    });
    // A local file read in place must still be the one parsed and hashed; if it
    // is not, that is the error to show, whatever else failed with it (a file
    // cut short while it was read may look like a mass retirement).
    let changed = payload
        .file
        .check_unchanged()
        .map_err(Error::io("checking payload", payload.file.path()))?;
    if let Some(change) = changed {
        return Err(Error::PayloadChanged {
            path: payload.file.path().to_owned(),
            change,
        });
    }
    let (release_id, counts) = written?;
    tx.commit().map_err(Error::db("committing release"))?;
    // Out of the transaction the connection holds no lock in rollback-journal mode.
    drop(writeback);
    // A database this command created ran its first release in rollback-journal
    // mode (`store::open_release_writer`) and is left in it: a caller that writes
    // more releases calls `store::enter_wal` before the next (`cli::sync`), while
    // `import`, whose one release this was, closes it in the mode it would be
    // switched back to on close anyway. Entering WAL here cost that import two
    // transactions that only flip the header, 8 `fsync` calls on its serial tail
    // (benches/HISTORY.md, session 17).
    Ok(ReleaseSummary {
        release_id,
        source: meta.source.clone(),
        status: ReleaseStatus::Applied,
        counts,
    })
}

/// The release row, its records, rejects, search index and due exports, within
/// the release's transaction `tx` (everything of [`apply_prepared`] but the payload).
fn write_items(
    tx: &Connection,
    meta: &ReleaseMeta,
    payload: &Payload,
    items: impl Iterator<Item = Result<Prepared>>,
    spent: &mut dyn FnMut(Spent),
    rows_read: &dyn Fn(),
) -> Result<(i64, Counts)> {
    let release_id = insert_release(
        tx,
        meta,
        &payload.validators,
        payload.sha256.as_deref(),
        ReleaseStatus::Applied,
    )?;

    // The first release into an empty version table builds its indexes after its
    // rows, in this same transaction (see [`DeferredIndexes`]).
    let deferred = DeferredIndexes::take(tx)?;

    let mut writer = VersionWriter::new(tx, meta, release_id)?;
    let mut rejects = RejectWriter::new(tx, release_id)?;
    for (n, item) in items.enumerate() {
        if n % 1000 == 999 {
            crate::progress::advance(1000);
        }
        match item? {
            Prepared::Upsert(record) => {
                if let Some(reject) = writer.upsert(record, &payload.origin)? {
                    rejects.write(&reject)?;
                }
                if writer.spent.records.len() >= Spent::BATCH {
                    spent(std::mem::replace(&mut writer.spent, Spent::new()));
                }
            }
            Prepared::Retire { key } => writer.retire(&key)?,
            Prepared::Reject(reject) => {
                if reject.severity == Severity::Reject && reject.key_valid {
                    if let Some(key) = &reject.key {
                        writer.keep(key, &reject.position);
                    }
                }
                rejects.write(&reject)?;
            }
            Prepared::Fields(names) => writer.field_names = names,
        }
    }
    rows_read();
    // Before the guards: a kept key is present, so it is neither retired nor counted
    // toward the retire share.
    writer.write_kept(&mut rejects)?;
    writer.check_payload_edition(&payload.origin)?;
    if meta.mode == Mode::Full {
        // Kept keys are no valid records: a payload whose every row is bad is
        // refused even when each bad row still names its key.
        let untouched = writer.current.len() + writer.kept.len();
        if writer.seen.is_empty() && untouched > 0 {
            return Err(Error::EmptyRelease {
                location: payload.origin.clone(),
                current: untouched,
            });
        }
        // A full edition with no row at all (a header and nothing else) is not a
        // catalogue even for a source with nothing current yet.
        if writer.seen.is_empty() && rejects.rejected == 0 {
            return Err(Error::NoRecords {
                location: payload.origin.clone(),
            });
        }
        // Nor is one whose every row is bad: applied into an empty source it was
        // release 1 with nothing in it, a file of which nothing is usable (another
        // kind of file, shifted columns) recorded as the catalogue's first edition.
        if writer.seen.is_empty() {
            let (position, reason) = rejects.first.take().unwrap_or_default();
            return Err(Error::NoValidRecord {
                location: payload.origin.clone(),
                rejected: rejects.rejected,
                position,
                reason,
            });
        }
        let current = writer.current_before;
        let retire = writer.current.len();
        if current >= RETIRE_GUARD_MIN_CURRENT
            && retire as f64 > meta.max_retire_share * current as f64
        {
            return Err(Error::MassRetire {
                location: payload.origin.clone(),
                retire,
                current,
                max_share: meta.max_retire_share,
            });
        }
        if meta.max_retire_share < 1.0 {
            writer.check_emptied_fields(&payload.origin)?;
        }
        writer.warn_case_pairs(&mut rejects)?;
        writer.retire_unseen()?;
    }
    writer
        .index
        .write_returning(tx, &mut writer.spent.documents)?;
    let mut counts = std::mem::take(&mut writer.counts);
    let created = writer.created;
    // The keys and positions of every record, freed where they were made too.
    writer.spent.seen = std::mem::take(&mut writer.seen);
    spent(std::mem::take(&mut writer.spent));
    drop(writer);
    if let Some(deferred) = deferred {
        deferred
            .build(tx)
            .map_err(|e| super::tempdir::explain_sort(e, counts.added))?;
    }
    counts.rejected = rejects.rejected;
    counts.warnings = rejects.warnings;
    drop(rejects);
    tx.execute(
        "UPDATE releases SET added = ?2, changed = ?3, retired = ?4, unchanged = ?5,
                rejected = ?6, warnings = ?7, kept = ?8, first_version_id = ?9,
                last_version_id = ?10
         WHERE release_id = ?1",
        params![
            release_id,
            counts.added as i64,
            counts.changed as i64,
            counts.retired as i64,
            counts.unchanged as i64,
            counts.rejected as i64,
            counts.warnings as i64,
            counts.kept as i64,
            created.map(|(first, _)| first),
            created.map(|(_, last)| last)
        ],
    )
    .map_err(Error::db("updating release counts"))?;
    super::due::mark(
        tx,
        super::due::Cause::Release {
            source: &meta.source,
            release_id,
        },
    )?;
    // The search index commits with the release, so `search` never has to write.
    crate::store::search::mark_indexed(tx, release_id)?;
    Ok((release_id, counts))
}

fn upsert_source(conn: &Connection, meta: &ReleaseMeta, validators: &Validators) -> Result<()> {
    conn.execute(
        "INSERT INTO sources (name, kind, location, etag, last_modified, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, location = excluded.location,
             etag = excluded.etag, last_modified = excluded.last_modified,
             updated_at = excluded.updated_at",
        params![
            meta.source,
            meta.kind,
            meta.location,
            validators.etag,
            validators.last_modified,
            super::now_utc()
        ],
    )
    .map_err(Error::db(format!("recording source {}", meta.source)))?;
    Ok(())
}

fn insert_release(
    conn: &Connection,
    meta: &ReleaseMeta,
    validators: &Validators,
    sha256: Option<&str>,
    status: ReleaseStatus,
) -> Result<i64> {
    conn.execute(
        "INSERT INTO releases (source, kind, entity, mode, location, fetched_at, etag,
                               last_modified, sha256, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            meta.source,
            meta.kind,
            meta.entity.as_str(),
            meta.mode.as_str(),
            meta.location,
            meta.fetched_at,
            validators.etag,
            validators.last_modified,
            sha256,
            match status {
                ReleaseStatus::Applied => "applied",
                ReleaseStatus::Unchanged => "unchanged",
            }
        ],
    )
    .map_err(Error::db("inserting release"))?;
    Ok(conn.last_insert_rowid())
}

/// Whether a payload with this SHA-256 is stored already (payloads are kept
/// gzip-compressed, once per content).
fn payload_stored(conn: &Connection, sha256: &str) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM payloads WHERE sha256 = ?1)",
        [sha256],
        |r| r.get(0),
    )
    .map_err(Error::db("looking up payload"))
}

/// A payload compressed for storing, and its hash if it was asked for.
struct Compressed {
    data: Vec<u8>,
    sha256: Option<String>,
}

/// The payload `file` (its own handle, read from the start) gzip-compressed, and
/// hashed if `hash`, or None when `stop` was set (the release failed and will not
/// store it).
fn compress_payload(
    mut file: std::fs::File,
    path: &std::path::Path,
    hash: bool,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<Option<Compressed>> {
    use sha2::Digest;
    file.seek(SeekFrom::Start(0))
        .map_err(Error::io("rewinding payload", path))?;
    // Fast compression: payloads are kept for audit, and the import must stay close
    // to a plain `sqlite3 .import` in speed. Level 1 is zlib-rs's `deflate_quick`
    // (Cargo.toml, flate2): ~24 ms of CPU for a 16 MB LeiKa file, the SHA-256 ~10.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut hasher = hash.then(sha2::Sha256::new);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        let n = file
            .read(&mut buf)
            .map_err(Error::io("reading payload", path))?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        if let Some(hasher) = hasher.as_mut() {
            hasher.update(chunk);
        }
        encoder
            .write_all(chunk)
            .map_err(Error::io("compressing payload", path))?;
    }
    let data = encoder
        .finish()
        .map_err(Error::io("compressing payload", path))?;
    Ok(Some(Compressed {
        data,
        sha256: hasher.map(|h| crate::fetch::hex(&h.finalize())),
    }))
}

/// What the writer is done with of the records it wrote or found unchanged: their
/// text, hash, search documents and field numbers. Nothing reads them; they are
/// handed back to be freed on the thread that made them
/// ([`apply_prepared_recycling`]), where freeing them costs less than on the
/// SQLite writer (mimalloc frees another thread's block through an atomic list).
#[derive(Default)]
pub struct Spent {
    records: Vec<Leftover>,
    documents: Vec<crate::store::search::Document>,
    seen: KeyMap<String>,
}

impl Spent {
    /// Records after which the writer hands its [`Spent`] on.
    const BATCH: usize = 512;

    fn new() -> Spent {
        Spent {
            records: Vec::with_capacity(Self::BATCH),
            ..Spent::default()
        }
    }
}

/// The parts of one [`PreparedRecord`] the writer no longer needs (its key and
/// position it keeps).
struct Leftover {
    _data: String,
    _hash: String,
    _edition: Option<String>,
    _filled: Vec<u16>,
    _document: Option<(String, Option<String>)>,
}

/// Applies upserts and retirements of one entity within a release transaction.
struct VersionWriter<'c> {
    conn: &'c Connection,
    entity: Entity,
    release_id: i64,
    insert: rusqlite::CachedStatement<'c>,
    close: rusqlite::CachedStatement<'c>,
    /// Current (open) versions. Keys seen in this release are removed, so in a full
    /// release what remains at the end is retired.
    current: KeyMap<Current>,
    /// Keys written by this release → position, to reject duplicates.
    seen: KeyMap<String>,
    /// Current keys whose record was rejected, taken out of `current` so they are not
    /// retired, in the order met. A later good record of the key still updates it.
    kept: KeyMap<Kept>,
    /// How many keys were ever kept in this release: the order of the next one.
    kept_seq: usize,
    /// How many versions were current before this release.
    current_before: usize,
    /// What the emptied-field guard ([`Self::check_emptied_fields`]) counts, kept
    /// only when it will run: per field number ([`PreparedRecord::filled`]), how
    /// many records of this release fill it, and how many of them are unchanged
    /// versions of this source (so they filled it before too)...
    guard: bool,
    filled_now: Vec<u64>,
    filled_unchanged: Vec<u64>,
    /// ...and per field name, how many of this source's versions this release
    /// closed filled it. The names of the field numbers come last
    /// ([`Prepared::Fields`]).
    filled_closed: HashMap<String, u64>,
    field_names: Vec<String>,
    /// How many current versions came from this release's source.
    own_before: u64,
    counts: Counts,
    /// The least and the greatest `version_id` this release created
    /// (`releases.first_version_id`, `last_version_id`: what `diff` reads a
    /// span's new versions by, schema 0024).
    created: Option<(i64, i64)>,
    /// The edition rule in force for this release ([`EditionRule::None`] when the
    /// check is off) and, for it, the edition date of each current version.
    edition_rule: EditionRule,
    editions: HashMap<String, String>,
    /// The latest edition date among the records of this payload.
    payload_edition: Option<String>,
    /// The search index changes of this release not yet written.
    index: crate::store::search::Batch,
    /// What the writer is done with, to be handed on ([`apply_prepared_recycling`]).
    spent: Spent,
}

impl<'c> VersionWriter<'c> {
    fn new(conn: &'c Connection, meta: &ReleaseMeta, release_id: i64) -> Result<Self> {
        let entity = meta.entity;
        // Only this source's current versions count as "before" for the
        // emptied-field guard: several sources feed one entity (LeiKa CSV, XZuFi,
        // FIM API) and fill different fields.
        let mut stmt = conn
            .prepare_cached(
                "SELECT v.key, v.hash, coalesce(r.source = ?2, 0) FROM record_versions v
                 LEFT JOIN releases r ON r.release_id = v.valid_from
                 WHERE v.entity = ?1 AND v.valid_to IS NULL",
            )
            .map_err(Error::db("reading current versions"))?;
        let current = stmt
            .query_map(params![entity.as_str(), meta.source], |r| {
                let hash: rusqlite::types::ValueRef<'_> = r.get_ref(1)?;
                Ok((
                    r.get(0)?,
                    Current {
                        hash: hash.as_str().ok().and_then(hash_number),
                        own: r.get(2)?,
                    },
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<KeyMap<Current>>>())
            .map_err(Error::db("reading current versions"))?;
        let own_before = current.values().filter(|c| c.own).count() as u64;
        let (rule, field, _) = entity.edition();
        let edition_rule = if meta.check_edition {
            rule
        } else {
            EditionRule::None
        };
        // Read only when they are compared: the JSON is not touched otherwise.
        let editions = if edition_rule == EditionRule::None {
            HashMap::new()
        } else {
            conn.prepare(
                "SELECT key, json_extract(data, '$.' || ?2) FROM record_versions
                 WHERE entity = ?1 AND valid_to IS NULL
                   AND json_extract(data, '$.' || ?2) IS NOT NULL",
            )
            .and_then(|mut stmt| {
                stmt.query_map(params![entity.as_str(), field], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<rusqlite::Result<HashMap<String, String>>>()
            })
            .map_err(Error::db("reading the edition dates of current versions"))?
        };
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO record_versions (entity, key, valid_from, hash, data)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(Error::db("preparing the version insert"))?;
        // The entity and the release are the same for every version this writer
        // inserts: bound once here (a reset keeps bindings), so `upsert` binds only
        // the key, hash and data. rusqlite's `execute` binds every parameter per
        // row, and SQLite copies each text it is given (`SQLITE_TRANSIENT`).
        insert
            .raw_bind_parameter(1, entity.as_str())
            .and_then(|()| insert.raw_bind_parameter(3, release_id))
            .map_err(Error::db("binding the version insert"))?;
        let close = conn
            .prepare_cached(
                "UPDATE record_versions SET valid_to = ?3
                 WHERE entity = ?1 AND key = ?2 AND valid_to IS NULL
                 RETURNING version_id, data",
            )
            .map_err(Error::db("preparing the version close"))?;
        Ok(VersionWriter {
            conn,
            entity,
            release_id,
            insert,
            close,
            current_before: current.len(),
            current,
            seen: KeyMap::default(),
            kept: KeyMap::default(),
            kept_seq: 0,
            guard: meta.mode == Mode::Full && meta.max_retire_share < 1.0,
            filled_now: Vec::new(),
            filled_unchanged: Vec::new(),
            filled_closed: HashMap::new(),
            field_names: Vec::new(),
            own_before,
            counts: Counts::default(),
            created: None,
            edition_rule,
            editions,
            payload_edition: None,
            index: crate::store::search::Batch::new(entity),
            spent: Spent::new(),
        })
    }

    /// [`EditionRule::PerPayload`]: refuses a payload whose latest edition date is
    /// earlier than the latest among the current records (an older directory).
    fn check_payload_edition(&self, location: &str) -> Result<()> {
        if self.edition_rule != EditionRule::PerPayload {
            return Ok(());
        }
        // An edition dated after today (a GV100AD Gebietsstand 9999-12-31: mistyped
        // or made up) cannot have been published, and applied it made every real
        // edition after it "older", refused until --allow-older-edition.
        let today = crate::model::date::today().to_string();
        if let Some(edition) = self.payload_edition.as_ref().filter(|e| **e > today) {
            let (_, _, label) = self.entity.edition();
            return Err(Error::FutureEdition {
                location: location.to_owned(),
                what: format!("the payload's latest {label} is {edition}"),
                today,
            });
        }
        let (Some(edition), Some(current)) =
            (self.payload_edition.as_ref(), self.editions.values().max())
        else {
            return Ok(());
        };
        if edition < current {
            let (_, _, label) = self.entity.edition();
            return Err(Error::OlderEdition {
                location: location.to_owned(),
                what: format!("the payload's latest {label} is {edition}"),
                current: current.clone(),
            });
        }
        Ok(())
    }

    /// Refuses a full release in which a field filled by at least half of the current
    /// records is empty in (nearly) all of its records — a wrong encoding (a header
    /// that no longer matches) or a shifted layout, not a real edition.
    fn check_emptied_fields(&self, location: &str) -> Result<()> {
        let records = self.seen.len() as u64;
        let current = self.own_before;
        if current < RETIRE_GUARD_MIN_CURRENT as u64 || records < RETIRE_GUARD_MIN_CURRENT as u64 {
            return Ok(());
        }
        let filled_before = self.filled_before()?;
        let mut filled_now: HashMap<&str, u64> = HashMap::new();
        for (name, &n) in self.field_names.iter().zip(&self.filled_now) {
            filled_now.insert(name, n);
        }
        let mut fields: Vec<(&String, &u64)> = filled_before.iter().collect();
        fields.sort();
        for (field, &before) in fields {
            if self.entity.volatile_fields().contains(&field.as_str()) {
                continue;
            }
            let now = filled_now.get(field.as_str()).copied().unwrap_or(0);
            if before as f64 >= EMPTIED_GUARD_FILLED_BEFORE * current as f64
                && now as f64 <= EMPTIED_GUARD_FILLED_NOW * records as f64
            {
                return Err(Error::EmptiedField {
                    location: location.to_owned(),
                    field: field.clone(),
                    before,
                    current: current as usize,
                    now,
                    records,
                });
            }
        }
        Ok(())
    }

    /// Per field, how many of this source's current versions filled it before this
    /// release, counted in proportion to what changed: an unchanged record fills
    /// what its version filled (counted as it passed), a closed version was counted
    /// as it closed, and only the versions still open and not met unchanged (kept
    /// or about to be retired) are read back.
    fn filled_before(&self) -> Result<HashMap<String, u64>> {
        let mut before = self.filled_closed.clone();
        for (name, &n) in self.field_names.iter().zip(&self.filled_unchanged) {
            if n > 0 {
                *before.entry(name.clone()).or_default() += n;
            }
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT data FROM record_versions
                 WHERE entity = ?1 AND key = ?2 AND valid_to IS NULL",
            )
            .map_err(Error::db("reading current versions"))?;
        let open = (self.current.iter().filter(|(_, c)| c.own).map(|(k, _)| k))
            .chain(self.kept.iter().filter(|(_, k)| k.own).map(|(k, _)| k));
        for key in open {
            let data: String = stmt
                .query_row(params![self.entity.as_str(), key], |r| r.get(0))
                .map_err(|e| Error::db(format!("reading the current version of {key}"))(e))?;
            count_filled(&mut before, &crate::store::search::stored_data(key, &data)?);
        }
        Ok(before)
    }

    /// [`EditionRule::PerRecord`]: refuses a change of `key` to a version older than
    /// the current one. An identical record is no change and passes.
    fn check_record_edition(
        &self,
        key: &str,
        edition: Option<&str>,
        position: &str,
        location: &str,
    ) -> Result<()> {
        if self.edition_rule != EditionRule::PerRecord {
            return Ok(());
        }
        match (edition, self.editions.get(key)) {
            (Some(edition), Some(current)) if edition < current.as_str() => {
                let (_, _, label) = self.entity.edition();
                Err(Error::OlderEdition {
                    location: location.to_owned(),
                    what: format!(
                        "{position}: {} {key} has the {label} {edition}",
                        self.entity.as_str()
                    ),
                    current: format!("{current} of its current version"),
                })
            }
            _ => Ok(()),
        }
    }

    /// Writes `record` unless identical to the current version. Returns a reject if
    /// the key already occurred in this payload; fails if the record is a change to
    /// an older edition (see [`EditionRule`]).
    fn upsert(&mut self, record: PreparedRecord, location: &str) -> Result<Option<Reject>> {
        let PreparedRecord {
            position,
            key,
            edition,
            data,
            hash,
            document,
            filled,
        } = record;
        if let Some(edition) = &edition {
            if self.payload_edition.as_ref().is_none_or(|e| edition > e) {
                self.payload_edition = Some(edition.clone());
            }
        }
        if let Some(first) = self.seen.get(&key) {
            return Ok(Some(Reject::reject(
                position,
                Some(key),
                format!("key occurs more than once in this payload (first at {first}); this occurrence was skipped"),
            )));
        }
        let previous = self.current.remove(&key).or_else(|| {
            self.kept.remove(&key).map(|k| Current {
                hash: k.hash,
                own: k.own,
            })
        });
        if self.guard {
            count_numbers(&mut self.filled_now, &filled);
        }
        match previous {
            Some(old) if old.hash.is_some() && old.hash == hash_number(&hash) => {
                if self.guard && old.own {
                    count_numbers(&mut self.filled_unchanged, &filled);
                }
                self.seen.insert(key, position);
                self.counts.unchanged += 1;
                self.spent.records.push(Leftover {
                    _data: data,
                    _hash: hash,
                    _edition: edition,
                    _filled: filled,
                    _document: document,
                });
                return Ok(None);
            }
            Some(old) => {
                self.check_record_edition(&key, edition.as_deref(), &position, location)?;
                self.close_version(&key, old.own)?;
                self.counts.changed += 1;
            }
            None => self.counts.added += 1,
        }
        // ?1 (entity) and ?3 (release) stay bound from `new`.
        self.insert
            .raw_bind_parameter(2, key.as_str())
            .and_then(|()| self.insert.raw_bind_parameter(4, hash.as_str()))
            .and_then(|()| self.insert.raw_bind_parameter(5, data.as_str()))
            .and_then(|()| self.insert.raw_execute())
            .map_err(|e| Error::db(format!("writing version of {key}"))(e))?;
        let version_id = self.conn.last_insert_rowid();
        self.created = Some(match self.created {
            Some((first, last)) => (first.min(version_id), last.max(version_id)),
            None => (version_id, version_id),
        });
        if let Some(document) = document {
            self.index.add_document(version_id, document);
            if self.index.is_full() {
                self.index
                    .write_returning(self.conn, &mut self.spent.documents)?;
            }
        }
        self.seen.insert(key, position);
        self.spent.records.push(Leftover {
            _data: data,
            _hash: hash,
            _edition: edition,
            _filled: filled,
            _document: None,
        });
        Ok(None)
    }

    /// Retires `key` if it is current and was not written by this release. Unknown
    /// keys are ignored: delete feeds (PVOG) name many objects never seen.
    fn retire(&mut self, key: &str) -> Result<()> {
        let own = match self.current.remove(key) {
            Some(current) => Some(current.own),
            None => self.kept.remove(key).map(|k| k.own),
        };
        if let Some(own) = own {
            self.close_version(key, own)?;
            self.counts.retired += 1;
        } else {
            tracing::debug!(key, "retirement of a key that is not current ignored");
        }
        Ok(())
    }

    /// A rejected record named the valid `key`: if the key is current and this
    /// release has not written it, its version stays current. A key that is not
    /// current has no version to keep.
    fn keep(&mut self, key: &str, position: &str) {
        if self.seen.contains_key(key) || self.kept.contains_key(key) {
            return;
        }
        if let Some(Current { hash, own }) = self.current.remove(key) {
            let order = self.kept_seq;
            self.kept_seq += 1;
            self.kept.insert(
                key.to_owned(),
                Kept {
                    hash,
                    own,
                    position: position.to_owned(),
                    order,
                },
            );
        }
    }

    /// Stores one warning per kept key (in the order the rejects came), naming the
    /// key, this release and the release whose version stays current.
    fn write_kept(&mut self, rejects: &mut RejectWriter<'_>) -> Result<()> {
        let mut kept: Vec<(&String, &Kept)> = self.kept.iter().collect();
        kept.sort_by_key(|(_, k)| k.order);
        let mut from = self
            .conn
            .prepare_cached(
                "SELECT valid_from FROM record_versions
                 WHERE entity = ?1 AND key = ?2 AND valid_to IS NULL",
            )
            .map_err(Error::db("reading kept versions"))?;
        for (key, k) in kept {
            let valid_from: i64 = from
                .query_row(params![self.entity.as_str(), key], |r| r.get(0))
                .map_err(|e| Error::db(format!("reading the current version of {key}"))(e))?;
            rejects.write(&Reject::warning(
                k.position.clone(),
                Some(key.clone()),
                format!(
                    "{key} kept at its version from release {valid_from}: its record in release {} \
                     was rejected (see the reject at {}), but the key is still published, so it \
                     was not retired; correct the record at the source and the next release updates it",
                    self.release_id, k.position
                ),
            ))?;
            self.counts.kept += 1;
        }
        Ok(())
    }

    /// Full release: a key about to be retired that differs only in case from a
    /// key of this payload (`EFA-0001` → `efa-0001`) is named with it as a warning.
    /// Keys are compared exactly (EfA ids are case-sensitive by their format rule),
    /// so one is retired and the other added; the warning is how the release report
    /// tells that the source probably only re-spelled the id.
    fn warn_case_pairs(&self, rejects: &mut RejectWriter<'_>) -> Result<()> {
        // Only keys with a cased letter can differ only in case: LeiKa keys and
        // ARS (digits) never build the map or a lower-cased copy of a seen key.
        let cased = |k: &str| k.chars().any(|c| c.is_lowercase() || c.is_uppercase());
        let retiring: HashMap<String, &String> = self
            .current
            .keys()
            .filter(|k| cased(k))
            .map(|k| (k.to_lowercase(), k))
            .collect();
        if retiring.is_empty() {
            return Ok(());
        }
        let mut pairs: Vec<(&String, &String, &String)> = self
            .seen
            .iter()
            .filter(|(key, _)| cased(key))
            .filter_map(|(key, position)| {
                let old = *retiring.get(&key.to_lowercase())?;
                (old != key).then_some((position, old, key))
            })
            .collect();
        pairs.sort();
        for (position, old, new) in pairs {
            rejects.write(&Reject::warning(
                position.clone(),
                Some(new.clone()),
                format!(
                    "{new} differs from {old} only in case: keys are compared exactly, so this release \
                     retires {old} and adds {new} as another record (its history starts here). If the \
                     source only re-spelled the id, ask it to keep {old}"
                ),
            ))?;
        }
        Ok(())
    }

    /// Full release: every current key the payload did not contain is retired.
    fn retire_unseen(&mut self) -> Result<()> {
        let keys: Vec<(String, bool)> = self.current.drain().map(|(k, c)| (k, c.own)).collect();
        for (key, own) in keys {
            self.close_version(&key, own)?;
            self.counts.retired += 1;
        }
        Ok(())
    }

    /// Closes the current version of `key` and takes its document out of the
    /// search index (with the text of the closed version, see `store::search`).
    /// `own`: the version came from this release's source (counted for the
    /// emptied-field guard).
    fn close_version(&mut self, key: &str, own: bool) -> Result<()> {
        let closed: Option<(i64, String)> = self
            .close
            .query_row(params![self.entity.as_str(), key, self.release_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(|e| Error::db(format!("closing version of {key}"))(e))?;
        let Some((version_id, data)) = closed else {
            return Ok(());
        };
        let searchable = crate::store::search::is_searchable(self.entity);
        let counted = self.guard && own;
        if !searchable && !counted {
            return Ok(());
        }
        let data = crate::store::search::stored_data(key, &data)?;
        if counted {
            count_filled(&mut self.filled_closed, &data);
        }
        if searchable {
            self.index.remove(version_id, &data);
            if self.index.is_full() {
                self.index.write(self.conn)?;
            }
        }
        Ok(())
    }
}

/// The indexes of `record_versions`, dropped while the first release of an empty
/// table writes its rows and built again from their own SQL (as the migrations
/// left it, read from `sqlite_schema`) after the last row, within the release's
/// transaction: a failed or killed release leaves them as they were. Such a
/// release has no current version to look up or close (every key is new; keys
/// repeated in the payload are refused by the writer before they reach SQLite),
/// so nothing reads the indexes meanwhile, and one sort per index replaces a
/// B-tree search per row and index.
///
/// A partial index (`record_versions_to`: closed versions only) stays: a first
/// release closes no version, so it gets no entry while the rows are written (its
/// `WHERE` is one comparison per row), and building it after them would read
/// every row once more for nothing (~2 % of the writer's CPU time in a cold LeiKa
/// import, benches/HISTORY.md, session 9).
///
/// Since schema 0024 that leaves `record_versions_key` alone: the index by
/// `valid_from` (a second read of the whole table and a sort, 4.6–6.7 % of a cold
/// LeiKa import's wall time) is gone, and a release records the range of version
/// ids it created instead ([`VersionWriter`]'s `created`).
struct DeferredIndexes {
    /// `CREATE INDEX` statements, in the order they were made, each with whether
    /// its index is unique.
    sql: Vec<(String, bool)>,
}

impl DeferredIndexes {
    /// Drops the indexes if `record_versions` holds no row at all.
    fn take(tx: &Connection) -> Result<Option<DeferredIndexes>> {
        let empty: bool = tx
            .query_row(
                "SELECT NOT EXISTS (SELECT 1 FROM record_versions)",
                [],
                |r| r.get(0),
            )
            .map_err(Error::db("reading the version table"))?;
        if !empty {
            return Ok(None);
        }
        let indexes: Vec<(String, String, bool)> = tx
            .prepare(
                "SELECT s.name, s.sql, i.\"unique\" FROM sqlite_schema s
                 JOIN pragma_index_list('record_versions') i ON i.name = s.name
                 WHERE s.type = 'index' AND s.tbl_name = 'record_versions'
                   AND s.sql IS NOT NULL AND NOT i.partial
                 ORDER BY s.rowid",
            )
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(Error::db("reading the indexes of the version table"))?;
        for (name, _, _) in &indexes {
            tx.execute_batch(&format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")))
                .map_err(|e| Error::db(format!("deferring index {name}"))(e))?;
        }
        Ok(Some(DeferredIndexes {
            sql: indexes
                .into_iter()
                .map(|(_, sql, unique)| (sql, unique))
                .collect(),
        }))
    }

    /// Builds the dropped indexes again over the rows written, a unique one with
    /// SQLite's sorter given [`SORT_WORKERS`] worker threads ([`SORT_CACHE_KIB`]).
    ///
    /// Only a unique one: with a worker thread SQLite's sorter compares whole
    /// keys, the rowid included, where alone it stops at the index's columns, so
    /// an index whose columns tie (`record_versions_from`, one value in every row
    /// of a first release, until schema 0024) cost its sort four times the
    /// compares (writer +82 M instructions, benches/HISTORY.md, session 16); a
    /// unique index's columns never tie.
    fn build(self, tx: &Connection) -> Result<()> {
        let cache: i64 = tx
            .query_row("PRAGMA cache_size", [], |r| r.get(0))
            .map_err(Error::db("reading the page cache size"))?;
        let built = self.sql.iter().try_for_each(|(sql, unique)| {
            let (threads, cache_size) = if *unique {
                (SORT_WORKERS, -SORT_CACHE_KIB)
            } else {
                (0, cache)
            };
            sorter(tx, threads, cache_size)?;
            tx.execute_batch(sql)
                .map_err(|e| Error::db(format!("building index ({sql})"))(e))
        });
        // After a failed build too: the worker is for these builds only.
        sorter(tx, 0, cache)?;
        built
    }
}

/// The page cache, in KiB, while a first release builds its deferred indexes.
/// SQLite's sorter hands sorted runs to a worker thread (`PRAGMA threads`) only
/// when its keys outgrow the page cache and spill to a temporary file; within
/// it, it sorts them all at once on the writer's thread. With 4 MiB or less a
/// run is 4 MB (250 pages of 16 KiB, SQLite's least), so the 100k keys of a
/// LeiKa catalogue's `record_versions_key` (~4.7 MB in the sorter) spill a run,
/// which is sorted and written by the worker, on the core the parsing thread
/// has left idle by then, while the writer reads the rest of the table
/// (benches/HISTORY.md, session 16).
const SORT_CACHE_KIB: i64 = 4 * 1024;

/// The sorter's worker threads for a unique index's build. The first takes the
/// run that spills while the writer reads; a second takes the last run, which
/// the writer would otherwise sort and write itself at the end of the read, and
/// feeds the merge of the two in the background (writer −27 M instructions
/// more than with one, benches/HISTORY.md, session 16).
const SORT_WORKERS: i64 = 2;

/// Sets the sorter's worker threads and the page cache (`PRAGMA cache_size`).
fn sorter(tx: &Connection, threads: i64, cache_size: i64) -> Result<()> {
    tx.execute_batch(&format!(
        "PRAGMA threads = {threads}; PRAGMA cache_size = {cache_size};"
    ))
    .map_err(Error::db(
        "setting the sorter's threads for the index builds",
    ))
}

/// The writer's maps keyed by record key (100k entries for LeiKa, looked up once or
/// twice per record): foldhash, seeded per map from a per-process random seed, so
/// a payload (downloaded, so not trusted) cannot choose keys that collide, at a
/// third of SipHash's cost for these short keys (benches/HISTORY.md, session 8).
type KeyMap<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// A [`content_hash`] as the number it spells (16 lowercase hex digits): 8 bytes
/// in the writer's map of current versions instead of a 16-byte string on the
/// heap behind a 24-byte one. `None` for a stored hash of another shape (a
/// database edited by hand), which then equals no new record's hash, as the text
/// would not have either.
fn hash_number(text: &str) -> Option<u64> {
    let lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    if text.len() != 16 || !text.as_bytes().iter().all(lower_hex) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

/// A current version, as the writer holds it.
struct Current {
    /// Its content hash ([`PreparedRecord::hash`]) as a number ([`hash_number`]).
    hash: Option<u64>,
    /// It came from this release's source.
    own: bool,
}

/// Adds one to each of `numbers`' counters.
fn count_numbers(counts: &mut Vec<u64>, numbers: &[u16]) {
    for &n in numbers {
        let n = usize::from(n);
        if counts.len() <= n {
            counts.resize(n + 1, 0);
        }
        if let Some(c) = counts.get_mut(n) {
            *c += 1;
        }
    }
}

/// Adds one per top-level field `data` fills (see `is_filled`).
fn count_filled(counts: &mut HashMap<String, u64>, data: &serde_json::Value) {
    if let serde_json::Value::Object(fields) = data {
        for (field, value) in fields {
            if is_filled(value) {
                match counts.get_mut(field) {
                    Some(n) => *n += 1,
                    None => {
                        counts.insert(field.clone(), 1);
                    }
                }
            }
        }
    }
}

/// A current key kept by a rejected record.
struct Kept {
    /// Content hash of the current version, as `current` held it.
    hash: Option<u64>,
    /// The version came from this release's source.
    own: bool,
    /// Where the rejected record stood.
    position: String,
    /// Order among the kept keys, so warnings follow the payload.
    order: usize,
}

struct RejectWriter<'c> {
    stmt: rusqlite::CachedStatement<'c>,
    release_id: i64,
    seq: i64,
    rejected: u64,
    warnings: u64,
    /// Where the first rejected row stood and why, for a refusal that names it.
    first: Option<(String, String)>,
}

impl<'c> RejectWriter<'c> {
    fn new(conn: &'c Connection, release_id: i64) -> Result<Self> {
        let stmt = conn
            .prepare_cached(
                "INSERT INTO rejects (release_id, seq, severity, position, key, reason, raw)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(Error::db("preparing reject insert"))?;
        Ok(RejectWriter {
            stmt,
            release_id,
            seq: 0,
            rejected: 0,
            warnings: 0,
            first: None,
        })
    }

    fn write(&mut self, reject: &Reject) -> Result<()> {
        self.seq += 1;
        match reject.severity {
            Severity::Reject => self.rejected += 1,
            Severity::Warning => self.warnings += 1,
        }
        if reject.severity == Severity::Reject && self.first.is_none() {
            self.first = Some((reject.position.clone(), reject.reason.clone()));
        }
        self.stmt
            .execute(params![
                self.release_id,
                self.seq,
                reject.severity.as_str(),
                reject.position,
                reject.key,
                reject.reason,
                reject.raw
            ])
            .map_err(Error::db("writing reject"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database as ozgsync makes it, with one release and `n` versions of it
    /// (of `n - 1` keys when `duplicate`), their indexes dropped by
    /// [`DeferredIndexes::take`] before the rows, as a first release does.
    fn first_release(
        dir: &tempfile::TempDir,
        n: i64,
        duplicate: bool,
    ) -> (Connection, DeferredIndexes) {
        let conn = crate::store::open(&dir.path().join("ozgsync.db")).unwrap();
        conn.execute_batch(
            "INSERT INTO sources (name, kind, location, updated_at)
             VALUES ('leika', 'leika', 'x.csv', '2026-12-02T00:00:00Z');
             INSERT INTO releases (release_id, source, kind, entity, mode, location,
                                   fetched_at, status)
             VALUES (1, 'leika', 'leika', 'leistung', 'full', 'x.csv',
                     '2026-12-02T00:00:00Z', 'applied');",
        )
        .unwrap();
        let deferred = DeferredIndexes::take(&conn).unwrap().unwrap();
        // Keys in a scattered order, as a catalogue's are not sorted by the table.
        let last = if duplicate { n - 1 } else { n };
        conn.execute(
            "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?1)
             INSERT INTO record_versions (entity, key, valid_from, hash, data)
             SELECT 'leistung', printf('99%012d', (min(n, ?2) * 7919) % 1000003), 1,
                    printf('%016x', n), '{}'
             FROM i",
            params![n, last],
        )
        .unwrap();
        (conn, deferred)
    }

    fn pragma(conn: &Connection, name: &str) -> i64 {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .unwrap()
    }

    /// 120k keys are more than the sorter holds in memory at [`SORT_CACHE_KIB`],
    /// so the unique index is sorted in runs on the worker thread and merged: it
    /// is the migrations' index over every row, and the connection leaves the
    /// build with no worker and its page cache as before.
    #[test]
    fn indexes_sorted_with_workers_hold_every_row_and_leave_no_worker() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, deferred) = first_release(&dir, 120_000, false);
        let expected: Vec<String> = deferred.sql.iter().map(|(sql, _)| sql.clone()).collect();
        let cache = pragma(&conn, "cache_size");
        deferred.build(&conn).unwrap();
        let built: Vec<String> = conn
            .prepare(
                "SELECT s.sql FROM sqlite_schema s
                 JOIN pragma_index_list('record_versions') i ON i.name = s.name
                 WHERE s.type = 'index' AND NOT i.partial ORDER BY s.rowid",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(built, expected);
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let by_key: i64 = conn
            .query_row(
                "SELECT count(*) FROM record_versions INDEXED BY record_versions_key
                 WHERE entity = 'leistung' AND key >= ''",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(by_key, 120_000);
        assert_eq!(pragma(&conn, "threads"), 0);
        assert_eq!(pragma(&conn, "cache_size"), cache);
    }

    /// A key twice among the rows fails the unique index's build with workers
    /// as on one, with SQLite's error, and the worker is turned off all the same.
    #[test]
    fn a_duplicate_key_fails_the_build_with_workers_and_leaves_no_worker() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, deferred) = first_release(&dir, 120_000, true);
        let cache = pragma(&conn, "cache_size");
        let failed = deferred.build(&conn).unwrap_err();
        assert!(
            failed.to_string().contains("record_versions_key"),
            "{failed}"
        );
        assert_eq!(pragma(&conn, "threads"), 0);
        assert_eq!(pragma(&conn, "cache_size"), cache);
    }
}
