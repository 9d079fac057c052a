//! Keeping replicas in agreement. Every replica polls the database for changed keys, teams and
//! budgets (a backstop, every few seconds). With Redis configured (`router_settings.redis_*`):
//! a change is announced at once on `tollgate:entity` and every replica reloads it (a blocked
//! key is refused everywhere within a second); spend and per-minute request/token counts of
//! entities that saw traffic are added to Redis every 250 ms and the cluster totals published
//! on `tollgate:counters`, so budgets and rate limits count every replica's traffic. The
//! request path never waits on any of this; while Redis is unreachable each replica enforces
//! from its own counts (or refuses, with `redis_failure_mode: closed`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use conf::Config;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{now_ms, Control, Entity, Kind};
use crate::metrics::{redis_failed, redis_ok, RedisUse};

const ENTITY_CHANNEL: &str = "tollgate:entity";
const COUNTER_CHANNEL: &str = "tollgate:counters";
/// How often counters are shared.
const SYNC_EVERY: Duration = Duration::from_millis(250);
/// How often the database is polled for changes made by other replicas.
const POLL_EVERY: Duration = Duration::from_secs(5);
/// A Redis connect or sync round trip that takes longer counts as Redis being down.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Adds `amount` to the cluster's spend of one window, seeding a missing key with this
/// replica's view (Redis restarted, or the first replica to share it); returns the total.
const ADD_SPEND: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[2])
end
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return total";

pub fn start(control: &Arc<Control>, config: &Config) {
    let rt = control.runtime_handle().clone();
    rt.spawn(poll_loop(control.clone()));
    let Some(url) = config
        .router
        .redis_url
        .as_ref()
        .map(|u| u.expose().to_string())
    else {
        return;
    };
    let client = match redis::Client::open(url) {
        Ok(c) => c,
        Err(e) => {
            log::warn!("redis: invalid URL ({e}); budgets and limits are per replica");
            return;
        }
    };
    control.sharing.store(true, Ordering::Relaxed);
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = control.announcer.set(tx);
    rt.spawn(announce_loop(client.clone(), rx));
    rt.spawn(counter_loop(client.clone(), control.clone()));
    rt.spawn(subscribe_loop(client, control.clone()));
}

async fn poll_loop(control: Arc<Control>) {
    let mut since = now_ms();
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        let store = control.store().clone();
        // Overlap a little: rows written during the last poll by clocks slightly behind.
        match store.entities_changed_since(since - 2_000).await {
            Ok(rows) => {
                for row in rows {
                    since = since.max(row.updated_at);
                    control.apply_row(row, false);
                }
            }
            Err(e) => log::warn!("polling the database for changes failed: {e}"),
        }
    }
}

async fn announce_loop(client: redis::Client, mut rx: mpsc::UnboundedReceiver<(Kind, String)>) {
    let mut con = None;
    while let Some((kind, id)) = rx.recv().await {
        if con.is_none() {
            con = client.get_multiplexed_async_connection().await.ok();
        }
        let Some(c) = con.as_mut() else {
            redis_failed(
                RedisUse::Control,
                "entity_announce",
                &redis::RedisError::from((redis::ErrorKind::IoError, "not connected")),
            );
            log::warn!(
                "redis unreachable: change of {} {id} reaches other replicas by database poll only",
                kind.as_str()
            );
            continue;
        };
        let sent: redis::RedisResult<()> = redis::cmd("PUBLISH")
            .arg(ENTITY_CHANNEL)
            .arg(format!("{}\t{id}", kind.as_str()))
            .query_async(c)
            .await;
        if let Err(e) = sent {
            redis_failed(RedisUse::Control, "entity_announce", &e);
            con = None;
        }
    }
}

async fn counter_loop(client: redis::Client, control: Arc<Control>) {
    let mut con = None;
    loop {
        tokio::time::sleep(SYNC_EVERY).await;
        if con.is_none() {
            let connect =
                tokio::time::timeout(REDIS_TIMEOUT, client.get_multiplexed_async_connection());
            match connect.await.unwrap_or_else(|_| {
                Err(redis::RedisError::from((
                    redis::ErrorKind::IoError,
                    "connect timed out",
                )))
            }) {
                Ok(c) => con = Some(c),
                Err(e) => {
                    redis_failed(RedisUse::Control, "counter_sync", &e);
                    if control.redis_ok.swap(false, Ordering::Relaxed) {
                        log::warn!("redis unreachable ({e}); budgets and rate limits count this replica's traffic only");
                    }
                    continue;
                }
            }
        }
        let Some(c) = con.as_mut() else { continue };
        let shared = tokio::time::timeout(REDIS_TIMEOUT, share(c, &control))
            .await
            .unwrap_or_else(|_| {
                Err(redis::RedisError::from((
                    redis::ErrorKind::IoError,
                    "sync timed out",
                )))
            });
        match shared {
            Ok(()) => {
                redis_ok(RedisUse::Control);
                if !control.redis_ok.swap(true, Ordering::Relaxed) {
                    log::info!("redis reachable again; counters shared");
                }
            }
            Err(e) => {
                redis_failed(RedisUse::Control, "counter_sync", &e);
                if control.redis_ok.swap(false, Ordering::Relaxed) {
                    log::warn!("redis counter sync failed ({e}); budgets and rate limits count this replica's traffic only");
                }
                con = None;
            }
        }
    }
}

/// One round trip for every entity that saw traffic since the last one.
async fn share(
    con: &mut redis::aio::MultiplexedConnection,
    control: &Control,
) -> redis::RedisResult<()> {
    let dirty: Vec<Arc<Entity>> = std::mem::take(&mut *control.dirty.lock().expect("dirty lock"));
    if dirty.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let tz = control.settings.tz;
    let mut pipe = redis::pipe();
    let mut plan = Vec::with_capacity(dirty.len());
    for e in &dirty {
        e.window.dirty.store(false, Ordering::Release);
        let limits = control.limits(e);
        let (period, amount, seed) = e.ledger.take_unsent(limits.budget_duration, now, tz);
        let (minute, r, t) = e.window.load.take_unsent(now as u64);
        let spend_key = format!("tollgate:spend:{}:{}:{period}", e.kind.as_str(), e.id);
        let ttl = if limits.budget_duration.is_some() {
            40 * 86_400_000
        } else {
            0
        };
        pipe.cmd("EVAL")
            .arg(ADD_SPEND)
            .arg(1)
            .arg(&spend_key)
            .arg(amount)
            .arg(seed)
            .arg(ttl);
        let win_key = format!("tollgate:window:{}:{}:{minute}", e.kind.as_str(), e.id);
        pipe.cmd("HINCRBY").arg(&win_key).arg("r").arg(r).ignore();
        pipe.cmd("HINCRBY").arg(&win_key).arg("t").arg(t).ignore();
        pipe.cmd("PEXPIRE").arg(&win_key).arg(120_000).ignore();
        pipe.cmd("HMGET").arg(&win_key).arg("r").arg("t");
        plan.push((period, minute));
    }
    let replies: Vec<redis::Value> = pipe.query_async(con).await?;
    let mut message = String::new();
    for (i, e) in dirty.iter().enumerate() {
        let (period, minute) = plan[i];
        let total: f64 = redis::from_redis_value(&replies[2 * i]).unwrap_or(0.0);
        let (r, t): (Option<u64>, Option<u64>) =
            redis::from_redis_value(&replies[2 * i + 1]).unwrap_or((None, None));
        let (r, t) = (r.unwrap_or(0), t.unwrap_or(0));
        e.ledger.set_cluster(period, total);
        e.window.load.set_cluster(now as u64, minute, r, t);
        message.push_str(&format!(
            "{}\t{}\t{period}\t{total}\t{minute}\t{r}\t{t}\n",
            e.kind.as_str(),
            e.id
        ));
    }
    redis::cmd("PUBLISH")
        .arg(COUNTER_CHANNEL)
        .arg(message)
        .query_async::<()>(con)
        .await
}

async fn subscribe_loop(client: redis::Client, control: Arc<Control>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if let Err(e) = subscribe_once(&client, &control).await {
            redis_failed(RedisUse::Control, "entity_subscribe", &e);
            log::warn!("redis subscription lost ({e}); retrying in {backoff:?}");
        } else {
            backoff = Duration::from_millis(200);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

async fn subscribe_once(client: &redis::Client, control: &Arc<Control>) -> redis::RedisResult<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(ENTITY_CHANNEL).await?;
    pubsub.subscribe(COUNTER_CHANNEL).await?;
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let Ok(payload) = msg.get_payload::<String>() else {
            continue;
        };
        if msg.get_channel_name() == ENTITY_CHANNEL {
            if let Some((kind, id)) = payload
                .split_once('\t')
                .and_then(|(k, id)| Some((Kind::parse(k)?, id.to_string())))
            {
                let control = control.clone();
                tokio::spawn(async move {
                    if let Err(e) = control.reload(kind, &id).await {
                        log::warn!(
                            "reloading {} {id} announced by another replica failed: {e}",
                            kind.as_str()
                        );
                    }
                });
            }
            continue;
        }
        for line in payload.lines() {
            apply_counters(control, line);
        }
    }
    Err(redis::RedisError::from((
        redis::ErrorKind::IoError,
        "subscription ended",
    )))
}

/// Applies one published line: `kind id period total minute requests tokens`.
fn apply_counters(control: &Control, line: &str) {
    let f: Vec<&str> = line.split('\t').collect();
    let [kind, id, period, total, minute, r, t] = f[..] else {
        return;
    };
    let Some(kind) = Kind::parse(kind) else {
        return;
    };
    let e = match kind {
        // Counted-only entities exist wherever they are used.
        Kind::Customer | Kind::KeyModel | Kind::Proxy => control.get_or_create(kind, id),
        _ => match control.get(kind, id) {
            Some(e) => e,
            None => return,
        },
    };
    let (Ok(period), Ok(total), Ok(minute), Ok(r), Ok(t)) = (
        period.parse::<i64>(),
        total.parse::<f64>(),
        minute.parse::<u64>(),
        r.parse::<u64>(),
        t.parse::<u64>(),
    ) else {
        return;
    };
    e.ledger.set_cluster(period, total);
    e.window.load.set_cluster(now_ms() as u64, minute, r, t);
}
