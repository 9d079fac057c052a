//! The `/v1/responses` bridge's way out for streams: an OpenAI chat-completions SSE stream →
//! the Responses event stream (`response.created`, `response.in_progress`, per output item
//! `response.output_item.added` … `response.output_item.done` with its text, reasoning-summary
//! or function-call-argument deltas, then `response.completed` / `response.incomplete`, or
//! `response.failed` after an `error`). Every event carries its `type` and a strictly increasing
//! `sequence_number`; the stream ends without `[DONE]`, as OpenAI's does.

use bytes::BytesMut;
use serde_json::{json, Map, Value};

use super::response::{
    call_item, item_id, message_item, reasoning_item, set_status, skeleton, status, text_part,
    usage,
};
use crate::error::ApiError;
use crate::sse::{event_data, SseSplitter};

/// The reasoning or message item being streamed (function calls are in
/// [`StreamToResponses::calls`]).
#[derive(Debug)]
enum Open {
    None,
    Reasoning {
        index: usize,
        id: String,
        text: String,
    },
    /// An assistant message; `parts` are (`output_text` or `refusal`, text), the last one open.
    Message {
        index: usize,
        id: String,
        parts: Vec<(&'static str, String)>,
    },
}

/// A function call of the answer.
#[derive(Debug)]
struct Call {
    /// Still streaming (`…done` not sent yet); `None` once done, else the final item status.
    done: Option<&'static str>,
    /// The chat tool-call `index`.
    chat_index: u64,
    index: usize,
    id: String,
    call_id: String,
    name: String,
    args: String,
}

/// Chat-completions SSE → Responses SSE, for one response.
#[derive(Debug)]
pub struct StreamToResponses {
    req: Map<String, Value>,
    id: String,
    created_at: u64,
    splitter: SseSplitter,
    seq: u64,
    started: bool,
    open: Open,
    /// Every function call so far, in output order; only the last one can be open. Items
    /// stream one after another, as OpenAI's do: a new call closes the one before it (a late
    /// argument fragment for a closed call still reaches the final response object).
    calls: Vec<Call>,
    /// Finished reasoning and message items with their output index.
    output: Vec<(usize, Value)>,
    finish: Option<String>,
    usage: Option<Value>,
    /// Usage arrived with or after the finish reason (so it is final).
    final_usage: bool,
    done: bool,
    response: Option<Value>,
}

/// `event: <type>\ndata: <json>\n\n`.
fn frame(event: &Value) -> Vec<u8> {
    let kind = event["type"].as_str().unwrap_or("error");
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    serde_json::to_writer(&mut out, event).expect("JSON values serialize");
    out.extend_from_slice(b"\n\n");
    out
}

/// The Responses `error` event for `err` (`sequence_number` 0: for a stream that has sent
/// nothing else; a started stream ends with [`StreamToResponses::fail`]).
pub fn error_event(err: &ApiError) -> Vec<u8> {
    frame(&json!({
        "type": "error",
        "sequence_number": 0,
        "code": err.code.clone().unwrap_or_else(|| err.kind.clone()),
        "message": err.message,
        "param": err.param,
    }))
}

impl StreamToResponses {
    /// `req` is the client's Responses request (its settings are echoed in the response
    /// objects); `response_id` (`resp_…`) and `created_at` (Unix seconds) are the response's.
    pub fn new(req: &Map<String, Value>, response_id: &str, created_at: u64) -> Self {
        StreamToResponses {
            req: req.clone(),
            id: response_id.to_string(),
            created_at,
            splitter: SseSplitter::new(),
            seq: 0,
            started: false,
            open: Open::None,
            calls: Vec::new(),
            output: Vec::new(),
            finish: None,
            usage: None,
            final_usage: false,
            done: false,
            response: None,
        }
    }

    /// See [`error_event`].
    pub fn error_event(err: &ApiError) -> Vec<u8> {
        error_event(err)
    }

    /// Feeds chat SSE bytes split anywhere; appends every complete Responses event to `out`.
    /// `Err` only for a chunk that is not JSON (the upstream stream is broken).
    pub fn push(&mut self, openai_sse: &[u8], out: &mut BytesMut) -> Result<(), ApiError> {
        if self.done {
            return Ok(());
        }
        self.splitter.push(openai_sse);
        while let Some(event) = self.splitter.next_event() {
            self.event(&event, out)?;
            if self.done {
                break;
            }
        }
        Ok(())
    }

    /// The upstream stream ended: closes the open items and sends `response.completed` (or
    /// `response.incomplete`) if the stream has not ended yet. Idempotent.
    pub fn finish(&mut self, out: &mut BytesMut) {
        if let Some(rest) = self.splitter.take_remainder() {
            if !self.done {
                // A truncated last event is dropped when it does not parse.
                let _ = self.event(&rest, out);
            }
        }
        self.complete(out);
    }

    /// The final Responses object, once the stream has ended (completed, incomplete or
    /// failed), for storage.
    pub fn response(&self) -> Option<Value> {
        self.response.clone()
    }

    /// Ends the stream on a failure after it started: an `error` event, then
    /// `response.failed` with the items so far (the open ones `incomplete`). Does nothing
    /// once the stream has ended.
    pub fn fail(&mut self, err: &ApiError, out: &mut BytesMut) {
        if self.done {
            return;
        }
        self.start(out);
        let code = err.code.clone().unwrap_or_else(|| err.kind.clone());
        self.emit(
            out,
            json!({"type": "error", "code": code, "message": err.message, "param": err.param}),
        );
        self.close_open("incomplete", None);
        self.done = true;
        let code = match (err.status, err.kind.as_str()) {
            (429, _) | (_, "rate_limit_error") => "rate_limit_exceeded",
            _ => "server_error",
        };
        let mut r = skeleton(&self.req, &self.id, self.created_at, "failed");
        r.insert(
            "error".into(),
            json!({"code": code, "message": err.message}),
        );
        r.insert("output".into(), self.output());
        if let Some(u) = &self.usage {
            r.insert("usage".into(), u.clone());
        }
        let r = Value::Object(r);
        self.emit(out, json!({"type": "response.failed", "response": r}));
        self.response = Some(r);
    }

    fn emit(&mut self, out: &mut BytesMut, mut event: Value) {
        event["sequence_number"] = json!(self.seq);
        self.seq += 1;
        out.extend_from_slice(&frame(&event));
    }

    fn event(&mut self, event: &[u8], out: &mut BytesMut) -> Result<(), ApiError> {
        let Some(data) = event_data(event) else {
            return Ok(());
        };
        let data = data.trim_ascii();
        if data.is_empty() {
            return Ok(());
        }
        if data == b"[DONE]" {
            self.complete(out);
            return Ok(());
        }
        let chunk: Value = serde_json::from_slice(data).map_err(|e| {
            ApiError::new(
                502,
                "api_error",
                format!("invalid chunk in the provider stream: {e}"),
            )
        })?;
        if let Some(err) = chunk.get("error").filter(|e| !e.is_null()) {
            let message = match err {
                Value::String(s) => s.clone(),
                _ => err["message"]
                    .as_str()
                    .unwrap_or("upstream provider error")
                    .to_string(),
            };
            let kind = err["type"].as_str().unwrap_or("api_error");
            let mut api = ApiError::new(502, kind, message);
            api.code = err["code"].as_str().map(str::to_string);
            self.fail(&api, out);
            return Ok(());
        }
        self.start(out);
        if let Some(choice) = chunk["choices"].get(0) {
            let delta = &choice["delta"];
            if let Some(t) = delta["reasoning_content"]
                .as_str()
                .filter(|t| !t.is_empty())
            {
                self.reasoning(t, out);
            }
            if let Some(t) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                self.message(t, "output_text", out);
            }
            if let Some(t) = delta["refusal"].as_str().filter(|t| !t.is_empty()) {
                self.message(t, "refusal", out);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                self.tool_call(call, out);
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                self.finish = Some(reason.to_string());
                let item_status = match status(Some(reason)).0 {
                    "completed" => "completed",
                    _ => "incomplete",
                };
                self.close_open(item_status, Some(out));
            }
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage(u));
            self.final_usage = self.finish.is_some();
        }
        if self.finish.is_some() && self.final_usage {
            self.complete(out);
        }
        Ok(())
    }

    /// `response.created` and `response.in_progress`, once.
    fn start(&mut self, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        let r = Value::Object(skeleton(
            &self.req,
            &self.id,
            self.created_at,
            "in_progress",
        ));
        self.emit(
            out,
            json!({"type": "response.created", "response": r.clone()}),
        );
        self.emit(out, json!({"type": "response.in_progress", "response": r}));
    }

    /// The output index the next item gets.
    fn next_index(&self) -> usize {
        self.output.len() + self.calls.len() + usize::from(!matches!(self.open, Open::None))
    }

    fn reasoning(&mut self, text: &str, out: &mut BytesMut) {
        if !matches!(self.open, Open::Reasoning { .. }) {
            self.close_open("completed", Some(out));
            let index = self.next_index();
            let id = item_id("rs", &self.id, index);
            self.emit(out, json!({"type": "response.output_item.added", "output_index": index, "item": reasoning_item(&id, None)}));
            self.emit(out, json!({"type": "response.reasoning_summary_part.added", "item_id": id, "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}));
            self.open = Open::Reasoning {
                index,
                id,
                text: String::new(),
            };
        }
        let Open::Reasoning { index, id, text: t } = &mut self.open else {
            unreachable!("opened above")
        };
        t.push_str(text);
        let event = json!({"type": "response.reasoning_summary_text.delta", "item_id": id, "output_index": index, "summary_index": 0, "delta": text});
        self.emit(out, event);
    }

    /// A text (`output_text`) or refusal delta of the assistant message.
    fn message(&mut self, text: &str, kind: &'static str, out: &mut BytesMut) {
        if !matches!(self.open, Open::Message { .. }) {
            self.close_open("completed", Some(out));
            let index = self.next_index();
            let id = item_id("msg", &self.id, index);
            let item = message_item(&id, "in_progress", Vec::new());
            self.emit(
                out,
                json!({"type": "response.output_item.added", "output_index": index, "item": item}),
            );
            self.open = Open::Message {
                index,
                id,
                parts: Vec::new(),
            };
        }
        let Open::Message { index, id, parts } = &self.open else {
            unreachable!("opened above")
        };
        let (index, id) = (*index, id.clone());
        let last = parts.last().map(|(k, _)| (*k, parts.len() - 1));
        if last.is_none_or(|(k, _)| k != kind) {
            if let Some((k, content_index)) = last {
                let text = self.part_text(content_index);
                self.part_done(out, index, &id, content_index, k, &text);
            }
            let Open::Message { parts, .. } = &mut self.open else {
                unreachable!("opened above")
            };
            parts.push((kind, String::new()));
            let content_index = parts.len() - 1;
            let part = part_json(kind, "");
            self.emit(out, json!({"type": "response.content_part.added", "item_id": id, "output_index": index, "content_index": content_index, "part": part}));
        }
        let Open::Message { parts, .. } = &mut self.open else {
            unreachable!("opened above")
        };
        let content_index = parts.len() - 1;
        parts[content_index].1.push_str(text);
        let event = if kind == "refusal" {
            json!({"type": "response.refusal.delta", "item_id": id, "output_index": index, "content_index": content_index, "delta": text})
        } else {
            json!({"type": "response.output_text.delta", "item_id": id, "output_index": index, "content_index": content_index, "delta": text, "logprobs": []})
        };
        self.emit(out, event);
    }

    /// The text of part `content_index` of the open message.
    fn part_text(&self, content_index: usize) -> String {
        match &self.open {
            Open::Message { parts, .. } => parts[content_index].1.clone(),
            _ => String::new(),
        }
    }

    /// `…text.done` / `refusal.done` and `content_part.done` of one message part.
    fn part_done(
        &mut self,
        out: &mut BytesMut,
        index: usize,
        id: &str,
        content_index: usize,
        kind: &str,
        text: &str,
    ) {
        let done = if kind == "refusal" {
            json!({"type": "response.refusal.done", "item_id": id, "output_index": index, "content_index": content_index, "refusal": text})
        } else {
            json!({"type": "response.output_text.done", "item_id": id, "output_index": index, "content_index": content_index, "text": text, "logprobs": []})
        };
        self.emit(out, done);
        let part = part_json(kind, text);
        self.emit(out, json!({"type": "response.content_part.done", "item_id": id, "output_index": index, "content_index": content_index, "part": part}));
    }

    /// One chat tool-call delta: a new `index` starts a `function_call` item, later deltas of
    /// the same index stream its arguments.
    fn tool_call(&mut self, call: &Value, out: &mut BytesMut) {
        let chat_index = match call["index"].as_u64() {
            Some(i) => i,
            None if call.get("id").is_none() && !self.calls.is_empty() => {
                self.calls.last().expect("not empty").chat_index
            }
            None => self.calls.len() as u64,
        };
        let f = &call["function"];
        let pos = match self.calls.iter().position(|c| c.chat_index == chat_index) {
            Some(pos) => pos,
            None => {
                self.close_open("completed", Some(out));
                let index = self.next_index();
                let call_id = match call["id"].as_str().filter(|i| !i.is_empty()) {
                    Some(id) => id.to_string(),
                    None => item_id("call", &self.id, index),
                };
                let c = Call {
                    done: None,
                    chat_index,
                    index,
                    id: item_id("fc", &self.id, index),
                    call_id,
                    name: f["name"].as_str().unwrap_or_default().to_string(),
                    args: String::new(),
                };
                let item = call_item(&c.id, &c.call_id, &c.name, "", "in_progress");
                self.emit(out, json!({"type": "response.output_item.added", "output_index": index, "item": item}));
                self.calls.push(c);
                self.calls.len() - 1
            }
        };
        let c = &mut self.calls[pos];
        if c.name.is_empty() {
            c.name = f["name"].as_str().unwrap_or_default().to_string();
        }
        if let Some(args) = f["arguments"].as_str().filter(|a| !a.is_empty()) {
            c.args.push_str(args);
            if c.done.is_none() {
                let event = json!({"type": "response.function_call_arguments.delta", "item_id": c.id, "output_index": c.index, "delta": args});
                self.emit(out, event);
            }
        }
    }

    /// Closes the open reasoning or message item (`…done` events when `out` is given) and
    /// moves it to the output.
    fn close_item(&mut self, item_status: &str, mut out: Option<&mut BytesMut>) {
        match std::mem::replace(&mut self.open, Open::None) {
            Open::None => {}
            Open::Reasoning { index, id, text } => {
                if let Some(out) = out.as_deref_mut() {
                    self.emit(out, json!({"type": "response.reasoning_summary_text.done", "item_id": id, "output_index": index, "summary_index": 0, "text": text}));
                    self.emit(out, json!({"type": "response.reasoning_summary_part.done", "item_id": id, "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": text}}));
                }
                self.finish_item(index, reasoning_item(&id, Some(&text)), out);
            }
            Open::Message { index, id, parts } => {
                if let Some(out) = out.as_deref_mut() {
                    if let Some((k, t)) = parts.last() {
                        self.part_done(out, index, &id, parts.len() - 1, k, t);
                    }
                }
                let content = parts.iter().map(|(k, t)| part_json(k, t)).collect();
                self.finish_item(index, message_item(&id, item_status, content), out);
            }
        }
    }

    /// Closes every open item: the reasoning or message item, then the function calls in
    /// output order (`…done` events when `out` is given).
    fn close_open(&mut self, item_status: &'static str, mut out: Option<&mut BytesMut>) {
        self.close_item(item_status, out.as_deref_mut());
        let Some(c) = self.calls.last_mut().filter(|c| c.done.is_none()) else {
            return;
        };
        c.done = Some(item_status);
        let (index, done, item) = (
            c.index,
            json!({"type": "response.function_call_arguments.done", "item_id": c.id, "output_index": c.index, "name": c.name, "arguments": c.args}),
            call_item(&c.id, &c.call_id, &c.name, &c.args, item_status),
        );
        if let Some(out) = out {
            self.emit(out, done);
            self.emit(
                out,
                json!({"type": "response.output_item.done", "output_index": index, "item": item}),
            );
        }
    }

    /// `response.output_item.done` (when `out` is given); the item joins the output.
    fn finish_item(&mut self, index: usize, item: Value, out: Option<&mut BytesMut>) {
        if let Some(out) = out {
            self.emit(out, json!({"type": "response.output_item.done", "output_index": index, "item": item.clone()}));
        }
        self.output.push((index, item));
    }

    /// The finished items in output order.
    fn output(&self) -> Value {
        let calls = self.calls.iter().map(|c| {
            let status = c.done.unwrap_or("incomplete");
            let item = call_item(&c.id, &c.call_id, &c.name, &c.args, status);
            (c.index, item)
        });
        let mut items: Vec<(usize, Value)> = self.output.iter().cloned().chain(calls).collect();
        items.sort_by_key(|(i, _)| *i);
        Value::Array(items.into_iter().map(|(_, v)| v).collect())
    }

    /// `response.completed` (or `response.incomplete`) with the whole response, once.
    fn complete(&mut self, out: &mut BytesMut) {
        if self.done {
            return;
        }
        self.start(out);
        let item_status = match status(self.finish.as_deref()).0 {
            "completed" => "completed",
            _ => "incomplete",
        };
        self.close_open(item_status, Some(out));
        self.done = true;
        let mut r = skeleton(&self.req, &self.id, self.created_at, "completed");
        set_status(&mut r, self.finish.as_deref());
        r.insert("output".into(), self.output());
        if let Some(u) = &self.usage {
            r.insert("usage".into(), u.clone());
        }
        let kind = match r["status"].as_str() {
            Some("incomplete") => "response.incomplete",
            _ => "response.completed",
        };
        let r = Value::Object(r);
        self.emit(out, json!({"type": kind, "response": r}));
        self.response = Some(r);
    }
}

/// A message content part.
fn part_json(kind: &str, text: &str) -> Value {
    if kind == "refusal" {
        json!({"type": "refusal", "refusal": text})
    } else {
        text_part(text)
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
