//! A media request's attempts, by the lifecycle's plan (the group's deployments in routing
//! order, retries with backoff, cooldown marks, then the fallback chain) as far as its body can
//! be sent again: a speech request and an upload that ended inside its head always can; a
//! longer upload only until its first byte past the head was pumped to a provider — a failure
//! after that (the provider's error, a broken connection) is the client's answer.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use pingora::http::RequestHeader;
use pingora::protocols::http::client::HttpSession;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use tokio::time::timeout_at;

use super::upload::Pump;
use super::{answer, Op, Read};
use crate::ctx::RequestCtx;
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::lifecycle::attempt::count_failure;
use crate::lifecycle::route::{self, Candidates, Plan};
use crate::lifecycle::{forward, translate};
use crate::routing::select::{self as router, Failure};
use crate::runtime::Runtime;
use crate::state::AppState;
use crate::upstream::Upstream;

/// Largest provider error body read.
const MAX_ERROR_BODY: usize = 1 << 20;

/// An attempt's failure, and whether it ends the request (the upload cannot be sent again).
struct Fail {
    error: GatewayError,
    last: bool,
}

impl From<GatewayError> for Fail {
    fn from(error: GatewayError) -> Fail {
        Fail { error, last: false }
    }
}

/// Serves the request by its plan until an attempt answers, the plan runs out, or a failure
/// leaves the upload unsendable.
pub(crate) async fn run(
    state: &Arc<AppState>,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    read: &mut Read,
    op: Op,
    mut plan: Plan,
) -> Result<(), GatewayError> {
    let mut group = plan.first.clone();
    loop {
        let result = try_group(
            state,
            runtime,
            session,
            ctx,
            read,
            op,
            &group,
            plan.deadline,
        )
        .await;
        let err = result.as_ref().err().map(|f| &f.error);
        crate::observe::fallback(state, ctx, &plan.first, &group, err);
        let fail = match result {
            Ok(()) => return Ok(()),
            Err(f) => f,
        };
        if fail.last {
            return Err(fail.error);
        }
        let view = &read.request.view;
        match plan
            .fallback(state, runtime, ctx, view, &group, &fail.error)
            .await
        {
            Some(next) => group = next,
            None => return Err(fail.error),
        }
    }
}

/// One group: its deployments in routing order, as `attempt.rs` of the lifecycle tries them.
#[allow(clippy::too_many_arguments)]
async fn try_group(
    state: &Arc<AppState>,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    read: &mut Read,
    op: Op,
    name: &str,
    deadline: Instant,
) -> Result<(), Fail> {
    let cfg = &runtime.config.router;
    let Candidates {
        deployments,
        order,
        num_retries,
    } = route::candidates(runtime, ctx, name, &read.request.view.model)?;
    ctx.model_group = Some(name.to_string());
    let mut n: u32 = 0;
    let mut dep = order[0].clone();
    let mut tried: Vec<Arc<DeploymentRt>> = Vec::new();
    loop {
        let f = match attempt(state, runtime, session, ctx, read, op, &dep, deadline).await {
            Ok(()) => return Ok(()),
            Err(f) => f,
        };
        crate::observe::attempt_failed(state, ctx, &dep, &f.error);
        count_failure(state, cfg, deployments.len(), &dep, &f.error);
        if f.last {
            return Err(f);
        }
        let e = f.error;
        let failure = router::classify(&e);
        tried.push(dep.clone());
        if failure == Failure::Retryable && Instant::now() < deadline {
            if let Some(next) = route::untried(&deployments, &tried, route::selection(cfg, ctx)) {
                n += 1;
                ctx.attempted_retries += 1;
                ctx.provider_retry_after = None;
                dep = next;
                continue;
            }
        }
        let retries = router::error_class(&e)
            .and_then(|c| cfg.retry_policy.get(&c).copied())
            .unwrap_or(if failure == Failure::Retryable {
                num_retries
            } else {
                0
            });
        if n >= retries {
            return Err(e.into());
        }
        n += 1;
        let wait = router::backoff(n, cfg, ctx.provider_retry_after.take());
        if Instant::now() + wait >= deadline {
            return Err(e.into());
        }
        tokio::time::sleep(wait).await;
        ctx.attempted_retries += 1;
        dep = order[n as usize % order.len()].clone();
    }
}

/// One call to one deployment: the request head with its credential, the body (the speech
/// JSON, or the upload's head then the rest pumped from the client), the answer relayed.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    state: &Arc<AppState>,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    read: &mut Read,
    op: Op,
    dep: &Arc<DeploymentRt>,
    deadline: Instant,
) -> Result<(), Fail> {
    ctx.served_by = Some(dep.clone());
    let group = dep.conf.model_name.clone();
    let Some(upstream) = dep.upstream.clone() else {
        return Err(Fail {
            error: super::invalid(
                format!(
                    "deployment {} of model group {group} answers with mock_response; it does not serve {}",
                    dep.conf.id,
                    op.path()
                ),
                None,
            ),
            last: true,
        });
    };
    dep.load.add_request(crate::clock::now_ms());
    let _slot = dep
        .slots
        .acquire()
        .ok_or_else(|| GatewayError::AtCapacity {
            group: group.clone(),
            deployment: dep.conf.id.clone(),
            limit: dep.slots.limit.unwrap_or_default(),
        })?;
    let model = crate::deployment::upstream_model(&dep.conf.model, ctx.wildcard_match.as_deref());
    let mut target = translate::target(dep, false);
    target.model = &model;
    let pr = adapters::dialect::media_request(op.path(), &target).map_err(|e| Fail {
        error: GatewayError::Invalid(e),
        last: true,
    })?;
    let deadline = deadline.min(
        Instant::now()
            + dep
                .conf
                .timeout
                .unwrap_or(runtime.config.litellm.request_timeout),
    );
    let timeout_err = |since: Instant| GatewayError::UpstreamTimeout {
        group: group.clone(),
        secs: deadline.saturating_duration_since(since).as_secs_f64(),
    };
    let framing = |e: Box<pingora::Error>| GatewayError::UpstreamProtocol {
        group: group.clone(),
        detail: e.to_string(),
    };
    let mut h =
        RequestHeader::build_no_case("POST", pr.path.as_bytes(), Some(6 + pr.headers.len()))
            .map_err(framing)?;
    h.insert_header("host", upstream.host_header.as_str())
        .map_err(framing)?;
    h.insert_header("user-agent", translate::USER_AGENT)
        .map_err(framing)?;
    for (name, value) in pr.headers {
        h.insert_header(name, value).map_err(framing)?;
    }
    if let Some(tp) = crate::observe::upstream_traceparent(ctx) {
        let _ = h.insert_header("traceparent", tp);
    }
    let connect_timeout = runtime.config.tollgate.connect_timeout;
    let started = Instant::now();
    let exchanged = match read.upload.as_mut() {
        // Speech: the client's JSON with the deployment's model.
        None => {
            let mut body = read.request.view.body.clone();
            body.insert("model".into(), serde_json::Value::String(model.to_string()));
            let body = Bytes::from(serde_json::to_vec(&body).expect("JSON values serialize"));
            h.insert_header("content-type", "application/json")
                .map_err(framing)?;
            h.insert_header("content-length", body.len())
                .map_err(framing)?;
            let ex =
                forward::exchange(state, &upstream, connect_timeout, Box::new(h), body, &group);
            timeout_at(deadline.into(), ex)
                .await
                .map_err(|_| timeout_err(started))??
        }
        Some(upload) => {
            let content_type = session
                .req_header()
                .headers
                .get(http::header::CONTENT_TYPE)
                .cloned()
                .expect("a multipart request has a content type");
            h.insert_header("content-type", content_type)
                .map_err(framing)?;
            let field = read.model_field.as_ref();
            match upload.length_for(field, &model) {
                Some(n) => h.insert_header("content-length", n),
                None => h.insert_header("transfer-encoding", "chunked"),
            }
            .map_err(framing)?;
            let head = upload.head_for(field, &model);
            if upload.replayable() {
                // All of it is here: one write, and a stale pooled connection retried.
                let mut body = BytesMut::with_capacity(head.iter().map(Bytes::len).sum());
                for piece in &head {
                    body.extend_from_slice(piece);
                }
                let ex = forward::exchange(
                    state,
                    &upstream,
                    connect_timeout,
                    Box::new(h),
                    body.freeze(),
                    &group,
                );
                timeout_at(deadline.into(), ex)
                    .await
                    .map_err(|_| timeout_err(started))??
            } else {
                let streamed = stream_upload(
                    state,
                    session,
                    &upstream,
                    connect_timeout,
                    Box::new(h),
                    head,
                    upload,
                    &group,
                );
                match timeout_at(deadline.into(), streamed).await {
                    Ok(r) => r?,
                    Err(_) => {
                        return Err(Fail {
                            error: timeout_err(started),
                            last: upload.pumped,
                        })
                    }
                }
            }
        }
    };
    ctx.upstream_time += started.elapsed();
    dep.load.record_latency(started.elapsed());
    let last = read.upload.as_ref().is_some_and(|u| u.pumped);
    let (mut up, peer) = exchanged;
    let resp = up.response_header().expect("exchange read the header");
    let status = resp.status.as_u16();
    ctx.upstream_status = Some(status);
    crate::observe::provider_headers(ctx, &resp.headers);
    if status >= 400 {
        ctx.provider_retry_after = resp
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(std::time::Duration::from_secs_f64);
        let body = match timeout_at(deadline.into(), read_capped(&mut up)).await {
            Ok(b) => b,
            Err(_) => Bytes::new(),
        };
        crate::lifecycle::relay::release(state, up, &peer).await;
        let e = adapters::dialect::translate_error(&target, status, &body);
        return Err(Fail {
            error: GatewayError::Upstream(e),
            last,
        });
    }
    answer::relay(state, session, ctx, op, (up, peer), deadline, &group)
        .await
        .map_err(|error| Fail { error, last: true })
}

/// Sends a long upload: the head, then the rest pumped from the client as it comes. A failure
/// before the first pumped byte (connecting, a stale pooled connection) can be retried; after
/// it, the provider's answer (if it sent one before it stopped reading) or the failure is final.
#[allow(clippy::too_many_arguments)]
async fn stream_upload(
    state: &AppState,
    session: &mut Session,
    upstream: &Upstream,
    connect_timeout: std::time::Duration,
    header: Box<RequestHeader>,
    head: Vec<Bytes>,
    upload: &mut super::upload::Upload,
    group: &str,
) -> Result<(HttpSession, HttpPeer), Fail> {
    let unreachable = |detail: String| GatewayError::UpstreamUnreachable {
        group: group.to_string(),
        detail,
    };
    let addr = upstream.addr(connect_timeout).await.map_err(unreachable)?;
    let peer = upstream.peer(addr, connect_timeout);
    let mut stale = 0;
    let mut up = loop {
        let (mut s, reused) = state
            .connector
            .get_http_session(&peer)
            .await
            .map_err(|e| unreachable(format!("connect to {addr}: {e}")))?;
        let mut sent = s.write_request_header(header.clone()).await;
        for piece in &head {
            if sent.is_err() {
                break;
            }
            sent = s.write_request_body(piece.clone(), false).await;
        }
        match sent {
            Ok(()) => break s,
            Err(e) if reused && stale < 2 => {
                log::debug!("pooled connection to {addr} was stale ({e}); retrying on a new one");
                stale += 1;
            }
            Err(e) => return Err(unreachable(format!("{addr}: {e}")).into()),
        }
    };
    match upload.pump(session, &mut up).await {
        Ok(()) => {}
        Err(Pump::Client(e)) => {
            up.shutdown().await;
            return Err(Fail {
                error: e,
                last: true,
            });
        }
        Err(Pump::Provider(detail)) => {
            // The provider stopped reading: it may have answered (a 413, a 401); relay that.
            let answered =
                tokio::time::timeout(std::time::Duration::from_secs(2), up.read_response_header())
                    .await;
            if !matches!(answered, Ok(Ok(()))) {
                return Err(Fail {
                    error: GatewayError::UpstreamProtocol {
                        group: group.to_string(),
                        detail: format!("the provider stopped taking the upload: {detail}"),
                    },
                    last: upload.pumped,
                });
            }
            return Ok((up, peer));
        }
    }
    loop {
        up.read_response_header().await.map_err(|e| Fail {
            error: unreachable(format!("{addr}: {e}")),
            last: upload.pumped,
        })?;
        match up.response_header() {
            Some(h) if h.status.is_informational() => continue,
            _ => return Ok((up, peer)),
        }
    }
}

async fn read_capped(up: &mut HttpSession) -> Bytes {
    let mut buf = BytesMut::new();
    while let Ok(Some(chunk)) = up.read_response_body().await {
        if buf.len() + chunk.len() > MAX_ERROR_BODY {
            break;
        }
        buf.extend_from_slice(&chunk);
    }
    buf.freeze()
}
