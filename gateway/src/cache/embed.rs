//! The semantic cache's embedding call: the prompt sent to a deployment of
//! `redis_semantic_cache_embedding_model` (a `model_name` in `model_list`) through the same
//! translation, credentials and pooled connections requests use, as one `/v1/embeddings` call
//! outside the request lifecycle (no spend-log row, no budget: counted in
//! `tollgate_cache_embedding_calls_total`; see docs/caching.md). Bounded by a deadline and a
//! response size; any failure is `None` and the request is served without the semantic cache.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use adapters::{CanonicalRequest, Endpoint};
use bytes::BytesMut;
use pingora::connectors::http::Connector;
use serde_json::{json, Value};

use crate::lifecycle::translate;
use crate::runtime::Runtime;
use crate::upstream::POOL_IDLE_TIMEOUT;

/// An embedding call slower than this is given up (the request goes on as a miss).
const DEADLINE: Duration = Duration::from_secs(5);
/// The embedding response read, at most (a 3072-dimension vector is ~70 KB of JSON).
const MAX_BODY: usize = 1 << 20;

/// Embedding calls made, and those that failed.
pub static CALLS: AtomicU64 = AtomicU64::new(0);
pub static ERRORS: AtomicU64 = AtomicU64::new(0);
/// Round robin over the group's deployments.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The unit-length embedding of `text` by a deployment of `group`.
pub async fn embed(
    connector: &Connector,
    rt: &Runtime,
    group: &str,
    text: &str,
) -> Option<Vec<f32>> {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let r = tokio::time::timeout(DEADLINE, call(connector, rt, group, text)).await;
    let err = match r {
        Ok(Ok(mut v)) => {
            super::semantic::normalize(&mut v);
            return Some(v);
        }
        Ok(Err(e)) => e,
        Err(_) => format!("no answer within {DEADLINE:?}"),
    };
    let n = ERRORS.fetch_add(1, Ordering::Relaxed);
    if n == 0 || n.is_power_of_two() {
        log::warn!(
            "semantic cache: embedding by {group:?} failed ({err}); served without the semantic cache ({} failures so far)",
            n + 1
        );
    }
    None
}

async fn call(
    connector: &Connector,
    rt: &Runtime,
    group: &str,
    text: &str,
) -> Result<Vec<f32>, String> {
    let g = rt
        .groups
        .get(group)
        .ok_or_else(|| format!("no model group {group:?}"))?;
    let deps: Vec<_> = g
        .deployments
        .iter()
        .filter(|d| d.upstream.is_some() && d.conf.mock_response.is_none())
        .collect();
    if deps.is_empty() {
        return Err("the group has no deployment with an api_base".into());
    }
    let dep = deps[NEXT.fetch_add(1, Ordering::Relaxed) % deps.len()];
    let upstream = dep.upstream.as_ref().expect("filtered");
    let body = serde_json::to_vec(&json!({"model": group, "input": [text]}))
        .expect("serializing JSON values cannot fail");
    let req = CanonicalRequest::parse(Endpoint::Embeddings, &body).map_err(|e| e.to_string())?;
    let token = match &dep.gcp {
        Some(tokens) => Some(tokens.token().await?),
        None => None,
    };
    let mut target = translate::target(dep, rt.config.litellm.drop_params);
    if let Some(t) = &token {
        target.api_key = Some(t);
    }
    let (header, body) =
        translate::upstream_request(upstream, &req, &target).map_err(|e| e.to_string())?;
    let timeout = rt.config.tollgate.connect_timeout;
    let addr = upstream.addr(timeout).await?;
    let peer = upstream.peer(addr, timeout);
    let (mut up, _) = connector
        .get_http_session(&peer)
        .await
        .map_err(|e| format!("connect to {}: {e}", upstream.host))?;
    let status = crate::health::check::exchange(&mut up, header, body)
        .await
        .map_err(|e| format!("{}: {e}", upstream.host))?;
    let mut buf = BytesMut::new();
    let complete = loop {
        match up.read_response_body().await {
            Ok(Some(chunk)) if buf.len() + chunk.len() <= MAX_BODY => buf.extend_from_slice(&chunk),
            Ok(Some(_)) | Err(_) => break false,
            Ok(None) => break true,
        }
    };
    if complete && up.response_done() {
        connector
            .release_http_session(up, &peer, Some(POOL_IDLE_TIMEOUT))
            .await;
    } else {
        up.shutdown().await;
    }
    if !complete {
        return Err("response too large or cut off".into());
    }
    if !(200..300).contains(&status) {
        return Err(adapters::dialect::translate_error(&target, status, &buf).message);
    }
    let id = translate::response_id("semantic-cache");
    let meta = translate::meta(&id, &target);
    let canonical =
        adapters::dialect::translate_response(&req, &target, meta, &buf).map_err(|e| e.message)?;
    let v: Value = serde_json::from_slice(canonical.as_deref().unwrap_or(&buf))
        .map_err(|e| format!("embedding response: {e}"))?;
    let vec: Vec<f32> = v["data"][0]["embedding"]
        .as_array()
        .ok_or("embedding response has no data[0].embedding")?
        .iter()
        .map(|x| x.as_f64().unwrap_or(0.0) as f32)
        .collect();
    if vec.is_empty() {
        return Err("empty embedding".into());
    }
    Ok(vec)
}
