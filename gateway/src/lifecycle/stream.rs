//! Stage 5, relay, for a stream: provider bytes → canonical SSE (passed through event by event
//! when the provider already speaks it, translated by the provider's adapter otherwise, or the
//! client's own API passed through as sent) → the client's API (`front::encode`), written as
//! they arrive. Nothing goes out until the stream has substance, so an early failure can still
//! be retried; a failure after that ends the stream with an error event.

use std::time::Instant;

use adapters::anthropic::passthrough::NativeStream;
use adapters::dialect::ToOpenAiStream;
use adapters::openai::stream::{classify, StreamEvent};
use adapters::sse::SseSplitter;
use adapters::ApiError;
use bytes::BytesMut;
use futures_util::FutureExt;
use pingora::protocols::http::client::HttpSession;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use tokio::time::timeout_at;

use super::front::{self, responses_out::Passed};
use super::relay::{
    client_gone, client_left, keep_final, release, stream_header, CLIENT_CLOSED, COALESCE_BODY,
};
use crate::ctx::{Front, RequestCtx};
use crate::error::GatewayError;
use crate::reply;
use crate::state::AppState;

/// Turns provider bytes into canonical SSE bytes (or, for native pass-through, the provider's).
enum Pipeline {
    /// The provider speaks canonical SSE: split into events, note usage, pass through.
    Pass(SseSplitter),
    /// The provider's own stream format, translated by its adapter.
    Translate(Box<dyn ToOpenAiStream>),
    /// An Anthropic client on an Anthropic deployment: events pass through as sent, usage read.
    Anthropic(NativeStream),
    /// A Responses client on a deployment that speaks Responses: likewise (boxed: the chat
    /// path does not pay for its size).
    Responses(Box<Passed>),
}

impl Pipeline {
    fn push(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        ctx: &mut RequestCtx,
    ) -> Result<(), ApiError> {
        match self {
            Pipeline::Pass(splitter) => {
                splitter.push(input);
                while let Some(event) = splitter.next_event() {
                    match classify(&event) {
                        StreamEvent::Chunk { usage: Some(u) } => {
                            ctx.note_usage(&u);
                            if ctx.strip_usage && adapters::openai::stream::usage_only(&event) {
                                continue;
                            }
                        }
                        StreamEvent::Chunk { usage: None } => {
                            ctx.streamed_events += 1;
                            if ctx.strip_usage {
                                // `"usage":null` is there only because the gateway asked.
                                const NULL_USAGE: &[u8] = b",\"usage\":null";
                                if let Some(at) = memchr::memmem::find(&event, NULL_USAGE) {
                                    out.extend_from_slice(&event[..at]);
                                    out.extend_from_slice(&event[at + NULL_USAGE.len()..]);
                                    continue;
                                }
                            }
                        }
                        // The provider failed inside the stream: an error, so the router can
                        // still retry if nothing reached the client yet.
                        StreamEvent::Error => return Err(in_stream_error(&event)),
                        _ => {}
                    }
                    out.extend_from_slice(&event);
                }
                Ok(())
            }
            Pipeline::Translate(t) => {
                let r = t.push(input, out);
                note_usage(t.as_ref(), ctx);
                r
            }
            Pipeline::Anthropic(s) => {
                let r = s.push(input, out);
                if let Some(u) = s.usage() {
                    ctx.note_usage(&u);
                }
                ctx.streamed_events = s.content_events();
                r
            }
            Pipeline::Responses(p) => {
                if let Some(u) = p.push(input, out)? {
                    ctx.note_usage(&u);
                }
                Ok(())
            }
        }
    }

    /// Whether the bytes held before the stream starts include something a client acts on.
    fn substance(&self, held: &[u8]) -> bool {
        match self {
            Pipeline::Anthropic(s) => s.substance(),
            Pipeline::Responses(_) => Passed::substance(held),
            _ => has_substance(held),
        }
    }

    fn finish(&mut self, out: &mut BytesMut, ctx: &mut RequestCtx) -> Result<(), ApiError> {
        match self {
            Pipeline::Pass(splitter) => {
                if let Some(rest) = splitter.take_remainder() {
                    out.extend_from_slice(&rest);
                }
                Ok(())
            }
            Pipeline::Translate(t) => {
                let r = t.finish(out);
                note_usage(t.as_ref(), ctx);
                r
            }
            Pipeline::Anthropic(s) => {
                s.finish(out);
                Ok(())
            }
            Pipeline::Responses(p) => {
                if let Some(u) = p.finish()? {
                    ctx.note_usage(&u);
                }
                Ok(())
            }
        }
    }

    fn buffered_hint(&self) -> usize {
        match self {
            Pipeline::Pass(s) => s.buffered(),
            Pipeline::Anthropic(s) => s.buffered(),
            Pipeline::Translate(_) | Pipeline::Responses(_) => 0,
        }
    }
}

fn note_usage(t: &dyn ToOpenAiStream, ctx: &mut RequestCtx) {
    if let Some(u) = t.usage() {
        ctx.note_usage(&u);
    }
}

/// A provider's streamed answer, as forward hands it over.
pub struct Streamed<'a> {
    /// The connection it arrives on, and the peer that connection goes back to the pool for.
    pub up: HttpSession,
    pub peer: &'a HttpPeer,
    /// Status and content type of the stream sent to the client.
    pub status: u16,
    pub content_type: &'a str,
    /// The provider's stream translator (`None`: it speaks canonical SSE, or the client's API).
    pub translator: Option<Box<dyn ToOpenAiStream>>,
    /// When the attempt must be done.
    pub deadline: Instant,
}

/// Relays a stream. Provider failures after the first byte end the stream with an error event
/// in the client's API (`reply::stream_error`), and are left in `ctx.broken_stream` for the
/// cooldown count, with the stream's last bytes (sent after the count); a client that leaves
/// makes us drop the provider connection.
pub async fn stream(
    state: &AppState,
    session: &mut Session,
    ctx: &mut RequestCtx,
    streamed: Streamed<'_>,
) -> Result<(), GatewayError> {
    let Streamed {
        mut up,
        peer,
        status,
        content_type,
        translator,
        deadline,
    } = streamed;
    // Nothing is sent until the provider produced something worth sending (content, a tool
    // call, a finish reason or usage — not just a role preamble): an error before that is
    // returned, so the router can retry or fall back as if the provider had answered with an
    // error status.
    let mut started = false;
    let mut held = BytesMut::new();
    let mut pipeline = match (translator, &ctx.front) {
        (Some(t), _) => Pipeline::Translate(t),
        (None, Front::AnthropicNative) => Pipeline::Anthropic(NativeStream::new()),
        (None, Front::Responses(shape)) if shape.native => {
            Pipeline::Responses(Box::new(Passed::new()))
        }
        (None, _) => Pipeline::Pass(SseSplitter::new()),
    };
    let mut done = false;
    let mut pending = 0usize;
    // Post-call guardrails: text held back only as far as a pattern can span.
    let mut guard = crate::guard::stream_filter(ctx);
    let mut guard_secs = 0.0;
    while !done {
        let first = tokio::select! {
            r = timeout_at(deadline.into(), up.read_response_body()) => r,
            _ = client_gone(session) => return client_left(ctx, up, "mid-stream").await,
        };
        let mut out = BytesMut::with_capacity(pipeline.buffered_hint() + 1024);
        let mut failure = None;
        let mut feed =
            |chunk: &[u8], out: &mut BytesMut, ctx: &mut RequestCtx, pending: &mut usize| {
                *pending += chunk.len();
                pipeline.push(chunk, out, ctx)
            };
        match first {
            Ok(Ok(Some(chunk))) => failure = feed(&chunk, &mut out, ctx, &mut pending).err(),
            Ok(Ok(None)) => done = true,
            Ok(Err(e)) => failure = Some(stream_failed(&e)),
            Err(_) => failure = Some(stream_deadline()),
        }
        // Whatever else the provider has already sent goes out in the same write: one send per
        // wake-up instead of one per event.
        while failure.is_none() && !done && pending < COALESCE_BODY {
            match up.read_response_body().now_or_never() {
                Some(Ok(Some(more))) => failure = feed(&more, &mut out, ctx, &mut pending).err(),
                Some(Ok(None)) => done = true,
                Some(Err(e)) => failure = Some(stream_failed(&e)),
                None => break,
            }
        }
        pending = 0;
        if done && failure.is_none() {
            failure = pipeline.finish(&mut out, ctx).err();
        }
        if ctx.include_cost
            && ctx.usage_seen
            && matches!(ctx.front, Front::OpenAi)
            && memchr::memmem::find(&out, b"\"usage\"").is_some()
        {
            let cost = ctx.compute_cost();
            add_cost(&mut out, cost);
        }
        if let Some(g) = guard.as_mut() {
            let t = Instant::now();
            let r = g.filter(&out, done || failure.is_some());
            guard_secs += t.elapsed().as_secs_f64();
            let r = match r {
                Err(b) => {
                    crate::guard::note_post(ctx, &g.counts, Some(&b), guard_secs);
                    Err(crate::guard::blocked_error(&b))
                }
                // External post checks held the stream: it goes to their services now.
                Ok(_) if failure.is_none() && g.external_due(done) => {
                    let r = g.check_external(ctx).await;
                    if r.is_err() {
                        crate::guard::note_post(ctx, &g.counts, None, guard_secs);
                    }
                    r
                }
                Ok(o) => Ok(o),
            };
            match r {
                Ok(o) => out = o,
                Err(err) => {
                    up.shutdown().await;
                    if !started {
                        reply::api_error(session, ctx, &err, reply::Served::Llm).await;
                        return Ok(());
                    }
                    // Cut off mid-stream: what was released stays, then an error event.
                    let mut out = BytesMut::new();
                    reply::stream_error(ctx, &err, &mut out);
                    let body = front::encode(ctx, out, true);
                    if session.write_response_body(Some(body), true).await.is_err() {
                        ctx.status = CLIENT_CLOSED;
                    }
                    return Ok(());
                }
            }
        }
        if !started {
            held.extend_from_slice(&out);
            if let Some(err) = failure {
                up.shutdown().await;
                return Err(GatewayError::Upstream(err));
            }
            if !(done || held.len() > PREAMBLE_LIMIT || pipeline.substance(&held)) {
                continue;
            }
            ctx.status = status;
            // The answer has started: no longer a hanging request.
            ctx.hanging = None;
            if stream_header(session, status, content_type, ctx)
                .await
                .is_err()
            {
                return client_left(ctx, up, "before the stream started").await;
            }
            started = true;
            crate::observe::first_token(ctx);
            out = std::mem::take(&mut held);
        }
        if let Some(err) = failure {
            // Events that arrived before the failure still reach the client, then the error;
            // routing counts the failure against the deployment (it cannot be retried).
            up.shutdown().await;
            reply::stream_error(ctx, &err, &mut out);
            // The attempt loop counts the failure, then sends these last bytes: a client's
            // next request, sent when it sees the stream end, already finds the cooldown.
            let body = front::encode(ctx, out, true);
            ctx.broken_stream = Some((err, body));
            return Ok(());
        }
        if !done && out.is_empty() {
            continue;
        }
        crate::cache::collect(ctx, &out, done);
        let body = front::encode(ctx, out, done);
        if ctx.response_id.is_none() {
            ctx.response_id = super::translate::first_id(&body);
        }
        if done && matches!(ctx.front, Front::Responses(_)) {
            // Stored before the last bytes go out: a client that continues the conversation
            // the moment the stream ends finds it.
            let passed = match &mut pipeline {
                // Post-call guardrails checked the final response the client got: that one
                // is stored.
                Pipeline::Responses(p) => guard
                    .as_mut()
                    .and_then(|g| g.final_response.take())
                    .or_else(|| p.take_final()),
                _ => None,
            };
            keep_final(ctx, passed);
        }
        if session.write_response_body(Some(body), done).await.is_err() {
            if done {
                ctx.failure = Some("client went away at the end of the stream".into());
                break;
            }
            return client_left(ctx, up, "mid-stream").await;
        }
    }
    if let Some(g) = guard {
        crate::guard::note_post(ctx, &g.counts, None, guard_secs);
    }
    release(state, up, peer).await;
    Ok(())
}

/// `include_cost_in_streaming_usage`: puts `"cost": <USD>` first in every `usage` object of
/// canonical SSE bytes (the usage chunk; `"usage":null` is left alone), as LiteLLM does.
fn add_cost(out: &mut BytesMut, cost: f64) {
    let field = format!("\"cost\":{cost}");
    let mut from = 0;
    while let Some(at) = memchr::memmem::find(&out[from..], b"\"usage\"").map(|i| from + i) {
        from = at + 7;
        // A `"usage"` inside a JSON string has its quotes escaped.
        if at > 0 && out[at - 1] == b'\\' {
            continue;
        }
        let skip_ws = |mut i: usize| {
            while out.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            i
        };
        let colon = skip_ws(from);
        if out.get(colon) != Some(&b':') {
            continue;
        }
        let open = skip_ws(colon + 1);
        if out.get(open) != Some(&b'{') {
            continue;
        }
        let empty = out.get(skip_ws(open + 1)) == Some(&b'}');
        let insert = if empty {
            field.clone()
        } else {
            format!("{field},")
        };
        let tail = out.split_off(open + 1);
        out.extend_from_slice(insert.as_bytes());
        out.unsplit(tail);
        from = open + 1 + insert.len();
    }
}

/// Canonical bytes held back before a stream starts, at most.
const PREAMBLE_LIMIT: usize = 16 * 1024;

/// Whether canonical SSE bytes hold an event a client would act on: content, a tool call, a
/// finish reason or usage (a role-only first chunk is not).
fn has_substance(events: &[u8]) -> bool {
    let mut splitter = SseSplitter::new();
    splitter.push(events);
    while let Some(event) = splitter.next_event() {
        let Some(data) = adapters::sse::event_data(&event) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) else {
            continue;
        };
        let choice = &v["choices"][0];
        let delta = &choice["delta"];
        let text = |k: &str| delta[k].as_str().is_some_and(|t| !t.is_empty());
        if text("content")
            || text("reasoning_content")
            || delta["tool_calls"].is_array()
            || choice["text"].as_str().is_some_and(|t| !t.is_empty())
            || !choice["finish_reason"].is_null()
            || !v["usage"].is_null()
        {
            return true;
        }
    }
    false
}

/// The error of a provider's `data: {"error": …}` event, with a status the router acts on:
/// context-length errors are 400 (context-window fallbacks), rate limits 429, the rest 503.
fn in_stream_error(event: &[u8]) -> ApiError {
    let data = adapters::sse::event_data(event).unwrap_or_default();
    let text = String::from_utf8_lossy(&data);
    let status = if text.contains("context_length_exceeded") {
        400
    } else if text.contains("rate_limit") {
        429
    } else {
        503
    };
    adapters::error::from_openai_reply(status, &data)
}

fn stream_failed(e: &pingora::Error) -> ApiError {
    ApiError::new(
        502,
        "api_error",
        format!("The provider's stream failed: {e}"),
    )
    .with_code("502")
}

fn stream_deadline() -> ApiError {
    ApiError::new(
        504,
        "timeout",
        "The provider's stream exceeded the request deadline",
    )
    .with_code("504")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cost(input: &str, cost: f64) -> String {
        let mut out = BytesMut::from(input);
        add_cost(&mut out, cost);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn cost_goes_into_usage_objects_only() {
        let usage = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5}}\n\ndata: [DONE]\n\n";
        assert_eq!(
            with_cost(usage, 0.00025),
            "data: {\"choices\":[],\"usage\":{\"cost\":0.00025,\"prompt_tokens\":3,\"completion_tokens\":5}}\n\ndata: [DONE]\n\n"
        );
        // Spaces as some servers write them, an empty object, null, and text that mentions it.
        assert_eq!(
            with_cost("{\"usage\" : { \"total_tokens\": 1}}", 1.5),
            "{\"usage\" : {\"cost\":1.5, \"total_tokens\": 1}}"
        );
        assert_eq!(with_cost("{\"usage\":{}}", 0.0), "{\"usage\":{\"cost\":0}}");
        let untouched = "{\"delta\":{\"content\":\"say \\\"usage\\\":{x}\"},\"usage\":null}";
        assert_eq!(with_cost(untouched, 1.0), untouched);
        let parsed: serde_json::Value = serde_json::from_str(
            with_cost("{\"usage\":{\"prompt_tokens\":1}}", 0.000000123).as_str(),
        )
        .unwrap();
        assert_eq!(parsed["usage"]["cost"].as_f64(), Some(0.000000123));
    }
}
