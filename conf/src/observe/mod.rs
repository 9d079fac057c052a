//! Observability settings: what `litellm_settings` / `general_settings` say about metrics,
//! logging callbacks, alerting and logs. One file per concern: `metrics.rs` owns the
//! Prometheus settings, `callbacks.rs` the logging callbacks (`sinks.rs` each sink's endpoint and credentials), `alerting.rs` the alerts.

pub mod alerting;
pub mod callbacks;
pub mod metrics;
mod sinks;

pub use metrics::{MetricGroup, MetricsSettings};
