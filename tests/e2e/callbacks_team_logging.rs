//! E2E: key- and team-based logging — a key's `metadata.logging` Langfuse entry with its own
//! `callback_vars` credentials sends that key's events (success and failure) to its own Langfuse
//! project instead of the configured one; a team's `callback_settings` does the same for its
//! keys; other keys still log to the configured project. Credentials never appear in bodies.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::budgets::generate_key;
use crate::callbacks_receiver::{config, mocks, Got, Receiver};
use crate::support::{client, post, Gateway, MASTER_KEY};

async fn chat_as(gw: &Gateway, key: &str, model: &str) -> (u16, String) {
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-litellm-call-id"]
        .to_str()
        .unwrap()
        .to_string();
    (r.status().as_u16(), id)
}

fn basic(pk: &str, sk: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{pk}:{sk}"))
    )
}

fn auth(g: &Got) -> &str {
    g.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn mentions(got: &[Got], id: &str) -> bool {
    got.iter()
        .any(|g| String::from_utf8_lossy(&g.body).contains(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_or_team_with_its_own_langfuse_keys_logs_to_its_own_project() {
    let (good, bad) = mocks().await;
    let rx = Receiver::start(false).await;
    let yaml = config(
        &good,
        &bad,
        "",
        "litellm_settings:
  callbacks: [langfuse]
callback_settings:
  langfuse: {flush_interval: 0.1}
",
    );
    let gw = Gateway::start_with(
        &yaml,
        &[
            ("LANGFUSE_PUBLIC_KEY", "pk-global"),
            ("LANGFUSE_SECRET_KEY", "sk-global-secret"),
            ("LANGFUSE_HOST", rx.url("/global").as_str()),
        ],
    )
    .await;
    let own = generate_key(
        &gw,
        json!({"metadata": {"logging": [{"callback_name": "langfuse",
            "callback_type": "success_and_failure",
            "callback_vars": {"langfuse_public_key": "pk-key", "langfuse_secret_key": "sk-key-secret",
                              "langfuse_host": rx.url("/keyproj")}}]}}),
    )
    .await;
    let r = post(
        &gw,
        "/team/new",
        &json!({"team_id": "team-lf", "metadata": {"callback_settings": {
            "success_callback": ["langfuse"], "failure_callback": ["langfuse"],
            "callback_vars": {"langfuse_public_key": "pk-team", "langfuse_secret_key": "sk-team-secret",
                              "langfuse_host": rx.url("/teamproj")}}}}),
    )
    .await;
    assert_eq!(r.status(), 200, "team/new");
    let team_key = generate_key(&gw, json!({"team_id": "team-lf"})).await;

    let (s, own_ok) = chat_as(&gw, &own, "test-model").await;
    assert_eq!(s, 200);
    let (s, own_fail) = chat_as(&gw, &own, "bad").await;
    assert_eq!(s, 500);
    let (s, team_ok) = chat_as(&gw, &team_key, "test-model").await;
    assert_eq!(s, 200);
    let (s, plain) = chat_as(&gw, MASTER_KEY, "test-model").await;
    assert_eq!(s, 200);

    let keyproj = rx
        .wait("/keyproj/api/public/ingestion", "the key's events", |g| {
            mentions(g, &own_ok) && mentions(g, &own_fail)
        })
        .await;
    assert!(keyproj
        .iter()
        .all(|g| auth(g) == basic("pk-key", "sk-key-secret")));
    let teamproj = rx
        .wait("/teamproj/api/public/ingestion", "the team's event", |g| {
            mentions(g, &team_ok)
        })
        .await;
    assert!(teamproj
        .iter()
        .all(|g| auth(g) == basic("pk-team", "sk-team-secret")));
    let global = rx
        .wait("/global/api/public/ingestion", "the plain event", |g| {
            mentions(g, &plain)
        })
        .await;
    assert!(global
        .iter()
        .all(|g| auth(g) == basic("pk-global", "sk-global-secret")));
    // Each event went to one project only.
    for id in [&own_ok, &own_fail, &team_ok] {
        assert!(
            !mentions(&rx.on("/global/api/public/ingestion"), id),
            "{id} also global"
        );
    }
    assert!(!mentions(&keyproj, &plain) && !mentions(&teamproj, &plain));
    assert!(!mentions(&keyproj, &team_ok) && !mentions(&teamproj, &own_ok));
    for g in keyproj.iter().chain(&teamproj).chain(&global) {
        let text = String::from_utf8_lossy(&g.body);
        for secret in ["sk-key-secret", "sk-team-secret", "sk-global-secret"] {
            assert!(!text.contains(secret), "{text}");
        }
        let _: Value = serde_json::from_slice(&g.body).unwrap();
    }
}
