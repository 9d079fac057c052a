//! Cohere v2 reply → canonical OpenAI body: a `/v2/chat` reply becomes a `chat.completion` (or a
//! `text_completion` for `/v1/completions`), a `/v2/embed` reply an embedding list. Also the
//! finish-reason and usage mappings the stream translator shares.

use serde_json::{json, Value};

use super::error::from_message;
use super::wire::{ChatReply, CohereUsage, EmbedReply, ReplyToolCall};
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::{chat_completion, usage_json, FunctionCall, ResponseMeta, ToolCall};
use crate::request::{CanonicalRequest, Endpoint};
use crate::target::Target;

/// The canonical body for a Cohere 2xx reply to `req`.
pub fn to_openai(
    req: &CanonicalRequest,
    t: &Target<'_>,
    meta: ResponseMeta<'_>,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let _ = t;
    match req.endpoint {
        Endpoint::Embeddings => embeddings(meta, body),
        Endpoint::ImageGenerations | Endpoint::Rerank | Endpoint::Moderations => {
            Err(crate::request::not_served(req.endpoint))
        }
        Endpoint::ChatCompletions => chat(meta, &parse(body)?),
        Endpoint::Completions => text_completion(meta, &parse(body)?),
    }
}

fn parse(body: &[u8]) -> Result<ChatReply, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            502,
            "api_error",
            format!("cohere returned a reply that could not be read: {e}"),
        )
    })
}

/// Cohere's `finish_reason` → OpenAI's; `ERROR` and `TIMEOUT` become errors (`detail` is the
/// provider's error text, when it gave one).
pub fn finish_reason(
    reason: Option<&str>,
    saw_tool_calls: bool,
    detail: Option<&str>,
) -> Result<&'static str, ApiError> {
    match reason {
        Some("MAX_TOKENS") => Ok("length"),
        Some("TOOL_CALL") => Ok("tool_calls"),
        Some("ERROR") => Err(from_message(
            502,
            &format!(
                "cohere stopped generating with an error: {}",
                detail.unwrap_or("no detail given")
            ),
        )),
        Some("TIMEOUT") => Err(ApiError::new(
            504,
            "timeout",
            "cohere timed out while generating the response",
        )),
        _ if saw_tool_calls => Ok("tool_calls"),
        // COMPLETE, STOP_SEQUENCE, and anything newer.
        _ => Ok("stop"),
    }
}

/// Token counts: `billed_units` (what Cohere charges), else the raw `tokens`.
pub fn usage_of(u: Option<&CohereUsage>) -> Usage {
    let Some(u) = u else {
        return Usage::default();
    };
    let pick = |f: fn(&super::wire::Tokens) -> Option<f64>| {
        u.billed_units
            .as_ref()
            .and_then(f)
            .or_else(|| u.tokens.as_ref().and_then(f))
            .map_or(0, |n| n.max(0.0) as u64)
    };
    let prompt = pick(|t| t.input_tokens);
    let completion = pick(|t| t.output_tokens);
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        ..Usage::default()
    }
}

/// Compact JSON text of tool-call arguments (Cohere sends text; an object is tolerated).
pub fn arguments_text(args: &Value) -> String {
    match args {
        Value::String(s) if s.trim().is_empty() => "{}".to_string(),
        Value::String(s) => s.clone(),
        Value::Null => "{}".to_string(),
        other => other.to_string(),
    }
}

fn tool_call(c: &ReplyToolCall) -> ToolCall {
    ToolCall {
        id: c.id.clone(),
        kind: "function".to_string(),
        function: FunctionCall {
            name: c.function.name.clone(),
            arguments: arguments_text(&c.function.arguments),
        },
    }
}

/// The reply's answer text (text items joined, else the tool plan) and its thinking text.
fn texts(reply: &ChatReply) -> (String, String) {
    let mut text = String::new();
    let mut thinking = String::new();
    for item in &reply.message.content {
        match item.kind.as_str() {
            "thinking" => thinking.push_str(item.thinking.as_deref().unwrap_or_default()),
            _ => text.push_str(item.text.as_deref().unwrap_or_default()),
        }
    }
    if text.is_empty() {
        text = reply.message.tool_plan.clone().unwrap_or_default();
    }
    (text, thinking)
}

fn chat(meta: ResponseMeta<'_>, reply: &ChatReply) -> Result<Vec<u8>, ApiError> {
    let calls: Vec<ToolCall> = reply.message.tool_calls.iter().map(tool_call).collect();
    let finish = finish_reason(reply.finish_reason.as_deref(), !calls.is_empty(), None)?;
    let (text, thinking) = texts(reply);
    // OpenAI sends `content: null` alongside tool calls when there is no text.
    let content = (!text.is_empty() || calls.is_empty()).then_some(text.as_str());
    let body = chat_completion(
        meta,
        content,
        &calls,
        finish,
        usage_of(reply.usage.as_ref()),
    );
    if thinking.is_empty() {
        return Ok(body);
    }
    let mut v: Value = serde_json::from_slice(&body).expect("we just wrote this JSON");
    v["choices"][0]["message"]["reasoning_content"] = Value::from(thinking);
    Ok(serde_json::to_vec(&v).expect("serializing JSON values cannot fail"))
}

fn text_completion(meta: ResponseMeta<'_>, reply: &ChatReply) -> Result<Vec<u8>, ApiError> {
    let finish = finish_reason(reply.finish_reason.as_deref(), false, None)?;
    let body = json!({
        "id": meta.id, "object": "text_completion", "created": meta.created, "model": meta.model,
        "choices": [{"index": 0, "text": texts(reply).0, "logprobs": null, "finish_reason": finish}],
        "usage": usage_json(usage_of(reply.usage.as_ref())),
    });
    Ok(serde_json::to_vec(&body).expect("serializing JSON values cannot fail"))
}

fn embeddings(meta: ResponseMeta<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let reply: EmbedReply = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            502,
            "api_error",
            format!("cohere returned an embed reply that could not be read: {e}"),
        )
    })?;
    let data: Vec<Value> = reply
        .embeddings
        .float
        .into_iter()
        .enumerate()
        .map(|(i, e)| json!({"object": "embedding", "index": i, "embedding": e}))
        .collect();
    let prompt = reply
        .meta
        .and_then(|m| m.billed_units)
        .and_then(|b| b.input_tokens)
        .map_or(0, |n| n.max(0.0) as u64);
    let body = json!({
        "object": "list", "data": data, "model": meta.model,
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    });
    Ok(serde_json::to_vec(&body).expect("serializing JSON values cannot fail"))
}
