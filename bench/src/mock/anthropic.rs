//! The Anthropic Messages API: `POST /v1/messages` (a Message, or with `"stream": true` the SSE
//! sequence `message_start`, `content_block_start`, `ping`, `content_block_delta`…,
//! `content_block_stop`, `message_delta`, `message_stop`) and `POST /v1/messages/count_tokens`.
//! Shapes follow Anthropic's published API reference ("Messages", "Streaming Messages").

use std::time::Duration;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use super::body::{MockBody, Step};
use super::dialect::{self, Dialect};
use super::handler::{error, full, stream_response, Ctx};
use super::openai::tool_call_words;
use super::render;

/// An Anthropic event or body; serialized with `type` first, as Anthropic does.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: Message<'a>,
    },
    ContentBlockStart {
        index: u32,
        content_block: Block<'a>,
    },
    Ping,
    ContentBlockDelta {
        index: u32,
        delta: Delta<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: StopDelta<'a>,
        usage: OutputUsage,
    },
    MessageStop,
    Error {
        error: ErrorBody<'a>,
    },
}

#[derive(Serialize)]
struct Message<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block<'a>>,
    stop_reason: Option<&'a str>,
    stop_sequence: Option<()>,
    usage: Usage,
}

#[derive(Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Delta<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Serialize)]
struct StopDelta<'a> {
    stop_reason: &'a str,
    stop_sequence: Option<()>,
}

#[derive(Serialize)]
struct OutputUsage {
    output_tokens: u64,
}

#[derive(Serialize)]
struct Usage {
    input_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    output_tokens: u64,
}

/// `error` of an error body or event: `{"type", "message"}`.
#[derive(Serialize)]
pub(crate) struct ErrorBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub message: &'a str,
}

/// An HTTP error body: `{"type":"error","error":{"type","message"},"request_id"}`.
pub(crate) fn error_body(kind: &str, message: &str) -> Bytes {
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        error: ErrorBody<'a>,
        request_id: &'static str,
    }
    let body = Body {
        kind: "error",
        error: ErrorBody { kind, message },
        request_id: "req_mock",
    };
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: output,
    }
}

/// Answers `/v1/messages` (or `/v1/messages/count_tokens` when `count_tokens`).
pub(crate) fn respond(ctx: &Ctx, count_tokens: bool) -> Response<MockBody> {
    let req = ctx.req;
    if req.messages.is_none() {
        return invalid("messages: Field required");
    }
    let Some(model) = req.model.as_deref() else {
        return invalid("model: Field required");
    };
    if count_tokens {
        let body = json!({"input_tokens": ctx.prompt_tokens});
        return full(StatusCode::OK, Bytes::from(body.to_string()));
    }
    if req.max_tokens.is_none() {
        return invalid("max_tokens: Field required");
    }
    let plan = ctx.plan;
    let seq = ctx.seq();
    let id = format!("msg_mock{seq}");
    let tool_id = format!("toolu_mock{seq}");

    // The one content block: its start form, its complete form, the deltas that build it.
    let (start_block, block, deltas, stop_reason, words) = match plan.tool_call {
        Some(tc) => {
            let input = match dialect::tool_args_object(tc) {
                Ok(v) => v,
                Err(msg) => return invalid(&msg),
            };
            let block = |input| Block::ToolUse {
                id: &tool_id,
                name: &tc.name,
                input,
            };
            let deltas: Vec<Delta> = render::tool_fragments(&tc.arguments)
                .into_iter()
                .map(|f| Delta::InputJsonDelta { partial_json: f })
                .collect();
            (
                block(json!({})),
                block(input),
                deltas,
                "tool_use",
                tool_call_words(tc),
            )
        }
        None => {
            let pieces = render::split_content(plan.content, plan.chunks);
            let words = pieces
                .iter()
                .map(|p| p.split_whitespace().count() as u64)
                .sum();
            let deltas = pieces
                .into_iter()
                .map(|p| Delta::TextDelta { text: p })
                .collect();
            (
                Block::Text { text: "" },
                Block::Text { text: plan.content },
                deltas,
                "end_turn",
                words,
            )
        }
    };
    let output_tokens = ctx.completion_tokens(words);
    let message = |content, stop_reason, output| Message {
        id: &id,
        kind: "message",
        role: "assistant",
        model,
        content,
        stop_reason,
        stop_sequence: None,
        usage: usage(ctx.prompt_tokens, output),
    };

    if req.stream != Some(true) {
        let body = message(vec![block], Some(stop_reason), output_tokens);
        return full(StatusCode::OK, json_bytes(&body));
    }

    let mut steps: Vec<(Duration, Step)> = Vec::with_capacity(deltas.len() + 8);
    let now = |steps: &mut Vec<(Duration, Step)>, name: &str, ev: Event| {
        steps.push((Duration::ZERO, Step::Data(event(name, &ev))));
    };
    let start = Event::MessageStart {
        message: message(Vec::new(), None, 1),
    };
    now(&mut steps, "message_start", start);
    let block_start = Event::ContentBlockStart {
        index: 0,
        content_block: start_block,
    };
    now(&mut steps, "content_block_start", block_start);
    now(&mut steps, "ping", Event::Ping);

    // Each delta after the chunk interval. fail_after_chunks cuts the connection in place of
    // delta N (or after the last); stream_error_after_chunks sends an error event there and ends
    // the response cleanly. The smaller wins; on a tie, the cut.
    let n = deltas.len();
    let stop = |i: usize| {
        let at = |o: Option<usize>| o.is_some_and(|k| k == i || (i == n && k >= n));
        if at(plan.fail_after_chunks) {
            Some(Step::Fail)
        } else if at(plan.stream_error_after_chunks) {
            let err = Event::Error {
                error: ErrorBody {
                    kind: plan.error_type.unwrap_or("overloaded_error"),
                    message: plan.error_message.unwrap_or("Overloaded"),
                },
            };
            Some(Step::Data(event("error", &err)))
        } else {
            None
        }
    };
    for (i, delta) in deltas.into_iter().enumerate() {
        if let Some(step) = stop(i) {
            steps.push((plan.chunk_interval, step));
            return sse_response(steps, ctx);
        }
        let ev = Event::ContentBlockDelta { index: 0, delta };
        steps.push((
            plan.chunk_interval,
            Step::Data(event("content_block_delta", &ev)),
        ));
    }
    if let Some(step) = stop(n) {
        steps.push((Duration::ZERO, step));
        return sse_response(steps, ctx);
    }
    now(
        &mut steps,
        "content_block_stop",
        Event::ContentBlockStop { index: 0 },
    );
    let delta = Event::MessageDelta {
        delta: StopDelta {
            stop_reason,
            stop_sequence: None,
        },
        usage: OutputUsage { output_tokens },
    };
    now(&mut steps, "message_delta", delta);
    now(&mut steps, "message_stop", Event::MessageStop);
    sse_response(steps, ctx)
}

fn invalid(message: &str) -> Response<MockBody> {
    error(Dialect::Anthropic, StatusCode::BAD_REQUEST, message)
}

fn json_bytes(v: &impl Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

/// `event: <name>\ndata: <json>\n\n`.
fn event(name: &str, ev: &Event) -> Bytes {
    let mut out = format!("event: {name}\ndata: ").into_bytes();
    let _ = serde_json::to_writer(&mut out, ev);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

fn sse_response(steps: Vec<(Duration, Step)>, ctx: &Ctx) -> Response<MockBody> {
    stream_response(steps, ctx.shared, "text/event-stream; charset=utf-8")
}
