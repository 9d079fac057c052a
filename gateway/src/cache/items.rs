//! Embeddings cached per input item (LiteLLM's per-item embedding cache): each item of a
//! `/v1/embeddings` request's `input` (a string, a token array, or each element of a list of
//! them) has its own entry, keyed by everything else in the request (model group, scope,
//! namespace, `dimensions`, `encoding_format`, …) and the item. All found: the answer is put
//! together from the cache; some found: only the others are sent, and the answer is put
//! together in the client's order; every item the provider embedded is kept.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::Digest;

/// A `/v1/embeddings` request's items and what the cache had for each.
pub struct Items {
    /// Per item of the client's `input`, in order: its key.
    pub(super) keys: Vec<String>,
    /// Per item: the kept entry (`{"embedding": …, "prompt_tokens": n, "model": …}`), or
    /// `None` when the item goes to the provider.
    found: Vec<Option<Bytes>>,
    /// Per item sent to the provider, in the order sent: its weight for splitting the
    /// provider's token count (characters of a string, tokens of a token array).
    weights: Vec<u64>,
}

/// The items of an embeddings `input`: a string or one token array is one item; a list of
/// strings or of token arrays is one item each. `None`: not itemizable (empty, another shape).
pub fn split(input: &Value) -> Option<Vec<&Value>> {
    match input {
        Value::String(_) => Some(vec![input]),
        Value::Array(a) if a.is_empty() => None,
        Value::Array(a) if a.iter().all(Value::is_number) => Some(vec![input]),
        Value::Array(a)
            if a.iter().all(|v| {
                v.is_string()
                    || v.as_array()
                        .is_some_and(|t| !t.is_empty() && t.iter().all(Value::is_number))
            }) =>
        {
            Some(a.iter().collect())
        }
        _ => None,
    }
}

fn weight(item: &Value) -> u64 {
    match item {
        Value::String(s) => s.chars().count().max(1) as u64,
        Value::Array(a) => a.len().max(1) as u64,
        _ => 1,
    }
}

/// Each item's key: `namespace:` + SHA-256 of the request without `input` (call type, scope,
/// model group and every other field that changes the vectors), a marker, and the item.
pub fn keys(
    namespace: Option<&str>,
    scope: &str,
    group: &str,
    body: &Map<String, Value>,
    items: &[&Value],
) -> Vec<String> {
    let mut base = super::key::hasher("aembedding", scope, group, body, Some("input"));
    base.update(b"item\0input=");
    items
        .iter()
        .map(|item| {
            let mut h = base.clone();
            super::key::hash_value(&mut h, item);
            super::key::finish(namespace, h)
        })
        .collect()
}

/// A kept item: a first line of JSON (`prompt_tokens`, `model`), then the embedding's JSON as
/// the provider wrote it (its numbers are never parsed: a parse and print can move a float by
/// one ulp).
#[derive(Deserialize)]
struct Head {
    prompt_tokens: Option<u64>,
    #[serde(default)]
    model: Value,
}

fn entry(tokens: Option<u64>, model: &Value, embedding: &[u8]) -> Bytes {
    let head = json!({"prompt_tokens": tokens, "model": model});
    let mut b = serde_json::to_vec(&head).unwrap_or_default();
    b.push(b'\n');
    b.extend_from_slice(embedding);
    Bytes::from(b)
}

fn read_entry(kept: &[u8]) -> Option<(Head, &[u8])> {
    let nl = memchr::memchr(b'\n', kept)?;
    let head = serde_json::from_slice(&kept[..nl]).ok()?;
    Some((head, &kept[nl + 1..]))
}

/// The parts of a provider's embeddings answer read here; the vectors are taken as they are
/// written ([`embeddings_raw`]).
#[derive(Deserialize)]
struct Answer {
    data: Vec<AnswerItem>,
    #[serde(default)]
    model: Value,
    #[serde(default)]
    usage: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct AnswerItem {
    index: Option<usize>,
    #[allow(dead_code)]
    embedding: serde::de::IgnoredAny,
}

/// Each `"embedding": <value>` of an answer, in order, as written: the value's bytes (an
/// array of numbers, or a base64 string).
fn embeddings_raw(answer: &[u8]) -> Vec<&[u8]> {
    const KEY: &[u8] = b"\"embedding\"";
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = memchr::memmem::find(&answer[from..], KEY).map(|i| from + i) {
        from = at + KEY.len();
        let mut i = from;
        while answer.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if answer.get(i) != Some(&b':') {
            continue; // the string "embedding" as a value (`"object": "embedding"`)
        }
        i += 1;
        while answer.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let Some(end) = value_end(answer, i) else {
            return Vec::new();
        };
        out.push(&answer[i..end]);
        from = end;
    }
    out
}

/// The end of the JSON value (an array, an object or a string) starting at `start`.
fn value_end(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' => {
                    in_str = false;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ if depth == 0 => return None,
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// A provider's answer read: its items' vectors by the position they were sent in, its model
/// and usage. `Err`: it does not match the `sent` items.
fn read_answer(answer: &[u8], sent: usize) -> Result<(Vec<&[u8]>, Answer), String> {
    let a: Answer =
        serde_json::from_slice(answer).map_err(|e| format!("not an embeddings list: {e}"))?;
    let raw = embeddings_raw(answer);
    if a.data.len() != sent || raw.len() != sent {
        return Err(format!(
            "{} embeddings for the {sent} inputs sent",
            a.data.len()
        ));
    }
    let mut by_pos: Vec<&[u8]> = vec![&[]; sent];
    for (n, (item, r)) in a.data.iter().zip(raw).enumerate() {
        let at = item.index.unwrap_or(n);
        let slot = by_pos
            .get_mut(at)
            .ok_or_else(|| format!("index {at} out of range"))?;
        *slot = r;
    }
    if by_pos.iter().any(|r| r.is_empty()) {
        return Err("an input without its embedding".into());
    }
    Ok((by_pos, a))
}

/// `{"object":"list","data":[…],"model":…,"usage":…}` from vectors as written.
fn list(vectors: &[&[u8]], model: &Value, usage: &Value) -> Bytes {
    let mut out = Vec::with_capacity(vectors.iter().map(|v| v.len() + 48).sum::<usize>() + 128);
    out.extend_from_slice(b"{\"object\":\"list\",\"data\":[");
    for (i, v) in vectors.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"object\":\"embedding\",\"index\":");
        out.extend_from_slice(i.to_string().as_bytes());
        out.extend_from_slice(b",\"embedding\":");
        out.extend_from_slice(v);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"model\":");
    out.extend_from_slice(&serde_json::to_vec(model).unwrap_or_else(|_| b"null".to_vec()));
    out.extend_from_slice(b",\"usage\":");
    out.extend_from_slice(&serde_json::to_vec(usage).unwrap_or_else(|_| b"null".to_vec()));
    out.push(b'}');
    Bytes::from(out)
}

impl Items {
    /// `found`: the lookup's result per item. When some items were found and others not, the
    /// request's `input` becomes the list of the others (in order).
    pub fn new(
        keys: Vec<String>,
        found: Vec<Option<Bytes>>,
        body: &mut Map<String, Value>,
    ) -> Items {
        // An entry that cannot be read is a miss.
        let found: Vec<Option<Bytes>> = found
            .into_iter()
            .map(|f| f.filter(|b| read_entry(b).is_some()))
            .collect();
        let hits = found.iter().filter(|f| f.is_some()).count();
        let mut weights = Vec::with_capacity(found.len() - hits);
        let mut missing = Vec::with_capacity(found.len() - hits);
        if let Some(items) = body.get("input").and_then(split) {
            for (item, f) in items.iter().zip(&found) {
                if f.is_none() {
                    weights.push(weight(item));
                    missing.push((*item).clone());
                }
            }
        }
        if hits > 0 && hits < found.len() {
            body.insert("input".into(), Value::Array(missing));
        }
        Items {
            keys,
            found,
            weights,
        }
    }

    /// (items found, items in the request).
    pub fn counts(&self) -> (usize, usize) {
        (
            self.found.iter().filter(|f| f.is_some()).count(),
            self.found.len(),
        )
    }

    /// Every item was found: the answer, put together from the cache (usage: the kept items'
    /// token counts, as LiteLLM reports it).
    pub fn all_found(&self) -> Option<Bytes> {
        let mut vectors = Vec::with_capacity(self.found.len());
        let mut tokens = 0;
        let mut model = Value::Null;
        for f in &self.found {
            let (head, v) = read_entry(f.as_deref()?)?;
            tokens += head.prompt_tokens.unwrap_or(0);
            if model.is_null() {
                model = head.model;
            }
            vectors.push(v);
        }
        let usage = json!({"prompt_tokens": tokens, "total_tokens": tokens});
        Some(list(&vectors, &model, &usage))
    }

    /// The provider's answer to the items sent: each item's entry, under its key, to keep
    /// (its share of the reported prompt tokens, split by the items' sizes). Nothing when
    /// the answer does not match the items sent.
    pub fn to_keep(&self, answer: &[u8]) -> Vec<(String, Bytes)> {
        let missing: Vec<usize> = (0..self.found.len())
            .filter(|&i| self.found[i].is_none())
            .collect();
        let Ok((vectors, a)) = read_answer(answer, missing.len()) else {
            return Vec::new();
        };
        let reported = a
            .usage
            .as_ref()
            .and_then(|u| u.get("prompt_tokens"))
            .and_then(Value::as_u64);
        let shares = split_tokens(reported, &self.weights);
        vectors
            .iter()
            .zip(missing)
            .enumerate()
            .map(|(n, (v, pos))| {
                let tokens = shares.as_ref().and_then(|s| s.get(n).copied());
                (self.keys[pos].clone(), entry(tokens, &a.model, v))
            })
            .collect()
    }

    /// Some items were found and the provider embedded the others: the whole answer in the
    /// client's order, with each item's `index`; usage: the provider's report plus the kept
    /// items' counts (LiteLLM's `combine_usage`; the spend is the provider's report only).
    /// `None`: nothing to put together (no item was found); `Err`: the provider's answer does
    /// not match the items sent.
    pub fn complete(&self, answer: &[u8]) -> Option<Result<Bytes, String>> {
        let (hits, n) = self.counts();
        if hits == 0 || hits == n {
            return None;
        }
        Some(self.merge(answer, n - hits))
    }

    fn merge(&self, answer: &[u8], sent: usize) -> Result<Bytes, String> {
        let (fresh, a) = read_answer(answer, sent)?;
        let mut fresh = fresh.into_iter();
        let mut cached_tokens = 0;
        let mut vectors = Vec::with_capacity(self.found.len());
        for f in &self.found {
            match f {
                Some(kept) => {
                    let (head, v) = read_entry(kept).ok_or("a kept item unreadable")?;
                    cached_tokens += head.prompt_tokens.unwrap_or(0);
                    vectors.push(v);
                }
                None => vectors.push(fresh.next().ok_or("an input without its embedding")?),
            }
        }
        let mut usage = a.usage.unwrap_or_default();
        for k in ["prompt_tokens", "total_tokens"] {
            if let Some(n) = usage.get(k).and_then(Value::as_u64) {
                usage.insert(k.into(), json!(n + cached_tokens));
            }
        }
        Ok(list(&vectors, &a.model, &Value::Object(usage)))
    }
}

/// `total` tokens split over items in proportion to `weights` (the remainder to the last), so
/// the shares add up to the provider's report.
fn split_tokens(total: Option<u64>, weights: &[u64]) -> Option<Vec<u64>> {
    let total = total?;
    let sum: u64 = weights.iter().sum::<u64>().max(1);
    let mut shares: Vec<u64> = weights.iter().map(|w| total * w / sum).collect();
    let given: u64 = shares.iter().sum();
    if let Some(last) = shares.last_mut() {
        *last += total - given;
    }
    Some(shares)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn items_of_each_input_shape() {
        assert_eq!(split(&json!("a")).unwrap().len(), 1);
        assert_eq!(
            split(&json!([1, 2, 3])).unwrap().len(),
            1,
            "one token array"
        );
        assert_eq!(split(&json!(["a", "b"])).unwrap().len(), 2);
        assert_eq!(split(&json!([[1, 2], [3]])).unwrap().len(), 2);
        assert!(split(&json!([])).is_none());
        assert!(split(&json!([{"x": 1}])).is_none());
    }

    #[test]
    fn an_item_key_is_the_same_alone_or_in_a_list_and_covers_the_parameters() {
        let one = body(json!({"input": "a", "user": "u1"}));
        let list = body(json!({"input": ["b", "a"], "user": "u2"}));
        let k1 = keys(None, "", "g", &one, &split(&one["input"]).unwrap());
        let k2 = keys(None, "", "g", &list, &split(&list["input"]).unwrap());
        assert_eq!(k1[0], k2[1], "`user` is not in the key");
        assert_ne!(k2[0], k2[1]);
        let dims = body(json!({"input": "a", "dimensions": 8}));
        assert_ne!(keys(None, "", "g", &dims, &[&json!("a")])[0], k1[0]);
        let b64 = body(json!({"input": "a", "encoding_format": "base64"}));
        assert_ne!(keys(None, "", "g", &b64, &[&json!("a")])[0], k1[0]);
        assert_ne!(keys(None, "team:t", "g", &one, &[&json!("a")])[0], k1[0]);
        assert_ne!(keys(None, "", "g2", &one, &[&json!("a")])[0], k1[0]);
        assert!(keys(Some("ns"), "", "g", &one, &[&json!("a")])[0].starts_with("ns:"));
    }

    #[test]
    fn a_partial_hit_sends_the_others_and_puts_the_answer_together_in_order() {
        let kept = entry(Some(2), &json!("m"), b"[0.5]");
        let mut b = body(json!({"input": ["x", "cached", "yy"]}));
        let it = Items::new(
            vec!["k0".into(), "k1".into(), "k2".into()],
            vec![None, Some(kept), None],
            &mut b,
        );
        assert_eq!(b["input"], json!(["x", "yy"]));
        assert_eq!(it.counts(), (1, 3));
        assert!(it.all_found().is_none());
        let answer = br#"{"object":"list","model":"m","data":[{"object":"embedding","index":0,"embedding":[0.1]},{"object":"embedding","index":1,"embedding":[0.2]}],"usage":{"prompt_tokens":3,"total_tokens":3}}"#;
        let merged: Value = serde_json::from_slice(&it.complete(answer).unwrap().unwrap()).unwrap();
        let data = merged["data"].as_array().unwrap();
        assert_eq!(data.len(), 3);
        for (i, want) in [0.1, 0.5, 0.2].iter().enumerate() {
            assert_eq!(data[i]["index"], json!(i));
            assert_eq!(data[i]["embedding"], json!([want]));
        }
        assert_eq!(merged["usage"]["prompt_tokens"], 5);
        let keep = it.to_keep(answer);
        assert_eq!(keep.len(), 2);
        assert_eq!(keep[0].0, "k0");
        assert_eq!(keep[1].0, "k2");
        let (head, v) = read_entry(&keep[1].1).unwrap();
        assert_eq!(v, b"[0.2]");
        // 3 tokens split by size (1 char, 2 chars): 1 and 2.
        assert_eq!(head.prompt_tokens, Some(2));
        let short = br#"{"data":[{"index":0,"embedding":[0.1]}]}"#;
        assert!(it.complete(short).unwrap().is_err());
        assert!(it.to_keep(short).is_empty());
    }

    #[test]
    fn vectors_are_taken_as_written() {
        let answer = br#"{"object":"list","data":[{"object":"embedding","index":1,"embedding":[0.46475842595100403, -1e-7]},{"index":0,"object": "embedding","embedding" : "QUJD\"="}],"model":"m"}"#;
        let raw = embeddings_raw(answer);
        assert_eq!(
            raw,
            vec![&b"[0.46475842595100403, -1e-7]"[..], &br#""QUJD\"=""#[..]]
        );
        let (by_pos, _) = read_answer(answer, 2).unwrap();
        assert_eq!(by_pos[0], &br#""QUJD\"=""#[..], "by index");
        assert!(read_answer(answer, 3).is_err());
    }

    #[test]
    fn all_found_answers_from_the_cache() {
        let a = entry(Some(1), &json!("m"), br#""AAAA""#);
        let b = entry(Some(2), &json!("m"), br#""BBBB""#);
        let mut req = body(json!({"input": ["a", "b"]}));
        let it = Items::new(
            vec!["1".into(), "2".into()],
            vec![Some(a), Some(b)],
            &mut req,
        );
        assert_eq!(
            req["input"],
            json!(["a", "b"]),
            "nothing to send: unchanged"
        );
        let v: Value = serde_json::from_slice(&it.all_found().unwrap()).unwrap();
        assert_eq!(v["data"][1]["embedding"], "BBBB");
        assert_eq!(v["data"][1]["index"], 1);
        assert_eq!(v["usage"]["prompt_tokens"], 3);
        assert_eq!(v["model"], "m");
        assert!(it.complete(b"{}").is_none());
    }
}
