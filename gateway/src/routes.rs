//! The route table: which handler serves a method + path, and the small non-LLM handlers
//! (model list, health). LLM routes go to the lifecycle.

use std::sync::Arc;

use adapters::Endpoint;
use bytes::Bytes;
use pingora::proxy::Session;

use crate::ctx::RequestCtx;
use crate::error::{respond, respond_error, GatewayError};
use crate::lifecycle;
use crate::state::AppState;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Llm(Endpoint),
    /// Anthropic Messages front door.
    Messages,
    /// Anthropic `count_tokens`.
    CountTokens,
    Models,
    Liveness,
    Readiness,
    /// Prometheus exposition (`/metrics`).
    Metrics,
    /// The LiteLLM management API (`/key/*`, `/team/*`, `/spend/*`, …).
    Admin,
    /// A known path with the wrong method.
    WrongMethod,
    NotFound,
}

/// Classifies a request by method and path; `/v1` is optional on every OpenAI route.
pub fn classify(method: &str, path: &str) -> Route {
    let trimmed = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let openai = trimmed
        .strip_prefix("/v1")
        .filter(|p| p.starts_with('/'))
        .unwrap_or(trimmed);
    let (route, want) = match openai {
        "/chat/completions" => (Route::Llm(Endpoint::ChatCompletions), "POST"),
        "/completions" => (Route::Llm(Endpoint::Completions), "POST"),
        "/embeddings" => (Route::Llm(Endpoint::Embeddings), "POST"),
        "/messages" => (Route::Messages, "POST"),
        "/messages/count_tokens" => (Route::CountTokens, "POST"),
        "/models" => (Route::Models, "GET"),
        _ => match trimmed {
            "/health/liveliness" | "/health/liveness" => (Route::Liveness, "GET"),
            "/health/readiness" => (Route::Readiness, "GET"),
            "/metrics" => (Route::Metrics, "GET"),
            p if crate::admin::is_admin_path(p) => return Route::Admin,
            _ => return Route::NotFound,
        },
    };
    if method == want {
        route
    } else {
        Route::WrongMethod
    }
}

/// Serves one request completely.
pub async fn dispatch(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx) {
    let method = session.req_header().method.as_str().to_string();
    let path = session.req_header().uri.path().to_string();
    let route = classify(&method, &path);
    let result = match route {
        Route::Llm(endpoint) => {
            lifecycle::serve(state, session, ctx, endpoint).await;
            return;
        }
        Route::Messages => {
            lifecycle::messages::serve(state, session, ctx).await;
            return;
        }
        Route::CountTokens => {
            lifecycle::messages::count_tokens(state, session, ctx).await;
            return;
        }
        Route::Admin => {
            crate::admin::serve(state, session, ctx).await;
            return;
        }
        Route::Models => models(state, session, ctx).await,
        Route::Liveness => {
            ctx.status = 200;
            respond(
                session,
                200,
                "application/json",
                Bytes::from_static(b"\"I'm alive!\""),
                "",
                &[],
            )
            .await
        }
        Route::Readiness => readiness(state, session, ctx).await,
        Route::Metrics => {
            ctx.status = 200;
            let body = Bytes::from(crate::metrics::render());
            respond(session, 200, "text/plain; version=0.0.4", body, "", &[]).await
        }
        Route::WrongMethod => {
            error(
                session,
                ctx,
                GatewayError::MethodNotAllowed { method, path },
            )
            .await;
            Ok(())
        }
        Route::NotFound => {
            error(session, ctx, GatewayError::NotFound { method, path }).await;
            Ok(())
        }
    };
    if let Err(e) = result {
        ctx.failure = Some(format!("client went away: {e}"));
    }
}

async fn error(session: &mut Session, ctx: &mut RequestCtx, e: GatewayError) {
    ctx.status = respond_error(
        session,
        &e.to_api_error(),
        &ctx.call_id,
        ctx.front.anthropic(),
        Vec::new(),
    )
    .await;
}

async fn models(
    state: &Arc<AppState>,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> pingora::Result<()> {
    let runtime = state.runtime();
    let caller = match lifecycle::auth::authenticate(state, &runtime, session.req_header()) {
        Ok(c) => c,
        Err(e) => {
            error(session, ctx, e).await;
            return Ok(());
        }
    };
    // A key limited to some models sees only those (and its team's limits apply too).
    let lists: Vec<Vec<String>> = caller
        .key()
        .map(|k| {
            let team = k
                .team_id
                .as_deref()
                .and_then(|t| state.control.get(crate::control::Kind::Team, t));
            [Some(k.models.clone()), team.map(|t| t.models.clone())]
                .into_iter()
                .flatten()
                .filter(|m| !m.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let body = if lists.is_empty() {
        runtime.models_body.clone()
    } else {
        crate::state::models_list(runtime.group_names.iter().filter(|g| {
            lists
                .iter()
                .all(|l| crate::control::enforce::allowed(l, g, &runtime))
        }))
    };
    ctx.status = 200;
    respond(session, 200, "application/json", body, "", &[]).await
}

async fn readiness(
    state: &AppState,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> pingora::Result<()> {
    let draining = crate::signals::draining();
    let (status, health) = if draining {
        (503, "draining")
    } else {
        (200, "healthy")
    };
    let body = serde_json::json!({
        "status": health,
        "db": "connected",
        "db_backend": state.control.store().backend(),
        "cache": null,
        "tollgate_version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
    });
    ctx.status = status;
    let body = Bytes::from(serde_json::to_vec(&body).expect("serializing JSON values cannot fail"));
    respond(session, status, "application/json", body, "", &[]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_prefix_is_optional_and_methods_are_checked() {
        for p in [
            "/v1/chat/completions",
            "/chat/completions",
            "/v1/chat/completions/",
        ] {
            assert_eq!(
                classify("POST", p),
                Route::Llm(Endpoint::ChatCompletions),
                "{p}"
            );
        }
        assert_eq!(
            classify("POST", "/completions"),
            Route::Llm(Endpoint::Completions)
        );
        assert_eq!(
            classify("POST", "/v1/embeddings"),
            Route::Llm(Endpoint::Embeddings)
        );
        assert_eq!(classify("GET", "/v1/models"), Route::Models);
        assert_eq!(classify("POST", "/v1/messages"), Route::Messages);
        assert_eq!(classify("POST", "/messages"), Route::Messages);
        assert_eq!(
            classify("POST", "/v1/messages/count_tokens"),
            Route::CountTokens
        );
        assert_eq!(classify("GET", "/models"), Route::Models);
        assert_eq!(classify("GET", "/v1/chat/completions"), Route::WrongMethod);
        assert_eq!(classify("GET", "/health/liveliness"), Route::Liveness);
        assert_eq!(classify("GET", "/health/liveness"), Route::Liveness);
        assert_eq!(classify("GET", "/health/readiness"), Route::Readiness);
        assert_eq!(classify("GET", "/metrics"), Route::Metrics);
        assert_eq!(classify("GET", "/v1/health/readiness"), Route::NotFound);
        assert_eq!(classify("POST", "/v1"), Route::NotFound);
        assert_eq!(classify("POST", "/v1x/chat/completions"), Route::NotFound);
    }
}
