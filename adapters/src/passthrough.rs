//! Provider pass-through (`/anthropic/*`, `/gemini/*`, `/openai/*`, … — LiteLLM's
//! "pass-through endpoints"): which path prefix stands for which provider, the model a native
//! request names (body `model`, or the path's `models/{m}:…`, `model/{m}/…`,
//! `deployments/{d}/…`), the header a provider's credential goes in, and the usage a native
//! answer reports (a whole body, or a stream scanned event by event). The gateway relays the
//! request and the answer untouched; this is everything it needs to know about the provider.

use bytes::Bytes;
use serde_json::Value;

use crate::openai::response::Usage;
use crate::provider::{Auth, Dialect, Provider};
use crate::sse::{event_data, SseSplitter};

/// The pass-through path prefixes, as LiteLLM names them (`/vertex_ai/…`, not `/vertex-ai/…`).
pub const ROUTES: &[(&str, Provider)] = &[
    ("openai", Provider::OpenAi),
    ("anthropic", Provider::Anthropic),
    ("gemini", Provider::Gemini),
    ("vertex_ai", Provider::VertexAi),
    ("bedrock", Provider::Bedrock),
    ("azure", Provider::Azure),
    ("cohere", Provider::Cohere),
    ("mistral", Provider::Mistral),
];

/// The provider a pass-through path is for, and the provider's own path (`/anthropic/v1/messages`
/// → Anthropic, `/v1/messages`). The bare prefix (`/anthropic`) is the provider's root, `/`.
pub fn route_of(path: &str) -> Option<(Provider, &str)> {
    let rest = path.strip_prefix('/')?;
    let (prefix, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    ROUTES
        .iter()
        .find(|(p, _)| *p == prefix)
        .map(|(_, provider)| (*provider, tail))
}

/// The upstream path for the provider's own `path` below a deployment's `base_path`: appended,
/// unless the client's path already starts with it (an `openai/` deployment's base is
/// `…/v1`, and the OpenAI SDK's path at `…/openai/v1` is `/v1/chat/completions`).
pub fn upstream_path(base_path: &str, path: &str) -> String {
    let base = base_path.trim_end_matches('/');
    if base.is_empty()
        || path == base
        || path
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
    {
        path.to_string()
    } else {
        format!("{base}{path}")
    }
}

/// What the gateway reads of a native request before passing it on, for admission and spend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Native {
    /// The model it names: the body's `model` (OpenAI, Anthropic, Cohere, Mistral), else the
    /// path's (Gemini and Vertex `…/models/{model}:generateContent`, Bedrock
    /// `/model/{model}/converse`, Azure `/openai/deployments/{deployment}/…`).
    pub model: Option<String>,
    /// The output bound it asks for (`max_tokens`, `max_completion_tokens`,
    /// `generationConfig.maxOutputTokens`, Bedrock's `inferenceConfig.maxTokens`).
    pub max_tokens: Option<u64>,
    /// The end user (`user`, Anthropic's `metadata.user_id`).
    pub user: Option<String>,
}

/// Reads [`Native`] from a native request's provider path and body (a JSON object, else only
/// the path is read).
pub fn read(path: &str, body: &[u8]) -> Native {
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Bound {
        max_output_tokens: Option<u64>,
        max_tokens: Option<u64>,
    }
    #[derive(serde::Deserialize, Default)]
    struct Fields {
        model: Option<String>,
        max_tokens: Option<u64>,
        max_completion_tokens: Option<u64>,
        user: Option<String>,
        metadata: Option<Value>,
        #[serde(rename = "generationConfig")]
        generation_config: Option<Bound>,
        #[serde(rename = "inferenceConfig")]
        inference_config: Option<Bound>,
    }
    let json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let f: Fields = if json {
        serde_json::from_slice(body).unwrap_or_default()
    } else {
        Fields::default()
    };
    let max_tokens = f
        .max_completion_tokens
        .or(f.max_tokens)
        .or(f.generation_config.and_then(|g| g.max_output_tokens))
        .or(f.inference_config.and_then(|g| g.max_tokens));
    let user = f.user.or_else(|| {
        f.metadata
            .as_ref()
            .and_then(|m| m.get("user_id"))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    // The path's model wins: a request naming one there is sent on before its body is read.
    let model = path_model(path).or_else(|| f.model.filter(|m| !m.is_empty()));
    Native {
        model,
        max_tokens,
        user,
    }
}

/// The top-level body fields [`read`] looks at: all a streamed request's head is scanned for
/// (`json_head`).
pub const READ_FIELDS: &[&str] = &[
    "model",
    "max_tokens",
    "max_completion_tokens",
    "user",
    "metadata",
    "generationConfig",
    "inferenceConfig",
];

/// Whether the provider path names the model (Gemini and Vertex `models/{m}:…`, Bedrock
/// `model/{m}/…`, Azure `deployments/{d}/…`): its body need not be read for it.
pub fn path_names_model(path: &str) -> bool {
    path_model(path).is_some()
}

/// Whether a request to `provider` must be read whole before it is sent: an AWS Signature V4
/// covers the SHA-256 of the payload (Bedrock takes no `UNSIGNED-PAYLOAD`, an S3-only
/// convention), so the body is hashed before the first byte goes.
pub fn needs_whole_body(provider: Provider) -> bool {
    provider.dialect().auth() == Auth::AwsSigV4
}

/// The gateway's own error (auth, limits, size) on `provider`'s pass-through route, in the
/// shape that provider's SDK reads — Anthropic's `{"type":"error","error":{type,message}}`,
/// Google's `{"error":{code,message,status}}`, AWS's top-level `message` — each a superset of
/// the OpenAI shape `{"error":{message,type,param,code}}` LiteLLM answers with, so clients of
/// either read it.
pub fn error_body(provider: Provider, err: &crate::ApiError) -> Vec<u8> {
    let mut inner = serde_json::json!({
        "message": err.message,
        "type": err.kind,
        "param": err.param,
        "code": err.code,
    });
    let out = match provider.dialect() {
        Dialect::Anthropic => {
            inner["type"] = Value::String(anthropic_error_type(err.status).into());
            serde_json::json!({"type": "error", "error": inner})
        }
        Dialect::Gemini | Dialect::VertexAi => {
            inner["code"] = err.status.into();
            inner["status"] = Value::String(google_status(err.status).into());
            serde_json::json!({"error": inner})
        }
        Dialect::Bedrock => serde_json::json!({"message": err.message, "error": inner}),
        _ => serde_json::json!({"error": inner}),
    };
    serde_json::to_vec(&out).expect("a JSON value serializes")
}

fn anthropic_error_type(status: u16) -> &'static str {
    match status {
        400 | 405 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 | 503 => "overloaded_error",
        _ => "api_error",
    }
}

fn google_status(status: u16) -> &'static str {
    match status {
        400 | 405 | 413 | 422 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

fn path_model(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    for (i, s) in segments.iter().enumerate() {
        let Some(next) = segments.get(i + 1).copied().filter(|n| !n.is_empty()) else {
            continue;
        };
        match *s {
            "models" => return Some(next.split(':').next().unwrap_or(next).to_string()),
            "model" | "deployments" => return Some(percent_decoded(next)),
            _ => {}
        }
    }
    None
}

fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// How the provider's credential goes on a passed-through request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// This header, with this value.
    Header(&'static str, String),
    /// An AWS Signature Version 4 over the request (`dialect::sign`).
    Signature,
    /// The provider takes no credential.
    None,
}

/// Where `provider`'s credential `key` (an API key, or a Google OAuth access token) goes.
pub fn credential(provider: Provider, key: Option<&str>) -> Credential {
    let dialect = provider.dialect();
    if dialect.auth() == Auth::AwsSigV4 {
        return Credential::Signature;
    }
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Credential::None;
    };
    match dialect {
        Dialect::Anthropic => Credential::Header("x-api-key", key.to_string()),
        Dialect::Azure => Credential::Header("api-key", key.to_string()),
        Dialect::Gemini => Credential::Header("x-goog-api-key", key.to_string()),
        Dialect::OpenAi
        | Dialect::VertexAi
        | Dialect::Cohere
        | Dialect::Ollama
        | Dialect::OllamaChat
        | Dialect::Bedrock => Credential::Header("authorization", format!("Bearer {key}")),
    }
}

/// The headers a client may carry its (gateway) key in: never passed on to the provider.
pub const CLIENT_KEY_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "x-litellm-api-key",
];

/// The usage a native answer reports, in whichever provider's shape: OpenAI
/// (`usage.prompt_tokens`), Anthropic (`usage.input_tokens`, also under `message` in a
/// stream's `message_start`), Gemini (`usageMetadata`), Bedrock Converse
/// (`usage.inputTokens`), Cohere v2 (`usage.tokens` / `usage.billed_units`).
pub fn usage_of(body: &[u8]) -> Option<Usage> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let mut u = Usage::default();
    merge(&mut u, &v).then_some(u)
}

fn n(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(Value::as_u64)
}

/// Raises `u`'s counts to what `v` reports (streams repeat or grow their counts); whether `v`
/// reported any.
fn merge(u: &mut Usage, v: &Value) -> bool {
    let mut seen = false;
    let mut raise = |field: &mut u64, value: Option<u64>| {
        if let Some(x) = value {
            *field = (*field).max(x);
            seen = true;
        }
    };
    if let Some(m) = v.get("usageMetadata") {
        let out = n(m, "candidatesTokenCount").map(|c| c + n(m, "thoughtsTokenCount").unwrap_or(0));
        raise(&mut u.prompt_tokens, n(m, "promptTokenCount"));
        raise(&mut u.completion_tokens, out);
        raise(&mut u.cache_read_tokens, n(m, "cachedContentTokenCount"));
    }
    let usage = v
        .get("usage")
        .or_else(|| v.get("message").and_then(|m| m.get("usage")))
        .filter(|x| x.is_object());
    if let Some(us) = usage {
        // Anthropic counts cached prompt tokens apart from `input_tokens`.
        let cache_read = n(us, "cache_read_input_tokens");
        let cache_write = n(us, "cache_creation_input_tokens");
        let anthropic_in =
            n(us, "input_tokens").map(|i| i + cache_read.unwrap_or(0) + cache_write.unwrap_or(0));
        let cohere = us.get("tokens").or_else(|| us.get("billed_units"));
        raise(
            &mut u.prompt_tokens,
            n(us, "prompt_tokens")
                .or(anthropic_in)
                .or_else(|| n(us, "inputTokens"))
                .or_else(|| cohere.and_then(|c| n(c, "input_tokens"))),
        );
        raise(
            &mut u.completion_tokens,
            n(us, "completion_tokens")
                .or_else(|| n(us, "output_tokens"))
                .or_else(|| n(us, "outputTokens"))
                .or_else(|| cohere.and_then(|c| n(c, "output_tokens"))),
        );
        raise(&mut u.cache_read_tokens, cache_read);
        raise(&mut u.cache_write_tokens, cache_write);
        if let Some(cached) = us
            .get("prompt_tokens_details")
            .and_then(|d| n(d, "cached_tokens"))
        {
            raise(&mut u.cache_read_tokens, Some(cached));
        }
    }
    u.total_tokens = u.prompt_tokens + u.completion_tokens;
    seen
}

/// Watches a streamed native answer (server-sent events) for its usage as it is relayed: only
/// events that mention usage are parsed.
#[derive(Default)]
pub struct StreamUsage {
    splitter: SseSplitter,
    usage: Option<Usage>,
}

impl StreamUsage {
    pub fn new() -> Self {
        StreamUsage::default()
    }

    /// Feeds the next bytes of the stream, split anywhere.
    pub fn push(&mut self, chunk: &[u8]) {
        self.splitter.push(chunk);
        while let Some(event) = self.splitter.next_event() {
            self.scan(&event);
        }
    }

    fn scan(&mut self, event: &Bytes) {
        let finder = |needle: &[u8]| memchr::memmem::find(event, needle).is_some();
        if !finder(b"usage") && !finder(b"usageMetadata") {
            return;
        }
        let Some(data) = event_data(event) else {
            return;
        };
        if let Ok(v) = serde_json::from_slice::<Value>(&data) {
            let u = self.usage.get_or_insert_with(Usage::default);
            if !merge(u, &v) && *u == Usage::default() {
                self.usage = None;
            }
        }
    }

    /// The usage reported so far (the end of the stream: all of it).
    pub fn usage(&mut self) -> Option<Usage> {
        if let Some(rest) = self.splitter.take_remainder() {
            self.scan(&rest);
        }
        self.usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_paths() {
        assert_eq!(
            route_of("/anthropic/v1/messages"),
            Some((Provider::Anthropic, "/v1/messages"))
        );
        assert_eq!(route_of("/gemini"), Some((Provider::Gemini, "/")));
        assert_eq!(route_of("/vertex-ai/x"), None);
        assert_eq!(
            upstream_path("/v1", "/v1/chat/completions"),
            "/v1/chat/completions"
        );
        assert_eq!(
            upstream_path("/v1", "/chat/completions"),
            "/v1/chat/completions"
        );
        assert_eq!(upstream_path("", "/v1/messages"), "/v1/messages");
        assert_eq!(upstream_path("/v1", "/v1beta/models"), "/v1/v1beta/models");
    }

    #[test]
    fn the_model_from_the_body_or_the_path() {
        let model = |path: &str, body: &[u8]| read(path, body).model;
        let r = read(
            "/v1/messages",
            br#"{"model":"claude-x","max_tokens":9,"metadata":{"user_id":"u"}}"#,
        );
        assert_eq!(
            r,
            Native {
                model: Some("claude-x".into()),
                max_tokens: Some(9),
                user: Some("u".into())
            }
        );
        let g = read(
            "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
            br#"{"generationConfig":{"maxOutputTokens":5}}"#,
        );
        assert_eq!(
            (g.model.as_deref(), g.max_tokens),
            (Some("gemini-2.0-flash"), Some(5))
        );
        assert_eq!(
            model("/model/anthropic.claude-v2%3A1/converse", b"").as_deref(),
            Some("anthropic.claude-v2:1")
        );
        assert_eq!(
            model("/openai/deployments/gpt4/chat/completions", b"{}").as_deref(),
            Some("gpt4")
        );
        assert_eq!(model("/v1/models", b""), None);
        assert_eq!(
            model(
                "/v1beta/models/g-1:generateContent",
                br#"{"model":"other"}"#
            )
            .as_deref(),
            Some("g-1"),
            "the path's model wins"
        );
        assert!(path_names_model("/model/m/invoke") && !path_names_model("/v1/messages"));
        assert_eq!(model("/v1/models/", b"not json"), None);
    }

    #[test]
    fn credentials_by_dialect() {
        assert_eq!(
            credential(Provider::Anthropic, Some("k")),
            Credential::Header("x-api-key", "k".into())
        );
        assert_eq!(
            credential(Provider::Gemini, Some("k")),
            Credential::Header("x-goog-api-key", "k".into())
        );
        assert_eq!(
            credential(Provider::Mistral, Some("k")),
            Credential::Header("authorization", "Bearer k".into())
        );
        assert_eq!(credential(Provider::Bedrock, None), Credential::Signature);
        assert_eq!(credential(Provider::OpenAi, None), Credential::None);
    }

    #[test]
    fn errors_in_each_provider_s_shape_and_openai_s() {
        let e = crate::ApiError::new(413, "invalid_request_error", "too big").with_code("413");
        let v = |p| serde_json::from_slice::<Value>(&error_body(p, &e)).unwrap();
        let a = v(Provider::Anthropic);
        assert_eq!(
            (a["type"].as_str(), a["error"]["type"].as_str()),
            (Some("error"), Some("request_too_large"))
        );
        let g = v(Provider::Gemini);
        assert_eq!(
            (g["error"]["code"].as_u64(), g["error"]["status"].as_str()),
            (Some(413), Some("INVALID_ARGUMENT"))
        );
        assert_eq!(v(Provider::Bedrock)["message"], "too big");
        for p in [
            Provider::Anthropic,
            Provider::Gemini,
            Provider::Bedrock,
            Provider::OpenAi,
        ] {
            let x = v(p);
            for f in ["message", "type", "param", "code"] {
                assert!(x["error"].get(f).is_some(), "{p:?} {f}");
            }
        }
        assert!(needs_whole_body(Provider::Bedrock) && !needs_whole_body(Provider::VertexAi));
    }

    #[test]
    fn usage_in_every_shape() {
        let u = usage_of(br#"{"usage":{"prompt_tokens":3,"completion_tokens":4}}"#).unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (3, 4));
        let u = usage_of(
            br#"{"usage":{"input_tokens":3,"output_tokens":4,"cache_read_input_tokens":10}}"#,
        )
        .unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.cache_read_tokens),
            (13, 4, 10)
        );
        let u = usage_of(br#"{"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":6,"thoughtsTokenCount":1}}"#).unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (5, 7));
        let u = usage_of(br#"{"usage":{"inputTokens":2,"outputTokens":9}}"#).unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (2, 9));
        assert!(usage_of(br#"{"id":"x"}"#).is_none());
    }

    #[test]
    fn stream_usage_at_every_split() {
        let stream = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"hi\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":12}}\n\n";
        for cut in 0..stream.len() {
            let mut s = StreamUsage::new();
            s.push(&stream[..cut]);
            s.push(&stream[cut..]);
            let u = s.usage().unwrap();
            assert_eq!((u.prompt_tokens, u.completion_tokens), (7, 12), "cut {cut}");
        }
        let mut s = StreamUsage::new();
        s.push(b"data: {\"candidates\":[]}\n\ndata: {\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":2}}\n\n");
        assert_eq!(s.usage().unwrap().completion_tokens, 2);
        let mut s = StreamUsage::new();
        s.push(b"data: {\"choices\":[]}\n\ndata: [DONE]\n\n");
        assert!(s.usage().is_none());
    }
}
