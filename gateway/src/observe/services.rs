//! Service metrics (LiteLLM's `prometheus_system`): Redis and database calls — latency,
//! totals and failures — plus Tollgate's own health of the Redis connections (the router's:
//! shared cooldowns, usage, latency; the control plane's: shared budgets and limits) and the
//! budget leases, so that a replica degraded to local state shows on a dashboard, not only in
//! its log.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use super::family_index as fi;
use super::{cap, metrics};

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

/// A Redis call for `what`, started at `started`, succeeded.
pub fn redis_ok(what: RedisUse, started: Instant) {
    REDIS_UP[what as usize].store(1, Ordering::Relaxed);
    let m = metrics();
    m.events.add(fi::REDIS_TOTAL.get(), &[], 1, cap());
    m.events.observe(
        fi::REDIS_LATENCY.get(),
        &[],
        started.elapsed().as_secs_f64(),
        cap(),
    );
}

/// A Redis call for `what` (in `function`) failed: the replica runs on local state until one
/// succeeds again.
pub fn redis_failed(what: RedisUse, function: &'static str, e: &redis::RedisError) {
    REDIS_UP[what as usize].store(0, Ordering::Relaxed);
    let m = metrics();
    m.events.add(fi::REDIS_TOTAL.get(), &[], 1, cap());
    m.events.add(
        fi::REDIS_FAILED.get(),
        &[error_class(e), function],
        1,
        cap(),
    );
}

/// A batch write of spend to the database, started at `started`, ended with `result`
/// (LiteLLM's `postgres` and `batch_write_to_db` services; SQLite counts too).
pub fn db_write<T, E: std::fmt::Debug>(started: Instant, result: &Result<T, E>) {
    let secs = started.elapsed().as_secs_f64();
    let m = metrics();
    for (total, latency, failed) in [
        (&fi::DB_TOTAL, &fi::DB_LATENCY, &fi::DB_FAILED),
        (&fi::BATCH_TOTAL, &fi::BATCH_LATENCY, &fi::BATCH_FAILED),
    ] {
        m.events.add(total.get(), &[], 1, cap());
        m.events.observe(latency.get(), &[], secs, cap());
        if let Err(e) = result {
            let class = format!("{e:?}");
            let class = class.split(['(', ' ', '{']).next().unwrap_or("StoreError");
            m.events
                .add(failed.get(), &[class, "flush_spend"], 1, cap());
        }
    }
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

/// Tollgate's own service families, appended to the exposition.
pub fn render(out: &mut String) {
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
    crate::conn::render_metrics(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_by_class_and_function_and_flip_the_gauge() {
        let refused =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let text = || {
            let mut out = String::new();
            render(&mut out);
            out
        };
        let failures = || {
            metrics()
                .events
                .cells(fi::REDIS_FAILED.get())
                .iter()
                .filter(|c| &*c.labels[0] == "ConnectionError" && &*c.labels[1] == "test_sync")
                .map(|c| c.count.load(Ordering::Relaxed))
                .sum::<u64>()
        };
        redis_ok(RedisUse::Router, Instant::now());
        assert!(text().contains("tollgate_redis_up{use=\"router\"} 1"));
        redis_failed(RedisUse::Router, "test_sync", &refused);
        redis_failed(RedisUse::Router, "test_sync", &refused);
        let text = text();
        assert!(
            text.contains("tollgate_redis_up{use=\"router\"} 0"),
            "{text}"
        );
        assert_eq!(failures(), 2);
    }
}
