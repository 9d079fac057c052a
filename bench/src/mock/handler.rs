//! Routing and per-endpoint behaviour: chat completions, legacy completions (both streamed or
//! not), embeddings, models, and the `/__mock/stats` counters.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::body::{MockBody, SseStream, Step};
use super::config::{MockOverride, Plan};
use super::render::{self, Delta, Meta};
use super::{RecordedRequest, Shared};

/// The fields of an API request the mock looks at; everything else is skipped unparsed.
#[derive(Deserialize)]
struct ApiRequest {
    model: Option<String>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    mock: Option<MockOverride>,
    input: Option<Value>,
    dimensions: Option<usize>,
    encoding_format: Option<String>,
}

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Chat,
    Text,
}

/// Handles one request; never fails (errors are OpenAI-shaped responses).
pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<MockBody> {
    let received_at = Instant::now();
    let (parts, incoming) = req.into_parts();
    let body = match incoming.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("could not read body: {e}"),
            )
        }
    };
    shared.request_count.fetch_add(1, Ordering::Relaxed);
    let cfg = shared.config();
    if cfg.record_requests {
        shared.record(RecordedRequest {
            method: parts.method.to_string(),
            path: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: body.clone(),
            received_at,
        });
    }

    let path = parts.uri.path();
    let route = match path.strip_prefix("/v1") {
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    };
    if route == "/__mock/stats" {
        return full(StatusCode::OK, stats(&shared));
    }
    let kind = match route {
        "/chat/completions" => Some(Kind::Chat),
        "/completions" => Some(Kind::Text),
        "/embeddings" | "/models" => None,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                &format!("Unknown request URL: {} {}", parts.method, path),
            )
        }
    };
    let expected = if route == "/models" {
        Method::GET
    } else {
        Method::POST
    };
    if parts.method != expected {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "Method {} not allowed for {path}; use {expected}",
                parts.method
            ),
        );
    }
    let forced = shared.take_forced_failure();

    if route == "/models" {
        let plan = Plan::new(&cfg, None, forced);
        wait(plan.latency).await;
        if let Some(status) = plan.status {
            return forced_error(&plan, status);
        }
        return with_headers(
            full(StatusCode::OK, render::models(&cfg.models, unix_now())),
            &plan,
        );
    }

    let req: ApiRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("We could not parse the JSON body of your request: {e}"),
            )
        }
    };
    let plan = Plan::new(&cfg, req.mock.as_ref(), forced);
    wait(plan.latency).await;
    if let Some(status) = plan.status {
        return forced_error(&plan, status);
    }
    let model = req.model.as_deref().unwrap_or("mock-model");
    let prompt_tokens = plan
        .prompt_tokens
        .unwrap_or_else(|| (body.len() as u64).div_ceil(4));

    let resp = match kind {
        Some(kind) => completion(&shared, &plan, kind, &req, model, prompt_tokens),
        None => embeddings(cfg.embedding_dims, &req, model, prompt_tokens),
    };
    with_headers(resp, &plan)
}

async fn wait(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn completion(
    shared: &Arc<Shared>,
    plan: &Plan,
    kind: Kind,
    req: &ApiRequest,
    model: &str,
    prompt_tokens: u64,
) -> Response<MockBody> {
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
    let meta = Meta {
        id: match kind {
            Kind::Chat => format!("chatcmpl-mock{seq}"),
            Kind::Text => format!("cmpl-mock{seq}"),
        },
        created: unix_now(),
        model,
    };
    if req.stream != Some(true) {
        let words = plan.content.split_whitespace().count() as u64;
        let usage = render::usage(prompt_tokens, plan.completion_tokens.unwrap_or(words));
        let body = match kind {
            Kind::Chat => render::chat_completion(&meta, plan.content, usage),
            Kind::Text => render::text_completion(&meta, plan.content, usage),
        };
        return full(StatusCode::OK, body);
    }

    let include_usage = req
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let pieces = render::split_content(plan.content, plan.chunks);
    let sent_words: u64 = pieces
        .iter()
        .map(|p| p.split_whitespace().count() as u64)
        .sum();
    let mut steps: Vec<(Duration, Step)> = Vec::with_capacity(pieces.len() + 4);
    if kind == Kind::Chat {
        let delta = Delta {
            role: Some("assistant"),
            content: Some(""),
        };
        let ev = render::chat_chunk(&meta, delta, None, include_usage);
        steps.push((Duration::ZERO, Step::Data(ev)));
    }
    for (i, piece) in pieces.iter().enumerate() {
        if plan.fail_after_chunks == Some(i) {
            steps.push((plan.chunk_interval, Step::Fail));
            return sse_response(steps, shared);
        }
        let ev = match kind {
            Kind::Chat => {
                let delta = Delta {
                    role: None,
                    content: Some(piece),
                };
                render::chat_chunk(&meta, delta, None, include_usage)
            }
            Kind::Text => render::text_chunk(&meta, piece, None, include_usage),
        };
        steps.push((plan.chunk_interval, Step::Data(ev)));
    }
    if plan.fail_after_chunks.is_some() {
        // fail_after_chunks >= chunks: fail after all content, before the finish chunk.
        steps.push((Duration::ZERO, Step::Fail));
        return sse_response(steps, shared);
    }
    let finish = match kind {
        Kind::Chat => render::chat_chunk(&meta, Delta::default(), Some("stop"), include_usage),
        Kind::Text => render::text_chunk(&meta, "", Some("stop"), include_usage),
    };
    steps.push((Duration::ZERO, Step::Data(finish)));
    if include_usage {
        let usage = render::usage(prompt_tokens, plan.completion_tokens.unwrap_or(sent_words));
        let ev = match kind {
            Kind::Chat => render::chat_usage_chunk(&meta, usage),
            Kind::Text => render::text_usage_chunk(&meta, usage),
        };
        steps.push((Duration::ZERO, Step::Data(ev)));
    }
    steps.push((Duration::ZERO, Step::Data(Bytes::from_static(render::DONE))));
    sse_response(steps, shared)
}

fn sse_response(steps: Vec<(Duration, Step)>, shared: &Arc<Shared>) -> Response<MockBody> {
    let mut resp = Response::new(MockBody::Stream(SseStream::new(steps, shared.clone())));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

fn embeddings(
    default_dims: usize,
    req: &ApiRequest,
    model: &str,
    prompt_tokens: u64,
) -> Response<MockBody> {
    let inputs: Vec<String> = match &req.input {
        Some(Value::String(s)) => vec![s.clone()],
        // A single token array is one input.
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_number) => {
            vec![Value::Array(a.clone()).to_string()]
        }
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "'input' must be a non-empty string or array",
            )
        }
        None => return error(StatusCode::BAD_REQUEST, "'input' is a required property"),
    };
    let dims = req.dimensions.unwrap_or(default_dims);
    let base64 = req.encoding_format.as_deref() == Some("base64");
    full(
        StatusCode::OK,
        render::embeddings(model, &inputs, dims, base64, prompt_tokens),
    )
}

fn stats(shared: &Shared) -> Bytes {
    let v = json!({
        "requests": shared.request_count.load(Ordering::Relaxed),
        "streams_started": shared.streams_started.load(Ordering::Relaxed),
        "streams_completed": shared.streams_completed.load(Ordering::Relaxed),
        "streams_aborted": shared.streams_aborted.load(Ordering::Relaxed),
    });
    Bytes::from(v.to_string())
}

fn full(status: StatusCode, body: Bytes) -> Response<MockBody> {
    let mut resp = Response::new(MockBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn error(status: StatusCode, message: &str) -> Response<MockBody> {
    let (kind, code) = render::error_kind(status.as_u16());
    full(status, render::error_body(message, kind, code))
}

fn forced_error(plan: &Plan, status: u16) -> Response<MockBody> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (kind, code) = render::error_kind(status.as_u16());
    let message = plan.error_message.map_or_else(
        || format!("mock provider: forced HTTP {}", status.as_u16()),
        str::to_owned,
    );
    let body = render::error_body(
        &message,
        plan.error_type.unwrap_or(kind),
        plan.error_code.or(code),
    );
    with_headers(full(status, body), plan)
}

fn with_headers(mut resp: Response<MockBody>, plan: &Plan) -> Response<MockBody> {
    for (k, v) in &plan.headers {
        match (HeaderName::try_from(*k), HeaderValue::try_from(*v)) {
            (Ok(k), Ok(v)) => {
                resp.headers_mut().append(k, v);
            }
            _ => log::warn!("mock provider: skipping invalid header {k:?}: {v:?}"),
        }
    }
    resp
}
