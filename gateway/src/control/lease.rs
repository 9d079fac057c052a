//! Budget leases across replicas (Redis). Each replica reserves only inside slices of a
//! budget's remaining amount that it leased from the cluster, so N replicas admit no more than
//! one would. A lease request is one script for every budget the request found short: each
//! budget's headroom is its max minus the cluster's spend minus every replica's live lease; the
//! slice is a share of that headroom (at least what the request needs), so near the end of a
//! budget slices shrink to single requests. The Redis sync (`sync`) converts spent lease into
//! cluster spend, renews live leases and gives idle ones back; an unrenewed lease (a replica
//! that died) expires after [`LEASE_TTL_MS`]. The request path waits on Redis only when a slice
//! runs out, and never longer than [`TOP_UP_TIMEOUT`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::enforce::Admission;
use super::ledger::Exceeded;
use super::{Control, Entity};
use crate::clock::now_ms_i64;

/// How long the cluster keeps a lease nobody renews (the sync renews live ones every 250 ms).
pub const LEASE_TTL_MS: i64 = 10_000;
/// A replica stops using a lease this long before the cluster could drop it (clock drift
/// between the request and the reply, a slow sync).
const LEASE_MARGIN_MS: i64 = 2_000;
/// A lease no reservation used for this long goes back to the cluster at the next sync.
pub const IDLE_MS: i64 = 1_000;
/// The longest a request waits for a lease.
const TOP_UP_TIMEOUT: Duration = Duration::from_secs(1);
/// After a failed lease request, requests go straight to the fallback for this long.
const DOWN_FOR_MS: i64 = 1_000;
/// A slice is at least this many times what the request needs …
const SLICE_REQUESTS: f64 = 8.0;
/// … or this share of the budget, whichever is more (capped at a quarter of the headroom).
const SLICE_SHARE: f64 = 0.05;

/// `tollgate:spend:{kind}:{id}:{period}`: the cluster's spend of one budget window.
pub fn spend_key(e: &Entity, period: i64) -> String {
    format!("tollgate:spend:{}:{}:{period}", e.kind.as_str(), e.id)
}

/// `tollgate:lease:{kind}:{id}:{period}`: replica id → `amount:expires_ms`.
pub fn lease_key(e: &Entity, period: i64) -> String {
    format!("tollgate:lease:{}:{}:{period}", e.kind.as_str(), e.id)
}

/// How long the cluster keeps a window's spend (budgets that reset) — 0: for ever.
pub fn spend_ttl_ms(resets: bool) -> i64 {
    if resets {
        40 * 86_400_000
    } else {
        0
    }
}

/// KEYS: (spend key, lease key) per budget. ARGV: replica id, lease TTL, then per budget: max,
/// need, want, seed (spend when Redis has none), spend TTL, floor (a lapsed lease's commitment,
/// -1 if none). All budgets or none: `{1, grant…}` or `{0, index, spend, headroom}` for the
/// first budget without `need` of headroom. Amounts travel as strings (Lua numbers would be
/// truncated).
const LEASE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me, ttl = ARGV[1], tonumber(ARGV[2])
local plan = {}
for i = 1, #KEYS / 2 do
  local sk, lk, a = KEYS[2 * i - 1], KEYS[2 * i], 2 + (i - 1) * 6
  local max, need, want = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local sttl, floor = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
  local spend = redis.call('GET', sk)
  if not spend then
    redis.call('SET', sk, ARGV[a + 4])
    if sttl > 0 then redis.call('PEXPIRE', sk, sttl) end
    spend = ARGV[a + 4]
  end
  spend = tonumber(spend)
  local others, mine = 0, 0
  local fields = redis.call('HGETALL', lk)
  for j = 1, #fields, 2 do
    local v = fields[j + 1]
    local sep = string.find(v, ':', 1, true)
    local amount, expires = tonumber(string.sub(v, 1, sep - 1)), tonumber(string.sub(v, sep + 1))
    if expires <= now then
      redis.call('HDEL', lk, fields[j])
    elseif fields[j] == me then
      mine = amount
    else
      others = others + amount
    end
  end
  if floor >= 0 then mine = floor end
  local headroom = max - spend - others - mine
  if headroom < need then
    return {0, i, string.format('%.17g', spend), string.format('%.17g', math.max(headroom, 0))}
  end
  plan[i] = {lk, mine, math.min(headroom, math.max(need, math.min(want, headroom / 4)))}
end
local out = {1}
for i = 1, #plan do
  local p = plan[i]
  redis.call('HSET', p[1], me, string.format('%.17g', p[2] + p[3]) .. ':' .. string.format('%d', now + ttl))
  redis.call('PEXPIRE', p[1], 2 * ttl)
  out[#out + 1] = string.format('%.17g', p[3])
end
return out";

/// This replica's side of the leases.
pub struct Leases {
    /// Names this replica's leases in the cluster (random per process).
    pub replica: String,
    client: redis::Client,
    /// The connection lease requests use; holding the lock serializes them.
    con: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// Until when (Unix ms) lease requests are not tried after a failure.
    down_until: AtomicI64,
    /// Budgets this replica holds a lease of (renewed and given back by the sync).
    pub(super) held: Mutex<Vec<Arc<Entity>>>,
}

/// A lease request's failure: Redis unreachable, slow or answering nonsense.
pub type LeaseError = String;

impl Leases {
    pub fn new(client: redis::Client) -> Leases {
        Leases {
            replica: format!("{:016x}", rand::random::<u64>()),
            client,
            con: tokio::sync::Mutex::new(None),
            down_until: AtomicI64::new(0),
            held: Mutex::default(),
        }
    }

    /// Waits for the turn to lease (one request at a time).
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.con.lock().await
    }

    /// Whether lease requests are worth trying (none failed in the last second).
    pub fn usable(&self) -> bool {
        now_ms_i64() >= self.down_until.load(Ordering::Relaxed)
    }

    /// Leases what `short` lacks (and a slice more) of every budget in it, in one script. On a
    /// grant the ledgers take their slices; `Some` names a budget the cluster cannot fit.
    pub async fn top_up(
        &self,
        con: &mut Option<MultiplexedConnection>,
        control: &Control,
        adm: &Admission,
        short: &[(Arc<Entity>, f64)],
    ) -> Result<Option<(Arc<Entity>, Exceeded)>, LeaseError> {
        let started = now_ms_i64();
        let tz = control.settings.tz;
        let mut keys = redis::cmd("EVAL");
        keys.arg(LEASE).arg(2 * short.len());
        let mut args = Vec::with_capacity(short.len() * 6);
        let mut plan = Vec::with_capacity(short.len());
        for (e, need) in short {
            let l = control.entity_limits(adm, e);
            let max = l.max_budget.unwrap_or_default();
            let basis = e.ledger.lease_basis(l.budget_duration, started, tz);
            keys.arg(spend_key(e, basis.period))
                .arg(lease_key(e, basis.period));
            args.push((max, *need, basis, l.budget_duration.is_some()));
            plan.push((basis, max));
        }
        let mut call = keys;
        call.arg(&self.replica).arg(LEASE_TTL_MS);
        for (max, need, basis, resets) in args {
            call.arg(max)
                .arg(need)
                .arg((need * SLICE_REQUESTS).max(max * SLICE_SHARE))
                .arg(basis.shared)
                .arg(spend_ttl_ms(resets))
                .arg(basis.lapsed.unwrap_or(-1.0));
        }
        let reply = tokio::time::timeout(TOP_UP_TIMEOUT, async {
            if con.is_none() {
                *con = Some(self.client.get_multiplexed_async_connection().await?);
            }
            let c = con.as_mut().expect("connected above");
            call.query_async::<Vec<redis::Value>>(c).await
        })
        .await;
        let reply = match reply {
            Ok(Ok(r)) => r,
            failed => {
                *con = None;
                self.down_until
                    .store(now_ms_i64() + DOWN_FOR_MS, Ordering::Relaxed);
                crate::observe::services::lease_request("failed");
                let e = match failed {
                    Ok(Err(e)) => {
                        crate::observe::services::redis_failed(
                            crate::observe::services::RedisUse::Control,
                            "budget_lease",
                            &e,
                        );
                        e.to_string()
                    }
                    _ => "timed out".to_string(),
                };
                return Err(e);
            }
        };
        let num = |v: &redis::Value| -> Option<f64> {
            redis::from_redis_value::<String>(v).ok()?.parse().ok()
        };
        let flag: i64 = reply
            .first()
            .and_then(|v| redis::from_redis_value(v).ok())
            .ok_or("lease script: empty reply")?;
        if flag == 0 {
            crate::observe::services::lease_request("refused");
            let i: usize = reply
                .get(1)
                .and_then(|v| redis::from_redis_value(v).ok())
                .ok_or("lease script: no index")?;
            let spend = reply.get(2).and_then(num).ok_or("lease script: no spend")?;
            let headroom = reply.get(3).and_then(num).unwrap_or(0.0);
            let (e, _) = &short[i - 1];
            let (_, max) = plan[i - 1];
            // What this replica could still reserve: the cluster's headroom plus the part of
            // its own slice nothing uses.
            let l = control.entity_limits(adm, e);
            let unused = e
                .ledger
                .lease_view(l.budget_duration, now_ms_i64(), tz)
                .unused;
            return Ok(Some((
                e.clone(),
                Exceeded {
                    spend,
                    max_budget: max,
                    available: headroom + unused,
                },
            )));
        }
        crate::observe::services::lease_request("granted");
        let until = started + LEASE_TTL_MS - LEASE_MARGIN_MS;
        for (i, ((e, _), (basis, _))) in short.iter().zip(&plan).enumerate() {
            let granted = reply
                .get(i + 1)
                .and_then(num)
                .ok_or("lease script: missing grant")?;
            e.ledger.grant(basis.period, granted, basis.lapsed, until);
            if !e.window.leased.swap(true, Ordering::AcqRel) {
                self.held.lock().expect("leases lock").push(e.clone());
            }
        }
        Ok(None)
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// A renewed lease may be used until then.
    pub fn renewed_until(sync_started: i64) -> i64 {
        sync_started + LEASE_TTL_MS - LEASE_MARGIN_MS
    }
}
