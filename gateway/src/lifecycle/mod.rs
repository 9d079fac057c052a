//! The request lifecycle for the LLM routes, one module per stage (see docs/lifecycle.md):
//! auth → admit → route → translate → forward → account.

pub mod account;
pub mod admit;
pub mod auth;
pub mod controls;
pub mod door;
pub mod forward;
pub mod images;
pub mod messages;
pub mod relay;
pub mod responses;
pub mod route;
pub mod translate;

use std::sync::Arc;

use adapters::Endpoint;
use pingora::proxy::Session;

use crate::ctx::RequestCtx;
use crate::error::{respond_error, GatewayError};
use crate::state::AppState;

/// Serves one LLM request end to end; every outcome is written to the client here.
pub async fn serve(
    state: &Arc<AppState>,
    session: &mut Session,
    ctx: &mut RequestCtx,
    endpoint: Endpoint,
) {
    let runtime = state.runtime();
    ctx.call_type = match endpoint {
        Endpoint::ChatCompletions => "acompletion",
        Endpoint::Completions => "atext_completion",
        Endpoint::Embeddings => "aembedding",
    };
    let result = async {
        let caller = auth::authenticate(&state.control, &runtime, session.req_header())?;
        let mut req = admit::admit(&runtime, session, ctx, endpoint).await?;
        admit::control(state, &runtime, session, ctx, caller, &mut req).await?;
        crate::observe::request_metadata(&runtime.config.metrics, ctx, &req.body);
        ctx.model_group = Some(req.model.clone());
        ctx.stream = req.stream;
        if req.stream && !req.include_usage && endpoint != Endpoint::Embeddings {
            // Spend needs the provider's usage: ask for it, and drop it on the way out.
            req.body.insert(
                "stream_options".into(),
                serde_json::json!({"include_usage": true}),
            );
            ctx.strip_usage = true;
        }
        route::run(state, &runtime, session, ctx, &mut req, None).await
    }
    .await;
    if let Err(e) = result {
        fail(session, ctx, e).await;
    }
}

/// Answers a request that ended early with its error, in the client's API shape.
pub async fn fail(session: &mut Session, ctx: &mut RequestCtx, e: GatewayError) {
    if matches!(
        e,
        GatewayError::TooLarge { .. } | GatewayError::BodyTimeout | GatewayError::BodyRead(_)
    ) {
        // The body was not (fully) read: the connection cannot carry another request.
        session.set_keepalive(None);
    }
    let mut extra = relay::litellm_headers(ctx);
    if let GatewayError::AllCooling { retry_after, .. } = &e {
        extra.push((
            "retry-after",
            http::HeaderValue::from(retry_after.as_secs().max(1)),
        ));
    }
    if let GatewayError::RateLimited {
        retry_after_s,
        limit_header,
        limit,
        ..
    } = &e
    {
        extra.push(("retry-after", http::HeaderValue::from(*retry_after_s)));
        extra.push((limit_header, http::HeaderValue::from(*limit)));
        let remaining = if *limit_header == "x-ratelimit-limit-tokens" {
            "x-ratelimit-remaining-tokens"
        } else {
            "x-ratelimit-remaining-requests"
        };
        extra.push((remaining, http::HeaderValue::from(0u64)));
    }
    ctx.status = respond_error(
        session,
        &e.to_api_error(),
        &ctx.call_id,
        ctx.front.anthropic(),
        extra,
    )
    .await;
    ctx.failure.get_or_insert_with(|| e.to_string());
}
