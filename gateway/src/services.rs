//! The gateway's own background service (off the request path): Redis routing sync across
//! replicas, Vertex AI token refresh, upstream DNS refresh.

use std::sync::Arc;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::state::AppState;
use crate::upstream::DNS_REFRESH;

/// The background service beside the proxy: starts the Redis routing sync and the Vertex AI
/// token refreshers, then refreshes every upstream's DNS answers.
pub struct Background {
    pub state: Arc<AppState>,
}

#[async_trait]
impl BackgroundService for Background {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        // Cooldowns shared across replicas through Redis, when configured.
        if let Some(url) = self.state.runtime().config.router.redis_url.clone() {
            let publisher =
                crate::routing::cluster::start(self.state.live(), url.expose().to_string());
            let _ = self.state.shared.set(publisher);
            log::info!("router: sharing cooldowns through Redis");
        }
        // Vertex AI tokens are renewed ahead of expiry, off the request path (reloads start
        // and stop the renewals of the deployments they add and remove).
        crate::reload::follow_tokens(&self.state.runtime());
        loop {
            let runtime = self.state.runtime();
            for up in runtime.upstreams.iter().filter(|u| u.wanted()) {
                if let Err(e) = up.refresh().await {
                    log::warn!("{e}; keeping the previous addresses for {}", up.host);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(DNS_REFRESH) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
