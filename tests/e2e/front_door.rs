//! The Anthropic Messages front door: Anthropic clients on OpenAI-compatible deployments
//! (translated both ways, full SSE event sequence, tool use) and on Anthropic deployments (the
//! body passes through untouched), with Anthropic-shaped errors.

use bench::mock::{MockConfig, MockServer, MockToolCall};
use serde_json::{json, Value};

use crate::support::*;

fn config(model: &str, api_base: &str) -> String {
    format!(
        "model_list:\n  - model_name: claude-group\n    litellm_params:\n      model: {model}\n      api_base: {api_base}\n      api_key: sk-upstream-secret\ngeneral_settings:\n  master_key: {MASTER_KEY}\n"
    )
}

async fn messages(gw: &Gateway, body: &Value) -> reqwest::Response {
    client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", MASTER_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

fn request(stream: bool) -> Value {
    json!({"model": "claude-group", "max_tokens": 64, "stream": stream, "system": "be brief",
           "messages": [{"role": "user", "content": "hello"}]})
}

/// `(event name, data)` pairs of an Anthropic SSE body.
async fn events(resp: reqwest::Response) -> Vec<(String, Value)> {
    let text = resp.text().await.unwrap();
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_else(|| panic!("no event name in {e:?}"));
            let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            (name.to_string(), serde_json::from_str(data).unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_client_on_an_openai_deployment() {
    let mock = MockServer::start(MockConfig {
        content: "hi there friend".into(),
        chunks: 3,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&config("openai/gpt-upstream", &mock.url())).await;

    let r = messages(&gw, &request(false)).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["model"], "claude-group");
    assert_eq!(v["content"][0]["type"], "text");
    assert_eq!(v["content"][0]["text"], "hi there friend");
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let sent = mock.requests()[0].json().unwrap();
    assert_eq!(sent["model"], "gpt-upstream");
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "be brief"})
    );
    assert_eq!(sent["max_tokens"], 64);

    let ev = events(messages(&gw, &request(true)).await).await;
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"],
        "{names:?}"
    );
    let text: String = ev
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "hi there friend");
    let delta = &ev[ev.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert!(
        delta["usage"]["output_tokens"].as_u64().unwrap() > 0,
        "{delta}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_tool_use_round_trip_on_an_openai_deployment() {
    let cfg = MockConfig {
        tool_call: Some(MockToolCall::new("get_weather", r#"{"city":"Paris"}"#)),
        ..MockConfig::default()
    };
    let mock = MockServer::start(cfg).await.unwrap();
    let gw = Gateway::start(&config("openai/gpt-upstream", &mock.url())).await;
    let mut body = request(false);
    body["tools"] = json!([{"name": "get_weather", "description": "weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let v: Value = messages(&gw, &body).await.json().await.unwrap();
    assert_eq!(v["stop_reason"], "tool_use", "{v}");
    let block = v["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap()
        .clone();
    assert_eq!(block["name"], "get_weather");
    assert_eq!(block["input"], json!({"city": "Paris"}));
    let sent = mock.requests()[0].json().unwrap();
    assert_eq!(sent["tools"][0]["function"]["name"], "get_weather");

    // The tool result goes back as an OpenAI tool message.
    body["messages"] = json!([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [block]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": v["content"].as_array().unwrap().iter().find(|b| b["type"] == "tool_use").unwrap()["id"], "content": "18C"}]}
    ]);
    mock.set_config(MockConfig::default());
    assert_eq!(messages(&gw, &body).await.status(), 200);
    let sent = mock.requests().last().unwrap().json().unwrap();
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"], "{sent}");
    assert_eq!(sent["messages"][3]["content"], "18C");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_client_on_an_anthropic_deployment_passes_through() {
    let mock = MockServer::start(MockConfig {
        content: "native answer".into(),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&config(
        "anthropic/claude-upstream",
        &format!("http://{}", mock.addr),
    ))
    .await;
    let mut body = request(false);
    body["metadata"] = json!({"user_id": "u-1"});
    body["some_future_field"] = json!({"kept": true});
    let r = client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", MASTER_KEY)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "tools-2024-05-16")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "native answer");
    let got = &mock.requests()[0];
    assert_eq!(got.path, "/v1/messages");
    assert_eq!(got.header("x-api-key"), Some("sk-upstream-secret"));
    assert_eq!(got.header("anthropic-beta"), Some("tools-2024-05-16"));
    let sent = got.json().unwrap();
    assert_eq!(sent["model"], "claude-upstream");
    assert_eq!(
        sent["some_future_field"],
        json!({"kept": true}),
        "unknown fields pass through"
    );
    assert_eq!(sent["system"], "be brief");

    // Streams pass through event for event.
    let ev = events(messages(&gw, &request(true)).await).await;
    assert_eq!(ev.first().unwrap().0, "message_start");
    assert_eq!(ev.last().unwrap().0, "message_stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_door_errors_are_anthropic_shaped() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config("openai/gpt-upstream", &mock.url())).await;
    let check = |status: u16, kind: &'static str| {
        move |r: reqwest::Response| async move {
            assert_eq!(r.status().as_u16(), status);
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["type"], "error", "{v}");
            assert_eq!(v["error"]["type"], kind, "{v}");
            assert!(v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()));
        }
    };
    let r = client()
        .post(gw.url("/v1/messages"))
        .json(&request(false))
        .send()
        .await
        .unwrap();
    check(401, "authentication_error")(r).await;
    let mut body = request(false);
    body["model"] = json!("nope");
    check(400, "invalid_request_error")(messages(&gw, &body).await).await;
    check(400, "invalid_request_error")(messages(&gw, &json!({"model": "claude-group"})).await)
        .await;
    mock.fail_next(1, 429);
    check(429, "rate_limit_error")(messages(&gw, &request(false)).await).await;

    let r = client()
        .post(gw.url("/v1/messages/count_tokens"))
        .header("x-api-key", MASTER_KEY)
        .json(&json!({"model": "claude-group", "messages": [{"role": "user", "content": "hello there, how are you"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["input_tokens"].as_u64().unwrap() > 0);
}

/// A request shaped like Claude Code 2.1's: a `system` turn inside `messages`, adaptive
/// thinking with an effort, `context_management`, cache markers, a content block type no
/// release knows yet, and a JSON string as `metadata.user_id`.
fn claude_code_like(stream: bool) -> Value {
    json!({
        "model": "claude-group", "max_tokens": 32000, "stream": stream,
        "system": [{"type": "text", "text": "You are a coding agent.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Say hello", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": "Available agent types: none."},
            {"role": "assistant", "content": [{"type": "text", "text": "Hi."}, {"type": "brand_new_block", "x": 1}]},
            {"role": "user", "content": "Again"}
        ],
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "{\"device_id\":\"d1\",\"session_id\":\"s1\"}"}
    })
}

/// Polls `/spend/logs` until it holds at least `n` rows.
async fn spend_rows(gw: &Gateway, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let r = client()
            .get(gw.url("/spend/logs"))
            .bearer_auth(MASTER_KEY)
            .send()
            .await
            .unwrap();
        let rows: Vec<Value> = r.json().await.unwrap();
        if rows.len() >= n || std::time::Instant::now() > deadline {
            assert!(
                rows.len() >= n,
                "{} spend rows, wanted {n}: {rows:?}",
                rows.len()
            );
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn priced(model: &str, api_base: &str) -> String {
    config(model, api_base).replace(
        "      api_key: sk-upstream-secret\n",
        "      api_key: sk-upstream-secret\n      input_cost_per_token: 0.000001\n      output_cost_per_token: 0.000002\n",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anthropic_deployment_gets_tomorrows_request_as_sent_and_its_usage_is_billed() {
    let mock = MockServer::start(MockConfig {
        content: "native answer".into(),
        prompt_tokens: Some(123),
        completion_tokens: Some(7),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&priced(
        "anthropic/claude-upstream",
        &format!("http://{}", mock.addr),
    ))
    .await;
    let body = serde_json::to_vec(&claude_code_like(false)).unwrap();
    let r = client()
        .post(gw.url("/v1/messages?beta=true"))
        .bearer_auth(MASTER_KEY)
        .header("anthropic-version", "2023-06-01")
        .header(
            "anthropic-beta",
            "mid-conversation-system-2026-04-07,effort-2025-11-24",
        )
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "native answer");
    let got = &mock.requests()[0];
    assert_eq!(
        got.path, "/v1/messages?beta=true",
        "the query string goes along"
    );
    assert_eq!(
        got.header("anthropic-beta"),
        Some("mid-conversation-system-2026-04-07,effort-2025-11-24")
    );
    assert_eq!(got.header("x-api-key"), Some("sk-upstream-secret"));
    assert_eq!(
        got.header("authorization"),
        None,
        "the client's key stays here"
    );
    let sent = String::from_utf8(got.body.to_vec()).unwrap();
    let expected = String::from_utf8(body)
        .unwrap()
        .replace("\"claude-group\"", "\"claude-upstream\"");
    assert_eq!(sent, expected, "byte for byte, only the model replaced");

    let row = &spend_rows(&gw, 1).await[0];
    assert_eq!(row["prompt_tokens"], 123, "{row}");
    assert_eq!(row["completion_tokens"], 7, "{row}");
    let spend = row["spend"].as_f64().unwrap();
    assert!((spend - (123.0 * 1e-6 + 7.0 * 2e-6)).abs() < 1e-12, "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anthropic_stream_starts_at_its_first_delta_and_its_usage_is_billed() {
    let mock = MockServer::start(MockConfig {
        content: "one two three".into(),
        chunks: 3,
        chunk_interval: std::time::Duration::from_millis(400),
        prompt_tokens: Some(50),
        completion_tokens: Some(3),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&priced(
        "anthropic/claude-upstream",
        &format!("http://{}", mock.addr),
    ))
    .await;
    let started = std::time::Instant::now();
    let mut r = messages(&gw, &claude_code_like(true)).await;
    assert_eq!(r.status(), 200);
    let mut text = String::new();
    let mut first_delta = None;
    while let Some(chunk) = r.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        if first_delta.is_none() && text.contains("content_block_delta") {
            first_delta = Some(started.elapsed());
        }
    }
    let total = started.elapsed();
    let first = first_delta.expect("a content delta");
    assert!(
        first + std::time::Duration::from_millis(500) < total,
        "the first delta came at {first:?}, the stream ended at {total:?}: the stream was held"
    );
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(text.contains("event: message_stop"), "{text}");
    let sent = mock.requests()[0].json().unwrap();
    assert_eq!(sent["messages"][1]["role"], "system");
    assert_eq!(sent["context_management"]["edits"][0]["keep"], "all");
    let row = &spend_rows(&gw, 1).await[0];
    assert_eq!(
        (
            row["prompt_tokens"].as_u64(),
            row["completion_tokens"].as_u64()
        ),
        (Some(50), Some(3)),
        "{row}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_translated_deployment_gets_system_turns_in_place_and_reasoning_effort() {
    let mock = MockServer::start(MockConfig {
        content: "translated answer".into(),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&config("openai/gpt-upstream", &mock.url())).await;
    let r = messages(&gw, &claude_code_like(false)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "translated answer");
    let sent = mock.requests()[0].json().unwrap();
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["system", "user", "system", "assistant", "user"],
        "{sent}"
    );
    assert_eq!(
        sent["messages"][2]["content"],
        "Available agent types: none."
    );
    assert_eq!(
        sent["messages"][3]["content"], "Hi.",
        "the unknown block is skipped"
    );
    assert_eq!(sent["reasoning_effort"], "high");
    let text = sent.to_string();
    for absent in [
        "cache_control",
        "context_management",
        "output_config",
        "thinking",
    ] {
        assert!(
            !text.contains(absent),
            "{absent} sent to an OpenAI deployment: {text}"
        );
    }
    assert!(
        gw.logs()
            .contains(r#"content block type "brand_new_block" skipped"#),
        "the skipped block is logged:\n{}",
        gw.logs()
    );

    // Streamed, the same request comes back as Anthropic events.
    let ev = events(messages(&gw, &claude_code_like(true)).await).await;
    assert_eq!(ev.first().unwrap().0, "message_start");
    assert_eq!(ev.last().unwrap().0, "message_stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_the_target_cannot_take_is_refused_in_the_clients_terms() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let root = format!("http://{}", mock.addr);
    let gw = Gateway::start(&config("gemini/gemini-upstream", &root)).await;
    let r = messages(&gw, &claude_code_like(false)).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("reasoning_effort") && msg.contains("thinking") && msg.contains("drop_params"),
        "{msg}"
    );
    assert_eq!(mock.request_count(), 0);

    // With drop_params the same request is served.
    let gw = Gateway::start(&config("gemini/gemini-upstream", &root).replace(
        "general_settings:",
        "litellm_settings:\n  drop_params: true\ngeneral_settings:",
    ))
    .await;
    let r = messages(&gw, &claude_code_like(false)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let sent = mock.requests()[0].json().unwrap();
    assert!(
        sent["systemInstruction"]
            .to_string()
            .contains("Available agent types"),
        "the mid-conversation system turn joins Gemini's system instruction: {sent}"
    );
}
