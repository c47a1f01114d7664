//! What the paged pulls (FIM Portal API, Dashboard Digitale Verwaltung) share: one
//! page fetched as bytes, and the pages written as one JSON array `[page0,page1,...]`
//! into a payload file, hashed, under the body limit and the total deadline
//! (`fetch.total_timeout_secs`) for the whole pull. Each pull keeps its own paging
//! rules.

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::http::{redact, Client};
use super::{hex, FetchError, FetchPolicy, Fetched, Payload, Validators};

/// GETs one page (never conditional) and returns its body.
pub async fn page_bytes(client: &Client, url: &url::Url) -> Result<Vec<u8>, FetchError> {
    let page = match client.get(url, &Validators::default()).await? {
        Fetched::Payload(p) => p,
        // Impossible without validators (http::Client rejects such a 304).
        Fetched::NotModified => {
            return Err(FetchError::Paging {
                url: redact(url),
                reason: "unexpected Not Modified".into(),
            })
        }
    };
    tokio::fs::read(page.file.path())
        .await
        .map_err(|source| FetchError::TempFile {
            dir: std::env::temp_dir(),
            source,
        })
}

/// Runs a whole paged pull under the policy's total deadline. Each page's GET has
/// that deadline too, but a pull of hundreds of pages must not take hundreds of
/// times as long. On timeout the pull is dropped, its payload file with it.
pub async fn within_total_timeout<F>(
    policy: &FetchPolicy,
    origin: &str,
    pull: F,
) -> Result<Payload, FetchError>
where
    F: std::future::Future<Output = Result<Payload, FetchError>>,
{
    tokio::time::timeout(policy.total_timeout, pull)
        .await
        .unwrap_or_else(|_| {
            Err(FetchError::PullOverdue {
                url: origin.to_owned(),
                secs: policy.total_timeout.as_secs(),
            })
        })
}

/// The payload file of a paged pull, written page by page.
pub struct PageArray {
    file: tempfile::NamedTempFile,
    out: tokio::fs::File,
    hasher: Sha256,
    size: u64,
    pages: u64,
    limit: u64,
    origin: String,
}

impl PageArray {
    /// `origin` is the (redacted) endpoint named in errors and in the payload.
    pub async fn new(origin: String, limit: u64) -> Result<PageArray, FetchError> {
        let file = super::payload_file().map_err(file_err)?;
        let out = tokio::fs::File::from_std(file.as_file().try_clone().map_err(file_err)?);
        let mut array = PageArray {
            file,
            out,
            hasher: Sha256::new(),
            size: 0,
            pages: 0,
            limit,
            origin,
        };
        array.write(b"[").await?;
        Ok(array)
    }

    /// Appends one page as received.
    pub async fn push(&mut self, page: &[u8]) -> Result<(), FetchError> {
        if self.pages > 0 {
            self.write(b",").await?;
        }
        self.pages += 1;
        self.write(page).await
    }

    /// Closes the array and returns the payload.
    pub async fn finish(mut self) -> Result<Payload, FetchError> {
        self.write(b"]").await?;
        self.out.flush().await.map_err(file_err)?;
        Ok(Payload {
            file: self.file.into(),
            sha256: Some(hex(&self.hasher.finalize())),
            size: self.size,
            validators: Validators::default(),
            origin: self.origin,
        })
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), FetchError> {
        self.size = self.size.saturating_add(bytes.len() as u64);
        if self.size > self.limit {
            return Err(FetchError::TooLarge {
                url: self.origin.clone(),
                limit: self.limit,
            });
        }
        self.hasher.update(bytes);
        self.out.write_all(bytes).await.map_err(file_err)
    }
}

/// The payload of a paged API that answered the first request with its whole data
/// as one file (the Dashboard Digitale Verwaltung's CSV): the answer as received.
pub async fn whole_answer(origin: String, limit: u64, bytes: &[u8]) -> Result<Payload, FetchError> {
    if bytes.len() as u64 > limit {
        return Err(FetchError::TooLarge { url: origin, limit });
    }
    let file = tempfile::NamedTempFile::new().map_err(file_err)?;
    let mut out = tokio::fs::File::from_std(file.as_file().try_clone().map_err(file_err)?);
    out.write_all(bytes).await.map_err(file_err)?;
    out.flush().await.map_err(file_err)?;
    Ok(Payload {
        file: file.into(),
        sha256: Some(hex(&Sha256::digest(bytes))),
        size: bytes.len() as u64,
        validators: Validators::default(),
        origin,
    })
}

fn file_err(source: std::io::Error) -> FetchError {
    FetchError::TempFile {
        dir: std::env::temp_dir(),
        source,
    }
}
