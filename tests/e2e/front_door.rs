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
