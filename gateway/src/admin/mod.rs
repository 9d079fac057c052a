//! The LiteLLM management API: keys, teams, users, organizations, end users, budgets, spend
//! reports and model group info. Each request is authenticated, admitted by the caller's role
//! (`access.rs`: proxy admins everything, internal users their own keys, every key its own
//! key, user and team), its JSON body or query read (`request.rs`) and checked against the
//! route's known fields (`spec.rs`, the route table: unknown fields are a 400 naming them), and
//! answered with LiteLLM's field names and shapes; errors are OpenAI-shaped (`error.rs`).
//!
//! This file is the dispatch. The folder is flat: one file per resource (`keys`, `teams`,
//! `team_members`, `users`, `orgs`, `org_members`, `customers`, `budgets`, `spend`,
//! `model_groups`, `models`, `config`; the admin UI's reads: `usage` (daily tables), `logs`,
//! `deployments`), which never import each other, and the shared modules they use: `log_rows`
//! (spend-log answers), `request`
//! (reading a request), `validate` (field values and references), `documents` (stored
//! documents), `responses` (what routes answer with), `entity_ops` and `membership_ops` (what
//! one resource needs of another's entities), `access` and `key_scope` (who may do what),
//! `key_fields` and `key_secrets` (key documents and secrets), `error`. A test
//! (`gateway/tests/module_cycles/`) keeps it that way.

mod access;
mod budgets;
mod config;
mod customers;
mod deployments;
mod documents;
mod entity_ops;
mod error;
mod key_fields;
mod key_list;
mod key_scope;
mod key_secrets;
mod keys;
mod log_rows;
mod logs;
mod membership_ops;
pub mod model_groups;
mod models;
mod org_members;
mod orgs;
mod request;
mod responses;
mod route_fields;
pub mod spec;
mod spend;
mod team_members;
mod teams;
mod usage;
mod users;
mod validate;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::Value;

use self::access::Who;
use self::error::AdminError;
use self::request::Req;
use self::spec::{RouteId, RouteSpec};
use crate::ctx::RequestCtx;
use crate::error::GatewayError;
use crate::reply::{self, respond, Served};
use crate::state::AppState;

/// Whether `path` (without query) is a management route; used by the route table.
pub fn is_admin_path(path: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "/key/",
        "/team/",
        "/user/",
        "/organization/",
        "/customer/",
        "/end_user/",
        "/budget/",
        "/spend/",
        "/global/spend",
        "/model_group/",
        "/model/",
        "/v1/model/",
        "/v2/model/",
        "/config/",
        "/tag/",
        "/tollgate/",
    ];
    PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Serves one management request completely.
pub async fn serve(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx) {
    let runtime = state.runtime();
    let control = state.control.clone();
    let result = async {
        let caller = crate::lifecycle::auth::authenticate_management(
            &state.sessions,
            &control,
            &runtime,
            session.req_header(),
        )?;
        let method = session.req_header().method.as_str().to_string();
        let path = session
            .req_header()
            .uri
            .path()
            .trim_end_matches('/')
            .to_string();
        // `/end_user/*` is LiteLLM's older name of `/customer/*`; `/v1/model/info` is
        // `/model/info`.
        let canonical = match path.strip_prefix("/end_user/") {
            Some(rest) => format!("/customer/{rest}"),
            None if path == "/v1/model/info" => "/model/info".to_string(),
            None => path.clone(),
        };
        let spec = match spec::find(&method, &canonical) {
            Ok(spec) => spec,
            Err(known) => {
                return Err(AdminError::from(if known {
                    GatewayError::MethodNotAllowed { method, path }
                } else {
                    GatewayError::NotFound { method, path }
                }))
            }
        };
        let who = Who::of(&control, caller);
        access::admit(&control, &who, spec.access, spec.reads(), &path)?;
        let req = Req::read(session, &runtime).await?;
        spec.check(&req)?;
        // Management writes run one at a time on this replica, so that the checks they make
        // (alias taken, already a member, budget exists) and the read-modify-write of a
        // document cannot interleave with another write.
        let _write = if spec.reads() {
            None
        } else {
            Some(write_lock().await)
        };
        if spec.id == RouteId::TollgateUsage && req.string("format")?.as_deref() == Some("csv") {
            let report = usage::report(&state.control, &who, &req).await?;
            return Ok(Answer::Csv(report.to_csv()));
        }
        route(state, &who, spec, &req).await.map(Answer::Json)
    }
    .await;
    match result {
        Ok(Answer::Json(body)) => {
            ctx.status = 200;
            if let Err(e) = reply(session, 200, &body).await {
                ctx.failure = Some(format!("client went away: {e}"));
            }
        }
        Ok(Answer::Csv(text)) => {
            ctx.status = 200;
            let disposition = http::HeaderValue::from_static("attachment; filename=\"usage.csv\"");
            if let Err(e) = respond(
                session,
                200,
                "text/csv; charset=utf-8",
                Bytes::from(text),
                "",
                &[("content-disposition", disposition)],
            )
            .await
            {
                ctx.failure = Some(format!("client went away: {e}"));
            }
        }
        Err(e) => {
            reply::api_error(session, ctx, &e.to_api_error(), Served::Route).await;
        }
    }
}

async fn route(
    state: &Arc<AppState>,
    who: &Who,
    spec: &RouteSpec,
    req: &Req,
) -> Result<Value, AdminError> {
    let c = &state.control;
    let rt = state.runtime();
    let rt = &*rt;
    use RouteId::*;
    match spec.id {
        KeyGenerate => keys::generate(c, rt, who, req).await,
        KeyUpdate => keys::update(c, rt, who, req).await,
        KeyInfo => keys::info(c, who, req).await,
        KeyList => key_list::list(c, who, req).await,
        KeyDelete => keys::delete(c, who, req).await,
        KeyBlock => keys::block(c, req, true).await,
        KeyUnblock => keys::block(c, req, false).await,
        KeyRegenerate => keys::regenerate(c, rt, who, req, None).await,
        KeyRegenerateByPath => {
            let p = req.path.as_str();
            let old = &p["/key/".len()..p.len() - "/regenerate".len()];
            keys::regenerate(c, rt, who, req, Some(old)).await
        }
        TeamNew => teams::new(c, who, req).await,
        TeamUpdate => teams::update(c, req).await,
        TeamInfo => teams::info(c, who, req).await,
        TeamList => teams::list(c, req).await,
        TeamDelete => teams::delete(c, req).await,
        TeamMemberAdd => team_members::member_add(c, req).await,
        TeamMemberDelete => team_members::member_delete(c, req).await,
        TeamMemberUpdate => team_members::member_update(c, req).await,
        TeamBlock => teams::block(c, req, true).await,
        TeamUnblock => teams::block(c, req, false).await,
        UserNew => users::new(c, req).await,
        UserInfo => users::info(c, who, req).await,
        UserUpdate => users::update(c, req).await,
        UserDelete => users::delete(c, req).await,
        UserList => users::list(c, req).await,
        OrgNew => orgs::new(c, req).await,
        OrgInfo => orgs::info(c, req).await,
        OrgUpdate => orgs::update(c, req).await,
        OrgDelete => orgs::delete(c, req).await,
        OrgList => orgs::list(c, req).await,
        OrgMemberAdd => org_members::add(c, req).await,
        OrgMemberUpdate => org_members::update(c, req).await,
        OrgMemberDelete => org_members::delete(c, req).await,
        CustomerNew => customers::new(c, req).await,
        CustomerInfo => customers::info(c, req).await,
        CustomerUpdate => customers::update(c, req).await,
        CustomerDelete => customers::delete(c, req).await,
        CustomerList => customers::list(c, req).await,
        CustomerBlock => customers::block(c, req, true).await,
        CustomerUnblock => customers::block(c, req, false).await,
        BudgetNew => budgets::new(c, req).await,
        BudgetInfo => budgets::info(c, req).await,
        BudgetUpdate => budgets::update(c, req).await,
        BudgetDelete => budgets::delete(c, req).await,
        BudgetList => budgets::list(c, req).await,
        SpendLogs => spend::logs(c, req).await,
        GlobalSpend => spend::global(c, req).await,
        GlobalSpendReport => spend::report(c, req).await,
        ModelGroupInfo => model_groups::info(c, rt, who, req),
        ModelNew => models::new(state, who, req).await,
        ModelUpdate => models::update(state, who, req, None).await,
        ModelPatch => {
            let p = req.path.as_str();
            let id = &p["/model/".len()..p.len() - "/update".len()];
            models::update(state, who, req, Some(id)).await
        }
        ModelDelete => models::delete(state, req).await,
        ModelInfo => models::info(state, rt, who, req),
        ModelInfoV2 => models::info_v2(state, rt, who, req),
        ConfigReload => config::reload(state).await,
        UserDailyActivity => usage::activity(c, who, req, usage::Activity::User, false).await,
        UserDailyActivityAggregated => {
            usage::activity(c, who, req, usage::Activity::User, true).await
        }
        TeamDailyActivity => usage::activity(c, who, req, usage::Activity::Team, false).await,
        TeamDailyActivityAggregated => {
            usage::activity(c, who, req, usage::Activity::Team, true).await
        }
        TagDailyActivity => usage::activity(c, who, req, usage::Activity::Tag, false).await,
        TagDailyActivityAggregated => {
            usage::activity(c, who, req, usage::Activity::Tag, true).await
        }
        TollgateUsage => Ok(usage::report(c, who, req).await?.to_json()),
        TollgateLogs => logs::list(c, who, req).await,
        TollgateLog => logs::one(c, who, req).await,
        TollgateDeployments => Ok(deployments::list(rt)),
        TollgateConfig => Ok(deployments::config(rt)),
    }
}

/// A management route's answer.
enum Answer {
    Json(Value),
    /// `text/csv` (`/tollgate/usage?format=csv`).
    Csv(String),
}

/// What the admin UI shows a logged-in caller: everything, or one key's own view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiRole {
    Admin,
    Key,
}

/// The UI role of a caller: admin for the master key, no master key, or a `proxy_admin` user's
/// key; otherwise the key's own view.
pub fn role_of(c: &crate::control::Control, caller: crate::control::enforce::Caller) -> UiRole {
    let who = Who::of(c, caller);
    if matches!(who.role, access::Role::Admin | access::Role::Viewer) {
        UiRole::Admin
    } else {
        UiRole::Key
    }
}

/// Writes a JSON reply.
async fn reply(session: &mut Session, status: u16, body: &Value) -> pingora::Result<()> {
    let bytes = Bytes::from(serde_json::to_vec(body).expect("serializing JSON values cannot fail"));
    respond(session, status, "application/json", bytes, "", &[]).await
}

/// Management writes run one at a time on this replica, so that checks (alias taken, already a
/// member) and the writes they guard cannot interleave.
async fn write_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
        .lock()
        .await
}
