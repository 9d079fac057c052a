//! Canonical request → Ollama request: `/api/chat` for `ollama_chat/`, `/api/generate` for
//! `ollama/` and for `/v1/completions`, `/api/embed` for embeddings. OpenAI sampling params move
//! into `options`, `response_format` into `format`, data-URL images into `images`.

use serde_json::{Map, Value};

use super::wire::{
    ChatRequest, Common, EmbedRequest, FunctionCall, GenerateRequest, Message, ToolCall,
};
use crate::error::ApiError;
use crate::openai::wire::{self as oai, ChatMessage, Content, ContentPart};
use crate::provider::Provider;
use crate::request::{CanonicalRequest, Endpoint};
use crate::target::{ProviderRequest, Target};

/// Ollama `options` keys a client (or the deployment's `litellm_params`) may set directly.
const NATIVE_OPTIONS: &[&str] = &[
    "num_ctx",
    "num_keep",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "num_thread",
    "numa",
    "use_mmap",
    "use_mlock",
    "repeat_penalty",
    "repeat_last_n",
    "min_p",
    "typical_p",
    "tfs_z",
    "mirostat",
    "mirostat_eta",
    "mirostat_tau",
    "penalize_newline",
    "num_predict",
];

/// OpenAI params copied into `options` under the same name.
const SAME_NAME_OPTIONS: &[&str] = &[
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "frequency_penalty",
    "presence_penalty",
];

/// OpenAI params Ollama has no equivalent for: a 400, or dropped under `drop_params`.
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
];

/// The Ollama request for `req`.
pub fn build(req: &CanonicalRequest, t: &Target<'_>) -> Result<ProviderRequest, ApiError> {
    let params = Params::new(&req.body, t.defaults);
    let (path, body) = match req.endpoint {
        Endpoint::Embeddings => ("/api/embed", embed_body(t, &params)?),
        Endpoint::ImageGenerations => return Err(crate::request::not_served(req.endpoint)),
        Endpoint::ChatCompletions if t.provider == Provider::OllamaChat => {
            ("/api/chat", chat_body(req, t, &params)?)
        }
        _ => ("/api/generate", generate_body(req, t, &params)?),
    };
    let mut headers = Vec::with_capacity(2);
    let accept = if req.stream {
        "application/x-ndjson"
    } else {
        "application/json"
    };
    headers.push(("accept", accept.to_string()));
    if let Some(key) = t.api_key.filter(|k| !k.is_empty()) {
        headers.push(("authorization", format!("Bearer {key}")));
    }
    Ok(ProviderRequest {
        path: format!("{}{path}", t.base_path),
        headers,
        body,
    })
}

use crate::params::{bad_request, is_off, unsupported, Merged as Params};

/// Options, format, keep_alive and think, shared by chat and generate. Returns the tools to
/// send (chat only) as well.
fn common(
    t: &Target<'_>,
    params: &Params<'_>,
    endpoint: Endpoint,
    tools_allowed: bool,
) -> Result<(Common, Option<Value>), ApiError> {
    let mut c = Common::default();
    if let Some(Value::Object(native)) = params.get("options") {
        c.options
            .extend(native.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let mut tools = None;
    let mut tool_choice_none = false;
    for (k, v) in params.iter() {
        match k {
            _ if SAME_NAME_OPTIONS.contains(&k) || NATIVE_OPTIONS.contains(&k) => {
                c.options.insert(k.to_string(), v.clone());
            }
            "max_tokens" | "max_completion_tokens" => {
                let other = if k == "max_tokens" {
                    "max_completion_tokens"
                } else {
                    "max_tokens"
                };
                // max_completion_tokens wins when both are set.
                if k == "max_completion_tokens" || params.get(other).is_none() {
                    c.options.insert("num_predict".to_string(), v.clone());
                }
            }
            "stop" => {
                let stop = match v {
                    Value::String(s) => Value::Array(vec![Value::String(s.clone())]),
                    Value::Array(_) => v.clone(),
                    _ => return Err(bad_request("'stop' must be a string or an array", "stop")),
                };
                c.options.insert("stop".to_string(), stop);
            }
            "response_format" => c.format = response_format(v)?,
            "format" if params.get("response_format").is_none() => c.format = Some(v.clone()),
            "keep_alive" => c.keep_alive = Some(v.clone()),
            "think" => c.think = Some(v.clone()),
            "reasoning_effort" if params.get("think").is_none() => {
                c.think = Some(match v.as_str() {
                    Some("none") => Value::Bool(false),
                    Some("minimal") => Value::from("low"),
                    _ => v.clone(),
                });
            }
            "tools" if !is_off(v) => {
                if tools_allowed {
                    tools = Some(check_tools(v)?);
                } else {
                    unsupported(t, "tools")?;
                }
            }
            "tool_choice" => match v.as_str() {
                Some("auto") => {}
                Some("none") => tool_choice_none = true,
                _ => unsupported(t, "tool_choice")?,
            },
            "parallel_tool_calls" if v == &Value::Bool(false) => {
                unsupported(t, "parallel_tool_calls")?
            }
            "n" | "best_of" if v.as_u64() != Some(1) => unsupported(t, k)?,
            "suffix" if endpoint != Endpoint::Completions => unsupported(t, "suffix")?,
            _ if UNSUPPORTED.contains(&k) && !is_off(v) => unsupported(t, k)?,
            // Routing and metadata fields, and extras with no OpenAI meaning: nothing to send.
            _ => {}
        }
    }
    if tool_choice_none {
        tools = None;
    }
    Ok((c, tools))
}

/// `response_format` → Ollama `format`.
fn response_format(v: &Value) -> Result<Option<Value>, ApiError> {
    let kind = v.get("type").and_then(Value::as_str);
    match kind {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(Value::from("json"))),
        Some("json_schema") => match v.get("json_schema").and_then(|s| s.get("schema")) {
            Some(schema) if schema.is_object() => Ok(Some(schema.clone())),
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
fn check_tools(v: &Value) -> Result<Value, ApiError> {
    let Value::Array(list) = v else {
        return Err(bad_request("'tools' must be an array", "tools"));
    };
    for tool in list {
        let kind = tool
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("function");
        if kind != "function" || tool.get("function").is_none() {
            return Err(bad_request(
                format!("ollama supports only function tools, not '{kind}'"),
                "tools",
            ));
        }
    }
    Ok(v.clone())
}

fn chat_body(
    req: &CanonicalRequest,
    t: &Target<'_>,
    params: &Params<'_>,
) -> Result<Vec<u8>, ApiError> {
    let (common, tools) = common(t, params, req.endpoint, true)?;
    let body = ChatRequest {
        model: t.model.to_string(),
        messages: chat_messages(&oai::messages(&req.body)?)?,
        stream: req.stream,
        tools,
        common,
    };
    Ok(serde_json::to_vec(&body).expect("serializing JSON values cannot fail"))
}

/// Text and base64 images of one message's content.
fn text_and_images(content: Option<&Content>) -> Result<(String, Vec<String>), ApiError> {
    match content {
        None => Ok((String::new(), Vec::new())),
        Some(Content::Text(t)) => Ok((t.clone(), Vec::new())),
        Some(Content::Parts(parts)) => {
            let mut text = String::new();
            let mut images = Vec::new();
            for part in parts {
                match part {
                    ContentPart::Text { text: t } => text.push_str(t),
                    ContentPart::ImageUrl { image_url } => {
                        match oai::parse_data_url(&image_url.url) {
                            Some((_, data)) => images.push(data.to_string()),
                            None => return Err(bad_request(
                                "ollama needs images as data URLs (data:image/...;base64,...); \
                                 fetching image URLs is not supported",
                                "messages",
                            )),
                        }
                    }
                    ContentPart::Other => {
                        return Err(bad_request(
                            "ollama supports only 'text' and 'image_url' content parts",
                            "messages",
                        ))
                    }
                }
            }
            Ok((text, images))
        }
    }
}

/// OpenAI `arguments` (JSON text) → the JSON object Ollama expects.
fn arguments_value(args: &str) -> Result<Value, ApiError> {
    if args.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_str(args).map_err(|e| {
        bad_request(
            format!("tool call arguments are not valid JSON: {e}"),
            "messages",
        )
    })
}

/// The function name of the tool call `id` answered by message `at`, searching back from it.
fn tool_name_for(msgs: &[ChatMessage], at: usize, id: &str) -> Option<String> {
    msgs[..at].iter().rev().find_map(|m| {
        m.tool_calls
            .as_ref()?
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.function.name.clone())
    })
}

fn chat_messages(msgs: &[ChatMessage]) -> Result<Vec<Message>, ApiError> {
    let mut out = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        let (content, images) = text_and_images(m.content.as_ref())?;
        let mut msg = Message {
            role: m.role.clone(),
            content,
            images,
            tool_calls: Vec::new(),
            tool_name: None,
        };
        match m.role.as_str() {
            "system" | "developer" => msg.role = "system".to_string(),
            "user" => {}
            "assistant" => {
                for call in m.tool_calls.iter().flatten() {
                    msg.tool_calls.push(ToolCall {
                        function: FunctionCall {
                            name: call.function.name.clone(),
                            arguments: arguments_value(&call.function.arguments)?,
                        },
                    });
                }
            }
            "tool" | "function" => {
                msg.role = "tool".to_string();
                msg.tool_name = m.name.clone().or_else(|| {
                    m.tool_call_id
                        .as_deref()
                        .and_then(|id| tool_name_for(msgs, i, id))
                });
            }
            other => {
                return Err(bad_request(
                    format!("unknown message role '{other}'"),
                    "messages",
                ))
            }
        }
        out.push(msg);
    }
    Ok(out)
}

fn generate_body(
    req: &CanonicalRequest,
    t: &Target<'_>,
    params: &Params<'_>,
) -> Result<Vec<u8>, ApiError> {
    let (common, _) = common(t, params, req.endpoint, false)?;
    let (prompt, system, images) = match req.endpoint {
        Endpoint::Completions => (completion_prompt(params.get("prompt"))?, None, Vec::new()),
        _ => flatten(&oai::messages(&req.body)?)?,
    };
    let suffix = match params.get("suffix") {
        Some(Value::String(s)) if req.endpoint == Endpoint::Completions => Some(s.clone()),
        _ => None,
    };
    let body = GenerateRequest {
        model: t.model.to_string(),
        prompt,
        system,
        suffix,
        images,
        stream: req.stream,
        common,
    };
    Ok(serde_json::to_vec(&body).expect("serializing JSON values cannot fail"))
}

/// `/v1/completions` `prompt`: one string (or a one-string array).
fn completion_prompt(v: Option<&Value>) -> Result<String, ApiError> {
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            Ok(a[0].as_str().unwrap_or_default().to_string())
        }
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Err(bad_request(
            "ollama takes one prompt per request, not a batch",
            "prompt",
        )),
        _ => Err(bad_request("ollama needs 'prompt' as a string", "prompt")),
    }
}

/// A conversation → `/api/generate`'s `prompt`, `system` and `images`: system messages go to
/// `system`; a lone user turn is the prompt as-is, otherwise one `role: text` line per turn.
fn flatten(msgs: &[ChatMessage]) -> Result<(String, Option<String>, Vec<String>), ApiError> {
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<(&str, String)> = Vec::new();
    let mut images = Vec::new();
    for m in msgs {
        let (mut text, imgs) = text_and_images(m.content.as_ref())?;
        images.extend(imgs);
        match m.role.as_str() {
            "system" | "developer" => system.push(text),
            "user" | "assistant" | "tool" | "function" => {
                for call in m.tool_calls.iter().flatten() {
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    text.push_str(&format!(
                        "[tool call {}({})]",
                        call.function.name, call.function.arguments
                    ));
                }
                turns.push((m.role.as_str(), text));
            }
            other => {
                return Err(bad_request(
                    format!("unknown message role '{other}'"),
                    "messages",
                ))
            }
        }
    }
    let prompt = match turns.as_slice() {
        [("user", text)] => text.clone(),
        _ => turns
            .iter()
            .map(|(role, text)| format!("{role}: {text}"))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    Ok((prompt, system, images))
}

fn embed_body(t: &Target<'_>, params: &Params<'_>) -> Result<Vec<u8>, ApiError> {
    let input = params.get("input").unwrap_or(&Value::Null);
    let texts_only = match input {
        Value::String(_) => true,
        Value::Array(a) => !a.is_empty() && a.iter().all(Value::is_string),
        _ => false,
    };
    if !texts_only {
        return Err(bad_request(
            "ollama embeddings take 'input' as a string or an array of strings (not tokens)",
            "input",
        ));
    }
    if let Some(f) = params.get("encoding_format") {
        if f.as_str() != Some("float") {
            unsupported(t, "encoding_format")?;
        }
    }
    let body = EmbedRequest {
        model: t.model,
        input,
        dimensions: params.get("dimensions"),
        keep_alive: params.get("keep_alive"),
        truncate: params.get("truncate"),
    };
    Ok(serde_json::to_vec(&body).expect("serializing JSON values cannot fail"))
}
