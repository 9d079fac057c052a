//! Canonical request → Gemini request: the AI Studio / Vertex URL and credential header, OpenAI
//! messages → `contents` + `systemInstruction`, tools, `toolConfig`, `generationConfig`, and the
//! embeddings bodies (`batchEmbedContents` / `predict`). Parameters Gemini cannot take are
//! dropped under `drop_params`, otherwise refused with a 400 naming them.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use super::wire::{
    clean_schema, mime_from_extension, Blob, Content, FileData, FunctionCall,
    FunctionCallingConfig, FunctionDeclaration, FunctionResponse, GenerateContentRequest, Part,
    ToolConfig, ToolDecl,
};
use crate::error::ApiError;
use crate::openai::wire::{parse_data_url, ChatMessage, Content as OaContent, ContentPart, Tool};
use crate::provider::Provider;
use crate::request::{CanonicalRequest, Endpoint};
use crate::target::{ProviderRequest, Target};

/// Known OpenAI parameters with no Gemini equivalent. A value equal to OpenAI's default (per
/// [`is_default`]) is accepted as a no-op.
const UNSUPPORTED: &[&str] = &[
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "functions",
    "function_call",
    "audio",
    "modalities",
    "prediction",
    "reasoning_effort",
    "web_search_options",
    "service_tier",
    "store",
    "verbosity",
    "parallel_tool_calls",
    "suffix",
    "echo",
    "best_of",
    "encoding_format",
];

/// Builds the Gemini (AI Studio or Vertex) request for `req`.
pub fn build(req: &CanonicalRequest, t: &Target<'_>) -> Result<ProviderRequest, ApiError> {
    let p = Params { req, t };
    p.check_unsupported()?;
    let vertex = t.provider == Provider::VertexAi;
    let (method, body) = match req.endpoint {
        Endpoint::Rerank | Endpoint::Moderations => {
            return Err(crate::request::not_served(req.endpoint))
        }
        Endpoint::ImageGenerations => ("predict", super::images::body(req, t)?),
        Endpoint::Embeddings if vertex => ("predict", vertex_embeddings(&p)?),
        Endpoint::Embeddings => ("batchEmbedContents", studio_embeddings(&p)?),
        Endpoint::ChatCompletions | Endpoint::Completions if req.stream => {
            ("streamGenerateContent", to_value(generate_body(&p)?))
        }
        Endpoint::ChatCompletions | Endpoint::Completions => {
            ("generateContent", to_value(generate_body(&p)?))
        }
    };
    let query = if req.stream { "?alt=sse" } else { "" };
    let accept = if req.stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    let mut headers = vec![("accept", accept.to_string())];
    let path = if vertex {
        let project = internal(t, "vertex_project")?;
        let location = internal(t, "vertex_location")?;
        if let Some(key) = t.api_key {
            headers.push(("authorization", format!("Bearer {key}")));
        }
        format!(
            "{}/v1/projects/{project}/locations/{location}/publishers/google/models/{}:{method}{query}",
            t.base_path, t.model
        )
    } else {
        if let Some(key) = t.api_key {
            headers.push(("x-goog-api-key", key.to_string()));
        }
        format!("{}/v1beta/models/{}:{method}{query}", t.base_path, t.model)
    };
    Ok(ProviderRequest {
        path,
        headers,
        body: serde_json::to_vec(&body).expect("serializing JSON values cannot fail"),
    })
}

/// A Vertex setting from `litellm_params` (`vertex_project`, `vertex_location`).
fn internal<'a>(t: &Target<'a>, key: &str) -> Result<&'a str, ApiError> {
    match t.internal.get(key).and_then(Value::as_str) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(invalid(format!(
            "vertex_ai deployment for {} is missing {key} (set litellm_params.{key})",
            t.model
        ))
        .with_param(key)),
    }
}

/// The client's body with the deployment's defaults behind it.
struct Params<'r, 't> {
    req: &'r CanonicalRequest,
    t: &'r Target<'t>,
}

impl<'r> Params<'r, '_> {
    /// The client's value, else the deployment default; `null` counts as unset.
    fn get(&self, key: &str) -> Option<&'r Value> {
        let v = self.req.body.get(key).filter(|v| !v.is_null());
        let d = || -> Option<&'r Value> { self.t.defaults.get(key).filter(|v| !v.is_null()) };
        v.or_else(d)
    }

    fn typed<T: DeserializeOwned>(&self, key: &'static str) -> Result<Option<T>, ApiError> {
        self.get(key)
            .map(|v| {
                T::deserialize(v)
                    .map_err(|e| invalid(format!("Invalid '{key}': {e}")).with_param(key))
            })
            .transpose()
    }

    /// Refuses (or, under `drop_params`, ignores) OpenAI parameters Gemini cannot take.
    fn check_unsupported(&self) -> Result<(), ApiError> {
        if self.t.drop_params {
            return Ok(());
        }
        for key in UNSUPPORTED {
            match self.get(key) {
                Some(v) if !is_default(key, v) => {
                    return Err(invalid(format!(
                        "{key} is not supported by {} (set drop_params: true to drop it)",
                        self.t.provider.prefix()
                    ))
                    .with_param(*key)
                    .with_code("unsupported_parameter"))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Whether an unsupported parameter's value is OpenAI's default, i.e. asks for nothing.
fn is_default(key: &str, v: &Value) -> bool {
    match (key, v) {
        ("logprobs" | "echo" | "store", Value::Bool(false)) => true,
        ("logprobs" | "top_logprobs", Value::Number(n)) => n.as_u64() == Some(0),
        ("best_of", Value::Number(n)) => n.as_u64() == Some(1),
        ("parallel_tool_calls", Value::Bool(true)) => true,
        ("encoding_format", Value::String(s)) => s == "float",
        ("modalities", Value::Array(m)) => m.iter().all(|x| x == "text"),
        _ => false,
    }
}

fn to_value(body: GenerateContentRequest) -> Value {
    serde_json::to_value(body).expect("serializing JSON values cannot fail")
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "invalid_request_error", message)
}

fn generate_body(p: &Params<'_, '_>) -> Result<GenerateContentRequest, ApiError> {
    let messages: Vec<ChatMessage> = match p.req.endpoint {
        Endpoint::Completions => vec![prompt_message(p.get("prompt"))?],
        _ => p.typed("messages")?.unwrap_or_default(),
    };
    let (contents, system_instruction) = contents(&messages)?;
    let mut body = GenerateContentRequest {
        contents,
        system_instruction,
        safety_settings: p.get("safety_settings").cloned(),
        ..GenerateContentRequest::default()
    };
    if let Some(tools) = p.typed::<Vec<Tool>>("tools")? {
        let decls = tools
            .into_iter()
            .map(declaration)
            .collect::<Result<Vec<_>, _>>()?;
        if !decls.is_empty() {
            body.tools = vec![ToolDecl {
                function_declarations: decls,
            }];
        }
    }
    if let Some(choice) = p.get("tool_choice") {
        body.tool_config = Some(tool_config(choice)?);
    }
    body.generation_config = generation_config(p)?;
    Ok(body)
}

/// `prompt` of `/completions` as one user message (a string or a one-string list).
fn prompt_message(prompt: Option<&Value>) -> Result<ChatMessage, ApiError> {
    let text = match prompt {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            a[0].as_str().unwrap_or_default().to_string()
        }
        _ => {
            return Err(
                invalid("gemini takes 'prompt' as one string (no batches or token arrays)")
                    .with_param("prompt"),
            )
        }
    };
    Ok(ChatMessage {
        role: "user".to_string(),
        content: Some(OaContent::Text(text)),
        name: None,
        tool_calls: None,
        tool_call_id: None,
    })
}

/// OpenAI messages → Gemini `contents` (consecutive same-role turns merged) and the
/// `systemInstruction` gathered from every system/developer message.
fn contents(messages: &[ChatMessage]) -> Result<(Vec<Content>, Option<Content>), ApiError> {
    let mut system = Vec::new();
    let mut out: Vec<Content> = Vec::new();
    // tool_call id → function name, updated in order so reused ids resolve to the latest call.
    let mut names: HashMap<&str, &str> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        let (role, parts) = match m.role.as_str() {
            "system" | "developer" => {
                let text = m.content.as_ref().map(OaContent::text).unwrap_or_default();
                if !text.is_empty() {
                    system.push(Part::text(text));
                }
                continue;
            }
            "user" => ("user", user_parts(m.content.as_ref(), i)?),
            "assistant" => {
                let mut parts = Vec::new();
                let text = m.content.as_ref().map(OaContent::text).unwrap_or_default();
                if !text.is_empty() {
                    parts.push(Part::text(text));
                }
                for call in m.tool_calls.iter().flatten() {
                    names.insert(&call.id, &call.function.name);
                    parts.push(Part {
                        function_call: Some(FunctionCall {
                            name: call.function.name.clone(),
                            args: arguments(&call.function.arguments, i)?,
                        }),
                        ..Part::default()
                    });
                }
                ("model", parts)
            }
            "tool" | "function" => {
                let by_id = m
                    .tool_call_id
                    .as_deref()
                    .and_then(|id| names.get(id).copied());
                let Some(name) = by_id.or(m.name.as_deref()) else {
                    return Err(invalid(format!(
                        "messages[{i}]: no earlier assistant tool_call has id {:?}",
                        m.tool_call_id.as_deref().unwrap_or_default()
                    ))
                    .with_param("messages"));
                };
                let text = m.content.as_ref().map(OaContent::text).unwrap_or_default();
                let content = serde_json::from_str::<Value>(&text)
                    .unwrap_or_else(|_| json!({ "result": text }));
                let part = Part {
                    function_response: Some(FunctionResponse {
                        name: name.to_string(),
                        response: json!({ "content": content }),
                    }),
                    ..Part::default()
                };
                ("user", vec![part])
            }
            other => {
                return Err(invalid(format!(
                    "messages[{i}]: role {other:?} is not supported by gemini"
                ))
                .with_param("messages"))
            }
        };
        if parts.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
            _ => out.push(Content {
                role: Some(role.to_string()),
                parts,
            }),
        }
    }
    let system = (!system.is_empty()).then_some(Content {
        role: None,
        parts: system,
    });
    Ok((out, system))
}

/// A tool call's JSON `arguments` text as a JSON object (`""` is `{}`).
fn arguments(text: &str, i: usize) -> Result<Value, ApiError> {
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(text).map_err(|e| {
        invalid(format!(
            "messages[{i}]: tool call arguments are not valid JSON: {e}"
        ))
        .with_param("messages")
    })
}

fn user_parts(content: Option<&OaContent>, i: usize) -> Result<Vec<Part>, ApiError> {
    match content {
        None => Ok(Vec::new()),
        Some(OaContent::Text(t)) if t.is_empty() => Ok(Vec::new()),
        Some(OaContent::Text(t)) => Ok(vec![Part::text(t.clone())]),
        Some(OaContent::Parts(parts)) => parts
            .iter()
            .map(|part| match part {
                ContentPart::Text { text } => Ok(Part::text(text.clone())),
                ContentPart::ImageUrl { image_url } => image_part(&image_url.url, i),
                ContentPart::Other => Err(invalid(format!(
                    "messages[{i}]: only text and image_url content parts are supported by gemini"
                ))
                .with_param("messages")),
            })
            .collect(),
    }
}

/// A data URL → `inlineData`; an http(s)/gs URL → `fileData` with a MIME type from the extension.
fn image_part(url: &str, i: usize) -> Result<Part, ApiError> {
    if let Some((mime, data)) = parse_data_url(url) {
        return Ok(Part {
            inline_data: Some(Blob {
                mime_type: mime.to_string(),
                data: data.to_string(),
            }),
            ..Part::default()
        });
    }
    if ["http://", "https://", "gs://"]
        .iter()
        .any(|s| url.starts_with(s))
    {
        return Ok(Part {
            file_data: Some(FileData {
                mime_type: mime_from_extension(url).to_string(),
                file_uri: url.to_string(),
            }),
            ..Part::default()
        });
    }
    Err(invalid(format!(
        "messages[{i}]: image_url must be a base64 data URL or an http(s)/gs URL"
    ))
    .with_param("messages"))
}

fn declaration(tool: Tool) -> Result<FunctionDeclaration, ApiError> {
    if tool.kind != "function" {
        return Err(invalid(format!(
            "tools: type {:?} is not supported by gemini (only \"function\")",
            tool.kind
        ))
        .with_param("tools"));
    }
    let f = tool.function;
    let parameters = f.parameters.as_ref().map(clean_schema).filter(|s| {
        // Gemini rejects an OBJECT schema without properties: omit it (no parameters).
        let empty_object = s.get("type").and_then(Value::as_str) == Some("object")
            && s.get("properties")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty);
        !empty_object
    });
    Ok(FunctionDeclaration {
        name: f.name,
        description: f.description,
        parameters,
    })
}

fn tool_config(choice: &Value) -> Result<ToolConfig, ApiError> {
    let (mode, allowed) = match choice {
        Value::String(s) if s == "auto" => ("AUTO", Vec::new()),
        Value::String(s) if s == "none" => ("NONE", Vec::new()),
        Value::String(s) if s == "required" => ("ANY", Vec::new()),
        Value::Object(o) => match o.get("function").and_then(|f| f.get("name")) {
            Some(Value::String(name)) => ("ANY", vec![name.clone()]),
            _ => {
                return Err(invalid(
                    "tool_choice: expected {\"type\":\"function\",\"function\":{\"name\":…}}",
                )
                .with_param("tool_choice"))
            }
        },
        _ => {
            return Err(
                invalid(format!("tool_choice {choice} is not supported by gemini"))
                    .with_param("tool_choice"),
            )
        }
    };
    Ok(ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode,
            allowed_function_names: allowed,
        },
    })
}

fn generation_config(p: &Params<'_, '_>) -> Result<Map<String, Value>, ApiError> {
    let mut g = Map::new();
    let copies = [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("n", "candidateCount"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ];
    for (from, to) in copies {
        if let Some(v) = p.get(from) {
            g.insert(to.to_string(), v.clone());
        }
    }
    if let Some(v) = p
        .get("max_completion_tokens")
        .or_else(|| p.get("max_tokens"))
    {
        g.insert("maxOutputTokens".to_string(), v.clone());
    }
    match p.get("stop") {
        Some(Value::String(s)) => {
            g.insert("stopSequences".to_string(), json!([s]));
        }
        Some(v @ Value::Array(_)) => {
            g.insert("stopSequences".to_string(), v.clone());
        }
        Some(_) => {
            return Err(
                invalid("Invalid 'stop': expected a string or a list of strings")
                    .with_param("stop"),
            )
        }
        None => {}
    }
    if let Some(rf) = p.get("response_format") {
        match rf.get("type").and_then(Value::as_str) {
            Some("text") => {}
            Some("json_object") => {
                g.insert("responseMimeType".to_string(), json!("application/json"));
            }
            Some("json_schema") => {
                g.insert("responseMimeType".to_string(), json!("application/json"));
                if let Some(schema) = rf.get("json_schema").and_then(|j| j.get("schema")) {
                    g.insert("responseSchema".to_string(), clean_schema(schema));
                }
            }
            _ => {
                return Err(
                    invalid(format!("response_format {rf} is not supported by gemini"))
                        .with_param("response_format"),
                )
            }
        }
    }
    Ok(g)
}

/// The embedding inputs: a string or a list of strings (token arrays cannot be sent to Gemini).
fn inputs<'a>(p: &Params<'a, '_>) -> Result<Vec<&'a str>, ApiError> {
    let bad = || {
        invalid("gemini takes 'input' as a string or a non-empty list of strings")
            .with_param("input")
    };
    match p.get("input") {
        Some(Value::String(s)) => Ok(vec![s.as_str()]),
        Some(Value::Array(a)) if !a.is_empty() => {
            a.iter().map(|v| v.as_str().ok_or_else(bad)).collect()
        }
        _ => Err(bad()),
    }
}

fn studio_embeddings(p: &Params<'_, '_>) -> Result<Value, ApiError> {
    let model = format!("models/{}", p.t.model);
    let dims = p.get("dimensions");
    let requests: Vec<Value> = inputs(p)?
        .into_iter()
        .map(|text| {
            let mut r = json!({"model": model, "content": {"parts": [{"text": text}]}});
            if let Some(d) = dims {
                r["outputDimensionality"] = d.clone();
            }
            r
        })
        .collect();
    Ok(json!({ "requests": requests }))
}

fn vertex_embeddings(p: &Params<'_, '_>) -> Result<Value, ApiError> {
    let instances: Vec<Value> = inputs(p)?
        .into_iter()
        .map(|text| json!({ "content": text }))
        .collect();
    let mut body = json!({ "instances": instances });
    if let Some(d) = p.get("dimensions") {
        body["parameters"] = json!({ "outputDimensionality": d });
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'a>(
        provider: Provider,
        defaults: &'a Map<String, Value>,
        internal: &'a Map<String, Value>,
    ) -> Target<'a> {
        Target {
            provider,
            model: "gemini-2.0-flash",
            base_path: "",
            api_key: Some("k"),
            api_version: None,
            defaults,
            drop_params: false,
            internal,
        }
    }

    fn chat(body: Value) -> CanonicalRequest {
        CanonicalRequest::parse(Endpoint::ChatCompletions, body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn defaults_apply_only_where_the_client_set_none() {
        let defaults = json!({"temperature": 0.9, "max_tokens": 50})
            .as_object()
            .unwrap()
            .clone();
        let empty = Map::new();
        let t = target(Provider::Gemini, &defaults, &empty);
        let req = chat(
            json!({"model": "g", "messages": [{"role": "user", "content": "hi"}],
                              "temperature": 0.1}),
        );
        let out: Value = serde_json::from_slice(&build(&req, &t).unwrap().body).unwrap();
        assert_eq!(
            out["generationConfig"],
            json!({"temperature": 0.1, "maxOutputTokens": 50})
        );
    }

    #[test]
    fn vertex_names_the_missing_setting() {
        let empty = Map::new();
        let internal = json!({"vertex_project": "p"}).as_object().unwrap().clone();
        let t = target(Provider::VertexAi, &empty, &internal);
        let req = chat(json!({"model": "g", "messages": [{"role": "user", "content": "hi"}]}));
        let e = build(&req, &t).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.param.as_deref(), Some("vertex_location"));
    }

    #[test]
    fn unknown_tool_call_id_is_refused_and_openai_defaults_are_no_ops() {
        let empty = Map::new();
        let t = target(Provider::Gemini, &empty, &empty);
        let req = chat(
            json!({"model": "g", "messages": [{"role": "tool", "tool_call_id": "x", "content": "1"}]}),
        );
        assert_eq!(
            build(&req, &t).unwrap_err().param.as_deref(),
            Some("messages")
        );
        let req = chat(
            json!({"model": "g", "messages": [{"role": "user", "content": "hi"}],
                              "logprobs": false, "parallel_tool_calls": true, "x_vendor": 1}),
        );
        assert!(build(&req, &t).is_ok());
    }
}
