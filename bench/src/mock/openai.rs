//! The OpenAI endpoints (also Azure OpenAI's, with the deployment as the model): chat
//! completions and legacy completions, plain or streamed, tool calls, and embeddings.

use std::time::Duration;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde_json::Value;

use super::body::{MockBody, Step};
use super::config::MockToolCall;
use super::dialect::{Dialect, OpenAiKind};
use super::handler::{error, full, sse_response, unix_now, Ctx};
use super::render::{self, Delta, Meta};

/// Answers an OpenAI-shaped request for `model`.
pub(crate) fn respond(ctx: &Ctx, kind: OpenAiKind, model: &str) -> Response<MockBody> {
    match kind {
        OpenAiKind::Chat => match ctx.plan.tool_call {
            Some(tc) => tool_call(ctx, tc, model),
            None => completion(ctx, true, model),
        },
        OpenAiKind::Text => completion(ctx, false, model),
        OpenAiKind::Embeddings => embeddings(ctx, model),
        OpenAiKind::Images => images(ctx),
        OpenAiKind::Moderations => super::rerank::moderations(ctx, model),
        OpenAiKind::Speech => super::media::speech(ctx.shared, ctx.plan, ctx.body),
        OpenAiKind::Transcriptions | OpenAiKind::Translations | OpenAiKind::ImageEdits => {
            unreachable!("multipart routes are answered by media::multipart")
        }
    }
}

fn include_usage(ctx: &Ctx) -> bool {
    ctx.req
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false)
}

fn completion(ctx: &Ctx, chat: bool, model: &str) -> Response<MockBody> {
    let plan = ctx.plan;
    let seq = ctx.seq();
    let meta = Meta {
        id: if chat {
            format!("chatcmpl-mock{seq}")
        } else {
            format!("cmpl-mock{seq}")
        },
        created: unix_now(),
        model,
    };
    // `n` choices are returned; `completion_tokens` counts every completion generated (`n`, or
    // `best_of` when more), as OpenAI bills them.
    let choices = ctx.choices();
    let billed = ctx.billed_choices();
    if ctx.req.stream != Some(true) {
        let words = plan.content.split_whitespace().count() as u64;
        let usage = render::usage(ctx.prompt_tokens, ctx.completion_tokens(words) * billed);
        let body = if chat {
            render::chat_completion(&meta, plan.content, usage, choices)
        } else {
            render::text_completion(&meta, plan.content, usage, choices)
        };
        return full(StatusCode::OK, body);
    }

    let include_usage = include_usage(ctx);
    let pieces = render::split_content(plan.content, plan.chunks);
    let sent_words: u64 = pieces
        .iter()
        .map(|p| p.split_whitespace().count() as u64)
        .sum();
    // One event per choice for each step (a single event when `n` is 1).
    let each = |event: &dyn Fn(u32) -> Bytes| -> Bytes {
        if choices == 1 {
            return event(0);
        }
        let mut all = Vec::new();
        for i in 0..choices {
            all.extend_from_slice(&event(i));
        }
        Bytes::from(all)
    };
    let mut steps: Vec<(Duration, Step)> = Vec::with_capacity(pieces.len() + 4);
    if chat {
        let ev = each(&|i| {
            let delta = Delta {
                role: Some("assistant"),
                content: Some(""),
            };
            render::chat_chunk(&meta, i, delta, None, include_usage)
        });
        steps.push((Duration::ZERO, Step::Data(ev)));
    }
    let events = pieces.iter().map(|piece| {
        each(&|i| {
            if chat {
                let delta = Delta {
                    role: None,
                    content: Some(piece),
                };
                render::chat_chunk(&meta, i, delta, None, include_usage)
            } else {
                render::text_chunk(&meta, i, piece, None, include_usage)
            }
        })
    });
    if push_content(&mut steps, ctx, events) {
        return sse_response(steps, ctx.shared);
    }
    let finish = each(&|i| {
        if chat {
            render::chat_chunk(&meta, i, Delta::default(), Some("stop"), include_usage)
        } else {
            render::text_chunk(&meta, i, "", Some("stop"), include_usage)
        }
    });
    steps.push((Duration::ZERO, Step::Data(finish)));
    if include_usage {
        let usage = render::usage(
            ctx.prompt_tokens,
            ctx.completion_tokens(sent_words) * billed,
        );
        let ev = if chat {
            render::chat_usage_chunk(&meta, usage)
        } else {
            render::text_usage_chunk(&meta, usage)
        };
        steps.push((Duration::ZERO, Step::Data(ev)));
    }
    steps.push((Duration::ZERO, Step::Data(Bytes::from_static(render::DONE))));
    sse_response(steps, ctx.shared)
}

/// Pushes the content events, each after the chunk interval; with `fail_after_chunks`, pushes a
/// [`Step::Fail`] in its place (after all content when it is ≥ their number) and returns true:
/// the stream ends there.
pub(crate) fn push_content(
    steps: &mut Vec<(Duration, Step)>,
    ctx: &Ctx,
    events: impl Iterator<Item = Bytes>,
) -> bool {
    let plan = ctx.plan;
    for (i, ev) in events.enumerate() {
        if plan.fail_after_chunks == Some(i) {
            steps.push((plan.chunk_interval, Step::Fail));
            return true;
        }
        steps.push((plan.chunk_interval, Step::Data(ev)));
    }
    if plan.fail_after_chunks.is_some() {
        steps.push((Duration::ZERO, Step::Fail));
        return true;
    }
    false
}

/// Whitespace-separated words of a tool call's arguments, at least 1: its default
/// `completion_tokens` in every dialect.
pub(crate) fn tool_call_words(tc: &MockToolCall) -> u64 {
    (tc.arguments.split_whitespace().count() as u64).max(1)
}

fn tool_call(ctx: &Ctx, tc: &MockToolCall, model: &str) -> Response<MockBody> {
    let seq = ctx.seq();
    let meta = Meta {
        id: format!("chatcmpl-mock{seq}"),
        created: unix_now(),
        model,
    };
    let call_id = format!("call_mock{seq}");
    let usage = render::usage(
        ctx.prompt_tokens,
        ctx.completion_tokens(tool_call_words(tc)),
    );
    if ctx.req.stream != Some(true) {
        let body = render::chat_tool_completion(&meta, &call_id, &tc.name, &tc.arguments, usage);
        return full(StatusCode::OK, body);
    }
    let include_usage = include_usage(ctx);
    let fragments = render::tool_fragments(&tc.arguments);
    let mut steps: Vec<(Duration, Step)> = Vec::with_capacity(fragments.len() + 4);
    let start = render::chat_tool_start_chunk(&meta, &call_id, &tc.name, include_usage);
    steps.push((Duration::ZERO, Step::Data(start)));
    let events = fragments
        .iter()
        .map(|f| render::chat_tool_args_chunk(&meta, f, include_usage));
    if push_content(&mut steps, ctx, events) {
        return sse_response(steps, ctx.shared);
    }
    let finish = render::chat_value_chunk(
        &meta,
        Value::Object(Default::default()),
        Some("tool_calls"),
        include_usage,
    );
    steps.push((Duration::ZERO, Step::Data(finish)));
    if include_usage {
        let ev = render::chat_usage_chunk(&meta, usage);
        steps.push((Duration::ZERO, Step::Data(ev)));
    }
    steps.push((Duration::ZERO, Step::Data(Bytes::from_static(render::DONE))));
    sse_response(steps, ctx.shared)
}

/// The inputs of an OpenAI- or Ollama-style `input` (a string, a token array, or an array of
/// either); `Err` with the OpenAI message when it is missing or malformed.
pub(crate) fn inputs(input: Option<&Value>) -> Result<Vec<String>, &'static str> {
    match input {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        // A single token array is one input.
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_number) => {
            Ok(vec![Value::Array(a.clone()).to_string()])
        }
        Some(Value::Array(a)) if !a.is_empty() => Ok(a
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()),
        Some(_) => Err("'input' must be a non-empty string or array"),
        None => Err("'input' is a required property"),
    }
}

fn embeddings(ctx: &Ctx, model: &str) -> Response<MockBody> {
    let inputs = match inputs(ctx.req.input.as_ref()) {
        Ok(i) => i,
        Err(msg) => return error(Dialect::OpenAi, StatusCode::BAD_REQUEST, msg),
    };
    let dims = ctx.req.dimensions.unwrap_or(ctx.embedding_dims);
    let base64 = ctx.req.encoding_format.as_deref() == Some("base64");
    full(
        StatusCode::OK,
        render::embeddings(model, &inputs, dims, base64, ctx.prompt_tokens),
    )
}

/// `/images/generations`: `n` images (1 to 10, as OpenAI allows), each a URL (or with
/// `response_format: "b64_json"` a tiny base64 PNG header); with the request's `size` and
/// `quality` echoed in `revised_prompt` so tests can see what arrived. `usage` (as gpt-image-1
/// reports it) only with [`MockConfig::completion_tokens`](super::MockConfig) set.
fn images(ctx: &Ctx) -> Response<MockBody> {
    let body: Value = serde_json::from_slice(ctx.body).unwrap_or(Value::Null);
    let Some(prompt) = body.get("prompt").and_then(Value::as_str) else {
        return error(
            Dialect::OpenAi,
            StatusCode::BAD_REQUEST,
            "'prompt' is a required property",
        );
    };
    let n = match ctx.req.n.as_ref() {
        None => 1,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=10) => n,
            _ => {
                return error(
                    Dialect::OpenAi,
                    StatusCode::BAD_REQUEST,
                    "'n' must be an integer from 1 to 10",
                )
            }
        },
    };
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_owned()
    };
    let b64 = body.get("response_format").and_then(Value::as_str) == Some("b64_json");
    let seq = ctx.seq();
    let data: Vec<Value> = (0..n)
        .map(|i| {
            let revised = format!(
                "{prompt} [size={} quality={}]",
                text("size"),
                text("quality")
            );
            if b64 {
                serde_json::json!({"b64_json": "iVBORw0KGgo=", "revised_prompt": revised})
            } else {
                serde_json::json!({
                    "url": format!("https://mock.invalid/images/{seq}-{i}.png"),
                    "revised_prompt": revised,
                })
            }
        })
        .collect();
    let mut out = serde_json::json!({"created": unix_now(), "data": data});
    if let Some(tokens) = ctx.plan.completion_tokens {
        out["usage"] = serde_json::json!({
            "input_tokens": ctx.prompt_tokens,
            "output_tokens": tokens * n,
            "total_tokens": ctx.prompt_tokens + tokens * n,
        });
    }
    full(StatusCode::OK, Bytes::from(out.to_string()))
}
