//! Canonical request → Azure OpenAI request: the OpenAI body under
//! `/openai/deployments/{deployment}/{endpoint}?api-version=…`, authenticated with `api-key` or
//! an Entra ID bearer token.

use serde_json::Value;

use crate::error::ApiError;
use crate::openai::request::build_body;
use crate::request::CanonicalRequest;
use crate::target::{ProviderRequest, Target};

/// Used when neither the deployment nor its `litellm_params` name an `api_version`.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

/// The Azure OpenAI request for `req`; the deployment name is `t.model`. An Entra ID token
/// (`azure_ad_token`) takes precedence over the API key. Never fails today; the `Result` matches
/// the other dialects' builders.
pub fn build(req: &CanonicalRequest, t: &Target<'_>) -> Result<ProviderRequest, ApiError> {
    let api_version = t
        .api_version
        .filter(|v| !v.is_empty())
        .or_else(|| internal_str(t, "api_version"))
        .unwrap_or(DEFAULT_API_VERSION);
    let path = format!(
        "{}/openai/deployments/{}{}?api-version={}",
        t.base_path,
        encode(t.model),
        req.endpoint.path(),
        encode(api_version)
    );
    let mut headers = Vec::with_capacity(2);
    let accept = if req.stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    headers.push(("accept", accept.to_string()));
    if let Some(token) = internal_str(t, "azure_ad_token") {
        headers.push(("authorization", format!("Bearer {token}")));
    } else if let Some(key) = t.api_key.filter(|k| !k.is_empty()) {
        headers.push(("api-key", key.to_string()));
    }
    Ok(ProviderRequest {
        path,
        headers,
        body: build_body(req, t.model, t.defaults),
    })
}

/// The head of a media request (`/audio/transcriptions`, `/audio/speech`, `/images/edits`, …)
/// to Azure OpenAI: `{base_path}/openai/deployments/{deployment}{path}?api-version=…`, with
/// the Entra ID token or the key as chat sends them; the body is the client's, which the
/// gateway streams.
pub fn media(path: &str, t: &Target<'_>) -> ProviderRequest {
    let api_version = t
        .api_version
        .filter(|v| !v.is_empty())
        .or_else(|| internal_str(t, "api_version"))
        .unwrap_or(DEFAULT_API_VERSION);
    let mut headers = Vec::with_capacity(1);
    if let Some(token) = internal_str(t, "azure_ad_token") {
        headers.push(("authorization", format!("Bearer {token}")));
    } else if let Some(key) = t.api_key.filter(|k| !k.is_empty()) {
        headers.push(("api-key", key.to_string()));
    }
    ProviderRequest {
        path: format!(
            "{}/openai/deployments/{}{path}?api-version={}",
            t.base_path,
            encode(t.model),
            encode(api_version)
        ),
        headers,
        body: Vec::new(),
    }
}

/// Azure's Responses API needs at least this `api-version`; a deployment configured with an
/// older one (the chat default is [`DEFAULT_API_VERSION`]) is called with this one instead.
pub const RESPONSES_API_VERSION: &str = "2025-03-01-preview";

/// A Responses API request passed through to Azure OpenAI:
/// `{base_path}/openai/responses?api-version=…` (at least [`RESPONSES_API_VERSION`]), with the
/// Entra ID token (`azure_ad_token`) as a bearer token, else the key as `api-key`; `body` as
/// the caller made it.
pub fn responses(t: &Target<'_>, body: Vec<u8>, stream: bool) -> ProviderRequest {
    let configured = t
        .api_version
        .or_else(|| t.internal.get("api_version").and_then(Value::as_str));
    let version = configured
        .filter(|v| *v >= RESPONSES_API_VERSION)
        .unwrap_or(RESPONSES_API_VERSION);
    let accept = if stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    let mut headers = vec![("accept", accept.to_string())];
    if let Some(token) = internal_str(t, "azure_ad_token") {
        headers.push(("authorization", format!("Bearer {token}")));
    } else if let Some(key) = t.api_key {
        headers.push(("api-key", key.to_string()));
    }
    ProviderRequest {
        path: format!(
            "{}/openai/responses?api-version={}",
            t.base_path,
            encode(version)
        ),
        headers,
        body,
    }
}

fn internal_str<'a>(t: &Target<'a>, key: &str) -> Option<&'a str> {
    match t.internal.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.as_str()),
        _ => None,
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (deployment names and API
/// versions are normally plain already).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_pass_through_takes_at_least_the_responses_api_version() {
        let internal = serde_json::Map::new();
        let defaults = serde_json::Map::new();
        let t = |api_version| Target {
            provider: crate::provider::Provider::Azure,
            model: "dep",
            base_path: "",
            api_key: Some("k"),
            api_version,
            defaults: &defaults,
            drop_params: false,
            internal: &internal,
        };
        let old = responses(&t(Some("2024-10-21")), b"{}".to_vec(), true);
        assert_eq!(
            old.path,
            format!("/openai/responses?api-version={RESPONSES_API_VERSION}")
        );
        assert_eq!(
            old.headers,
            vec![
                ("accept", "text/event-stream".to_string()),
                ("api-key", "k".to_string())
            ]
        );
        let newer = responses(&t(Some("2025-04-01-preview")), Vec::new(), false);
        assert_eq!(
            newer.path,
            "/openai/responses?api-version=2025-04-01-preview"
        );
    }

    #[test]
    fn encodes_only_reserved_bytes() {
        assert_eq!(encode("gpt-4o_mini.v2"), "gpt-4o_mini.v2");
        assert_eq!(encode("my dep/x"), "my%20dep%2Fx");
    }
}
