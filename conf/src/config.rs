//! Validated configuration types: what the gateway consumes after loading and validation.
//! Nothing here is raw YAML; every value is checked, defaulted and resolved.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use adapters::provider::Provider;
use serde_json::{Map, Value};

pub use crate::secret::Secret;

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Deployments in file order (after `include:` merging).
    pub model_list: Vec<Deployment>,
    /// `general_settings`.
    pub general: GeneralSettings,
    /// `litellm_settings`.
    pub litellm: LitellmSettings,
    /// `router_settings`, as written (typed parts are in `router`).
    pub router_settings: Map<String, Value>,
    /// Retries, fallbacks, cooldowns, aliases (`router_settings` / `litellm_settings`).
    pub router: RouterConfig,
    /// `tollgate_settings`.
    pub tollgate: TollgateSettings,
    /// Logging callbacks (`success_callback`, `failure_callback`, `callbacks`,
    /// `callback_settings`).
    pub callbacks: crate::observe::callbacks::Callbacks,
    /// `general_settings.alerting` and its settings.
    pub alerting: crate::observe::alerting::Alerting,
    /// Prometheus metrics (`litellm_settings` keys and `tollgate_settings.metrics*`).
    pub metrics: crate::observe::MetricsSettings,
    /// Response caching (`litellm_settings.cache`, `cache_params`, `cache_responses`).
    pub cache: crate::cache::CacheConfig,
    /// Guardrails (`guardrails:`, `content_policy:`), in config order.
    pub guardrails: Vec<crate::guard::Guardrail>,
    /// The file this was loaded from (`None` for the embedded default).
    pub source: Option<PathBuf>,
    /// The config as written (includes merged), secrets redacted and `os.environ/` references
    /// kept as written: what `GET /tollgate/config` shows.
    pub shown: Value,
}

impl Config {
    /// Model group names in first-appearance order, without duplicates.
    pub fn model_groups(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for d in &self.model_list {
            if !out.contains(&d.model_name.as_str()) {
                out.push(&d.model_name);
            }
        }
        out
    }
}

/// One `model_list[]` entry.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// `model_name`: the group clients ask for. Entries sharing it form one group.
    pub model_name: String,
    /// `model_info.id` if set, else a stable id derived from the entry (index + model + api_base).
    pub id: String,
    pub provider: Provider,
    /// The upstream model name (`litellm_params.model` without the provider prefix).
    pub model: String,
    /// `litellm_params.api_base`, else the provider's default. `None` only when `mock_response`
    /// is set and no base is known.
    pub api_base: Option<ApiBase>,
    /// `litellm_params.api_key`, else the provider's key environment variable if set.
    pub api_key: Option<Secret>,
    /// `litellm_params.api_version` (Azure; kept for later adapters).
    pub api_version: Option<String>,
    /// `litellm_params.timeout`: total deadline for one attempt.
    pub timeout: Option<Duration>,
    /// `litellm_params.stream_timeout`: deadline for the first byte of a streamed response.
    pub stream_timeout: Option<Duration>,
    /// `litellm_params.rpm`: this deployment's requests-per-minute capacity.
    pub rpm: Option<u64>,
    /// `litellm_params.tpm`: this deployment's tokens-per-minute capacity.
    pub tpm: Option<u64>,
    /// `litellm_params.mock_response`: answer with this content without calling upstream.
    pub mock_response: Option<String>,
    /// Other `litellm_params` (e.g. `temperature`, `max_tokens`): request defaults; a value in the
    /// client's request wins.
    pub extra_params: Map<String, Value>,
    /// `litellm_params` keys that configure LiteLLM itself rather than the upstream request
    /// (`weight`, `order`, `tags`, `input_cost_per_token`, `custom_llm_provider`, `aws_*`, …, and
    /// the not-yet-forwarded header keys `extra_headers`/`headers`/`organization`). Never sent
    /// upstream; kept for the routing and cost work. Keys listed in `conf/src/keys.rs`.
    pub internal_params: Map<String, Value>,
    /// `model_info`, kept as given.
    pub model_info: Map<String, Value>,
    /// One of the deployments a bare `model: "*"` entry stands for (one per provider it can
    /// reach, `model` `*`): it serves only the requests whose model belongs to `provider`.
    pub any_provider: bool,
}

impl Deployment {
    /// `litellm_params.model` in canonical `provider/model` form (`openai/gpt-4o` also for a
    /// bare `gpt-4o`), for logs and metric labels.
    pub fn litellm_model(&self) -> String {
        format!("{}/{}", self.provider.prefix(), self.model)
    }
}

/// A parsed, validated upstream base URL (`https://api.openai.com/v1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiBase {
    /// `true` for https.
    pub tls: bool,
    /// Host name or IP literal, without brackets.
    pub host: String,
    /// Explicit port, or 443/80 by scheme.
    pub port: u16,
    /// Path prefix without a trailing slash (`/v1`, or empty).
    pub path: String,
    /// The URL as configured (for logs and headers; never contains credentials).
    pub url: String,
}

impl ApiBase {
    /// The `Host` header value: host, plus `:port` when it is not the scheme's default.
    pub fn host_header(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Routing settings (LiteLLM's `router_settings`, also accepted in `litellm_settings`).
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// `num_retries`: extra attempts within a model group after a retryable failure. Default 0.
    pub num_retries: u32,
    /// `retry_after`: minimum wait before a retry. Default 0.
    pub retry_after: Duration,
    /// `fallbacks`: group → groups tried, in order, when the group fails.
    pub fallbacks: std::collections::HashMap<String, Vec<String>>,
    /// `context_window_fallbacks`: group → groups tried when the prompt is too long.
    pub context_window_fallbacks: std::collections::HashMap<String, Vec<String>>,
    /// `content_policy_fallbacks`: group → groups tried on a content-policy refusal.
    pub content_policy_fallbacks: std::collections::HashMap<String, Vec<String>>,
    /// `default_fallbacks`: tried for any group without its own `fallbacks`.
    pub default_fallbacks: Vec<String>,
    /// `max_fallbacks`: fallback groups tried at most. Default 5.
    pub max_fallbacks: usize,
    /// `allowed_fails`: failures per minute a deployment may have before it cools down. Default 3.
    pub allowed_fails: u32,
    /// `cooldown_time`: how long a deployment is skipped after too many failures. Default 5 s.
    pub cooldown_time: Duration,
    /// `disable_cooldowns`.
    pub disable_cooldowns: bool,
    /// `model_group_alias`: alias → model group.
    pub model_group_alias: std::collections::HashMap<String, String>,
    /// `default_max_parallel_requests`: in-flight cap for deployments without their own
    /// `max_parallel_requests`.
    pub default_max_parallel_requests: Option<usize>,
    /// `routing_strategy`.
    pub routing_strategy: Strategy,
    /// `enable_pre_call_checks`: skip deployments whose context window (`model_info`
    /// `max_input_tokens`) is smaller than the prompt, and those over their `rpm`/`tpm`.
    pub enable_pre_call_checks: bool,
    /// `enable_tag_filtering`: requests with `tags` go to deployments carrying one of them.
    pub enable_tag_filtering: bool,
    /// `redis_url` (or `redis_host`/`redis_port`/`redis_password`): cooldowns are shared with
    /// every replica using the same Redis. Never printed (it may hold a password).
    pub redis_url: Option<Secret>,
    /// `retry_policy`: retries per error class, instead of `num_retries`.
    pub retry_policy: std::collections::HashMap<ErrorClass, u32>,
    /// `allowed_fails_policy`: failures per minute per error class before a cooldown, instead of
    /// `allowed_fails`.
    pub allowed_fails_policy: std::collections::HashMap<ErrorClass, u32>,
    /// `routing_strategy_args.lowest_latency_buffer`: latency-based routing picks at random
    /// among deployments within this share of the lowest latency (0.5 = up to 50% slower).
    /// Default 0 (always the fastest).
    pub lowest_latency_buffer: f64,
}

/// LiteLLM's error classes for `retry_policy` / `allowed_fails_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    BadRequest,
    Authentication,
    Timeout,
    RateLimit,
    ContentPolicy,
    InternalServer,
}

/// How a deployment is chosen inside a priority tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Weighted random (`weight`, else `rpm`, else `tpm`).
    SimpleShuffle,
    /// Fewest requests in flight.
    LeastBusy,
    /// Lowest recent time to response header.
    LatencyBased,
    /// Lowest tokens used this minute, within `rpm`/`tpm`.
    UsageBased,
    /// Lowest `input_cost_per_token` + `output_cost_per_token`.
    CostBased,
}

/// `general_settings`.
#[derive(Debug, Clone)]
pub struct GeneralSettings {
    /// The admin key: `general_settings.master_key` (after `os.environ/`), else the
    /// `LITELLM_MASTER_KEY` environment variable, as in LiteLLM. `None` means no auth (said
    /// loudly at start and by `--check`).
    pub master_key: Option<Secret>,
    /// Where `master_key` came from.
    pub master_key_source: Option<MasterKeySource>,
    /// `LITELLM_SALT_KEY` from the environment (or `environment_variables`): with LiteLLM, the
    /// key that encrypts provider credentials stored in the database (else the master key). See
    /// [`GeneralSettings::credential_encryption_key`]; nothing in Tollgate stores encrypted
    /// credentials yet.
    pub salt_key: Option<Secret>,
    /// `max_request_size_mb` (default 10).
    pub max_request_size_mb: f64,
    /// `database_url` (else the `DATABASE_URL` environment variable): PostgreSQL for keys,
    /// teams, budgets and spend logs. Unset: the embedded SQLite file
    /// (`tollgate_settings.database_path`).
    pub database_url: Option<Secret>,
    /// `proxy_batch_write_at` in seconds: how often spend log rows and spend counters are written
    /// to the database. Default 2 (a crash loses at most this much).
    pub proxy_batch_write_at: Duration,
    /// `disable_spend_logs`: keep counting spend but write no per-request rows.
    pub disable_spend_logs: bool,
    /// `background_health_checks`: check every deployment in the background each
    /// `health_check_interval`; `GET /health` then answers from the last run.
    pub background_health_checks: bool,
    /// `health_check_interval` in seconds (default 300): the pause between background runs.
    pub health_check_interval: Duration,
    /// `health_check_details` (default true): `/health` shows each deployment's provider,
    /// `api_base`, limits and error; `false` shows only `model` and `model_id`.
    pub health_check_details: bool,
    /// `pass_through_endpoints`: custom routes relayed to any URL (`docs/config.md`, "Custom
    /// pass-through endpoints").
    pub pass_through_endpoints: Vec<crate::PassThroughEndpoint>,
    /// `moderation_model`: the model group every `/v1/moderations` request goes to, whatever
    /// its body names (LiteLLM's server default); also what a request without `model` uses.
    pub moderation_model: Option<String>,
}

impl GeneralSettings {
    pub fn max_request_bytes(&self) -> usize {
        (self.max_request_size_mb * 1024.0 * 1024.0) as usize
    }

    /// The key that encrypts provider credentials stored in the database, as LiteLLM derives
    /// it: SHA-256 of `LITELLM_SALT_KEY`, else of the master key; `None` without either. Values
    /// encrypted by LiteLLM with the same salt (or master) key decrypt with it.
    pub fn credential_encryption_key(&self) -> Option<[u8; 32]> {
        use sha2::Digest;
        let secret = self.salt_key.as_ref().or(self.master_key.as_ref())?;
        Some(sha2::Sha256::digest(secret.expose().as_bytes()).into())
    }
}

/// Where the master key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `general_settings.master_key` (a literal or an `os.environ/` reference).
    Config,
    /// The `LITELLM_MASTER_KEY` environment variable (no `master_key` in the config).
    Env,
}

impl fmt::Display for MasterKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MasterKeySource::Config => "general_settings.master_key",
            MasterKeySource::Env => "the LITELLM_MASTER_KEY environment variable",
        })
    }
}

/// `litellm_settings`.
#[derive(Debug, Clone)]
pub struct LitellmSettings {
    /// `request_timeout` in seconds: bounds the whole request. Default 600.
    pub request_timeout: Duration,
    /// `drop_params`.
    pub drop_params: bool,
    /// `include_cost_in_streaming_usage`: a stream's usage chunk carries `cost` (USD).
    pub include_cost_in_streaming_usage: bool,
    /// `max_budget`: the proxy-wide budget in USD.
    pub max_budget: Option<f64>,
    /// `budget_duration` of the proxy-wide budget (`30s`, `1d`, `1mo`, …), checked at start.
    pub budget_duration: Option<String>,
    /// `max_end_user_budget`: the budget of every end user without one of their own.
    pub max_end_user_budget: Option<f64>,
    /// `timezone`: IANA name budget windows reset in (default UTC), checked at start.
    pub timezone: Option<String>,
    /// `json_logs` (or the `JSON_LOGS` environment variable): log lines are JSON objects
    /// (sets `tollgate_settings.log_format: json`).
    pub json_logs: bool,
    /// `set_verbose`: Tollgate's debug messages are logged (as `--debug`).
    pub set_verbose: bool,
}

/// `tollgate_settings`: Tollgate's own extensions (LiteLLM ignores the section).
#[derive(Debug, Clone)]
pub struct TollgateSettings {
    /// Listen host (CLI `--host` wins). Default `0.0.0.0`.
    pub host: String,
    /// Listen port (CLI `--port` wins). Default 4000, as LiteLLM.
    pub port: u16,
    /// Worker threads for the proxy service. Default: number of CPUs.
    pub threads: Option<usize>,
    /// SIGTERM drains in-flight requests for at most this long. Default 30 s.
    pub grace_period: Duration,
    /// After SIGTERM, keep serving (readiness 503) at least this long, so load balancers see the
    /// drain before the process exits. Default 0; at most `grace_period`.
    pub shutdown_delay: Duration,
    /// A request header must be complete within this long of its first byte (of the accept,
    /// for a connection's first request); slower connections are closed. Default 10 s.
    pub client_header_timeout: Duration,
    /// A kept-alive client connection idle this long between requests is closed. Default 75 s.
    pub keepalive_timeout: Duration,
    /// Open client connections allowed per client address (IPv6: per /64); more are refused
    /// with 429. 0 = no limit. Default 1024.
    pub max_connections_per_ip: u64,
    /// Upstream connect timeout. Default 10 s.
    pub connect_timeout: Duration,
    /// Log format: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// Let the gateway fetch image URLs that resolve to loopback, private or link-local
    /// addresses (providers that need image bytes get URLs fetched and inlined). Default false:
    /// a client cannot make the gateway read internal services.
    pub image_fetch_allow_private: bool,
    /// The embedded SQLite file used when no `database_url` is set. Default `tollgate.db`.
    pub database_path: String,
    /// A price table file (LiteLLM's `model_prices_and_context_window.json` format) merged over
    /// the bundled one.
    pub price_table: Option<String>,
    /// What requests subject to budgets or rate limits get while Redis is unreachable: `open`
    /// (default: served against this replica's own counters) or `closed` (refused with 503).
    pub redis_fail_closed: bool,
    /// Spend log rows kept in memory while the database is unreachable; past this many the
    /// backlog is saved to a spill file (next to `database_path`) and written when it is back.
    pub spend_backlog_rows: u64,
    /// How budgets admit a request whose worst case does not fit (`budget_enforcement`).
    pub budget_enforcement: BudgetEnforcement,
    /// Stored Responses API responses (`POST /v1/responses` with `store` not false) kept at
    /// most; the oldest go first. 0 stores none. Default 10,000.
    pub responses_store_max_count: u64,
    /// Bytes of stored responses (response and input items as JSON) kept at most. Default
    /// 256 MiB.
    pub responses_store_max_bytes: u64,
    /// How long a stored response is kept. Default 30 days.
    pub responses_store_ttl: Duration,
    /// How long an admin UI login session lasts (`ui_session_ttl_seconds`). Default 12 h.
    pub ui_session_ttl: Duration,
    /// Admin UI sessions kept at most per replica; when full, the one closest to expiry goes.
    /// Default 10,000.
    pub ui_max_sessions: u64,
}

/// `tollgate_settings.budget_enforcement`: what a budget does with a request whose worst-case
/// cost does not fit what is left of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BudgetEnforcement {
    /// Admit it with the upstream `max_tokens` lowered to what the remaining budget can pay
    /// (while that covers the prompt and a minimum output); never overspends. The default.
    #[default]
    Clamp,
    /// Refuse it: the worst case must fit as asked.
    Reserve,
    /// LiteLLM's: admit while spend is below the budget, reserve nothing (concurrent requests
    /// and the last request can overspend).
    Soft,
}

/// `tollgate_settings.log_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (default).
    Text,
    /// One JSON object per line.
    Json,
}
