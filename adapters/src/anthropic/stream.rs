//! Anthropic Messages SSE stream → OpenAI `chat.completion.chunk` events (written by the shared
//! `ChunkWriter`): text and thinking deltas, tool calls with streamed argument fragments (the
//! JSON-mode tool's as content), the finish reason, usage summed over `message_start` and
//! `message_delta`; in-stream `error` events become errors.

use bytes::BytesMut;
use serde_json::Value;

use super::error::from_event;
use super::request::{json_mode_schema, JSON_TOOL};
use super::response::{arguments_json, finish_reason, usage};
use super::wire::{AnthropicUsage, BlockDelta, ContentBlock, StreamEvent};
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::ResponseMeta;
use crate::request::CanonicalRequest;
use crate::sse::{event_data, SseSplitter};
use crate::target::Target;
use crate::translator::{ChunkWriter, ToOpenAiStream};

/// Translates one Anthropic stream. Feed it bytes split anywhere.
pub struct Translator {
    w: ChunkWriter,
    splitter: SseSplitter,
    /// Usage so far: input tokens from `message_start`, output tokens from `message_delta`.
    usage: Option<AnthropicUsage>,
    /// `response_format` JSON was asked: the forced tool's input streams as content.
    json_mode: bool,
    /// The content block index of that forced tool, once started.
    json_block: Option<usize>,
}

impl Translator {
    pub fn new(req: &CanonicalRequest, t: &Target<'_>, meta: ResponseMeta<'_>) -> Translator {
        let _ = t;
        Translator {
            w: ChunkWriter::new(req, meta).chat_only(),
            splitter: SseSplitter::new(),
            usage: None,
            json_mode: json_mode_schema(&req.body).is_some(),
            json_block: None,
        }
    }

    fn set_usage(&mut self, u: AnthropicUsage) {
        self.w.set_usage(usage(&u));
        self.usage = Some(u);
    }

    /// Handles one complete SSE event.
    fn event(&mut self, raw: &[u8], out: &mut BytesMut) -> Result<(), ApiError> {
        let Some(data) = event_data(raw) else {
            return Ok(());
        };
        let data = data.trim_ascii();
        if data.is_empty() {
            return Ok(());
        }
        let ev: StreamEvent = serde_json::from_slice(data).map_err(|e| {
            if data.windows(7).any(|w| w == b"\"error\"") {
                return from_event(data);
            }
            ApiError::new(
                502,
                "api_error",
                format!("anthropic sent an unreadable stream event: {e}"),
            )
        })?;
        match ev {
            StreamEvent::MessageStart { message } => {
                self.set_usage(message.usage);
                self.w.role(out);
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => self.block_start(index, content_block, out),
            StreamEvent::ContentBlockDelta { index, delta } => self.block_delta(index, delta, out),
            StreamEvent::MessageDelta { delta, usage: u } => {
                let mut total = self.usage.take().unwrap_or_default();
                total.output_tokens = u.output_tokens;
                if let Some(n) = u.input_tokens {
                    total.input_tokens = n;
                }
                if let Some(n) = u.cache_read_input_tokens {
                    total.cache_read_input_tokens = Some(n);
                }
                if let Some(n) = u.cache_creation_input_tokens {
                    total.cache_creation_input_tokens = Some(n);
                }
                self.set_usage(total);
                if delta.stop_reason.is_some() {
                    let mut reason = finish_reason(delta.stop_reason.as_deref());
                    if reason == "tool_calls" && self.w.tool_calls(0) == 0 {
                        reason = "stop"; // only the JSON-mode tool was called
                    }
                    self.w.finish(0, reason, out);
                }
            }
            StreamEvent::MessageStop => self.w.close(out),
            StreamEvent::Error { .. } => return Err(from_event(data)),
            StreamEvent::ContentBlockStop { .. } | StreamEvent::Ping | StreamEvent::Unknown => {}
        }
        Ok(())
    }

    fn block_start(&mut self, index: usize, block: ContentBlock, out: &mut BytesMut) {
        match block {
            ContentBlock::Text { text, .. } => self.w.content(&text, out),
            ContentBlock::Thinking { thinking, .. } => self.w.reasoning(&thinking, out),
            ContentBlock::ToolUse { name, input, .. } if self.json_mode && name == JSON_TOOL => {
                self.w.role(out);
                self.json_block = Some(index);
                if input.as_object().is_some_and(|m| !m.is_empty()) {
                    self.w.content(&arguments_json(&input), out);
                }
            }
            ContentBlock::ToolUse {
                id, name, input, ..
            } => {
                let arguments = match &input {
                    Value::Object(m) if m.is_empty() => String::new(),
                    v => arguments_json(v),
                };
                self.w.tool_call(Some(index), &id, &name, &arguments, out);
            }
            _ => {}
        }
    }

    fn block_delta(&mut self, index: usize, delta: BlockDelta, out: &mut BytesMut) {
        match delta {
            BlockDelta::TextDelta { text } => self.w.content(&text, out),
            BlockDelta::ThinkingDelta { thinking } => self.w.reasoning(&thinking, out),
            BlockDelta::InputJsonDelta { partial_json } if self.json_block == Some(index) => {
                self.w.content(&partial_json, out);
            }
            BlockDelta::InputJsonDelta { partial_json } => {
                self.w.tool_arguments(index, &partial_json, out);
            }
            _ => {}
        }
    }
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
        if !self.w.is_done() {
            if let Some(rest) = self.splitter.take_remainder() {
                // A whole event missing only its blank line is used; one cut off mid-JSON (the
                // connection dropped) is discarded.
                let whole = event_data(&rest)
                    .is_some_and(|d| serde_json::from_slice::<StreamEvent>(&d).is_ok());
                if whole {
                    self.event(&rest, out)?;
                }
            }
        }
        self.w.close(out);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        self.w.usage()
    }
}
