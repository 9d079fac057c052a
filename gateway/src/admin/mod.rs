//! The LiteLLM management API: keys, teams, users, organizations, end users, budgets and spend
//! reports. Each request is authenticated (master key or a `proxy_admin` user's key), its JSON
//! body or query read, and answered with LiteLLM's field names and shapes; errors are
//! OpenAI-shaped. Handlers live in one file per resource (keys and teams keep their helpers in a
//! folder of the same name); `fields.rs` validates request fields for all of them, `util.rs`
//! holds the request, errors and shared document helpers; this file is the route table.

pub mod budgets;
pub mod customers;
mod fields;
pub mod keys;
pub mod orgs;
pub mod spend;
pub mod teams;
pub mod users;
mod util;

use std::sync::Arc;

use pingora::proxy::Session;
use serde_json::Value;

use crate::control::enforce::Caller;
use crate::ctx::RequestCtx;
use crate::error::{respond_error, GatewayError};
use crate::state::AppState;

pub use util::{AdminError, Req};

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
    ];
    PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Serves one management request completely.
pub async fn serve(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx) {
    let runtime = state.runtime();
    let control = state.control.clone();
    let result = async {
        let caller = crate::control::enforce::authenticate(&control, &runtime, session.req_header())?;
        if !caller.is_admin(&control) {
            return Err(AdminError::from(GatewayError::Forbidden(
                "Only proxy admins (the master key or a proxy_admin user's key) can call the management API".into(),
            )));
        }
        let req = Req::read(session, &runtime).await?;
        // Management writes run one at a time on this replica, so that the checks they make
        // (alias taken, already a member, budget exists) and the read-modify-write of a
        // document cannot interleave with another write.
        let _write = if is_read(&req) {
            None
        } else {
            Some(util::write_lock().await)
        };
        let out: Value = route(state, &caller, &req).await?;
        Ok::<Value, AdminError>(out)
    }
    .await;
    match result {
        Ok(body) => {
            ctx.status = 200;
            if let Err(e) = util::reply(session, 200, &body).await {
                ctx.failure = Some(format!("client went away: {e}"));
            }
        }
        Err(e) => {
            let err = e.to_api_error();
            ctx.failure = Some(err.message.clone());
            ctx.status = respond_error(session, &err, &ctx.call_id, false, Vec::new()).await;
        }
    }
}

/// Reads (`GET`, and the `POST …/info` forms) need no write lock.
fn is_read(req: &Req) -> bool {
    req.method == "GET" || req.path.ends_with("/info")
}

async fn route(state: &Arc<AppState>, caller: &Caller, req: &Req) -> Result<Value, AdminError> {
    let c = &state.control;
    let path = req.path.as_str();
    let m = req.method.as_str();
    match (m, path) {
        ("POST", "/key/generate") => keys::generate(c, caller, req).await,
        ("POST", "/key/update") => keys::update(c, req).await,
        ("GET", "/key/info") => keys::info(c, caller, req).await,
        ("GET", "/key/list") => keys::list(c, req).await,
        ("POST", "/key/delete") => keys::delete(c, req).await,
        ("POST", "/key/block") => keys::block(c, req, true).await,
        ("POST", "/key/unblock") => keys::block(c, req, false).await,
        ("POST", "/key/regenerate") => keys::regenerate(c, req, None).await,
        ("POST", p) if p.starts_with("/key/") && p.ends_with("/regenerate") => {
            let old = &p["/key/".len()..p.len() - "/regenerate".len()];
            keys::regenerate(c, req, Some(old)).await
        }
        ("POST", "/team/new") => teams::new(c, req).await,
        ("POST", "/team/update") => teams::update(c, req).await,
        ("GET", "/team/info") => teams::info(c, req).await,
        ("GET", "/team/list") => teams::list(c, req).await,
        ("POST", "/team/delete") => teams::delete(c, req).await,
        ("POST", "/team/member_add") => teams::member_add(c, req).await,
        ("POST", "/team/member_delete") => teams::member_delete(c, req).await,
        ("POST", "/team/member_update") => teams::member_update(c, req).await,
        ("POST", "/team/block") => teams::block(c, req, true).await,
        ("POST", "/team/unblock") => teams::block(c, req, false).await,
        ("POST", "/user/new") => users::new(c, req).await,
        ("GET", "/user/info") => users::info(c, req).await,
        ("POST", "/user/update") => users::update(c, req).await,
        ("POST", "/user/delete") => users::delete(c, req).await,
        ("GET", "/user/list") => users::list(c, req).await,
        ("POST", "/organization/new") => orgs::new(c, req).await,
        ("GET", "/organization/info") => orgs::info(c, req).await,
        ("POST", "/organization/info") => orgs::info(c, req).await,
        ("PATCH", "/organization/update") => orgs::update(c, req).await,
        ("POST", "/organization/update") => orgs::update(c, req).await,
        ("DELETE", "/organization/delete") => orgs::delete(c, req).await,
        ("POST", "/organization/delete") => orgs::delete(c, req).await,
        ("GET", "/organization/list") => orgs::list(c, req).await,
        ("POST", "/customer/new") | ("POST", "/end_user/new") => customers::new(c, req).await,
        ("GET", "/customer/info") | ("GET", "/end_user/info") => customers::info(c, req).await,
        ("POST", "/customer/update") | ("POST", "/end_user/update") => {
            customers::update(c, req).await
        }
        ("POST", "/customer/delete") | ("POST", "/end_user/delete") => {
            customers::delete(c, req).await
        }
        ("GET", "/customer/list") | ("GET", "/end_user/list") => customers::list(c, req).await,
        ("POST", "/customer/block") | ("POST", "/end_user/block") => {
            customers::block(c, req, true).await
        }
        ("POST", "/customer/unblock") | ("POST", "/end_user/unblock") => {
            customers::block(c, req, false).await
        }
        ("POST", "/budget/new") => budgets::new(c, req).await,
        ("POST", "/budget/info") | ("GET", "/budget/info") => budgets::info(c, req).await,
        ("POST", "/budget/update") => budgets::update(c, req).await,
        ("POST", "/budget/delete") => budgets::delete(c, req).await,
        ("GET", "/budget/list") => budgets::list(c, req).await,
        ("GET", "/spend/logs") => spend::logs(c, req).await,
        ("GET", "/global/spend") => spend::global(c, req).await,
        ("GET", "/global/spend/report") => spend::report(c, req).await,
        _ => Err(AdminError::from(GatewayError::NotFound {
            method: m.to_string(),
            path: path.to_string(),
        })),
    }
}
