//! Paged pull of the Dashboard Digitale Verwaltung API (Open-PVOG availability):
//! `GET {base}/v1/data/{ars}?size=100&includeBelow=true&page=N`
//! from page 0 until an answer says `last`, into one payload file: a JSON array of
//! the pages as received, like the FIM API pull.
//!
//! The API description gives `/v1/data/{ars}` a `filetype` parameter (`csv` or
//! `xlsx`) and two 200 answers, `application/json` and `application/octet-stream`,
//! without saying which a request without `filetype` gets. So the first answer is
//! read as it comes: JSON pages are paged on; the CSV file (a header with
//! `leika_key` and `ars`, whatever the Content-Type says) is the whole data and
//! becomes the payload as received (`parse::pvog` reads both).
//!
//! The region is part of the configured location: a URL ending in
//! `/v1/data/<12-digit ARS>` pulls that region; any other URL is the API base and
//! pulls Lower Saxony (`030000000000`, [`DEFAULT_REGION`]).

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::http::{redact, Client};
use super::paged::{page_bytes, whole_answer, within_total_timeout, PageArray};
use super::{FetchError, FetchPolicy, Payload};

/// Land Niedersachsen.
pub const DEFAULT_REGION: &str = "030000000000";

/// Rows per page (the API's documented default and example).
pub const PAGE_SIZE: u64 = 100;

/// Pulls every page for the region the location names (see the module docs).
pub async fn pull(location: &url::Url, policy: &FetchPolicy) -> Result<Payload, FetchError> {
    let client = Client::new(policy)?;
    let endpoint = endpoint(location)?;
    let origin = redact(&endpoint);
    within_total_timeout(policy, &origin.clone(), pages(&client, endpoint, origin)).await
}

async fn pages(client: &Client, endpoint: url::Url, origin: String) -> Result<Payload, FetchError> {
    let mut array = PageArray::new(origin, client.policy().max_body_bytes).await?;
    let mut page_no = 0u64;
    let mut total_pages: Option<u64> = None;
    loop {
        let url = page_url(&endpoint, page_no);
        let shown = redact(&url);
        let bytes = page_bytes(client, &url).await?;
        if page_no == 0 && crate::parse::pvog::looks_like_csv(&bytes) {
            tracing::info!(url = %shown, bytes = bytes.len(), "the API answered with its CSV file; taken whole");
            return whole_answer(redact(&endpoint), client.policy().max_body_bytes, &bytes).await;
        }
        let head: PageHead = serde_json::from_slice(&bytes).map_err(|e| FetchError::Paging {
            url: shown.clone(),
            reason: format!(
                "not a Dashboard Digitale Verwaltung page ({e}), and not its CSV file either (no header with leika_key and ars); check that the location points to the API"
            ),
        })?;
        tracing::debug!(url = %shown, rows = head.content.len(), last = head.last, "PVOG page");
        if head.number.is_some_and(|n| n != page_no) {
            return Err(FetchError::Paging {
                url: shown,
                reason: format!(
                    "asked for page {page_no} but got page {}; the server ignores paging",
                    head.number.unwrap_or_default()
                ),
            });
        }
        let pages = *total_pages.get_or_insert(head.total_pages.unwrap_or(u64::MAX));
        array.push(&bytes).await?;
        if head.last || head.content.is_empty() {
            break;
        }
        page_no += 1;
        // A server that never says `last` must not keep us paging forever.
        if page_no > pages.min(100_000) {
            return Err(FetchError::Paging {
                url: shown,
                reason: format!(
                    "still no `last` page after {page_no} pages (totalPages {pages}); the server does not page as documented"
                ),
            });
        }
    }
    array.finish().await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageHead {
    content: Vec<IgnoredAny>,
    #[serde(default)]
    last: bool,
    number: Option<u64>,
    total_pages: Option<u64>,
}

/// `{base}/v1/data/{ars}?size=100&includeBelow=true` (includeAbove keeps the
/// server's default).
fn endpoint(location: &url::Url) -> Result<url::Url, FetchError> {
    let mut url = location.clone();
    url.set_query(None);
    url.set_fragment(None);
    let segments: Vec<String> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let names_region = segments.len() >= 3
        && segments
            .get(segments.len() - 3..segments.len() - 1)
            .is_some_and(|s| *s == ["v1", "data"])
        && segments
            .last()
            .is_some_and(|a| crate::model::Ars::is_valid(a));
    if !names_region {
        url.path_segments_mut()
            .map_err(|()| FetchError::BadUrl {
                url: redact(location),
                reason: "not usable as an API base URL".into(),
            })?
            .pop_if_empty()
            .extend(["v1", "data", DEFAULT_REGION]);
    }
    url.query_pairs_mut()
        .append_pair("size", &PAGE_SIZE.to_string())
        .append_pair("includeBelow", "true");
    Ok(url)
}

fn page_url(endpoint: &url::Url, page: u64) -> url::Url {
    let mut url = endpoint.clone();
    url.query_pairs_mut().append_pair("page", &page.to_string());
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        let check = |location: &str, expected: &str| {
            let location = url::Url::parse(location).unwrap();
            assert_eq!(
                page_url(&endpoint(&location).unwrap(), 2).as_str(),
                expected
            );
        };
        check(
            "https://digitale-verwaltung.api.proxy.bund.dev/api/",
            "https://digitale-verwaltung.api.proxy.bund.dev/api/v1/data/030000000000?size=100&includeBelow=true&page=2",
        );
        check(
            "https://host/api/v1/data/032410001001?page=7",
            "https://host/api/v1/data/032410001001?size=100&includeBelow=true&page=2",
        );
    }
}
