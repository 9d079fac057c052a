//! Keeping every replica's stored models current. A replica that changes a model rebuilds at
//! once and announces it on Redis (`tollgate:models`, when `router_settings.redis_*` is set);
//! every subscribed replica then re-reads the table. As a safety net each replica also polls
//! the table's version (one aggregate query) every second without Redis, every 5 s with it,
//! and rebuilds when it moved. Nothing here is on the request path.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::observe::services::{redis_failed, RedisUse};
use crate::state::AppState;

const CHANNEL: &str = "tollgate:models";

static ANNOUNCER: OnceLock<mpsc::UnboundedSender<()>> = OnceLock::new();

/// Tells the other replicas that stored models changed (no-op without Redis).
pub fn announce() {
    if let Some(tx) = ANNOUNCER.get() {
        let _ = tx.send(());
    }
}

/// Starts polling (and, with Redis, announcing and listening) on the control runtime. While
/// stored models are off (a reload may turn them on) a poll costs nothing: no query is made.
pub fn start(state: &Arc<AppState>) {
    let rt = state.control.runtime_handle().clone();
    let redis = state
        .runtime()
        .config
        .router
        .redis_url
        .as_ref()
        .map(|u| u.expose().to_string())
        .and_then(|u| redis::Client::open(u).ok());
    let every = if redis.is_some() {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(1)
    };
    rt.spawn(poll_loop(state.clone(), every));
    if let Some(client) = redis {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = ANNOUNCER.set(tx);
        rt.spawn(announce_loop(client.clone(), rx));
        rt.spawn(subscribe_loop(client, state.clone()));
    }
    log::info!(
        "models: stored models {}; changes polled every {} s{}",
        if super::enabled() { "on" } else { "off" },
        every.as_secs(),
        if ANNOUNCER.get().is_some() {
            " and announced through Redis"
        } else {
            ""
        }
    );
}

async fn poll_loop(state: Arc<AppState>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = super::refresh(&state, false).await {
            log::warn!("models: reading stored models failed: {e}");
        }
    }
}

async fn announce_loop(client: redis::Client, mut rx: mpsc::UnboundedReceiver<()>) {
    let mut con = None;
    while rx.recv().await.is_some() {
        // Several changes in a row: one announcement.
        while rx.try_recv().is_ok() {}
        if con.is_none() {
            con = client.get_multiplexed_async_connection().await.ok();
        }
        let Some(c) = con.as_mut() else {
            log::warn!("models: redis unreachable; other replicas see the change by polling");
            continue;
        };
        let sent: redis::RedisResult<()> = redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg("changed")
            .query_async(c)
            .await;
        if let Err(e) = sent {
            redis_failed(RedisUse::Control, "models_announce", &e);
            con = None;
        }
    }
}

async fn subscribe_loop(client: redis::Client, state: Arc<AppState>) {
    loop {
        match subscribe_once(&client, &state).await {
            Ok(()) => {}
            Err(e) => {
                redis_failed(RedisUse::Control, "models_subscribe", &e);
                log::warn!("models: redis subscription lost ({e}); polling meanwhile");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn subscribe_once(client: &redis::Client, state: &Arc<AppState>) -> redis::RedisResult<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(CHANNEL).await?;
    // Changes announced while this replica was not listening.
    if let Err(e) = super::refresh(state, false).await {
        log::warn!("models: reading stored models failed: {e}");
    }
    let mut messages = pubsub.on_message();
    while messages.next().await.is_some() {
        if let Err(e) = super::refresh(state, false).await {
            log::warn!("models: reading stored models failed: {e}");
        }
    }
    Ok(())
}
