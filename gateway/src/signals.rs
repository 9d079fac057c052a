//! Process signals and the graceful drain. SIGTERM (and SIGQUIT without a new process
//! waiting) start a drain: readiness answers 503, every response closes its connection, the
//! listener keeps accepting and serving, and the process stops once nothing is in flight (not
//! before `shutdown_delay_seconds`, at the latest after `grace_period_seconds`). SIGINT stops at
//! once. SIGHUP reloads the configuration (reload.rs); a configuration that does not load is
//! logged and the previous one keeps serving.
//!
//! Graceful binary upgrade: a new process started with `tollgate --upgrade` waits on the
//! upgrade socket; SIGQUIT to the old one, when that socket exists, has Pingora hand the
//! listening sockets over (both processes accept for Pingora's 5 s close timeout, then only the
//! new one), while the old one drains as above and, once drained, writes its spend and exits.
//!
//! Pingora's own signal handling closes the listeners on SIGTERM (new clients are refused,
//! kept-alive ones reset) and does not handle SIGHUP (its default action kills the process), so
//! the server runs with [`Signals`] as its shutdown watch: Pingora only hears "stop now", once
//! the drain is over, or "upgrade" for the hand-over.

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

/// The graceful binary upgrade's hand-over.
pub struct Upgrade {
    /// Pingora's `upgrade_sock`: where a new `tollgate --upgrade` waits for the listeners.
    pub sock: String,
    /// Writes what the process still holds (spend, callbacks, stored responses); run once,
    /// then the process exits, when the drain after a hand-over is over.
    pub finish: Arc<dyn Fn() + Send + Sync>,
}

/// Pingora keeps accepting in the old process this long after handing the listeners over
/// (its `CLOSE_TIMEOUT`), plus a second: the drain after a hand-over lasts at least this long.
const HANDOVER: Duration = Duration::from_secs(6);

/// What the shutdown watch tells Pingora.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Run,
    Stop,
    Upgrade,
}

/// The server's shutdown watch: resolves when the process should stop, after any drain, or
/// at once to hand the listeners to a new process.
pub struct Signals {
    stop: watch::Receiver<Order>,
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
    upgrade: Upgrade,
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
    let (tx, stop) = watch::channel(Order::Run);
    rt.spawn(async move {
        let handed_over = watch_signals(handlers, state, drain, &tx, &upgrade.sock).await;
        if handed_over {
            // Pingora is in its grace period: finish here rather than wait it out.
            let finish = upgrade.finish.clone();
            std::thread::spawn(move || {
                finish();
                std::process::exit(0);
            });
        } else {
            let _ = tx.send(Order::Stop);
        }
    });
    Ok(Signals { stop })
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let mut stop = self.stop.clone();
        let order = match stop.wait_for(|o| *o != Order::Run).await {
            Ok(o) => *o,
            Err(_) => Order::Stop,
        };
        if order == Order::Upgrade {
            // Pingora sends the listening sockets to the new process, keeps accepting for 5 s,
            // then closes its listeners and waits out `grace_period_seconds`.
            return ShutdownSignal::GracefulUpgrade;
        }
        // The drain is over (or SIGINT): stop the runtimes without waiting. (Pingora logs this
        // as "SIGINT received" at info, whatever the signal was.)
        ShutdownSignal::FastShutdown
    }
}

/// SIGHUP: reloads the configuration off this task (the outcome is logged by reload.rs).
fn hup(state: &Arc<AppState>) {
    let state = state.clone();
    tokio::spawn(async move {
        let _ = crate::reload::from_files_async(state, "SIGHUP").await;
    });
}

/// Returns when the process should stop: whether the listeners were handed to a new process.
async fn watch_signals(
    mut h: Handlers,
    state: Arc<AppState>,
    drain: Drain,
    tx: &watch::Sender<Order>,
    upgrade_sock: &str,
) -> bool {
    let mut handed_over = false;
    let why = loop {
        tokio::select! {
            _ = h.term.recv() => break "SIGTERM",
            _ = h.quit.recv() => {
                if std::path::Path::new(upgrade_sock).exists() {
                    log::info!("SIGQUIT: handing the listening sockets to the new process waiting on {upgrade_sock}");
                    handed_over = true;
                    let _ = tx.send(Order::Upgrade);
                    break "SIGQUIT (upgrade)";
                }
                log::info!("SIGQUIT: no new process waits on {upgrade_sock}: draining as for SIGTERM");
                break "SIGQUIT";
            }
            _ = h.int.recv() => {
                log::info!("SIGINT: stopping now");
                return false;
            }
            _ = h.hup.recv() => hup(&state),
        }
    };
    DRAINING.store(true, Ordering::Relaxed);
    let start = Instant::now();
    let min = if handed_over {
        drain.delay.max(HANDOVER)
    } else {
        drain.delay
    };
    log::info!(
        "{why}: draining ({} requests in flight): readiness answers 503 and responses close their connections; exiting when none is left, after at least {} s and at most {} s",
        state.inflight(),
        min.as_secs_f64(),
        drain.grace.max(min).as_secs_f64()
    );
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    loop {
        tokio::select! {
            _ = h.int.recv() => {
                log::warn!("SIGINT during the drain: stopping now with {} requests in flight", state.inflight());
                return handed_over;
            }
            _ = h.hup.recv() => hup(&state),
            _ = h.term.recv() => log::info!("SIGTERM: already draining"),
            _ = h.quit.recv() => log::info!("SIGQUIT: already draining"),
            _ = tick.tick() => {
                let elapsed = start.elapsed();
                // Requests whose header is still arriving count too: their clients were
                // accepted and expect an answer.
                let busy = state.inflight() + crate::conn::receiving();
                if busy == 0 && elapsed >= min {
                    log::info!("drained in {elapsed:?}; exiting");
                    return handed_over;
                }
                if elapsed >= drain.grace.max(min) {
                    log::warn!("grace period over with {busy} requests still in flight; exiting");
                    return handed_over;
                }
            }
        }
    }
}
