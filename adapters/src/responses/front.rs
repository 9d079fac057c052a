//! The `/v1/responses` door's reading and pass-through half: the few fields the gateway reads
//! before routing ([`View`]), the body for a deployment that speaks Responses natively (OpenAI,
//! Azure) with only `model`, the carried-over conversation and the token budget changed, the
//! request's input and a response's output as stored items, a response's usage, and a scanner
//! that finds the final response in a native stream without altering it. Nothing here refuses
//! what it does not know.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::ids::new_id;
use crate::error::ApiError;
use crate::sse::{event_data, SseSplitter};

/// A 400 `invalid_request_error` naming `param`.
pub(crate) fn bad(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(400, "invalid_request_error", message).with_param(param)
}

/// OpenAI's message for a field of the wrong type.
fn wrong_type(param: &str, expected: &str, got: &Value) -> ApiError {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    bad(
        param,
        format!("Invalid type for '{param}': expected {expected}, but got {got} instead."),
    )
}

/// What the gateway reads from a `/v1/responses` body before routing.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub model: String,
    pub stream: bool,
    pub max_output_tokens: Option<u64>,
    /// `store` (OpenAI's default: `true`).
    pub store: bool,
    pub previous_response_id: Option<String>,
    pub user: Option<String>,
    pub metadata: Option<Value>,
}

/// The body as a JSON object, or a 400.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::new(
            400,
            "invalid_request_error",
            "Request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::new(
            400,
            "invalid_request_error",
            format!("Invalid JSON in request body: {e}"),
        )),
    }
}

/// Reads a `/v1/responses` body once: the [`View`] and the parsed object (every field kept).
/// Only the fields of the view are checked: a 400 naming the field when one has the wrong type,
/// when `model` is missing or empty, or when `max_output_tokens` is not a non-negative integer.
/// `null` is the same as absent.
pub fn read(body: &[u8]) -> Result<(View, Map<String, Value>), ApiError> {
    let raw = parse_object(body)?;
    let model = match raw.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            return Err(bad("model", "Missing required parameter: 'model'."))
        }
        Some(other) => return Err(wrong_type("model", "a string", other)),
    };
    let field = |k: &str| raw.get(k).filter(|v| !v.is_null());
    let boolean = |k: &str| match field(k) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong_type(k, "a boolean", other)),
    };
    let string = |k: &str| match field(k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong_type(k, "a string", other)),
    };
    let max_output_tokens = match field("max_output_tokens") {
        None => None,
        Some(n) if n.is_u64() => n.as_u64(),
        Some(n @ Value::Number(_)) => {
            return Err(bad(
                "max_output_tokens",
                format!(
                    "Invalid 'max_output_tokens': expected a non-negative integer, but got {n} instead."
                ),
            ))
        }
        Some(other) => return Err(wrong_type("max_output_tokens", "an integer", other)),
    };
    let metadata = match field("metadata") {
        None => None,
        Some(m @ Value::Object(_)) => Some(m.clone()),
        Some(other) => return Err(wrong_type("metadata", "an object", other)),
    };
    let view = View {
        model,
        stream: boolean("stream")?.unwrap_or(false),
        max_output_tokens,
        store: boolean("store")?.unwrap_or(true),
        previous_response_id: string("previous_response_id")?,
        user: string("user")?,
        metadata,
    };
    Ok((view, raw))
}

/// A plain-text user turn as a Responses `message` item.
fn user_text_item(text: &str) -> Value {
    json!({
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    })
}

/// The request's `input` as items, unchanged (a string is one user message item; an absent
/// input is none).
fn raw_input(parsed: &Map<String, Value>) -> Vec<Value> {
    match parsed.get("input") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![user_text_item(s)],
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    }
}

/// The body for a deployment that speaks Responses natively: `model` replaced; when `history`
/// (the items of the conversation before this request, oldest first) is not empty,
/// `previous_response_id` removed and `input` = `history` followed by this request's input;
/// `max_output_tokens` set when `Some` (the gateway's budget clamp). Every other field is sent
/// as the client sent it. Key order is serde_json's (the workspace does not enable
/// `preserve_order`), which JSON does not give meaning to.
pub fn passthrough_body(
    parsed: &Map<String, Value>,
    model: &str,
    history: &[Value],
    max_output_tokens: Option<u64>,
) -> Vec<u8> {
    let mut body = parsed.clone();
    body.insert("model".into(), Value::String(model.into()));
    if !history.is_empty() {
        body.remove("previous_response_id");
        let mut input = Vec::with_capacity(history.len() + 1);
        input.extend_from_slice(history);
        input.extend(raw_input(parsed));
        body.insert("input".into(), Value::Array(input));
    }
    if let Some(n) = max_output_tokens {
        body.insert("max_output_tokens".into(), json!(n));
    }
    serde_json::to_vec(&body).expect("JSON values serialize")
}

/// The id prefix OpenAI gives items of a type.
fn id_prefix(kind: &str) -> &'static str {
    match kind {
        "message" => "msg",
        "function_call" => "fc",
        "function_call_output" => "fco",
        "reasoning" => "rs",
        _ => "item",
    }
}

/// This request's input as a list of items, as `GET /v1/responses/{id}/input_items` lists them
/// and a later `previous_response_id` replays them: a string input is one user `message` item;
/// an item with a `role` and no `type` is a `message` whose string content becomes one text
/// part (`output_text` for the assistant, else `input_text`); every item without an `id` is
/// given one (`msg_…`, `fc_…`, …). Other items are kept as sent.
pub fn input_items(parsed: &Map<String, Value>) -> Vec<Value> {
    let mut items = raw_input(parsed);
    for item in &mut items {
        let Value::Object(obj) = item else { continue };
        if !obj.contains_key("type") && obj.contains_key("role") {
            obj.insert("type".into(), json!("message"));
        }
        if obj.get("type").and_then(Value::as_str) == Some("message") {
            if let Some(Value::String(text)) = obj.get("content") {
                let part = if obj.get("role").and_then(Value::as_str) == Some("assistant") {
                    json!({"type": "output_text", "text": text, "annotations": []})
                } else {
                    json!({"type": "input_text", "text": text})
                };
                obj.insert("content".into(), json!([part]));
            }
        }
        if obj.get("id").is_none_or(Value::is_null) {
            let kind = obj.get("type").and_then(Value::as_str).unwrap_or("");
            obj.insert("id".into(), json!(new_id(id_prefix(kind))));
        }
    }
    items
}

/// The `output` items of a Responses object (none when it has no `output` array).
pub fn output_items(response: &Value) -> Vec<Value> {
    response["output"].as_array().cloned().unwrap_or_default()
}

/// The usage of a Responses object: (input tokens, output tokens, cached input tokens).
/// `None` when it carries no `usage` object.
pub fn usage(response: &Value) -> Option<(u64, u64, u64)> {
    let u = response.get("usage").filter(|u| u.is_object())?;
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    Some((
        n(&u["input_tokens"]),
        n(&u["output_tokens"]),
        n(&u["input_tokens_details"]["cached_tokens"]),
    ))
}

/// The event types that end a Responses stream with the full response object.
const FINAL_EVENTS: [&str; 3] = [
    "response.completed",
    "response.incomplete",
    "response.failed",
];

/// Scans a native Responses SSE stream, fed in chunks split anywhere, without altering it, and
/// keeps the `response` of its final event (`response.completed`, `response.incomplete` or
/// `response.failed`) for usage and storage. Only events that may be final are parsed.
#[derive(Debug, Default)]
pub struct NativeStream {
    splitter: SseSplitter,
    final_response: Option<Value>,
    error: Option<Value>,
}

impl NativeStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the stream (as relayed to the client).
    pub fn push(&mut self, bytes: &[u8]) {
        self.splitter.push(bytes);
        while let Some(event) = self.splitter.next_event() {
            self.event(&event);
        }
    }

    /// The stream ended: reads a last event that had no closing blank line.
    pub fn finish(&mut self) {
        if let Some(rest) = self.splitter.take_remainder() {
            self.event(&rest);
        }
    }

    /// The `response` of the stream's final event, once seen.
    pub fn final_response(&self) -> Option<&Value> {
        self.final_response.as_ref()
    }

    /// The payload of an `error` event, if the stream carried one.
    pub fn error(&self) -> Option<&Value> {
        self.error.as_ref()
    }

    fn event(&mut self, event: &Bytes) {
        let maybe_final = FINAL_EVENTS
            .iter()
            .any(|t| memchr::memmem::find(event, t.as_bytes()).is_some());
        // An `error` event, by its SSE name or its `type`; not every event that merely holds
        // `"error":null` (each response object does), which would parse three whole responses
        // per stream.
        let maybe_error = [
            &b"event: error"[..],
            b"event:error",
            b"\"type\":\"error\"",
            b"\"type\": \"error\"",
        ]
        .iter()
        .any(|p| memchr::memmem::find(event, p).is_some());
        if !maybe_final && !maybe_error {
            return;
        }
        let Some(data) = event_data(event) else {
            return;
        };
        let Ok(Value::Object(mut v)) = serde_json::from_slice::<Value>(&data) else {
            return;
        };
        match v.get("type").and_then(Value::as_str) {
            Some(t) if FINAL_EVENTS.contains(&t) => {
                if let Some(r) = v.remove("response").filter(Value::is_object) {
                    self.final_response = Some(r);
                }
            }
            Some("error") => self.error = Some(Value::Object(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
#[path = "front_tests.rs"]
mod tests;
