//! LiteLLM's response cache routes, for the master key: `GET /cache/ping`, `POST /cache/delete`
//! (`{"keys": [...]}`), `POST /cache/flushall`, `GET /cache/redis/info`.

use std::sync::Arc;

use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::{json, Value};

use crate::control::enforce::Caller;
use crate::ctx::RequestCtx;
use crate::error::GatewayError;
use crate::reply::{self, respond, Served};
use crate::state::AppState;

/// Which cache route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Ping,
    Delete,
    Flush,
    RedisInfo,
}

pub async fn serve(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx, op: Op) {
    let result = answer(state, session, op).await;
    match result {
        Ok((status, v)) => {
            ctx.status = status;
            let body = Bytes::from(v.to_string());
            if let Err(e) = respond(session, status, "application/json", body, "", &[]).await {
                ctx.failure = Some(format!("client went away: {e}"));
            }
        }
        Err(e) => reply::fail(session, ctx, e, Served::Route).await,
    }
}

async fn answer(
    state: &Arc<AppState>,
    session: &mut Session,
    op: Op,
) -> Result<(u16, Value), GatewayError> {
    let runtime = state.runtime();
    let caller =
        crate::lifecycle::auth::authenticate(&state.control, &runtime, session.req_header())?;
    if matches!(caller, Caller::Key(_)) {
        return Err(GatewayError::Forbidden(
            "the cache routes need the master key".into(),
        ));
    }
    let Some(cache) = state.cache.as_ref() else {
        return Ok((
            503,
            json!({"status": "unhealthy", "error": "the response cache is not on (litellm_settings.cache)"}),
        ));
    };
    let kind = match (cache.redis.is_some(), cache.cfg.semantic.is_some()) {
        (true, false) => "redis",
        (false, false) => "local",
        (true, true) => "redis-semantic",
        (false, true) => "local-semantic",
    };
    match op {
        Op::Ping => {
            let (entries, bytes) = cache.size();
            let redis_ok = match &cache.redis {
                Some(r) => r.ping().await,
                None => true,
            };
            let v = json!({
                "status": if redis_ok { "healthy" } else { "unhealthy" },
                "cache_type": kind,
                "ping_response": redis_ok,
                "in_memory_entries": entries,
                "in_memory_bytes": bytes,
                "redis_errors": cache.redis_errors(),
                "semantic_index_entries": cache.semantic_index().map(|ix| ix.len()),
            });
            Ok((if redis_ok { 200 } else { 503 }, v))
        }
        Op::Delete => {
            let body = crate::lifecycle::admit::read_body(session, 1 << 20).await?;
            let v: Value =
                serde_json::from_slice(&body).map_err(|e| bad(format!("body is not JSON: {e}")))?;
            let keys: Vec<String> = v["keys"]
                .as_array()
                .ok_or_else(|| bad("expected {\"keys\": [...]}".into()))?
                .iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect();
            match cache.delete(keys).await {
                Some(n) => Ok((200, json!({"status": "success", "deleted": n}))),
                None => Ok((
                    503,
                    json!({"status": "failed", "error": "Redis did not answer"}),
                )),
            }
        }
        Op::Flush => match cache.flush().await {
            Some(n) => Ok((200, json!({"status": "success", "deleted": n}))),
            None => Ok((
                503,
                json!({"status": "failed", "error": "Redis did not answer"}),
            )),
        },
        Op::RedisInfo => match &cache.redis {
            None => Ok((
                400,
                json!({"error": "the response cache does not use Redis"}),
            )),
            Some(r) => match r.info().await {
                Some(text) => Ok((200, json!({"info": text}))),
                None => Ok((503, json!({"error": "Redis did not answer"}))),
            },
        },
    }
}

fn bad(message: String) -> GatewayError {
    GatewayError::Invalid(adapters::ApiError::new(
        400,
        "invalid_request_error",
        message,
    ))
}
