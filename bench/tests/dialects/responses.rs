//! The OpenAI Responses API: a response object, the typed event stream (text and function
//! call), Azure's path, and the tool call the trigger asks for until a tool result comes back.

use bench::mock::{MockConfig, MockServer, MockToolCall};
use serde_json::{json, Value};

use crate::common::{mock, send, with, ARGS, CONTENT};

fn req(extra: Value) -> Value {
    with(
        json!({"model": "gpt-r", "input": "hi", "instructions": "Be brief.", "max_output_tokens": 50}),
        extra,
    )
}

fn events(resp: &bench::client::Response) -> Vec<Value> {
    resp.sse_data()
        .iter()
        .map(|d| serde_json::from_str(d).expect("event is JSON"))
        .collect()
}

fn types(evs: &[Value]) -> Vec<&str> {
    evs.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_response_object_echoes_the_request_and_counts_usage() {
    let mock = mock().await;
    let v = send(&mock, "/v1/responses", &[], &req(json!({})))
        .await
        .json()
        .unwrap();
    assert_eq!(v["object"], "response");
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "gpt-r");
    assert_eq!(v["instructions"], "Be brief.");
    assert_eq!(v["max_output_tokens"], 50);
    assert_eq!(v["tools"], json!([]));
    let item = &v["output"][0];
    assert_eq!(item["type"], "message");
    assert_eq!(item["role"], "assistant");
    assert_eq!(item["content"][0]["type"], "output_text");
    assert_eq!(item["content"][0]["text"], CONTENT);
    let u = &v["usage"];
    assert_eq!(u["output_tokens"], 5);
    assert!(u["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["input_tokens"].as_u64().unwrap() + 5)
    );
    // Without `/v1` too; a missing input is OpenAI's 400.
    let r = send(&mock, "/responses", &[], &json!({"model": "m"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json().unwrap()["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn the_stream_is_the_typed_event_sequence() {
    let mock = mock().await;
    let resp = send(&mock, "/v1/responses", &[], &req(json!({"stream": true}))).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let text = String::from_utf8_lossy(&resp.body).into_owned();
    assert!(
        text.starts_with("event: response.created\ndata: "),
        "{text}"
    );
    let evs = events(&resp);
    let t = types(&evs);
    assert_eq!(
        t[..5],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta"
        ]
    );
    assert_eq!(
        t[t.len() - 4..],
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let seq: Vec<u64> = evs
        .iter()
        .map(|e| e["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(seq, (0..evs.len() as u64).collect::<Vec<_>>());
    let deltas: String = evs
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, CONTENT);
    assert_eq!(evs[0]["response"]["status"], "in_progress");
    assert!(evs[0]["response"]["usage"].is_null());
    let done = &evs[evs.len() - 1]["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["content"][0]["text"], CONTENT);
    assert_eq!(done["usage"]["output_tokens"], 5);
    assert_eq!(done["id"], evs[0]["response"]["id"]);
}

#[tokio::test]
async fn a_function_call_plain_and_streamed() {
    let mock = MockServer::start(MockConfig {
        tool_call: Some(MockToolCall::new("get_weather", ARGS)),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let v = send(&mock, "/v1/responses", &[], &req(json!({})))
        .await
        .json()
        .unwrap();
    let item = &v["output"][0];
    assert_eq!(item["type"], "function_call");
    assert_eq!(item["name"], "get_weather");
    assert_eq!(item["arguments"], ARGS);
    assert!(item["call_id"].as_str().unwrap().starts_with("call_"));
    assert!(item["id"].as_str().unwrap().starts_with("fc_"));

    let resp = send(&mock, "/v1/responses", &[], &req(json!({"stream": true}))).await;
    let evs = events(&resp);
    let t = types(&evs);
    assert_eq!(t[2], "response.output_item.added");
    assert_eq!(evs[2]["item"]["type"], "function_call");
    assert_eq!(evs[2]["item"]["arguments"], "");
    let args: String = evs
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(args, ARGS);
    assert!(t.contains(&"response.function_call_arguments.done"));
    assert!(!t.contains(&"response.output_text.delta"));
    assert_eq!(t[t.len() - 1], "response.completed");
}

#[tokio::test]
async fn the_trigger_asks_for_the_tool_until_its_output_comes_back() {
    let mock = MockServer::start(MockConfig {
        tool_call: Some(MockToolCall::new("get_weather", ARGS)),
        tool_call_trigger: Some("WEATHER".into()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let first = send(
        &mock,
        "/v1/responses",
        &[],
        &req(json!({"input": "WEATHER?"})),
    )
    .await
    .json()
    .unwrap();
    assert_eq!(first["output"][0]["type"], "function_call");
    let call_id = first["output"][0]["call_id"].clone();
    let input = json!([
        {"role": "user", "content": "WEATHER?"},
        first["output"][0],
        {"type": "function_call_output", "call_id": call_id, "output": "18C"}
    ]);
    let second = send(&mock, "/v1/responses", &[], &req(json!({"input": input})))
        .await
        .json()
        .unwrap();
    assert_eq!(second["output"][0]["type"], "message");
    assert_eq!(second["output"][0]["content"][0]["text"], CONTENT);
}

#[tokio::test]
async fn azure_serves_responses_under_openai_responses_with_an_api_version() {
    let mock = mock().await;
    let headers = [("api-key", "k")];
    let path = "/openai/responses?api-version=2025-03-01-preview";
    let v = send(&mock, path, &headers, &req(json!({}))).await;
    assert_eq!(v.status, 200);
    assert_eq!(v.json().unwrap()["model"], "gpt-r");
    let r = send(&mock, "/openai/responses", &headers, &req(json!({}))).await;
    assert_eq!(r.status, 400, "api-version is required");
    let r = send(&mock, path, &[], &req(json!({}))).await;
    assert_eq!(r.status, 401, "a key is required");
}
