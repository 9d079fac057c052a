//! The in-process cache: an LRU bounded by entries and bytes, each entry with its own expiry.
//! The lock is held only for the map operation, never across an await.

use std::sync::Mutex;

use bytes::Bytes;
use lru::LruCache;

/// A cached answer: the canonical response body and when it was made (Unix ms).
#[derive(Clone, Debug)]
pub struct Entry {
    pub body: Bytes,
    pub made_ms: i64,
    pub expires_ms: i64,
}

pub struct Local {
    inner: Mutex<Inner>,
    max_bytes: usize,
}

struct Inner {
    lru: LruCache<String, Entry>,
    bytes: usize,
}

impl Local {
    pub fn new(max_entries: usize, max_bytes: usize) -> Local {
        Local {
            inner: Mutex::new(Inner {
                lru: LruCache::new(
                    std::num::NonZeroUsize::new(max_entries.max(1)).expect("at least one"),
                ),
                bytes: 0,
            }),
            max_bytes,
        }
    }

    /// The live entry under `key` (an expired one is dropped).
    pub fn get(&self, key: &str, now_ms: i64) -> Option<Entry> {
        let mut g = self.inner.lock().expect("cache lock");
        match g.lru.get(key) {
            Some(e) if e.expires_ms > now_ms => Some(e.clone()),
            Some(_) => {
                if let Some((k, e)) = g.lru.pop_entry(key) {
                    g.bytes -= k.len() + e.body.len();
                }
                None
            }
            None => None,
        }
    }

    /// Stores `entry`, evicting the least recently used entries past the bounds. An entry
    /// larger than the whole byte bound is not kept.
    pub fn put(&self, key: String, entry: Entry) {
        let size = key.len() + entry.body.len();
        if size > self.max_bytes {
            return;
        }
        let mut g = self.inner.lock().expect("cache lock");
        if let Some((k, old)) = g.lru.push(key, entry) {
            // The entry replaced under the same key, or the one evicted by the count bound.
            g.bytes -= k.len() + old.body.len();
        }
        g.bytes += size;
        while g.bytes > self.max_bytes {
            match g.lru.pop_lru() {
                Some((k, e)) => g.bytes -= k.len() + e.body.len(),
                None => break,
            }
        }
    }

    pub fn delete(&self, key: &str) -> bool {
        let mut g = self.inner.lock().expect("cache lock");
        match g.lru.pop_entry(key) {
            Some((k, e)) => {
                g.bytes -= k.len() + e.body.len();
                true
            }
            None => false,
        }
    }

    pub fn clear(&self) {
        let mut g = self.inner.lock().expect("cache lock");
        g.lru.clear();
        g.bytes = 0;
    }

    /// Entries and bytes held.
    pub fn size(&self) -> (usize, usize) {
        let g = self.inner.lock().expect("cache lock");
        (g.lru.len(), g.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize, expires_ms: i64) -> Entry {
        Entry {
            body: Bytes::from(vec![b'x'; n]),
            made_ms: 0,
            expires_ms,
        }
    }

    #[test]
    fn bounded_by_entries_bytes_and_time() {
        let c = Local::new(2, 1000);
        c.put("a".into(), entry(10, 100));
        c.put("b".into(), entry(10, 100));
        c.put("c".into(), entry(10, 100));
        assert!(c.get("a", 0).is_none(), "count bound evicts the oldest");
        assert_eq!(c.size(), (2, 22));
        assert!(c.get("b", 100).is_none(), "expired");
        assert_eq!(c.size(), (1, 11));
        c.put("d".into(), entry(900, 100));
        c.put("e".into(), entry(200, 100));
        assert!(
            c.get("c", 0).is_none() && c.get("d", 0).is_none(),
            "byte bound"
        );
        assert!(c.get("e", 0).is_some());
        c.put("huge".into(), entry(2000, 100));
        assert!(c.get("huge", 0).is_none());
        assert!(c.delete("e"));
        assert_eq!(c.size(), (0, 0));
    }
}
