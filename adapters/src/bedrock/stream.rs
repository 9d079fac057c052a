//! ConverseStream (AWS event-stream binary framing) → OpenAI `chat.completion.chunk` events:
//! frames decoded incrementally across any byte split, text and reasoning deltas, tool calls with
//! streamed argument fragments, the finish chunk, the optional usage chunk and `[DONE]`;
//! `exception` and `error` messages become errors.

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::BytesMut;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::error::from_exception;
use super::response::{finish_reason, usage};
use super::wire::{
    ContentBlockDeltaEvent, ContentBlockStartEvent, MessageStopEvent, MetadataEvent, TokenUsage,
};
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::{chunk_event, usage_event, ResponseMeta, DONE_EVENT};
use crate::request::CanonicalRequest;
use crate::target::Target;
use crate::translator::ToOpenAiStream;

/// Translates one ConverseStream body. Feed it bytes split anywhere.
pub struct Translator {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    buf: BytesMut,
    decoder: MessageFrameDecoder,
    /// The role chunk has been sent.
    started: bool,
    /// `(contentBlockIndex, OpenAI tool call index)` for each `toolUse` block.
    tool_blocks: Vec<(usize, usize)>,
    usage: Option<TokenUsage>,
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
            buf: BytesMut::new(),
            decoder: MessageFrameDecoder::new(),
            started: false,
            tool_blocks: Vec::new(),
            usage: None,
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

    /// Handles one decoded event-stream message.
    fn message(&mut self, msg: &Message, out: &mut BytesMut) -> Result<(), ApiError> {
        let payload = msg.payload().as_ref();
        match header(msg, ":message-type").unwrap_or("event") {
            "event" => {}
            "exception" => {
                let kind = header(msg, ":exception-type").unwrap_or("internalServerException");
                return Err(from_exception(kind, payload));
            }
            "error" => {
                // A protocol-level error: the code and message travel in headers.
                let code = header(msg, ":error-code").unwrap_or("internalServerException");
                let text = header(msg, ":error-message").unwrap_or("");
                let body = json!({"message": text}).to_string();
                return Err(from_exception(code, body.as_bytes()));
            }
            other => {
                return Err(ApiError::new(
                    502,
                    "api_error",
                    format!("bedrock sent an event-stream message of unknown type '{other}'"),
                ))
            }
        }
        match header(msg, ":event-type").unwrap_or("") {
            "messageStart" => self.start(out),
            "contentBlockStart" => {
                let ev: ContentBlockStartEvent = parse("contentBlockStart", payload)?;
                if let Some(tu) = ev.start.tool_use {
                    self.start(out);
                    let tool_index = self.tool_blocks.len();
                    self.tool_blocks.push((ev.content_block_index, tool_index));
                    let call = json!({"index": tool_index, "id": tu.tool_use_id, "type": "function",
                                      "function": {"name": tu.name, "arguments": ""}});
                    self.chunk(json!({"tool_calls": [call]}), None, out);
                }
            }
            "contentBlockDelta" => {
                let ev: ContentBlockDeltaEvent = parse("contentBlockDelta", payload)?;
                self.delta(ev, out);
            }
            "messageStop" => {
                let ev: MessageStopEvent = parse("messageStop", payload)?;
                if !self.finish_sent {
                    self.start(out);
                    self.finish_sent = true;
                    let reason = finish_reason(ev.stop_reason.as_deref());
                    self.chunk(json!({}), Some(reason), out);
                }
            }
            "metadata" => {
                let ev: MetadataEvent = parse("metadata", payload)?;
                if let Some(u) = ev.usage {
                    self.usage = Some(u);
                }
                // The last event of a ConverseStream.
                self.close(out);
            }
            // contentBlockStop and any event type added later carry nothing to translate.
            _ => {}
        }
        Ok(())
    }

    fn delta(&mut self, ev: ContentBlockDeltaEvent, out: &mut BytesMut) {
        let d = ev.delta;
        if let Some(text) = d.text.filter(|t| !t.is_empty()) {
            self.start(out);
            self.chunk(json!({"content": text}), None, out);
        }
        if let Some(text) = d.reasoning_content.and_then(|r| r.text) {
            if !text.is_empty() {
                self.start(out);
                self.chunk(json!({"reasoning_content": text}), None, out);
            }
        }
        if let Some(tu) = d.tool_use.filter(|t| !t.input.is_empty()) {
            let index = ev.content_block_index;
            let Some(&(_, tool_index)) = self.tool_blocks.iter().find(|(b, _)| *b == index) else {
                return;
            };
            let call = json!({"index": tool_index, "function": {"arguments": tu.input}});
            self.chunk(json!({"tool_calls": [call]}), None, out);
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

/// A string header's value.
fn header<'m>(msg: &'m Message, name: &str) -> Option<&'m str> {
    msg.headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| match h.value() {
            HeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        })
}

fn parse<T: DeserializeOwned>(event: &str, payload: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(payload).map_err(|e| {
        ApiError::new(
            502,
            "api_error",
            format!("bedrock sent an unreadable {event} event: {e}"),
        )
    })
}

impl ToOpenAiStream for Translator {
    fn push(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), ApiError> {
        if self.done {
            return Ok(());
        }
        self.buf.extend_from_slice(input);
        loop {
            let frame = self.decoder.decode_frame(&mut self.buf).map_err(|e| {
                ApiError::new(
                    502,
                    "api_error",
                    format!("bedrock sent a malformed event-stream frame: {e}"),
                )
            })?;
            let DecodedFrame::Complete(msg) = frame else {
                return Ok(());
            };
            self.message(&msg, out)?;
            if self.done {
                return Ok(());
            }
        }
    }

    fn finish(&mut self, out: &mut BytesMut) -> Result<(), ApiError> {
        // A frame cut off mid-way (the connection dropped) is discarded.
        self.close(out);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        self.usage.as_ref().map(usage)
    }
}
