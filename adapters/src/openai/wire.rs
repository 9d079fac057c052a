//! OpenAI wire types shared by every adapter: a typed view of the canonical chat request
//! (messages, content parts, tools) and builders for canonical responses (stream chunks are
//! written by `crate::translator::ChunkWriter`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::response::Usage;
use crate::error::ApiError;

/// One chat message as OpenAI accepts it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// Message content: a string or a list of parts.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl Content {
    /// The text of the content (parts' texts joined), ignoring images.
    pub fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(""),
        }
    }
}

/// One content part.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "type")]
pub enum ContentPart {
    #[serde(rename = "text")]
    Text { text: String },
    #[serde(rename = "image_url")]
    ImageUrl { image_url: ImageUrl },
    /// Any other part type (audio, file, …), kept so an adapter can refuse it by name.
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A tool call made by the assistant.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".to_string()
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as OpenAI sends it.
    #[serde(default)]
    pub arguments: String,
}

/// A tool the model may call.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Tool {
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionDef,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

/// Reads `body[field]` as `T`, or a 400 naming the field.
pub fn field<T: serde::de::DeserializeOwned>(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<T>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::deserialize(v).map(Some).map_err(|e| {
            ApiError::new(
                400,
                "invalid_request_error",
                format!("Invalid '{field}': {e}"),
            )
            .with_param(field)
        }),
    }
}

/// The request's messages, typed.
pub fn messages(body: &Map<String, Value>) -> Result<Vec<ChatMessage>, ApiError> {
    Ok(field(body, "messages")?.unwrap_or_default())
}

/// A `data:` URL split into media type and base64 payload (`data:image/png;base64,AAAA`).
pub fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media = meta.strip_suffix(";base64")?;
    Some((media, data))
}

/// Identity of one translated response, chosen by the gateway (adapters never read the clock
/// for what a response says; `responses::ids` reads it only as entropy for new ids).
#[derive(Debug, Clone, Copy)]
pub struct ResponseMeta<'a> {
    pub id: &'a str,
    pub created: u64,
    /// The model name reported to the client.
    pub model: &'a str,
}

/// A complete `chat.completion` body.
pub fn chat_completion(
    meta: ResponseMeta<'_>,
    content: Option<&str>,
    tool_calls: &[ToolCall],
    finish_reason: &str,
    usage: Usage,
) -> Vec<u8> {
    let mut message = json!({"role": "assistant", "content": content, "refusal": null});
    if !tool_calls.is_empty() {
        message["tool_calls"] = serde_json::to_value(tool_calls).expect("tool calls serialize");
    }
    let body = json!({
        "id": meta.id, "object": "chat.completion", "created": meta.created, "model": meta.model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
        "usage": usage_json(usage),
    });
    serde_json::to_vec(&body).expect("serializing JSON values cannot fail")
}

/// OpenAI's `usage` object; cache reads appear as `prompt_tokens_details.cached_tokens`.
pub fn usage_json(u: Usage) -> Value {
    let mut v = json!({"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                       "total_tokens": u.prompt_tokens + u.completion_tokens});
    if u.cache_read_tokens > 0 {
        v["prompt_tokens_details"] = json!({"cached_tokens": u.cache_read_tokens});
    }
    if u.cache_write_tokens > 0 {
        v["cache_creation_input_tokens"] = json!(u.cache_write_tokens);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_parse_text_parts_images_and_tool_calls() {
        let body = json!({"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "what is"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"}
        ]});
        let msgs = messages(body.as_object().unwrap()).unwrap();
        assert_eq!(msgs.len(), 4);
        assert_eq!(msgs[1].content.as_ref().unwrap().text(), "what is");
        let Some(Content::Parts(parts)) = &msgs[1].content else {
            panic!()
        };
        let ContentPart::ImageUrl { image_url } = &parts[1] else {
            panic!()
        };
        assert_eq!(parse_data_url(&image_url.url), Some(("image/png", "AAAA")));
        assert_eq!(msgs[2].tool_calls.as_ref().unwrap()[0].function.name, "f");
        assert_eq!(msgs[3].tool_call_id.as_deref(), Some("call_1"));
    }

    #[test]
    fn bad_messages_are_a_400_naming_the_field() {
        let body = json!({"messages": [{"content": "no role"}]});
        let e = messages(body.as_object().unwrap()).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.param.as_deref(), Some("messages"));
    }
}
