//! Canonical request → OpenAI-compatible upstream body: the deployment's own model name, the
//! deployment's default params where the client set none, every other field untouched.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::provider::Provider;
use crate::request::CanonicalRequest;
use crate::target::{ProviderRequest, Target};

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The provider request for an OpenAI-compatible server: `{base_path}/chat/completions` (etc.),
/// `Authorization: Bearer` with the deployment's key.
pub fn build(req: &CanonicalRequest, t: &Target<'_>) -> ProviderRequest {
    let mut headers = Vec::with_capacity(2);
    headers.push((
        "accept",
        if req.stream {
            "text/event-stream"
        } else {
            "application/json"
        }
        .to_string(),
    ));
    let provider = t.provider;
    if let Some(key) = t.api_key {
        if provider == Provider::AzureAi && t.base_path.ends_with("/models") {
            // Azure AI Foundry (`*.services.ai.azure.com/models`) takes the key as `api-key`,
            // as LiteLLM sends it; other Azure AI endpoints take a bearer key.
            headers.push(("api-key", key.to_string()));
        } else {
            headers.push(("authorization", format!("Bearer {key}")));
        }
    }
    // OpenAI's reasoning models (o1, o3, o4-mini, …) refuse `max_tokens`; they take
    // `max_completion_tokens`, as LiteLLM rewrites it.
    let rename = provider == Provider::OpenAi && is_reasoning_model(t.model);
    let merged = Merged {
        body: &req.body,
        model: t.model,
        defaults: t.defaults,
        max_tokens_as_completion: rename,
    };
    let mut path = format!("{}{}", t.base_path, req.endpoint.path());
    if let (Provider::AzureAi, Some(version)) = (provider, t.api_version.filter(|v| !v.is_empty()))
    {
        path.push_str("?api-version=");
        path.push_str(&url_encode(version));
    }
    ProviderRequest {
        path,
        headers,
        body: serde_json::to_vec(&merged).expect("serializing JSON values cannot fail"),
    }
}

/// The head of a media request (`/audio/transcriptions`, `/audio/speech`, `/images/edits`, …)
/// to an OpenAI-compatible server: `{base_path}{path}` and the key as chat sends it; the body
/// is the client's, which the gateway streams.
pub fn media(path: &str, t: &Target<'_>) -> ProviderRequest {
    let mut headers = Vec::with_capacity(1);
    if let Some(key) = t.api_key {
        if t.provider == Provider::AzureAi && t.base_path.ends_with("/models") {
            headers.push(("api-key", key.to_string()));
        } else {
            headers.push(("authorization", format!("Bearer {key}")));
        }
    }
    let mut path = format!("{}{path}", t.base_path);
    if let (Provider::AzureAi, Some(version)) =
        (t.provider, t.api_version.filter(|v| !v.is_empty()))
    {
        path.push_str("?api-version=");
        path.push_str(&url_encode(version));
    }
    ProviderRequest {
        path,
        headers,
        body: Vec::new(),
    }
}

/// A Responses API request passed through to OpenAI: `{base_path}/responses` with
/// `Authorization: Bearer` and the deployment's key; `body` as the caller made it.
pub fn responses(t: &Target<'_>, body: Vec<u8>, stream: bool) -> ProviderRequest {
    let accept = if stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    let mut headers = vec![("accept", accept.to_string())];
    if let Some(key) = t.api_key {
        headers.push(("authorization", format!("Bearer {key}")));
    }
    ProviderRequest {
        path: format!("{}/responses", t.base_path),
        headers,
        body,
    }
}

/// `o1`, `o1-mini`, `o3`, `o3-mini`, `o4-mini`, … (not `gpt-4o`).
fn is_reasoning_model(model: &str) -> bool {
    let mut chars = model.chars();
    chars.next() == Some('o') && chars.next().is_some_and(|c| c.is_ascii_digit())
}

/// The upstream request body for `req` sent to a deployment serving `upstream_model`.
/// Client values win over `defaults` (`litellm_params` extras such as `temperature`).
pub fn build_body(
    req: &CanonicalRequest,
    upstream_model: &str,
    defaults: &Map<String, Value>,
) -> Vec<u8> {
    let merged = Merged {
        body: &req.body,
        model: upstream_model,
        defaults,
        max_tokens_as_completion: false,
    };
    serde_json::to_vec(&merged).expect("serializing JSON values cannot fail")
}

/// Serializes the client's body with `model` replaced and missing defaults added, without
/// cloning the body.
struct Merged<'a> {
    body: &'a Map<String, Value>,
    model: &'a str,
    defaults: &'a Map<String, Value>,
    /// Send `max_tokens` as `max_completion_tokens` (unless that is set too).
    max_tokens_as_completion: bool,
}

impl Merged<'_> {
    fn key<'k>(&self, k: &'k str) -> &'k str {
        let has_completion = self.body.contains_key("max_completion_tokens");
        if self.max_tokens_as_completion && k == "max_tokens" && !has_completion {
            "max_completion_tokens"
        } else {
            k
        }
    }
}

impl Serialize for Merged<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("model", self.model)?;
        for (k, v) in self.body {
            if k != "model" {
                map.serialize_entry(self.key(k), v)?;
            }
        }
        for (k, v) in self.defaults {
            if k != "model" && !self.body.contains_key(k) && !self.body.contains_key(self.key(k)) {
                map.serialize_entry(self.key(k), v)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{CanonicalRequest, Endpoint};
    use serde_json::json;

    #[test]
    fn renames_model_keeps_fields_and_adds_defaults() {
        let req = CanonicalRequest::parse(
            Endpoint::ChatCompletions,
            br#"{"model":"group","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"vendor_x":[1,2]}"#,
        )
        .unwrap();
        let defaults = json!({"temperature": 0.9, "max_tokens": 50})
            .as_object()
            .unwrap()
            .clone();
        let out: Value =
            serde_json::from_slice(&build_body(&req, "gpt-4o-mini", &defaults)).unwrap();
        assert_eq!(
            out,
            json!({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],
                   "temperature":0.2,"vendor_x":[1,2],"max_tokens":50})
        );
    }

    #[test]
    fn azure_ai_key_header_and_api_version() {
        let req =
            CanonicalRequest::parse(Endpoint::ChatCompletions, br#"{"model":"g","messages":[]}"#)
                .unwrap();
        let empty = Map::new();
        let target = |base_path, api_version| Target {
            provider: Provider::AzureAi,
            model: "m",
            base_path,
            api_key: Some("k"),
            api_version,
            defaults: &empty,
            drop_params: false,
            internal: &empty,
        };
        let foundry = build(&req, &target("/models", Some("2024-05-01-preview")));
        assert_eq!(
            foundry.path,
            "/models/chat/completions?api-version=2024-05-01-preview"
        );
        assert!(foundry.headers.contains(&("api-key", "k".to_string())));
        assert!(!foundry.headers.iter().any(|(h, _)| *h == "authorization"));
        let serverless = build(&req, &target("", None));
        assert_eq!(serverless.path, "/chat/completions");
        assert!(serverless
            .headers
            .contains(&("authorization", "Bearer k".to_string())));
    }

    #[test]
    fn reasoning_models_get_max_completion_tokens() {
        let req = CanonicalRequest::parse(
            Endpoint::ChatCompletions,
            br#"{"model":"g","messages":[],"max_tokens":9}"#,
        )
        .unwrap();
        let defaults = Map::new();
        let internal = Map::new();
        let target = |model| Target {
            provider: crate::provider::Provider::OpenAi,
            model,
            base_path: "/v1",
            api_key: Some("k"),
            api_version: None,
            defaults: &defaults,
            drop_params: false,
            internal: &internal,
        };
        let body =
            |model| -> Value { serde_json::from_slice(&build(&req, &target(model)).body).unwrap() };
        for m in ["o1", "o3-mini", "o4-mini-2025-04-16"] {
            assert_eq!(body(m)["max_completion_tokens"], 9, "{m}");
            assert!(body(m).get("max_tokens").is_none(), "{m}");
        }
        for m in ["gpt-4o", "gpt-4o-mini", "omni"] {
            assert_eq!(body(m)["max_tokens"], 9, "{m}");
        }
    }
}
