//! Routing decisions, kept free of I/O: the order in which a group's deployments are tried
//! (eligibility, priority tiers, weighted shuffle and the other strategies), which failures are
//! retried or fall back to another group, and how long to wait before a retry.

use std::sync::Arc;
use std::time::Duration;

use conf::{ErrorClass, RouterConfig, Strategy};
use rand::Rng;

use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::region::Region;

/// What the request asks of the deployments it may use.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    pub strategy: Strategy,
    /// Tag filtering: the request's tags (`None` when filtering is off).
    pub tags: Option<&'a [String]>,
    /// Pre-call checks: the prompt's estimated tokens (`None` when the checks are off).
    pub prompt_tokens: Option<u64>,
    /// Latency-based: deployments within this share of the fastest are picked at random.
    pub latency_buffer: f64,
    /// The end user's `allowed_model_region`: only deployments in it may serve the request.
    pub region: Option<Region>,
}

/// Why no deployment can take the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// Every eligible deployment is cooling; the shortest remaining cooldown.
    Cooling(Duration),
    /// Every eligible deployment is at `max_parallel_requests` (or its `rpm`/`tpm`).
    Full,
    /// No deployment carries one of the request's tags (nor `default`).
    NoTag,
    /// No deployment of the group is in the request's region.
    NoRegion(Region),
    /// No deployment's context window holds the prompt.
    ContextTooSmall { needed: u64, largest: u64 },
}

/// Up to `k` deployments to try, in order: eligible ones only (tags, context window, health,
/// capacity), the lowest `order` tier first, and inside a tier chosen by the strategy — a weighted
/// draw for simple-shuffle, the least loaded / fastest / least used / cheapest otherwise.
/// O(n·k) with no sorting, so a group of 50 costs about as much as a group of 1 when `k` is small.
pub fn candidates(
    deployments: &[Arc<DeploymentRt>],
    now: u64,
    k: usize,
    sel: Selection<'_>,
) -> Result<Vec<Arc<DeploymentRt>>, Unavailable> {
    // The region first: a region-bound request never leaves it, whatever else applies.
    let in_region = |d: &DeploymentRt| sel.region.is_none_or(|r| d.region == Some(r));
    if let Some(r) = sel.region {
        if !deployments.iter().any(|d| in_region(d)) {
            return Err(Unavailable::NoRegion(r));
        }
    }
    // Then tags: they decide which deployments are the group's for this request.
    let tagged = |d: &DeploymentRt, wanted: &[String]| d.tags.iter().any(|t| wanted.contains(t));
    let has_tagged = |wanted: &[String]| {
        deployments
            .iter()
            .any(|d| in_region(d) && tagged(d, wanted))
    };
    let default_tag = [String::from("default")];
    let tag_set: Option<&[String]> = match sel.tags {
        None => None,
        Some(tags) if !tags.is_empty() && has_tagged(tags) => Some(tags),
        Some(_) if has_tagged(&default_tag) => Some(&default_tag),
        Some([]) => None,
        Some(_) => return Err(Unavailable::NoTag),
    };
    let fits = |d: &DeploymentRt| match (sel.prompt_tokens, d.max_input_tokens) {
        (Some(needed), Some(max)) => needed <= max,
        _ => true,
    };
    let eligible =
        |d: &DeploymentRt| in_region(d) && tag_set.is_none_or(|t| tagged(d, t)) && fits(d);
    if !deployments.iter().any(|d| eligible(d)) {
        let largest = deployments
            .iter()
            .filter_map(|d| d.max_input_tokens)
            .max()
            .unwrap_or(0);
        return Err(Unavailable::ContextTooSmall {
            needed: sel.prompt_tokens.unwrap_or(0),
            largest,
        });
    }
    let within_limits = |d: &DeploymentRt| {
        if sel.strategy != Strategy::UsageBased && sel.prompt_tokens.is_none() {
            return true;
        }
        let (requests, tokens) = d.load.this_minute(now);
        d.conf.rpm.is_none_or(|l| requests < l) && d.conf.tpm.is_none_or(|l| tokens < l)
    };
    // A group of one is never cooled down: there is nowhere else to go.
    let single = deployments.len() == 1;
    let usable = |d: &DeploymentRt| {
        eligible(d)
            && (single || d.health.cooling(now).is_none())
            && !d.slots.full()
            && within_limits(d)
    };
    let mut picked: Vec<Arc<DeploymentRt>> = Vec::with_capacity(k.min(deployments.len()));
    let mut rng = rand::thread_rng();
    while picked.len() < k {
        let open = |d: &&Arc<DeploymentRt>| usable(d) && !picked.iter().any(|p| Arc::ptr_eq(p, d));
        let Some(tier) = deployments.iter().filter(open).map(|d| d.route_order).min() else {
            break;
        };
        let in_tier = || {
            deployments
                .iter()
                .filter(open)
                .filter(move |d| d.route_order == tier)
        };
        let choice = match sel.strategy {
            Strategy::SimpleShuffle => {
                let total: f64 = in_tier().map(|d| d.route_weight).sum();
                let mut r = rng.gen_range(0.0..total);
                let mut choice = None;
                for d in in_tier() {
                    choice = Some(d);
                    if r < d.route_weight {
                        break;
                    }
                    r -= d.route_weight;
                }
                choice
            }
            Strategy::LeastBusy => in_tier().min_by_key(|d| d.slots.inflight()),
            Strategy::LatencyBased => {
                let fastest = in_tier().map(|d| d.load.latency_us()).min().unwrap_or(0);
                let bound = fastest as f64 * (1.0 + sel.latency_buffer);
                let near: Vec<_> = in_tier()
                    .filter(|d| d.load.latency_us() as f64 <= bound)
                    .collect();
                near.get(rng.gen_range(0..near.len().max(1))).copied()
            }
            Strategy::UsageBased => in_tier().min_by_key(|d| d.load.this_minute(now).1),
            Strategy::CostBased => in_tier().min_by(|a, b| a.route_cost.total_cmp(&b.route_cost)),
        };
        picked.push(choice.expect("the tier has a member").clone());
    }
    if !picked.is_empty() {
        return Ok(picked);
    }
    match deployments
        .iter()
        .filter(|d| eligible(d))
        .filter_map(|d| d.health.cooling(now))
        .min()
    {
        Some(wait) => Err(Unavailable::Cooling(wait)),
        None => Err(Unavailable::Full),
    }
}

/// What a failed attempt means for the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Connect error, timeout, 408, 429 or 5xx: retry (another deployment first), counts
    /// toward cooldown, then the group's `fallbacks`.
    Retryable,
    /// The prompt is too long for the model: straight to `context_window_fallbacks`.
    ContextWindow,
    /// The provider refused the content: straight to `content_policy_fallbacks`.
    ContentPolicy,
    /// The client's own mistake (other 4xx): answered as it is.
    Final,
}

pub fn classify(e: &GatewayError) -> Failure {
    match e {
        GatewayError::UpstreamUnreachable { .. }
        | GatewayError::UpstreamTimeout { .. }
        | GatewayError::UpstreamProtocol { .. }
        | GatewayError::AtCapacity { .. } => Failure::Retryable,
        GatewayError::ContextTooSmall(_) => Failure::ContextWindow,
        GatewayError::Upstream(api) => {
            let code = api.code.as_deref().unwrap_or("");
            if code == "context_length_exceeded" {
                Failure::ContextWindow
            } else if matches!(code, "content_policy_violation" | "content_filter") {
                Failure::ContentPolicy
            } else if matches!(api.status, 408 | 429) || api.status >= 500 {
                Failure::Retryable
            } else {
                Failure::Final
            }
        }
        _ => Failure::Final,
    }
}

/// LiteLLM's error class of a failure, for `retry_policy` and `allowed_fails_policy`.
pub fn error_class(e: &GatewayError) -> Option<ErrorClass> {
    Some(match e {
        GatewayError::UpstreamTimeout { .. } => ErrorClass::Timeout,
        GatewayError::UpstreamUnreachable { .. } | GatewayError::UpstreamProtocol { .. } => {
            ErrorClass::InternalServer
        }
        GatewayError::Upstream(api) => match (api.status, classify(e)) {
            (_, Failure::ContentPolicy) => ErrorClass::ContentPolicy,
            (401 | 403, _) => ErrorClass::Authentication,
            (408, _) => ErrorClass::Timeout,
            (429, _) => ErrorClass::RateLimit,
            (s, _) if s >= 500 => ErrorClass::InternalServer,
            _ => ErrorClass::BadRequest,
        },
        _ => return None,
    })
}

/// The groups to fall back to after `group` failed with `failure`, in order.
pub fn fallbacks<'a>(cfg: &'a RouterConfig, group: &str, failure: Failure) -> &'a [String] {
    let specific = match failure {
        Failure::ContextWindow => cfg.context_window_fallbacks.get(group),
        Failure::ContentPolicy => cfg.content_policy_fallbacks.get(group),
        Failure::Retryable => None,
        Failure::Final => return &[],
    };
    specific
        .or_else(|| cfg.fallbacks.get(group))
        .map(Vec::as_slice)
        .unwrap_or(&cfg.default_fallbacks)
}

/// Wait before retry number `n` (1-based): exponential from 100 ms, capped at 5 s, with jitter,
/// at least `retry_after` (config) and at least the provider's `retry-after` (capped at 30 s).
pub fn backoff(n: u32, cfg: &RouterConfig, provider_retry_after: Option<Duration>) -> Duration {
    let base = Duration::from_millis(100)
        .saturating_mul(1 << n.saturating_sub(1).min(6))
        .min(Duration::from_secs(5));
    let jittered = base.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
    let provider = provider_retry_after
        .unwrap_or_default()
        .min(Duration::from_secs(30));
    jittered.max(cfg.retry_after).max(provider)
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapters::ApiError;

    #[test]
    fn classifies_failures_like_litellm() {
        let up = |status, code: Option<&str>| {
            let mut e = ApiError::new(status, "x", "m");
            e.code = code.map(str::to_string);
            GatewayError::Upstream(e)
        };
        assert_eq!(classify(&up(429, None)), Failure::Retryable);
        assert_eq!(classify(&up(503, None)), Failure::Retryable);
        assert_eq!(classify(&up(408, None)), Failure::Retryable);
        assert_eq!(
            classify(&up(400, Some("context_length_exceeded"))),
            Failure::ContextWindow
        );
        assert_eq!(
            classify(&up(400, Some("content_policy_violation"))),
            Failure::ContentPolicy
        );
        assert_eq!(classify(&up(400, None)), Failure::Final);
        assert_eq!(classify(&up(401, None)), Failure::Final);
        assert_eq!(
            classify(&GatewayError::UpstreamTimeout {
                group: "g".into(),
                secs: 1.0
            }),
            Failure::Retryable
        );
        assert_eq!(classify(&GatewayError::MissingKey), Failure::Final);
        let cap = GatewayError::AtCapacity {
            group: "g".into(),
            deployment: "d".into(),
            limit: 1,
        };
        assert_eq!(classify(&cap), Failure::Retryable);
        let small = GatewayError::ContextTooSmall(ApiError::new(400, "x", "m"));
        assert_eq!(classify(&small), Failure::ContextWindow);
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let cfg = RouterConfig::default();
        assert!(backoff(1, &cfg, None) <= Duration::from_millis(100));
        assert!(backoff(3, &cfg, None) >= Duration::from_millis(200));
        assert!(backoff(20, &cfg, None) <= Duration::from_secs(5));
        assert_eq!(
            backoff(1, &cfg, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            backoff(1, &cfg, Some(Duration::from_secs(600))),
            Duration::from_secs(30)
        );
    }
}
