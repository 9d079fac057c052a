//! The OpenAI Responses API, `POST /v1/responses` (also Azure's `/openai/responses?api-version=`):
//! a `response` object whose output is one assistant `message` (or, with a tool call planned,
//! one `function_call` item), or with `"stream": true` the typed SSE sequence `response.created`,
//! `response.in_progress`, `response.output_item.added`, `response.content_part.added`,
//! `response.output_text.delta`… (or `response.function_call_arguments.delta`…), the `.done`
//! events, and `response.completed` carrying the whole response with its usage. Shapes follow
//! OpenAI's published API reference ("Responses", "Streaming events"); request fields the
//! response echoes (`instructions`, `tools`, `max_output_tokens`, …) are echoed.

use std::time::Duration;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{json, Map, Value};

use super::body::{MockBody, Step};
use super::dialect::Dialect;
use super::handler::{error, full, sse_response, unix_now, Ctx};
use super::openai::{push_content, tool_call_words};
use super::render;

/// A request field a response object echoes, and OpenAI's default for it.
type Echoed = (&'static str, fn() -> Value);

/// Request fields a response object echoes, with OpenAI's defaults.
const ECHOED: [Echoed; 13] = [
    ("instructions", || Value::Null),
    ("max_output_tokens", || Value::Null),
    ("metadata", || json!({})),
    ("parallel_tool_calls", || json!(true)),
    ("previous_response_id", || Value::Null),
    ("reasoning", || json!({"effort": null, "summary": null})),
    ("store", || json!(true)),
    ("temperature", || json!(1.0)),
    ("text", || json!({"format": {"type": "text"}})),
    ("tool_choice", || json!("auto")),
    ("tools", || json!([])),
    ("top_p", || json!(1.0)),
    ("truncation", || json!("disabled")),
];

/// Answers a Responses request for `model` (the body's, or Azure's deployment).
pub(crate) fn respond(ctx: &Ctx, model: Option<&str>) -> Response<MockBody> {
    let body: Map<String, Value> = match serde_json::from_slice(ctx.body) {
        Ok(Value::Object(m)) => m,
        _ => return invalid("The request body must be a JSON object"),
    };
    let Some(model) = model.or(ctx.req.model.as_deref()) else {
        return invalid("Missing required parameter: 'model'.");
    };
    if !body.contains_key("input") && !body.contains_key("previous_response_id") {
        return invalid("Missing required parameter: 'input'.");
    }
    let seq = ctx.seq();
    let plan = ctx.plan;
    let mut base = Map::new();
    base.insert("id".into(), json!(format!("resp_mock{seq}")));
    base.insert("object".into(), json!("response"));
    base.insert("created_at".into(), json!(unix_now()));
    base.insert("status".into(), json!("in_progress"));
    base.insert("error".into(), Value::Null);
    base.insert("incomplete_details".into(), Value::Null);
    base.insert("model".into(), json!(model));
    base.insert("output".into(), json!([]));
    for (k, default) in ECHOED {
        let v = body.get(k).filter(|v| !v.is_null()).cloned();
        base.insert(k.into(), v.unwrap_or_else(default));
    }
    base.insert("usage".into(), Value::Null);
    base.insert(
        "user".into(),
        body.get("user").cloned().unwrap_or(Value::Null),
    );

    let item_id = format!("msg_mock{seq}");
    let fc_id = format!("fc_mock{seq}");
    let call_id = format!("call_mock{seq}");
    // The one output item: its `in_progress` form, its complete form, its deltas.
    let (start, done, deltas, words): (Value, Value, Vec<&str>, u64) = match plan.tool_call {
        Some(tc) => (
            json!({"type": "function_call", "id": fc_id, "call_id": call_id, "name": tc.name,
                   "arguments": "", "status": "in_progress"}),
            json!({"type": "function_call", "id": fc_id, "call_id": call_id, "name": tc.name,
                   "arguments": tc.arguments, "status": "completed"}),
            render::tool_fragments(&tc.arguments),
            tool_call_words(tc),
        ),
        None => (
            json!({"type": "message", "id": item_id, "status": "in_progress",
                   "role": "assistant", "content": []}),
            json!({"type": "message", "id": item_id, "status": "completed", "role": "assistant",
                   "content": [text_part(plan.content)]}),
            render::split_content(plan.content, plan.chunks),
            plan.content.split_whitespace().count() as u64,
        ),
    };
    let sent_words: u64 = if plan.tool_call.is_some() {
        words
    } else {
        deltas
            .iter()
            .map(|d| d.split_whitespace().count() as u64)
            .sum()
    };
    let stream = ctx.req.stream == Some(true);
    let output_tokens = ctx.completion_tokens(if stream { sent_words } else { words });
    let mut completed = base.clone();
    completed.insert("status".into(), json!("completed"));
    completed.insert("output".into(), json!([done]));
    completed.insert("usage".into(), usage(ctx.prompt_tokens, output_tokens));
    if !stream {
        return full(
            StatusCode::OK,
            Bytes::from(Value::Object(completed).to_string()),
        );
    }

    let mut n = 0u64;
    let mut event = |kind: &str, mut fields: Value| -> Bytes {
        fields["type"] = json!(kind);
        fields["sequence_number"] = json!(n);
        n += 1;
        Bytes::from(format!("event: {kind}\ndata: {fields}\n\n"))
    };
    let mut steps: Vec<(Duration, Step)> = Vec::with_capacity(deltas.len() + 8);
    let now = |steps: &mut Vec<(Duration, Step)>, b: Bytes| {
        steps.push((Duration::ZERO, Step::Data(b)));
    };
    let created = Value::Object(base);
    now(
        &mut steps,
        event("response.created", json!({"response": created})),
    );
    now(
        &mut steps,
        event("response.in_progress", json!({"response": created})),
    );
    now(
        &mut steps,
        event(
            "response.output_item.added",
            json!({"output_index": 0, "item": start}),
        ),
    );
    let tool = plan.tool_call.is_some();
    let id = if tool { &fc_id } else { &item_id };
    if !tool {
        now(
            &mut steps,
            event(
                "response.content_part.added",
                json!({"item_id": id, "output_index": 0, "content_index": 0,
                       "part": text_part("")}),
            ),
        );
    }
    let delta_events: Vec<Bytes> = deltas
        .iter()
        .map(|d| {
            if tool {
                event(
                    "response.function_call_arguments.delta",
                    json!({"item_id": id, "output_index": 0, "delta": d}),
                )
            } else {
                event(
                    "response.output_text.delta",
                    json!({"item_id": id, "output_index": 0, "content_index": 0, "delta": d,
                           "logprobs": []}),
                )
            }
        })
        .collect();
    if push_content(&mut steps, ctx, delta_events.into_iter()) {
        return sse_response(steps, ctx.shared);
    }
    let text: String = deltas.concat();
    if tool {
        now(
            &mut steps,
            event(
                "response.function_call_arguments.done",
                json!({"item_id": id, "output_index": 0, "arguments": text}),
            ),
        );
    } else {
        now(
            &mut steps,
            event(
                "response.output_text.done",
                json!({"item_id": id, "output_index": 0, "content_index": 0, "text": text,
                       "logprobs": []}),
            ),
        );
        now(
            &mut steps,
            event(
                "response.content_part.done",
                json!({"item_id": id, "output_index": 0, "content_index": 0,
                       "part": text_part(&text)}),
            ),
        );
    }
    now(
        &mut steps,
        event(
            "response.output_item.done",
            json!({"output_index": 0, "item": done}),
        ),
    );
    now(
        &mut steps,
        event(
            "response.completed",
            json!({"response": Value::Object(completed)}),
        ),
    );
    sse_response(steps, ctx.shared)
}

fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": []})
}

/// ResponseUsage.
fn usage(input: u64, output: u64) -> Value {
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output,
    })
}

fn invalid(message: &str) -> Response<MockBody> {
    error(Dialect::OpenAi, StatusCode::BAD_REQUEST, message)
}
