//! The OpenAI Responses door, `POST /v1/responses`: Codex CLI and the OpenAI SDK's
//! `responses.create` reach any model group. Before routing only the few fields admission
//! needs are read (`adapters::responses::front::read`); a `previous_response_id` is expanded
//! from the stored conversation (`crate::stored`; unknown, expired or another key's: 404). A
//! deployment that speaks Responses (OpenAI, Azure) gets the client's body with only `model`,
//! the conversation and the budget's `max_output_tokens` changed, and its answer is relayed as
//! it is; any other gets a canonical chat translation made when it is first attempted, and the
//! answer is bridged back (`responses_out.rs`). The response is queued for storage (unless
//! `store: false`) once it is complete, before its last bytes go out. `GET`/`DELETE
//! /v1/responses/{id}` and `…/input_items` are in `routes/responses.rs`.

use std::sync::Arc;

use adapters::dialect::ProviderRequest;
use adapters::provider::Provider;
use adapters::responses::front::{self, View};
use adapters::responses::request;
use adapters::{ApiError, CanonicalRequest, Endpoint};
use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use serde_json::{Map, Value};

use super::responses_out::{Keep, Shape};
use super::Request;
use crate::control::enforce::Caller;
use crate::ctx::RequestCtx;
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::lifecycle::controls::Controls;
use crate::lifecycle::{admit, translate};
use crate::state::AppState;
use crate::upstream::Upstream;

/// Azure's Responses API needs at least this `api-version`; a deployment configured with an
/// older one (the chat default is 2024-10-21) is called with this one instead.
const AZURE_RESPONSES_API_VERSION: &str = "2025-03-01-preview";

/// LiteLLM's routing field a Responses provider does not take: read by routing, not sent.
const NOT_SENT: [&str; 1] = ["tags"];

/// A Responses client's request as the attempts need it: the bytes it sent, the body parsed
/// (for the pass-through body), the conversation it continues, and its canonical translation,
/// made on the first attempt that needs one.
pub struct Door {
    /// The model the client asked for (before a key's alias): the model group until routing
    /// names the group it serves the request from.
    pub(crate) model: String,
    pub(crate) raw: Bytes,
    /// The parsed body, until a translation consumes it.
    pub(crate) parsed: Option<Map<String, Value>>,
    pub(crate) history: Arc<Vec<Value>>,
    /// The `resp_…` id of a bridged response (made with the translation), and its creation
    /// time (Unix s).
    pub(crate) id: String,
    pub(crate) created_at: u64,
    /// The request's settings a bridged response echoes, taken before translating.
    pub(crate) echo: Option<Arc<Map<String, Value>>>,
    pub(crate) translated: Option<CanonicalRequest>,
    /// The budget clamp of `max_output_tokens`, if admission made one.
    pub(crate) clamp: Option<u64>,
    /// Where the response is stored (`None`: `store: false`, or storage off).
    pub(crate) keep: Option<Arc<Keep>>,
    /// The request's `store` (default true).
    pub(crate) store: bool,
}

impl Door {
    /// The parsed body; parsed again from the client's bytes when a translation consumed it
    /// (a fallback from a bridged group to a passed-through one), with what was taken out
    /// (controls, `tags`) taken out again and the clamp applied again.
    fn parsed(&mut self) -> Result<&mut Map<String, Value>, GatewayError> {
        if self.parsed.is_none() {
            let mut p = front::parse_object(&self.raw).map_err(GatewayError::Invalid)?;
            for key in NOT_SENT {
                p.remove(key);
            }
            let headers = RequestHeader::build("POST", b"/", None).expect("a valid header");
            let _ = Controls::take(&mut p, &headers, std::time::Duration::MAX);
            if let Some(n) = self.clamp {
                p.insert("max_output_tokens".into(), n.into());
            }
            self.parsed = Some(p);
        }
        Ok(self.parsed.as_mut().expect("parsed above"))
    }

    /// Lowers `max_output_tokens` to what the budgets can pay (admission clamped it), for
    /// pass-through and translation alike.
    pub(crate) fn clamp(&mut self, max_tokens: u64) {
        self.clamp = Some(max_tokens);
        if let Ok(parsed) = self.parsed() {
            parsed.insert("max_output_tokens".into(), max_tokens.into());
        }
    }

    /// Takes the request's controls (LiteLLM's fields) and its `tags` out of the body: none
    /// reaches the provider.
    pub fn take_controls(
        &mut self,
        headers: &RequestHeader,
        request_timeout: std::time::Duration,
    ) -> Result<Option<Box<Controls>>, GatewayError> {
        let parsed = self.parsed()?;
        for key in NOT_SENT {
            parsed.remove(key);
        }
        Ok(Controls::take(parsed, headers, request_timeout)?.0)
    }

    /// What `ctx.front` holds for a passed-through attempt.
    pub fn native_shape(&self) -> Shape {
        Shape {
            native: true,
            keep: self.keep.clone(),
            ..Shape::default()
        }
    }

    /// What `ctx.front` holds for a bridged attempt.
    pub fn bridged_shape(&self) -> Shape {
        Shape {
            native: false,
            id: self.id.clone(),
            created_at: self.created_at,
            echo: self.echo.clone().unwrap_or_default(),
            keep: self.keep.clone(),
            ..Shape::default()
        }
    }

    /// The client's request for an OpenAI or Azure deployment: its body with `model` replaced
    /// and the carried-over conversation in `input`, at `/responses` below the deployment's
    /// base (Azure: `/openai/responses?api-version=…`), with the deployment's key.
    pub fn native_request(
        &mut self,
        dep: &DeploymentRt,
        upstream: &Upstream,
        model: &str,
    ) -> Result<(Box<RequestHeader>, Bytes), GatewayError> {
        let history = self.history.clone();
        let body = front::passthrough_body(self.parsed()?, model, &history, None);
        let c = &dep.conf;
        let base = c.api_base.as_ref().map(|b| b.path.as_str()).unwrap_or("");
        let stream = self
            .parsed
            .as_ref()
            .and_then(|p| p.get("stream"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        let mut headers = vec![("accept", accept.to_string())];
        let path = if c.provider == Provider::Azure {
            let configured = c
                .api_version
                .as_deref()
                .or_else(|| c.internal_params.get("api_version").and_then(Value::as_str));
            let version = configured
                .filter(|v| *v >= AZURE_RESPONSES_API_VERSION)
                .unwrap_or(AZURE_RESPONSES_API_VERSION);
            let token = c
                .internal_params
                .get("azure_ad_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty());
            if let Some(token) = token {
                headers.push(("authorization", format!("Bearer {token}")));
            } else if let Some(key) = &c.api_key {
                headers.push(("api-key", key.expose().to_string()));
            }
            let version: String =
                url::form_urlencoded::byte_serialize(version.as_bytes()).collect();
            format!("{base}/openai/responses?api-version={version}")
        } else {
            if let Some(key) = &c.api_key {
                headers.push(("authorization", format!("Bearer {}", key.expose())));
            }
            format!("{base}/responses")
        };
        let pr = ProviderRequest {
            path,
            headers,
            body,
        };
        translate::frame(upstream, pr, &c.model_name)
    }

    /// Translates the request to the canonical chat request (once; the same for every
    /// provider), keeping the settings its response echoes. A translation error is a 400; what
    /// was left out is logged once.
    pub fn translate(
        &mut self,
        view: &CanonicalRequest,
        provider: Provider,
        drop_params: bool,
    ) -> Result<(), GatewayError> {
        if self.translated.is_some() {
            return Ok(());
        }
        let history = self.history.clone();
        self.parsed()?;
        let parsed = self.parsed.take().expect("parsed above");
        self.echo = Some(Arc::new(adapters::responses::response::echoed(&parsed)));
        self.id = adapters::responses::new_id("resp");
        let opts = request::Options {
            drop_builtin_tools: drop_params,
        };
        let t = request::translate_with(parsed, &history, opts).map_err(GatewayError::Invalid)?;
        if !t.skipped.is_empty() {
            log::warn!(
                "/v1/responses for model group {}: translating for {} left out {}",
                view.model,
                provider.prefix(),
                t.skipped.join("; ")
            );
        }
        let mut req = t.req;
        req.body
            .insert("model".into(), Value::String(view.model.clone()));
        req.model = view.model.clone();
        self.translated = Some(req);
        Ok(())
    }

    /// The translation made by [`Door::translate`].
    pub fn translated_mut(&mut self) -> &mut CanonicalRequest {
        self.translated.as_mut().expect("translated first")
    }
}

/// Reads a Responses request: the client's bytes as sent, the conversation it continues, and
/// the canonical view admission and routing read.
pub(super) async fn read(
    state: &AppState,
    session: &mut Session,
    ctx: &mut RequestCtx,
    max: usize,
    caller: &Caller,
) -> Result<Request, GatewayError> {
    let raw = admit::read_body(session, max).await?.freeze();
    let (view, parsed) = front::read(&raw).map_err(GatewayError::Invalid)?;
    let (history, history_bytes) = match &view.previous_response_id {
        Some(id) => conversation(state, caller, id).await?,
        None => (Arc::new(Vec::new()), 0),
    };
    ctx.body_bytes = raw.len() + history_bytes;
    let req = admission_view(&view, &parsed);
    let door = Door {
        model: view.model,
        raw,
        parsed: Some(parsed),
        history,
        id: String::new(),
        created_at: crate::clock::unix_now(),
        echo: None,
        translated: None,
        clamp: None,
        keep: None,
        store: view.store,
    };
    Ok(Request {
        view: req,
        door: Some(super::Door::Responses(Box::new(door))),
    })
}

impl Door {
    /// After admission: the budget clamp, and where (and as whose) the response is stored.
    pub(super) fn admitted(&mut self, state: &AppState, ctx: &mut RequestCtx, stream: bool) {
        ctx.model_group = Some(self.model.clone());
        ctx.stream = stream;
        if let Some(max_tokens) = ctx.clamped_max_tokens {
            self.clamp(max_tokens);
        }
        if self.store && state.responses.enabled() {
            self.keep = Some(Arc::new(Keep {
                store: state.responses.clone(),
                owner: crate::stored::owner_of(ctx.caller.as_ref()),
                created_at_ms: ctx.started_at_ms,
                request: self.raw.clone(),
                history: self.history.clone(),
            }));
        }
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
