//! E2E: what callbacks and logs may carry. A key's `metadata.logging` limits its events to the
//! callbacks it names and can turn message logging off; `turn_off_message_logging` keeps text
//! out of every payload; payloads carry the key's hash, never the key. `json_logs` makes the
//! access line one JSON object without keys or prompt text. OTLP/JSON bodies, and slow-request
//! and LLM-exception alerts.

use serde_json::{json, Value};
use sha2::Digest;

use crate::callbacks_receiver::{chat, config, mocks, payloads, Receiver};
use crate::support::{client, post, Gateway, MASTER_KEY};

async fn key(gw: &Gateway, body: Value) -> String {
    let r = post(gw, "/key/generate", &body).await;
    assert_eq!(r.status(), 200, "key/generate");
    let v: Value = r.json().await.unwrap();
    v["key"].as_str().unwrap().to_string()
}

async fn chat_as(gw: &Gateway, key: &str) -> u16 {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "test-model",
                      "messages": [{"role": "user", "content": "secret prompt text"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_logging_settings_pick_callbacks_and_hide_text() {
    let (good, bad) = mocks().await;
    let rx = Receiver::start(false).await;
    let yaml = config(
        &good,
        &bad,
        "",
        &format!(
            "litellm_settings:
  callbacks: [hook_a, hook_b]
callback_settings:
  hook_a: {{callback_type: generic_api, endpoint: \"{}\", flush_interval: 0.2}}
  hook_b: {{callback_type: generic_api, endpoint: \"{}\", flush_interval: 0.2}}
",
            rx.url("/a"),
            rx.url("/b")
        ),
    );
    let gw = Gateway::start(&yaml).await;
    let k1 = key(
        &gw,
        json!({"key_alias": "only-a", "metadata": {"logging": [{"callback_name": "hook_a",
            "callback_type": "success", "callback_vars": {"turn_off_message_logging": true}}]}}),
    )
    .await;
    let k2 = key(&gw, json!({"key_alias": "everywhere"})).await;
    assert_eq!(chat_as(&gw, &k1).await, 200);
    assert_eq!(chat_as(&gw, &k2).await, 200);
    let a = payloads(&rx.wait("/a", "2 events", |g| payloads(g).len() >= 2).await);
    let b = payloads(&rx.wait("/b", "1 event", |g| !payloads(g).is_empty()).await);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let b_all = payloads(&rx.on("/b"));
    assert_eq!(
        b_all.len(),
        1,
        "hook_b gets only the second key's event: {b_all:?}"
    );
    assert_eq!(b[0]["metadata"]["user_api_key_alias"], "everywhere");
    assert_eq!(b[0]["messages"][0]["content"], "secret prompt text");
    let hidden = a
        .iter()
        .find(|p| p["metadata"]["user_api_key_alias"] == "only-a")
        .unwrap();
    assert!(hidden["messages"].is_null(), "{hidden}");
    assert!(!hidden.to_string().contains("secret prompt text"));
    assert!(
        !hidden.to_string().contains("hello"),
        "no completion text: {hidden}"
    );
    let hash = sha2::Sha256::digest(k1.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    assert_eq!(hidden["metadata"]["user_api_key_hash"], hash.as_str());
    for p in a.iter().chain(&b_all) {
        let t = p.to_string();
        assert!(
            !t.contains(&k1) && !t.contains(&k2) && !t.contains(MASTER_KEY),
            "{t}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_and_message_logging_off() {
    let (good, bad) = mocks().await;
    let rx = Receiver::start(false).await;
    let yaml = config(
        &good,
        &bad,
        "",
        &format!(
            "litellm_settings:
  json_logs: true
  turn_off_message_logging: true
  callbacks: [hook]
callback_settings:
  hook: {{callback_type: generic_api, endpoint: \"{}\", flush_interval: 0.2}}
",
            rx.url("/h")
        ),
    );
    let gw = Gateway::start_with(
        &yaml,
        &[("TOLLGATE_LOG", "warn,tollgate=info,tollgate::access=debug")],
    )
    .await;
    assert_eq!(chat(&gw, "test-model", false, json!({})).await.0, 200);
    assert_eq!(chat(&gw, "test-model", true, json!({})).await.0, 200);
    assert_eq!(chat(&gw, "bad", false, json!({})).await.0, 500);
    let events = payloads(&rx.wait("/h", "3 events", |g| payloads(g).len() >= 3).await);
    for e in &events {
        assert!(e["messages"].is_null(), "{e}");
        assert!(!e.to_string().contains("secret prompt text"));
        assert!(!e.to_string().contains("hello there"));
    }
    let logs = gw.logs();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("call_id").is_some() && v["path"] == "/v1/chat/completions")
        .collect();
    assert_eq!(lines.len(), 3, "{logs}");
    let ok = lines
        .iter()
        .find(|l| l["status"] == 200 && l["stream"] == false)
        .unwrap();
    assert_eq!(ok["level"], "DEBUG");
    assert_eq!(ok["model_group"], "test-model");
    assert!(ok["deployment"].as_str().is_some_and(|d| !d.is_empty()));
    assert!(ok["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(ok["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(ok["cost"].as_f64().unwrap() > 0.0);
    assert!(ok["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(ok["call_id"].as_str().unwrap().len(), 36);
    let failed = lines.iter().find(|l| l["status"] == 500).unwrap();
    assert_eq!(failed["level"], "WARN");
    assert_eq!(failed["model_group"], "bad");
    assert!(failed["failure"].as_str().is_some());
    // Every line of the process is JSON, and none holds a key or the prompt.
    for l in logs.lines().filter(|l| !l.trim().is_empty()) {
        assert!(serde_json::from_str::<Value>(l).is_ok(), "not JSON: {l}");
        assert!(
            !l.contains("secret prompt text")
                && !l.contains("sk-upstream-secret")
                && !l.contains(MASTER_KEY),
            "{l}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_json_and_slow_and_failed_request_alerts() {
    let (good, bad) = mocks().await;
    let rx = Receiver::start(false).await;
    let yaml = config(
        &good,
        &bad,
        "  alerting: [webhook]\n  alert_types: [llm_too_slow, llm_exceptions]\n  alerting_threshold: 0.000001\n",
        "litellm_settings:
  callbacks: [otel]
callback_settings:
  otel: {flush_interval: 0.2}
",
    );
    let gw = Gateway::start_with(
        &yaml,
        &[
            ("OTEL_ENDPOINT", rx.url("/otlp").as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_HEADERS", "x-otel-token=abc123"),
            ("WEBHOOK_URL", rx.url("/hook").as_str()),
        ],
    )
    .await;
    assert_eq!(chat(&gw, "test-model", false, json!({})).await.0, 200);
    assert_eq!(chat(&gw, "bad", false, json!({})).await.0, 500);
    let ot = rx
        .wait("/otlp/v1/traces", "2 requests' spans", |g| {
            g.iter()
                .map(|g| {
                    serde_json::from_slice::<Value>(&g.body).unwrap()["resourceSpans"][0]
                        ["scopeSpans"][0]["spans"]
                        .as_array()
                        .map_or(0, Vec::len)
                })
                .sum::<usize>()
                >= 4
        })
        .await;
    assert_eq!(
        ot[0]
            .headers
            .iter()
            .find(|(k, _)| k == "x-otel-token")
            .unwrap()
            .1,
        "abc123"
    );
    let spans: Vec<Value> = ot
        .iter()
        .flat_map(|g| {
            serde_json::from_slice::<Value>(&g.body).unwrap()["resourceSpans"][0]["scopeSpans"][0]
                ["spans"]
                .as_array()
                .unwrap()
                .clone()
        })
        .collect();
    let llm: Vec<&Value> = spans
        .iter()
        .filter(|s| s["name"] == "litellm_request")
        .collect();
    assert_eq!(llm.len(), 2);
    let attr = |s: &Value, k: &str| {
        s["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .map(|a| a["value"].clone())
            .unwrap_or(Value::Null)
    };
    let failed = llm.iter().find(|s| s["status"]["code"] == 2).unwrap();
    assert_eq!(attr(failed, "gen_ai.request.model")["stringValue"], "bad");
    assert_eq!(
        attr(failed, "error.type")["stringValue"],
        "InternalServerError"
    );
    let ok = llm.iter().find(|s| s["status"]["code"] == 1).unwrap();
    assert_eq!(ok["traceId"].as_str().unwrap().len(), 32);
    assert!(
        attr(ok, "gen_ai.usage.input_tokens")["intValue"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );

    let hooks = payloads(
        &rx.wait("/hook", "slow and exception alerts", |g| {
            let p = payloads(g);
            p.iter().any(|e| e["event"] == "llm_too_slow")
                && p.iter().any(|e| e["event"] == "llm_exceptions")
        })
        .await,
    );
    let exc = hooks
        .iter()
        .find(|e| e["event"] == "llm_exceptions")
        .unwrap();
    assert!(
        exc["event_message"]
            .as_str()
            .unwrap()
            .contains("upstream exploded"),
        "{exc}"
    );
    assert!(hooks
        .iter()
        .all(|e| !e.to_string().contains("sk-upstream-secret")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_events_are_sent_at_graceful_shutdown() {
    let (good, bad) = mocks().await;
    let rx = Receiver::start(false).await;
    // A flush interval far beyond the test: only the shutdown flush can deliver.
    let yaml = config(
        &good,
        &bad,
        "",
        &format!(
            "litellm_settings:
  callbacks: [hook]
callback_settings:
  hook: {{callback_type: generic_api, endpoint: \"{}\", flush_interval: 3600}}
",
            rx.url("/h")
        ),
    );
    let mut gw = Gateway::start(&yaml).await;
    for _ in 0..3 {
        assert_eq!(chat(&gw, "test-model", false, json!({})).await.0, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        rx.on("/h").is_empty(),
        "nothing sent before the flush interval"
    );
    gw.signal(libc::SIGTERM);
    let status = gw.wait_exit(std::time::Duration::from_secs(20)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        gw.logs()
    );
    assert_eq!(payloads(&rx.on("/h")).len(), 3, "{}", gw.logs());
    assert!(!gw.logs().contains("panicked"), "{}", gw.logs());
}
