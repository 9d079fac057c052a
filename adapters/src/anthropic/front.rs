//! The `/v1/messages` front door's translation, used only when the deployment does not speak
//! Anthropic: an Anthropic Messages request → the canonical OpenAI chat request (system turns
//! kept where they are, `thinking`/`output_config.effort` as `reasoning_effort`, unknown content
//! blocks skipped and reported). The way back is `front_response` / `front_stream`; reading a
//! request without translating it, `passthrough`.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::wire::{
    ContentBlock, ImageSource, Message, MessageContent, MessagesRequest, Role, System, TextBlock,
    ToolChoice, ToolDef, ToolResultContent,
};

use crate::error::ApiError;
use crate::request::{CanonicalRequest, Endpoint};

/// A 400 `invalid_request_error` naming `param`.
pub(crate) fn bad(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(400, "invalid_request_error", message).with_param(param)
}

/// The body as a JSON object, or a 400.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
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

pub(crate) fn required_model(req: &Map<String, Value>) -> Result<String, ApiError> {
    match req.get("model") {
        Some(Value::String(m)) if !m.is_empty() => Ok(m.clone()),
        _ => Err(bad("model", "model: Field required (a non-empty string)")),
    }
}

/// What the deployment about to be called can take, where the translation depends on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Translation {
    /// Keep `cache_control` markers on canonical parts and messages: the target's adapter turns
    /// them into prompt-cache points (Bedrock, Anthropic). Otherwise they are dropped.
    pub cache_control: bool,
}

/// A translated request and what the translation left out (unknown content blocks, values it
/// could not map), one line each, for the gateway's log.
#[derive(Debug, Clone)]
pub struct Translated {
    pub req: CanonicalRequest,
    pub skipped: Vec<String>,
}

/// [`translate`] of a body, for a target without prompt caching.
pub fn to_canonical(body: &[u8]) -> Result<CanonicalRequest, ApiError> {
    Ok(translate(parse_object(body)?, Translation::default())?.req)
}

/// Anthropic Messages request → canonical OpenAI chat request.
/// - `system` (top level) leads; a `system` turn inside `messages` stays at its position (the
///   provider adapters that need one system prompt merge them).
/// - `thinking` / `output_config.effort` become `reasoning_effort` (see [`reasoning_effort`]).
/// - Content block types this build does not know are skipped and listed in
///   [`Translated::skipped`]; assistant thinking blocks are dropped.
/// - `cache_control` is kept only under [`Translation::cache_control`].
/// - Anthropic server tools, `mcp_servers` and `container` are refused (400): no other
///   provider runs them. Other fields without a canonical equivalent (`context_management`,
///   `service_tier`, …) are left out.
pub fn translate(raw: Map<String, Value>, opts: Translation) -> Result<Translated, ApiError> {
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
    let raw = Value::Object(raw);
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
    let mut t = Translator {
        opts,
        out: Vec::with_capacity(req.messages.len() + 1),
        skipped: Vec::new(),
    };
    match &req.system {
        None => {}
        Some(System::Text(s)) => t.out.push(json!({"role": "system", "content": s})),
        Some(System::Blocks(blocks)) => {
            let parts = blocks.iter().map(|b| t.system_part(b)).collect();
            t.out
                .push(json!({"role": "system", "content": collapse(parts)}));
        }
    }
    for (i, m) in req.messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        let raw_msg = &raw["messages"][i];
        let raw_blocks = &raw_msg["content"];
        match (&m.role, &m.content) {
            (Role::Unknown, _) => {
                let role = raw_msg["role"].as_str().unwrap_or("?");
                return Err(bad(
                    "messages",
                    format!(
                        "{path}.role: unknown role \"{role}\" (expected user, assistant or system)"
                    ),
                ));
            }
            (role, MessageContent::Text(s)) => t.out.push(json!({"role": role, "content": s})),
            (Role::System, MessageContent::Blocks(b)) => t.system_turn(&path, b, raw_blocks),
            (Role::User, MessageContent::Blocks(b)) => t.user_blocks(&path, b, raw_blocks)?,
            (Role::Assistant, MessageContent::Blocks(b)) => {
                t.assistant_blocks(&path, b, raw_blocks)?
            }
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.clone()));
    body.insert("messages".into(), Value::Array(t.out));
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
    let effort = reasoning_effort(
        req.thinking.as_ref(),
        req.extra.get("output_config"),
        &mut t.skipped,
    );
    if let Some(effort) = effort {
        body.insert("reasoning_effort".into(), json!(effort));
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
    let req = CanonicalRequest {
        endpoint: Endpoint::ChatCompletions,
        model,
        stream,
        include_usage: stream,
        body,
    };
    Ok(Translated {
        req,
        skipped: t.skipped,
    })
}

/// Anthropic's reasoning controls → canonical `reasoning_effort` (`low` / `medium` / `high`),
/// which each provider adapter maps to its own control, or drops (`drop_params`) or refuses.
/// Only a request that asks for thinking (`thinking.type` `enabled` or `adaptive`) gets one:
/// - `output_config.effort` wins: `low`, `medium`, `high` as they are; `xhigh` and `max` are
///   `high`, the canonical maximum;
/// - else `enabled` with `budget_tokens` N: N ≥ 4096 `high`, ≥ 2048 `medium`, else `low` (the
///   inverse of the budgets the Anthropic adapter gives those efforts);
/// - else (`adaptive` alone) none: the target's default.
///
/// Without thinking (absent or `disabled`) `output_config.effort` is left out: it then only
/// tunes Anthropic's output length, and a target without reasoning would refuse
/// `reasoning_effort`.
pub fn reasoning_effort(
    thinking: Option<&Value>,
    output_config: Option<&Value>,
    skipped: &mut Vec<String>,
) -> Option<&'static str> {
    let kind = thinking.and_then(|t| t.get("type")).and_then(Value::as_str);
    match kind {
        Some("enabled" | "adaptive") => {}
        None | Some("disabled") => return None,
        Some(other) => {
            skipped.push(format!("thinking.type \"{other}\" (unknown value)"));
            return None;
        }
    }
    if let Some(effort) = output_config.and_then(|o| o.get("effort")) {
        match effort.as_str() {
            Some("low") => return Some("low"),
            Some("medium") => return Some("medium"),
            Some("high" | "xhigh" | "max") => return Some("high"),
            _ => skipped.push(format!("output_config.effort {effort} (unknown value)")),
        }
    }
    let budget = thinking
        .and_then(|t| t.get("budget_tokens"))
        .and_then(Value::as_u64)?;
    Some(match budget {
        4096.. => "high",
        2048.. => "medium",
        _ => "low",
    })
}

/// The typed request; a shape error names the top-level field (and message) it is in.
fn typed(raw: &Value) -> Result<MessagesRequest, ApiError> {
    MessagesRequest::deserialize(raw).map_err(|e| {
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

/// Parts as OpenAI content: a plain string when there is exactly one text part without a
/// cache marker.
fn collapse(mut parts: Vec<Value>) -> Value {
    if parts.len() == 1 && parts[0]["type"] == "text" && parts[0].get("cache_control").is_none() {
        return parts.pop().expect("one part")["text"].take();
    }
    Value::Array(parts)
}

/// The type of a raw block, for messages (the typed view folds unknown types into `Unknown`).
fn kind(raw: &Value) -> &str {
    raw["type"].as_str().unwrap_or("?")
}

/// A known block where Anthropic does not allow it: a 400 naming it.
fn misplaced(path: &str, raw: &Value, role: &str) -> ApiError {
    bad(
        "messages",
        format!(
            "{path}: content block type \"{}\" is not supported in {role}",
            kind(raw)
        ),
    )
}

/// The translation's output so far.
struct Translator {
    opts: Translation,
    out: Vec<Value>,
    skipped: Vec<String>,
}

impl Translator {
    /// `part` with the block's `cache_control`, when the target keeps them.
    fn cached(&self, mut part: Value, cc: Option<&Value>) -> Value {
        if let (true, Some(cc)) = (self.opts.cache_control, cc) {
            part["cache_control"] = cc.clone();
        }
        part
    }

    fn skip(&mut self, path: &str, raw: &Value) {
        self.skipped.push(format!(
            "{path}: content block type \"{}\" skipped",
            kind(raw)
        ));
    }

    fn system_part(&self, b: &TextBlock) -> Value {
        self.cached(text_part(&b.text), b.cache_control.as_ref())
    }

    /// A system turn given as blocks: its text blocks, as one system message at its position.
    fn system_turn(&mut self, path: &str, blocks: &[ContentBlock], raw: &Value) {
        let mut parts = Vec::new();
        for (j, b) in blocks.iter().enumerate() {
            match b {
                ContentBlock::Text {
                    text,
                    cache_control,
                    ..
                } => parts.push(self.cached(text_part(text), cache_control.as_ref())),
                _ => self.skip(&format!("{path}.content[{j}]"), &raw[j]),
            }
        }
        if !parts.is_empty() {
            self.out
                .push(json!({"role": "system", "content": collapse(parts)}));
        }
    }

    /// User blocks in order: runs of text/image/document blocks become user messages, each
    /// `tool_result` becomes a `tool` message. Images inside tool results follow the tool
    /// messages in a user message (OpenAI tool messages carry text only).
    fn user_blocks(
        &mut self,
        path: &str,
        blocks: &[ContentBlock],
        raw: &Value,
    ) -> Result<(), ApiError> {
        let mut parts = Vec::new();
        let mut deferred = Vec::new();
        for (j, b) in blocks.iter().enumerate() {
            let path = format!("{path}.content[{j}]");
            let part = match b {
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                    cache_control,
                } => {
                    self.flush_user(&mut parts);
                    let mut msg = self.tool_message(
                        &path,
                        tool_use_id,
                        content.as_ref(),
                        &raw[j],
                        &mut deferred,
                    )?;
                    if *is_error == Some(true) {
                        let text = msg["content"].as_str().unwrap_or_default();
                        msg["content"] = json!(format!("Error: {text}"));
                    }
                    self.out.push(self.cached(msg, cache_control.as_ref()));
                    continue;
                }
                ContentBlock::Text {
                    text,
                    cache_control,
                    ..
                } => self.cached(text_part(text), cache_control.as_ref()),
                ContentBlock::Image {
                    source,
                    cache_control,
                } => self.cached(image_part(&path, source)?, cache_control.as_ref()),
                ContentBlock::Document {
                    source,
                    cache_control,
                } => self.cached(
                    document_part(&path, source, &raw[j])?,
                    cache_control.as_ref(),
                ),
                ContentBlock::Unknown => {
                    self.skip(&path, &raw[j]);
                    continue;
                }
                _ => return Err(misplaced(&path, &raw[j], "user messages")),
            };
            parts.append(&mut deferred);
            parts.push(part);
        }
        parts.append(&mut deferred);
        self.flush_user(&mut parts);
        Ok(())
    }

    fn flush_user(&mut self, parts: &mut Vec<Value>) {
        if !parts.is_empty() {
            self.out
                .push(json!({"role": "user", "content": collapse(std::mem::take(parts))}));
        }
    }

    /// A `tool_result` block → a `tool` message; its images are appended to `images`, other
    /// blocks inside it are skipped.
    fn tool_message(
        &mut self,
        path: &str,
        id: &str,
        content: Option<&ToolResultContent>,
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
                    _ => self.skip(&path, &raw["content"][k]),
                }
            }
            if text.is_empty() && !images.is_empty() {
                text = "(the tool returned an image, attached in the next message)".into();
            }
        }
        Ok(json!({"role": "tool", "tool_call_id": id, "content": text}))
    }

    /// Assistant blocks: text → content, `tool_use` → `tool_calls`; thinking blocks are
    /// dropped, unknown blocks skipped. A `tool_use` cache marker marks the message.
    fn assistant_blocks(
        &mut self,
        path: &str,
        blocks: &[ContentBlock],
        raw: &Value,
    ) -> Result<(), ApiError> {
        let mut parts = Vec::new();
        let mut calls = Vec::new();
        let mut msg_cache = None;
        for (j, b) in blocks.iter().enumerate() {
            match b {
                ContentBlock::Text {
                    text,
                    cache_control,
                    ..
                } => parts.push(self.cached(text_part(text), cache_control.as_ref())),
                ContentBlock::ToolUse {
                    id,
                    name,
                    input,
                    cache_control,
                } => {
                    let input = if input.is_null() {
                        json!({})
                    } else {
                        input.clone()
                    };
                    let arguments = serde_json::to_string(&input).expect("JSON values serialize");
                    calls.push(json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}));
                    msg_cache = cache_control.as_ref().or(msg_cache);
                }
                ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } => {}
                ContentBlock::Unknown => self.skip(&format!("{path}.content[{j}]"), &raw[j]),
                _ => {
                    return Err(misplaced(
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
        let msg = self.cached(msg, msg_cache);
        self.out.push(msg);
        Ok(())
    }
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
