//! Observability. Metrics: LiteLLM's Prometheus families (`family.rs`), recorded by one call
//! per request from the account stage into a bounded table of atomic rows (`series.rs`), by
//! event hooks (`events.rs`: attempts, cooldowns, fallbacks, callbacks, services in
//! `services.rs`), and read from the gateway's state at scrape (`gauges.rs`), all written
//! out by `expose.rs` for `GET /metrics`. The hooks below are what the lifecycle calls, one
//! line each. Logging callbacks and alerting: `callbacks.rs` (re-exported here), fed one event
//! per finished request from the account stage through bounded per-sink queues.

pub mod events;
pub mod expose;
pub mod family;
pub mod gauges;
pub mod labels;
pub mod notes;
pub mod series;
pub mod services;

// Logging callbacks and alerting (`callbacks.rs` is their entry point).
pub mod alerting;
pub mod callbacks;
pub mod capture;
pub mod dynamic;
pub mod event;
pub mod generic;
pub mod hanging;
pub mod http;
pub mod langfuse;
pub mod logs;
pub mod otlp;
pub mod payload;
pub mod queue;

pub use callbacks::{
    callback_failures, callback_names, flush, on_admit, on_caller, on_refused, on_stream, on_whole,
    request_done, request_refused, start, upstream_traceparent,
};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;

use crate::ctx::RequestCtx;
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::state::AppState;

/// The process's metric tables.
pub struct Metrics {
    pub requests: series::Table,
    pub events: events::Events,
    /// `litellm_self_latency` / `litellm_self_total_requests` (one label set each), held so
    /// that a request updates them without a lookup.
    pub self_latency: std::sync::Arc<events::Cell>,
    pub self_total: std::sync::Arc<events::Cell>,
    /// The `auth` and `proxy_pre_call` services' latency and total cells, likewise.
    pub stages: [[std::sync::Arc<events::Cell>; 2]; 2],
}

static METRICS: OnceLock<Metrics> = OnceLock::new();
static ENABLED: AtomicBool = AtomicBool::new(true);
static CAP: AtomicUsize = AtomicUsize::new(1_000);

/// The tables; the first call fixes the histogram buckets (`prometheus_latency_buckets` of the
/// configuration the process started with).
pub fn metrics() -> &'static Metrics {
    METRICS.get_or_init(|| Metrics::new(family::LATENCY_BUCKETS))
}

impl Metrics {
    pub fn new(bounds: &[f64]) -> Metrics {
        let events = events::Events::new(bounds);
        Metrics {
            requests: series::Table::new(bounds, 0),
            self_latency: events.cell(family::index_of("litellm_self_latency"), &[], 1),
            self_total: events.cell(family::index_of("litellm_self_total_requests"), &[], 1),
            stages: [Stage::Auth, Stage::PreCall].map(|s| {
                let [latency, total, _] = s.families();
                [
                    events.cell(family::index_of(latency), &[], 1),
                    events.cell(family::index_of(total), &[], 1),
                ]
            }),
            events,
        }
    }
}

/// A stage LiteLLM times as a service.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    /// The key check (`lifecycle::auth`).
    Auth = 0,
    /// Admission: access, budgets, limits (`lifecycle::admit::control`).
    PreCall = 1,
}

impl Stage {
    fn families(self) -> [&'static str; 3] {
        match self {
            Stage::Auth => [
                "litellm_auth_latency",
                "litellm_auth_total_requests",
                "litellm_auth_failed_requests",
            ],
            Stage::PreCall => [
                "litellm_proxy_pre_call_latency",
                "litellm_proxy_pre_call_total_requests",
                "litellm_proxy_pre_call_failed_requests",
            ],
        }
    }
}

/// A stage started at `started` ended with `result` (its failures by exception class).
pub fn stage<T>(stage: Stage, started: std::time::Instant, result: &Result<T, GatewayError>) {
    if !enabled() {
        return;
    }
    let m = metrics();
    let [latency, total] = &m.stages[stage as usize];
    if let Some(h) = &latency.hist {
        h.observe(m.events.bounds(), started.elapsed().as_secs_f64());
    }
    total.count.fetch_add(1, Relaxed);
    if let Err(e) = result {
        let class = labels::exception_class(e.to_api_error().status, None);
        let function = match stage {
            Stage::Auth => "user_api_key_auth",
            Stage::PreCall => "pre_call_checks",
        };
        let failed = family::index_of(stage.families()[2]);
        m.events.add(failed, &[&class, function], 1, cap());
    }
}

/// Applies the configuration's metric settings, at start (`server.rs`).
pub fn configure(s: &conf::MetricsSettings) {
    METRICS.get_or_init(|| {
        Metrics::new(
            s.latency_buckets
                .as_deref()
                .unwrap_or(family::LATENCY_BUCKETS),
        )
    });
    ENABLED.store(s.enabled, Relaxed);
    CAP.store(s.max_series, Relaxed);
}

/// Whether request metrics are recorded.
pub fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

pub(crate) fn cap() -> usize {
    CAP.load(Relaxed)
}

/// Stage 6: counts the request (every LLM request, refused ones included) in its row.
pub fn account(
    state: &AppState,
    path: &str,
    ctx: &mut RequestCtx,
    admission: Option<&crate::control::enforce::Admission>,
) {
    if enabled() && !ctx.call_type.is_empty() {
        labels::record(state, path, ctx, admission);
    }
}

/// An attempt at `dep` failed with `e` (retried, fallen back from, or final).
pub fn attempt_failed(state: &AppState, ctx: &RequestCtx, dep: &DeploymentRt, e: &GatewayError) {
    if enabled() {
        labels::attempt_failed(state, ctx, dep, e);
    }
}

/// `dep` entered a cooldown after failures of `class`.
pub fn cooled_down(dep: &DeploymentRt, class: Option<conf::ErrorClass>) {
    if enabled() {
        labels::cooled_down(dep, class);
    }
}

/// The model group `group` tried for a request that asked for `first` ended with `err`: a
/// successful or failed fallback when the two differ.
pub fn fallback(
    state: &AppState,
    ctx: &mut RequestCtx,
    first: &str,
    group: &str,
    err: Option<&GatewayError>,
) {
    if group != first && enabled() {
        labels::fallback(state, ctx, first, group, err);
    }
}

/// The provider's `x-ratelimit-remaining-*` headers, kept for the account stage.
pub fn provider_headers(ctx: &mut RequestCtx, headers: &::http::HeaderMap) {
    // Names built once: a lookup by `&str` parses the name every time (~500 instructions).
    static NAMES: [::http::HeaderName; 2] = [
        ::http::HeaderName::from_static("x-ratelimit-remaining-requests"),
        ::http::HeaderName::from_static("x-ratelimit-remaining-tokens"),
    ];
    for (slot, name) in ctx.metrics.remaining.iter_mut().zip(&NAMES) {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            *slot = v
                .trim()
                .parse::<u64>()
                .ok()
                .or_else(|| v.trim().parse::<f64>().ok().map(|f| f.max(0.0) as u64));
        }
    }
}

/// The first streamed bytes went to the client.
pub fn first_token(ctx: &mut RequestCtx) {
    if ctx.metrics.first_token.is_none() {
        ctx.metrics.first_token = ctx.start.map(|s| s.elapsed());
    }
}

/// Reads the request's `metadata` values named by `custom_prometheus_metadata_labels`.
pub fn request_metadata(
    s: &conf::MetricsSettings,
    ctx: &mut RequestCtx,
    body: &serde_json::Map<String, serde_json::Value>,
) {
    if !s.metadata_labels.is_empty() {
        ctx.metrics.metadata = labels::metadata_values(&s.metadata_labels, body);
    }
}

/// A logging callback dropped or failed to deliver `n` events
/// (`litellm_callback_logging_failures_metric`). Called by the logging callbacks' sinks
/// (`callbacks::callback_failed`).
pub fn callback_failed(callback: &str, n: u64) {
    let f = family_index::CALLBACK_FAILURES.get();
    metrics().events.add(f, &[callback], n, cap());
}

/// A guardrail ran (`litellm_guardrail_requests_total`, `_latency_seconds`, and
/// `_errors_total` when it could not answer: `error_type`).
pub fn guardrail(name: &str, hook: &str, status: &str, error_type: Option<&str>, secs: f64) {
    let m = metrics();
    m.events.add(
        family_index::GUARD_TOTAL.get(),
        &[name, status, hook],
        1,
        cap(),
    );
    m.events.observe(
        family_index::GUARD_LATENCY.get(),
        &[name, status, hook],
        secs,
        cap(),
    );
    if let Some(e) = error_type {
        m.events
            .add(family_index::GUARD_ERRORS.get(), &[name, e, hook], 1, cap());
    }
}

/// Indexes of the event families, looked up once.
pub(crate) mod family_index {
    use std::sync::OnceLock;

    pub struct Lazy(&'static str, OnceLock<usize>);

    impl Lazy {
        pub fn get(&self) -> usize {
            *self.1.get_or_init(|| super::family::index_of(self.0))
        }
    }

    const fn lazy(name: &'static str) -> Lazy {
        Lazy(name, OnceLock::new())
    }

    #[allow(dead_code)]
    pub static CALLBACK_FAILURES: Lazy = lazy("litellm_callback_logging_failures_metric");
    pub static DEP_FAILURES: Lazy = lazy("litellm_deployment_failure_responses");
    pub static DEP_TOTAL: Lazy = lazy("litellm_deployment_total_requests");
    pub static LLM_FAILED: Lazy = lazy("litellm_llm_api_failed_requests_metric");
    pub static COOLED: Lazy = lazy("litellm_deployment_cooled_down");
    pub static FALLBACK_OK: Lazy = lazy("litellm_deployment_successful_fallbacks");
    pub static FALLBACK_FAILED: Lazy = lazy("litellm_deployment_failed_fallbacks");
    pub static SELF_FAILED: Lazy = lazy("litellm_self_failed_requests");
    pub static REDIS_LATENCY: Lazy = lazy("litellm_redis_latency");
    pub static REDIS_TOTAL: Lazy = lazy("litellm_redis_total_requests");
    pub static REDIS_FAILED: Lazy = lazy("litellm_redis_failed_requests");
    pub static DB_LATENCY: Lazy = lazy("litellm_postgres_latency");
    pub static DB_TOTAL: Lazy = lazy("litellm_postgres_total_requests");
    pub static DB_FAILED: Lazy = lazy("litellm_postgres_failed_requests");
    pub static BATCH_LATENCY: Lazy = lazy("litellm_batch_write_to_db_latency");
    pub static BATCH_TOTAL: Lazy = lazy("litellm_batch_write_to_db_total_requests");
    pub static BATCH_FAILED: Lazy = lazy("litellm_batch_write_to_db_failed_requests");
    pub static GUARD_TOTAL: Lazy = lazy("litellm_guardrail_requests");
    pub static GUARD_ERRORS: Lazy = lazy("litellm_guardrail_errors");
    pub static GUARD_LATENCY: Lazy = lazy("litellm_guardrail_latency_seconds");
}
