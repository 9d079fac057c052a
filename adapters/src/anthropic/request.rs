//! Canonical OpenAI chat request → Anthropic `POST /v1/messages`: system prompts lifted out,
//! turns merged so roles alternate, tool calls and results as blocks, images as sources, and
//! every OpenAI parameter either mapped, dropped under `drop_params`, or refused with a 400.

use serde_json::{json, Map, Value};

use super::wire::{
    ContentBlock, ImageSource, Message, MessageContent, MessagesRequest, Metadata, Role, System,
    TextBlock, ToolChoice, ToolDef, ToolResultContent, API_VERSION,
};
use crate::error::ApiError;
use crate::openai::wire::{
    field, messages, parse_data_url, ChatMessage, Content, ContentPart, Tool,
};
use crate::request::{CanonicalRequest, Endpoint};
use crate::target::{ProviderRequest, Target};

/// `max_tokens` sent when neither the client nor the deployment set one (Anthropic requires it).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// The tool forced when `response_format` asks for JSON (LiteLLM's trick): its input is the
/// answer, returned to the client as the message content.
pub const JSON_TOOL: &str = "json_tool_call";

/// The schema the answer must follow when the client's `response_format` asks for JSON.
pub fn json_mode_schema(body: &Map<String, Value>) -> Option<Value> {
    let rf = body.get("response_format")?;
    match rf.get("type")?.as_str()? {
        "json_object" => Some(json!({"type": "object"})),
        "json_schema" => Some(
            rf.pointer("/json_schema/schema")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"})),
        ),
        _ => None,
    }
}

/// OpenAI parameters Anthropic has no equivalent for (refused unless `drop_params`).
const UNSUPPORTED: &[&str] = &[
    "logit_bias",
    "presence_penalty",
    "frequency_penalty",
    "top_logprobs",
    "seed",
    "audio",
    "prediction",
];

/// The Anthropic request for `req`: `{base_path}/v1/messages` with `x-api-key`.
pub fn build(req: &CanonicalRequest, t: &Target<'_>) -> Result<ProviderRequest, ApiError> {
    if req.endpoint != Endpoint::ChatCompletions {
        return Err(ApiError::new(
            400,
            "invalid_request_error",
            format!(
                "anthropic does not support the {} endpoint; use /chat/completions",
                req.endpoint.path()
            ),
        )
        .with_code("unsupported_endpoint"));
    }
    let body = build_body(req, t)?;
    let mut headers = Vec::with_capacity(4);
    if let Some(key) = t.api_key {
        headers.push(("x-api-key", key.to_string()));
    }
    headers.push(("anthropic-version", API_VERSION.to_string()));
    headers.push(("content-type", "application/json".to_string()));
    let accept = if req.stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    headers.push(("accept", accept.to_string()));
    Ok(ProviderRequest {
        path: format!("{}/v1/messages", t.base_path),
        headers,
        body: serde_json::to_vec(&body).expect("serializing wire types cannot fail"),
    })
}

/// The Anthropic body for `req` (exposed for tests and the front door's round trips).
pub fn build_body(req: &CanonicalRequest, t: &Target<'_>) -> Result<MessagesRequest, ApiError> {
    let p = Params { req, t };
    let msgs = messages(&req.body)?;
    let raw: &[Value] = match req.body.get("messages") {
        Some(Value::Array(a)) => a,
        _ => &[],
    };
    let (system, turns) = convert_messages(&msgs, raw)?;

    let mut out = MessagesRequest {
        model: t.model.to_string(),
        messages: turns,
        system,
        ..MessagesRequest::default()
    };
    out.max_tokens = Some(max_tokens(&p)?);
    out.stop_sequences = stop_sequences(&p)?;
    out.temperature = p.number("temperature")?;
    out.top_p = p.number("top_p")?;
    out.top_k = p.number("top_k")?;
    if req.stream {
        out.stream = Some(true);
    }
    if let Some(Value::String(user)) = p.get("user") {
        out.metadata = Some(Metadata {
            user_id: Some(user.clone()),
        });
    }
    out.tools = tools(&p)?;
    out.tool_choice = tool_choice(&p)?;
    if let Some(schema) = json_mode_schema(&req.body) {
        out.tools.get_or_insert_with(Vec::new).push(ToolDef {
            kind: None,
            name: JSON_TOOL.to_string(),
            description: None,
            input_schema: Some(schema),
            cache_control: None,
            extra: Map::new(),
        });
        out.tool_choice = Some(ToolChoice::Tool {
            name: JSON_TOOL.to_string(),
            disable_parallel_tool_use: None,
        });
    }
    out.thinking = thinking(&p)?;
    check_unsupported(&p)?;
    Ok(out)
}

use crate::params::{invalid as bad, Params};

fn max_tokens(p: &Params<'_>) -> Result<u64, ApiError> {
    for key in ["max_completion_tokens", "max_tokens"] {
        if let Some(v) = p.get(key) {
            return v
                .as_u64()
                .ok_or_else(|| bad(key, format!("Invalid '{key}': expected a positive integer")));
        }
    }
    Ok(DEFAULT_MAX_TOKENS)
}

fn stop_sequences(p: &Params<'_>) -> Result<Option<Vec<String>>, ApiError> {
    let list = match p.get("stop") {
        None => return Ok(None),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("stop", "Invalid 'stop': expected strings".into()))?,
        Some(_) => return Err(bad("stop", "Invalid 'stop': expected strings".into())),
    };
    let mut kept = Vec::with_capacity(list.len());
    for s in list {
        if s.trim().is_empty() {
            p.unsupported("stop", &format!("whitespace-only stop sequence {s:?}"))?;
        } else {
            kept.push(s);
        }
    }
    Ok((!kept.is_empty()).then_some(kept))
}

fn tools(p: &Params<'_>) -> Result<Option<Vec<ToolDef>>, ApiError> {
    let Some(tools) = field::<Vec<Tool>>(&p.req.body, "tools")? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(tools.len());
    for tool in tools {
        if tool.kind != "function" {
            return Err(bad(
                "tools",
                format!("anthropic does not support tools of type '{}'", tool.kind),
            ));
        }
        let f = tool.function;
        out.push(ToolDef {
            kind: None,
            name: f.name,
            description: f.description,
            input_schema: Some(
                f.parameters
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            ),
            cache_control: None,
            extra: Map::new(),
        });
    }
    Ok(Some(out))
}

fn tool_choice(p: &Params<'_>) -> Result<Option<ToolChoice>, ApiError> {
    let choice = match p.get("tool_choice") {
        None => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => ToolChoice::Auto {
                disable_parallel_tool_use: None,
            },
            "required" => ToolChoice::Any {
                disable_parallel_tool_use: None,
            },
            "none" => ToolChoice::None,
            other => {
                return Err(bad(
                    "tool_choice",
                    format!("Invalid 'tool_choice': unknown value '{other}'"),
                ))
            }
        }),
        Some(v) => match v.pointer("/function/name").and_then(Value::as_str) {
            Some(name) => Some(ToolChoice::Tool {
                name: name.to_string(),
                disable_parallel_tool_use: None,
            }),
            None => return Err(bad(
                "tool_choice",
                "Invalid 'tool_choice': expected {\"type\":\"function\",\"function\":{\"name\":…}}"
                    .into(),
            )),
        },
    };
    let no_parallel = p.get("parallel_tool_calls") == Some(&Value::Bool(false));
    if !no_parallel {
        return Ok(choice);
    }
    Ok(Some(
        match choice.unwrap_or(ToolChoice::Auto {
            disable_parallel_tool_use: None,
        }) {
            ToolChoice::Auto { .. } => ToolChoice::Auto {
                disable_parallel_tool_use: Some(true),
            },
            ToolChoice::Any { .. } => ToolChoice::Any {
                disable_parallel_tool_use: Some(true),
            },
            ToolChoice::Tool { name, .. } => ToolChoice::Tool {
                name,
                disable_parallel_tool_use: Some(true),
            },
            ToolChoice::None => ToolChoice::None,
        },
    ))
}

/// `thinking` passes through; `reasoning_effort` becomes a thinking budget (LiteLLM's mapping).
fn thinking(p: &Params<'_>) -> Result<Option<Value>, ApiError> {
    if let Some(v) = p.get("thinking") {
        return Ok(Some(v.clone()));
    }
    let budget = match p.get("reasoning_effort").and_then(Value::as_str) {
        None | Some("none") => return Ok(None),
        Some("minimal" | "low") => 1024,
        Some("medium") => 2048,
        Some("high") => 4096,
        Some(other) => {
            return Err(bad(
                "reasoning_effort",
                format!("Invalid 'reasoning_effort': unknown value '{other}'"),
            ))
        }
    };
    Ok(Some(json!({"type": "enabled", "budget_tokens": budget})))
}

/// Known OpenAI parameters without an Anthropic equivalent: dropped or refused.
fn check_unsupported(p: &Params<'_>) -> Result<(), ApiError> {
    for key in UNSUPPORTED {
        if p.get(key).is_some() {
            p.unsupported(key, &format!("parameter '{key}'"))?;
        }
    }
    if let Some(n) = p.get("n") {
        if n.as_u64() != Some(1) {
            p.unsupported("n", &format!("parameter 'n' = {n} (only 1 choice)"))?;
        }
    }
    if let Some(v) = p.get("logprobs") {
        if v != &Value::Bool(false) {
            p.unsupported("logprobs", "parameter 'logprobs'")?;
        }
    }
    if let Some(v) = p.get("response_format") {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
        if !matches!(kind, "text" | "json_object" | "json_schema") {
            p.unsupported(
                "response_format",
                &format!("parameter 'response_format' of type '{kind}'"),
            )?;
        }
    }
    if let Some(v) = p.get("modalities") {
        if v != &json!(["text"]) {
            p.unsupported("modalities", &format!("parameter 'modalities' = {v}"))?;
        }
    }
    Ok(())
}

/// Splits the system prompt out and turns OpenAI messages into alternating Anthropic turns.
fn convert_messages(
    msgs: &[ChatMessage],
    raw: &[Value],
) -> Result<(Option<System>, Vec<Message>), ApiError> {
    let mut system: Vec<TextBlock> = Vec::new();
    let mut turns: Vec<Message> = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        let raw_msg = raw.get(i).unwrap_or(&Value::Null);
        let msg_cache = raw_msg.get("cache_control").cloned();
        let (role, mut blocks) = match m.role.as_str() {
            "system" | "developer" => {
                let mut blocks = system_blocks(m.content.as_ref(), raw_msg);
                if let (Some(cc), Some(last)) = (msg_cache, blocks.last_mut()) {
                    last.cache_control = Some(cc);
                }
                system.extend(blocks);
                continue;
            }
            "user" => (Role::User, user_blocks(m.content.as_ref(), raw_msg, i)?),
            "assistant" => (Role::Assistant, assistant_blocks(m, i)?),
            "tool" => (Role::User, vec![tool_result(m, raw_msg, i)?]),
            other => {
                return Err(bad(
                    "messages",
                    format!("messages[{i}]: role '{other}' is not supported by anthropic"),
                ))
            }
        };
        if let (Some(cc), Some(last)) = (msg_cache, blocks.last_mut()) {
            set_cache_control(last, cc);
        }
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(prev) if prev.role == role => {
                let MessageContent::Blocks(prev_blocks) = &mut prev.content else {
                    unreachable!("turns hold blocks until finished");
                };
                prev_blocks.extend(blocks);
            }
            _ => turns.push(Message {
                role,
                content: MessageContent::Blocks(blocks),
            }),
        }
    }
    for turn in &mut turns {
        simplify(&mut turn.content);
    }
    let system = (!system.is_empty()).then_some(System::Blocks(system));
    Ok((system, turns))
}

/// A turn that is one plain text block is sent as a string.
fn simplify(content: &mut MessageContent) {
    if let MessageContent::Blocks(blocks) = content {
        if let [ContentBlock::Text {
            text,
            cache_control: None,
            citations: None,
        }] = blocks.as_mut_slice()
        {
            *content = MessageContent::Text(std::mem::take(text));
        }
    }
}

fn set_cache_control(block: &mut ContentBlock, cc: Value) {
    match block {
        ContentBlock::Text { cache_control, .. }
        | ContentBlock::Image { cache_control, .. }
        | ContentBlock::Document { cache_control, .. }
        | ContentBlock::ToolUse { cache_control, .. }
        | ContentBlock::ToolResult { cache_control, .. } => *cache_control = Some(cc),
        _ => {}
    }
}

/// The raw JSON of content part `j` of a message, for fields the typed view does not keep.
fn raw_part(raw_msg: &Value, j: usize) -> &Value {
    raw_msg
        .get("content")
        .and_then(|c| c.get(j))
        .unwrap_or(&Value::Null)
}

fn system_blocks(content: Option<&Content>, raw_msg: &Value) -> Vec<TextBlock> {
    match content {
        None => Vec::new(),
        Some(Content::Text(t)) if t.is_empty() => Vec::new(),
        Some(Content::Text(t)) => vec![TextBlock::new(t.clone())],
        Some(Content::Parts(parts)) => parts
            .iter()
            .enumerate()
            .filter_map(|(j, p)| match p {
                ContentPart::Text { text } if !text.is_empty() => Some(TextBlock {
                    cache_control: raw_part(raw_msg, j).get("cache_control").cloned(),
                    ..TextBlock::new(text.clone())
                }),
                _ => None,
            })
            .collect(),
    }
}

/// User content (also a tool result's content): text, images, PDF files.
fn user_blocks(
    content: Option<&Content>,
    raw_msg: &Value,
    i: usize,
) -> Result<Vec<ContentBlock>, ApiError> {
    let parts = match content {
        None => return Ok(Vec::new()),
        Some(Content::Text(t)) if t.is_empty() => return Ok(Vec::new()),
        Some(Content::Text(t)) => return Ok(vec![ContentBlock::text(t.clone())]),
        Some(Content::Parts(parts)) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let raw = raw_part(raw_msg, j);
        let cache_control = raw.get("cache_control").cloned();
        let block = match part {
            ContentPart::Text { text } if text.is_empty() => continue,
            ContentPart::Text { text } => ContentBlock::Text {
                text: text.clone(),
                cache_control,
                citations: None,
            },
            ContentPart::ImageUrl { image_url } => ContentBlock::Image {
                source: image_source(&image_url.url, i, j)?,
                cache_control,
            },
            ContentPart::Other => other_part(raw, i, j, cache_control)?,
        };
        out.push(block);
    }
    Ok(out)
}

fn image_source(url: &str, i: usize, j: usize) -> Result<ImageSource, ApiError> {
    if let Some((media_type, data)) = parse_data_url(url) {
        return Ok(ImageSource::Base64 {
            media_type: media_type.to_string(),
            data: data.to_string(),
        });
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(ImageSource::Url {
            url: url.to_string(),
        });
    }
    Err(bad(
        "messages",
        format!(
            "messages[{i}].content[{j}].image_url.url: expected a base64 data: URL or an http(s) URL"
        ),
    ))
}

/// A `file` part with inline data becomes a `document` block; other part types are refused.
fn other_part(
    raw: &Value,
    i: usize,
    j: usize,
    cache_control: Option<Value>,
) -> Result<ContentBlock, ApiError> {
    let kind = raw.get("type").and_then(Value::as_str).unwrap_or("?");
    if kind == "file" {
        if let Some((media_type, data)) = raw
            .pointer("/file/file_data")
            .and_then(Value::as_str)
            .and_then(parse_data_url)
        {
            return Ok(ContentBlock::Document {
                source: json!({"type": "base64", "media_type": media_type, "data": data}),
                cache_control,
            });
        }
    }
    Err(bad(
        "messages",
        format!("messages[{i}].content[{j}]: content type '{kind}' is not supported by anthropic"),
    ))
}

fn assistant_blocks(m: &ChatMessage, i: usize) -> Result<Vec<ContentBlock>, ApiError> {
    let mut out = Vec::new();
    if let Some(content) = &m.content {
        let text = content.text();
        if !text.is_empty() {
            out.push(ContentBlock::text(text));
        }
    }
    for (k, call) in m.tool_calls.iter().flatten().enumerate() {
        let args = call.function.arguments.trim();
        let input = if args.is_empty() {
            json!({})
        } else {
            serde_json::from_str::<Value>(args).map_err(|e| {
                bad(
                    "messages",
                    format!(
                        "messages[{i}].tool_calls[{k}].function.arguments is not valid JSON: {e}"
                    ),
                )
            })?
        };
        out.push(ContentBlock::ToolUse {
            id: call.id.clone(),
            name: call.function.name.clone(),
            input,
            cache_control: None,
        });
    }
    Ok(out)
}

fn tool_result(m: &ChatMessage, raw_msg: &Value, i: usize) -> Result<ContentBlock, ApiError> {
    let Some(id) = &m.tool_call_id else {
        return Err(bad(
            "messages",
            format!("messages[{i}]: a 'tool' message needs 'tool_call_id'"),
        ));
    };
    let content = match &m.content {
        None => None,
        Some(Content::Text(t)) => Some(ToolResultContent::Text(t.clone())),
        Some(c @ Content::Parts(_)) => {
            Some(ToolResultContent::Blocks(user_blocks(Some(c), raw_msg, i)?))
        }
    };
    Ok(ContentBlock::ToolResult {
        tool_use_id: id.clone(),
        content,
        is_error: None,
        cache_control: None,
    })
}
