//! The OpenAI Responses front door, `POST /v1/responses`: Codex CLI and the OpenAI SDK's
//! `responses.create` reach any model group. Before routing only the few fields admission
//! needs are read (`adapters::responses::front::read`); a `previous_response_id` is expanded
//! from the stored conversation (`crate::stored`; unknown, expired or another key's: 404). A
//! deployment that speaks Responses (OpenAI, Azure) gets the client's body with only `model`,
//! the conversation and the budget's `max_output_tokens` changed, and its answer is relayed as
//! it is; any other gets a canonical chat translation made when it is first attempted, and the
//! answer is bridged back (`shape.rs`). The response is queued for storage (unless `store:
//! false`) once it is complete, before its last bytes go out. `GET`/`DELETE /v1/responses/{id}` and `…/input_items` are in `stored_routes.rs`.

pub(crate) mod shape;
mod stored_routes;

use std::sync::Arc;

use adapters::responses::front::{self, View};
use adapters::{ApiError, CanonicalRequest, Endpoint};
use pingora::proxy::Session;
use serde_json::{Map, Value};

pub use shape::Keep;
pub use stored_routes::{delete, get, input_items};

use super::door;
use super::{admit, auth, route};
use crate::control::enforce::Caller;
use crate::ctx::{Front, RequestCtx};
use crate::error::GatewayError;
use crate::state::AppState;

/// `POST /v1/responses`.
pub async fn serve(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx) {
    ctx.front = Front::Responses(Box::default());
    ctx.call_type = "aresponses";
    let runtime = state.runtime();
    let result = async {
        let caller = auth::authenticate(&state.control, &runtime, session.req_header())?;
        let raw = admit::read_body(session, runtime.config.general.max_request_bytes())
            .await?
            .freeze();
        let (view, parsed) = front::read(&raw).map_err(GatewayError::Invalid)?;
        let (history, history_bytes) = match &view.previous_response_id {
            Some(id) => conversation(state, &caller, id).await?,
            None => (Arc::new(Vec::new()), 0),
        };
        ctx.body_bytes = raw.len() + history_bytes;
        let mut req = admission_view(&view, &parsed);
        admit::control(state, &runtime, session, ctx, caller, &mut req).await?;
        crate::observe::request_metadata(&runtime.config.metrics, ctx, &req.body);
        ctx.model_group = Some(view.model.clone());
        ctx.stream = view.stream;
        let mut door = door::responses::Door {
            raw,
            parsed: Some(parsed),
            history,
            id: String::new(),
            created_at: crate::clock::unix_now(),
            echo: None,
            translated: None,
            clamp: None,
            keep: None,
        };
        if let Some(max_tokens) = ctx.clamped_max_tokens {
            door.clamp(max_tokens);
        }
        if view.store && state.responses.enabled() {
            door.keep = Some(Arc::new(Keep {
                store: state.responses.clone(),
                owner: crate::stored::owner_of(ctx.caller.as_ref()),
                created_at_ms: ctx.started_at_ms,
                request: door.raw.clone(),
                history: door.history.clone(),
            }));
        }
        route::run(
            state,
            &runtime,
            session,
            ctx,
            &mut req,
            Some(door::Door::Responses(&mut door)),
        )
        .await
    }
    .await;
    if let Err(e) = result {
        super::fail(session, ctx, e).await;
    }
}

/// The conversation `previous_response_id` continues — the stored response's input items, then
/// its output items — and its size in bytes (for the prompt estimate). A 404 in OpenAI's words
/// when there is none the caller may see.
async fn conversation(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(Arc<Vec<Value>>, usize), GatewayError> {
    let found = state
        .responses
        .get(id)
        .await
        .map_err(|e| GatewayError::StateUnavailable(format!("stored responses: {e}")))?;
    match found.filter(|f| crate::stored::visible(caller, &f.owner)) {
        Some(f) => {
            let bytes = f.response.len() + f.input_items.len();
            Ok((Arc::new(f.conversation()), bytes))
        }
        None => Err(GatewayError::Invalid(
            ApiError::new(
                404,
                "invalid_request_error",
                format!("Previous response with id '{id}' not found."),
            )
            .with_param("previous_response_id"),
        )),
    }
}

/// The canonical view admission and routing read: `model`, `max_tokens` (from
/// `max_output_tokens`, for the budgets' worst case), `stream`, `user` (the end user), and
/// LiteLLM's routing fields.
fn admission_view(view: &View, parsed: &Map<String, Value>) -> CanonicalRequest {
    let mut body = Map::with_capacity(8);
    body.insert("model".into(), Value::String(view.model.clone()));
    if let Some(n) = view.max_output_tokens {
        body.insert("max_tokens".into(), n.into());
    }
    if view.stream {
        body.insert("stream".into(), Value::Bool(true));
    }
    if let Some(user) = &view.user {
        body.insert("user".into(), Value::String(user.clone()));
    }
    for key in ["metadata", "tags", "fallbacks", "disable_fallbacks"] {
        if let Some(v) = parsed.get(key) {
            body.insert(key.into(), v.clone());
        }
    }
    CanonicalRequest {
        endpoint: Endpoint::ChatCompletions,
        model: view.model.clone(),
        stream: view.stream,
        include_usage: view.stream,
        body,
    }
}
