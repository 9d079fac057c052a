//! Client connections, from accept to close: the limit on open connections per client address,
//! the request-header deadline (slow clients), the keep-alive idle timeout, and HTTP/1.1
//! pipelining. [`Front`] is the listener's `ServerApp`: it wraps Pingora's `HttpProxy` and runs
//! the same HTTP/1.1 keep-alive loop Pingora's own `ServerApp` for HTTP apps runs (each request
//! is still `HttpProxy::process_new_http`), with a watchdog beside it.
//!
//! Why not Pingora's settings: its read timeout is per read (a client trickling one header byte
//! every few seconds is never cut), a kept-alive connection waits for its next request forever,
//! and its `connection_filter` sees accepts but not closes, so it cannot count open connections.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Sleep;

mod watched;

use watched::Watched;

/// Connection limits (`tollgate_settings`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request header must be complete this long after its first byte (after the accept,
    /// for a connection's first request).
    pub header_timeout: Duration,
    /// A kept-alive connection waits this long for its next request.
    pub idle_timeout: Duration,
    /// Open connections per client address (IPv6: per /64); 0 = no limit.
    pub per_ip: usize,
}

/// The listener's application: limits around Pingora's HTTP proxy `A`.
pub struct Front<A> {
    app: Arc<A>,
    limits: Limits,
    per_ip: Arc<PerIp>,
}

impl<A> Front<A> {
    pub fn new(app: A, limits: Limits) -> Self {
        Front {
            app: Arc::new(app),
            limits,
            per_ip: Arc::new(PerIp::default()),
        }
    }
}

#[async_trait]
impl<A> ServerApp for Front<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let _slot = match peer_key(&stream) {
            Some(ip) if self.limits.per_ip > 0 => {
                match self.per_ip.acquire(ip, self.limits.per_ip) {
                    Some(slot) => Some(slot),
                    None => {
                        refuse(stream, self.limits.per_ip).await;
                        return None;
                    }
                }
            }
            _ => None,
        };
        let h2c = self.app.server_options().is_some_and(|o| o.h2c);
        if h2c || matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            // HTTP/2 multiplexes requests on one connection: Pingora's own loop serves it.
            return self.app.process_new(stream, shutdown).await;
        }
        let conn = Arc::new(Conn::new());
        let mut session = ServerSession::new_http1(Box::new(Watched::new(stream, conn.clone())));
        // The watchdog bounds waiting for a request; no per-read timeout besides it.
        session.set_keepalive(if *shutdown.borrow() { None } else { Some(0) });
        session.set_keepalive_reuses_remaining(
            self.app
                .server_options()
                .and_then(|o| o.keepalive_request_limit),
        );
        // Bytes of a next request read while one is served are kept for it (RFC 9112 §9.3.2);
        // Pingora carries the setting to the connection's later requests.
        session.set_pipelining_enabled(true);
        let mut dog = Watchdog::new(&conn, &self.limits);
        loop {
            let reused = tokio::select! {
                biased;
                reused = self.app.process_new_http(session, shutdown) => reused,
                timeout = &mut dog => {
                    CLOSED[timeout as usize].fetch_add(1, Ordering::Relaxed);
                    log::debug!("closing a client connection: {}", timeout.describe());
                    return None;
                }
            };
            let (stream, settings) = reused?.consume();
            conn.set(Phase::Idle);
            session = ServerSession::new_http1(stream);
            if let Some(settings) = settings {
                settings.apply_to_session(&mut session);
            }
        }
    }

    async fn cleanup(&self) {
        self.app.http_cleanup().await;
    }
}

/// Marks the start of serving a request whose header was just read (called from
/// `request_filter`): the header deadline no longer applies.
pub fn request_started(session: &pingora::proxy::Session) {
    if let Some(stream) = session.as_downstream().stream() {
        if let Some(w) = (**stream).as_any().downcast_ref::<Watched>() {
            w.conn.set(Phase::Serving);
        }
    }
}

/// Requests whose header is arriving: accepted clients that expect an answer (the drain waits
/// for them too).
pub fn receiving() -> usize {
    RECEIVING.load(Ordering::Relaxed)
}

static RECEIVING: AtomicUsize = AtomicUsize::new(0);

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Receiving a request header (since its first byte, or the accept).
    Header = 0,
    /// Serving a request: no deadline here (the request has its own).
    Serving = 1,
    /// Kept alive, waiting for the next request.
    Idle = 2,
}

/// A connection's phase and when it began, shared by the stream (which sees the first byte of
/// each request), `request_filter` and the watchdog. All on one task: relaxed atomics.
pub(crate) struct Conn {
    start: Instant,
    phase: AtomicU8,
    /// When the phase began, in nanoseconds since `start`.
    since: AtomicU64,
}

impl Conn {
    fn new() -> Conn {
        RECEIVING.fetch_add(1, Ordering::Relaxed);
        Conn {
            start: Instant::now(),
            phase: AtomicU8::new(Phase::Header as u8),
            since: AtomicU64::new(0),
        }
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Header,
            1 => Phase::Serving,
            _ => Phase::Idle,
        }
    }

    fn set(&self, to: Phase) {
        let from = self.phase();
        if from == to {
            return;
        }
        if to == Phase::Header {
            RECEIVING.fetch_add(1, Ordering::Relaxed);
        } else if from == Phase::Header {
            RECEIVING.fetch_sub(1, Ordering::Relaxed);
        }
        if to != Phase::Serving {
            let since = self.start.elapsed().as_nanos() as u64;
            self.since.store(since, Ordering::Relaxed);
        }
        self.phase.store(to as u8, Ordering::Relaxed);
    }

    /// Bytes arrived: on an idle connection, a request header begins.
    fn bytes_read(&self) {
        if self.phase.load(Ordering::Relaxed) == Phase::Idle as u8 {
            self.set(Phase::Header);
        }
    }

    /// When the current phase times out; `None` while serving.
    fn deadline(&self, limits: &Limits) -> Option<(Instant, Timeout)> {
        let since = self.start + Duration::from_nanos(self.since.load(Ordering::Relaxed));
        match self.phase() {
            Phase::Header => Some((since + limits.header_timeout, Timeout::Header)),
            Phase::Idle => Some((since + limits.idle_timeout, Timeout::Idle)),
            Phase::Serving => None,
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.phase() == Phase::Header {
            RECEIVING.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Why a connection was closed by the gateway.
#[derive(Debug, Clone, Copy)]
#[repr(usize)]
enum Timeout {
    Header = 0,
    Idle = 1,
}

impl Timeout {
    fn describe(self) -> &'static str {
        match self {
            Timeout::Header => "request header not complete within client_header_timeout_seconds",
            Timeout::Idle => "idle longer than keepalive_timeout_seconds",
        }
    }
}

/// Connections closed for: header timeout, idle timeout, per-address limit.
static CLOSED: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
const REFUSED: usize = 2;

/// Appends this module's counters to the Prometheus exposition.
pub fn render_metrics(out: &mut String) {
    use std::fmt::Write;
    out.push_str(
        "# HELP tollgate_client_connections_closed_total Client connections the gateway closed or refused\n\
         # TYPE tollgate_client_connections_closed_total counter\n",
    );
    for (reason, n) in ["header_timeout", "idle_timeout", "per_ip_limit"]
        .iter()
        .zip(&CLOSED)
    {
        let n = n.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "tollgate_client_connections_closed_total{{reason=\"{reason}\"}} {n}"
        );
    }
}

/// Resolves when the connection's current phase is over its deadline. One timer per
/// connection, moved only when a deadline comes earlier than it is set (a header began) or
/// when it fires: a busy kept-alive connection does not touch the timer wheel per request.
struct Watchdog<'a> {
    conn: &'a Conn,
    limits: &'a Limits,
    sleep: Pin<Box<Sleep>>,
    armed: Instant,
}

impl<'a> Watchdog<'a> {
    fn new(conn: &'a Conn, limits: &'a Limits) -> Self {
        let armed = conn.start + limits.header_timeout;
        Watchdog {
            conn,
            limits,
            sleep: Box::pin(tokio::time::sleep_until(armed.into())),
            armed,
        }
    }
}

impl Future for Watchdog<'_> {
    type Output = Timeout;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Timeout> {
        let this = &mut *self;
        if let Some((deadline, _)) = this.conn.deadline(this.limits) {
            if deadline < this.armed {
                this.armed = deadline;
                this.sleep.as_mut().reset(deadline.into());
            }
        }
        loop {
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            this.armed = match this.conn.deadline(this.limits) {
                Some((deadline, why)) if deadline <= now => return Poll::Ready(why),
                Some((deadline, _)) => deadline,
                // Serving: look again later; a new deadline set earlier re-arms at once.
                None => now + this.limits.header_timeout.min(this.limits.idle_timeout),
            };
            this.sleep.as_mut().reset(this.armed.into());
        }
    }
}

/// The key connections are counted under: the IPv4 address, or the IPv6 /64 (one host often
/// holds a whole /64). `None` for Unix sockets.
fn peer_key(stream: &Stream) -> Option<IpAddr> {
    let digest = stream.get_socket_digest()?;
    let ip = digest.peer_addr()?.as_inet()?.ip().to_canonical();
    Some(match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
    })
}

/// Open connections per client address.
#[derive(Default)]
struct PerIp {
    open: Mutex<HashMap<IpAddr, Entry>>,
}

struct Entry {
    open: usize,
    /// A refusal was logged since the address last had no connection.
    warned: bool,
}

/// One counted connection; uncounted on drop.
struct Slot {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    fn acquire(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let entry = open.entry(ip).or_insert(Entry {
            open: 0,
            warned: false,
        });
        if entry.open >= limit {
            CLOSED[REFUSED].fetch_add(1, Ordering::Relaxed);
            if !entry.warned {
                entry.warned = true;
                log::warn!(
                    "client {ip} has {limit} open connections (tollgate_settings.max_connections_per_ip): refusing more with 429 until some close"
                );
            }
            return None;
        }
        entry.open += 1;
        Some(Slot {
            per_ip: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.per_ip.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = open.get_mut(&self.ip) {
            entry.open -= 1;
            if entry.open == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Answers a connection over the per-address limit with 429 and closes it. The request is
/// read (and discarded) for a moment after the answer, so that closing with unread bytes does
/// not reset the connection before the client has read the 429.
async fn refuse(mut stream: Stream, limit: usize) {
    let answer =
        crate::error::connection_refusal(&crate::error::GatewayError::TooManyConnections { limit });
    let linger = async {
        stream.write_all(&answer).await?;
        stream.flush().await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut read = 0;
        while read < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => read += n,
            }
        }
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), linger).await;
}
