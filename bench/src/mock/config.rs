//! Mock behaviour: the server-wide [`MockConfig`], the per-request `"mock"` override object, and
//! the [`Plan`] that merges the two for one request.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// How the mock provider behaves. Change it at runtime with
/// [`MockServer::set_config`](super::MockServer::set_config); override it for a single request
/// with a `"mock"` object in the JSON body (see [`MockOverride`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockConfig {
    /// Delay before the response headers are sent (applies to errors too).
    pub latency: Duration,
    /// Number of SSE content events in a streamed response. `content` is split into this many
    /// pieces whose concatenation is `content`; 0 sends no content events.
    pub chunks: usize,
    /// Pause before each SSE content event.
    pub chunk_interval: Duration,
    /// The assistant text (chat) or completion text (legacy completions).
    pub content: String,
    /// Force this HTTP status for every API request, with an OpenAI-shaped error body.
    pub status: Option<u16>,
    /// `error.message` of forced errors (default: `mock provider: forced HTTP <status>`).
    pub error_message: Option<String>,
    /// `error.type` of forced errors (default derived from the status, as OpenAI does).
    pub error_type: Option<String>,
    /// `error.code` of forced errors (default derived from the status).
    pub error_code: Option<String>,
    /// Streams only: after this many content events, break the connection without finishing
    /// the response (no finish chunk, no `[DONE]`, no terminating HTTP chunk).
    pub fail_after_chunks: Option<usize>,
    /// Reported `usage.prompt_tokens` (default: request body length / 4, rounded up).
    pub prompt_tokens: Option<u64>,
    /// Reported `usage.completion_tokens` of one choice (default: whitespace-separated words
    /// sent); OpenAI-dialect answers multiply it by the completions generated (`n`, `best_of`).
    pub completion_tokens: Option<u64>,
    /// Extra response headers added to every response (e.g. `retry-after`).
    pub headers: Vec<(String, String)>,
    /// Model ids listed by `GET /models`.
    pub models: Vec<String>,
    /// Length of each embedding vector when the request has no `dimensions`.
    pub embedding_dims: usize,
    /// Keep the last 64 requests for [`MockServer::requests`](super::MockServer::requests).
    /// Turn off for load tests (the `mock-provider` binary does).
    pub record_requests: bool,
    /// Answer chat requests with this tool call instead of text, in every dialect (OpenAI
    /// `tool_calls`, Anthropic `tool_use`, Gemini `functionCall`, Ollama `tool_calls`, Cohere
    /// `tool_calls`, Bedrock `toolUse`, Responses `function_call`). Legacy completions, `/api/generate` and embeddings
    /// ignore it.
    pub tool_call: Option<MockToolCall>,
    /// With [`MockConfig::tool_call`]: answer with the tool call only when the request body
    /// contains this text and no tool result yet (OpenAI `tool_call_id`, Anthropic
    /// `tool_result`, Responses `function_call_output`, Gemini `functionResponse`, Bedrock
    /// `toolResult`, Cohere `tool_results`); otherwise answer with text. One tool-call round
    /// trip of a real agent (a coding CLI) can be scripted this way.
    pub tool_call_trigger: Option<String>,
    /// Anthropic and Bedrock streams only: after this many content deltas, send an in-stream
    /// error (Anthropic: `event: error`, `overloaded_error`; Bedrock: an exception frame,
    /// `throttlingException`; or [`MockConfig::error_type`]/[`MockConfig::error_message`]) and
    /// end the response cleanly (no `message_stop`/`messageStop`). Other dialects ignore it.
    pub stream_error_after_chunks: Option<usize>,
    /// Gemini Vertex routes accept only `authorization: Bearer ya29.mock-<n>` tokens this mock
    /// issued from `POST /token` (else 401 `UNAUTHENTICATED`). Off: any bearer token will do.
    pub require_oauth_token: bool,
}

/// A tool call the mock answers with (see [`MockConfig::tool_call`]).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MockToolCall {
    /// The function name.
    pub name: String,
    /// The arguments as JSON text, e.g. `{"city":"Paris"}`. Anthropic, Gemini, Ollama and
    /// Bedrock carry them as a JSON object, so there it must parse as one (else the mock answers
    /// a 400); OpenAI and Cohere carry the text as is. Streams split it into fragments.
    pub arguments: String,
}

impl MockToolCall {
    /// A tool call named `name` with `arguments` (JSON text).
    pub fn new(name: impl Into<String>, arguments: impl Into<String>) -> Self {
        MockToolCall {
            name: name.into(),
            arguments: arguments.into(),
        }
    }
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            latency: Duration::ZERO,
            chunks: 5,
            chunk_interval: Duration::ZERO,
            content: "Hello from the mock provider.".to_owned(),
            status: None,
            error_message: None,
            error_type: None,
            error_code: None,
            fail_after_chunks: None,
            prompt_tokens: None,
            completion_tokens: None,
            headers: Vec::new(),
            models: vec!["mock-model".to_owned()],
            embedding_dims: 8,
            record_requests: true,
            tool_call: None,
            tool_call_trigger: None,
            stream_error_after_chunks: None,
            require_oauth_token: false,
        }
    }
}

/// The `"mock"` field of a request body: overrides [`MockConfig`] for that one request. The
/// gateway forwards unknown request fields untouched, so e2e tests can script single requests:
/// `{"model": "m", "messages": [...], "mock": {"status": 503, "latency_ms": 200}}`.
/// Unknown fields are rejected with a 400 so that a typo does not silently test nothing.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MockOverride {
    /// See [`MockConfig::status`].
    pub status: Option<u16>,
    /// See [`MockConfig::latency`], in milliseconds.
    pub latency_ms: Option<u64>,
    /// See [`MockConfig::chunks`].
    pub chunks: Option<usize>,
    /// See [`MockConfig::chunk_interval`], in milliseconds.
    pub chunk_interval_ms: Option<u64>,
    /// See [`MockConfig::content`].
    pub content: Option<String>,
    /// See [`MockConfig::error_message`].
    pub error_message: Option<String>,
    /// See [`MockConfig::error_type`].
    pub error_type: Option<String>,
    /// See [`MockConfig::error_code`].
    pub error_code: Option<String>,
    /// See [`MockConfig::fail_after_chunks`].
    pub fail_after_chunks: Option<usize>,
    /// See [`MockConfig::prompt_tokens`].
    pub prompt_tokens: Option<u64>,
    /// See [`MockConfig::completion_tokens`].
    pub completion_tokens: Option<u64>,
    /// Extra response headers, added after [`MockConfig::headers`].
    pub headers: Option<BTreeMap<String, String>>,
    /// See [`MockConfig::tool_call`]: `{"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}`.
    pub tool_call: Option<MockToolCall>,
    /// See [`MockConfig::stream_error_after_chunks`].
    pub stream_error_after_chunks: Option<usize>,
}

/// Markers of a tool result in a request body, in every dialect the mock speaks.
const TOOL_RESULT_MARKERS: &[&[u8]] = &[
    b"\"tool_call_id\"",
    b"\"tool_result\"",
    b"\"function_call_output\"",
    b"\"functionResponse\"",
    b"\"toolResult\"",
    b"\"tool_results\"",
];

/// Whether a request with `body` gets the configured tool call, under
/// [`MockConfig::tool_call_trigger`].
pub(crate) fn triggers_tool_call(trigger: &str, body: &[u8]) -> bool {
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    has(trigger.as_bytes()) && !TOOL_RESULT_MARKERS.iter().any(|m| has(m))
}

/// What to do for one request: the server config with the request's override applied.
pub(crate) struct Plan<'a> {
    pub latency: Duration,
    pub chunks: usize,
    pub chunk_interval: Duration,
    pub content: &'a str,
    pub status: Option<u16>,
    pub error_message: Option<&'a str>,
    pub error_type: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub fail_after_chunks: Option<usize>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub headers: Vec<(&'a str, &'a str)>,
    pub tool_call: Option<&'a MockToolCall>,
    pub stream_error_after_chunks: Option<usize>,
}

impl<'a> Plan<'a> {
    /// Merges `cfg` with `ov`; `forced` (from [`MockServer::fail_next`](super::MockServer::fail_next))
    /// wins over both.
    pub fn new(cfg: &'a MockConfig, ov: Option<&'a MockOverride>, forced: Option<u16>) -> Self {
        let mut plan = Plan {
            latency: cfg.latency,
            chunks: cfg.chunks,
            chunk_interval: cfg.chunk_interval,
            content: &cfg.content,
            status: cfg.status,
            error_message: cfg.error_message.as_deref(),
            error_type: cfg.error_type.as_deref(),
            error_code: cfg.error_code.as_deref(),
            fail_after_chunks: cfg.fail_after_chunks,
            prompt_tokens: cfg.prompt_tokens,
            completion_tokens: cfg.completion_tokens,
            headers: cfg
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            tool_call: cfg.tool_call.as_ref(),
            stream_error_after_chunks: cfg.stream_error_after_chunks,
        };
        if let Some(ov) = ov {
            if let Some(ms) = ov.latency_ms {
                plan.latency = Duration::from_millis(ms);
            }
            if let Some(ms) = ov.chunk_interval_ms {
                plan.chunk_interval = Duration::from_millis(ms);
            }
            plan.chunks = ov.chunks.unwrap_or(plan.chunks);
            plan.content = ov.content.as_deref().unwrap_or(plan.content);
            plan.status = ov.status.or(plan.status);
            plan.error_message = ov.error_message.as_deref().or(plan.error_message);
            plan.error_type = ov.error_type.as_deref().or(plan.error_type);
            plan.error_code = ov.error_code.as_deref().or(plan.error_code);
            plan.fail_after_chunks = ov.fail_after_chunks.or(plan.fail_after_chunks);
            plan.prompt_tokens = ov.prompt_tokens.or(plan.prompt_tokens);
            plan.completion_tokens = ov.completion_tokens.or(plan.completion_tokens);
            plan.tool_call = ov.tool_call.as_ref().or(plan.tool_call);
            plan.stream_error_after_chunks = ov
                .stream_error_after_chunks
                .or(plan.stream_error_after_chunks);
            if let Some(h) = &ov.headers {
                plan.headers
                    .extend(h.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            }
        }
        if forced.is_some() {
            plan.status = forced;
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_wins_over_config_and_forced_wins_over_both() {
        let cfg = MockConfig {
            status: Some(500),
            ..MockConfig::default()
        };
        let ov: MockOverride =
            serde_json::from_str(r#"{"status": 429, "latency_ms": 7, "content": "x"}"#).unwrap();
        let plan = Plan::new(&cfg, Some(&ov), None);
        assert_eq!(plan.status, Some(429));
        assert_eq!(plan.latency, Duration::from_millis(7));
        assert_eq!(plan.content, "x");
        assert_eq!(plan.chunks, 5);
        assert_eq!(Plan::new(&cfg, Some(&ov), Some(503)).status, Some(503));
    }

    #[test]
    fn a_trigger_asks_for_the_tool_until_a_result_comes_back() {
        let t = "run the tool";
        assert!(triggers_tool_call(
            t,
            br#"{"messages":[{"role":"user","content":"please run the tool"}]}"#
        ));
        assert!(!triggers_tool_call(
            t,
            br#"{"messages":[{"role":"user","content":"hello"}]}"#
        ));
        assert!(!triggers_tool_call(t, br#"{"messages":[{"role":"user","content":"run the tool"},{"role":"tool","tool_call_id":"c1","content":"ok"}]}"#));
        assert!(!triggers_tool_call(t, br#"{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"ok"}]}],"system":"run the tool"}"#));
        assert!(!triggers_tool_call(t, br#"{"input":[{"type":"function_call_output","call_id":"c","output":"ok"}],"instructions":"run the tool"}"#));
    }

    #[test]
    fn tool_call_override_parses_and_wins() {
        let cfg = MockConfig {
            tool_call: Some(MockToolCall::new("a", "{}")),
            ..MockConfig::default()
        };
        assert_eq!(Plan::new(&cfg, None, None).tool_call.unwrap().name, "a");
        let ov: MockOverride = serde_json::from_str(
            r#"{"tool_call": {"name": "b", "arguments": "{\"x\":1}"}, "stream_error_after_chunks": 2}"#,
        )
        .unwrap();
        let plan = Plan::new(&cfg, Some(&ov), None);
        assert_eq!(plan.tool_call, Some(&MockToolCall::new("b", r#"{"x":1}"#)));
        assert_eq!(plan.stream_error_after_chunks, Some(2));
        let err =
            serde_json::from_str::<MockOverride>(r#"{"tool_call": {"name": "b"}}"#).unwrap_err();
        assert!(err.to_string().contains("arguments"), "{err}");
    }

    #[test]
    fn unknown_override_field_is_rejected() {
        let err = serde_json::from_str::<MockOverride>(r#"{"stauts": 503}"#).unwrap_err();
        assert!(err.to_string().contains("stauts"), "{err}");
    }
}
