//! The cache key of a request (what changes the answer, hashed) and the request's own cache
//! controls (LiteLLM's body `cache` object, and the same directives in `cache-control`).

use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Body fields that do not change the answer, left out of the key: who asks (`user`,
/// `metadata`), how it is delivered (`stream`, `stream_options`), and LiteLLM's own controls.
const NOT_IN_KEY: &[&str] = &[
    "model",
    "user",
    "stream",
    "stream_options",
    "metadata",
    "litellm_metadata",
    "cache",
    "tags",
    "fallbacks",
    "context_window_fallbacks",
    "disable_fallbacks",
    "num_retries",
    "timeout",
    "stream_timeout",
    "request_timeout",
    "mock_response",
    "mock_timeout",
    "mock_testing_fallbacks",
    "mock_testing_context_fallbacks",
    "mock_testing_content_policy_fallbacks",
    "mock_testing_rate_limit_error",
    "drop_params",
    "api_key",
    "api_base",
    "base_url",
    "include_cost_in_streaming_usage",
    "proxy_server_request",
    "secret_fields",
];

/// The key of a request: `namespace:` (when set) then the hex SHA-256 of the call type, the
/// scope (team or key, when scoped), the model group and every body field that changes the
/// answer, in sorted order (serde_json's maps are sorted).
pub fn key(
    namespace: Option<&str>,
    call_type: &str,
    scope: &str,
    group: &str,
    body: &Map<String, Value>,
) -> String {
    finish(namespace, hasher(call_type, scope, group, body, None))
}

/// The hash of everything [`key`] covers, but `skip` (a body field) left out. The bytes are
/// put together in a buffer of this thread's and hashed in one `update` (serializing straight
/// into the hasher made one `update` call per JSON fragment).
pub(super) fn hasher(
    call_type: &str,
    scope: &str,
    group: &str,
    body: &Map<String, Value>,
    skip: Option<&str>,
) -> Sha256 {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with_borrow_mut(|buf| {
        buf.clear();
        for part in [call_type, scope, group] {
            buf.extend_from_slice(part.as_bytes());
            buf.push(0);
        }
        for (k, v) in body {
            if NOT_IN_KEY.contains(&k.as_str()) || skip == Some(k.as_str()) {
                continue;
            }
            buf.extend_from_slice(k.as_bytes());
            buf.push(b'=');
            // Writing into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *buf, v);
            buf.push(0);
        }
        let mut h = Sha256::new();
        h.update(&buf[..]);
        if buf.capacity() > 64 * 1024 {
            // A huge request does not keep its buffer.
            *buf = Vec::new();
        }
        h
    })
}

/// Adds a JSON value, serialized, to the hash.
pub(super) fn hash_value(h: &mut Sha256, v: &Value) {
    // Writing into the hasher cannot fail.
    let _ = serde_json::to_writer(HashWriter(h), v);
}

/// `namespace:` (when set) then the hash in hex.
pub(super) fn finish(namespace: Option<&str>, h: Sha256) -> String {
    let digest = h.finalize();
    let mut hex = [0u8; 64];
    for (i, b) in digest.iter().enumerate() {
        hex[2 * i] = HEX[(b >> 4) as usize];
        hex[2 * i + 1] = HEX[(b & 15) as usize];
    }
    let hex = std::str::from_utf8(&hex).expect("hex digits");
    let mut out = String::with_capacity(namespace.map_or(0, |n| n.len() + 1) + 64);
    if let Some(ns) = namespace {
        out.push_str(ns);
        out.push(':');
    }
    out.push_str(hex);
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// What the semantic cache embeds and where it may match: the text of the request's last
/// message when it is the user's (a chat or Anthropic `messages` request; a completion's
/// `prompt` string), and the partition — the key of the request with that text taken out, so
/// the system prompt, earlier turns, tools and every parameter must be the same for a match.
/// `None`: not semantically cacheable (embeddings, a conversation ending in a tool result or
/// the assistant's turn, a message with images or files).
pub fn semantic_parts(
    call_type: &str,
    scope: &str,
    group: &str,
    body: &Map<String, Value>,
) -> Option<(String, String)> {
    let mut rest = body.clone();
    let text = match call_type {
        "acompletion" | "anthropic_messages" => {
            let Some(Value::Array(msgs)) = rest.get_mut("messages") else {
                return None;
            };
            let last = msgs.last_mut()?;
            if last.get("role").and_then(Value::as_str) != Some("user") {
                return None;
            }
            let text = message_text(last.get("content")?)?;
            last["content"] = Value::Null;
            text
        }
        "atext_completion" => match rest.get_mut("prompt")? {
            p @ Value::String(_) => {
                let t = p.as_str().unwrap_or_default().to_string();
                *p = Value::Null;
                t
            }
            _ => return None,
        },
        _ => return None,
    };
    if text.trim().is_empty() {
        return None;
    }
    let partition = key(Some("semantic"), call_type, scope, group, &rest);
    Some((partition, text))
}

/// A message's text: a string, or text parts only (anything else: `None`).
fn message_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let mut out = String::new();
            for p in parts {
                if p.get("type").and_then(Value::as_str) != Some("text") {
                    return None;
                }
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(p.get("text")?.as_str()?);
            }
            Some(out)
        }
        _ => None,
    }
}

/// LiteLLM's `allowed_cache_controls` check: the first name in the body's `cache` object that
/// a key with a non-empty list may not use (LiteLLM answers 403 "Not allowed to set <name> as a
/// cache control"). An empty list allows every control.
pub fn refused<'a>(body: &'a Map<String, Value>, allowed: &[String]) -> Option<&'a str> {
    if allowed.is_empty() {
        return None;
    }
    let Some(Value::Object(o)) = body.get("cache") else {
        return None;
    };
    o.keys()
        .map(String::as_str)
        .find(|k| !allowed.iter().any(|a| a == k))
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A request's cache controls.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Controls {
    /// `no-cache`: do not look up (LiteLLM's implementation; its docs say "will not store").
    pub no_cache: bool,
    /// `no-store`: do not store the answer.
    pub no_store: bool,
    /// `ttl`: how long the answer is kept.
    pub ttl: Option<Duration>,
    /// `s-maxage`: an entry older than this is a miss.
    pub max_age: Option<Duration>,
    /// `namespace`: the key's prefix instead of `cache_params.namespace`.
    pub namespace: Option<String>,
    /// `use-cache`: with `mode: default_off`, this request uses the cache.
    pub use_cache: bool,
}

impl Controls {
    /// Reads the body's `cache` object (taken out of the body: the provider never sees it) and
    /// the `cache-control` header's directives; the body wins. `allowed`: the key's
    /// `allowed_cache_controls` (empty: all); a header directive outside it is ignored (the body
    /// object's were refused before, [`refused`]).
    pub fn read(
        body: &mut Map<String, Value>,
        header: Option<&[u8]>,
        allowed: &[String],
    ) -> Controls {
        let mut c = Controls::default();
        if let Some(h) = header.and_then(|h| std::str::from_utf8(h).ok()) {
            for part in h.split(',') {
                let (name, value) = match part.split_once('=') {
                    Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                    None => (part.trim(), None),
                };
                let name = name.to_ascii_lowercase();
                if !allowed.is_empty() && !allowed.contains(&name) {
                    continue;
                }
                c.set(
                    &name,
                    &value.map_or(Value::Bool(true), |v| Value::String(v.to_string())),
                );
            }
        }
        if let Some(Value::Object(o)) = body.remove("cache") {
            for (k, v) in &o {
                c.set(k, v);
            }
        }
        c
    }

    fn set(&mut self, name: &str, v: &Value) {
        let flag = || match v {
            Value::Bool(b) => *b,
            Value::String(s) => s.is_empty() || s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        let secs = || {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse::<f64>().ok()))
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
        };
        match name {
            "no-cache" => self.no_cache = flag(),
            "no-store" => self.no_store = flag(),
            "use-cache" => self.use_cache = flag(),
            "ttl" => self.ttl = secs(),
            "s-maxage" | "s-max-age" => self.max_age = secs(),
            "namespace" => self.namespace = v.as_str().map(str::to_string),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn key_ignores_who_and_how_but_not_what() {
        let base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2});
        let k = key(None, "acompletion", "", "g", &body(base.clone()));
        let mut other = base.clone();
        other["user"] = json!("alice");
        other["stream"] = json!(true);
        other["metadata"] = json!({"x": 1});
        assert_eq!(key(None, "acompletion", "", "g", &body(other)), k);
        for (field, value) in [
            ("temperature", json!(0.3)),
            ("max_tokens", json!(5)),
            ("seed", json!(1)),
            ("tools", json!([])),
            ("stop", json!(["x"])),
            ("n", json!(2)),
        ] {
            let mut changed = base.clone();
            changed[field] = value;
            assert_ne!(
                key(None, "acompletion", "", "g", &body(changed)),
                k,
                "{field}"
            );
        }
        assert_ne!(key(None, "acompletion", "", "g2", &body(base.clone())), k);
        assert_ne!(key(None, "aembedding", "", "g", &body(base.clone())), k);
        assert_ne!(
            key(None, "acompletion", "team:t1", "g", &body(base.clone())),
            k
        );
        let ns = key(Some("ns"), "acompletion", "", "g", &body(base));
        assert!(ns.starts_with("ns:") && ns.ends_with(&k));
    }

    #[test]
    fn the_key_is_the_sha256_of_its_fields_as_before() {
        // The byte stream earlier builds hashed piece by piece: entries kept in Redis by them
        // keep their keys.
        let b = body(
            json!({"model": "m", "user": "u", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}),
        );
        let stream = b"acompletion\0team:t\0g\0max_tokens=5\0messages=[{\"content\":\"hi\",\"role\":\"user\"}]\0";
        let want: String = Sha256::digest(stream)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(key(None, "acompletion", "team:t", "g", &b), want);
        assert_eq!(
            key(Some("ns"), "acompletion", "team:t", "g", &b),
            format!("ns:{want}")
        );
    }

    #[test]
    fn semantic_partition_is_everything_but_the_last_user_text() {
        let chat = |sys: &str, text: &str| {
            body(json!({"model": "m", "messages": [
                {"role": "system", "content": sys},
                {"role": "user", "content": text}], "temperature": 0}))
        };
        let (p1, t1) =
            semantic_parts("acompletion", "", "g", &chat("be brief", "hi there")).unwrap();
        let (p2, t2) = semantic_parts("acompletion", "", "g", &chat("be brief", "hello")).unwrap();
        assert_eq!(
            (p1.as_str(), t1.as_str(), t2.as_str()),
            (p2.as_str(), "hi there", "hello")
        );
        let (p3, _) =
            semantic_parts("acompletion", "", "g", &chat("be verbose", "hi there")).unwrap();
        assert_ne!(p1, p3, "another system prompt, another partition");
        let (p4, _) =
            semantic_parts("acompletion", "team:a", "g", &chat("be brief", "hi there")).unwrap();
        assert_ne!(p1, p4, "another team, another partition");
        let mut tools = chat("be brief", "hi there");
        tools.insert("tools".into(), json!([{"type": "function"}]));
        assert_ne!(
            semantic_parts("acompletion", "", "g", &tools).unwrap().0,
            p1
        );
        let parts = body(
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {}}]}]}),
        );
        assert!(semantic_parts("acompletion", "", "g", &parts).is_none());
        let tool_turn = body(json!({"messages": [{"role": "tool", "content": "42"}]}));
        assert!(semantic_parts("acompletion", "", "g", &tool_turn).is_none());
        assert!(semantic_parts("aembedding", "", "g", &body(json!({"input": "x"}))).is_none());
        let (_, t) = semantic_parts(
            "atext_completion",
            "",
            "g",
            &body(json!({"prompt": "once upon"})),
        )
        .unwrap();
        assert_eq!(t, "once upon");
    }

    #[test]
    fn controls_from_body_and_header() {
        let mut b = body(
            json!({"cache": {"no-cache": true, "ttl": 5, "s-maxage": "10", "namespace": "a"}}),
        );
        let c = Controls::read(&mut b, Some(b"no-store, use-cache"), &[]);
        assert!(c.no_cache && c.no_store && c.use_cache);
        assert_eq!(c.ttl, Some(Duration::from_secs(5)));
        assert_eq!(c.max_age, Some(Duration::from_secs(10)));
        assert_eq!(c.namespace.as_deref(), Some("a"));
        assert!(!b.contains_key("cache"), "taken out of the body");
        let c = Controls::read(&mut Map::new(), Some(b"s-maxage=0, namespace=\"x\""), &[]);
        assert_eq!(c.max_age, Some(Duration::ZERO));
        assert_eq!(c.namespace.as_deref(), Some("x"));
    }

    #[test]
    fn a_key_may_use_only_its_allowed_controls() {
        let allowed = vec!["no-cache".to_string(), "ttl".to_string()];
        let b = body(json!({"cache": {"no-cache": true, "ttl": 5}}));
        assert_eq!(refused(&b, &allowed), None);
        let b = body(json!({"cache": {"no-cache": true, "no-store": true}}));
        assert_eq!(refused(&b, &allowed), Some("no-store"));
        assert_eq!(refused(&b, &[]), None, "an empty list allows all");
        assert_eq!(refused(&body(json!({"x": 1})), &allowed), None);
        // Header directives outside the list are ignored, not refused.
        let c = Controls::read(
            &mut Map::new(),
            Some(b"no-store, no-cache, ttl=9"),
            &allowed,
        );
        assert!(c.no_cache && !c.no_store);
        assert_eq!(c.ttl, Some(Duration::from_secs(9)));
    }
}
