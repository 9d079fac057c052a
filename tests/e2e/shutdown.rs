//! Process lifecycle: SIGTERM drains in-flight requests (streams included) and exits as soon as
//! they are done; SIGINT stops at once.

use std::time::{Duration, Instant};

use bench::mock::{MockConfig, MockServer};
use futures_util::StreamExt;
use serde_json::json;

use crate::support::*;

const GRACE: &str = "tollgate_settings:\n  grace_period_seconds: 20\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_streams_then_exits() {
    let cfg = MockConfig {
        chunks: 8,
        chunk_interval: Duration::from_millis(200),
        ..MockConfig::default()
    };
    let mock = MockServer::start(cfg).await.unwrap();
    let mut gw = Gateway::start(&config_for(&mock.url(), "", GRACE)).await;
    let body = json!({"model": "test-model", "messages": [], "stream": true});
    let r = post(&gw, "/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));

    let t = Instant::now();
    gw.signal(libc::SIGTERM);
    // New connections are refused once draining starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = client().get(gw.url("/health/liveliness")).send().await;
    assert!(
        refused.is_err(),
        "a new connection was accepted while draining"
    );

    let mut rest = Vec::new();
    while let Some(c) = stream.next().await {
        rest.extend_from_slice(&c.expect("the in-flight stream was cut"));
    }
    assert!(
        String::from_utf8_lossy(&rest).contains("data: [DONE]"),
        "stream incomplete"
    );
    let status = gw
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("did not exit after draining");
    assert!(status.success(), "{status}");
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "exited after {took:?}; grace period is 20 s and nothing was left"
    );
    assert!(gw.logs().contains("drained"), "{}", gw.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_gateway_exits_promptly_on_sigterm() {
    let mut gw = Gateway::start(&format!("model_list: []\n{GRACE}")).await;
    let t = Instant::now();
    gw.signal(libc::SIGTERM);
    let status = gw
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("did not exit");
    assert!(status.success());
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_at_once_even_mid_stream() {
    let cfg = MockConfig {
        chunks: 100,
        chunk_interval: Duration::from_millis(100),
        ..MockConfig::default()
    };
    let mock = MockServer::start(cfg).await.unwrap();
    let mut gw = Gateway::start(&config_for(&mock.url(), "", GRACE)).await;
    let r = post(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "test-model", "messages": [], "stream": true}),
    )
    .await;
    let mut stream = r.bytes_stream();
    stream.next().await.unwrap().unwrap();
    let t = Instant::now();
    gw.signal(libc::SIGINT);
    gw.wait_exit(Duration::from_secs(3))
        .await
        .expect("SIGINT did not stop the gateway");
    assert!(t.elapsed() < Duration::from_secs(3));
    // The stream is cut rather than completed.
    let mut rest = Vec::new();
    while let Some(Ok(c)) = stream.next().await {
        rest.extend_from_slice(&c);
    }
    assert!(!String::from_utf8_lossy(&rest).contains("[DONE]"));
}
