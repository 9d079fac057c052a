//! The Anthropic Messages door, `POST /v1/messages` and `/v1/messages/count_tokens`: Claude
//! Code and the Anthropic SDK reach any model group. Before routing only the few fields
//! admission needs are read (`passthrough::read`); an Anthropic deployment gets the client's
//! body as sent (only `model` replaced), any other deployment a canonical translation made when
//! it is first attempted, and the answer goes back in Anthropic's shape (`front::whole`,
//! `front::encode`). Refusals of translated parameters are told in Anthropic's terms.

use std::sync::Arc;

use adapters::anthropic::front::{self, Translation};
use adapters::anthropic::passthrough;
use adapters::dialect::ProviderRequest;
use adapters::provider::Provider;
use adapters::CanonicalRequest;
use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use serde_json::{Map, Value};

use super::Request;
use crate::ctx::RequestCtx;
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::lifecycle::controls::Controls;
use crate::lifecycle::{admit, auth, translate};
use crate::reply::{respond, Served};
use crate::state::AppState;
use crate::upstream::Upstream;

/// The `anthropic-version` sent when the client named none.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// An Anthropic client's request as the attempts need it: the bytes it sent (for Anthropic
/// deployments), and its canonical translation, made on the first attempt that needs one.
pub struct Door {
    pub(crate) raw: Bytes,
    /// The parsed body, until a translation consumes it.
    pub(crate) parsed: Option<Map<String, Value>>,
    pub(crate) translated: Option<(Translation, CanonicalRequest)>,
}

impl Door {
    /// Lowers `max_tokens` to what the budgets can pay (admission clamped it): the body is
    /// re-serialized with it, for Anthropic deployments and translations alike.
    pub(crate) fn clamp(&mut self, max_tokens: u64) {
        let mut parsed = match self.parsed.take() {
            Some(p) => p,
            None => match front::parse_object(&self.raw) {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        parsed.insert("max_tokens".into(), max_tokens.into());
        self.raw = Bytes::from(serde_json::to_vec(&parsed).expect("JSON values serialize"));
        self.parsed = Some(parsed);
    }

    /// Takes the request's controls (LiteLLM's fields, `controls.rs`) out of the client's body,
    /// which is re-serialized without them only when it had any: none reaches the provider.
    pub fn take_controls(
        &mut self,
        headers: &RequestHeader,
        request_timeout: std::time::Duration,
    ) -> Result<Option<Box<Controls>>, GatewayError> {
        let Some(parsed) = self.parsed.as_mut() else {
            return Ok(Controls::take(&mut Map::new(), headers, request_timeout)?.0);
        };
        let fields = parsed.len();
        let (controls, _) = Controls::take(parsed, headers, request_timeout)?;
        if parsed.len() != fields {
            self.raw = Bytes::from(serde_json::to_vec(&*parsed).expect("JSON values serialize"));
        }
        Ok(controls)
    }

    /// The client's body as sent.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The request in the canonical shape for a `provider` deployment, translated once per
    /// kind of target (`view` carries the model group after aliases). A translation error is a
    /// 400 for this attempt; what was left out is logged once.
    pub fn canonical(
        &mut self,
        view: &CanonicalRequest,
        provider: Provider,
    ) -> Result<&mut CanonicalRequest, GatewayError> {
        let opts = Translation {
            cache_control: provider.dialect().takes_cache_control(),
        };
        if !matches!(&self.translated, Some((o, _)) if *o == opts) {
            let parsed = match self.parsed.take() {
                Some(p) => p,
                None => front::parse_object(&self.raw).map_err(GatewayError::Invalid)?,
            };
            let t = front::translate(parsed, opts).map_err(GatewayError::Invalid)?;
            if !t.skipped.is_empty() {
                log::warn!(
                    "/v1/messages for model group {}: translating for {} left out {}",
                    view.model,
                    provider.prefix(),
                    t.skipped.join("; ")
                );
            }
            let mut req = t.req;
            req.body
                .insert("model".into(), Value::String(view.model.clone()));
            req.model = view.model.clone();
            self.translated = Some((opts, req));
        }
        Ok(&mut self.translated.as_mut().expect("translated above").1)
    }
}

/// Canonical parameters the translation derives from Anthropic fields, for errors about them.
const DERIVED: [(&str, &str); 5] = [
    ("reasoning_effort", "thinking / output_config.effort"),
    ("stop", "stop_sequences"),
    ("user", "metadata.user_id"),
    ("tool_choice", "tool_choice"),
    (
        "parallel_tool_calls",
        "tool_choice.disable_parallel_tool_use",
    ),
];

/// A deployment's refusal of a parameter the translation produced, told in the client's terms:
/// the Anthropic field it came from, and what to do about it.
pub fn explain(e: GatewayError) -> GatewayError {
    let GatewayError::Invalid(mut api) = e else {
        return e;
    };
    let from = api
        .param
        .as_deref()
        .and_then(|p| DERIVED.iter().find(|(c, _)| *c == p))
        .map(|(_, from)| *from);
    if let Some(from) = from {
        api.message = format!(
            "{} (translated from this request's {from}{})",
            api.message,
            if from.starts_with("thinking") {
                "; or turn thinking off in the client, for Claude Code CLAUDE_CODE_DISABLE_THINKING=1"
            } else {
                ""
            }
        );
        api.param = Some(from.split(' ').next().unwrap_or(from).to_string());
    }
    GatewayError::Invalid(api)
}

/// The client's own Anthropic request for an Anthropic deployment: the body as sent with only
/// `model` changed, the client's query string (`?beta=true`), `anthropic-version` and
/// `anthropic-beta`; the deployment's key replaces the client's.
pub(crate) fn native_request(
    dep: &DeploymentRt,
    upstream: &Upstream,
    client: &RequestHeader,
    raw: &[u8],
    model: &str,
) -> Result<(Box<RequestHeader>, Bytes), GatewayError> {
    let body = passthrough::with_model(raw, model);
    let client_header = |name: &str| {
        client
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut headers = vec![(
        "anthropic-version",
        client_header("anthropic-version").unwrap_or_else(|| ANTHROPIC_VERSION.to_string()),
    )];
    if let Some(beta) = client_header("anthropic-beta") {
        headers.push(("anthropic-beta", beta));
    }
    if let Some(key) = &dep.conf.api_key {
        headers.push(("x-api-key", key.expose().to_string()));
    }
    let base = dep
        .conf
        .api_base
        .as_ref()
        .map(|b| b.path.as_str())
        .unwrap_or("");
    let path = match client.uri.query() {
        Some(q) => format!("{base}/v1/messages?{q}"),
        None => format!("{base}/v1/messages"),
    };
    let pr = ProviderRequest {
        path,
        headers,
        body,
    };
    translate::frame(upstream, pr, &dep.conf.model_name)
}

/// Reads an Anthropic request: the client's bytes as sent, and the canonical view of the few
/// fields admission and routing need.
pub(super) async fn read(
    session: &mut Session,
    ctx: &mut RequestCtx,
    max: usize,
) -> Result<Request, GatewayError> {
    let raw = admit::read_body(session, max).await?.freeze();
    ctx.body_bytes = raw.len();
    let (view, parsed) = passthrough::read(&raw).map_err(GatewayError::Invalid)?;
    Ok(Request {
        view,
        door: Some(super::Door::Anthropic(Box::new(Door {
            raw,
            parsed: Some(parsed),
            translated: None,
        }))),
    })
}

/// `POST /v1/messages/count_tokens`: an estimate, computed locally (see
/// `adapters::anthropic::passthrough::count_tokens`).
pub async fn count_tokens(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx) {
    ctx.front = crate::ctx::Front::Anthropic {
        model: String::new(),
        stream: None,
    };
    let runtime = state.runtime();
    let result = async {
        auth::authenticate(&state.control, &runtime, session.req_header())?;
        let raw = admit::read_body(session, runtime.config.general.max_request_bytes()).await?;
        passthrough::count_tokens(&raw).map_err(GatewayError::Invalid)
    }
    .await;
    match result {
        Ok(body) => {
            ctx.status = 200;
            if let Err(e) = respond(
                session,
                200,
                "application/json",
                Bytes::from(body),
                &ctx.call_id,
                &[],
            )
            .await
            {
                ctx.failure = Some(format!("client went away: {e}"));
            }
        }
        Err(e) => crate::reply::fail(session, ctx, e, Served::Llm).await,
    }
}
