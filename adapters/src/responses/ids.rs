//! Item and response ids (`msg_…`, `fc_…`, `resp_…`): a prefix and 48 random hex digits, the
//! shape OpenAI uses.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// `prefix` + `_` + 48 hex digits. The digits come from SipHash under std's per-process random
/// keys over a counter and the clock: unique in practice and not guessable from earlier ids,
/// without an RNG dependency in this I/O-free crate. Ids are names, not secrets.
pub fn new_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let state = RandomState::new();
    let word = |salt: u64| {
        let mut h = state.build_hasher();
        h.write_u64(n);
        h.write_u64(nanos);
        h.write_u64(salt);
        h.finish()
    };
    format!("{prefix}_{:016x}{:016x}{:016x}", word(1), word(2), word(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_hex_and_distinct() {
        let a = new_id("msg");
        let b = new_id("msg");
        assert_ne!(a, b);
        let hex = a.strip_prefix("msg_").unwrap();
        assert_eq!(hex.len(), 48);
        assert!(hex.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
