//! Secret hygiene: no key — minted, rotated, presented by mistake, the master key, a provider
//! key — reaches any log line at any level or the database file; and deployment settings that
//! look like credentials, or are LiteLLM's own, never reach the provider.

use std::time::Duration;

use bench::mock::{MockConfig, MockServer};
use reqwest::Method;
use serde_json::{json, Value};

use crate::admin_support::{ok, secret};
use crate::support::*;

const MASTER: &str = "sk-e2e-hygiene-master-7f3a";
/// A provider key with no recognisable shape: only the registered config secrets can hide it.
const PROVIDER_KEY: &str = "prov-Plain-Upstream-Secret-42";

fn chat_body(stream: bool) -> Value {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

async fn as_key(gw: &Gateway, method: Method, key: &str, path: &str, body: Option<&Value>) -> u16 {
    let mut rb = client().request(method, gw.url(path)).bearer_auth(key);
    if let Some(b) = body {
        rb = rb.json(b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let _ = r.bytes().await;
    status
}

async fn master(
    gw: &Gateway,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut rb = client().request(method, gw.url(path)).bearer_auth(MASTER);
    if let Some(b) = body {
        rb = rb.json(b);
    }
    rb.send().await.unwrap()
}

/// POSTs `body` with the master key as a chunked body in two writes; the response's status line.
async fn chunked_post(gw: &Gateway, path: &str, body: &Value) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = serde_json::to_string(body).unwrap();
    let (a, b) = body.split_at(body.len() - 3);
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port))
        .await
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {MASTER}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{a}\r\n",
        a.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(format!("{:x}\r\n{b}\r\n0\r\n\r\n", b.len()).as_bytes())
        .await
        .unwrap();
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut resp))
        .await
        .expect("no response")
        .unwrap();
    String::from_utf8_lossy(&resp)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Every place a secret could be written: the log at every level, the SQLite file and its WAL.
fn leaks(gw: &Gateway, secrets: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut places = vec![("log".to_string(), gw.logs().into_bytes())];
    for f in ["tollgate.db", "tollgate.db-wal"] {
        if let Ok(bytes) = std::fs::read(gw.dir().join(f)) {
            places.push((f.to_string(), bytes));
        }
    }
    for (name, bytes) in &places {
        for s in secrets {
            // As written, and as Rust's Debug spells out bytes and chars one by one
            // (`[115, 107, 45, …]`, `['s', 'k', '-', …]`), which Pingora's trace lines use.
            let bytes_list = s
                .bytes()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let chars_list = s
                .chars()
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            for form in [s.as_str(), &bytes_list, &chars_list] {
                if bytes.windows(form.len()).any(|w| w == form.as_bytes()) {
                    out.push(format!(
                        "{s} in {name} as {:?}",
                        &form[..form.len().min(20)]
                    ));
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_log_line_or_the_database() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = format!(
        "model_list:
  - model_name: m
    litellm_params:
      model: openai/up
      api_base: {}
      api_key: {PROVIDER_KEY}
      input_cost_per_token: 0.000001
general_settings:
  master_key: {MASTER}
  proxy_batch_write_at: 0.2
",
        mock.url()
    );
    let mut gw = Gateway::start_with(&yaml, &[("TOLLGATE_LOG", "trace")]).await;
    let mut secrets: Vec<String> = vec![MASTER.into(), PROVIDER_KEY.into()];

    // Mint two keys: one random, one chosen by the caller.
    let k1 = secret(
        &ok(master(
            &gw,
            Method::POST,
            "/key/generate",
            Some(&json!({"key_alias": "a"})),
        )
        .await)
        .await,
    );
    let k2 = "sk-e2e-custom-chosen-secret-1".to_string();
    ok(master(
        &gw,
        Method::POST,
        "/key/generate",
        Some(&json!({"key": k2, "key_alias": "b"})),
    )
    .await)
    .await;
    secrets.extend([k1.clone(), k2.clone()]);

    // Use them, streamed and not.
    for k in [&k1, &k2] {
        for stream in [false, true] {
            let s = as_key(
                &gw,
                Method::POST,
                k,
                "/v1/chat/completions",
                Some(&chat_body(stream)),
            )
            .await;
            assert_eq!(s, 200);
        }
    }
    assert_eq!(
        mock.requests()[0].header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );

    // Rotate k1 by the path form, k2 by the body form.
    let r = master(
        &gw,
        Method::POST,
        &format!("/key/{k1}/regenerate"),
        Some(&json!({})),
    )
    .await;
    let k1b = secret(&ok(r).await);
    let k2b = "sk-e2e-custom-rotated-secret-2".to_string();
    let r = master(
        &gw,
        Method::POST,
        "/key/regenerate",
        Some(&json!({"key": k2, "new_key": k2b})),
    )
    .await;
    ok(r).await;
    secrets.extend([k1b.clone(), k2b.clone()]);
    assert_eq!(
        as_key(
            &gw,
            Method::POST,
            &k1b,
            "/v1/chat/completions",
            Some(&chat_body(false))
        )
        .await,
        200
    );

    // Management routes with keys in the query and in bodies.
    ok(master(&gw, Method::GET, &format!("/key/info?key={k1b}"), None).await).await;
    ok(master(
        &gw,
        Method::POST,
        "/key/update",
        Some(&json!({"key": k2b, "max_budget": 10})),
    )
    .await)
    .await;
    ok(master(&gw, Method::POST, "/key/block", Some(&json!({"key": k2b}))).await).await;
    ok(master(
        &gw,
        Method::POST,
        "/key/unblock",
        Some(&json!({"key": k2b})),
    )
    .await)
    .await;

    // A chunked body (Pingora traces chunk contents) carrying a key.
    let status = chunked_post(&gw, "/key/update", &json!({"key": k2b, "max_budget": 11})).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");

    // Mistakes: a wrong key, a rotated key, unknown keys in a path and a query.
    let wrong = "sk-e2e-wrong-guess-0042".to_string();
    let unknown = "sk-e2e-unknown-in-path-0043".to_string();
    let unknown_q = "sk-e2e-unknown-in-query-0044".to_string();
    secrets.extend([wrong.clone(), unknown.clone(), unknown_q.clone()]);
    assert_eq!(
        as_key(
            &gw,
            Method::POST,
            &wrong,
            "/v1/chat/completions",
            Some(&chat_body(false))
        )
        .await,
        401
    );
    assert_eq!(
        as_key(
            &gw,
            Method::POST,
            &k1,
            "/v1/chat/completions",
            Some(&chat_body(false))
        )
        .await,
        401
    );
    assert_eq!(
        as_key(&gw, Method::POST, &wrong, "/key/generate", Some(&json!({}))).await,
        401
    );
    let r = master(
        &gw,
        Method::POST,
        &format!("/key/{unknown}/regenerate"),
        Some(&json!({})),
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = master(
        &gw,
        Method::GET,
        &format!("/key/info?key={unknown_q}"),
        None,
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = master(
        &gw,
        Method::POST,
        &format!("/key/{unknown}"),
        Some(&json!({})),
    )
    .await;
    assert_eq!(r.status(), 404);
    ok(master(
        &gw,
        Method::POST,
        "/key/delete",
        Some(&json!({"keys": [k1b]})),
    )
    .await)
    .await;

    // Spend rows and the key table are written; look while running (WAL) and after a stop.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let running = leaks(&gw, &secrets);
    gw.signal(libc::SIGTERM);
    assert!(gw.wait_exit(Duration::from_secs(20)).await.is_some());
    let mut all = running;
    all.extend(leaks(&gw, &secrets));
    all.sort();
    all.dedup();
    let logs = gw.logs();
    assert!(all.is_empty(), "secrets leaked: {all:#?}");

    // The log really holds every level and every request, masked.
    assert!(logs.contains(" TRACE "), "no trace lines");
    assert!(
        logs.contains("POST /key/***/regenerate status=200"),
        "{logs}"
    );
    assert!(
        logs.contains("POST /key/***/regenerate status=404"),
        "{logs}"
    );
    assert!(logs.contains("/v1/chat/completions status=401"), "{logs}");
    assert!(
        std::fs::metadata(gw.dir().join("tollgate.db"))
            .unwrap()
            .len()
            > 0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_like_and_litellm_only_params_never_reach_the_provider() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let typo_secret = "sk-e2e-typo-api-key-0123456789";
    let yaml = format!(
        "model_list:
  - model_name: m
    litellm_params:
      model: openai/up
      api_base: {base}
      api_key: sk-e2e-real-upstream-key
      api_kye: {typo_secret}
      ttl: 60
      priority: 2
      temperature: 0.25
      custom_flag: true
  - model_name: n
    litellm_params:
      model: openai/up2
      api_base: {base}
      ttl: 30
general_settings:
  master_key: {MASTER_KEY}
",
        base = mock.url()
    );
    let gw = Gateway::start(&yaml).await;
    let r = post(&gw, "/v1/chat/completions", &chat_body(false)).await;
    assert_eq!(r.status(), 200);
    let req = &mock.requests()[0];
    let body = req.json().expect("JSON body");
    let raw = serde_json::to_string(&body).unwrap();
    for held_back in ["api_kye", "ttl", "priority"] {
        assert!(
            body.get(held_back).is_none(),
            "{held_back} sent upstream: {raw}"
        );
    }
    assert!(!raw.contains(typo_secret), "{raw}");
    assert_eq!(body["temperature"], json!(0.25), "{raw}");
    assert_eq!(
        body["custom_flag"],
        json!(true),
        "unknown keys are forwarded as LiteLLM does: {raw}"
    );
    assert_eq!(
        req.header("authorization"),
        Some("Bearer sk-e2e-real-upstream-key")
    );

    // Each is named once at start, with a suggestion, never with its value.
    let logs = gw.logs();
    assert!(
        logs.contains("model_list[0].litellm_params.api_kye: unknown key (did you mean `api_key`?); its name looks like a credential"),
        "{logs}"
    );
    assert_eq!(logs.matches("litellm_params.ttl:").count(), 1, "{logs}");
    assert!(logs.contains("(and in 1 more deployment)"), "{logs}");
    assert!(!logs.contains(typo_secret), "{logs}");
}
