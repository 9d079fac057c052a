//! Logging callbacks: `litellm_settings.success_callback` / `failure_callback` / `callbacks`,
//! the top-level `callback_settings`, `turn_off_message_logging` and
//! `general_settings.forward_traceparent_to_llm_api`, read into typed sinks (Langfuse, OTLP,
//! generic webhook) with their credentials as [`Secret`]s. Credentials come from the
//! environment as LiteLLM reads them (`LANGFUSE_*`, `OTEL_*`, `GENERIC_LOGGER_*`). A callback
//! name Tollgate has no sink for is a warning naming it (an error under `--strict`).

use std::time::Duration;

use serde_json::{Map, Value};

use crate::diag::{boolean, count, field, join, seconds, show, string, Diag};
use crate::raw::Env;

use super::sinks::sink_kind;
pub use super::sinks::{GenericFormat, OtlpProtocol, SinkKind};

/// Every logging callback the configuration turns on.
#[derive(Debug, Clone, Default)]
pub struct Callbacks {
    /// One entry per configured sink, in the order first named.
    pub sinks: Vec<Sink>,
    /// `litellm_settings.turn_off_message_logging`: no prompt or completion text leaves the
    /// process in any callback payload.
    pub turn_off_message_logging: bool,
    /// `general_settings.forward_traceparent_to_llm_api`: the request's W3C `traceparent`
    /// goes to the provider.
    pub forward_traceparent: bool,
}

impl Callbacks {
    /// Whether any sink is on.
    pub fn any(&self) -> bool {
        !self.sinks.is_empty()
    }

    /// Every credential the sinks hold (for the log redactor).
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.sinks {
            match &s.kind {
                SinkKind::Langfuse {
                    public_key,
                    secret_key,
                    ..
                } => {
                    out.push(public_key.expose().to_string());
                    out.push(secret_key.expose().to_string());
                }
                SinkKind::Otlp { headers, .. } | SinkKind::Generic { headers, .. } => {
                    out.extend(headers.iter().map(|(_, v)| v.expose().to_string()))
                }
            }
        }
        out
    }
}

/// One sink: where events go, which events, and its queue.
#[derive(Debug, Clone)]
pub struct Sink {
    /// The callback's name as configured (`langfuse`, `otel`, `my_webhook`): the
    /// `callback_name` label of failure counts.
    pub name: String,
    /// Receives successful requests (`success_callback`, `callbacks`, `event_types`).
    pub on_success: bool,
    /// Receives failed requests (`failure_callback`, `callbacks`, `event_types`).
    pub on_failure: bool,
    pub kind: SinkKind,
    pub queue: QueueSettings,
}

/// A sink's queue and batching (`callback_settings.<name>.batch_size` / `flush_interval` as
/// LiteLLM's batch loggers; `max_queue_entries` / `max_queue_bytes` are Tollgate's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// Events sent in one request at most. Default 512 (LiteLLM's).
    pub batch_size: usize,
    /// A partial batch is sent after this long. Default 5 s (LiteLLM's).
    pub flush_interval: Duration,
    /// Events waiting at most; more are dropped and counted. Default 10,000.
    pub max_entries: usize,
    /// Bytes of events waiting at most; more are dropped and counted. Default 64 MiB.
    pub max_bytes: usize,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            batch_size: 512,
            flush_interval: Duration::from_secs(5),
            max_entries: 10_000,
            max_bytes: 64 << 20,
        }
    }
}

/// Callback names LiteLLM knows that are not logging sinks here: `prometheus` is the metrics
/// endpoint (`/metrics`, on by default: `observe::metrics`).
const METRICS_ONLY: &[&str] = &["prometheus", "prometheus_system"];

/// Reads the callback lists and settings. `root` is the merged document.
pub(crate) fn callbacks(
    root: &Map<String, Value>,
    litellm: Option<&Map<String, Value>>,
    general: Option<&Map<String, Value>>,
    env: &Env,
    d: &mut Diag,
) -> Callbacks {
    let mut out = Callbacks::default();
    if let Some(v) = general.and_then(|g| field(g, "forward_traceparent_to_llm_api")) {
        let path = "general_settings.forward_traceparent_to_llm_api";
        out.forward_traceparent = boolean(path, v, d).unwrap_or(false);
    }
    let settings = match field(root, "callback_settings") {
        Some(Value::Object(m)) => Some(m),
        Some(v) => {
            d.error(
                "callback_settings",
                format_args!("expected a map, got {}", show("callback_settings", v)),
            );
            None
        }
        None => None,
    };
    let empty = Map::new();
    let litellm = litellm.unwrap_or(&empty);
    if let Some(v) = field(litellm, "turn_off_message_logging") {
        // An error, not a warning: a misspelled `true` would export the prompts the operator
        // meant to keep (privacy).
        out.turn_off_message_logging =
            boolean("litellm_settings.turn_off_message_logging", v, d).unwrap_or(true);
    }
    // (name, path, success, failure) in the order named.
    let mut named: Vec<(String, String, bool, bool)> = Vec::new();
    for (key, success, failure) in [
        ("success_callback", true, false),
        ("failure_callback", false, true),
        ("callbacks", true, true),
    ] {
        let base = join("litellm_settings", key);
        let list: Vec<(String, &Value)> = match field(litellm, key) {
            None => continue,
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{base}[{i}]"), v))
                .collect(),
            Some(v @ Value::String(_)) => vec![(base.clone(), v)],
            Some(v) => {
                d.error(
                    &base,
                    format_args!("expected a list of callback names, got {}", show(&base, v)),
                );
                continue;
            }
        };
        for (path, v) in list {
            let Some(name) = string(&path, v, d) else {
                continue;
            };
            match named.iter_mut().find(|(n, ..)| *n == name) {
                Some(entry) => {
                    entry.2 |= success;
                    entry.3 |= failure;
                }
                None => named.push((name, path, success, failure)),
            }
        }
    }
    if let Some(settings) = settings {
        for k in settings.keys() {
            if !named.iter().any(|(n, ..)| n == k) {
                d.warn(
                    &join("callback_settings", k),
                    "not named in litellm_settings.success_callback, failure_callback or callbacks; unused",
                );
            }
        }
    }
    for (name, path, on_success, on_failure) in named {
        let own = settings.and_then(|s| field(s, &name));
        let own_path = join("callback_settings", &name);
        let own = match own {
            Some(Value::Object(m)) => Some(m),
            Some(v) => {
                d.error(
                    &own_path,
                    format_args!("expected a map, got {}", show(&own_path, v)),
                );
                continue;
            }
            None => None,
        };
        if METRICS_ONLY.contains(&name.as_str()) {
            continue;
        }
        let kind = d.lenient(|d| sink_kind(&name, &path, own, &own_path, env, d));
        let Some(kind) = kind else { continue };
        let mut sink = Sink {
            name,
            on_success,
            on_failure,
            kind,
            queue: QueueSettings::default(),
        };
        if let Some(own) = own {
            sink_settings(own, &own_path, &mut sink, d);
        }
        if sink.on_success || sink.on_failure {
            out.sinks.push(sink);
        }
    }
    out
}

/// `event_types`, `batch_size`, `flush_interval`, `max_queue_entries`, `max_queue_bytes`.
fn sink_settings(own: &Map<String, Value>, base: &str, sink: &mut Sink, d: &mut Diag) {
    const KEYS: &[&str] = &[
        "callback_type",
        "endpoint",
        "headers",
        "log_format",
        "event_types",
        "protocol",
        "batch_size",
        "flush_interval",
        "max_queue_entries",
        "max_queue_bytes",
    ];
    for k in own.keys() {
        if !KEYS.contains(&k.as_str()) {
            d.warn(&join(base, k), "not supported, ignored");
        }
    }
    if let Some(v) = field(own, "event_types") {
        let path = join(base, "event_types");
        match v {
            Value::Array(list) => {
                let (mut s, mut f) = (false, false);
                for (i, t) in list.iter().enumerate() {
                    match t.as_str() {
                        Some("llm_api_success") => s = true,
                        Some("llm_api_failure") => f = true,
                        _ => d.warn(
                            &format!("{path}[{i}]"),
                            format_args!("unknown event type {}, ignored", show(&path, t)),
                        ),
                    }
                }
                sink.on_success &= s;
                sink.on_failure &= f;
            }
            _ => d.error(
                &path,
                format_args!("expected a list, got {}", show(&path, v)),
            ),
        }
    }
    let q = &mut sink.queue;
    for (k, slot) in [
        ("batch_size", &mut q.batch_size),
        ("max_queue_entries", &mut q.max_entries),
        ("max_queue_bytes", &mut q.max_bytes),
    ] {
        if let Some(v) = field(own, k) {
            let path = join(base, k);
            match count(&path, v, d) {
                Some(0) => d.error(&path, "must be at least 1"),
                Some(n) => *slot = usize::try_from(n).unwrap_or(usize::MAX),
                None => {}
            }
        }
    }
    if let Some(v) = field(own, "flush_interval") {
        if let Some(t) = seconds(&join(base, "flush_interval"), v, false, d) {
            q.flush_interval = t;
        }
    }
}
