//! The semantic index of this process: for each partition (everything about a request but its
//! last user message — scope, model group, system prompt, earlier turns, tools, parameters —
//! hashed), the embedded prompts of the entries kept, searched by cosine similarity (vectors are
//! unit length: a dot product). A partition keeps its vectors in one flat contiguous f32 array
//! (row `i` is item `i`), scanned in order with a dot product the compiler vectorises (an int8
//! scan measured 5x slower here: docs/caching.md). A candidate above the threshold must also pass lexical guards
//! (same numbers, same negations, not a reordering of the same words) that the embedding model
//! misses (tests/embed/pairs.jsonl). Bounded by entries; expired items are skipped and swept.

use std::collections::{HashMap, VecDeque};
use std::sync::RwLock;

/// One embedded prompt: the key of its entry, its vector, its text (for the guards).
pub struct Item {
    pub key: String,
    pub vec: Box<[f32]>,
    pub text: Box<str>,
    pub expires_ms: i64,
}

pub struct Index {
    inner: RwLock<Inner>,
    max_items: usize,
}

#[derive(Default)]
struct Inner {
    parts: HashMap<String, Part>,
    /// Insertion order (partition, key), for eviction past `max_items`.
    order: VecDeque<(String, String)>,
    len: usize,
}

/// One partition's items, column by column (item `i` is row `i` of each).
#[derive(Default)]
struct Part {
    dims: usize,
    keys: Vec<String>,
    texts: Vec<Box<str>>,
    expires: Vec<i64>,
    /// `dims` f32 per item.
    f: Vec<f32>,
    pos: HashMap<String, usize>,
}

impl Part {
    fn len(&self) -> usize {
        self.keys.len()
    }

    /// Adds or replaces (by key) an item; `true` when added. An item of other dimensions than
    /// the partition's (the embedding model changed) replaces the whole partition.
    fn put(&mut self, item: Item) -> bool {
        if self.dims != item.vec.len() {
            *self = Part {
                dims: item.vec.len(),
                ..Part::default()
            };
        }
        let d = self.dims;
        if let Some(&i) = self.pos.get(&item.key) {
            self.f[i * d..(i + 1) * d].copy_from_slice(&item.vec);
            self.expires[i] = item.expires_ms;
            self.texts[i] = item.text;
            return false;
        }
        self.pos.insert(item.key.clone(), self.keys.len());
        self.keys.push(item.key);
        self.texts.push(item.text);
        self.expires.push(item.expires_ms);
        self.f.extend_from_slice(&item.vec);
        true
    }

    /// Removes item `i` (the last one takes its place).
    fn remove_at(&mut self, i: usize) {
        let d = self.dims;
        let last = self.len() - 1;
        if i != last {
            self.f.copy_within(last * d..(last + 1) * d, i * d);
            self.pos.insert(self.keys[last].clone(), i);
        }
        self.f.truncate(last * d);
        self.expires.swap_remove(i);
        self.texts.swap_remove(i);
        let key = self.keys.swap_remove(i);
        self.pos.remove(&key);
    }

    fn remove_key(&mut self, key: &str) -> bool {
        match self.pos.get(key) {
            Some(&i) => {
                self.remove_at(i);
                true
            }
            None => false,
        }
    }

    /// Removes the items `gone` says to, returning their keys.
    fn retain(&mut self, mut gone: impl FnMut(&Part, usize) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.len() {
            if gone(self, i) {
                out.push(self.keys[i].clone());
                self.remove_at(i);
            } else {
                i += 1;
            }
        }
        out
    }
}

impl Index {
    pub fn new(max_items: usize) -> Index {
        Index {
            inner: RwLock::new(Inner::default()),
            max_items: max_items.max(1),
        }
    }

    /// Adds (or replaces, by key) an item in `partition`, evicting the oldest past the bound.
    pub fn insert(&self, partition: String, item: Item) {
        let mut g = self.inner.write().expect("semantic index");
        let g = &mut *g;
        let part = g.parts.entry(partition.clone()).or_default();
        let before = part.len();
        let key = item.key.clone();
        if !part.put(item) {
            return;
        }
        // A change of dimensions dropped the partition's older items.
        let dropped = before + 1 - part.len();
        g.len = g.len + 1 - dropped;
        g.order.push_back((partition, key));
        if g.len > self.max_items {
            sweep(g, crate::clock::now_ms_i64());
        }
        while g.len > self.max_items {
            let Some((p, k)) = g.order.pop_front() else {
                break;
            };
            if let Some(part) = g.parts.get_mut(&p) {
                if part.remove_key(&k) {
                    g.len -= 1;
                }
                if part.len() == 0 {
                    g.parts.remove(&p);
                }
            }
        }
    }

    /// The key of the most similar live item in `partition` at or above `threshold` that passes
    /// the guards against `text`, and its similarity: one pass over the partition's rows.
    pub fn search(
        &self,
        partition: &str,
        vec: &[f32],
        text: &str,
        threshold: f32,
        now_ms: i64,
    ) -> Option<(String, f32)> {
        let g = self.inner.read().expect("semantic index");
        let part = g.parts.get(partition)?;
        let d = part.dims;
        if d != vec.len() || d == 0 {
            return None;
        }
        let mut scored: Vec<(f32, usize)> = part
            .f
            .chunks_exact(d)
            .enumerate()
            .map(|(i, row)| (dot(row, vec), i))
            .filter(|&(s, i)| s >= threshold && part.expires[i] > now_ms)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored
            .into_iter()
            .find(|&(_, i)| guards_pass(&part.texts[i], text))
            .map(|(s, i)| (part.keys[i].clone(), s))
    }

    /// Drops every item (`/cache/flushall`) or those under `keys` (`/cache/delete`).
    pub fn remove(&self, keys: Option<&[String]>) {
        let mut g = self.inner.write().expect("semantic index");
        match keys {
            None => *g = Inner::default(),
            Some(keys) => {
                let mut n = 0;
                for part in g.parts.values_mut() {
                    for k in keys {
                        n += usize::from(part.remove_key(k));
                    }
                }
                g.parts.retain(|_, p| p.len() > 0);
                g.len -= n;
                g.order.retain(|(_, k)| !keys.contains(k));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.inner.read().expect("semantic index").len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drops expired items (when the index is full, before the oldest live ones are evicted).
fn sweep(g: &mut Inner, now_ms: i64) {
    let mut gone = std::collections::HashSet::new();
    for part in g.parts.values_mut() {
        gone.extend(part.retain(|p, i| p.expires[i] <= now_ms));
    }
    if !gone.is_empty() {
        g.parts.retain(|_, p| p.len() > 0);
        g.len -= gone.len();
        g.order.retain(|(_, k)| !gone.contains(k));
    }
}

/// Dot product in 8 lanes (the compiler vectorises it).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Scales `v` to unit length (a zero vector stays zero: it matches nothing).
pub fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Lexical guards for what sentence embeddings blur (tests/embed/pairs.jsonl: "The dog bit the
/// man" / "The man bit the dog" 0.991, "take ibuprofen" / "not take ibuprofen" 0.981, "15 times
/// 23" / "15 times 24" 0.898): the numbers must be the same, in order; the negations the same
/// count; and a prompt made of exactly the other's words in another order is not a match.
pub fn guards_pass(a: &str, b: &str) -> bool {
    let (wa, wb) = (words(a), words(b));
    let nums = |w: &[String]| -> Vec<String> {
        w.iter()
            .filter(|t| t.chars().any(|c| c.is_ascii_digit()))
            .cloned()
            .collect()
    };
    if nums(&wa) != nums(&wb) {
        return false;
    }
    let negs = |w: &[String]| w.iter().filter(|t| is_negation(t)).count();
    if negs(&wa) != negs(&wb) {
        return false;
    }
    if wa != wb {
        let (mut sa, mut sb) = (wa.clone(), wb.clone());
        sa.sort();
        sb.sort();
        if sa == sb {
            return false;
        }
    }
    true
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '.'))
        .map(|w| w.trim_matches(|c| c == '.' || c == '\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

fn is_negation(w: &str) -> bool {
    matches!(
        w,
        "not"
            | "no"
            | "never"
            | "none"
            | "nothing"
            | "nobody"
            | "neither"
            | "nor"
            | "without"
            | "cannot"
    ) || w.ends_with("n't")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Box<[f32]> {
        let mut v = v.to_vec();
        normalize(&mut v);
        v.into()
    }

    fn item(key: &str, v: &[f32], text: &str) -> Item {
        Item {
            key: key.into(),
            vec: unit(v),
            text: text.into(),
            expires_ms: i64::MAX,
        }
    }

    #[test]
    fn the_nearest_item_above_the_threshold_in_the_same_partition() {
        let ix = Index::new(10);
        ix.insert("p".into(), item("a", &[1.0, 0.0, 0.0], "what is rust"));
        ix.insert(
            "p".into(),
            item("b", &[0.9, 0.1, 0.0], "tell me about rust"),
        );
        ix.insert("q".into(), item("c", &[1.0, 0.0, 0.0], "what is rust"));
        let q = unit(&[1.0, 0.05, 0.0]);
        let (k, s) = ix.search("p", &q, "what's rust", 0.9, 0).unwrap();
        assert_eq!(k, "a");
        assert!(s > 0.99);
        assert!(ix
            .search("p", &unit(&[0.0, 1.0, 0.0]), "x", 0.9, 0)
            .is_none());
        assert!(
            ix.search("r", &q, "what's rust", 0.0, 0).is_none(),
            "other partition"
        );
        assert!(
            ix.search("p", &q, "what's rust", 0.9, i64::MAX).is_none(),
            "expired"
        );
    }

    #[test]
    fn bounded_by_items_oldest_out_and_removable() {
        let ix = Index::new(2);
        ix.insert("p".into(), item("a", &[1.0, 0.0], "a"));
        ix.insert("p".into(), item("b", &[0.0, 1.0], "b"));
        ix.insert("p".into(), item("c", &[1.0, 1.0], "c"));
        assert_eq!(ix.len(), 2);
        assert!(ix.search("p", &unit(&[1.0, 0.0]), "a", 0.99, 0).is_none());
        ix.remove(Some(&["b".to_string()]));
        assert_eq!(ix.len(), 1);
        ix.remove(None);
        assert!(ix.is_empty());
    }

    #[test]
    fn guards_catch_numbers_negations_and_reordered_words() {
        assert!(guards_pass(
            "What is the capital of France?",
            "Which city is the capital of France?"
        ));
        assert!(!guards_pass("What is 15 times 23?", "What is 15 times 24?"));
        assert!(!guards_pass(
            "Should I take ibuprofen with food?",
            "Should I not take ibuprofen with food?"
        ));
        assert!(!guards_pass(
            "List foods that contain gluten.",
            "List foods that don't contain gluten."
        ));
        assert!(!guards_pass(
            "The dog bit the man. Who was hurt?",
            "The man bit the dog. Who was hurt?"
        ));
        assert!(guards_pass("Is 3.5 more than 2?", "Is 3.5 greater than 2?"));
    }

    #[test]
    fn dot_matches_the_plain_sum() {
        let a: Vec<f32> = (0..387).map(|i| (i as f32).sin()).collect();
        let b: Vec<f32> = (0..387).map(|i| (i as f32).cos()).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-3);
    }

    #[test]
    fn the_flat_scan_finds_the_best_and_survives_removal() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let base: Vec<f32> = (0..384).map(|_| rnd()).collect();
        let ix = Index::new(3000);
        let mut all = Vec::new();
        // Items at every distance from `base`, many near the threshold.
        for i in 0..2000 {
            let noise = (i % 50 + 1) as f32 * 0.004;
            let v: Vec<f32> = base.iter().map(|x| x + rnd() * noise).collect();
            let v = unit(&v);
            all.push((format!("k{i}"), v.clone()));
            ix.insert(
                "p".into(),
                Item {
                    key: format!("k{i}"),
                    vec: v,
                    text: "same text".into(),
                    expires_ms: i64::MAX,
                },
            );
        }
        for q in 0..50 {
            let v: Vec<f32> = base.iter().map(|x| x + rnd() * 0.002 * q as f32).collect();
            let v = unit(&v);
            for threshold in [0.9f32, 0.96, 0.99] {
                let best = all
                    .iter()
                    .map(|(_, x)| dot(x, &v))
                    .filter(|s| *s >= threshold)
                    .max_by(f32::total_cmp);
                let found = ix.search("p", &v, "same text", threshold, 0);
                // Same best score (ties near 1.0 may name another key of that score).
                assert_eq!(found.as_ref().map(|f| f.1), best, "q{q} t{threshold}");
                if let Some((k, s)) = found {
                    let x = &all.iter().find(|(key, _)| *key == k).unwrap().1;
                    assert_eq!(dot(x, &v), s);
                }
            }
        }
        // Removal keeps the rows in step with their keys.
        let keys: Vec<String> = (0..2000).step_by(3).map(|i| format!("k{i}")).collect();
        ix.remove(Some(&keys));
        assert_eq!(ix.len(), 2000 - keys.len());
        let (k, _) = all.iter().find(|(k, _)| k == "k1").unwrap().clone();
        let v = all[1].1.clone();
        assert_eq!(
            ix.search("p", &v, "same text", 0.999, 0).map(|r| r.0),
            Some(k)
        );
        assert!(
            ix.search("p", &all[0].1, "same text", 0.9999, 0)
                .map(|r| r.0)
                != Some("k0".into())
        );
    }

    /// Lookup cost at 10,000 and 100,000 entries of 384 dimensions (all-MiniLM-L6-v2's), all
    /// in one partition (the worst case: a partition is one model group, system prompt and
    /// parameter set). Not in CI: `cargo test --release -p gateway --bin tollgate
    /// semantic_lookup_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn semantic_lookup_cost() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        for n in [10_000usize, 100_000] {
            let ix = Index::new(n);
            let mut kept = Vec::new();
            for i in 0..n {
                let v: Vec<f32> = (0..384).map(|_| rnd()).collect();
                let v = unit(&v);
                if i % (n / 100) == 0 {
                    kept.push((v.clone(), format!("prompt number {i}")));
                }
                ix.insert(
                    "p".into(),
                    Item {
                        key: format!("ns:{i:064}"),
                        vec: v,
                        text: format!("prompt number {i}").into(),
                        expires_ms: i64::MAX,
                    },
                );
            }
            let mut times = Vec::new();
            for q in 0..400 {
                // Half near an item (a hit), half random (a miss: the whole partition scanned).
                let (near, text) = &kept[q / 2 % kept.len()];
                let v: Vec<f32> = if q % 2 == 0 {
                    near.iter().map(|x| x + rnd() * 0.001).collect()
                } else {
                    (0..384).map(|_| rnd()).collect()
                };
                let v = unit(&v);
                let t = std::time::Instant::now();
                let r = ix.search("p", &v, text, 0.96, 0);
                times.push(t.elapsed());
                assert_eq!(r.is_some(), q % 2 == 0, "query {q}");
            }
            times.sort();
            let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
            eprintln!(
                "semantic lookup, {n} entries x 384 dims, one partition: p50 {:?} p99 {:?}",
                p(0.5),
                p(0.99)
            );
        }
    }
}
