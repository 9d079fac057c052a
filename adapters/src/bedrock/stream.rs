//! ConverseStream (AWS event-stream binary framing) → OpenAI `chat.completion.chunk` events
//! (written by the shared `ChunkWriter`): frames decoded incrementally across any byte split,
//! text and reasoning deltas, tool calls with streamed argument fragments, the finish reason and
//! usage from `messageStop` and `metadata`; `exception` and `error` messages become errors.

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::BytesMut;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::error::from_exception;
use super::response::{finish_reason, usage};
use super::wire::{
    ContentBlockDeltaEvent, ContentBlockStartEvent, MessageStopEvent, MetadataEvent,
};
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::ResponseMeta;
use crate::request::CanonicalRequest;
use crate::target::Target;
use crate::translator::{ChunkWriter, ToOpenAiStream};

/// Translates one ConverseStream body. Feed it bytes split anywhere.
pub struct Translator {
    w: ChunkWriter,
    buf: BytesMut,
    decoder: MessageFrameDecoder,
}

impl Translator {
    pub fn new(req: &CanonicalRequest, t: &Target<'_>, meta: ResponseMeta<'_>) -> Translator {
        let _ = t;
        Translator {
            w: ChunkWriter::new(req, meta).chat_only(),
            buf: BytesMut::new(),
            decoder: MessageFrameDecoder::new(),
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
            "messageStart" => self.w.role(out),
            "contentBlockStart" => {
                let ev: ContentBlockStartEvent = parse("contentBlockStart", payload)?;
                if let Some(tu) = ev.start.tool_use {
                    let key = Some(ev.content_block_index);
                    self.w.tool_call(key, &tu.tool_use_id, &tu.name, "", out);
                }
            }
            "contentBlockDelta" => {
                let ev: ContentBlockDeltaEvent = parse("contentBlockDelta", payload)?;
                self.delta(ev, out);
            }
            "messageStop" => {
                let ev: MessageStopEvent = parse("messageStop", payload)?;
                self.w
                    .finish(0, finish_reason(ev.stop_reason.as_deref()), out);
            }
            "metadata" => {
                let ev: MetadataEvent = parse("metadata", payload)?;
                if let Some(u) = ev.usage {
                    self.w.set_usage(usage(&u));
                }
                // The last event of a ConverseStream.
                self.w.close(out);
            }
            // contentBlockStop and any event type added later carry nothing to translate.
            _ => {}
        }
        Ok(())
    }

    fn delta(&mut self, ev: ContentBlockDeltaEvent, out: &mut BytesMut) {
        let d = ev.delta;
        if let Some(text) = d.text {
            self.w.content(&text, out);
        }
        if let Some(text) = d.reasoning_content.and_then(|r| r.text) {
            self.w.reasoning(&text, out);
        }
        if let Some(tu) = d.tool_use {
            self.w
                .tool_arguments(ev.content_block_index, &tu.input, out);
        }
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
        if self.w.is_done() {
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
            if self.w.is_done() {
                return Ok(());
            }
        }
    }

    fn finish(&mut self, out: &mut BytesMut) -> Result<(), ApiError> {
        // A frame cut off mid-way (the connection dropped) is discarded.
        self.w.close(out);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        self.w.usage()
    }
}
