//! The `/v1/responses` bridge's way in, for deployments that do not speak Responses: a
//! Responses request (after the conversation it continues) → the canonical OpenAI chat request.
//! Function tools, calls and outputs map both ways; built-in tools, which only OpenAI runs, are
//! refused by name; what has no chat equivalent (reasoning items, `reasoning.summary`,
//! `text.verbosity`, …) is left out and reported. The way back is `response` / `stream`.

use serde_json::{json, Map, Value};

use super::front::bad;
use super::request_params::{
    convert_tool_choice, convert_tools, reasoning_effort, response_format,
};
use crate::error::ApiError;
use crate::request::{CanonicalRequest, Endpoint};

/// A translated request and what the translation left out, one line each, for the gateway's
/// log.
#[derive(Debug, Clone)]
pub struct Translated {
    pub req: CanonicalRequest,
    pub skipped: Vec<String>,
}

/// LiteLLM's per-request fields (controls and routing), carried over as they are: the gateway
/// reads them from the canonical body.
const LITELLM_FIELDS: [&str; 15] = [
    "timeout",
    "request_timeout",
    "stream_timeout",
    "num_retries",
    "drop_params",
    "fallbacks",
    "disable_fallbacks",
    "mock_response",
    "mock_testing_fallbacks",
    "mock_testing_context_fallbacks",
    "mock_testing_content_policy_fallbacks",
    "mock_timeout",
    "include_cost_in_streaming_usage",
    "tags",
    "metadata",
];

/// Responses fields the translation reads (each handled below).
const READ_FIELDS: [&str; 19] = [
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning",
    "text",
    "max_output_tokens",
    "temperature",
    "top_p",
    "user",
    "stream",
    "stream_options",
    "store",
    "previous_response_id",
    "truncation",
    "include",
    "background",
];

/// Responses request + earlier conversation items (oldest first, as Responses items) → the
/// canonical OpenAI chat request:
/// - `instructions` → a leading system message; `history` then `input` → messages (`developer`
///   is `system`; consecutive `function_call` items are one assistant message with
///   `tool_calls`, joined to the assistant message just before them; `function_call_output` →
///   `tool` messages; `reasoning` items skipped; `item_reference` resolved from `history` or
///   refused);
/// - function `tools`, `tool_choice`, `parallel_tool_calls`, `reasoning.effort` →
///   `reasoning_effort`, `text.format` → `response_format`, `max_output_tokens` →
///   `max_tokens`, `temperature`, `top_p`, `user`, `metadata`, `stream` (with usage);
/// - built-in tools and `background: true` are a 400 naming them; `store`,
///   `previous_response_id` are the gateway's; other fields are skipped and reported.
pub fn translate(parsed: Map<String, Value>, history: &[Value]) -> Result<Translated, ApiError> {
    let model = match parsed.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err(bad("model", "Missing required parameter: 'model'.")),
    };
    if parsed.get("background") == Some(&Value::Bool(true)) {
        return Err(bad(
            "background",
            "background mode is not supported by this gateway: send the request without \
             'background' and keep the connection open (or stream)",
        ));
    }
    let mut t = Messages {
        history,
        out: Vec::new(),
        skipped: Vec::new(),
        reasoning_skipped: 0,
    };
    match parsed.get("instructions") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => t.out.push(json!({"role": "system", "content": s})),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                t.item(&format!("instructions[{i}]"), item)?;
            }
        }
        Some(_) => {
            return Err(bad(
                "instructions",
                "Invalid type for 'instructions': expected a string.",
            ))
        }
    }
    for (i, item) in history.iter().enumerate() {
        t.item(&format!("previous_response_id (item {i})"), item)?;
    }
    match parsed.get("input") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => t.out.push(json!({"role": "user", "content": s})),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                t.item(&format!("input[{i}]"), item)?;
            }
        }
        Some(_) => {
            return Err(bad(
                "input",
                "Invalid type for 'input': expected a string or an array of input items.",
            ))
        }
    }
    if t.reasoning_skipped > 0 {
        let n = t.reasoning_skipped;
        t.skipped.push(format!(
            "{n} reasoning item(s) skipped (chat completions cannot take them back)"
        ));
    }
    if t.out.is_empty() {
        return Err(bad("input", "Missing required parameter: 'input'."));
    }
    let mut skipped = t.skipped;
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.clone()));
    body.insert("messages".into(), Value::Array(t.out));
    let mut tools = match parsed.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => convert_tools(tools)?,
        Some(_) => return Err(bad("tools", "Invalid type for 'tools': expected an array.")),
    };
    if let Some(choice) = parsed.get("tool_choice").filter(|c| !c.is_null()) {
        if let Some(choice) = convert_tool_choice(choice, &mut tools)? {
            body.insert("tool_choice".into(), choice);
        }
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    match parsed.get("parallel_tool_calls") {
        None | Some(Value::Null) => {}
        Some(b @ Value::Bool(_)) => {
            body.insert("parallel_tool_calls".into(), b.clone());
        }
        Some(_) => {
            return Err(bad(
                "parallel_tool_calls",
                "Invalid type for 'parallel_tool_calls': expected a boolean.",
            ))
        }
    }
    if let Some(r) = parsed.get("reasoning").filter(|r| !r.is_null()) {
        if let Some(effort) = reasoning_effort(r, &mut skipped)? {
            body.insert("reasoning_effort".into(), json!(effort));
        }
    }
    if let Some(text) = parsed.get("text").filter(|t| !t.is_null()) {
        if let Some(format) = response_format(text, &mut skipped)? {
            body.insert("response_format".into(), format);
        }
    }
    if let Some(n) = parsed.get("max_output_tokens").filter(|n| !n.is_null()) {
        if !n.is_u64() {
            return Err(bad(
                "max_output_tokens",
                "Invalid 'max_output_tokens': expected a non-negative integer.",
            ));
        }
        body.insert("max_tokens".into(), n.clone());
    }
    for key in ["temperature", "top_p"] {
        match parsed.get(key) {
            None | Some(Value::Null) => {}
            Some(n @ Value::Number(_)) => {
                body.insert(key.into(), n.clone());
            }
            Some(_) => {
                return Err(bad(
                    key,
                    format!("Invalid type for '{key}': expected a number."),
                ))
            }
        }
    }
    if let Some(user) = parsed.get("user").and_then(Value::as_str) {
        body.insert("user".into(), json!(user));
    }
    let stream = match parsed.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(bad(
                "stream",
                "Invalid type for 'stream': expected a boolean.",
            ))
        }
    };
    if stream {
        body.insert("stream".into(), Value::Bool(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if parsed.get("truncation").and_then(Value::as_str) == Some("auto") {
        skipped.push("truncation \"auto\" ignored (the input is sent whole)".into());
    }
    for inc in parsed
        .get("include")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        skipped.push(format!("include {inc} ignored"));
    }
    for (k, v) in &parsed {
        if LITELLM_FIELDS.contains(&k.as_str()) {
            body.insert(k.clone(), v.clone());
        } else if !READ_FIELDS.contains(&k.as_str()) && !v.is_null() {
            skipped.push(format!("{k} skipped (no chat completions equivalent)"));
        }
    }
    let req = CanonicalRequest {
        endpoint: Endpoint::ChatCompletions,
        model,
        stream,
        include_usage: stream,
        body,
    };
    Ok(Translated { req, skipped })
}

/// The chat messages built so far.
struct Messages<'h> {
    history: &'h [Value],
    out: Vec<Value>,
    skipped: Vec<String>,
    reasoning_skipped: usize,
}

impl Messages<'_> {
    fn item(&mut self, path: &str, item: &Value) -> Result<(), ApiError> {
        let Value::Object(obj) = item else {
            return Err(bad(
                "input",
                format!("{path}: an input item must be an object"),
            ));
        };
        let kind = match obj.get("type").and_then(Value::as_str) {
            Some(k) => k,
            None if obj.contains_key("role") => "message",
            None => {
                return Err(bad(
                    "input",
                    format!("{path}: Missing required parameter: 'type'."),
                ))
            }
        };
        match kind {
            "message" => self.message(path, obj),
            "function_call" => {
                self.function_call(path, obj);
                Ok(())
            }
            "function_call_output" => self.function_output(path, obj),
            "reasoning" => {
                self.reasoning_skipped += 1;
                Ok(())
            }
            "item_reference" => {
                let id = obj.get("id").and_then(Value::as_str).unwrap_or_default();
                let found = self
                    .history
                    .iter()
                    .find(|h| h.get("id").and_then(Value::as_str) == Some(id))
                    .filter(|h| h.get("type").and_then(Value::as_str) != Some("item_reference"));
                match found {
                    Some(h) => self.item(path, h),
                    None => Err(bad(
                        "input",
                        format!(
                            "{path}: item_reference '{id}' cannot be resolved: it is not an item \
                             of the conversation this gateway stored (send the item itself)"
                        ),
                    )),
                }
            }
            other => {
                self.skipped
                    .push(format!("{path}: item type \"{other}\" skipped"));
                Ok(())
            }
        }
    }

    fn message(&mut self, path: &str, obj: &Map<String, Value>) -> Result<(), ApiError> {
        let role = match obj.get("role").and_then(Value::as_str) {
            Some("developer" | "system") => "system",
            Some("user") => "user",
            Some("assistant") => "assistant",
            other => {
                return Err(bad(
                    "input",
                    format!(
                    "{path}.role: unknown role {} (expected user, assistant, system or developer)",
                    other.map_or("(missing)".into(), |r| format!("'{r}'"))
                ),
                ))
            }
        };
        let parts = match obj.get("content") {
            Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
            Some(Value::Array(parts)) => {
                let mut out = Vec::with_capacity(parts.len());
                for (j, p) in parts.iter().enumerate() {
                    if let Some(part) = self.part(&format!("{path}.content[{j}]"), p, role)? {
                        out.push(part);
                    }
                }
                out
            }
            _ => {
                return Err(bad(
                    "input",
                    format!("{path}.content: expected a string or an array of content parts"),
                ))
            }
        };
        if role == "assistant" {
            // Text only (chat assistant content); an empty one is left out, so that function
            // calls after it start their own message.
            let text: String = parts.iter().filter_map(|p| p["text"].as_str()).collect();
            if !text.is_empty() {
                self.out.push(json!({"role": "assistant", "content": text}));
            }
        } else if !parts.is_empty() {
            self.out
                .push(json!({"role": role, "content": collapse(parts)}));
        }
        Ok(())
    }

    /// A content part → a chat content part (`None`: skipped and reported).
    fn part(&mut self, path: &str, p: &Value, role: &str) -> Result<Option<Value>, ApiError> {
        let kind = p["type"].as_str().unwrap_or("?");
        let text_only = role != "user";
        Ok(Some(match kind {
            "input_text" | "output_text" | "text" | "summary_text" => {
                json!({"type": "text", "text": p["text"].as_str().unwrap_or_default()})
            }
            "refusal" => {
                json!({"type": "text", "text": p["refusal"].as_str().unwrap_or_default()})
            }
            "input_image" | "input_file" | "input_audio" if text_only => {
                return Err(bad(
                    "input",
                    format!("{path}: content part type '{kind}' is only allowed in user messages"),
                ))
            }
            "input_image" => image_part(path, p)?,
            "input_file" => file_part(path, p)?,
            "input_audio" => json!({"type": "input_audio", "input_audio": p["input_audio"]}),
            other => {
                self.skipped
                    .push(format!("{path}: content part type \"{other}\" skipped"));
                return Ok(None);
            }
        }))
    }

    /// A `function_call` item: a tool call on the assistant message just before it, or on a
    /// new assistant message.
    fn function_call(&mut self, path: &str, obj: &Map<String, Value>) {
        let s = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or_default();
        let call_id = match s("call_id") {
            "" => s("id"),
            id => id,
        };
        if call_id.is_empty() {
            self.skipped
                .push(format!("{path}: function_call without call_id skipped"));
            return;
        }
        let call = json!({
            "id": call_id,
            "type": "function",
            "function": {"name": s("name"), "arguments": s("arguments")},
        });
        match self.out.last_mut() {
            Some(last) if last["role"] == "assistant" => {
                if !last["tool_calls"].is_array() {
                    last["tool_calls"] = json!([]);
                }
                last["tool_calls"]
                    .as_array_mut()
                    .expect("set above")
                    .push(call);
            }
            _ => self.out.push(json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [call],
            })),
        }
    }

    /// A `function_call_output` item → a `tool` message; images in a list output follow it as
    /// a user message (chat tool messages carry text only).
    fn function_output(&mut self, path: &str, obj: &Map<String, Value>) -> Result<(), ApiError> {
        let Some(call_id) = obj.get("call_id").and_then(Value::as_str) else {
            return Err(bad(
                "input",
                format!("{path}.call_id: Missing required parameter: 'call_id'."),
            ));
        };
        let mut images = Vec::new();
        let text = match obj.get("output") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => {
                let mut text = String::new();
                for (j, p) in parts.iter().enumerate() {
                    let path = format!("{path}.output[{j}]");
                    match p["type"].as_str() {
                        Some("input_text" | "output_text" | "text") => {
                            text.push_str(p["text"].as_str().unwrap_or_default())
                        }
                        Some("input_image") => images.push(image_part(&path, p)?),
                        Some("input_file") => images.push(file_part(&path, p)?),
                        other => self.skipped.push(format!(
                            "{path}: content part type \"{}\" skipped",
                            other.unwrap_or("?")
                        )),
                    }
                }
                if text.is_empty() && !images.is_empty() {
                    text =
                        "(the tool returned a file or image, attached in the next message)".into();
                }
                text
            }
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        self.out
            .push(json!({"role": "tool", "tool_call_id": call_id, "content": text}));
        if !images.is_empty() {
            self.out
                .push(json!({"role": "user", "content": Value::Array(images)}));
        }
        Ok(())
    }
}

/// One text part as a plain string; otherwise the parts.
fn collapse(mut parts: Vec<Value>) -> Value {
    if parts.len() == 1 && parts[0]["type"] == "text" {
        return parts.pop().expect("one part")["text"].take();
    }
    Value::Array(parts)
}

fn files_api_refused(path: &str, kind: &str) -> ApiError {
    bad(
        "input",
        format!(
            "{path}: {kind} with file_id is not supported for this model: the OpenAI Files API \
             is not available through Tollgate's chat bridge; send the data inline"
        ),
    )
}

/// `input_image` → a chat `image_url` part (`image_url` string, data URL included).
fn image_part(path: &str, p: &Value) -> Result<Value, ApiError> {
    if let Some(url) = p["image_url"].as_str() {
        let mut image = json!({"url": url});
        if let Some(detail) = p["detail"].as_str() {
            image["detail"] = json!(detail);
        }
        return Ok(json!({"type": "image_url", "image_url": image}));
    }
    if p.get("file_id").is_some_and(|f| !f.is_null()) {
        return Err(files_api_refused(path, "input_image"));
    }
    Err(bad(
        "input",
        format!("{path}: input_image needs 'image_url'"),
    ))
}

/// `input_file` with inline `file_data` → a chat `file` part.
fn file_part(path: &str, p: &Value) -> Result<Value, ApiError> {
    if let Some(data) = p["file_data"].as_str() {
        let name = p["filename"].as_str().unwrap_or("file");
        return Ok(json!({"type": "file", "file": {"filename": name, "file_data": data}}));
    }
    if p.get("file_id").is_some_and(|f| !f.is_null()) {
        return Err(files_api_refused(path, "input_file"));
    }
    Err(bad(
        "input",
        format!("{path}: input_file needs 'file_data' (file_url is not supported for this model)"),
    ))
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
