//! Upstream endpoints: DNS resolved off the request path (cached, refreshed in the background)
//! and `HttpPeer`s built from `SocketAddr`s with SNI and timeouts always set.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use conf::ApiBase;
use pingora::upstreams::peer::HttpPeer;

/// How often cached DNS answers are refreshed.
pub const DNS_REFRESH: Duration = Duration::from_secs(30);
/// Idle pooled upstream connections are closed after this long.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One upstream host:port (shared by every deployment that uses it).
#[derive(Debug)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// `Host` header value.
    pub host_header: String,
    /// Resolved addresses; empty until the first successful resolution.
    addrs: ArcSwap<Vec<SocketAddr>>,
    /// Round-robin over `addrs`.
    next: AtomicUsize,
    /// `true` when `host` is an IP literal and never needs DNS.
    literal: bool,
    /// Resolved by the background refresh from the start. `false` for hosts only a bare
    /// `model: "*"` entry stands for (every provider's default host): resolved on first use,
    /// refreshed after that, so unused providers cost no lookups and no log lines.
    eager: AtomicBool,
}

impl Upstream {
    pub fn new(base: &ApiBase) -> Self {
        let literal_ip = base.host.parse::<IpAddr>().ok();
        let addrs = literal_ip
            .map(|ip| vec![SocketAddr::new(ip, base.port)])
            .unwrap_or_default();
        Upstream {
            host: base.host.clone(),
            port: base.port,
            tls: base.tls,
            host_header: base.host_header(),
            addrs: ArcSwap::from_pointee(addrs),
            next: AtomicUsize::new(0),
            literal: literal_ip.is_some(),
            eager: AtomicBool::new(false),
        }
    }

    /// Marks the host as one the background refresh resolves from the start.
    pub fn resolve_eagerly(&self) {
        self.eager.store(true, Ordering::Relaxed);
    }

    /// Whether the background refresh should look the host up now.
    pub(crate) fn wanted(&self) -> bool {
        self.eager.load(Ordering::Relaxed) || !self.addrs.load().is_empty()
    }

    /// An address to connect to: from the cache, or resolved now if nothing is cached yet
    /// (first request before the background refresh got to this host).
    pub async fn addr(&self, timeout: Duration) -> Result<SocketAddr, String> {
        let cached = self.addrs.load();
        if !cached.is_empty() {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % cached.len();
            return Ok(cached[i]);
        }
        match tokio::time::timeout(timeout, self.refresh()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(format!("DNS lookup of {} timed out", self.host)),
        }
        self.addrs
            .load()
            .first()
            .copied()
            .ok_or_else(|| format!("DNS lookup of {} returned no addresses", self.host))
    }

    /// Resolves the host and replaces the cached addresses; keeps the old ones on failure.
    pub async fn refresh(&self) -> Result<(), String> {
        if self.literal {
            return Ok(());
        }
        let found: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("DNS lookup of {} failed: {e}", self.host))?
            .collect();
        if found.is_empty() {
            return Err(format!("DNS lookup of {} returned no addresses", self.host));
        }
        self.addrs.store(Arc::new(found));
        Ok(())
    }

    /// A peer for one connection attempt. SNI is always the configured host name, so
    /// certificate verification is never silently disabled.
    pub fn peer(&self, addr: SocketAddr, connect_timeout: Duration) -> HttpPeer {
        let mut peer = HttpPeer::new(addr, self.tls, self.host.clone());
        let opts = &mut peer.options;
        opts.connection_timeout = Some(connect_timeout);
        opts.total_connection_timeout = Some(connect_timeout);
        opts.idle_timeout = Some(POOL_IDLE_TIMEOUT);
        opts.verify_cert = true;
        opts.verify_hostname = true;
        peer
    }
}

/// Writes one whole request (header, then body) on `s` and reads the answer's header, past any
/// informational (1xx) one: its status. For the gateway's own small calls (callbacks, alerts,
/// token endpoints); the caller reads the body as it needs.
pub async fn send(
    s: &mut pingora::protocols::http::client::HttpSession,
    header: pingora::http::RequestHeader,
    body: bytes::Bytes,
) -> Result<u16, String> {
    s.write_request_header(Box::new(header))
        .await
        .map_err(|e| format!("writing request: {e}"))?;
    s.write_request_body(body, true)
        .await
        .map_err(|e| format!("writing request: {e}"))?;
    s.finish_request_body()
        .await
        .map_err(|e| format!("writing request: {e}"))?;
    loop {
        s.read_response_header()
            .await
            .map_err(|e| format!("reading response: {e}"))?;
        match s.response_header() {
            Some(h) if h.status.is_informational() => continue,
            Some(h) => return Ok(h.status.as_u16()),
            None => return Err("reading response: no response header".to_string()),
        }
    }
}
