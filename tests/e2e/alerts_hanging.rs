//! E2E: `llm_requests_hanging` alerts — a request still without an answer after
//! `alerting_threshold` is alerted once (from the periodic check), naming its model and call id;
//! quick requests and a stream whose answer started in time but runs past the threshold are not.

use std::time::Duration;

use serde_json::{json, Value};

use crate::callbacks_receiver::{chat, config, mocks, payloads, Receiver};
use crate::support::{client, Gateway, MASTER_KEY};

fn hanging(rx: &Receiver) -> Vec<Value> {
    payloads(&rx.on("/hook"))
        .into_iter()
        .filter(|e| e["event"] == "llm_requests_hanging")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_an_answer_past_the_threshold_is_alerted_once() {
    let (good, bad) = mocks().await;
    let rx = Receiver::start(false).await;
    let yaml = config(
        &good,
        &bad,
        "  alerting: [webhook]\n  alert_types: [llm_requests_hanging]\n  alerting_threshold: 1\n",
        "",
    );
    let gw = Gateway::start_with(&yaml, &[("WEBHOOK_URL", rx.url("/hook").as_str())]).await;
    // Quick requests, and a stream whose first bytes come at once but which lasts ~2.4 s.
    for _ in 0..3 {
        assert_eq!(chat(&gw, "test-model", false, json!({})).await.0, 200);
    }
    let streamed = chat(
        &gw,
        "test-model",
        true,
        json!({"mock": {"chunks": 4, "chunk_interval_ms": 600}}),
    )
    .await;
    assert_eq!(streamed.0, 200);
    assert!(hanging(&rx).is_empty(), "{:?}", hanging(&rx));
    // The provider answers after 3.5 s: the request hangs past the 1 s threshold.
    let slow = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "test-model",
            "messages": [{"role": "user", "content": "hi"}],
            "mock": {"latency_ms": 3500}}))
        .send()
        .await
        .unwrap();
    assert_eq!(slow.status(), 200);
    let call_id = slow.headers()["x-litellm-call-id"]
        .to_str()
        .unwrap()
        .to_string();
    rx.wait("/hook", "a hanging-request alert", |g| {
        payloads(g)
            .iter()
            .any(|e| e["event"] == "llm_requests_hanging")
    })
    .await;
    // Checks keep running (every 0.25 s) and alerts are sent every 2 s: still one.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let alerts = hanging(&rx);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let msg = alerts[0]["event_message"].as_str().unwrap();
    assert!(msg.contains("Requests are hanging"), "{msg}");
    assert!(msg.contains("test-model"), "{msg}");
    assert!(msg.contains(&call_id), "{msg} lacks {call_id}");
    assert_eq!(alerts[0]["event_group"], "proxy");
}
