//! Known-key lists: which config keys Tollgate uses (the `used` lists here), which keys LiteLLM
//! documents (`conf/litellm-keys.txt`, one sorted list per section: those Tollgate does not use
//! get one "not supported yet" warning each), and which `litellm_params` keys are
//! LiteLLM-internal (never sent upstream; the rest of their classification is in `params.rs`).
//! When an issue implements a key, add it to the section's `used` list.

/// What Tollgate does with a key found in a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// Read and validated.
    Used,
    /// A LiteLLM key Tollgate does not implement yet: accepted with a warning.
    NotYet,
    /// Neither Tollgate nor LiteLLM knows it: accepted with a warning.
    Unknown,
}

/// The keys of one config section.
pub(crate) struct Section {
    /// The section may carry the routing keys read by `router.rs`.
    pub(crate) routing: bool,
    /// Keys Tollgate reads and validates.
    pub used: &'static [&'static str],
    /// The section of `conf/litellm-keys.txt` listing every key LiteLLM documents here (empty:
    /// none, a Tollgate-only section).
    pub litellm: &'static str,
}

/// Every key LiteLLM documents, by section (`conf/litellm-keys.txt`).
const LITELLM_KEYS: &str = include_str!("../litellm-keys.txt");

/// The keys listed under `[section]` in `conf/litellm-keys.txt`.
pub(crate) fn litellm_keys(section: &str) -> impl Iterator<Item = &'static str> + '_ {
    let mut current = "";
    LITELLM_KEYS.lines().filter_map(move |line| {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name;
            return None;
        }
        (!section.is_empty() && current == section && !line.is_empty() && !line.starts_with('#'))
            .then_some(line)
    })
}

/// The routing keys `router.rs` reads (from `router_settings`, or `litellm_settings` where the
/// section has `routing` set).
pub(crate) const ROUTER_KEYS: &[&str] = &[
    "num_retries",
    "retry_after",
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "max_fallbacks",
    "allowed_fails",
    "cooldown_time",
    "disable_cooldowns",
    "routing_strategy",
    "model_group_alias",
    "default_max_parallel_requests",
    "enable_pre_call_checks",
    "enable_tag_filtering",
    "redis_url",
    "redis_host",
    "redis_port",
    "redis_password",
    "retry_policy",
    "allowed_fails_policy",
    "routing_strategy_args",
];

impl Section {
    pub(crate) fn classify(&self, key: &str) -> KeyKind {
        if self.used.contains(&key) || (self.routing && ROUTER_KEYS.contains(&key)) {
            KeyKind::Used
        } else if litellm_keys(self.litellm).any(|k| k == key) {
            KeyKind::NotYet
        } else {
            KeyKind::Unknown
        }
    }

    /// Every key the section may carry, for "did you mean" suggestions.
    pub(crate) fn known(&self) -> impl Iterator<Item = &'static str> + '_ {
        let routing: &[&str] = if self.routing { ROUTER_KEYS } else { &[] };
        self.used
            .iter()
            .chain(routing)
            .copied()
            .chain(litellm_keys(self.litellm))
    }
}

/// Top-level sections.
pub(crate) const TOP_LEVEL: Section = Section {
    routing: false,
    used: &[
        "model_list",
        "general_settings",
        "litellm_settings",
        "router_settings",
        "tollgate_settings",
        "environment_variables",
        "include",
        "callback_settings",
        "guardrails",
        "content_policy",
    ],
    litellm: "top_level",
};

/// `general_settings`.
pub(crate) const GENERAL: Section = Section {
    routing: false,
    used: &[
        "master_key",
        "max_request_size_mb",
        "database_url",
        "proxy_batch_write_at",
        "disable_spend_logs",
        "background_health_checks",
        "health_check_interval",
        "health_check_details",
        "alerting",
        "alert_types",
        "alerting_threshold",
        "alert_to_webhook_url",
        "alerting_args",
        "spend_report_frequency",
        "forward_traceparent_to_llm_api",
        // Read by the gateway (models/compose.rs), which also reads STORE_MODEL_IN_DB.
        "store_model_in_db",
        "pass_through_endpoints",
        "moderation_model",
    ],
    litellm: "general_settings",
};

/// `litellm_settings`.
pub(crate) const LITELLM: Section = Section {
    routing: true,
    used: &[
        "request_timeout",
        "drop_params",
        "include_cost_in_streaming_usage",
        "max_budget",
        "budget_duration",
        "max_end_user_budget",
        "timezone",
        "success_callback",
        "failure_callback",
        "callbacks",
        "turn_off_message_logging",
        "json_logs",
        "set_verbose",
        // Metrics (`observe::metrics`).
        "prometheus_metrics_config",
        "prometheus_exclude_labels",
        "prometheus_latency_buckets",
        "custom_prometheus_metadata_labels",
        "custom_prometheus_tags",
        "require_auth_for_metrics_endpoint",
        "disable_end_user_cost_tracking_prometheus_only",
        "cache",
        "cache_params",
    ],
    litellm: "litellm_settings",
};

/// `router_settings` (its routing keys are read by `router.rs`).
pub(crate) const ROUTER: Section = Section {
    routing: true,
    used: &["cache_responses", "cache_kwargs"],
    litellm: "router_settings",
};

/// `tollgate_settings` (Tollgate's own section; LiteLLM ignores it).
pub(crate) const TOLLGATE: Section = Section {
    routing: false,
    used: &[
        "host",
        "port",
        "threads",
        "grace_period_seconds",
        "shutdown_delay_seconds",
        "client_header_timeout_seconds",
        "keepalive_timeout_seconds",
        "max_connections_per_ip",
        "connect_timeout_seconds",
        "log_format",
        "image_fetch_allow_private",
        "database_path",
        "price_table",
        "redis_failure_mode",
        "spend_backlog_rows",
        "budget_enforcement",
        "responses_store_max_count",
        "responses_store_max_bytes",
        "responses_store_ttl_seconds",
        "metrics",
        "metrics_max_series",
        "metrics_max_histogram_series",
        "metrics_idle_seconds",
        "ui_session_ttl_seconds",
        "ui_max_sessions",
    ],
    litellm: "",
};

/// One `model_list[]` entry.
pub(crate) const DEPLOYMENT: Section = Section {
    routing: false,
    used: &["model_name", "litellm_params", "model_info"],
    litellm: "",
};

/// `litellm_params` keys Tollgate reads into typed `Deployment` fields.
pub(crate) const PARAMS_USED: &[&str] = &[
    "model",
    "api_base",
    "api_key",
    "api_version",
    "timeout",
    "stream_timeout",
    "rpm",
    "tpm",
    "mock_response",
];

/// `litellm_params` keys that configure LiteLLM itself (routing, cost, credentials of other
/// clouds): never sent upstream, accepted silently, kept in `Deployment::internal_params`.
pub(crate) const PARAMS_INTERNAL: &[&str] = &[
    "azure_ad_token",
    "azure_ad_token_provider",
    "azure_authority_host",
    "azure_password",
    "azure_scope",
    "azure_username",
    "base_model",
    "budget_duration",
    "cache_control_injection_points",
    "cache_creation_input_token_cost",
    "cache_read_input_token_cost",
    "client_id",
    "client_secret",
    "configurable_clientside_auth_params",
    "custom_llm_provider",
    "drop_params",
    "litellm_credential_name",
    "max_budget",
    "max_parallel_requests",
    "max_retries",
    "merge_reasoning_content_in_choices",
    "metadata",
    "mock_timeout",
    "model_info",
    "num_retries",
    "order",
    "cooldown_time",
    "region_name",
    "tags",
    "tenant_id",
    "use_in_pass_through",
    "use_litellm_proxy",
    "weight",
];

/// Prefixes of internal `litellm_params` keys (`aws_region_name`, `vertex_project`, …).
pub(crate) const PARAMS_INTERNAL_PREFIXES: &[&str] = &[
    "aws_",
    "vertex_",
    "watsonx_",
    "input_cost_per_",
    "output_cost_per_",
    "mock_testing_",
    "litellm_",
];

/// `litellm_params` keys LiteLLM sends as HTTP headers, not body fields. Tollgate does not
/// forward them yet: kept out of the request body, warned about, kept in `internal_params`.
pub(crate) const PARAMS_NOT_YET: &[&str] = &["extra_headers", "headers", "organization"];

/// Prefixes of model names LiteLLM routes to OpenAI when `litellm_params.model` has no
/// `provider/` prefix.
pub(crate) const OPENAI_MODEL_PREFIXES: &[&str] = &[
    "gpt-",
    "ft:gpt-",
    "o1",
    "o3",
    "o4",
    "chatgpt-",
    "text-embedding-",
    "davinci",
    "babbage",
    "dall-e",
    "whisper",
    "tts-",
];

/// Whether a bare model name (no `provider/`) is one LiteLLM sends to OpenAI.
pub fn looks_like_openai(model: &str) -> bool {
    !model.contains('/') && OPENAI_MODEL_PREFIXES.iter().any(|p| model.starts_with(p))
}

/// Whether the value under `key` is a credential that must never appear in a message.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["key", "secret", "password", "passwd", "credential"]
        .iter()
        .any(|w| k.contains(w))
        || (k.contains("token") && !k.contains("tokens"))
        || k.ends_with("database_url")
        || k == "redis_url"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn litellm_key_lists_are_sorted_and_known() {
        for section in [
            "top_level",
            "general_settings",
            "litellm_settings",
            "router_settings",
        ] {
            let keys: Vec<&str> = litellm_keys(section).collect();
            assert!(keys.len() > 5, "{section}: {keys:?}");
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(keys, sorted, "{section} is sorted, without duplicates");
        }
        // Keys real LiteLLM configs carry are never "unknown".
        for (section, key) in [
            (&LITELLM, "telemetry"),
            (&GENERAL, "use_redis_transaction_buffer"),
            (&ROUTER, "tag_filtering_match_any"),
            (&GENERAL, "max_response_size_mb"),
        ] {
            assert_eq!(section.classify(key), KeyKind::NotYet, "{key}");
        }
        assert_eq!(LITELLM.classify("drop_params"), KeyKind::Used);
        assert_eq!(
            LITELLM.classify("include_cost_in_streaming_usage"),
            KeyKind::Used
        );
        assert_eq!(LITELLM.classify("telemetri"), KeyKind::Unknown);

        assert_eq!(TOLLGATE.classify("telemetry"), KeyKind::Unknown);
    }
}
