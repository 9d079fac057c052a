//! The `/v1/messages` front door: an Anthropic Messages request in → the canonical OpenAI chat
//! request; the canonical response or SSE stream back out as an Anthropic Message or Anthropic
//! SSE events. Also the Anthropic error body, an estimated `count_tokens`, and the model swap
//! used when the deployment itself speaks Anthropic (pass-through).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::wire::{
    ContentBlock, ImageSource, Message, MessageContent, MessagesRequest, Role, System, ToolChoice,
    ToolDef, ToolResultContent,
};

use crate::error::ApiError;
use crate::request::{CanonicalRequest, Endpoint};

/// A 400 `invalid_request_error` naming `param`.
fn bad(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(400, "invalid_request_error", message).with_param(param)
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::new(
            400,
            "invalid_request_error",
            "Request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::new(
            400,
            "invalid_request_error",
            format!("Invalid JSON in request body: {e}"),
        )),
    }
}

fn required_model(req: &Map<String, Value>) -> Result<String, ApiError> {
    match req.get("model") {
        Some(Value::String(m)) if !m.is_empty() => Ok(m.clone()),
        _ => Err(bad("model", "model: Field required (a non-empty string)")),
    }
}

/// Anthropic Messages request → canonical OpenAI chat request. `thinking` and `service_tier` are
/// dropped (no canonical equivalent), as are `cache_control` markers and assistant thinking
/// blocks; Anthropic server tools, `mcp_servers` and `container` are refused (400); fields
/// Anthropic does not define are ignored.
pub fn to_canonical(body: &[u8]) -> Result<CanonicalRequest, ApiError> {
    let raw = parse_object(body)?;
    let model = required_model(&raw)?;
    if !raw.get("messages").is_some_and(Value::is_array) {
        return Err(bad(
            "messages",
            "messages: Field required (an array of messages)",
        ));
    }
    if !raw.get("max_tokens").is_some_and(Value::is_u64) {
        return Err(bad(
            "max_tokens",
            "max_tokens: Field required (a non-negative integer)",
        ));
    }
    let req = typed(&raw)?;
    if let Some(key) = ["mcp_servers", "container"]
        .into_iter()
        .find(|k| req.extra.contains_key(*k))
    {
        return Err(bad(
            key,
            format!("{key} is not supported by this gateway's /v1/messages endpoint"),
        ));
    }
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    match &req.system {
        None => {}
        Some(System::Text(s)) => messages.push(json!({"role": "system", "content": s})),
        Some(System::Blocks(blocks)) => {
            let parts = blocks.iter().map(|b| text_part(&b.text)).collect();
            messages.push(json!({"role": "system", "content": collapse(parts)}));
        }
    }
    for (i, m) in req.messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        let raw_blocks = &raw["messages"][i]["content"];
        match (&m.role, &m.content) {
            (role, MessageContent::Text(s)) => messages.push(json!({"role": role, "content": s})),
            (Role::User, MessageContent::Blocks(b)) => {
                user_blocks(&path, b, raw_blocks, &mut messages)?
            }
            (Role::Assistant, MessageContent::Blocks(b)) => {
                assistant_blocks(&path, b, raw_blocks, &mut messages)?
            }
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.clone()));
    body.insert("messages".into(), Value::Array(messages));
    body.insert("max_tokens".into(), json!(req.max_tokens));
    for (key, n) in [
        ("temperature", &req.temperature),
        ("top_p", &req.top_p),
        ("top_k", &req.top_k),
    ] {
        if let Some(n) = n {
            body.insert(key.into(), Value::Number(n.clone()));
        }
    }
    if let Some(stop) = &req.stop_sequences {
        body.insert("stop".into(), json!(stop));
    }
    if let Some(user) = req.metadata.as_ref().and_then(|m| m.user_id.as_ref()) {
        body.insert("user".into(), json!(user));
    }
    if let Some(tools) = &req.tools {
        let tools = convert_tools(tools)?;
        if !tools.is_empty() {
            body.insert("tools".into(), Value::Array(tools));
        }
    }
    if let Some(choice) = &req.tool_choice {
        convert_tool_choice(choice, &mut body);
    }
    let stream = req.stream == Some(true);
    if stream {
        body.insert("stream".into(), Value::Bool(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(CanonicalRequest {
        endpoint: Endpoint::ChatCompletions,
        model,
        stream,
        include_usage: stream,
        body,
    })
}

/// The typed request; a shape error names the top-level field (and message) it is in.
fn typed(raw: &Map<String, Value>) -> Result<MessagesRequest, ApiError> {
    let whole = Value::Object(raw.clone());
    MessagesRequest::deserialize(&whole).map_err(|e| {
        if let Some(Value::Array(msgs)) = raw.get("messages") {
            for (i, m) in msgs.iter().enumerate() {
                if let Err(e) = Message::deserialize(m) {
                    for (j, b) in m["content"].as_array().into_iter().flatten().enumerate() {
                        if let Err(e) = ContentBlock::deserialize(b) {
                            return bad("messages", format!("messages[{i}].content[{j}]: {e}"));
                        }
                    }
                    return bad("messages", format!("messages[{i}]: {e}"));
                }
            }
        }
        for key in [
            "system",
            "tools",
            "tool_choice",
            "metadata",
            "stop_sequences",
            "stream",
            "temperature",
            "top_p",
            "top_k",
        ] {
            let mut probe = Map::new();
            for k in ["model", "messages", "max_tokens", key] {
                if let Some(v) = raw.get(k) {
                    probe.insert(k.into(), v.clone());
                }
            }
            if let Err(e) = MessagesRequest::deserialize(&Value::Object(probe)) {
                return bad(key, format!("{key}: {e}"));
            }
        }
        bad("messages", format!("Invalid request body: {e}"))
    })
}

fn text_part(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// Parts as OpenAI content: a plain string when there is exactly one text part.
fn collapse(mut parts: Vec<Value>) -> Value {
    if parts.len() == 1 && parts[0]["type"] == "text" {
        return parts.pop().expect("one part")["text"].take();
    }
    Value::Array(parts)
}

/// A block this translation does not take: a 400 naming it (its type read from the raw JSON,
/// since the typed view folds unknown types into `Unknown`).
fn unsupported(path: &str, raw: &Value, role: &str) -> ApiError {
    let kind = raw["type"].as_str().unwrap_or("?");
    bad(
        "messages",
        format!("{path}: content block type \"{kind}\" is not supported in {role}"),
    )
}

/// User blocks in order: runs of text/image/document blocks become user messages, each
/// `tool_result` becomes a `tool` message. Images inside tool results follow the tool messages
/// in a user message (OpenAI tool messages carry text only).
fn user_blocks(
    path: &str,
    blocks: &[ContentBlock],
    raw: &Value,
    out: &mut Vec<Value>,
) -> Result<(), ApiError> {
    let mut parts = Vec::new();
    let mut deferred = Vec::new();
    for (j, b) in blocks.iter().enumerate() {
        let path = format!("{path}.content[{j}]");
        if let ContentBlock::ToolResult {
            tool_use_id,
            content,
            is_error,
            ..
        } = b
        {
            flush_user(&mut parts, out);
            let msg = tool_message(
                &path,
                tool_use_id,
                content.as_ref(),
                *is_error,
                &raw[j],
                &mut deferred,
            )?;
            out.push(msg);
            continue;
        }
        parts.append(&mut deferred);
        parts.push(match b {
            ContentBlock::Text { text, .. } => text_part(text),
            ContentBlock::Image { source, .. } => image_part(&path, source)?,
            ContentBlock::Document { source, .. } => document_part(&path, source, &raw[j])?,
            _ => return Err(unsupported(&path, &raw[j], "user messages")),
        });
    }
    parts.append(&mut deferred);
    flush_user(&mut parts, out);
    Ok(())
}

fn flush_user(parts: &mut Vec<Value>, out: &mut Vec<Value>) {
    if !parts.is_empty() {
        out.push(json!({"role": "user", "content": collapse(std::mem::take(parts))}));
    }
}

/// A `tool_result` block → a `tool` message; its images are appended to `images`. An error
/// result is marked by an `Error: ` prefix on its text.
fn tool_message(
    path: &str,
    id: &str,
    content: Option<&ToolResultContent>,
    is_error: Option<bool>,
    raw: &Value,
    images: &mut Vec<Value>,
) -> Result<Value, ApiError> {
    let mut text = content.map(ToolResultContent::text).unwrap_or_default();
    if let Some(ToolResultContent::Blocks(blocks)) = content {
        for (k, b) in blocks.iter().enumerate() {
            let path = format!("{path}.content[{k}]");
            match b {
                ContentBlock::Text { .. } => {}
                ContentBlock::Image { source, .. } => images.push(image_part(&path, source)?),
                _ => return Err(unsupported(&path, &raw["content"][k], "tool_result")),
            }
        }
        if text.is_empty() && !images.is_empty() {
            text = "(the tool returned an image, attached in the next message)".into();
        }
    }
    if is_error == Some(true) {
        text = format!("Error: {text}");
    }
    Ok(json!({"role": "tool", "tool_call_id": id, "content": text}))
}

fn image_part(path: &str, source: &ImageSource) -> Result<Value, ApiError> {
    let url = match source {
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        ImageSource::Url { url } => url.clone(),
        ImageSource::File { .. } => {
            return Err(bad(
                "messages",
                format!(
                    "{path}.source: file sources (Files API) are not supported by this gateway"
                ),
            ))
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// A `document` block: base64 PDF → an OpenAI `file` part, plain text → a text part.
fn document_part(path: &str, src: &Value, raw: &Value) -> Result<Value, ApiError> {
    let field = |k: &str| src[k].as_str().unwrap_or_default();
    match field("type") {
        "base64" => {
            let name = raw["title"].as_str().unwrap_or("document.pdf");
            let data = format!("data:{};base64,{}", field("media_type"), field("data"));
            Ok(json!({"type": "file", "file": {"filename": name, "file_data": data}}))
        }
        "text" => Ok(text_part(field("data"))),
        _ => Err(bad(
            "messages",
            format!("{path}.source.type: document sources must be \"base64\" or \"text\""),
        )),
    }
}

/// Assistant blocks: text → content, `tool_use` → `tool_calls`; thinking blocks are dropped.
fn assistant_blocks(
    path: &str,
    blocks: &[ContentBlock],
    raw: &Value,
    out: &mut Vec<Value>,
) -> Result<(), ApiError> {
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for (j, b) in blocks.iter().enumerate() {
        match b {
            ContentBlock::Text { text, .. } => parts.push(text_part(text)),
            ContentBlock::ToolUse {
                id, name, input, ..
            } => {
                let input = if input.is_null() {
                    json!({})
                } else {
                    input.clone()
                };
                let arguments = serde_json::to_string(&input).expect("JSON values serialize");
                calls.push(json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}));
            }
            ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } => {}
            _ => {
                return Err(unsupported(
                    &format!("{path}.content[{j}]"),
                    &raw[j],
                    "assistant messages",
                ))
            }
        }
    }
    if parts.is_empty() && calls.is_empty() {
        return Ok(());
    }
    let content = if parts.is_empty() {
        Value::Null
    } else {
        collapse(parts)
    };
    let mut msg = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        msg["tool_calls"] = Value::Array(calls);
    }
    out.push(msg);
    Ok(())
}

fn convert_tools(tools: &[ToolDef]) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        if let Some(kind) = t.kind.as_deref().filter(|k| *k != "custom") {
            return Err(bad(
                "tools",
                format!(
                    "tools[{i}]: Anthropic server tool \"{kind}\" is not supported by this gateway"
                ),
            ));
        }
        let Some(schema) = t.input_schema.as_ref().filter(|s| s.is_object()) else {
            return Err(bad(
                "tools",
                format!("tools[{i}].input_schema: Field required (a JSON schema object)"),
            ));
        };
        let mut function = json!({"name": t.name, "parameters": schema});
        if let Some(d) = &t.description {
            function["description"] = json!(d);
        }
        out.push(json!({"type": "function", "function": function}));
    }
    Ok(out)
}

fn convert_tool_choice(choice: &ToolChoice, body: &mut Map<String, Value>) {
    let (canonical, no_parallel) = match choice {
        ToolChoice::Auto {
            disable_parallel_tool_use: d,
        } => (json!("auto"), *d),
        ToolChoice::Any {
            disable_parallel_tool_use: d,
        } => (json!("required"), *d),
        ToolChoice::None => (json!("none"), None),
        ToolChoice::Tool {
            name,
            disable_parallel_tool_use: d,
        } => (json!({"type": "function", "function": {"name": name}}), *d),
    };
    body.insert("tool_choice".into(), canonical);
    if no_parallel == Some(true) {
        body.insert("parallel_tool_calls".into(), Value::Bool(false));
    }
}

pub use super::front_response::{error_body, error_event, response_from_canonical};
pub use super::front_stream::StreamToAnthropic;

/// Tokens counted for one image: Anthropic bills about width×height/750, at most ~1600 for an
/// image within its size limits; the size is not decoded here, so the maximum is assumed.
const IMAGE_TOKENS: u64 = 1600;

/// `/v1/messages/count_tokens` → `{"input_tokens": N}`. An ESTIMATE, not the provider's
/// tokenizer: bytes of the text and JSON content (system, messages, tool inputs and results,
/// tool definitions) / 4, plus [`IMAGE_TOKENS`] per image; at least 1.
pub fn count_tokens(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req = parse_object(body)?;
    required_model(&req)?;
    let Some(messages @ Value::Array(_)) = req.get("messages") else {
        return Err(bad(
            "messages",
            "messages: Field required (an array of messages)",
        ));
    };
    let (mut bytes, mut images) = (0u64, 0u64);
    if let Some(system) = req.get("system") {
        measure(system, &mut bytes, &mut images);
    }
    measure(messages, &mut bytes, &mut images);
    if let Some(tools) = req.get("tools").filter(|t| !t.is_null()) {
        bytes += serde_json::to_vec(tools).map_or(0, |v| v.len() as u64);
    }
    let tokens = (bytes.div_ceil(4) + images * IMAGE_TOKENS).max(1);
    Ok(serde_json::to_vec(&json!({"input_tokens": tokens})).expect("JSON values serialize"))
}

/// Adds the content bytes of messages / blocks / strings under `v` to `bytes`, counting images.
fn measure(v: &Value, bytes: &mut u64, images: &mut u64) {
    match v {
        Value::String(s) => *bytes += s.len() as u64,
        Value::Array(items) => items.iter().for_each(|i| measure(i, bytes, images)),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("image") => *images += 1,
            Some("text") => measure(&o["text"], bytes, images),
            Some("tool_use") => {
                *bytes += serde_json::to_vec(&o["input"]).map_or(0, |v| v.len() as u64)
            }
            Some("tool_result") => measure(&o["content"], bytes, images),
            Some("thinking") => measure(&o["thinking"], bytes, images),
            Some("document") => {
                *bytes += serde_json::to_vec(&o["source"]).map_or(0, |v| v.len() as u64)
            }
            Some(_) => {}
            None => {
                if let Some(c) = o.get("content") {
                    measure(c, bytes, images);
                }
            }
        },
        _ => {}
    }
}

/// The client's Anthropic body with only the top-level `model` value replaced by
/// `upstream_model`; every other byte is kept as sent (for pass-through to an Anthropic
/// deployment).
pub fn with_model(body: &[u8], upstream_model: &str) -> Result<Vec<u8>, ApiError> {
    let req = parse_object(body)?;
    required_model(&req)?;
    let replacement = serde_json::to_vec(upstream_model).expect("strings serialize");
    let mut out = body.to_vec();
    for (start, end) in model_value_spans(body).into_iter().rev() {
        out.splice(start..end, replacement.iter().copied());
    }
    Ok(out)
}

/// Byte ranges of every string value of a top-level `"model"` key in valid JSON `b`.
fn model_value_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let (mut depth, mut expect_key, mut i) = (0usize, false, 0usize);
    while i < b.len() {
        match b[i] {
            b'"' => {
                let end = string_end(b, i);
                if depth == 1 && expect_key {
                    expect_key = false;
                    if serde_json::from_slice::<String>(&b[i..end]).is_ok_and(|k| k == "model") {
                        let mut j = end;
                        while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b':') {
                            j += 1;
                        }
                        if b.get(j) == Some(&b'"') {
                            let vend = string_end(b, j);
                            spans.push((j, vend));
                            i = vend;
                            continue;
                        }
                    }
                }
                i = end;
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                expect_key = depth == 1 && b[i] == b'{';
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => expect_key = true,
            _ => {}
        }
        i += 1;
    }
    spans
}

/// Index just past the closing quote of the JSON string starting at `b[start]`.
fn string_end(b: &[u8], start: usize) -> usize {
    let mut j = start + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}
