//! Stage 6, account: runs after the response (from `logging()`), off the hot path, and never
//! fails the request. Today it writes the access log line; spend, metrics and callbacks join it.

use crate::ctx::RequestCtx;

pub fn record(method: &str, path: &str, ctx: &RequestCtx) {
    // Tokens count toward the deployment's minute (usage-based routing, rpm/tpm checks).
    if let Some(dep) = &ctx.served_by {
        let tokens = ctx.prompt_tokens + ctx.completion_tokens;
        if tokens > 0 {
            dep.load.add_tokens(crate::router::now_ms(), tokens);
        }
    }
    let ms = ctx
        .start
        .map(|s| s.elapsed().as_secs_f64() * 1000.0)
        .unwrap_or(0.0);
    let group = ctx.model_group.as_deref().unwrap_or("-");
    let dep = ctx
        .served_by
        .as_ref()
        .map(|d| d.conf.id.as_str())
        .unwrap_or("-");
    let upstream = ctx.upstream_status.map(|s| s.to_string());
    // Client mistakes (4xx) are the client's business: debug. Provider failures (also after a
    // stream started), timeouts and clients that left mid-response are worth a warning.
    let serious = ctx.status == super::forward::CLIENT_CLOSED || !(400..500).contains(&ctx.status);
    match ctx.failure.as_ref().filter(|_| serious) {
        None => log::debug!(
            "{method} {path} status={} model_group={group} deployment={dep} upstream_status={} stream={} prompt_tokens={} completion_tokens={} ms={ms:.2} call_id={}",
            ctx.status, upstream.as_deref().unwrap_or("-"), ctx.stream, ctx.prompt_tokens, ctx.completion_tokens, ctx.call_id
        ),
        Some(why) => log::warn!(
            "{method} {path} status={} model_group={group} deployment={dep} upstream_status={} stream={} ms={ms:.2} call_id={} failure=\"{why}\"",
            ctx.status, upstream.as_deref().unwrap_or("-"), ctx.stream, ctx.call_id
        ),
    }
}
