//! Stage 4, attempt: runs the plan routing made — each group's deployments in order, retries
//! with backoff on retryable failures (at once to another healthy deployment when the group
//! has one), cooldown marks on the deployments that failed, then the fallback chain — and each
//! attempt itself: a slot on the deployment, the client's request as the deployment takes it
//! (the door's own request passed through, or translated; image URLs inlined where the
//! provider needs bytes), then forward and relay. Nothing reaches the client before an attempt
//! succeeds or the last one failed.

use std::sync::Arc;
use std::time::Instant;

use pingora::proxy::Session;

use super::front::{self, Request};
use super::route::{self, Candidates, Plan};
use super::{forward, images, translate};
use crate::ctx::RequestCtx;
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::routing::select::{self as router, Failure};
use crate::runtime::Runtime;
use crate::state::AppState;

/// Serves the request by its plan: the first group, then the fallback chain, until an attempt
/// answers the client or the plan runs out (the last error is returned).
pub async fn run(
    state: &Arc<AppState>,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    request: &mut Request,
    mut plan: Plan,
) -> Result<(), GatewayError> {
    let mut group = plan.first.clone();
    loop {
        let result = match ctx.controls().fail_group {
            // `mock_testing_*`: the requested group fails before any call.
            Some(f) if group == plan.first => Err(f.error(&group)),
            _ => try_group(state, runtime, session, ctx, request, &group, plan.deadline).await,
        };
        crate::observe::fallback(state, ctx, &plan.first, &group, result.as_ref().err());
        let err = match result {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        match plan
            .fallback(state, runtime, ctx, &request.view, &group, &err)
            .await
        {
            Some(next) => group = next,
            None => return Err(err),
        }
    }
}

/// Tries one group: its deployments in routing order, `1 + num_retries` attempts.
async fn try_group(
    state: &Arc<AppState>,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    request: &mut Request,
    name: &str,
    deadline: Instant,
) -> Result<(), GatewayError> {
    let cfg = &runtime.config.router;
    let Candidates {
        deployments,
        order,
        num_retries,
    } = route::candidates(runtime, ctx, name, &request.view.model)?;
    ctx.model_group = Some(name.to_string());
    // Attempts made (after the first), and the deployments they went to.
    let mut n: u32 = 0;
    let mut dep = order[0].clone();
    let mut tried: Vec<Arc<DeploymentRt>> = Vec::new();
    loop {
        let e = match attempt(state, runtime, session, ctx, request, &dep, deadline).await {
            Ok(()) => {
                // A stream that broke after bytes went out is the client's answer (with an
                // error event), but the deployment failed all the same.
                if let Some((broken, tail)) = ctx.broken_stream.take() {
                    count_failure(
                        state,
                        cfg,
                        deployments.len(),
                        &dep,
                        &GatewayError::Upstream(broken),
                    );
                    if session.write_response_body(Some(tail), true).await.is_err() {
                        ctx.status = super::relay::CLIENT_CLOSED;
                    }
                }
                return Ok(());
            }
            Err(e) => e,
        };
        let failure = router::classify(&e);
        let class = router::error_class(&e);
        crate::observe::attempt_failed(state, ctx, &dep, &e);
        if !ctx.mocked {
            count_failure(state, cfg, deployments.len(), &dep, &e);
        }
        tried.push(dep.clone());
        // Failover: nothing reached the client yet, so a retryable failure moves at once to a
        // healthy deployment of the group this request has not tried, whatever `num_retries`
        // says (such a move counts as a retry, but the retries left never stop it).
        if failure == Failure::Retryable && Instant::now() < deadline {
            if let Some(next) = route::untried(&deployments, &tried, route::selection(cfg, ctx)) {
                log::debug!(
                    "deployment {} of model group {name} failed ({e}); trying {} at once",
                    dep.conf.id,
                    next.conf.id
                );
                n += 1;
                ctx.attempted_retries += 1;
                ctx.provider_retry_after = None;
                dep = next;
                continue;
            }
        }
        // `retry_policy` decides per error class; otherwise retryable failures get
        // `num_retries` and the rest none.
        let retries = class
            .and_then(|c| cfg.retry_policy.get(&c).copied())
            .unwrap_or(if failure == Failure::Retryable {
                num_retries
            } else {
                0
            });
        if n >= retries {
            return Err(e);
        }
        n += 1;
        let wait = router::backoff(n, cfg, ctx.provider_retry_after.take());
        if Instant::now() + wait >= deadline {
            return Err(e);
        }
        tokio::time::sleep(wait).await;
        ctx.attempted_retries += 1;
        // Each retry goes to the next deployment in routing order, so a failing one is not
        // hit twice in a row when the group has others.
        dep = order[n as usize % order.len()].clone();
    }
}

/// Counts `e` toward `dep`'s cooldown when it is a retryable failure, or of a class
/// `allowed_fails_policy` names; a deployment at capacity has not failed.
pub(crate) fn count_failure(
    state: &AppState,
    cfg: &conf::RouterConfig,
    group_size: usize,
    dep: &DeploymentRt,
    e: &GatewayError,
) {
    let class = router::error_class(e);
    let counted = router::classify(e) == Failure::Retryable
        || class.is_some_and(|c| cfg.allowed_fails_policy.contains_key(&c));
    if counted && !matches!(e, GatewayError::AtCapacity { .. }) {
        note_failure(state, cfg, group_size, dep, class);
    }
}

/// Counts a retryable failure toward the deployment's cooldown (never in a group of one); a
/// cooldown entered is shared with the other replicas when Redis is configured.
fn note_failure(
    state: &AppState,
    cfg: &conf::RouterConfig,
    group_size: usize,
    dep: &DeploymentRt,
    class: Option<conf::ErrorClass>,
) {
    if cfg.disable_cooldowns || group_size < 2 {
        return;
    }
    let cooldown = dep
        .conf
        .internal_params
        .get("cooldown_time")
        .and_then(|v| v.as_f64())
        .map(std::time::Duration::from_secs_f64)
        .unwrap_or(cfg.cooldown_time);
    if cooldown.is_zero() {
        return;
    }
    let allowed = class
        .and_then(|c| cfg.allowed_fails_policy.get(&c).copied())
        .unwrap_or(cfg.allowed_fails);
    if let Some(until_ms) = dep
        .health
        .record_failure(crate::clock::now_ms(), allowed, cooldown)
    {
        crate::observe::cooled_down(dep, class);
        log::warn!(
            "deployment {} ({}) cooling down for {cooldown:?} after repeated failures",
            dep.conf.id,
            dep.conf.model_name
        );
        let (id, group, model) = (&dep.conf.id, &dep.conf.model_name, &dep.conf.model);
        crate::observe::alerting::cooled_down(id, group, model, cooldown.as_secs_f64());
        if let Some(shared) = state.shared.get() {
            shared.publish(crate::routing::cluster::Cooldown {
                deployment_id: dep.conf.id.clone(),
                until_ms,
            });
        }
    }
}

/// One call to one deployment. A door's request goes as it is to a deployment that speaks its
/// API, translated (once, on first need) for any other.
async fn attempt(
    state: &Arc<AppState>,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    request: &mut Request,
    dep: &Arc<DeploymentRt>,
    deadline: Instant,
) -> Result<(), GatewayError> {
    ctx.served_by = Some(dep.clone());
    ctx.mocked = false;
    // The request's own mocks answer without the deployment: no slot, no usage counted.
    let mocked =
        ctx.controls().mocks() || (ctx.controls().mock_timeout && ctx.attempted_fallbacks == 0);
    let _slot = if mocked {
        None
    } else {
        dep.load.add_request(crate::clock::now_ms());
        Some(
            dep.slots
                .acquire()
                .ok_or_else(|| GatewayError::AtCapacity {
                    group: dep.conf.model_name.clone(),
                    deployment: dep.conf.id.clone(),
                    limit: dep.slots.limit.unwrap_or_default(),
                })?,
        )
    };
    let mut native = None;
    let Request { view: req, door } = request;
    let req = match (&dep.upstream, door.as_mut()) {
        (Some(up), Some(door))
            if door.native_for(dep.conf.provider)
                && dep.conf.mock_response.is_none()
                && !ctx.controls().mocks() =>
        {
            let model =
                crate::deployment::upstream_model(&dep.conf.model, ctx.wildcard_match.as_deref());
            native = Some(door.native(dep, up, session.req_header(), &model, ctx)?);
            req
        }
        (_, Some(door)) => {
            let drop_params = translate::target(
                dep,
                runtime.config.litellm.drop_params || ctx.controls().drop_params,
            )
            .drop_params;
            door.translated(req, dep.conf.provider, drop_params, ctx)?
        }
        (_, None) => req,
    };
    if native.is_none()
        && images::needs_bytes(dep.conf.provider)
        && dep.conf.mock_response.is_none()
        && !mocked
    {
        images::inline(
            state,
            req,
            runtime.config.tollgate.image_fetch_allow_private,
        )
        .await?;
    }
    let call = forward::Call {
        req,
        dep,
        deadline,
        native,
    };
    let r = forward::forward(state, runtime, session, ctx, call).await;
    r.map_err(|e| front::explain(&ctx.front, e))
}
