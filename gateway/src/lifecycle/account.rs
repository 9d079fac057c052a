//! Stage 6, account: runs after the response (from `logging()`), off the hot path, and never
//! fails the request: settles the request's budgets with its real cost, queues its spend log
//! row for the batch writer, hands the request's event to the callbacks and alerts
//! (`observe::request_done`), and writes the access log line (its path with any key in it
//! masked: `POST /key/***/regenerate`; with `json_logs`, one JSON object).

use crate::control::flush::Spent;
use crate::ctx::RequestCtx;
use crate::state::AppState;

pub fn record(state: &AppState, method: &str, path: &str, ctx: &mut RequestCtx) {
    let mut who: (Option<String>, Option<String>) = (None, None);
    let mut admission = ctx.admission.take();
    if let Some(adm) = admission.as_mut() {
        let cost = match ctx.cost {
            Some(c) => c,
            None => ctx.compute_cost(),
        };
        // `logging_only` guardrails mask what is logged (and are noted in the row).
        crate::guard::logged::logging_only(ctx);
        // One row, shared by the spend queue and the callbacks' event (never cloned).
        let log = std::sync::Arc::new(spend_log(ctx, adm, cost));
        // Callbacks and alerts: one event, queued for their senders (after the external
        // `logging_only` guardrails, which run off this path).
        let later = crate::guard::logged::external(ctx);
        crate::observe::request_done(&state.control, ctx, adm, &log, later);
        if crate::logging::json() {
            who = (log.key_alias.clone(), log.team_id.clone());
        }
        // A cache hit counts as a request, never as tokens (nothing was generated).
        let hit = crate::cache::hit(ctx);
        state.control.settle(
            adm,
            Spent {
                cost,
                prompt_tokens: if hit { 0 } else { ctx.prompt_tokens },
                completion_tokens: if hit { 0 } else { ctx.completion_tokens },
            },
            Some(log),
        );
    } else if !ctx.call_type.is_empty() && ctx.status >= 400 {
        // An LLM request refused before admission completed (bad key, bad body, too large,
        // a limit): a failure event for the callbacks.
        crate::observe::request_refused(&state.control, ctx);
    }
    // After the settle, so the budgets are free of this request as soon as possible.
    crate::observe::account(state, path, ctx, admission.as_ref());
    drop(admission);
    // Tokens count toward the deployment's minute (usage-based routing, rpm/tpm checks).
    if let Some(dep) = &ctx.served_by {
        let tokens = ctx.prompt_tokens + ctx.completion_tokens;
        if tokens > 0 {
            dep.load.add_tokens(crate::clock::now_ms(), tokens);
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
    // Masked only when the line is written (the macros skip their arguments otherwise).
    let safe = || crate::logging::redact::path(path);
    // Client mistakes (4xx) are the client's business: debug. Provider failures (also after a
    // stream started), timeouts and clients that left mid-response are worth a warning.
    let serious = ctx.status == super::relay::CLIENT_CLOSED || !(400..500).contains(&ctx.status);
    if crate::logging::json() {
        let failed = ctx.failure.is_some() && serious;
        crate::observe::logs::access(method, path, ctx, who, ms, failed);
        return;
    }
    match ctx.failure.as_ref().filter(|_| serious) {
        None => log::debug!(
            "{method} {} status={} model_group={group} deployment={dep} upstream_status={} stream={} prompt_tokens={} completion_tokens={} ms={ms:.2} call_id={}",
            safe(), ctx.status, upstream.as_deref().unwrap_or("-"), ctx.stream, ctx.prompt_tokens, ctx.completion_tokens, ctx.call_id
        ),
        Some(why) => log::warn!(
            "{method} {} status={} model_group={group} deployment={dep} upstream_status={} stream={} ms={ms:.2} call_id={} failure=\"{why}\"",
            safe(), ctx.status, upstream.as_deref().unwrap_or("-"), ctx.stream, ctx.call_id
        ),
    }
}

/// The spend log row of a request, in LiteLLM's `LiteLLM_SpendLogs` terms.
fn spend_log(
    ctx: &RequestCtx,
    adm: &crate::control::enforce::Admission,
    cost: f64,
) -> store::SpendLog {
    let dep = ctx.served_by.as_ref();
    let ok = ctx.failure.is_none() && (200..400).contains(&ctx.status);
    store::SpendLog {
        request_id: ctx.call_id.clone(),
        call_type: ctx.call_type.to_string(),
        api_key: adm.key.as_ref().map(|k| k.id.clone()).unwrap_or_default(),
        key_alias: adm.key.as_ref().and_then(|k| k.alias()).map(str::to_string),
        spend: cost,
        prompt_tokens: ctx.prompt_tokens as i64,
        completion_tokens: ctx.completion_tokens as i64,
        total_tokens: (ctx.prompt_tokens + ctx.completion_tokens) as i64,
        cached_tokens: ctx.cache_read_tokens as i64,
        start_time: ctx.started_at_ms,
        end_time: crate::clock::now_ms_i64(),
        model: dep
            .map(|d| {
                crate::deployment::upstream_model(&d.conf.model, ctx.wildcard_match.as_deref())
                    .into_owned()
            })
            .unwrap_or_default(),
        model_group: ctx.model_group.clone().unwrap_or_default(),
        model_id: dep.map(|d| d.conf.id.clone()).unwrap_or_default(),
        custom_llm_provider: dep
            .map(|d| d.conf.provider.prefix().to_string())
            .unwrap_or_default(),
        api_base: dep
            .and_then(|d| d.conf.api_base.as_ref())
            .map(|b| b.url.clone())
            .unwrap_or_default(),
        user: adm.user_id.clone(),
        team_id: adm.team_id.clone(),
        organization_id: adm.org_id.clone(),
        end_user: adm.end_user.clone(),
        status: if ok { "success" } else { "failure" }.to_string(),
        cache_hit: crate::cache::hit(ctx),
        request_tags: ctx.request_tags.clone(),
        metadata: serde_json::json!({
            "status_code": ctx.status,
            "attempted_retries": ctx.attempted_retries,
            "attempted_fallbacks": ctx.attempted_fallbacks,
            "usage_estimated": !ctx.usage_seen && ctx.completion_tokens > 0,
            "cache_key": ctx.cache.as_ref().map(|p| p.key.as_str()),
            "guardrail_information": ctx.guard.as_ref().map(|g| g.information()),
        }),
        response_id: ctx.response_id.clone(),
    }
}
