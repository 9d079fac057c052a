//! Process signals and the graceful drain. SIGTERM (and SIGQUIT) start a drain: readiness
//! answers 503, every response closes its connection, the listener keeps accepting and serving,
//! and the process stops once nothing is in flight (not before `shutdown_delay_seconds`, at the
//! latest after `grace_period_seconds`). SIGINT stops at once. SIGHUP is logged and ignored
//! until configuration reload exists.
//!
//! Pingora's own signal handling closes the listeners on SIGTERM (new clients are refused,
//! kept-alive ones reset) and does not handle SIGHUP (its default action kills the process), so
//! the server runs with [`Signals`] as its shutdown watch: Pingora only hears "stop now", once
//! the drain is over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;

use crate::state::AppState;

static DRAINING: AtomicBool = AtomicBool::new(false);

/// Whether a drain has started: readiness answers 503 and responses carry `Connection: close`.
pub fn draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// How the drain behaves (`tollgate_settings`).
#[derive(Debug, Clone, Copy)]
pub struct Drain {
    /// The drain ends at the latest this long after the signal.
    pub grace: Duration,
    /// The process keeps serving at least this long after the signal.
    pub delay: Duration,
}

/// The server's shutdown watch: resolves when the process should stop, after any drain.
pub struct Signals {
    stop: watch::Receiver<bool>,
}

struct Handlers {
    term: Signal,
    quit: Signal,
    int: Signal,
    hup: Signal,
}

/// Installs the signal handlers now — a SIGHUP during start-up must not kill the process — and
/// watches them on `rt` (the control plane's runtime).
pub fn start(
    rt: &tokio::runtime::Handle,
    state: Arc<AppState>,
    drain: Drain,
) -> Result<Signals, String> {
    let handlers = rt
        .block_on(async {
            Ok::<_, std::io::Error>(Handlers {
                term: signal(SignalKind::terminate())?,
                quit: signal(SignalKind::quit())?,
                int: signal(SignalKind::interrupt())?,
                hup: signal(SignalKind::hangup())?,
            })
        })
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let (tx, stop) = watch::channel(false);
    rt.spawn(async move {
        watch_signals(handlers, &state, drain).await;
        let _ = tx.send(true);
    });
    Ok(Signals { stop })
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let mut stop = self.stop.clone();
        let _ = stop.wait_for(|stop| *stop).await;
        // The drain is over (or SIGINT): stop the runtimes without waiting. (Pingora logs this
        // as "SIGINT received" at info, whatever the signal was.)
        ShutdownSignal::FastShutdown
    }
}

fn hup_ignored() {
    log::warn!(
        "SIGHUP: reloading the configuration is not supported yet; still serving with the configuration loaded at start"
    );
}

/// Returns when the process should stop.
async fn watch_signals(mut h: Handlers, state: &AppState, drain: Drain) {
    let why = loop {
        tokio::select! {
            _ = h.term.recv() => break "SIGTERM",
            _ = h.quit.recv() => break "SIGQUIT",
            _ = h.int.recv() => {
                log::info!("SIGINT: stopping now");
                return;
            }
            _ = h.hup.recv() => hup_ignored(),
        }
    };
    DRAINING.store(true, Ordering::Relaxed);
    let start = Instant::now();
    log::info!(
        "{why}: draining ({} requests in flight): readiness answers 503 and responses close their connections; exiting when none is left, after at least {} s and at most {} s",
        state.inflight(),
        drain.delay.as_secs_f64(),
        drain.grace.as_secs_f64()
    );
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    loop {
        tokio::select! {
            _ = h.int.recv() => {
                log::warn!("SIGINT during the drain: stopping now with {} requests in flight", state.inflight());
                return;
            }
            _ = h.hup.recv() => hup_ignored(),
            _ = h.term.recv() => log::info!("SIGTERM: already draining"),
            _ = h.quit.recv() => log::info!("SIGQUIT: already draining"),
            _ = tick.tick() => {
                let elapsed = start.elapsed();
                // Requests whose header is still arriving count too: their clients were
                // accepted and expect an answer.
                let busy = state.inflight() + crate::conn::receiving();
                if busy == 0 && elapsed >= drain.delay {
                    log::info!("drained in {elapsed:?}; exiting");
                    return;
                }
                if elapsed >= drain.grace {
                    log::warn!("grace period over with {busy} requests still in flight; exiting");
                    return;
                }
            }
        }
    }
}
