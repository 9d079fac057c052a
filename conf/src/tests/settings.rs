//! Settings sections, unknown-key warnings, `strict`, and secrets staying out of messages.

use std::time::Duration;

use super::{assert_error, errors, errors_opts, ok, ONE_MOCK};
use crate::{load_str, LoadOptions, LogFormat};

#[test]
fn defaults_when_sections_are_missing_or_empty() {
    let l = ok(&format!(
        "{ONE_MOCK}general_settings:\nlitellm_settings: {{}}\ntollgate_settings:\n"
    ));
    let c = &l.config;
    assert!(c.general.master_key.is_none());
    assert_eq!(c.general.max_request_bytes(), 10 * 1024 * 1024);
    assert_eq!(c.litellm.request_timeout, Duration::from_secs(600));
    assert!(!c.litellm.drop_params);
    assert!(c.router_settings.is_empty());
    let t = &c.tollgate;
    assert_eq!(
        (t.host.as_str(), t.port, t.threads),
        ("0.0.0.0", 4000, None)
    );
    assert_eq!(
        (t.grace_period, t.connect_timeout),
        (Duration::from_secs(30), Duration::from_secs(10))
    );
    assert_eq!(t.log_format, LogFormat::Text);
    assert_eq!(t.spend_backlog_rows, 100_000);
    assert_eq!(
        (
            t.responses_store_max_count,
            t.responses_store_max_bytes,
            t.responses_store_ttl
        ),
        (10_000, 256 << 20, Duration::from_secs(30 * 86_400))
    );
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn every_setting_is_read() {
    let l = ok(&format!(
        "{ONE_MOCK}
general_settings:
  master_key: sk-admin
  max_request_size_mb: 0.5
litellm_settings:
  request_timeout: 42
  drop_params: true
tollgate_settings:
  host: '::1'
  port: 8080
  threads: 2
  grace_period_seconds: 0
  connect_timeout_seconds: 1.5
  log_format: json
  spend_backlog_rows: 500
  responses_store_max_count: 0
  responses_store_max_bytes: 1048576
  responses_store_ttl_seconds: 3600
"
    ));
    let c = &l.config;
    assert_eq!(c.general.master_key.as_ref().unwrap().expose(), "sk-admin");
    assert_eq!(c.general.max_request_bytes(), 512 * 1024);
    assert_eq!(c.litellm.request_timeout, Duration::from_secs(42));
    assert!(c.litellm.drop_params);
    let t = &c.tollgate;
    assert_eq!((t.host.as_str(), t.port, t.threads), ("::1", 8080, Some(2)));
    assert_eq!(
        (t.grace_period, t.connect_timeout),
        (Duration::ZERO, Duration::from_millis(1500))
    );
    assert_eq!(t.log_format, LogFormat::Json);
    assert_eq!(t.spend_backlog_rows, 500);
    assert_eq!(
        (
            t.responses_store_max_count,
            t.responses_store_max_bytes,
            t.responses_store_ttl
        ),
        (0, 1 << 20, Duration::from_secs(3600))
    );
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn wrong_types_and_ranges_are_all_reported() {
    let errs = errors(&format!(
        "{ONE_MOCK}
general_settings:
  max_request_size_mb: ten
litellm_settings:
  request_timeout: 0
  drop_params: maybe
tollgate_settings:
  host: ''
  port: 70000
  threads: 0
  grace_period_seconds: -5
  connect_timeout_seconds: [1]
  log_format: xml
  spend_backlog_rows: 0
  responses_store_ttl_seconds: 0
"
    ));
    assert_eq!(
        errs,
        vec![
            "tollgate_settings.host: expected a host name or IP address, got \"\"",
            "tollgate_settings.port: expected a port from 1 to 65535, got 70000",
            "tollgate_settings.threads: expected 1 to 4096 threads, got 0",
            "tollgate_settings.grace_period_seconds: must be 0 or more seconds, got -5",
            "tollgate_settings.connect_timeout_seconds: expected a number of seconds, got a list",
            "tollgate_settings.spend_backlog_rows: must be at least 1",
            "tollgate_settings.responses_store_ttl_seconds: must be greater than 0 seconds, got 0",
            "tollgate_settings.log_format: expected \"text\" or \"json\", got \"xml\"",
        ]
    );
}

#[test]
fn sections_must_be_maps() {
    assert_error(
        "general_settings: [a]\n",
        "general_settings: expected a map, got a list",
    );
    assert_error(
        "router_settings: fast\n",
        "router_settings: expected a map, got \"fast\"",
    );
    assert_error(
        "include: 3\n",
        "include: expected a list of file paths, got 3",
    );
}

#[test]
fn master_key_without_sk_prefix_warns_without_the_value() {
    let l = ok(&format!(
        "{ONE_MOCK}general_settings:\n  master_key: hunter2-admin\n"
    ));
    assert_eq!(
        l.config.general.master_key.as_ref().unwrap().expose(),
        "hunter2-admin"
    );
    assert_eq!(
        l.warnings,
        vec!["general_settings.master_key: does not start with \"sk-\" (LiteLLM requires it; Tollgate accepts it)"]
    );
    assert_error(
        &format!("{ONE_MOCK}general_settings:\n  master_key: ''\n"),
        "general_settings.master_key: must not be empty (remove the key to run without auth)",
    );
}

const DROPIN: &str = "
model_list:
  - model_name: a
    litellm_params: {model: openai/a, mock_response: x, weight: 1}
    model_info: {id: a1, anything: [1, 2]}
    unknown_entry_key: 1
litellm_settings:
  num_retries: 3
  my_flag: true
router_settings:
  routing_strategy: latency-based-routing
  redis_host: localhost
  nonsense: 1
general_settings:
  database_url: postgres://u:hunter2@db/litellm
  foo: bar
guardrails: []
something_else: {}
";

#[test]
fn unknown_keys_warn_once_each_with_their_path() {
    let l = ok(DROPIN);
    let mut w = l.warnings.clone();
    w.sort();
    assert_eq!(
        w,
        vec![
            "general_settings.foo: unknown key, ignored",
            "litellm_settings.my_flag: unknown key, ignored",
            "model_list[0].unknown_entry_key: unknown key, ignored",
            "router_settings.nonsense: unknown key, ignored",
            "something_else: unknown key, ignored",
        ]
    );
    // router_settings is kept raw for the router work.
    assert_eq!(
        l.config.router_settings["routing_strategy"],
        "latency-based-routing"
    );
    assert!(l.warnings.iter().all(|w| !w.contains("hunter2")));
    // database_url is used (PostgreSQL), kept as a secret.
    let url = l.config.general.database_url.as_ref().unwrap();
    assert_eq!(url.expose(), "postgres://u:hunter2@db/litellm");
    assert!(!format!("{url:?}").contains("hunter2"));
}

#[test]
fn strict_turns_every_warning_into_an_error() {
    let errs = errors_opts(DROPIN, LoadOptions { strict: true });
    assert_eq!(errs.len(), 5, "{errs:#?}");
    assert!(
        errs.contains(&"general_settings.foo: unknown key (not allowed with --strict)".to_string())
    );
    let errs = errors_opts("", LoadOptions { strict: true });
    assert_eq!(
        errs,
        vec!["model_list: no model_list entries; every model request will fail (warnings are errors with --strict)"]
    );
    // A clean config passes strict.
    assert!(load_str(ONE_MOCK, None, LoadOptions { strict: true })
        .unwrap()
        .warnings
        .is_empty());
}

#[test]
fn secrets_never_appear_in_errors_or_warnings() {
    std::env::set_var("TOLLGATE_T_SECRET_VALUE", "sk-env-s3cret");
    let yaml = "
model_list:
  - model_name: a
    litellm_params:
      model: openai/a
      api_key: [sk-list-s3cret]
      api_base: https://user:pw-s3cret@api.example.com/v1
  - model_name: b
    litellm_params:
      model: openai/b
      api_key: 12345678
  - model_name: c
    litellm_params:
      model: openai/c
      api_key: os.environ/TOLLGATE_T_SECRET_VALUE
      aws_secret_access_key: aws-s3cret
      extra_headers: {Authorization: Bearer hdr-s3cret}
general_settings:
  master_key: {nested: sk-master-s3cret}
  database_url: postgres://u:db-s3cret@h/d
router_settings:
  redis_password: redis-s3cret
";
    for strict in [false, true] {
        let errs = errors_opts(yaml, LoadOptions { strict });
        let all = errs.join("\n");
        assert!(!all.contains("s3cret"), "{all}");
        assert!(!all.contains("12345678"), "{all}");
        assert!(
            all.contains("model_list[0].litellm_params.api_key: expected a string, got a list"),
            "{all}"
        );
        assert!(
            all.contains("model_list[1].litellm_params.api_key: expected a string, got a number"),
            "{all}"
        );
        assert!(
            all.contains("general_settings.master_key: expected a string, got a map"),
            "{all}"
        );
    }
    // And a valid config's Debug output hides them too.
    let l = ok("model_list:\n  - model_name: c\n    litellm_params: {model: openai/c, api_key: os.environ/TOLLGATE_T_SECRET_VALUE}\ngeneral_settings: {master_key: sk-master-s3cret}\n");
    let debug = format!("{:?}", l.config);
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(debug.contains("Secret(***)"));
}

#[test]
fn drain_and_client_connection_settings() {
    let t = ok(&format!("{ONE_MOCK}tollgate_settings: {{}}\n"))
        .config
        .tollgate;
    assert_eq!(
        (
            t.shutdown_delay,
            t.client_header_timeout,
            t.keepalive_timeout
        ),
        (
            Duration::ZERO,
            Duration::from_secs(10),
            Duration::from_secs(75)
        )
    );
    assert_eq!(t.max_connections_per_ip, 1024);

    let l = ok(&format!(
        "{ONE_MOCK}
tollgate_settings:
  grace_period_seconds: 20
  shutdown_delay_seconds: 5
  client_header_timeout_seconds: 2.5
  keepalive_timeout_seconds: 620
  max_connections_per_ip: 0
"
    ));
    let t = &l.config.tollgate;
    assert_eq!(t.shutdown_delay, Duration::from_secs(5));
    assert_eq!(t.client_header_timeout, Duration::from_millis(2500));
    assert_eq!(t.keepalive_timeout, Duration::from_secs(620));
    assert_eq!(t.max_connections_per_ip, 0);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);

    let errs = errors(&format!(
        "{ONE_MOCK}
tollgate_settings:
  shutdown_delay_seconds: 31
  client_header_timeout_seconds: 0
  keepalive_timeout_seconds: -1
  max_connections_per_ip: many
"
    ));
    assert_eq!(
        errs,
        vec![
            "tollgate_settings.shutdown_delay_seconds: must not exceed grace_period_seconds (30), got 31",
            "tollgate_settings.client_header_timeout_seconds: must be greater than 0 seconds, got 0",
            "tollgate_settings.keepalive_timeout_seconds: must be greater than 0 seconds, got -1",
            "tollgate_settings.max_connections_per_ip: expected a non-negative integer, got \"many\"",
        ]
    );
}

#[test]
fn health_check_settings_are_read_and_wrong_types_warned() {
    let l = ok("model_list:
  - model_name: m
    litellm_params: {model: openai/gpt-4o, api_key: k}
    model_info: {health_check_timeout: soon, health_check_model: 5}
general_settings:
  background_health_checks: true
  health_check_interval: 30
  health_check_details: false
");
    let g = &l.config.general;
    assert!(g.background_health_checks && !g.health_check_details);
    assert_eq!(g.health_check_interval, std::time::Duration::from_secs(30));
    let w = l.warnings.join("\n");
    assert!(
        w.contains("model_list[0].model_info.health_check_timeout"),
        "{w}"
    );
    assert!(
        w.contains("model_list[0].model_info.health_check_model"),
        "{w}"
    );
    assert!(!w.contains("background_health_checks"), "a used key: {w}");
}
