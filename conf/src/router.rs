//! Routing settings: retries, fallbacks, cooldowns and aliases, read from `router_settings` or
//! (as LiteLLM also allows) `litellm_settings`, `router_settings` winning.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::{ErrorClass, RouterConfig, Strategy};
use crate::diag::{boolean, count, seconds, show, string, Diag};

pub(crate) fn router(
    router_settings: Option<&Map<String, Value>>,
    litellm_settings: Option<&Map<String, Value>>,
    d: &mut Diag,
) -> RouterConfig {
    let mut out = RouterConfig::default();
    // litellm_settings first, router_settings second: the later one wins.
    for (section, m) in [
        ("litellm_settings", litellm_settings),
        ("router_settings", router_settings),
    ] {
        let Some(m) = m else { continue };
        let path = |k: &str| format!("{section}.{k}");
        // Redis stays an error: without it, replicas would each count rate limits, budgets
        // and cooldowns alone, and a key could spend N times its budget.
        if let Some(url) = redis_url(m, &path, d) {
            out.redis_url = Some(crate::config::Secret::new(url));
        }
        // Every other routing setting is optional and its default safe to run with: a bad
        // value is a warning and the setting is ignored.
        d.lenient(|d| optional(section, m, &mut out, d));
    }
    out
}

/// The optional routing settings of one section.
fn optional(section: &str, m: &Map<String, Value>, out: &mut RouterConfig, d: &mut Diag) {
    let path = |k: &str| format!("{section}.{k}");
    if let Some(v) = m.get("num_retries") {
        if let Some(n) = count(&path("num_retries"), v, d) {
            out.num_retries = n.min(10) as u32;
        }
    }
    if let Some(v) = m.get("retry_after") {
        if let Some(t) = seconds(&path("retry_after"), v, true, d) {
            out.retry_after = t;
        }
    }
    for (key, target) in [
        ("fallbacks", &mut out.fallbacks),
        (
            "context_window_fallbacks",
            &mut out.context_window_fallbacks,
        ),
        (
            "content_policy_fallbacks",
            &mut out.content_policy_fallbacks,
        ),
    ] {
        if let Some(v) = m.get(key) {
            if let Some(map) = fallback_map(&path(key), v, d) {
                *target = map;
            }
        }
    }
    if let Some(v) = m.get("default_fallbacks") {
        if let Some(list) = string_list(&path("default_fallbacks"), v, d) {
            out.default_fallbacks = list;
        }
    }
    if let Some(v) = m.get("max_fallbacks") {
        if let Some(n) = count(&path("max_fallbacks"), v, d) {
            out.max_fallbacks = n as usize;
        }
    }
    if let Some(v) = m.get("allowed_fails") {
        if let Some(n) = count(&path("allowed_fails"), v, d) {
            out.allowed_fails = n as u32;
        }
    }
    if let Some(v) = m.get("cooldown_time") {
        if let Some(t) = seconds(&path("cooldown_time"), v, true, d) {
            out.cooldown_time = t;
        }
    }
    if let Some(v) = m.get("default_max_parallel_requests") {
        if let Some(n) = count(&path("default_max_parallel_requests"), v, d) {
            out.default_max_parallel_requests = Some(n as usize);
        }
    }
    for (key, target) in [
        ("enable_pre_call_checks", &mut out.enable_pre_call_checks),
        ("enable_tag_filtering", &mut out.enable_tag_filtering),
    ] {
        if let Some(v) = m.get(key) {
            if let Some(b) = boolean(&path(key), v, d) {
                *target = b;
            }
        }
    }
    for (key, suffix, target) in [
        ("retry_policy", "Retries", &mut out.retry_policy),
        (
            "allowed_fails_policy",
            "AllowedFails",
            &mut out.allowed_fails_policy,
        ),
    ] {
        if let Some(v) = m.get(key) {
            if let Some(policy) = error_policy(&path(key), v, suffix, d) {
                *target = policy;
            }
        }
    }
    if let Some(v) = m.get("routing_strategy_args") {
        let p = path("routing_strategy_args");
        match v {
            Value::Object(args) => {
                for (k, v) in args {
                    let kp = format!("{p}.{k}");
                    match k.as_str() {
                        "lowest_latency_buffer" => match v.as_f64() {
                            Some(b) if b >= 0.0 => out.lowest_latency_buffer = b,
                            _ => d.error(
                                &kp,
                                format_args!(
                                    "expected a number >= 0, got {}",
                                    crate::diag::show(&kp, v)
                                ),
                            ),
                        },
                        // Samples are an exponentially weighted average of recent
                        // responses; they need no expiry.
                        "ttl" => {}
                        _ => d.warn(&kp, "unknown key, ignored"),
                    }
                }
            }
            other => d.error(
                &p,
                format_args!("expected a map, got {}", crate::diag::show(&p, other)),
            ),
        }
    }
    if let Some(v) = m.get("disable_cooldowns") {
        if let Some(b) = boolean(&path("disable_cooldowns"), v, d) {
            out.disable_cooldowns = b;
        }
    }
    if let Some(v) = m.get("routing_strategy") {
        let p = path("routing_strategy");
        match v.as_str().map(Strategy::parse) {
            Some(Some(strategy)) => out.routing_strategy = strategy,
            Some(None) => d.error(
                &p,
                format_args!(
                    "unknown routing strategy {}; expected simple-shuffle, least-busy, latency-based-routing, usage-based-routing, usage-based-routing-v2 or cost-based-routing",
                    show(&p, v)
                ),
            ),
            None => d.error(
                &p,
                format_args!("expected a strategy name, got {}", show(&p, v)),
            ),
        }
    }
    if let Some(v) = m.get("model_group_alias") {
        let p = path("model_group_alias");
        match v {
            Value::Object(aliases) => {
                for (alias, target) in aliases {
                    let ap = format!("{p}.{alias}");
                    // `alias: group` or `alias: {model: group, hidden: true}`.
                    let group = match target {
                        Value::Object(o) => o
                            .get("model")
                            .and_then(|m| string(&format!("{ap}.model"), m, d)),
                        other => string(&ap, other, d),
                    };
                    if let Some(g) = group {
                        out.model_group_alias.insert(alias.clone(), g);
                    }
                }
            }
            other => d.error(
                &p,
                format_args!(
                    "expected a map of alias: model group, got {}",
                    show(&p, other)
                ),
            ),
        }
    }
}

/// LiteLLM's per-error-class numbers: `{BadRequestErrorRetries: 0, TimeoutErrorRetries: 3, …}`
/// (`…AllowedFails` for `allowed_fails_policy`).
fn error_policy(
    path: &str,
    v: &Value,
    suffix: &str,
    d: &mut Diag,
) -> Option<HashMap<ErrorClass, u32>> {
    let Value::Object(m) = v else {
        d.error(
            path,
            format_args!(
                "expected a map of <ErrorClass>{suffix}: number, got {}",
                show(path, v)
            ),
        );
        return None;
    };
    let mut out = HashMap::new();
    for (k, v) in m {
        let p = format!("{path}.{k}");
        let class = k.strip_suffix(suffix).and_then(ErrorClass::parse);
        match (class, count(&p, v, d)) {
            (Some(c), Some(n)) => {
                out.insert(c, n.min(1000) as u32);
            }
            (None, _) => {
                // The usual mistake: the section's own keys put inside the policy.
                let own = [
                    "num_retries",
                    "retry_after",
                    "allowed_fails",
                    "cooldown_time",
                ];
                let section = path.rsplit_once('.').map_or("router_settings", |(s, _)| s);
                let moved = if own.contains(&k.as_str()) {
                    format!(" — {k} is not an error class; put it directly under {section}")
                } else {
                    String::new()
                };
                d.error(
                    &p,
                    format_args!(
                        "unknown error class{moved}; the keys of this map are BadRequestError, AuthenticationError, TimeoutError, RateLimitError, ContentPolicyViolationError or InternalServerError followed by {suffix} (e.g. TimeoutError{suffix}: 3)"
                    ),
                )
            }
            _ => {}
        }
    }
    Some(out)
}

/// `redis_url`, or `redis_host` (+ `redis_port`, `redis_password`), as LiteLLM takes them.
fn redis_url(
    m: &Map<String, Value>,
    path: &dyn Fn(&str) -> String,
    d: &mut Diag,
) -> Option<String> {
    if let Some(v) = m.get("redis_url") {
        return string(&path("redis_url"), v, d);
    }
    let host = string(&path("redis_host"), m.get("redis_host")?, d)?;
    let port = match m.get("redis_port") {
        Some(v) => count(&path("redis_port"), v, d)?,
        None => 6379,
    };
    let auth = match m.get("redis_password") {
        Some(v) => format!(":{}@", string(&path("redis_password"), v, d)?),
        None => String::new(),
    };
    Some(format!("redis://{auth}{host}:{port}"))
}

/// LiteLLM's `[{group: [fallback, …]}, …]` (or one map).
fn fallback_map(path: &str, v: &Value, d: &mut Diag) -> Option<HashMap<String, Vec<String>>> {
    let entries: Vec<&Map<String, Value>> = match v {
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Object(o) => out.push(o),
                    other => {
                        let p = format!("{path}[{i}]");
                        d.error(
                            &p,
                            format_args!(
                                "expected {{group: [fallback groups]}}, got {} (fallbacks for every group go in default_fallbacks: [groups])",
                                show(&p, other)
                            ),
                        );
                        return None;
                    }
                }
            }
            out
        }
        Value::Object(o) => vec![o],
        other => {
            d.error(
                path,
                format_args!(
                    "expected a list of {{group: [fallback groups]}}, got {}",
                    show(path, other)
                ),
            );
            return None;
        }
    };
    let mut map = HashMap::new();
    for o in entries {
        for (group, list) in o {
            let list = string_list(&format!("{path}.{group}"), list, d)?;
            map.insert(group.clone(), list);
        }
    }
    Some(map)
}

fn string_list(path: &str, v: &Value, d: &mut Diag) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| string(&format!("{path}[{i}]"), item, d))
            .collect(),
        other => {
            d.error(
                path,
                format_args!("expected a list of model groups, got {}", show(path, other)),
            );
            None
        }
    }
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            num_retries: 0,
            retry_after: Duration::ZERO,
            fallbacks: HashMap::new(),
            context_window_fallbacks: HashMap::new(),
            content_policy_fallbacks: HashMap::new(),
            default_fallbacks: Vec::new(),
            max_fallbacks: 5,
            allowed_fails: 3,
            cooldown_time: Duration::from_secs(5),
            disable_cooldowns: false,
            model_group_alias: HashMap::new(),
            default_max_parallel_requests: None,
            routing_strategy: Strategy::SimpleShuffle,
            enable_pre_call_checks: false,
            enable_tag_filtering: false,
            redis_url: None,
            retry_policy: HashMap::new(),
            allowed_fails_policy: HashMap::new(),
            lowest_latency_buffer: 0.0,
        }
    }
}

impl Strategy {
    fn parse(name: &str) -> Option<Strategy> {
        Some(match name {
            "simple-shuffle" => Strategy::SimpleShuffle,
            "least-busy" => Strategy::LeastBusy,
            "latency-based-routing" => Strategy::LatencyBased,
            "usage-based-routing" | "usage-based-routing-v2" => Strategy::UsageBased,
            "cost-based-routing" => Strategy::CostBased,
            _ => return None,
        })
    }
}

impl ErrorClass {
    fn parse(name: &str) -> Option<ErrorClass> {
        Some(match name {
            "BadRequestError" => ErrorClass::BadRequest,
            "AuthenticationError" => ErrorClass::Authentication,
            "TimeoutError" => ErrorClass::Timeout,
            "RateLimitError" => ErrorClass::RateLimit,
            "ContentPolicyViolationError" => ErrorClass::ContentPolicy,
            "InternalServerError" => ErrorClass::InternalServer,
            _ => return None,
        })
    }
}
