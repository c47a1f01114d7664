//! Paged pull of the FIM Portal API. TODO(fetch helper).

use super::{FetchError, FetchPolicy, Payload};

pub async fn pull(
    base: &url::Url,
    updated_since: Option<&str>,
    policy: &FetchPolicy,
) -> Result<Payload, FetchError> {
    let _ = (updated_since, policy);
    Err(FetchError::Network {
        url: base.to_string(),
        reason: "not implemented".into(),
        attempts: 0,
    })
}
