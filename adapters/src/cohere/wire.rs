//! Cohere v2 wire types: the `/v2/chat` and `/v2/embed` request bodies, the chat reply, the chat
//! SSE events and the embed reply.
//!
//! Wire quirks this adapter relies on (Cohere API v2, docs.cohere.com/reference/chat, chat-stream,
//! embed, and the streaming / tool-use-streaming guides):
//! - Messages are OpenAI-like (`system|user|assistant|tool`, `tool_calls` with JSON-text
//!   `arguments`, `tool_call_id`), and `tools` take OpenAI's function format unchanged.
//! - Sampling names differ: `top_p` is `p`, `top_k` is `k`, `stop` is `stop_sequences` (always a
//!   list). `tool_choice` is only `"REQUIRED"` or `"NONE"` (absent means auto); a named function
//!   is expressed here by sending only that tool with `"REQUIRED"`.
//! - `response_format` is `{"type":"json_object"}`, with the schema directly under
//!   `json_schema` (not OpenAI's `json_schema.schema`).
//! - An assistant turn that calls tools carries its text as `tool_plan`, not `content`; replies do
//!   the same, so `tool_plan` is the OpenAI `content` both ways (and streams as
//!   `tool-plan-delta`). Thinking models return `{"type":"thinking","thinking":..}` content items
//!   (→ `reasoning_content`).
//! - Replies: `message.content` is a list of `{"type":"text","text"}`; `finish_reason` is
//!   `COMPLETE | STOP_SEQUENCE | MAX_TOKENS | TOOL_CALL | ERROR | TIMEOUT`; `usage` has both
//!   `billed_units` (what Cohere charges, used here) and `tokens` (raw, the fallback).
//! - Streams are SSE with an `event:` line and a `data:` JSON whose `type` repeats the event name;
//!   `message-end` (with `finish_reason`, `usage` and, on `ERROR`, `error` under `delta`) is the
//!   last event (a trailing `data: [DONE]` is tolerated). Citation and debug events are ignored.
//!   Each `tool-call-delta` carries one `tool_calls` object (not a list) with an argument fragment.
//! - Embeddings need `input_type` and `embedding_types`; vectors come back per type
//!   (`embeddings.float`), token counts under `meta.billed_units.input_tokens`.
//! - Errors are `{"id"?, "message"}`; too-long prompts are a 400 "too many tokens: …".

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::openai::wire::{ImageUrl, ToolCall};

/// `POST /v2/chat`.
#[derive(Debug, Clone, Serialize)]
pub struct ChatRequest<'a> {
    pub model: &'a str,
    pub messages: Vec<Message>,
    /// Always written (Cohere requires it).
    pub stream: bool,
    /// Mapped parameters (`max_tokens`, `p`, `k`, `stop_sequences`, `tools`, `tool_choice`, …).
    #[serde(flatten)]
    pub params: Map<String, Value>,
}

/// One `/v2/chat` message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Message {
    pub role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    /// An assistant turn's text before its tool calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_plan: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// A message's content: a string, or parts (user turns with images).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

/// `POST /v2/embed`.
#[derive(Debug, Clone, Serialize)]
pub struct EmbedRequest<'a> {
    pub model: &'a str,
    pub texts: Vec<&'a str>,
    pub input_type: &'a str,
    pub embedding_types: [&'static str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dimension: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncate: Option<&'a Value>,
}

/// The `/v2/chat` reply.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChatReply {
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub message: ReplyMessage,
    #[serde(default)]
    pub usage: Option<CohereUsage>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReplyMessage {
    #[serde(default)]
    pub content: Vec<ContentItem>,
    #[serde(default)]
    pub tool_plan: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<ReplyToolCall>,
}

/// One reply content item (`text`, `thinking`, or a kind this adapter ignores).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContentItem {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub thinking: Option<String>,
}

/// A reply tool call; `arguments` is JSON text (an object is tolerated).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReplyToolCall {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub function: ReplyFunction,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReplyFunction {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub arguments: Value,
}

/// `usage` of a chat reply or `message-end` event.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct CohereUsage {
    #[serde(default)]
    pub billed_units: Option<Tokens>,
    #[serde(default)]
    pub tokens: Option<Tokens>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Tokens {
    #[serde(default)]
    pub input_tokens: Option<f64>,
    #[serde(default)]
    pub output_tokens: Option<f64>,
}

/// One chat SSE event (`data:` JSON, tagged by `type`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum StreamEvent {
    MessageStart {},
    ContentStart {
        #[serde(default)]
        delta: Option<Delta>,
    },
    ContentDelta {
        #[serde(default)]
        delta: Option<Delta>,
    },
    ContentEnd {},
    ToolPlanDelta {
        #[serde(default)]
        delta: Option<Delta>,
    },
    ToolCallStart {
        #[serde(default)]
        index: usize,
        #[serde(default)]
        delta: Option<Delta>,
    },
    ToolCallDelta {
        #[serde(default)]
        index: usize,
        #[serde(default)]
        delta: Option<Delta>,
    },
    ToolCallEnd {},
    MessageEnd {
        #[serde(default)]
        delta: Option<EndDelta>,
    },
    /// `citation-start`, `citation-end`, `debug`, and anything newer.
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Delta {
    #[serde(default)]
    pub message: Option<DeltaMessage>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeltaMessage {
    /// An object in deltas (`message-start` has a list, but its delta is not read).
    #[serde(default)]
    pub content: Option<DeltaContent>,
    #[serde(default)]
    pub tool_plan: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<DeltaToolCall>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeltaContent {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub thinking: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeltaToolCall {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<DeltaFunction>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeltaFunction {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EndDelta {
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<CohereUsage>,
    /// Set with `finish_reason: "ERROR"`.
    #[serde(default)]
    pub error: Option<String>,
}

/// The `/v2/embed` reply (only float vectors are asked for).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EmbedReply {
    #[serde(default)]
    pub embeddings: EmbeddingsByType,
    #[serde(default)]
    pub meta: Option<EmbedMeta>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EmbeddingsByType {
    #[serde(default)]
    pub float: Vec<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EmbedMeta {
    #[serde(default)]
    pub billed_units: Option<Tokens>,
}

impl StreamEvent {
    /// The `delta.message` of an event that has one.
    pub fn message(&self) -> Option<&DeltaMessage> {
        match self {
            StreamEvent::ContentStart { delta }
            | StreamEvent::ContentDelta { delta }
            | StreamEvent::ToolPlanDelta { delta }
            | StreamEvent::ToolCallStart { delta, .. }
            | StreamEvent::ToolCallDelta { delta, .. } => delta.as_ref()?.message.as_ref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_by_type_and_ignore_extra_fields() {
        let ev: StreamEvent = serde_json::from_str(
            r#"{"type":"content-end","index":0,"delta":{"message":{"content":{}}}}"#,
        )
        .unwrap();
        assert!(matches!(ev, StreamEvent::ContentEnd {}));
        let ev: StreamEvent =
            serde_json::from_str(r#"{"type":"citation-start","index":0,"delta":{}}"#).unwrap();
        assert!(matches!(ev, StreamEvent::Other));
        let ev: StreamEvent = serde_json::from_str(
            r#"{"type":"tool-call-delta","index":1,"delta":{"message":{"tool_calls":{"function":{"arguments":"{\""}}}}}"#,
        )
        .unwrap();
        let StreamEvent::ToolCallDelta { index, .. } = &ev else {
            panic!("{ev:?}")
        };
        assert_eq!(*index, 1);
        let args = ev.message().unwrap().tool_calls.as_ref().unwrap();
        assert_eq!(
            args.function.as_ref().unwrap().arguments.as_deref(),
            Some("{\"")
        );
    }

    #[test]
    fn message_start_with_list_content_parses() {
        let ev: StreamEvent = serde_json::from_str(
            r#"{"id":"x","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}"#,
        )
        .unwrap();
        assert!(matches!(ev, StreamEvent::MessageStart {}));
    }
}
