//! `GET /tollgate/deployments` (each deployment's settings and live state from the router's own
//! memory: cooldown, in-flight, latency, this minute's requests and failures) and
//! `GET /tollgate/config` (the running config, secrets redacted). Admin only; no database.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::clock::now_ms;
use crate::control::period;
use crate::deployment::DeploymentRt;
use crate::runtime::Runtime;

/// One deployment's row.
fn deployment(d: &DeploymentRt, now: u64) -> Value {
    let c = &d.conf;
    let cooling = d.health.cooling(now);
    let (requests, _) = d.load.this_minute(now);
    let failures = u64::from(d.health.failures_this_minute(now));
    let latency_us = d.load.latency_us();
    json!({
        "model_name": c.model_name,
        "model_id": c.id,
        "provider": c.provider.prefix(),
        "model": c.model,
        "api_base": c.api_base.as_ref().map(|b| b.url.clone()),
        "order": d.route_order,
        "weight": d.route_weight,
        "tags": d.tags,
        "rpm": c.rpm,
        "tpm": c.tpm,
        "max_parallel_requests": d.slots.limit,
        "input_cost_per_token": d.price.as_ref().map(|p| p.input_cost_per_token),
        "output_cost_per_token": d.price.as_ref().map(|p| p.output_cost_per_token),
        "state": if cooling.is_some() { "cooling_down" } else { "healthy" },
        "cooldown_until": cooling.map(|left| period::iso((now + left.as_millis() as u64) as i64)),
        "inflight": d.slots.inflight(),
        "latency_ms": (latency_us > 0).then(|| latency_us as f64 / 1000.0),
        "requests_this_minute": requests,
        "failures_this_minute": failures,
        "error_rate": if requests == 0 { 0.0 } else { (failures as f64 / requests as f64).min(1.0) },
    })
}

/// `GET /tollgate/deployments`: every deployment, groups in config order.
pub fn list(rt: &Runtime) -> Value {
    let now = now_ms();
    let mut seen: HashSet<*const DeploymentRt> = HashSet::new();
    let mut rows = Vec::new();
    for name in &rt.group_names {
        let Some(g) = rt.groups.get(name) else {
            continue;
        };
        let all = g
            .deployments
            .iter()
            .chain(g.others.iter())
            .chain(g.by_provider.values().flatten());
        for d in all {
            if seen.insert(std::sync::Arc::as_ptr(d)) {
                rows.push(deployment(d, now));
            }
        }
    }
    json!({"data": rows})
}

/// `GET /tollgate/config`: the running config, secrets redacted (`conf::shown`).
pub fn config(rt: &Runtime) -> Value {
    json!({
        "path": rt.config.source.as_ref().map(|p| p.display().to_string()),
        "config": rt.config.shown,
    })
}
