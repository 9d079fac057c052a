//! Writing the provider's answer to the client: a whole body, or a stream relayed as it arrives —
//! passed through event by event when the provider already speaks canonical SSE, translated by
//! the provider's adapter otherwise.

use std::time::Instant;

use adapters::dialect::ToOpenAiStream;
use adapters::openai::stream::{classify, StreamEvent};
use adapters::sse::SseSplitter;
use adapters::ApiError;
use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::HeaderValue;
use pingora::http::ResponseHeader;
use pingora::protocols::http::client::HttpSession;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use tokio::time::timeout_at;

use adapters::anthropic::front;
use adapters::anthropic::passthrough::{self, NativeStream};

use super::responses::shape::Passed;
use crate::stored::ResponseBody;

use crate::ctx::{Front, RequestCtx};
use crate::error::{respond, respond_error, GatewayError};
use crate::state::AppState;
use crate::upstream::POOL_IDLE_TIMEOUT;

/// Status logged when the client went away before the response completed (nginx's convention).
pub const CLIENT_CLOSED: u16 = 499;

/// Bodies up to this size are sent in the same write as the header.
pub(super) const COALESCE_BODY: usize = 64 * 1024;

/// Returns the connection to the pool if its response was read completely; otherwise drops it.
pub(super) async fn release(state: &AppState, mut up: HttpSession, peer: &HttpPeer) {
    if up.response_done() {
        state
            .connector
            .release_http_session(up, peer, Some(POOL_IDLE_TIMEOUT))
            .await;
    } else {
        up.shutdown().await;
    }
}

/// Resolves when the client closes its connection. Never resolves otherwise.
pub(super) async fn client_gone(session: &mut Session) {
    // The request body was read completely, so a read here sees either EOF/error (gone) or the
    // first bytes of a pipelined next request: with pipelining on (conn.rs) Pingora keeps those
    // for the next request and the watch stays pending from then on.
    if session.read_body_or_idle(true).await.is_err() {
        return;
    }
    std::future::pending::<()>().await
}

/// Writes a complete body and records its usage: canonical for OpenAI clients, converted for
/// Anthropic clients, as the provider sent it for native pass-through.
pub async fn whole(
    session: &mut Session,
    ctx: &mut RequestCtx,
    status: u16,
    content_type: &str,
    body: Bytes,
) {
    // A Responses client's answer: the provider's object as it is, or made from the chat body.
    let mut responses_usage = None;
    let (content_type, body) = match &mut ctx.front {
        Front::Responses(shape) if status < 300 => match shape.whole(body) {
            Ok((body, usage)) => {
                responses_usage = usage;
                ("application/json", body)
            }
            Err(e) => {
                ctx.status =
                    respond_error(session, &e, &ctx.call_id, false, litellm_headers(ctx)).await;
                ctx.failure = Some(e.message);
                return;
            }
        },
        _ => (content_type, body),
    };
    if status < 300 {
        let usage = match ctx.front {
            Front::AnthropicNative => passthrough::usage_of(&body),
            Front::Responses(_) => responses_usage,
            _ => adapters::openai::response::usage_of(&body),
        };
        if let Some(u) = usage {
            ctx.note_usage(&u);
        }
        ctx.compute_cost();
    }
    let (content_type, body) = match &ctx.front {
        Front::Anthropic { model, .. } if status < 300 => {
            match front::response_from_canonical(&body, model) {
                Ok(b) => ("application/json", Bytes::from(b)),
                Err(e) => {
                    ctx.status =
                        respond_error(session, &e, &ctx.call_id, true, litellm_headers(ctx)).await;
                    ctx.failure = Some(e.message);
                    return;
                }
            }
        }
        _ => (content_type, body),
    };
    if status < 300 {
        ctx.response_id = super::translate::first_id(&body);
        if let Front::Responses(shape) = &mut ctx.front {
            // Stored before the body goes out (see `keep_final`).
            shape.store(ctx.response_id.as_deref(), ResponseBody::Json(body.clone()));
        }
    }
    ctx.status = status;
    let headers = litellm_headers(ctx);
    if let Err(e) = respond(session, status, content_type, body, &ctx.call_id, &headers).await {
        ctx.status = CLIENT_CLOSED;
        ctx.failure = Some(format!(
            "client went away while the response was written: {e}"
        ));
    }
}

/// Streams events that are all ready at once (the `mock_response` stub): one write.
pub async fn events(session: &mut Session, ctx: &mut RequestCtx, events: Vec<Bytes>) {
    ctx.status = 200;
    let mut out = BytesMut::with_capacity(events.iter().map(Bytes::len).sum());
    for e in &events {
        out.extend_from_slice(e);
    }
    let body = encode(ctx, out, true);
    ctx.response_id = super::translate::first_id(&body);
    keep_final(ctx, None);
    let written = match stream_header(session, 200, "text/event-stream", ctx).await {
        Ok(()) => session.write_response_body(Some(body), true).await,
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        ctx.status = CLIENT_CLOSED;
        ctx.failure = Some(format!("client went away: {e}"));
    }
}

/// Canonical SSE bytes → what the client reads: unchanged for OpenAI clients and native
/// pass-through, Anthropic events for Anthropic clients. `end` closes the Anthropic message.
fn encode(ctx: &mut RequestCtx, canonical: BytesMut, end: bool) -> Bytes {
    let call_id = &ctx.call_id;
    match &mut ctx.front {
        Front::OpenAi | Front::AnthropicNative => canonical.freeze(),
        Front::Responses(shape) if shape.native => canonical.freeze(),
        Front::Responses(shape) => shape.encode(&canonical, end),
        Front::Anthropic { model, stream } => {
            let enc = stream.get_or_insert_with(|| {
                Box::new(front::StreamToAnthropic::new(
                    model,
                    &format!("msg_{}", call_id.replace('-', "")),
                ))
            });
            let mut out = BytesMut::with_capacity(canonical.len() * 2);
            if let Err(e) = enc.push(&canonical, &mut out) {
                // The canonical stream itself was broken: tell the client and stop.
                out.extend_from_slice(&front::error_event(&e));
                return out.freeze();
            }
            if end {
                enc.finish(&mut out);
            }
            out.freeze()
        }
    }
}

/// LiteLLM's response headers describing how the request was served.
pub fn litellm_headers(ctx: &RequestCtx) -> Vec<(&'static str, HeaderValue)> {
    let mut h = Vec::with_capacity(7);
    if let Some(dep) = &ctx.served_by {
        h.extend(dep.headers.iter().cloned());
    }
    h.push((
        "x-litellm-attempted-retries",
        HeaderValue::from(ctx.attempted_retries),
    ));
    h.push((
        "x-litellm-attempted-fallbacks",
        HeaderValue::from(ctx.attempted_fallbacks),
    ));
    if let Some(start) = ctx.start {
        let total = start.elapsed();
        let overhead = total.saturating_sub(ctx.upstream_time);
        h.push(("x-litellm-response-duration-ms", millis(total)));
        h.push(("x-litellm-overhead-duration-ms", millis(overhead)));
    }
    if let Some(adm) = &ctx.admission {
        h.extend(adm.headers.iter().cloned());
        if let Some(cost) = ctx.cost {
            h.push(("x-litellm-response-cost", dollars(cost)));
            if adm.key.is_some() {
                h.push(("x-litellm-key-spend", dollars(adm.key_spend + cost)));
            }
        }
    }
    h
}

/// A USD amount as header text (`0.00042`).
fn dollars(v: f64) -> HeaderValue {
    let text = format!("{v:.12}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("0"))
}

/// A duration as milliseconds with three decimals (`12.345`), without float formatting.
fn millis(d: std::time::Duration) -> HeaderValue {
    let us = d.as_micros();
    let text = format!("{}.{:03}", us / 1000, us % 1000);
    HeaderValue::from_str(&text).expect("digits and a dot are valid header text")
}

/// The response header of a stream.
pub async fn stream_header(
    session: &mut Session,
    status: u16,
    content_type: &str,
    ctx: &RequestCtx,
) -> pingora::Result<()> {
    let extra = litellm_headers(ctx);
    let mut resp = ResponseHeader::build_no_case(status, Some(4 + extra.len()))?;
    resp.insert_header("content-type", content_type)?;
    resp.insert_header("cache-control", "no-cache")?;
    resp.insert_header("transfer-encoding", "chunked")?;
    resp.insert_header("x-litellm-call-id", ctx.call_id.as_str())?;
    for (name, value) in extra {
        resp.insert_header(name, value)?;
    }
    session.write_response_header(Box::new(resp), false).await
}

/// Status and content type of a stream sent to the client.
pub struct StreamOut<'a> {
    pub status: u16,
    pub content_type: &'a str,
}

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

/// Relays a stream. Provider failures after the first byte end the stream with an OpenAI-style
/// error event (and are left in `ctx.broken_stream` for the cooldown count); a client that
/// leaves makes us drop the provider connection.
#[allow(clippy::too_many_arguments)]
pub async fn stream(
    state: &AppState,
    session: &mut Session,
    ctx: &mut RequestCtx,
    mut up: HttpSession,
    peer: &HttpPeer,
    out_head: StreamOut<'_>,
    translator: Option<Box<dyn ToOpenAiStream>>,
    deadline: Instant,
) -> Result<(), GatewayError> {
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
        if !started {
            held.extend_from_slice(&out);
            if let Some(err) = failure {
                up.shutdown().await;
                return Err(GatewayError::Upstream(err));
            }
            if !(done || held.len() > PREAMBLE_LIMIT || pipeline.substance(&held)) {
                continue;
            }
            ctx.status = out_head.status;
            if stream_header(session, out_head.status, out_head.content_type, ctx)
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
            ctx.failure = Some(err.message.clone());
            up.shutdown().await;
            if matches!(ctx.front, Front::AnthropicNative) {
                out.extend_from_slice(&front::error_event(&err));
            } else if matches!(&ctx.front, Front::Responses(s) if s.native) {
                out.extend_from_slice(&adapters::responses::stream::error_event(&err));
            } else {
                out.extend_from_slice(&err.to_sse_event());
            }
            ctx.broken_stream = Some(err);
            let body = encode(ctx, out, true);
            if session.write_response_body(Some(body), true).await.is_err() {
                ctx.status = CLIENT_CLOSED;
            }
            return Ok(());
        }
        if !done && out.is_empty() {
            continue;
        }
        let body = encode(ctx, out, done);
        if ctx.response_id.is_none() {
            ctx.response_id = super::translate::first_id(&body);
        }
        if done && matches!(ctx.front, Front::Responses(_)) {
            // Stored before the last bytes go out: a client that continues the conversation
            // the moment the stream ends finds it.
            let passed = match &mut pipeline {
                Pipeline::Responses(p) => p.take_final(),
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
    release(state, up, peer).await;
    Ok(())
}

/// A Responses client's stream ended: stores its final response (`passed`: the provider's,
/// for a passed-through stream; else the bridge's) unless the request said `store: false`.
fn keep_final(ctx: &mut RequestCtx, passed: Option<serde_json::Value>) {
    if let Front::Responses(shape) = &mut ctx.front {
        let last = match passed {
            Some(v) => Some(v),
            None => shape.encoder.as_ref().and_then(|e| e.response()),
        };
        if let Some(last) = last {
            shape.store(ctx.response_id.as_deref(), ResponseBody::Value(last));
        }
    }
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

async fn client_left(
    ctx: &mut RequestCtx,
    mut up: HttpSession,
    when: &str,
) -> Result<(), GatewayError> {
    ctx.status = CLIENT_CLOSED;
    ctx.failure = Some(format!("client disconnected {when}"));
    // Not returned to the pool: the provider may still be sending.
    up.shutdown().await;
    Ok(())
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
