//! Anthropic `Message` response → OpenAI `chat.completion`: text joined, `tool_use` as
//! `tool_calls` (the forced JSON-mode tool as content), thinking as `reasoning_content`, stop reasons and usage (cache counts included)
//! mapped.

use serde_json::Value;

use super::request::{json_mode_schema, JSON_TOOL};
use super::wire::{AnthropicUsage, ContentBlock, MessagesResponse};
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::{chat_completion, FunctionCall, ResponseMeta, ToolCall};
use crate::request::CanonicalRequest;
use crate::target::Target;

/// The `chat.completion` body for an Anthropic `Message` body.
pub fn to_openai(
    req: &CanonicalRequest,
    t: &Target<'_>,
    meta: ResponseMeta<'_>,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let _ = t;
    let json_mode = json_mode_schema(&req.body).is_some();
    let msg: MessagesResponse = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            502,
            "api_error",
            format!("anthropic returned an unreadable Message body: {e}"),
        )
    })?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for block in msg.content {
        match block {
            ContentBlock::Text { text: t, .. } => text.push_str(&t),
            ContentBlock::Thinking { thinking, .. } => reasoning.push_str(&thinking),
            ContentBlock::ToolUse { name, input, .. } if json_mode && name == JSON_TOOL => {
                text.push_str(&arguments_json(&input));
            }
            ContentBlock::ToolUse {
                id, name, input, ..
            } => tool_calls.push(ToolCall {
                id,
                kind: "function".into(),
                function: FunctionCall {
                    name,
                    arguments: arguments_json(&input),
                },
            }),
            _ => {}
        }
    }
    let content = (!text.is_empty() || tool_calls.is_empty()).then_some(text.as_str());
    let mut finish = finish_reason(msg.stop_reason.as_deref());
    if json_mode && finish == "tool_calls" && tool_calls.is_empty() {
        finish = "stop";
    }
    let out = chat_completion(meta, content, &tool_calls, finish, usage(&msg.usage));
    if reasoning.is_empty() {
        return Ok(out);
    }
    let mut v: Value = serde_json::from_slice(&out).expect("chat_completion writes JSON");
    v["choices"][0]["message"]["reasoning_content"] = Value::String(reasoning);
    Ok(serde_json::to_vec(&v).expect("serializing JSON values cannot fail"))
}

/// Tool input as OpenAI's compact `arguments` text (`{}` when the model sent none).
pub fn arguments_json(input: &Value) -> String {
    match input {
        Value::Null => "{}".to_string(),
        v => v.to_string(),
    }
}

/// OpenAI `finish_reason` for an Anthropic `stop_reason`.
pub fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        // end_turn, stop_sequence, pause_turn, or none given
        _ => "stop",
    }
}

/// Canonical usage: prompt tokens include the cache reads and writes Anthropic counts apart.
pub fn usage(u: &AnthropicUsage) -> Usage {
    let cache_read = u.cache_read_input_tokens.unwrap_or(0);
    let cache_write = u.cache_creation_input_tokens.unwrap_or(0);
    let prompt = u.input_tokens + cache_read + cache_write;
    Usage {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: prompt + u.output_tokens,
        cache_read_tokens: cache_read,
        cache_write_tokens: cache_write,
    }
}
