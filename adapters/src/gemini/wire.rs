//! Gemini wire types (`generateContent`, `streamGenerateContent`, embeddings, errors) for both
//! Google AI Studio and Vertex AI, plus the JSON-schema subset Gemini accepts for tool parameters
//! and `responseSchema`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::openai::response::Usage;
use serde::de::DeserializeOwned;

/// One turn: `role` is `user` or `model` (absent in `systemInstruction`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Content {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub parts: Vec<Part>,
}

/// One part; exactly one of the data fields is set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A thinking summary (only with `includeThoughts`); never shown as content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Blob>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse>,
}

impl Part {
    pub fn text(text: impl Into<String>) -> Part {
        Part {
            text: Some(text.into()),
            ..Part::default()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    pub mime_type: String,
    /// Base64.
    pub data: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    pub mime_type: String,
    pub file_uri: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    #[serde(default)]
    pub args: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionResponse {
    pub name: String,
    pub response: Value,
}

/// The `generateContent` / `streamGenerateContent` request body.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    pub contents: Vec<Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDecl>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// LiteLLM's `safety_settings`, passed through unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_settings: Option<Value>,
    /// `temperature`, `topP`, `maxOutputTokens`, … (camelCase keys).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub generation_config: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolDecl {
    pub function_declarations: Vec<FunctionDeclaration>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunctionDeclaration {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    pub function_calling_config: FunctionCallingConfig,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    /// `AUTO`, `ANY` or `NONE`.
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_function_names: Vec<String>,
}

/// A `generateContent` response, or one `alt=sse` stream chunk.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub index: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    #[serde(default)]
    pub block_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct UsageMetadata {
    /// Includes cached and (when present) tool-use prompt tokens.
    pub prompt_token_count: u64,
    pub candidates_token_count: u64,
    pub thoughts_token_count: u64,
    pub tool_use_prompt_token_count: u64,
    pub cached_content_token_count: u64,
}

impl UsageMetadata {
    /// Canonical usage: prompt = prompt + tool-use prompt tokens; completion = candidates +
    /// thoughts (both billed as output); cached content → `cache_read_tokens`.
    pub fn to_usage(self) -> Usage {
        let prompt = self.prompt_token_count + self.tool_use_prompt_token_count;
        let completion = self.candidates_token_count + self.thoughts_token_count;
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            cache_read_tokens: self.cached_content_token_count,
            cache_write_tokens: 0,
        }
    }
}

/// The OpenAI `finish_reason` for a Gemini `finishReason`.
pub fn finish_reason(reason: &str) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            "content_filter"
        }
        _ => "stop",
    }
}

/// The MIME type `fileData` needs, guessed from a URL's extension (`image/jpeg` when unknown).
pub fn mime_from_extension(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("heic") => "image/heic",
        Some("heif") => "image/heif",
        Some("pdf") => "application/pdf",
        Some("mp4") => "video/mp4",
        Some("mp3") => "audio/mpeg",
        Some("wav") => "audio/wav",
        _ => "image/jpeg",
    }
}

/// AI Studio `batchEmbedContents` response.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchEmbedResponse {
    #[serde(default)]
    pub embeddings: Vec<EmbeddingValues>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EmbeddingValues {
    /// Kept as JSON numbers, unchanged.
    #[serde(default)]
    pub values: Vec<Value>,
}

/// Vertex `predict` response for text-embedding models.
#[derive(Debug, Clone, Deserialize)]
pub struct PredictResponse {
    #[serde(default)]
    pub predictions: Vec<Prediction>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Prediction {
    pub embeddings: PredictedEmbedding,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PredictedEmbedding {
    #[serde(default)]
    pub values: Vec<Value>,
    #[serde(default)]
    pub statistics: Option<EmbeddingStatistics>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EmbeddingStatistics {
    #[serde(default)]
    pub token_count: u64,
}

/// The Google error body `{"error":{"code","message","status"}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub status: Option<String>,
}

/// Schema keywords Gemini's `Schema` object accepts. Everything else (`$schema`,
/// `additionalProperties`, `$defs`/`definitions`, `$id`, `$comment`, `examples`, `strict`,
/// `allOf`, `not`, `if`/`then`/`else`, `patternProperties`, `uniqueItems`, `exclusiveMinimum`,
/// `exclusiveMaximum`, `multipleOf`, …) is stripped. `$ref` is inlined from `$defs`/`definitions`,
/// `oneOf` becomes `anyOf`, `const` becomes a one-value `enum`, and a `type` list such as
/// `["string","null"]` becomes `type` + `nullable`.
const SCHEMA_KEYS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// `format` values Gemini accepts on `string` schemas (others are rejected by the API).
const STRING_FORMATS: &[&str] = &["enum", "date-time"];

/// Depth after which `$ref`s are no longer inlined (recursive schemas become plain objects).
const MAX_REF_DEPTH: usize = 8;

/// Rewrites an OpenAI/JSON schema into the subset Gemini accepts.
pub fn clean_schema(schema: &Value) -> Value {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .and_then(Value::as_object);
    clean(schema, defs, 0)
}

fn clean(schema: &Value, defs: Option<&Map<String, Value>>, depth: usize) -> Value {
    let Value::Object(obj) = schema else {
        return schema.clone();
    };
    if let Some(Value::String(r)) = obj.get("$ref") {
        let name = r.rsplit('/').next().unwrap_or_default();
        return match defs.and_then(|d| d.get(name)) {
            Some(target) if depth < MAX_REF_DEPTH => clean(target, defs, depth + 1),
            _ => serde_json::json!({"type": "object"}),
        };
    }
    let mut out = Map::new();
    for (k, v) in obj {
        match k.as_str() {
            "properties" => {
                if let Value::Object(props) = v {
                    let props = props
                        .iter()
                        .map(|(name, s)| (name.clone(), clean(s, defs, depth)))
                        .collect();
                    out.insert(k.clone(), Value::Object(props));
                }
            }
            "items" => {
                out.insert(k.clone(), clean(v, defs, depth));
            }
            "anyOf" | "oneOf" => {
                if let Value::Array(list) = v {
                    let list = list.iter().map(|s| clean(s, defs, depth)).collect();
                    out.insert("anyOf".to_string(), Value::Array(list));
                }
            }
            "const" => {
                out.insert("enum".to_string(), Value::Array(vec![v.clone()]));
            }
            "type" => set_type(&mut out, v),
            _ if SCHEMA_KEYS.contains(&k.as_str()) => {
                out.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    let is_string = out.get("type").and_then(Value::as_str) == Some("string");
    if let (true, Some(Value::String(f))) = (is_string, out.get("format")) {
        if !STRING_FORMATS.contains(&f.as_str()) {
            out.remove("format");
        }
    }
    Value::Object(out)
}

/// `type` as Gemini wants it: one type, with `nullable` for a `null` alternative.
fn set_type(out: &mut Map<String, Value>, v: &Value) {
    let Value::Array(types) = v else {
        out.insert("type".to_string(), v.clone());
        return;
    };
    let non_null: Vec<&Value> = types
        .iter()
        .filter(|t| t.as_str() != Some("null"))
        .collect();
    if non_null.len() < types.len() {
        out.insert("nullable".to_string(), Value::Bool(true));
    }
    match non_null.as_slice() {
        [] => {}
        [one] => {
            out.insert("type".to_string(), (*one).clone());
        }
        many => {
            let any = many
                .iter()
                .map(|t| serde_json::json!({"type": t}))
                .collect();
            out.insert("anyOf".to_string(), Value::Array(any));
        }
    }
}

/// Parses a provider body, or a 502 saying it was not what Gemini documents.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            502,
            "api_error",
            format!("gemini returned an unreadable response: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_is_reduced_to_what_gemini_accepts() {
        let s = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object", "additionalProperties": false,
            "$defs": {"Unit": {"type": "string", "enum": ["c", "f"]}},
            "properties": {
                "city": {"type": "string", "format": "uri", "examples": ["Paris"]},
                "unit": {"$ref": "#/$defs/Unit"},
                "when": {"type": ["string", "null"], "format": "date-time"},
                "kind": {"const": "weather"},
                "tags": {"type": "array", "items": {"type": "string", "additionalProperties": true}},
                "v": {"oneOf": [{"type": "integer"}, {"type": "string"}]}
            },
            "required": ["city"]
        });
        assert_eq!(
            clean_schema(&s),
            json!({
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["c", "f"]},
                    "when": {"type": "string", "nullable": true, "format": "date-time"},
                    "kind": {"enum": ["weather"]},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "v": {"anyOf": [{"type": "integer"}, {"type": "string"}]}
                },
                "required": ["city"]
            })
        );
    }

    #[test]
    fn recursive_refs_stop() {
        let s = json!({"$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
                       "$ref": "#/$defs/N"});
        let out = clean_schema(&s).to_string();
        assert!(out.matches("next").count() <= MAX_REF_DEPTH + 1, "{out}");
    }

    #[test]
    fn finish_reasons_map() {
        assert_eq!(finish_reason("STOP"), "stop");
        assert_eq!(finish_reason("MAX_TOKENS"), "length");
        assert_eq!(finish_reason("SAFETY"), "content_filter");
        assert_eq!(finish_reason("PROHIBITED_CONTENT"), "content_filter");
        assert_eq!(finish_reason("OTHER"), "stop");
    }
}
