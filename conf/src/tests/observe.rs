//! Logging callbacks and alerting settings: sinks from names, `callback_settings` and the
//! environment; unsupported names warned about (errors under `--strict`); secrets kept secret.

use super::*;
use crate::observe::alerting::{AlertType, Channel};
use crate::observe::callbacks::{GenericFormat, OtlpProtocol, SinkKind};
use crate::LogFormat;

#[test]
fn sinks_from_names_settings_and_env() {
    let l = with_env(
        &[
            ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
            ("LANGFUSE_SECRET_KEY", "sk-lf-secret-1"),
            ("LANGFUSE_HOST", "http://127.0.0.1:9/"),
            ("OTEL_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_HEADERS", "x-auth=abc%3D"),
        ],
        || {
            ok(&format!(
                "{ONE_MOCK}litellm_settings:
  success_callback: [langfuse]
  failure_callback: [langfuse]
  callbacks: [otel, hook, prometheus]
  turn_off_message_logging: true
callback_settings:
  hook:
    callback_type: generic_api
    endpoint: http://127.0.0.1:1/logs
    headers: {{Authorization: Bearer hook-secret-123}}
    log_format: ndjson
    event_types: [llm_api_failure]
    batch_size: 10
"
            ))
        },
    );
    let c = &l.config.callbacks;
    assert!(c.turn_off_message_logging);
    let names: Vec<&str> = c.sinks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["langfuse", "otel", "hook"]);
    assert!(c.sinks[0].on_success && c.sinks[0].on_failure);
    match &c.sinks[0].kind {
        SinkKind::Langfuse { host, .. } => assert_eq!(host, "http://127.0.0.1:9"),
        k => panic!("{k:?}"),
    }
    match &c.sinks[1].kind {
        SinkKind::Otlp {
            endpoint,
            protocol,
            headers,
            service_name,
        } => {
            assert_eq!(endpoint, "http://127.0.0.1:4318/v1/traces");
            assert_eq!(*protocol, OtlpProtocol::Protobuf);
            assert_eq!(headers[0].1.expose(), "abc=");
            assert_eq!(service_name, "litellm");
        }
        k => panic!("{k:?}"),
    }
    let hook = &c.sinks[2];
    assert!(!hook.on_success && hook.on_failure);
    assert_eq!(hook.queue.batch_size, 10);
    match &hook.kind {
        SinkKind::Generic { log_format, .. } => assert_eq!(*log_format, GenericFormat::Ndjson),
        k => panic!("{k:?}"),
    }
    assert!(c.secrets().contains(&"Bearer hook-secret-123".to_string()));
    assert!(!format!("{c:?}").contains("hook-secret"));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn callback_settings_nobody_names_are_warned_about() {
    let l = ok(&format!(
        "{ONE_MOCK}callback_settings:
  orphan: {{callback_type: generic_api, endpoint: \"http://127.0.0.1:1/x\"}}
"
    ));
    assert!(l.config.callbacks.sinks.is_empty());
    assert_eq!(
        l.warnings,
        ["callback_settings.orphan: not named in litellm_settings.success_callback, failure_callback or callbacks; unused"]
    );
}

#[test]
fn unsupported_callbacks_are_loud_and_strict_refuses_them() {
    let yaml = format!(
        "{ONE_MOCK}litellm_settings:
  success_callback: [datadog, langfuse]
"
    );
    let l = ok(&yaml);
    assert!(l.config.callbacks.sinks.is_empty());
    assert_eq!(l.warnings.len(), 2, "{:?}", l.warnings);
    assert!(l.warnings[0].starts_with(
        "litellm_settings.success_callback[0]: callback \"datadog\" is not supported"
    ));
    assert!(l.warnings[1].contains("LANGFUSE_PUBLIC_KEY"));
    let errs = errors_opts(&yaml, LoadOptions { strict: true });
    assert!(errs.iter().any(|e| e.contains("datadog")), "{errs:?}");
}

#[test]
fn alerting_channels_types_and_args() {
    let l = with_env(
        &[
            ("SLACK_WEBHOOK_URL", "http://127.0.0.1:1/slack-secret"),
            ("WEBHOOK_URL", "http://127.0.0.1:1/hook"),
        ],
        || {
            ok(&format!(
                "{ONE_MOCK}general_settings:
  alerting: [slack, webhook]
  alert_types: [budget_alerts, cooldown_deployment, region_outage_alerts]
  alerting_threshold: 10
  alerting_args: {{budget_alert_ttl: 5, major_outage_alert_threshold: 3}}
  spend_report_frequency: 7d
"
            ))
        },
    );
    let a = &l.config.alerting;
    assert!(matches!(a.channels[0], Channel::Slack(_)));
    assert!(matches!(a.channels[1], Channel::Webhook(_)));
    assert_eq!(
        a.types,
        [AlertType::BudgetAlerts, AlertType::CooldownDeployment]
    );
    assert!(a.wants(AlertType::BudgetAlerts) && !a.wants(AlertType::LlmTooSlow));
    assert_eq!(a.threshold.as_secs(), 10);
    assert_eq!(a.budget_alert_ttl.as_secs(), 5);
    assert_eq!(a.major_outage_threshold, 3);
    assert_eq!(a.spend_report_frequency.as_secs(), 7 * 86_400);
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(l.warnings[0].contains("region_outage_alerts"));
    assert!(!format!("{a:?}").contains("slack-secret"));
}

#[test]
fn json_logs_switch_the_log_format() {
    let l = ok(&format!("{ONE_MOCK}litellm_settings:\n  json_logs: true\n"));
    assert_eq!(l.config.tollgate.log_format, LogFormat::Json);
    let l = with_env(&[("JSON_LOGS", "True")], || ok(ONE_MOCK));
    assert_eq!(l.config.tollgate.log_format, LogFormat::Json);
    assert_eq!(ok(ONE_MOCK).config.tollgate.log_format, LogFormat::Text);
}
