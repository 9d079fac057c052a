//! The front doors: the API a client speaks — OpenAI (chat, completions, embeddings),
//! Anthropic Messages (`/v1/messages`, `anthropic.rs`) or OpenAI Responses (`/v1/responses`,
//! `responses.rs`) — and everything that differs by it: how its request is read into the
//! canonical view admission and routing go by, what each attempt sends (behind the Anthropic
//! and Responses doors the client's own request as it is to a deployment that speaks its API, a
//! canonical translation made once, on first need, for any other), and how the answer and its
//! errors are encoded back in the client's API (`ctx.front`, set per attempt). Every door goes
//! through the one `lifecycle::serve`.

use std::time::Duration;

use adapters::anthropic::front as anthropic_front;
use adapters::anthropic::passthrough;
use adapters::provider::Provider;
use adapters::{ApiError, CanonicalRequest, Endpoint};
use bytes::{Bytes, BytesMut};
use pingora::http::RequestHeader;
use pingora::proxy::Session;

pub mod anthropic;
pub mod responses;
pub mod responses_out;

use super::admit;
use super::controls::{Controls, TagSources};
use crate::control::enforce::Caller;
use crate::ctx::{Front, RequestCtx};
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::runtime::Runtime;
use crate::state::AppState;
use crate::upstream::Upstream;

/// The API of a front door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`: the canonical API.
    OpenAi(Endpoint),
    /// The same under Azure OpenAI's paths, `/openai/deployments/{deployment}/…`: the model
    /// group is the path's deployment (it replaces the body's `model`, as in LiteLLM).
    Deployment(Endpoint),
    /// `/v1/messages`.
    Anthropic,
    /// `/v1/responses`.
    Responses,
}

impl Api {
    /// What the request is, set before anything can fail: the shape its errors are written in
    /// (`ctx.front`) and the spend log's call type.
    pub fn open(self, ctx: &mut RequestCtx) {
        ctx.call_type = match self {
            Api::OpenAi(e) | Api::Deployment(e) => match e {
                Endpoint::ChatCompletions => "acompletion",
                Endpoint::Completions => "atext_completion",
                Endpoint::Embeddings => "aembedding",
                Endpoint::ImageGenerations => "aimage_generation",
                Endpoint::Rerank => "arerank",
                Endpoint::Moderations => "amoderation",
            },
            Api::Anthropic => "anthropic_messages",
            Api::Responses => "aresponses",
        };
        match self {
            Api::OpenAi(_) | Api::Deployment(_) => {}
            Api::Anthropic => {
                ctx.front = Front::Anthropic {
                    model: String::new(),
                    stream: None,
                }
            }
            Api::Responses => ctx.front = Front::Responses(Box::default()),
        }
    }
}

/// A client's request as read at its front door.
pub struct Request {
    /// What admission and routing read: the canonical request itself (OpenAI door), or the
    /// minimal canonical view of a door's request (`model`, `stream`, `max_tokens`, `user`,
    /// LiteLLM's fields).
    pub view: CanonicalRequest,
    /// The client's own request behind the Anthropic and Responses doors.
    pub door: Option<Door>,
}

/// Reads the request under the size cap (admission's `read_body`) and parses it once in its
/// API. `caller`: the Responses door expands a `previous_response_id` the caller may see.
pub async fn read(
    state: &AppState,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    api: Api,
    caller: &Caller,
) -> Result<Request, GatewayError> {
    let max = runtime.config.general.max_request_bytes();
    match api {
        Api::OpenAi(endpoint) => {
            let body = admit::read_body(session, max).await?;
            ctx.body_bytes = body.len();
            // LiteLLM's `moderation_model` is the group of every moderation request.
            let model = match endpoint {
                Endpoint::Moderations => runtime.config.general.moderation_model.as_deref(),
                _ => None,
            };
            Ok(Request {
                view: CanonicalRequest::parse_for(endpoint, &body, model)?,
                door: None,
            })
        }
        Api::Deployment(endpoint) => {
            let deployment = deployment_of(session.req_header().uri.path(), endpoint.path())
                .ok_or_else(|| GatewayError::NotFound {
                    method: "POST".into(),
                    path: session.req_header().uri.path().to_string(),
                })?;
            let body = admit::read_body(session, max).await?;
            ctx.body_bytes = body.len();
            Ok(Request {
                view: CanonicalRequest::parse_for(endpoint, &body, Some(&deployment))?,
                door: None,
            })
        }
        Api::Anthropic => anthropic::read(session, ctx, max).await,
        Api::Responses => responses::read(state, session, ctx, max, caller).await,
    }
}

/// The deployment named by an Azure-style path, `/openai/deployments/{deployment}/{endpoint}`
/// (percent-decoded; it may hold slashes, as LiteLLM's `{model:path}`).
pub fn deployment_of(path: &str, endpoint: &str) -> Option<String> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let name = path
        .strip_prefix("/openai/deployments/")?
        .strip_suffix(endpoint)?;
    let mut out = Vec::with_capacity(name.len());
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h)? * 16 + hex(l)?) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().filter(|n| !n.is_empty())
}

impl Request {
    /// After admission: what the request turned out to be (model group, stream), and what
    /// admission decided applied to the client's request — the budgets' `max_tokens` clamp,
    /// a stored response's owner; stream usage asked of the provider for spend.
    pub fn admitted(&mut self, state: &AppState, ctx: &mut RequestCtx) {
        let req = &mut self.view;
        match &mut self.door {
            None => {
                ctx.model_group = Some(req.model.clone());
                ctx.stream = req.stream;
                if req.endpoint == Endpoint::ImageGenerations {
                    let text = |k: &str| req.body.get(k).and_then(|v| v.as_str()).map(String::from);
                    ctx.images = Some(Box::new(crate::ctx::ImageAsk {
                        size: text("size"),
                        quality: text("quality"),
                        made: 0,
                    }));
                }
                if req.endpoint == Endpoint::Rerank {
                    // Priced per search unit from the answer's `meta.billed_units`.
                    ctx.search_units = Some(None);
                }
                if req.stream && !req.include_usage && req.endpoint != Endpoint::Embeddings {
                    // Spend needs the provider's usage: ask for it, and drop it on the way out.
                    req.body.insert(
                        "stream_options".into(),
                        serde_json::json!({"include_usage": true}),
                    );
                    ctx.strip_usage = true;
                }
            }
            Some(Door::Anthropic(door)) => {
                ctx.model_group = Some(req.model.clone());
                ctx.stream = req.stream;
                ctx.front = Front::Anthropic {
                    model: req.model.clone(),
                    stream: None,
                };
                if let Some(max_tokens) = ctx.clamped_max_tokens {
                    door.clamp(max_tokens);
                }
            }
            Some(Door::Responses(door)) => door.admitted(state, ctx, req.stream),
        }
    }

    /// The client's body in its API, for the pre-call guardrails (`guard::pre_call`): the
    /// canonical body behind the OpenAI door, the door's parsed body behind the others.
    pub fn guard_body(&mut self) -> Option<&mut serde_json::Map<String, serde_json::Value>> {
        let (parsed, raw) = match &mut self.door {
            None => return Some(&mut self.view.body),
            Some(Door::Anthropic(d)) => (&mut d.parsed, &d.raw),
            Some(Door::Responses(d)) => (&mut d.parsed, &d.raw),
        };
        if parsed.is_none() {
            *parsed = anthropic_front::parse_object(raw).ok();
        }
        parsed.as_mut()
    }

    /// The guardrails changed the body: a door's bytes as sent are made again from it.
    pub fn guarded(&mut self) {
        let (parsed, raw) = match &mut self.door {
            None => return,
            Some(Door::Anthropic(d)) => (&d.parsed, &mut d.raw),
            Some(Door::Responses(d)) => (&d.parsed, &mut d.raw),
        };
        if let Some(p) = parsed {
            *raw = Bytes::from(serde_json::to_vec(p).expect("JSON values serialize"));
        }
    }

    /// Takes the request's controls (LiteLLM's fields and headers) out of the client's
    /// request: routing uses them, the provider never sees them. Also says where the request's
    /// tags may come from.
    pub fn take_controls<'h>(
        &mut self,
        headers: &'h RequestHeader,
        request_timeout: Duration,
    ) -> Result<(Option<Box<Controls>>, TagSources<'h>), GatewayError> {
        match self.door.as_mut() {
            Some(door) => Ok((
                door.take_controls(headers, request_timeout)?,
                TagSources::any(headers),
            )),
            None => Controls::take(&mut self.view.body, headers, request_timeout),
        }
    }
}

/// The client's own request behind a non-chat front door — Anthropic Messages or OpenAI
/// Responses — as the attempts use it: sent as it is to a deployment that speaks the same API,
/// translated (once, on first need) to the canonical chat request for every other one. Each
/// attempt sets `ctx.front` to match, so the answer goes back in the client's API.
pub enum Door {
    Anthropic(Box<anthropic::Door>),
    Responses(Box<responses::Door>),
}

impl Door {
    /// Takes the request's controls (LiteLLM's fields) out of the client's body.
    fn take_controls(
        &mut self,
        headers: &RequestHeader,
        request_timeout: Duration,
    ) -> Result<Option<Box<Controls>>, GatewayError> {
        match self {
            Door::Anthropic(d) => d.take_controls(headers, request_timeout),
            Door::Responses(d) => d.take_controls(headers, request_timeout),
        }
    }

    /// The client's own request body as sent (the Anthropic door's; the response cache keys
    /// it), or `None`.
    pub fn raw(&self) -> Option<&Bytes> {
        match self {
            Door::Anthropic(d) => Some(d.raw()),
            Door::Responses(_) => None,
        }
    }

    /// Whether a `provider` deployment takes the client's request as it is.
    pub fn native_for(&self, provider: Provider) -> bool {
        match self {
            Door::Anthropic(_) => provider.dialect().speaks_anthropic_messages(),
            Door::Responses(_) => provider.speaks_openai_responses(),
        }
    }

    /// The client's request for `dep` as it is (only `model`, and what the door must change,
    /// replaced; the deployment's credentials); the answer is relayed unchanged.
    pub fn native(
        &mut self,
        dep: &DeploymentRt,
        upstream: &Upstream,
        client: &RequestHeader,
        model: &str,
        ctx: &mut RequestCtx,
    ) -> Result<(Box<RequestHeader>, Bytes), GatewayError> {
        match self {
            Door::Anthropic(d) => {
                ctx.front = Front::AnthropicNative;
                anthropic::native_request(dep, upstream, client, d.raw(), model)
            }
            Door::Responses(d) => {
                ctx.front = Front::Responses(Box::new(d.native_shape()));
                d.native_request(dep, upstream, model)
            }
        }
    }

    /// The request translated for a `provider` deployment (`view` carries the model group).
    /// `drop_params`: what the client sent that the translation cannot carry is left out (and
    /// logged) instead of refused — for the Responses bridge, built-in tools such as the
    /// `web_search` Codex CLI sends.
    pub fn translated<'a>(
        &'a mut self,
        view: &CanonicalRequest,
        provider: Provider,
        drop_params: bool,
        ctx: &mut RequestCtx,
    ) -> Result<&'a mut CanonicalRequest, GatewayError> {
        match self {
            Door::Anthropic(d) => {
                ctx.front = Front::Anthropic {
                    model: view.model.clone(),
                    stream: None,
                };
                d.canonical(view, provider)
            }
            Door::Responses(d) => {
                d.translate(view, provider, drop_params)?;
                ctx.front = Front::Responses(Box::new(d.bridged_shape()));
                Ok(d.translated_mut())
            }
        }
    }
}

/// An attempt's error, told in the client's terms: a deployment's refusal of a parameter the
/// Anthropic translation produced names the Anthropic field it came from.
pub fn explain(front: &Front, e: GatewayError) -> GatewayError {
    match front {
        Front::Anthropic { .. } => anthropic::explain(e),
        _ => e,
    }
}

/// A whole 2xx answer in the client's API: the provider's Responses object as it is or a
/// bridged one, a canonical body converted for Anthropic clients, otherwise as it is. Notes
/// the usage (read in whichever shape the provider answered) and the cost; an answer that
/// cannot be converted is the error returned.
pub fn whole<'a>(
    ctx: &mut RequestCtx,
    content_type: &'a str,
    body: Bytes,
) -> Result<(&'a str, Bytes), ApiError> {
    // A Responses client's answer: the provider's object as it is, or made from the chat body.
    let mut responses_usage = None;
    let (content_type, body) = match &mut ctx.front {
        Front::Responses(shape) => {
            let (body, usage) = shape.whole(body)?;
            responses_usage = usage;
            ("application/json", body)
        }
        _ => (content_type, body),
    };
    let usage = match ctx.front {
        Front::AnthropicNative => passthrough::usage_of(&body),
        Front::Responses(_) => responses_usage,
        _ => adapters::openai::response::usage_of(&body),
    };
    if let Some(u) = usage {
        ctx.note_usage(&u);
    }
    if let Some(images) = ctx.images.as_deref_mut() {
        images.made = adapters::openai::response::images_of(&body);
    }
    if ctx.search_units.is_some() {
        let billed = adapters::rerank::billed_of(&body);
        ctx.search_units = Some(billed.search_units);
        if let Some(tokens) = billed.tokens {
            ctx.prompt_tokens = tokens;
            ctx.usage_seen = true;
        }
    }
    ctx.compute_cost();
    crate::observe::on_whole(ctx, &body);
    match &ctx.front {
        Front::Anthropic { model, .. } => {
            let b = anthropic_front::response_from_canonical(&body, model)?;
            Ok(("application/json", Bytes::from(b)))
        }
        _ => Ok((content_type, body)),
    }
}

/// Canonical SSE bytes → what the client reads: unchanged for OpenAI clients and native
/// pass-through, Anthropic events for Anthropic clients, bridged Responses events for
/// Responses clients. `end` closes the Anthropic message or the Responses stream.
pub fn encode(ctx: &mut RequestCtx, canonical: BytesMut, end: bool) -> Bytes {
    crate::observe::on_stream(ctx, &canonical);
    let call_id = &ctx.call_id;
    match &mut ctx.front {
        Front::OpenAi | Front::AnthropicNative => canonical.freeze(),
        Front::Responses(shape) if shape.native => canonical.freeze(),
        Front::Responses(shape) => shape.encode(&canonical, end),
        Front::Anthropic { model, stream } => {
            let enc = stream.get_or_insert_with(|| {
                Box::new(anthropic_front::StreamToAnthropic::new(
                    model,
                    &format!("msg_{}", call_id.replace('-', "")),
                ))
            });
            let mut out = BytesMut::with_capacity(canonical.len() * 2);
            if let Err(e) = enc.push(&canonical, &mut out) {
                // The canonical stream itself was broken: tell the client and stop.
                out.extend_from_slice(&anthropic_front::error_event(&e));
                return out.freeze();
            }
            if end {
                enc.finish(&mut out);
            }
            out.freeze()
        }
    }
}
