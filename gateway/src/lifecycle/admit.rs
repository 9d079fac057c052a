//! Stage 2, admit: read the body under the size cap and a deadline (the front door parses it
//! once, in its API), then check model access, rate limits and budgets (reserving the worst
//! case) from memory.

use std::time::Duration;

use adapters::CanonicalRequest;
use bytes::BytesMut;
use pingora::proxy::Session;

use crate::control::enforce::Caller;
use crate::ctx::RequestCtx;
use crate::error::GatewayError;
use crate::runtime::Runtime;
use crate::state::AppState;

/// A client gets this long to deliver the whole request body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The control-plane half of admission (see `control::enforce::admit`); the admission rides in
/// the context until the account stage settles it. Only when this replica's budget leases ran
/// short does it wait, once, for Redis (`control::lease`). A response cache hit (looked up after
/// access and limits, before budgets) is returned: it reserves nothing and costs nothing. Timed
/// as LiteLLM's `proxy_pre_call` service.
pub async fn control(
    state: &AppState,
    runtime: &Runtime,
    session: &Session,
    ctx: &mut RequestCtx,
    caller: Caller,
    req: &mut CanonicalRequest,
    door_raw: Option<&bytes::Bytes>,
) -> Result<Option<crate::cache::Entry>, GatewayError> {
    let started = std::time::Instant::now();
    let admitted = checks(state, runtime, session, ctx, caller, req, door_raw).await;
    crate::observe::stage(crate::observe::Stage::PreCall, started, &admitted);
    admitted
}

async fn checks(
    state: &AppState,
    runtime: &Runtime,
    session: &Session,
    ctx: &mut RequestCtx,
    caller: Caller,
    req: &mut CanonicalRequest,
    door_raw: Option<&bytes::Bytes>,
) -> Result<Option<crate::cache::Entry>, GatewayError> {
    crate::control::output::check(req)?;
    let who = crate::control::enforce::aliased(&state.control, &caller, req);
    // The group the (aliased) name resolves to: admission's access groups and worst case are
    // its; a name nothing serves is refused by routing, after admission, as before.
    let resolved = crate::routing::resolve::group(runtime, &req.model).ok();
    let group = resolved.as_ref().and_then(|r| runtime.groups.get(r.group));
    let mut adm = crate::control::enforce::admit(
        &state.control,
        runtime,
        who,
        group,
        req,
        session.req_header(),
    )?;
    crate::cache::refuse_controls(&adm, &req.body, door_raw)?;
    // A media request is never looked up: the cache key would not cover its upload.
    if state.cache.is_some() && ctx.media.is_none() {
        let group = resolved.as_ref().map_or(req.model.as_str(), |t| t.group);
        // A door's own request (Anthropic) is keyed by its body as sent, the OpenAI door's by
        // the canonical body.
        let (body, raw) = match door_raw {
            None => (Some(&mut req.body), None),
            Some(raw) => (None, Some(raw)),
        };
        let header = session.req_header().headers.get("cache-control");
        let l = crate::cache::Lookup {
            cache: state.cache.as_ref(),
            runtime,
            connector: &state.connector,
        };
        let hit = crate::cache::lookup(l, ctx, &adm, group, body, raw, header).await;
        if hit.is_some() {
            ctx.caller = Some(caller);
            ctx.admission = Some(adm);
            crate::observe::on_admit(
                session.req_header().headers.get("traceparent"),
                &req.body,
                ctx,
            );
            return Ok(hit);
        }
    }
    let cost = crate::control::cost::Cost::of(
        runtime,
        resolved,
        req.endpoint,
        adapters::tokens::estimate_tokens(ctx.body_bytes),
        crate::control::output::requested(req),
    )
    .images(req)
    .media(ctx.media.as_deref());
    if let Some(max_tokens) = state.control.reserve(&mut adm, &cost).await? {
        clamp_output(req, max_tokens);
        ctx.clamped_max_tokens = Some(max_tokens);
        adm.headers.push((
            "x-tollgate-budget-clamped-max-tokens",
            http::HeaderValue::from(max_tokens),
        ));
    }
    ctx.caller = Some(caller);
    ctx.admission = Some(adm);
    crate::observe::on_admit(
        session.req_header().headers.get("traceparent"),
        &req.body,
        ctx,
    );
    ctx.hanging = crate::observe::hanging::watch(ctx.started_at_ms, &ctx.call_id, &req.model);
    Ok(None)
}

/// Sends `max_tokens` per completion upstream instead of what the client asked for (the budget
/// left cannot pay more): in the field the client used, `max_tokens` when it used none.
fn clamp_output(req: &mut CanonicalRequest, max_tokens: u64) {
    let field = if req.body.contains_key("max_completion_tokens") {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    req.body.insert(field.into(), max_tokens.into());
}

pub(crate) fn too_large(size: usize, max: usize) -> GatewayError {
    GatewayError::TooLarge {
        size_mb: size as f64 / (1024.0 * 1024.0),
        max_mb: max as f64 / (1024.0 * 1024.0),
    }
}

/// Reads the whole request body, refusing it (before reading) when `content-length` is over the
/// cap, and stopping as soon as a chunked body crosses it.
pub async fn read_body(session: &mut Session, max: usize) -> Result<BytesMut, GatewayError> {
    let declared = declared_length(session, max).await?;
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(4096).min(max));
    let read = async {
        while let Some(chunk) = session
            .read_request_body()
            .await
            .map_err(|e| GatewayError::BodyRead(e.to_string()))?
        {
            if buf.len() + chunk.len() > max {
                return Err(too_large(buf.len() + chunk.len(), max));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(())
    };
    match tokio::time::timeout(BODY_READ_TIMEOUT, read).await {
        Ok(r) => r?,
        Err(_) => return Err(GatewayError::BodyTimeout),
    }
    Ok(buf)
}

/// The request's `content-length`, refused (413) when over `max`; answers an
/// `Expect: 100-continue` once the request is known to be acceptable. Before any body read.
pub async fn declared_length(
    session: &mut Session,
    max: usize,
) -> Result<Option<usize>, GatewayError> {
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(len) = declared {
        if len > max {
            return Err(too_large(len, max));
        }
    }
    // curl and other clients send `Expect: 100-continue` with large bodies and wait (curl: 1 s)
    // for the go-ahead; give it once the request is known to be acceptable.
    let expects_continue = session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects_continue {
        session
            .write_continue_response()
            .await
            .map_err(|e| GatewayError::BodyRead(e.to_string()))?;
    }
    Ok(declared)
}
