//! The Prometheus settings: LiteLLM's `litellm_settings` keys (`prometheus_metrics_config`,
//! `prometheus_exclude_labels`, `prometheus_latency_buckets`, `custom_prometheus_metadata_labels`,
//! `custom_prometheus_tags`, `require_auth_for_metrics_endpoint`,
//! `disable_end_user_cost_tracking_prometheus_only`) and Tollgate's own `tollgate_settings`
//! switches (`metrics`, `metrics_max_series`, `metrics_idle_seconds`).
//!
//! Metrics are on by default (Tollgate has always served `/metrics`; LiteLLM needs
//! `callbacks: ["prometheus"]`, which Tollgate accepts as a confirmation). `tollgate_settings.
//! metrics: false` turns the request metrics off.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::diag::{boolean, count, field, index, join, seconds, show, Diag};

/// One `prometheus_metrics_config[]` entry: the metrics of a group and the labels they keep.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricGroup {
    pub group: String,
    /// Metric family names (`litellm_input_tokens_metric`).
    pub metrics: Vec<String>,
    /// The labels these metrics keep (`None`: all of them).
    pub include_labels: Option<Vec<String>>,
}

/// What `/metrics` exposes and who may read it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSettings {
    /// Request metrics are recorded (`tollgate_settings.metrics`, default true).
    pub enabled: bool,
    /// `require_auth_for_metrics_endpoint`: `/metrics` wants the master key or a virtual key.
    pub require_auth: bool,
    /// `prometheus_metrics_config`: once set, only the listed families are exposed.
    pub groups: Option<Vec<MetricGroup>>,
    /// `prometheus_exclude_labels`: label names dropped from every family.
    pub exclude_labels: Vec<String>,
    /// `prometheus_latency_buckets`: upper bounds (seconds) of the latency histograms.
    pub latency_buckets: Option<Vec<f64>>,
    /// `custom_prometheus_metadata_labels`: request `metadata` paths (`metadata.team_name`),
    /// each a label named with `.` → `_` (`metadata_team_name`).
    pub metadata_labels: Vec<String>,
    /// `custom_prometheus_tags`: each a label `tag_<name>` = `"true"`/`"false"`.
    pub tags: Vec<String>,
    /// `disable_end_user_cost_tracking_prometheus_only`: the `end_user` label stays empty.
    pub drop_end_user: bool,
    /// `tollgate_settings.metrics_max_series`: label sets kept per table before new ones are
    /// counted under `other`.
    pub max_series: usize,
    /// `tollgate_settings.metrics_max_histogram_series`: request label sets with latency
    /// histograms of their own (a histogram is ~38 series per label set); later ones are
    /// observed under `other`.
    pub max_histogram_series: usize,
    /// `tollgate_settings.metrics_idle_seconds`: a label set unseen this long is dropped, and
    /// only keys/teams/users/organizations/end users seen this recently get budget gauges.
    pub idle: Duration,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            enabled: true,
            require_auth: false,
            groups: None,
            exclude_labels: Vec::new(),
            latency_buckets: None,
            metadata_labels: Vec::new(),
            tags: Vec::new(),
            drop_end_user: false,
            max_series: 1_000,
            max_histogram_series: 100,
            idle: Duration::from_secs(3600),
        }
    }
}

/// The `litellm_settings` keys read here (the key lists in `keys.rs` hold them too).
#[cfg(test)]
pub(crate) const LITELLM_KEYS: &[&str] = &[
    "callbacks",
    "success_callback",
    "failure_callback",
    "prometheus_metrics_config",
    "prometheus_exclude_labels",
    "prometheus_latency_buckets",
    "custom_prometheus_metadata_labels",
    "custom_prometheus_tags",
    "require_auth_for_metrics_endpoint",
    "disable_end_user_cost_tracking_prometheus_only",
];

/// The `tollgate_settings` keys read here.
#[cfg(test)]
pub(crate) const TOLLGATE_KEYS: &[&str] = &[
    "metrics",
    "metrics_max_series",
    "metrics_max_histogram_series",
    "metrics_idle_seconds",
];

/// The metric settings of `litellm_settings` and `tollgate_settings`.
pub(crate) fn parse(
    litellm: Option<&Map<String, Value>>,
    tollgate: Option<&Map<String, Value>>,
    d: &mut Diag,
) -> MetricsSettings {
    let mut out = MetricsSettings::default();
    if let Some(m) = litellm {
        litellm_keys(m, &mut out, d);
    }
    if let Some(m) = tollgate {
        if let Some(v) = field(m, "metrics") {
            if let Some(b) = boolean("tollgate_settings.metrics", v, d) {
                out.enabled = b;
            }
        }
        if let Some(v) = field(m, "metrics_max_series") {
            let path = "tollgate_settings.metrics_max_series";
            match count(path, v, d) {
                Some(0) => d.error(path, "must be at least 1"),
                Some(n) => out.max_series = n as usize,
                None => {}
            }
        }
        if let Some(v) = field(m, "metrics_max_histogram_series") {
            let path = "tollgate_settings.metrics_max_histogram_series";
            if let Some(n) = count(path, v, d) {
                out.max_histogram_series = n as usize;
            }
        }
        if let Some(v) = field(m, "metrics_idle_seconds") {
            if let Some(t) = seconds("tollgate_settings.metrics_idle_seconds", v, false, d) {
                out.idle = t;
            }
        }
    }
    out
}

fn litellm_keys(m: &Map<String, Value>, out: &mut MetricsSettings, d: &mut Diag) {
    if let Some(v) = field(m, "require_auth_for_metrics_endpoint") {
        if let Some(b) = boolean("litellm_settings.require_auth_for_metrics_endpoint", v, d) {
            out.require_auth = b;
        }
    }
    if let Some(v) = field(m, "disable_end_user_cost_tracking_prometheus_only") {
        let path = "litellm_settings.disable_end_user_cost_tracking_prometheus_only";
        if let Some(b) = boolean(path, v, d) {
            out.drop_end_user = b;
        }
    }
    if let Some(v) = field(m, "prometheus_exclude_labels") {
        out.exclude_labels = names("litellm_settings.prometheus_exclude_labels", v, d);
    }
    if let Some(v) = field(m, "custom_prometheus_tags") {
        out.tags = names("litellm_settings.custom_prometheus_tags", v, d);
    }
    if let Some(v) = field(m, "custom_prometheus_metadata_labels") {
        let path = "litellm_settings.custom_prometheus_metadata_labels";
        out.metadata_labels = names(path, v, d)
            .into_iter()
            .filter(|l| {
                let ok = l.starts_with("metadata.") && l.len() > "metadata.".len();
                if !ok {
                    d.warn(
                        path,
                        format_args!("{l:?} does not name a request metadata field (metadata.<name>), ignored"),
                    );
                }
                ok
            })
            .collect();
    }
    if let Some(v) = field(m, "prometheus_latency_buckets") {
        let path = "litellm_settings.prometheus_latency_buckets";
        match v.as_array() {
            Some(list) => {
                let mut b: Vec<f64> = Vec::new();
                for (i, x) in list.iter().enumerate() {
                    match x.as_f64().filter(|f| f.is_finite() && *f > 0.0) {
                        Some(f) if b.last().is_none_or(|last| f > *last) => b.push(f),
                        _ => d.error(
                            &index(path, i),
                            format_args!(
                                "expected a positive number of seconds, larger than the one before, got {}",
                                show(path, x)
                            ),
                        ),
                    }
                }
                if !b.is_empty() {
                    out.latency_buckets = Some(b);
                }
            }
            None => d.error(
                path,
                format_args!("expected a list of seconds, got {}", show(path, v)),
            ),
        }
    }
    if let Some(v) = field(m, "prometheus_metrics_config") {
        out.groups = groups(v, d);
    }
}

/// A list of non-empty strings; anything else is a warning and is skipped.
fn names(path: &str, v: &Value, d: &mut Diag) -> Vec<String> {
    let Some(list) = v.as_array() else {
        d.warn(
            path,
            format_args!("expected a list of names, got {}, ignored", show(path, v)),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, x) in list.iter().enumerate() {
        match x.as_str().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => out.push(s.to_string()),
            None => d.warn(
                &index(path, i),
                format_args!("expected a name, got {}, ignored", show(path, x)),
            ),
        }
    }
    out
}

/// `prometheus_metrics_config`: `[{group, metrics: [...], include_labels: [...]}]`. A bad entry
/// is an error: exposing metrics the operator meant to hide (or hiding all) is not a default.
fn groups(v: &Value, d: &mut Diag) -> Option<Vec<MetricGroup>> {
    let path = "litellm_settings.prometheus_metrics_config";
    let Some(list) = v.as_array() else {
        d.error(
            path,
            format_args!(
                "expected a list of {{group, metrics, include_labels}}, got {}",
                show(path, v)
            ),
        );
        return None;
    };
    let mut out = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let p = index(path, i);
        let Some(m) = entry.as_object() else {
            d.error(&p, format_args!("expected a map, got {}", show(&p, entry)));
            continue;
        };
        for k in m.keys() {
            if !["group", "metrics", "include_labels"].contains(&k.as_str()) {
                d.warn(&join(&p, k), "unknown key, ignored");
            }
        }
        let group = m
            .get("group")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let metrics = match m.get("metrics") {
            Some(v @ Value::Array(_)) => names(&join(&p, "metrics"), v, d),
            _ => {
                d.error(&join(&p, "metrics"), "expected a list of metric names");
                continue;
            }
        };
        let include_labels = m
            .get("include_labels")
            .filter(|v| !v.is_null())
            .map(|v| names(&join(&p, "include_labels"), v, d));
        out.push(MetricGroup {
            group,
            metrics,
            include_labels,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_yaml(litellm: &str, tollgate: &str) -> (MetricsSettings, Diag) {
        let l: Value = serde_norway::from_str(litellm).unwrap();
        let t: Value = serde_norway::from_str(tollgate).unwrap();
        let mut d = Diag::default();
        let s = parse(l.as_object(), t.as_object(), &mut d);
        (s, d)
    }

    #[test]
    fn the_keys_read_here_are_known_as_used() {
        use crate::keys::{KeyKind, LITELLM, TOLLGATE};
        for k in LITELLM_KEYS {
            assert_eq!(LITELLM.classify(k), KeyKind::Used, "{k}");
        }
        for k in TOLLGATE_KEYS {
            assert_eq!(TOLLGATE.classify(k), KeyKind::Used, "{k}");
        }
    }

    #[test]
    fn defaults_are_on_without_auth() {
        let (s, d) = parse_yaml("{}", "{}");
        assert!(s.enabled && !s.require_auth && s.groups.is_none());
        assert_eq!((s.max_series, s.max_histogram_series), (1_000, 100));
        assert!(d.warnings.is_empty() && d.errors.is_empty());
    }

    #[test]
    fn litellm_keys_are_read() {
        let (s, d) = parse_yaml(
            r#"
callbacks: ["prometheus"]
success_callback: ["langfuse"]
require_auth_for_metrics_endpoint: true
prometheus_exclude_labels: [end_user, user_agent]
custom_prometheus_tags: [prod, beta]
custom_prometheus_metadata_labels: [metadata.team_name, bogus]
prometheus_latency_buckets: [0.1, 1, 10]
prometheus_metrics_config:
  - group: tokens
    metrics: [litellm_input_tokens_metric]
    include_labels: [model]
"#,
            "{metrics: false, metrics_max_series: 50, metrics_max_histogram_series: 0, metrics_idle_seconds: 60}",
        );
        assert!(s.require_auth && !s.enabled);
        assert_eq!(s.exclude_labels, ["end_user", "user_agent"]);
        assert_eq!(s.tags, ["prod", "beta"]);
        assert_eq!(s.metadata_labels, ["metadata.team_name"]);
        assert_eq!(s.latency_buckets, Some(vec![0.1, 1.0, 10.0]));
        assert_eq!((s.max_series, s.max_histogram_series), (50, 0));
        assert_eq!(s.idle, Duration::from_secs(60));
        let g = s.groups.unwrap();
        assert_eq!(g[0].metrics, ["litellm_input_tokens_metric"]);
        assert_eq!(g[0].include_labels, Some(vec!["model".to_string()]));
        // Callback names are read by `observe::callbacks`, not here; `bogus` is not a
        // metadata path: one warning.
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
        assert!(d.warnings[0].contains("bogus"), "{:?}", d.warnings);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
    }

    #[test]
    fn bad_buckets_and_groups_are_errors() {
        let (_, d) = parse_yaml(
            "{prometheus_latency_buckets: [1, 0.5], prometheus_metrics_config: {a: 1}}",
            "{}",
        );
        assert_eq!(d.errors.len(), 2, "{:?}", d.errors);
        assert!(
            d.errors[0].contains("prometheus_latency_buckets[1]"),
            "{:?}",
            d.errors
        );
    }
}
