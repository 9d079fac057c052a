//! A config LiteLLM would run starts: a wrong-shaped or mistyped optional LiteLLM setting is a
//! warning (fatal only with `--strict`), real LiteLLM keys are "not supported yet" rather than
//! "unknown", and only settings whose default would be wrong or unsafe stay errors.

use std::time::Duration;

use super::{errors, errors_opts, ok, ONE_MOCK};
use crate::config::Strategy;
use crate::LoadOptions;

const RETRY_POLICY_MISTAKE: &str = "router_settings:
  retry_policy: {num_retries: 2, retry_after: 5, TimeoutErrorRetries: 4}
";

#[test]
fn wrong_shaped_retry_policy_is_a_warning_saying_what_was_meant() {
    let l = ok(&format!("{ONE_MOCK}{RETRY_POLICY_MISTAKE}"));
    let w = &l.warnings;
    assert!(
        w.contains(&"router_settings.retry_policy.num_retries: unknown error class — num_retries is not an error class; put it directly under router_settings; the keys of this map are BadRequestError, AuthenticationError, TimeoutError, RateLimitError, ContentPolicyViolationError or InternalServerError followed by Retries (e.g. TimeoutErrorRetries: 3), ignored".to_string()),
        "{w:#?}"
    );
    assert!(
        w.iter().any(|w| w.starts_with(
            "router_settings.retry_policy.retry_after: unknown error class — retry_after is not an error class; put it directly under router_settings;"
        )),
        "{w:#?}"
    );
    // The valid entry of the same map still applies; the bad ones do not.
    let policy = &l.config.router.retry_policy;
    assert_eq!(policy.len(), 1, "{policy:?}");
    assert_eq!(l.config.router.num_retries, 0);

    let errs = errors_opts(
        &format!("{ONE_MOCK}{RETRY_POLICY_MISTAKE}"),
        LoadOptions { strict: true },
    );
    assert!(
        errs.iter().any(|e| e
            .starts_with("router_settings.retry_policy.num_retries: unknown error class")
            && e.ends_with("(not allowed with --strict)")),
        "{errs:#?}"
    );
}

#[test]
fn bad_optional_values_warn_and_keep_the_defaults() {
    let l = ok("model_list:
  - model_name: m
    litellm_params: {model: openai/m, mock_response: hi, timeout: soon}
general_settings:
  max_request_size_mb: ten
  proxy_batch_write_at: -1
litellm_settings:
  request_timeout: 0
  drop_params: maybe
  num_retries: lots
router_settings:
  routing_strategy: fastest-first
  fallbacks: [m, other]
  model_group_alias: [a, b]
  allowed_fails_policy: 3
  routing_strategy_args: {lowest_latency_buffer: -1}
  cooldown_time: never
");
    let mut w = l.warnings.clone();
    w.sort();
    assert_eq!(
        w,
        vec![
            "general_settings.max_request_size_mb: expected a number, got \"ten\", ignored",
            "general_settings.proxy_batch_write_at: must be greater than 0 seconds, got -1, ignored",
            "litellm_settings.drop_params: expected true or false, got \"maybe\", ignored",
            "litellm_settings.num_retries: expected a non-negative integer, got \"lots\", ignored",
            "litellm_settings.request_timeout: must be greater than 0 seconds, got 0, ignored",
            "model_list[0].litellm_params.timeout: expected a number of seconds, got \"soon\", ignored",
            "router_settings.allowed_fails_policy: expected a map of <ErrorClass>AllowedFails: number, got 3, ignored",
            "router_settings.cooldown_time: expected a number of seconds, got \"never\", ignored",
            "router_settings.fallbacks[0]: expected {group: [fallback groups]}, got \"m\" (fallbacks for every group go in default_fallbacks: [groups]), ignored",
            "router_settings.model_group_alias: expected a map of alias: model group, got a list, ignored",
            "router_settings.routing_strategy: unknown routing strategy \"fastest-first\"; expected simple-shuffle, least-busy, latency-based-routing, usage-based-routing, usage-based-routing-v2 or cost-based-routing, ignored",
            "router_settings.routing_strategy_args.lowest_latency_buffer: expected a number >= 0, got -1, ignored",
        ]
    );
    let c = &l.config;
    assert_eq!(c.general.max_request_bytes(), 10 * 1024 * 1024);
    assert_eq!(c.litellm.request_timeout, Duration::from_secs(600));
    assert!(!c.litellm.drop_params);
    assert_eq!(c.router.routing_strategy, Strategy::SimpleShuffle);
    assert!(c.router.fallbacks.is_empty());
    assert_eq!(c.router.cooldown_time, Duration::from_secs(5));
    assert_eq!(c.model_list[0].timeout, None);
}

#[test]
fn settings_whose_default_would_be_wrong_stay_errors() {
    let errs = errors(
        "model_list:
  - model_name: m
    litellm_params: {model: openai/m, mock_response: hi, rpm: lots}
general_settings:
  disable_spend_logs: sure
litellm_settings:
  max_budget: lots
router_settings:
  redis_host: localhost
  redis_port: sixty
",
    );
    assert_eq!(
        errs,
        vec![
            "model_list[0].litellm_params.rpm: expected a non-negative integer, got \"lots\"",
            "general_settings.disable_spend_logs: expected true or false, got \"sure\"",
            "litellm_settings.max_budget: expected an amount in USD, got \"lots\"",
            "router_settings.redis_port: expected a non-negative integer, got \"sixty\"",
        ]
    );
}

#[test]
fn real_litellm_keys_are_not_supported_yet_never_unknown() {
    let l = ok(&format!(
        "{ONE_MOCK}litellm_settings:
  telemetry: false
  include_cost_in_streaming_usage: true
  redact_user_api_key_info: true
  telemetri: false
general_settings:
  use_redis_transaction_buffer: true
  max_response_size_mb: 5
router_settings:
  tag_filtering_match_any: true
"
    ));
    let mut w = l.warnings.clone();
    w.sort();
    assert_eq!(
        w,
        vec![
            "general_settings.max_response_size_mb: not supported yet, ignored",
            "general_settings.use_redis_transaction_buffer: not supported yet, ignored",
            "litellm_settings.redact_user_api_key_info: not supported yet, ignored",
            "litellm_settings.telemetri: unknown key (did you mean `telemetry`?), ignored",
            "litellm_settings.telemetry: not supported yet, ignored",
            "router_settings.tag_filtering_match_any: not supported yet, ignored",
        ]
    );
}
