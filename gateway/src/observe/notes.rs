//! What the request path notes for the metrics while a request runs (`RequestCtx::observe`),
//! read by the account stage. A leaf: the context holds it without depending on the rest.

use std::time::Duration;

#[derive(Debug, Default)]
pub struct Notes {
    /// Time from the request's start to the first streamed bytes sent.
    pub first_token: Option<Duration>,
    /// The provider's `x-ratelimit-remaining-requests` / `-tokens`.
    pub remaining: [Option<u64>; 2],
    /// The group asked for, once a fallback moved the request to another.
    pub requested: Option<String>,
    /// `custom_prometheus_metadata_labels` values, in the configured order.
    pub metadata: Vec<String>,
}
