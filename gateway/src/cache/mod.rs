//! Response caching (LiteLLM's `cache: true`): exact-match answers kept in process (`local`)
//! or in Redis (`redis`, with this process's LRU in front), looked up in stage 2 after access
//! checks and before budgets are reserved, stored in stage 5 only for complete 2xx answers. A
//! hit costs nothing and calls no provider. These are the lifecycle's hooks; the cache itself
//! is `store.rs`. See docs/caching.md.

pub mod anthropic;
pub mod assemble;
pub mod embed;
pub mod items;
pub mod key;
pub mod local;
pub mod pending;
pub mod redis;
pub mod semantic;
pub mod store;
pub mod vectors;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use conf::CacheScope;
use http::HeaderValue;
use serde_json::{Map, Value};

use crate::control::enforce::Admission;
use crate::ctx::{Front, RequestCtx};
pub use local::Entry;
use pending::Pending;
use store::{Cache, HITS, MISSES};

/// What a lookup needs besides the request: the cache, and for a semantic cache the runtime
/// and connector its embedding call goes through.
pub struct Lookup<'a> {
    pub cache: Option<&'a Arc<Cache>>,
    pub runtime: &'a crate::runtime::Runtime,
    pub connector: &'a pingora::connectors::http::Connector,
}

/// Stage 2: when the request's call type is cached (and the request did not opt out), its key
/// and, if there is a live entry, the entry: the exact one, else (a semantic cache) the entry
/// of the most similar prompt in the same partition. `body`: the request's body (the OpenAI
/// door's canonical body, its `cache` object taken out; `None` for a door's own request, read
/// from `raw`).
pub async fn lookup(
    l: Lookup<'_>,
    ctx: &mut RequestCtx,
    adm: &Admission,
    group: &str,
    body: Option<&mut Map<String, Value>>,
    raw: Option<&Bytes>,
    header: Option<&HeaderValue>,
) -> Option<Entry> {
    let cache = l.cache;
    let cache = cache?;
    if !cache.cfg.call_types.contains(&ctx.call_type) {
        return None;
    }
    let mut parsed;
    let body = match (body, raw) {
        (Some(b), _) => b,
        (None, Some(raw)) => {
            parsed = serde_json::from_slice::<Map<String, Value>>(raw).ok()?;
            &mut parsed
        }
        (None, None) => return None,
    };
    let allowed = adm.key.as_ref().map_or(&[][..], |k| &k.cache_controls[..]);
    let c = key::Controls::read(body, header.map(HeaderValue::as_bytes), allowed);
    if cache.cfg.default_off && !c.use_cache {
        return None;
    }
    let scope = match cache.cfg.scope {
        CacheScope::Shared => String::new(),
        CacheScope::Team => format!("team:{}", adm.team_id.as_deref().unwrap_or("")),
        CacheScope::Key => format!(
            "key:{}",
            adm.key.as_ref().map(|k| k.id.as_str()).unwrap_or("")
        ),
    };
    let ns = c.namespace.as_deref().or(cache.cfg.namespace.as_deref());
    let mut key = key::key(ns, ctx.call_type, &scope, group, body);
    let now = crate::clock::now_ms_i64();
    let fresh = |e: &Entry| {
        c.max_age
            .is_none_or(|age| now - e.made_ms <= age.as_millis() as i64)
    };
    if ctx.call_type == "aembedding" {
        if let Some(found) = lookup_items(cache, ctx, &c, ns, &scope, group, body).await {
            return found;
        }
    }
    let mut found = if c.no_cache {
        None
    } else {
        cache.get(&key).await.filter(fresh)
    };
    let mut semantic = None;
    let mut similarity = None;
    if let (None, Some(sem)) = (&found, &cache.cfg.semantic) {
        // Embedded only when the answer may be looked up or kept.
        let parts = (!c.no_cache || !c.no_store)
            .then(|| key::semantic_parts(ctx.call_type, &scope, group, body))
            .flatten();
        if let Some((partition, text)) = parts {
            // The namespace is the exact key's prefix; it separates partitions too.
            let partition = match ns {
                Some(n) => format!("{n}:{partition}"),
                None => partition,
            };
            if let Some(vec) =
                embed::embed(l.connector, l.runtime, &sem.embedding_model, &text).await
            {
                if !c.no_cache {
                    if let Some((k, sim)) = cache
                        .semantic_index()
                        .filter(|ix| !ix.is_empty())
                        .and_then(|ix| ix.search(&partition, &vec, &text, sem.threshold, now))
                    {
                        found = cache.get(&k).await.filter(fresh);
                        if found.is_some() {
                            key = k;
                            similarity = Some(sim);
                        }
                    }
                }
                if found.is_none() {
                    semantic = Some((partition, text, vec.into_boxed_slice()));
                }
            }
        }
    }
    if found.is_some() {
        HITS.fetch_add(1, Ordering::Relaxed);
    } else {
        MISSES.fetch_add(1, Ordering::Relaxed);
    }
    ctx.cache = Some(Box::new(Pending {
        cache: cache.clone(),
        key,
        hit: found.is_some(),
        store: !c.no_store,
        ttl: c.ttl,
        stream: None,
        semantic,
        similarity,
        items: None,
    }));
    found
}

/// An embeddings request, item by item (`items.rs`): `None` when its `input` has no items
/// (looked up as a whole then); else the answer when every item was found.
async fn lookup_items(
    cache: &Arc<Cache>,
    ctx: &mut RequestCtx,
    c: &key::Controls,
    ns: Option<&str>,
    scope: &str,
    group: &str,
    body: &mut Map<String, Value>,
) -> Option<Option<Entry>> {
    let keys = {
        let items = body.get("input").and_then(items::split)?;
        items::keys(ns, scope, group, body, &items)
    };
    let now = crate::clock::now_ms_i64();
    let fresh = |e: &Entry| {
        c.max_age
            .is_none_or(|age| now - e.made_ms <= age.as_millis() as i64)
    };
    let found: Vec<Option<Bytes>> = if c.no_cache {
        vec![None; keys.len()]
    } else {
        futures_util::future::join_all(keys.iter().map(|k| cache.get(k)))
            .await
            .into_iter()
            .map(|e| e.filter(fresh).map(|e| e.body))
            .collect()
    };
    let key = key::key(ns, ctx.call_type, scope, group, body);
    let items = items::Items::new(keys, found, body);
    let entry = items.all_found().map(|body| Entry {
        body,
        made_ms: now,
        expires_ms: now,
    });
    if entry.is_some() {
        HITS.fetch_add(1, Ordering::Relaxed);
    } else {
        MISSES.fetch_add(1, Ordering::Relaxed);
    }
    ctx.cache = Some(Box::new(Pending {
        cache: cache.clone(),
        key,
        hit: entry.is_some(),
        store: !c.no_store,
        ttl: c.ttl,
        stream: None,
        semantic: None,
        similarity: None,
        items: Some(Box::new(items)),
    }));
    Some(entry)
}

/// Stage 2, before the lookup and whether or not a cache is on (LiteLLM's pre-call check): a key
/// whose `allowed_cache_controls` is not empty may send only those names in the body's `cache`
/// object; another is refused with 403. `body`: the canonical body, or `raw` a door's own.
pub fn refuse_controls(
    adm: &Admission,
    body: &Map<String, Value>,
    raw: Option<&Bytes>,
) -> Result<(), crate::error::GatewayError> {
    let Some(allowed) = adm.key.as_ref().map(|k| &k.cache_controls[..]) else {
        return Ok(());
    };
    if allowed.is_empty() {
        return Ok(());
    }
    let parsed;
    let body = match raw {
        Some(raw) if memchr::memmem::find(raw, b"\"cache\"").is_some() => {
            parsed = serde_json::from_slice::<Map<String, Value>>(raw).unwrap_or_default();
            &parsed
        }
        Some(_) => return Ok(()),
        None => body,
    };
    match key::refused(body, allowed) {
        None => Ok(()),
        Some(name) => Err(crate::error::GatewayError::Forbidden(format!(
            "Not allowed to set {name} as a cache control. Contact admin to change permissions."
        ))),
    }
}

/// Stage 5, a whole answer: kept when it is a 2xx in the canonical API or an Anthropic
/// deployment's passed-through `Message` (not a mock, not a Responses body); an embeddings
/// answer item by item.
pub fn keep(ctx: &RequestCtx, status: u16, body: &Bytes) {
    let Some(p) = ctx.cache.as_deref() else {
        return;
    };
    if p.hit || !p.store || status >= 300 || !storable(ctx) {
        return;
    }
    if let Some(items) = &p.items {
        for (key, item) in items.to_keep(body) {
            p.cache.put(key, item, p.ttl);
        }
        return;
    }
    if matches!(ctx.front, Front::AnthropicNative) {
        p.put(anthropic::mark(body));
        return;
    }
    p.put(body.clone());
}

/// Stage 5, a whole 2xx answer in the client's API: an embeddings request some of whose items
/// were found gets the whole list, in its order (the provider embedded the others).
pub fn complete(ctx: &RequestCtx, body: Bytes) -> Result<Bytes, adapters::ApiError> {
    let items = ctx.cache.as_deref().and_then(|p| p.items.as_deref());
    match items.and_then(|it| it.complete(&body)) {
        None => Ok(body),
        Some(Ok(b)) => Ok(b),
        Some(Err(e)) => Err(adapters::ApiError::new(
            502,
            "api_error",
            format!("The provider's embeddings did not match the inputs sent: {e}"),
        )),
    }
}

/// Stage 5, a stream: canonical SSE bytes on their way out, copied (not parsed: a hit from a
/// streaming client replays them as they are; a whole client's hit puts them together then). At
/// the end (`done`, nothing failed, `[DONE]` sent) they are kept, with a usage chunk from the
/// provider's report when the client's stream had none.
pub fn collect(ctx: &mut RequestCtx, canonical_sse: &[u8], done: bool) {
    let ok = storable(ctx);
    let native = matches!(ctx.front, Front::AnthropicNative);
    let text = ctx.call_type == "atext_completion";
    let usage = ctx
        .usage_seen
        .then_some((ctx.prompt_tokens, ctx.completion_tokens));
    let id = ctx.response_id.clone();
    let Some(p) = ctx.cache.as_deref_mut() else {
        return;
    };
    if p.hit || !p.store || !ok {
        return;
    }
    let buf = p.stream.get_or_insert_with(|| {
        // A passed-through Anthropic stream is kept marked as one (`anthropic::mark`).
        let mut b = bytes::BytesMut::new();
        if native {
            b.extend_from_slice(&anthropic::mark(b""));
        }
        b
    });
    buf.extend_from_slice(canonical_sse);
    if !done {
        return;
    }
    let Some(mut buf) = p.stream.take() else {
        return;
    };
    if native {
        if anthropic::complete(&buf[1..]) {
            p.put(buf.freeze());
        }
        return;
    }
    const DONE: &[u8] = b"data: [DONE]\n\n";
    if !buf.ends_with(DONE) {
        return;
    }
    if let Some((prompt, completion)) = usage {
        if memchr::memmem::find(&buf, b"\"usage\":{").is_none() {
            buf.truncate(buf.len() - DONE.len());
            let chunk = serde_json::json!({
                "id": id,
                "object": if text { "text_completion" } else { "chat.completion.chunk" },
                "choices": [],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
            });
            buf.extend_from_slice(b"data: ");
            buf.extend_from_slice(&serde_json::to_vec(&chunk).unwrap_or_default());
            buf.extend_from_slice(b"\n\n");
            buf.extend_from_slice(DONE);
        }
    }
    zero_cost(&mut buf);
    p.put(buf.freeze());
}

/// A kept stream's usage chunk says `"cost": 0` (a request with
/// `include_cost_in_streaming_usage` had the provider call's cost there; a replay costs
/// nothing).
fn zero_cost(buf: &mut bytes::BytesMut) {
    let Some(at) = memchr::memmem::rfind(buf, b"\"usage\":{") else {
        return;
    };
    let window = &buf[at..buf.len().min(at + 1024)];
    let Some(c) = memchr::memmem::find(window, b"\"cost\":") else {
        return;
    };
    let start = at + c + 7;
    let len = buf[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E' | b' '))
        .count();
    if len == 0 {
        return;
    }
    let mut out = bytes::BytesMut::with_capacity(buf.len());
    out.extend_from_slice(&buf[..start]);
    out.extend_from_slice(b"0");
    out.extend_from_slice(&buf[start + len..]);
    *buf = out;
}

/// A kept answer as the client takes it: `Events` (canonical SSE) for a streaming client,
/// `Whole` (a canonical body) otherwise; kept events are put together into a body, a kept body
/// replayed as events. An entry that cannot be turned around (an embedding list asked for as
/// a stream) is answered whole.
pub enum Answer {
    Whole(Bytes),
    Events(Bytes),
    /// An Anthropic deployment's answer to an Anthropic client as it was: a `Message`, or
    /// Anthropic's events.
    NativeWhole(Bytes),
    NativeEvents(Bytes),
}

pub fn answer(entry: Entry, stream: bool) -> Answer {
    if let Some((events, a)) = anthropic::unmark(&entry.body) {
        return match (events, stream) {
            (true, true) => Answer::NativeEvents(a),
            (false, false) => Answer::NativeWhole(a),
            (false, true) => match anthropic::events_of(&a) {
                Some(e) => Answer::NativeEvents(e),
                None => Answer::NativeWhole(a),
            },
            (true, false) => match anthropic::message_of(&a) {
                Some(m) => Answer::NativeWhole(m),
                None => Answer::NativeEvents(a),
            },
        };
    }
    let events = entry.body.first() == Some(&b'd');
    match (events, stream) {
        (true, true) | (false, false) => {
            if events {
                Answer::Events(entry.body)
            } else {
                Answer::Whole(entry.body)
            }
        }
        (false, true) => match assemble::replay(&entry.body) {
            Some(sse) => Answer::Events(sse),
            None => Answer::Whole(entry.body),
        },
        (true, false) => {
            let mut a = assemble::Assembler::default();
            a.push(&entry.body);
            let usage =
                sse_usage(&entry.body).map_or((0, 0), |u| (u.prompt_tokens, u.completion_tokens));
            match a.finish(usage) {
                Some(body) => Answer::Whole(body),
                None => Answer::Events(entry.body),
            }
        }
    }
}

/// The usage reported in canonical SSE events (the last usage chunk).
pub fn sse_usage(sse: &[u8]) -> Option<adapters::openai::response::Usage> {
    let mut splitter = adapters::sse::SseSplitter::new();
    splitter.push(sse);
    let mut usage = None;
    while let Some(event) = splitter.next_event() {
        if let adapters::openai::stream::StreamEvent::Chunk { usage: Some(u) } =
            adapters::openai::stream::classify(&event)
        {
            usage = Some(u);
        }
    }
    usage
}

/// Whether the answer may be kept: in the canonical shape or an Anthropic deployment's answer
/// to an Anthropic client (not a Responses body), not a mock, and not cut short by a budget
/// clamp of `max_tokens` (the key is the request as the client sent it, which asked for more).
fn storable(ctx: &RequestCtx) -> bool {
    matches!(
        ctx.front,
        Front::OpenAi | Front::Anthropic { .. } | Front::AnthropicNative
    ) && !ctx.mocked
        && ctx.clamped_max_tokens.is_none()
}

/// LiteLLM's cache headers: the key on every cacheable response, and on a hit that it was one.
pub fn headers(ctx: &RequestCtx, h: &mut Vec<(&'static str, HeaderValue)>) {
    if let Some(p) = ctx.cache.as_deref() {
        if let Ok(v) = HeaderValue::from_str(&p.key) {
            h.push(("x-litellm-cache-key", v));
        }
        if p.hit {
            h.push(("x-litellm-cache-hit", HeaderValue::from_static("True")));
        }
        if let Some(items) = &p.items {
            let (found, n) = items.counts();
            if let Ok(v) = HeaderValue::from_str(&format!("{found}/{n}")) {
                h.push(("x-tollgate-cache-items", v));
            }
        }
        if let Some(sim) = p.similarity {
            if let Ok(v) = HeaderValue::from_str(&format!("{sim:.4}")) {
                h.push(("x-tollgate-cache-similarity", v));
            }
        }
    }
}

/// Whether the request was served from the cache.
pub fn hit(ctx: &RequestCtx) -> bool {
    ctx.cache.as_deref().is_some_and(|p| p.hit)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_kept_stream_says_it_cost_nothing() {
        let mut b = bytes::BytesMut::from(
            &b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"cost\":1.5e-5,\"total_tokens\":4}}\n\ndata: [DONE]\n\n"[..],
        );
        super::zero_cost(&mut b);
        assert_eq!(
            &b[..],
            &b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"cost\":0,\"total_tokens\":4}}\n\ndata: [DONE]\n\n"[..]
        );
        let mut none = bytes::BytesMut::from(&b"data: {\"usage\":{\"prompt_tokens\":3}}\n\n"[..]);
        let before = none.clone();
        super::zero_cost(&mut none);
        assert_eq!(none, before);
    }
}
