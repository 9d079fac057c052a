//! A pass-through request's body on its way to the provider: read only as far as admission
//! needs (the model — from the path, else from the body's head, scanned as it arrives —, and
//! the output bound when the head shows it), then sent on as the client sends the rest, chunk
//! by chunk, under the same size cap (crossing it mid-way aborts the provider's request and
//! answers 413). A body that ends within [`HEAD`] is read whole and sent in one write on a
//! pooled connection as before; a body that must be hashed (AWS SigV4) is read whole within
//! the cap.

use std::time::Duration;

use adapters::json_head::JsonHead;
use adapters::passthrough::{self as native, Native};
use bytes::{Bytes, BytesMut};
use pingora::http::RequestHeader;
use pingora::protocols::http::client::HttpSession;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;

use crate::error::GatewayError;
use crate::lifecycle::admit::too_large;
use crate::state::AppState;
use crate::upstream::Upstream;

/// A body is read this far before it is streamed (a smaller one is read whole, as it comes in
/// one or a few reads): the head the output bound is looked for in.
pub const HEAD: usize = 64 << 10;
/// A client gets this long to deliver the head (the model field) of its body.
const HEAD_TIMEOUT: Duration = Duration::from_secs(60);
/// ... and this long between two chunks of the rest.
const CHUNK_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of the body must be read before the request can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing (the model is in the path, or the route needs none): the head only.
    Head,
    /// The body's top-level `model` field, however far in it is (within the size cap).
    Model,
    /// All of it (the request is signed over its hash).
    Whole,
}

/// What was read of the body before the request goes on.
pub struct Upload {
    /// The bytes read so far: the whole body when `done`.
    pub head: Bytes,
    /// Whether the body ended within `head`.
    pub done: bool,
    /// The client's `content-length`, when it sent one.
    declared: Option<usize>,
    max: usize,
}

impl Upload {
    /// Reads the body as far as `need` says (and at least [`HEAD`] bytes of it, or all of a
    /// smaller one), refusing a declared or read size over `max`; returns it with what the
    /// request names (`native::read` over the whole body, or over the fields found in the head).
    pub async fn begin(
        session: &mut Session,
        max: usize,
        need: Need,
        provider_path: &str,
    ) -> Result<(Upload, Native), GatewayError> {
        let declared = session
            .req_header()
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        if let Some(len) = declared.filter(|len| *len > max) {
            return Err(too_large(len, max));
        }
        let expects_continue = session
            .req_header()
            .headers
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if expects_continue {
            session
                .write_continue_response()
                .await
                .map_err(|e| GatewayError::BodyRead(e.to_string()))?;
        }
        let mut buf = BytesMut::with_capacity(declared.unwrap_or(4096).min(HEAD));
        let mut scan = JsonHead::new(native::READ_FIELDS);
        let read = async {
            loop {
                let Some(chunk) = session
                    .read_request_body()
                    .await
                    .map_err(|e| GatewayError::BodyRead(e.to_string()))?
                else {
                    return Ok(true);
                };
                if buf.len() + chunk.len() > max {
                    return Err(too_large(buf.len() + chunk.len(), max));
                }
                buf.extend_from_slice(&chunk);
                if buf.len() < HEAD {
                    continue;
                }
                match need {
                    Need::Head => return Ok(false),
                    Need::Whole => {}
                    Need::Model => {
                        scan.feed(&buf);
                        if scan.has("model") || scan.finished() {
                            return Ok(false);
                        }
                    }
                }
                // Read on past the head: to the declared length at once (no doubling, no copy
                // of what is held).
                if let Some(len) = declared.filter(|len| *len > buf.capacity()) {
                    buf.reserve(len - buf.len());
                }
            }
        };
        let done = match tokio::time::timeout(HEAD_TIMEOUT, read).await {
            Ok(r) => r?,
            Err(_) => return Err(GatewayError::BodyTimeout),
        };
        let native = if done {
            native::read(provider_path, &buf)
        } else {
            scan.feed(&buf);
            native::read(provider_path, &scan.fields(&buf))
        };
        let upload = Upload {
            head: buf.freeze(),
            done,
            declared,
            max,
        };
        Ok((upload, native))
    }

    /// Frames the provider's request for this body: its length when known (read whole, or
    /// declared by the client), else chunked.
    pub fn frame(&self, h: &mut RequestHeader) -> pingora::Result<()> {
        match (self.done, self.declared) {
            (true, _) => h.insert_header("content-length", self.head.len())?,
            (false, Some(len)) => h.insert_header("content-length", len)?,
            (false, None) => h.insert_header("transfer-encoding", "chunked")?,
        };
        Ok(())
    }

    /// Sends the request — the head, then the rest of the client's body as it arrives — and
    /// reads the provider's response header; the bytes sent in all. A body read whole goes the
    /// way every LLM request goes (`forward::exchange`: one write, a stale pooled connection
    /// retried).
    pub async fn exchange(
        self,
        state: &AppState,
        session: &mut Session,
        upstream: &Upstream,
        connect_timeout: Duration,
        header: Box<RequestHeader>,
        group: &str,
    ) -> Result<Sent, GatewayError> {
        let unreachable = |detail: String| GatewayError::UpstreamUnreachable {
            group: group.to_string(),
            detail,
        };
        if self.done {
            let len = self.head.len();
            let ex = crate::lifecycle::forward::exchange(
                state,
                upstream,
                connect_timeout,
                header,
                self.head,
                group,
            )
            .await?;
            return Ok(Sent {
                up: ex,
                bytes: len,
                cut_short: false,
            });
        }
        let addr = upstream.addr(connect_timeout).await.map_err(unreachable)?;
        let peer = upstream.peer(addr, connect_timeout);
        // The head is still in hand: a pooled connection found closed is retried with it. Once
        // more of the client's body has gone, nothing can be retried.
        let mut up = None;
        for attempt in 0..3 {
            let (mut s, reused) = state
                .connector
                .get_http_session(&peer)
                .await
                .map_err(|e| unreachable(format!("connect to {addr}: {e}")))?;
            let sent = async {
                s.write_request_header(header.clone()).await?;
                s.write_request_body(self.head.clone(), false).await
            };
            match sent.await {
                Ok(()) => {
                    up = Some(s);
                    break;
                }
                Err(e) if reused && attempt < 2 => {
                    log::debug!("pooled connection to {addr} was stale ({e}); retrying");
                }
                Err(e) => return Err(unreachable(format!("{addr}: {e}"))),
            }
        }
        let mut up = up.ok_or_else(|| unreachable(format!("{addr}: no connection")))?;
        let mut sent = self.head.len();
        loop {
            let chunk = match tokio::time::timeout(CHUNK_TIMEOUT, session.read_request_body()).await
            {
                Ok(Ok(Some(chunk))) => chunk,
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    up.shutdown().await;
                    return Err(GatewayError::BodyRead(e.to_string()));
                }
                Err(_) => {
                    up.shutdown().await;
                    return Err(GatewayError::BodyTimeout);
                }
            };
            if sent + chunk.len() > self.max {
                // The provider got part of a request: its connection goes, unfinished.
                up.shutdown().await;
                return Err(too_large(sent + chunk.len(), self.max));
            }
            sent += chunk.len();
            if let Err(e) = up.write_request_body(chunk, false).await {
                // The provider may have answered early (a 4xx) and closed: that answer is
                // relayed if it can be read.
                return match response_header(&mut up).await {
                    Ok(()) => {
                        // The rest of the client's body stays unread: its connection ends
                        // with this answer.
                        session.set_keepalive(None);
                        Ok(Sent {
                            up: (up, peer),
                            bytes: sent,
                            cut_short: true,
                        })
                    }
                    Err(_) => Err(unreachable(format!("{addr}: sending the body: {e}"))),
                };
            }
        }
        up.finish_request_body()
            .await
            .map_err(|e| unreachable(format!("{addr}: {e}")))?;
        response_header(&mut up)
            .await
            .map_err(|e| unreachable(format!("{addr}: {e}")))?;
        Ok(Sent {
            up: (up, peer),
            bytes: sent,
            cut_short: false,
        })
    }
}

/// A request sent and its answer's header read.
pub struct Sent {
    /// The provider's connection, its response header read.
    pub up: (HttpSession, HttpPeer),
    /// The body bytes sent.
    pub bytes: usize,
    /// The provider answered before the body was sent whole: its connection is not reused.
    pub cut_short: bool,
}

impl Sent {
    /// Notes the bytes sent, and a request cut short (the failure keeps its connection out of
    /// the pool), in `ctx`; the connection, for the relay.
    pub fn noted(self, ctx: &mut crate::ctx::RequestCtx) -> (HttpSession, HttpPeer) {
        ctx.body_bytes = self.bytes;
        if self.cut_short {
            ctx.failure = Some("the provider answered before the request body was sent".into());
        }
        self.up
    }
}

/// Reads the provider's response header, skipping 1xx.
async fn response_header(up: &mut HttpSession) -> pingora::Result<()> {
    loop {
        up.read_response_header().await?;
        match up.response_header() {
            Some(h) if h.status.is_informational() => continue,
            _ => return Ok(()),
        }
    }
}

/// What must be read of a request's body to `provider` (`None`: a custom route) at
/// `provider_path` before it goes: all of a signed one; else the model when the path does not
/// name one and the caller's access goes by it.
pub fn need(provider: Option<adapters::provider::Provider>, path: &str, by_model: bool) -> Need {
    if provider.is_some_and(native::needs_whole_body) {
        Need::Whole
    } else if by_model && !native::path_names_model(path) {
        Need::Model
    } else {
        Need::Head
    }
}
