//! `GET /v1/responses/{id}`, `DELETE /v1/responses/{id}` and `GET
//! /v1/responses/{id}/input_items`: stored responses (`crate::stored`) read back in OpenAI's
//! shapes. A response another key created, an expired or an unknown one is a 404 alike.

use std::sync::Arc;

use adapters::ApiError;
use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::{json, Value};

use crate::ctx::RequestCtx;
use crate::error::GatewayError;
use crate::lifecycle::auth;
use crate::reply::{respond, Served};
use crate::state::AppState;
use crate::stored::Found;

/// The `{id}` of `/v1/responses/{id}[/input_items]` (also without `/v1`).
pub fn id_in(path: &str) -> Option<&str> {
    let p = path.strip_suffix('/').unwrap_or(path);
    let p = p.strip_prefix("/v1").unwrap_or(p);
    let rest = p.strip_prefix("/responses/")?;
    let id = rest.strip_suffix("/input_items").unwrap_or(rest);
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

fn not_found(id: &str) -> GatewayError {
    GatewayError::Invalid(ApiError::new(
        404,
        "invalid_request_error",
        format!("Response with id '{id}' not found."),
    ))
}

/// The stored response `id` if the caller may see it.
async fn find(state: &Arc<AppState>, session: &Session, id: &str) -> Result<Found, GatewayError> {
    let runtime = state.runtime();
    let caller = auth::authenticate(&state.control, &runtime, session.req_header())?;
    let found = state
        .responses
        .get(id)
        .await
        .map_err(|e| GatewayError::StateUnavailable(format!("stored responses: {e}")))?;
    found
        .filter(|f| crate::stored::visible(&caller, &f.owner))
        .ok_or_else(|| not_found(id))
}

async fn answer(session: &mut Session, ctx: &mut RequestCtx, result: Result<Bytes, GatewayError>) {
    match result {
        Ok(body) => {
            ctx.status = 200;
            if let Err(e) = respond(session, 200, "application/json", body, &ctx.call_id, &[]).await
            {
                ctx.failure = Some(format!("client went away: {e}"));
            }
        }
        Err(e) => crate::reply::fail(session, ctx, e, Served::Llm).await,
    }
}

fn path_id(session: &Session) -> String {
    id_in(session.req_header().uri.path())
        .unwrap_or_default()
        .to_string()
}

/// `GET /v1/responses/{id}`: the response object as it was sent. Streaming it again
/// (`?stream=true`) is not supported.
pub async fn get(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx) {
    let id = path_id(session);
    let streamed = session.req_header().uri.query().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "stream" && v == "true")
    });
    let result = async {
        let found = find(state, session, &id).await?;
        if streamed {
            return Err(GatewayError::Invalid(
                ApiError::new(
                    400,
                    "invalid_request_error",
                    "Streaming a stored response again (stream=true) is not supported by this gateway; get it without stream",
                )
                .with_param("stream"),
            ));
        }
        Ok(Bytes::from(found.response))
    }
    .await;
    answer(session, ctx, result).await;
}

/// `DELETE /v1/responses/{id}`.
pub async fn delete(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx) {
    let id = path_id(session);
    let result = async {
        find(state, session, &id).await?;
        if !state
            .responses
            .delete(&id)
            .await
            .map_err(|e| GatewayError::StateUnavailable(format!("stored responses: {e}")))?
        {
            return Err(not_found(&id));
        }
        let body = json!({"id": id, "object": "response.deleted", "deleted": true});
        Ok(Bytes::from(body.to_string()))
    }
    .await;
    answer(session, ctx, result).await;
}

/// `GET /v1/responses/{id}/input_items`: OpenAI's list (`order`, `limit`, `after`).
pub async fn input_items(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx) {
    let id = path_id(session);
    let query = session.req_header().uri.query().map(str::to_string);
    let result = async {
        let found = find(state, session, &id).await?;
        let items: Vec<Value> = serde_json::from_str(&found.input_items).unwrap_or_default();
        let list = crate::stored::list_items(&items, query.as_deref()).map_err(|msg| {
            GatewayError::Invalid(ApiError::new(400, "invalid_request_error", msg))
        })?;
        Ok(Bytes::from(list.to_string()))
    }
    .await;
    answer(session, ctx, result).await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_id_is_the_path_segment_after_responses() {
        use super::id_in;
        assert_eq!(id_in("/v1/responses/resp_1"), Some("resp_1"));
        assert_eq!(id_in("/responses/resp_1/"), Some("resp_1"));
        assert_eq!(id_in("/v1/responses/resp_1/input_items"), Some("resp_1"));
        assert_eq!(id_in("/v1/responses/"), None);
        assert_eq!(id_in("/v1/responses/a/b"), None);
        assert_eq!(id_in("/v1/responses"), None);
    }
}
