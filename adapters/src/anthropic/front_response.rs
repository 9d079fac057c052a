//! The front door's way out for whole answers: a canonical `chat.completion` → an Anthropic
//! Message, and the Anthropic error body. Shared mapping helpers for the stream encoder.

use serde_json::{json, Value};

use super::wire::{AnthropicUsage, ContentBlock, ErrorBody, ErrorResponse, MessagesResponse, Role};

use crate::error::ApiError;

pub(super) fn upstream_bad(message: impl Into<String>) -> ApiError {
    ApiError::new(502, "api_error", message)
}

/// OpenAI `finish_reason` → Anthropic `stop_reason`. A plain `stop` after tool calls (some
/// OpenAI-compatible servers report it so) is `tool_use`, which is what Anthropic clients act on.
pub(super) fn stop_reason(finish: Option<&str>, saw_tool: bool) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        Some(_) if saw_tool => "tool_use",
        _ => "end_turn",
    }
}

/// OpenAI `usage` → Anthropic `usage`. Anthropic's `input_tokens` excludes cache reads and
/// writes, which OpenAI's `prompt_tokens` include.
pub(super) fn anthropic_usage(u: &Value) -> AnthropicUsage {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let cached = n(&u["prompt_tokens_details"]["cached_tokens"]);
    let written = n(&u["cache_creation_input_tokens"]);
    AnthropicUsage {
        input_tokens: n(&u["prompt_tokens"]).saturating_sub(cached + written),
        output_tokens: n(&u["completion_tokens"]),
        cache_creation_input_tokens: Some(written).filter(|w| *w > 0),
        cache_read_input_tokens: Some(cached).filter(|c| *c > 0),
    }
}

pub(super) fn message(
    id: String,
    model: &str,
    content: Vec<ContentBlock>,
    stop: Option<&str>,
    usage: AnthropicUsage,
) -> MessagesResponse {
    MessagesResponse {
        id,
        kind: "message".into(),
        role: Role::Assistant,
        model: model.into(),
        content,
        stop_reason: stop.map(str::to_string),
        stop_sequence: None,
        usage,
    }
}

/// A canonical `chat.completion` body → an Anthropic Message body: `id` is `msg_` + the
/// completion id without `chatcmpl-`, `model` is `requested_model`.
pub fn response_from_canonical(
    openai_body: &[u8],
    requested_model: &str,
) -> Result<Vec<u8>, ApiError> {
    let v: Value = serde_json::from_slice(openai_body)
        .map_err(|e| upstream_bad(format!("provider returned an invalid chat completion: {e}")))?;
    let choice = &v["choices"][0];
    let Some(msg) = choice.get("message").filter(|m| m.is_object()) else {
        return Err(upstream_bad(
            "provider returned a chat completion without choices",
        ));
    };
    let mut content = Vec::new();
    if let Some(thinking) = msg["reasoning_content"].as_str().filter(|t| !t.is_empty()) {
        content.push(thinking_block(thinking));
    }
    let text = match &msg["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => msg["refusal"].as_str().unwrap_or_default().to_string(),
    };
    if !text.is_empty() {
        content.push(ContentBlock::text(text));
    }
    for call in msg["tool_calls"].as_array().into_iter().flatten() {
        let f = &call["function"];
        let name = f["name"].as_str().unwrap_or_default().to_string();
        let args = f["arguments"].as_str().unwrap_or_default();
        let input = if args.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(args).map_err(|e| {
                upstream_bad(format!(
                    "provider returned invalid JSON arguments for tool {name:?}: {e}"
                ))
            })?
        };
        let id = call["id"].as_str().unwrap_or_default().to_string();
        content.push(ContentBlock::ToolUse {
            id,
            name,
            input,
            cache_control: None,
        });
    }
    let saw_tool = content
        .iter()
        .any(|b| matches!(b, ContentBlock::ToolUse { .. }));
    let stop = stop_reason(choice["finish_reason"].as_str(), saw_tool);
    let id = v["id"].as_str().unwrap_or_default();
    let id = format!("msg_{}", id.strip_prefix("chatcmpl-").unwrap_or(id));
    let body = message(
        id,
        requested_model,
        content,
        Some(stop),
        anthropic_usage(&v["usage"]),
    );
    Ok(serde_json::to_vec(&body).expect("wire types serialize"))
}

/// Provider reasoning (`reasoning_content`) as an Anthropic thinking block; it has no
/// Anthropic signature, so the signature is empty.
pub(super) fn thinking_block(thinking: &str) -> ContentBlock {
    ContentBlock::Thinking {
        thinking: thinking.into(),
        signature: Some(String::new()),
    }
}

/// Anthropic's error `type` for an HTTP status.
pub(super) fn error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// The Anthropic error body for `err`: `{"type":"error","error":{"type","message"}}`.
pub fn error_body(err: &ApiError) -> Vec<u8> {
    let body = ErrorResponse {
        kind: "error".into(),
        error: ErrorBody {
            kind: error_type(err.status).into(),
            message: err.message.clone(),
        },
    };
    serde_json::to_vec(&body).expect("wire types serialize")
}

/// Error types Anthropic clients know; any other stream error type is reported as `api_error`.
pub(super) const ANTHROPIC_ERROR_TYPES: [&str; 8] = [
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
];

/// The Anthropic SSE `error` event for `err`, for failures after a stream started.
pub fn error_event(err: &ApiError) -> Vec<u8> {
    let mut out = b"event: error\ndata: ".to_vec();
    out.extend_from_slice(&error_body(err));
    out.extend_from_slice(b"\n\n");
    out
}
