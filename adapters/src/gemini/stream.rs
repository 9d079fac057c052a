//! Gemini `streamGenerateContent?alt=sse` → canonical OpenAI SSE: each event is one
//! `GenerateContentResponse` chunk, translated into `chat.completion.chunk` (or
//! `text_completion`) events: role first, text deltas, whole function calls as one tool-call
//! delta each, the finish chunk, then usage (when asked) and `[DONE]`.

use bytes::BytesMut;
use serde_json::{json, Value};

use super::error::{detail, from_detail};
use super::response::{calls_of, finish_of, parse, text_of, tool_call};
use super::wire::GenerateContentResponse;
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::{chunk_event, sse, usage_event, usage_json, ResponseMeta, DONE_EVENT};
use crate::request::{CanonicalRequest, Endpoint};
use crate::sse::{event_data, SseSplitter};
use crate::target::Target;
use crate::translator::ToOpenAiStream;

/// Per-candidate progress (one per OpenAI choice index).
#[derive(Debug, Clone, Default)]
struct ChoiceState {
    role_sent: bool,
    tool_calls: usize,
    finished: bool,
}

/// Translates one Gemini stream; owns everything it needs (no borrows of the request).
#[derive(Debug)]
pub struct Translator {
    id: String,
    created: u64,
    model: String,
    completions: bool,
    include_usage: bool,
    splitter: SseSplitter,
    choices: Vec<ChoiceState>,
    usage: Option<Usage>,
    closed: bool,
}

impl Translator {
    pub fn new(req: &CanonicalRequest, t: &Target<'_>, meta: ResponseMeta<'_>) -> Translator {
        let _ = t;
        Translator {
            id: meta.id.to_string(),
            created: meta.created,
            model: meta.model.to_string(),
            completions: req.endpoint == Endpoint::Completions,
            include_usage: req.include_usage,
            splitter: SseSplitter::new(),
            choices: Vec::new(),
            usage: None,
            closed: false,
        }
    }

    fn meta(&self) -> ResponseMeta<'_> {
        ResponseMeta {
            id: &self.id,
            created: self.created,
            model: &self.model,
        }
    }

    fn state(&mut self, index: usize) -> &mut ChoiceState {
        if self.choices.len() <= index {
            self.choices.resize(index + 1, ChoiceState::default());
        }
        &mut self.choices[index]
    }

    /// One output event for choice `index`: a chat delta, or for `/completions` its `text`.
    fn emit(&mut self, out: &mut BytesMut, index: usize, mut delta: Value, finish: Option<&str>) {
        if self.completions {
            let text = delta.get("content").and_then(Value::as_str).unwrap_or("");
            let ev = sse(&json!({
                "id": self.id, "object": "text_completion", "created": self.created,
                "model": self.model,
                "choices": [{"text": text, "index": index, "logprobs": null, "finish_reason": finish}],
            }));
            out.extend_from_slice(&ev);
            return;
        }
        let st = self.state(index);
        if !st.role_sent {
            st.role_sent = true;
            delta["role"] = json!("assistant");
        }
        let mut ev = chunk_event(self.meta(), delta, finish);
        if index != 0 {
            let mut v: Value = serde_json::from_slice(&ev[6..ev.len() - 2]).expect("our own JSON");
            v["choices"][0]["index"] = json!(index);
            ev = sse(&v);
        }
        out.extend_from_slice(&ev);
    }

    fn on_event(&mut self, event: &[u8], out: &mut BytesMut) -> Result<(), ApiError> {
        let Some(data) = event_data(event) else {
            return Ok(());
        };
        let data = data.trim_ascii();
        if data.is_empty() || data == b"[DONE]" {
            return Ok(());
        }
        if memchr::memmem::find(data, b"\"error\"").is_some() {
            if let Some(d) = detail(data) {
                return Err(from_detail(500, &d));
            }
        }
        let chunk: GenerateContentResponse = parse(data)?;
        self.on_chunk(&chunk, out);
        Ok(())
    }

    fn on_chunk(&mut self, chunk: &GenerateContentResponse, out: &mut BytesMut) {
        if let Some(u) = chunk.usage_metadata {
            self.usage = Some(u.to_usage());
        }
        let blocked = chunk
            .prompt_feedback
            .as_ref()
            .is_some_and(|f| f.block_reason.is_some());
        if chunk.candidates.is_empty() && blocked && !self.state(0).finished {
            self.state(0).finished = true;
            self.emit(out, 0, json!({"content": null}), Some("content_filter"));
        }
        for (pos, cand) in chunk.candidates.iter().enumerate() {
            let index = cand.index.map_or(pos, |i| i as usize);
            if self.state(index).finished {
                continue;
            }
            let text = text_of(cand.content.as_ref());
            if !text.is_empty() {
                self.emit(out, index, json!({ "content": text }), None);
            }
            if !self.completions {
                for call in calls_of(cand.content.as_ref()) {
                    let n = self.state(index).tool_calls;
                    self.state(index).tool_calls += 1;
                    let tc = tool_call(n, call);
                    let delta = json!({"content": null, "tool_calls": [{
                        "index": n, "id": tc.id, "type": "function",
                        "function": {"name": tc.function.name, "arguments": tc.function.arguments},
                    }]});
                    self.emit(out, index, delta, None);
                }
            }
            if let Some(reason) = cand.finish_reason.as_deref() {
                let called = self.state(index).tool_calls > 0;
                self.state(index).finished = true;
                let finish = finish_of(Some(reason), called);
                self.emit(out, index, json!({}), Some(finish));
            }
        }
    }
}

impl ToOpenAiStream for Translator {
    fn push(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), ApiError> {
        self.splitter.push(input);
        while let Some(event) = self.splitter.next_event() {
            self.on_event(&event, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut BytesMut) -> Result<(), ApiError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        if let Some(rest) = self.splitter.take_remainder() {
            self.on_event(&rest, out)?;
        }
        if self.choices.is_empty() {
            self.state(0);
        }
        for index in 0..self.choices.len() {
            if !self.choices[index].finished {
                self.choices[index].finished = true;
                let finish = finish_of(None, self.choices[index].tool_calls > 0);
                self.emit(out, index, json!({}), Some(finish));
            }
        }
        if self.include_usage {
            let usage = self.usage.unwrap_or_default();
            if self.completions {
                out.extend_from_slice(&sse(&json!({
                    "id": self.id, "object": "text_completion", "created": self.created,
                    "model": self.model, "choices": [], "usage": usage_json(usage),
                })));
            } else {
                out.extend_from_slice(&usage_event(self.meta(), usage));
            }
        }
        out.extend_from_slice(DONE_EVENT);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}
