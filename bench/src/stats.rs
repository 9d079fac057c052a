//! Latency summaries (nearest-rank percentiles) for `bench-ttft`.

use std::time::Duration;

use serde::Serialize;

/// Summary of a set of durations, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Smallest sample.
    pub min: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// 50th percentile (nearest rank).
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

/// Nearest-rank percentile `p` (0..=100) of sorted `v`; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarises `samples`.
pub fn summarize(samples: &[Duration]) -> Summary {
    let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    us.sort_by(f64::total_cmp);
    if us.is_empty() {
        return Summary::default();
    }
    Summary {
        count: us.len(),
        min: us[0],
        mean: us.iter().sum::<f64>() / us.len() as f64,
        p50: percentile(&us, 50.0),
        p90: percentile(&us, 90.0),
        p99: percentile(&us, 99.0),
        max: us[us.len() - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        let s = summarize(&[Duration::from_micros(10), Duration::from_micros(30)]);
        assert_eq!(
            (s.count, s.min, s.mean, s.p50, s.max),
            (2, 10.0, 20.0, 10.0, 30.0)
        );
    }
}
