//! What the gateway says about itself: `GET /` and `GET /routes` (every route, from the route
//! tables), `GET /openapi.json` (`openapi.rs`) and `GET /docs`, a small page embedded in the
//! binary that renders the OpenAPI document (no CDN, no external script). None needs a key, as
//! in LiteLLM, which serves `/routes`, `/openapi.json` and its docs page publicly.

mod openapi;

use std::sync::OnceLock;

use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::{json, Value};

use crate::admin::spec::{self, Access};
use crate::ctx::RequestCtx;
use crate::reply::respond;
use crate::routes::table::{Auth, SERVED};
use crate::state::AppState;

/// The docs page.
const PAGE: &str = include_str!("page.html");

/// Every route: method(s), path, summary and who may call it.
pub fn routes() -> Value {
    let mut out: Vec<Value> = SERVED
        .iter()
        .map(|s| {
            let path = s.listed_path();
            json!({
                "path": path,
                "methods": [s.method],
                "name": name(&path),
                "summary": s.summary,
                "auth": match s.auth {
                    Auth::None => "none",
                    Auth::Key => "key",
                },
            })
        })
        .collect();
    out.extend(spec::all().iter().map(|r| {
        json!({
            "path": r.path,
            "methods": r.methods,
            "name": name(r.path),
            "summary": r.summary,
            "auth": match r.access {
                Access::Admin => "admin",
                Access::InternalUser => "internal_user",
                Access::Own | Access::AnyKey => "key",
            },
        })
    }));
    json!({ "routes": out })
}

/// A route's name as LiteLLM's `/routes` gives it (its handler's): the path as snake case.
fn name(path: &str) -> String {
    let n: String = path
        .trim_start_matches("/v1")
        .trim_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if n.is_empty() {
        "home".into()
    } else {
        n
    }
}

fn cached(cell: &'static OnceLock<Bytes>, build: impl FnOnce() -> Value) -> Bytes {
    cell.get_or_init(|| {
        Bytes::from(serde_json::to_vec(&build()).expect("serializing JSON values cannot fail"))
    })
    .clone()
}

/// `GET /`: the gateway's name, version and routes.
pub async fn root(session: &mut Session, ctx: &mut RequestCtx) -> pingora::Result<()> {
    static BODY: OnceLock<Bytes> = OnceLock::new();
    let body = cached(&BODY, || {
        let mut v = routes();
        v["name"] = json!("tollgate");
        v["version"] = json!(env!("CARGO_PKG_VERSION"));
        v["status"] = json!("running");
        v["docs"] = json!("/docs");
        v["openapi"] = json!("/openapi.json");
        v
    });
    ctx.status = 200;
    respond(session, 200, "application/json", body, "", &[]).await
}

/// `GET /routes`: the built-in routes (made once) and the config's custom pass-through routes
/// (the running config's: a reload changes them).
pub async fn route_list(
    state: &AppState,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> pingora::Result<()> {
    static BODY: OnceLock<Bytes> = OnceLock::new();
    let runtime = state.runtime();
    let body = if runtime.custom_routes.is_empty() {
        cached(&BODY, routes)
    } else {
        let mut v = routes();
        if let Some(list) = v["routes"].as_array_mut() {
            list.extend(runtime.custom_routes.iter().map(|r| custom_route(&r.conf)));
        }
        Bytes::from(serde_json::to_vec(&v).expect("serializing JSON values cannot fail"))
    };
    ctx.status = 200;
    respond(session, 200, "application/json", body, "", &[]).await
}

/// `GET /openapi.json`: the built-in routes (made once) and the running config's custom
/// pass-through routes.
pub async fn openapi(
    state: &AppState,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> pingora::Result<()> {
    static BODY: OnceLock<Bytes> = OnceLock::new();
    let runtime = state.runtime();
    let body = if runtime.custom_routes.is_empty() {
        cached(&BODY, || openapi::document(SERVED))
    } else {
        let mut doc = openapi::document(SERVED);
        for r in &runtime.custom_routes {
            openapi::add_custom(&mut doc, &r.conf);
        }
        Bytes::from(serde_json::to_vec(&doc).expect("serializing JSON values cannot fail"))
    };
    ctx.status = 200;
    respond(session, 200, "application/json", body, "", &[]).await
}

/// The methods a custom route serves (all, when its config names none).
fn custom_methods(conf: &conf::PassThroughEndpoint) -> Vec<String> {
    if conf.methods.is_empty() {
        ["GET", "POST", "PUT", "PATCH", "DELETE"]
            .map(String::from)
            .to_vec()
    } else {
        conf.methods.clone()
    }
}

/// A custom pass-through route as `/routes` lists it (its target is not shown: its URL may
/// carry a credential).
fn custom_route(conf: &conf::PassThroughEndpoint) -> Value {
    let path = if conf.include_subpath {
        format!("{}/{{subpath}}", conf.path)
    } else {
        conf.path.clone()
    };
    json!({
        "path": path,
        "methods": custom_methods(conf),
        "name": name(&conf.path),
        "summary": custom_summary(conf),
        "auth": if conf.auth { "key" } else { "none" },
    })
}

fn custom_summary(conf: &conf::PassThroughEndpoint) -> String {
    format!(
        "Custom pass-through route (general_settings.pass_through_endpoints){}",
        if conf.include_subpath {
            ": the path and every path below it"
        } else {
            ""
        }
    )
}

/// `GET /docs`.
pub async fn docs(session: &mut Session, ctx: &mut RequestCtx) -> pingora::Result<()> {
    ctx.status = 200;
    let csp = http::HeaderValue::from_static(
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
    );
    respond(
        session,
        200,
        "text/html; charset=utf-8",
        Bytes::from_static(PAGE.as_bytes()),
        "",
        &[("content-security-policy", csp)],
    )
    .await
}
