//! The Pingora `ProxyHttp` implementation — a table of contents: every request is answered in
//! `request_filter` (see docs/lifecycle.md for why), and `logging` runs the account stage.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use pingora::proxy::{ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use crate::ctx::{new_call_id, RequestCtx};
use crate::lifecycle::account;
use crate::routes;
use crate::state::AppState;

pub struct Gateway {
    pub state: Arc<AppState>,
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    /// Every route is served in `request_filter`; the native proxy path is never taken.
    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        Err(Error::explain(
            ErrorType::InternalError,
            "no route uses the native proxy path",
        ))
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.start = Some(Instant::now());
        ctx.started_at_ms = crate::clock::now_ms_i64();
        ctx.call_id = new_call_id();
        ctx.inflight = Some(self.state.enter());
        crate::conn::request_started(session);
        if crate::signals::draining() {
            // A drain closes each connection after its current response.
            session.set_keepalive(None);
        }
        routes::dispatch(&self.state, session, ctx).await;
        Ok(true)
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let req = session.req_header();
        account::record(&self.state, req.method.as_str(), req.uri.path(), ctx);
    }
}
