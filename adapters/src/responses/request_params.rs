//! The bridge's request parameters: Responses `tools`, `tool_choice`, `reasoning` and `text`
//! → their chat completions equivalents. Only function tools are bridged; every built-in tool
//! is refused by name.

use serde_json::{json, Value};

use super::front::bad;
use crate::error::ApiError;

/// Why a built-in tool cannot be bridged.
fn builtin_refused(kind: &str) -> ApiError {
    bad(
        "tools",
        format!(
            "tool type '{kind}' is not supported for this model: Tollgate bridges the Responses \
             API to chat completions for non-OpenAI deployments, which cannot run built-in tools"
        ),
    )
}

/// Responses tools → chat function tools; any other tool type is refused by name.
pub(super) fn convert_tools(tools: &[Value]) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        match t["type"].as_str() {
            Some("function") => {}
            Some(kind) => return Err(builtin_refused(kind)),
            None => {
                return Err(bad(
                    "tools",
                    format!("tools[{i}].type: Missing required parameter: 'tools[{i}].type'."),
                ))
            }
        }
        let Some(name) = t["name"].as_str().filter(|n| !n.is_empty()) else {
            return Err(bad(
                "tools",
                format!("tools[{i}].name: Missing required parameter: 'tools[{i}].name'."),
            ));
        };
        let mut function = json!({"name": name});
        for key in ["description", "parameters", "strict"] {
            if let Some(v) = t.get(key).filter(|v| !v.is_null()) {
                function[key] = v.clone();
            }
        }
        out.push(json!({"type": "function", "function": function}));
    }
    Ok(out)
}

/// Responses `tool_choice` → chat `tool_choice`. `allowed_tools` keeps only the allowed
/// function tools in `tools` and becomes its mode.
pub(super) fn convert_tool_choice(
    choice: &Value,
    tools: &mut Vec<Value>,
) -> Result<Option<Value>, ApiError> {
    let refused = |what: &str| {
        bad(
            "tool_choice",
            format!("tool_choice {what} is not supported for this model: only function tools are bridged to chat completions"),
        )
    };
    match choice {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => {
            Ok(Some(choice.clone()))
        }
        Value::String(s) => Err(bad(
            "tool_choice",
            format!("Invalid value for 'tool_choice': '{s}' (expected auto, none or required)"),
        )),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => match o.get("name").and_then(Value::as_str) {
                Some(name) => Ok(Some(
                    json!({"type": "function", "function": {"name": name}}),
                )),
                None => Err(bad(
                    "tool_choice",
                    "tool_choice.name: Missing required parameter: 'tool_choice.name'.",
                )),
            },
            Some("allowed_tools") => {
                let mut names = Vec::new();
                for t in o
                    .get("tools")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    match (t["type"].as_str(), t["name"].as_str()) {
                        (Some("function"), Some(name)) => names.push(name),
                        (kind, _) => {
                            return Err(refused(&format!(
                                "allowed_tools with tool type '{}'",
                                kind.unwrap_or("?")
                            )))
                        }
                    }
                }
                tools.retain(|t| {
                    t["function"]["name"]
                        .as_str()
                        .is_some_and(|n| names.contains(&n))
                });
                let mode = match o.get("mode").and_then(Value::as_str) {
                    Some("required") => "required",
                    _ => "auto",
                };
                Ok(Some(json!(mode)))
            }
            Some(kind) => Err(refused(&format!("type '{kind}'"))),
            None => Err(bad(
                "tool_choice",
                "tool_choice.type: Missing required parameter.",
            )),
        },
        _ => Err(bad(
            "tool_choice",
            "Invalid type for 'tool_choice': expected a string or an object.",
        )),
    }
}

/// `reasoning.effort` → canonical `reasoning_effort` (`xhigh` is `high`, the canonical
/// maximum); `reasoning.summary` has no chat equivalent (the model's reasoning text, when the
/// target returns any, comes back as a reasoning summary anyway).
pub(super) fn reasoning_effort(
    r: &Value,
    skipped: &mut Vec<String>,
) -> Result<Option<&'static str>, ApiError> {
    let Value::Object(r) = r else {
        return Err(bad(
            "reasoning",
            "Invalid type for 'reasoning': expected an object.",
        ));
    };
    for key in ["summary", "generate_summary"] {
        if let Some(v) = r.get(key).filter(|v| !v.is_null()) {
            skipped.push(format!(
                "reasoning.{key} {v} ignored (no chat completions equivalent)"
            ));
        }
    }
    Ok(match r.get("effort") {
        None | Some(Value::Null) => None,
        Some(e) => match e.as_str() {
            Some("none") => Some("none"),
            Some("minimal") => Some("minimal"),
            Some("low") => Some("low"),
            Some("medium") => Some("medium"),
            Some("high") => Some("high"),
            Some("xhigh") => {
                skipped.push("reasoning.effort \"xhigh\" sent as \"high\"".into());
                Some("high")
            }
            _ => {
                return Err(bad(
                    "reasoning.effort",
                    format!("Invalid value for 'reasoning.effort': {e} (expected none, minimal, low, medium, high or xhigh)"),
                ))
            }
        },
    })
}

/// `text.format` → chat `response_format` (`text` is the default: none); `text.verbosity` is
/// reported.
pub(super) fn response_format(
    text: &Value,
    skipped: &mut Vec<String>,
) -> Result<Option<Value>, ApiError> {
    if let Some(v) = text.get("verbosity").filter(|v| !v.is_null()) {
        skipped.push(format!(
            "text.verbosity {v} ignored (no chat completions equivalent)"
        ));
    }
    let Some(format) = text.get("format").filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format["type"].as_str() {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let Some(schema) = format.get("schema").filter(|s| s.is_object()) else {
                return Err(bad(
                    "text.format.schema",
                    "Missing required parameter: 'text.format.schema'.",
                ));
            };
            let name = format["name"].as_str().unwrap_or("response");
            let mut js = json!({"name": name, "schema": schema});
            for key in ["description", "strict"] {
                if let Some(v) = format.get(key).filter(|v| !v.is_null()) {
                    js[key] = v.clone();
                }
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": js})))
        }
        _ => Err(bad(
            "text.format.type",
            format!(
                "Invalid value for 'text.format.type': {} (expected text, json_object or json_schema)",
                format["type"]
            ),
        )),
    }
}
