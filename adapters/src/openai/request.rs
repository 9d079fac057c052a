//! Canonical request → OpenAI-compatible upstream body: the deployment's own model name, the
//! deployment's default params where the client set none, every other field untouched.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::dialect::{ProviderRequest, Target};
use crate::request::CanonicalRequest;

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
    if let Some(key) = t.api_key {
        headers.push(("authorization", format!("Bearer {key}")));
    }
    ProviderRequest {
        path: format!("{}{}", t.base_path, req.endpoint.path()),
        headers,
        body: build_body(req, t.model, t.defaults),
    }
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
    };
    serde_json::to_vec(&merged).expect("serializing JSON values cannot fail")
}

/// Serializes the client's body with `model` replaced and missing defaults added, without
/// cloning the body.
struct Merged<'a> {
    body: &'a Map<String, Value>,
    model: &'a str,
    defaults: &'a Map<String, Value>,
}

impl Serialize for Merged<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("model", self.model)?;
        for (k, v) in self.body {
            if k != "model" {
                map.serialize_entry(k, v)?;
            }
        }
        for (k, v) in self.defaults {
            if k != "model" && !self.body.contains_key(k) {
                map.serialize_entry(k, v)?;
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
}
