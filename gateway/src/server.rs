//! Server assembly: the Pingora server, the proxy service on its listener (behind the
//! connection front, conn.rs), background services, and the process's signals (signals.rs:
//! SIGTERM drains, SIGINT stops at once, SIGHUP reloads the configuration, SIGQUIT hands the
//! listeners to a new `tollgate --upgrade`), then the final spend flush.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use conf::Config;
use pingora::connectors::http::Connector;
use pingora::connectors::ConnectorOptions;
use pingora::proxy::http_proxy;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server};
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::conn::{Front, Limits};
use crate::proxy::Gateway;
use crate::runtime::Runtime;
use crate::services::Background;
use crate::signals::Drain;
use crate::state::AppState;

/// Where to listen; CLI flags override `tollgate_settings`.
pub struct Listen {
    pub host: String,
    pub port: u16,
    /// `--upgrade`: take the listening socket from the running process (graceful binary
    /// upgrade) instead of binding it.
    pub upgrade: bool,
    /// Pingora's `upgrade_sock` (`--upgrade-sock`, default [`Listen::default_upgrade_sock`]).
    pub upgrade_sock: String,
}

impl Listen {
    /// The upgrade socket of a gateway on `port`: one per port, so that gateways on one host
    /// do not take each other's listeners.
    pub fn default_upgrade_sock(port: u16) -> String {
        format!("/tmp/tollgate-upgrade-{port}.sock")
    }

    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Runs the gateway until a shutdown signal; returns an error only if it cannot start.
pub fn run(config: Config, listen: Listen) -> Result<(), String> {
    let addr = listen.addr();
    // Pingora panics deep inside its runtime when a bind fails; fail early with a clear message.
    let sock: SocketAddr = addr
        .parse()
        .map_err(|e| format!("invalid listen address {addr}: {e}"))?;
    // (With --upgrade the running process holds the address: its socket is handed over.)
    if !listen.upgrade {
        TcpListener::bind(sock).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    }

    let t = &config.tollgate;
    let drain = Drain {
        grace: t.grace_period,
        delay: t.shutdown_delay,
    };
    let limits = Limits {
        header_timeout: t.client_header_timeout,
        idle_timeout: t.keepalive_timeout,
        per_ip: usize::try_from(t.max_connections_per_ip).unwrap_or(usize::MAX),
    };
    let server_conf = ServerConf {
        threads: t.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }),
        // The drain is signals.rs's; Pingora is only told to stop once it is over — except
        // after handing the listeners to a new process, when it waits out the grace period
        // (signals.rs ends the process as soon as the drain is over).
        grace_period_seconds: Some(t.grace_period.as_secs().max(1)),
        graceful_shutdown_timeout_seconds: Some(1),
        upgrade_sock: listen.upgrade_sock.clone(),
        // A new process waits this many seconds for the old one's SIGQUIT.
        upgrade_sock_connect_accept_max_retries: Some(UPGRADE_WAIT_SECONDS),
        upstream_keepalive_pool_size: 1024,
        ..ServerConf::default()
    };
    let opt = pingora::server::configuration::Opt {
        upgrade: listen.upgrade,
        ..Default::default()
    };
    let mut server = Server::new_with_opt_and_conf(Some(opt), server_conf);

    let connector = Connector::new(Some(ConnectorOptions::from_server_conf(
        &server.configuration,
    )));
    let groups = config.model_groups().len();
    let deployments = config.model_list.len();
    if let Some(path) = &config.tollgate.price_table {
        crate::pricing::PriceTable::with_file(std::path::Path::new(path))
            .map_err(|e| format!("tollgate_settings.price_table: {e}"))?;
    }
    let (control, control_rt) = open_control(&config)?;
    log::info!(
        "price table: {} models",
        crate::runtime::price_table(&config).len()
    );
    crate::observe::configure(&config.metrics);
    crate::observe::start(&config, &control_rt);
    let state = AppState::new(Runtime::new(config), connector, control.clone());
    crate::control::sync::start(&control, &state.runtime().config);
    crate::models::sync::start(&state);

    let proxy = http_proxy(
        &server.configuration,
        Gateway {
            state: state.clone(),
        },
    );
    let mut proxy = Service::new("tollgate".to_string(), Front::new(proxy, limits));
    proxy.add_tcp(&addr);
    server.add_service(proxy);
    server.add_service(background_service(
        "dns refresh",
        Background {
            state: state.clone(),
        },
    ));
    server.add_service(background_service(
        "health checks",
        crate::health::HealthChecker {
            state: state.clone(),
        },
    ));

    let responses = state.responses.clone();
    let finish = {
        let (control, rt, once) = (control.clone(), control_rt.clone(), std::sync::Once::new());
        Arc::new(move || once.call_once(|| finish(&control, &rt, &responses)))
    };
    let upgrade = crate::signals::Upgrade {
        sock: listen.upgrade_sock.clone(),
        finish: finish.clone(),
    };
    let signals = crate::signals::start(&control_rt, state, drain, upgrade)?;
    if listen.upgrade {
        log::info!(
            "--upgrade: waiting up to {UPGRADE_WAIT_SECONDS} s on {} for the running process's listening socket (send it SIGQUIT)",
            listen.upgrade_sock
        );
    }
    // With --upgrade this waits for the old process's sockets; everything else is ready, so
    // the new process serves as soon as it has them.
    server.bootstrap();
    log::info!(
        "tollgate {} listening on http://{addr} ({deployments} deployments in {groups} model groups)",
        env!("CARGO_PKG_VERSION")
    );
    server.run(RunArgs {
        shutdown_signal: Box::new(signals),
    });
    finish();
    Ok(())
}

/// Seconds a `tollgate --upgrade` waits for the running process to hand its listeners over.
const UPGRADE_WAIT_SECONDS: usize = 30;

/// What the process writes before it ends: spend, callbacks, stored responses.
fn finish(
    control: &crate::control::Control,
    rt: &tokio::runtime::Handle,
    responses: &crate::stored::StoredResponses,
) {
    final_flush(control, rt);
    crate::observe::flush(rt, Duration::from_secs(5));
    if let Err(e) = rt.block_on(responses.flush(Duration::from_secs(5))) {
        log::error!("stored responses not written at shutdown: {e}");
    }
    log::info!("tollgate stopped");
}

/// Starts the control plane's runtime (database, spend writer, Redis sharing) and opens the
/// database on it. The runtime lives as long as the process.
fn open_control(
    config: &Config,
) -> Result<(Arc<crate::control::Control>, tokio::runtime::Handle), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tollgate-control")
        .on_thread_start(background_priority)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the control plane runtime: {e}"))?;
    let handle = rt.handle().clone();
    let control = rt.block_on(crate::control::Control::open(config, handle.clone()))?;
    handle.spawn(crate::control::flush::run(control.clone()));
    // The runtime must outlive every task and the process; it is never dropped.
    std::mem::forget(rt);
    Ok((control, handle))
}

/// Lowers the calling thread's scheduling priority by [`BACKGROUND_NICE`] (Linux: per thread;
/// threads it starts, such as SQLite's connection workers, inherit it). The control plane —
/// batch writes, Redis sharing, reloads — then never pre-empts a proxy thread serving a
/// request on the same core, yet still gets the CPU whenever the proxy threads wait.
fn background_priority() {
    use rustix::process::{getpriority_process, setpriority_process};
    if let Ok(now) = getpriority_process(None) {
        let _ = setpriority_process(None, (now + BACKGROUND_NICE).min(19));
    }
}

/// How much lower than the proxy threads the control plane runs. On a core saturated by a proxy
/// thread the scheduler gives a nice-5 thread about a quarter of the time (and all of an idle
/// core's): the batch writer needs under a tenth at full load, so it keeps up. (Nice 10, a
/// tenth, was measured to fall behind under sustained saturation and queue hundreds of MB.)
const BACKGROUND_NICE: i32 = 5;

/// Gives this replica's budget leases back to the cluster, then writes the spend still queued
/// before the process ends; what the database does not take within 10 s is saved to a local
/// file and written at the next start (control::spill).
fn final_flush(control: &crate::control::Control, rt: &tokio::runtime::Handle) {
    rt.block_on(crate::control::sync::give_back_leases(
        control,
        Duration::from_secs(2),
    ));
    let flushed = rt.block_on(control.flush_within(Some(Duration::from_secs(10))));
    let e = match flushed {
        Ok(n) => return log::info!("spend flushed ({n} log rows)"),
        Err(e) => e,
    };
    let (rows, _) = control.pending();
    match control.spill(&control.spill_dir) {
        Ok(Some((path, rows))) => log::error!(
            "final spend flush failed ({e}): {rows} log rows and the spend counters' changes saved to {}; they are written to the database at the next start",
            path.display()
        ),
        Ok(None) => log::error!("final spend flush failed ({e}); nothing was queued"),
        Err(io) => log::error!(
            "final spend flush failed ({e}) and saving it to {} failed too ({io}): {rows} log rows and the spend counters' changes are lost",
            control.spill_dir.display()
        ),
    }
}
