//! Ollama wire types: the `/api/chat`, `/api/generate` and `/api/embed` request bodies and the
//! reply objects (one JSON object per reply, or per NDJSON line when streaming).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One `/api/chat` message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Message {
    pub role: String,
    pub content: String,
    /// Base64 image payloads (no `data:` prefix).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For `role: "tool"`: the function whose result this is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
}

/// A tool call as Ollama writes it: arguments are a JSON object, not a string, and there is
/// no id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolCall {
    pub function: FunctionCall,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    #[serde(default)]
    pub arguments: Value,
}

/// `POST /api/chat`.
#[derive(Debug, Clone, Serialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    /// Always written: Ollama streams unless told `false`.
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Value>,
    #[serde(flatten)]
    pub common: Common,
}

/// `POST /api/generate`.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateRequest {
    pub model: String,
    pub prompt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    pub stream: bool,
    #[serde(flatten)]
    pub common: Common,
}

/// Fields `/api/chat` and `/api/generate` share.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Common {
    /// `"json"` or a JSON schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Value>,
    /// Sampling options (`temperature`, `num_predict`, `stop`, …).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub options: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<Value>,
    /// Thinking models: `true`/`false` or an effort level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub think: Option<Value>,
}

/// `POST /api/embed`.
#[derive(Debug, Clone, Serialize)]
pub struct EmbedRequest<'a> {
    pub model: &'a str,
    pub input: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncate: Option<&'a Value>,
}

/// One reply object of `/api/chat` or `/api/generate` (the whole body, or one NDJSON line).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Reply {
    /// `/api/chat`.
    #[serde(default)]
    pub message: Option<ReplyMessage>,
    /// `/api/generate`.
    #[serde(default)]
    pub response: Option<String>,
    /// `/api/generate` with a thinking model.
    #[serde(default)]
    pub thinking: Option<String>,
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub done_reason: Option<String>,
    #[serde(default)]
    pub prompt_eval_count: Option<u64>,
    #[serde(default)]
    pub eval_count: Option<u64>,
    /// An error reported in place of a reply (mid-stream, or a 2xx carrying one).
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReplyMessage {
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub thinking: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
}

impl Reply {
    /// The generated text of this reply, chat or generate.
    pub fn text(&self) -> &str {
        match (&self.message, &self.response) {
            (Some(m), _) => &m.content,
            (None, Some(r)) => r,
            (None, None) => "",
        }
    }

    /// Reasoning text from a thinking model, if any.
    pub fn thinking(&self) -> Option<&str> {
        self.message
            .as_ref()
            .and_then(|m| m.thinking.as_deref())
            .or(self.thinking.as_deref())
            .filter(|t| !t.is_empty())
    }

    pub fn tool_calls(&self) -> &[ToolCall] {
        self.message.as_ref().map_or(&[], |m| &m.tool_calls)
    }

    /// The OpenAI finish reason for a final reply.
    pub fn finish_reason(&self, saw_tool_calls: bool) -> &'static str {
        if saw_tool_calls {
            return "tool_calls";
        }
        match self.done_reason.as_deref() {
            Some("length") => "length",
            _ => "stop",
        }
    }
}

/// `/api/embed` reply.
#[derive(Debug, Clone, Deserialize)]
pub struct EmbedReply {
    #[serde(default)]
    pub embeddings: Vec<Value>,
    #[serde(default)]
    pub prompt_eval_count: Option<u64>,
    #[serde(default)]
    pub error: Option<Value>,
}

/// The message text of an Ollama `error` field (a string, or anything else rendered).
pub fn error_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => match o.get("message") {
            Some(Value::String(s)) => s.clone(),
            _ => v.to_string(),
        },
        other => other.to_string(),
    }
}

/// Compact JSON text of tool-call arguments (a string is passed through: some models emit one).
pub fn arguments_text(args: &Value) -> String {
    match args {
        Value::String(s) => s.clone(),
        Value::Null => "{}".to_string(),
        other => other.to_string(),
    }
}
