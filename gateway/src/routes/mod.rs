//! Dispatch: the handler for each route of the table (`table.rs`: which route a method + path
//! is, `SERVED`, which `/routes` and `/openapi.json` list too; the management routes have
//! their own table, `admin::spec`), and the small non-LLM handlers (model list, readiness; stored responses in `responses.rs`).
//! LLM routes go to the lifecycle.

use std::sync::Arc;

use bytes::Bytes;
use pingora::proxy::Session;

use crate::ctx::RequestCtx;
use crate::error::GatewayError;
use crate::lifecycle;
use crate::lifecycle::front::Api;
use crate::reply::{self, respond, Served};
use crate::state::AppState;

pub mod cache;
pub mod responses;
pub mod shadow;
pub mod table;
pub mod ui;
pub mod ui_session;

use table::{classify, Route};

/// Serves one request completely.
pub async fn dispatch(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx) {
    let method = session.req_header().method.as_str().to_string();
    let path = session.req_header().uri.path().to_string();
    let route = classify(&method, &path);
    let result = match route {
        Route::Llm(endpoint) => {
            lifecycle::serve(state, session, ctx, Api::OpenAi(endpoint)).await;
            return;
        }
        Route::Deployment(endpoint) => {
            lifecycle::serve(state, session, ctx, Api::Deployment(endpoint)).await;
            return;
        }
        Route::Media(door) => {
            crate::media::serve(state, session, ctx, door).await;
            return;
        }
        Route::Messages => {
            lifecycle::serve(state, session, ctx, Api::Anthropic).await;
            return;
        }
        Route::CountTokens => {
            lifecycle::front::anthropic::count_tokens(state, session, ctx).await;
            return;
        }
        Route::Responses => {
            lifecycle::serve(state, session, ctx, Api::Responses).await;
            return;
        }
        Route::ResponseGet => {
            responses::get(state, session, ctx).await;
            return;
        }
        Route::ResponseDelete => {
            responses::delete(state, session, ctx).await;
            return;
        }
        Route::ResponseInputItems => {
            responses::input_items(state, session, ctx).await;
            return;
        }
        Route::Admin => {
            crate::admin::serve(state, session, ctx).await;
            return;
        }
        Route::PassThrough(provider) => {
            crate::passthrough::serve(state, session, ctx, provider).await;
            return;
        }
        Route::Files(op) => {
            crate::batches::serve(state, session, ctx, op).await;
            return;
        }
        Route::Cache(op) => {
            cache::serve(state, session, ctx, op).await;
            return;
        }
        Route::Ui => ui::serve(session, ctx, &path).await,
        Route::UiSession(op) => {
            ui_session::serve(state, session, ctx, op).await;
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
        Route::Health => {
            crate::health::serve(state, session, ctx).await;
            return;
        }
        Route::Root => crate::apidocs::root(session, ctx).await,
        Route::Listing => crate::apidocs::route_list(state, session, ctx).await,
        Route::OpenApi => crate::apidocs::openapi(state, session, ctx).await,
        Route::Docs => crate::apidocs::docs(session, ctx).await,
        Route::Metrics => metrics(state, session, ctx).await,
        Route::WrongMethod => {
            error(
                session,
                ctx,
                GatewayError::MethodNotAllowed { method, path },
            )
            .await;
            Ok(())
        }
        Route::NotFound if state.runtime().custom_route(&path).is_some() => {
            crate::passthrough::custom::serve(state, session, ctx).await;
            return;
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
    reply::fail(session, ctx, e, Served::Route).await;
}

/// `GET /metrics` (and `/metrics/`): the Prometheus exposition (`observe::expose`); with
/// `require_auth_for_metrics_endpoint`, only for the master key or a virtual key (as LiteLLM).
async fn metrics(
    state: &Arc<AppState>,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> pingora::Result<()> {
    let runtime = state.runtime();
    if runtime.config.metrics.require_auth {
        if let Err(e) =
            lifecycle::auth::authenticate(&state.control, &runtime, session.req_header())
        {
            error(session, ctx, e).await;
            return Ok(());
        }
    }
    // Rendered on the blocking pool: a large exposition never holds up the requests this
    // worker thread serves meanwhile.
    let rendering = state.clone();
    let body = tokio::task::spawn_blocking(move || {
        let mut text = crate::observe::expose::render(&rendering);
        crate::cache::store::render(&mut text);
        text
    })
    .await
    .unwrap_or_default();
    ctx.status = 200;
    let body = Bytes::from(body);
    respond(
        session,
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        body,
        "",
        &[],
    )
    .await
}

async fn models(
    state: &Arc<AppState>,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> pingora::Result<()> {
    let runtime = state.runtime();
    let caller = match lifecycle::auth::authenticate(&state.control, &runtime, session.req_header())
    {
        Ok(c) => c,
        Err(e) => {
            error(session, ctx, e).await;
            return Ok(());
        }
    };
    // A key limited to some models sees only those (and its team's limits apply too).
    // LiteLLM's `include_model_access_groups` adds the access groups those models carry,
    // `only_model_access_groups` lists only them.
    let flag = |name: &str| {
        session.req_header().uri.query().is_some_and(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .any(|(k, v)| k == name && v.eq_ignore_ascii_case("true"))
        })
    };
    let (only, include) = (
        flag("only_model_access_groups"),
        flag("include_model_access_groups"),
    );
    let restricted = caller.key().is_some_and(|k| {
        // A team may have models of its own (`model_info.team_id`).
        (k.team_id.is_some() && runtime.groups.values().any(|g| g.team_scoped))
            || !k.models.is_empty()
            || k.team_id
                .as_deref()
                .and_then(|t| state.control.get(crate::control::Kind::Team, t))
                .is_some_and(|t| !t.models.is_empty())
    });
    let body = if !restricted && !only && !include {
        runtime.models_body.clone()
    } else {
        let groups = crate::admin::model_groups::visible(
            &state.control,
            &runtime,
            caller.key().map(|k| &**k),
        );
        let mut names: Vec<String> = if only {
            Vec::new()
        } else {
            groups.iter().map(|g| g.to_string()).collect()
        };
        if only || include {
            names.extend(crate::admin::model_groups::access_groups(&runtime, &groups));
        }
        crate::runtime::models_list(names.iter())
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
    // LiteLLM's fields (`status`, `db`, `cache`, `litellm_version`, `success_callbacks`) and
    // Tollgate's own. `litellm_version` carries Tollgate's version: there is no LiteLLM inside.
    let body = serde_json::json!({
        "status": health,
        "db": "connected",
        "db_backend": state.control.store().backend(),
        "cache": null,
        "litellm_version": env!("CARGO_PKG_VERSION"),
        "success_callbacks": crate::observe::callback_names(),
        "callback_failures": crate::observe::callback_failures()
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>(),
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
    use adapters::Endpoint;

    #[test]
    fn custom_paths_that_shadow_a_built_in_route_are_named() {
        use super::shadow::shadowed;
        assert_eq!(shadowed("/bria", true), None);
        assert_eq!(shadowed("/v1/rerank-custom", false), None);
        assert!(shadowed("/chat/completions", false).is_some());
        assert!(shadowed("/v1/models", false).is_some());
        assert!(shadowed("/health/readiness", false).is_some());
        assert!(shadowed("/gemini", false).is_some());
        assert!(shadowed("/spend/logs", false).is_some());
        // Below it: only with include_subpath.
        assert_eq!(shadowed("/cache", false), None);
        assert!(shadowed("/cache", true).is_some());
        assert_eq!(shadowed("/responses-x", true), None);
    }

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
        assert_eq!(
            classify("POST", "/v1/images/generations"),
            Route::Llm(Endpoint::ImageGenerations)
        );
        assert_eq!(classify("GET", "/images/generations"), Route::WrongMethod);
        for p in ["/v1/rerank", "/rerank", "/v2/rerank"] {
            assert_eq!(classify("POST", p), Route::Llm(Endpoint::Rerank), "{p}");
        }
        assert_eq!(classify("POST", "/v2/v1/rerank"), Route::NotFound);
        for p in ["/v1/moderations", "/moderations"] {
            assert_eq!(
                classify("POST", p),
                Route::Llm(Endpoint::Moderations),
                "{p}"
            );
        }
        assert_eq!(classify("GET", "/v1/models"), Route::Models);
        assert_eq!(classify("POST", "/v1/messages"), Route::Messages);
        assert_eq!(classify("POST", "/messages"), Route::Messages);
        assert_eq!(
            classify("POST", "/v1/messages/count_tokens"),
            Route::CountTokens
        );
        assert_eq!(classify("GET", "/models"), Route::Models);
        assert_eq!(classify("POST", "/v1/responses"), Route::Responses);
        assert_eq!(classify("POST", "/responses/"), Route::Responses);
        assert_eq!(classify("GET", "/v1/responses/resp_1"), Route::ResponseGet);
        assert_eq!(
            classify("DELETE", "/responses/resp_1"),
            Route::ResponseDelete
        );
        assert_eq!(
            classify("GET", "/v1/responses/resp_1/input_items"),
            Route::ResponseInputItems
        );
        assert_eq!(classify("GET", "/v1/responses"), Route::WrongMethod);
        assert_eq!(classify("POST", "/v1/responses/resp_1"), Route::WrongMethod);
        assert_eq!(classify("GET", "/v1/responses/a/b"), Route::NotFound);
        assert_eq!(classify("GET", "/v1/chat/completions"), Route::WrongMethod);
        assert_eq!(classify("GET", "/health/liveliness"), Route::Liveness);
        assert_eq!(classify("GET", "/health/liveness"), Route::Liveness);
        assert_eq!(classify("GET", "/health/readiness"), Route::Readiness);
        assert_eq!(classify("GET", "/metrics"), Route::Metrics);
        assert_eq!(classify("GET", "/health"), Route::Health);
        assert_eq!(classify("GET", "/"), Route::Root);
        assert_eq!(classify("GET", "/routes"), Route::Listing);
        assert_eq!(classify("GET", "/openapi.json"), Route::OpenApi);
        assert_eq!(classify("GET", "/docs"), Route::Docs);
        assert_eq!(classify("GET", "/ui"), Route::Ui);
        assert_eq!(classify("GET", "/ui/"), Route::Ui);
        assert_eq!(classify("GET", "/ui/keys/abc"), Route::Ui);
        assert_eq!(classify("GET", "/uix"), Route::NotFound);
        // The session routes are never shadowed by the UI's deep links.
        assert_eq!(
            classify("POST", "/ui/login"),
            Route::UiSession(crate::routes::ui_session::Op::Login)
        );
        assert_eq!(
            classify("GET", "/ui/session"),
            Route::UiSession(crate::routes::ui_session::Op::Current)
        );
        assert_eq!(classify("GET", "/ui/login"), Route::WrongMethod);
        assert_eq!(classify("POST", "/health"), Route::WrongMethod);
        assert_eq!(classify("GET", "/model_group/info"), Route::Admin);
        assert_eq!(classify("GET", "/v1/health/readiness"), Route::NotFound);
        assert_eq!(classify("POST", "/v1"), Route::NotFound);
        assert_eq!(classify("POST", "/v1x/chat/completions"), Route::NotFound);
        for (p, e) in [
            (
                "/openai/deployments/gpt-4o/chat/completions",
                Endpoint::ChatCompletions,
            ),
            (
                "/openai/deployments/azure/gpt-4o/chat/completions",
                Endpoint::ChatCompletions,
            ),
            (
                "/openai/deployments/gpt-4o/completions",
                Endpoint::Completions,
            ),
            (
                "/openai/deployments/gpt-4o/embeddings/",
                Endpoint::Embeddings,
            ),
        ] {
            assert_eq!(classify("POST", p), Route::Deployment(e), "{p}");
        }
        use adapters::provider::Provider;
        // What is not the Azure-style door under `/openai/` is OpenAI's pass-through.
        assert_eq!(
            classify("POST", "/openai/deployments//chat/completions"),
            Route::PassThrough(Provider::OpenAi)
        );
        assert_eq!(
            classify("GET", "/anthropic/v1/models"),
            Route::PassThrough(Provider::Anthropic)
        );
        assert_eq!(
            classify(
                "POST",
                "/vertex_ai/v1/projects/p/locations/l/publishers/google/models/g:generateContent"
            ),
            Route::PassThrough(Provider::VertexAi)
        );
        assert_eq!(
            classify("POST", "/v1/anthropic/v1/messages"),
            Route::NotFound
        );
        assert_eq!(
            classify("POST", "/openai/deployments/chat/completions"),
            Route::Deployment(Endpoint::Completions)
        );
        assert_eq!(
            classify("GET", "/openai/deployments/x/embeddings"),
            Route::WrongMethod
        );
    }
}
