//! A deployment as the gateway runs it: its configuration, upstream and credentials, the
//! routing inputs read once from its config (tier, weight, tags, context window, region,
//! prices), and its live state — health and cooldown, in-flight slots, load.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conf::Deployment;

use crate::gcp_auth::TokenSource;
use crate::load::Load;
use crate::pricing::{ModelPrice, PriceTable};
use crate::upstream::Upstream;

/// The upstream model for `dep`: its own, with a wildcard `*` replaced by what the request named.
pub fn upstream_model<'a>(dep_model: &'a str, wildcard: Option<&str>) -> Cow<'a, str> {
    match wildcard {
        Some(m) if dep_model.contains('*') => Cow::Owned(dep_model.replace('*', m)),
        _ => Cow::Borrowed(dep_model),
    }
}

/// A deployment with its resolved upstream.
#[derive(Debug)]
pub struct DeploymentRt {
    pub conf: Deployment,
    /// `None` for `mock_response` deployments with no `api_base`.
    pub upstream: Option<Arc<Upstream>>,
    /// Vertex AI: the OAuth token source for the deployment's service account.
    pub gcp: Option<Arc<TokenSource>>,
    /// Recent failures and cooldown (shared with the same deployment in the runtime a reload
    /// builds: see [`identity`]).
    pub health: Arc<Health>,
    /// In-flight requests against `max_parallel_requests`.
    pub slots: Arc<Slots>,
    /// Recent latency and this minute's usage (carried over by a reload, as `health`).
    pub load: Arc<Load>,
    /// Routing inputs read once: tier (`order`), share (`weight`/`rpm`/`tpm`), price, tags,
    /// context window.
    pub route_order: u64,
    pub route_weight: f64,
    pub route_cost: f64,
    pub tags: Vec<String>,
    pub max_input_tokens: Option<u64>,
    /// The data-residency region it serves from (`region_name`, else its cloud region).
    pub region: Option<crate::region::Region>,
    /// `x-litellm-model-id`, `-model-group`, `-model-api-base`, built once.
    pub headers: Vec<(&'static str, http::HeaderValue)>,
    /// Prices and limits: the price table's entry with the deployment's own overrides.
    pub price: Option<ModelPrice>,
    /// A wildcard deployment's (`openai/*`, `*`): the table its requests are priced from, by
    /// the model the `*` stood for.
    pub wildcard_prices: Option<Arc<PriceTable>>,
}

impl DeploymentRt {
    /// The prices of a request this deployment serves: its own, or for a wildcard deployment
    /// those of the model `wildcard` names (the deployment's own cost keys still override).
    pub fn price_for(&self, wildcard: Option<&str>) -> Option<Cow<'_, ModelPrice>> {
        match (&self.wildcard_prices, wildcard) {
            (Some(table), Some(m)) => crate::pricing::for_deployment(
                table,
                self.conf.provider.prefix(),
                &crate::deployment::upstream_model(&self.conf.model, Some(m)),
                &self.conf.internal_params,
                &self.conf.model_info,
            )
            .map(Cow::Owned),
            _ => self.price.as_ref().map(Cow::Borrowed),
        }
    }
}

/// The per-deployment response headers; values that are not valid header text are left out.
pub(crate) fn deployment_headers(d: &Deployment) -> Vec<(&'static str, http::HeaderValue)> {
    let base = d.api_base.as_ref().map(|b| b.url.as_str());
    [
        ("x-litellm-model-id", Some(d.id.as_str())),
        ("x-litellm-model-group", Some(d.model_name.as_str())),
        ("x-litellm-model-api-base", base),
    ]
    .into_iter()
    .filter_map(|(name, v)| Some((name, http::HeaderValue::from_str(v?).ok()?)))
    .collect()
}

/// A deployment's recent failures and cooldown.
#[derive(Debug, Default)]
pub struct Health {
    /// Skipped until this time (ms since epoch); 0 when healthy.
    cooldown_until: AtomicU64,
    /// (minute since epoch, failures counted in it).
    window: Mutex<(u64, u32)>,
}

impl Health {
    /// Remaining cooldown, if cooling.
    pub fn cooling(&self, now: u64) -> Option<Duration> {
        let until = self.cooldown_until.load(Ordering::Relaxed);
        (until > now).then(|| Duration::from_millis(until - now))
    }

    /// Failures counted in the current minute (the metrics' "partial outage").
    pub fn failures_this_minute(&self, now: u64) -> u32 {
        let w = self.window.lock().expect("health lock");
        if w.0 == now / 60_000 {
            w.1
        } else {
            0
        }
    }

    /// Applies a cooldown learned from another replica (or keeps a later one already set).
    pub fn cool_until(&self, until_ms: u64) {
        self.cooldown_until.fetch_max(until_ms, Ordering::Relaxed);
    }

    /// Counts a failure; cools the deployment down once the minute's failures exceed
    /// `allowed_fails`. Returns the end of the cooldown it entered, if it did. A new cooldown
    /// always gets the full `cooldown` (LiteLLM keeps a shorter deadline when re-cooled; this
    /// does not).
    pub fn record_failure(&self, now: u64, allowed_fails: u32, cooldown: Duration) -> Option<u64> {
        let minute = now / 60_000;
        let fails = {
            let mut w = self.window.lock().expect("health lock");
            if w.0 != minute {
                *w = (minute, 0);
            }
            w.1 += 1;
            w.1
        };
        if fails > allowed_fails {
            let until = now + cooldown.as_millis() as u64;
            self.cooldown_until.fetch_max(until, Ordering::Relaxed);
            return Some(until);
        }
        None
    }
}

/// In-flight requests on a deployment, against its `max_parallel_requests`.
#[derive(Debug, Default)]
pub struct Slots {
    /// Shared with the same deployment's slots in a reloaded runtime ([`Slots::carry`]), so
    /// requests still running on the old runtime count against the new limit.
    inflight: Arc<std::sync::atomic::AtomicUsize>,
    /// `max_parallel_requests` (or the router default); `None` = unlimited.
    pub limit: Option<usize>,
}

impl Slots {
    pub fn new(limit: Option<usize>) -> Self {
        Slots {
            inflight: Default::default(),
            limit,
        }
    }

    /// Slots with limit `limit` counting the same in-flight requests as these.
    pub fn carry(&self, limit: Option<usize>) -> Self {
        Slots {
            inflight: self.inflight.clone(),
            limit,
        }
    }

    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Relaxed)
    }

    pub fn full(&self) -> bool {
        self.limit
            .is_some_and(|l| self.inflight.load(Ordering::Relaxed) >= l)
    }

    /// Takes a slot, or `None` when the deployment is at its limit.
    pub fn acquire(self: &Arc<Self>) -> Option<SlotGuard> {
        let now = self.inflight.fetch_add(1, Ordering::AcqRel);
        if self.limit.is_some_and(|l| now >= l) {
            self.inflight.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(SlotGuard(self.clone()))
    }
}

/// Releases a slot when dropped.
pub struct SlotGuard(Arc<Slots>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Priority tier: `order` in `litellm_params` (1 first); deployments without one come last.
pub fn order(d: &Deployment) -> u64 {
    d.internal_params
        .get("order")
        .and_then(|v| v.as_u64())
        .unwrap_or(u64::MAX)
}

/// Context window from `model_info` (`max_input_tokens`, else `max_tokens`).
pub fn max_input_tokens(d: &Deployment) -> Option<u64> {
    let get = |k: &str| d.model_info.get(k).and_then(|v| v.as_u64());
    get("max_input_tokens").or_else(|| get("max_tokens"))
}

/// Tags of a deployment (`litellm_params.tags`).
pub fn tags(d: &Deployment) -> Vec<String> {
    match d.internal_params.get("tags") {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        Some(serde_json::Value::String(t)) => vec![t.clone()],
        _ => Vec::new(),
    }
}

/// Share of traffic: `weight`, else `rpm`, else `tpm`, else 1.
pub fn weight(d: &Deployment) -> f64 {
    let w = d.internal_params.get("weight").and_then(|v| v.as_f64());
    let w = w
        .or(d.rpm.map(|r| r as f64))
        .or(d.tpm.map(|t| t as f64))
        .unwrap_or(1.0);
    if w.is_finite() && w > 0.0 {
        w
    } else {
        f64::MIN_POSITIVE
    }
}

/// `litellm_params` keys that tune how a deployment is routed or priced rather than which
/// upstream it is: changing them keeps the deployment's identity (and its live state).
fn tuning_key(k: &str) -> bool {
    matches!(
        k,
        "weight" | "order" | "tags" | "max_parallel_requests" | "rpm" | "tpm"
    ) || k.contains("cost")
}

/// What makes deployments of two successive configurations the same one, whose live state
/// (cooldown and failure count, latency, usage, in-flight slots) a reload carries over: its
/// `model_info.id` when set, else a SHA-256 of its group and `litellm_params` without the
/// routing and pricing knobs ([`tuning_key`]) — re-pricing or re-weighting a deployment keeps
/// its state, pointing it elsewhere (model, `api_base`, key, other parameters) does not.
pub fn identity(d: &Deployment) -> String {
    use sha2::{Digest, Sha256};
    if d.model_info.get("id").is_some() {
        return format!("id:{}", d.id);
    }
    let mut h = Sha256::new();
    let mut part = |s: &[u8]| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s);
    };
    part(d.model_name.as_bytes());
    part(d.provider.prefix().as_bytes());
    part(d.model.as_bytes());
    part(
        d.api_base
            .as_ref()
            .map_or("", |b| b.url.as_str())
            .as_bytes(),
    );
    part(d.api_version.as_deref().unwrap_or("").as_bytes());
    part(&[u8::from(d.any_provider)]);
    match &d.api_key {
        Some(k) => part(&Sha256::digest(k.expose().as_bytes())),
        None => part(b""),
    }
    part(d.mock_response.as_deref().unwrap_or("").as_bytes());
    for params in [&d.extra_params, &d.internal_params] {
        let mut keys: Vec<&String> = params.keys().filter(|k| !tuning_key(k)).collect();
        keys.sort();
        for k in keys {
            part(k.as_bytes());
            part(params[k].to_string().as_bytes());
        }
        part(b"|");
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(68);
    out.push_str("sha:");
    for b in &digest[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_starts_after_allowed_fails_and_expires() {
        let h = Health::default();
        let t = 1_000_000;
        assert!(h.record_failure(t, 2, Duration::from_secs(5)).is_none());
        assert!(h.record_failure(t, 2, Duration::from_secs(5)).is_none());
        assert_eq!(
            h.record_failure(t, 2, Duration::from_secs(5)),
            Some(t + 5_000)
        );
        assert_eq!(h.cooling(t), Some(Duration::from_secs(5)));
        assert_eq!(h.cooling(t + 5_000), None);
        // A new minute starts a new count.
        assert!(h
            .record_failure(t + 60_000, 2, Duration::from_secs(5))
            .is_none());
    }
}
