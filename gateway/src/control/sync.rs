//! Keeping replicas in agreement. Every replica polls the database for changed keys, teams and
//! budgets (a backstop, every few seconds). With Redis configured (`router_settings.redis_*`):
//! a change is announced at once on `tollgate:entity` and every replica reloads it (a blocked
//! key is refused everywhere within a second); spend and per-minute request/token counts of
//! entities that saw traffic are added to Redis every 250 ms and the cluster totals published
//! on `tollgate:counters`, so budgets and rate limits count every replica's traffic; the same
//! round trip renews this replica's budget leases (`lease`) and gives idle ones back. The
//! request path never waits on any of this; while Redis is unreachable each replica enforces
//! from its own counts (or refuses, with `redis_failure_mode: closed`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use conf::Config;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::lease::{lease_key, spend_key, spend_ttl_ms, Leases, IDLE_MS, LEASE_TTL_MS};
use super::{Control, Entity, Kind};
use crate::clock::now_ms_i64;
use crate::observe::services::{redis_failed, redis_ok, RedisUse};

const ENTITY_CHANNEL: &str = "tollgate:entity";
const COUNTER_CHANNEL: &str = "tollgate:counters";
/// How often counters are shared.
const SYNC_EVERY: Duration = Duration::from_millis(250);
/// How often the database is polled for changes made by other replicas.
const POLL_EVERY: Duration = Duration::from_secs(5);
/// A Redis connect or sync round trip that takes longer counts as Redis being down.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Adds `amount` (ARGV[1]) to the cluster's spend of one window (KEYS[1]), seeding a missing
/// key with this replica's view (ARGV[2]: Redis restarted, or the first replica to share it),
/// and moves it out of this replica's lease (KEYS[2], field ARGV[4]) together with `release`
/// (ARGV[5], an idle slice given back); a lease still live is renewed for ARGV[6] ms. Returns
/// `{total, 1 if this replica's lease is live}`.
const ADD_SPEND: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[2])
end
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
local v = redis.call('HGET', KEYS[2], ARGV[4])
if not v then return {total, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local sep = string.find(v, ':', 1, true)
local left = tonumber(string.sub(v, 1, sep - 1)) - tonumber(ARGV[1]) - tonumber(ARGV[5])
if tonumber(string.sub(v, sep + 1)) <= now or left <= 1e-12 then
  redis.call('HDEL', KEYS[2], ARGV[4])
  return {total, 0}
end
local ttl = tonumber(ARGV[6])
redis.call('HSET', KEYS[2], ARGV[4], string.format('%.17g', left) .. ':' .. string.format('%d', now + ttl))
redis.call('PEXPIRE', KEYS[2], 2 * ttl)
return {total, 1}";

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
    let _ = control
        .leases
        .set(super::lease::Leases::new(client.clone()));
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = control.announcer.set(tx);
    rt.spawn(announce_loop(client.clone(), rx));
    rt.spawn(counter_loop(client.clone(), control.clone()));
    rt.spawn(subscribe_loop(client, control.clone()));
}

async fn poll_loop(control: Arc<Control>) {
    let mut since = now_ms_i64();
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
        let started = std::time::Instant::now();
        let shared = tokio::time::timeout(REDIS_TIMEOUT, share(c, &control, false))
            .await
            .unwrap_or_else(|_| {
                Err(redis::RedisError::from((
                    redis::ErrorKind::IoError,
                    "sync timed out",
                )))
            });
        match shared {
            Ok(()) => {
                redis_ok(RedisUse::Control, started);
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

/// One round trip for every entity that saw traffic since the last one and every budget this
/// replica holds a lease of: spend goes from the lease to the cluster total, live leases are
/// renewed, idle ones (or, with `stopping`, all) are given back, and the totals are published.
async fn share(
    con: &mut redis::aio::MultiplexedConnection,
    control: &Control,
    stopping: bool,
) -> redis::RedisResult<()> {
    let mut todo: Vec<Arc<Entity>> =
        std::mem::take(&mut *control.dirty.lock().expect("dirty lock"));
    let leases = control.leases.get();
    if let Some(l) = leases {
        let held = l.held.lock().expect("leases lock");
        if !held.is_empty() {
            let seen: std::collections::HashSet<*const Entity> =
                todo.iter().map(Arc::as_ptr).collect();
            todo.extend(
                held.iter()
                    .filter(|e| !seen.contains(&Arc::as_ptr(e)))
                    .cloned(),
            );
        }
    }
    if todo.is_empty() {
        return Ok(());
    }
    let replica = leases.map(|l| l.replica.as_str()).unwrap_or("-");
    let now = now_ms_i64();
    let tz = control.settings.tz;
    let mut pipe = redis::pipe();
    let mut plan = Vec::with_capacity(todo.len());
    for e in &todo {
        e.window.dirty.store(false, Ordering::Release);
        let limits = control.limits(e);
        let (period, amount, seed) = e.ledger.take_unsent(limits.budget_duration, now, tz);
        let lease = e.ledger.lease_view(limits.budget_duration, now, tz);
        let release = if lease.unused > 0.0 && (stopping || now - lease.used_at >= IDLE_MS) {
            e.ledger.give_back(period, lease.unused)
        } else {
            0.0
        };
        let (minute, r, t) = e.window.load.take_unsent(now as u64);
        pipe.cmd("EVAL")
            .arg(ADD_SPEND)
            .arg(2)
            .arg(spend_key(e, period))
            .arg(lease_key(e, period))
            .arg(amount)
            .arg(seed)
            .arg(spend_ttl_ms(limits.budget_duration.is_some()))
            .arg(replica)
            .arg(release)
            .arg(LEASE_TTL_MS);
        let win_key = format!("tollgate:window:{}:{}:{minute}", e.kind.as_str(), e.id);
        pipe.cmd("HINCRBY").arg(&win_key).arg("r").arg(r).ignore();
        pipe.cmd("HINCRBY").arg(&win_key).arg("t").arg(t).ignore();
        pipe.cmd("PEXPIRE").arg(&win_key).arg(120_000).ignore();
        pipe.cmd("HMGET").arg(&win_key).arg("r").arg("t");
        plan.push((period, minute));
    }
    let replies: Vec<redis::Value> = pipe.query_async(con).await?;
    let mut message = String::new();
    let until = Leases::renewed_until(now);
    for (i, e) in todo.iter().enumerate() {
        let (period, minute) = plan[i];
        let (total, live): (f64, i64) =
            redis::from_redis_value(&replies[2 * i]).unwrap_or((0.0, 0));
        let (r, t): (Option<u64>, Option<u64>) =
            redis::from_redis_value(&replies[2 * i + 1]).unwrap_or((None, None));
        let (r, t) = (r.unwrap_or(0), t.unwrap_or(0));
        e.ledger.set_cluster(period, total);
        if live == 1 {
            e.ledger.renew(period, until);
        } else {
            e.ledger.lapse(period);
        }
        e.window.load.set_cluster(now as u64, minute, r, t);
        message.push_str(&format!(
            "{}\t{}\t{period}\t{total}\t{minute}\t{r}\t{t}\n",
            e.kind.as_str(),
            e.id
        ));
    }
    if let Some(l) = leases {
        // Budgets whose lease is all spent or given back leave the list.
        l.held.lock().expect("leases lock").retain(|e| {
            let limits = control.limits(e);
            let keep = e.ledger.lease_view(limits.budget_duration, now, tz).lease > 0.0;
            if !keep {
                e.window.leased.store(false, Ordering::Release);
            }
            keep
        });
    }
    redis::cmd("PUBLISH")
        .arg(COUNTER_CHANNEL)
        .arg(message)
        .query_async::<()>(con)
        .await
}

/// At shutdown: shares what is left and gives every lease back, so the other replicas can use
/// the slices at once (else they expire after `LEASE_TTL_MS`).
pub async fn give_back_leases(control: &Control, within: Duration) {
    let Some(leases) = control.leases.get() else {
        return;
    };
    if leases.held.lock().expect("leases lock").is_empty() {
        return;
    }
    let done = tokio::time::timeout(within, async {
        let mut con = leases.client().get_multiplexed_async_connection().await?;
        share(&mut con, control, true).await
    })
    .await;
    match done {
        Ok(Ok(())) => log::info!("budget leases given back to the cluster"),
        Ok(Err(e)) => log::warn!(
            "giving budget leases back failed ({e}); they expire in {} s",
            LEASE_TTL_MS / 1000
        ),
        Err(_) => log::warn!(
            "giving budget leases back timed out; they expire in {} s",
            LEASE_TTL_MS / 1000
        ),
    }
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
        Kind::Customer | Kind::KeyModel | Kind::Proxy | Kind::Tokens => {
            control.get_or_create(kind, id)
        }
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
    e.window
        .load
        .set_cluster(crate::clock::now_ms(), minute, r, t);
}
