//! The `/v1/responses` bridge's way out for whole answers: an OpenAI `chat.completion` → a
//! Responses object (status, output items, usage, and the request's settings echoed as OpenAI
//! echoes them), and the error body. The pieces are shared with the stream encoder.

use serde_json::{json, Map, Value};

use super::request_params::namespace_of;
use crate::error::ApiError;

/// The id of the output item at `index` of response `response_id`: `prefix_` + the response
/// id's own digits + the index in hex. Unique when response ids are, and the same in a stream
/// and in the response object it ends with.
pub(super) fn item_id(prefix: &str, response_id: &str, index: usize) -> String {
    let digits = response_id.strip_prefix("resp_").unwrap_or(response_id);
    format!("{prefix}_{digits}{index:02x}")
}

/// Chat `finish_reason` → (Responses `status`, `incomplete_details.reason`).
pub(super) fn status(finish: Option<&str>) -> (&'static str, Option<&'static str>) {
    match finish {
        Some("length") => ("incomplete", Some("max_output_tokens")),
        Some("content_filter") => ("incomplete", Some("content_filter")),
        _ => ("completed", None),
    }
}

/// Chat `usage` → Responses `usage`.
pub(super) fn usage(u: &Value) -> Value {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let input = n(&u["prompt_tokens"]);
    let output = n(&u["completion_tokens"]);
    let total = match u["total_tokens"].as_u64() {
        Some(t) => t,
        None => input + output,
    };
    json!({
        "input_tokens": input,
        "input_tokens_details": {
            "cached_tokens": n(&u["prompt_tokens_details"]["cached_tokens"]),
            "cache_write_tokens": n(&u["cache_creation_input_tokens"]),
        },
        "output_tokens": output,
        "output_tokens_details": {
            "reasoning_tokens": n(&u["completion_tokens_details"]["reasoning_tokens"]),
        },
        "total_tokens": total,
    })
}

/// The request fields a Responses object echoes (read by [`skeleton`]).
const ECHOED: [&str; 15] = [
    "instructions",
    "max_output_tokens",
    "metadata",
    "model",
    "parallel_tool_calls",
    "previous_response_id",
    "reasoning",
    "store",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_p",
    "truncation",
    "user",
];

/// Only the fields of `req` a Responses object echoes (not `input`, which can be large).
pub fn echoed(req: &Map<String, Value>) -> Map<String, Value> {
    ECHOED
        .iter()
        .filter_map(|k| Some((k.to_string(), req.get(*k)?.clone())))
        .collect()
}

/// A Responses object with the request's settings echoed (OpenAI's defaults where the request
/// set none), `status`, no output and no usage yet (`usage` and `user` are left out rather than
/// null: the OpenAPI description does not allow null for them).
pub(super) fn skeleton(
    req: &Map<String, Value>,
    response_id: &str,
    created_at: u64,
    status: &str,
) -> Map<String, Value> {
    let get = |k: &str| req.get(k).filter(|v| !v.is_null()).cloned();
    let or = |k: &str, default: Value| get(k).unwrap_or(default);
    let mut r = Map::new();
    r.insert("id".into(), json!(response_id));
    r.insert("object".into(), json!("response"));
    r.insert("created_at".into(), json!(created_at));
    r.insert("status".into(), json!(status));
    r.insert("background".into(), json!(false));
    r.insert("error".into(), Value::Null);
    r.insert("incomplete_details".into(), Value::Null);
    r.insert("instructions".into(), or("instructions", Value::Null));
    r.insert(
        "max_output_tokens".into(),
        or("max_output_tokens", Value::Null),
    );
    r.insert("model".into(), or("model", json!("")));
    r.insert("output".into(), json!([]));
    r.insert(
        "parallel_tool_calls".into(),
        or("parallel_tool_calls", json!(true)),
    );
    r.insert(
        "previous_response_id".into(),
        or("previous_response_id", Value::Null),
    );
    let reasoning = match get("reasoning") {
        Some(Value::Object(mut o)) => {
            o.entry("effort").or_insert(Value::Null);
            o.entry("summary").or_insert(Value::Null);
            Value::Object(o)
        }
        _ => json!({"effort": null, "summary": null}),
    };
    r.insert("reasoning".into(), reasoning);
    r.insert("store".into(), or("store", json!(true)));
    r.insert("temperature".into(), or("temperature", json!(1.0)));
    let text = match get("text") {
        Some(Value::Object(mut o)) => {
            o.entry("format").or_insert(json!({"type": "text"}));
            Value::Object(o)
        }
        _ => json!({"format": {"type": "text"}}),
    };
    r.insert("text".into(), text);
    r.insert("tool_choice".into(), or("tool_choice", json!("auto")));
    r.insert("tools".into(), or("tools", json!([])));
    r.insert("top_p".into(), or("top_p", json!(1.0)));
    r.insert("truncation".into(), or("truncation", json!("disabled")));
    if let Some(user) = get("user") {
        r.insert("user".into(), user);
    }
    r.insert("metadata".into(), or("metadata", json!({})));
    r
}

/// Sets the final `status` and `incomplete_details` of `r`.
pub(super) fn set_status(r: &mut Map<String, Value>, finish: Option<&str>) {
    let (status, reason) = status(finish);
    r.insert("status".into(), json!(status));
    if let Some(reason) = reason {
        r.insert("incomplete_details".into(), json!({"reason": reason}));
    }
}

/// An output text part.
pub(super) fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// An assistant `message` output item.
pub(super) fn message_item(id: &str, status: &str, content: Vec<Value>) -> Value {
    json!({"id": id, "type": "message", "status": status, "role": "assistant", "content": content})
}

/// A `function_call` output item; `namespace` when the function is in a `namespace` tool of
/// the request's `tools`.
pub(super) fn call_item(
    tools: Option<&Value>,
    id: &str,
    call_id: &str,
    name: &str,
    args: &str,
    status: &str,
) -> Value {
    let mut item = json!({
        "id": id,
        "type": "function_call",
        "status": status,
        "arguments": args,
        "call_id": call_id,
        "name": name,
    });
    if let Some(ns) = namespace_of(tools, name) {
        item["namespace"] = json!(ns);
    }
    item
}

/// A `reasoning` output item whose summary is the model's reasoning text (none while it is
/// still empty).
pub(super) fn reasoning_item(id: &str, text: Option<&str>) -> Value {
    let summary = match text {
        Some(t) => json!([{"type": "summary_text", "text": t}]),
        None => json!([]),
    };
    json!({"id": id, "type": "reasoning", "summary": summary})
}

/// The text of a chat message's `content` (a string or text parts).
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

/// An OpenAI `chat.completion` → a Responses object for `req` (the client's Responses request):
/// `status` `completed`, or `incomplete` with `incomplete_details.reason` `max_output_tokens`
/// (finish reason `length`) or `content_filter`; `output` = a `reasoning` item when the chat
/// message carries `reasoning_content`, a `message` item with the text (or refusal), one
/// `function_call` item per tool call; `usage` mapped (cached and reasoning tokens included).
pub fn response_from_chat(
    chat: &Value,
    req: &Map<String, Value>,
    response_id: &str,
    created_at: u64,
) -> Value {
    let choice = &chat["choices"][0];
    let msg = &choice["message"];
    let finish = choice["finish_reason"].as_str();
    let item_status = match status(finish).0 {
        "completed" => "completed",
        _ => "incomplete",
    };
    let mut output = Vec::new();
    if let Some(thinking) = msg["reasoning_content"].as_str().filter(|t| !t.is_empty()) {
        output.push(reasoning_item(
            &item_id("rs", response_id, 0),
            Some(thinking),
        ));
    }
    let text = content_text(&msg["content"]);
    let mut content = Vec::new();
    if !text.is_empty() {
        content.push(text_part(&text));
    }
    if let Some(refusal) = msg["refusal"].as_str().filter(|r| !r.is_empty()) {
        content.push(json!({"type": "refusal", "refusal": refusal}));
    }
    if !content.is_empty() {
        let id = item_id("msg", response_id, output.len());
        output.push(message_item(&id, item_status, content));
    }
    for call in msg["tool_calls"].as_array().into_iter().flatten() {
        let f = &call["function"];
        let call_id = match call["id"].as_str().filter(|i| !i.is_empty()) {
            Some(id) => id.to_string(),
            None => item_id("call", response_id, output.len()),
        };
        output.push(call_item(
            req.get("tools"),
            &item_id("fc", response_id, output.len()),
            &call_id,
            f["name"].as_str().unwrap_or_default(),
            f["arguments"].as_str().unwrap_or_default(),
            "completed",
        ));
    }
    let mut r = skeleton(req, response_id, created_at, "completed");
    set_status(&mut r, finish);
    r.insert("output".into(), Value::Array(output));
    if let Some(u) = chat.get("usage").filter(|u| u.is_object()) {
        r.insert("usage".into(), usage(u));
    }
    Value::Object(r)
}

/// The OpenAI error body for `err` (`{"error":{"message","type","param","code"}}`), as
/// `/v1/responses` answers errors.
pub fn error_body(err: &ApiError) -> Vec<u8> {
    err.to_json()
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
