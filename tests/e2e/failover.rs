//! E2E: availability of a group with one faulty deployment of two. A failed attempt that sent
//! nothing to the client moves at once to the healthy deployment, even with `num_retries: 0`
//! (connection refused, connection reset, timeout, 429, 5xx); a stream that breaks after its
//! first content counts against its deployment, so the deployment cools down.

use std::time::Duration;

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::support::{client, free_port, header, Gateway, MASTER_KEY};

fn group(faulty_base: &str, faulty_extra: &str, good: &MockServer, router: &str) -> String {
    format!(
        "model_list:
  - model_name: g
    litellm_params:
      model: openai/faulty
      api_base: {faulty_base}
      api_key: k
{faulty_extra}  - model_name: g
    litellm_params:
      model: openai/good
      api_base: {}
      api_key: k
general_settings:
  master_key: {MASTER_KEY}
router_settings:
  num_retries: 0
{router}",
        good.url()
    )
}

/// Sends `total` chat requests, `concurrency` at a time; returns how many got a 200 whose body
/// is complete (for streams: ends with `[DONE]` and carries no error event), and the number of
/// those served after moving to another deployment.
async fn run(gw: &Gateway, total: usize, concurrency: usize, stream: bool) -> (usize, usize) {
    let mut ok = 0;
    let mut moved = 0;
    let mut left = total;
    while left > 0 {
        let batch = left.min(concurrency);
        left -= batch;
        let handles: Vec<_> = (0..batch)
            .map(|_| {
                let url = gw.url("/v1/chat/completions");
                tokio::spawn(async move {
                    let r = client()
                        .post(url)
                        .bearer_auth(MASTER_KEY)
                        .json(&json!({"model": "g", "stream": stream,
                                      "messages": [{"role": "user", "content": "hi"}]}))
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let retries = r
                        .headers()
                        .get("x-litellm-attempted-retries")
                        .map(|v| v.to_str().unwrap().to_string());
                    let body = r.text().await.unwrap_or_default();
                    let complete = status == 200
                        && if stream {
                            body.trim_end().ends_with("data: [DONE]") && !body.contains("\"error\"")
                        } else {
                            serde_json::from_str::<Value>(&body)
                                .is_ok_and(|v| v["object"] == "chat.completion")
                        };
                    (complete, retries.as_deref() == Some("1"))
                })
            })
            .collect();
        for h in handles {
            let (complete, after_move) = h.await.unwrap();
            ok += complete as usize;
            moved += (complete && after_move) as usize;
        }
    }
    (ok, moved)
}

/// A TCP server that accepts connections and closes them at once: connection reset / EOF
/// before any response byte.
async fn resetting_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_attempt_moves_to_the_healthy_deployment_even_without_retries() {
    let good = MockServer::start(MockConfig {
        record_requests: false,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let status = |code| {
        MockServer::start(MockConfig {
            status: Some(code),
            record_requests: false,
            ..MockConfig::default()
        })
    };
    let (m503, m429, m500) = (
        status(503).await.unwrap(),
        status(429).await.unwrap(),
        status(500).await.unwrap(),
    );
    let slow = MockServer::start(MockConfig {
        latency: Duration::from_secs(3),
        record_requests: false,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let refused = format!("http://127.0.0.1:{}", free_port());
    let reset = resetting_server().await;
    // Cooldowns off: each request meets the faulty deployment as often as routing picks it.
    for (fault, base, extra) in [
        ("connection refused", refused.clone(), ""),
        ("connection reset", reset.clone(), ""),
        ("timeout", slow.url(), "      timeout: 0.3\n"),
        ("429", m429.url(), ""),
        ("500", m500.url(), ""),
        ("503", m503.url(), ""),
    ] {
        let gw = Gateway::start(&group(&base, extra, &good, "  disable_cooldowns: true\n")).await;
        let (ok, moved) = run(&gw, 60, 10, false).await;
        eprintln!("{fault}: {ok}/60 succeeded ({moved} after moving to the healthy deployment)");
        assert_eq!(ok, 60, "{fault}: {}", gw.logs());
        assert!(moved > 0, "{fault}: the faulty deployment was never picked");
    }

    // Default cooldowns, 200 requests, 20 at a time.
    let gw = Gateway::start(&group(&m503.url(), "", &good, "")).await;
    let (ok, moved) = run(&gw, 200, 20, false).await;
    eprintln!("503 with default cooldowns: {ok}/200 succeeded ({moved} after moving)");
    assert_eq!(ok, 200);

    // Streams: an error before any content moves too.
    let early = MockServer::start(MockConfig {
        fail_after_chunks: Some(0),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&group(
        &early.url(),
        "",
        &good,
        "  disable_cooldowns: true\n",
    ))
    .await;
    let (ok, _) = run(&gw, 60, 10, true).await;
    eprintln!("stream failing before content: {ok}/60 succeeded");
    assert_eq!(ok, 60);

    // A single move, at once: no backoff before the healthy deployment is called.
    let gw = Gateway::start(&group(
        &m503.url(),
        "      order: 1\n",
        &good,
        "  disable_cooldowns: true\n",
    ))
    .await;
    let before = m503.request_count();
    let started = std::time::Instant::now();
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "g", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-attempted-retries"), "1");
    assert!(
        started.elapsed() < Duration::from_millis(90),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        m503.request_count(),
        before + 1,
        "the faulty deployment was tried first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_broken_after_content_cools_its_deployment() {
    let good = MockServer::start(MockConfig::default()).await.unwrap();
    // Its first content piece goes out, and 10 ms later the connection breaks.
    let broken = MockServer::start(MockConfig {
        fail_after_chunks: Some(1),
        chunks: 2,
        chunk_interval: Duration::from_millis(10),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    // Default allowed_fails (3); a cooldown long enough to outlast the test.
    let gw = Gateway::start(&group(&broken.url(), "", &good, "  cooldown_time: 60\n")).await;
    let (ok, _) = run(&gw, 200, 1, true).await;
    eprintln!(
        "stream broken after content: {ok}/200 complete, broken deployment called {} times",
        broken.request_count()
    );
    // Above allowed_fails failures the deployment cools; every later stream is whole.
    assert!(broken.request_count() <= 4, "{}", broken.request_count());
    assert!(ok >= 196, "{ok}/200");
}
