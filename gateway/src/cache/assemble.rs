//! Between the two shapes of one answer: a canonical SSE stream put together into the whole
//! `chat.completion` / `text_completion` body the cache keeps, and a kept body replayed as a
//! well-formed canonical stream (role, content, tool calls, finish, usage, `[DONE]`).

use std::borrow::Cow;

use adapters::sse::{event_data, SseSplitter};
use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The parts of a canonical chunk the assembler reads, borrowed from the event (a typed parse:
/// a `Value` per event cost more than the rest of the stream's relay).
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    object: Option<Cow<'a, str>>,
    created: Option<u64>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    system_fingerprint: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    choices: Vec<ChunkChoice<'a>>,
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    #[serde(default)]
    index: usize,
    #[serde(borrow)]
    delta: Option<Delta<'a>>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tool_calls: Option<Vec<ToolFrag<'a>>>,
}

#[derive(Deserialize)]
struct ToolFrag<'a> {
    index: Option<usize>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    function: Option<FnFrag<'a>>,
}

#[derive(Deserialize)]
struct FnFrag<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// A streamed answer being put together, choice by choice.
#[derive(Default)]
pub struct Assembler {
    splitter: SseSplitter,
    head: Map<String, Value>,
    text: bool,
    choices: Vec<Choice>,
    done: bool,
    broken: bool,
}

#[derive(Default, Clone)]
struct Choice {
    role: Option<String>,
    content: String,
    reasoning: String,
    tool_calls: Vec<Call>,
    finish: Option<String>,
}

#[derive(Default, Clone)]
struct Call {
    id: Option<String>,
    kind: Option<String>,
    name: String,
    arguments: String,
}

impl Assembler {
    pub fn push(&mut self, sse: &[u8]) {
        self.splitter.push(sse);
        while let Some(event) = self.splitter.next_event() {
            let Some(data) = event_data(&event) else {
                continue;
            };
            if &*data == b"[DONE]" {
                self.done = true;
                continue;
            }
            match serde_json::from_slice::<Chunk>(&data) {
                Ok(chunk) => self.chunk(chunk),
                Err(_) => self.broken = true,
            }
        }
    }

    fn chunk(&mut self, chunk: Chunk) {
        if chunk.error.is_some() {
            self.broken = true;
            return;
        }
        if self.head.is_empty() {
            let text = |v: &Option<Cow<str>>| v.as_deref().map(|s| Value::String(s.to_string()));
            for (k, v) in [
                ("id", text(&chunk.id)),
                ("created", chunk.created.map(Value::from)),
                ("model", text(&chunk.model)),
                ("system_fingerprint", text(&chunk.system_fingerprint)),
            ] {
                if let Some(v) = v {
                    self.head.insert(k.into(), v);
                }
            }
            self.text = chunk.object.as_deref() == Some("text_completion");
        }
        for c in chunk.choices {
            let i = c.index;
            if i > 64 {
                self.broken = true;
                return;
            }
            if self.choices.len() <= i {
                self.choices.resize(i + 1, Choice::default());
            }
            let ch = &mut self.choices[i];
            if let Some(t) = &c.text {
                ch.content.push_str(t);
            }
            if let Some(d) = c.delta {
                if let Some(r) = d.role {
                    ch.role = Some(r.into_owned());
                }
                if let Some(t) = d.content {
                    ch.content.push_str(&t);
                }
                if let Some(t) = d.reasoning_content {
                    ch.reasoning.push_str(&t);
                }
                for frag in d.tool_calls.into_iter().flatten() {
                    merge_call(&mut ch.tool_calls, frag);
                }
            }
            if let Some(f) = c.finish_reason {
                ch.finish = Some(f.into_owned());
            }
        }
    }

    /// The whole body, when the stream ended properly (`[DONE]`, every choice finished);
    /// `usage`: (prompt, completion) tokens as the provider reported them.
    pub fn finish(mut self, usage: (u64, u64)) -> Option<Bytes> {
        self.splitter.take_remainder();
        if self.broken
            || !self.done
            || self.choices.is_empty()
            || self.choices.iter().any(|c| c.finish.is_none())
        {
            return None;
        }
        let choices: Vec<Value> = self
            .choices
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                if self.text {
                    return json!({"index": i, "text": c.content, "logprobs": null, "finish_reason": c.finish});
                }
                let mut msg = json!({
                    "role": c.role.unwrap_or_else(|| "assistant".into()),
                    "content": if c.content.is_empty() && !c.tool_calls.is_empty() { Value::Null } else { Value::String(c.content) },
                });
                if !c.reasoning.is_empty() {
                    msg["reasoning_content"] = Value::String(c.reasoning);
                }
                if !c.tool_calls.is_empty() {
                    let calls = c.tool_calls.into_iter().map(|t| json!({
                        "id": t.id,
                        "type": t.kind.unwrap_or_else(|| "function".into()),
                        "function": {"name": t.name, "arguments": t.arguments},
                    }));
                    msg["tool_calls"] = Value::Array(calls.collect());
                }
                json!({"index": i, "message": msg, "finish_reason": c.finish})
            })
            .collect();
        let mut body = self.head;
        body.insert(
            "object".into(),
            json!(if self.text {
                "text_completion"
            } else {
                "chat.completion"
            }),
        );
        body.insert("choices".into(), Value::Array(choices));
        body.insert(
            "usage".into(),
            json!({"prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1}),
        );
        serde_json::to_vec(&body).ok().map(Bytes::from)
    }
}

/// Streamed tool-call fragments merged by `index`: the first carries `id`, `type` and the
/// function's name, the rest pieces of `arguments`.
fn merge_call(calls: &mut Vec<Call>, frag: ToolFrag) {
    let i = frag.index.unwrap_or(calls.len()).min(64);
    if calls.len() <= i {
        calls.resize(i + 1, Call::default());
    }
    let call = &mut calls[i];
    if let Some(id) = frag.id {
        call.id = Some(id.into_owned());
    }
    if let Some(k) = frag.kind {
        call.kind = Some(k.into_owned());
    }
    if let Some(f) = frag.function {
        if let Some(n) = f.name {
            call.name.push_str(&n);
        }
        if let Some(a) = f.arguments {
            call.arguments.push_str(&a);
        }
    }
}

/// A kept chat or text completion body as canonical SSE: per choice a role chunk, a content
/// chunk (with tool calls), a finish chunk; then a usage chunk and `[DONE]`. `None` when the
/// body is not a completion (an embedding list cannot be streamed).
pub fn replay(body: &[u8]) -> Option<Bytes> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let text = match v["object"].as_str() {
        Some("chat.completion") => false,
        Some("text_completion") => true,
        _ => return None,
    };
    let object = if text {
        "text_completion"
    } else {
        "chat.completion.chunk"
    };
    let mut head = Map::new();
    for k in ["id", "created", "model", "system_fingerprint"] {
        if let Some(x) = v.get(k) {
            head.insert(k.into(), x.clone());
        }
    }
    head.insert("object".into(), json!(object));
    let mut out = BytesMut::new();
    let mut event = |choices: Value, usage: Option<&Value>| {
        let mut chunk = head.clone();
        chunk.insert("choices".into(), choices);
        if let Some(u) = usage {
            chunk.insert("usage".into(), u.clone());
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&serde_json::to_vec(&chunk).unwrap_or_default());
        out.extend_from_slice(b"\n\n");
    };
    for (i, c) in v["choices"].as_array()?.iter().enumerate() {
        let index = c.get("index").cloned().unwrap_or(json!(i));
        if text {
            event(
                json!([{"index": index, "text": c["text"], "logprobs": null, "finish_reason": null}]),
                None,
            );
            event(
                json!([{"index": index, "text": "", "logprobs": null, "finish_reason": c["finish_reason"]}]),
                None,
            );
            continue;
        }
        let m = &c["message"];
        event(
            json!([{"index": index, "delta": {"role": m["role"].as_str().unwrap_or("assistant"), "content": ""}, "finish_reason": null}]),
            None,
        );
        let mut delta = Map::new();
        if !m["content"].is_null() {
            delta.insert("content".into(), m["content"].clone());
        }
        if let Some(r) = m.get("reasoning_content").filter(|r| !r.is_null()) {
            delta.insert("reasoning_content".into(), r.clone());
        }
        if let Some(Value::Array(calls)) = m.get("tool_calls") {
            let calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(n, call)| {
                    let mut call = call.clone();
                    call["index"] = json!(n);
                    call
                })
                .collect();
            delta.insert("tool_calls".into(), Value::Array(calls));
        }
        if !delta.is_empty() {
            event(
                json!([{"index": index, "delta": delta, "finish_reason": null}]),
                None,
            );
        }
        event(
            json!([{"index": index, "delta": {}, "finish_reason": c["finish_reason"]}]),
            None,
        );
    }
    if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
        event(json!([]), Some(u));
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replayed_body_assembles_back_to_itself() {
        let body = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello there"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        });
        let sse = replay(&serde_json::to_vec(&body).unwrap()).unwrap();
        let text = std::str::from_utf8(&sse).unwrap();
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert!(text.contains("\"role\":\"assistant\""));
        let mut a = Assembler::default();
        // Split at an awkward point: the splitter keeps partial events.
        a.push(&sse[..17]);
        a.push(&sse[17..]);
        let back: Value = serde_json::from_slice(&a.finish((3, 2)).unwrap()).unwrap();
        assert_eq!(back, body);
    }

    #[test]
    fn tool_calls_and_unfinished_streams() {
        let sse = b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]},\"finish_reason\":null}]}\n\ndata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n";
        let mut a = Assembler::default();
        a.push(sse);
        let mut unfinished = Assembler::default();
        unfinished.push(sse);
        a.push(b"data: [DONE]\n\n");
        let v: Value = serde_json::from_slice(&a.finish((1, 1)).unwrap()).unwrap();
        let call = &v["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["id"], "t1");
        assert_eq!(call["function"]["arguments"], "{\"a\":1}");
        assert!(unfinished.finish((1, 1)).is_none(), "no [DONE]: not stored");
    }
}
