//! One call to a deployment's files or batches API (`adapters::files::request` makes its path
//! and credential): its answer read whole (bounded), read chunk by chunk (a batch's output
//! file), or relayed to the client as it comes (a file's content), under the deployment's
//! timeout.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::client::HttpSession;
use pingora::proxy::Session;
use tokio::time::timeout_at;

use super::{invalid, ANSWER_CAP};
use crate::ctx::RequestCtx;
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::runtime::Runtime;
use crate::state::AppState;

/// One call to a deployment's files or batches API.
pub(super) struct Call<'a> {
    dep: &'a DeploymentRt,
    method: &'a str,
    path: String,
    headers: Vec<(&'static str, String)>,
    deadline: Instant,
    connect_timeout: std::time::Duration,
}

impl<'a> Call<'a> {
    pub(super) fn new(
        runtime: &Runtime,
        dep: &'a DeploymentRt,
        method: &'a str,
        rest: &str,
        query: &str,
    ) -> Call<'a> {
        let target = crate::lifecycle::translate::target(dep, false);
        let (path, headers) = adapters::files::request(&target, rest, query);
        let timeout = dep
            .conf
            .timeout
            .unwrap_or(runtime.config.litellm.request_timeout);
        Call {
            dep,
            method,
            path,
            headers,
            deadline: Instant::now() + timeout,
            connect_timeout: runtime.config.tollgate.connect_timeout,
        }
    }

    fn group(&self) -> String {
        self.dep.conf.model_name.clone()
    }

    /// Sends the request; the provider's session with its response header read.
    async fn open(
        &self,
        state: &AppState,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<(HttpSession, pingora::upstreams::peer::HttpPeer), GatewayError> {
        let group = self.group();
        let framing = |e: Box<pingora::Error>| GatewayError::UpstreamProtocol {
            group: group.clone(),
            detail: e.to_string(),
        };
        let upstream = self.dep.upstream.as_ref().ok_or_else(|| {
            invalid(
                404,
                format!("deployment {} has no address", self.dep.conf.id),
            )
        })?;
        let mut h = RequestHeader::build_no_case(self.method, self.path.as_bytes(), None)
            .map_err(framing)?;
        h.insert_header("host", upstream.host_header.as_str())
            .map_err(framing)?;
        h.insert_header("content-length", body.len())
            .map_err(framing)?;
        h.insert_header("accept", "application/json")
            .map_err(framing)?;
        if let Some(ct) = content_type {
            h.insert_header("content-type", ct).map_err(framing)?;
        }
        for (name, value) in &self.headers {
            h.insert_header(*name, value.as_str()).map_err(framing)?;
        }
        let exchange = crate::lifecycle::forward::exchange(
            state,
            upstream,
            self.connect_timeout,
            Box::new(h),
            body,
            &group,
        );
        timeout_at(self.deadline.into(), exchange)
            .await
            .map_err(|_| self.timed_out())?
    }

    fn timed_out(&self) -> GatewayError {
        GatewayError::UpstreamTimeout {
            group: self.group(),
            secs: self
                .deadline
                .saturating_duration_since(Instant::now())
                .as_secs_f64(),
        }
    }

    /// Sends the request and reads the whole answer (at most [`ANSWER_CAP`]).
    pub(super) async fn send(
        &self,
        state: &AppState,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<(u16, Bytes), GatewayError> {
        let (mut up, peer) = self.open(state, content_type, body).await?;
        let status = up.response_header().map_or(502, |h| h.status.as_u16());
        let mut buf = BytesMut::new();
        loop {
            match timeout_at(self.deadline.into(), up.read_response_body()).await {
                Ok(Ok(Some(chunk))) => {
                    if buf.len() + chunk.len() > ANSWER_CAP {
                        up.shutdown().await;
                        return Err(GatewayError::UpstreamProtocol {
                            group: self.group(),
                            detail: format!("answer over {ANSWER_CAP} bytes"),
                        });
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    return Err(GatewayError::UpstreamUnreachable {
                        group: self.group(),
                        detail: format!("answer broke off: {e}"),
                    })
                }
                Err(_) => return Err(self.timed_out()),
            }
        }
        crate::lifecycle::relay::release(state, up, &peer).await;
        Ok((status, buf.freeze()))
    }

    /// Calls `each` with the answer's body chunk by chunk (a 2xx answer; else its status and
    /// body are the error). For the output file of a batch.
    pub(super) async fn read_each(
        &self,
        state: &AppState,
        mut each: impl FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        let (mut up, peer) = self
            .open(state, None, Bytes::new())
            .await
            .map_err(|e| e.to_string())?;
        let status = up.response_header().map_or(502, |h| h.status.as_u16());
        if status >= 300 {
            up.shutdown().await;
            return Err(format!("the provider answered {status}"));
        }
        loop {
            match timeout_at(self.deadline.into(), up.read_response_body()).await {
                Ok(Ok(Some(chunk))) => each(&chunk)?,
                Ok(Ok(None)) => break,
                Ok(Err(e)) => return Err(format!("answer broke off: {e}")),
                Err(_) => return Err("timed out".into()),
            }
        }
        crate::lifecycle::relay::release(state, up, &peer).await;
        Ok(())
    }

    /// Relays the answer to the client as it comes (a file's content).
    pub(super) async fn relay(
        &self,
        state: &AppState,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(), GatewayError> {
        let (mut up, peer) = self.open(state, None, Bytes::new()).await?;
        let resp = up.response_header().expect("exchange read the header");
        let status = resp.status.as_u16();
        ctx.upstream_status = Some(status);
        ctx.status = status;
        let framing = |e: Box<pingora::Error>| GatewayError::UpstreamProtocol {
            group: self.group(),
            detail: e.to_string(),
        };
        let mut out = ResponseHeader::build_no_case(resp.status, Some(4)).map_err(framing)?;
        for name in ["content-type", "content-disposition"] {
            if let Some(v) = resp.headers.get(name) {
                out.insert_header(name, v.clone()).map_err(framing)?;
            }
        }
        out.insert_header("transfer-encoding", "chunked")
            .map_err(framing)?;
        out.insert_header("x-litellm-call-id", ctx.call_id.as_str())
            .map_err(framing)?;
        if let Err(e) = session.write_response_header(Box::new(out), false).await {
            ctx.failure = Some(format!("client went away: {e}"));
            up.shutdown().await;
            return Ok(());
        }
        loop {
            let chunk = match timeout_at(self.deadline.into(), up.read_response_body()).await {
                Ok(Ok(Some(chunk))) => chunk,
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    ctx.failure = Some(format!("provider's answer broke off: {e}"));
                    up.shutdown().await;
                    return Ok(());
                }
                Err(_) => {
                    ctx.failure = Some("provider's answer outlasted the request timeout".into());
                    up.shutdown().await;
                    return Ok(());
                }
            };
            if let Err(e) = session.write_response_body(Some(chunk), false).await {
                ctx.failure = Some(format!("client went away: {e}"));
                up.shutdown().await;
                return Ok(());
            }
        }
        if let Err(e) = session.write_response_body(None, true).await {
            ctx.failure = Some(format!("client went away: {e}"));
        }
        crate::lifecycle::relay::release(state, up, &peer).await;
        Ok(())
    }
}
