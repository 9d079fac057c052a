//! Per-minute usage windows (requests and tokens, this replica's and the cluster's) and
//! latency: what routing strategies read for a deployment and what rate limits count for a
//! key, team, user or other entity.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Which per-minute limit refused a request, and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Requests(u64),
    Tokens(u64),
}

/// Live numbers the strategies read: recent latency and this minute's usage.
#[derive(Debug, Default)]
pub struct Load {
    /// Time to response header, exponentially averaged, in microseconds; 0 = not measured yet.
    latency_us: AtomicU64,
    /// The mean of every replica's `latency_us`, as last read from Redis; 0 = not shared.
    cluster_latency_us: AtomicU64,
    minute: Mutex<Minute>,
}

/// One minute of usage: this replica's, the part not yet shared, and the other replicas'.
#[derive(Debug, Default, Clone, Copy)]
struct Minute {
    minute: u64,
    requests: u64,
    tokens: u64,
    /// Counted here, not yet sent to Redis.
    unsent: (u64, u64),
    /// Sent to Redis this minute.
    sent: (u64, u64),
    /// The other replicas' (requests, tokens) this minute, as last read from Redis.
    others: (u64, u64),
}

impl Load {
    pub fn record_latency(&self, d: Duration) {
        let sample = d.as_micros().min(u64::MAX as u128) as u64;
        let old = self.latency_us.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old * 7 + sample) / 8
        };
        self.latency_us.store(new.max(1), Ordering::Relaxed);
    }

    /// The latency routing goes by: the cluster's when replicas share it, else this replica's.
    pub fn latency_us(&self) -> u64 {
        match self.cluster_latency_us.load(Ordering::Relaxed) {
            0 => self.local_latency_us(),
            shared => shared,
        }
    }

    /// This replica's own measurement (what it shares).
    pub fn local_latency_us(&self) -> u64 {
        self.latency_us.load(Ordering::Relaxed)
    }

    /// The replicas' mean latency, as read from Redis (0: none known).
    pub fn set_cluster_latency(&self, us: u64) {
        self.cluster_latency_us.store(us, Ordering::Relaxed);
    }

    fn with_minute<T>(&self, now: u64, f: impl FnOnce(&mut Minute) -> T) -> T {
        let mut m = self.minute.lock().expect("load lock");
        if m.minute != now / 60_000 {
            *m = Minute {
                minute: now / 60_000,
                ..Minute::default()
            };
        }
        f(&mut m)
    }

    pub fn add_request(&self, now: u64) {
        self.with_minute(now, |m| {
            m.requests += 1;
            m.unsent.0 += 1;
        });
    }

    pub fn add_tokens(&self, now: u64, tokens: u64) {
        self.with_minute(now, |m| {
            m.tokens += tokens;
            m.unsent.1 += tokens;
        });
    }

    /// Counts one request unless this minute already holds `rpm` requests or `tpm` tokens
    /// (the cluster's, as last seen). Check and count happen under one lock.
    pub fn try_request(&self, now: u64, rpm: Option<u64>, tpm: Option<u64>) -> Result<(), Limited> {
        self.with_minute(now, |m| {
            if let Some(r) = rpm.filter(|r| m.requests + m.others.0 >= *r) {
                return Err(Limited::Requests(r));
            }
            if let Some(t) = tpm.filter(|t| m.tokens + m.others.1 >= *t) {
                return Err(Limited::Tokens(t));
            }
            m.requests += 1;
            m.unsent.0 += 1;
            Ok(())
        })
    }

    /// Takes back a request counted by `try_request` (a later limit refused it).
    pub fn undo_request(&self, now: u64) {
        self.with_minute(now, |m| {
            m.requests = m.requests.saturating_sub(1);
            m.unsent.0 = m.unsent.0.saturating_sub(1);
        });
    }

    /// (requests, tokens) this minute, this replica's plus the others' last seen.
    pub fn this_minute(&self, now: u64) -> (u64, u64) {
        self.with_minute(now, |m| (m.requests + m.others.0, m.tokens + m.others.1))
    }

    /// Hands over what is not shared yet: (minute, requests, tokens).
    pub fn take_unsent(&self, now: u64) -> (u64, u64, u64) {
        self.with_minute(now, |m| {
            let (r, t) = std::mem::take(&mut m.unsent);
            m.sent.0 += r;
            m.sent.1 += t;
            (m.minute, r, t)
        })
    }

    /// Records the cluster's totals for `minute` (this replica's shared part included).
    pub fn set_cluster(&self, now: u64, minute: u64, requests: u64, tokens: u64) {
        self.with_minute(now, |m| {
            if m.minute == minute {
                m.others = (
                    requests.saturating_sub(m.sent.0),
                    tokens.saturating_sub(m.sent.1),
                );
            }
        });
    }
}
