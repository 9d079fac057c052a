//! The metric family table: every family `/metrics` exposes, with LiteLLM's name, type, help,
//! label names and buckets, and where its values come from. The exposition (`expose.rs`), the
//! docs and the dashboard tests all read this one table.

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Counter,
    Gauge,
    Histogram,
}

impl Type {
    pub fn as_str(self) -> &'static str {
        match self {
            Type::Counter => "counter",
            Type::Gauge => "gauge",
            Type::Histogram => "histogram",
        }
    }
}

/// Where a family's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Projected from the request table (one row per request label set, `series.rs`).
    Request(Value),
    /// Recorded as events with their own labels (`events.rs`): attempts, cooldowns, fallbacks,
    /// callbacks, Redis and database calls.
    Event,
    /// Read from the gateway's state at scrape time (deployments, budgets, queues).
    State,
}

/// What a request-table family reads from a request row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Requests,
    Failures,
    Succeeded,
    DeploymentSuccess,
    Spend,
    InputTokens,
    OutputTokens,
    TotalTokens,
    CachedTokens,
    CacheCreationTokens,
    /// A histogram of the row (index into `series::HISTS`).
    Hist(usize),
    /// Billable requests (with usage) priced at $0.
    ZeroCost,
    /// The provider's `x-ratelimit-remaining-requests` / `-tokens`, most recent.
    RemainingRequests,
    RemainingTokens,
    /// Cacheable requests answered from the response cache / not found in it, and the tokens
    /// (prompt + completion) the hits served.
    CacheHits,
    CacheMisses,
    CacheTokens,
}

/// Histograms of a request row.
pub const H_TOTAL: usize = 0;
pub const H_LLM: usize = 1;
pub const H_TTFT: usize = 2;
pub const H_OVERHEAD: usize = 3;
pub const H_PER_TOKEN: usize = 4;

/// One family.
#[derive(Debug)]
pub struct Family {
    /// The name without the `_total` a counter gets in the exposition.
    pub name: &'static str,
    pub kind: Type,
    pub help: &'static str,
    pub labels: &'static [&'static str],
    /// Labels with one fixed value (LiteLLM's service metrics: `self="self"`).
    pub fixed: &'static [(&'static str, &'static str)],
    pub source: Source,
    /// Request families that carry `custom_prometheus_metadata_labels` / `_tags`.
    pub custom: bool,
}

/// LiteLLM's latency buckets (seconds), `+Inf` implied.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.00625, 0.0125, 0.025, 0.05, 0.1, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0,
    5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 10.0, 15.0, 20.0, 25.0, 30.0, 60.0, 120.0, 180.0,
    240.0, 300.0,
];

const PROXY: &[&str] = &[
    "end_user",
    "hashed_api_key",
    "api_key_alias",
    "team",
    "team_alias",
    "user",
    "user_email",
    "requested_model",
    "status_code",
    "route",
    "model_id",
];
const PROXY_FAILED: &[&str] = &[
    "end_user",
    "hashed_api_key",
    "api_key_alias",
    "team",
    "team_alias",
    "user",
    "user_email",
    "requested_model",
    "exception_status",
    "exception_class",
    "route",
    "model_id",
];
const K_MODEL: &[&str] = &[
    "end_user",
    "hashed_api_key",
    "api_key_alias",
    "team",
    "team_alias",
    "user",
    "user_email",
    "model",
    "model_id",
];
const SPEND: &[&str] = &[
    "end_user",
    "hashed_api_key",
    "api_key_alias",
    "team",
    "team_alias",
    "user",
    "user_email",
    "model",
    "model_id",
    "api_provider",
];
const TOKENS: &[&str] = &[
    "end_user",
    "hashed_api_key",
    "api_key_alias",
    "team",
    "team_alias",
    "user",
    "user_email",
    "requested_model",
    "model",
    "model_id",
];
const TOTAL_LATENCY: &[&str] = &[
    "end_user",
    "hashed_api_key",
    "api_key_alias",
    "team",
    "team_alias",
    "user",
    "requested_model",
    "model",
    "model_id",
];
const CACHE: &[&str] = &[
    "model",
    "hashed_api_key",
    "api_key_alias",
    "team",
    "team_alias",
    "end_user",
    "user",
    "model_id",
];
/// Deployment labels (LiteLLM's D).
pub const D: &[&str] = &["litellm_model_name", "model_id", "api_base", "api_provider"];
const D_KEY: &[&str] = &[
    "model_group",
    "api_provider",
    "api_base",
    "litellm_model_name",
    "hashed_api_key",
    "api_key_alias",
    "model_id",
];
pub const DEPLOYMENT_REQ: &[&str] = &[
    "requested_model",
    "litellm_model_name",
    "model_id",
    "api_base",
    "api_provider",
    "hashed_api_key",
    "api_key_alias",
    "team",
    "team_alias",
];
pub const DEPLOYMENT_FAIL: &[&str] = &[
    "requested_model",
    "litellm_model_name",
    "model_id",
    "api_base",
    "api_provider",
    "hashed_api_key",
    "api_key_alias",
    "team",
    "team_alias",
    "exception_status",
    "exception_class",
];
const PER_TOKEN: &[&str] = &[
    "litellm_model_name",
    "model_id",
    "api_base",
    "api_provider",
    "hashed_api_key",
    "api_key_alias",
    "team",
    "team_alias",
];
pub const COOLED: &[&str] = &[
    "litellm_model_name",
    "model_id",
    "api_base",
    "api_provider",
    "exception_status",
];
pub const FALLBACK: &[&str] = &[
    "requested_model",
    "fallback_model",
    "hashed_api_key",
    "api_key_alias",
    "team",
    "team_alias",
    "exception_status",
    "exception_class",
    "model_id",
];
pub const LLM_FAILED: &[&str] = &[
    "end_user",
    "hashed_api_key",
    "api_key_alias",
    "team",
    "team_alias",
    "user",
    "model",
    "model_id",
];
pub const KEY_MODEL: &[&str] = &["hashed_api_key", "api_key_alias", "model", "model_id"];
pub const KEY_ALIAS: &[&str] = &["hashed_api_key", "api_key_alias"];
pub const TEAM: &[&str] = &["team", "team_alias"];
pub const USER: &[&str] = &["user"];
pub const ORG: &[&str] = &["org_id", "org_alias"];
pub const END_USER: &[&str] = &["end_user"];
pub const KEY_RATE: &[&str] = &["hashed_api_key", "api_key_alias", "rate_limit_type"];
pub const TEAM_RATE: &[&str] = &["team", "team_alias", "rate_limit_type"];
pub const SERVICE_FAILED: &[&str] = &["error_class", "function_name"];
pub const GUARDRAIL: &[&str] = &["guardrail_name", "status", "hook_type"];
pub const GUARDRAIL_ERR: &[&str] = &["guardrail_name", "error_type", "hook_type"];

const fn req(
    name: &'static str,
    kind: Type,
    help: &'static str,
    labels: &'static [&'static str],
    v: Value,
) -> Family {
    Family {
        name,
        kind,
        help,
        labels,
        fixed: &[],
        source: Source::Request(v),
        custom: true,
    }
}

const fn ev(
    name: &'static str,
    kind: Type,
    help: &'static str,
    labels: &'static [&'static str],
    fixed: &'static [(&'static str, &'static str)],
) -> Family {
    Family {
        name,
        kind,
        help,
        labels,
        fixed,
        source: Source::Event,
        custom: false,
    }
}

const fn st(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Family {
    Family {
        name,
        kind: Type::Gauge,
        help,
        labels,
        fixed: &[],
        source: Source::State,
        custom: false,
    }
}

use Type::{Counter as C, Gauge as G, Histogram as H};

/// Every family, in exposition order.
pub static FAMILIES: &[Family] = &[
    // Requests through the proxy (every LLM request, 4xx included).
    req("litellm_proxy_total_requests_metric", C, "Total number of requests made to the proxy server - track number of client side requests", PROXY, Value::Requests),
    req("litellm_proxy_failed_requests_metric", C, "Total number of failed responses from proxy - the client did not get a success response from litellm proxy", PROXY_FAILED, Value::Failures),
    req("litellm_requests_metric", C, "Total number of LLM calls to litellm - track total per API Key, team, user", K_MODEL, Value::Succeeded),
    req("litellm_spend_metric", C, "Total spend on LLM requests", SPEND, Value::Spend),
    req("litellm_total_tokens_metric", C, "Total number of input + output tokens from LLM requests", TOKENS, Value::TotalTokens),
    req("litellm_total_tokens", C, "Total number of input + output tokens from LLM requests (older name)", TOKENS, Value::TotalTokens),
    req("litellm_input_tokens_metric", C, "Total number of input tokens from LLM requests", TOKENS, Value::InputTokens),
    req("litellm_output_tokens_metric", C, "Total number of output tokens from LLM requests", TOKENS, Value::OutputTokens),
    req("litellm_input_cached_tokens_metric", C, "Input tokens read from the provider's prompt cache", TOKENS, Value::CachedTokens),
    req("litellm_input_cache_creation_tokens_metric", C, "Input tokens written to the provider's prompt cache", TOKENS, Value::CacheCreationTokens),
    req("litellm_provider_cache_read_input_tokens_metric", C, "Input tokens the provider reported as read from its prompt cache", CACHE, Value::CachedTokens),
    req("litellm_provider_cache_creation_input_tokens_metric", C, "Input tokens the provider reported as written to its prompt cache", CACHE, Value::CacheCreationTokens),
    req("litellm_cache_hits_metric", C, "Total number of LiteLLM cache hits", CACHE, Value::CacheHits),
    req("litellm_cache_misses_metric", C, "Total number of LiteLLM cache misses", CACHE, Value::CacheMisses),
    req("litellm_cached_tokens_metric", C, "Total tokens served from LiteLLM cache", CACHE, Value::CacheTokens),
    Family {
        name: "litellm_zero_cost_requests",
        kind: C,
        help: "Requests with usage that priced to $0 on a deployment that is not free (reason: missing_pricing_key, pricing_not_applied)",
        labels: &["requested_model", "model", "model_id", "api_provider", "reason"],
        fixed: &[],
        source: Source::Request(Value::ZeroCost),
        custom: false,
    },
    // Latency.
    req("litellm_request_total_latency_metric", H, "Total latency (seconds) for a request to LiteLLM", TOTAL_LATENCY, Value::Hist(H_TOTAL)),
    req("litellm_llm_api_latency_metric", H, "Total latency (seconds) for a models LLM API call", LLM_LATENCY, Value::Hist(H_LLM)),
    req("litellm_llm_api_time_to_first_token_metric", H, "Time to first token for a models LLM API call", LLM_LATENCY, Value::Hist(H_TTFT)),
    req("litellm_overhead_latency_metric", H, "Latency overhead (seconds) added by the proxy to each request", D_KEY, Value::Hist(H_OVERHEAD)),
    req("litellm_deployment_latency_per_output_token", H, "Latency per output token", PER_TOKEN, Value::Hist(H_PER_TOKEN)),
    ev("litellm_self_latency", H, "Latency for self service (the gateway's own time per request)", &[], &[("self", "self")]),
    ev("litellm_self_total_requests", C, "Total requests for self service", &[], &[("self", "self")]),
    ev("litellm_self_failed_requests", C, "Total failed_requests for self service", SERVICE_FAILED, &[("self", "self")]),
    // Provider rate-limit headers.
    req("litellm_remaining_requests_metric", G, "LLM Deployment Analytics - remaining requests for model, returned from LLM API Provider", D_KEY, Value::RemainingRequests),
    req("litellm_remaining_tokens_metric", G, "LLM Deployment Analytics - remaining tokens for model, returned from LLM API Provider", D_KEY, Value::RemainingTokens),
    req("litellm_remaining_requests", G, "remaining requests for model, returned from LLM API Provider (older name)", D_KEY, Value::RemainingRequests),
    req("litellm_remaining_tokens", G, "remaining tokens for model, returned from LLM API Provider (older name)", D_KEY, Value::RemainingTokens),
    // Deployments.
    st("litellm_deployment_state", "LLM Deployment Analytics - The state of the deployment: 0 = healthy, 1 = partial outage, 2 = complete outage", D),
    st("litellm_deployment_rpm_limit", "Deployment RPM limit (litellm_params.rpm)", D),
    st("litellm_deployment_tpm_limit", "Deployment TPM limit (litellm_params.tpm)", D),
    req("litellm_deployment_success_responses", C, "LLM Deployment Analytics - Total number of successful LLM API calls via litellm", DEPLOYMENT_REQ, Value::DeploymentSuccess),
    ev("litellm_deployment_failure_responses", C, "LLM Deployment Analytics - Total number of failed LLM API calls for a specific LLM deploymeny. exception_status is the status of the exception from the llm api", DEPLOYMENT_FAIL, &[]),
    ev("litellm_deployment_total_requests", C, "LLM Deployment Analytics - Total number of LLM API calls via litellm - success + failure", DEPLOYMENT_REQ, &[]),
    ev("litellm_llm_api_failed_requests_metric", C, "deprecated - use litellm_proxy_failed_requests_metric", LLM_FAILED, &[]),
    ev("litellm_deployment_cooled_down", C, "LLM Deployment Analytics - Number of times a deployment has been cooled down by LiteLLM load balancing logic. exception_status is the status of the exception that caused the deployment to be cooled down", COOLED, &[]),
    ev("litellm_deployment_successful_fallbacks", C, "LLM Deployment Analytics - Number of successful fallback requests from primary model -> fallback model", FALLBACK, &[]),
    ev("litellm_deployment_failed_fallbacks", C, "LLM Deployment Analytics - Number of failed fallback requests from primary model -> fallback model", FALLBACK, &[]),
    // Budgets and limits (keys, teams, users, organizations, end users seen recently).
    st("litellm_remaining_api_key_budget_metric", "Remaining budget for api key", KEY_ALIAS),
    st("litellm_api_key_max_budget_metric", "Maximum budget set for api key", KEY_ALIAS),
    st("litellm_api_key_budget_remaining_hours_metric", "Remaining hours for api key budget to be reset", KEY_ALIAS),
    st("litellm_remaining_team_budget_metric", "Remaining budget for team", TEAM),
    st("litellm_team_max_budget_metric", "Maximum budget set for team", TEAM),
    st("litellm_team_budget_remaining_hours_metric", "Remaining days for team budget to be reset", TEAM),
    st("litellm_remaining_user_budget_metric", "Remaining budget for user", USER),
    st("litellm_user_max_budget_metric", "Maximum budget set for user", USER),
    st("litellm_user_budget_remaining_hours_metric", "Remaining hours for user budget to be reset", USER),
    st("litellm_remaining_org_budget_metric", "Remaining budget for organization", ORG),
    st("litellm_org_max_budget_metric", "Maximum budget set for organization", ORG),
    st("litellm_org_budget_remaining_hours_metric", "Remaining hours for organization budget to be reset", ORG),
    st("litellm_remaining_customer_budget_metric", "Remaining budget for end user (customer)", END_USER),
    st("litellm_customer_max_budget_metric", "Maximum budget set for end user (customer)", END_USER),
    st("litellm_customer_budget_remaining_hours_metric", "Remaining hours for end user (customer) budget to be reset", END_USER),
    st("litellm_remaining_api_key_requests_for_model", "Remaining Requests API Key can make for model (model based rpm limit on key)", KEY_MODEL),
    st("litellm_remaining_api_key_tokens_for_model", "Remaining Tokens API Key can make for model (model based tpm limit on key)", KEY_MODEL),
    st("litellm_api_key_rate_limit_allowed_metric", "The api key's rpm / tpm limit", KEY_RATE),
    st("litellm_api_key_rate_limit_used_metric", "Requests / tokens the api key used this minute", KEY_RATE),
    st("litellm_team_rate_limit_allowed_metric", "The team's rpm / tpm limit", TEAM_RATE),
    st("litellm_team_rate_limit_used_metric", "Requests / tokens the team used this minute", TEAM_RATE),
    st("litellm_team_members_metric", "Members of the team", TEAM),
    // Process.
    st("litellm_in_flight_requests", "Requests being served by this process", &[]),
    st("litellm_total_users", "Users known to the proxy", &[]),
    st("litellm_teams_count", "Teams known to the proxy", &[]),
    st("litellm_active_users", "Users with requests in the metrics window (tollgate_settings.metrics_idle_seconds)", &[]),
    st("litellm_in_memory_spend_update_queue_size", "Spend log rows waiting for the batch writer", &[]),
    st("litellm_in_memory_daily_spend_update_queue_size", "Spend counter updates waiting for the batch writer", &[]),
    ev("litellm_callback_logging_failures_metric", C, "Total number of failures when emitting logs to callbacks", &["callback_name"], &[]),
    // Guardrails (`guard/`): one per guardrail run on a request or a response.
    ev("litellm_guardrail_requests", C, "Total number of guardrail runs", GUARDRAIL, &[]),
    ev("litellm_guardrail_errors", C, "Total number of guardrail runs that failed (the guardrail could not answer)", GUARDRAIL_ERR, &[]),
    ev("litellm_guardrail_latency_seconds", H, "Latency of a guardrail run in seconds", GUARDRAIL, &[]),
    // Services (LiteLLM's `prometheus_system`).
    ev("litellm_auth_latency", H, "Latency for auth service (key check)", &[], &[("auth", "auth")]),
    ev("litellm_auth_total_requests", C, "Total requests for auth service", &[], &[("auth", "auth")]),
    ev("litellm_auth_failed_requests", C, "Total failed_requests for auth service", SERVICE_FAILED, &[("auth", "auth")]),
    ev("litellm_proxy_pre_call_latency", H, "Latency for proxy_pre_call service (admission: access, budgets, limits)", &[], &[("proxy_pre_call", "proxy_pre_call")]),
    ev("litellm_proxy_pre_call_total_requests", C, "Total requests for proxy_pre_call service", &[], &[("proxy_pre_call", "proxy_pre_call")]),
    ev("litellm_proxy_pre_call_failed_requests", C, "Total failed_requests for proxy_pre_call service", SERVICE_FAILED, &[("proxy_pre_call", "proxy_pre_call")]),
    ev("litellm_redis_latency", H, "Latency for redis service", &[], &[("redis", "redis")]),
    ev("litellm_redis_total_requests", C, "Total requests for redis service", &[], &[("redis", "redis")]),
    // Without the `redis` label LiteLLM's service counters carry: Tollgate has written it so since before this table.
    ev("litellm_redis_failed_requests", C, "Total failed_requests for redis service", SERVICE_FAILED, &[]),
    ev("litellm_postgres_latency", H, "Latency for postgres service (the spend database, PostgreSQL or SQLite)", &[], &[("postgres", "postgres")]),
    ev("litellm_postgres_total_requests", C, "Total requests for postgres service", &[], &[("postgres", "postgres")]),
    ev("litellm_postgres_failed_requests", C, "Total failed_requests for postgres service", SERVICE_FAILED, &[("postgres", "postgres")]),
    ev("litellm_batch_write_to_db_latency", H, "Latency for batch_write_to_db service", &[], &[("batch_write_to_db", "batch_write_to_db")]),
    ev("litellm_batch_write_to_db_total_requests", C, "Total requests for batch_write_to_db service", &[], &[("batch_write_to_db", "batch_write_to_db")]),
    ev("litellm_batch_write_to_db_failed_requests", C, "Total failed_requests for batch_write_to_db service", SERVICE_FAILED, &[("batch_write_to_db", "batch_write_to_db")]),
];

const LLM_LATENCY: &[&str] = &[
    "model",
    "hashed_api_key",
    "api_key_alias",
    "team",
    "team_alias",
    "requested_model",
    "end_user",
    "user",
    "model_id",
];

/// Its index in [`FAMILIES`] (event tables are indexed the same way).
pub fn index_of(name: &str) -> usize {
    FAMILIES
        .iter()
        .position(|f| f.name == name)
        .unwrap_or_else(|| panic!("no metric family {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prometheus_safe() {
        let mut seen = std::collections::HashSet::new();
        for f in FAMILIES {
            assert!(seen.insert(f.name), "{} twice", f.name);
            let ok = |s: &str| {
                s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !s.starts_with(|c: char| c.is_ascii_digit())
            };
            assert!(ok(f.name), "{}", f.name);
            for l in f.labels.iter().chain(f.fixed.iter().map(|(l, _)| l)) {
                assert!(ok(l) && *l != "le", "{}: {l}", f.name);
            }
            assert!(!f.name.ends_with("_total"), "{}", f.name);
        }
        assert!(LATENCY_BUCKETS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_family_is_documented() {
        let doc = include_str!("../../../docs/observability.md");
        for f in FAMILIES {
            assert!(
                doc.contains(&format!("`{}`", f.name)),
                "{} is not in docs/observability.md",
                f.name
            );
        }
    }
}
