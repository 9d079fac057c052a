//! Gemini response → canonical response: `GenerateContentResponse` → `chat.completion` (or
//! `text_completion`), `batchEmbedContents` / `predict` → the OpenAI embeddings list. Also the
//! per-candidate helpers the stream translator shares (text, tool calls, finish reason).

use serde_json::{json, Value};

use super::wire::{
    finish_reason, BatchEmbedResponse, Candidate, Content, FunctionCall, GenerateContentResponse,
    PredictResponse,
};
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::{chat_completion, usage_json, ResponseMeta, ToolCall};
use crate::provider::Provider;
use crate::request::{CanonicalRequest, Endpoint};
use crate::target::Target;

/// Translates a 2xx Gemini body to the canonical OpenAI body for `req.endpoint`.
pub fn to_openai(
    req: &CanonicalRequest,
    t: &Target<'_>,
    meta: ResponseMeta<'_>,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    match req.endpoint {
        Endpoint::Rerank | Endpoint::Moderations => Err(crate::request::not_served(req.endpoint)),
        Endpoint::ImageGenerations => super::images::to_openai(meta.created, body),
        Endpoint::Embeddings if t.provider == Provider::VertexAi => {
            let r: PredictResponse = parse(body)?;
            let tokens = r
                .predictions
                .iter()
                .filter_map(|p| p.embeddings.statistics.as_ref())
                .map(|s| s.token_count)
                .sum();
            let vectors = r.predictions.into_iter().map(|p| p.embeddings.values);
            Ok(embedding_list(meta, vectors, tokens))
        }
        Endpoint::Embeddings => {
            let r: BatchEmbedResponse = parse(body)?;
            Ok(embedding_list(
                meta,
                r.embeddings.into_iter().map(|e| e.values),
                0,
            ))
        }
        Endpoint::ChatCompletions | Endpoint::Completions => {
            let r: GenerateContentResponse = parse(body)?;
            Ok(completion(req.endpoint, meta, &r))
        }
    }
}

pub(crate) use super::wire::parse;

/// One translated candidate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Choice {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: &'static str,
}

/// The visible text of a content: its non-thought text parts joined.
pub(crate) fn text_of(content: Option<&Content>) -> String {
    content
        .into_iter()
        .flat_map(|c| &c.parts)
        .filter(|p| p.thought != Some(true))
        .filter_map(|p| p.text.as_deref())
        .collect()
}

/// The function calls of a content, in order.
pub(crate) fn calls_of(content: Option<&Content>) -> impl Iterator<Item = &FunctionCall> {
    content
        .into_iter()
        .flat_map(|c| &c.parts)
        .filter_map(|p| p.function_call.as_ref())
}

/// An OpenAI tool call for the `n`-th function call of a choice: id `call_<n>`, arguments the
/// compact JSON of `args`.
pub(crate) fn tool_call(n: usize, call: &FunctionCall) -> ToolCall {
    let args = match &call.args {
        Value::Null => "{}".to_string(),
        v => v.to_string(),
    };
    ToolCall {
        id: format!("call_{n}"),
        kind: "function".to_string(),
        function: crate::openai::wire::FunctionCall {
            name: call.name.clone(),
            arguments: args,
        },
    }
}

/// The OpenAI finish reason of a candidate that ended with `reason`, given whether it called tools.
pub(crate) fn finish_of(reason: Option<&str>, called_tools: bool) -> &'static str {
    match reason.map(finish_reason) {
        Some("stop") | None if called_tools => "tool_calls",
        Some(r) => r,
        None => "stop",
    }
}

fn choice(c: &Candidate) -> Choice {
    let tool_calls: Vec<ToolCall> = calls_of(c.content.as_ref())
        .enumerate()
        .map(|(n, call)| tool_call(n, call))
        .collect();
    Choice {
        text: text_of(c.content.as_ref()),
        finish_reason: finish_of(c.finish_reason.as_deref(), !tool_calls.is_empty()),
        tool_calls,
    }
}

/// The choices of a response; a prompt blocked before any candidate is one empty choice that
/// ended with `content_filter`.
fn choices(r: &GenerateContentResponse) -> Vec<Choice> {
    if r.candidates.is_empty() {
        let blocked = r
            .prompt_feedback
            .as_ref()
            .is_some_and(|f| f.block_reason.is_some());
        return vec![Choice {
            text: String::new(),
            tool_calls: Vec::new(),
            finish_reason: if blocked { "content_filter" } else { "stop" },
        }];
    }
    let mut cands: Vec<&Candidate> = r.candidates.iter().collect();
    cands.sort_by_key(|c| c.index.unwrap_or(0));
    cands.into_iter().map(choice).collect()
}

fn completion(endpoint: Endpoint, meta: ResponseMeta<'_>, r: &GenerateContentResponse) -> Vec<u8> {
    let usage = r.usage_metadata.unwrap_or_default().to_usage();
    let choices = choices(r);
    if endpoint == Endpoint::Completions {
        let choices: Vec<Value> = choices
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({"text": c.text, "index": i, "logprobs": null, "finish_reason": c.finish_reason})
            })
            .collect();
        let body = json!({
            "id": meta.id, "object": "text_completion", "created": meta.created,
            "model": meta.model, "choices": choices, "usage": usage_json(usage),
        });
        return serde_json::to_vec(&body).expect("serializing JSON values cannot fail");
    }
    let one = |c: &Choice| {
        let content = (!c.text.is_empty()).then_some(c.text.as_str());
        chat_completion(meta, content, &c.tool_calls, c.finish_reason, usage)
    };
    let first = one(&choices[0]);
    if choices.len() == 1 {
        return first;
    }
    // n > 1: the same body with every candidate's choice.
    let mut body: Value = serde_json::from_slice(&first).expect("we just wrote this JSON");
    for (i, c) in choices.iter().enumerate().skip(1) {
        let other: Value = serde_json::from_slice(&one(c)).expect("we just wrote this JSON");
        let mut ch = other["choices"][0].clone();
        ch["index"] = json!(i);
        if let Some(list) = body["choices"].as_array_mut() {
            list.push(ch);
        }
    }
    serde_json::to_vec(&body).expect("serializing JSON values cannot fail")
}

fn embedding_list(
    meta: ResponseMeta<'_>,
    vectors: impl Iterator<Item = Vec<Value>>,
    prompt_tokens: u64,
) -> Vec<u8> {
    let data: Vec<Value> = vectors
        .enumerate()
        .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
        .collect();
    let body = json!({
        "object": "list", "data": data, "model": meta.model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    });
    serde_json::to_vec(&body).expect("serializing JSON values cannot fail")
}

/// Usage of a non-streaming `generateContent` body (for accounting), if it has any.
pub fn usage_of(body: &[u8]) -> Option<Usage> {
    let r: GenerateContentResponse = serde_json::from_slice(body).ok()?;
    r.usage_metadata.map(|u| u.to_usage())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reason_prefers_tool_calls_over_stop_only() {
        assert_eq!(finish_of(Some("STOP"), true), "tool_calls");
        assert_eq!(finish_of(None, true), "tool_calls");
        assert_eq!(finish_of(Some("MAX_TOKENS"), true), "length");
        assert_eq!(finish_of(Some("SAFETY"), false), "content_filter");
        assert_eq!(finish_of(None, false), "stop");
    }

    #[test]
    fn thoughts_are_not_content() {
        let c: Content = serde_json::from_value(json!({"role": "model", "parts": [
            {"text": "thinking…", "thought": true}, {"text": "Hi"}, {"text": " there"}]}))
        .unwrap();
        assert_eq!(text_of(Some(&c)), "Hi there");
    }
}
