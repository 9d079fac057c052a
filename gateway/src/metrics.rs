//! Prometheus `/metrics`: process-wide counters and gauges in the text exposition format. For
//! now the health of the Redis connections — the router's (shared cooldowns, usage, latency)
//! and the control plane's (shared budgets and limits) — and the budget leases, so that a
//! replica degraded to local state shows on a dashboard, not only in its log.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

/// What a Redis connection serves.
#[derive(Debug, Clone, Copy)]
pub enum RedisUse {
    /// `router_settings` sharing: cooldowns, usage, latency.
    Router = 0,
    /// Budgets, rate limits and entity changes.
    Control = 1,
}

const USES: [&str; 2] = ["router", "control"];
const UNUSED: u8 = 2;

static REDIS_UP: [AtomicU8; 2] = [AtomicU8::new(UNUSED), AtomicU8::new(UNUSED)];
/// (error class, function) → failures.
static REDIS_FAILURES: Mutex<BTreeMap<(&str, &str), u64>> = Mutex::new(BTreeMap::new());

/// Budget lease requests by result (`granted`, `refused`, `failed`).
static LEASE_REQUESTS: Mutex<BTreeMap<&str, u64>> = Mutex::new(BTreeMap::new());
/// Requests whose budgets were reserved without a lease (Redis failing), by failure mode.
static LEASE_FALLBACKS: Mutex<BTreeMap<&str, u64>> = Mutex::new(BTreeMap::new());

/// A budget lease request ended with `result`.
pub fn lease_request(result: &'static str) {
    *LEASE_REQUESTS
        .lock()
        .expect("metrics lock")
        .entry(result)
        .or_insert(0) += 1;
}

/// A request needed a budget lease Redis could not give; `mode` is `redis_failure_mode`.
pub fn lease_fallback(mode: &'static str) {
    *LEASE_FALLBACKS
        .lock()
        .expect("metrics lock")
        .entry(mode)
        .or_insert(0) += 1;
}

/// A Redis call for `what` succeeded.
pub fn redis_ok(what: RedisUse) {
    REDIS_UP[what as usize].store(1, Ordering::Relaxed);
}

/// A Redis call for `what` (in `function`) failed: the replica runs on local state until one
/// succeeds again.
pub fn redis_failed(what: RedisUse, function: &'static str, e: &redis::RedisError) {
    REDIS_UP[what as usize].store(0, Ordering::Relaxed);
    let mut failures = REDIS_FAILURES.lock().expect("metrics lock");
    *failures.entry((error_class(e), function)).or_insert(0) += 1;
}

fn error_class(e: &redis::RedisError) -> &'static str {
    if e.is_timeout() || e.to_string().contains("timed out") {
        "TimeoutError"
    } else if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
        "ConnectionError"
    } else {
        "RedisError"
    }
}

/// The exposition text.
pub fn render() -> String {
    let mut out = String::with_capacity(1024);
    out.push_str(
        "# HELP litellm_redis_failed_requests_total Failed calls to Redis\n\
         # TYPE litellm_redis_failed_requests_total counter\n",
    );
    for ((class, function), n) in REDIS_FAILURES.lock().expect("metrics lock").iter() {
        let _ = writeln!(
            out,
            "litellm_redis_failed_requests_total{{error_class=\"{class}\",function_name=\"{function}\"}} {n}"
        );
    }
    out.push_str(
        "# HELP tollgate_redis_up 1 while Redis is shared with the other replicas, 0 while this replica runs on local state\n\
         # TYPE tollgate_redis_up gauge\n",
    );
    for (name, up) in USES.iter().zip(&REDIS_UP) {
        let up = up.load(Ordering::Relaxed);
        if up != UNUSED {
            let _ = writeln!(out, "tollgate_redis_up{{use=\"{name}\"}} {up}");
        }
    }
    out.push_str(
        "# HELP tollgate_budget_lease_requests_total Requests to Redis for a slice of a budget, by result\n\
         # TYPE tollgate_budget_lease_requests_total counter\n",
    );
    for (result, n) in LEASE_REQUESTS.lock().expect("metrics lock").iter() {
        let _ = writeln!(
            out,
            "tollgate_budget_lease_requests_total{{result=\"{result}\"}} {n}"
        );
    }
    out.push_str(
        "# HELP tollgate_budget_lease_fallbacks_total Requests whose budgets were checked without the cluster (Redis unreachable), by redis_failure_mode\n\
         # TYPE tollgate_budget_lease_fallbacks_total counter\n",
    );
    for (mode, n) in LEASE_FALLBACKS.lock().expect("metrics lock").iter() {
        let _ = writeln!(
            out,
            "tollgate_budget_lease_fallbacks_total{{mode=\"{mode}\"}} {n}"
        );
    }
    crate::conn::render_metrics(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_by_class_and_function_and_flip_the_gauge() {
        let refused =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        redis_ok(RedisUse::Router);
        assert!(render().contains("tollgate_redis_up{use=\"router\"} 1"));
        redis_failed(RedisUse::Router, "test_sync", &refused);
        redis_failed(RedisUse::Router, "test_sync", &refused);
        let text = render();
        assert!(
            text.contains("tollgate_redis_up{use=\"router\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("litellm_redis_failed_requests_total{error_class=\"ConnectionError\",function_name=\"test_sync\"} 2"),
            "{text}"
        );
    }
}
