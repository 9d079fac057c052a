//! Mock LLM provider speaking the OpenAI, Azure OpenAI, Anthropic, Gemini, Ollama, Cohere and
//! Amazon Bedrock dialects (plus a Google OAuth token endpoint):
//! a hyper 1 HTTP/1.1 server (keep-alive) used by the load harness (`mock-provider` binary) and
//! by the e2e tests (in-process, ephemeral port).
//!
//! OpenAI routes, each with and without the `/v1` prefix:
//! - `POST /chat/completions`: `chat.completion`, or with `"stream": true` an SSE stream of
//!   `chat.completion.chunk` events: one with `delta.role`, [`MockConfig::chunks`] with
//!   `delta.content` (each after [`MockConfig::chunk_interval`]), one with
//!   `finish_reason: "stop"`, a usage chunk when `stream_options.include_usage`, then
//!   `data: [DONE]`. With [`MockConfig::tool_call`]: `tool_calls`, `finish_reason: "tool_calls"`.
//! - `POST /completions`: `text_completion`, streamed the same way (no role event).
//! - Both return `n` identical choices (1–128; streamed: one event per choice at each step),
//!   and bill like OpenAI: `usage.completion_tokens` is the per-choice count
//!   ([`MockConfig::completion_tokens`], else the words sent) times the completions generated
//!   — `n`, or `best_of` (legacy completions, up to 20) when that is more.
//! - `POST /responses` (also Azure's `/openai/responses?api-version=`): a Responses API
//!   `response` (one assistant `message`, or with [`MockConfig::tool_call`] one
//!   `function_call` item), or with `"stream": true` the typed event sequence ending in
//!   `response.completed` (see `responses.rs`); usage as for chat.
//! - `POST /embeddings`: one deterministic unit vector per input (floats or base64).
//! - `POST /images/generations`: `n` image URLs (or `b64_json`), see `openai.rs`.
//! - Rerank (Cohere `/v1/rerank` and `/v2/rerank`, `/rerank` for vLLM/Jina/Infinity and
//!   Bedrock, Vertex AI `:rank`) and `POST /moderations`: see `rerank.rs`.
//! - `POST /audio/transcriptions`, `/audio/translations`, `/images/edits` (multipart) and
//!   `POST /audio/speech` (audio streamed back), see `media.rs`.
//! - `GET /models`: [`MockConfig::models`].
//! - `/files…` and `/batches…` (also Azure's `/openai/files…`, `/openai/batches…`): the Files
//!   and Batch APIs in memory, batches completing after a moment (see `batches.rs`).
//! - `GET /__mock/stats`: the counters as JSON (for out-of-process users of the binary).
//!
//! Other dialects (see `dialect.rs` for the routes and auth checks, and the module of each):
//! Azure OpenAI `/openai/deployments/{d}/…?api-version=`, Anthropic `/v1/messages`
//! (+ `/count_tokens`), Gemini `/v1beta/models/{m}:…` and Vertex
//! `/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:…`, Ollama `/api/*`, Cohere
//! `/v2/chat` and `/v2/embed`, Bedrock `/model/{id}/converse` (+ `converse-stream`, `invoke`),
//! and Google's OAuth `POST /token` (service-account JWT → access token, for Vertex). Errors
//! (forced or not) take the shape of the route's dialect.
//!
//! Any request can carry a `"mock"` object ([`MockOverride`]) that overrides the config for
//! that request only; [`MockServer::fail_next`] fails the next N requests whatever they carry.

mod anthropic;
mod batches;
mod bedrock;
mod body;
mod cohere;
mod config;
mod dialect;
mod gemini;
mod google_oauth;
mod handler;
mod images;
mod media;
mod ollama;
mod openai;
mod render;
mod rerank;
mod responses;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use config::{MockConfig, MockOverride, MockToolCall};
pub use render::{embedding_vector, split_content};

/// How many requests [`MockServer::requests`] keeps.
pub const RECORDED_REQUESTS: usize = 64;

/// One request as the mock received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path with query string, e.g. `/v1/chat/completions?x=1`.
    pub path: String,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The full request body.
    pub body: Bytes,
    /// When the request head was handed to the service.
    pub received_at: Instant,
}

impl RecordedRequest {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// State shared by the server's connections and the [`MockServer`] handle.
pub(crate) struct Shared {
    cfg: RwLock<Arc<MockConfig>>,
    recorded: Mutex<VecDeque<RecordedRequest>>,
    pub(crate) request_count: AtomicUsize,
    pub(crate) streams_started: AtomicUsize,
    pub(crate) streams_completed: AtomicUsize,
    pub(crate) streams_aborted: AtomicUsize,
    /// `POST /token` requests (answered or not); reset by [`MockServer::reset`].
    pub(crate) token_requests: AtomicUsize,
    /// The highest `n` of the `ya29.mock-<n>` tokens issued so far (never reset, so a
    /// gateway's cached token stays valid across [`MockServer::reset`]).
    pub(crate) tokens_issued: AtomicU64,
    fail_remaining: AtomicUsize,
    fail_status: AtomicU16,
    pub(crate) seq: AtomicU64,
    /// Files and batches (`batches.rs`).
    pub(crate) files: Mutex<batches::Files>,
    /// Request body bytes received, counted as they arrive (never reset).
    pub(crate) body_bytes: AtomicU64,
}

impl Shared {
    fn new(cfg: MockConfig) -> Self {
        Shared {
            cfg: RwLock::new(Arc::new(cfg)),
            recorded: Mutex::new(VecDeque::with_capacity(RECORDED_REQUESTS)),
            request_count: AtomicUsize::new(0),
            streams_started: AtomicUsize::new(0),
            streams_completed: AtomicUsize::new(0),
            streams_aborted: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            tokens_issued: AtomicU64::new(0),
            fail_remaining: AtomicUsize::new(0),
            fail_status: AtomicU16::new(0),
            seq: AtomicU64::new(1),
            files: Mutex::default(),
            body_bytes: AtomicU64::new(0),
        }
    }

    pub(crate) fn config(&self) -> Arc<MockConfig> {
        self.cfg
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn record(&self, r: RecordedRequest) {
        let mut q = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() == RECORDED_REQUESTS {
            q.pop_front();
        }
        q.push_back(r);
    }

    /// The status to force on this request, consuming one of [`MockServer::fail_next`]'s.
    pub(crate) fn take_forced_failure(&self) -> Option<u16> {
        self.fail_remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .ok()
            .map(|_| self.fail_status.load(Ordering::Acquire))
    }
}

/// A running mock provider. It serves on its own thread (a current-thread tokio runtime), so it
/// keeps answering whatever the caller's runtime does (blocking waits, `current_thread` tests).
/// Dropping the handle stops the server too; [`MockServer::shutdown`] also waits for it.
pub struct MockServer {
    /// The bound address (127.0.0.1 and an ephemeral port unless [`MockServer::start_on`]).
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<()>>,
}

impl MockServer {
    /// Starts a mock on `127.0.0.1:0` (an ephemeral port).
    pub async fn start(cfg: MockConfig) -> io::Result<MockServer> {
        Self::start_blocking(cfg)
    }

    /// Starts a mock on `addr`.
    pub async fn start_on(addr: SocketAddr, cfg: MockConfig) -> io::Result<MockServer> {
        Self::start_blocking_on(addr, cfg)
    }

    /// [`MockServer::start`] for non-async callers.
    pub fn start_blocking(cfg: MockConfig) -> io::Result<MockServer> {
        Self::start_blocking_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), cfg)
    }

    /// [`MockServer::start_on`] for non-async callers.
    pub fn start_blocking_on(addr: SocketAddr, cfg: MockConfig) -> io::Result<MockServer> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _guard = rt.enter();
            TcpListener::from_std(std_listener)?
        };
        let shared = Arc::new(Shared::new(cfg));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let server_shared = shared.clone();
        std::thread::Builder::new()
            .name(format!("mock-provider-{}", addr.port()))
            .spawn(move || {
                rt.block_on(serve_shared(listener, server_shared, async {
                    // Resolves on send and when the handle is dropped.
                    let _ = stop_rx.await;
                }));
                // Dropping the runtime closes every open connection.
                drop(rt);
                let _ = done_tx.send(());
            })?;
        Ok(MockServer {
            addr,
            shared,
            stop: Some(stop_tx),
            done: Some(done_rx),
        })
    }

    /// Base URL for an OpenAI client: `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The last [`RECORDED_REQUESTS`] requests, oldest first (empty when
    /// [`MockConfig::record_requests`] is off).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        let q = self
            .shared
            .recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        q.iter().cloned().collect()
    }

    /// Requests received (all routes), since start or [`MockServer::reset`].
    pub fn request_count(&self) -> usize {
        self.shared.request_count.load(Ordering::Relaxed)
    }

    /// Request body bytes received on every route since start, counted as each piece arrives
    /// (before the request is complete): how far an upload has reached the provider.
    pub fn body_bytes_received(&self) -> u64 {
        self.shared.body_bytes.load(Ordering::Relaxed)
    }

    /// Streamed responses begun (headers sent or about to be).
    pub fn streams_started(&self) -> usize {
        self.shared.streams_started.load(Ordering::Relaxed)
    }

    /// Streams whose every event, including `[DONE]`, was handed to the connection.
    pub fn streams_completed(&self) -> usize {
        self.shared.streams_completed.load(Ordering::Relaxed)
    }

    /// Streams abandoned because the peer went away before the end (the connection failed and
    /// hyper dropped the body). Detection needs a write to fail, so it lags the disconnect by up
    /// to one or two events. Injected failures ([`MockConfig::fail_after_chunks`]) do not
    /// count; streams cut by [`MockServer::shutdown`] do.
    pub fn streams_aborted(&self) -> usize {
        self.shared.streams_aborted.load(Ordering::Relaxed)
    }

    /// `POST /token` requests received (Google OAuth, see [`MockConfig::require_oauth_token`]),
    /// whether or not they got a token; they count in [`MockServer::request_count`] too.
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::Relaxed)
    }

    /// The current config.
    pub fn config(&self) -> MockConfig {
        (*self.shared.config()).clone()
    }

    /// Replaces the config; requests already being answered keep the old one.
    pub fn set_config(&self, cfg: MockConfig) {
        *self
            .shared
            .cfg
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(cfg);
    }

    /// The next `n` API requests (any route but `/__mock/*` and `/token`, once past the route's
    /// auth check) answer `status` with an error in the route's dialect (OpenAI-shaped on OpenAI
    /// and Azure routes), whatever their `"mock"` override says; later ones behave normally. For
    /// retry and fallback tests: the gateway resends the same body on a retry.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.shared.fail_status.store(status, Ordering::Release);
        self.shared.fail_remaining.store(n, Ordering::Release);
    }

    /// Clears recorded requests, counters and pending [`MockServer::fail_next`] failures.
    /// Access tokens already issued stay valid.
    pub fn reset(&self) {
        let s = &self.shared;
        s.recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        for c in [
            &s.request_count,
            &s.streams_started,
            &s.streams_completed,
            &s.streams_aborted,
            &s.token_requests,
            &s.fail_remaining,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Polls `cond` every 5 ms until it holds (true) or `timeout` passes (false). Needs a tokio
    /// runtime with time enabled (any `#[tokio::test]`).
    pub async fn wait_until(&self, timeout: Duration, cond: impl Fn(&MockServer) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if cond(self) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops accepting, closes every connection (streams in flight count as aborted) and waits
    /// for the server thread to finish.
    pub async fn shutdown(mut self) {
        drop(self.stop.take());
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Serves the mock on `listener` until `stop` resolves, on the caller's runtime (the
/// `mock-provider` binary uses this with its own multi- or single-thread runtime).
pub async fn serve(listener: TcpListener, cfg: MockConfig, stop: impl Future<Output = ()>) {
    serve_shared(listener, Arc::new(Shared::new(cfg)), stop).await;
}

async fn serve_shared(listener: TcpListener, shared: Arc<Shared>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_conn(stream, shared.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    log::warn!("mock provider: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

async fn serve_conn(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let svc = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handler::handle(shared, req).await) }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), svc);
    if let Err(e) = conn.await {
        log::debug!("mock provider: connection ended: {e}");
    }
}
