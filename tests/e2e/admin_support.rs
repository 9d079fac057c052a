//! Helpers the management API e2e tests (`admin_*.rs`) share: their two gateway configs,
//! master-key requests, response assertions, and reading keys and lists out of answers.

use std::path::Path;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

/// Two mock deployments (no provider is called) with prices, the e2e master key, and the
/// SQLite file at `db` when given (otherwise `tollgate.db` in the gateway's own scratch dir):
/// the keys, users and teams tests.
pub fn keys_config(db: Option<&Path>) -> String {
    let db = db
        .map(|p| format!("tollgate_settings:\n  database_path: {}\n", p.display()))
        .unwrap_or_default();
    format!(
        "model_list:
  - model_name: model-a
    litellm_params:
      model: openai/model-a
      mock_response: \"Hello from A\"
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
  - model_name: model-b
    litellm_params:
      model: openai/model-b
      mock_response: \"Hello from B\"
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
{db}"
    )
}

/// A gateway on [`keys_config`] with its own database.
pub async fn start_keys() -> Gateway {
    Gateway::start(&keys_config(None)).await
}

/// Mock deployments (no provider is called) with prices, the e2e master key, quick spend
/// flushes and a proxy-wide budget: the organizations, end users, budgets and spend tests.
pub fn orgs_config() -> String {
    format!(
        "model_list:
  - model_name: test-model
    litellm_params:
      model: openai/test-model
      mock_response: \"Hello from the mock deployment\"
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
  - model_name: other-model
    litellm_params:
      model: openai/other-model
      mock_response: \"Hello from the other mock\"
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
litellm_settings:
  max_budget: 100
"
    )
}

/// A gateway on [`orgs_config`].
pub async fn start_orgs() -> Gateway {
    Gateway::start(&orgs_config()).await
}

/// A request with the master key, with a JSON body when given.
pub async fn call(
    gw: &Gateway,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut rb = client()
        .request(method, gw.url(path))
        .bearer_auth(MASTER_KEY);
    if let Some(b) = body {
        rb = rb.json(b);
    }
    rb.send().await.expect("request failed")
}

/// GET with the master key.
pub async fn get(gw: &Gateway, path: &str) -> reqwest::Response {
    call(gw, Method::GET, path, None).await
}

/// POST with another key.
pub async fn post_as(gw: &Gateway, key: &str, path: &str, body: &Value) -> reqwest::Response {
    client()
        .post(gw.url(path))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("request failed")
}

/// Asserts a 200 and returns the JSON body.
pub async fn ok(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts a 200 and returns the raw body text (to search it for secrets).
pub async fn ok_text(resp: reqwest::Response) -> String {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    text
}

/// Asserts an OpenAI-shaped error whose `param` names the field.
pub async fn bad(resp: reqwest::Response, status: u16, param: &str) -> Value {
    let e = expect_error(resp, status).await;
    assert_eq!(e["param"], param, "{e}");
    e
}

/// The status of one chat completion on `model` with `key`.
pub async fn chat(gw: &Gateway, key: &str, model: &str) -> u16 {
    let body = json!({
        "model": model,
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hello there"}],
    });
    post_as(gw, key, "/v1/chat/completions", &body)
        .await
        .status()
        .as_u16()
}

/// A chat completion on `test-model` for the end user `user` ([`orgs_config`]).
pub fn chat_as(user: &str) -> Value {
    json!({
        "model": "test-model",
        "user": user,
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hello there, how are you today?"}],
    })
}

/// Asserts the 400 of a request refused for being over budget.
pub async fn expect_over_budget(resp: reqwest::Response) {
    let e = expect_error(resp, 400).await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("Budget has been exceeded"),
        "{e}"
    );
}

/// `/key/generate` with `body`; the new key.
pub async fn generate(gw: &Gateway, body: Value) -> Value {
    ok(post(gw, "/key/generate", &body).await).await
}

/// The secret (`key`) of a generated key.
pub fn secret(k: &Value) -> String {
    k["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no key in {k}"))
        .to_string()
}

pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The `field` of every object in a JSON list.
pub fn ids(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v[field].as_str().unwrap_or_default().to_string())
        .collect()
}
