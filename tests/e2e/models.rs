//! E2E: the model management API (`/model/new`, `/model/update`, `PATCH /model/{id}/update`,
//! `/model/delete`, `/model/info`, `/v1/model/info`, `/v2/model/info`) — a model added, changed
//! or deleted on one replica is live on the other within a second (one PostgreSQL, one Redis;
//! needs `DATABASE_URL` and `REDIS_URL`, a fresh database per test), credentials are stored
//! encrypted the LiteLLM way and never returned, file models are listed but not editable,
//! team models serve their team only, and a request in flight finishes on the deployment it
//! started on when its model is deleted.

use std::time::{Duration, Instant};

use base64::Engine;
use bench::mock::{MockConfig, MockServer};
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use serde_json::{json, Value};
use sha2::Digest;

use crate::support::{client, post, Gateway, MASTER_KEY};

fn postgres() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

fn redis() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// A config with one file model (`file-model`, id `file-1`) and stored models on.
fn config(mock: &MockServer, tail: &str) -> String {
    format!(
        "model_list:
  - model_name: file-model
    litellm_params:
      model: openai/file-upstream
      api_base: {}
      api_key: sk-file-secret-0001
    model_info:
      id: file-1
general_settings:
  master_key: {MASTER_KEY}
  store_model_in_db: true
{tail}",
        mock.url()
    )
}

async fn chat_as(gw: &Gateway, key: &str, model: &str) -> reqwest::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
}

async fn get_json(gw: &Gateway, key: &str, path: &str) -> (u16, Value) {
    let r = client()
        .get(gw.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn patch(gw: &Gateway, path: &str, body: &Value) -> reqwest::Response {
    client()
        .patch(gw.url(path))
        .bearer_auth(MASTER_KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Polls `f` every 20 ms until it holds; how long that took, or `None` after `within`.
async fn within<F, Fut>(limit: Duration, mut f: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// LiteLLM's decryption, written from the algorithm's definition: urlsafe base64 of nonce (24
/// bytes) ‖ SecretBox, key SHA-256 of the salt (here the master key).
fn litellm_decrypt(value: &str, secret: &str) -> String {
    let b = base64::engine::general_purpose::URL_SAFE
        .decode(value.replace('+', "-").replace('/', "_"))
        .expect("base64");
    let key: [u8; 32] = sha2::Sha256::digest(secret.as_bytes()).into();
    let plain = XSalsa20Poly1305::new(Key::from_slice(&key))
        .decrypt(Nonce::from_slice(&b[..24]), &b[24..])
        .expect("decrypts with SHA-256 of the master key");
    String::from_utf8(plain).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_added_changed_and_deleted_on_one_replica_is_live_on_the_other_within_a_second() {
    let first = MockServer::start(MockConfig::default()).await.unwrap();
    let second = MockServer::start(MockConfig::default()).await.unwrap();
    let (url, _db) = store::testing::scratch_postgres(&postgres())
        .await
        .expect("DATABASE_URL must point at a reachable PostgreSQL");
    let yaml = config(
        &first,
        &format!(
            "  database_url: \"{url}\"\nrouter_settings:\n  redis_url: \"{}\"\n",
            redis()
        ),
    );
    let one = Gateway::start(&yaml).await;
    let two = Gateway::start(&yaml).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Added on one.
    let r = post(
        &one,
        "/model/new",
        &json!({"model_name": "db-model",
                "litellm_params": {"model": "openai/db-upstream", "api_base": second.url(),
                                   "api_key": "sk-db-secret-000111"},
                "model_info": {"id": "m1", "mode": "chat"}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains("sk-db-secret"), "secret returned: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["model_id"], "m1");
    assert_eq!(v["litellm_params"]["model"], "openai/db-upstream");
    // Live on one at once, on two within a second.
    assert_eq!(chat_as(&one, MASTER_KEY, "db-model").await.status(), 200);
    let took = within(Duration::from_secs(1), || async {
        chat_as(&two, MASTER_KEY, "db-model").await.status() == 200
    })
    .await;
    assert!(took.is_some(), "not live on two within 1 s\n{}", two.logs());
    eprintln!("model added: live on the other replica after {took:?}");

    // Stored encrypted, the LiteLLM way.
    let db = store::Store::open(&url).await.unwrap();
    let rows = db.load_models().await.unwrap();
    let row = rows.iter().find(|m| m.model_id == "m1").unwrap();
    let params: Value = serde_json::from_str(&row.litellm_params).unwrap();
    assert!(!row.litellm_params.contains("sk-db-secret"));
    assert_eq!(
        litellm_decrypt(params["api_key"].as_str().unwrap(), MASTER_KEY),
        "sk-db-secret-000111"
    );
    assert_eq!(
        litellm_decrypt(params["model"].as_str().unwrap(), MASTER_KEY),
        "openai/db-upstream"
    );

    // Listed (file and stored), credentials left out.
    for path in ["/model/info", "/v1/model/info"] {
        let r = client()
            .get(two.url(path))
            .bearer_auth(MASTER_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let text = r.text().await.unwrap();
        assert!(!text.contains("sk-"), "{path} shows a secret: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let ids: Vec<(&str, bool)> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["model_info"]["id"].as_str().unwrap(),
                    d["model_info"]["db_model"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(ids, vec![("file-1", false), ("m1", true)], "{path}");
    }
    let (s, v) = get_json(
        &two,
        MASTER_KEY,
        "/v2/model/info?model=db-model&page=1&size=10",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["total_count"], 1);
    assert_eq!(v["data"][0]["litellm_params"]["api_base"], second.url());
    let (_, v) = get_json(&two, MASTER_KEY, "/model/info?litellm_model_id=file-1").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);

    // Changed on two (PATCH): one follows within a second.
    let r = patch(
        &two,
        "/model/m1/update",
        &json!({"litellm_params": {"api_base": first.url()}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let before = first.request_count();
    let took = within(Duration::from_secs(1), || async {
        let n = first.request_count();
        chat_as(&one, MASTER_KEY, "db-model").await.status() == 200 && first.request_count() > n
    })
    .await;
    assert!(
        took.is_some(),
        "update not live on one within 1 s\n{}",
        one.logs()
    );
    assert!(first.request_count() > before);
    // The credentials were kept (only api_base given).
    let row = db.get_model("m1").await.unwrap().unwrap();
    let params: Value = serde_json::from_str(&row.litellm_params).unwrap();
    assert_eq!(
        litellm_decrypt(params["api_key"].as_str().unwrap(), MASTER_KEY),
        "sk-db-secret-000111"
    );
    // POST /model/update renames it.
    let r = post(
        &one,
        "/model/update",
        &json!({"model_name": "db-renamed", "model_info": {"id": "m1"}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(within(Duration::from_secs(1), || async {
        chat_as(&two, MASTER_KEY, "db-renamed").await.status() == 200
    })
    .await
    .is_some());

    // A file model is not changed through the API.
    let r = post(
        &one,
        "/model/update",
        &json!({"model_info": {"id": "file-1"}, "model_name": "x"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = post(&one, "/model/delete", &json!({"id": "file-1"})).await;
    assert_eq!(r.status(), 400);
    let r = post(&one, "/model/new", &json!({"model_name": "x", "litellm_params": {"model": "openai/x"}, "model_info": {"id": "file-1"}})).await;
    assert_eq!(r.status(), 400);
    // An invalid model is refused before it is stored.
    let r = post(
        &one,
        "/model/new",
        &json!({"model_name": "bad", "litellm_params": {"model": "nosuchprovider/x"}}),
    )
    .await;
    assert_eq!(r.status(), 400);

    // Deleted on one: gone from two within a second.
    let r = post(&one, "/model/delete", &json!({"id": "m1"})).await;
    assert_eq!(r.status(), 200);
    let took = within(Duration::from_secs(1), || async {
        chat_as(&two, MASTER_KEY, "db-renamed").await.status() == 400
    })
    .await;
    assert!(took.is_some(), "delete not live on two within 1 s");
    let r = post(&one, "/model/delete", &json!({"id": "m1"})).await;
    assert_eq!(r.status(), 404);
    assert_eq!(chat_as(&two, MASTER_KEY, "file-model").await.status(), 200);
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_models_serve_and_show_to_their_team_only() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock, "")).await;
    for t in ["team-a", "team-b"] {
        let r = post(&gw, "/team/new", &json!({"team_id": t})).await;
        assert_eq!(r.status(), 200);
    }
    let r = post(
        &gw,
        "/model/new",
        &json!({"model_name": "team-only",
                "litellm_params": {"model": "openai/t", "api_base": mock.url(), "api_key": "sk-team-secret-1"},
                "model_info": {"id": "tm", "team_id": "team-a"}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let key_a = crate::budgets::generate_key(&gw, json!({"team_id": "team-a"})).await;
    let key_b = crate::budgets::generate_key(&gw, json!({"team_id": "team-b"})).await;
    let names = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                m["id"]
                    .as_str()
                    .or(m["model_name"].as_str())
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let (_, v) = get_json(&gw, &key_a, "/v1/models").await;
    assert!(names(&v).contains(&"team-only".to_string()), "{v}");
    let (_, v) = get_json(&gw, &key_b, "/v1/models").await;
    assert!(!names(&v).contains(&"team-only".to_string()), "{v}");
    assert_eq!(chat_as(&gw, &key_a, "team-only").await.status(), 200);
    assert_eq!(chat_as(&gw, &key_b, "team-only").await.status(), 400);
    // The refusal's list of models does not name another team's.
    let text = chat_as(&gw, &key_b, "nope").await.text().await.unwrap();
    assert!(
        text.contains("file-model") && !text.contains("team-only"),
        "{text}"
    );
    let (_, v) = get_json(&gw, &key_b, "/model/info").await;
    assert!(!names(&v).contains(&"team-only".to_string()), "{v}");
    let (_, v) = get_json(&gw, &key_a, "/model/info").await;
    assert!(names(&v).contains(&"team-only".to_string()), "{v}");
    let (_, v) = get_json(&gw, &key_b, "/model_group/info").await;
    assert!(!v.to_string().contains("team-only"), "{v}");
    let (_, v) = get_json(&gw, MASTER_KEY, "/v2/model/info?teamId=team-a").await;
    assert_eq!(v["total_count"], 1, "{v}");
    // Keys may read but not write.
    let r = client()
        .post(gw.url("/model/delete"))
        .bearer_auth(&key_a)
        .json(&json!({"id": "tm"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_finishes_on_the_deployment_its_model_had() {
    let slow = MockServer::start(MockConfig {
        latency: Duration::from_millis(800),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&config(&slow, "")).await;
    let r = post(
        &gw,
        "/model/new",
        &json!({"model_name": "slow", "litellm_params": {"model": "openai/s", "api_base": slow.url(), "api_key": "k"},
                "model_info": {"id": "s1"}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let url = gw.url("/v1/chat/completions");
    let inflight = tokio::spawn(async move {
        client()
            .post(url)
            .bearer_auth(MASTER_KEY)
            .json(&json!({"model": "slow", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap()
            .status()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = post(&gw, "/model/delete", &json!({"id": "s1"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        chat_as(&gw, MASTER_KEY, "slow").await.status(),
        400,
        "deleted"
    );
    assert_eq!(
        inflight.await.unwrap(),
        200,
        "the request in flight finished"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_store_model_in_db_models_are_listed_but_not_added() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock, "").replace("  store_model_in_db: true\n", "")).await;
    let r = post(
        &gw,
        "/model/new",
        &json!({"model_name": "x", "litellm_params": {"model": "openai/x"}}),
    )
    .await;
    let e = crate::support::expect_error(r, 400).await;
    assert!(
        e["message"].as_str().unwrap().contains("STORE_MODEL_IN_DB"),
        "{e}"
    );
    let (s, v) = get_json(&gw, MASTER_KEY, "/model/info").await;
    assert_eq!(s, 200);
    assert_eq!(v["data"][0]["model_info"]["id"], "file-1");
    assert!(!v.to_string().contains("sk-file-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_reload_keeps_stored_models_and_later_changes_merge_into_the_new_file() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = config(&mock, "");
    let gw = Gateway::start(&yaml).await;
    let r = post(
        &gw,
        "/model/new",
        &json!({"model_name": "stored", "litellm_params": {"model": "openai/s", "api_base": mock.url(), "api_key": "k"}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    // The file gains a model; a reload serves both it and the stored one.
    let grown = yaml.replace(
        "general_settings:",
        &format!(
            "  - model_name: file-two\n    litellm_params: {{model: openai/f2, api_base: \"{}\", api_key: k}}\ngeneral_settings:",
            mock.url()
        ),
    );
    std::fs::write(gw.dir().join("config.yaml"), grown).unwrap();
    let r = post(&gw, "/config/reload", &json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    for m in ["file-model", "file-two", "stored"] {
        assert_eq!(chat_as(&gw, MASTER_KEY, m).await.status(), 200, "{m}");
    }
    // A model added after the reload joins the reloaded file, not the one read at start.
    let r = post(
        &gw,
        "/model/new",
        &json!({"model_name": "later", "litellm_params": {"model": "openai/l", "api_base": mock.url(), "api_key": "k"}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    for m in ["file-two", "stored", "later"] {
        assert_eq!(chat_as(&gw, MASTER_KEY, m).await.status(), 200, "{m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_other_replica_sees_a_new_model_by_polling() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let (url, _db) = store::testing::scratch_postgres(&postgres())
        .await
        .expect("DATABASE_URL must point at a reachable PostgreSQL");
    let yaml = config(&mock, &format!("  database_url: \"{url}\"\n"));
    let one = Gateway::start(&yaml).await;
    let two = Gateway::start(&yaml).await;
    let r = post(
        &one,
        "/model/new",
        &json!({"model_name": "polled", "litellm_params": {"model": "openai/p", "api_base": mock.url(), "api_key": "k"}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    // Polled every second: live on two within one poll (plus the request's own time).
    let took = within(Duration::from_millis(1500), || async {
        chat_as(&two, MASTER_KEY, "polled").await.status() == 200
    })
    .await;
    assert!(took.is_some(), "not live on two by polling\n{}", two.logs());
    eprintln!("model added without Redis: live on the other replica after {took:?}");
}
