//! Stage 3, route — and the attempt loop around stages 4–5: the model group (aliases resolved),
//! the order its deployments are tried in, retries with backoff on retryable failures
//! (preferring another deployment), cooldowns, then fallback groups. Every decision is made
//! before the first byte goes to the client.

use std::sync::Arc;
use std::time::Instant;

use adapters::provider::Provider;
use adapters::CanonicalRequest;
use pingora::proxy::Session;

use super::controls::{Controls, TagSources};
use super::door::Door;
use super::{forward, images, translate};
use crate::ctx::RequestCtx;
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::routing::resolve;
use crate::routing::select::{self as router, Failure, Unavailable};
use crate::runtime::Runtime;
use crate::state::AppState;

/// Serves `req` from its model group, retrying and falling back as configured. `door` is the
/// client's own request behind the `/v1/messages` or `/v1/responses` door (`req` is then its
/// minimal view): sent as it is to deployments that speak its API, translated for the others.
pub async fn run(
    state: &Arc<AppState>,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    req: &mut CanonicalRequest,
    mut door: Option<Door<'_>>,
) -> Result<(), GatewayError> {
    let request_timeout = runtime.config.litellm.request_timeout;
    let deadline = Instant::now() + request_timeout;
    let cfg = &runtime.config.router;
    // The request's own controls (LiteLLM's fields and headers): used here, never sent upstream.
    let (controls, tag_sources) = match door.as_mut() {
        Some(door) => (
            door.take_controls(session.req_header(), request_timeout)?,
            TagSources::any(session.req_header()),
        ),
        None => Controls::take(&mut req.body, session.req_header(), request_timeout)?,
    };
    ctx.controls = controls;
    ctx.include_cost =
        ctx.controls().include_cost || runtime.config.litellm.include_cost_in_streaming_usage;
    let target = resolve::target(runtime, &req.model)?;
    let first = target.group.to_string();
    ctx.wildcard_match = target.wildcard;
    ctx.any_provider = target.provider;
    let request_fallbacks = ctx.controls.as_mut().and_then(|c| c.fallbacks.take());
    let disable_fallbacks = ctx.controls().disable_fallbacks;
    route_tags_and_region(ctx, req, tag_sources);
    let mut tried = vec![first.clone()];
    let mut group = first.clone();
    loop {
        let result = match ctx.controls().fail_group {
            // `mock_testing_*`: the requested group fails before any call.
            Some(f) if group == first => Err(f.error(&group)),
            _ => {
                try_group(
                    state,
                    runtime,
                    session,
                    ctx,
                    req,
                    door.as_mut().map(Door::reborrow),
                    &group,
                    deadline,
                )
                .await
            }
        };
        crate::observe::fallback(state, ctx, &first, &group, result.as_ref().err());
        let err = match result {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let failure = match &err {
            GatewayError::AllCooling { .. } | GatewayError::NoRegionDeployment { .. } => {
                Failure::Retryable
            }
            e => router::classify(e),
        };
        if disable_fallbacks
            || ctx.attempted_fallbacks as usize >= cfg.max_fallbacks
            || Instant::now() >= deadline
        {
            return Err(err);
        }
        let list = match (&request_fallbacks, failure) {
            (_, Failure::Final) => &[][..],
            (Some(list), _) => list.as_slice(),
            (None, _) => router::fallbacks(cfg, &first, failure),
        };
        // The next group of the list not tried yet that the caller may call (a fallback never
        // answers from a group the caller's model lists — key, team, user, organization —
        // refuse) and whose worst case the budgets can still hold: a fallback may cost more, so
        // its worst case is reserved before it is tried, and cannot spend past a budget either.
        let mut next = None;
        for name in list {
            let Some(hop) = fallback_hop(runtime, ctx, name, &req.model) else {
                continue;
            };
            if tried.contains(&hop.group) {
                continue;
            }
            if let Some(e) = ctx
                .admission
                .as_ref()
                .and_then(|a| a.refuses(name, runtime))
            {
                log::debug!(
                    "model group {group} failed; not falling back to {name}: the {} may not call it",
                    e.kind.as_str()
                );
                continue;
            }
            let cost = crate::control::reserve::Cost::new(
                runtime.groups.get(hop.group.as_str()),
                hop.provider,
                hop.wildcard.clone(),
                req.endpoint,
                adapters::mock::estimate_tokens(ctx.body_bytes),
                crate::control::output::requested(req),
            );
            if let Some(adm) = ctx.admission.as_mut() {
                if let Err(why) = state.control.cover(adm, &cost, &hop.name).await {
                    log::warn!(
                        "model group {group} failed ({err}); not falling back to {}: its worst case ${:.6} does not fit ({why})",
                        hop.group,
                        cost.requested(false).usd
                    );
                    continue;
                }
            }
            next = Some(hop);
            break;
        }
        let Some(hop) = next else {
            return Err(err);
        };
        log::debug!(
            "model group {group} failed ({err}); falling back to {}",
            hop.group
        );
        ctx.attempted_fallbacks += 1;
        tried.push(hop.group.clone());
        group = hop.group;
        ctx.any_provider = hop.provider;
        ctx.wildcard_match = hop.wildcard;
    }
}

/// A fallback group entered, and what routing needs to serve the request there.
struct Hop {
    /// The name as the fallback list has it (a key's per-model limits are by this name).
    name: String,
    group: String,
    /// See `RequestCtx::any_provider` and `RequestCtx::wildcard_match`.
    provider: Option<Provider>,
    wildcard: Option<String>,
}

/// The group a fallback entry names, as a requested model would be resolved: a group name as
/// it is (a `*` group serves the model the client asked for, through that model's provider),
/// else through `model_group_alias` and wildcard groups. `None` when nothing serves it.
fn fallback_hop(runtime: &Runtime, ctx: &RequestCtx, name: &str, model: &str) -> Option<Hop> {
    if runtime.groups.contains_key(name) {
        let (provider, wildcard) = match resolve::fallback_provider(runtime, name, model) {
            Some((p, upstream)) => (Some(p), Some(upstream)),
            None => (ctx.any_provider, ctx.wildcard_match.clone()),
        };
        return Some(Hop {
            name: name.to_string(),
            group: name.to_string(),
            provider,
            wildcard,
        });
    }
    let t = resolve::target(runtime, name).ok()?;
    Some(Hop {
        name: name.to_string(),
        group: t.group.to_string(),
        provider: t.provider,
        wildcard: t.wildcard,
    })
}

/// The tags routing goes by — the client's (when they count) merged with the key's and its
/// team's, as LiteLLM merges them — and the end user's region, from admission.
fn route_tags_and_region(
    ctx: &mut RequestCtx,
    req: &mut CanonicalRequest,
    sources: TagSources<'_>,
) {
    let client = ctx.admission.as_ref().is_none_or(|a| a.client_tags);
    let mut tags = request_tags(req, sources, client);
    if let Some(adm) = &ctx.admission {
        for t in &adm.routing_tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        ctx.region = adm.region;
    }
    ctx.request_tags = tags;
}

/// The request's tags: body `tags` (removed: LiteLLM's field, not the provider's),
/// `metadata.tags`, or the `x-litellm-tags` header (comma-separated); only the `sources` the
/// request has are looked at. None unless `count` (a key or team whose own tags decide); the
/// body field is removed all the same.
fn request_tags(req: &mut CanonicalRequest, sources: TagSources<'_>, count: bool) -> Vec<String> {
    if !count {
        if sources.body && req.body.remove("tags").is_some() {
            log::debug!("the client's tags are ignored: the key's or team's tags decide (metadata.allow_client_tags lets them count)");
        }
        return Vec::new();
    }
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(tags) = sources.body.then(|| req.body.remove("tags")).flatten() {
        return strings(&tags);
    }
    if let Some(tags) = sources
        .metadata
        .then(|| req.body.get("metadata").and_then(|m| m.get("tags")))
        .flatten()
    {
        return strings(tags);
    }
    sources
        .header
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Tries one group: its deployments in routing order, `1 + num_retries` attempts.
#[allow(clippy::too_many_arguments)]
async fn try_group(
    state: &Arc<AppState>,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    req: &mut CanonicalRequest,
    mut door: Option<Door<'_>>,
    name: &str,
    deadline: Instant,
) -> Result<(), GatewayError> {
    let cfg = &runtime.config.router;
    let group = &runtime.groups[name];
    let deployments = group.serving(ctx.any_provider);
    if deployments.is_empty() {
        // A fallback into a `*` group that has no deployment for the model's provider.
        let why = format!("model group {name} has no deployment for it");
        return Err(resolve::unknown(runtime, &req.model, Some(why)));
    }
    let num_retries = ctx.controls().num_retries.unwrap_or(cfg.num_retries);
    let most_retries = cfg
        .retry_policy
        .values()
        .copied()
        .chain([num_retries])
        .max()
        .unwrap_or(0);
    let attempts = most_retries as usize + 1;
    let order = match router::candidates(
        deployments,
        crate::clock::now_ms(),
        attempts,
        selection(cfg, ctx),
    ) {
        Ok(order) => order,
        Err(Unavailable::Full) => {
            let d = &deployments[0];
            return Err(GatewayError::AtCapacity {
                group: name.to_string(),
                deployment: d.conf.id.clone(),
                limit: d.slots.limit.unwrap_or_default(),
            });
        }
        Err(Unavailable::Cooling(wait)) => {
            return Err(GatewayError::AllCooling {
                group: name.to_string(),
                deployments: deployments.len(),
                retry_after: wait,
            })
        }
        Err(Unavailable::NoRegion(region)) => {
            return Err(GatewayError::NoRegionDeployment {
                group: name.to_string(),
                region: region.as_str(),
            })
        }
        Err(Unavailable::NoTag) => {
            return Err(GatewayError::NoTaggedDeployment {
                group: name.to_string(),
                tags: ctx.request_tags.join(", "),
            })
        }
        Err(Unavailable::ContextTooSmall { needed, largest }) => {
            let msg = format!(
                "The prompt (about {needed} tokens) is larger than the context window of every deployment of model group {name} (largest {largest})"
            );
            return Err(GatewayError::ContextTooSmall(
                adapters::ApiError::new(400, "invalid_request_error", msg)
                    .with_param("messages")
                    .with_code("context_length_exceeded"),
            ));
        }
    };
    ctx.model_group = Some(name.to_string());
    // Attempts made (after the first), and the deployments they went to.
    let mut n: u32 = 0;
    let mut dep = order[0].clone();
    let mut tried: Vec<Arc<DeploymentRt>> = Vec::new();
    loop {
        let e = match attempt(
            state,
            runtime,
            session,
            ctx,
            req,
            door.as_mut().map(Door::reborrow),
            &dep,
            deadline,
        )
        .await
        {
            Ok(()) => {
                // A stream that broke after bytes went out is the client's answer (with an
                // error event), but the deployment failed all the same.
                if let Some(broken) = ctx.broken_stream.take() {
                    count_failure(
                        state,
                        cfg,
                        deployments.len(),
                        &dep,
                        &GatewayError::Upstream(broken),
                    );
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
            if let Some(next) = untried(deployments, &tried, selection(cfg, ctx)) {
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

/// What the request asks of the deployments it may use (see `router::candidates`).
fn selection<'a>(cfg: &conf::RouterConfig, ctx: &'a RequestCtx) -> router::Selection<'a> {
    router::Selection {
        strategy: cfg.routing_strategy,
        tags: cfg
            .enable_tag_filtering
            .then_some(ctx.request_tags.as_slice()),
        prompt_tokens: cfg
            .enable_pre_call_checks
            .then(|| adapters::mock::estimate_tokens(ctx.body_bytes)),
        latency_buffer: cfg.lowest_latency_buffer,
        region: ctx.region,
    }
}

/// The first deployment in routing order, among those usable now (not cooling, not full,
/// matching the request's tags and context), that `tried` does not hold. Computed only after
/// a failure: the common path never pays for it.
fn untried(
    deployments: &[Arc<DeploymentRt>],
    tried: &[Arc<DeploymentRt>],
    sel: router::Selection<'_>,
) -> Option<Arc<DeploymentRt>> {
    if deployments.len() <= tried.len() {
        return None;
    }
    router::candidates(deployments, crate::clock::now_ms(), deployments.len(), sel)
        .ok()?
        .into_iter()
        .find(|d| !tried.iter().any(|t| Arc::ptr_eq(t, d)))
}

/// Counts `e` toward `dep`'s cooldown when it is a retryable failure, or of a class
/// `allowed_fails_policy` names; a deployment at capacity has not failed.
fn count_failure(
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
#[allow(clippy::too_many_arguments)]
async fn attempt(
    state: &Arc<AppState>,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    req: &mut CanonicalRequest,
    door: Option<Door<'_>>,
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
    let req = match (&dep.upstream, door) {
        (Some(up), Some(mut door))
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
    let translated = matches!(ctx.front, crate::ctx::Front::Anthropic { .. });
    let call = forward::Call {
        req,
        dep,
        deadline,
        native,
    };
    let r = forward::forward(state, runtime, session, ctx, call).await;
    if translated {
        return r.map_err(super::door::anthropic::explain);
    }
    r
}
