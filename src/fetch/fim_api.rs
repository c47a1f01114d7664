//! Paged pull of the FIM Portal API (`GET {base}/api/v0/leistung-steckbriefe`) into
//! one payload file: a JSON array of the pages exactly as received,
//! `[page0,page1,...]`, hashed like any other payload.
//!
//! Owns only the paging: which URL to ask next and when to stop, with guards against
//! a server that never ends (more pages than `total_count` allows, an offset it
//! ignores, empty pages, a `total_count` that jumps). Reads just the paging fields
//! (`offset`, `limit`, `total_count`, number of `items`); the items themselves are
//! parsed in `crate::parse::fim_api`. Each page goes through the retrying GET of
//! [`super::http`].

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::http::{redact, Client};
use super::paged::{page_bytes, within_total_timeout, PageArray};
use super::{FetchError, FetchPolicy, Payload};

/// Items per page: the API's maximum, to keep the number of requests (and the
/// chance of hitting its per-IP rate limit) low.
pub const PAGE_LIMIT: u64 = 200;

/// Pulls all Leistungssteckbriefe (optionally only those updated since an ISO 8601
/// datetime) from the API at `base` (e.g. `https://fimportal.de`).
pub async fn pull(
    base: &url::Url,
    updated_since: Option<&str>,
    policy: &FetchPolicy,
) -> Result<Payload, FetchError> {
    let client = Client::new(policy)?;
    pull_with(&client, base, updated_since).await
}

/// [`pull`] with a shared client (reuses connections across pages and sources).
pub async fn pull_with(
    client: &Client,
    base: &url::Url,
    updated_since: Option<&str>,
) -> Result<Payload, FetchError> {
    let endpoint = endpoint(base, updated_since)?;
    let origin = redact(&endpoint);
    within_total_timeout(
        client.policy(),
        &origin.clone(),
        pages(client, endpoint, origin),
    )
    .await
}

async fn pages(client: &Client, endpoint: url::Url, origin: String) -> Result<Payload, FetchError> {
    let mut pages = PageArray::new(origin, client.policy().max_body_bytes).await?;
    let mut pager = Pager::default();
    let mut offset = 0u64;
    loop {
        let url = page_url(&endpoint, offset);
        let shown = redact(&url);
        let bytes = page_bytes(client, &url).await?;
        let head: PageHead = serde_json::from_slice(&bytes).map_err(|e| FetchError::Paging {
            url: shown.clone(),
            reason: format!(
                "not a FIM API page ({e}); check that the base URL points to the FIM Portal API"
            ),
        })?;
        tracing::debug!(url = %shown, items = head.items.len(), total = head.total_count, "FIM API page");
        let next = pager
            .accept(offset, &head)
            .map_err(|reason| FetchError::Paging { url: shown, reason })?;
        pages.push(&bytes).await?;
        match next {
            Some(n) => offset = n,
            None => break,
        }
    }
    pages.finish().await
}

/// The paging fields of one answer `{items, offset, limit, count, total_count}`.
#[derive(Debug, Deserialize)]
struct PageHead {
    offset: u64,
    limit: u64,
    total_count: u64,
    items: Vec<IgnoredAny>,
}

/// Paging state across pages: decides the next offset or the end, and refuses
/// answers that would make the pull endless or silently incomplete.
#[derive(Debug, Default)]
struct Pager {
    pages: u64,
    /// `total_count` and page size from the first page; the guards are fixed then.
    first: Option<(u64, u64)>,
}

impl Pager {
    /// Takes the page asked for at `offset`; `Ok(Some(next))` to go on, `Ok(None)`
    /// when done.
    fn accept(&mut self, offset: u64, head: &PageHead) -> Result<Option<u64>, String> {
        if head.offset != offset {
            return Err(format!(
                "asked for offset {offset} but got offset {}; the server ignores paging",
                head.offset
            ));
        }
        let (first_total, page_size) = *self.first.get_or_insert_with(|| {
            // A server may cap the limit lower than asked; the guard must allow for it.
            let size = if head.limit == 0 {
                PAGE_LIMIT
            } else {
                head.limit.min(PAGE_LIMIT)
            };
            (head.total_count, size)
        });
        // Small drift is normal while editors publish; a jump means something else.
        let tolerance = page_size.max(first_total / 10);
        if head.total_count.abs_diff(first_total) > tolerance {
            return Err(format!(
                "total_count changed from {first_total} to {} during the pull; try again later",
                head.total_count
            ));
        }
        self.pages += 1;
        let items = head.items.len() as u64;
        let next = offset.saturating_add(items);
        if next >= head.total_count {
            return Ok(None);
        }
        if items == 0 {
            return Err(format!(
                "empty page at offset {offset} although total_count is {}",
                head.total_count
            ));
        }
        let max_pages = first_total / page_size + 1;
        if self.pages >= max_pages {
            return Err(format!(
                "still not done after {} pages (total_count {first_total}, {page_size} per page); \
                 the server does not page as documented",
                self.pages
            ));
        }
        Ok(Some(next))
    }
}

/// `{base}/api/v0/leistung-steckbriefe?limit=200&order_by=...[&updated_since=...]`.
fn endpoint(base: &url::Url, updated_since: Option<&str>) -> Result<url::Url, FetchError> {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| FetchError::BadUrl {
            url: redact(base),
            reason: "not usable as an API base URL".into(),
        })?
        .pop_if_empty()
        .extend(["api", "v0", "leistung-steckbriefe"]);
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("limit", &PAGE_LIMIT.to_string());
        // Oldest first: entries created during the pull land on the last page instead
        // of shifting every page (the default order is newest first).
        query.append_pair("order_by", "erstellt_datum_zeit_asc");
        if let Some(since) = updated_since {
            query.append_pair("updated_since", since);
        }
    }
    Ok(url)
}

fn page_url(endpoint: &url::Url, offset: u64) -> url::Url {
    let mut url = endpoint.clone();
    url.query_pairs_mut()
        .append_pair("offset", &offset.to_string());
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        let check = |base: &str, since: Option<&str>, expected: &str| {
            let base = url::Url::parse(base).unwrap();
            let got = page_url(&endpoint(&base, since).unwrap(), 400);
            assert_eq!(got.as_str(), expected);
        };
        check(
            "https://fimportal.de",
            None,
            "https://fimportal.de/api/v0/leistung-steckbriefe?limit=200&order_by=erstellt_datum_zeit_asc&offset=400",
        );
        check(
            "https://host/prefix/?x=1",
            Some("2025-01-01T00:00:00+01:00"),
            "https://host/prefix/api/v0/leistung-steckbriefe?limit=200&order_by=erstellt_datum_zeit_asc\
             &updated_since=2025-01-01T00%3A00%3A00%2B01%3A00&offset=400",
        );
    }

    fn head(offset: u64, limit: u64, total_count: u64, items: usize) -> PageHead {
        PageHead {
            offset,
            limit,
            total_count,
            items: (0..items).map(|_| IgnoredAny).collect(),
        }
    }

    /// Feeds pages (asked offset, answer) and expects the results in order.
    fn check(pages: &[(u64, PageHead)], expected: &[Result<Option<u64>, &str>]) {
        let mut pager = Pager::default();
        for ((offset, page), want) in pages.iter().zip(expected) {
            let got = pager.accept(*offset, page);
            match (got, want) {
                (Ok(a), Ok(b)) => assert_eq!(a, *b),
                (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{e}"),
                (got, want) => panic!("offset {offset}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn paging() {
        // Three pages, last one partial.
        check(
            &[
                (0, head(0, 200, 450, 200)),
                (200, head(200, 200, 450, 200)),
                (400, head(400, 200, 450, 50)),
            ],
            &[Ok(Some(200)), Ok(Some(400)), Ok(None)],
        );
        // Empty catalogue: one page.
        check(&[(0, head(0, 200, 0, 0))], &[Ok(None)]);
        // Server caps the limit at 100: more pages, still fine.
        check(
            &[
                (0, head(0, 100, 250, 100)),
                (100, head(100, 100, 250, 100)),
                (200, head(200, 100, 250, 50)),
            ],
            &[Ok(Some(100)), Ok(Some(200)), Ok(None)],
        );
        // Server ignores the offset.
        check(
            &[(0, head(0, 200, 450, 200)), (200, head(0, 200, 450, 200))],
            &[Ok(Some(200)), Err("ignores paging")],
        );
        // Empty page before the end.
        check(&[(0, head(0, 200, 450, 0))], &[Err("empty page")]);
        // Fewer items per page than the limit says: the page guard stops it.
        check(
            &[
                (0, head(0, 200, 400, 10)),
                (10, head(10, 200, 400, 10)),
                (20, head(20, 200, 400, 10)),
            ],
            &[Ok(Some(10)), Ok(Some(20)), Err("not done after 3 pages")],
        );
        // total_count jumps.
        check(
            &[
                (0, head(0, 200, 450, 200)),
                (200, head(200, 200, 5000, 200)),
            ],
            &[Ok(Some(200)), Err("total_count changed")],
        );
        // Small drift is fine.
        check(
            &[
                (0, head(0, 200, 450, 200)),
                (200, head(200, 200, 460, 200)),
                (400, head(400, 200, 460, 60)),
            ],
            &[Ok(Some(200)), Ok(Some(400)), Ok(None)],
        );
    }
}
