//! Where the text of a request or a response is, in any of the APIs the gateway speaks: every
//! string inside a request's `messages` / `system` / `prompt` / `input` / `instructions` (all
//! roles, tool-call arguments, tool results, image URLs as text; never `data:` URLs, ids or
//! roles), and every `content` / `text` / `arguments` / `refusal` string of a response, its
//! reasoning too (`reasoning_content`, Anthropic `thinking`; OpenAI chat and completions,
//! Anthropic Messages, OpenAI Responses).

use serde_json::{Map, Value};

/// Request fields that hold conversation text.
const REQUEST_FIELDS: [&str; 5] = ["messages", "system", "prompt", "input", "instructions"];

/// Keys whose string values are not text a person wrote.
const SKIP: [&str; 9] = [
    "role",
    "type",
    "id",
    "tool_call_id",
    "tool_use_id",
    "cache_control",
    "detail",
    "format",
    "media_type",
];

/// Response keys whose string values are generated text.
const RESPONSE_KEYS: [&str; 7] = [
    "content",
    "text",
    "arguments",
    "refusal",
    "reasoning_content",
    "partial_json",
    "thinking",
];

/// Every text string of a request body.
pub fn request_texts(body: &mut Map<String, Value>) -> Vec<&mut String> {
    let mut out = Vec::new();
    for (k, v) in body.iter_mut() {
        if REQUEST_FIELDS.contains(&k.as_str()) {
            all_strings(v, &mut out);
        }
    }
    out
}

/// Every text string of a request value (`messages`, `input` or `prompt`), as logged.
pub fn value_texts(v: &mut Value) -> Vec<&mut String> {
    let mut out = Vec::new();
    all_strings(v, &mut out);
    out
}

fn all_strings<'a>(v: &'a mut Value, out: &mut Vec<&'a mut String>) {
    match v {
        Value::String(s) if !s.starts_with("data:") => out.push(s),
        Value::Array(a) => a.iter_mut().for_each(|v| all_strings(v, out)),
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if !SKIP.contains(&k.as_str()) {
                    all_strings(v, out);
                }
            }
        }
        _ => {}
    }
}

/// Every generated text string of a response body.
pub fn response_texts(v: &mut Value) -> Vec<&mut String> {
    let mut out = Vec::new();
    generated(v, false, &mut out);
    out
}

fn generated<'a>(v: &'a mut Value, text: bool, out: &mut Vec<&'a mut String>) {
    match v {
        Value::String(s) if text => out.push(s),
        Value::Array(a) => a.iter_mut().for_each(|v| generated(v, text, out)),
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if k == "usage" || k == "metadata" || SKIP.contains(&k.as_str()) {
                    continue;
                }
                generated(v, text || RESPONSE_KEYS.contains(&k.as_str()), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_request_and_response_text() {
        let mut body = json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": [{"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}]},
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            ],
            "user": "u"
        });
        let got: Vec<String> = request_texts(body.as_object_mut().unwrap())
            .into_iter()
            .map(|s| s.clone())
            .collect();
        assert_eq!(got, ["sys", "hi", "https://x/a.png", "{\"a\":1}", "f"]);
        let mut resp = json!({"id": "x", "choices": [{"message": {"role": "assistant", "content": "out",
            "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}}], "usage": {"total_tokens": 1}});
        let got: Vec<String> = response_texts(&mut resp)
            .into_iter()
            .map(|s| s.clone())
            .collect();
        assert_eq!(got, ["out", "{}"]);
        let mut anth = json!({"content": [{"type": "text", "text": "a"}], "role": "assistant"});
        assert_eq!(response_texts(&mut anth).len(), 1);
    }
}
