//! Amazon Bedrock runtime: `POST /model/{modelId}/converse` (a Converse response),
//! `POST /model/{modelId}/converse-stream` (`application/vnd.amazon.eventstream`: binary AWS
//! event-stream frames, encoded with `aws-smithy-eventstream`, carrying `messageStart`,
//! [`contentBlockStart` for a tool call], `contentBlockDelta`…, `contentBlockStop`,
//! `messageStop`, `metadata`) and `POST /model/{modelId}/invoke` (Amazon Titan text embeddings;
//! the image models' bodies are `images.rs`'s).
//! Shapes follow the Bedrock API reference (Converse, ConverseStream, Titan Embeddings). Errors
//! are `{"message"}` with the exception name in `x-amzn-errortype`; an in-stream error is an
//! `:message-type: exception` frame. SigV4 is checked for shape in `dialect.rs`, never verified.

use std::time::Duration;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use aws_smithy_types::str_bytes::StrBytes;
use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::body::{MockBody, Step};
use super::dialect::{self, BedrockOp, Dialect};
use super::handler::{error, full, stream_response, Ctx};
use super::openai::tool_call_words;
use super::render::{self, embedding_vector};

/// The content type of ConverseStream responses.
pub(crate) const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// Answers `model/{modelId}/{op}`.
pub(crate) fn respond(ctx: &Ctx, op: BedrockOp) -> Response<MockBody> {
    match op {
        BedrockOp::Converse => converse(ctx, false),
        BedrockOp::ConverseStream => converse(ctx, true),
        BedrockOp::Invoke => invoke(ctx),
    }
}

fn invalid(message: &str) -> Response<MockBody> {
    error(Dialect::Bedrock, StatusCode::BAD_REQUEST, message)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConverseResponse {
    output: Output,
    stop_reason: &'static str,
    usage: Usage,
    metrics: Metrics,
}

#[derive(Serialize)]
struct Output {
    message: OutputMessage,
}

#[derive(Serialize)]
struct OutputMessage {
    role: &'static str,
    content: [Value; 1],
}

#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
struct Usage {
    input_tokens: u64,
    output_tokens: u64,
    total_tokens: u64,
}

#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
struct Metrics {
    latency_ms: u64,
}

fn converse(ctx: &Ctx, stream: bool) -> Response<MockBody> {
    if ctx.req.messages.is_none() {
        return invalid(
            "1 validation error detected: Value null at 'messages' failed to satisfy \
             constraint: Member must not be null",
        );
    }
    let plan = ctx.plan;
    let seq = ctx.seq();
    let tool_use_id = format!("tooluse_mock{seq}");
    // The one content block, whole; the stream's contentBlockStart (tool use only) and deltas.
    let (block, start, deltas, stop_reason, words) = match plan.tool_call {
        Some(tc) => {
            let input = match dialect::tool_args_object(tc) {
                Ok(v) => v,
                Err(msg) => return invalid(&msg),
            };
            let block =
                json!({"toolUse": {"toolUseId": tool_use_id, "name": tc.name, "input": input}});
            let start = json!({"toolUse": {"toolUseId": tool_use_id, "name": tc.name}});
            let deltas: Vec<Value> = render::tool_fragments(&tc.arguments)
                .into_iter()
                .map(|f| json!({"toolUse": {"input": f}}))
                .collect();
            (block, Some(start), deltas, "tool_use", tool_call_words(tc))
        }
        None => {
            let pieces = render::split_content(plan.content, plan.chunks);
            let words = plan.content.split_whitespace().count() as u64;
            let deltas = pieces.iter().map(|p| json!({"text": p})).collect();
            (
                json!({"text": plan.content}),
                None,
                deltas,
                "end_turn",
                words,
            )
        }
    };
    let output_tokens = ctx.completion_tokens(words);
    let usage = Usage {
        input_tokens: ctx.prompt_tokens,
        output_tokens,
        total_tokens: ctx.prompt_tokens + output_tokens,
    };
    let n = u32::try_from(deltas.len()).unwrap_or(u32::MAX);
    let elapsed = plan.latency + plan.chunk_interval * if stream { n } else { 0 };
    let metrics = Metrics {
        latency_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
    };

    if !stream {
        let body = ConverseResponse {
            output: Output {
                message: OutputMessage {
                    role: "assistant",
                    content: [block],
                },
            },
            stop_reason,
            usage,
            metrics,
        };
        let body = serde_json::to_vec(&body).unwrap_or_default();
        return full(StatusCode::OK, Bytes::from(body));
    }

    let mut steps: Vec<(Duration, Step)> = Vec::with_capacity(deltas.len() + 6);
    let now = |steps: &mut Vec<(Duration, Step)>, name: &'static str, payload: Value| {
        steps.push((Duration::ZERO, Step::Data(event(name, &payload))));
    };
    now(&mut steps, "messageStart", json!({"role": "assistant"}));
    if let Some(start) = start {
        let ev = json!({"contentBlockIndex": 0, "start": start});
        now(&mut steps, "contentBlockStart", ev);
    }

    // Each delta after the chunk interval. fail_after_chunks cuts the connection in place of
    // delta N (or after the last); stream_error_after_chunks sends an exception frame there
    // and ends the response cleanly. The smaller wins; on a tie, the cut.
    let n = deltas.len();
    let stop = |i: usize| {
        let at = |o: Option<usize>| o.is_some_and(|k| k == i || (i == n && k >= n));
        if at(plan.fail_after_chunks) {
            Some(Step::Fail)
        } else if at(plan.stream_error_after_chunks) {
            let kind = plan.error_type.unwrap_or("throttlingException");
            let message = plan
                .error_message
                .unwrap_or("Too many requests, please wait before trying again.");
            Some(Step::Data(exception(kind, message)))
        } else {
            None
        }
    };
    for (i, delta) in deltas.into_iter().enumerate() {
        if let Some(step) = stop(i) {
            steps.push((plan.chunk_interval, step));
            return stream_response(steps, ctx.shared, EVENT_STREAM);
        }
        let ev = json!({"contentBlockIndex": 0, "delta": delta});
        steps.push((
            plan.chunk_interval,
            Step::Data(event("contentBlockDelta", &ev)),
        ));
    }
    if let Some(step) = stop(n) {
        steps.push((Duration::ZERO, step));
        return stream_response(steps, ctx.shared, EVENT_STREAM);
    }
    now(
        &mut steps,
        "contentBlockStop",
        json!({"contentBlockIndex": 0}),
    );
    now(
        &mut steps,
        "messageStop",
        json!({"stopReason": stop_reason}),
    );
    let meta = json!({"usage": usage, "metrics": metrics});
    now(&mut steps, "metadata", meta);
    stream_response(steps, ctx.shared, EVENT_STREAM)
}

fn string(s: &'static str) -> HeaderValue {
    HeaderValue::String(StrBytes::from(s))
}

/// One encoded event-stream frame with `headers` and a JSON `payload`.
fn frame(headers: Vec<Header>, payload: &Value) -> Bytes {
    let payload = serde_json::to_vec(payload).unwrap_or_default();
    let message = Message::new_from_parts(headers, payload);
    let mut out = Vec::new();
    if let Err(e) = write_message_to(&message, &mut out) {
        // Only oversized headers or payloads fail; the mock's never are.
        log::error!("mock provider: cannot encode an event-stream frame: {e}");
    }
    Bytes::from(out)
}

/// An `:message-type: event` frame of type `event_type`.
pub(crate) fn event(event_type: &'static str, payload: &Value) -> Bytes {
    let headers = vec![
        Header::new(":event-type", string(event_type)),
        Header::new(":content-type", string("application/json")),
        Header::new(":message-type", string("event")),
    ];
    frame(headers, payload)
}

/// An `:message-type: exception` frame (`{"message"}`), as Bedrock ends a failing stream.
pub(crate) fn exception(exception_type: &str, message: &str) -> Bytes {
    let headers = vec![
        Header::new(
            ":exception-type",
            HeaderValue::String(StrBytes::from(exception_type.to_owned())),
        ),
        Header::new(":content-type", string("application/json")),
        Header::new(":message-type", string("exception")),
    ];
    frame(headers, &json!({ "message": message }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TitanRequest {
    input_text: Option<String>,
    dimensions: Option<usize>,
}

/// `invoke` with an Amazon Titan text-embeddings body: `{"inputText", "dimensions"?}` →
/// `{"embedding": [...], "inputTextTokenCount": N}`.
fn invoke(ctx: &Ctx) -> Response<MockBody> {
    if let Some(image) = super::images::bedrock(ctx) {
        return image;
    }
    let req: TitanRequest = match serde_json::from_slice(ctx.body) {
        Ok(r) => r,
        Err(e) => return invalid(&format!("Malformed input request: {e}")),
    };
    let Some(text) = req.input_text else {
        return invalid(
            "Malformed input request: #: required key [inputText] not found, please reformat \
             your input and try again.",
        );
    };
    let dims = req.dimensions.unwrap_or(ctx.embedding_dims);
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct TitanResponse {
        embedding: Vec<f32>,
        input_text_token_count: u64,
    }
    let body = TitanResponse {
        embedding: embedding_vector(&text, dims),
        input_text_token_count: ctx.prompt_tokens,
    };
    full(
        StatusCode::OK,
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    #[test]
    fn frames_decode_back() {
        let b = event("contentBlockDelta", &json!({"contentBlockIndex": 0}));
        let m = read_message_from(&b[..]).unwrap();
        let h = |name: &str| {
            m.headers()
                .iter()
                .find(|h| h.name().as_str() == name)
                .map(|h| h.value().as_string().unwrap().as_str().to_owned())
        };
        assert_eq!(h(":event-type").as_deref(), Some("contentBlockDelta"));
        assert_eq!(h(":message-type").as_deref(), Some("event"));
        assert_eq!(&m.payload()[..], br#"{"contentBlockIndex":0}"#);
        let m = read_message_from(&exception("throttlingException", "slow")[..]).unwrap();
        assert_eq!(m.headers()[0].name().as_str(), ":exception-type");
        assert_eq!(&m.payload()[..], br#"{"message":"slow"}"#);
    }
}
