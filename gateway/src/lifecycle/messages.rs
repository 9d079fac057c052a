//! The Anthropic Messages front door, `POST /v1/messages` and `/v1/messages/count_tokens`:
//! Claude Code and the Anthropic SDK reach any model group. The request becomes canonical, is
//! served by the group's provider, and the answer goes back in Anthropic's shape; when the
//! deployment itself is Anthropic the body passes through untouched, both ways.

use std::sync::Arc;

use adapters::anthropic::front;
use adapters::dialect::ProviderRequest;
use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::proxy::Session;

use super::{admit, auth, route, translate};
use crate::ctx::{Front, RequestCtx};
use crate::error::{respond, GatewayError};
use crate::state::{AppState, DeploymentRt};
use crate::upstream::Upstream;

/// The `anthropic-version` sent when the client named none.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// `POST /v1/messages`.
pub async fn serve(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx) {
    ctx.front = Front::Anthropic {
        model: String::new(),
        stream: None,
    };
    let runtime = state.runtime();
    ctx.call_type = "anthropic_messages";
    let result = async {
        let caller = auth::authenticate(state, &runtime, session.req_header())?;
        let raw = admit::read_body(session, runtime.config.general.max_request_bytes())
            .await?
            .freeze();
        ctx.body_bytes = raw.len();
        let mut req = front::to_canonical(&raw).map_err(GatewayError::Invalid)?;
        admit::control(state, &runtime, session, ctx, caller, &mut req).await?;
        ctx.model_group = Some(req.model.clone());
        ctx.stream = req.stream;
        ctx.front = Front::Anthropic {
            model: req.model.clone(),
            stream: None,
        };
        route::run(state, &runtime, session, ctx, &mut req, Some(&raw)).await
    }
    .await;
    if let Err(e) = result {
        super::fail(session, ctx, e).await;
    }
}

/// The client's own Anthropic request for an Anthropic deployment: only `model` changes; the
/// deployment's key replaces the client's; `anthropic-version` / `anthropic-beta` are the
/// client's.
pub(super) fn native_request(
    dep: &DeploymentRt,
    upstream: &Upstream,
    client: &RequestHeader,
    raw: &[u8],
    model: &str,
) -> Result<(Box<RequestHeader>, Bytes), GatewayError> {
    let body = front::with_model(raw, model).map_err(GatewayError::Invalid)?;
    let client_header = |name: &str| {
        client
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut headers = vec![(
        "anthropic-version",
        client_header("anthropic-version").unwrap_or_else(|| ANTHROPIC_VERSION.to_string()),
    )];
    if let Some(beta) = client_header("anthropic-beta") {
        headers.push(("anthropic-beta", beta));
    }
    if let Some(key) = &dep.conf.api_key {
        headers.push(("x-api-key", key.expose().to_string()));
    }
    let base = dep
        .conf
        .api_base
        .as_ref()
        .map(|b| b.path.as_str())
        .unwrap_or("");
    let pr = ProviderRequest {
        path: format!("{base}/v1/messages"),
        headers,
        body,
    };
    translate::frame(upstream, pr, &dep.conf.model_name)
}

/// `POST /v1/messages/count_tokens`: an estimate, computed locally (see
/// `adapters::anthropic::front::count_tokens`).
pub async fn count_tokens(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx) {
    ctx.front = Front::Anthropic {
        model: String::new(),
        stream: None,
    };
    let runtime = state.runtime();
    let result = async {
        auth::authenticate(state, &runtime, session.req_header())?;
        let raw = admit::read_body(session, runtime.config.general.max_request_bytes()).await?;
        front::count_tokens(&raw).map_err(GatewayError::Invalid)
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
