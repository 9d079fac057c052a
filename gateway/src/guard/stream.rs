//! `post_call` guardrails on a streamed response, in each stream shape the relay writes:
//! OpenAI chunks (`choices[i].delta.content` and each tool call's `function.arguments`),
//! Anthropic native events (`content_block_delta` text and `input_json_delta`), and OpenAI
//! Responses events of a deployment that speaks Responses (`response.output_text.delta`,
//! `response.refusal.delta`, `response.function_call_arguments.delta`), and the reasoning text
//! of each (OpenAI `delta.reasoning_content`, Anthropic `thinking_delta`, Responses
//! `response.reasoning_text.delta` / `response.reasoning_summary_text.delta`). Each text is held back
//! only as far as a pattern can span, checked, masked and released; the events keep their
//! framing (each rewritten event is one whole SSE event), and what is still held when a text
//! ends goes out in its last event (or one made before its end event). Texts repeated whole at
//! their end (Responses `.done` events, `response.completed`) are checked whole. A blocking
//! match ends the stream: the caller writes an error event in the client's API.

use adapters::sse::{event_data, SseSplitter};
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Value};

use super::state::{cut, hits, release, Blocked, GuardState, PostCheck};
use crate::ctx::RequestCtx;

/// Which text a held buffer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// OpenAI: a choice's content.
    Content(usize),
    /// OpenAI: a choice's tool call's arguments (choice, tool call index).
    Tool(usize, usize),
    /// OpenAI: a choice's reasoning text (`reasoning_content`).
    Reasoning(usize),
    /// Anthropic: a content block (text, or a tool's input JSON).
    Block(usize),
    /// Responses: an output item's text or refusal part (output index, content index).
    Part(usize, usize),
    /// Responses: a function call item's arguments (output index).
    Args(usize),
    /// Responses: a reasoning item's summary part (output index, summary index).
    Summary(usize, usize),
}

/// What kind of text a held slot is, for the event that releases it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Generated text (`text_delta`, `response.output_text.delta`).
    Text,
    /// Tool input JSON (`input_json_delta`).
    Json,
    /// Reasoning (`thinking_delta`, `response.reasoning_text.delta`).
    Thinking,
    /// `response.refusal.delta`.
    Refusal,
}

/// Text held back for one slot, and what is needed to make an event releasing it.
struct Held {
    slot: Slot,
    text: String,
    kind: Kind,
    /// Responses: the item's id.
    item_id: Value,
}

/// The filter of one streamed response.
pub struct StreamFilter {
    post: Vec<PostCheck>,
    unmask: Vec<(String, String)>,
    hold: usize,
    splitter: SseSplitter,
    held: Vec<Held>,
    /// Masks made, per post check.
    pub counts: Vec<usize>,
    /// The last OpenAI chunk seen: the template of a chunk made to release held text.
    last: Option<Value>,
    /// Responses: events added so far (later `sequence_number`s move up by this much).
    shift: u64,
    /// Responses: the `sequence_number` of the next event written.
    seq_next: u64,
    /// Responses: the final response as the client got it (checked), for storage.
    pub final_response: Option<Value>,
    /// External `post_call` guardrails: the whole stream is held for them (`stream_ext.rs`).
    pub(super) external: Option<super::stream_ext::External>,
}

impl StreamFilter {
    /// Whether the stream held for external `post_call` guardrails must be checked now: it
    /// ended, or it outgrew what is held (`stream_ext.rs`).
    pub fn external_due(&self, done: bool) -> bool {
        self.external.as_ref().is_some_and(|x| x.due(done))
    }

    /// Runs the external post checks on the held stream: the bytes to send, or the client
    /// error replacing them.
    pub async fn check_external(
        &mut self,
        ctx: &mut RequestCtx,
    ) -> Result<BytesMut, adapters::ApiError> {
        let Some(x) = self.external.as_mut() else {
            return Ok(BytesMut::new());
        };
        let (out, fin) = x.check(ctx).await?;
        if fin.is_some() {
            self.final_response = fin;
        }
        Ok(out)
    }

    pub fn new(state: &GuardState) -> StreamFilter {
        StreamFilter {
            post: state.post.clone(),
            unmask: state.unmask.clone(),
            hold: state.hold(),
            splitter: SseSplitter::new(),
            held: Vec::new(),
            counts: vec![0; state.post.len()],
            last: None,
            shift: 0,
            seq_next: 0,
            final_response: None,
            external: super::stream_ext::External::of(state),
        }
    }

    fn slot(&mut self, slot: Slot) -> &mut Held {
        let at = match self.held.iter().position(|h| h.slot == slot) {
            Some(at) => at,
            None => {
                self.held.push(Held {
                    slot,
                    text: String::new(),
                    kind: Kind::Text,
                    item_id: Value::Null,
                });
                self.held.len() - 1
            }
        };
        &mut self.held[at]
    }

    fn holds(&self, slot: Slot) -> bool {
        self.held
            .iter()
            .any(|h| h.slot == slot && !h.text.is_empty())
    }

    /// Adds `delta` to `slot` and returns what may go out now (everything when `last`).
    fn pass(&mut self, slot: Slot, delta: &str, last: bool) -> Result<String, Blocked> {
        let mut text = std::mem::take(&mut self.slot(slot).text);
        text.push_str(delta);
        let found = hits(&self.post, &text);
        let upto = if last {
            text.len()
        } else {
            cut(&text, self.hold, &found, &self.unmask)
        };
        let out = release(
            &self.post,
            &self.unmask,
            &text,
            &found,
            upto,
            &mut self.counts,
        )?;
        self.slot(slot).text = text[upto..].to_string();
        Ok(out)
    }

    /// Checks a text repeated whole (a `.done` event's); masks are not counted again.
    fn whole(&self, text: &mut String) -> Result<bool, Blocked> {
        let found = hits(&self.post, text);
        if found.is_empty() && !self.unmask.iter().any(|(t, _)| text.contains(t.as_str())) {
            return Ok(false);
        }
        let mut scratch = vec![0; self.post.len()];
        *text = release(
            &self.post,
            &self.unmask,
            text,
            &found,
            text.len(),
            &mut scratch,
        )?;
        Ok(true)
    }

    /// Filters canonical (OpenAI), Anthropic or Responses SSE bytes; `done`: the stream ended.
    /// With external post checks nothing comes out: it is held for [`Self::check_external`].
    pub fn filter(&mut self, input: &[u8], done: bool) -> Result<BytesMut, Blocked> {
        let out = self.filter_local(input, done)?;
        Ok(match self.external.as_mut() {
            Some(x) if x.holding() => {
                x.held.extend_from_slice(&out);
                BytesMut::new()
            }
            _ => out,
        })
    }

    fn filter_local(&mut self, input: &[u8], done: bool) -> Result<BytesMut, Blocked> {
        self.splitter.push(input);
        let mut out = BytesMut::with_capacity(input.len() + 64);
        while let Some(event) = self.splitter.next_event() {
            self.event(event, &mut out)?;
        }
        if done {
            if let Some(rest) = self.splitter.take_remainder() {
                self.event(rest, &mut out)?;
            }
            self.flush_all(&mut out)?;
        }
        Ok(out)
    }

    fn event(&mut self, event: Bytes, out: &mut BytesMut) -> Result<(), Blocked> {
        let Some(data) = event_data(&event) else {
            out.extend_from_slice(&event);
            return Ok(());
        };
        if data.as_ref() == b"[DONE]" {
            self.flush_all(out)?;
            out.extend_from_slice(&event);
            return Ok(());
        }
        let Ok(mut v) = serde_json::from_slice::<Value>(&data) else {
            out.extend_from_slice(&event);
            return Ok(());
        };
        if let Some(kind) = v.get("type").and_then(Value::as_str).map(str::to_string) {
            return if kind.starts_with("response.") {
                self.responses(&kind, v, &event, out)
            } else {
                self.anthropic(&kind, v, &event, out)
            };
        }
        let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) else {
            out.extend_from_slice(&event);
            return Ok(());
        };
        let mut changed = false;
        for c in choices.iter_mut() {
            changed |= self.choice(c)?;
        }
        if changed {
            write_data(out, &v);
        } else {
            out.extend_from_slice(&event);
        }
        self.last = Some(v);
        Ok(())
    }

    /// One OpenAI choice of a chunk: its content and tool call arguments. Whether it changed.
    fn choice(&mut self, c: &mut Value) -> Result<bool, Blocked> {
        let i = c["index"].as_u64().unwrap_or(0) as usize;
        let finished = !c["finish_reason"].is_null();
        let mut changed = false;
        if let Some(calls) = c
            .get_mut("delta")
            .and_then(|d| d.get_mut("tool_calls"))
            .and_then(Value::as_array_mut)
        {
            for call in calls {
                let t = call["index"].as_u64().unwrap_or(0) as usize;
                let Some(f) = call.get_mut("function") else {
                    continue;
                };
                if let Some(a) = f.get("arguments").and_then(Value::as_str) {
                    let a = a.to_string();
                    f["arguments"] = Value::String(self.pass(Slot::Tool(i, t), &a, false)?);
                    changed = true;
                }
            }
        }
        let reasoning = c["delta"]["reasoning_content"].as_str().map(str::to_string);
        let delta = c["delta"]["content"].as_str().map(str::to_string);
        let answering = delta.is_some() || c["delta"]["tool_calls"].is_array();
        // Reasoning ends where the answer starts: what is held of it goes out then.
        if reasoning.is_some() || ((answering || finished) && self.holds(Slot::Reasoning(i))) {
            let last = answering || finished;
            let now = self.pass(Slot::Reasoning(i), reasoning.as_deref().unwrap_or(""), last)?;
            if reasoning.is_some() || !now.is_empty() {
                if !c["delta"].is_object() {
                    c["delta"] = json!({});
                }
                c["delta"]["reasoning_content"] = Value::String(now);
                changed = true;
            }
        }
        if delta.is_some() || finished {
            let now = self.pass(Slot::Content(i), delta.as_deref().unwrap_or(""), finished)?;
            if delta.is_some() || !now.is_empty() {
                if !c["delta"].is_object() {
                    c["delta"] = json!({});
                }
                c["delta"]["content"] = Value::String(now);
                changed = true;
            }
        }
        if finished {
            // What is held of each tool call goes out with the finish.
            let tools: Vec<usize> = self
                .held
                .iter()
                .filter_map(|h| match h.slot {
                    Slot::Tool(ci, t) if ci == i && !h.text.is_empty() => Some(t),
                    _ => None,
                })
                .collect();
            for t in tools {
                let rest = self.pass(Slot::Tool(i, t), "", true)?;
                if !c["delta"].is_object() {
                    c["delta"] = json!({});
                }
                if !c["delta"]["tool_calls"].is_array() {
                    c["delta"]["tool_calls"] = json!([]);
                }
                if let Some(a) = c["delta"]["tool_calls"].as_array_mut() {
                    a.push(json!({"index": t, "function": {"arguments": rest}}));
                }
                changed = true;
            }
        }
        Ok(changed)
    }

    /// An Anthropic native event.
    fn anthropic(
        &mut self,
        kind: &str,
        mut v: Value,
        event: &Bytes,
        out: &mut BytesMut,
    ) -> Result<(), Blocked> {
        let i = v["index"].as_u64().unwrap_or(0) as usize;
        match kind {
            "content_block_delta" => {
                let (field, k) = match v["delta"]["type"].as_str() {
                    Some("input_json_delta") => ("partial_json", Kind::Json),
                    Some("thinking_delta") => ("thinking", Kind::Thinking),
                    _ => ("text", Kind::Text),
                };
                if let Some(t) = v["delta"][field].as_str().map(str::to_string) {
                    self.slot(Slot::Block(i)).kind = k;
                    v["delta"][field] = Value::String(self.pass(Slot::Block(i), &t, false)?);
                    write_named(out, kind, &v);
                    return Ok(());
                }
            }
            "content_block_stop" => self.release_slot(Slot::Block(i), out)?,
            _ => {}
        }
        out.extend_from_slice(event);
        Ok(())
    }

    /// A Responses event (a deployment that speaks Responses, passed through).
    fn responses(
        &mut self,
        kind: &str,
        mut v: Value,
        event: &Bytes,
        out: &mut BytesMut,
    ) -> Result<(), Blocked> {
        let o = v["output_index"].as_u64().unwrap_or(0) as usize;
        let c = v["content_index"].as_u64().unwrap_or(0) as usize;
        let s = v["summary_index"].as_u64().unwrap_or(0) as usize;
        let mut changed = false;
        match kind {
            "response.output_text.delta"
            | "response.refusal.delta"
            | "response.function_call_arguments.delta"
            | "response.reasoning_text.delta"
            | "response.reasoning_summary_text.delta" => {
                let (slot, k) = match kind {
                    "response.function_call_arguments.delta" => (Slot::Args(o), Kind::Json),
                    "response.refusal.delta" => (Slot::Part(o, c), Kind::Refusal),
                    "response.reasoning_text.delta" => (Slot::Part(o, c), Kind::Thinking),
                    "response.reasoning_summary_text.delta" => (Slot::Summary(o, s), Kind::Text),
                    _ => (Slot::Part(o, c), Kind::Text),
                };
                if let Some(d) = v["delta"].as_str().map(str::to_string) {
                    let h = self.slot(slot);
                    h.kind = k;
                    h.item_id = v["item_id"].clone();
                    v["delta"] = Value::String(self.pass(slot, &d, false)?);
                    changed = true;
                }
            }
            "response.output_text.done"
            | "response.refusal.done"
            | "response.function_call_arguments.done"
            | "response.reasoning_text.done"
            | "response.reasoning_summary_text.done" => {
                let (slot, field) = match kind {
                    "response.refusal.done" => (Slot::Part(o, c), "refusal"),
                    "response.function_call_arguments.done" => (Slot::Args(o), "arguments"),
                    "response.reasoning_summary_text.done" => (Slot::Summary(o, s), "text"),
                    _ => (Slot::Part(o, c), "text"),
                };
                self.release_slot(slot, out)?;
                if let Some(Value::String(s)) = v.get_mut(field) {
                    changed |= self.whole(s)?;
                }
            }
            "response.content_part.added"
            | "response.content_part.done"
            | "response.reasoning_summary_part.added"
            | "response.reasoning_summary_part.done" => {
                changed |= self.whole_texts(&mut v["part"])?
            }
            "response.output_item.added" | "response.output_item.done" => {
                changed |= self.whole_texts(&mut v["item"])?
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                self.flush_all(out)?;
                changed |= self.whole_texts(&mut v["response"])?;
                self.final_response = Some(v["response"].clone());
            }
            _ => {}
        }
        if let Some(n) = v["sequence_number"].as_u64() {
            if self.shift > 0 {
                v["sequence_number"] = (n + self.shift).into();
                changed = true;
            }
            self.seq_next = n + self.shift + 1;
        }
        if changed {
            write_named(out, kind, &v);
        } else {
            out.extend_from_slice(event);
        }
        Ok(())
    }

    /// Checks every generated text of a response object or item whole. Whether one changed.
    fn whole_texts(&self, v: &mut Value) -> Result<bool, Blocked> {
        let mut changed = false;
        for t in super::text::response_texts(v) {
            changed |= self.whole(t)?;
        }
        Ok(changed)
    }

    /// Releases what `slot` still holds, in an event of its stream's shape.
    fn release_slot(&mut self, slot: Slot, out: &mut BytesMut) -> Result<(), Blocked> {
        let rest = self.pass(slot, "", true)?;
        if rest.is_empty() {
            return Ok(());
        }
        let h = self.slot(slot);
        let (kind, item_id) = (h.kind, h.item_id.clone());
        match slot {
            Slot::Content(i) => self.write_chunk(
                out,
                json!({"index": i, "delta": {"content": rest}, "finish_reason": null}),
            ),
            Slot::Tool(i, t) => self.write_chunk(
                out,
                json!({"index": i, "delta": {"tool_calls": [{"index": t,
                    "function": {"arguments": rest}}]}, "finish_reason": null}),
            ),
            Slot::Reasoning(i) => self.write_chunk(
                out,
                json!({"index": i, "delta": {"reasoning_content": rest}, "finish_reason": null}),
            ),
            Slot::Block(i) => {
                let d = match kind {
                    Kind::Json => json!({"type": "input_json_delta", "partial_json": rest}),
                    Kind::Thinking => json!({"type": "thinking_delta", "thinking": rest}),
                    _ => json!({"type": "text_delta", "text": rest}),
                };
                let e = json!({"type": "content_block_delta", "index": i, "delta": d});
                write_named(out, "content_block_delta", &e);
            }
            Slot::Part(o, _) | Slot::Args(o) | Slot::Summary(o, _) => {
                let name = match (slot, kind) {
                    (Slot::Args(_), _) => "response.function_call_arguments.delta",
                    (Slot::Summary(..), _) => "response.reasoning_summary_text.delta",
                    (_, Kind::Refusal) => "response.refusal.delta",
                    (_, Kind::Thinking) => "response.reasoning_text.delta",
                    _ => "response.output_text.delta",
                };
                let mut e = json!({"type": name, "sequence_number": self.seq_next,
                    "item_id": item_id, "output_index": o, "delta": rest});
                match slot {
                    Slot::Part(_, c) => e["content_index"] = c.into(),
                    Slot::Summary(_, s) => e["summary_index"] = s.into(),
                    _ => {}
                }
                self.seq_next += 1;
                self.shift += 1;
                write_named(out, name, &e);
            }
        }
        Ok(())
    }

    /// An OpenAI chunk carrying one choice, made from the last chunk seen (no usage).
    fn write_chunk(&self, out: &mut BytesMut, choice: Value) {
        let mut t = self
            .last
            .clone()
            .unwrap_or_else(|| json!({"object": "chat.completion.chunk"}));
        t["choices"] = json!([choice]);
        if let Some(o) = t.as_object_mut() {
            o.remove("usage");
        }
        write_data(out, &t);
    }

    /// Releases every held text (the stream ended without an end event for it).
    fn flush_all(&mut self, out: &mut BytesMut) -> Result<(), Blocked> {
        let slots: Vec<Slot> = self
            .held
            .iter()
            .filter(|h| !h.text.is_empty())
            .map(|h| h.slot)
            .collect();
        for s in slots {
            self.release_slot(s, out)?;
        }
        Ok(())
    }
}

fn write_data(out: &mut BytesMut, v: &Value) {
    out.put_slice(b"data: ");
    out.put_slice(&serde_json::to_vec(v).expect("JSON values serialize"));
    out.put_slice(b"\n\n");
}

/// An event with its name line (Anthropic, Responses).
fn write_named(out: &mut BytesMut, name: &str, v: &Value) {
    out.put_slice(b"event: ");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\n");
    write_data(out, v);
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
