//! The Responses door: the client's request as the attempts use it — passed through to a
//! deployment that speaks Responses, translated to canonical chat for any other.

use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::lifecycle::controls::Controls;
use crate::lifecycle::responses::shape::{Keep, Shape};
use crate::lifecycle::translate;
use crate::upstream::Upstream;
use adapters::provider::Provider;
use adapters::responses::front::{self};
use adapters::responses::request;
use adapters::CanonicalRequest;
use bytes::Bytes;
use pingora::http::RequestHeader;
use serde_json::{Map, Value};
use std::sync::Arc;

/// LiteLLM's routing field a Responses provider does not take: read by routing, not sent.
const NOT_SENT: [&str; 1] = ["tags"];

/// A Responses client's request as the attempts need it: the bytes it sent, the body parsed
/// (for the pass-through body), the conversation it continues, and its canonical translation,
/// made on the first attempt that needs one.
pub struct Door {
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
        let stream = self
            .parsed
            .as_ref()
            .and_then(|p| p.get("stream"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let pr = adapters::dialect::responses_request(&translate::target(dep, false), body, stream);
        translate::frame(upstream, pr, &dep.conf.model_name)
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
