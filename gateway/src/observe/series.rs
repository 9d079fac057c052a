//! The request table: one row of atomic counters and histograms per request label set (who
//! called, which model and deployment, status, route), found by one hash lookup in a sharded
//! map and updated without a lock held beyond the shard's read guard. Every request family is
//! a projection of these rows at scrape time (`expose.rs`), so a request pays one lookup however
//! many families it feeds. Rows are bounded: past `metrics_max_series` new label sets count
//! under one `other` row, only the first `metrics_max_histogram_series` rows keep histograms of
//! their own (the others observe into `other`'s: a histogram is ~38 series per label set), and a
//! row unseen for `metrics_idle_seconds` is dropped at the next scrape. Ids are stored (a key's
//! SHA-256, team id, …); aliases are looked up at scrape.

use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use dashmap::DashMap;

/// Positions of the string ids of a row.
pub const END_USER: usize = 0;
pub const KEY: usize = 1;
pub const TEAM: usize = 2;
pub const USER: usize = 3;
pub const ORG: usize = 4;
pub const REQUESTED: usize = 5;
pub const GROUP: usize = 6;
pub const MODEL_ID: usize = 7;
/// What a wildcard deployment's `*` stood for.
pub const WILDCARD: usize = 8;
pub const ROUTE: usize = 9;
pub const N_IDS: usize = 10;
/// The key id of a request made with the master key (rendered as its hash at scrape).
pub const MASTER: &str = "\u{1}master";
/// Histograms per row (see `family::H_*`).
pub const N_HISTS: usize = 5;

/// A histogram: one counter per bucket (not cumulative: an observation touches one) and the
/// sum in nanoseconds.
#[derive(Debug)]
pub struct Hist {
    pub buckets: Box<[AtomicU64]>,
    pub sum_ns: AtomicU64,
}

impl Hist {
    pub fn new(bounds: usize) -> Hist {
        Hist {
            buckets: (0..=bounds).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, bounds: &[f64], secs: f64) {
        let i = bounds.partition_point(|b| *b < secs);
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add((secs.max(0.0) * 1e9) as u64, Relaxed);
    }
}

/// A request's labels, borrowed from its context.
pub struct Ids<'a> {
    pub ids: [&'a str; N_IDS],
    pub status: u16,
    /// The error came from the provider (its status relayed), not from the gateway.
    pub upstream: bool,
    /// `custom_prometheus_metadata_labels` values then `custom_prometheus_tags` flags.
    pub extra: &'a [String],
}

/// What one request adds to its row.
#[derive(Debug, Default, Clone)]
pub struct Obs {
    /// A deployment answered and the client got a success.
    pub succeeded: bool,
    /// A billable request (usage, a deployment that is not free) priced at $0.
    pub zero_cost: bool,
    pub input: u64,
    pub output: u64,
    pub cached: u64,
    pub cache_creation: u64,
    pub spend: f64,
    /// Seconds, per histogram (`family::H_*`); `None` = not observed.
    pub hists: [Option<f64>; N_HISTS],
    /// Provider `x-ratelimit-remaining-requests` / `-tokens`.
    pub remaining: [Option<u64>; 2],
    /// The response cache: `None` when the request was not looked up, else whether it hit.
    pub cache_hit: Option<bool>,
}

/// One label set's counters.
#[derive(Debug)]
pub struct Row {
    pub ids: Box<[Box<str>]>,
    pub status: u16,
    pub upstream: bool,
    pub seen_ms: AtomicU64,
    pub requests: AtomicU64,
    pub succeeded: AtomicU64,
    pub zero_cost: AtomicU64,
    pub input: AtomicU64,
    pub output: AtomicU64,
    pub cached: AtomicU64,
    pub cache_creation: AtomicU64,
    /// Response cache hits and misses, and the tokens the hits served.
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub cache_tokens: AtomicU64,
    /// USD × 10⁹.
    pub spend_nano: AtomicU64,
    /// `u64::MAX` until a provider sent the header.
    pub remaining: [AtomicU64; 2],
    pub remaining_at: AtomicU64,
    /// `None`: this row observes into the `other` row's histograms.
    pub hists: Option<Box<[Hist; N_HISTS]>>,
}

impl Row {
    fn new(ids: &Ids<'_>, bounds: usize, hists: bool) -> Row {
        Row {
            ids: ids
                .ids
                .iter()
                .copied()
                .chain(ids.extra.iter().map(String::as_str))
                .map(Box::from)
                .collect(),
            status: ids.status,
            upstream: ids.upstream,
            seen_ms: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            zero_cost: AtomicU64::new(0),
            input: AtomicU64::new(0),
            output: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            cache_creation: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            cache_tokens: AtomicU64::new(0),
            spend_nano: AtomicU64::new(0),
            remaining: [AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)],
            remaining_at: AtomicU64::new(0),
            hists: hists.then(|| Box::new(std::array::from_fn(|_| Hist::new(bounds)))),
        }
    }

    fn matches(&self, ids: &Ids<'_>) -> bool {
        self.status == ids.status
            && self.upstream == ids.upstream
            && self.ids.len() == N_IDS + ids.extra.len()
            && self
                .ids
                .iter()
                .zip(
                    ids.ids
                        .iter()
                        .copied()
                        .chain(ids.extra.iter().map(String::as_str)),
                )
                .all(|(a, b)| &**a == b)
    }

    fn add(&self, obs: &Obs, bounds: &[f64], now_ms: u64, other: &Row) {
        self.seen_ms.store(now_ms, Relaxed);
        self.requests.fetch_add(1, Relaxed);
        if obs.succeeded {
            self.succeeded.fetch_add(1, Relaxed);
        }
        if obs.zero_cost {
            self.zero_cost.fetch_add(1, Relaxed);
        }
        match obs.cache_hit {
            Some(true) => {
                self.cache_hits.fetch_add(1, Relaxed);
                self.cache_tokens.fetch_add(obs.input + obs.output, Relaxed);
            }
            Some(false) => {
                self.cache_misses.fetch_add(1, Relaxed);
            }
            None => {}
        }
        for (cell, n) in [
            (&self.input, obs.input),
            (&self.output, obs.output),
            (&self.cached, obs.cached),
            (&self.cache_creation, obs.cache_creation),
        ] {
            if n > 0 {
                cell.fetch_add(n, Relaxed);
            }
        }
        if obs.spend > 0.0 {
            self.spend_nano
                .fetch_add((obs.spend * 1e9).round() as u64, Relaxed);
        }
        let hists = self.hists.as_deref().or(other.hists.as_deref());
        for (h, v) in hists.into_iter().flatten().zip(obs.hists) {
            if let Some(v) = v {
                h.observe(bounds, v);
            }
        }
        if obs.remaining.iter().any(Option::is_some) {
            for (cell, v) in self.remaining.iter().zip(obs.remaining) {
                if let Some(v) = v {
                    cell.store(v, Relaxed);
                }
            }
            self.remaining_at.store(now_ms, Relaxed);
        }
    }

    /// Spend in USD.
    pub fn spend(&self) -> f64 {
        self.spend_nano.load(Relaxed) as f64 / 1e9
    }
}

/// Passes a precomputed hash through.
#[derive(Default)]
pub struct Precomputed(u64);

impl Hasher for Precomputed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The rows, bounded.
pub struct Table {
    rows: DashMap<u64, Arc<Row>, BuildHasherDefault<Precomputed>>,
    len: AtomicUsize,
    /// Rows with histograms of their own.
    hist_rows: AtomicUsize,
    /// Where label sets past the cap (or a hash collision) are counted.
    pub other: Arc<Row>,
    hasher: ahash::RandomState,
    pub bounds: Box<[f64]>,
}

impl Table {
    pub fn new(bounds: &[f64], extra: usize) -> Table {
        let other: Vec<String> = vec!["other".to_string(); extra];
        let other_ids = Ids {
            ids: ["other"; N_IDS],
            status: 0,
            upstream: false,
            extra: &other,
        };
        Table {
            rows: DashMap::with_hasher(BuildHasherDefault::default()),
            len: AtomicUsize::new(0),
            hist_rows: AtomicUsize::new(0),
            other: Arc::new(Row::new(&other_ids, bounds.len(), true)),
            hasher: ahash::RandomState::with_seeds(0x7011, 0x6a7e, 0x3e7a, 0x1c5),
            bounds: bounds.into(),
        }
    }

    fn hash(&self, ids: &Ids<'_>) -> u64 {
        let mut h = self.hasher.build_hasher();
        for s in ids
            .ids
            .iter()
            .copied()
            .chain(ids.extra.iter().map(String::as_str))
        {
            h.write(s.as_bytes());
            h.write_u8(0xff);
        }
        h.write_u16(ids.status);
        h.write_u8(ids.upstream as u8);
        h.finish()
    }

    /// Adds one request: a read-locked lookup of its row; a new label set is inserted while
    /// fewer than `cap` rows exist (with histograms while fewer than `hist_cap` have them), else
    /// counted under `other`.
    pub fn record(&self, ids: &Ids<'_>, obs: &Obs, now_ms: u64, cap: usize, hist_cap: usize) {
        let other = &*self.other;
        let h = self.hash(ids);
        if let Some(row) = self.rows.get(&h) {
            if row.matches(ids) {
                row.add(obs, &self.bounds, now_ms, other);
                return;
            }
            drop(row);
            other.add(obs, &self.bounds, now_ms, other);
            return;
        }
        if self.len.load(Relaxed) >= cap {
            other.add(obs, &self.bounds, now_ms, other);
            return;
        }
        let entry = self.rows.entry(h).or_insert_with(|| {
            self.len.fetch_add(1, Relaxed);
            let hists = self.hist_rows.load(Relaxed) < hist_cap;
            if hists {
                self.hist_rows.fetch_add(1, Relaxed);
            }
            Arc::new(Row::new(ids, self.bounds.len(), hists))
        });
        if entry.matches(ids) {
            entry.add(obs, &self.bounds, now_ms, other);
        } else {
            drop(entry);
            other.add(obs, &self.bounds, now_ms, other);
        }
    }

    /// The rows seen since `since_ms`; older ones are dropped. A shard is write-locked only
    /// while its rows are checked (no request waits longer than that).
    pub fn rows(&self, since_ms: u64) -> Vec<Arc<Row>> {
        let mut out = Vec::with_capacity(self.len.load(Relaxed) + 1);
        self.rows.retain(|_, row| {
            let keep = row.seen_ms.load(Relaxed) >= since_ms;
            if keep {
                out.push(row.clone());
            } else {
                self.len.fetch_sub(1, Relaxed);
                if row.hists.is_some() {
                    self.hist_rows.fetch_sub(1, Relaxed);
                }
            }
            keep
        });
        if self.other.requests.load(Relaxed) > 0 {
            out.push(self.other.clone());
        }
        out
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids<'a>(key: &'a str, status: u16) -> Ids<'a> {
        let mut ids = [""; N_IDS];
        ids[KEY] = key;
        ids[GROUP] = "gpt";
        Ids {
            ids,
            status,
            upstream: false,
            extra: &[],
        }
    }

    #[test]
    fn rows_count_per_label_set_and_overflow_into_other() {
        let t = Table::new(crate::observe::family::LATENCY_BUCKETS, 0);
        let obs = Obs {
            succeeded: true,
            input: 3,
            output: 4,
            spend: 0.25,
            hists: [Some(0.2), None, None, Some(0.001), None],
            ..Obs::default()
        };
        for _ in 0..3 {
            t.record(&ids("a", 200), &obs, 10, 2, 1);
        }
        t.record(&ids("a", 500), &obs, 10, 2, 1);
        t.record(&ids("b", 200), &obs, 10, 2, 1);
        assert_eq!(t.len(), 2, "the cap holds");
        let rows = t.rows(0);
        assert_eq!(rows.len(), 3, "two rows and other");
        let a = rows
            .iter()
            .find(|r| &*r.ids[KEY] == "a" && r.status == 200)
            .unwrap();
        assert_eq!(a.requests.load(Relaxed), 3);
        assert_eq!(a.input.load(Relaxed), 9);
        assert!((a.spend() - 0.75).abs() < 1e-9);
        // 0.2 s falls in the (0.1, 0.5] bucket: index 6.
        let own = a.hists.as_ref().expect("the first row has histograms");
        assert_eq!(own[0].buckets[6].load(Relaxed), 3);
        assert_eq!(own[3].buckets[0].load(Relaxed), 3);
        // The second row (a, 500) is past the histogram cap: its one request and b's (past the
        // row cap) are observed by `other`.
        let a500 = rows.iter().find(|r| r.status == 500).unwrap();
        assert!(a500.hists.is_none());
        let other = t.other.hists.as_ref().unwrap();
        assert_eq!(other[0].buckets[6].load(Relaxed), 2);
        assert_eq!(t.other.requests.load(Relaxed), 1);
        assert_eq!(&*t.other.ids[KEY], "other");
        // Idle rows go at the next scrape.
        t.record(&ids("a", 200), &obs, 50, 2, 1);
        assert_eq!(t.rows(20).len(), 2);
        assert_eq!(t.len(), 1);
    }
}
