//! Process logging: text or JSON lines on stderr, filtered by `TOLLGATE_LOG` (env_logger
//! syntax; without it main.rs derives the filter from `--debug`, `--detailed_debug` or
//! `LITELLM_LOG`, default `warn,tollgate=info`). No secret reaches a log line at any level: every
//! record — ours, Pingora's (which prints request headers at trace), the libraries' — is
//! passed through [`redact::text`] first, and the configuration's secrets are registered with it
//! at start.

pub mod redact;

use std::io::Write;

use conf::{Config, LogFormat};

/// The target of the per-request access line (account stage).
pub const ACCESS: &str = "tollgate::access";

static JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether log lines are JSON objects (`json_logs`, `log_format: json`).
pub fn json() -> bool {
    JSON.load(std::sync::atomic::Ordering::Relaxed)
}

/// Installs the logger. A second call (tests) is harmless.
pub fn init(format: LogFormat, filter: &str) {
    let mut b = env_logger::Builder::new();
    b.parse_filters(filter);
    match format {
        LogFormat::Json => {
            JSON.store(true, std::sync::atomic::Ordering::Relaxed);
            b.format(|buf, rec| {
                // The access line is already an object: its fields join the line's own.
                if rec.target() == ACCESS {
                    let msg = rec.args().to_string();
                    if let Some(rest) = msg.strip_prefix('{') {
                        let time = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
                        return writeln!(
                            buf,
                            "{{\"time\":\"{time}\",\"level\":\"{}\",{rest}",
                            rec.level().as_str()
                        );
                    }
                }
                let line = serde_json::json!({
                    "ts": buf.timestamp_millis().to_string(),
                    "level": rec.level().as_str(),
                    "target": rec.target(),
                    "msg": rec.args().to_string(),
                });
                writeln!(buf, "{line}")
            });
        }
        LogFormat::Text => {
            b.format(|buf, rec| {
                writeln!(
                    buf,
                    "{} {:5} {}: {}",
                    buf.timestamp_millis(),
                    rec.level(),
                    rec.target(),
                    rec.args()
                )
            });
        }
    }
    let inner = b.build();
    let max = inner.filter();
    if log::set_boxed_logger(Box::new(Redacting(inner))).is_ok() {
        log::set_max_level(max);
    }
}

/// Every secret the configuration holds, for [`redact::register`]: the master and salt keys,
/// provider keys, credential-like deployment settings, and the database and Redis URLs (and
/// their passwords), `DATABASE_URL` included.
pub fn config_secrets(c: &Config) -> Vec<String> {
    let mut out: Vec<String> = [
        c.general.master_key.as_ref(),
        c.general.salt_key.as_ref(),
        c.general.database_url.as_ref(),
        c.router.redis_url.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|s| s.expose().to_string())
    .chain(std::env::var("DATABASE_URL").ok())
    .collect();
    // A URL's password may be logged apart from its URL (a driver's connection error).
    let passwords: Vec<String> = out
        .iter()
        .filter_map(|u| url::Url::parse(u).ok())
        .filter_map(|u| u.password().map(str::to_string))
        .collect();
    out.extend(passwords);
    out.extend(c.callbacks.secrets());
    out.extend(c.alerting.secrets());
    // The custom pass-through routes' headers carry the targets' credentials.
    for e in &c.general.pass_through_endpoints {
        out.extend(e.headers.iter().map(|(_, v)| v.expose().to_string()));
        out.extend(
            e.headers
                .iter()
                .filter_map(|(_, v)| v.expose().split_once(' ').map(|(_, t)| t.to_string())),
        );
    }
    for d in &c.model_list {
        out.extend(d.api_key.as_ref().map(|k| k.expose().to_string()));
        for (k, v) in d.internal_params.iter().chain(&d.extra_params) {
            if conf::is_secret_key(k) {
                collect_strings(v, &mut out);
            }
        }
    }
    out
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(m) => m.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// The env_logger logger behind a redacting front: a record that passes the filter is formatted
/// once, redacted, and written; one with nothing to mask is written as it came.
struct Redacting(env_logger::Logger);

impl log::Log for Redacting {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.0.matches(record) {
            return;
        }
        let msg = match record.args().as_str() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(record.args().to_string()),
        };
        match redact::text(&msg) {
            std::borrow::Cow::Borrowed(_) => self.0.log(record),
            std::borrow::Cow::Owned(clean) => self.0.log(
                &log::Record::builder()
                    .args(format_args!("{clean}"))
                    .level(record.level())
                    .target(record.target())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            ),
        }
    }

    fn flush(&self) {
        self.0.flush()
    }
}
