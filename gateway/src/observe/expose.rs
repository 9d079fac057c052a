//! The exposition: every family of the table in Prometheus's text format. Request families
//! are projections of the request rows onto their labels (summed); event families are read
//! from their cells; state families (deployments, budgets, limits, queues) are computed from
//! the gateway's in-memory state. `prometheus_metrics_config`, `prometheus_exclude_labels` and
//! the custom labels apply here. Runs on the scraping request's task; requests never wait on it
//! beyond a shard's brief lock while idle rows are dropped.

use std::collections::HashMap;
use std::fmt::Write;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering::Relaxed;

use super::family::{Family, Source, Type, Value, FAMILIES};
use super::gauges::{self, UNIVERSE};
use super::series::{self, Row};
use super::{family_index as fi, metrics};
use crate::state::AppState;

/// A family's accumulated value for one output label set.
enum Acc {
    Num(f64),
    Hist(Vec<u64>, u64),
}

/// Output series of one family: label values → value, in first-seen order.
struct Agg {
    hasher: ahash::RandomState,
    at: HashMap<u64, usize>,
    series: Vec<(Vec<String>, Acc)>,
}

impl Agg {
    fn new() -> Agg {
        Agg {
            hasher: ahash::RandomState::with_seeds(1, 2, 3, 4),
            at: HashMap::new(),
            series: Vec::new(),
        }
    }

    fn slot(&mut self, values: &[&str], init: impl FnOnce() -> Acc) -> &mut Acc {
        let mut h = self.hasher.build_hasher();
        for v in values {
            h.write(v.as_bytes());
            h.write_u8(0xff);
        }
        let i = *self.at.entry(h.finish()).or_insert_with(|| {
            self.series
                .push((values.iter().map(|v| v.to_string()).collect(), init()));
            self.series.len() - 1
        });
        &mut self.series[i].1
    }

    fn add(&mut self, values: &[&str], n: f64) {
        if let Acc::Num(x) = self.slot(values, || Acc::Num(0.0)) {
            *x += n;
        }
    }

    fn set(&mut self, values: &[&str], n: f64) {
        *self.slot(values, || Acc::Num(0.0)) = Acc::Num(n);
    }

    fn hist(&mut self, values: &[&str], h: &series::Hist) {
        let n = h.buckets.len();
        if let Acc::Hist(b, sum) = self.slot(values, || Acc::Hist(vec![0; n], 0)) {
            for (acc, c) in b.iter_mut().zip(h.buckets.iter()) {
                *acc += c.load(Relaxed);
            }
            *sum += h.sum_ns.load(Relaxed);
        }
    }
}

/// Which labels of a family are exposed (positions in `all`), or `None` when the family is
/// not: `prometheus_metrics_config` lists the exposed families and their labels, and
/// `prometheus_exclude_labels` drops labels everywhere.
fn selection(s: &conf::MetricsSettings, f: &Family, all: &[String]) -> Option<Vec<usize>> {
    let include = match &s.groups {
        None => None,
        Some(groups) => {
            let g = groups
                .iter()
                .find(|g| g.metrics.iter().any(|m| m == f.name))?;
            g.include_labels.as_ref()
        }
    };
    Some(
        (0..all.len())
            .filter(|i| {
                let l = &all[*i];
                include.is_none_or(|inc| inc.contains(l)) && !s.exclude_labels.contains(l)
            })
            .collect(),
    )
}

/// The custom label names: `metadata.a.b` → `metadata_a_b`, tag `x` → `tag_x`.
fn custom_names(s: &conf::MetricsSettings) -> Vec<String> {
    let clean = |n: &str| {
        n.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>()
    };
    s.metadata_labels
        .iter()
        .map(|m| clean(m))
        .chain(s.tags.iter().map(|t| format!("tag_{}", clean(t))))
        .collect()
}

/// The exposition text.
pub fn render(state: &AppState) -> String {
    let runtime = state.runtime();
    let s = &runtime.config.metrics;
    let m = metrics();
    let now = crate::clock::now_ms();
    let rows = m
        .requests
        .rows(now.saturating_sub(s.idle.as_millis() as u64));
    let resolver = gauges::Resolver::new(state, &runtime);
    let resolved: Vec<Vec<String>> = rows.iter().map(|r| resolver.row(r)).collect();
    let custom = custom_names(s);
    let mut out = String::with_capacity(64 * 1024);
    for f in FAMILIES {
        let mut names: Vec<String> = f.labels.iter().map(|l| l.to_string()).collect();
        if f.custom {
            names.extend(custom.iter().cloned());
        }
        let Some(keep) = selection(s, f, &names) else {
            continue;
        };
        let mut agg = Agg::new();
        let mut vals: Vec<&str> = Vec::with_capacity(keep.len());
        match f.source {
            Source::Request(v) => {
                let pos: Vec<usize> = keep.iter().map(|i| position(&names[*i], &custom)).collect();
                for (row, res) in rows.iter().zip(&resolved) {
                    vals.clear();
                    vals.extend(
                        pos.iter()
                            .map(|p| res.get(*p).map(String::as_str).unwrap_or("")),
                    );
                    project(&mut agg, &vals, row, v);
                }
            }
            Source::Event => {
                let idx = super::family::index_of(f.name);
                for c in m.events.cells(idx) {
                    let vals: Vec<&str> = keep
                        .iter()
                        .map(|i| c.labels.get(*i).map(|l| &**l).unwrap_or(""))
                        .collect();
                    match &c.hist {
                        Some(h) => agg.hist(&vals, h),
                        None => agg.add(&vals, c.count.load(Relaxed) as f64),
                    }
                }
                if idx == fi::DEP_TOTAL.get() {
                    // Successes come from the request rows; failures were counted per attempt.
                    let pos: Vec<usize> =
                        keep.iter().map(|i| position(&names[*i], &custom)).collect();
                    for (row, res) in rows.iter().zip(&resolved) {
                        vals.clear();
                        vals.extend(
                            pos.iter()
                                .map(|p| res.get(*p).map(String::as_str).unwrap_or("")),
                        );
                        project(&mut agg, &vals, row, Value::Succeeded);
                    }
                }
            }
            Source::State => {
                for (labels, v) in gauges::gauge(f.name, state, &runtime, &rows, now) {
                    let vals: Vec<&str> = keep
                        .iter()
                        .map(|i| labels.get(*i).map(String::as_str).unwrap_or(""))
                        .collect();
                    agg.set(&vals, v);
                }
            }
        }
        let kept: Vec<&str> = keep.iter().map(|i| names[*i].as_str()).collect();
        write_family(&mut out, f, &kept, &agg, m.events.bounds());
    }
    super::services::render(&mut out);
    out
}

/// Where a request family's label is in a resolved row: the universe, then the custom labels.
fn position(name: &str, custom: &[String]) -> usize {
    UNIVERSE
        .iter()
        .position(|u| *u == name)
        .or_else(|| {
            custom
                .iter()
                .position(|c| c == name)
                .map(|p| UNIVERSE.len() + p)
        })
        .unwrap_or(usize::MAX)
}

fn project(agg: &mut Agg, vals: &[&str], row: &Row, v: Value) {
    let called = !row.ids[series::MODEL_ID].is_empty();
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Relaxed) as f64;
    match v {
        Value::Requests => agg.add(vals, n(&row.requests)),
        Value::Failures if row.status >= 400 => agg.add(vals, n(&row.requests)),
        Value::Failures => {}
        Value::Succeeded | Value::DeploymentSuccess if called => agg.add(vals, n(&row.succeeded)),
        Value::Spend if called => agg.add(vals, row.spend()),
        Value::ZeroCost if row.zero_cost.load(Relaxed) > 0 => agg.add(vals, n(&row.zero_cost)),
        Value::InputTokens if called => agg.add(vals, n(&row.input)),
        Value::OutputTokens if called => agg.add(vals, n(&row.output)),
        Value::TotalTokens if called => agg.add(vals, n(&row.input) + n(&row.output)),
        Value::CachedTokens if called => agg.add(vals, n(&row.cached)),
        Value::CacheCreationTokens if called => agg.add(vals, n(&row.cache_creation)),
        Value::CacheHits if row.cache_hits.load(Relaxed) > 0 => agg.add(vals, n(&row.cache_hits)),
        Value::CacheMisses if row.cache_misses.load(Relaxed) > 0 => {
            agg.add(vals, n(&row.cache_misses))
        }
        Value::CacheTokens if row.cache_hits.load(Relaxed) > 0 => {
            agg.add(vals, n(&row.cache_tokens))
        }
        Value::Hist(i) => {
            if let Some(h) = row.hists.as_ref().map(|h| &h[i]) {
                if h.buckets.iter().any(|b| b.load(Relaxed) > 0) {
                    agg.hist(vals, h);
                }
            }
        }
        Value::RemainingRequests | Value::RemainingTokens => {
            let r = &row.remaining[usize::from(v == Value::RemainingTokens)];
            let x = r.load(Relaxed);
            if x != u64::MAX {
                agg.set(vals, x as f64);
            }
        }
        _ => {}
    }
}

fn write_family(out: &mut String, f: &Family, labels: &[&str], agg: &Agg, bounds: &[f64]) {
    let name = match f.kind {
        Type::Counter => format!("{}_total", f.name),
        _ => f.name.to_string(),
    };
    let _ = writeln!(out, "# HELP {name} {}", f.help);
    let _ = writeln!(out, "# TYPE {name} {}", f.kind.as_str());
    let mut pairs: Vec<(&str, &str)> = f.fixed.to_vec();
    for (values, acc) in &agg.series {
        pairs.truncate(f.fixed.len());
        pairs.extend(
            labels
                .iter()
                .copied()
                .zip(values.iter().map(String::as_str)),
        );
        match acc {
            Acc::Num(v) => {
                out.push_str(&name);
                write_labels(out, &pairs, None);
                let _ = writeln!(out, " {}", num(*v));
            }
            Acc::Hist(buckets, sum_ns) => {
                let mut cum = 0u64;
                for (i, c) in buckets.iter().enumerate() {
                    cum += c;
                    let le = bounds
                        .get(i)
                        .map(|b| num(*b))
                        .unwrap_or_else(|| "+Inf".into());
                    let _ = write!(out, "{}_bucket", f.name);
                    write_labels(out, &pairs, Some(&le));
                    let _ = writeln!(out, " {cum}");
                }
                let _ = write!(out, "{}_sum", f.name);
                write_labels(out, &pairs, None);
                let _ = writeln!(out, " {}", num(*sum_ns as f64 / 1e9));
                let _ = write!(out, "{}_count", f.name);
                write_labels(out, &pairs, None);
                let _ = writeln!(out, " {cum}");
            }
        }
    }
}

fn write_labels(out: &mut String, pairs: &[(&str, &str)], le: Option<&str>) {
    if pairs.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (k, v) in pairs.iter().copied().chain(le.map(|l| ("le", l))) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

/// A sample value as Prometheus writes it.
pub fn num(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v}")
    }
}
