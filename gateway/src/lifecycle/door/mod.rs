//! The client's own request behind a non-chat front door — Anthropic Messages
//! (`anthropic::Door`) or OpenAI Responses (`responses::Door`) — as the attempts use it: sent as
//! it is to a deployment that speaks the same API, translated (once, on first need) to the
//! canonical chat request for every other one. Each attempt sets `ctx.front` to match, so the
//! answer goes back in the client's API.

use std::time::Duration;

use adapters::provider::Provider;
use adapters::CanonicalRequest;
use bytes::Bytes;
use pingora::http::RequestHeader;

pub mod anthropic;
pub mod responses;

use super::controls::Controls;
use crate::ctx::{Front, RequestCtx};
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::upstream::Upstream;

/// See the module doc.
pub enum Door<'a> {
    Anthropic(&'a mut anthropic::Door),
    Responses(&'a mut responses::Door),
}

impl<'a> Door<'a> {
    /// The same door, borrowed for one attempt.
    pub fn reborrow(&mut self) -> Door<'_> {
        match self {
            Door::Anthropic(d) => Door::Anthropic(d),
            Door::Responses(d) => Door::Responses(d),
        }
    }

    /// Takes the request's controls (LiteLLM's fields) out of the client's body.
    pub fn take_controls(
        &mut self,
        headers: &RequestHeader,
        request_timeout: Duration,
    ) -> Result<Option<Box<Controls>>, GatewayError> {
        match self {
            Door::Anthropic(d) => d.take_controls(headers, request_timeout),
            Door::Responses(d) => d.take_controls(headers, request_timeout),
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
    pub fn translated(
        self,
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
