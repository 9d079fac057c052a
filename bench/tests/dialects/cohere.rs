//! Cohere v2: `/v2/chat` plain and streamed (text and tool calls), `/v2/embed`, auth, errors.

use bench::client::Response;
use serde_json::{json, Value};

use crate::common::{mock, send, text, try_send, with, ARGS, CONTENT};

const AUTH: (&str, &str) = ("authorization", "Bearer co-mock");

fn chat(extra: Value) -> Value {
    with(
        json!({"model": "command-r-plus", "messages": [{"role": "user", "content": "hi"}]}),
        extra,
    )
}

fn tool(extra: Value) -> Value {
    let tc = json!({"mock": {"tool_call": {"name": "get_weather", "arguments": ARGS}}});
    with(chat(tc), extra)
}

/// `(event, data)` of each SSE event, checking that `event:` matches the data's `type`.
fn events(resp: &Response) -> Vec<(String, Value)> {
    let body = text(resp);
    assert!(body.ends_with("\n\n"), "{body:?}");
    body.split("\n\n")
        .filter(|b| !b.is_empty())
        .map(|block| {
            let (ev, data) = block.split_once('\n').expect(block);
            let name = ev.strip_prefix("event: ").expect(block).to_owned();
            let v: Value = serde_json::from_str(data.strip_prefix("data: ").expect(block)).unwrap();
            assert_eq!(v["type"], name.as_str(), "{block}");
            (name, v)
        })
        .collect()
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

fn assert_cohere_error(resp: &Response, status: u16) -> String {
    assert_eq!(resp.status, status, "{}", text(resp));
    let v = resp.json().unwrap();
    let obj = v.as_object().expect("object");
    assert_eq!(obj.len(), 1, "only a message: {v}");
    v["message"].as_str().expect("message").to_owned()
}

#[tokio::test]
async fn chat_answers_a_v2_chat_response() {
    let mock = mock().await;
    let body = chat(json!({}));
    let resp = send(&mock, "/v2/chat", &[AUTH], &body).await;
    assert_eq!(resp.status, 200, "{}", text(&resp));
    let v = resp.json().unwrap();
    assert!(v["id"].as_str().unwrap().len() == 36, "uuid-shaped id: {v}");
    assert_eq!(v["finish_reason"], "COMPLETE");
    assert_eq!(
        v["message"],
        json!({"role": "assistant", "content": [{"type": "text", "text": CONTENT}]})
    );
    let prompt = (body.to_string().len() as u64).div_ceil(4);
    let tokens = json!({"input_tokens": prompt, "output_tokens": 5});
    assert_eq!(
        v["usage"],
        json!({"billed_units": tokens, "tokens": tokens})
    );
    let rec = mock.requests().pop().unwrap();
    assert_eq!(rec.path, "/v2/chat");
    assert_eq!(rec.header("authorization"), Some("Bearer co-mock"));
}

#[tokio::test]
async fn chat_stream_event_order() {
    let mock = mock().await;
    let body = chat(json!({"stream": true, "mock": {"chunks": 3, "prompt_tokens": 7}}));
    let resp = send(&mock, "/v2/chat", &[AUTH], &body).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let evs = events(&resp);
    assert_eq!(
        names(&evs),
        [
            "message-start",
            "content-start",
            "content-delta",
            "content-delta",
            "content-delta",
            "content-end",
            "message-end"
        ]
    );
    assert!(evs[0].1["id"].is_string());
    assert_eq!(evs[0].1["delta"]["message"]["role"], "assistant");
    assert_eq!(
        evs[1].1,
        json!({"type": "content-start", "index": 0,
               "delta": {"message": {"content": {"type": "text", "text": ""}}}})
    );
    let streamed: String = evs[2..5]
        .iter()
        .map(|(_, v)| {
            assert_eq!(v["index"], 0);
            v["delta"]["message"]["content"]["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(streamed, CONTENT);
    assert_eq!(evs[5].1, json!({"type": "content-end", "index": 0}));
    let end = &evs[6].1["delta"];
    assert_eq!(end["finish_reason"], "COMPLETE");
    assert_eq!(end["usage"]["billed_units"]["input_tokens"], 7);
    assert_eq!(end["usage"]["billed_units"]["output_tokens"], 5);
    assert_eq!(mock.streams_completed(), 1);
}

#[tokio::test]
async fn tool_call_plain_and_streamed() {
    let mock = mock().await;
    let v = send(&mock, "/v2/chat", &[AUTH], &tool(json!({})))
        .await
        .json()
        .unwrap();
    assert_eq!(v["finish_reason"], "TOOL_CALL");
    let msg = &v["message"];
    assert!(msg.get("content").is_none(), "{msg}");
    assert!(msg["tool_plan"].is_string(), "{msg}");
    let call = &msg["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("get_weather_"));
    assert_eq!(call["type"], "function");
    assert_eq!(
        call["function"],
        json!({"name": "get_weather", "arguments": ARGS})
    );

    let resp = send(&mock, "/v2/chat", &[AUTH], &tool(json!({"stream": true}))).await;
    let evs = events(&resp);
    assert_eq!(
        names(&evs),
        [
            "message-start",
            "tool-plan-delta",
            "tool-call-start",
            "tool-call-delta",
            "tool-call-delta",
            "tool-call-delta",
            "tool-call-end",
            "message-end"
        ]
    );
    let start = &evs[2].1["delta"]["message"]["tool_calls"];
    assert_eq!(start["function"]["name"], "get_weather");
    assert_eq!(start["function"]["arguments"], "");
    assert_eq!(start["type"], "function");
    let args: String = evs[3..6]
        .iter()
        .map(|(_, v)| {
            v["delta"]["message"]["tool_calls"]["function"]["arguments"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(args, ARGS);
    assert_eq!(evs[7].1["delta"]["finish_reason"], "TOOL_CALL");
}

#[tokio::test]
async fn auth_validation_and_forced_errors() {
    let mock = mock().await;
    let msg = assert_cohere_error(&send(&mock, "/v2/chat", &[], &chat(json!({}))).await, 401);
    assert_eq!(msg, "no api key supplied");
    let api_key = ("x-api-key", "co-mock");
    assert_cohere_error(
        &send(&mock, "/v2/chat", &[api_key], &chat(json!({}))).await,
        401,
    );
    let no_model = json!({"messages": []});
    let msg = assert_cohere_error(&send(&mock, "/v2/chat", &[AUTH], &no_model).await, 400);
    assert!(msg.contains("model"), "{msg}");

    let forced = chat(json!({"mock": {"status": 429, "error_message": "slow down"}}));
    let msg = assert_cohere_error(&send(&mock, "/v2/chat", &[AUTH], &forced).await, 429);
    assert_eq!(msg, "slow down");
    mock.fail_next(1, 503);
    assert_cohere_error(
        &send(&mock, "/v2/chat", &[AUTH], &chat(json!({}))).await,
        503,
    );
    assert_eq!(
        send(&mock, "/v2/chat", &[AUTH], &chat(json!({})))
            .await
            .status,
        200
    );

    let cut = chat(json!({"stream": true, "mock": {"fail_after_chunks": 1}}));
    let err = try_send(&mock, "/v2/chat", &[AUTH], &cut)
        .await
        .expect_err("the response must not complete");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
}

#[tokio::test]
async fn embed_returns_float_embeddings() {
    let mock = mock().await;
    let body = json!({"model": "embed-english-v3.0", "texts": ["a", "b"],
                      "input_type": "search_document", "embedding_types": ["float"],
                      "output_dimension": 4});
    let resp = send(&mock, "/v2/embed", &[AUTH], &body).await;
    assert_eq!(resp.status, 200, "{}", text(&resp));
    let v = resp.json().unwrap();
    assert!(v["id"].is_string());
    assert_eq!(v["texts"], json!(["a", "b"]));
    let floats = v["embeddings"]["float"].as_array().unwrap();
    assert_eq!(floats.len(), 2);
    assert_eq!(floats[0].as_array().unwrap().len(), 4);
    assert_ne!(floats[0], floats[1]);
    let prompt = (body.to_string().len() as u64).div_ceil(4);
    assert_eq!(v["meta"]["billed_units"]["input_tokens"], prompt);

    let no_type = json!({"model": "embed-english-v3.0", "texts": ["a"]});
    let msg = assert_cohere_error(&send(&mock, "/v2/embed", &[AUTH], &no_type).await, 400);
    assert!(msg.contains("input_type"), "{msg}");
    let no_texts = json!({"model": "embed-english-v3.0", "input_type": "search_query"});
    assert_cohere_error(&send(&mock, "/v2/embed", &[AUTH], &no_texts).await, 400);
}
