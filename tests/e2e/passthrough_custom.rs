//! Custom pass-through routes (`general_settings.pass_through_endpoints`): a route behind a
//! Tollgate key with the target's credential from the environment, the configured headers only
//! (plus `x-pass-*`), the target's query kept, `cost_per_request` spent; an open route relaying
//! every path below it with the caller's own headers and a merged query, streams included;
//! and paths that would shadow a built-in route refused at load.

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::budgets::{generate_key, settled_spend};
use crate::support::*;

fn config(mock: &str) -> String {
    format!(
        "model_list:
  - model_name: gpt-group
    litellm_params:
      model: openai/gpt-up
      api_base: {mock}/v1
      api_key: sk-openai-upstream
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
  pass_through_endpoints:
    - path: /my-llm
      target: {mock}/v1/chat/completions?api-version=7
      auth: true
      cost_per_request: 0.5
      methods: [POST]
      headers:
        Authorization: Bearer os.environ/TG_PTE_TARGET_KEY
        x-route: configured
    - path: /open
      target: {mock}/v1?key=target-key
      include_subpath: true
      forward_headers: true
      merge_query_params: true
"
    )
}

async fn mock() -> MockServer {
    MockServer::start(MockConfig {
        content: "custom route".into(),
        chunks: 3,
        prompt_tokens: Some(10),
        completion_tokens: Some(5),
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auth_route_takes_a_key_and_sends_only_its_own_credential() {
    let mock = mock().await;
    let base = mock.url().trim_end_matches("/v1").to_string();
    let gw =
        Gateway::start_with(&config(&base), &[("TG_PTE_TARGET_KEY", "sk-target-secret")]).await;
    let key = generate_key(&gw, json!({})).await;
    let body =
        json!({"model": "anything-upstream", "messages": [{"role": "user", "content": "hi"}]});
    let r = client()
        .post(gw.url("/my-llm?x=1"))
        .bearer_auth(&key)
        .header("x-caller-only", "not forwarded")
        .header("x-pass-anthropic-beta", "b1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!header(&r, "x-litellm-call-id").is_empty());
    let call_id = header(&r, "x-litellm-call-id");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "custom route", "{v}");
    let sent = &mock.requests()[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/chat/completions?api-version=7&x=1");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-target-secret")
    );
    assert_eq!(sent.header("x-route"), Some("configured"));
    assert_eq!(sent.header("anthropic-beta"), Some("b1"));
    assert_eq!(sent.header("x-caller-only"), None, "forward_headers is off");
    assert_eq!(sent.json().unwrap(), body, "the body goes unchanged");
    // cost_per_request, whatever the usage said.
    assert_eq!(settled_spend(&gw, &key, 0.5).await, 0.5);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let row = loop {
        let r = client()
            .get(gw.url(&format!("/spend/logs?request_id={call_id}&summarize=false")))
            .bearer_auth(MASTER_KEY)
            .send()
            .await
            .unwrap();
        let rows: Value = r.json().await.unwrap();
        if let Some(row) = rows.as_array().and_then(|a| a.first()).cloned() {
            break row;
        }
        assert!(std::time::Instant::now() < deadline, "no spend log row");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(row["call_type"], "pass_through_endpoint", "{row}");
    assert_eq!(row["spend"], 0.5, "{row}");

    // No key, a bad key: refused before the target is called; a method not listed: 405.
    let r = client()
        .post(gw.url("/my-llm"))
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(r, 401).await;
    let r = client()
        .post(gw.url("/my-llm"))
        .bearer_auth("sk-not-a-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(r, 401).await;
    let r = client()
        .get(gw.url("/my-llm"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    expect_error(r, 405).await;
    // Only the exact path: include_subpath is off.
    let r = client()
        .post(gw.url("/my-llm/more"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(r, 404).await;
    assert_eq!(mock.requests().len(), 1);

    // A key limited to some models: the body's model is checked, and without one the route's
    // path stands for it.
    let limited = generate_key(&gw, json!({"models": ["gpt-group"]})).await;
    let r = client()
        .post(gw.url("/my-llm"))
        .bearer_auth(&limited)
        .json(&body)
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 401).await;
    assert!(e.to_string().contains("anything-upstream"), "{e}");
    let r = client()
        .post(gw.url("/my-llm"))
        .bearer_auth(&limited)
        .json(&json!({"prompt": "no model"}))
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 401).await;
    assert!(e.to_string().contains("/my-llm"), "{e}");
    let allowed = generate_key(&gw, json!({"models": ["/my-llm"]})).await;
    let r = client()
        .post(gw.url("/my-llm"))
        .bearer_auth(&allowed)
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A used-up budget refuses the next request before the target is called.
    let budgeted = generate_key(&gw, json!({"max_budget": 0.4})).await;
    let r = client()
        .post(gw.url("/my-llm"))
        .bearer_auth(&budgeted)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(settled_spend(&gw, &budgeted, 0.5).await, 0.5);
    let before = mock.requests().len();
    let r = client()
        .post(gw.url("/my-llm"))
        .bearer_auth(&budgeted)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let e: Value = r.json().await.unwrap();
    assert!(status >= 400 && is_budget_refusal(&e), "{status} {e}");
    assert_eq!(mock.requests().len(), before);
    // The target's key never shows in the gateway's logs.
    assert!(!gw.logs().contains("sk-target-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_route_relays_every_subpath_with_the_callers_headers() {
    let mock = mock().await;
    let base = mock.url().trim_end_matches("/v1").to_string();
    let gw = Gateway::start_with(&config(&base), &[("TG_PTE_TARGET_KEY", "unused")]).await;
    // No Tollgate key: the caller's own credential goes to the target.
    let r = client()
        .post(gw.url("/open/chat/completions?key=mine&x=1"))
        .bearer_auth("caller-own-target-key")
        .header("x-custom", "a")
        .json(&json!({"model": "m", "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    assert!(text.contains("data: [DONE]"), "{text}");
    // Relayed event by event as the target sent them.
    assert_eq!(text.matches("data: {").count(), 5, "{text}");
    let sent = &mock.requests()[0];
    assert_eq!(
        sent.path, "/v1/chat/completions?key=target-key&x=1",
        "merged: the target's key="
    );
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer caller-own-target-key")
    );
    assert_eq!(sent.header("x-custom"), Some("a"));
    // The route's own path is the target's.
    let r = client().get(gw.url("/open/models")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(mock.requests()[1].path, "/v1/models?key=target-key");
}

#[test]
fn a_path_shadowing_a_built_in_route_is_a_config_error() {
    let dir = scratch_dir();
    for (path, subpath, why) in [
        (
            "/v1/chat/completions",
            false,
            "\"/v1/chat/completions\" is a built-in route of the gateway",
        ),
        (
            "/anthropic/v1/custom",
            false,
            "\"/anthropic/v1/custom\" is a built-in route of the gateway",
        ),
        (
            "/key/custom",
            false,
            "\"/key/custom\" is a built-in route of the gateway",
        ),
        (
            "/v1",
            true,
            "built-in route \"/v1/chat/completions\" is below \"/v1\" (include_subpath)",
        ),
    ] {
        let f = dir.join("c.yaml");
        std::fs::write(
            &f,
            format!(
                "model_list:
  - model_name: m
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-x
general_settings:
  pass_through_endpoints:
    - path: /fine
      target: http://127.0.0.1:9
    - path: {path}
      target: http://127.0.0.1:9
      include_subpath: {subpath}
"
            ),
        )
        .unwrap();
        let (status, _, err) = run_cli(&["--check", "-c", f.to_str().unwrap()]);
        assert!(!status.success(), "{path}");
        let want =
            format!("general_settings.pass_through_endpoints[1].path: {why}; choose another path");
        assert!(err.contains(&want), "{want}\n{err}");
        assert!(!err.contains("pass_through_endpoints[0]"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_routes_are_listed_in_routes_and_openapi_and_a_reload_updates_them() {
    let mock = mock().await;
    let base = mock.url().trim_end_matches("/v1").to_string();
    let gw =
        Gateway::start_with(&config(&base), &[("TG_PTE_TARGET_KEY", "sk-target-secret")]).await;
    let listed = |v: &Value| -> Vec<(String, Value, String)> {
        v["routes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["summary"]
                    .as_str()
                    .unwrap_or("")
                    .contains("Custom pass-through")
            })
            .map(|r| {
                let path = r["path"].as_str().unwrap().to_string();
                (
                    path,
                    r["methods"].clone(),
                    r["auth"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let get = |path: &'static str| {
        let url = gw.url(path);
        async move {
            let r = client().get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let text = r.text().await.unwrap();
            assert!(
                !text.contains("target-key"),
                "a target's query is never shown"
            );
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    assert_eq!(
        listed(&get("/routes").await),
        vec![
            ("/my-llm".to_string(), json!(["POST"]), "key".to_string()),
            (
                "/open/{subpath}".to_string(),
                json!(["GET", "POST", "PUT", "PATCH", "DELETE"]),
                "none".to_string()
            ),
        ]
    );
    let doc = get("/openapi.json").await;
    assert!(
        doc["paths"]["/my-llm"]["post"]["security"].is_array(),
        "{}",
        doc["paths"]["/my-llm"]
    );
    assert!(doc["paths"]["/my-llm"].get("get").is_none());
    assert!(doc["paths"]["/open"]["get"].is_object());
    assert_eq!(
        doc["paths"]["/open/{subpath}"]["delete"]["parameters"][0]["name"],
        "subpath"
    );

    // A reload with another set of routes: the listing follows it.
    let changed = config(&base).replace("path: /my-llm", "path: /renamed");
    std::fs::write(gw.dir().join("config.yaml"), changed).unwrap();
    let r = client()
        .post(gw.url("/config/reload"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let paths: Vec<String> = listed(&get("/routes").await)
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(paths, ["/renamed", "/open/{subpath}"]);
    let doc = get("/openapi.json").await;
    assert!(doc["paths"].get("/my-llm").is_none() && doc["paths"]["/renamed"]["post"].is_object());
}
