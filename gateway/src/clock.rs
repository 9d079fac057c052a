//! The gateway's one clock reader: wall-clock time as routing, budgets, periods, call ids,
//! request signatures and stored rows compare and store it. Elapsed time and deadlines use
//! `Instant` (monotonic), not this.

use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock (what a request signature or a token assertion is dated with).
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, signed: as budget periods, ledgers, the database and the
/// management API compute with it.
pub fn now_ms_i64() -> i64 {
    now_ms() as i64
}

/// Seconds since the Unix epoch (the `created` of OpenAI objects).
pub fn unix_now() -> u64 {
    now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
