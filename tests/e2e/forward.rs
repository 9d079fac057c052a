//! Stage 5: large bodies forwarded intact, provider errors relayed, unreachable and slow
//! providers mapped to 502 and 504.

use std::time::{Duration, Instant};

use bench::mock::{MockConfig, MockServer};
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_mib_bodies_reach_the_provider_intact() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    // ~6 MiB: a long chat plus a base64 "image", far above Pingora's 64 KiB retry buffer.
    let image: String = (0..4_500_000u32)
        .map(|i| {
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                [(i * 7 % 64) as usize] as char
        })
        .collect();
    let history: Vec<serde_json::Value> = (0..2000)
        .map(|i| json!({"role": if i % 2 == 0 {"user"} else {"assistant"}, "content": format!("turn {i}: {}", "lorem ipsum ".repeat(40))}))
        .collect();
    let mut messages = history.clone();
    messages.push(json!({"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{image}")}}
    ]}));
    let body = json!({"model": "test-model", "messages": messages});
    let sent_len = serde_json::to_vec(&body).unwrap().len();
    assert!(sent_len > 5 * 1024 * 1024, "body is {sent_len} bytes");

    let r = post(&gw, "/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 200);
    let got = mock.requests().pop().unwrap();
    let upstream = got.json().expect("upstream body is JSON");
    assert_eq!(
        upstream["messages"], body["messages"],
        "messages forwarded byte-for-byte in value"
    );
    assert_eq!(
        got.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        got.body.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_errors_are_relayed_with_status_and_message() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    for status in [400u16, 401, 404, 429, 500, 503] {
        let body = json!({"model": "test-model", "messages": [{"role":"user","content":"x"}],
                          "mock": {"status": status, "error_message": format!("provider says {status}"), "error_code": "some_code"}});
        let e = expect_error(post(&gw, "/v1/chat/completions", &body).await, status).await;
        assert_eq!(e["message"], format!("provider says {status}"));
        assert_eq!(e["code"], "some_code");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_provider_is_502() {
    let port = free_port(); // nothing listens here
    let gw = Gateway::start(&config_for(&format!("http://127.0.0.1:{port}/v1"), "", "")).await;
    let body = json!({"model": "test-model", "messages": [{"role":"user","content":"x"}]});
    let e = expect_error(post(&gw, "/v1/chat/completions", &body).await, 502).await;
    assert!(e["message"].as_str().unwrap().contains("test-model"), "{e}");
    let body = json!({"model": "test-model", "messages": [], "stream": true});
    expect_error(post(&gw, "/v1/chat/completions", &body).await, 502).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_provider_is_504_at_the_deployment_timeout() {
    let mock = MockServer::start(MockConfig {
        latency: Duration::from_secs(5),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "      timeout: 0.5", "")).await;
    let body = json!({"model": "test-model", "messages": [{"role":"user","content":"x"}]});
    let t = Instant::now();
    let e = expect_error(post(&gw, "/v1/chat/completions", &body).await, 504).await;
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "took {took:?}"
    );
    assert_eq!(e["type"], "timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_timeout_bounds_time_to_first_byte() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "      stream_timeout: 0.3", "")).await;
    let body = json!({"model": "test-model", "messages": [], "stream": true, "mock": {"latency_ms": 3000}});
    let t = Instant::now();
    expect_error(post(&gw, "/v1/chat/completions", &body).await, 504).await;
    assert!(t.elapsed() < Duration::from_secs(2));
    // A non-streaming request is not bound by stream_timeout.
    let body = json!({"model": "test-model", "messages": [], "mock": {"latency_ms": 600}});
    assert_eq!(post(&gw, "/v1/chat/completions", &body).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_survive_provider_restarts() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let addr = mock.addr;
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    let body = json!({"model": "test-model", "messages": [{"role":"user","content":"x"}]});
    for _ in 0..20 {
        assert_eq!(post(&gw, "/v1/chat/completions", &body).await.status(), 200);
    }
    // Restart the provider on the same port: the gateway's pooled connections are now dead and
    // must be replaced transparently.
    mock.shutdown().await;
    let mock = MockServer::start_on(addr, MockConfig::default())
        .await
        .unwrap();
    for _ in 0..5 {
        assert_eq!(post(&gw, "/v1/chat/completions", &body).await.status(), 200);
    }
    assert_eq!(mock.request_count(), 5);
}
