//! Stage 5, forward: connect to the provider through Pingora's pooled connector, send the
//! translated request, and relay the answer — a whole JSON body, or an SSE stream event by
//! event — while watching deadlines and the client's connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters::CanonicalRequest;
use bytes::{Bytes, BytesMut};
use pingora::http::RequestHeader;
use pingora::protocols::http::client::HttpSession;
use pingora::protocols::http::v1::client::{http_req_header_to_wire, HttpSession as Http1Session};
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use pingora::{ErrorType, OrErr};
use tokio::io::AsyncWriteExt;
use tokio::time::timeout_at;

use super::controls::Mock;
use super::relay::{self, client_gone, release, CLIENT_CLOSED, COALESCE_BODY};
use super::{stream, translate};
use crate::ctx::RequestCtx;
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::runtime::Runtime;
use crate::state::AppState;
use crate::upstream::Upstream;

/// Largest upstream error body read for relaying; the rest is discarded.
const MAX_ERROR_BODY: usize = 1 << 20;
/// Largest non-streaming upstream body accepted.
const MAX_RESPONSE_BODY: usize = 256 << 20;

/// One call to make: the request, the deployment chosen for it, the request's deadline.
pub struct Call<'a> {
    pub req: &'a CanonicalRequest,
    pub dep: &'a DeploymentRt,
    pub deadline: Instant,
    /// A request already in the provider's dialect (Anthropic clients on Anthropic
    /// deployments): sent as it is, and the answer relayed unchanged.
    pub native: Option<(Box<RequestHeader>, Bytes)>,
}

/// Calls the deployment and writes its answer to the client.
pub async fn forward(
    state: &Arc<AppState>,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    call: Call<'_>,
) -> Result<(), GatewayError> {
    let Call {
        req,
        dep,
        deadline: request_deadline,
        native,
    } = call;
    if let Some(m) = ctx.controls().mock.clone() {
        ctx.mocked = true;
        return serve_request_mock(session, ctx, req, dep, m).await;
    }
    if let Some(content) = &dep.conf.mock_response {
        return serve_mock(session, ctx, req, &dep.conf.model, content).await;
    }
    let group = &req.model;
    let now = Instant::now();
    // The request's `timeout` replaces the deployment's (both bounded by the request deadline).
    let attempt_timeout = ctx
        .controls()
        .timeout
        .or(dep.conf.timeout)
        .unwrap_or(runtime.config.litellm.request_timeout);
    let deadline = request_deadline.min(now + attempt_timeout);
    let stream_timeout = ctx.controls().stream_timeout.or(dep.conf.stream_timeout);
    let first_byte_deadline = match (req.stream, stream_timeout) {
        (true, Some(t)) => deadline.min(now + t),
        _ => deadline,
    };
    let timeout_err = |until: Instant| GatewayError::UpstreamTimeout {
        group: group.clone(),
        secs: until.saturating_duration_since(now).as_secs_f64(),
    };
    if ctx.controls().mock_timeout && ctx.attempted_fallbacks == 0 {
        // `mock_timeout`: the requested group's attempts time out without calling anyone.
        ctx.mocked = true;
        tokio::time::sleep_until(first_byte_deadline.into()).await;
        return Err(timeout_err(first_byte_deadline));
    }
    let upstream = dep
        .upstream
        .as_ref()
        .expect("config validation guarantees an api_base for non-mock deployments");
    let token = match &dep.gcp {
        Some(tokens) => {
            Some(
                tokens
                    .token()
                    .await
                    .map_err(|detail| GatewayError::UpstreamUnreachable {
                        group: group.clone(),
                        detail,
                    })?,
            )
        }
        None => None,
    };
    let model = crate::deployment::upstream_model(&dep.conf.model, ctx.wildcard_match.as_deref());
    let mut target = translate::target(
        dep,
        runtime.config.litellm.drop_params || ctx.controls().drop_params,
    );
    target.model = &model;
    if let Some(t) = &token {
        target.api_key = Some(t);
    }
    // `native`: the client already speaks the provider's dialect; its body goes as it is and the
    // answer comes back unchanged.
    let translated = native.is_none();
    let (mut header, body) = match native {
        Some(prebuilt) => prebuilt,
        None => translate::upstream_request(upstream, req, &target)?,
    };
    if let Some(tp) = crate::observe::upstream_traceparent(ctx) {
        let _ = header.insert_header("traceparent", tp);
    }
    let connect_timeout = runtime.config.tollgate.connect_timeout;

    // Boxed: the connect/send/read-header future is several KiB, and `timeout_at` and
    // `select!` would each move it (callgrind: ~40k instructions of memcpy per request).
    let exchange = Box::pin(exchange(
        state,
        upstream,
        connect_timeout,
        header,
        body,
        group,
    ));
    let waited = Instant::now();
    let (mut up, peer) = tokio::select! {
        r = timeout_at(first_byte_deadline.into(), exchange) => match r {
            Ok(r) => r?,
            Err(_) => return Err(timeout_err(first_byte_deadline)),
        },
        _ = client_gone(session) => {
            ctx.status = CLIENT_CLOSED;
            ctx.failure = Some("client disconnected while waiting for the provider".into());
            return Ok(());
        }
    };
    ctx.upstream_time += waited.elapsed();
    dep.load.record_latency(waited.elapsed());
    let resp = up
        .response_header()
        .expect("read_response_header succeeded");
    let status = resp.status.as_u16();
    ctx.upstream_status = Some(status);
    crate::observe::provider_headers(ctx, &resp.headers);
    let content_type = resp
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();

    if status >= 400 {
        ctx.provider_retry_after = resp
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let body = match timeout_at(deadline.into(), read_capped(&mut up, MAX_ERROR_BODY)).await {
            Ok(Ok((body, _))) => body,
            _ => BytesMut::new(),
        };
        release(state, up, &peer).await;
        return Err(GatewayError::Upstream(adapters::dialect::translate_error(
            &target, status, &body,
        )));
    }

    let id = translate::response_id(&ctx.call_id);
    let meta = translate::meta(&id, &target);
    if req.stream {
        let translator = if translated {
            adapters::dialect::stream_translator(req, &target, meta)
                .map_err(GatewayError::Invalid)?
        } else {
            None
        };
        // A provider that ignored `stream` and answered with one JSON body is relayed as such.
        if translator.is_some() || content_type.starts_with("text/event-stream") {
            let streamed = stream::Streamed {
                up,
                peer: &peer,
                status,
                content_type: if translator.is_some() {
                    "text/event-stream"
                } else {
                    &content_type
                },
                translator,
                deadline,
            };
            return stream::stream(state, session, ctx, streamed).await;
        }
    }

    // A whole body: read it (bounded by the deadline and the client's presence), then send it.
    let read = tokio::select! {
        r = timeout_at(deadline.into(), read_capped(&mut up, MAX_RESPONSE_BODY)) => r,
        _ = client_gone(session) => {
            ctx.status = CLIENT_CLOSED;
            ctx.failure = Some("client disconnected while the provider was answering".into());
            return Ok(());
        }
    };
    let body = match read {
        Err(_) => return Err(timeout_err(deadline)),
        Ok(Err(detail)) => {
            return Err(GatewayError::UpstreamProtocol {
                group: group.clone(),
                detail,
            })
        }
        Ok(Ok((_, true))) => {
            return Err(GatewayError::UpstreamProtocol {
                group: group.clone(),
                detail: format!("response body larger than {MAX_RESPONSE_BODY} bytes"),
            })
        }
        Ok(Ok((body, false))) => body.freeze(),
    };
    release(state, up, &peer).await;
    let canonical = if translated {
        adapters::dialect::translate_response(req, &target, meta, &body)
            .map_err(GatewayError::Upstream)?
    } else {
        None
    };
    let body = canonical.map(Bytes::from).unwrap_or(body);
    relay::whole(session, ctx, status, &content_type, body).await;
    Ok(())
}

/// Connects (reusing a pooled connection when there is one), sends the request and reads the
/// response header. A pooled connection the provider already closed is retried on a new one.
pub(crate) async fn exchange(
    state: &AppState,
    upstream: &Upstream,
    connect_timeout: Duration,
    header: Box<RequestHeader>,
    body: Bytes,
    group: &str,
) -> Result<(HttpSession, HttpPeer), GatewayError> {
    let unreachable = |detail: String| GatewayError::UpstreamUnreachable {
        group: group.to_string(),
        detail,
    };
    let addr = upstream.addr(connect_timeout).await.map_err(unreachable)?;
    let peer = upstream.peer(addr, connect_timeout);
    let mut stale_retries = 0;
    loop {
        let (s, reused) = state
            .connector
            .get_http_session(&peer)
            .await
            .map_err(|e| unreachable(format!("connect to {addr}: {e}")))?;
        match send_and_read_header(s, &peer, header.clone(), body.clone()).await {
            Ok(s) => return Ok((s, peer)),
            Err(e) if reused && stale_retries < 2 => {
                log::debug!("pooled connection to {addr} was stale ({e}); retrying on a new one");
                stale_retries += 1;
            }
            Err(e) => return Err(unreachable(format!("{addr}: {e}"))),
        }
    }
}

/// Sends the request and reads the response header (skipping 1xx). On HTTP/1 the header and a
/// body of up to [`COALESCE_BODY`] go out in one write: Pingora's client flushes the header
/// separately, which costs a second packet and a second wake-up of the provider per request.
async fn send_and_read_header(
    s: HttpSession,
    peer: &HttpPeer,
    header: Box<RequestHeader>,
    body: Bytes,
) -> pingora::Result<HttpSession> {
    let mut s = match s {
        HttpSession::H1(h1) => {
            let mut stream = h1.into_inner();
            let mut wire = http_req_header_to_wire(&header).ok_or_else(|| {
                pingora::Error::explain(ErrorType::InvalidHTTPHeader, "unencodable request header")
            })?;
            if body.len() <= COALESCE_BODY {
                wire.extend_from_slice(&body);
                stream
                    .write_all(&wire)
                    .await
                    .or_err(ErrorType::WriteError, "writing request")?;
            } else {
                stream
                    .write_all(&wire)
                    .await
                    .or_err(ErrorType::WriteError, "writing request header")?;
                stream
                    .write_all(&body)
                    .await
                    .or_err(ErrorType::WriteError, "writing request body")?;
            }
            stream
                .flush()
                .await
                .or_err(ErrorType::WriteError, "flushing request")?;
            HttpSession::H1(Http1Session::new_with_options(stream, peer))
        }
        mut other => {
            other.write_request_header(header).await?;
            other.write_request_body(body, true).await?;
            other.finish_request_body().await?;
            other
        }
    };
    loop {
        s.read_response_header().await?;
        match s.response_header() {
            Some(h) if h.status.is_informational() => continue,
            _ => return Ok(s),
        }
    }
}

/// Reads the rest of the body, up to `cap` bytes. Returns the bytes and whether it was cut.
async fn read_capped(up: &mut HttpSession, cap: usize) -> Result<(BytesMut, bool), String> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = up.read_response_body().await.map_err(|e| e.to_string())? {
        if buf.len() + chunk.len() > cap {
            return Ok((buf, true));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((buf, false))
}

/// Answers an attempt with the request's own `mock_response`: content (streamed or not), a
/// response object as it is, or the error one of LiteLLM's error strings names.
async fn serve_request_mock(
    session: &mut Session,
    ctx: &mut RequestCtx,
    req: &CanonicalRequest,
    dep: &DeploymentRt,
    mock: Mock,
) -> Result<(), GatewayError> {
    let model = crate::deployment::upstream_model(&dep.conf.model, ctx.wildcard_match.as_deref());
    match mock {
        Mock::Content(content) => serve_mock(session, ctx, req, &model, &content).await,
        Mock::Fail(e) => Err(GatewayError::Upstream(e)),
        Mock::Object(_) if req.stream => Err(GatewayError::Invalid(
            adapters::ApiError::new(
                400,
                "invalid_request_error",
                "A mock_response object cannot be streamed; send its content as a string",
            )
            .with_param("mock_response"),
        )),
        Mock::Object(mut o) => {
            let id = translate::response_id(&ctx.call_id);
            for (k, v) in [
                ("id", serde_json::Value::from(id)),
                ("object", "chat.completion".into()),
                ("created", crate::clock::unix_now().into()),
                ("model", model.as_ref().into()),
            ] {
                o.entry(k).or_insert(v);
            }
            let body = serde_json::to_vec(&o).expect("JSON values serialize");
            relay::whole(session, ctx, 200, "application/json", Bytes::from(body)).await;
            Ok(())
        }
    }
}

/// Answers with mock `content` (a `mock_response` deployment's, or the request's) locally,
/// streaming or not.
async fn serve_mock(
    session: &mut Session,
    ctx: &mut RequestCtx,
    req: &CanonicalRequest,
    model: &str,
    content: &str,
) -> Result<(), GatewayError> {
    let id = translate::response_id(&ctx.call_id);
    let meta = adapters::mock::MockMeta {
        id: &id,
        created: crate::clock::unix_now(),
        model,
    };
    if !req.stream {
        let body = Bytes::from(adapters::mock::response(req, meta, content));
        relay::whole(session, ctx, 200, "application/json", body).await;
        return Ok(());
    }
    let events = adapters::mock::stream_events(req, meta, content);
    relay::events(session, ctx, events).await;
    Ok(())
}
