//! Ollama reply → canonical OpenAI body: `/api/chat` and `/api/generate` replies become a
//! `chat.completion` (or a `text_completion` for `/v1/completions`), `/api/embed` an embedding
//! list.

use serde_json::{json, Value};

use super::error::from_message;
use super::wire::{arguments_text, error_text, EmbedReply, Reply};
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::{chat_completion, usage_json, FunctionCall, ResponseMeta, ToolCall};
use crate::request::{CanonicalRequest, Endpoint};
use crate::target::Target;

/// The canonical body for an Ollama 2xx reply to `req`.
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
        Endpoint::ChatCompletions => {
            let reply = parse_reply(body)?;
            Ok(chat(meta, &reply))
        }
        Endpoint::Completions => {
            let reply = parse_reply(body)?;
            Ok(text_completion(meta, &reply))
        }
    }
}

fn invalid_body(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        502,
        "api_error",
        format!("ollama returned a reply that could not be read: {e}"),
    )
}

fn parse_reply(body: &[u8]) -> Result<Reply, ApiError> {
    let reply: Reply = serde_json::from_slice(body).map_err(invalid_body)?;
    if let Some(e) = &reply.error {
        return Err(from_message(500, &error_text(e)));
    }
    Ok(reply)
}

/// Token counts of a final reply.
pub fn usage_of(reply: &Reply) -> Usage {
    let prompt = reply.prompt_eval_count.unwrap_or(0);
    let completion = reply.eval_count.unwrap_or(0);
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        ..Usage::default()
    }
}

/// Ollama's id-less tool call number `n` as an OpenAI tool call (`call_<n>`).
pub fn tool_call(n: usize, call: &super::wire::ToolCall) -> ToolCall {
    ToolCall {
        id: format!("call_{n}"),
        kind: "function".to_string(),
        function: FunctionCall {
            name: call.function.name.clone(),
            arguments: arguments_text(&call.function.arguments),
        },
    }
}

fn chat(meta: ResponseMeta<'_>, reply: &Reply) -> Vec<u8> {
    let calls: Vec<ToolCall> = reply
        .tool_calls()
        .iter()
        .enumerate()
        .map(|(n, c)| tool_call(n, c))
        .collect();
    let text = reply.text();
    // OpenAI sends `content: null` alongside tool calls when there is no text.
    let content = (!text.is_empty() || calls.is_empty()).then_some(text);
    let finish = reply.finish_reason(!calls.is_empty());
    let body = chat_completion(meta, content, &calls, finish, usage_of(reply));
    match reply.thinking() {
        None => body,
        Some(thinking) => {
            let mut v: Value = serde_json::from_slice(&body).expect("we just wrote this JSON");
            v["choices"][0]["message"]["reasoning_content"] = Value::from(thinking);
            serde_json::to_vec(&v).expect("serializing JSON values cannot fail")
        }
    }
}

fn text_completion(meta: ResponseMeta<'_>, reply: &Reply) -> Vec<u8> {
    let body = json!({
        "id": meta.id, "object": "text_completion", "created": meta.created, "model": meta.model,
        "choices": [{"index": 0, "text": reply.text(), "logprobs": null,
                     "finish_reason": reply.finish_reason(false)}],
        "usage": usage_json(usage_of(reply)),
    });
    serde_json::to_vec(&body).expect("serializing JSON values cannot fail")
}

fn embeddings(meta: ResponseMeta<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let reply: EmbedReply = serde_json::from_slice(body).map_err(invalid_body)?;
    if let Some(e) = &reply.error {
        return Err(from_message(500, &error_text(e)));
    }
    let data: Vec<Value> = reply
        .embeddings
        .into_iter()
        .enumerate()
        .map(|(i, e)| json!({"object": "embedding", "index": i, "embedding": e}))
        .collect();
    let prompt = reply.prompt_eval_count.unwrap_or(0);
    let body = json!({
        "object": "list", "data": data, "model": meta.model,
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    });
    Ok(serde_json::to_vec(&body).expect("serializing JSON values cannot fail"))
}
