//! Client connections: HTTP/1.1 pipelining, keep-alive reuse, slow clients (header timeout),
//! and the per-address connection limit.

use std::time::{Duration, Instant};

use bench::mock::{MockConfig, MockServer};
use serde_json::json;

use crate::raw_http::{get, post_json, RawConn, RawResponse};
use crate::support::*;

/// The assistant text of a chat completion, whole or streamed (SSE deltas concatenated).
fn answer(r: &RawResponse) -> String {
    let text = r.text();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        return v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    }
    let mut out = String::new();
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(data) {
            out.push_str(v["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
        }
    }
    out
}

fn chat(content: &str, stream: bool, latency_ms: u64, pad: usize) -> serde_json::Value {
    json!({
        "model": "test-model",
        "stream": stream,
        "messages": [{"role": "user", "content": "x".repeat(pad)}],
        "mock": {"content": content, "latency_ms": latency_ms, "chunks": 3, "chunk_interval_ms": 20},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_all_answered_in_order() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    let path = "/v1/chat/completions";

    // Six requests in one write: a slow POST (the provider answers after 150 ms, while the
    // rest already waits in the socket), GETs, a stream, a POST with a large body, and a last
    // GET asking to close. Over 4 KiB in all, so part of it stays unread in the socket while
    // the first request is served.
    let mut wire = post_json(
        path,
        MASTER_KEY,
        &chat("first answer", false, 150, 2500),
        "",
    );
    wire.extend(get("/health/liveliness", MASTER_KEY, ""));
    wire.extend(post_json(
        path,
        MASTER_KEY,
        &chat("third answer", true, 50, 10),
        "",
    ));
    wire.extend(get("/v1/models", MASTER_KEY, ""));
    wire.extend(post_json(
        path,
        MASTER_KEY,
        &chat("fifth answer", false, 0, 4000),
        "",
    ));
    wire.extend(get(
        "/health/liveliness",
        MASTER_KEY,
        "Connection: close\r\n",
    ));
    assert!(wire.len() > 6000);

    let mut c = RawConn::connect(gw.port).await.unwrap();
    c.send(&wire).await.unwrap();
    let within = Duration::from_secs(10);
    let mut rs = Vec::new();
    for i in 0..6 {
        let r = c
            .response_within(within)
            .await
            .unwrap_or_else(|e| panic!("response {} of 6: {e}\n{}", i + 1, gw.logs()));
        rs.push(r);
    }
    for (i, r) in rs.iter().enumerate() {
        assert_eq!(r.status, 200, "response {}: {}", i + 1, r.text());
    }
    assert_eq!(answer(&rs[0]), "first answer");
    assert_eq!(rs[1].text(), "\"I'm alive!\"");
    assert!(rs[2]
        .header("content-type")
        .is_some_and(|v| v.starts_with("text/event-stream")));
    assert!(rs[2].text().contains("data: [DONE]"), "{}", rs[2].text());
    assert_eq!(answer(&rs[2]), "third answer");
    assert!(rs[3].text().contains("test-model"), "{}", rs[3].text());
    assert_eq!(answer(&rs[4]), "fifth answer");
    assert_eq!(rs[5].text(), "\"I'm alive!\"");
    assert!(rs[5].closes());
    assert!(
        c.closed_within(Duration::from_secs(2)).await.unwrap(),
        "bytes after the last response"
    );
    // Each POST reached the provider once, none was cut off.
    assert_eq!(mock.request_count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_sent_while_the_previous_one_waits_on_the_provider_is_served_after_it() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    let path = "/v1/chat/completions";
    for stream in [false, true] {
        let mut c = RawConn::connect(gw.port).await.unwrap();
        c.send(&post_json(
            path,
            MASTER_KEY,
            &chat("slow", stream, 300, 10),
            "",
        ))
        .await
        .unwrap();
        // The gateway is waiting on the provider when the next request arrives.
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.send(&post_json(
            path,
            MASTER_KEY,
            &chat("next", false, 0, 10),
            "",
        ))
        .await
        .unwrap();
        let first = c.response_within(Duration::from_secs(5)).await.unwrap();
        assert_eq!(first.status, 200, "{}", first.text());
        assert_eq!(answer(&first), "slow", "stream: {stream}");
        let second = c.response_within(Duration::from_secs(5)).await.unwrap();
        assert_eq!(second.status, 200, "{}", second.text());
        assert_eq!(answer(&second), "next", "stream: {stream}");
    }
}
