//! OpenAI chat completions answering with a tool call.

use std::time::Duration;

use bench::mock::{MockConfig, MockServer, MockToolCall};
use serde_json::{json, Value};

use crate::common::{send, with, ARGS};

fn chat(extra: Value) -> Value {
    with(
        json!({"model": "gpt-x", "messages": [{"role": "user", "content": "weather?"}]}),
        extra,
    )
}

fn events(resp: &bench::client::Response) -> (Vec<Value>, bool) {
    let data = resp.sse_data();
    let done = data.last() == Some(&"[DONE]");
    let evs = data
        .iter()
        .filter(|d| **d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("event is JSON"))
        .collect();
    (evs, done)
}

#[tokio::test]
async fn tool_call_plain_from_config() {
    let mock = MockServer::start(MockConfig {
        tool_call: Some(MockToolCall::new("get_weather", ARGS)),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let v = send(&mock, "/v1/chat/completions", &[], &chat(json!({})))
        .await
        .json()
        .unwrap();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let msg = &choice["message"];
    assert_eq!(msg["role"], "assistant");
    assert!(
        msg["content"].is_null() && msg.get("content").is_some(),
        "{msg}"
    );
    let calls = msg["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert!(calls[0]["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(
        calls[0]["function"]["arguments"], ARGS,
        "arguments stay JSON text"
    );
    // Default completion tokens: the words of the arguments.
    assert_eq!(v["usage"]["completion_tokens"], 4);
}

#[tokio::test]
async fn tool_call_streamed_id_and_name_first_then_argument_fragments() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let body = chat(
        json!({"stream": true, "stream_options": {"include_usage": true},
        "mock": {"tool_call": {"name": "get_weather", "arguments": ARGS}, "chunk_interval_ms": 30}}),
    );
    let resp = send(&mock, "/v1/chat/completions", &[], &body).await;
    assert_eq!(resp.status, 200);
    assert!(resp.timings.total >= Duration::from_millis(90), "paced");
    let (evs, done) = events(&resp);
    assert!(done);
    // start, 3 fragments, finish, usage.
    assert_eq!(evs.len(), 6, "{evs:#?}");
    let first = &evs[0]["choices"][0]["delta"];
    assert_eq!(first["role"], "assistant");
    let call = &first["tool_calls"][0];
    assert_eq!(call["index"], 0);
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], "");
    let mut args = String::new();
    for ev in &evs[1..4] {
        let c = &ev["choices"][0];
        assert!(c["finish_reason"].is_null());
        let tc = &c["delta"]["tool_calls"][0];
        assert_eq!(tc["index"], 0);
        assert!(
            tc.get("id").is_none() && tc["function"].get("name").is_none(),
            "{tc}"
        );
        let frag = tc["function"]["arguments"].as_str().unwrap();
        assert!(!frag.is_empty());
        args.push_str(frag);
    }
    assert_eq!(args, ARGS);
    assert_eq!(evs[4]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(evs[4]["choices"][0]["delta"], json!({}));
    assert_eq!(evs[5]["choices"], json!([]));
    assert_eq!(evs[5]["usage"]["completion_tokens"], 4);

    // The next request, without the override, is text again.
    let v = send(&mock, "/v1/chat/completions", &[], &chat(json!({})))
        .await
        .json()
        .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn tool_call_stream_can_be_cut() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let body = chat(json!({"stream": true,
        "mock": {"tool_call": {"name": "f", "arguments": ARGS}, "fail_after_chunks": 1}}));
    let err = crate::common::try_send(&mock, "/v1/chat/completions", &[], &body)
        .await
        .expect_err("cut mid-stream");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
}
