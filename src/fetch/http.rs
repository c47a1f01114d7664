//! HTTP GET with retries, conditional requests and a body limit (reqwest + rustls).
//!
//! Owns everything between a URL and a payload file: the scheme and redirect rules
//! (https only unless allowed; never https → http), timeouts (connect, and the longest
//! pause between body chunks rather than a total deadline, so slow but steady
//! downloads work), retries with exponential backoff, jitter and `Retry-After`,
//! conditional GET with ETag / Last-Modified, and streaming the (gzip-decoded) body
//! into a temp file while hashing it and enforcing the size limit. Gzip is asked
//! for and decoded here, not by reqwest, so the body's framing stays known: reqwest
//! drops `Content-Encoding` and `Content-Length` when it decodes, and a compressed
//! body would look like one without a length. URLs are redacted
//! (no userinfo) in every error and log line. A total deadline
//! ([`FetchPolicy::total_timeout`]) bounds one fetch, retries included, so a server
//! trickling bytes just inside the read timeout cannot hold a sync forever.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{hex, FetchError, FetchPolicy, Fetched, Payload, Validators};

/// Redirects followed before giving up (a loop or a misconfigured server).
pub const MAX_REDIRECTS: usize = 5;

/// GETs `url` into a payload file, or reports `NotModified` when the server answers
/// 304 to `validators`. Builds a client for this one call; use [`Client`] to reuse
/// connections across many requests.
pub async fn get(
    url: &url::Url,
    validators: &Validators,
    policy: &FetchPolicy,
) -> Result<Fetched, FetchError> {
    Client::new(policy)?.get(url, validators).await
}

/// A reusable HTTP client bound to one [`FetchPolicy`] (the redirect rules depend
/// on `allow_http`, so the policy is fixed when the client is built).
#[derive(Debug, Clone)]
pub struct Client {
    inner: reqwest::Client,
    policy: FetchPolicy,
    /// The last redirect followed from each requested URL: a failure to reach it
    /// is reported by reqwest under the requested URL, whose server answered fine.
    redirected: Redirected,
}

type Redirected = Arc<Mutex<HashMap<String, url::Url>>>;

impl Client {
    pub fn new(policy: &FetchPolicy) -> Result<Client, FetchError> {
        let allow_http = policy.allow_http;
        let redirected = Redirected::default();
        let seen = Arc::clone(&redirected);
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            match redirect_verdict(attempt.previous(), attempt.url(), allow_http) {
                Ok(()) => {
                    if let (Some(from), Ok(mut map)) = (attempt.previous().first(), seen.lock()) {
                        map.insert(from.to_string(), attempt.url().clone());
                    }
                    attempt.follow()
                }
                Err(refused) => attempt.error(refused),
            }
        });
        let inner = reqwest::Client::builder()
            .user_agent(concat!("ozgsync/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(policy.connect_timeout)
            // Per read, not per request: also bounds the wait for response headers.
            .read_timeout(policy.read_timeout)
            // Gzip is asked for and decoded in `read_body`, which needs to know
            // whether the body was compressed (see the module docs).
            .no_gzip()
            .redirect(redirect)
            .build()
            .map_err(|e| FetchError::Setup {
                reason: error_chain(&e),
            })?;
        Ok(Client {
            inner,
            policy: policy.clone(),
            redirected,
        })
    }

    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// GETs `url` with retries; see the module docs for the rules.
    pub async fn get(
        &self,
        url: &url::Url,
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        let shown = redact(url);
        match url.scheme() {
            "https" => {}
            "http" if self.policy.allow_http => {}
            "http" => return Err(FetchError::HttpNotAllowed { url: shown }),
            other => {
                return Err(FetchError::BadUrl {
                    url: shown,
                    reason: format!("unsupported scheme {other:?}; use https"),
                })
            }
        }
        let headers = conditional_headers(validators, &shown);
        let attempts_allowed = self.policy.max_retries.saturating_add(1);
        let deadline = tokio::time::Instant::now() + self.policy.total_timeout;
        let overdue = |attempts: u32| FetchError::Network {
            url: shown.clone(),
            reason: format!(
                "the download did not finish within {:?} (fetch.total_timeout_secs): \
                 the server is too slow or trickles its answer",
                self.policy.total_timeout
            ),
            attempts,
        };
        let mut attempt = 1u32;
        loop {
            let result =
                tokio::time::timeout_at(deadline, self.attempt(url, &shown, &headers)).await;
            let failure = match result {
                Err(_) => return Err(overdue(attempt)),
                Ok(Ok(fetched)) => return Ok(fetched),
                Ok(Err(AttemptError::Fatal(e))) => return Err(e),
                Ok(Err(AttemptError::Retryable(failure))) => failure,
            };
            // A server that asks for a longer wait than fetch.max_backoff_secs is
            // not asked again sooner: it said when it will answer.
            let too_long = failure
                .retry_after
                .is_some_and(|wait| wait > self.policy.max_backoff);
            if attempt >= attempts_allowed || too_long {
                return Err(failure.into_error(shown, attempt, &self.policy));
            }
            let delay = retry_delay(attempt, failure.retry_after, &self.policy);
            // A retry that could not start before the deadline is not tried.
            if tokio::time::Instant::now() + delay >= deadline {
                return Err(failure.into_error(shown, attempt, &self.policy));
            }
            // Info, not warn: a retry that then succeeds is no failure, and
            // `--quiet` (errors only) must stay silent; if every attempt fails,
            // the caller logs the error.
            tracing::info!(
                url = %shown,
                attempt,
                reason = %failure.reason(),
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "fetch failed, retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One request: either a result, a failure worth retrying, or a fatal error.
    async fn attempt(
        &self,
        url: &url::Url,
        shown: &str,
        headers: &HeaderMap,
    ) -> Result<Fetched, AttemptError> {
        let mut request = self
            .inner
            .get(url.clone())
            .headers(headers.clone())
            .header(header::ACCEPT_ENCODING, "gzip");
        // reqwest drops this header itself when a redirect leaves the host.
        if let Some(auth) = &self.policy.authorization {
            request = auth.apply(request);
        }
        if let Ok(mut map) = self.redirected.lock() {
            map.remove(url.as_str());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let to = self
                    .redirected
                    .lock()
                    .ok()
                    .and_then(|map| map.get(url.as_str()).map(redact));
                return Err(classify_send_error(e, shown, to));
            }
        };
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            if headers.contains_key(header::IF_NONE_MATCH)
                || headers.contains_key(header::IF_MODIFIED_SINCE)
            {
                return Ok(Fetched::NotModified);
            }
            return Err(AttemptError::Fatal(FetchError::Status {
                url: shown.to_owned(),
                status: status.as_u16(),
                detail: Some("Not Modified although no validators were sent".into()),
                not_before: None,
            }));
        }
        // 408: the server gave up waiting for our request (an idle or slow link);
        // the next request may well be read in time.
        if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
            || status.is_server_error()
        {
            return Err(AttemptError::Retryable(Failure {
                kind: FailureKind::Status(status.as_u16()),
                retry_after: retry_after(response.headers()),
            }));
        }
        if !status.is_success() {
            // A redirect answered here was not followed (reqwest follows http(s)
            // ones): say where it pointed, e.g. file:// or nowhere.
            let detail = match header_string(response.headers(), header::LOCATION) {
                Some(to) if status.is_redirection() => format!(
                    "a redirect to {}, which is not followed: only http and https \
                     locations are; use the source's real URL",
                    url::Url::parse(&to)
                        .map(|u| redact(&u))
                        .unwrap_or_else(|_| to.chars().take(200).collect())
                ),
                _ => status_hint(status).to_owned(),
            };
            return Err(AttemptError::Fatal(FetchError::Status {
                url: shown.to_owned(),
                status: status.as_u16(),
                detail: Some(detail),
                not_before: None,
            }));
        }
        let validators = Validators {
            etag: header_string(response.headers(), header::ETAG),
            last_modified: header_string(response.headers(), header::LAST_MODIFIED),
        };
        // The origin is where the body really came from, after redirects.
        let origin = redact(response.url());
        let mut payload = self.read_body(response, &origin).await?;
        payload.validators = validators;
        Ok(Fetched::Payload(payload))
    }

    /// Streams the body into a temp file while hashing, enforcing the size limit on
    /// the decoded bytes and the read timeout between chunks.
    async fn read_body(
        &self,
        response: reqwest::Response,
        origin: &str,
    ) -> Result<Payload, AttemptError> {
        let limit = self.policy.max_body_bytes;
        let too_large = || {
            AttemptError::Fatal(FetchError::TooLarge {
                url: origin.to_owned(),
                limit,
            })
        };
        let encoding = match body_encoding(response.headers()) {
            Ok(encoding) => encoding,
            Err(other) => {
                return Err(AttemptError::Fatal(FetchError::Network {
                    url: origin.to_owned(),
                    reason: format!(
                        "the server sent the body with Content-Encoding {other:?}, but only \
                         gzip was asked for; ask its operator to send it plain or as gzip"
                    ),
                    attempts: 1,
                }))
            }
        };
        let gzip = encoding == Encoding::Gzip;
        // The length of what is sent: of the decoded bytes only when not compressed.
        let expected = response.content_length().filter(|_| !gzip);
        // A gzip stream carries its own end marker, length and CRC, checked below.
        let unframed = !gzip && unframed(&response);
        if expected.is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        if let Some(n) = expected {
            crate::progress::set_total(n);
        }
        let file_err = |source| {
            AttemptError::Fatal(FetchError::TempFile {
                dir: std::env::temp_dir(),
                source,
            })
        };
        let file = super::payload_file().map_err(file_err)?;
        let mut out = tokio::fs::File::from_std(file.as_file().try_clone().map_err(file_err)?);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut stream = body_stream(response, gzip);
        // The last bytes seen, for the end check of an unframed body.
        let mut tail: Vec<u8> = Vec::new();
        loop {
            let chunk = match tokio::time::timeout(self.policy.read_timeout, stream.next()).await {
                Err(_) => {
                    return Err(AttemptError::Retryable(Failure::network(format!(
                        "body stalled: no data for {:?} after {size} bytes",
                        self.policy.read_timeout
                    ))))
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(body_error(e, size, expected, origin)),
                Ok(Some(Ok(chunk))) => chunk,
            };
            size = size.saturating_add(chunk.len() as u64);
            if size > limit {
                return Err(too_large());
            }
            hasher.update(&chunk);
            if unframed {
                tail.extend_from_slice(&chunk);
                let keep = tail.len().saturating_sub(TAIL_KEPT);
                tail.drain(..keep);
            }
            out.write_all(&chunk).await.map_err(file_err)?;
            crate::progress::advance(chunk.len() as u64);
        }
        // hyper already rejects a short body; this guards the contract independently.
        if let Some(n) = expected.filter(|&n| n != size) {
            return Err(AttemptError::Retryable(Failure::network(format!(
                "truncated body: got {size} of {n} bytes announced by Content-Length"
            ))));
        }
        if unframed && size > 0 && ends_mid_line(&tail) {
            return Err(AttemptError::Retryable(Failure::network(format!(
                "body cut short: the server sent no length (no Content-Length, not chunked) \
                 and closed the connection after {size} bytes in the middle of a line"
            ))));
        }
        out.flush().await.map_err(file_err)?;
        Ok(Payload {
            file: file.into(),
            sha256: Some(hex(&hasher.finalize())),
            size,
            validators: Validators::default(),
            origin: origin.to_owned(),
        })
    }
}

/// How the body is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
}

/// The body's `Content-Encoding`: identity, gzip (the only one asked for), or the
/// name of another one, which a server should not send unasked.
fn body_encoding(headers: &HeaderMap) -> Result<Encoding, String> {
    let mut encoding = Encoding::Identity;
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let text = String::from_utf8_lossy(value.as_bytes());
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "identity" => {}
                // A second gzip layer would need a second decoder.
                "gzip" | "x-gzip" if encoding == Encoding::Identity => encoding = Encoding::Gzip,
                _ => return Err(text.trim().to_owned()),
            }
        }
    }
    Ok(encoding)
}

type BodyStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// The body's decoded bytes. Errors of the connection come as `io::Error`s that
/// wrap the `reqwest::Error`; the gzip decoder's own are plain `io::Error`s: an
/// `UnexpectedEof` when the stream ended before its end marker and checksum.
fn body_stream(response: reqwest::Response, gzip: bool) -> BodyStream {
    let raw = response
        .bytes_stream()
        .map(|r| r.map_err(std::io::Error::other));
    if !gzip {
        return Box::pin(raw);
    }
    let mut decoder =
        async_compression::tokio::bufread::GzipDecoder::new(tokio_util::io::StreamReader::new(raw));
    // A gzip file may hold several members, one after the other (RFC 1952).
    decoder.multiple_members(true);
    Box::pin(tokio_util::io::ReaderStream::new(decoder))
}

/// What a failed read of the body means: a network fault or a cut gzip stream
/// (worth another try), or a corrupt compressed body (which another try will not mend).
fn body_error(e: std::io::Error, size: u64, expected: Option<u64>, origin: &str) -> AttemptError {
    if let Some(net) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
    {
        // hyper's chunked decoder fails with InvalidData/InvalidInput on a bad
        // chunk size or extension: the server's framing, the same every time.
        let framing = find_source::<std::io::Error>(net).filter(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput
            )
        });
        if let Some(framing) = framing {
            return AttemptError::Fatal(FetchError::Network {
                url: origin.to_owned(),
                reason: format!(
                    "the server's body is not valid HTTP after {size} bytes ({framing}); \
                     another try would get the same answer, so none was made: ask the \
                     server's operator"
                ),
                attempts: 1,
            });
        }
        let what = if net.is_timeout() {
            "body stalled"
        } else {
            "body broken off"
        };
        // Said in the server's own terms when it announced a length: the body is
        // short of it, whatever the bytes received look like (a cut at a line end
        // looks like a whole CSV).
        let of = expected.map_or(String::new(), |n| {
            format!(" of the {n} its Content-Length announced")
        });
        return AttemptError::Retryable(Failure::network(format!(
            "{what} after {size} bytes{of}: {}",
            error_chain(net)
        )));
    }
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        return AttemptError::Retryable(Failure::network(format!(
            "body cut short: the gzip stream ended after {size} bytes unpacked, before its \
             end marker and checksum (the connection broke off)"
        )));
    }
    AttemptError::Fatal(FetchError::Network {
        url: origin.to_owned(),
        reason: format!("cannot decode the body ({e}); the server sends a corrupt compressed body"),
        attempts: 1,
    })
}

/// Bytes kept from the end of an unframed body for [`ends_mid_line`].
const TAIL_KEPT: usize = 256;

/// Whether a response's body ends only where the server closed the connection
/// (HTTP/1.x with neither `Content-Length` nor `Transfer-Encoding`): then a
/// connection broken off early looks like a complete body, which the line-based
/// formats (LeiKa, GV100AD, OZG and EfA CSV) would take as whole, their last line
/// cut. A gzip body is framed by its own trailer and not asked about here.
fn unframed(response: &reqwest::Response) -> bool {
    let headers = response.headers();
    response.version() < reqwest::Version::HTTP_2
        && !headers.contains_key(header::CONTENT_LENGTH)
        && !headers.contains_key(header::TRANSFER_ENCODING)
}

/// Whether a body ends in the middle of a line: its last byte is no line break,
/// and its last byte that is not white space is no `}`, `]` or `>` (JSON and XML
/// need no final line break; their parsers refuse a document that is not closed).
fn ends_mid_line(tail: &[u8]) -> bool {
    tail.last() != Some(&b'\n')
        && !tail
            .iter()
            .rev()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| b"}]>".contains(b))
}

enum AttemptError {
    Retryable(Failure),
    Fatal(FetchError),
}

/// A failed attempt that may succeed when tried again.
struct Failure {
    kind: FailureKind,
    retry_after: Option<Duration>,
}

enum FailureKind {
    Status(u16),
    Network(String),
}

impl Failure {
    fn network(reason: String) -> Failure {
        Failure {
            kind: FailureKind::Network(reason),
            retry_after: None,
        }
    }

    fn reason(&self) -> String {
        match &self.kind {
            FailureKind::Status(s) => format!("HTTP {s}"),
            FailureKind::Network(r) => r.clone(),
        }
    }

    /// The error reported once retries are used up, or when the server's
    /// `Retry-After` asks for a longer wait than `policy.max_backoff`.
    fn into_error(self, url: String, attempts: u32, policy: &FetchPolicy) -> FetchError {
        match self.kind {
            FailureKind::Status(status) => {
                let what = match status {
                    429 => "rate limited",
                    408 => "the server timed out waiting for the request",
                    _ => "server error",
                };
                let tries = if attempts == 1 {
                    "1 attempt".to_owned()
                } else {
                    format!("{attempts} attempts")
                };
                let detail = match self.retry_after {
                    Some(wait) if wait > policy.max_backoff => format!(
                        "{what}; the server asks for {} s before the next try (Retry-After), \
                         longer than fetch.max_backoff_secs ({} s), so it was not asked again \
                         sooner; gave up after {tries}, try again {}",
                        wait.as_secs(),
                        policy.max_backoff.as_secs(),
                        after(wait)
                    ),
                    Some(wait) => format!(
                        "{what}; gave up after {tries} (the server last asked for {} s between \
                         tries, Retry-After), try again {}",
                        wait.as_secs(),
                        after(wait)
                    ),
                    None => format!("{what}; gave up after {tries}, try again later"),
                };
                FetchError::Status {
                    url,
                    status,
                    detail: Some(detail),
                    // The next try (the daemon's retry) waits what the server
                    // asked for, within the same cap as the tries here.
                    not_before: self.retry_after.and_then(|wait| {
                        let wait =
                            chrono::TimeDelta::from_std(wait.min(policy.max_backoff)).ok()?;
                        chrono::Utc::now().checked_add_signed(wait)
                    }),
                }
            }
            FailureKind::Network(reason) => FetchError::Network {
                url,
                reason: format!("{reason}; check the network or try again later"),
                attempts,
            },
        }
    }
}

/// "after 2026-12-02 10:15 UTC", `wait` from now; "later" for a wait beyond the
/// calendar.
fn after(wait: Duration) -> String {
    chrono::TimeDelta::from_std(wait)
        .ok()
        .and_then(|d| chrono::Utc::now().checked_add_signed(d))
        .map_or_else(
            || "later".to_owned(),
            |at| format!("after {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
        )
}

/// Why a redirect was not followed; carried through reqwest's error as its source.
#[derive(Debug, thiserror::Error)]
enum RedirectRefused {
    #[error(
        "more than {MAX_REDIRECTS} redirects (a loop?), last to {0}; use the final URL directly"
    )]
    TooMany(String),
    #[error("redirect from https to plain http ({0}) is never followed: it would drop transport security")]
    Downgrade(String),
    #[error("redirect to plain http ({0}) is not allowed; use https or set allow_http = true in the config")]
    PlainHttp(String),
    #[error("a redirect to {0}, which is not followed: only http and https locations are; use the source's real URL")]
    Scheme(String),
}

/// Decides whether to follow a redirect to `next`, given the URLs visited so far
/// (the original request first).
fn redirect_verdict(
    previous: &[url::Url],
    next: &url::Url,
    allow_http: bool,
) -> Result<(), RedirectRefused> {
    if previous.len() > MAX_REDIRECTS {
        return Err(RedirectRefused::TooMany(redact(next)));
    }
    // reqwest would try such a location and fail as "URL scheme is not allowed",
    // reported under the URL the user gave.
    if !matches!(next.scheme(), "http" | "https") {
        return Err(RedirectRefused::Scheme(redact(next)));
    }
    if next.scheme() == "http" {
        if previous.iter().any(|u| u.scheme() == "https") {
            return Err(RedirectRefused::Downgrade(redact(next)));
        }
        if !allow_http {
            return Err(RedirectRefused::PlainHttp(redact(next)));
        }
    }
    Ok(())
}

/// `redirected_to`: the last redirect followed before the failure, if any.
fn classify_send_error(
    e: reqwest::Error,
    shown: &str,
    redirected_to: Option<String>,
) -> AttemptError {
    if e.is_redirect() {
        let reason = find_source::<RedirectRefused>(&e)
            .map(ToString::to_string)
            .unwrap_or_else(|| error_chain(&e));
        return AttemptError::Fatal(FetchError::Redirect {
            url: shown.to_owned(),
            reason,
        });
    }
    if e.is_builder() {
        return AttemptError::Fatal(FetchError::BadUrl {
            url: shown.to_owned(),
            reason: error_chain(&e),
        });
    }
    if let Some(reason) = permanent_send_error(&e) {
        return AttemptError::Fatal(FetchError::Network {
            url: shown.to_owned(),
            reason,
            attempts: 1,
        });
    }
    // Connect errors, timeouts, resets before the answer: all worth another try.
    let what = if e.is_connect() {
        "cannot connect"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "request failed"
    };
    // After a redirect the failure is the other server's: name it, or the user
    // checks the one that answered.
    let what = match redirected_to {
        Some(to) => format!("{what} to {to}, where the server redirected"),
        None => what.to_owned(),
    };
    AttemptError::Retryable(Failure::network(format!("{what}: {}", error_chain(&e))))
}

/// A failure before the answer that another try cannot mend, with what to do: a
/// TLS handshake refused (a certificate not trusted, expired or for another name;
/// https spoken to a plain-http port) or an answer that is not valid HTTP (more or
/// longer header lines than hyper reads, a garbled status line). Network faults,
/// timeouts and resets are not among them.
fn permanent_send_error(e: &reqwest::Error) -> Option<String> {
    if let Some(tls) = find_source::<rustls::Error>(e) {
        return Some(format!(
            "the TLS handshake failed ({tls}); another try would fail the same way, so \
             none was made: check that the URL's host and port serve https (not plain \
             http), and that the server's certificate is valid for that host"
        ));
    }
    // hyper says which (e.g. "message head is too large": more than 100 header
    // lines, or a head over its buffer).
    let parse = find_source::<hyper::Error>(e).filter(|h| h.is_parse())?;
    Some(format!(
        "the server's answer cannot be read as HTTP ({parse}); another try would get \
         the same answer, so none was made: ask the server's operator, or use another \
         URL for the source"
    ))
}

/// The first error of type `T` in `e`'s chain of sources. An `std::io::Error` is
/// looked into as well: its `source()` skips the error it wraps (hyper-rustls
/// wraps the TLS error in one).
fn find_source<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        let wrapped = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        if let Some(found) = wrapped.and_then(|inner| find_source::<T>(inner)) {
            return Some(found);
        }
        current = err.source();
    }
    None
}

/// The error and its sources joined with ": ", without reqwest's URL (which we
/// print ourselves, redacted).
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    // reqwest's own message is generic ("error sending request"); keep it as context.
    let head = e.to_string();
    let head = head
        .split(" for url (")
        .next()
        .unwrap_or(head.as_str())
        .to_owned();
    parts.push(head);
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn conditional_headers(validators: &Validators, shown: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let pairs = [
        (header::IF_NONE_MATCH, validators.etag.as_deref()),
        (
            header::IF_MODIFIED_SINCE,
            validators.last_modified.as_deref(),
        ),
    ];
    for (name, value) in pairs {
        let Some(value) = value else { continue };
        match HeaderValue::from_str(value) {
            Ok(v) => {
                headers.insert(name, v);
            }
            // A stored validator that cannot be sent only costs a full download.
            Err(_) => {
                tracing::warn!(url = %shown, header = %name, "ignoring unusable stored validator")
            }
        }
    }
    headers
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, chrono::Utc::now())
}

/// Parses `Retry-After`: delay seconds or an HTTP-date (a date in the past is 0).
fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") is valid RFC 2822.
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (date.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// Delay before retry number `attempt` (1 = first retry): the server's Retry-After
/// when given, else exponential backoff with "equal jitter" (half fixed, half
/// random, so parallel clients spread out but never retry instantly); both capped
/// at `max_backoff`.
fn retry_delay(attempt: u32, retry_after: Option<Duration>, policy: &FetchPolicy) -> Duration {
    if let Some(wait) = retry_after {
        return wait.min(policy.max_backoff);
    }
    let factor = 1u32 << attempt.saturating_sub(1).min(20);
    let backoff = policy
        .backoff_base
        .saturating_mul(factor)
        .min(policy.max_backoff);
    let half = backoff / 2;
    let half_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    let jitter = rand::Rng::random_range(&mut rand::rng(), 0..=half_ms);
    (half + Duration::from_millis(jitter)).min(policy.max_backoff)
}

fn status_hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 | 410 => "not found; check the source URL in the config",
        401 | 403 => "access denied; the source may need credentials or block this client",
        400..=499 => "the server refused the request; check the source URL",
        300..=399 => "unexpected redirect answer; use the final URL directly",
        _ => "unexpected answer",
    }
}

/// The URL for errors and logs: userinfo (credentials) removed.
pub fn redact(url: &url::Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut clean = url.clone();
    // Fails only for URLs that cannot have credentials anyway.
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn a_body_ends_mid_line_unless_a_line_break_or_a_closed_document_ends_it() {
        let check =
            |tail: &[u8], expected: bool| assert_eq!(ends_mid_line(tail), expected, "{tail:?}");
        check(b"99001;Abfall\n", false);
        check(b"99001;Abfall\r\n", false);
        check(b"99001;Abf", true);
        check(b"99001;Abfall\r", true);
        check(b"  ]\n}", false);
        check(b"</transfer>  \r\n", false);
        check(b"</transfer> \t", false);
        check(b"{\"a\": 1", true);
        check(b"", true);
    }

    #[test]
    fn redact_removes_credentials() {
        let check = |input: &str, expected: &str| assert_eq!(redact(&url(input)), expected);
        check(
            "https://user:secret@example.org/a?b=1",
            "https://example.org/a?b=1",
        );
        check("https://user@example.org/", "https://example.org/");
        check("https://example.org/x", "https://example.org/x");
    }

    #[test]
    fn retry_after_values() {
        let now = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let check = |input: &str, expected: Option<Duration>| {
            assert_eq!(parse_retry_after(input, now), expected, "{input}")
        };
        check("1", Some(Duration::from_secs(1)));
        check(" 120 ", Some(Duration::from_secs(120)));
        check(
            "Wed, 01 Jan 2025 00:00:30 GMT",
            Some(Duration::from_secs(30)),
        );
        check("Tue, 31 Dec 2024 23:00:00 GMT", Some(Duration::ZERO));
        check("soon", None);
        check("-5", None);
        check("", None);
    }

    #[test]
    fn retry_delay_is_capped_and_grows() {
        let policy = FetchPolicy {
            backoff_base: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..FetchPolicy::default()
        };
        assert_eq!(
            retry_delay(1, Some(Duration::from_secs(3600)), &policy),
            Duration::from_secs(1)
        );
        assert_eq!(
            retry_delay(1, Some(Duration::from_millis(10)), &policy),
            Duration::from_millis(10)
        );
        for attempt in 1..40 {
            let d = retry_delay(attempt, None, &policy);
            let full = Duration::from_millis(100)
                .saturating_mul(1 << (attempt - 1).min(20))
                .min(Duration::from_secs(1));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn redirect_rules() {
        let check = |prev: &[&str], next: &str, allow_http: bool, ok: bool| {
            let prev: Vec<url::Url> = prev.iter().map(|s| url(s)).collect();
            let got = redirect_verdict(&prev, &url(next), allow_http);
            assert_eq!(got.is_ok(), ok, "{prev:?} -> {next}: {got:?}");
        };
        check(&["https://a/"], "https://b/", false, true);
        check(&["https://a/"], "http://b/", true, false);
        check(&["https://a/"], "http://b/", false, false);
        check(&["http://a/"], "http://b/", true, true);
        check(&["http://a/"], "http://b/", false, false);
        check(&["http://a/"], "https://b/", false, true);
        check(&["https://a/"; 5], "https://b/", false, true);
        check(&["https://a/"; 6], "https://b/", false, false);
    }
}
