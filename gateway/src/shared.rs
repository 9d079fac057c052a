//! Router state shared by replicas through Redis: when a deployment cools down here, the
//! cooldown is published (and stored with a TTL); every replica subscribed applies it to its own
//! copy. Per-minute usage (requests, tokens) is added to a Redis hash per deployment and minute
//! every quarter second, and the cluster's totals read back. The request path never waits on
//! Redis: it only touches memory. Redis being down only means each replica keeps its own state
//! (logged).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::router::now_ms;
use crate::state::AppState;

/// Pub/sub channel and key prefix.
const CHANNEL: &str = "tollgate:cooldown";
const KEY_PREFIX: &str = "tollgate:cooldown:";

/// A deployment cooled down until `until_ms`.
#[derive(Debug, Clone)]
pub struct Cooldown {
    pub deployment_id: String,
    pub until_ms: u64,
}

/// The request path's handle: a bounded queue to the publisher; a full queue drops the event
/// (the local cooldown still holds).
#[derive(Debug, Clone)]
pub struct Publisher(mpsc::Sender<Cooldown>);

impl Publisher {
    pub fn publish(&self, c: Cooldown) {
        if self.0.try_send(c).is_err() {
            log::debug!("cooldown sharing queue full; kept locally only");
        }
    }
}

/// Starts the publisher and subscriber tasks; returns the publishing handle.
pub fn start(state: Arc<AppState>, url: String) -> Publisher {
    let (tx, rx) = mpsc::channel(1024);
    let client = match redis::Client::open(url) {
        Ok(c) => c,
        Err(e) => {
            log::warn!("router_settings redis: invalid URL ({e}); cooldowns stay per replica");
            return Publisher(tx);
        }
    };
    tokio::spawn(publish_loop(client.clone(), rx));
    tokio::spawn(usage_loop(client.clone(), state.clone()));
    tokio::spawn(subscribe_loop(client, state));
    Publisher(tx)
}

async fn publish_loop(client: redis::Client, mut rx: mpsc::Receiver<Cooldown>) {
    let mut con = None;
    while let Some(c) = rx.recv().await {
        if con.is_none() {
            match client.get_multiplexed_async_connection().await {
                Ok(c) => con = Some(c),
                Err(e) => {
                    log::warn!(
                        "redis unreachable ({e}); cooldown of {} kept on this replica only",
                        c.deployment_id
                    );
                    continue;
                }
            }
        }
        let Some(connection) = con.as_mut() else {
            continue;
        };
        let ttl = c.until_ms.saturating_sub(now_ms()).max(1);
        let payload = format!("{} {}", c.until_ms, c.deployment_id);
        let result: redis::RedisResult<()> = redis::pipe()
            .cmd("SET")
            .arg(format!("{KEY_PREFIX}{}", c.deployment_id))
            .arg(c.until_ms)
            .arg("PX")
            .arg(ttl)
            .ignore()
            .cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(payload)
            .ignore()
            .query_async(connection)
            .await;
        if let Err(e) = result {
            log::warn!(
                "redis publish failed ({e}); cooldown of {} kept on this replica only",
                c.deployment_id
            );
            con = None;
        }
    }
}

/// How often usage is shared and the cluster's totals read.
const USAGE_SYNC: Duration = Duration::from_millis(250);

async fn usage_loop(client: redis::Client, state: Arc<AppState>) {
    let mut con = None;
    let mut warned = false;
    loop {
        tokio::time::sleep(USAGE_SYNC).await;
        if con.is_none() {
            match client.get_multiplexed_async_connection().await {
                Ok(c) => con = Some(c),
                Err(e) => {
                    if !warned {
                        log::warn!(
                            "redis unreachable ({e}); usage counters are per replica meanwhile"
                        );
                        warned = true;
                    }
                    continue;
                }
            }
        }
        let Some(connection) = con.as_mut() else {
            continue;
        };
        match sync_usage(connection, &state).await {
            Ok(()) => warned = false,
            Err(e) => {
                log::warn!(
                    "redis usage sync failed ({e}); usage counters are per replica meanwhile"
                );
                con = None;
            }
        }
    }
}

/// One round trip: add this replica's unsent usage, read the cluster's totals.
async fn sync_usage(
    con: &mut redis::aio::MultiplexedConnection,
    state: &AppState,
) -> redis::RedisResult<()> {
    let runtime = state.runtime();
    let now = now_ms();
    let minute = now / 60_000;
    let deps: Vec<_> = runtime
        .groups
        .values()
        .flat_map(|g| g.deployments.iter())
        .collect();
    let mut pipe = redis::pipe();
    for dep in &deps {
        let (m, requests, tokens) = dep.load.take_unsent(now);
        if requests + tokens > 0 {
            let key = usage_key(&dep.conf.id, m);
            pipe.cmd("HINCRBY")
                .arg(&key)
                .arg("r")
                .arg(requests)
                .ignore();
            pipe.cmd("HINCRBY").arg(&key).arg("t").arg(tokens).ignore();
            pipe.cmd("EXPIRE").arg(&key).arg(120).ignore();
        }
    }
    for dep in &deps {
        pipe.cmd("HMGET")
            .arg(usage_key(&dep.conf.id, minute))
            .arg("r")
            .arg("t");
    }
    let totals: Vec<(Option<u64>, Option<u64>)> = pipe.query_async(con).await?;
    for (dep, (requests, tokens)) in deps.iter().zip(totals) {
        dep.load
            .set_cluster(now, minute, requests.unwrap_or(0), tokens.unwrap_or(0));
    }
    Ok(())
}

fn usage_key(deployment_id: &str, minute: u64) -> String {
    format!("tollgate:usage:{deployment_id}:{minute}")
}

async fn subscribe_loop(client: redis::Client, state: Arc<AppState>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match subscribe_once(&client, &state).await {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(e) => log::warn!("redis subscription lost ({e}); retrying in {backoff:?}; cooldowns are per replica meanwhile"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

async fn subscribe_once(client: &redis::Client, state: &AppState) -> redis::RedisResult<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(CHANNEL).await?;
    // Cooldowns set before this replica (re)subscribed.
    let mut con = client.get_multiplexed_async_connection().await?;
    let runtime = state.runtime();
    for group in runtime.groups.values() {
        for dep in &group.deployments {
            let until: Option<u64> = redis::cmd("GET")
                .arg(format!("{KEY_PREFIX}{}", dep.conf.id))
                .query_async(&mut con)
                .await?;
            if let Some(until) = until {
                dep.health.cool_until(until);
            }
        }
    }
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let Ok(payload) = msg.get_payload::<String>() else {
            continue;
        };
        let Some((until, id)) = payload.split_once(' ') else {
            continue;
        };
        let Ok(until) = until.parse::<u64>() else {
            continue;
        };
        let runtime = state.runtime();
        for group in runtime.groups.values() {
            for dep in group.deployments.iter().filter(|d| d.conf.id == id) {
                dep.health.cool_until(until);
            }
        }
    }
    Err(redis::RedisError::from((
        redis::ErrorKind::IoError,
        "subscription ended",
    )))
}
