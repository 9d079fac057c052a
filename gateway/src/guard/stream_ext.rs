//! `post_call` of the external guardrails (Presidio, the generic webhook) on a streamed
//! response, the way LiteLLM's streaming hooks do it: the whole stream is held (after the
//! built-in checks, `stream.rs`), its texts assembled per slot (each choice's content,
//! reasoning and tool-call arguments; each Anthropic content block; each Responses text,
//! refusal, reasoning or arguments), sent to each service once when the stream ends, then
//! released — unchanged, or rewritten so each changed text arrives whole in its first delta
//! event (later deltas of it dropped, Responses `sequence_number`s renumbered, texts repeated
//! whole replaced) — or replaced by the guardrail's error. A service that cannot answer within
//! its timeout is resolved by `unreachable_fallback`; an answer longer than [`HOLD_CAP`] is
//! one that cannot be checked.

use std::sync::Arc;
use std::time::Instant;

use adapters::sse::{event_data, SseSplitter};
use bytes::{Bytes, BytesMut};
use conf::guard::{GuardKind, Unreachable};
use serde_json::Value;

use super::compiled::Guards;
use super::external::{self, Verdict, Who};
use super::state::GuardState;
use crate::ctx::RequestCtx;
use crate::error::GatewayError;

/// The most of a stream held for external checks (SSE bytes); a longer answer counts as one
/// the services could not check.
pub const HOLD_CAP: usize = 8 << 20;

/// The external checks of one stream and what is held for them.
pub struct External {
    guards: Arc<Guards>,
    /// Indexes into `guards`.
    list: Vec<usize>,
    /// The stream so far (whole SSE events, after the built-in checks).
    pub(super) held: BytesMut,
    /// Checked (or given up on): later bytes pass through.
    done: bool,
}

impl External {
    pub(super) fn of(state: &GuardState) -> Option<External> {
        let guards = state.guards.clone()?;
        (!state.post_external.is_empty()).then(|| External {
            guards,
            list: state.post_external.clone(),
            held: BytesMut::new(),
            done: false,
        })
    }

    pub(super) fn holding(&self) -> bool {
        !self.done
    }
}

/// Which text a delta is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Content(usize),
    Reasoning(usize),
    Tool(usize, usize),
    Block(usize),
    /// Responses: (delta kind, output index, content or summary index).
    Resp(u8, usize, usize),
}

fn idx(v: &Value, k: &str) -> usize {
    v[k].as_u64().unwrap_or(0) as usize
}

/// The text deltas of one event, each with its text's key.
fn deltas(v: &mut Value) -> Vec<(Key, &mut String)> {
    let mut out = Vec::new();
    let kind = v.get("type").and_then(Value::as_str).map(str::to_string);
    match kind.as_deref() {
        None => {
            let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) else {
                return out;
            };
            for c in choices {
                let i = idx(c, "index");
                let Some(d) = c.get_mut("delta").and_then(Value::as_object_mut) else {
                    continue;
                };
                for (k, val) in d.iter_mut() {
                    match (k.as_str(), val) {
                        ("content", Value::String(s)) => out.push((Key::Content(i), s)),
                        ("reasoning_content", Value::String(s)) => out.push((Key::Reasoning(i), s)),
                        ("tool_calls", Value::Array(calls)) => {
                            for call in calls {
                                let t = idx(call, "index");
                                if let Some(Value::String(s)) = call
                                    .get_mut("function")
                                    .and_then(|f| f.get_mut("arguments"))
                                {
                                    out.push((Key::Tool(i, t), s));
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        Some("content_block_delta") => {
            let i = idx(v, "index");
            if let Some(d) = v.get_mut("delta").and_then(Value::as_object_mut) {
                for (k, val) in d.iter_mut() {
                    if let ("text" | "partial_json" | "thinking", Value::String(s)) =
                        (k.as_str(), val)
                    {
                        out.push((Key::Block(i), s));
                    }
                }
            }
        }
        Some(t) => {
            let family = match t {
                "response.output_text.delta" => 0,
                "response.refusal.delta" => 1,
                "response.function_call_arguments.delta" => 2,
                "response.reasoning_text.delta" => 3,
                "response.reasoning_summary_text.delta" => 4,
                _ => return out,
            };
            let o = idx(v, "output_index");
            let c = idx(v, "content_index") + idx(v, "summary_index");
            if let Some(Value::String(s)) = v.get_mut("delta") {
                out.push((Key::Resp(family, o, c), s));
            }
        }
    }
    out
}

/// One held event: its bytes, its name line, its data when JSON.
struct Ev {
    raw: Bytes,
    name: Option<String>,
    data: Option<Value>,
}

fn parse(held: &[u8]) -> Vec<Ev> {
    let mut s = SseSplitter::new();
    s.push(held);
    let mut out = Vec::new();
    let mut add = |raw: Bytes| {
        let data = event_data(&raw).and_then(|d| serde_json::from_slice::<Value>(&d).ok());
        let name = std::str::from_utf8(&raw).ok().and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("event:"))
                .map(|n| n.trim().to_string())
        });
        out.push(Ev { raw, name, data });
    };
    while let Some(e) = s.next_event() {
        add(e);
    }
    if let Some(rest) = s.take_remainder() {
        add(rest);
    }
    out
}

/// The stream's texts, in order of first appearance.
fn assemble(events: &mut [Ev]) -> Vec<(Key, String)> {
    let mut texts: Vec<(Key, String)> = Vec::new();
    for e in events.iter_mut() {
        let Some(v) = e.data.as_mut() else { continue };
        for (k, s) in deltas(v) {
            match texts.iter_mut().find(|(t, _)| *t == k) {
                Some((_, t)) => t.push_str(s),
                None => texts.push((k, s.clone())),
            }
        }
    }
    texts
}

/// The held stream with each changed text in its first delta (`changed`: key, old, new).
fn rewrite(events: Vec<Ev>, changed: &[(Key, String, String)]) -> (BytesMut, Option<Value>) {
    let mut out = BytesMut::new();
    let mut seen: Vec<Key> = Vec::new();
    let mut dropped = 0u64;
    let mut final_response = None;
    for mut e in events {
        let Some(mut v) = e.data.take() else {
            out.extend_from_slice(&e.raw);
            continue;
        };
        let mut touched = false;
        let mut emptied = 0;
        let mut kept = 0;
        for (k, s) in deltas(&mut v) {
            let Some((_, _, new)) = changed.iter().find(|(c, _, _)| *c == k) else {
                kept += 1;
                continue;
            };
            touched = true;
            if seen.contains(&k) {
                s.clear();
                emptied += 1;
            } else {
                seen.push(k);
                *s = new.clone();
                kept += 1;
            }
        }
        let kind = v["type"].as_str().unwrap_or("").to_string();
        if kind.starts_with("response.") && !kind.ends_with(".delta") {
            for t in super::text::response_texts(&mut v) {
                if let Some((_, _, new)) = changed.iter().find(|(_, old, _)| old == t) {
                    *t = new.clone();
                    touched = true;
                }
            }
        }
        if emptied > 0 && kept == 0 && droppable(&v) {
            dropped += 1;
            continue;
        }
        if let Some(n) = v["sequence_number"].as_u64().filter(|_| dropped > 0) {
            v["sequence_number"] = (n - dropped.min(n)).into();
            touched = true;
        }
        if matches!(
            kind.as_str(),
            "response.completed" | "response.incomplete" | "response.failed"
        ) {
            final_response = Some(v["response"].clone());
        }
        if !touched {
            out.extend_from_slice(&e.raw);
            continue;
        }
        if let Some(n) = &e.name {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b"\n");
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&serde_json::to_vec(&v).expect("JSON values serialize"));
        out.extend_from_slice(b"\n\n");
    }
    (out, final_response)
}

/// Whether an event whose only text was emptied can go: an Anthropic or Responses delta, or
/// an OpenAI chunk with nothing else (no finish, no usage).
fn droppable(v: &Value) -> bool {
    if v.get("type").is_some() {
        return true;
    }
    v["usage"].is_null()
        && v["choices"].as_array().is_some_and(|cs| {
            cs.iter().all(|c| {
                c["finish_reason"].is_null()
                    && c["delta"].as_object().is_some_and(|d| {
                        d.iter().all(|(k, x)| match x {
                            Value::String(s) => s.is_empty() || k == "role",
                            Value::Array(a) => a.iter().all(|t| {
                                t["function"]["arguments"].as_str() == Some("")
                                    && t.get("id").is_none()
                            }),
                            Value::Null => true,
                            _ => false,
                        })
                    })
            })
        })
}

impl External {
    /// Whether the held stream must be checked now: it ended, or it outgrew [`HOLD_CAP`].
    pub fn due(&self, done: bool) -> bool {
        !self.done && (done || self.held.len() > HOLD_CAP)
    }

    /// Runs the external post checks on the held stream: the bytes to send (checked, maybe
    /// rewritten) and, for a Responses stream that changed, its final response; or the client
    /// error replacing them. Each run is noted.
    pub async fn check(
        &mut self,
        ctx: &mut RequestCtx,
    ) -> Result<(BytesMut, Option<Value>), adapters::ApiError> {
        self.done = true;
        let held = std::mem::take(&mut self.held);
        let (guards, list) = (self.guards.clone(), self.list.clone());
        if held.len() > HOLD_CAP {
            // Too long to hold: nothing was checked.
            for &i in &list {
                let g = &guards.list[i];
                let why = format!("the answer is over {HOLD_CAP} bytes, too long to hold");
                unchecked(ctx, g, &why, Instant::now())?;
            }
            return Ok((held, None));
        }
        let mut events = parse(&held);
        let texts = assemble(&mut events);
        let mut now: Vec<String> = texts.iter().map(|(_, t)| t.clone()).collect();
        for &i in &list {
            let g = &guards.list[i];
            let started = Instant::now();
            let mut refs: Vec<&mut String> = now.iter_mut().filter(|t| !t.is_empty()).collect();
            if refs.is_empty() {
                super::note(ctx, g, "post_call", "success", None, 0, started);
                continue;
            }
            let verdict = match &g.conf.kind {
                GuardKind::Presidio(p) => {
                    let mut unmask = Vec::new();
                    external::presidio(&guards.connector, p, &mut refs, &mut unmask).await
                }
                GuardKind::Webhook(w) => {
                    let who = Who {
                        call_id: &ctx.call_id,
                        key_hash: None,
                        key_alias: None,
                        team_id: None,
                        user_id: None,
                    };
                    external::webhook(&guards.connector, w, &mut refs, "response", &who).await
                }
                GuardKind::Local(_) => Err("not an external guardrail".into()),
            };
            match verdict {
                Ok(Verdict::Pass) => super::note(ctx, g, "post_call", "success", None, 0, started),
                Ok(Verdict::Changed(n)) => super::note(
                    ctx,
                    g,
                    "post_call",
                    "guardrail_intervened",
                    Some(format!("masked {n}")),
                    n,
                    started,
                ),
                Ok(Verdict::Blocked(reason)) => {
                    super::note(
                        ctx,
                        g,
                        "post_call",
                        "guardrail_intervened",
                        Some(format!("blocked: {reason}")),
                        0,
                        started,
                    );
                    return Err(super::blocked(g, reason).to_api_error());
                }
                Err(e) => unchecked(ctx, g, &e, started)?,
            }
        }
        let changed: Vec<(Key, String, String)> = texts
            .into_iter()
            .zip(now)
            .filter(|((_, old), new)| old != new)
            .map(|((k, old), new)| (k, old, new))
            .collect();
        if changed.is_empty() {
            return Ok((held, None));
        }
        Ok(rewrite(events, &changed))
    }
}

/// A service that could not check the answer: noted; an error unless it fails open.
fn unchecked(
    ctx: &mut RequestCtx,
    g: &super::Guard,
    why: &str,
    started: Instant,
) -> Result<(), adapters::ApiError> {
    super::note(
        ctx,
        g,
        "post_call",
        "guardrail_failed_to_respond",
        Some(why.to_string()),
        0,
        started,
    );
    if super::external_unreachable(g) == Unreachable::FailOpen {
        log::warn!(
            "guardrail {} could not check the streamed answer ({why}); fail_open: let through",
            g.name
        );
        return Ok(());
    }
    Err(GatewayError::Guardrail {
        status: 503,
        name: g.name.to_string(),
        reason: format!("the guardrail could not check the response ({why}) and fails closed"),
    }
    .to_api_error())
}

#[cfg(test)]
#[path = "stream_ext_tests.rs"]
mod tests;
