//! The request lifecycle for the LLM routes, one module per stage (see docs/lifecycle.md):
//! auth → admit → route → translate → forward → account.

pub mod account;
pub mod admit;
pub mod auth;
pub mod forward;
pub mod images;
pub mod messages;
pub mod relay;
pub mod route;
pub mod translate;

use std::sync::Arc;
use std::time::Instant;

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
    let result = async {
        auth::check(&runtime, session.req_header())?;
        let mut req = admit::admit(&runtime, session, endpoint).await?;
        ctx.model_group = Some(req.model.clone());
        ctx.stream = req.stream;
        let deployment = route::pick(&runtime, &req.model)?;
        ctx.deployment_id = Some(deployment.conf.id.clone());
        if images::needs_bytes(deployment.conf.provider) && deployment.conf.mock_response.is_none()
        {
            let allow_private = runtime.config.tollgate.image_fetch_allow_private;
            images::inline(state, &mut req, allow_private).await?;
        }
        let deadline = Instant::now() + runtime.config.litellm.request_timeout;
        let call = forward::Call {
            req: &req,
            dep: &deployment,
            deadline,
            native: None,
        };
        forward::forward(state, &runtime, session, ctx, call).await
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
    ctx.status = respond_error(
        session,
        &e.to_api_error(),
        &ctx.call_id,
        ctx.front.anthropic(),
    )
    .await;
    ctx.failure.get_or_insert_with(|| e.to_string());
}
