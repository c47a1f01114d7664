//! HTTP fetching against a real server on 127.0.0.1: conditional GET, retries,
//! `Retry-After`, size limits, gzip, timeouts, truncation, redirects and the FIM
//! Portal API paging; and, through the real binary, peak memory under a 1 GiB body
//! and an HTML error page served as 200. The server is a small scripted tokio TcpListener so tests can
//! misbehave at the byte level (stall, lie about Content-Length, close early).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ozgsync::fetch::{fim_api, http, FetchError, FetchPolicy, Fetched, Payload, Validators};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

// ---------------------------------------------------------------------------
// The scripted server
// ---------------------------------------------------------------------------

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Request {
    /// Path with query, e.g. `/a?b=1`.
    target: String,
    /// Lower-case names.
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn query(&self, name: &str) -> Option<String> {
        let url = url::Url::parse(&format!("http://x{}", self.target)).ok()?;
        url.query_pairs()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// What the server does on a connection, in order; the connection is closed after.
enum Step {
    Send(Vec<u8>),
    Sleep(Duration),
    /// Sends `count` chunks of `chunk` (a chunked body) and the last chunk: a large
    /// body without holding it in memory.
    Stream {
        chunk: Vec<u8>,
        count: usize,
    },
    /// Closes with a TCP RST (SO_LINGER 0) instead of a FIN.
    Reset,
}

struct Server {
    base: String,
    log: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// Starts a server; `handler` gets each request and its 0-based number.
    async fn start<F>(handler: F) -> Server
    where
        F: Fn(&Request, usize) -> Vec<Step> + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let server_log = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                let log = Arc::clone(&server_log);
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    let steps = {
                        let mut log = log.lock().unwrap();
                        let n = log.len();
                        log.push(request.clone());
                        handler(&request, n)
                    };
                    for step in steps {
                        match step {
                            Step::Send(bytes) => {
                                if socket.write_all(&bytes).await.is_err() {
                                    return;
                                }
                            }
                            Step::Sleep(d) => tokio::time::sleep(d).await,
                            Step::Stream { chunk: data, count } => {
                                let framed = chunk(&data);
                                for _ in 0..count {
                                    if socket.write_all(&framed).await.is_err() {
                                        return;
                                    }
                                }
                                if socket.write_all(b"0\r\n\r\n").await.is_err() {
                                    return;
                                }
                            }
                            Step::Reset => {
                                let _ = socket.set_zero_linger();
                                return;
                            }
                        }
                    }
                    let _ = socket.shutdown().await;
                });
            }
        });
        Server { base, log }
    }

    fn url(&self, target: &str) -> url::Url {
        url::Url::parse(&format!("{}{target}", self.base)).unwrap()
    }

    fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.split("\r\n");
    let target = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Request { target, headers })
}

/// Status line and headers, plus `Connection: close`; no Content-Length.
fn head(status: u16, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// A complete response with a correct Content-Length.
fn reply(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<Step> {
    let length = body.len().to_string();
    let mut all = headers.to_vec();
    all.push(("Content-Length", &length));
    let mut bytes = head(status, &all);
    bytes.extend_from_slice(body);
    vec![Step::Send(bytes)]
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Plain http on loopback, tiny backoff so retries are quick.
fn policy() -> FetchPolicy {
    FetchPolicy {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_secs(60),
        max_retries: 2,
        backoff_base: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        max_body_bytes: 1024 * 1024,
        allow_http: true,
        authorization: None,
    }
}

fn sha256(data: &[u8]) -> String {
    ozgsync::fetch::hex(&Sha256::digest(data))
}

fn payload(fetched: Fetched) -> Payload {
    match fetched {
        Fetched::Payload(p) => p,
        Fetched::NotModified => panic!("expected a payload, got NotModified"),
    }
}

/// Checks a payload's bytes, hash and size against what the server meant to send.
fn check_payload(p: &Payload, expected: &[u8]) {
    let on_disk = std::fs::read(p.file.path()).unwrap();
    assert_eq!(on_disk, expected);
    assert_eq!(p.sha256.as_deref(), Some(sha256(expected).as_str()));
    assert_eq!(p.size, expected.len() as u64);
}

async fn get(
    server: &Server,
    target: &str,
    validators: &Validators,
    policy: &FetchPolicy,
) -> Result<Fetched, FetchError> {
    http::get(&server.url(target), validators, policy).await
}

/// The error of one try (no retries) at `target`, without validators.
async fn error_of_one_try(server: &Server, target: &str) -> FetchError {
    let policy = FetchPolicy {
        max_retries: 0,
        ..policy()
    };
    get(server, target, &Validators::default(), &policy)
        .await
        .unwrap_err()
}

// ---------------------------------------------------------------------------
// Conditional GET
// ---------------------------------------------------------------------------

#[tokio::test]
async fn etag_then_not_modified() {
    let server = Server::start(|req, _| {
        if req.header("if-none-match") == Some("\"v1\"") {
            vec![Step::Send(head(304, &[("ETag", "\"v1\"")]))]
        } else {
            reply(200, &[("ETag", "\"v1\"")], b"hello")
        }
    })
    .await;
    let first = payload(
        get(&server, "/leika.csv", &Validators::default(), &policy())
            .await
            .unwrap(),
    );
    check_payload(&first, b"hello");
    assert_eq!(first.validators.etag.as_deref(), Some("\"v1\""));
    assert_eq!(first.validators.last_modified, None);
    assert_eq!(first.origin, server.url("/leika.csv").to_string());

    let second = get(&server, "/leika.csv", &first.validators, &policy())
        .await
        .unwrap();
    assert!(matches!(second, Fetched::NotModified), "{second:?}");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("if-none-match"), None);
    assert_eq!(requests[1].header("if-none-match"), Some("\"v1\""));
}

#[tokio::test]
async fn last_modified_then_not_modified() {
    const DATE: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
    let server = Server::start(|req, _| {
        if req.header("if-modified-since") == Some(DATE) {
            vec![Step::Send(head(304, &[]))]
        } else {
            reply(200, &[("Last-Modified", DATE)], b"data")
        }
    })
    .await;
    let first = payload(
        get(&server, "/x", &Validators::default(), &policy())
            .await
            .unwrap(),
    );
    check_payload(&first, b"data");
    assert_eq!(first.validators.last_modified.as_deref(), Some(DATE));
    assert_eq!(first.validators.etag, None);
    let second = get(&server, "/x", &first.validators, &policy())
        .await
        .unwrap();
    assert!(matches!(second, Fetched::NotModified), "{second:?}");
}

// ---------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------

#[tokio::test]
async fn retry_after_503_then_success() {
    let server = Server::start(|_, n| match n {
        0 => reply(503, &[], b"busy"),
        _ => reply(200, &[], b"ok"),
    })
    .await;
    let p = payload(
        get(&server, "/x", &Validators::default(), &policy())
            .await
            .unwrap(),
    );
    check_payload(&p, b"ok");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn retry_after_header_on_429_is_honoured() {
    let server = Server::start(|_, n| match n {
        0 => reply(429, &[("Retry-After", "1")], b"slow down"),
        _ => reply(200, &[], b"ok"),
    })
    .await;
    let policy = FetchPolicy {
        max_backoff: Duration::from_secs(5),
        ..policy()
    };
    let start = Instant::now();
    let p = payload(
        get(&server, "/x", &Validators::default(), &policy)
            .await
            .unwrap(),
    );
    check_payload(&p, b"ok");
    assert_eq!(server.requests().len(), 2);
    // A lower bound only: proves the server's wait was honoured instead of the
    // 1 ms backoff; says nothing about speed.
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn server_errors_give_up_after_max_retries() {
    let server = Server::start(|_, _| reply(500, &[], b"")).await;
    let err = get(&server, "/x", &Validators::default(), &policy())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn not_found_is_not_retried() {
    let server = Server::start(|_, _| reply(404, &[], b"nope")).await;
    let err = get(&server, "/missing.csv", &Validators::default(), &policy())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 404, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("/missing.csv") && text.contains("check the source URL"),
        "{text}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn connection_refused_is_retried() {
    // Bind and drop to get a port where nobody listens.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/x")).unwrap();
    let err = http::get(&url, &Validators::default(), &policy())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Network { attempts: 3, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn credentials_never_appear_in_errors() {
    let server = Server::start(|_, _| reply(404, &[], b"")).await;
    let mut url = server.url("/x");
    url.set_username("user").unwrap();
    url.set_password(Some("s3cret")).unwrap();
    let err = http::get(&url, &Validators::default(), &policy())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        !text.contains("s3cret") && !text.contains("user@"),
        "{text}"
    );
    // The credentials still reach the server, as Basic auth.
    assert!(server.requests()[0].header("authorization").is_some());
}

// ---------------------------------------------------------------------------
// Body: limits, gzip, timeouts, truncation
// ---------------------------------------------------------------------------

fn small_limit() -> FetchPolicy {
    FetchPolicy {
        max_body_bytes: 1000,
        ..policy()
    }
}

#[tokio::test]
async fn too_large_by_content_length() {
    let server = Server::start(|_, _| reply(200, &[], &[b'a'; 2000])).await;
    let err = get(&server, "/big", &Validators::default(), &small_limit())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 1000, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("raise `max_body_mb` in the config's [fetch]"),
        "{err}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn too_large_chunked_without_length() {
    let server = Server::start(|_, _| {
        let mut bytes = head(200, &[("Transfer-Encoding", "chunked")]);
        for _ in 0..10 {
            bytes.extend(chunk(&[b'a'; 500]));
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        vec![Step::Send(bytes)]
    })
    .await;
    let err = get(&server, "/big", &Validators::default(), &small_limit())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn gzip_body_is_decoded_and_hashed_decompressed() {
    let plain: Vec<u8> = "Schluessel;Bezeichnung\n99012001000000;Führerschein\n"
        .repeat(50)
        .into_bytes();
    let packed = gzip(&plain);
    let server =
        Server::start(move |_, _| reply(200, &[("Content-Encoding", "gzip")], &packed)).await;
    let p = payload(
        get(&server, "/leika.csv", &Validators::default(), &policy())
            .await
            .unwrap(),
    );
    check_payload(&p, &plain);
    assert!(server.requests()[0]
        .header("accept-encoding")
        .is_some_and(|v| v.contains("gzip")));
}

#[tokio::test]
async fn gzip_bomb_stops_at_the_limit() {
    let policy = FetchPolicy {
        max_body_bytes: 64 * 1024,
        ..policy()
    };
    let packed = gzip(&vec![0u8; 4 * 1024 * 1024]);
    assert!(
        packed.len() < 64 * 1024,
        "the compressed bomb itself is under the limit"
    );
    let server =
        Server::start(move |_, _| reply(200, &[("Content-Encoding", "gzip")], &packed)).await;
    let err = get(&server, "/bomb", &Validators::default(), &policy)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn corrupt_gzip_is_not_retried() {
    let bodies: [&'static [u8]; 2] = [
        // Valid gzip header, broken deflate stream.
        b"\x1f\x8b\x08\0garbage garbage garbage",
        // Not gzip at all.
        b"plain text labelled as gzip",
    ];
    for body in bodies {
        let server =
            Server::start(move |_, _| reply(200, &[("Content-Encoding", "gzip")], body)).await;
        let err = get(&server, "/x", &Validators::default(), &policy())
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Network { attempts: 1, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("cannot decode"), "{err}");
        assert_eq!(server.requests().len(), 1);
    }
}

fn short_read_timeout(max_retries: u32) -> FetchPolicy {
    FetchPolicy {
        read_timeout: Duration::from_millis(200),
        max_retries,
        ..policy()
    }
}

#[tokio::test]
async fn stalled_body_hits_the_read_timeout() {
    let server = Server::start(|_, _| {
        let mut bytes = head(200, &[("Content-Length", "100")]);
        bytes.extend_from_slice(&[b'a'; 10]);
        vec![Step::Send(bytes), Step::Sleep(Duration::from_secs(10))]
    })
    .await;
    let err = get(
        &server,
        "/x",
        &Validators::default(),
        &short_read_timeout(1),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, FetchError::Network { attempts: 2, .. }),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 2, "a stall is retried");
}

#[tokio::test]
async fn stalled_headers_hit_the_read_timeout() {
    let server = Server::start(|_, _| vec![Step::Sleep(Duration::from_secs(10))]).await;
    let err = get(
        &server,
        "/x",
        &Validators::default(),
        &short_read_timeout(0),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, FetchError::Network { attempts: 1, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn slow_but_steady_body_is_not_a_timeout() {
    // Ten pauses of 60 ms: the whole download takes longer than the read timeout,
    // but no single pause does.
    let server = Server::start(|_, _| {
        let mut steps = vec![Step::Send(head(200, &[("Content-Length", "100")]))];
        for _ in 0..10 {
            steps.push(Step::Sleep(Duration::from_millis(60)));
            steps.push(Step::Send(vec![b'a'; 10]));
        }
        steps
    })
    .await;
    let p = payload(
        get(
            &server,
            "/x",
            &Validators::default(),
            &short_read_timeout(0),
        )
        .await
        .unwrap(),
    );
    check_payload(&p, &[b'a'; 100]);
}

#[tokio::test]
async fn truncated_body_is_an_error() {
    let server = Server::start(|_, _| {
        let mut bytes = head(200, &[("Content-Length", "100")]);
        bytes.extend_from_slice(&[b'a'; 50]);
        vec![Step::Send(bytes)]
    })
    .await;
    let err = error_of_one_try(&server, "/x").await;
    assert!(matches!(err, FetchError::Network { .. }), "{err:?}");
}

/// A response head the server never ends sensibly: one header line of 1 MiB, or
/// 100,000 short headers. Each is a network error that names the URL, after at
/// most a bounded read (hyper's limit on a response head), never a panic or an
/// unbounded buffer.
#[tokio::test]
async fn a_huge_response_head_is_refused_naming_the_url() {
    for many in [false, true] {
        let server = Server::start(move |_, _| {
            let mut bytes = b"HTTP/1.1 200 X\r\nConnection: close\r\n".to_vec();
            if many {
                for i in 0..100_000 {
                    bytes.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
                }
            } else {
                bytes.extend_from_slice(b"X-Big: ");
                bytes.extend(std::iter::repeat_n(b'a', 1 << 20));
                bytes.extend_from_slice(b"\r\n");
            }
            bytes.extend_from_slice(b"\r\nok");
            vec![Step::Send(bytes)]
        })
        .await;
        let err = error_of_one_try(&server, "/x").await;
        assert!(matches!(err, FetchError::Network { .. }), "{many}: {err:?}");
        assert!(
            err.to_string().contains(server.url("/x").as_str()),
            "{many}: {err}"
        );
    }
}

// ---------------------------------------------------------------------------
// Scheme and redirects
// ---------------------------------------------------------------------------

#[tokio::test]
async fn plain_http_is_refused_unless_allowed() {
    let server = Server::start(|_, _| reply(200, &[], b"ok")).await;
    let policy = FetchPolicy {
        allow_http: false,
        ..policy()
    };
    let err = get(&server, "/x", &Validators::default(), &policy)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::HttpNotAllowed { .. }), "{err:?}");
    assert!(err.to_string().contains("allow_http"), "{err}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn redirect_is_followed_and_origin_is_the_final_url() {
    let server = Server::start(|req, _| match req.target.as_str() {
        "/old" => reply(301, &[("Location", "/new")], b""),
        _ => reply(200, &[], b"moved"),
    })
    .await;
    let p = payload(
        get(&server, "/old", &Validators::default(), &policy())
            .await
            .unwrap(),
    );
    check_payload(&p, b"moved");
    assert_eq!(p.origin, server.url("/new").to_string());
}

#[tokio::test]
async fn redirect_loop_stops() {
    let server = Server::start(|_, _| reply(302, &[("Location", "/loop")], b"")).await;
    let err = get(&server, "/loop", &Validators::default(), &policy())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Redirect { .. }), "{err:?}");
    assert!(err.to_string().contains("redirects"), "{err}");
    // The first request plus MAX_REDIRECTS followed ones; never retried.
    assert_eq!(server.requests().len(), 1 + http::MAX_REDIRECTS);
}

// ---------------------------------------------------------------------------
// FIM Portal API paging
// ---------------------------------------------------------------------------

/// A FIM API that pages `total` items `{"id": n}`, answering at most `per_page`.
async fn fim_server(total: u64, per_page: u64) -> Server {
    Server::start(move |req, _| {
        let offset: u64 = req
            .query("offset")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let limit: u64 = req
            .query("limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or(200);
        let end = total.min(offset + limit.min(per_page));
        let items: Vec<_> = (offset..end)
            .map(|id| serde_json::json!({ "id": id }))
            .collect();
        let page = serde_json::json!({
            "items": items,
            "offset": offset,
            "limit": limit,
            "count": items.len(),
            "total_count": total,
        });
        reply(
            200,
            &[("Content-Type", "application/json")],
            page.to_string().as_bytes(),
        )
    })
    .await
}

#[tokio::test]
async fn fim_pull_collects_all_pages() {
    let server = fim_server(450, 200).await;
    let since = "2025-01-01T00:00:00+01:00";
    let p = fim_api::pull(&server.url("/"), Some(since), &policy())
        .await
        .unwrap();

    let bytes = std::fs::read(p.file.path()).unwrap();
    assert_eq!(p.sha256.as_deref(), Some(sha256(&bytes).as_str()));
    assert_eq!(p.size, bytes.len() as u64);
    let pages: Vec<serde_json::Value> = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(pages.len(), 3);
    let ids: Vec<u64> = pages
        .iter()
        .flat_map(|page| page["items"].as_array().unwrap().iter())
        .map(|item| item["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (0..450).collect::<Vec<_>>());

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for (req, offset) in requests.iter().zip(["0", "200", "400"]) {
        assert!(
            req.target.starts_with("/api/v0/leistung-steckbriefe?"),
            "{}",
            req.target
        );
        assert_eq!(req.query("offset").as_deref(), Some(offset));
        assert_eq!(req.query("limit").as_deref(), Some("200"));
        assert_eq!(req.query("updated_since").as_deref(), Some(since));
        assert_eq!(req.header("if-none-match"), None);
    }
}

#[tokio::test]
async fn fim_pull_stops_a_server_that_never_ends() {
    // Answers 1 item per page although 200 were asked: would take 450 requests.
    let server = fim_server(450, 1).await;
    let err = fim_api::pull(&server.url("/"), None, &policy())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Paging { .. }), "{err:?}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn fim_pull_rejects_an_answer_that_is_not_a_page() {
    let server = Server::start(|_, _| reply(200, &[], b"<html>maintenance</html>")).await;
    let err = fim_api::pull(&server.url("/"), None, &policy())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Paging { .. }), "{err:?}");
    assert!(err.to_string().contains("not a FIM API page"), "{err}");
}

// ---------------------------------------------------------------------------
// More faults (reliability suite): reset, lying Content-Length, another host,
// slow-loris, memory under a huge body, an HTML page served as 200
// ---------------------------------------------------------------------------

#[tokio::test]
async fn connection_reset_mid_body_is_retried_then_reported() {
    let server = Server::start(|_, _| {
        let mut bytes = head(200, &[("Content-Length", "1000")]);
        bytes.extend_from_slice(&[b'a'; 100]);
        vec![
            Step::Send(bytes),
            Step::Sleep(Duration::from_millis(50)),
            Step::Reset,
        ]
    })
    .await;
    let policy = FetchPolicy {
        max_retries: 1,
        ..policy()
    };
    let err = get(&server, "/x", &Validators::default(), &policy)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Network { attempts: 2, .. }),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 2, "a reset is retried");
}

#[tokio::test]
async fn reset_then_success_gives_the_whole_body() {
    let server = Server::start(|_, n| {
        if n == 0 {
            let mut bytes = head(200, &[("Content-Length", "10")]);
            bytes.extend_from_slice(b"hal");
            vec![Step::Send(bytes), Step::Reset]
        } else {
            reply(200, &[], b"hallo welt")
        }
    })
    .await;
    let p = payload(
        get(&server, "/x", &Validators::default(), &policy())
            .await
            .unwrap(),
    );
    check_payload(&p, b"hallo welt");
}

/// Content-Length shorter than what the server writes: HTTP framing ends the body at
/// the announced length, the rest is never read. (Whether the shortened payload is
/// acceptable is the parser's and the store's call: see
/// `html_error_page_served_as_200_changes_nothing` and the release guards.)
#[tokio::test]
async fn content_length_shorter_than_the_body_reads_exactly_the_announced_bytes() {
    let server = Server::start(|_, _| {
        let mut bytes = head(200, &[("Content-Length", "5")]);
        bytes.extend_from_slice(b"hallo welt, und noch mehr");
        vec![Step::Send(bytes)]
    })
    .await;
    let p = payload(
        get(&server, "/x", &Validators::default(), &policy())
            .await
            .unwrap(),
    );
    check_payload(&p, b"hallo");
}

/// A redirect to another host is followed, but the source's credentials stay with
/// the host they were configured for.
#[tokio::test]
async fn redirect_to_another_host_drops_the_credentials() {
    let other = Server::start(|_, _| reply(200, &[], b"elsewhere")).await;
    // `localhost` and `127.0.0.1` are different hosts to the client.
    let target = other.base.replace("127.0.0.1", "localhost") + "/file";
    let server = Server::start(move |_, _| reply(302, &[("Location", &target)], b"")).await;
    let policy = FetchPolicy {
        authorization: Some(ozgsync::fetch::Authorization::Bearer(
            "canary-token-7f3a".into(),
        )),
        ..policy()
    };
    let p = payload(
        get(&server, "/x", &Validators::default(), &policy)
            .await
            .unwrap(),
    );
    check_payload(&p, b"elsewhere");
    let first = &server.requests()[0];
    assert!(first
        .header("authorization")
        .is_some_and(|a| a.contains("canary-token-7f3a")));
    let followed = &other.requests()[0];
    assert_eq!(followed.header("authorization"), None, "{followed:?}");
}

/// One byte every 100 ms never trips a 1 s read timeout; the total deadline ends it.
#[tokio::test]
async fn slow_loris_trickle_hits_the_total_deadline() {
    let server = Server::start(|_, _| {
        let mut steps = vec![Step::Send(head(200, &[("Content-Length", "100000")]))];
        for _ in 0..600 {
            steps.push(Step::Sleep(Duration::from_millis(100)));
            steps.push(Step::Send(vec![b'a']));
        }
        steps
    })
    .await;
    let policy = FetchPolicy {
        read_timeout: Duration::from_secs(1),
        total_timeout: Duration::from_millis(1500),
        max_retries: 3,
        ..policy()
    };
    let err = get(&server, "/x", &Validators::default(), &policy)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("total_timeout_secs"), "{err}");
    assert_eq!(
        server.requests().len(),
        1,
        "the deadline covers retries too"
    );
}

/// Peak resident memory of a child until it exits, in KiB (its `VmHWM`, polled).
fn wait_peak_rss(mut child: std::process::Child) -> (std::process::ExitStatus, i64) {
    // Not wait4's ru_maxrss: a child spawned with vfork/posix_spawn inherits the
    // parent's high-water mark at exec, and this test process can be large while
    // other tests run beside it. The child's own VmHWM (reset by exec) is polled
    // until it exits; it only grows, so a late read still covers everything before.
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            {
                peak = peak.max(kib);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status, peak);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// The binary streaming a 1 GiB body towards a 256 MiB limit: refused at the
/// limit with a clear error, and the peak RSS stays far below the body size.
#[tokio::test]
async fn huge_body_is_refused_with_bounded_memory() {
    let server = Server::start(|_, _| {
        vec![
            Step::Send(head(200, &[("Transfer-Encoding", "chunked")])),
            Step::Stream {
                chunk: vec![b'x'; 1024 * 1024],
                count: 1024,
            },
        ]
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ozgsync.toml");
    std::fs::write(
        &config,
        format!(
            "[fetch]\nallow_http = true\nmax_body_mb = 256\nmax_retries = 0\n\n[[source]]\nname = \"big\"\nkind = \"leika\"\nlocation = \"{}\"\n",
            server.url("/big.csv")
        ),
    )
    .unwrap();
    let db = dir.path().join("db.sqlite");
    let (status, peak_kib, stderr) = tokio::task::spawn_blocking(move || {
        let mut child = super::support::command(super::support::root())
            .arg("--db")
            .arg(&db)
            .args(["--quiet", "sync", "--config"])
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut pipe, &mut s).unwrap();
            s
        });
        let (status, peak) = wait_peak_rss(child);
        (status, peak, reader.join().unwrap())
    })
    .await
    .unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("larger than the limit"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        peak_kib < 100 * 1024,
        "peak RSS {peak_kib} KiB for a 1 GiB body"
    );
    eprintln!("huge body: peak RSS {} MiB", peak_kib / 1024);
}

/// A server answering 200 with its HTML error page: the parser refuses it, nothing
/// is applied (through the real binary and `--allow-http`).
#[tokio::test]
async fn html_error_page_served_as_200_changes_nothing() {
    let html = std::fs::read("fixtures/leika/html_error_page.csv").unwrap();
    let server = Server::start(move |req, _| match req.target.as_str() {
        "/leika.csv" => reply(200, &[("Content-Type", "text/html")], &html),
        _ => reply(404, &[], b""),
    })
    .await;
    let url = server.url("/leika.csv").to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let out = tokio::task::spawn_blocking(move || {
        let run = |location: &str, allow: bool| {
            let mut cmd = super::support::command(super::support::root());
            cmd.arg("--db")
                .arg(&db)
                .args(["--quiet", "import", "leika", location]);
            if allow {
                cmd.arg("--allow-http");
            }
            cmd.output().unwrap()
        };
        let first = run("fixtures/leika/leika_sample_nrw2019.csv", false);
        assert!(first.status.success());
        let refused = run(&url, false);
        let out = run(&url, true);
        let conn = rusqlite::Connection::open(&db).unwrap();
        let counts: (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM releases), (SELECT count(*) FROM record_versions)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        (refused, out, counts)
    })
    .await
    .unwrap();
    let (refused, out, (releases, versions)) = out;
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.contains("allow_http"), "{err}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not a LeiKa CSV"), "{err}");
    assert!(err.contains("leika.csv"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(releases, 1, "no release row for the refused payload");
    assert_eq!(versions, 612);
    assert_eq!(server.requests().len(), 1, "a parse failure is not retried");
}
