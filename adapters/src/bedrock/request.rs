//! Canonical OpenAI request → Bedrock: chat as Converse (`/model/{id}/converse`, or
//! `/converse-stream`) with system prompts lifted out, same-role turns merged, tool calls and
//! results as blocks and images inline; embeddings as a Titan `/model/{id}/invoke`. Every OpenAI
//! parameter is mapped, dropped under `drop_params`, or refused with a 400. Unsigned: see
//! [`super::sign`].

use serde_json::{json, Value};

use super::wire::{document_format, document_name, image_format};
use super::wire::{
    BytesSource, CachePoint, ContentBlock, ConverseRequest, DocumentBlock, Empty, ImageBlock,
    InferenceConfig, InputSchema, Message, NamedTool, Role, SystemBlock, TitanEmbeddingRequest,
    ToolChoice, ToolConfig, ToolEntry, ToolResultBlock, ToolResultContent, ToolSpec, ToolUseBlock,
};
use crate::error::ApiError;
use crate::openai::wire::{
    field, messages, parse_data_url, ChatMessage, Content, ContentPart, Tool,
};
use crate::request::{CanonicalRequest, Endpoint};
use crate::target::{ProviderRequest, Target};

/// Known OpenAI parameters Converse has no equivalent for (refused unless `drop_params`).
const UNSUPPORTED: &[&str] = &[
    "logit_bias",
    "presence_penalty",
    "frequency_penalty",
    "top_logprobs",
    "seed",
    "audio",
    "prediction",
    "reasoning_effort",
    "web_search_options",
];

/// Bedrock-only Converse fields a client or deployment may set; passed through verbatim.
const PASSTHROUGH: &[&str] = &[
    "guardrailConfig",
    "performanceConfig",
    "requestMetadata",
    "additionalModelResponseFieldPaths",
    "promptVariables",
];

/// The Bedrock request for `req` (unsigned; the gateway signs it with [`super::sign::sign`]).
pub fn build(req: &CanonicalRequest, t: &Target<'_>) -> Result<ProviderRequest, ApiError> {
    let model = model_path_segment(t.model);
    let (path, body, accept) = match req.endpoint {
        Endpoint::ChatCompletions => {
            let body = build_body(req, t)?;
            let (op, accept) = if req.stream {
                ("converse-stream", "application/vnd.amazon.eventstream")
            } else {
                ("converse", "application/json")
            };
            let body = serde_json::to_vec(&body).expect("serializing wire types cannot fail");
            (format!("{}/model/{model}/{op}", t.base_path), body, accept)
        }
        Endpoint::Embeddings => {
            let body = embedding_body(req, t)?;
            let body = serde_json::to_vec(&body).expect("serializing wire types cannot fail");
            let path = format!("{}/model/{model}/invoke", t.base_path);
            (path, body, "application/json")
        }
        Endpoint::Rerank | Endpoint::Moderations => {
            return Err(crate::request::not_served(req.endpoint))
        }
        Endpoint::ImageGenerations => {
            let body = serde_json::to_vec(&super::images::body(req, t)?)
                .expect("serializing JSON values cannot fail");
            let path = format!("{}/model/{model}/invoke", t.base_path);
            (path, body, "application/json")
        }
        Endpoint::Completions => {
            return Err(ApiError::new(
                400,
                "invalid_request_error",
                "bedrock does not support the /completions endpoint; use /chat/completions",
            )
            .with_code("unsupported_endpoint"))
        }
    };
    Ok(ProviderRequest {
        path,
        headers: vec![
            ("content-type", "application/json".to_string()),
            ("accept", accept.to_string()),
        ],
        body,
    })
}

/// The model id as one URL path segment: LiteLLM's `converse/` route prefix removed, every byte
/// outside RFC 3986's unreserved set percent-encoded (`:` and the `/` of ARNs included).
pub fn model_path_segment(model: &str) -> String {
    let model = model.strip_prefix("converse/").unwrap_or(model);
    let mut out = String::with_capacity(model.len() + 8);
    for b in model.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The Converse body for `req` (exposed for tests).
pub fn build_body(req: &CanonicalRequest, t: &Target<'_>) -> Result<ConverseRequest, ApiError> {
    let p = Params { req, t };
    let msgs = messages(&req.body)?;
    let raw: &[Value] = match req.body.get("messages") {
        Some(Value::Array(a)) => a,
        _ => &[],
    };
    let (system, turns) = convert_messages(&msgs, raw)?;
    let mut out = ConverseRequest {
        messages: turns,
        system,
        ..ConverseRequest::default()
    };
    let config = InferenceConfig {
        max_tokens: max_tokens(&p)?,
        temperature: p.number("temperature")?,
        top_p: p.number("top_p")?,
        stop_sequences: stop_sequences(&p)?,
    };
    out.inference_config = (!config.is_empty()).then_some(config);
    out.tool_config = tool_config(&p)?;

    if let Some(Value::Object(extra)) = p.get("additionalModelRequestFields") {
        out.additional_model_request_fields = extra.clone();
    }
    if let Some(k) = p.number("top_k")? {
        out.additional_model_request_fields
            .insert("top_k".into(), Value::Number(k));
    }
    if let Some(thinking) = p.get("thinking") {
        out.additional_model_request_fields
            .insert("thinking".into(), thinking.clone());
    }
    for key in PASSTHROUGH {
        if let Some(v) = p.get(key) {
            out.passthrough.insert((*key).to_string(), v.clone());
        }
    }
    check_unsupported(&p)?;
    Ok(out)
}

use crate::params::{invalid as bad, Params};

fn max_tokens(p: &Params<'_>) -> Result<Option<u64>, ApiError> {
    for key in ["max_completion_tokens", "max_tokens"] {
        if let Some(v) = p.get(key) {
            return v
                .as_u64()
                .map(Some)
                .ok_or_else(|| bad(key, format!("Invalid '{key}': expected a positive integer")));
        }
    }
    Ok(None)
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
    Ok((!list.is_empty()).then_some(list))
}

fn tool_config(p: &Params<'_>) -> Result<Option<ToolConfig>, ApiError> {
    let choice = match p.get("tool_choice") {
        None => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto(Empty {})),
            "required" => Some(ToolChoice::Any(Empty {})),
            "none" => return Ok(None),
            other => {
                return Err(bad(
                    "tool_choice",
                    format!("Invalid 'tool_choice': unknown value '{other}'"),
                ))
            }
        },
        Some(v) => match v.pointer("/function/name").and_then(Value::as_str) {
            Some(name) => Some(ToolChoice::Tool(NamedTool {
                name: name.to_string(),
            })),
            None => return Err(bad(
                "tool_choice",
                "Invalid 'tool_choice': expected {\"type\":\"function\",\"function\":{\"name\":…}}"
                    .into(),
            )),
        },
    };
    let Some(tools) = field::<Vec<Tool>>(&p.req.body, "tools")? else {
        return Ok(None);
    };
    if tools.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(tools.len());
    for tool in tools {
        if tool.kind != "function" {
            return Err(bad(
                "tools",
                format!("bedrock does not support tools of type '{}'", tool.kind),
            ));
        }
        let f = tool.function;
        out.push(ToolEntry {
            tool_spec: ToolSpec {
                name: f.name,
                description: f.description,
                input_schema: InputSchema {
                    json: f
                        .parameters
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                },
            },
        });
    }
    Ok(Some(ToolConfig {
        tools: out,
        tool_choice: choice,
    }))
}

/// Known OpenAI parameters without a Converse equivalent: dropped or refused.
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
    if p.get("parallel_tool_calls") == Some(&Value::Bool(false)) {
        p.unsupported(
            "parallel_tool_calls",
            "parameter 'parallel_tool_calls' = false",
        )?;
    }
    if let Some(v) = p.get("response_format") {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
        if kind != "text" {
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

/// Splits the system prompt out and turns OpenAI messages into Converse turns, merging
/// consecutive turns of the same role (tool results are user turns).
fn convert_messages(
    msgs: &[ChatMessage],
    raw: &[Value],
) -> Result<(Vec<SystemBlock>, Vec<Message>), ApiError> {
    let mut system = Vec::new();
    let mut turns: Vec<Message> = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        let raw_msg = raw.get(i).unwrap_or(&Value::Null);
        let cached = raw_msg.get("cache_control").is_some();
        let (role, mut blocks) = match m.role.as_str() {
            "system" | "developer" => {
                let before = system.len();
                system_blocks(m.content.as_ref(), raw_msg, &mut system);
                if cached && system.len() > before {
                    system.push(SystemBlock::CachePoint(CachePoint::DEFAULT));
                }
                continue;
            }
            "user" => (Role::User, user_blocks(m.content.as_ref(), raw_msg, i)?),
            "assistant" => (Role::Assistant, assistant_blocks(m, i)?),
            "tool" => (Role::User, vec![tool_result(m, i)?]),
            other => {
                return Err(bad(
                    "messages",
                    format!("messages[{i}]: role '{other}' is not supported by bedrock"),
                ))
            }
        };
        if blocks.is_empty() {
            continue;
        }
        if cached {
            blocks.push(ContentBlock::CachePoint(CachePoint::DEFAULT));
        }
        match turns.last_mut() {
            Some(prev) if prev.role == role => prev.content.extend(blocks),
            _ => turns.push(Message {
                role,
                content: blocks,
            }),
        }
    }
    Ok((system, turns))
}

fn raw_part(raw_msg: &Value, j: usize) -> &Value {
    raw_msg
        .get("content")
        .and_then(|c| c.get(j))
        .unwrap_or(&Value::Null)
}

fn system_blocks(content: Option<&Content>, raw_msg: &Value, out: &mut Vec<SystemBlock>) {
    match content {
        None => {}
        Some(Content::Text(t)) if t.is_empty() => {}
        Some(Content::Text(t)) => out.push(SystemBlock::Text(t.clone())),
        Some(Content::Parts(parts)) => {
            for (j, p) in parts.iter().enumerate() {
                if let ContentPart::Text { text } = p {
                    if text.is_empty() {
                        continue;
                    }
                    out.push(SystemBlock::Text(text.clone()));
                    if raw_part(raw_msg, j).get("cache_control").is_some() {
                        out.push(SystemBlock::CachePoint(CachePoint::DEFAULT));
                    }
                }
            }
        }
    }
}

/// User content: text, images and documents (inline data only); empty text is skipped
/// (Converse rejects blank text blocks).
fn user_blocks(
    content: Option<&Content>,
    raw_msg: &Value,
    i: usize,
) -> Result<Vec<ContentBlock>, ApiError> {
    let parts = match content {
        None => return Ok(Vec::new()),
        Some(Content::Text(t)) if t.is_empty() => return Ok(Vec::new()),
        Some(Content::Text(t)) => return Ok(vec![ContentBlock::Text(t.clone())]),
        Some(Content::Parts(parts)) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let raw = raw_part(raw_msg, j);
        match part {
            ContentPart::Text { text } if text.is_empty() => continue,
            ContentPart::Text { text } => out.push(ContentBlock::Text(text.clone())),
            ContentPart::ImageUrl { image_url } => {
                out.push(ContentBlock::Image(image(&image_url.url, i, j)?))
            }
            ContentPart::Other => out.push(document(raw, i, j)?),
        }
        if raw.get("cache_control").is_some() {
            out.push(ContentBlock::CachePoint(CachePoint::DEFAULT));
        }
    }
    Ok(out)
}

fn image(url: &str, i: usize, j: usize) -> Result<ImageBlock, ApiError> {
    let Some((media_type, data)) = parse_data_url(url) else {
        return Err(bad(
            "messages",
            format!(
                "messages[{i}].content[{j}].image_url.url: bedrock needs images as data URLs \
                 (data:image/png;base64,…)"
            ),
        ));
    };
    let Some(format) = image_format(media_type) else {
        return Err(bad(
            "messages",
            format!(
                "messages[{i}].content[{j}]: image type '{media_type}' is not supported by \
                 bedrock (png, jpeg, gif, webp)"
            ),
        ));
    };
    Ok(ImageBlock {
        format,
        source: BytesSource {
            bytes: data.to_string(),
        },
    })
}

/// A `file` part with inline data becomes a `document` block; other part types are refused.
fn document(raw: &Value, i: usize, j: usize) -> Result<ContentBlock, ApiError> {
    let kind = raw.get("type").and_then(Value::as_str).unwrap_or("?");
    let data_url = raw.pointer("/file/file_data").and_then(Value::as_str);
    if let (true, Some((media_type, data))) = (kind == "file", data_url.and_then(parse_data_url)) {
        let Some(format) = document_format(media_type) else {
            return Err(bad(
                "messages",
                format!(
                    "messages[{i}].content[{j}]: file type '{media_type}' is not supported by \
                     bedrock"
                ),
            ));
        };
        let given = raw.pointer("/file/filename").and_then(Value::as_str);
        return Ok(ContentBlock::Document(DocumentBlock {
            format,
            name: document_name(given.unwrap_or(""), &format!("document-{i}-{j}")),
            source: BytesSource {
                bytes: data.to_string(),
            },
        }));
    }
    Err(bad(
        "messages",
        format!("messages[{i}].content[{j}]: content type '{kind}' is not supported by bedrock"),
    ))
}

fn assistant_blocks(m: &ChatMessage, i: usize) -> Result<Vec<ContentBlock>, ApiError> {
    let mut out = Vec::new();
    if let Some(content) = &m.content {
        let text = content.text();
        if !text.is_empty() {
            out.push(ContentBlock::Text(text));
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
        out.push(ContentBlock::ToolUse(ToolUseBlock {
            tool_use_id: call.id.clone(),
            name: call.function.name.clone(),
            input,
        }));
    }
    Ok(out)
}

fn tool_result(m: &ChatMessage, i: usize) -> Result<ContentBlock, ApiError> {
    let Some(id) = &m.tool_call_id else {
        return Err(bad(
            "messages",
            format!("messages[{i}]: a 'tool' message needs 'tool_call_id'"),
        ));
    };
    let mut content = Vec::new();
    match &m.content {
        None => {}
        Some(Content::Text(t)) => content.push(ToolResultContent::Text(t.clone())),
        Some(Content::Parts(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                match part {
                    ContentPart::Text { text } => {
                        content.push(ToolResultContent::Text(text.clone()))
                    }
                    ContentPart::ImageUrl { image_url } => {
                        content.push(ToolResultContent::Image(image(&image_url.url, i, j)?))
                    }
                    ContentPart::Other => {
                        return Err(bad(
                            "messages",
                            format!(
                                "messages[{i}].content[{j}]: only text and images are supported \
                                 in bedrock tool results"
                            ),
                        ))
                    }
                }
            }
        }
    }
    if content.is_empty() {
        content.push(ToolResultContent::Text(String::new()));
    }
    Ok(ContentBlock::ToolResult(ToolResultBlock {
        tool_use_id: id.clone(),
        content,
        status: None,
    }))
}

/// The Titan text-embeddings body: one input string only.
fn embedding_body(
    req: &CanonicalRequest,
    t: &Target<'_>,
) -> Result<TitanEmbeddingRequest, ApiError> {
    let p = Params { req, t };
    if t.model.contains("cohere.embed") {
        return Err(ApiError::new(
            400,
            "invalid_request_error",
            format!(
                "bedrock embeddings support Amazon Titan text models; '{}' is not supported by \
                 this build",
                t.model
            ),
        )
        .with_code("unsupported_model"));
    }
    let input = match req.body.get("input") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            a[0].as_str().unwrap_or_default().to_string()
        }
        Some(Value::Array(a)) if a.len() > 1 => {
            return Err(bad(
                "input",
                format!(
                    "bedrock Titan embeddings take one input per request; got {} inputs",
                    a.len()
                ),
            ))
        }
        _ => {
            return Err(bad(
                "input",
                "Invalid 'input': bedrock Titan embeddings need one string".into(),
            ))
        }
    };
    let dimensions = match p.get("dimensions") {
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            bad(
                "dimensions",
                "Invalid 'dimensions': expected a positive integer".into(),
            )
        })?),
    };
    if let Some(v) = p.get("encoding_format") {
        if v != "float" {
            p.unsupported(
                "encoding_format",
                &format!("parameter 'encoding_format' = {v}"),
            )?;
        }
    }
    Ok(TitanEmbeddingRequest {
        input_text: input,
        dimensions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_one_encoded_path_segment() {
        assert_eq!(
            model_path_segment("anthropic.claude-3-5-sonnet-20240620-v1:0"),
            "anthropic.claude-3-5-sonnet-20240620-v1%3A0"
        );
        assert_eq!(
            model_path_segment("converse/arn:aws:bedrock:us-east-1:1:inference-profile/x"),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx"
        );
    }
}
