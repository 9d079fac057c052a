//! One request from head to response: record it, route it ([`Route`]), check the dialect's
//! credentials, apply `fail_next`/`status`/`latency`, then hand it to the dialect's module
//! (`openai`, `anthropic`, `gemini`, `ollama`, `cohere`, `bedrock`; `google_oauth` for
//! `/token` and Vertex's token check). Also the response helpers they share.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};

use super::body::{MockBody, SseStream, Step};
use super::config::{MockOverride, Plan};
use super::dialect::{self, Dialect, OllamaKind, Route};
use super::{
    anthropic, bedrock, cohere, gemini, google_oauth, media, ollama, openai, render, responses,
};
use super::{RecordedRequest, Shared};

/// The fields of an API request the mock looks at, in any dialect; everything else is skipped
/// unparsed (`IgnoredAny` fields only record presence).
#[derive(Deserialize)]
pub(crate) struct ApiRequest {
    pub model: Option<String>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
    pub mock: Option<MockOverride>,
    pub input: Option<Value>,
    pub dimensions: Option<usize>,
    pub encoding_format: Option<String>,
    /// OpenAI, Anthropic and Ollama chat.
    pub messages: Option<IgnoredAny>,
    /// Required by Anthropic.
    pub max_tokens: Option<IgnoredAny>,
    /// OpenAI chat and legacy completions: choices to return (kept as JSON so that a value the
    /// mock does not understand is taken as 1, not a parse error).
    pub n: Option<Value>,
    /// Legacy completions: candidates generated (and billed) server-side, `n` of them returned.
    pub best_of: Option<Value>,
    /// Gemini.
    pub contents: Option<IgnoredAny>,
}

#[derive(Deserialize)]
pub(crate) struct StreamOptions {
    pub include_usage: Option<bool>,
}

/// Everything a dialect handler needs to answer one parsed request.
pub(crate) struct Ctx<'a> {
    pub shared: &'a Arc<Shared>,
    pub plan: &'a Plan<'a>,
    pub req: &'a ApiRequest,
    pub body: &'a Bytes,
    pub query: Option<&'a str>,
    /// [`Plan::prompt_tokens`] or body bytes / 4, rounded up.
    pub prompt_tokens: u64,
    /// [`MockConfig::embedding_dims`](super::MockConfig::embedding_dims).
    pub embedding_dims: usize,
}

impl Ctx<'_> {
    /// A fresh number for response and tool-call ids.
    pub(crate) fn seq(&self) -> u64 {
        self.shared.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Reported completion tokens: the override, else `words`.
    pub(crate) fn completion_tokens(&self, words: u64) -> u64 {
        self.plan.completion_tokens.unwrap_or(words)
    }

    /// Choices returned: the request's `n` (1 to 128), else 1.
    pub(crate) fn choices(&self) -> u32 {
        count(self.req.n.as_ref()).clamp(1, 128) as u32
    }

    /// Completions generated and billed, as OpenAI bills them: `n` choices, or `best_of`
    /// candidates when that is more (legacy completions).
    pub(crate) fn billed_choices(&self) -> u64 {
        u64::from(self.choices()).max(count(self.req.best_of.as_ref()).min(20))
    }
}

/// Handles one request; never fails (errors are dialect-shaped responses).
pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<MockBody> {
    let received_at = Instant::now();
    let (parts, mut incoming) = req.into_parts();
    // Read frame by frame, each counted as it arrives (`MockServer::body_bytes_received`): a
    // test can see an upload reach the provider before its client has sent all of it.
    let mut collected = bytes::BytesMut::new();
    loop {
        match incoming.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    shared
                        .body_bytes
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                    collected.extend_from_slice(&data);
                }
            }
            Some(Err(e)) => {
                return error(
                    Dialect::OpenAi,
                    StatusCode::BAD_REQUEST,
                    &format!("could not read body: {e}"),
                )
            }
        }
    }
    let body = collected.freeze();
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

    if let Some(resp) = super::batches::handle(&shared, &parts, &body) {
        return resp;
    }
    let path = parts.uri.path();
    let query = parts.uri.query();
    let Some(route) = Route::parse(path) else {
        return error(
            Dialect::OpenAi,
            StatusCode::NOT_FOUND,
            &format!("Unknown request URL: {} {}", parts.method, path),
        );
    };
    if route == Route::Stats {
        return full(StatusCode::OK, stats(&shared));
    }
    let d = route.dialect();
    if let Some(expected) = route.method() {
        if parts.method != expected {
            return error(
                d,
                StatusCode::METHOD_NOT_ALLOWED,
                &format!(
                    "Method {} not allowed for {path}; use {expected}",
                    parts.method
                ),
            );
        }
    }
    if let Err((status, message)) = route.check_auth(&parts.headers, query) {
        return error_of_kind(d, status, message, dialect::auth_error_kind(d));
    }
    if cfg.require_oauth_token && matches!(route, Route::Gemini { vertex: true, .. }) {
        if let Err(message) = google_oauth::check_access_token(&shared, &parts.headers) {
            return error(d, StatusCode::UNAUTHORIZED, message);
        }
    }
    if route == Route::Token {
        // Not an API request: no "mock" override (the body is a form), no fail_next.
        let plan = Plan::new(&cfg, None, None);
        wait(plan.latency).await;
        shared.token_requests.fetch_add(1, Ordering::Relaxed);
        if let Some(status) = plan.status {
            return forced_error(d, &plan, status);
        }
        return with_headers(google_oauth::token(&shared, &body), &plan);
    }
    let forced = shared.take_forced_failure();

    if matches!(route, Route::Models | Route::Ollama(OllamaKind::Tags)) {
        let plan = Plan::new(&cfg, None, forced);
        wait(plan.latency).await;
        if let Some(status) = plan.status {
            return forced_error(d, &plan, status);
        }
        let body = if d == Dialect::Ollama {
            ollama::tags(&cfg.models)
        } else {
            render::models(&cfg.models, unix_now())
        };
        return with_headers(full(StatusCode::OK, body), &plan);
    }

    let multipart = match route {
        Route::OpenAi(kind) if kind.multipart() => Some((kind, None)),
        Route::Azure { deployment, kind } if kind.multipart() => Some((kind, Some(deployment))),
        _ => None,
    };
    if let Some((kind, deployment)) = multipart {
        let plan = Plan::new(&cfg, None, forced);
        wait(plan.latency).await;
        if let Some(status) = plan.status {
            return forced_error(d, &plan, status);
        }
        let content_type = parts
            .headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let resp = media::multipart(&shared, &plan, kind, deployment, content_type, &body);
        return with_headers(resp, &plan);
    }
    let req: ApiRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                d,
                StatusCode::BAD_REQUEST,
                &format!("We could not parse the JSON body of your request: {e}"),
            )
        }
    };
    let mut plan = Plan::new(&cfg, req.mock.as_ref(), forced);
    if let Some(trigger) = &cfg.tool_call_trigger {
        if !super::config::triggers_tool_call(trigger, &body) {
            plan.tool_call = None;
        }
    }
    wait(plan.latency).await;
    if let Some(status) = plan.status {
        return forced_error(d, &plan, status);
    }
    let ctx = Ctx {
        shared: &shared,
        plan: &plan,
        req: &req,
        body: &body,
        query,
        prompt_tokens: plan
            .prompt_tokens
            .unwrap_or_else(|| (body.len() as u64).div_ceil(4)),
        embedding_dims: cfg.embedding_dims,
    };
    let resp = match route {
        Route::OpenAi(kind) => {
            let model = req.model.as_deref().unwrap_or("mock-model");
            openai::respond(&ctx, kind, model)
        }
        Route::Azure { deployment, kind } => openai::respond(&ctx, kind, deployment),
        Route::Responses { .. } => responses::respond(&ctx, None),
        Route::Anthropic { count_tokens } => anthropic::respond(&ctx, count_tokens),
        Route::Gemini { model, method, .. } => gemini::respond(&ctx, model, method),
        Route::Ollama(kind) => ollama::respond(&ctx, kind),
        Route::Cohere(kind) => cohere::respond(&ctx, kind),
        Route::Bedrock { op, .. } => bedrock::respond(&ctx, op),
        Route::Rerank(kind) => super::rerank::respond(&ctx, kind),
        Route::Stats | Route::Models | Route::Token => unreachable!("answered above"),
    };
    with_headers(resp, &plan)
}

/// A whole-number count from a request field; anything else counts as 1.
fn count(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_u64).unwrap_or(1)
}

async fn wait(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A streamed response (`content_type`: `text/event-stream`, `application/x-ndjson`, …).
pub(crate) fn stream_response(
    steps: Vec<(Duration, Step)>,
    shared: &Arc<Shared>,
    content_type: &'static str,
) -> Response<MockBody> {
    let mut resp = Response::new(MockBody::Stream(SseStream::new(steps, shared.clone())));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// An SSE response (`text/event-stream`).
pub(crate) fn sse_response(
    steps: Vec<(Duration, Step)>,
    shared: &Arc<Shared>,
) -> Response<MockBody> {
    stream_response(steps, shared, "text/event-stream")
}

fn stats(shared: &Shared) -> Bytes {
    let v = json!({
        "requests": shared.request_count.load(Ordering::Relaxed),
        "streams_started": shared.streams_started.load(Ordering::Relaxed),
        "streams_completed": shared.streams_completed.load(Ordering::Relaxed),
        "streams_aborted": shared.streams_aborted.load(Ordering::Relaxed),
        "token_requests": shared.token_requests.load(Ordering::Relaxed),
    });
    Bytes::from(v.to_string())
}

/// A complete `application/json` response.
pub(crate) fn full(status: StatusCode, body: Bytes) -> Response<MockBody> {
    let mut resp = Response::new(MockBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// An error in `dialect`'s shape.
pub(crate) fn error(dialect: Dialect, status: StatusCode, message: &str) -> Response<MockBody> {
    error_of_kind(dialect, status, message, None)
}

/// An error in `dialect`'s shape whose kind (OpenAI `type`, Anthropic `error.type`, Gemini
/// `status`, Bedrock `x-amzn-errortype`, OAuth `error`) is `kind`, else the status's default.
pub(crate) fn error_of_kind(
    dialect: Dialect,
    status: StatusCode,
    message: &str,
    kind: Option<&str>,
) -> Response<MockBody> {
    let body = dialect::error_body(dialect, status.as_u16(), message, kind, None);
    error_headers(full(status, body), dialect, kind)
}

fn forced_error(dialect: Dialect, plan: &Plan, status: u16) -> Response<MockBody> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = dialect::forced_error_body(dialect, plan, status.as_u16());
    with_headers(
        error_headers(full(status, body), dialect, plan.error_type),
        plan,
    )
}

/// Bedrock names the error in a header (`x-amzn-errortype`), not in the body.
fn error_headers(
    mut resp: Response<MockBody>,
    dialect: Dialect,
    kind: Option<&str>,
) -> Response<MockBody> {
    if dialect == Dialect::Bedrock {
        let kind = kind.unwrap_or(dialect::bedrock_error_type(resp.status().as_u16()));
        match HeaderValue::try_from(kind) {
            Ok(v) => {
                resp.headers_mut().insert("x-amzn-errortype", v);
            }
            Err(_) => log::warn!("mock provider: invalid error type {kind:?}"),
        }
    }
    resp
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
