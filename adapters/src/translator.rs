//! The provider stream → canonical OpenAI SSE core: the `ToOpenAiStream` interface every
//! provider's stream translator implements (and the gateway drives), and `ChunkWriter`, the
//! canonical side they all share — the response identity, the role announcement, tool-call
//! indexes, finish reasons per choice, usage, the closing usage chunk and `[DONE]`, and the
//! `chat.completion.chunk` / `text_completion` framing. A provider's translator keeps only what
//! its wire format needs: reading its framing and mapping its events onto these calls.

use bytes::{BufMut, BytesMut};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::{usage_json, ResponseMeta};
use crate::request::{CanonicalRequest, Endpoint};

/// Translates a provider's SSE/NDJSON/event-stream bytes into canonical OpenAI SSE events.
pub trait ToOpenAiStream: Send {
    /// Feeds provider bytes split anywhere; appends every complete canonical event to `out`.
    /// An error the provider reports inside the stream is returned as `Err`.
    fn push(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), ApiError>;
    /// The provider's stream ended: appends the closing events (the finish chunk if not sent,
    /// the usage chunk when `include_usage` was asked, `data: [DONE]`).
    fn finish(&mut self, out: &mut BytesMut) -> Result<(), ApiError>;
    /// Usage seen so far.
    fn usage(&self) -> Option<Usage>;
}

/// The last event of every canonical stream.
const DONE_EVENT: &[u8] = b"data: [DONE]\n\n";

/// How a chat choice announces the assistant role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleStyle {
    /// A chunk of its own, `{"role":"assistant","content":""}`, before the choice's first delta.
    OwnChunk,
    /// `"role":"assistant"` added to the choice's first delta.
    FirstDelta,
}

/// What has been written for one choice.
#[derive(Debug, Clone, Default)]
struct Choice {
    role_sent: bool,
    finished: bool,
    /// The provider's key of each tool call, by OpenAI tool-call index (`None`: sent whole).
    tool_calls: Vec<Option<usize>>,
}

/// The canonical side of one stream translation: writes `chat.completion.chunk` events (or
/// `text_completion` ones for `/v1/completions`) and keeps the bookkeeping they need. Choices
/// are created on first mention; a provider with one choice uses choice 0 throughout.
#[derive(Debug)]
pub struct ChunkWriter {
    id: String,
    created: u64,
    model: String,
    /// `/v1/completions`: `text_completion` chunks, no role, no tool calls, no reasoning.
    completions: bool,
    include_usage: bool,
    role: RoleStyle,
    choices: Vec<Choice>,
    usage: Option<Usage>,
    done: bool,
}

impl ChunkWriter {
    /// A writer for `req`'s stream: `text_completion` chunks for `/v1/completions`, the usage
    /// chunk when `include_usage` was asked, the role in a chunk of its own.
    pub fn new(req: &CanonicalRequest, meta: ResponseMeta<'_>) -> ChunkWriter {
        ChunkWriter {
            id: meta.id.to_string(),
            created: meta.created,
            model: meta.model.to_string(),
            completions: req.endpoint == Endpoint::Completions,
            include_usage: req.include_usage,
            role: RoleStyle::OwnChunk,
            choices: Vec::new(),
            usage: None,
            done: false,
        }
    }

    /// Chat chunks whatever the endpoint (a provider that serves no `/v1/completions`).
    pub fn chat_only(mut self) -> ChunkWriter {
        self.completions = false;
        self
    }

    /// Announces the role the given way.
    pub fn with_role(mut self, role: RoleStyle) -> ChunkWriter {
        self.role = role;
        self
    }

    /// Writing `text_completion` chunks (`/v1/completions`).
    pub fn completions(&self) -> bool {
        self.completions
    }

    /// The stream was closed (`[DONE]` written) or abandoned.
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn choice(&mut self, index: usize) -> &mut Choice {
        if self.choices.len() <= index {
            self.choices.resize(index + 1, Choice::default());
        }
        &mut self.choices[index]
    }

    /// Choice `index` has its finish reason.
    pub fn finished(&mut self, index: usize) -> bool {
        self.choice(index).finished
    }

    /// How many tool calls choice `index` has started.
    pub fn tool_calls(&mut self, index: usize) -> usize {
        self.choice(index).tool_calls.len()
    }

    /// Announces the assistant role on choice 0 now if it was not (a chunk of its own; nothing
    /// for `/v1/completions`).
    pub fn role(&mut self, out: &mut BytesMut) {
        self.role_chunk(0, out);
    }

    fn role_chunk(&mut self, index: usize, out: &mut BytesMut) {
        if self.completions || self.role != RoleStyle::OwnChunk || self.choice(index).role_sent {
            return;
        }
        self.choice(index).role_sent = true;
        let delta = json!({"role": "assistant", "content": ""});
        self.write_chunk(index, delta, None, out);
    }

    /// One event for choice `index`: a chat delta (after the role announcement), or for
    /// `/v1/completions` a `text_completion` chunk with the delta's `content` as its text.
    pub fn delta(
        &mut self,
        index: usize,
        mut delta: Value,
        finish: Option<&str>,
        out: &mut BytesMut,
    ) {
        if self.completions {
            let text = delta.get("content").and_then(Value::as_str).unwrap_or("");
            self.write_text(index, text, finish, out);
            return;
        }
        match self.role {
            RoleStyle::OwnChunk => self.role_chunk(index, out),
            RoleStyle::FirstDelta => {
                let choice = self.choice(index);
                if !choice.role_sent {
                    choice.role_sent = true;
                    delta["role"] = json!("assistant");
                }
            }
        }
        self.write_chunk(index, delta, finish, out);
    }

    /// Content text on choice 0 (nothing when empty).
    pub fn content(&mut self, text: &str, out: &mut BytesMut) {
        if !text.is_empty() {
            self.delta(0, json!({"content": text}), None, out);
        }
    }

    /// Reasoning text on choice 0 as `reasoning_content` (nothing when empty, or for
    /// `/v1/completions`).
    pub fn reasoning(&mut self, text: &str, out: &mut BytesMut) {
        if !text.is_empty() && !self.completions {
            self.delta(0, json!({"reasoning_content": text}), None, out);
        }
    }

    /// Numbers the next tool call of choice `index`, remembering the provider's `key` for it
    /// (the block or call index its argument fragments will name); returns its OpenAI index.
    pub fn add_tool_call(&mut self, index: usize, key: Option<usize>) -> usize {
        let calls = &mut self.choice(index).tool_calls;
        calls.push(key);
        calls.len() - 1
    }

    /// Starts a tool call on choice 0 (`arguments` whole, or empty when fragments follow);
    /// returns its OpenAI index.
    pub fn tool_call(
        &mut self,
        key: Option<usize>,
        id: &str,
        name: &str,
        arguments: &str,
        out: &mut BytesMut,
    ) -> usize {
        let n = self.add_tool_call(0, key);
        let call = tool_call_json(n, id, name, arguments);
        self.delta(0, json!({"tool_calls": [call]}), None, out);
        n
    }

    /// An argument fragment for choice 0's latest tool call started with `key` (nothing when
    /// the fragment is empty or no such call was started).
    pub fn tool_arguments(&mut self, key: usize, fragment: &str, out: &mut BytesMut) {
        if fragment.is_empty() {
            return;
        }
        let Some(n) = self
            .choice(0)
            .tool_calls
            .iter()
            .rposition(|k| *k == Some(key))
        else {
            return;
        };
        let call = json!({"index": n, "function": {"arguments": fragment}});
        self.delta(0, json!({"tool_calls": [call]}), None, out);
    }

    /// Choice `index`'s finish chunk (an empty delta), once.
    pub fn finish(&mut self, index: usize, reason: &str, out: &mut BytesMut) {
        self.finish_with(index, json!({}), reason, out);
    }

    /// Choice `index`'s finish chunk carrying `delta`, once.
    pub fn finish_with(&mut self, index: usize, delta: Value, reason: &str, out: &mut BytesMut) {
        if self.choice(index).finished {
            return;
        }
        self.choice(index).finished = true;
        self.delta(index, delta, Some(reason), out);
    }

    /// The stream's usage, replacing what was seen before.
    pub fn set_usage(&mut self, usage: Usage) {
        self.usage = Some(usage);
    }

    /// Usage seen so far.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// The closing events, once: the finish chunk of every choice that has none (`tool_calls`
    /// when it called tools, else `stop`), the usage chunk when `include_usage` was asked, then
    /// `[DONE]`.
    pub fn close(&mut self, out: &mut BytesMut) {
        if self.done {
            return;
        }
        self.done = true;
        self.choice(0);
        for index in 0..self.choices.len() {
            let reason = if self.choices[index].tool_calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            };
            self.finish(index, reason, out);
        }
        if self.include_usage {
            let usage = usage_json(self.usage.unwrap_or_default());
            let object = self.object();
            write_event(
                out,
                &json!({
                    "id": self.id, "object": object, "created": self.created, "model": self.model,
                    "choices": [], "usage": usage,
                }),
            );
        }
        out.extend_from_slice(DONE_EVENT);
    }

    /// Ends the stream without closing events (the translator failed while closing it).
    pub fn abandon(&mut self) {
        self.done = true;
    }

    fn object(&self) -> &'static str {
        if self.completions {
            "text_completion"
        } else {
            "chat.completion.chunk"
        }
    }

    fn write_chunk(&self, index: usize, delta: Value, finish: Option<&str>, out: &mut BytesMut) {
        write_event(
            out,
            &json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": index, "delta": delta, "logprobs": null, "finish_reason": finish}],
            }),
        );
    }

    fn write_text(&self, index: usize, text: &str, finish: Option<&str>, out: &mut BytesMut) {
        write_event(
            out,
            &json!({
                "id": self.id, "object": "text_completion", "created": self.created,
                "model": self.model,
                "choices": [{"index": index, "text": text, "logprobs": null, "finish_reason": finish}],
            }),
        );
    }
}

/// One tool call as a chat delta carries it when it starts.
pub fn tool_call_json(index: usize, id: &str, name: &str, arguments: &str) -> Value {
    json!({"index": index, "id": id, "type": "function",
           "function": {"name": name, "arguments": arguments}})
}

/// `data: <json>\n\n`.
fn write_event(out: &mut BytesMut, v: &Value) {
    out.extend_from_slice(b"data: ");
    serde_json::to_writer((&mut *out).writer(), v).expect("serializing JSON values cannot fail");
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: ResponseMeta<'static> = ResponseMeta {
        id: "chatcmpl-1",
        created: 7,
        model: "m",
    };

    fn writer(endpoint: Endpoint, include_usage: bool) -> ChunkWriter {
        let body = format!(
            r#"{{"model":"m","messages":[],"prompt":"p","stream":true,"stream_options":{{"include_usage":{include_usage}}}}}"#
        );
        ChunkWriter::new(
            &CanonicalRequest::parse(endpoint, body.as_bytes()).unwrap(),
            META,
        )
    }

    /// Each event's parsed data, with `[DONE]` as a string.
    fn events(out: &[u8]) -> Vec<Value> {
        let text = std::str::from_utf8(out).unwrap();
        assert!(text.ends_with("\n\n"), "{text}");
        text.split_terminator("\n\n")
            .map(|e| {
                let data = e.strip_prefix("data: ").unwrap();
                serde_json::from_str(data).unwrap_or_else(|_| json!(data))
            })
            .collect()
    }

    fn deltas(evs: &[Value]) -> Vec<(Value, Value)> {
        evs.iter()
            .filter(|e| e.is_object() && !e["choices"].as_array().unwrap().is_empty())
            .map(|e| {
                (
                    e["choices"][0]["delta"].clone(),
                    e["choices"][0]["finish_reason"].clone(),
                )
            })
            .collect()
    }

    #[test]
    fn chat_role_once_tool_fragments_by_key_then_finish_usage_and_done_once() {
        let mut w = writer(Endpoint::ChatCompletions, true);
        let mut out = BytesMut::new();
        w.content("", &mut out);
        assert!(out.is_empty(), "empty text writes nothing");
        w.role(&mut out);
        w.content("hi", &mut out);
        assert_eq!(w.tool_call(Some(5), "call_a", "f", "", &mut out), 0);
        assert_eq!(w.tool_call(Some(9), "call_b", "g", "", &mut out), 1);
        w.tool_arguments(5, "{}", &mut out);
        w.tool_arguments(7, "lost", &mut out);
        w.set_usage(Usage {
            prompt_tokens: 2,
            completion_tokens: 3,
            ..Usage::default()
        });
        w.close(&mut out);
        w.close(&mut out);
        w.finish(0, "stop", &mut out);
        let evs = events(&out);
        assert_eq!(
            deltas(&evs),
            [
                (json!({"role": "assistant", "content": ""}), Value::Null),
                (json!({"content": "hi"}), Value::Null),
                (
                    json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
                    Value::Null
                ),
                (
                    json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "g", "arguments": ""}}]}),
                    Value::Null
                ),
                (
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
                    Value::Null
                ),
                (json!({}), json!("tool_calls")),
            ]
        );
        let usage = &evs[evs.len() - 2];
        assert_eq!(usage["object"], "chat.completion.chunk");
        assert_eq!(usage["usage"]["total_tokens"], 5);
        assert_eq!(evs.last().unwrap(), "[DONE]");
        assert_eq!(evs[1]["id"], "chatcmpl-1");
        assert!(w.is_done());
    }

    #[test]
    fn role_in_first_delta_per_choice_and_close_finishes_every_open_choice() {
        let mut w = writer(Endpoint::ChatCompletions, false).with_role(RoleStyle::FirstDelta);
        let mut out = BytesMut::new();
        w.delta(1, json!({"content": "b"}), None, &mut out);
        w.delta(1, json!({"content": "c"}), None, &mut out);
        w.add_tool_call(1, None);
        w.finish(0, "length", &mut out);
        w.close(&mut out);
        let evs = events(&out);
        let index = |e: &Value| e["choices"][0]["index"].clone();
        assert_eq!(evs.iter().map(index).collect::<Vec<_>>()[..4], [1, 1, 0, 1]);
        assert_eq!(
            deltas(&evs),
            [
                (json!({"content": "b", "role": "assistant"}), Value::Null),
                (json!({"content": "c"}), Value::Null),
                (json!({"role": "assistant"}), json!("length")),
                (json!({}), json!("tool_calls")),
            ]
        );
        assert_eq!(evs.len(), 5, "no usage chunk unless asked");
    }

    #[test]
    fn completions_write_text_chunks_without_role_or_reasoning() {
        let mut w = writer(Endpoint::Completions, true);
        let mut out = BytesMut::new();
        w.role(&mut out);
        w.reasoning("hmm", &mut out);
        w.content("once", &mut out);
        w.close(&mut out);
        let evs = events(&out);
        assert!(evs[..3].iter().all(|e| e["object"] == "text_completion"));
        let texts: Vec<(Value, Value)> = evs[..2]
            .iter()
            .map(|e| {
                (
                    e["choices"][0]["text"].clone(),
                    e["choices"][0]["finish_reason"].clone(),
                )
            })
            .collect();
        assert_eq!(
            texts,
            [(json!("once"), Value::Null), (json!(""), json!("stop"))]
        );
        assert_eq!(evs[2]["choices"], json!([]));
        assert_eq!(evs[2]["usage"]["total_tokens"], 0);
        assert_eq!(evs.len(), 4);
        let mut chat = writer(Endpoint::Completions, false).chat_only();
        let mut out = BytesMut::new();
        chat.content("x", &mut out);
        assert_eq!(events(&out)[0]["object"], "chat.completion.chunk");
    }
}
