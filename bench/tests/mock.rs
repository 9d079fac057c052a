//! The mock provider as the e2e tests use it: in-process, ephemeral port, real HTTP.

use std::time::{Duration, Instant};

use bench::client::{Client, Request, Response};
use bench::mock::{MockConfig, MockServer, RECORDED_REQUESTS};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONTENT: &str = "Hello from the mock provider.";

async fn post(mock: &MockServer, path: &str, body: &Value) -> Response {
    let body = body.to_string();
    Client::new(mock.addr)
        .send(&Request {
            method: "POST",
            path,
            headers: &[
                ("content-type", "application/json"),
                ("Authorization", "Bearer sk-mock"),
            ],
            body: body.as_bytes(),
        })
        .await
        .expect("request")
}

async fn get(mock: &MockServer, path: &str) -> Response {
    Client::new(mock.addr)
        .send(&Request {
            method: "GET",
            path,
            headers: &[],
            body: b"",
        })
        .await
        .expect("request")
}

fn chat(extra: Value) -> Value {
    let mut body = json!({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

/// Parsed JSON events of an SSE body, and whether it ended with `[DONE]`.
fn events(resp: &Response) -> (Vec<Value>, bool) {
    let data = resp.sse_data();
    let done = data.last() == Some(&"[DONE]");
    let evs = data
        .iter()
        .filter(|d| **d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("event is JSON"))
        .collect();
    (evs, done)
}

fn assert_openai_error(resp: &Response, status: u16) -> Value {
    assert_eq!(resp.status, status);
    let v = resp.json().expect("error body is JSON");
    let err = &v["error"];
    assert!(err["message"].is_string(), "{v}");
    assert!(err["type"].is_string(), "{v}");
    assert!(err.get("param").is_some_and(Value::is_null), "{v}");
    assert!(err.get("code").is_some(), "{v}");
    v
}

#[tokio::test]
async fn chat_completion_has_openai_shape_on_both_prefixes() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    assert_eq!(
        mock.url(),
        format!("http://127.0.0.1:{}/v1", mock.addr.port())
    );
    for path in ["/v1/chat/completions", "/chat/completions"] {
        let body = chat(json!({}));
        let resp = post(&mock, path, &body).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let v = resp.json().unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
        assert_eq!(v["model"], "gpt-x");
        let choice = &v["choices"][0];
        assert_eq!(choice["index"], 0);
        assert_eq!(choice["message"]["role"], "assistant");
        assert_eq!(choice["message"]["content"], CONTENT);
        assert!(choice["message"]["refusal"].is_null());
        assert!(choice["logprobs"].is_null());
        assert_eq!(choice["finish_reason"], "stop");
        let prompt = (body.to_string().len() as u64).div_ceil(4);
        assert_eq!(v["usage"]["prompt_tokens"], prompt);
        assert_eq!(v["usage"]["completion_tokens"], 5);
        assert_eq!(v["usage"]["total_tokens"], prompt + 5);
    }
    assert_eq!(mock.request_count(), 2);
    assert_eq!(mock.streams_started(), 0);
}

#[tokio::test]
async fn chat_stream_event_sequence() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let resp = post(
        &mock,
        "/v1/chat/completions",
        &chat(json!({"stream": true})),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    let (evs, done) = events(&resp);
    assert!(done, "stream ends with [DONE]");
    // role, 5 content pieces, finish.
    assert_eq!(evs.len(), 7, "{evs:?}");
    let id = evs[0]["id"].clone();
    for ev in &evs {
        assert_eq!(ev["object"], "chat.completion.chunk");
        assert_eq!(ev["id"], id);
        assert_eq!(ev["model"], "gpt-x");
        assert!(ev.get("usage").is_none(), "no usage without include_usage");
        assert_eq!(ev["choices"].as_array().unwrap().len(), 1);
    }
    assert_eq!(evs[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = evs[1..6]
        .iter()
        .map(|e| {
            assert!(e["choices"][0]["finish_reason"].is_null());
            assert!(e["choices"][0]["delta"].get("role").is_none());
            e["choices"][0]["delta"]["content"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, CONTENT);
    assert_eq!(evs[6]["choices"][0]["finish_reason"], "stop");
    assert_eq!(evs[6]["choices"][0]["delta"], json!({}));
    assert!(
        mock.wait_until(Duration::from_secs(2), |m| m.streams_completed() == 1)
            .await
    );
    assert_eq!(mock.streams_started(), 1);
    assert_eq!(mock.streams_aborted(), 0);
}

#[tokio::test]
async fn include_usage_adds_a_usage_chunk_before_done() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let body = chat(json!({"stream": true, "stream_options": {"include_usage": true}}));
    let resp = post(&mock, "/v1/chat/completions", &body).await;
    let (evs, done) = events(&resp);
    assert!(done);
    assert_eq!(evs.len(), 8);
    for ev in &evs[..7] {
        assert!(ev["usage"].is_null() && ev.get("usage").is_some(), "{ev}");
    }
    let last = &evs[7];
    assert_eq!(last["choices"], json!([]));
    let prompt = (body.to_string().len() as u64).div_ceil(4);
    assert_eq!(
        last["usage"],
        json!({"prompt_tokens": prompt, "completion_tokens": 5, "total_tokens": prompt + 5})
    );
}

#[tokio::test]
async fn legacy_completions_plain_and_streamed() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let resp = post(
        &mock,
        "/v1/completions",
        &json!({"model": "m", "prompt": "x"}),
    )
    .await;
    let v = resp.json().unwrap();
    assert_eq!(v["object"], "text_completion");
    assert!(v["id"].as_str().unwrap().starts_with("cmpl-"));
    assert_eq!(v["choices"][0]["text"], CONTENT);
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["choices"][0]["logprobs"].is_null());
    assert_eq!(v["usage"]["completion_tokens"], 5);

    let body = json!({"model": "m", "prompt": "x", "stream": true,
                      "stream_options": {"include_usage": true}, "mock": {"chunks": 2}});
    let resp = post(&mock, "/completions", &body).await;
    let (evs, done) = events(&resp);
    assert!(done);
    // 2 content pieces, finish, usage.
    assert_eq!(evs.len(), 4, "{evs:?}");
    let text: String = evs[..2]
        .iter()
        .map(|e| e["choices"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, CONTENT);
    assert_eq!(evs[2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(evs[3]["choices"], json!([]));
    assert_eq!(evs[3]["usage"]["completion_tokens"], 5);
    assert!(evs.iter().all(|e| e["object"] == "text_completion"));
}

#[tokio::test]
async fn n_choices_are_returned_and_billed_like_openai() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    // Chat, n = 3: three choices, completion tokens of all three (5 words each).
    let v = post(&mock, "/v1/chat/completions", &chat(json!({"n": 3})))
        .await
        .json()
        .unwrap();
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    for (i, c) in choices.iter().enumerate() {
        assert_eq!(c["index"], i);
        assert_eq!(c["message"]["content"], CONTENT);
    }
    assert_eq!(v["usage"]["completion_tokens"], 15);
    // The per-choice override is multiplied too.
    let body = chat(json!({"n": 4, "mock": {"completion_tokens": 100}}));
    let v = post(&mock, "/chat/completions", &body)
        .await
        .json()
        .unwrap();
    assert_eq!(v["usage"]["completion_tokens"], 400);

    // Streamed: one event per choice at each step, usage of all choices.
    let body = chat(
        json!({"n": 2, "stream": true, "stream_options": {"include_usage": true},
                           "mock": {"chunks": 2}}),
    );
    let (evs, done) = events(&post(&mock, "/v1/chat/completions", &body).await);
    assert!(done);
    // (role + 2 pieces + finish) × 2 choices, then usage.
    assert_eq!(evs.len(), 9, "{evs:?}");
    for i in 0..2u64 {
        let text: String = evs
            .iter()
            .filter(|e| e["choices"][0]["index"] == i)
            .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, CONTENT, "choice {i}");
    }
    assert_eq!(evs[8]["usage"]["completion_tokens"], 10);

    // Legacy completions: best_of candidates are billed, n returned.
    let body = json!({"model": "m", "prompt": "x", "n": 2, "best_of": 5});
    let v = post(&mock, "/v1/completions", &body).await.json().unwrap();
    assert_eq!(v["choices"].as_array().unwrap().len(), 2);
    assert_eq!(v["usage"]["completion_tokens"], 25);
    // A value the mock cannot read counts as 1.
    let v = post(&mock, "/v1/chat/completions", &chat(json!({"n": "x"})))
        .await
        .json()
        .unwrap();
    assert_eq!(v["choices"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn embeddings_one_vector_per_input() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let v = post(
        &mock,
        "/v1/embeddings",
        &json!({"model": "e", "input": "hello"}),
    )
    .await
    .json()
    .unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "e");
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["object"], "embedding");
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 8);
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(v["usage"]["total_tokens"], v["usage"]["prompt_tokens"]);

    let body = json!({"model": "e", "input": ["a", "b", "a"], "dimensions": 4});
    let v = post(&mock, "/embeddings", &body).await.json().unwrap();
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d["index"], i);
        assert_eq!(d["embedding"].as_array().unwrap().len(), 4);
    }
    assert_eq!(data[0]["embedding"], data[2]["embedding"], "deterministic");
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);

    // A token array is one input; base64 carries dims little-endian f32s.
    let body = json!({"model": "e", "input": [1, 2, 3], "encoding_format": "base64"});
    let v = post(&mock, "/embeddings", &body).await.json().unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let b64 = v["data"][0]["embedding"].as_str().unwrap();
    // 8 dims x 4 bytes = 32 bytes = 44 base64 characters with one '=' of padding.
    assert_eq!(b64.len(), 44, "{b64}");
    assert!(b64.ends_with('=') && !b64.ends_with("=="), "{b64}");

    let resp = post(&mock, "/embeddings", &json!({"model": "e"})).await;
    assert_openai_error(&resp, 400);
}

#[tokio::test]
async fn models_and_unknown_routes() {
    let mock = MockServer::start(MockConfig {
        models: vec!["a".into(), "b".into()],
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let v = get(&mock, "/v1/models").await.json().unwrap();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["object"], "model");
            assert_eq!(m["owned_by"], "mock");
            m["id"].as_str().unwrap()
        })
        .collect();
    assert_eq!(ids, ["a", "b"]);

    assert_openai_error(&get(&mock, "/v1/nope").await, 404);
    assert_openai_error(&get(&mock, "/v1/chat/completions").await, 405);
    let resp = Client::new(mock.addr)
        .send(&Request {
            method: "POST",
            path: "/v1/chat/completions",
            headers: &[],
            body: b"{not json",
        })
        .await
        .unwrap();
    assert_openai_error(&resp, 400);
}

#[tokio::test]
async fn per_request_override_scripts_one_request() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let body = chat(
        json!({"mock": {"status": 503, "error_message": "overloaded",
                                    "headers": {"retry-after": "2"}}}),
    );
    let resp = post(&mock, "/v1/chat/completions", &body).await;
    let v = assert_openai_error(&resp, 503);
    assert_eq!(v["error"]["message"], "overloaded");
    assert_eq!(v["error"]["type"], "server_error");
    assert_eq!(resp.header("retry-after"), Some("2"));

    let resp = post(
        &mock,
        "/v1/chat/completions",
        &chat(json!({"mock": {"status": 429}})),
    )
    .await;
    let v = assert_openai_error(&resp, 429);
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");

    let start = Instant::now();
    let resp = post(
        &mock,
        "/v1/chat/completions",
        &chat(json!({"mock": {"latency_ms": 200}})),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(200));

    // Pacing: the role event comes at once, each of 3 content events 60 ms apart.
    let body = chat(json!({"stream": true,
        "mock": {"chunks": 3, "chunk_interval_ms": 60, "content": "one two three"}}));
    let resp = post(&mock, "/v1/chat/completions", &body).await;
    let t = resp.timings;
    assert!(t.first_data.unwrap() < Duration::from_millis(60), "{t:?}");
    assert!(t.total >= Duration::from_millis(180), "{t:?}");
    let (evs, _) = events(&resp);
    let pieces: Vec<&str> = evs[1..4]
        .iter()
        .map(|e| e["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(pieces, ["one ", "two ", "three"]);

    // Usage override, and the next request is back to the defaults.
    let body = chat(json!({"mock": {"prompt_tokens": 1000, "completion_tokens": 7}}));
    let v = post(&mock, "/v1/chat/completions", &body)
        .await
        .json()
        .unwrap();
    assert_eq!(v["usage"]["total_tokens"], 1007);
    let v = post(&mock, "/v1/chat/completions", &chat(json!({})))
        .await
        .json()
        .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], CONTENT);

    let resp = post(
        &mock,
        "/v1/chat/completions",
        &chat(json!({"mock": {"stauts": 1}})),
    )
    .await;
    let v = assert_openai_error(&resp, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("stauts"));
}

#[tokio::test]
async fn fail_next_and_set_config() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    mock.fail_next(2, 502);
    let ok_body = chat(json!({"mock": {"status": 200}}));
    // fail_next wins over the request's own override.
    assert_openai_error(&post(&mock, "/v1/chat/completions", &ok_body).await, 502);
    assert_openai_error(
        &post(&mock, "/v1/chat/completions", &chat(json!({}))).await,
        502,
    );
    assert_eq!(
        post(&mock, "/v1/chat/completions", &chat(json!({})))
            .await
            .status,
        200
    );

    mock.set_config(MockConfig {
        status: Some(500),
        ..mock.config()
    });
    assert_openai_error(
        &post(&mock, "/v1/chat/completions", &chat(json!({}))).await,
        500,
    );
    mock.set_config(MockConfig {
        content: "changed".into(),
        ..MockConfig::default()
    });
    let v = post(&mock, "/v1/chat/completions", &chat(json!({})))
        .await
        .json()
        .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "changed");
    assert_eq!(mock.request_count(), 5);
    mock.reset();
    assert_eq!(mock.request_count(), 0);
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn detects_client_abort_mid_stream() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let body =
        chat(json!({"stream": true, "mock": {"chunks": 50, "chunk_interval_ms": 20}})).to_string();
    let mut s = tokio::net::TcpStream::connect(mock.addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("delta") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "server closed early");
        got.extend_from_slice(&buf[..n]);
    }
    drop(s);
    assert!(
        mock.wait_until(Duration::from_secs(3), |m| m.streams_aborted() == 1)
            .await,
        "abort not detected"
    );
    assert_eq!(mock.streams_started(), 1);
    assert_eq!(mock.streams_completed(), 0);
}

#[tokio::test]
async fn injected_mid_stream_failure_breaks_the_response() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let body = chat(json!({"stream": true, "mock": {"fail_after_chunks": 2}})).to_string();
    let result = Client::new(mock.addr)
        .send(&Request {
            method: "POST",
            path: "/v1/chat/completions",
            headers: &[],
            body: body.as_bytes(),
        })
        .await;
    let err = result.expect_err("the response must not complete");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    assert!(
        mock.wait_until(Duration::from_secs(1), |m| m.streams_started() == 1)
            .await
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        mock.streams_aborted(),
        0,
        "an injected failure is not an abort"
    );
    assert_eq!(mock.streams_completed(), 0);
}

#[tokio::test]
async fn records_requests() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let before = Instant::now();
    let body = chat(json!({"x-unknown": [1, 2]}));
    post(&mock, "/v1/chat/completions?api-version=1", &body).await;
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/chat/completions?api-version=1");
    assert_eq!(r.header("authorization"), Some("Bearer sk-mock"));
    assert!(
        r.headers.iter().any(|(k, _)| k == "authorization"),
        "lowercased"
    );
    assert_eq!(r.body, body.to_string().as_bytes());
    assert_eq!(r.json().unwrap()["x-unknown"], json!([1, 2]));
    assert!(r.received_at >= before);

    let mut client = Client::new(mock.addr);
    for i in 0..RECORDED_REQUESTS + 6 {
        let path = format!("/v1/models?i={i}");
        let req = Request {
            method: "GET",
            path: &path,
            headers: &[],
            body: b"",
        };
        assert_eq!(client.send(&req).await.unwrap().status, 200);
    }
    let reqs = mock.requests();
    assert_eq!(reqs.len(), RECORDED_REQUESTS);
    assert_eq!(reqs[0].path, "/v1/models?i=6", "oldest dropped first");
    assert_eq!(reqs[RECORDED_REQUESTS - 1].path, "/v1/models?i=69");
    assert!(reqs
        .windows(2)
        .all(|w| w[0].received_at <= w[1].received_at));

    mock.set_config(MockConfig {
        record_requests: false,
        ..MockConfig::default()
    });
    mock.reset();
    get(&mock, "/v1/models").await;
    assert!(mock.requests().is_empty());
    assert_eq!(mock.request_count(), 1);
}

#[tokio::test]
async fn stats_endpoint_and_shutdown() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    post(
        &mock,
        "/v1/chat/completions",
        &chat(json!({"stream": true})),
    )
    .await;
    assert!(
        mock.wait_until(Duration::from_secs(2), |m| m.streams_completed() == 1)
            .await
    );
    let v = get(&mock, "/__mock/stats").await.json().unwrap();
    assert_eq!(v["requests"], 2);
    assert_eq!(v["streams_started"], 1);
    assert_eq!(v["streams_completed"], 1);
    assert_eq!(v["streams_aborted"], 0);
    let addr = mock.addr;
    mock.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// The mock lives on its own thread: a blocking test thread does not stall it.
#[test]
fn serves_while_the_caller_blocks() {
    let mock = MockServer::start_blocking(MockConfig::default()).unwrap();
    let mut s = std::net::TcpStream::connect(mock.addr).unwrap();
    std::io::Write::write_all(
        &mut s,
        b"GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut s, &mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("\"mock-model\""), "{out}");
}
