//! Cohere v2 chat SSE stream → canonical OpenAI SSE: the role chunk, text (and tool-plan) and
//! thinking deltas, tool calls (index/id/name first, then argument fragments), the finish chunk
//! from `message-end`, the usage chunk when asked, and `[DONE]`; `text_completion` chunks for
//! `/v1/completions`. An `ERROR` finish or an error body inside the stream becomes an error.

use bytes::BytesMut;
use serde_json::{json, Value};

use super::error::from_message;
use super::response::{finish_reason, usage_of};
use super::wire::StreamEvent;
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::{chunk_event, sse, usage_event, usage_json, ResponseMeta, DONE_EVENT};
use crate::request::{CanonicalRequest, Endpoint};
use crate::sse::{event_data, SseSplitter};
use crate::target::Target;
use crate::translator::ToOpenAiStream;

/// Translates one Cohere `/v2/chat` stream. Feed it bytes split anywhere.
pub struct Translator {
    id: String,
    created: u64,
    model: String,
    /// `/v1/completions`: emit `text_completion` chunks instead of chat chunks.
    completions: bool,
    include_usage: bool,
    splitter: SseSplitter,
    role_sent: bool,
    /// Cohere's tool-call `index` for each OpenAI tool call index.
    tool_calls: Vec<usize>,
    finish_sent: bool,
    done: bool,
    usage: Option<Usage>,
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
            role_sent: false,
            tool_calls: Vec::new(),
            finish_sent: false,
            done: false,
            usage: None,
        }
    }

    fn meta(&self) -> ResponseMeta<'_> {
        ResponseMeta {
            id: &self.id,
            created: self.created,
            model: &self.model,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>, out: &mut BytesMut) {
        out.extend_from_slice(&chunk_event(self.meta(), delta, finish));
    }

    /// A `text_completion` stream chunk.
    fn text_chunk(&self, text: &str, finish: Option<&str>, out: &mut BytesMut) {
        out.extend_from_slice(&sse(&json!({
            "id": self.id, "object": "text_completion", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish}],
        })));
    }

    fn start(&mut self, out: &mut BytesMut) {
        if !self.role_sent && !self.completions {
            self.role_sent = true;
            self.chunk(json!({"role": "assistant", "content": ""}), None, out);
        }
    }

    fn text(&mut self, text: &str, out: &mut BytesMut) {
        if text.is_empty() {
            return;
        }
        self.start(out);
        if self.completions {
            self.text_chunk(text, None, out);
        } else {
            self.chunk(json!({"content": text}), None, out);
        }
    }

    /// Handles one complete SSE event.
    fn event(&mut self, raw: &[u8], out: &mut BytesMut) -> Result<(), ApiError> {
        let Some(data) = event_data(raw) else {
            return Ok(());
        };
        let data = data.trim_ascii();
        if data.is_empty() || data == b"[DONE]" {
            return Ok(());
        }
        let ev: StreamEvent =
            serde_json::from_slice(data).map_err(|e| {
                match serde_json::from_slice::<Value>(data) {
                    Ok(v) => match v.get("message").and_then(Value::as_str) {
                        Some(m) => from_message(500, m),
                        None => unreadable(e),
                    },
                    Err(_) => unreadable(e),
                }
            })?;
        if self.finish_sent {
            return Ok(());
        }
        let message = ev.message();
        match &ev {
            StreamEvent::MessageStart {} => self.start(out),
            StreamEvent::ContentStart { .. } | StreamEvent::ContentDelta { .. } => {
                let content = message.and_then(|m| m.content.as_ref());
                if let Some(thinking) = content.and_then(|c| c.thinking.as_deref()) {
                    if !thinking.is_empty() && !self.completions {
                        self.start(out);
                        self.chunk(json!({"reasoning_content": thinking}), None, out);
                    }
                }
                let text = content.and_then(|c| c.text.as_deref()).unwrap_or_default();
                self.text(text, out);
            }
            StreamEvent::ToolPlanDelta { .. } => {
                let plan = message.and_then(|m| m.tool_plan.as_deref());
                self.text(plan.unwrap_or_default(), out);
            }
            StreamEvent::ToolCallStart { index, .. } if !self.completions => {
                let call = message.and_then(|m| m.tool_calls.as_ref());
                let function = call.and_then(|c| c.function.as_ref());
                let n = self.tool_calls.len();
                self.tool_calls.push(*index);
                let delta = json!({"tool_calls": [{
                    "index": n,
                    "id": call.and_then(|c| c.id.as_deref()).unwrap_or_default(),
                    "type": "function",
                    "function": {
                        "name": function.and_then(|f| f.name.as_deref()).unwrap_or_default(),
                        "arguments": function.and_then(|f| f.arguments.as_deref()).unwrap_or_default(),
                    },
                }]});
                self.start(out);
                self.chunk(delta, None, out);
            }
            StreamEvent::ToolCallDelta { index, .. } if !self.completions => {
                let args = message
                    .and_then(|m| m.tool_calls.as_ref())
                    .and_then(|c| c.function.as_ref())
                    .and_then(|f| f.arguments.as_deref())
                    .unwrap_or_default();
                let Some(n) = self.tool_calls.iter().rposition(|i| i == index) else {
                    return Ok(());
                };
                if !args.is_empty() {
                    let call = json!({"index": n, "function": {"arguments": args}});
                    self.chunk(json!({"tool_calls": [call]}), None, out);
                }
            }
            StreamEvent::MessageEnd { delta } => {
                let delta = delta.clone().unwrap_or_default();
                if delta.usage.is_some() {
                    self.usage = Some(usage_of(delta.usage.as_ref()));
                }
                let reason = finish_reason(
                    delta.finish_reason.as_deref(),
                    !self.tool_calls.is_empty(),
                    delta.error.as_deref(),
                )?;
                self.send_finish(reason, out);
                self.close(out);
            }
            _ => {}
        }
        Ok(())
    }

    fn send_finish(&mut self, reason: &str, out: &mut BytesMut) {
        if self.finish_sent {
            return;
        }
        self.finish_sent = true;
        if self.completions {
            self.text_chunk("", Some(reason), out);
        } else {
            self.start(out);
            self.chunk(json!({}), Some(reason), out);
        }
    }

    /// The closing events: the finish chunk if none was sent, the usage chunk if asked, `[DONE]`.
    fn close(&mut self, out: &mut BytesMut) {
        if self.done {
            return;
        }
        self.done = true;
        let reason = if self.tool_calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        self.send_finish(reason, out);
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
    }
}

fn unreadable(e: serde_json::Error) -> ApiError {
    ApiError::new(
        502,
        "api_error",
        format!("cohere sent an unreadable stream event: {e}"),
    )
}

impl ToOpenAiStream for Translator {
    fn push(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), ApiError> {
        if self.done {
            return Ok(());
        }
        self.splitter.push(input);
        while let Some(ev) = self.splitter.next_event() {
            self.event(&ev, out)?;
            if self.done {
                break;
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut BytesMut) -> Result<(), ApiError> {
        if self.done {
            return Ok(());
        }
        if let Some(rest) = self.splitter.take_remainder() {
            // A whole event missing only its blank line is used; one cut off mid-JSON (the
            // connection dropped) is discarded.
            let whole =
                event_data(&rest).is_some_and(|d| serde_json::from_slice::<Value>(&d).is_ok());
            if whole {
                self.event(&rest, out)?;
            }
        }
        self.close(out);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}
