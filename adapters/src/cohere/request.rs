//! Canonical request → Cohere v2 request: `/v2/chat` for chat and completions (a completion
//! prompt is one user message), `/v2/embed` for embeddings. Sampling params are renamed, tools
//! pass through, `tool_choice`/`response_format` are reshaped, and every OpenAI parameter Cohere
//! cannot take is dropped under `drop_params` or refused with a 400 naming it.

use serde_json::{json, Map, Value};

use super::wire::{ChatRequest, EmbedRequest, Message, MessageContent, Part};
use crate::error::ApiError;
use crate::openai::wire::{self as oai, ChatMessage, Content, ContentPart};
use crate::request::{CanonicalRequest, Endpoint};
use crate::target::{ProviderRequest, Target};

/// OpenAI params sent under the same name.
const SAME_NAME: &[&str] = &[
    "temperature",
    "seed",
    "frequency_penalty",
    "presence_penalty",
];

/// Cohere-native chat fields a client (or the deployment's `litellm_params`) may set directly.
const NATIVE: &[&str] = &[
    "safety_mode",
    "strict_tools",
    "documents",
    "citation_options",
    "thinking",
    "priority",
    "p",
    "k",
    "stop_sequences",
];

/// OpenAI params Cohere has no equivalent for: a 400, or dropped under `drop_params`.
const UNSUPPORTED: &[&str] = &[
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "audio",
    "modalities",
    "prediction",
    "web_search_options",
    "functions",
    "function_call",
    "echo",
    "suffix",
];

/// The Cohere request for `req`: `POST {base_path}/v2/chat` or `/v2/embed`, bearer auth.
pub fn build(req: &CanonicalRequest, t: &Target<'_>) -> Result<ProviderRequest, ApiError> {
    let params = Params::new(&req.body, t.defaults);
    let (path, body) = match req.endpoint {
        Endpoint::Embeddings => ("/v2/embed", embed_body(t, &params)?),
        Endpoint::ImageGenerations | Endpoint::Rerank | Endpoint::Moderations => {
            return Err(crate::request::not_served(req.endpoint))
        }
        Endpoint::ChatCompletions | Endpoint::Completions => {
            ("/v2/chat", chat_body(req, t, &params)?)
        }
    };
    let mut headers = Vec::with_capacity(3);
    if let Some(key) = t.api_key.filter(|k| !k.is_empty()) {
        headers.push(("authorization", format!("Bearer {key}")));
    }
    headers.push(("content-type", "application/json".to_string()));
    let accept = if req.stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    headers.push(("accept", accept.to_string()));
    Ok(ProviderRequest {
        path: format!("{}{path}", t.base_path),
        headers,
        body,
    })
}

use crate::params::{bad_request, is_off, unsupported, Merged as Params};

fn chat_body(
    req: &CanonicalRequest,
    t: &Target<'_>,
    params: &Params<'_>,
) -> Result<Vec<u8>, ApiError> {
    let messages = match req.endpoint {
        Endpoint::Completions => vec![Message {
            role: "user",
            content: Some(MessageContent::Text(completion_prompt(
                params.get("prompt"),
            )?)),
            tool_plan: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
        }],
        _ => chat_messages(&oai::messages(&req.body)?)?,
    };
    let body = ChatRequest {
        model: t.model,
        messages,
        stream: req.stream,
        params: chat_params(t, params, req.endpoint)?,
    };
    Ok(serde_json::to_vec(&body).expect("serializing JSON values cannot fail"))
}

/// OpenAI parameters → Cohere's.
fn chat_params(
    t: &Target<'_>,
    params: &Params<'_>,
    endpoint: Endpoint,
) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    let mut tools: Option<Vec<Value>> = None;
    let mut forced: Option<&str> = None;
    for (k, v) in params.iter() {
        match k {
            _ if SAME_NAME.contains(&k) || NATIVE.contains(&k) => {
                out.insert(k.to_string(), v.clone());
            }
            "top_p" if params.get("p").is_none() => {
                out.insert("p".to_string(), v.clone());
            }
            "top_k" if params.get("k").is_none() => {
                out.insert("k".to_string(), v.clone());
            }
            // max_completion_tokens wins when both are set.
            "max_completion_tokens" => {
                out.insert("max_tokens".to_string(), v.clone());
            }
            "max_tokens" if params.get("max_completion_tokens").is_none() => {
                out.insert("max_tokens".to_string(), v.clone());
            }
            "stop" if params.get("stop_sequences").is_none() => {
                let stop = match v {
                    Value::String(s) => json!([s]),
                    Value::Array(a) if a.iter().all(Value::is_string) => v.clone(),
                    _ => return Err(bad_request("'stop' must be a string or an array", "stop")),
                };
                out.insert("stop_sequences".to_string(), stop);
            }
            "response_format" => {
                if let Some(rf) = response_format(v)? {
                    out.insert("response_format".to_string(), rf);
                }
            }
            "reasoning_effort" if params.get("thinking").is_none() => {
                let kind = if v.as_str() == Some("none") {
                    "disabled"
                } else {
                    "enabled"
                };
                out.insert("thinking".to_string(), json!({"type": kind}));
            }
            "tools" if !is_off(v) => {
                if endpoint == Endpoint::Completions {
                    unsupported(t, "tools")?;
                } else {
                    tools = Some(check_tools(v)?);
                }
            }
            "tool_choice" => match v {
                Value::String(s) if s == "auto" => {}
                Value::String(s) if s == "required" => {
                    out.insert("tool_choice".to_string(), Value::from("REQUIRED"));
                }
                Value::String(s) if s == "none" => {
                    out.insert("tool_choice".to_string(), Value::from("NONE"));
                }
                Value::Object(_) => match v.pointer("/function/name").and_then(Value::as_str) {
                    Some(name) => forced = Some(name),
                    None => {
                        return Err(bad_request(
                            "tool_choice must be 'auto', 'none', 'required' or {\"type\":\"function\",\"function\":{\"name\":...}}",
                            "tool_choice",
                        ))
                    }
                },
                _ => {
                    return Err(bad_request(
                        "tool_choice must be 'auto', 'none', 'required' or a function",
                        "tool_choice",
                    ))
                }
            },
            "parallel_tool_calls" if v == &Value::Bool(false) => {
                unsupported(t, "parallel_tool_calls")?
            }
            "n" | "best_of" if v.as_u64() != Some(1) => unsupported(t, k)?,
            _ if UNSUPPORTED.contains(&k) && !is_off(v) => unsupported(t, k)?,
            // Routing, metadata (`user`, `metadata`, `store`, `stream_options`, …) and extras
            // with no OpenAI meaning: nothing to send.
            _ => {}
        }
    }
    if let Some(name) = forced {
        // Cohere cannot force one named tool: offer only that tool, and require a call.
        let list = tools.as_mut().ok_or_else(|| {
            bad_request(
                format!("tool_choice names '{name}' but no tools were given"),
                "tool_choice",
            )
        })?;
        list.retain(|tool| tool.pointer("/function/name").and_then(Value::as_str) == Some(name));
        if list.is_empty() {
            return Err(bad_request(
                format!("tool_choice names '{name}', which is not in 'tools'"),
                "tool_choice",
            ));
        }
        out.insert("tool_choice".to_string(), Value::from("REQUIRED"));
    }
    if let Some(list) = tools {
        out.insert("tools".to_string(), Value::Array(list));
    }
    Ok(out)
}

/// `response_format` → Cohere's `{type: "json_object", json_schema?}` (`text` → nothing).
fn response_format(v: &Value) -> Result<Option<Value>, ApiError> {
    match v.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => match v.pointer("/json_schema/schema") {
            Some(schema) if schema.is_object() => {
                Ok(Some(json!({"type": "json_object", "json_schema": schema})))
            }
            _ => Err(bad_request(
                "response_format json_schema needs json_schema.schema (an object)",
                "response_format",
            )),
        },
        _ => Err(bad_request(
            "response_format.type must be 'text', 'json_object' or 'json_schema'",
            "response_format",
        )),
    }
}

/// OpenAI function tools pass through unchanged; any other tool type is refused.
fn check_tools(v: &Value) -> Result<Vec<Value>, ApiError> {
    let Value::Array(list) = v else {
        return Err(bad_request("'tools' must be an array", "tools"));
    };
    for tool in list {
        let kind = tool
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("function");
        if kind != "function" || tool.pointer("/function/name").is_none() {
            return Err(bad_request(
                format!("cohere supports only function tools, not '{kind}'"),
                "tools",
            ));
        }
    }
    Ok(list.clone())
}

/// `/v1/completions` `prompt`: one string (or a one-string array).
fn completion_prompt(v: Option<&Value>) -> Result<String, ApiError> {
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            Ok(a[0].as_str().unwrap_or_default().to_string())
        }
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Err(bad_request(
            "cohere takes one prompt per request, not a batch",
            "prompt",
        )),
        _ => Err(bad_request("cohere needs 'prompt' as a string", "prompt")),
    }
}

/// A message's text only (system, assistant and tool turns); images there are refused.
fn text_only(m: &ChatMessage) -> Result<String, ApiError> {
    match &m.content {
        None => Ok(String::new()),
        Some(Content::Text(t)) => Ok(t.clone()),
        Some(Content::Parts(parts)) => {
            if parts.iter().any(|p| !matches!(p, ContentPart::Text { .. })) {
                return Err(bad_request(
                    format!("cohere takes only text content in '{}' messages", m.role),
                    "messages",
                ));
            }
            Ok(m.content.as_ref().map(Content::text).unwrap_or_default())
        }
    }
}

/// A user turn: a string stays a string; parts become Cohere text/image_url parts.
fn user_content(content: Option<&Content>) -> Result<MessageContent, ApiError> {
    match content {
        None => Ok(MessageContent::Text(String::new())),
        Some(Content::Text(t)) => Ok(MessageContent::Text(t.clone())),
        Some(Content::Parts(parts)) => parts
            .iter()
            .map(|p| match p {
                ContentPart::Text { text } => Ok(Part::Text { text: text.clone() }),
                ContentPart::ImageUrl { image_url } => Ok(Part::ImageUrl {
                    image_url: image_url.clone(),
                }),
                ContentPart::Other => Err(bad_request(
                    "cohere supports only 'text' and 'image_url' content parts",
                    "messages",
                )),
            })
            .collect::<Result<_, _>>()
            .map(MessageContent::Parts),
    }
}

fn chat_messages(msgs: &[ChatMessage]) -> Result<Vec<Message>, ApiError> {
    let mut out = Vec::with_capacity(msgs.len());
    for m in msgs {
        let mut msg = Message {
            role: "user",
            content: None,
            tool_plan: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
        };
        match m.role.as_str() {
            "system" | "developer" => {
                msg.role = "system";
                msg.content = Some(MessageContent::Text(text_only(m)?));
            }
            "user" => msg.content = Some(user_content(m.content.as_ref())?),
            "assistant" => {
                msg.role = "assistant";
                let text = text_only(m)?;
                msg.tool_calls = m.tool_calls.clone().unwrap_or_default();
                for call in &mut msg.tool_calls {
                    call.kind = "function".to_string();
                    if call.function.arguments.trim().is_empty() {
                        call.function.arguments = "{}".to_string();
                    }
                }
                if msg.tool_calls.is_empty() {
                    msg.content = Some(MessageContent::Text(text));
                } else if !text.is_empty() {
                    msg.tool_plan = Some(text);
                }
            }
            "tool" => {
                msg.role = "tool";
                let Some(id) = m.tool_call_id.clone() else {
                    return Err(bad_request(
                        "a 'tool' message needs 'tool_call_id' for cohere",
                        "messages",
                    ));
                };
                msg.tool_call_id = Some(id);
                msg.content = Some(MessageContent::Text(text_only(m)?));
            }
            other => {
                return Err(bad_request(
                    format!("cohere does not support the message role '{other}'"),
                    "messages",
                ))
            }
        }
        out.push(msg);
    }
    Ok(out)
}

fn embed_body(t: &Target<'_>, params: &Params<'_>) -> Result<Vec<u8>, ApiError> {
    let texts: Vec<&str> =
        match params.get("input") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_string) => {
                a.iter().filter_map(Value::as_str).collect()
            }
            _ => return Err(bad_request(
                "cohere embeddings take 'input' as a string or an array of strings (not tokens)",
                "input",
            )),
        };
    if let Some(f) = params.get("encoding_format") {
        if f.as_str() != Some("float") {
            unsupported(t, "encoding_format")?;
        }
    }
    let input_type = params
        .get("input_type")
        .or_else(|| t.internal.get("input_type"))
        .and_then(Value::as_str)
        .unwrap_or("search_document");
    let body = EmbedRequest {
        model: t.model,
        texts,
        input_type,
        embedding_types: ["float"],
        output_dimension: params.get("dimensions").or(params.get("output_dimension")),
        truncate: params.get("truncate"),
    };
    Ok(serde_json::to_vec(&body).expect("serializing JSON values cannot fail"))
}
