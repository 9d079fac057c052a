//! What the hooks record: a request's ids and observations for its row (the account stage),
//! and the label values of the event families (failed attempts, cooldowns, fallbacks). Also
//! LiteLLM's `exception_class` naming.

use std::borrow::Cow;

use super::family_index as fi;
use super::series::{self, Ids, Obs, N_IDS};
use super::{cap, metrics};
use crate::control::enforce::Caller;
use crate::control::entity::Kind;
use crate::ctx::RequestCtx;
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::state::AppState;

/// The request's row: who called, which model and deployment, the status and route.
pub(super) fn record(
    state: &AppState,
    path: &str,
    ctx: &mut RequestCtx,
    adm: Option<&crate::control::enforce::Admission>,
) {
    if ctx.cost.is_none() && ctx.served_by.is_some() {
        ctx.compute_cost();
    }
    let runtime = state.runtime();
    let s = &runtime.config.metrics;
    let now = crate::clock::now_ms();
    let total = ctx.start.map(|t| t.elapsed()).unwrap_or_default();
    let dep = ctx.served_by.as_deref();
    let called = dep.is_some() && !ctx.mocked;
    let ok = ctx.status < 400 && ctx.failure.is_none();
    let overhead = total.saturating_sub(ctx.upstream_time).as_secs_f64();
    let llm = ctx.upstream_time.as_secs_f64();
    let spend = ctx.cost.unwrap_or(0.0);
    let zero_cost = called
        && ok
        && spend == 0.0
        && ctx.prompt_tokens + ctx.completion_tokens > 0
        && dep.is_some_and(|d| {
            d.price_for(ctx.wildcard_match.as_deref())
                .is_none_or(|p| p.input_cost_per_token > 0.0 || p.output_cost_per_token > 0.0)
        });
    let obs = Obs {
        succeeded: ok && dep.is_some(),
        zero_cost,
        input: ctx.prompt_tokens,
        output: ctx.completion_tokens,
        cached: ctx.cache_read_tokens,
        cache_creation: ctx.cache_write_tokens,
        spend,
        hists: [
            Some(total.as_secs_f64()),
            called.then_some(llm),
            ctx.metrics.first_token.map(|t| t.as_secs_f64()),
            dep.is_some().then_some(overhead),
            (called && ctx.completion_tokens > 0).then(|| llm / ctx.completion_tokens as f64),
        ],
        remaining: ctx.metrics.remaining,
        cache_hit: ctx.cache.as_deref().map(|c| c.hit),
    };
    let mut ids = [""; N_IDS];
    ids[series::KEY] = match (adm.and_then(|a| a.key.as_deref()), &ctx.caller) {
        (Some(k), _) => &k.id,
        (None, Some(Caller::Key(k))) => &k.id,
        (None, Some(Caller::Master)) => series::MASTER,
        _ => "",
    };
    if let Some(a) = adm {
        if !s.drop_end_user {
            ids[series::END_USER] = a.end_user.as_deref().unwrap_or("");
        }
        ids[series::TEAM] = a.team_id.as_deref().unwrap_or("");
        ids[series::USER] = a.user_id.as_deref().unwrap_or("");
        ids[series::ORG] = a.org_id.as_deref().unwrap_or("");
    }
    let group = ctx.model_group.as_deref().unwrap_or("");
    ids[series::GROUP] = group;
    ids[series::REQUESTED] = ctx.metrics.requested.as_deref().unwrap_or(group);
    if let Some(d) = dep {
        ids[series::MODEL_ID] = &d.conf.id;
        if d.conf.model.contains('*') {
            ids[series::WILDCARD] = ctx.wildcard_match.as_deref().unwrap_or("");
        }
    }
    ids[series::ROUTE] = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let extra: Cow<'_, [String]> = if s.tags.is_empty() {
        Cow::Borrowed(&ctx.metrics.metadata)
    } else {
        let mut v = ctx.metrics.metadata.clone();
        v.extend(
            s.tags
                .iter()
                .map(|t| ctx.request_tags.contains(t).to_string()),
        );
        Cow::Owned(v)
    };
    let row = Ids {
        ids,
        status: ctx.status,
        upstream: ctx.status >= 400 && ctx.upstream_status == Some(ctx.status),
        extra: &extra,
    };
    let m = metrics();
    m.requests
        .record(&row, &obs, now, s.max_series, s.max_histogram_series);
    // LiteLLM's `self` service: the gateway's own time per request.
    if let Some(h) = &m.self_latency.hist {
        h.observe(m.events.bounds(), overhead);
    }
    m.self_total
        .count
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if ctx.status >= 500 && !row.upstream {
        let class = exception_class(ctx.status, None);
        m.events
            .add(fi::SELF_FAILED.get(), &[&class, "proxy_request"], 1, cap());
    }
}

/// The key hash, key alias, team and team alias of a request (for event labels).
fn who(state: &AppState, ctx: &RequestCtx) -> [String; 4] {
    let adm = ctx.admission.as_ref();
    let key = adm.and_then(|a| a.key.as_deref());
    let team = adm.and_then(|a| a.team_id.as_deref()).unwrap_or("");
    let team_alias = (!team.is_empty())
        .then(|| state.control.get(Kind::Team, team))
        .flatten()
        .and_then(|t| t.alias().map(str::to_string))
        .unwrap_or_default();
    let key_id = match (key, &ctx.caller) {
        (Some(k), _) => k.id.clone(),
        (None, Some(Caller::Master)) => master_hash(state),
        _ => String::new(),
    };
    [
        key_id,
        key.and_then(|k| k.alias()).unwrap_or("").to_string(),
        team.to_string(),
        team_alias,
    ]
}

/// The master key's SHA-256 (hex), as LiteLLM labels the master key's requests.
pub fn master_hash(state: &AppState) -> String {
    state
        .runtime()
        .master_key_hash
        .map(|h| h.iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_default()
}

/// `litellm_params.model` as LiteLLM writes it (`openai/gpt-4o`).
pub fn litellm_model_name(d: &DeploymentRt) -> String {
    format!("{}/{}", d.conf.provider.prefix(), d.conf.model)
}

pub fn api_base(d: &DeploymentRt) -> &str {
    d.conf
        .api_base
        .as_ref()
        .map(|b| b.url.as_str())
        .unwrap_or("")
}

/// The status a gateway error answers with.
fn status_of(e: &GatewayError) -> u16 {
    match e {
        GatewayError::Upstream(api) => api.status,
        _ => e.to_api_error().status,
    }
}

pub(super) fn attempt_failed(
    state: &AppState,
    ctx: &RequestCtx,
    dep: &DeploymentRt,
    e: &GatewayError,
) {
    let [key, alias, team, team_alias] = who(state, ctx);
    let status = status_of(e);
    let upstream = matches!(
        e,
        GatewayError::Upstream(_) | GatewayError::UpstreamTimeout { .. }
    );
    let class = exception_class(status, upstream.then(|| dep.conf.provider.prefix()));
    let status = status.to_string();
    let model_name = litellm_model_name(dep);
    let requested = ctx
        .metrics
        .requested
        .as_deref()
        .or(ctx.model_group.as_deref())
        .unwrap_or("");
    let base = api_base(dep);
    let provider = dep.conf.provider.prefix();
    let m = metrics();
    let d = [
        requested,
        &model_name,
        &dep.conf.id,
        base,
        provider,
        &key,
        &alias,
        &team,
        &team_alias,
    ];
    m.events.add(fi::DEP_TOTAL.get(), &d, 1, cap());
    let mut failed = d.to_vec();
    failed.extend([status.as_str(), class.as_str()]);
    m.events.add(fi::DEP_FAILURES.get(), &failed, 1, cap());
    let adm = ctx.admission.as_ref();
    let upstream_model =
        crate::deployment::upstream_model(&dep.conf.model, ctx.wildcard_match.as_deref());
    m.events.add(
        fi::LLM_FAILED.get(),
        &[
            adm.and_then(|a| a.end_user.as_deref()).unwrap_or(""),
            &key,
            &alias,
            &team,
            &team_alias,
            adm.and_then(|a| a.user_id.as_deref()).unwrap_or(""),
            &upstream_model,
            &dep.conf.id,
        ],
        1,
        cap(),
    );
}

pub(super) fn cooled_down(dep: &DeploymentRt, class: Option<conf::ErrorClass>) {
    let status = match class {
        Some(conf::ErrorClass::BadRequest) => "400",
        Some(conf::ErrorClass::Authentication) => "401",
        Some(conf::ErrorClass::Timeout) => "408",
        Some(conf::ErrorClass::RateLimit) => "429",
        Some(conf::ErrorClass::ContentPolicy) => "400",
        Some(conf::ErrorClass::InternalServer) | None => "500",
    };
    let model_name = litellm_model_name(dep);
    metrics().events.add(
        fi::COOLED.get(),
        &[
            &model_name,
            &dep.conf.id,
            api_base(dep),
            dep.conf.provider.prefix(),
            status,
        ],
        1,
        cap(),
    );
}

pub(super) fn fallback(
    state: &AppState,
    ctx: &mut RequestCtx,
    first: &str,
    group: &str,
    err: Option<&GatewayError>,
) {
    if ctx.metrics.requested.is_none() {
        ctx.metrics.requested = Some(first.to_string());
    }
    let [key, alias, team, team_alias] = who(state, ctx);
    let (status, class, family) = match err {
        None => (String::new(), String::new(), fi::FALLBACK_OK.get()),
        Some(e) => {
            let s = status_of(e);
            let provider = ctx.served_by.as_ref().map(|d| d.conf.provider.prefix());
            let upstream = matches!(e, GatewayError::Upstream(_));
            (
                s.to_string(),
                exception_class(s, provider.filter(|_| upstream)),
                fi::FALLBACK_FAILED.get(),
            )
        }
    };
    let model_id = ctx
        .served_by
        .as_ref()
        .map(|d| d.conf.id.as_str())
        .unwrap_or("");
    metrics().events.add(
        family,
        &[
            first,
            group,
            &key,
            &alias,
            &team,
            &team_alias,
            &status,
            &class,
            model_id,
        ],
        1,
        cap(),
    );
}

/// LiteLLM's exception class for a status: `Openai.RateLimitError` for a provider's error
/// (its provider capitalised, then the OpenAI SDK's class), the bare class for the gateway's.
pub fn exception_class(status: u16, provider: Option<&str>) -> String {
    let name = match status {
        400 | 413 => "BadRequestError",
        401 => "AuthenticationError",
        403 => "PermissionDeniedError",
        404 => "NotFoundError",
        408 | 504 => "Timeout",
        422 => "UnprocessableEntityError",
        429 => "RateLimitError",
        499 => "ClientDisconnected",
        502 => "APIConnectionError",
        503 => "ServiceUnavailableError",
        500..=599 => "InternalServerError",
        _ => "APIError",
    };
    match provider.filter(|p| !p.is_empty()) {
        Some(p) => {
            let mut c = p.chars();
            let first = c.next().map(|f| f.to_ascii_uppercase()).unwrap_or('_');
            format!("{first}{}.{name}", c.as_str())
        }
        None => name.to_string(),
    }
}

/// The request `metadata` values at `paths` (`metadata.a.b`), as strings (empty when absent).
pub fn metadata_values(
    paths: &[String],
    body: &serde_json::Map<String, serde_json::Value>,
) -> Vec<String> {
    paths
        .iter()
        .map(|p| {
            let mut parts = p.split('.');
            let mut v = parts.next().and_then(|first| body.get(first));
            for part in parts {
                v = v.and_then(|x| x.get(part));
            }
            match v {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_classes_follow_litellm() {
        assert_eq!(
            exception_class(429, Some("openai")),
            "Openai.RateLimitError"
        );
        assert_eq!(exception_class(401, None), "AuthenticationError");
        assert_eq!(exception_class(503, None), "ServiceUnavailableError");
        assert_eq!(
            exception_class(500, Some("anthropic")),
            "Anthropic.InternalServerError"
        );
    }

    #[test]
    fn metadata_paths_are_read() {
        let body = serde_json::json!({"metadata": {"team_name": "ml", "n": 3, "a": {"b": "c"}}});
        let body = body.as_object().unwrap();
        let got = metadata_values(
            &[
                "metadata.team_name".into(),
                "metadata.n".into(),
                "metadata.a.b".into(),
                "metadata.none".into(),
            ],
            body,
        );
        assert_eq!(got, ["ml", "3", "c", ""]);
    }
}
