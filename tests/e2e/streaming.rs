//! SSE streaming: events arrive as the provider sends them, `[DONE]` ends the stream,
//! `include_usage` is honoured, a client that leaves stops the upstream stream, and a provider
//! failure mid-stream ends the stream with an error event.

use std::time::{Duration, Instant};

use bench::mock::{MockConfig, MockServer};
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::support::*;

/// Reads a streamed response, returning each `data:` payload with its arrival time.
async fn read_events(resp: reqwest::Response, start: Instant) -> Vec<(Duration, String)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk.expect("stream broke"));
        while let Some(pos) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..pos + 2).collect();
            let text = String::from_utf8(event).unwrap();
            for line in text.lines() {
                if let Some(d) = line.strip_prefix("data: ") {
                    out.push((start.elapsed(), d.to_string()));
                }
            }
        }
    }
    assert!(
        buf.is_empty(),
        "stream ended inside an event: {:?}",
        String::from_utf8_lossy(&buf)
    );
    out
}

fn stream_body(include_usage: bool) -> Value {
    json!({"model": "test-model", "messages": [{"role": "user", "content": "count"}], "stream": true,
           "stream_options": {"include_usage": include_usage}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_when_the_provider_sends_them() {
    let cfg = MockConfig {
        chunks: 5,
        chunk_interval: Duration::from_millis(250),
        content: "a b c d e".into(),
        ..MockConfig::default()
    };
    let mock = MockServer::start(cfg).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    let start = Instant::now();
    let r = post(&gw, "/v1/chat/completions", &stream_body(false)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = read_events(r, start).await;
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let content: Vec<&(Duration, String)> = events
        .iter()
        .filter(|(_, d)| d.contains("\"content\":\"") && !d.contains("\"content\":\"\""))
        .collect();
    assert_eq!(content.len(), 5, "{events:?}");
    // Paced 250 ms apart upstream: each must reach the client about 250 ms after the previous,
    // not all at the end.
    for w in content.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(
            gap >= Duration::from_millis(150),
            "events bunched: gap {gap:?} in {events:?}"
        );
    }
    let total = events.last().unwrap().0;
    assert!(
        content[0].0 + Duration::from_millis(700) < total,
        "first content at {:?}, end at {total:?}",
        content[0].0
    );
    let text: String = content
        .iter()
        .map(|(_, d)| {
            serde_json::from_str::<Value>(d).unwrap()["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(text, "a b c d e");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_usage_is_honoured() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    for include in [true, false] {
        let events = read_events(
            post(&gw, "/v1/chat/completions", &stream_body(include)).await,
            Instant::now(),
        )
        .await;
        let chunks: Vec<Value> = events
            .iter()
            .filter(|(_, d)| d != "[DONE]")
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect();
        let usage: Vec<&Value> = chunks
            .iter()
            .filter(|c| c.get("usage").is_some_and(|u| !u.is_null()))
            .collect();
        if include {
            assert_eq!(usage.len(), 1, "{chunks:?}");
            assert_eq!(usage[0]["choices"], json!([]));
            assert!(usage[0]["usage"]["total_tokens"].as_u64().unwrap() > 0);
        } else {
            assert!(usage.is_empty(), "{chunks:?}");
        }
        assert_eq!(events.last().unwrap().1, "[DONE]");
    }
    // The mock deployment (no provider at all) honours it the same way.
    let gw = Gateway::start_default().await;
    let body = json!({"model": "tollgate-demo", "messages": [{"role": "user", "content": "hi"}], "stream": true, "stream_options": {"include_usage": true}});
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("sk-tollgate-dev")
        .json(&body)
        .send()
        .await
        .unwrap();
    let events = read_events(r, Instant::now()).await;
    assert_eq!(events.last().unwrap().1, "[DONE]");
    assert!(events.iter().any(|(_, d)| d.contains("\"usage\"")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_stops_the_upstream_stream() {
    let cfg = MockConfig {
        chunks: 100,
        chunk_interval: Duration::from_millis(100),
        ..MockConfig::default()
    };
    let mock = MockServer::start(cfg).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    let r = post(&gw, "/v1/chat/completions", &stream_body(false)).await;
    let mut body = r.bytes_stream();
    let mut seen = 0;
    while seen < 3 {
        let chunk = body.next().await.unwrap().unwrap();
        seen += chunk.windows(6).filter(|w| w == b"data: ").count();
    }
    drop(body); // the client goes away after a few events
    let aborted = mock
        .wait_until(Duration::from_secs(3), |m| m.streams_aborted() == 1)
        .await;
    assert!(
        aborted,
        "the provider's stream kept going: started={} completed={} aborted={}",
        mock.streams_started(),
        mock.streams_completed(),
        mock.streams_aborted()
    );
    assert_eq!(mock.streams_completed(), 0);
    // The gateway is fine afterwards, and the dropped connection was not pooled.
    let r = post(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "test-model", "messages": [], "mock": {"chunks": 1}}),
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_failure_mid_stream_ends_with_an_error_event() {
    let cfg = MockConfig {
        chunks: 10,
        fail_after_chunks: Some(3),
        chunk_interval: Duration::from_millis(50),
        ..MockConfig::default()
    };
    let mock = MockServer::start(cfg).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    let r = post(&gw, "/v1/chat/completions", &stream_body(false)).await;
    assert_eq!(r.status(), 200);
    let events = read_events(r, Instant::now()).await;
    let last: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(last["error"]["code"], "502", "{events:?}");
    assert!(!events.iter().any(|(_, d)| d == "[DONE]"));
}
