//! One deployment health check, as LiteLLM's `ahealth_check` makes it: a tiny real call — a chat
//! completion (`"What's 1 + 1?"`, `max_tokens` 16, or `model_info.health_check_max_tokens`), a
//! legacy completion, an embedding, a rerank or a moderation, by the deployment's
//! `model_info.mode` (else the price table's) — through the same translation, credentials and pooled connections requests use,
//! bounded by `model_info.health_check_timeout` (default 60 s). Wildcard deployments check
//! `model_info.health_check_model`. `mock_response` deployments are healthy without a call.

use std::time::Duration;

use adapters::{CanonicalRequest, Endpoint};
use bytes::{Bytes, BytesMut};
use pingora::protocols::http::client::HttpSession;
use serde_json::{json, Value};

use crate::lifecycle::translate;
use pingora::connectors::http::Connector;

use crate::deployment::DeploymentRt;
use crate::runtime::Runtime;
use crate::upstream::POOL_IDLE_TIMEOUT;

/// LiteLLM's `HEALTH_CHECK_TIMEOUT_SECONDS`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// LiteLLM's default `max_tokens` for a non-wildcard chat check.
const DEFAULT_MAX_TOKENS: u64 = 16;
/// Error bodies read for the message, at most.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Why a check failed: the message and, when the provider answered, its status.
#[derive(Debug, Clone)]
pub struct Failure {
    pub error: String,
    pub status: Option<u16>,
}

impl Failure {
    fn new(error: impl Into<String>, status: Option<u16>) -> Failure {
        Failure {
            error: error.into(),
            status,
        }
    }
}

/// The mode a deployment is checked in: `model_info.mode`, else the price table's, else chat.
pub fn mode(dep: &DeploymentRt) -> String {
    dep.conf
        .model_info
        .get("mode")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| dep.price.as_ref().and_then(|p| p.mode.clone()))
        .unwrap_or_else(|| "chat".into())
}

/// The upstream model to check: `model_info.health_check_model` (its `provider/` prefix
/// dropped when it is the deployment's), else the deployment's own, which must not be a
/// wildcard.
fn model(dep: &DeploymentRt) -> Result<String, Failure> {
    let c = &dep.conf;
    match c.model_info.get("health_check_model").and_then(Value::as_str) {
        Some(m) => Ok(m
            .strip_prefix(c.provider.prefix())
            .and_then(|m| m.strip_prefix('/'))
            .unwrap_or(m)
            .to_string()),
        None if c.model.contains('*') => Err(Failure::new(
            "wildcard deployment: set model_info.health_check_model to the model to check (e.g. openai/gpt-4o-mini)",
            None,
        )),
        None => Ok(c.model.clone()),
    }
}

/// `model_info.<name>` as a positive number, if set.
fn info_number(dep: &DeploymentRt, name: &str) -> Option<f64> {
    let v = dep.conf.model_info.get(name)?;
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|n| n.is_finite() && *n > 0.0)
}

/// Checks one deployment: `Ok` when it answered 2xx within the timeout.
pub async fn run(connector: &Connector, rt: &Runtime, dep: &DeploymentRt) -> Result<(), Failure> {
    let timeout = info_number(dep, "health_check_timeout")
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_TIMEOUT);
    match tokio::time::timeout(timeout, call(connector, rt, dep)).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(
            format!(
                "Health check timeout exceeded ({:.1}s)",
                timeout.as_secs_f64()
            ),
            Some(408),
        )),
    }
}

async fn call(connector: &Connector, rt: &Runtime, dep: &DeploymentRt) -> Result<(), Failure> {
    let (endpoint, body) = match mode(dep).as_str() {
        "chat" => (
            Endpoint::ChatCompletions,
            json!({"messages": [{"role": "user", "content": "What's 1 + 1?"}]}),
        ),
        "completion" => (Endpoint::Completions, json!({"prompt": "What's 1 + 1?"})),
        "embedding" => (
            Endpoint::Embeddings,
            json!({"input": ["test from litellm"]}),
        ),
        "rerank" => (
            Endpoint::Rerank,
            json!({"query": "What is the capital of France?",
                   "documents": ["Paris is the capital of France.", "Berlin is in Germany."]}),
        ),
        "moderation" => (Endpoint::Moderations, json!({"input": "test from litellm"})),
        other => {
            return Err(Failure::new(
                format!("mode '{other}' is not served by Tollgate, so it is not checked"),
                None,
            ))
        }
    };
    if dep.conf.mock_response.is_some() {
        return Ok(());
    }
    let upstream_model = model(dep)?;
    let mut body = body;
    body["model"] = json!(dep.conf.model_name);
    if endpoint.bounds_tokens() {
        let n =
            info_number(dep, "health_check_max_tokens").map_or(DEFAULT_MAX_TOKENS, |n| n as u64);
        body["max_tokens"] = json!(n);
    }
    let bytes = serde_json::to_vec(&body).expect("serializing JSON values cannot fail");
    let req = CanonicalRequest::parse(endpoint, &bytes)
        .map_err(|e| Failure::new(format!("building the check request: {e}"), None))?;
    let upstream = dep
        .upstream
        .as_ref()
        .ok_or_else(|| Failure::new("deployment has no api_base to check", None))?;
    let token = match &dep.gcp {
        Some(tokens) => Some(tokens.token().await.map_err(|e| Failure::new(e, None))?),
        None => None,
    };
    let mut target = translate::target(dep, rt.config.litellm.drop_params);
    target.model = &upstream_model;
    if let Some(t) = &token {
        target.api_key = Some(t);
    }
    let (header, body) = translate::upstream_request(upstream, &req, &target)
        .map_err(|e| Failure::new(e.to_string(), None))?;
    let connect_timeout = rt.config.tollgate.connect_timeout;
    let addr = upstream
        .addr(connect_timeout)
        .await
        .map_err(|e| Failure::new(e, None))?;
    let peer = upstream.peer(addr, connect_timeout);
    let (mut up, _) = connector
        .get_http_session(&peer)
        .await
        .map_err(|e| Failure::new(format!("connect to {}: {e}", upstream.host), None))?;
    let status = exchange(&mut up, header, body)
        .await
        .map_err(|e| Failure::new(format!("{}: {e}", upstream.host), None))?;
    let (body, complete) = read_body(&mut up).await;
    if complete && up.response_done() {
        connector
            .release_http_session(up, &peer, Some(POOL_IDLE_TIMEOUT))
            .await;
    } else {
        up.shutdown().await;
    }
    if (200..300).contains(&status) {
        return Ok(());
    }
    let err = adapters::dialect::translate_error(&target, status, &body);
    Err(Failure::new(err.message, Some(status)))
}

/// Sends the request and reads the response status (skipping 1xx).
pub(crate) async fn exchange(
    up: &mut HttpSession,
    header: Box<pingora::http::RequestHeader>,
    body: Bytes,
) -> pingora::Result<u16> {
    up.write_request_header(header).await?;
    up.write_request_body(body, true).await?;
    up.finish_request_body().await?;
    loop {
        up.read_response_header().await?;
        match up.response_header() {
            Some(h) if h.status.is_informational() => continue,
            Some(h) => return Ok(h.status.as_u16()),
            None => {
                return Err(pingora::Error::explain(
                    pingora::ErrorType::InvalidHTTPHeader,
                    "no response header",
                ))
            }
        }
    }
}

/// The response body, up to [`MAX_ERROR_BODY`]; whether it was read completely.
async fn read_body(up: &mut HttpSession) -> (BytesMut, bool) {
    let mut buf = BytesMut::new();
    loop {
        match up.read_response_body().await {
            Ok(Some(chunk)) if buf.len() + chunk.len() <= MAX_ERROR_BODY => {
                buf.extend_from_slice(&chunk)
            }
            Ok(Some(_)) | Err(_) => return (buf, false),
            Ok(None) => return (buf, true),
        }
    }
}
