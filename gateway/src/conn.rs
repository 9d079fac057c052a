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
        // During a drain Pingora may shut its service down (after handing the listeners to a
        // new process), dropping every connection still waiting for a request: wait for a new
        // connection's first byte here, so that a client accepted before the listeners closed
        // is served rather than cut. (Outside a drain this costs nothing.)
        let mut stream = stream;
        if draining() {
            let mut first = [0u8; 1];
            let peek =
                tokio::time::timeout(self.limits.header_timeout, stream.try_peek(&mut first));
            if !matches!(peek.await, Ok(Ok(_))) {
                return None;
            }
        }
        let h2c = self.app.server_options().is_some_and(|o| o.h2c);
        if h2c || matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            // HTTP/2 multiplexes requests on one connection: Pingora's own loop serves it.
            return self.app.process_new(stream, shutdown).await;
        }
        let conn = Arc::new(Conn::new(self.limits));
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
        let mut dog = Watchdog::new(&conn);
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

static DRAINING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a drain has started (signals.rs starts it): readiness answers 503, responses carry
/// `Connection: close`, new connections are read before Pingora sees them.
pub fn draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// Starts the drain (signals.rs).
pub fn start_draining() {
    DRAINING.store(true, Ordering::Relaxed);
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

/// A connection's phase and when it times out, shared by the stream (which sees the first byte
/// of each request), `request_filter` and the watchdog. All on one task: relaxed atomics.
pub(crate) struct Conn {
    start: Instant,
    limits: Limits,
    phase: AtomicU8,
    /// When the current phase times out, in nanoseconds since `start`; `NEVER` while serving.
    deadline: AtomicU64,
}

const NEVER: u64 = u64::MAX;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(NEVER)
}

impl Conn {
    fn new(limits: Limits) -> Conn {
        RECEIVING.fetch_add(1, Ordering::Relaxed);
        Conn {
            start: Instant::now(),
            limits,
            phase: AtomicU8::new(Phase::Header as u8),
            deadline: AtomicU64::new(nanos(limits.header_timeout)),
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
        let deadline = match to {
            Phase::Serving => NEVER,
            Phase::Header => nanos(
                self.start
                    .elapsed()
                    .saturating_add(self.limits.header_timeout),
            ),
            Phase::Idle => nanos(
                self.start
                    .elapsed()
                    .saturating_add(self.limits.idle_timeout),
            ),
        };
        self.deadline.store(deadline, Ordering::Relaxed);
        self.phase.store(to as u8, Ordering::Relaxed);
    }

    /// Bytes arrived: on an idle connection, a request header begins.
    fn bytes_read(&self) {
        if self.phase.load(Ordering::Relaxed) == Phase::Idle as u8 {
            self.set(Phase::Header);
        }
    }

    fn deadline(&self) -> u64 {
        self.deadline.load(Ordering::Relaxed)
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
/// It is polled at every wake-up of the connection's task, so the common poll is a few loads:
/// once the timer is registered with this task's waker, only whether it fired is checked.
struct Watchdog<'a> {
    conn: &'a Conn,
    sleep: Pin<Box<Sleep>>,
    /// The timer's deadline, in nanoseconds since the connection's start.
    armed: u64,
    /// The waker the timer was last registered with.
    registered: Option<std::task::Waker>,
}

impl<'a> Watchdog<'a> {
    fn new(conn: &'a Conn) -> Self {
        let armed = conn.deadline();
        Watchdog {
            conn,
            sleep: Box::pin(tokio::time::sleep_until(conn.at(armed).into())),
            armed,
            registered: None,
        }
    }

    fn arm(&mut self, at: u64) {
        self.armed = at;
        self.sleep.as_mut().reset(self.conn.at(at).into());
        self.registered = None;
    }
}

impl Conn {
    fn at(&self, nanos: u64) -> Instant {
        // NEVER (and absurd configured timeouts) become about a century.
        self.start + Duration::from_nanos(nanos.min(1 << 62))
    }
}

impl Future for Watchdog<'_> {
    type Output = Timeout;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Timeout> {
        let this = &mut *self;
        let deadline = this.conn.deadline();
        if deadline < this.armed {
            this.arm(deadline);
        } else if this
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
            && !this.sleep.is_elapsed()
        {
            return Poll::Pending;
        }
        loop {
            if this.sleep.as_mut().poll(cx).is_pending() {
                this.registered = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let now = nanos(this.conn.start.elapsed());
            let deadline = this.conn.deadline();
            if deadline <= now {
                return Poll::Ready(match this.conn.phase() {
                    Phase::Idle => Timeout::Idle,
                    _ => Timeout::Header,
                });
            }
            // Serving: look again later; a deadline set earlier than that re-arms at once.
            let l = &this.conn.limits;
            this.arm(deadline.min(now.saturating_add(nanos(l.header_timeout.min(l.idle_timeout)))));
        }
    }
}

/// The key connections are counted under: the IPv4 address, or the IPv6 /64 (one host often
/// holds a whole /64). `None` for Unix sockets.
fn peer_key(stream: &Stream) -> Option<IpAddr> {
    let digest = stream.get_socket_digest()?;
    Some(ip_key(digest.peer_addr()?.as_inet()?.ip()))
}

fn ip_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_counted_per_ipv4_address_and_per_ipv6_64() {
        let k = |s: &str| ip_key(s.parse().unwrap());
        assert_eq!(k("10.1.2.3"), k("10.1.2.3"));
        assert_ne!(k("10.1.2.3"), k("10.1.2.4"));
        assert_eq!(k("::ffff:10.1.2.3"), k("10.1.2.3"));
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:ffff::9"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
    }

    #[test]
    fn the_limit_counts_open_connections_and_frees_on_close() {
        let per_ip = Arc::new(PerIp::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = per_ip.acquire(a, 2).unwrap();
        let _second = per_ip.acquire(a, 2).unwrap();
        assert!(per_ip.acquire(a, 2).is_none());
        let _other = per_ip
            .acquire(b, 2)
            .expect("another address has its own count");
        drop(first);
        let _third = per_ip
            .acquire(a, 2)
            .expect("a closed connection frees its slot");
        assert!(per_ip.acquire(a, 2).is_none());
    }

    #[test]
    fn phases_move_the_deadline_and_count_headers_being_received() {
        let limits = Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            per_ip: 0,
        };
        // No other test makes connections: the count is this test's alone.
        let before = receiving();
        let conn = Conn::new(limits);
        assert_eq!(receiving(), before + 1);
        assert_eq!(conn.deadline(), nanos(limits.header_timeout));
        conn.set(Phase::Serving);
        assert_eq!(conn.deadline(), NEVER);
        assert_eq!(receiving(), before);
        conn.set(Phase::Idle);
        assert!(conn.deadline() >= nanos(limits.idle_timeout));
        conn.bytes_read();
        assert_eq!(conn.phase(), Phase::Header);
        assert!(conn.deadline() < nanos(limits.idle_timeout));
        conn.bytes_read();
        assert_eq!(conn.phase(), Phase::Header);
        assert_eq!(receiving(), before + 1);
        drop(conn);
        assert_eq!(receiving(), before);
    }
}
