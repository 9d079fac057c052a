//! Process lifecycle: SIGTERM drains — the listener keeps accepting and serving, readiness
//! answers 503, every response closes its connection — and the process exits as soon as nothing
//! is in flight (not before `shutdown_delay_seconds`); SIGINT stops at once; SIGHUP reloads the
//! configuration without stopping (reload.rs has the rest).

use std::time::{Duration, Instant};

use bench::mock::{MockConfig, MockServer};
use futures_util::StreamExt;
use serde_json::json;

use crate::raw_http::{get, post_json, RawConn};
use crate::support::*;

const GRACE: &str = "tollgate_settings:\n  grace_period_seconds: 20\n";

/// Polls readiness on fresh connections until it answers 503 (the drain started).
async fn wait_draining(gw: &Gateway) -> crate::raw_http::RawResponse {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut c = RawConn::connect(gw.port)
            .await
            .expect("a new connection was refused while draining");
        c.send(&get("/health/readiness", "", "")).await.unwrap();
        let r = c
            .response_within(Duration::from_secs(2))
            .await
            .expect("no answer to readiness");
        if r.status == 503 || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drain_keeps_serving_closes_connections_and_exits_after_in_flight_streams() {
    let cfg = MockConfig {
        chunks: 10,
        chunk_interval: Duration::from_millis(200),
        ..MockConfig::default()
    };
    let mock = MockServer::start(cfg).await.unwrap();
    let mut gw = Gateway::start(&config_for(&mock.url(), "", GRACE)).await;

    // A kept-alive client from before the signal.
    let mut kept = RawConn::connect(gw.port).await.unwrap();
    kept.send(&get("/health/liveliness", "", "")).await.unwrap();
    let r = kept.response_within(Duration::from_secs(5)).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(!r.closes(), "{:?}", r.headers);

    let body = json!({"model": "test-model", "messages": [], "stream": true});
    let r = post(&gw, "/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));

    let t = Instant::now();
    gw.signal(libc::SIGTERM);
    let ready = wait_draining(&gw).await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    let v: serde_json::Value = serde_json::from_slice(&ready.body).unwrap();
    assert_eq!(v["status"], "draining");
    assert!(ready.closes(), "{:?}", ready.headers);

    // The kept-alive client is answered, told to close, and closed cleanly (no reset).
    kept.send(&get("/v1/models", MASTER_KEY, "")).await.unwrap();
    let r = kept.response_within(Duration::from_secs(5)).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("test-model"));
    assert!(r.closes(), "{:?}", r.headers);
    assert!(
        kept.closed_within(Duration::from_secs(2)).await.unwrap(),
        "bytes after the response"
    );

    // New clients are still accepted and served, told to close.
    let mut fresh = RawConn::connect(gw.port).await.unwrap();
    let chat = json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}]});
    fresh
        .send(&post_json("/v1/chat/completions", MASTER_KEY, &chat, ""))
        .await
        .unwrap();
    let r = fresh.response_within(Duration::from_secs(5)).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("chat.completion"));
    assert!(r.closes());
    let live = client().get(gw.url("/health/liveliness")).send().await;
    assert_eq!(live.expect("refused while draining").status(), 200);

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
async fn shutdown_delay_keeps_readiness_at_503_before_exiting() {
    let mut gw = Gateway::start(
        "model_list: []\ntollgate_settings:\n  grace_period_seconds: 20\n  shutdown_delay_seconds: 1.5\n",
    )
    .await;
    let t = Instant::now();
    gw.signal(libc::SIGTERM);
    let ready = wait_draining(&gw).await;
    assert_eq!(ready.status, 503);
    // Nothing is in flight, yet the gateway keeps answering for the delay.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let ready = wait_draining(&gw).await;
    assert_eq!(ready.status, 503);
    let status = gw
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("did not exit after the delay");
    assert!(status.success(), "{status}");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(3),
        "exited after {took:?}; the delay is 1.5 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_without_stopping_and_a_later_sigterm_still_flushes_spend() {
    let db = scratch_dir().join("spend.db");
    let yaml = format!(
        "model_list:
  - model_name: m
    litellm_params:
      model: openai/m
      mock_response: Hello
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 3600
tollgate_settings:
  database_path: {}
",
        db.display()
    );
    let mut gw = Gateway::start(&yaml).await;
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(post(&gw, "/v1/chat/completions", &chat).await.status(), 200);
    gw.signal(libc::SIGHUP);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        gw.wait_exit(Duration::ZERO).await.is_none(),
        "SIGHUP stopped the gateway\n{}",
        gw.logs()
    );
    for _ in 0..2 {
        assert_eq!(post(&gw, "/v1/chat/completions", &chat).await.status(), 200);
    }
    assert!(
        gw.logs().contains("SIGHUP: configuration reloaded"),
        "{}",
        gw.logs()
    );

    gw.signal(libc::SIGTERM);
    let status = gw
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("no exit");
    assert!(status.success(), "{status}");
    assert!(
        gw.logs().contains("spend flushed (3 log rows)"),
        "{}",
        gw.logs()
    );
    // The rows are in the database: a new gateway on it lists them.
    let gw = Gateway::start(&yaml).await;
    let rows: serde_json::Value = client()
        .get(gw.url("/spend/logs"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows.as_array().map(Vec::len), Some(3), "{rows}");
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
