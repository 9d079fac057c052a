//! Requests in flight, for `llm_requests_hanging` alerts: an LLM request registers at admission
//! (only while that alert type is on — otherwise one `OnceLock` read) and leaves when its answer
//! starts (a stream's header) or its context drops. The alerting task reads who is overdue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Shards of the registry: requests register and leave on different locks.
const SHARDS: usize = 16;

/// The registry, set once when `llm_requests_hanging` alerts are on.
static REGISTRY: OnceLock<Registry> = OnceLock::new();

struct Registry {
    next: AtomicU64,
    shards: [Mutex<HashMap<u64, Entry>>; SHARDS],
}

struct Entry {
    started_ms: i64,
    call_id: String,
    group: String,
    /// Alerted already: one alert per request.
    alerted: bool,
}

/// A request registered as in flight; leaves the registry when dropped.
pub struct Watch(u64);

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(r) = REGISTRY.get() {
            r.shard(self.0)
                .lock()
                .expect("hanging shard")
                .remove(&self.0);
        }
    }
}

impl Registry {
    fn shard(&self, id: u64) -> &Mutex<HashMap<u64, Entry>> {
        &self.shards[id as usize % SHARDS]
    }
}

/// Turns the registry on (alerting start, when `llm_requests_hanging` is wanted).
pub fn enable() {
    REGISTRY.get_or_init(|| Registry {
        next: AtomicU64::new(0),
        shards: std::array::from_fn(|_| Mutex::default()),
    });
}

/// Registers an admitted request; `None` (nothing done) when hanging alerts are off.
pub fn watch(started_ms: i64, call_id: &str, group: &str) -> Option<Watch> {
    let r = REGISTRY.get()?;
    let id = r.next.fetch_add(1, Ordering::Relaxed);
    r.shard(id).lock().expect("hanging shard").insert(
        id,
        Entry {
            started_ms,
            call_id: call_id.to_string(),
            group: group.to_string(),
            alerted: false,
        },
    );
    Some(Watch(id))
}

/// A request without an answer past the threshold.
pub struct Overdue {
    pub call_id: String,
    pub group: String,
    pub waited_ms: i64,
}

/// The requests started before `now_ms - threshold_ms` and not reported yet; each is reported
/// once.
pub fn overdue(threshold_ms: i64, now_ms: i64) -> Vec<Overdue> {
    let Some(r) = REGISTRY.get() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for shard in &r.shards {
        let mut s = shard.lock().expect("hanging shard");
        for e in s.values_mut() {
            if !e.alerted && now_ms - e.started_ms >= threshold_ms {
                e.alerted = true;
                out.push(Overdue {
                    call_id: e.call_id.clone(),
                    group: e.group.clone(),
                    waited_ms: now_ms - e.started_ms,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn overdue_once_and_gone_when_dropped() {
        super::enable();
        let w = super::watch(1_000, "call-a", "g").unwrap();
        let v = super::watch(5_000, "call-b", "g").unwrap();
        let o = super::overdue(2_000, 4_000);
        assert!(o
            .iter()
            .any(|o| o.call_id == "call-a" && o.waited_ms == 3_000));
        assert!(!o.iter().any(|o| o.call_id == "call-b"));
        assert!(super::overdue(2_000, 4_000)
            .iter()
            .all(|o| o.call_id != "call-a"));
        drop(v);
        assert!(super::overdue(2_000, 100_000)
            .iter()
            .all(|o| o.call_id != "call-b"));
        drop(w);
    }
}
