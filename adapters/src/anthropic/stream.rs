//! Anthropic Messages SSE stream → OpenAI `chat.completion.chunk` events: text and thinking
//! deltas, tool calls with streamed argument fragments (the JSON-mode tool's as content), the finish chunk, the optional usage
//! chunk and `[DONE]`; in-stream `error` events become errors.

use bytes::BytesMut;
use serde_json::{json, Value};

use super::error::from_event;
use super::request::{json_mode_schema, JSON_TOOL};
use super::response::{arguments_json, finish_reason, usage};
use super::wire::{AnthropicUsage, BlockDelta, ContentBlock, StreamEvent};
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::{chunk_event, usage_event, ResponseMeta, DONE_EVENT};
use crate::request::CanonicalRequest;
use crate::sse::{event_data, SseSplitter};
use crate::target::Target;
use crate::translator::ToOpenAiStream;

/// Translates one Anthropic stream. Feed it bytes split anywhere.
pub struct Translator {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    splitter: SseSplitter,
    /// The role chunk has been sent.
    started: bool,
    /// `(Anthropic content block index, OpenAI tool call index)` for each `tool_use` block.
    tool_blocks: Vec<(usize, usize)>,
    usage: Option<AnthropicUsage>,
    /// `response_format` JSON was asked: the forced tool's input streams as content.
    json_mode: bool,
    /// The content block index of that forced tool, once started.
    json_block: Option<usize>,
    finish_sent: bool,
    done: bool,
}

impl Translator {
    pub fn new(req: &CanonicalRequest, t: &Target<'_>, meta: ResponseMeta<'_>) -> Translator {
        let _ = t;
        Translator {
            id: meta.id.to_string(),
            model: meta.model.to_string(),
            created: meta.created,
            include_usage: req.include_usage,
            splitter: SseSplitter::new(),
            started: false,
            tool_blocks: Vec::new(),
            usage: None,
            json_mode: json_mode_schema(&req.body).is_some(),
            json_block: None,
            finish_sent: false,
            done: false,
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

    fn start(&mut self, out: &mut BytesMut) {
        if !self.started {
            self.started = true;
            self.chunk(json!({"role": "assistant", "content": ""}), None, out);
        }
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
                self.usage = Some(message.usage);
                self.start(out);
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => self.block_start(index, content_block, out),
            StreamEvent::ContentBlockDelta { index, delta } => self.block_delta(index, delta, out),
            StreamEvent::MessageDelta { delta, usage: u } => {
                let total = self.usage.get_or_insert_with(AnthropicUsage::default);
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
                if delta.stop_reason.is_some() && !self.finish_sent {
                    self.start(out);
                    self.finish_sent = true;
                    let mut reason = finish_reason(delta.stop_reason.as_deref());
                    if reason == "tool_calls" && self.tool_blocks.is_empty() {
                        reason = "stop"; // only the JSON-mode tool was called
                    }
                    self.chunk(json!({}), Some(reason), out);
                }
            }
            StreamEvent::MessageStop => self.close(out),
            StreamEvent::Error { .. } => return Err(from_event(data)),
            StreamEvent::ContentBlockStop { .. } | StreamEvent::Ping | StreamEvent::Unknown => {}
        }
        Ok(())
    }

    fn block_start(&mut self, index: usize, block: ContentBlock, out: &mut BytesMut) {
        match block {
            ContentBlock::Text { text, .. } if !text.is_empty() => {
                self.start(out);
                self.chunk(json!({"content": text}), None, out);
            }
            ContentBlock::Thinking { thinking, .. } if !thinking.is_empty() => {
                self.start(out);
                self.chunk(json!({"reasoning_content": thinking}), None, out);
            }
            ContentBlock::ToolUse { name, input, .. } if self.json_mode && name == JSON_TOOL => {
                self.start(out);
                self.json_block = Some(index);
                if input.as_object().is_some_and(|m| !m.is_empty()) {
                    self.chunk(json!({"content": arguments_json(&input)}), None, out);
                }
            }
            ContentBlock::ToolUse {
                id, name, input, ..
            } => {
                self.start(out);
                let tool_index = self.tool_blocks.len();
                self.tool_blocks.push((index, tool_index));
                let arguments = match &input {
                    Value::Object(m) if m.is_empty() => String::new(),
                    v => arguments_json(v),
                };
                let call = json!({"index": tool_index, "id": id, "type": "function",
                                  "function": {"name": name, "arguments": arguments}});
                self.chunk(json!({"tool_calls": [call]}), None, out);
            }
            _ => {}
        }
    }

    fn block_delta(&mut self, index: usize, delta: BlockDelta, out: &mut BytesMut) {
        match delta {
            BlockDelta::TextDelta { text } if !text.is_empty() => {
                self.start(out);
                self.chunk(json!({"content": text}), None, out);
            }
            BlockDelta::ThinkingDelta { thinking } if !thinking.is_empty() => {
                self.start(out);
                self.chunk(json!({"reasoning_content": thinking}), None, out);
            }
            BlockDelta::InputJsonDelta { partial_json }
                if !partial_json.is_empty() && self.json_block == Some(index) =>
            {
                self.chunk(json!({"content": partial_json}), None, out);
            }
            BlockDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                let Some(&(_, tool_index)) = self.tool_blocks.iter().find(|(b, _)| *b == index)
                else {
                    return;
                };
                let call = json!({"index": tool_index, "function": {"arguments": partial_json}});
                self.chunk(json!({"tool_calls": [call]}), None, out);
            }
            _ => {}
        }
    }

    /// The closing events: finish chunk if none was sent, usage chunk if asked, `[DONE]`.
    fn close(&mut self, out: &mut BytesMut) {
        if self.done {
            return;
        }
        self.start(out);
        if !self.finish_sent {
            self.finish_sent = true;
            let reason = if self.tool_blocks.is_empty() {
                "stop"
            } else {
                "tool_calls"
            };
            self.chunk(json!({}), Some(reason), out);
        }
        if self.include_usage {
            let u = self.usage().unwrap_or_default();
            out.extend_from_slice(&usage_event(self.meta(), u));
        }
        out.extend_from_slice(DONE_EVENT);
        self.done = true;
    }
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
        if !self.done {
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
        self.close(out);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        self.usage.as_ref().map(usage)
    }
}
