//! Stage 3, route: the model group the request names (aliases and wildcards resolved), the
//! request's routing inputs (its controls, tags, the end user's region), and the plan the
//! attempts follow — each group's deployments in routing order (strategy, cooldowns, tags,
//! region, context window, capacity), and the fallback chain after it, every group entered
//! access-checked and its worst case covered by the budgets. Every decision is made before the
//! first byte goes to the client; `attempt.rs` runs the plan.

use std::sync::Arc;
use std::time::Instant;

use adapters::provider::Provider;
use adapters::CanonicalRequest;
use pingora::proxy::Session;

use super::controls::TagSources;
use super::front::Request;
use crate::ctx::RequestCtx;
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::routing::resolve;
use crate::routing::select::{self as router, Failure, Unavailable};
use crate::runtime::Runtime;
use crate::state::AppState;

/// How a request is served: its first group, its deadline, and the fallback chain after it.
pub struct Plan {
    /// The group the request names (aliases and wildcards resolved), tried first.
    pub first: String,
    /// When the whole request must be done (`request_timeout` from routing).
    pub deadline: Instant,
    /// The request's own `fallbacks`, which replace the configured chain.
    fallbacks: Option<Vec<String>>,
    /// The request's `disable_fallbacks`.
    disable_fallbacks: bool,
    /// The groups tried so far.
    tried: Vec<String>,
}

/// Plans the request: takes its controls (LiteLLM's fields and headers, used here and never
/// sent upstream), resolves the group it names, and sets the tags and region routing goes by.
pub fn plan(
    runtime: &Runtime,
    session: &Session,
    ctx: &mut RequestCtx,
    request: &mut Request,
) -> Result<Plan, GatewayError> {
    let request_timeout = runtime.config.litellm.request_timeout;
    let deadline = Instant::now() + request_timeout;
    let (controls, tag_sources) = request.take_controls(session.req_header(), request_timeout)?;
    ctx.controls = controls;
    ctx.include_cost =
        ctx.controls().include_cost || runtime.config.litellm.include_cost_in_streaming_usage;
    let req = &mut request.view;
    let target = resolve::group(runtime, &req.model)?;
    let first = target.group.to_string();
    ctx.wildcard_match = target.wildcard;
    ctx.any_provider = target.provider;
    let fallbacks = ctx.controls.as_mut().and_then(|c| c.fallbacks.take());
    let disable_fallbacks = ctx.controls().disable_fallbacks;
    route_tags_and_region(ctx, req, tag_sources);
    Ok(Plan {
        tried: vec![first.clone()],
        first,
        deadline,
        fallbacks,
        disable_fallbacks,
    })
}

impl Plan {
    /// The fallback group to try after `group` failed with `err`, entered (counted in
    /// `ctx.attempted_fallbacks`, its provider and wildcard match set); `None` when the chain
    /// for that failure has no group left that the caller may call and the budgets can cover,
    /// or fallbacks are off, used up or out of time.
    pub async fn fallback(
        &mut self,
        state: &AppState,
        runtime: &Runtime,
        ctx: &mut RequestCtx,
        req: &CanonicalRequest,
        group: &str,
        err: &GatewayError,
    ) -> Option<String> {
        let cfg = &runtime.config.router;
        let failure = match err {
            GatewayError::AllCooling { .. } | GatewayError::NoRegionDeployment { .. } => {
                Failure::Retryable
            }
            e => router::classify(e),
        };
        if self.disable_fallbacks
            || ctx.attempted_fallbacks as usize >= cfg.max_fallbacks
            || Instant::now() >= self.deadline
        {
            return None;
        }
        let list = match (&self.fallbacks, failure) {
            (_, Failure::Final) => &[][..],
            (Some(list), _) => list.as_slice(),
            (None, _) => router::fallbacks(cfg, &self.first, failure),
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
            if self.tried.contains(&hop.group) {
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
            let cost = crate::control::cost::Cost::new(
                runtime.groups.get(hop.group.as_str()),
                hop.provider,
                hop.wildcard.clone(),
                req.endpoint,
                adapters::tokens::estimate_tokens(ctx.body_bytes),
                crate::control::output::requested(req),
            )
            .images(req)
            .media(ctx.media.as_deref());
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
        let hop = next?;
        log::debug!(
            "model group {group} failed ({err}); falling back to {}",
            hop.group
        );
        ctx.attempted_fallbacks += 1;
        self.tried.push(hop.group.clone());
        ctx.any_provider = hop.provider;
        ctx.wildcard_match = hop.wildcard;
        Some(hop.group)
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
    let t = resolve::group(runtime, name).ok()?;
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

/// A group's deployments in the order this request tries them.
pub struct Candidates<'g> {
    /// The group's deployments that may serve the request (in a `*` group, the model's
    /// provider's).
    pub deployments: std::borrow::Cow<'g, [Arc<DeploymentRt>]>,
    /// Routing order, one entry per attempt the retries allow (a deployment may repeat).
    pub order: Vec<Arc<DeploymentRt>>,
    /// The request's `num_retries` (else the router's).
    pub num_retries: u32,
}

/// Orders the deployments of group `name` for this request (`model`: the model it asked for):
/// as many as `1 + num_retries` attempts (the most any `retry_policy` class allows) can use.
/// Refused when none can serve it now: all cooling, at capacity, none in the end user's
/// region, none with the request's tags, none with a large enough context window.
pub fn candidates<'g>(
    runtime: &'g Runtime,
    ctx: &RequestCtx,
    name: &str,
    model: &str,
) -> Result<Candidates<'g>, GatewayError> {
    let cfg = &runtime.config.router;
    let group = &runtime.groups[name];
    let deployments = group.serving(ctx.any_provider);
    // Deployments reserved to a team (`model_info.team_id`) serve that team's keys only.
    let scoped = if group.team_scoped {
        let caller = ctx.caller.as_ref();
        let team = caller
            .and_then(|c| c.key())
            .and_then(|k| k.team_id.as_deref());
        let admin = !matches!(caller, Some(crate::control::enforce::Caller::Key(_)));
        crate::runtime::scoped(deployments, team, admin)
    } else {
        std::borrow::Cow::Borrowed(deployments)
    };
    let deployments: &[Arc<DeploymentRt>] = &scoped;
    if deployments.is_empty() {
        // A fallback into a `*` group that has no deployment for the model's provider.
        let why = format!("model group {name} has no deployment for it");
        return Err(resolve::unknown(runtime, model, Some(why)));
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
    Ok(Candidates {
        deployments: scoped,
        order,
        num_retries,
    })
}

/// What the request asks of the deployments it may use (see `router::candidates`).
pub(crate) fn selection<'a>(
    cfg: &conf::RouterConfig,
    ctx: &'a RequestCtx,
) -> router::Selection<'a> {
    router::Selection {
        strategy: cfg.routing_strategy,
        tags: cfg
            .enable_tag_filtering
            .then_some(ctx.request_tags.as_slice()),
        prompt_tokens: cfg
            .enable_pre_call_checks
            .then(|| adapters::tokens::estimate_tokens(ctx.body_bytes)),
        latency_buffer: cfg.lowest_latency_buffer,
        region: ctx.region,
    }
}

/// The first deployment in routing order, among those usable now (not cooling, not full,
/// matching the request's tags and context), that `tried` does not hold. Computed only after
/// a failure: the common path never pays for it.
pub(crate) fn untried(
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
