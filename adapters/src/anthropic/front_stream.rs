//! The front door's way out for streams: canonical OpenAI SSE → Anthropic Messages SSE events.

use bytes::BytesMut;
use serde_json::{json, Value};

use super::wire::{
    AnthropicUsage, BlockDelta, ContentBlock, DeltaUsage, ErrorBody, MessageDeltaBody, StreamEvent,
};

use super::front_response::*;
use crate::error::ApiError;
use crate::sse::{event_data, SseSplitter};

/// The open content block of a [`StreamToAnthropic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Text(usize),
    Thinking(usize),
    /// A tool_use block (its content block index).
    Tool(usize),
}

/// Canonical OpenAI SSE → Anthropic Messages SSE (`message_start`, content blocks,
/// `message_delta`, `message_stop`; a stream `error` becomes an Anthropic `error` event).
#[derive(Debug)]
pub struct StreamToAnthropic {
    model: String,
    id: String,
    splitter: SseSplitter,
    started: bool,
    open: Open,
    next_block: usize,
    /// (OpenAI tool-call index, content block index) of every tool_use block started.
    tools: Vec<(u64, usize)>,
    finish: Option<String>,
    usage: Option<AnthropicUsage>,
    /// Usage arrived with or after the finish reason (so it is final).
    final_usage: bool,
    done: bool,
}

fn emit(out: &mut BytesMut, event: &StreamEvent) {
    out.extend_from_slice(&event.to_sse());
}

impl StreamToAnthropic {
    /// `message_id` is the Anthropic id reported to the client (`msg_…`).
    pub fn new(requested_model: &str, message_id: &str) -> Self {
        StreamToAnthropic {
            model: requested_model.to_string(),
            id: message_id.to_string(),
            splitter: SseSplitter::new(),
            started: false,
            open: Open::None,
            next_block: 0,
            tools: Vec::new(),
            finish: None,
            usage: None,
            final_usage: false,
            done: false,
        }
    }

    /// Feeds canonical SSE bytes split anywhere; appends every complete Anthropic event to `out`.
    /// `Err` only for a chunk that is not JSON (the canonical stream is broken).
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

    /// The canonical stream ended: closes any open block and sends `message_delta` and
    /// `message_stop` if they were not sent yet.
    pub fn finish(&mut self, out: &mut BytesMut) {
        if let Some(rest) = self.splitter.take_remainder() {
            if !self.done {
                // A truncated final event is skipped when it does not parse.
                let _ = self.event(&rest, out);
            }
        }
        self.close_message(out);
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
            self.close_message(out);
            return Ok(());
        }
        let chunk: Value = serde_json::from_slice(data)
            .map_err(|e| upstream_bad(format!("invalid chunk in the provider stream: {e}")))?;
        if let Some(err) = chunk.get("error").filter(|e| !e.is_null()) {
            self.error(err, out);
            return Ok(());
        }
        self.start(out);
        if let Some(choice) = chunk["choices"].get(0) {
            let delta = &choice["delta"];
            if let Some(thinking) = delta["reasoning_content"]
                .as_str()
                .filter(|t| !t.is_empty())
            {
                self.thinking(thinking, out);
            }
            if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                self.text(text, out);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                self.tool_call(call, out);
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                self.close_block(out);
                self.finish = Some(reason.to_string());
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(anthropic_usage(usage));
            self.final_usage = self.finish.is_some();
        }
        if self.finish.is_some() && self.final_usage {
            self.close_message(out);
        }
        Ok(())
    }

    fn start(&mut self, out: &mut BytesMut) {
        if !self.started {
            self.started = true;
            let message = message(
                self.id.clone(),
                &self.model,
                Vec::new(),
                None,
                AnthropicUsage::default(),
            );
            emit(out, &StreamEvent::MessageStart { message });
        }
    }

    fn open_block(&mut self, content_block: ContentBlock, out: &mut BytesMut) -> usize {
        self.close_block(out);
        let index = self.next_block;
        self.next_block += 1;
        emit(
            out,
            &StreamEvent::ContentBlockStart {
                index,
                content_block,
            },
        );
        index
    }

    fn close_block(&mut self, out: &mut BytesMut) {
        let (Open::Text(index) | Open::Thinking(index) | Open::Tool(index)) = self.open else {
            return;
        };
        self.open = Open::None;
        emit(out, &StreamEvent::ContentBlockStop { index });
    }

    fn text(&mut self, text: &str, out: &mut BytesMut) {
        let index = match self.open {
            Open::Text(index) => index,
            _ => {
                let index = self.open_block(ContentBlock::text(""), out);
                self.open = Open::Text(index);
                index
            }
        };
        let delta = BlockDelta::TextDelta { text: text.into() };
        emit(out, &StreamEvent::ContentBlockDelta { index, delta });
    }

    fn thinking(&mut self, thinking: &str, out: &mut BytesMut) {
        let index = match self.open {
            Open::Thinking(index) => index,
            _ => {
                let index = self.open_block(thinking_block(""), out);
                self.open = Open::Thinking(index);
                index
            }
        };
        let delta = BlockDelta::ThinkingDelta {
            thinking: thinking.into(),
        };
        emit(out, &StreamEvent::ContentBlockDelta { index, delta });
    }

    /// One OpenAI tool-call delta: a new index starts a tool_use block, later deltas of the same
    /// index stream its argument fragments as `input_json_delta`.
    fn tool_call(&mut self, call: &Value, out: &mut BytesMut) {
        let current = self
            .tools
            .last()
            .filter(|(_, b)| self.open == Open::Tool(*b));
        let call_index = match (call["index"].as_u64(), current) {
            (Some(i), _) => i,
            (None, Some(&(i, _))) if call.get("id").is_none() => i,
            (None, _) => self.tools.len() as u64,
        };
        let index = match self.tools.iter().find(|(c, _)| *c == call_index) {
            // A delta for an earlier, already closed call goes to its block (best effort).
            Some(&(_, block)) => block,
            None => {
                let id = match call["id"].as_str() {
                    Some(id) => id.to_string(),
                    None => format!("toolu_{}_{call_index}", self.id.trim_start_matches("msg_")),
                };
                let name = call["function"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let start = ContentBlock::ToolUse {
                    id,
                    name,
                    input: json!({}),
                    cache_control: None,
                };
                let block = self.open_block(start, out);
                self.open = Open::Tool(block);
                self.tools.push((call_index, block));
                block
            }
        };
        if let Some(args) = call["function"]["arguments"]
            .as_str()
            .filter(|a| !a.is_empty())
        {
            let delta = BlockDelta::InputJsonDelta {
                partial_json: args.into(),
            };
            emit(out, &StreamEvent::ContentBlockDelta { index, delta });
        }
    }

    fn close_message(&mut self, out: &mut BytesMut) {
        if self.done {
            return;
        }
        self.start(out);
        self.close_block(out);
        self.done = true;
        let reason = stop_reason(self.finish.as_deref(), !self.tools.is_empty());
        let u = self.usage.take().unwrap_or_default();
        let usage = DeltaUsage {
            output_tokens: u.output_tokens,
            input_tokens: Some(u.input_tokens),
            cache_creation_input_tokens: u.cache_creation_input_tokens,
            cache_read_input_tokens: u.cache_read_input_tokens,
        };
        let delta = MessageDeltaBody {
            stop_reason: Some(reason.into()),
            stop_sequence: None,
        };
        emit(out, &StreamEvent::MessageDelta { delta, usage });
        emit(out, &StreamEvent::MessageStop);
    }

    /// An OpenAI stream error → an Anthropic `error` event; the stream ends there.
    fn error(&mut self, err: &Value, out: &mut BytesMut) {
        let message = match err {
            Value::String(s) => s.clone(),
            _ => err["message"]
                .as_str()
                .unwrap_or("upstream provider error")
                .to_string(),
        };
        let kind = err["type"]
            .as_str()
            .filter(|k| ANTHROPIC_ERROR_TYPES.contains(k))
            .unwrap_or("api_error");
        emit(
            out,
            &StreamEvent::Error {
                error: ErrorBody {
                    kind: kind.into(),
                    message,
                },
            },
        );
        self.done = true;
    }
}
