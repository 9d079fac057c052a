//! The `/v1/messages` door's pass-through half: the few fields the gateway reads before routing
//! (model, stream, max_tokens, end user), the client's body with only `model` replaced for an
//! Anthropic deployment and the request carrying it there, the usage of a Message or stream relayed as the provider sent it, and
//! the `count_tokens` estimate. Nothing here refuses what it does not know.

use bytes::BytesMut;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::front::{bad, parse_object, required_model};
use super::response::usage;
use super::wire::{AnthropicUsage, StreamEvent, API_VERSION};
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::request::{CanonicalRequest, Endpoint};
use crate::sse::{event_data, SseSplitter};
use crate::target::{ProviderRequest, Target};
use crate::tokens::BYTES_PER_TOKEN;

/// LiteLLM's per-request routing fields, read by the gateway (never translated).
const ROUTING_FIELDS: [&str; 4] = ["metadata", "tags", "fallbacks", "disable_fallbacks"];

/// Reads a `/v1/messages` body once: the parsed object, and a minimal canonical view of it for
/// admission and routing — `model`, `max_tokens`, `stream`, `user` (from `metadata.user_id`)
/// and LiteLLM's routing fields. Checks only what Anthropic itself requires (a JSON object, a
/// `model`, a `messages` array, a `max_tokens` integer, a boolean `stream`); roles, content
/// blocks and parameters are left to the deployment (or to [`super::front::translate`]).
pub fn read(body: &[u8]) -> Result<(CanonicalRequest, Map<String, Value>), ApiError> {
    let raw = parse_object(body)?;
    let model = required_model(&raw)?;
    if !raw.get("messages").is_some_and(Value::is_array) {
        return Err(bad(
            "messages",
            "messages: Field required (an array of messages)",
        ));
    }
    let max_tokens = match raw.get("max_tokens") {
        Some(n @ Value::Number(_)) if n.is_u64() => n.clone(),
        _ => {
            return Err(bad(
                "max_tokens",
                "max_tokens: Field required (a non-negative integer)",
            ))
        }
    };
    let stream = match raw.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("stream", "stream: Input should be a valid boolean")),
    };
    let mut view = Map::with_capacity(8);
    view.insert("model".into(), Value::String(model.clone()));
    view.insert("max_tokens".into(), max_tokens);
    if stream {
        view.insert("stream".into(), Value::Bool(true));
    }
    if let Some(user) = raw
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
    {
        view.insert("user".into(), json!(user));
    }
    for key in ROUTING_FIELDS {
        if let Some(v) = raw.get(key) {
            view.insert(key.into(), v.clone());
        }
    }
    let view = CanonicalRequest {
        endpoint: Endpoint::ChatCompletions,
        model,
        stream,
        include_usage: stream,
        body: view,
    };
    Ok((view, raw))
}

/// The pass-through request for an Anthropic deployment: `body` at `{base_path}/v1/messages`
/// with the client's `query` (`beta=true`), the client's `anthropic-version` (else
/// [`API_VERSION`]) and `anthropic-beta`, and the deployment's key as `x-api-key`.
pub fn request(
    t: &Target<'_>,
    body: Vec<u8>,
    query: Option<&str>,
    version: Option<String>,
    beta: Option<String>,
) -> ProviderRequest {
    let mut headers = vec![(
        "anthropic-version",
        version.unwrap_or_else(|| API_VERSION.to_string()),
    )];
    if let Some(beta) = beta {
        headers.push(("anthropic-beta", beta));
    }
    if let Some(key) = t.api_key {
        headers.push(("x-api-key", key.to_string()));
    }
    let path = match query {
        Some(q) => format!("{}/v1/messages?{q}", t.base_path),
        None => format!("{}/v1/messages", t.base_path),
    };
    ProviderRequest {
        path,
        headers,
        body,
    }
}

/// The client's body with only the value of its top-level `"model"` key replaced by
/// `upstream_model`; every other byte is kept as sent. `body` is valid JSON (see [`read`]).
pub fn with_model(body: &[u8], upstream_model: &str) -> Vec<u8> {
    let replacement = serde_json::to_vec(upstream_model).expect("strings serialize");
    let spans = model_value_spans(body);
    let mut out = Vec::with_capacity(body.len() + replacement.len());
    let mut at = 0;
    for (start, end) in spans {
        out.extend_from_slice(&body[at..start]);
        out.extend_from_slice(&replacement);
        at = end;
    }
    out.extend_from_slice(&body[at..]);
    out
}

/// Byte ranges of every string value of a top-level `"model"` key in valid JSON `b`.
fn model_value_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let (mut depth, mut expect_key, mut i) = (0usize, false, 0usize);
    while i < b.len() {
        match b[i] {
            b'"' => {
                let end = string_end(b, i);
                if depth == 1 && expect_key {
                    expect_key = false;
                    let key = &b[i..end];
                    let is_model = key == b"\"model\""
                        || (key.contains(&b'\\')
                            && serde_json::from_slice::<String>(key).is_ok_and(|k| k == "model"));
                    if is_model {
                        let mut j = end;
                        while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b':') {
                            j += 1;
                        }
                        if b.get(j) == Some(&b'"') {
                            let vend = string_end(b, j);
                            spans.push((j, vend));
                            i = vend;
                            continue;
                        }
                    }
                }
                i = end;
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                expect_key = depth == 1 && b[i] == b'{';
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => expect_key = true,
            _ => {}
        }
        i += 1;
    }
    spans
}

/// Index just past the closing quote of the JSON string starting at `b[start]`.
fn string_end(b: &[u8], start: usize) -> usize {
    let mut j = start + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// The usage of an Anthropic `Message` body, as canonical counts (prompt tokens include the
/// cache reads and writes). Every other field is skipped unread.
pub fn usage_of(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct WithUsage {
        #[serde(default)]
        usage: Option<AnthropicUsage>,
    }
    serde_json::from_slice::<WithUsage>(body)
        .ok()?
        .usage
        .as_ref()
        .map(usage)
}

/// An Anthropic SSE stream relayed unchanged, event by event: reads the usage
/// (`message_start`, then the cumulative `message_delta`), counts content deltas, and turns an
/// `error` event into an error (so nothing is lost if it comes before the first byte was sent).
#[derive(Debug, Default)]
pub struct NativeStream {
    splitter: SseSplitter,
    usage: Option<AnthropicUsage>,
    /// An event a client acts on arrived (a content block or the message's end).
    substance: bool,
    deltas: u64,
}

impl NativeStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds provider bytes split anywhere; appends every complete event to `out` unchanged.
    /// An `error` event is not appended: it is returned.
    pub fn push(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), ApiError> {
        self.splitter.push(input);
        while let Some(event) = self.splitter.next_event() {
            self.inspect(&event)?;
            out.extend_from_slice(&event);
        }
        Ok(())
    }

    /// The stream ended: whatever was left without a final blank line goes out as is.
    pub fn finish(&mut self, out: &mut BytesMut) {
        if let Some(rest) = self.splitter.take_remainder() {
            out.extend_from_slice(&rest);
        }
    }

    /// Usage seen so far.
    pub fn usage(&self) -> Option<Usage> {
        self.usage.as_ref().map(usage)
    }

    /// Whether an event a client acts on (content, a stop) has been relayed.
    pub fn substance(&self) -> bool {
        self.substance
    }

    /// `content_block_delta` events relayed (for an estimate when no usage came).
    pub fn content_events(&self) -> u64 {
        self.deltas
    }

    /// Bytes buffered and not yet relayed.
    pub fn buffered(&self) -> usize {
        self.splitter.buffered()
    }

    fn inspect(&mut self, event: &[u8]) -> Result<(), ApiError> {
        match event_name(event) {
            Some(b"content_block_delta") => {
                self.deltas += 1;
                self.substance = true;
                return Ok(());
            }
            Some(b"ping" | b"content_block_stop") => return Ok(()),
            Some(b"content_block_start" | b"message_stop") => {
                self.substance = true;
                return Ok(());
            }
            _ => {}
        }
        let Some(data) = event_data(event) else {
            return Ok(());
        };
        let data = data.trim_ascii();
        if data.is_empty() {
            return Ok(());
        }
        // message_start, message_delta, error, or an event without an `event:` line.
        match serde_json::from_slice::<StreamEvent>(data) {
            Ok(StreamEvent::MessageStart { message }) => self.usage = Some(message.usage),
            Ok(StreamEvent::MessageDelta { usage: u, .. }) => {
                self.substance = true;
                let total = self.usage.get_or_insert_with(AnthropicUsage::default);
                total.output_tokens = u.output_tokens;
                if let Some(n) = u.input_tokens {
                    total.input_tokens = n;
                }
                if let Some(n) = u.cache_read_input_tokens {
                    total.cache_read_input_tokens = Some(n);
                }
                if let Some(n) = u.cache_creation_input_tokens {
                    total.cache_creation_input_tokens = Some(n);
                }
            }
            Ok(StreamEvent::Error { .. }) => return Err(super::error::from_event(data)),
            Ok(StreamEvent::ContentBlockDelta { .. }) => {
                self.deltas += 1;
                self.substance = true;
            }
            Ok(StreamEvent::ContentBlockStart { .. } | StreamEvent::MessageStop) => {
                self.substance = true
            }
            // Event types added after this build pass through unread.
            Ok(_) | Err(_) => {}
        }
        Ok(())
    }
}

/// The value of an SSE event's `event:` line, if it has one.
fn event_name(event: &[u8]) -> Option<&[u8]> {
    event.split(|b| *b == b'\n').find_map(|line| {
        line.strip_prefix(b"event:")
            .map(|v| v.trim_ascii())
            .filter(|v| !v.is_empty())
    })
}

/// Tokens counted for one image: Anthropic bills about width×height/750, at most ~1600 for an
/// image within its size limits; the size is not decoded here, so the maximum is assumed.
const IMAGE_TOKENS: u64 = 1600;

/// `/v1/messages/count_tokens` → `{"input_tokens": N}`. An ESTIMATE, not the provider's
/// tokenizer: bytes of the text and JSON content (system, messages of any role, tool inputs and
/// results, tool definitions) / [`BYTES_PER_TOKEN`], plus [`IMAGE_TOKENS`] per image; at least 1.
pub fn count_tokens(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req = parse_object(body)?;
    required_model(&req)?;
    let Some(messages @ Value::Array(_)) = req.get("messages") else {
        return Err(bad(
            "messages",
            "messages: Field required (an array of messages)",
        ));
    };
    let (mut bytes, mut images) = (0u64, 0u64);
    if let Some(system) = req.get("system") {
        measure(system, &mut bytes, &mut images);
    }
    measure(messages, &mut bytes, &mut images);
    if let Some(tools) = req.get("tools").filter(|t| !t.is_null()) {
        bytes += serde_json::to_vec(tools).map_or(0, |v| v.len() as u64);
    }
    let tokens = (bytes.div_ceil(BYTES_PER_TOKEN) + images * IMAGE_TOKENS).max(1);
    Ok(serde_json::to_vec(&json!({"input_tokens": tokens})).expect("JSON values serialize"))
}

/// Adds the content bytes of messages / blocks / strings under `v` to `bytes`, counting images.
fn measure(v: &Value, bytes: &mut u64, images: &mut u64) {
    match v {
        Value::String(s) => *bytes += s.len() as u64,
        Value::Array(items) => items.iter().for_each(|i| measure(i, bytes, images)),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("image") => *images += 1,
            Some("text") => measure(&o["text"], bytes, images),
            Some("tool_use") => {
                *bytes += serde_json::to_vec(&o["input"]).map_or(0, |v| v.len() as u64)
            }
            Some("tool_result") => measure(&o["content"], bytes, images),
            Some("thinking") => measure(&o["thinking"], bytes, images),
            Some("document") => {
                *bytes += serde_json::to_vec(&o["source"]).map_or(0, |v| v.len() as u64)
            }
            Some(_) => {}
            None => {
                if let Some(c) = o.get("content") {
                    measure(c, bytes, images);
                }
            }
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_reads_only_what_routing_needs() {
        let body = br#"{"model":"g","max_tokens":9,"stream":true,"messages":[{"role":"system","content":"x"},{"role":"user","content":[{"type":"brand_new_block"}]}],"thinking":{"type":"adaptive"},"metadata":{"user_id":"{\"device_id\":\"d\"}"},"context_management":{"edits":[]}}"#;
        let (view, raw) = read(body).unwrap();
        assert_eq!((view.model.as_str(), view.stream), ("g", true));
        assert_eq!(view.body["max_tokens"], 9);
        assert_eq!(view.body["user"], r#"{"device_id":"d"}"#);
        assert!(!view.body.contains_key("messages"));
        assert!(raw.contains_key("context_management"));
        for (bad_body, param) in [
            (&br#"{"max_tokens":1,"messages":[]}"#[..], "model"),
            (br#"{"model":"g","max_tokens":1}"#, "messages"),
            (br#"{"model":"g","messages":[]}"#, "max_tokens"),
            (
                br#"{"model":"g","max_tokens":1,"messages":[],"stream":"y"}"#,
                "stream",
            ),
        ] {
            let e = read(bad_body).unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, Some(param)));
        }
    }

    #[test]
    fn native_streams_pass_through_with_usage_at_every_split() {
        let sse: &[u8] = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\nevent: brand_new_event\ndata: {\"type\":\"brand_new_event\"}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        for i in 0..=sse.len() {
            let mut s = NativeStream::new();
            let mut out = BytesMut::new();
            s.push(&sse[..i], &mut out).unwrap();
            s.push(&sse[i..], &mut out).unwrap();
            s.finish(&mut out);
            assert_eq!(&out[..], sse, "split at {i}");
            let u = s.usage().unwrap();
            assert_eq!((u.prompt_tokens, u.completion_tokens), (15, 7));
            assert_eq!(u.cache_read_tokens, 5);
            assert_eq!(s.content_events(), 1);
            assert!(s.substance());
        }
        let mut s = NativeStream::new();
        let mut out = BytesMut::new();
        s.push(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n", &mut out).unwrap();
        assert!(!s.substance(), "message_start alone is a preamble");
        let e = s
            .push(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n", &mut out)
            .unwrap_err();
        assert_eq!(e.message, "busy");
        assert!(
            !out.windows(5).any(|w| w == b"error"),
            "the error is returned, not relayed"
        );
    }

    #[test]
    fn message_usage_counts_cache_tokens_as_prompt() {
        let u = usage_of(br#"{"id":"m","content":[{"type":"text","text":"x"}],"usage":{"input_tokens":3,"cache_creation_input_tokens":4,"output_tokens":2}}"#).unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.cache_write_tokens),
            (7, 2, 4)
        );
        assert_eq!(usage_of(br#"{"choices":[]}"#), None);
    }
}
