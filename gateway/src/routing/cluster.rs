//! Router state shared by replicas through Redis: when a deployment cools down here, the
//! cooldown is published (and stored with a TTL); every replica subscribed applies it to its own
//! copy. Per-minute usage (requests, tokens) is added to a Redis hash per deployment and minute
//! every quarter second, and the cluster's totals read back; so is each replica's latency per
//! deployment, and latency-based routing goes by the replicas' mean. The request path never waits on
//! Redis: it only touches memory. Redis being down only means each replica keeps its own state
//! (logged).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::clock::now_ms;
use crate::observe::services::{redis_failed, redis_ok, RedisUse};
use crate::runtime::Live;

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
pub fn start(state: Arc<Live>, url: String) -> Publisher {
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
                    redis_failed(RedisUse::Router, "cooldown_publish", &e);
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
            redis_failed(RedisUse::Router, "cooldown_publish", &e);
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

async fn usage_loop(client: redis::Client, state: Arc<Live>) {
    let mut con = None;
    let mut warned = false;
    loop {
        tokio::time::sleep(USAGE_SYNC).await;
        if con.is_none() {
            match client.get_multiplexed_async_connection().await {
                Ok(c) => con = Some(c),
                Err(e) => {
                    redis_failed(RedisUse::Router, "usage_sync", &e);
                    forget_cluster_latency(&state);
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
        let started = std::time::Instant::now();
        match sync_usage(connection, &state).await {
            Ok(()) => {
                redis_ok(RedisUse::Router, started);
                warned = false;
            }
            Err(e) => {
                redis_failed(RedisUse::Router, "usage_sync", &e);
                forget_cluster_latency(&state);
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
    state: &Live,
) -> redis::RedisResult<()> {
    let runtime = state.load_full();
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
    for dep in &deps {
        let key = latency_key(&dep.conf.id);
        let own = dep.load.local_latency_us();
        if own > 0 {
            pipe.cmd("HSET")
                .arg(&key)
                .arg(replica_id())
                .arg(format!("{own} {now}"))
                .ignore();
            pipe.cmd("EXPIRE").arg(&key).arg(LATENCY_TTL_S).ignore();
        }
        pipe.cmd("HVALS").arg(key);
    }
    type Totals = (Vec<(Option<u64>, Option<u64>)>, Vec<Vec<String>>);
    let (totals, latencies): Totals = {
        let mut all: Vec<redis::Value> = pipe.query_async(con).await?;
        let rest = all.split_off(deps.len().min(all.len()));
        (
            redis::from_redis_value(&redis::Value::Array(all))?,
            redis::from_redis_value(&redis::Value::Array(rest))?,
        )
    };
    for (dep, (requests, tokens)) in deps.iter().zip(totals) {
        dep.load
            .set_cluster(now, minute, requests.unwrap_or(0), tokens.unwrap_or(0));
    }
    for (dep, values) in deps.iter().zip(latencies) {
        dep.load.set_cluster_latency(mean_latency(&values, now));
    }
    Ok(())
}

/// Without Redis, routing goes by this replica's own latencies again.
fn forget_cluster_latency(state: &Live) {
    for dep in state
        .load_full()
        .groups
        .values()
        .flat_map(|g| g.deployments.iter())
    {
        dep.load.set_cluster_latency(0);
    }
}

/// How long a replica's latency report counts (a replica that stopped reporting drops out).
const LATENCY_FRESH_MS: u64 = 60_000;
const LATENCY_TTL_S: u64 = 120;

fn latency_key(deployment_id: &str) -> String {
    format!("tollgate:latency:{deployment_id}")
}

/// This process's field in the latency hashes.
fn replica_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| format!("{:016x}", rand::random::<u64>()))
}

/// The mean of the replicas' fresh reports (`"<latency µs> <reported at ms>"`); 0 if none.
fn mean_latency(values: &[String], now: u64) -> u64 {
    let fresh: Vec<u64> = values
        .iter()
        .filter_map(|v| {
            let (us, at) = v.split_once(' ')?;
            let (us, at) = (us.parse::<u64>().ok()?, at.parse::<u64>().ok()?);
            (us > 0 && now.saturating_sub(at) <= LATENCY_FRESH_MS).then_some(us)
        })
        .collect();
    match fresh.len() as u64 {
        0 => 0,
        n => fresh.iter().sum::<u64>() / n,
    }
}

fn usage_key(deployment_id: &str, minute: u64) -> String {
    format!("tollgate:usage:{deployment_id}:{minute}")
}

async fn subscribe_loop(client: redis::Client, state: Arc<Live>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match subscribe_once(&client, &state).await {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(e) => {
                redis_failed(RedisUse::Router, "cooldown_subscribe", &e);
                log::warn!("redis subscription lost ({e}); retrying in {backoff:?}; cooldowns are per replica meanwhile");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

async fn subscribe_once(client: &redis::Client, state: &Live) -> redis::RedisResult<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(CHANNEL).await?;
    // Cooldowns set before this replica (re)subscribed.
    let mut con = client.get_multiplexed_async_connection().await?;
    let runtime = state.load_full();
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
        let runtime = state.load_full();
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

#[cfg(test)]
mod tests {
    use super::mean_latency;

    #[test]
    fn latency_is_the_mean_of_fresh_reports() {
        let now = 1_000_000;
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(mean_latency(&v(&["100 999000", "300 1000000"]), now), 200);
        // Stale (over a minute old), unparseable and zero reports are ignored.
        assert_eq!(
            mean_latency(&v(&["100 999000", "900 900000", "x y", "0 1000000"]), now),
            100
        );
        assert_eq!(mean_latency(&[], now), 0);
    }
}
