//! The request lifecycle for the LLM routes, one module per stage (see docs/lifecycle.md):
//! `front` (the client's API: its request read, its answer encoded) → auth → admit → route
//! (a plan) → attempt (translate → forward → relay, with retries, fallbacks and cooldown
//! marks); account runs from `logging()` once the response is written.

pub mod account;
pub mod admit;
pub mod attempt;
pub mod auth;
pub mod controls;
pub mod forward;
pub mod front;
pub mod images;
pub mod relay;
pub mod route;
pub mod stream;
pub mod translate;

use std::sync::Arc;

use pingora::proxy::Session;

use crate::ctx::RequestCtx;
use crate::error::{respond_error, GatewayError};
use crate::state::AppState;

/// Serves one LLM request end to end, whichever front door it came through; every outcome is
/// written to the client here.
pub async fn serve(
    state: &Arc<AppState>,
    session: &mut Session,
    ctx: &mut RequestCtx,
    api: front::Api,
) {
    api.open(ctx);
    let runtime = state.runtime();
    let result = async {
        let caller = auth::authenticate(&state.control, &runtime, session.req_header())?;
        let mut request = front::read(state, &runtime, session, ctx, api, &caller).await?;
        admit::control(state, &runtime, session, ctx, caller, &mut request.view).await?;
        request.admitted(state, ctx);
        let plan = route::plan(&runtime, session, ctx, &mut request)?;
        attempt::run(state, &runtime, session, ctx, &mut request, plan).await
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
