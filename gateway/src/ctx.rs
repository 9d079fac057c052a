//! `RequestCtx`: the per-request state carried between lifecycle stages and read by account.

use std::time::Instant;

use crate::state::InflightGuard;

/// What the request turned out to be, for logs and accounting.
#[derive(Default)]
pub struct RequestCtx {
    pub start: Option<Instant>,
    /// `x-litellm-call-id`, a UUID-like hex id.
    pub call_id: String,
    /// Model group asked for.
    pub model_group: Option<String>,
    /// Deployment id that served it.
    pub deployment_id: Option<String>,
    pub stream: bool,
    /// Status sent to the client.
    pub status: u16,
    /// Status the provider answered with, when one was called.
    pub upstream_status: Option<u16>,
    /// Tokens reported by the provider (or the mock).
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Why the request ended abnormally, if it did (client disconnect, upstream failure).
    pub failure: Option<String>,
    /// Keeps the request counted as in flight until the context drops.
    pub inflight: Option<InflightGuard>,
}

/// A random 128-bit call id, formatted like a UUID v4.
pub fn new_call_id() -> String {
    let v: u128 = rand::random();
    let v = (v & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let s = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &s[0..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn call_ids_are_uuid_shaped_and_unique() {
        let a = super::new_call_id();
        let b = super::new_call_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
