//! Anthropic Messages: `/v1/messages`, plain and streamed, tool use, errors, count_tokens.

use std::time::Duration;

use bench::client::Response;
use serde_json::{json, Value};

use crate::common::{mock, send, text, try_send, with, ARGS, CONTENT};

const AUTH: [(&str, &str); 2] = [
    ("x-api-key", "sk-ant-mock"),
    ("anthropic-version", "2023-06-01"),
];

fn msg(extra: Value) -> Value {
    with(
        json!({"model": "claude-x", "max_tokens": 64,
               "messages": [{"role": "user", "content": "hi"}]}),
        extra,
    )
}

/// `(event name, data)` of each SSE event; every event must have both lines.
fn events(resp: &Response) -> Vec<(String, Value)> {
    text(resp)
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut lines = block.lines();
            let name = lines.next().and_then(|l| l.strip_prefix("event: "));
            let data = lines.next().and_then(|l| l.strip_prefix("data: "));
            assert!(lines.next().is_none(), "one event per block: {block:?}");
            let (name, data) = (name.expect(block), data.expect(block));
            // Anthropic writes `type` first; byte-level event classifiers may rely on it.
            assert!(data.starts_with(&format!(r#"{{"type":"{name}""#)), "{data}");
            let v: Value = serde_json::from_str(data).unwrap();
            assert_eq!(v["type"], name, "event name matches data.type");
            (name.to_owned(), v)
        })
        .collect()
}

fn names(evs: &[(String, Value)]) -> Vec<&str> {
    evs.iter().map(|(n, _)| n.as_str()).collect()
}

fn assert_anthropic_error(resp: &Response, status: u16, kind: &str) -> Value {
    assert_eq!(resp.status, status, "{}", text(resp));
    let v = resp.json().unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], kind, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    v
}

#[tokio::test]
async fn message_has_anthropic_shape_on_both_paths() {
    let mock = mock().await;
    for path in ["/v1/messages", "/messages"] {
        let body = msg(json!({}));
        let resp = send(&mock, path, &AUTH, &body).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let v = resp.json().unwrap();
        assert!(v["id"].as_str().unwrap().starts_with("msg_"));
        assert_eq!(v["type"], "message");
        assert_eq!(v["role"], "assistant");
        assert_eq!(v["model"], "claude-x");
        assert_eq!(v["content"], json!([{"type": "text", "text": CONTENT}]));
        assert_eq!(v["stop_reason"], "end_turn");
        assert!(v["stop_sequence"].is_null() && v.get("stop_sequence").is_some());
        let input = (body.to_string().len() as u64).div_ceil(4);
        assert_eq!(
            v["usage"],
            json!({"input_tokens": input, "output_tokens": 5,
                   "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
        );
    }
    assert_eq!(mock.requests()[0].header("x-api-key"), Some("sk-ant-mock"));
}

#[tokio::test]
async fn auth_headers_and_required_fields() {
    let mock = mock().await;
    let v = assert_anthropic_error(
        &send(&mock, "/v1/messages", &[AUTH[1]], &msg(json!({}))).await,
        401,
        "authentication_error",
    );
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("x-api-key"));
    // Anthropic rejects a missing version header with a 400.
    let v = assert_anthropic_error(
        &send(&mock, "/v1/messages", &[AUTH[0]], &msg(json!({}))).await,
        400,
        "invalid_request_error",
    );
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("anthropic-version"));
    // A bearer token is not an Anthropic API key.
    assert_anthropic_error(
        &send(
            &mock,
            "/v1/messages",
            &[("authorization", "Bearer x"), AUTH[1]],
            &msg(json!({})),
        )
        .await,
        401,
        "authentication_error",
    );
    let no_max = json!({"model": "m", "messages": []});
    let v = assert_anthropic_error(
        &send(&mock, "/v1/messages", &AUTH, &no_max).await,
        400,
        "invalid_request_error",
    );
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_tokens"));
    assert_anthropic_error(
        &send(
            &mock,
            "/v1/messages",
            &AUTH,
            &json!({"model": "m", "max_tokens": 1}),
        )
        .await,
        400,
        "invalid_request_error",
    );
}

#[tokio::test]
async fn forced_errors_are_anthropic_shaped() {
    let mock = mock().await;
    for (status, kind) in [
        (529, "overloaded_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (404, "not_found_error"),
    ] {
        let resp = send(
            &mock,
            "/v1/messages",
            &AUTH,
            &msg(json!({"mock": {"status": status}})),
        )
        .await;
        assert_anthropic_error(&resp, status, kind);
    }
    let resp = send(
        &mock,
        "/v1/messages",
        &AUTH,
        &msg(json!({"mock": {"status": 429, "error_message": "slow down",
                             "headers": {"retry-after": "3"}}})),
    )
    .await;
    let v = assert_anthropic_error(&resp, 429, "rate_limit_error");
    assert_eq!(v["error"]["message"], "slow down");
    assert_eq!(resp.header("retry-after"), Some("3"));
    mock.fail_next(1, 529);
    assert_anthropic_error(
        &send(&mock, "/v1/messages", &AUTH, &msg(json!({}))).await,
        529,
        "overloaded_error",
    );
    assert_eq!(
        send(&mock, "/v1/messages", &AUTH, &msg(json!({})))
            .await
            .status,
        200
    );
    // A typo in the override is a 400 in Anthropic's shape too.
    assert_anthropic_error(
        &send(
            &mock,
            "/v1/messages",
            &AUTH,
            &msg(json!({"mock": {"stauts": 1}})),
        )
        .await,
        400,
        "invalid_request_error",
    );
}

#[tokio::test]
async fn stream_sends_the_full_event_sequence() {
    let mock = mock().await;
    let body = msg(json!({"stream": true, "mock": {"chunk_interval_ms": 30}}));
    let resp = send(&mock, "/v1/messages", &AUTH, &body).await;
    assert_eq!(resp.status, 200);
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    assert!(
        resp.timings.total >= Duration::from_millis(150),
        "5 deltas, 30 ms apart"
    );
    let evs = events(&resp);
    assert_eq!(
        names(&evs),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let start = &evs[0].1["message"];
    assert!(start["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(start["content"], json!([]));
    assert!(start["stop_reason"].is_null());
    let input = (body.to_string().len() as u64).div_ceil(4);
    assert_eq!(start["usage"]["input_tokens"], input);
    assert_eq!(start["usage"]["cache_read_input_tokens"], 0);
    assert_eq!(
        evs[1].1,
        json!({"type": "content_block_start", "index": 0,
               "content_block": {"type": "text", "text": ""}})
    );
    let text: String = evs[3..8]
        .iter()
        .map(|(_, v)| {
            assert_eq!(v["index"], 0);
            assert_eq!(v["delta"]["type"], "text_delta");
            v["delta"]["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, CONTENT);
    assert_eq!(evs[8].1, json!({"type": "content_block_stop", "index": 0}));
    assert_eq!(
        evs[9].1,
        json!({"type": "message_delta",
               "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": 5}})
    );
    assert!(
        mock.wait_until(Duration::from_secs(2), |m| m.streams_completed() == 1)
            .await
    );
}

#[tokio::test]
async fn tool_use_plain_and_streamed() {
    let mock = mock().await;
    let tool = json!({"tool_call": {"name": "get_weather", "arguments": ARGS}});
    let v = send(&mock, "/v1/messages", &AUTH, &msg(json!({"mock": tool})))
        .await
        .json()
        .unwrap();
    assert_eq!(v["stop_reason"], "tool_use");
    let block = &v["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(block["name"], "get_weather");
    assert_eq!(block["input"], json!({"city": "Paris", "unit": "celsius"}));

    let resp = send(
        &mock,
        "/v1/messages",
        &AUTH,
        &msg(json!({"stream": true, "mock": tool})),
    )
    .await;
    let evs = events(&resp);
    assert_eq!(
        names(&evs),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let cb = &evs[1].1["content_block"];
    assert_eq!(cb["type"], "tool_use");
    assert_eq!(cb["name"], "get_weather");
    assert_eq!(cb["input"], json!({}));
    let json_text: String = evs[3..6]
        .iter()
        .map(|(_, v)| {
            assert_eq!(v["delta"]["type"], "input_json_delta");
            v["delta"]["partial_json"].as_str().unwrap()
        })
        .collect();
    assert_eq!(json_text, ARGS);
    assert_eq!(evs[7].1["delta"]["stop_reason"], "tool_use");

    // Arguments that are not a JSON object cannot become `input`.
    let bad = json!({"tool_call": {"name": "f", "arguments": "[1"}});
    assert_anthropic_error(
        &send(&mock, "/v1/messages", &AUTH, &msg(json!({"mock": bad}))).await,
        400,
        "invalid_request_error",
    );
}

#[tokio::test]
async fn stream_error_after_chunks_ends_with_an_error_event() {
    let mock = mock().await;
    let body = msg(json!({"stream": true, "mock": {"stream_error_after_chunks": 2}}));
    let resp = send(&mock, "/v1/messages", &AUTH, &body).await;
    assert_eq!(resp.status, 200, "the error arrives inside a 200 stream");
    let evs = events(&resp);
    assert_eq!(
        names(&evs),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "error"
        ]
    );
    assert_eq!(
        evs[5].1,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    assert!(
        mock.wait_until(Duration::from_secs(2), |m| m.streams_completed() == 1)
            .await,
        "the response ends cleanly"
    );
    assert_eq!(mock.streams_aborted(), 0);

    // Beyond the number of deltas: all of them, then the error, still no content_block_stop.
    let body = msg(json!({"stream": true, "mock": {"stream_error_after_chunks": 99, "chunks": 2}}));
    let evs = events(&send(&mock, "/v1/messages", &AUTH, &body).await);
    assert_eq!(
        names(&evs),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "error"
        ]
    );
}

#[tokio::test]
async fn fail_after_chunks_cuts_the_connection() {
    let mock = mock().await;
    let body = msg(json!({"stream": true, "mock": {"fail_after_chunks": 1}}));
    let err = try_send(&mock, "/v1/messages", &AUTH, &body)
        .await
        .expect_err("the response must not complete");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
}

#[tokio::test]
async fn count_tokens() {
    let mock = mock().await;
    let body = json!({"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]});
    let resp = send(&mock, "/v1/messages/count_tokens", &AUTH, &body).await;
    assert_eq!(resp.status, 200);
    let n = (body.to_string().len() as u64).div_ceil(4);
    assert_eq!(resp.json().unwrap(), json!({"input_tokens": n}));
    let body = with(body, json!({"mock": {"prompt_tokens": 42}}));
    let resp = send(&mock, "/v1/messages/count_tokens", &AUTH, &body).await;
    assert_eq!(resp.json().unwrap(), json!({"input_tokens": 42}));
    assert_anthropic_error(
        &send(&mock, "/v1/messages/count_tokens", &[], &body).await,
        401,
        "authentication_error",
    );
}
