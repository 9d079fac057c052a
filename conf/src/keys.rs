//! Known-key lists: which config keys Tollgate uses, which LiteLLM keys it recognises but does not
//! implement yet (one "not supported yet" warning each), and which `litellm_params` keys are
//! LiteLLM-internal (never sent upstream; the rest of their classification is in `params.rs`). When an issue implements a key, move it from a
//! `*_LITELLM` list to the matching `*_USED` list.

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
    pub used: &'static [&'static str],
    pub litellm: &'static [&'static str],
}

impl Section {
    pub(crate) fn classify(&self, key: &str) -> KeyKind {
        if self.used.contains(&key) || (self.routing && crate::router::KEYS.contains(&key)) {
            KeyKind::Used
        } else if self.litellm.contains(&key) {
            KeyKind::NotYet
        } else {
            KeyKind::Unknown
        }
    }

    /// Every key the section may carry, for "did you mean" suggestions.
    pub(crate) fn known(&self) -> impl Iterator<Item = &'static str> + '_ {
        let routing: &[&str] = if self.routing {
            crate::router::KEYS
        } else {
            &[]
        };
        self.used.iter().chain(self.litellm).chain(routing).copied()
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
    ],
    litellm: &[
        "callback_settings",
        "guardrails",
        "credential_list",
        "mcp_servers",
        "finetune_settings",
        "files_settings",
        "assistant_settings",
        "search_tools",
        "vector_store_registry",
        "prompts",
    ],
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
    ],
    litellm: &[
        "admin_only_routes",
        "alert_to_webhook_url",
        "alert_types",
        "alerting",
        "alerting_args",
        "alerting_threshold",
        "allow_client_side_credentials",
        "allow_requests_on_db_unavailable",
        "allow_user_auth",
        "allowed_ips",
        "allowed_routes",
        "background_health_checks",
        "completion_model",
        "custom_auth",
        "custom_key_generate",
        "custom_sso",
        "database_connection_pool_limit",
        "database_connection_timeout",
        "default_team_disabled",
        "disable_adding_master_key_hash_to_db",
        "disable_master_key_return",
        "disable_prisma_schema_update",
        "disable_reset_budget",
        "disable_responses_id_security",
        "disable_retry_on_max_parallel_request_limit_error",
        "disable_spend_updates",
        "embedding_model",
        "enable_jwt_auth",
        "enable_oauth2_auth",
        "enable_oauth2_proxy_auth",
        "enforce_user_param",
        "enforced_params",
        "forward_client_headers_to_llm_api",
        "forward_openai_org_id",
        "global_max_parallel_requests",
        "health_check_details",
        "health_check_interval",
        "image_generation_model",
        "infer_model_from_keys",
        "key_management_settings",
        "key_management_system",
        "litellm_jwtauth",
        "litellm_key_header_name",
        "litellm_license",
        "max_parallel_requests",
        "max_response_size_mb",
        "maximum_spend_logs_retention_interval",
        "maximum_spend_logs_retention_period",
        "moderation_model",
        "oauth2_config_mappings",
        "pass_through_endpoints",
        "proxy_batch_polling_interval",
        "proxy_budget_rescheduler_max_time",
        "proxy_budget_rescheduler_min_time",
        "public_routes",
        "reject_clientside_metadata_tags",
        "service_account_settings",
        "spend_report_frequency",
        "store_model_in_db",
        "store_prompts_in_spend_logs",
        "supported_db_objects",
        "ui_access_mode",
        "use_azure_key_vault",
        "use_client_credentials_pass_through_routes",
        "use_google_kms",
        "use_x_forwarded_for",
        "user_api_key_cache_ttl",
        "user_mcp_management_mode",
    ],
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
    ],
    litellm: &[
        "allowed_fails",
        "cache",
        "cache_params",
        "callbacks",
        "content_policy_fallbacks",
        "context_window_fallbacks",
        "default_fallbacks",
        "default_internal_user_params",
        "default_key_generate_params",
        "default_max_internal_user_budget",
        "default_team_settings",
        "disable_add_transform_inline_image_block",
        "disable_copilot_system_to_assistant",
        "disable_end_user_cost_tracking",
        "disable_end_user_cost_tracking_prometheus_only",
        "disable_hf_tokenizer_download",
        "enable_json_schema_validation",
        "enable_key_alias_format_validation",
        "enable_preview_features",
        "failure_callback",
        "fallbacks",
        "force_ipv4",
        "internal_user_budget_duration",
        "json_logs",
        "key_generation_settings",
        "langfuse_default_tags",
        "max_internal_user_budget",
        "max_parallel_requests",
        "mcp_aliases",
        "modify_params",
        "num_retries",
        "public_model_groups",
        "redact_user_api_key_info",
        "return_response_headers",
        "service_callback",
        "service_callbacks",
        "set_verbose",
        "ssl_verify",
        "success_callback",
        "turn_off_message_logging",
        "upperbound_key_generate_params",
        "use_chat_completions_url_for_anthropic_messages",
    ],
};

/// `router_settings` (kept raw; nothing in it is implemented yet).
pub(crate) const ROUTER: Section = Section {
    routing: true,
    used: &[],
    litellm: &[
        "alerting_config",
        "allowed_fails",
        "allowed_fails_policy",
        "assistants_config",
        "cache_kwargs",
        "cache_responses",
        "caching_groups",
        "client_ttl",
        "content_policy_fallbacks",
        "context_window_fallbacks",
        "cooldown_time",
        "debug_level",
        "default_fallbacks",
        "default_litellm_params",
        "default_max_parallel_requests",
        "default_priority",
        "deployment_affinity_ttl_seconds",
        "disable_cooldowns",
        "enable_pre_call_check",
        "enable_pre_call_checks",
        "enable_tag_filtering",
        "fallbacks",
        "guardrail_list",
        "ignore_invalid_deployments",
        "max_fallbacks",
        "model_group_alias",
        "model_group_retry_policy",
        "num_retries",
        "optional_pre_call_checks",
        "polling_interval",
        "provider_budget_config",
        "redis_db",
        "redis_host",
        "redis_password",
        "redis_port",
        "redis_url",
        "retry_after",
        "retry_policy",
        "router_general_settings",
        "routing_strategy",
        "routing_strategy_args",
        "search_tools",
        "set_verbose",
        "stream_timeout",
        "tag_filtering_match_any",
        "timeout",
    ],
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
    ],
    litellm: &[],
};

/// One `model_list[]` entry.
pub(crate) const DEPLOYMENT: Section = Section {
    routing: false,
    used: &["model_name", "litellm_params", "model_info"],
    litellm: &[],
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
