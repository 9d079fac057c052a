//! Process logging: text or JSON lines on stderr, filtered by `TOLLGATE_LOG` (env_logger
//! syntax, default `warn,tollgate=info`). Secrets never reach a log line: they are `Secret`s.

use std::io::Write;

use conf::LogFormat;

pub fn init(format: LogFormat) {
    let filter = std::env::var("TOLLGATE_LOG").unwrap_or_else(|_| "warn,tollgate=info".to_string());
    let mut b = env_logger::Builder::new();
    b.parse_filters(&filter);
    match format {
        LogFormat::Json => {
            b.format(|buf, rec| {
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
    // A second init (tests) is harmless.
    let _ = b.try_init();
}
