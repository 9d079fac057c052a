//! Stage 5, relay, to the client: a whole body (in the client's API, `front::whole`), events
//! all ready at once (a mock's), the response header of a stream (`stream.rs` relays its body),
//! and the connection-side helpers the relay and forward share — the provider connection back
//! to the pool, the client's going away noticed.

use bytes::{Bytes, BytesMut};
use pingora::http::ResponseHeader;
use pingora::protocols::http::client::HttpSession;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;

use super::front;
use crate::ctx::{Front, RequestCtx};
use crate::error::GatewayError;
use crate::reply::{self, litellm_headers, respond, Served};
use crate::state::AppState;
use crate::stored::ResponseBody;
use crate::upstream::POOL_IDLE_TIMEOUT;

/// Status logged when the client went away before the response completed (nginx's convention).
pub const CLIENT_CLOSED: u16 = 499;

/// Bodies up to this size are sent in the same write as the header.
pub(super) const COALESCE_BODY: usize = 64 * 1024;

/// Returns the connection to the pool if its response was read completely; otherwise drops it.
pub(crate) async fn release(state: &AppState, mut up: HttpSession, peer: &HttpPeer) {
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

/// Writes a complete body in the client's API and records its usage and cost.
pub async fn whole(
    session: &mut Session,
    ctx: &mut RequestCtx,
    status: u16,
    content_type: &str,
    mut body: Bytes,
) {
    if status < 300 {
        if let Err(e) = crate::guard::post_whole(ctx, &mut body).await {
            reply::api_error(session, ctx, &e, Served::Llm).await;
            return;
        }
    }
    crate::cache::keep(ctx, status, &body);
    let (content_type, body) = if status < 300 {
        let answer = front::whole(ctx, content_type, body)
            .and_then(|(ct, b)| Ok((ct, crate::cache::complete(ctx, b)?)));
        match answer {
            Ok(answer) => answer,
            Err(e) => {
                reply::api_error(session, ctx, &e, Served::Llm).await;
                return;
            }
        }
    } else {
        (content_type, body)
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
    if let Some(mut f) = crate::guard::stream_filter(ctx) {
        let started = std::time::Instant::now();
        let r = f.filter(&out, true);
        let secs = started.elapsed().as_secs_f64();
        crate::guard::note_post(ctx, &f.counts, r.as_ref().err(), secs);
        match r {
            Ok(o) => out = o,
            Err(b) => {
                let e = crate::guard::blocked_error(&b);
                reply::api_error(session, ctx, &e, Served::Llm).await;
                return;
            }
        }
    }
    let body = front::encode(ctx, out, true);
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

/// A Responses client's stream ended: stores its final response (`passed`: the provider's,
/// for a passed-through stream; else the bridge's) unless the request said `store: false`.
pub(super) fn keep_final(ctx: &mut RequestCtx, passed: Option<serde_json::Value>) {
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

pub(super) async fn client_left(
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
