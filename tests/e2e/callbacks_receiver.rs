//! E2E support for the callback tests: a recording HTTP receiver on a free port (or one that
//! never answers), reading payloads in any `log_format`, and the two-group config and mocks
//! the tests share.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{client, Gateway, MASTER_KEY};

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Got {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A recording HTTP receiver: answers 200 `{}` (or never, when `hang`).
pub struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    pub async fn start(hang: bool) -> Receiver {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let g = got.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                let g = g.clone();
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
                        let mut lines = head.split("\r\n");
                        let path = lines
                            .next()
                            .and_then(|l| l.split(' ').nth(1))
                            .unwrap_or("")
                            .to_string();
                        let headers: Vec<(String, String)> = lines
                            .filter_map(|l| l.split_once(':'))
                            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                            .collect();
                        let len: usize = headers
                            .iter()
                            .find(|(k, _)| k == "content-length")
                            .and_then(|(_, v)| v.parse().ok())
                            .unwrap_or(0);
                        while buf.len() < head_end + len {
                            let mut chunk = [0u8; 8192];
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let body = buf[head_end..head_end + len].to_vec();
                        buf.drain(..head_end + len);
                        g.lock().unwrap().push(Got {
                            path,
                            headers,
                            body,
                        });
                        if hang {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            return;
                        }
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}")
                            .await;
                    }
                });
            }
        });
        Receiver { port, got }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn on(&self, path: &str) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `f` holds for what arrived on `path`.
    pub async fn wait(&self, path: &str, what: &str, f: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.on(path);
            if f(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} on {path}: {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Every StandardLoggingPayload a webhook path received (any log_format).
pub fn payloads(got: &[Got]) -> Vec<Value> {
    let mut out = Vec::new();
    for g in got {
        let text = String::from_utf8_lossy(&g.body);
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(a)) => out.extend(a),
            Ok(v @ Value::Object(_)) => out.push(v),
            _ => out.extend(
                text.lines()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap()),
            ),
        }
    }
    out
}

pub fn config(mock: &MockServer, bad: &MockServer, general: &str, tail: &str) -> String {
    format!(
        "model_list:
  - model_name: test-model
    litellm_params:
      model: openai/upstream-model
      api_base: {}
      api_key: sk-upstream-secret
      input_cost_per_token: 0.000001
      output_cost_per_token: 0.000002
  - model_name: bad
    litellm_params:
      model: openai/bad-model
      api_base: {}
      api_key: sk-upstream-secret
general_settings:
  master_key: {MASTER_KEY}
{general}router_settings:
  num_retries: 0
{tail}",
        mock.url(),
        bad.url()
    )
}

pub async fn chat(gw: &Gateway, model: &str, stream: bool, extra: Value) -> (u16, String) {
    let mut body = json!({"model": model, "stream": stream,
        "messages": [{"role": "user", "content": "secret prompt text"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

pub async fn mocks() -> (MockServer, MockServer) {
    let good = MockServer::start(MockConfig {
        content: "hello there".into(),
        record_requests: true,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let bad = MockServer::start(MockConfig {
        status: Some(500),
        error_message: Some("upstream exploded".into()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    (good, bad)
}
