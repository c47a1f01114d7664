//! HTTP GET with retries, conditional requests and a body limit (reqwest + rustls).

use super::{FetchError, FetchPolicy, Fetched, Validators};

/// GETs `url` into a payload file. TODO(fetch helper): implement.
pub async fn get(
    url: &url::Url,
    validators: &Validators,
    policy: &FetchPolicy,
) -> Result<Fetched, FetchError> {
    let _ = (validators, policy);
    Err(FetchError::Network {
        url: url.to_string(),
        reason: "not implemented".into(),
        attempts: 0,
    })
}
