//! Event families: counters and histograms whose labels are known when the event happens
//! (a failed attempt, a cooldown, a fallback, a callback drop, a Redis or database call),
//! kept per family in a sharded map keyed by the label values. Off the common request path
//! (failures, background tasks), bounded like the request table: past `metrics_max_series`
//! label sets per family, new ones count under `other`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use dashmap::DashMap;

use super::family::{Type, FAMILIES};
use super::series::Hist;

/// One label set of an event family.
#[derive(Debug)]
pub struct Cell {
    pub labels: Box<[Box<str>]>,
    pub count: AtomicU64,
    pub hist: Option<Hist>,
}

/// Every event family's label sets, indexed like [`FAMILIES`].
pub struct Events {
    tables: Vec<DashMap<Box<str>, Arc<Cell>>>,
    lens: Vec<AtomicUsize>,
    bounds: Box<[f64]>,
}

impl Events {
    pub fn new(bounds: &[f64]) -> Events {
        Events {
            tables: FAMILIES.iter().map(|_| DashMap::new()).collect(),
            lens: FAMILIES.iter().map(|_| AtomicUsize::new(0)).collect(),
            bounds: bounds.into(),
        }
    }

    /// The cell of a label set (created if new), for a hook that updates it on every request.
    pub fn cell(&self, family: usize, labels: &[&str], cap: usize) -> Arc<Cell> {
        let mut key = String::with_capacity(labels.iter().map(|l| l.len() + 1).sum());
        for l in labels {
            key.push_str(l);
            key.push('\u{0}');
        }
        let table = &self.tables[family];
        if let Some(c) = table.get(key.as_str()) {
            return c.clone();
        }
        let other;
        let (key, labels) = if self.lens[family].load(Relaxed) >= cap {
            other = vec!["other"; labels.len()];
            ("\u{0}other".into(), other.as_slice())
        } else {
            (key.into_boxed_str(), labels)
        };
        let hist = (FAMILIES[family].kind == Type::Histogram).then(|| Hist::new(self.bounds.len()));
        table
            .entry(key)
            .or_insert_with(|| {
                self.lens[family].fetch_add(1, Relaxed);
                Arc::new(Cell {
                    labels: labels.iter().map(|l| Box::from(*l)).collect(),
                    count: AtomicU64::new(0),
                    hist,
                })
            })
            .clone()
    }

    /// Adds `n` to a counter.
    pub fn add(&self, family: usize, labels: &[&str], n: u64, cap: usize) {
        self.cell(family, labels, cap).count.fetch_add(n, Relaxed);
    }

    /// Observes `secs` in a histogram.
    pub fn observe(&self, family: usize, labels: &[&str], secs: f64, cap: usize) {
        if let Some(h) = &self.cell(family, labels, cap).hist {
            h.observe(&self.bounds, secs);
        }
    }

    /// A family's label sets.
    pub fn cells(&self, family: usize) -> Vec<Arc<Cell>> {
        self.tables[family]
            .iter()
            .map(|c| c.value().clone())
            .collect()
    }

    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::family::{index_of, LATENCY_BUCKETS};

    #[test]
    fn label_sets_are_counted_and_capped() {
        let e = Events::new(LATENCY_BUCKETS);
        let f = index_of("litellm_callback_logging_failures_metric");
        e.add(f, &["langfuse"], 2, 2);
        e.add(f, &["langfuse"], 1, 2);
        e.add(f, &["otel"], 1, 2);
        e.add(f, &["webhook"], 5, 2);
        let mut got: Vec<(String, u64)> = e
            .cells(f)
            .iter()
            .map(|c| (c.labels[0].to_string(), c.count.load(Relaxed)))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("langfuse".into(), 3),
                ("otel".into(), 1),
                ("other".into(), 5)
            ]
        );
        let h = index_of("litellm_redis_latency");
        e.observe(h, &[], 0.003, 10);
        let c = &e.cells(h)[0];
        assert_eq!(c.hist.as_ref().unwrap().buckets[0].load(Relaxed), 1);
    }
}
