//! The Anthropic Messages front door, `POST /v1/messages` and `/v1/messages/count_tokens`:
//! Claude Code and the Anthropic SDK reach any model group. Before routing only the few fields
//! admission needs are read (`passthrough::read`); an Anthropic deployment gets the client's
//! body as sent (only `model` replaced), any other deployment a canonical translation made when
//! it is first attempted, and the answer goes back in Anthropic's shape.

use std::sync::Arc;

use adapters::anthropic::passthrough;
use bytes::Bytes;
use pingora::proxy::Session;

use super::{admit, auth, route};
use crate::ctx::{Front, RequestCtx};
use crate::error::{respond, GatewayError};
use crate::state::AppState;

/// `POST /v1/messages`.
pub async fn serve(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx) {
    ctx.front = Front::Anthropic {
        model: String::new(),
        stream: None,
    };
    let runtime = state.runtime();
    ctx.call_type = "anthropic_messages";
    let result = async {
        let caller = auth::authenticate(&state.control, &runtime, session.req_header())?;
        let raw = admit::read_body(session, runtime.config.general.max_request_bytes())
            .await?
            .freeze();
        ctx.body_bytes = raw.len();
        let (mut view, parsed) = passthrough::read(&raw).map_err(GatewayError::Invalid)?;
        admit::control(state, &runtime, session, ctx, caller, &mut view).await?;
        crate::observe::request_metadata(&runtime.config.metrics, ctx, &view.body);
        ctx.model_group = Some(view.model.clone());
        ctx.stream = view.stream;
        ctx.front = Front::Anthropic {
            model: view.model.clone(),
            stream: None,
        };
        let mut door = super::door::anthropic::Door {
            raw,
            parsed: Some(parsed),
            translated: None,
        };
        if let Some(max_tokens) = ctx.clamped_max_tokens {
            door.clamp(max_tokens);
        }
        route::run(
            state,
            &runtime,
            session,
            ctx,
            &mut view,
            Some(super::door::Door::Anthropic(&mut door)),
        )
        .await
    }
    .await;
    if let Err(e) = result {
        super::fail(session, ctx, e).await;
    }
}

/// `POST /v1/messages/count_tokens`: an estimate, computed locally (see
/// `adapters::anthropic::passthrough::count_tokens`).
pub async fn count_tokens(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx) {
    ctx.front = Front::Anthropic {
        model: String::new(),
        stream: None,
    };
    let runtime = state.runtime();
    let result = async {
        auth::authenticate(&state.control, &runtime, session.req_header())?;
        let raw = admit::read_body(session, runtime.config.general.max_request_bytes()).await?;
        passthrough::count_tokens(&raw).map_err(GatewayError::Invalid)
    }
    .await;
    match result {
        Ok(body) => {
            ctx.status = 200;
            if let Err(e) = respond(
                session,
                200,
                "application/json",
                Bytes::from(body),
                &ctx.call_id,
                &[],
            )
            .await
            {
                ctx.failure = Some(format!("client went away: {e}"));
            }
        }
        Err(e) => super::fail(session, ctx, e).await,
    }
}
