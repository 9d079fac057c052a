//! Between the two shapes of one answer: a canonical SSE stream put together into the whole
//! `chat.completion` / `text_completion` body the cache keeps, and a kept body replayed as a
//! well-formed canonical stream (role, content, tool calls, finish, usage, `[DONE]`).

use adapters::sse::{event_data, SseSplitter};
use bytes::{Bytes, BytesMut};
use serde_json::{json, Map, Value};

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
    tool_calls: Vec<Value>,
    finish: Value,
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
            match serde_json::from_slice::<Map<String, Value>>(&data) {
                Ok(chunk) => self.chunk(chunk),
                Err(_) => self.broken = true,
            }
        }
    }

    fn chunk(&mut self, mut chunk: Map<String, Value>) {
        if chunk.contains_key("error") {
            self.broken = true;
            return;
        }
        if self.head.is_empty() {
            for k in ["id", "created", "model", "system_fingerprint"] {
                if let Some(v) = chunk.get(k) {
                    self.head.insert(k.into(), v.clone());
                }
            }
            self.text = chunk.get("object").and_then(Value::as_str) == Some("text_completion");
        }
        let Some(Value::Array(choices)) = chunk.remove("choices") else {
            return;
        };
        for c in choices {
            let i = c["index"].as_u64().unwrap_or(0) as usize;
            if i > 64 {
                self.broken = true;
                return;
            }
            if self.choices.len() <= i {
                self.choices.resize(i + 1, Choice::default());
            }
            let ch = &mut self.choices[i];
            let d = &c["delta"];
            if let Some(r) = d["role"].as_str() {
                ch.role = Some(r.to_string());
            }
            if let Some(t) = d["content"].as_str().or(c["text"].as_str()) {
                ch.content.push_str(t);
            }
            if let Some(t) = d["reasoning_content"].as_str() {
                ch.reasoning.push_str(t);
            }
            if let Some(calls) = d["tool_calls"].as_array() {
                for call in calls {
                    merge_call(&mut ch.tool_calls, call);
                }
            }
            if !c["finish_reason"].is_null() {
                ch.finish = c["finish_reason"].clone();
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
            || self.choices.iter().any(|c| c.finish.is_null())
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
                    msg["tool_calls"] = Value::Array(c.tool_calls);
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
fn merge_call(calls: &mut Vec<Value>, frag: &Value) {
    let i = frag["index"].as_u64().unwrap_or(calls.len() as u64) as usize;
    while calls.len() <= i {
        calls.push(
            json!({"id": null, "type": "function", "function": {"name": "", "arguments": ""}}),
        );
    }
    let call = &mut calls[i];
    if let Some(id) = frag.get("id").filter(|v| !v.is_null()) {
        call["id"] = id.clone();
    }
    if let Some(t) = frag["type"].as_str() {
        call["type"] = json!(t);
    }
    let f = &frag["function"];
    for k in ["name", "arguments"] {
        if let Some(s) = f[k].as_str() {
            let cur = call["function"][k].as_str().unwrap_or("").to_string();
            call["function"][k] = json!(cur + s);
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
