//! Cohere v2: `POST /v2/chat` (a chat response with `message.content[]` or
//! `message.tool_calls[]`, or with `"stream": true` the SSE sequence `message-start`,
//! `content-start`, `content-delta`…, `content-end`, `message-end`; a tool call streams as
//! `tool-plan-delta`, `tool-call-start`, `tool-call-delta`…, `tool-call-end`) and
//! `POST /v2/embed` (`embeddings.float`). Shapes follow Cohere's v2 API reference ("Chat",
//! "Chat with Streaming", "Embed"). Errors are `{"message"}`.

use std::time::Duration;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::body::{MockBody, Step};
use super::config::MockToolCall;
use super::dialect::{CohereKind, Dialect};
use super::handler::{error, full, sse_response, Ctx};
use super::openai::{push_content, tool_call_words};
use super::render::{self, embedding_vector};

/// The `tool_plan` the mock states before a tool call (Cohere always sends one).
const TOOL_PLAN: &str = "I will call the tool to answer.";

/// Answers `/v2/chat` or `/v2/embed`.
pub(crate) fn respond(ctx: &Ctx, kind: CohereKind) -> Response<MockBody> {
    if ctx.req.model.is_none() {
        return invalid("invalid request: model must be specified");
    }
    match kind {
        CohereKind::Chat => chat(ctx),
        CohereKind::Embed => embed(ctx),
    }
}

fn invalid(message: &str) -> Response<MockBody> {
    error(Dialect::Cohere, StatusCode::BAD_REQUEST, message)
}

/// A UUID-shaped response id, as Cohere's.
fn response_id(seq: u64) -> String {
    format!("00000000-0000-4000-8000-{:012x}", seq & 0xffff_ffff_ffff)
}

#[derive(Serialize)]
struct ChatResponse<'a> {
    id: &'a str,
    finish_reason: &'static str,
    message: Message<'a>,
    usage: Usage,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_plan: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<[TextPart<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCall<'a>; 1]>,
}

#[derive(Serialize)]
struct TextPart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct ToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Clone, Copy, Serialize)]
struct Tokens {
    input_tokens: u64,
    output_tokens: u64,
}

#[derive(Clone, Copy, Serialize)]
struct Usage {
    billed_units: Tokens,
    tokens: Tokens,
}

fn usage(input: u64, output: u64) -> Usage {
    let t = Tokens {
        input_tokens: input,
        output_tokens: output,
    };
    Usage {
        billed_units: t,
        tokens: t,
    }
}

/// One stream event: `id` (message-start only), `type`, `index`, `delta`, in Cohere's order.
#[derive(Serialize)]
struct Event<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<Value>,
}

/// `event: <type>\ndata: <json>\n\n`.
fn event(kind: &str, index: Option<u32>, delta: Option<Value>) -> Bytes {
    event_with_id(None, kind, index, delta)
}

fn event_with_id(id: Option<&str>, kind: &str, index: Option<u32>, delta: Option<Value>) -> Bytes {
    let ev = Event {
        id,
        kind,
        index,
        delta,
    };
    let mut out = format!("event: {kind}\ndata: ").into_bytes();
    let _ = serde_json::to_writer(&mut out, &ev);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

fn chat(ctx: &Ctx) -> Response<MockBody> {
    if ctx.req.messages.is_none() {
        return invalid("invalid request: messages must not be empty");
    }
    let plan = ctx.plan;
    let seq = ctx.seq();
    let id = response_id(seq);
    match plan.tool_call {
        Some(tc) => tool_call(ctx, tc, &id, seq),
        None => text(ctx, &id),
    }
}

fn text(ctx: &Ctx, id: &str) -> Response<MockBody> {
    let plan = ctx.plan;
    if ctx.req.stream != Some(true) {
        let words = plan.content.split_whitespace().count() as u64;
        let body = ChatResponse {
            id,
            finish_reason: "COMPLETE",
            message: Message {
                role: "assistant",
                tool_plan: None,
                content: Some([TextPart {
                    kind: "text",
                    text: plan.content,
                }]),
                tool_calls: None,
            },
            usage: usage(ctx.prompt_tokens, ctx.completion_tokens(words)),
        };
        return full(StatusCode::OK, json_bytes(&body));
    }
    let pieces = render::split_content(plan.content, plan.chunks);
    let words = pieces
        .iter()
        .map(|p| p.split_whitespace().count() as u64)
        .sum();
    let mut steps: Vec<(Duration, Step)> = Vec::with_capacity(pieces.len() + 4);
    steps.push(now(message_start(id)));
    let start = json!({"message": {"content": {"type": "text", "text": ""}}});
    steps.push(now(event("content-start", Some(0), Some(start))));
    let deltas = pieces.iter().map(|p| {
        let delta = json!({"message": {"content": {"text": p}}});
        event("content-delta", Some(0), Some(delta))
    });
    if push_content(&mut steps, ctx, deltas) {
        return sse_response(steps, ctx.shared);
    }
    steps.push(now(event("content-end", Some(0), None)));
    let u = usage(ctx.prompt_tokens, ctx.completion_tokens(words));
    steps.push(now(message_end("COMPLETE", u)));
    sse_response(steps, ctx.shared)
}

fn tool_call(ctx: &Ctx, tc: &MockToolCall, id: &str, seq: u64) -> Response<MockBody> {
    let call_id = format!("{}_mock{seq}", tc.name);
    let u = usage(
        ctx.prompt_tokens,
        ctx.completion_tokens(tool_call_words(tc)),
    );
    let call = |arguments| ToolCall {
        id: &call_id,
        kind: "function",
        function: Function {
            name: &tc.name,
            arguments,
        },
    };
    if ctx.req.stream != Some(true) {
        let body = ChatResponse {
            id,
            finish_reason: "TOOL_CALL",
            message: Message {
                role: "assistant",
                tool_plan: Some(TOOL_PLAN),
                content: None,
                tool_calls: Some([call(&tc.arguments)]),
            },
            usage: u,
        };
        return full(StatusCode::OK, json_bytes(&body));
    }
    let fragments = render::tool_fragments(&tc.arguments);
    let mut steps: Vec<(Duration, Step)> = Vec::with_capacity(fragments.len() + 5);
    steps.push(now(message_start(id)));
    let plan_delta = json!({"message": {"tool_plan": TOOL_PLAN}});
    steps.push(now(event("tool-plan-delta", None, Some(plan_delta))));
    let start = json!({"message": {"tool_calls": call("")}});
    steps.push(now(event("tool-call-start", Some(0), Some(start))));
    let deltas = fragments.iter().map(|f| {
        let delta = json!({"message": {"tool_calls": {"function": {"arguments": f}}}});
        event("tool-call-delta", Some(0), Some(delta))
    });
    if push_content(&mut steps, ctx, deltas) {
        return sse_response(steps, ctx.shared);
    }
    steps.push(now(event("tool-call-end", Some(0), None)));
    steps.push(now(message_end("TOOL_CALL", u)));
    sse_response(steps, ctx.shared)
}

fn now(b: Bytes) -> (Duration, Step) {
    (Duration::ZERO, Step::Data(b))
}

fn message_start(id: &str) -> Bytes {
    let delta = json!({"message": {
        "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []
    }});
    event_with_id(Some(id), "message-start", None, Some(delta))
}

fn message_end(finish_reason: &str, usage: Usage) -> Bytes {
    let delta = json!({"finish_reason": finish_reason, "usage": usage});
    event("message-end", None, Some(delta))
}

fn json_bytes(v: &impl Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

#[derive(Deserialize)]
struct EmbedRequest {
    texts: Option<Vec<String>>,
    input_type: Option<String>,
    embedding_types: Option<Vec<String>>,
    output_dimension: Option<usize>,
}

/// `/v2/embed`: `texts` and `input_type` are required (as for every v3+ model); only `float`
/// embeddings are produced.
fn embed(ctx: &Ctx) -> Response<MockBody> {
    let req: EmbedRequest = match serde_json::from_slice(ctx.body) {
        Ok(r) => r,
        Err(e) => return invalid(&format!("invalid request: {e}")),
    };
    let Some(texts) = req.texts.filter(|t| !t.is_empty()) else {
        return invalid("invalid request: texts must be a non-empty list of strings");
    };
    if req.input_type.is_none() {
        return invalid("invalid request: input_type is required for embed models v3 and higher");
    }
    if let Some(types) = &req.embedding_types {
        if !types.iter().any(|t| t == "float") {
            return invalid("mock provider: only float embeddings are supported");
        }
    }
    let dims = req.output_dimension.unwrap_or(ctx.embedding_dims);
    let vectors: Vec<Vec<f32>> = texts.iter().map(|t| embedding_vector(t, dims)).collect();
    #[derive(Serialize)]
    struct EmbedResponse<'a> {
        id: String,
        embeddings: Embeddings,
        texts: &'a [String],
        meta: Value,
    }
    #[derive(Serialize)]
    struct Embeddings {
        float: Vec<Vec<f32>>,
    }
    let body = EmbedResponse {
        id: response_id(ctx.seq()),
        embeddings: Embeddings { float: vectors },
        texts: &texts,
        meta: json!({
            "api_version": {"version": "2"},
            "billed_units": {"input_tokens": ctx.prompt_tokens},
        }),
    };
    full(StatusCode::OK, json_bytes(&body))
}
