//! Observability settings: logging callbacks (`callbacks.rs`) and alerting (`alerting.rs`).

pub mod alerting;
pub mod callbacks;
