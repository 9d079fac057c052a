//! Bedrock replies → canonical OpenAI bodies: a Converse response as `chat.completion` (text
//! joined, `toolUse` as `tool_calls`, reasoning as `reasoning_content`, stop reasons and usage
//! mapped, guardrail interventions as `content_filter`); a Titan embedding as the OpenAI list.

use serde_json::{json, Value};

use super::wire::{ConverseResponse, TitanEmbeddingResponse, TokenUsage};
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::{chat_completion, FunctionCall, ResponseMeta, ToolCall};
use crate::request::{CanonicalRequest, Endpoint};
use crate::target::Target;

/// The canonical body for a Bedrock 2xx reply to `req`.
pub fn to_openai(
    req: &CanonicalRequest,
    t: &Target<'_>,
    meta: ResponseMeta<'_>,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let _ = t;
    match req.endpoint {
        Endpoint::Embeddings => embeddings(meta, body),
        Endpoint::ImageGenerations => super::images::to_openai(meta.created, body),
        _ => chat(meta, body),
    }
}

fn unreadable(what: &str, e: serde_json::Error) -> ApiError {
    ApiError::new(
        502,
        "api_error",
        format!("bedrock returned an unreadable {what} body: {e}"),
    )
}

fn chat(meta: ResponseMeta<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let r: ConverseResponse =
        serde_json::from_slice(body).map_err(|e| unreadable("Converse", e))?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for block in r.output.message.map(|m| m.content).unwrap_or_default() {
        if let Some(t) = block.text {
            text.push_str(&t);
        }
        if let Some(rt) = block.reasoning_content.and_then(|r| r.reasoning_text) {
            reasoning.push_str(&rt.text);
        }
        if let Some(tu) = block.tool_use {
            tool_calls.push(ToolCall {
                id: tu.tool_use_id,
                kind: "function".into(),
                function: FunctionCall {
                    name: tu.name,
                    arguments: arguments_json(&tu.input),
                },
            });
        }
    }
    let content = (!text.is_empty() || tool_calls.is_empty()).then_some(text.as_str());
    let finish = finish_reason(r.stop_reason.as_deref());
    let out = chat_completion(meta, content, &tool_calls, finish, usage(&r.usage));
    if reasoning.is_empty() {
        return Ok(out);
    }
    let mut v: Value = serde_json::from_slice(&out).expect("chat_completion writes JSON");
    v["choices"][0]["message"]["reasoning_content"] = Value::String(reasoning);
    Ok(serde_json::to_vec(&v).expect("serializing JSON values cannot fail"))
}

fn embeddings(meta: ResponseMeta<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let r: TitanEmbeddingResponse =
        serde_json::from_slice(body).map_err(|e| unreadable("Titan embedding", e))?;
    let n = r.input_text_token_count;
    let out = json!({
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": r.embedding}],
        "model": meta.model,
        "usage": {"prompt_tokens": n, "total_tokens": n},
    });
    Ok(serde_json::to_vec(&out).expect("serializing JSON values cannot fail"))
}

/// Tool input as OpenAI's compact `arguments` text (`{}` when the model sent none).
pub fn arguments_json(input: &Value) -> String {
    match input {
        Value::Null => "{}".to_string(),
        v => v.to_string(),
    }
}

/// OpenAI `finish_reason` for a Converse `stopReason`.
pub fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("guardrail_intervened" | "content_filtered") => "content_filter",
        // end_turn, stop_sequence, or none given
        _ => "stop",
    }
}

/// Canonical usage: prompt tokens include the cache reads and writes Bedrock counts apart.
pub fn usage(u: &TokenUsage) -> Usage {
    let cache_read = u.cache_read_input_tokens.unwrap_or(0);
    let cache_write = u.cache_write_input_tokens.unwrap_or(0);
    let prompt = u.input_tokens + cache_read + cache_write;
    Usage {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: prompt + u.output_tokens,
        cache_read_tokens: cache_read,
        cache_write_tokens: cache_write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_map_to_openai() {
        assert_eq!(finish_reason(Some("end_turn")), "stop");
        assert_eq!(finish_reason(Some("stop_sequence")), "stop");
        assert_eq!(finish_reason(Some("max_tokens")), "length");
        assert_eq!(finish_reason(Some("tool_use")), "tool_calls");
        assert_eq!(
            finish_reason(Some("guardrail_intervened")),
            "content_filter"
        );
        assert_eq!(finish_reason(Some("content_filtered")), "content_filter");
        assert_eq!(finish_reason(None), "stop");
    }

    #[test]
    fn unreadable_bodies_are_a_502() {
        let e = chat(
            ResponseMeta {
                id: "x",
                created: 0,
                model: "m",
            },
            b"<html>",
        )
        .unwrap_err();
        assert_eq!(e.status, 502);
    }
}
