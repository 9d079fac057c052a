//! The Redis cache (`cache_params.type: redis`): entries under their key with a TTL (`SET …
//! PX`), shared by every replica. Every call is bounded by a short deadline; Redis down or slow
//! is a miss (or a store not made) counted in `errors`, never a failed request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::MultiplexedConnection;

use super::local::Entry;

/// A Redis call slower than this counts as Redis down.
const DEADLINE: Duration = Duration::from_millis(250);

/// Response cache calls to Redis that failed (the requests went on without the cache).
pub static REDIS_ERRORS: AtomicU64 = AtomicU64::new(0);

pub struct Redis {
    client: Option<redis::Client>,
    con: Mutex<Option<MultiplexedConnection>>,
}

impl Redis {
    pub fn new(url: &str) -> Redis {
        let client = match redis::Client::open(url) {
            Ok(c) => Some(c),
            Err(e) => {
                log::error!("cache_params redis: invalid URL ({e}); every lookup is a miss");
                None
            }
        };
        Redis {
            client,
            con: Mutex::new(None),
        }
    }

    async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        if let Some(c) = self.con.lock().expect("redis slot").clone() {
            return Ok(c);
        }
        let client = self.client.as_ref().ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "no client"))
        })?;
        let c = client.get_multiplexed_async_connection().await?;
        *self.con.lock().expect("redis slot") = Some(c.clone());
        Ok(c)
    }

    /// Runs `f` on a connection within the deadline; a failure drops the connection and is
    /// counted.
    async fn run<T, F, Fut>(&self, what: &str, f: F) -> Option<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let call = async { f(self.connection().await?).await };
        let err = match tokio::time::timeout(DEADLINE, call).await {
            Ok(Ok(v)) => return Some(v),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_string(),
        };
        *self.con.lock().expect("redis slot") = None;
        let n = REDIS_ERRORS.fetch_add(1, Ordering::Relaxed);
        if n.is_power_of_two() || n == 0 {
            log::warn!("response cache: Redis {what} failed ({err}); serving without the cache ({} failures so far)", n + 1);
        }
        None
    }

    pub async fn get(&self, key: &str) -> Option<Entry> {
        let key = key.to_string();
        let raw = self
            .run("GET", |mut c| async move {
                redis::cmd("GET")
                    .arg(&key)
                    .query_async::<Option<Vec<u8>>>(&mut c)
                    .await
            })
            .await
            .flatten()?;
        decode(&raw)
    }

    pub async fn put(&self, key: String, entry: Entry, ttl: Duration) {
        let value = encode(&entry);
        let px = ttl.as_millis().max(1) as u64;
        self.run("SET", |mut c| async move {
            redis::cmd("SET")
                .arg(&key)
                .arg(value)
                .arg("PX")
                .arg(px)
                .query_async::<()>(&mut c)
                .await
        })
        .await;
    }

    pub async fn delete(&self, keys: Vec<String>) -> Option<u64> {
        if keys.is_empty() {
            return Some(0);
        }
        self.run("DEL", |mut c| async move {
            redis::cmd("DEL").arg(keys).query_async(&mut c).await
        })
        .await
    }

    /// Deletes every entry under `namespace` (`namespace:*`), or without one every key shaped
    /// like a cache key (64 hex digits), and the semantic stream (SCAN + DEL: never `FLUSHALL`,
    /// nor `*`: Redis is shared with budgets and rate limits).
    pub async fn flush(&self, namespace: Option<&str>, stream: String) -> Option<u64> {
        let pattern = match namespace {
            Some(ns) => format!("{ns}:*"),
            None => "[0-9a-f]".repeat(64),
        };
        self.run("SCAN", |mut c| async move {
            let mut cursor: u64 = 0;
            let mut n = 0u64;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500)
                    .query_async(&mut c)
                    .await?;
                if !keys.is_empty() {
                    n += redis::cmd("DEL")
                        .arg(keys)
                        .query_async::<u64>(&mut c)
                        .await?;
                }
                if next == 0 {
                    n += redis::cmd("DEL")
                        .arg(&stream)
                        .query_async::<u64>(&mut c)
                        .await?;
                    return Ok(n);
                }
                cursor = next;
            }
        })
        .await
    }

    /// Appends one item to the stream `key`, capped near `maxlen` items (`XADD … MAXLEN ~`).
    pub async fn xadd(&self, key: String, maxlen: usize, fields: Vec<(&'static str, Vec<u8>)>) {
        self.run("XADD", |mut c| async move {
            let mut cmd = redis::cmd("XADD");
            cmd.arg(&key).arg("MAXLEN").arg("~").arg(maxlen).arg("*");
            for (k, v) in fields {
                cmd.arg(k).arg(v);
            }
            cmd.query_async::<String>(&mut c).await
        })
        .await;
    }

    pub async fn ping(&self) -> bool {
        self.run("PING", |mut c| async move {
            redis::cmd("PING").query_async::<String>(&mut c).await
        })
        .await
        .is_some()
    }

    pub async fn info(&self) -> Option<String> {
        self.run("INFO", |mut c| async move {
            redis::cmd("INFO").query_async::<String>(&mut c).await
        })
        .await
    }
}

/// `made_ms` (8 bytes, big endian) then the body.
fn encode(e: &Entry) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + e.body.len());
    v.extend_from_slice(&e.made_ms.to_be_bytes());
    v.extend_from_slice(&e.body);
    v
}

fn decode(raw: &[u8]) -> Option<Entry> {
    let (ts, body) = raw.split_at_checked(8)?;
    Some(Entry {
        made_ms: i64::from_be_bytes(ts.try_into().ok()?),
        body: Bytes::copy_from_slice(body),
        expires_ms: i64::MAX,
    })
}
