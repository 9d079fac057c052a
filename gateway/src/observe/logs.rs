//! The per-request access line as one JSON object (`json_logs`): time and level come from the
//! logger (`logging::init`), the fields from the request — never a key (paths are masked),
//! never prompt or completion text. Written at DEBUG, at WARN for failures.

use crate::ctx::RequestCtx;

/// Writes the access line of a finished request; `who` is its key alias and team id.
pub fn access(
    method: &str,
    path: &str,
    ctx: &RequestCtx,
    who: (Option<String>, Option<String>),
    ms: f64,
    failed: bool,
) {
    let level = if failed {
        log::Level::Warn
    } else {
        log::Level::Debug
    };
    if !log::log_enabled!(target: crate::logging::ACCESS, level) {
        return;
    }
    let line = serde_json::json!({
        "call_id": ctx.call_id,
        "method": method,
        "path": crate::logging::redact::path(path),
        "status": ctx.status,
        "upstream_status": ctx.upstream_status,
        "key_alias": who.0,
        "team_id": who.1,
        "model_group": ctx.model_group,
        "deployment": ctx.served_by.as_ref().map(|d| d.conf.id.as_str()),
        "stream": ctx.stream,
        "latency_ms": (ms * 100.0).round() / 100.0,
        "prompt_tokens": ctx.prompt_tokens,
        "completion_tokens": ctx.completion_tokens,
        "cost": ctx.cost.unwrap_or(0.0),
        "failure": ctx.failure.as_deref().filter(|_| failed),
    });
    log::log!(target: crate::logging::ACCESS, level, "{line}");
}
