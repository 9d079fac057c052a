//! `GET /health`: LiteLLM's deployment health checks. Each deployment the caller may use is
//! checked with a tiny real call (`check.rs`) and the answer lists them in LiteLLM's shape —
//! `healthy_endpoints`, `unhealthy_endpoints`, `healthy_count`, `unhealthy_count` — without
//! credentials (never `api_key`; `api_base`/`api_version` only for proxy admins and viewers).
//! With `general_settings.background_health_checks` the checks run in a background service,
//! one run at a time and `health_check_interval` apart, and `/health` answers from the last
//! run without calling any provider; otherwise each `/health` call checks on demand. Either
//! way at most [`CONCURRENCY`] checks are in flight per run. Background runs use their own
//! connection pool, so the proxy threads never pick up a connection the background runtime
//! drives.

pub mod check;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use http::HeaderValue;
use pingora::connectors::http::Connector;
use pingora::proxy::Session;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use serde_json::{json, Map, Value};

use self::check::Failure;
use crate::control::enforce::Caller;
use crate::control::Kind;
use crate::ctx::RequestCtx;
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::reply::{self, respond, Served};
use crate::runtime::Runtime;
use crate::state::AppState;

/// Checks in flight at once, per run.
pub const CONCURRENCY: usize = 4;

/// The outcome of checking one deployment.
#[derive(Debug, Clone)]
struct Outcome {
    /// The deployment id (`model_info.id`).
    id: String,
    /// Its model group.
    group: String,
    /// The endpoint object, every detail included.
    entry: Map<String, Value>,
    healthy: bool,
}

/// The last background run.
static LATEST: Mutex<Option<Arc<Vec<Outcome>>>> = Mutex::new(None);

fn latest() -> Option<Arc<Vec<Outcome>>> {
    LATEST.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The deployments checked: every one of every group, in config order, except the
/// per-provider expansions of a bare `model: "*"` entry.
fn deployments(rt: &Runtime) -> Vec<Arc<DeploymentRt>> {
    rt.group_names
        .iter()
        .filter_map(|g| rt.groups.get(g))
        .flat_map(|g| g.deployments.iter())
        .filter(|d| !d.conf.any_provider)
        .cloned()
        .collect()
}

/// Checks `deps`, [`CONCURRENCY`] at a time; results in the same order.
async fn run(connector: &Connector, rt: &Runtime, deps: Vec<Arc<DeploymentRt>>) -> Vec<Outcome> {
    futures_util::stream::iter(deps)
        .map(|d| async move {
            let r = check::run(connector, rt, &d).await;
            outcome(&d, r)
        })
        .buffered(CONCURRENCY)
        .collect()
        .await
}

/// LiteLLM's endpoint object: the deployment's display fields (its `litellm_params.model`,
/// provider, `api_base`, `api_version`, `region_name`, rpm/tpm, mode), `model_id`, and for a
/// failure its `error` and `exception_status`. Never a credential.
fn outcome(d: &DeploymentRt, r: Result<(), Failure>) -> Outcome {
    let c = &d.conf;
    let mut e = Map::new();
    e.insert("model".into(), json!(c.litellm_model()));
    e.insert("custom_llm_provider".into(), json!(c.provider.prefix()));
    if let Some(m) = c.model_info.get("mode") {
        e.insert("mode".into(), m.clone());
    }
    if let Some(b) = &c.api_base {
        e.insert("api_base".into(), json!(b.url));
    }
    if let Some(v) = &c.api_version {
        e.insert("api_version".into(), json!(v));
    }
    if let Some(region) = c.internal_params.get("region_name") {
        e.insert("region_name".into(), region.clone());
    }
    if let Some(rpm) = c.rpm {
        e.insert("rpm".into(), json!(rpm));
    }
    if let Some(tpm) = c.tpm {
        e.insert("tpm".into(), json!(tpm));
    }
    e.insert("model_id".into(), json!(c.id));
    let healthy = r.is_ok();
    if let Err(f) = r {
        e.insert("error".into(), json!(f.error));
        e.insert("exception_status".into(), json!(f.status.unwrap_or(500)));
    }
    Outcome {
        id: c.id.clone(),
        group: c.model_name.clone(),
        entry: e,
        healthy,
    }
}

/// The fields shown with `health_check_details: false` (LiteLLM's minimal set).
const MINIMAL: &[&str] = &["model", "model_id", "exception_status"];
/// The fields only proxy admins (and viewers) see.
const ADMIN_ONLY: &[&str] = &["api_base", "api_version"];

/// The `/health` answer for `outcomes`.
fn answer(outcomes: &[&Outcome], details: bool, admin: bool) -> Value {
    let shown = |o: &Outcome| {
        let e: Map<String, Value> = o
            .entry
            .iter()
            .filter(|(k, _)| details || MINIMAL.contains(&k.as_str()))
            .filter(|(k, _)| admin || !ADMIN_ONLY.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Value::Object(e)
    };
    let healthy: Vec<Value> = outcomes
        .iter()
        .filter(|o| o.healthy)
        .map(|o| shown(o))
        .collect();
    let unhealthy: Vec<Value> = outcomes
        .iter()
        .filter(|o| !o.healthy)
        .map(|o| shown(o))
        .collect();
    json!({
        "healthy_endpoints": healthy,
        "healthy_count": healthy.len(),
        "unhealthy_endpoints": unhealthy,
        "unhealthy_count": unhealthy.len(),
    })
}

/// Serves `GET /health[?model=|model_id=]`.
pub async fn serve(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx) {
    let rt = state.runtime();
    let result = health(state, &rt, session).await;
    let written = match result {
        Ok((status, body, admin)) => {
            ctx.status = status;
            let notice = [(
                "litellm-health-field-notice",
                HeaderValue::from_static(
                    "api_base and api_version are admin-only on this endpoint",
                ),
            )];
            let extra: &[(&'static str, HeaderValue)] = if admin { &[] } else { &notice };
            let body = Bytes::from(
                serde_json::to_vec(&body).expect("serializing JSON values cannot fail"),
            );
            respond(session, status, "application/json", body, "", extra).await
        }
        Err(e) => {
            reply::fail(session, ctx, e, Served::Route).await;
            Ok(())
        }
    };
    if let Err(e) = written {
        ctx.failure = Some(format!("client went away: {e}"));
    }
}

/// The status, body and whether the caller sees admin fields.
async fn health(
    state: &Arc<AppState>,
    rt: &Runtime,
    session: &Session,
) -> Result<(u16, Value, bool), GatewayError> {
    let h = session.req_header();
    let caller = crate::lifecycle::auth::authenticate(&state.control, rt, h)?;
    let admin = match &caller {
        Caller::Open | Caller::Master => true,
        Caller::Key(k) => k
            .user_id
            .as_deref()
            .and_then(|u| state.control.get(Kind::User, u))
            .is_some_and(|u| {
                matches!(
                    u.role.as_deref(),
                    Some("proxy_admin" | "proxy_admin_viewer")
                )
            }),
    };
    let query: Vec<(String, String)> = h
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let (model, model_id) = (param("model"), param("model_id"));
    let visible: Vec<&String> = crate::admin::model_groups::visible(
        &state.control,
        rt,
        if admin {
            None
        } else {
            caller.key().map(|k| &**k)
        },
    );
    let wanted = |id: &str, group: &str, litellm_model: &str| {
        visible.iter().any(|g| g.as_str() == group)
            && model_id.as_deref().is_none_or(|m| m == id)
            && model
                .as_deref()
                .is_none_or(|m| m == group || m == litellm_model)
    };
    let all = deployments(rt);
    if let Some(id) = &model_id {
        if !all
            .iter()
            .any(|d| &d.conf.id == id && visible.contains(&&d.conf.model_name))
        {
            return Err(GatewayError::NotFound {
                method: "GET".into(),
                path: format!("/health?model_id={id} (no such deployment)"),
            });
        }
    }
    let outcomes: Vec<Outcome> = if rt.config.general.background_health_checks {
        latest()
            .map(|l| {
                l.iter()
                    .filter(|o| wanted(&o.id, &o.group, o.entry["model"].as_str().unwrap_or("")))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    } else {
        let deps: Vec<Arc<DeploymentRt>> = all
            .into_iter()
            .filter(|d| wanted(&d.conf.id, &d.conf.model_name, &d.conf.litellm_model()))
            .collect();
        run(&state.connector, rt, deps).await
    };
    let refs: Vec<&Outcome> = outcomes.iter().collect();
    let body = answer(&refs, rt.config.general.health_check_details, admin);
    // A check of one model or deployment that found nothing healthy is a 503, so monitors can
    // rely on the status (LiteLLM does the same).
    let targeted = model.is_some() || model_id.is_some();
    let status = if targeted && !outcomes.iter().any(|o| o.healthy) {
        503
    } else {
        200
    };
    Ok((status, body, admin))
}

/// Background service: with `background_health_checks`, checks every deployment, then waits
/// `health_check_interval` (one run at a time; stops at shutdown).
pub struct HealthChecker {
    pub state: Arc<AppState>,
}

#[async_trait]
impl BackgroundService for HealthChecker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let general = self.state.runtime().config.general.clone();
        if !general.background_health_checks {
            return;
        }
        let interval = general.health_check_interval.max(Duration::from_secs(1));
        log::info!(
            "health: checking every deployment in the background every {:.0}s",
            interval.as_secs_f64()
        );
        let connector = Connector::new(None);
        loop {
            let rt = self.state.runtime();
            let outcomes = tokio::select! {
                o = run(&connector, &rt, deployments(&rt)) => o,
                _ = shutdown.changed() => return,
            };
            report_changes(latest().as_deref(), &outcomes);
            *LATEST.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(outcomes));
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Logs deployments that turned unhealthy (warn) or healthy again (info).
fn report_changes(before: Option<&Vec<Outcome>>, now: &[Outcome]) {
    for o in now {
        let was = before
            .and_then(|b| b.iter().find(|p| p.id == o.id))
            .map(|p| p.healthy);
        match (was, o.healthy) {
            (Some(true) | None, false) => log::warn!(
                "health: deployment {} of model group {} is unhealthy: {}",
                o.id,
                o.group,
                o.entry.get("error").and_then(Value::as_str).unwrap_or("")
            ),
            (Some(false), true) => log::info!(
                "health: deployment {} of model group {} is healthy again",
                o.id,
                o.group
            ),
            _ => {}
        }
    }
}
