//! Cohere v2 chat SSE stream → canonical OpenAI SSE (written by the shared `ChunkWriter`): text
//! (and tool-plan) and thinking deltas, tool calls (index/id/name first, then argument
//! fragments), the finish reason and usage from `message-end`; `text_completion` chunks for
//! `/v1/completions`. An `ERROR` finish or an error body inside the stream becomes an error.

use bytes::BytesMut;
use serde_json::Value;

use super::error::from_message;
use super::response::{finish_reason, usage_of};
use super::wire::StreamEvent;
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::ResponseMeta;
use crate::request::CanonicalRequest;
use crate::sse::{event_data, SseSplitter};
use crate::target::Target;
use crate::translator::{ChunkWriter, ToOpenAiStream};

/// Translates one Cohere `/v2/chat` stream. Feed it bytes split anywhere.
pub struct Translator {
    w: ChunkWriter,
    splitter: SseSplitter,
}

impl Translator {
    pub fn new(req: &CanonicalRequest, t: &Target<'_>, meta: ResponseMeta<'_>) -> Translator {
        let _ = t;
        Translator {
            w: ChunkWriter::new(req, meta),
            splitter: SseSplitter::new(),
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
        if self.w.finished(0) {
            return Ok(());
        }
        let message = ev.message();
        match &ev {
            StreamEvent::MessageStart {} => self.w.role(out),
            StreamEvent::ContentStart { .. } | StreamEvent::ContentDelta { .. } => {
                let content = message.and_then(|m| m.content.as_ref());
                let thinking = content.and_then(|c| c.thinking.as_deref());
                self.w.reasoning(thinking.unwrap_or_default(), out);
                let text = content.and_then(|c| c.text.as_deref()).unwrap_or_default();
                self.w.content(text, out);
            }
            StreamEvent::ToolPlanDelta { .. } => {
                let plan = message.and_then(|m| m.tool_plan.as_deref());
                self.w.content(plan.unwrap_or_default(), out);
            }
            StreamEvent::ToolCallStart { index, .. } if !self.w.completions() => {
                let call = message.and_then(|m| m.tool_calls.as_ref());
                let function = call.and_then(|c| c.function.as_ref());
                self.w.tool_call(
                    Some(*index),
                    call.and_then(|c| c.id.as_deref()).unwrap_or_default(),
                    function.and_then(|f| f.name.as_deref()).unwrap_or_default(),
                    function
                        .and_then(|f| f.arguments.as_deref())
                        .unwrap_or_default(),
                    out,
                );
            }
            StreamEvent::ToolCallDelta { index, .. } if !self.w.completions() => {
                let args = message
                    .and_then(|m| m.tool_calls.as_ref())
                    .and_then(|c| c.function.as_ref())
                    .and_then(|f| f.arguments.as_deref())
                    .unwrap_or_default();
                self.w.tool_arguments(*index, args, out);
            }
            StreamEvent::MessageEnd { delta } => {
                let delta = delta.clone().unwrap_or_default();
                if delta.usage.is_some() {
                    self.w.set_usage(usage_of(delta.usage.as_ref()));
                }
                let reason = finish_reason(
                    delta.finish_reason.as_deref(),
                    self.w.tool_calls(0) > 0,
                    delta.error.as_deref(),
                )?;
                self.w.finish(0, reason, out);
                self.w.close(out);
            }
            _ => {}
        }
        Ok(())
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
        if self.w.is_done() {
            return Ok(());
        }
        self.splitter.push(input);
        while let Some(ev) = self.splitter.next_event() {
            self.event(&ev, out)?;
            if self.w.is_done() {
                break;
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut BytesMut) -> Result<(), ApiError> {
        if self.w.is_done() {
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
        self.w.close(out);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        self.w.usage()
    }
}
