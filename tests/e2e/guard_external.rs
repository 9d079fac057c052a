//! External guardrails against recording services started here: a Presidio-compatible
//! analyzer/anonymizer (finds e-mail addresses and US SSNs, character offsets as Presidio
//! gives them) and LiteLLM's generic guardrail webhook (allow, block with a reason, modified
//! texts); a service that does not answer within the timeout fails closed (503) or open (the
//! request goes through), as configured.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::*;

pub(crate) type Handler = Arc<dyn Fn(&str, &Value) -> Option<Value> + Send + Sync>;

/// A recording JSON service: `handler(path, body)` answers (`None`: never answers; a string:
/// that event stream).
pub(crate) struct Service {
    port: u16,
    got: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Service {
    pub(crate) async fn start(handler: Handler) -> Service {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let g = got.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let (g, handler) = (g.clone(), handler.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let head_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            let mut chunk = [0u8; 8192];
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                        let path = head.split(' ').nth(1).unwrap_or("").to_string();
                        let len: usize = head
                            .lines()
                            .filter_map(|l| l.split_once(':'))
                            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                            .and_then(|(_, v)| v.trim().parse().ok())
                            .unwrap_or(0);
                        while buf.len() < head_end + len {
                            let mut chunk = [0u8; 8192];
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let body: Value = serde_json::from_slice(&buf[head_end..head_end + len])
                            .unwrap_or(Value::Null);
                        buf.drain(..head_end + len);
                        g.lock().unwrap().push((path.clone(), body.clone()));
                        let Some(answer) = handler(&path, &body) else {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            return;
                        };
                        // A string answer is an event stream (a fake provider's).
                        let (kind, answer) = match answer {
                            Value::String(s) => ("text/event-stream", s),
                            v => ("application/json", v.to_string()),
                        };
                        let out = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\r\n{answer}",
                            answer.len()
                        );
                        if s.write_all(out.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Service { port, got }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn got(&self) -> Vec<(String, Value)> {
        self.got.lock().unwrap().clone()
    }
}

/// Presidio's analyzer and anonymizer, for e-mails and SSNs (whitespace-separated words).
pub(crate) fn presidio(path: &str, body: &Value) -> Option<Value> {
    let text = body["text"].as_str().unwrap_or("");
    match path {
        "/analyze" => {
            let mut out = Vec::new();
            let mut at = 0usize; // in characters, as Presidio counts
            for word in text.split(' ') {
                let n = word.chars().count();
                let w = word.trim_end_matches(['.', ',']);
                let kind = if w.contains('@') {
                    Some("EMAIL_ADDRESS")
                } else if w.len() == 11 && w.chars().filter(|c| *c == '-').count() == 2 {
                    Some("US_SSN")
                } else {
                    None
                };
                if let Some(k) = kind {
                    out.push(json!({"entity_type": k, "start": at, "end": at + w.chars().count(), "score": 0.9}));
                }
                at += n + 1;
            }
            Some(Value::Array(out))
        }
        "/anonymize" => {
            let chars: Vec<char> = text.chars().collect();
            let mut results: Vec<&Value> = body["analyzer_results"]
                .as_array()
                .unwrap()
                .iter()
                .collect();
            results.sort_by_key(|r| r["start"].as_u64());
            let mut out = String::new();
            let mut at = 0;
            for r in results {
                let (s, e) = (
                    r["start"].as_u64().unwrap() as usize,
                    r["end"].as_u64().unwrap() as usize,
                );
                out.extend(&chars[at..s]);
                out.push_str(&format!("<{}>", r["entity_type"].as_str().unwrap()));
                at = e;
            }
            out.extend(&chars[at..]);
            Some(json!({"text": out, "items": []}))
        }
        _ => None,
    }
}

/// The webhook: blocks "drop table", rewrites "colour" to "color", else passes.
pub(crate) fn webhook(_path: &str, body: &Value) -> Option<Value> {
    let texts: Vec<String> = body["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    if texts.iter().any(|t| t.contains("drop table")) {
        return Some(json!({"action": "BLOCKED", "blocked_reason": "SQL in the prompt"}));
    }
    if texts.iter().any(|t| t.contains("colour")) {
        let new: Vec<String> = texts.iter().map(|t| t.replace("colour", "color")).collect();
        return Some(json!({"action": "GUARDRAIL_INTERVENED", "texts": new}));
    }
    Some(json!({"action": "NONE"}))
}

fn chat(text: &str, guardrails: &[&str]) -> Value {
    json!({"model": "test-model", "guardrails": guardrails,
           "messages": [{"role": "user", "content": text}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presidio_and_webhook_mask_block_and_fail_as_configured() {
    let mock = MockServer::start(MockConfig {
        content: "noted, frank@example.com".into(),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let p = Service::start(Arc::new(presidio)).await;
    let w = Service::start(Arc::new(webhook)).await;
    let dead = Service::start(Arc::new(|_: &str, _: &Value| None)).await;
    let tail = format!(
        r#"guardrails:
  - guardrail_name: presidio-pii
    litellm_params:
      guardrail: presidio
      mode: [pre_call, post_call]
      presidio_analyzer_api_base: {p}
      presidio_anonymizer_api_base: {p}
      pii_entities_config: {{EMAIL_ADDRESS: MASK, US_SSN: BLOCK}}
  - guardrail_name: hook
    litellm_params:
      guardrail: generic_guardrail_api
      mode: pre_call
      api_base: {w}
      api_key: hook-secret
      additional_provider_specific_params: {{threshold: 0.8}}
  - guardrail_name: dead-closed
    litellm_params:
      guardrail: generic_guardrail_api
      mode: pre_call
      api_base: {d}
      timeout: 0.3
  - guardrail_name: dead-open
    litellm_params:
      guardrail: generic_guardrail_api
      mode: pre_call
      api_base: {d}
      timeout: 0.3
      unreachable_fallback: fail_open
"#,
        p = p.url(),
        w = w.url(),
        d = dead.url()
    );
    let gw = Gateway::start(&config_for(&mock.url(), "", &tail)).await;

    // Presidio masks the e-mail going out (anonymizer) and coming back (post_call).
    let r = post(
        &gw,
        "/v1/chat/completions",
        &chat("write to gina@example.com please", &["presidio-pii"]),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "noted, <EMAIL_ADDRESS>"
    );
    let sent = mock.requests().last().unwrap().json().unwrap();
    assert_eq!(
        sent["messages"][0]["content"],
        "write to <EMAIL_ADDRESS> please"
    );
    let calls = p.got();
    assert!(calls
        .iter()
        .any(|(path, b)| path == "/analyze" && b["language"] == "en"));
    assert!(calls.iter().any(|(path, _)| path == "/anonymize"));
    // An SSN is configured BLOCK.
    let n = mock.requests().len();
    let e = expect_error(
        post(
            &gw,
            "/v1/chat/completions",
            &chat("ssn 123-45-6789 ok", &["presidio-pii"]),
        )
        .await,
        400,
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("US_SSN"), "{e}");
    assert_eq!(mock.requests().len(), n, "no provider call");

    // The webhook: allow, block with its reason, rewrite.
    assert_eq!(
        post(&gw, "/v1/chat/completions", &chat("hello", &["hook"]))
            .await
            .status(),
        200
    );
    let e = expect_error(
        post(
            &gw,
            "/v1/chat/completions",
            &chat("please drop table users", &["hook"]),
        )
        .await,
        400,
    )
    .await;
    assert!(
        e["message"].as_str().unwrap().contains("SQL in the prompt"),
        "{e}"
    );
    assert_eq!(
        post(
            &gw,
            "/v1/chat/completions",
            &chat("what colour is it", &["hook"])
        )
        .await
        .status(),
        200
    );
    let sent = mock.requests().last().unwrap().json().unwrap();
    assert_eq!(sent["messages"][0]["content"], "what color is it");
    let (path, body) = w.got().last().unwrap().clone();
    assert_eq!(path, "/beta/litellm_basic_guardrail_api");
    assert_eq!(body["input_type"], "request");
    assert_eq!(
        body["additional_provider_specific_params"]["threshold"],
        0.8
    );
    assert!(body["litellm_call_id"].is_string());

    // A service that never answers: fail closed is a 503, fail open lets the request through.
    let n = mock.requests().len();
    let r = post(&gw, "/v1/chat/completions", &chat("hi", &["dead-closed"])).await;
    assert_eq!(r.status(), 503);
    assert_eq!(mock.requests().len(), n);
    let r = post(&gw, "/v1/chat/completions", &chat("hi", &["dead-open"])).await;
    assert_eq!(r.status(), 200);
    assert!(gw.logs().contains("fail_open"), "the fail-open is logged");
    let m = client()
        .get(gw.url("/metrics"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.lines()
            .any(|l| l.starts_with("litellm_guardrail_errors_total{") && l.contains("dead-open")),
        "{m}"
    );
}
