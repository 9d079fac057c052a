//! Ollama: `/api/chat`, `/api/generate` (NDJSON streams by default), `/api/embed`, `/api/tags`.

use bench::client::Response;
use serde_json::{json, Value};

use crate::common::{get, mock, send, text, try_send, with, ARGS, CONTENT};

fn chat(extra: Value) -> Value {
    with(
        json!({"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}),
        extra,
    )
}

/// Every line of an NDJSON body, parsed; the body must end with a newline and have no blank
/// lines or SSE framing.
fn lines(resp: &Response) -> Vec<Value> {
    let body = text(resp);
    assert!(body.ends_with('\n'), "{body:?}");
    body.trim_end_matches('\n')
        .split('\n')
        .map(|l| {
            assert!(!l.is_empty() && !l.starts_with("data:"), "{body:?}");
            serde_json::from_str(l).unwrap()
        })
        .collect()
}

fn assert_done(last: &Value, prompt: u64, eval: u64) {
    assert_eq!(last["done"], true);
    assert_eq!(last["done_reason"], "stop");
    assert_eq!(last["prompt_eval_count"], prompt);
    assert_eq!(last["eval_count"], eval);
    for k in [
        "total_duration",
        "load_duration",
        "prompt_eval_duration",
        "eval_duration",
    ] {
        assert!(last[k].is_u64(), "{k}: {last}");
    }
}

#[tokio::test]
async fn chat_streams_ndjson_by_default() {
    let mock = mock().await;
    let body = chat(json!({}));
    let resp = send(&mock, "/api/chat", &[], &body).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/x-ndjson"));
    let ls = lines(&resp);
    assert_eq!(ls.len(), 6, "5 content lines and the done line");
    let mut content = String::new();
    for l in &ls[..5] {
        assert_eq!(l["model"], "llama3.2");
        assert!(l["created_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(l["done"], false);
        assert_eq!(l["message"]["role"], "assistant");
        content.push_str(l["message"]["content"].as_str().unwrap());
    }
    assert_eq!(content, CONTENT);
    let last = &ls[5];
    assert_eq!(last["message"], json!({"role": "assistant", "content": ""}));
    assert_done(last, (body.to_string().len() as u64).div_ceil(4), 5);
}

#[tokio::test]
async fn chat_not_streamed_when_asked() {
    let mock = mock().await;
    let resp = send(&mock, "/api/chat", &[], &chat(json!({"stream": false}))).await;
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let v = resp.json().unwrap();
    assert_eq!(
        v["message"],
        json!({"role": "assistant", "content": CONTENT})
    );
    assert_eq!(v["model"], "llama3.2");
    let prompt = v["prompt_eval_count"].as_u64().unwrap();
    assert_done(&v, prompt, 5);
}

#[tokio::test]
async fn chat_tool_calls_carry_object_arguments() {
    let mock = mock().await;
    let tool = json!({"tool_call": {"name": "get_weather", "arguments": ARGS}});
    let expected = json!([{"function": {"name": "get_weather",
                                        "arguments": {"city": "Paris", "unit": "celsius"}}}]);
    let v = send(
        &mock,
        "/api/chat",
        &[],
        &chat(json!({"stream": false, "mock": tool})),
    )
    .await
    .json()
    .unwrap();
    assert_eq!(v["message"]["tool_calls"], expected);
    assert_eq!(v["message"]["content"], "");
    assert_eq!(v["done_reason"], "stop");

    let ls = lines(&send(&mock, "/api/chat", &[], &chat(json!({"mock": tool}))).await);
    assert_eq!(ls.len(), 2);
    assert_eq!(ls[0]["done"], false);
    assert_eq!(ls[0]["message"]["tool_calls"], expected);
    assert_done(&ls[1], ls[1]["prompt_eval_count"].as_u64().unwrap(), 4);
}

#[tokio::test]
async fn generate_uses_response() {
    let mock = mock().await;
    let body = json!({"model": "llama3.2", "prompt": "hi", "mock": {"chunks": 2}});
    let ls = lines(&send(&mock, "/api/generate", &[], &body).await);
    assert_eq!(ls.len(), 3);
    let text: String = ls[..2]
        .iter()
        .map(|l| l["response"].as_str().unwrap())
        .collect();
    assert_eq!(text, CONTENT);
    assert_eq!(ls[2]["response"], "");
    assert!(ls[2]["context"].is_array());
    assert!(ls.iter().all(|l| l.get("message").is_none()));
    let v = send(
        &mock,
        "/api/generate",
        &[],
        &with(body, json!({"stream": false})),
    )
    .await
    .json()
    .unwrap();
    assert_eq!(v["response"], CONTENT);
    assert_eq!(v["done"], true);
}

#[tokio::test]
async fn embed_and_tags() {
    let mock = mock().await;
    let v = send(
        &mock,
        "/api/embed",
        &[],
        &json!({"model": "all-minilm", "input": ["a", "b"]}),
    )
    .await
    .json()
    .unwrap();
    assert_eq!(v["model"], "all-minilm");
    let embs = v["embeddings"].as_array().unwrap();
    assert_eq!(embs.len(), 2);
    assert_eq!(embs[0].as_array().unwrap().len(), 8);
    assert!(v["prompt_eval_count"].as_u64().unwrap() > 0);
    let v = send(
        &mock,
        "/api/embed",
        &[],
        &json!({"model": "m", "input": "a", "dimensions": 3}),
    )
    .await
    .json()
    .unwrap();
    assert_eq!(v["embeddings"][0].as_array().unwrap().len(), 3);

    let v = get(&mock, "/api/tags").await.json().unwrap();
    assert_eq!(v["models"][0]["name"], "mock-model");
}

#[tokio::test]
async fn errors_are_plain_strings() {
    let mock = mock().await;
    let resp = send(&mock, "/api/chat", &[], &json!({"messages": []})).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json().unwrap(), json!({"error": "model is required"}));
    let resp = send(
        &mock,
        "/api/chat",
        &[],
        &chat(json!({"mock": {"status": 503}})),
    )
    .await;
    assert_eq!(resp.status, 503);
    assert_eq!(
        resp.json().unwrap(),
        json!({"error": "mock provider: forced HTTP 503"})
    );
    mock.fail_next(1, 500);
    let resp = send(
        &mock,
        "/api/embed",
        &[],
        &json!({"model": "m", "input": "a"}),
    )
    .await;
    assert_eq!(resp.status, 500);
    assert!(resp.json().unwrap()["error"].is_string());
    let resp = send(&mock, "/api/embed", &[], &json!({"model": "m"})).await;
    assert_eq!(resp.status, 400);
    assert!(resp.json().unwrap()["error"].is_string());

    let err = try_send(
        &mock,
        "/api/chat",
        &[],
        &chat(json!({"mock": {"fail_after_chunks": 2}})),
    )
    .await
    .expect_err("cut");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    let recorded: Vec<String> = mock.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(recorded[0], "/api/chat");
}
