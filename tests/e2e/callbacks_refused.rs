//! E2E: LLM requests refused before admission completed still reach the failure callbacks —
//! a bad key (401), a body that is not JSON (400) and a key over its `rpm_limit` (429) each make
//! one failure event on a generic webhook, with status, error class and message, call id, the
//! model group once known and the key's hash once known; never the key itself.

use serde_json::{json, Value};

use crate::budgets::generate_key;
use crate::callbacks_receiver::{config, mocks, payloads, Receiver};
use crate::support::{away_from_minute_boundary, client, Gateway};

async fn call(gw: &Gateway, key: &str, body: &str) -> (u16, String) {
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-litellm-call-id"]
        .to_str()
        .unwrap()
        .to_string();
    (r.status().as_u16(), id)
}

fn by_id<'a>(events: &'a [Value], id: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no event for {id}: {events:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_reach_the_failure_callbacks() {
    let (good, bad) = mocks().await;
    let rx = Receiver::start(false).await;
    let yaml = config(
        &good,
        &bad,
        "",
        &format!(
            "litellm_settings:
  callbacks: [hook]
callback_settings:
  hook: {{callback_type: generic_api, endpoint: \"{}\", flush_interval: 0.1}}
",
            rx.url("/hook")
        ),
    );
    let gw = Gateway::start(&yaml).await;
    let key = generate_key(
        &gw,
        json!({"rpm_limit": 1, "key_alias": "refused-alias", "team_id": null}),
    )
    .await;
    let body = r#"{"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}"#;
    away_from_minute_boundary().await;
    let (ok, ok_id) = call(&gw, &key, body).await;
    assert_eq!(ok, 200);
    let (limited, limited_id) = call(&gw, &key, body).await;
    assert_eq!(limited, 429);
    let (unauth, unauth_id) = call(&gw, "sk-not-a-real-key-123456", body).await;
    assert_eq!(unauth, 401);
    let (bad_body, bad_id) = call(&gw, &key, "{not json").await;
    assert_eq!(bad_body, 400);
    let got = rx
        .wait("/hook", "four events", |g| {
            let p = payloads(g);
            [&ok_id, &limited_id, &unauth_id, &bad_id]
                .iter()
                .all(|id| p.iter().any(|e| e["id"] == id.as_str()))
        })
        .await;
    let events = payloads(&got);
    let hash = by_id(&events, &ok_id)["metadata"]["user_api_key_hash"].clone();
    assert!(hash.as_str().is_some_and(|h| !h.is_empty()), "{hash}");

    let e = by_id(&events, &limited_id);
    assert_eq!(e["status"], "failure");
    assert_eq!(e["model_group"], "test-model");
    assert_eq!(e["call_type"], "acompletion");
    assert_eq!(e["error_information"]["error_code"], "429");
    assert_eq!(e["error_information"]["error_class"], "RateLimitError");
    assert!(!e["error_str"].as_str().unwrap().is_empty(), "{e}");
    assert_eq!(e["metadata"]["user_api_key_hash"], hash);
    assert_eq!(e["metadata"]["user_api_key_alias"], "refused-alias");
    assert_eq!(e["hidden_params"]["litellm_call_id"], limited_id.as_str());

    let e = by_id(&events, &unauth_id);
    assert_eq!(e["status"], "failure");
    assert_eq!(e["error_information"]["error_code"], "401");
    assert_eq!(e["error_information"]["error_class"], "AuthenticationError");
    assert_eq!(e["metadata"]["user_api_key_hash"], Value::Null);

    let e = by_id(&events, &bad_id);
    assert_eq!(e["error_information"]["error_code"], "400");
    assert_eq!(e["metadata"]["user_api_key_hash"], hash);

    // Never a key, valid or not, in anything sent.
    for g in rx.on("/hook") {
        let text = String::from_utf8_lossy(&g.body);
        assert!(!text.contains(&key) && !text.contains("sk-not-a-real-key"));
    }
}
