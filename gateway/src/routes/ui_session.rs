//! `POST /ui/login`, `GET /ui/session`, `POST /ui/logout`: the admin UI's login session
//! (the table and the cookie check are `crate::sessions`; shapes in docs/ui-api.md).

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderValue;
use pingora::proxy::Session;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::control::enforce::Caller;
use crate::ctx::RequestCtx;
use crate::error::GatewayError;
use crate::reply::{self, respond, Served};
use crate::sessions::{self, SessionInfo};
use crate::state::AppState;

/// Which session route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Login,
    Logout,
    Current,
}

/// The largest login body read.
const MAX_LOGIN_BODY: usize = 4096;

/// Serves one session route completely.
pub async fn serve(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx, op: Op) {
    let secure = is_tls(session);
    let result = match op {
        Op::Login => login(state, session, secure).await,
        Op::Current => current(state, session),
        Op::Logout => logout(state, session, secure),
    };
    match result {
        Ok((body, cookie)) => {
            ctx.status = 200;
            let mut extra = Vec::new();
            if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
                extra.push(("set-cookie", c));
            }
            extra.push(("cache-control", HeaderValue::from_static("no-store")));
            let bytes = Bytes::from(body.to_string());
            if let Err(e) = respond(session, 200, "application/json", bytes, "", &extra).await {
                ctx.failure = Some(format!("client went away: {e}"));
            }
        }
        Err(e) => reply::fail(session, ctx, e, Served::Route).await,
    }
}

type Answer = Result<(Value, Option<String>), GatewayError>;

/// Whether the request came over TLS (here, or to a front that says so).
fn is_tls(session: &Session) -> bool {
    let here = session.digest().is_some_and(|d| d.ssl_digest.is_some());
    let front = session
        .req_header()
        .headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    here || front
}

/// The login/session body.
fn describe(state: &AppState, caller: &Caller, s: &SessionInfo) -> Value {
    let who = crate::admin::role_of(&state.control, caller.clone());
    let key = match (&who, caller) {
        (crate::admin::UiRole::Key, Caller::Key(k)) => json!({
            "token": k.id,
            "team_id": k.team_id,
            "user_id": k.user_id,
        }),
        _ => Value::Null,
    };
    json!({
        "role": match who { crate::admin::UiRole::Admin => "admin", crate::admin::UiRole::Key => "key" },
        "csrf_token": s.csrf_token,
        "expires_at": crate::control::period::iso(s.expires_ms),
        "expires_at_ms": s.expires_ms,
        "key": key,
    })
}

async fn login(state: &Arc<AppState>, session: &mut Session, secure: bool) -> Answer {
    if session
        .req_header()
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| !t.trim_start().starts_with("application/json"))
    {
        // A form post from another site cannot set this content type without a preflight.
        return Err(bad("send the login as Content-Type: application/json"));
    }
    let raw = crate::lifecycle::admit::read_body(session, MAX_LOGIN_BODY).await?;
    let body: Value = serde_json::from_slice(&raw)
        .map_err(|_| bad("the login body must be JSON: {\"key\": \"sk-…\"}"))?;
    let key = body
        .get("key")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| bad("`key` (the master key or a virtual key) is required"))?;
    let runtime = state.runtime();
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let caller = crate::lifecycle::auth::caller_by_digest(&state.control, &runtime, &digest)?;
    let settings = &runtime.config.tollgate;
    let ttl_ms = i64::try_from(settings.ui_session_ttl.as_millis()).unwrap_or(i64::MAX);
    let max = usize::try_from(settings.ui_max_sessions).unwrap_or(usize::MAX);
    let (id, info) = state.sessions.open(digest, ttl_ms, max);
    let cookie = sessions::set_cookie(&id, ttl_ms / 1000, secure);
    match &caller {
        Caller::Key(k) => log::info!("admin UI login with key {}…", &k.id[..k.id.len().min(8)]),
        _ => log::info!("admin UI login with the master key"),
    }
    Ok((describe(state, &caller, &info), Some(cookie)))
}

fn current(state: &Arc<AppState>, session: &Session) -> Answer {
    let req = session.req_header();
    let id = sessions::cookie_id(req).ok_or(GatewayError::MissingKey)?;
    let info = state.sessions.find(id).ok_or_else(|| {
        GatewayError::Denied(
            "Authentication Error - session expired or unknown; log in again".into(),
        )
    })?;
    let runtime = state.runtime();
    let caller =
        crate::lifecycle::auth::caller_by_digest(&state.control, &runtime, &info.key_digest)
            .inspect_err(|_| state.sessions.close(id))?;
    Ok((describe(state, &caller, &info), None))
}

fn logout(state: &Arc<AppState>, session: &Session, secure: bool) -> Answer {
    let req = session.req_header();
    if let Some(id) = sessions::cookie_id(req) {
        if let Some(info) = state.sessions.find(id) {
            let given = req
                .headers
                .get(sessions::CSRF_HEADER)
                .map(|v| v.as_bytes())
                .unwrap_or_default();
            if !bool::from(subtle::ConstantTimeEq::ct_eq(
                given,
                info.csrf_token.as_bytes(),
            )) {
                return Err(GatewayError::Forbidden(
                    "CSRF token missing or wrong: send the session's csrf_token in x-csrf-token"
                        .into(),
                ));
            }
            state.sessions.close(id);
        }
    }
    Ok((
        json!({"ok": true}),
        Some(sessions::set_cookie("", 0, secure)),
    ))
}

fn bad(message: &str) -> GatewayError {
    GatewayError::Invalid(
        adapters::ApiError::new(400, "invalid_request_error", message).with_code("400"),
    )
}
