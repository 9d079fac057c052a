//! Claude Code's real requests (`tests/fixtures/claude_code/`, captured by the e2e test that
//! drives the CLI) through the `/v1/messages` door: read for routing without refusing anything,
//! passed through byte for byte with the model replaced, and translated for each provider
//! adapter — the mid-conversation `system` turn, adaptive thinking with an effort, cache
//! markers, 24 tools, a tool round trip.

use adapters::anthropic::front::{parse_object, translate, Translation};
use adapters::anthropic::passthrough::{read as read_view, with_model};
use adapters::dialect::build_request;
use adapters::provider::Provider;
use adapters::target::Target;
use adapters::CanonicalRequest;
use serde_json::{json, Map, Value};

use crate::harness::Fixtures;

fn fixture(name: &str) -> Vec<u8> {
    Fixtures::new("claude_code")
        .read("", name)
        .unwrap_or_else(|| panic!("tests/fixtures/claude_code/{name} missing"))
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

const CASES: [&str; 2] = ["request_prompt.json", "request_tool_result.json"];

#[test]
fn the_view_reads_model_stream_max_tokens_and_user() {
    for case in CASES {
        let body = fixture(case);
        let (view, raw) = read_view(&body).unwrap_or_else(|e| panic!("{case}: {e:?}"));
        assert_eq!(view.model, "claude-group", "{case}");
        assert!(view.stream, "{case}");
        assert_eq!(view.body["max_tokens"], 32000, "{case}");
        assert!(
            view.body["user"].as_str().unwrap().contains("session_id"),
            "{case}: metadata.user_id (a JSON string) is the end user"
        );
        assert_eq!(Value::Object(raw), json_of(&body), "{case}");
    }
}

#[test]
fn passed_through_byte_for_byte_with_only_the_model_replaced() {
    for case in CASES {
        let body = fixture(case);
        let out = with_model(&body, "claude-sonnet-upstream");
        let text = String::from_utf8(out).unwrap();
        let expected = String::from_utf8(body).unwrap().replacen(
            "\"model\": \"claude-group\"",
            "\"model\": \"claude-sonnet-upstream\"",
            1,
        );
        assert_eq!(text, expected, "{case}");
    }
}

fn translated(case: &str, cache_control: bool) -> CanonicalRequest {
    let t = translate(
        parse_object(&fixture(case)).unwrap(),
        Translation { cache_control },
    )
    .unwrap_or_else(|e| panic!("{case}: {e:?}"));
    assert!(t.skipped.is_empty(), "{case}: {:?}", t.skipped);
    t.req
}

#[test]
fn the_canonical_request_keeps_the_conversation_and_drops_anthropic_only_fields() {
    let req = translated("request_tool_result.json", false);
    let b = &req.body;
    let roles: Vec<&str> = b["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "system", "assistant", "tool"]);
    let msgs = &b["messages"];
    assert!(msgs[2]["content"]
        .as_str()
        .unwrap()
        .starts_with("Available agent types"));
    assert_eq!(msgs[3]["tool_calls"][0]["function"]["name"], "Read");
    assert_eq!(
        json_of(
            msgs[3]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap()
                .as_bytes()
        ),
        json!({"file_path": "/work/project/note.txt"})
    );
    assert_eq!(msgs[4]["tool_call_id"], "toolu_mock1");
    assert!(msgs[4]["content"].as_str().unwrap().contains("PAPAYA-42"));
    assert_eq!(b["reasoning_effort"], "high");
    assert_eq!(b["max_tokens"], 32000);
    assert_eq!(b["stream_options"], json!({"include_usage": true}));
    let tools = b["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 24);
    assert!(tools
        .iter()
        .all(|t| t["type"] == "function" && t["function"]["parameters"]["type"] == "object"));
    let text = serde_json::to_string(b).unwrap();
    for absent in ["cache_control", "context_management", "output_config"] {
        assert!(
            !text.contains(absent),
            "{absent} left in the canonical request"
        );
    }
    for key in ["thinking", "metadata"] {
        assert!(!b.contains_key(key), "{key} left in the canonical request");
    }
}

fn target<'a>(
    provider: Provider,
    defaults: &'a Map<String, Value>,
    internal: &'a Map<String, Value>,
) -> Target<'a> {
    Target {
        provider,
        model: "upstream-model",
        base_path: "",
        api_key: Some("sk-test"),
        api_version: Some("2024-10-21"),
        defaults,
        drop_params: true,
        internal,
    }
}

/// Every provider adapter takes the translation; the ones that need one system prompt merge
/// the mid-conversation system turn into it, and the prompt-caching ones keep the markers.
#[test]
fn every_provider_adapter_takes_the_translation() {
    let (defaults, mut internal) = (Map::new(), Map::new());
    for (k, v) in [
        ("vertex_project", "p"),
        ("vertex_location", "us-central1"),
        ("aws_region_name", "us-east-1"),
        ("aws_access_key_id", "AKIDEXAMPLE"),
        ("aws_secret_access_key", "secret"),
    ] {
        internal.insert(k.into(), json!(v));
    }
    for case in CASES {
        for provider in [
            Provider::OpenAi,
            Provider::Azure,
            Provider::Anthropic,
            Provider::Gemini,
            Provider::VertexAi,
            Provider::Bedrock,
            Provider::Cohere,
            Provider::Ollama,
            Provider::OllamaChat,
        ] {
            let cache = provider.dialect().takes_cache_control();
            let req = translated(case, cache);
            let t = target(provider, &defaults, &internal);
            let pr =
                build_request(&req, &t).unwrap_or_else(|e| panic!("{case} → {provider:?}: {e:?}"));
            let body = String::from_utf8(pr.body).unwrap();
            assert!(
                body.contains("Available agent types"),
                "{case} → {provider:?}: the system turn is lost"
            );
            assert!(body.contains("TOLLGATE-READ-NOTE"), "{case} → {provider:?}");
            let sent = json_of(body.as_bytes());
            match provider {
                Provider::Anthropic => {
                    let system = sent["system"].to_string();
                    assert!(
                        system.contains("Available agent types"),
                        "merged into system: {system}"
                    );
                    assert!(system.contains("cache_control"), "markers kept: {system}");
                }
                Provider::Bedrock => {
                    let system = sent["system"].to_string();
                    assert!(
                        system.contains("Available agent types"),
                        "merged into system: {system}"
                    );
                    assert!(body.contains("cachePoint"), "markers become cache points");
                }
                Provider::Gemini | Provider::VertexAi => {
                    let system = sent["systemInstruction"].to_string();
                    assert!(system.contains("Available agent types"), "{system}");
                }
                Provider::OpenAi | Provider::Azure => {
                    assert_eq!(sent["messages"][2]["role"], "system", "kept in place");
                    assert!(!body.contains("cache_control"));
                    assert_eq!(sent["reasoning_effort"], "high");
                }
                _ => {}
            }
        }
    }
}
