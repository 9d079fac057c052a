//! Process state shared by every request: the runtime built from the current configuration
//! (swapped atomically on reload), the upstream connector and the in-flight counter.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use pingora::connectors::http::Connector;

use crate::runtime::{Live, Runtime};

/// Counts requests being served; graceful shutdown waits for it to reach zero.
#[derive(Debug, Default)]
pub struct Inflight(AtomicUsize);

/// Decrements the in-flight count when the request's context is dropped.
pub struct InflightGuard(Arc<AppState>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.inflight.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The shared state.
pub struct AppState {
    runtime: Arc<Live>,
    /// Cooldown sharing through Redis (`router_settings.redis_*`), once started.
    pub shared: std::sync::OnceLock<crate::routing::cluster::Publisher>,
    pub inflight: Inflight,
    pub connector: Connector,
    /// Keys, teams, budgets, limits and spend.
    pub control: Arc<crate::control::Control>,
    /// Stored Responses API responses (bounds read at start).
    pub responses: Arc<crate::stored::StoredResponses>,
    /// The response cache (`litellm_settings.cache`), when on.
    pub cache: Option<Arc<crate::cache::store::Cache>>,
    /// Admin UI login sessions (in memory, per replica).
    pub sessions: crate::sessions::Sessions,
}

impl AppState {
    pub fn new(
        runtime: Runtime,
        connector: Connector,
        control: Arc<crate::control::Control>,
    ) -> Arc<AppState> {
        let responses = crate::stored::StoredResponses::start(
            control.store().clone(),
            control.runtime_handle().clone(),
            &runtime.config.tollgate,
        );
        Arc::new(AppState {
            responses,
            cache: crate::cache::store::Cache::new(&runtime.config.cache),
            runtime: Arc::new(ArcSwap::from_pointee(runtime)),
            shared: std::sync::OnceLock::new(),
            inflight: Inflight::default(),
            connector,
            control,
            sessions: crate::sessions::Sessions::default(),
        })
    }

    /// The current runtime; cheap, lock-free.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// The swappable runtime itself, for background tasks that follow reloads.
    pub fn live(&self) -> Arc<Live> {
        self.runtime.clone()
    }

    /// Marks a request as in flight until the guard drops.
    pub fn enter(self: &Arc<Self>) -> InflightGuard {
        self.inflight.0.fetch_add(1, Ordering::AcqRel);
        InflightGuard(self.clone())
    }

    pub fn inflight(&self) -> usize {
        self.inflight.0.load(Ordering::Acquire)
    }
}
