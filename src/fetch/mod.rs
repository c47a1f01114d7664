//! Fetching: turns a source location (https URL or local path) into a payload file
//! on disk with its SHA-256, or "not modified". Owns HTTP behaviour: timeouts,
//! retries with backoff and jitter, conditional GET, body size limit, gzip.
//! Never touches the database: validators come in and go out as plain values.

pub mod fim_api;
pub mod http;
pub mod paged;
pub mod pvog;

use crate::error::ShowPath;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where a source's payload comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Url(url::Url),
    Path(PathBuf),
}

impl Location {
    /// Parses a CLI or config value: `http://` and `https://` are URLs, anything else
    /// is a path, resolved against `base` when relative.
    /// The scheme is matched without regard to case (`HTTPS://…` pasted from a
    /// document is a URL, as RFC 3986 says, not a file of that name).
    pub fn parse(value: &str, base: Option<&Path>) -> Result<Location, FetchError> {
        let has_scheme = |scheme: &str| {
            value
                .get(..scheme.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
        };
        if has_scheme("http://") || has_scheme("https://") {
            let url = url::Url::parse(value).map_err(|e| FetchError::BadUrl {
                url: value.to_owned(),
                reason: e.to_string(),
            })?;
            Ok(Location::Url(url))
        } else {
            let path = PathBuf::from(value);
            Ok(Location::Path(match base {
                Some(base) if path.is_relative() => base.join(path),
                _ => path,
            }))
        }
    }

    /// The checks on a location that need neither the network nor the database:
    /// plain http without `allow_http`, a file that is missing, unreadable or a
    /// directory. `import` runs them before it opens (and perhaps creates) the
    /// database, so a refused import leaves no stray database behind. Only a
    /// regular file is opened here; a pipe (`<(zcat x.gz)`) is read once, later.
    pub fn check(&self, policy: &FetchPolicy) -> Result<(), FetchError> {
        match self {
            Location::Url(url) if url.scheme() == "http" && !policy.allow_http => {
                Err(FetchError::HttpNotAllowed {
                    url: http::redact(url),
                })
            }
            Location::Url(_) => Ok(()),
            Location::Path(path) if path == Path::new(STDIN) => Ok(()),
            Location::Path(path) => {
                let fault = |source| FetchError::File {
                    path: path.clone(),
                    source: crate::error::name_the_file_in_the_way(path, source),
                };
                let meta = std::fs::metadata(path).map_err(|e| {
                    match path.to_str().and_then(foreign_scheme) {
                        Some(scheme) if e.kind() == std::io::ErrorKind::NotFound => {
                            FetchError::BadUrl {
                                url: path.shown().to_string(),
                                reason: format!("unsupported scheme {scheme:?} (and no file of that name); ozgsync fetches https:// URLs, and http:// where allowed"),
                            }
                        }
                        _ => fault(e),
                    }
                })?;
                if meta.is_dir() {
                    return Err(fault(std::io::ErrorKind::IsADirectory.into()));
                }
                if meta.is_file() {
                    std::fs::File::open(path).map_err(fault)?;
                }
                Ok(())
            }
        }
    }
}

/// The scheme of a value that looks like a URL (`ftp://…`, `file://…`), which
/// [`Location::parse`] took for a path because only http(s) is fetched.
fn foreign_scheme(value: &str) -> Option<&str> {
    let (scheme, _) = value.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Url(u) => write!(f, "{u}"),
            Location::Path(p) => write!(f, "{}", p.shown()),
        }
    }
}

/// HTTP cache validators remembered per source between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Limits and retry behaviour for one fetch.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    pub connect_timeout: Duration,
    /// Longest pause between two chunks of a body (not the whole download).
    pub read_timeout: Duration,
    /// Longest time one fetch may take, retries and backoff included. Without it a
    /// server trickling one byte just inside `read_timeout` holds a sync forever.
    pub total_timeout: Duration,
    /// Retries after the first attempt, for connect errors, 5xx and 429.
    pub max_retries: u32,
    /// First backoff delay; doubles each retry, with jitter.
    pub backoff_base: Duration,
    /// Longest wait honoured from a `Retry-After` header or backoff.
    pub max_backoff: Duration,
    /// Largest body accepted (after decompression).
    pub max_body_bytes: u64,
    /// Whether plain `http://` is allowed (default: only https).
    pub allow_http: bool,
    /// `Authorization` header to send with every request of this source (from the
    /// source's configured credentials); never logged.
    pub authorization: Option<Authorization>,
}

/// Credentials sent with every request of a source. Debug prints them redacted,
/// so a policy can be logged.
#[derive(Clone, PartialEq, Eq)]
pub enum Authorization {
    /// `Authorization: Bearer <token>`
    Bearer(String),
    /// `Authorization: Basic base64(user:password)`
    Basic { user: String, password: String },
}

impl Authorization {
    /// Adds the header to a request.
    pub fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Authorization::Bearer(token) => request.bearer_auth(token),
            Authorization::Basic { user, password } => request.basic_auth(user, Some(password)),
        }
    }
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Authorization::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Authorization::Basic { user, .. } => write!(f, "Basic({user}:<redacted>)"),
        }
    }
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            total_timeout: Duration::from_secs(30 * 60),
            max_retries: 4,
            backoff_base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(120),
            max_body_bytes: 512 * 1024 * 1024,
            allow_http: false,
            authorization: None,
        }
    }
}

/// A payload on disk, ready to parse.
#[derive(Debug)]
pub struct Payload {
    pub file: PayloadFile,
    /// Lower-case hex SHA-256 of the (decompressed) body; None for a regular
    /// local file ([`read_file`]), whose hash the release computes from it on a
    /// thread of its own (`store::release`).
    pub sha256: Option<String>,
    pub size: u64,
    pub validators: Validators,
    /// The URL the body came from after redirects, or the path read.
    pub origin: String,
}

/// Where a payload's bytes are.
#[derive(Debug)]
pub enum PayloadFile {
    /// A temporary file this process wrote (a download, standard input, a pipe),
    /// removed on drop.
    Temp(tempfile::NamedTempFile),
    /// A regular local file, read where it lies ([`read_file`]).
    Local(LocalFile),
}

/// A regular local file read in place of a copy: kept open, with what it was
/// when it was opened, so that a file changed or replaced while a release reads
/// it is refused ([`PayloadFile::reopen`], [`PayloadFile::check_unchanged`])
/// instead of stored with bytes that were not the ones parsed. Copying it first
/// took ~4 ms and ~2 ms to remove again for a 16 MB LeiKa file, before the
/// parsing could start (benches/HISTORY.md, session 25), and as much room in the
/// temporary directory as the file.
#[derive(Debug)]
pub struct LocalFile {
    path: PathBuf,
    file: std::fs::File,
    stamp: Stamp,
}

/// What tells a file's content apart without reading it: its identity, size and
/// the times of its last change (the status change time too, which no program
/// can set back).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

impl PayloadFile {
    /// The file's path: a temporary file's, or the local file's as given.
    pub fn path(&self) -> &Path {
        match self {
            PayloadFile::Temp(file) => file.path(),
            PayloadFile::Local(local) => &local.path,
        }
    }

    /// A new handle on the payload, reading from its start on its own offset. A
    /// local file's path must still name the file that was opened; it is opened
    /// without blocking, so that a FIFO put in its place is refused instead of
    /// waited on.
    pub fn reopen(&self) -> std::io::Result<std::fs::File> {
        match self {
            PayloadFile::Temp(file) => file.reopen(),
            PayloadFile::Local(local) => {
                use rustix::fs::{Mode, OFlags};
                let file = std::fs::File::from(rustix::fs::open(
                    &local.path,
                    OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
                    Mode::empty(),
                )?);
                let stamp = Stamp::of(&file.metadata()?);
                if (stamp.dev, stamp.ino) != (local.stamp.dev, local.stamp.ino) {
                    return Err(std::io::Error::other(
                        "the path names another file than when the import began (replaced while it was read)",
                    ));
                }
                Ok(file)
            }
        }
    }

    /// For a local file: what changed when the file is not as it was opened
    /// (written, truncated, grown, replaced or removed since), else None. A
    /// temporary file is ours and always as written.
    pub fn check_unchanged(&self) -> std::io::Result<Option<String>> {
        let PayloadFile::Local(local) = self else {
            return Ok(None);
        };
        let now = Stamp::of(&local.file.metadata()?);
        let was = &local.stamp;
        Ok(if now.len != was.len {
            Some(format!(
                "{} bytes when it was opened, {} now",
                was.len, now.len
            ))
        } else if now != *was {
            // A rename over the path or a removal changes the file's status
            // time too (its link count).
            Some("written to, replaced or removed since it was opened".to_owned())
        } else {
            None
        })
    }
}

impl From<tempfile::NamedTempFile> for PayloadFile {
    fn from(file: tempfile::NamedTempFile) -> PayloadFile {
        PayloadFile::Temp(file)
    }
}

#[derive(Debug)]
pub enum Fetched {
    /// The server answered 304 to our validators.
    NotModified,
    Payload(Payload),
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid URL {url}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{url}: plain http is not allowed; use https or set allow_http = true in the config")]
    HttpNotAllowed { url: String },
    #[error("{url}: HTTP {status}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Status {
        url: String,
        status: u16,
        detail: Option<String>,
        /// The earliest time to ask again: the server's `Retry-After` from when
        /// it answered, at most `fetch.max_backoff_secs` ahead (the daemon's
        /// retry waits for it).
        not_before: Option<chrono::DateTime<chrono::Utc>>,
    },
    #[error("{url}: body larger than the limit of {limit} bytes; if the source really is that large, raise `max_body_mb` in the config's [fetch] (read by `sync`, the daemon and `import`)")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: {reason} (after {attempts} attempt{})", if *attempts == 1 { "" } else { "s" })]
    Network {
        url: String,
        reason: String,
        attempts: u32,
    },
    #[error("{url}: redirect refused: {reason}")]
    Redirect { url: String, reason: String },
    /// A paged API answered in a way that cannot be paged through safely.
    #[error("{url}: {reason}")]
    Paging { url: String, reason: String },
    /// A paged pull as a whole outlived `fetch.total_timeout_secs`.
    #[error("{url}: the pull did not finish within {secs} s (fetch.total_timeout_secs, for all pages together); the server is too slow, or raise the limit")]
    PullOverdue { url: String, secs: u64 },
    #[error("cannot set up the HTTP client: {reason}")]
    Setup { reason: String },
    #[error("writing the payload's temporary copy in {}: {source}; set TMPDIR to a writable directory with room for the whole payload, or free space there", dir.shown())]
    TempFile {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading {}: {source}", path.shown())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Fetches `location` into a payload: a local path through [`read_file`], a URL
/// through [`http::get`].
pub async fn fetch(
    location: &Location,
    validators: &Validators,
    policy: &FetchPolicy,
) -> Result<Fetched, FetchError> {
    match location {
        Location::Url(url) => http::get(url, validators, policy).await,
        Location::Path(path) => read_file(path, policy).map(Fetched::Payload),
    }
}

/// The name every payload file starts with, followed by the pid of the process
/// that wrote it: what [`remove_stale_payloads`] may remove, and nothing else.
const PAYLOAD_PREFIX: &str = "ozgsync-payload-";

/// A new payload file in the temporary directory, removed when dropped. Its name
/// carries our pid, so a later run can tell the file of a process that died
/// without unwinding (SIGKILL, power loss) from one still in use.
pub fn payload_file() -> std::io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&format!("{PAYLOAD_PREFIX}{}-", std::process::id()))
        .tempfile()
}

/// A payload file that could not be made or written: the temporary directory's
/// fault (missing, full, read-only), named as such, not the input's.
fn temp_file_error(source: std::io::Error) -> FetchError {
    FetchError::TempFile {
        dir: std::env::temp_dir(),
        source,
    }
}

/// Removes the payload files (up to the size of a whole download each) that
/// processes which no longer run left in `dir`. Only regular files named by
/// [`payload_file`] are touched; a symlink or anything else is left alone, and so is
/// the file of a pid that is alive (even if the pid was reused: better kept than
/// taken from a running process). Returns how many were removed.
pub fn remove_stale_payloads(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PAYLOAD_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if alive || !regular {
            continue;
        }
        let path = entry.path();
        match std::fs::remove_file(&path) {
            Ok(()) => {
                tracing::info!(path = %path.shown(), pid, "removed the payload file of an ozgsync that died");
                removed += 1;
            }
            Err(e) => {
                tracing::warn!(path = %path.shown(), error = %e, "cannot remove a stale payload file")
            }
        }
    }
    removed
}

/// A local file as a payload. A regular file is read where it lies and not
/// hashed here: the release hashes it beside its records (the SHA-256 of 16 MB
/// took ~12 ms before a LeiKa import could start; an unchanged regular file was
/// recognised by [`hash_file`] before this), and refuses it if it changed while it
/// was read ([`LocalFile`]). Anything else (a pipe, `-`, a FIFO, a file that says
/// it is empty) is copied into a temporary file and hashed on the way, for `sync`
/// to recognise an unchanged payload before it is parsed.
pub fn read_file(path: &Path, policy: &FetchPolicy) -> Result<Payload, FetchError> {
    let err = |source| FetchError::File {
        path: path.to_owned(),
        source,
    };
    let input = open_input(path, policy.connect_timeout).map_err(err)?;
    // Decided on the opened file, not on the path: a path replaced by a FIFO in
    // between is read as one. `-` is hashed even when it is a regular file, for the
    // unchanged check (`sync` compares regular files by their path).
    let meta = input.metadata().map_err(err)?;
    // A regular file of no length is copied: a file of /proc or /sys says 0 and
    // has content, which only reading it finds (and bounds by the body limit).
    if path != Path::new(STDIN) && meta.is_file() && meta.len() > 0 {
        if meta.len() > policy.max_body_bytes {
            return Err(FetchError::TooLarge {
                url: path.shown().to_string(),
                limit: policy.max_body_bytes,
            });
        }
        let stamp = Stamp::of(&meta);
        return Ok(Payload {
            size: stamp.len,
            file: PayloadFile::Local(LocalFile {
                path: path.to_owned(),
                file: input,
                stamp,
            }),
            sha256: None,
            validators: Validators::default(),
            origin: path.shown().to_string(),
        });
    }
    let mut file = payload_file().map_err(temp_file_error)?;
    let (sha256, size) = hash_from(path, input, Some(file.as_file_mut()), policy)?;
    Ok(Payload {
        file: file.into(),
        sha256: Some(sha256),
        size,
        validators: Validators::default(),
        origin: path.shown().to_string(),
    })
}

/// The SHA-256 of a local file, without copying it: lets `sync` recognise an
/// unchanged file at the cost of one read.
pub fn hash_file(path: &Path, policy: &FetchPolicy) -> Result<String, FetchError> {
    hash_copy(path, None, policy).map(|(sha, _)| sha)
}

/// Opens a local input file for reading. A FIFO (named pipe) is opened without
/// blocking and waited on for at most `wait` until a program writes into it:
/// a plain `open` waits for a writer forever, and a process blocked there does not
/// even end on SIGTERM (the handler only requests a stop), so a cron job given a
/// FIFO nobody feeds never ended. A pipe with a writer (`<(zcat x.gz)`) reads as
/// before. `-` is standard input, as in every Unix tool (`./-` names a file called
/// `-`). Anything else is opened as it is. A path through a file names the file.
pub fn open_input(path: &Path, wait: Duration) -> std::io::Result<std::fs::File> {
    open_input_as_is(path, wait).map_err(|e| crate::error::name_the_file_in_the_way(path, e))
}

fn open_input_as_is(path: &Path, wait: Duration) -> std::io::Result<std::fs::File> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    if path == Path::new(STDIN) {
        // A duplicate, so dropping the file leaves the process's fd 0 alone.
        return match std::io::stdin().as_fd().try_clone_to_owned() {
            Ok(fd) => Ok(std::fs::File::from(fd)),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::BADF.raw_os_error()) => {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "`-` means standard input, and it is closed; give a file, or pipe the data in",
                ))
            }
            Err(e) => Err(e),
        };
    }
    if !std::fs::metadata(path)?.file_type().is_fifo() {
        return std::fs::File::open(path);
    }
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    // Readable (data, or a writer that came and went) or hung up; before any
    // writer opened it, Linux reports neither.
    let timeout = Timespec::try_from(wait).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    });
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let ready = loop {
        match poll(&mut fds, Some(&timeout)) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other?,
        }
    };
    if ready == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "it is a FIFO (named pipe) and no program wrote into it within {} s; start the program that feeds it first, or give the file itself",
                wait.as_secs()
            ),
        ));
    }
    let flags = fcntl_getfl(&fd)?;
    fcntl_setfl(&fd, flags - OFlags::NONBLOCK)?;
    Ok(std::fs::File::from(fd))
}

/// The path that names standard input.
pub const STDIN: &str = "-";

/// Opens a local input that is read more than once (a sheet or status report: its
/// text encoding is decided by a first pass, a workbook is a ZIP read from its
/// end). A regular file is returned as it is; anything else (a pipe, `-`,
/// `<(zcat x.xlsx.gz)`, a FIFO, a device) is copied first into an unnamed file in
/// the temporary directory (`$TMPDIR`, else `/tmp`), which the kernel removes on
/// any exit, and that copy is returned. The copy is bounded by the body limit
/// (`fetch.max_body_mb`), like a download.
pub fn open_rereadable(path: &Path, policy: &FetchPolicy) -> std::io::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let mut input = open_input(path, policy.connect_timeout)?;
    if input.metadata()?.is_file() {
        return Ok(input);
    }
    let mut copy = tempfile::tempfile().map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "it is a pipe or device, read through a temporary copy, and the copy could not be made in {} ({e}); set TMPDIR to a writable directory, or give the file itself",
                std::env::temp_dir().shown()
            ),
        )
    })?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    let mut head = Vec::with_capacity(4);
    loop {
        let n = match input.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        // A pipe may hand over fewer than the 4 bytes of the ZIP signature at first.
        head.extend(chunk.iter().take(4 - head.len()));
        let workbook = head.len() < 4 || head.starts_with(b"PK\x03\x04");
        size += n as u64;
        if size > policy.max_body_bytes {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!(
                    "it is a pipe or device and sent more than {} MB, the limit of fetch.max_body_mb; give the file itself, or raise fetch.max_body_mb",
                    policy.max_body_bytes / (1024 * 1024)
                ),
            ));
        }
        copy.write_all(chunk)
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "it is a pipe or device, read through a temporary copy in {}, and writing the copy failed after {size} bytes ({e}); free space there or set TMPDIR",
                        std::env::temp_dir().shown()
                    ),
                )
            })?;
        // Text (not a workbook) with a NUL byte is refused there by every sheet
        // reader ("binary data"); copying on would only fill the disk, and an
        // endless device (`/dev/zero`) would never end.
        if !workbook && chunk.contains(&0) {
            break;
        }
    }
    copy.rewind()?;
    Ok(copy)
}

/// Reads `path` once, hashing it and copying it into `out` if given; enforces the
/// body limit. Returns the hex SHA-256 and the size.
fn hash_copy(
    path: &Path,
    out: Option<&mut std::fs::File>,
    policy: &FetchPolicy,
) -> Result<(String, u64), FetchError> {
    let input = open_input(path, policy.connect_timeout).map_err(|source| FetchError::File {
        path: path.to_owned(),
        source,
    })?;
    hash_from(path, input, out, policy)
}

/// [`hash_copy`] of `input`, the opened `path`.
fn hash_from(
    path: &Path,
    mut input: std::fs::File,
    mut out: Option<&mut std::fs::File>,
    policy: &FetchPolicy,
) -> Result<(String, u64), FetchError> {
    use sha2::{Digest, Sha256};
    use std::io::{Read, Write};

    let err = |source| FetchError::File {
        path: path.to_owned(),
        source,
    };
    // A copy of a pipe or device stops at a chunk holding a NUL byte: no source
    // format has one, every parser refuses it by the first bytes (gzip, ZIP,
    // UTF-16, "NUL bytes"), and an endless device (`/dev/zero`) was copied up to
    // the body limit first. A regular file's hash is always of all of it.
    let stop_at_nul = out.is_some() && !input.metadata().is_ok_and(|m| m.is_file());
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        if size > policy.max_body_bytes {
            return Err(FetchError::TooLarge {
                url: path.shown().to_string(),
                limit: policy.max_body_bytes,
            });
        }
        // `read` returns at most `buf.len()`.
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        if let Some(out) = out.as_deref_mut() {
            out.write_all(chunk).map_err(temp_file_error)?;
        }
        if stop_at_nul && chunk.contains(&0) {
            break;
        }
    }
    if let Some(out) = out {
        out.flush().map_err(temp_file_error)?;
    }
    Ok((hex(&hasher.finalize()), size))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
