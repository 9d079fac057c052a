//! E2E: `/v1/files` and `/v1/batches` in front of an OpenAI and an Azure deployment of the mock
//! (docs/batches.md): the batch file's model checked against the key (401 naming it, as LiteLLM), rewritten
//! to the deployment's model, one model per file; every file and batch visible only to the key
//! that made it (404 for another key, as for an unknown id); a completed batch's spend recorded
//! once, at the batch price, however often it is retrieved; Azure's `/openai/…` forms.

use std::time::{Duration, Instant};

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::budgets::{generate_key, key_spend};
use crate::support::*;

fn config(mock: &MockServer) -> String {
    let base = format!("http://{}", mock.addr);
    format!(
        "model_list:
  - model_name: gpt-b
    litellm_params:
      model: openai/gpt-upstream
      api_base: {openai}
      api_key: sk-upstream
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
      input_cost_per_token_batches: 0.0004
  - model_name: azure-b
    litellm_params:
      model: azure/my-deployment
      api_base: {base}
      api_key: sk-azure-upstream
      api_version: 2024-10-21
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
  - model_name: other-b
    litellm_params:
      model: openai/other-upstream
      api_base: {openai}
      api_key: sk-upstream
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
",
        openai = mock.url()
    )
}

async fn start() -> (Gateway, MockServer) {
    let mock = MockServer::start(MockConfig {
        record_requests: true,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&config(&mock)).await;
    (gw, mock)
}

/// A batch input file of `n` chat requests to `model`.
fn jsonl(model: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            json!({"custom_id": format!("r{i}"), "method": "POST", "url": "/v1/chat/completions",
                   "body": {"model": model, "messages": [{"role": "user", "content": format!("question {i}")}]}})
            .to_string() + "\n"
        })
        .collect()
}

const BOUNDARY: &str = "e2e-boundary-42";

fn form(purpose: &str, file: &str) -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{purpose}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n\
         Content-Type: application/jsonl\r\n\r\n{file}\r\n--{BOUNDARY}--\r\n"
    )
    .into_bytes()
}

/// `POST {prefix}/files` with `key` (in `header`: `authorization` as a bearer, or `api-key`).
async fn upload(
    gw: &Gateway,
    prefix: &str,
    header: &str,
    key: &str,
    file: &str,
) -> reqwest::Response {
    let r = client()
        .post(gw.url(&format!("{prefix}/files{}", query(prefix))))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(form("batch", file));
    auth(r, header, key).send().await.unwrap()
}

fn query(prefix: &str) -> &'static str {
    if prefix == "/openai" {
        "?api-version=2024-10-21"
    } else {
        ""
    }
}

fn auth(r: reqwest::RequestBuilder, header: &str, key: &str) -> reqwest::RequestBuilder {
    if header == "api-key" {
        r.header("api-key", key)
    } else {
        r.bearer_auth(key)
    }
}

async fn call(
    gw: &Gateway,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut r = client().request(m, gw.url(path)).bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

async fn json_of(r: reqwest::Response, status: u16) -> Value {
    let got = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Retrieves the batch until it is `completed` (within 10 s).
async fn completed(gw: &Gateway, path: &str, key: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let b = json_of(call(gw, "GET", path, key, None).await, 200).await;
        if b["status"] == "completed" {
            return b;
        }
        assert!(Instant::now() < deadline, "batch never completed: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The usage summed over an output file.
fn usage_of(output: &str) -> (u64, u64) {
    output.lines().fold((0, 0), |(p, c), l| {
        let v: Value = serde_json::from_str(l).unwrap();
        let u = &v["response"]["body"]["usage"];
        (
            p + u["prompt_tokens"].as_u64().unwrap(),
            c + u["completion_tokens"].as_u64().unwrap(),
        )
    })
}

/// The spend log rows of `request_id`, once there is one (within 10 s).
async fn spend_rows(gw: &Gateway, request_id: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let path = format!("/spend/logs?request_id={request_id}&summarize=false");
        let rows = json_of(call(gw, "GET", &path, MASTER_KEY, None).await, 200).await;
        let rows = rows.as_array().cloned().unwrap_or_default();
        if !rows.is_empty() || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn batches_are_owned_model_checked_and_spent_once() {
    let (gw, mock) = start().await;
    // A budget the batch will overshoot (nothing is reserved for a batch, docs/batches.md).
    let a = generate_key(&gw, json!({"models": ["gpt-b"], "max_budget": 0.01})).await;
    let b = generate_key(&gw, json!({"models": ["gpt-b"]})).await;
    let c = generate_key(&gw, json!({"models": ["other-b"]})).await;

    // The model check: a key without access to the file's model is refused, naming it (401
    // `key_model_access_denied`, as every route of the gateway and LiteLLM answer it).
    let e = expect_error(
        upload(&gw, "/v1", "authorization", &c, &jsonl("gpt-b", 2)).await,
        401,
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("gpt-b"), "{e}");
    // One model per file.
    let mixed = jsonl("gpt-b", 1) + &jsonl("other-b", 1);
    let e = expect_error(upload(&gw, "/v1", "authorization", &a, &mixed).await, 400).await;
    assert!(e["message"].as_str().unwrap().contains("one model"), "{e}");

    let file = json_of(
        upload(&gw, "/v1", "authorization", &a, &jsonl("gpt-b", 3)).await,
        200,
    )
    .await;
    let file_id = file["id"].as_str().unwrap().to_string();
    // Sent to the deployment with its credential, every line naming the deployment's model.
    let sent = mock
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path == "/v1/files")
        .expect("the upload reached the mock");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-upstream"));
    let sent_body = String::from_utf8_lossy(&sent.body).into_owned();
    assert_eq!(
        sent_body.matches("\"model\":\"gpt-upstream\"").count(),
        3,
        "{sent_body}"
    );
    assert!(!sent_body.contains("gpt-b"), "{sent_body}");

    // Another key sees nothing of A's: 404 as for an unknown id.
    for (m, p) in [
        ("GET", format!("/v1/files/{file_id}")),
        ("GET", format!("/v1/files/{file_id}/content")),
        ("DELETE", format!("/v1/files/{file_id}")),
        ("GET", "/v1/files/file-unknown".to_string()),
    ] {
        expect_error(call(&gw, m, &p, &b, None).await, 404).await;
    }
    let listed = json_of(call(&gw, "GET", "/v1/files", &b, None).await, 200).await;
    assert_eq!(listed["data"], json!([]));
    let listed = json_of(call(&gw, "GET", "/v1/files", &a, None).await, 200).await;
    assert_eq!(listed["data"][0]["id"], file_id.as_str());
    let create = json!({"input_file_id": file_id, "endpoint": "/v1/chat/completions",
                        "completion_window": "24h", "metadata": {"mock_complete_ms": "300"}});
    expect_error(
        call(&gw, "POST", "/v1/batches", &b, Some(create.clone())).await,
        404,
    )
    .await;

    let batch = json_of(
        call(&gw, "POST", "/v1/batches", &a, Some(create)).await,
        200,
    )
    .await;
    let batch_id = batch["id"].as_str().unwrap().to_string();
    for (m, p) in [
        ("GET", format!("/v1/batches/{batch_id}")),
        ("POST", format!("/v1/batches/{batch_id}/cancel")),
    ] {
        expect_error(call(&gw, m, &p, &b, None).await, 404).await;
    }
    let listed = json_of(call(&gw, "GET", "/v1/batches", &b, None).await, 200).await;
    assert_eq!(listed["data"], json!([]));

    let done = completed(&gw, &format!("/v1/batches/{batch_id}"), &a).await;
    let output_id = done["output_file_id"].as_str().unwrap().to_string();
    let r = call(
        &gw,
        "GET",
        &format!("/v1/files/{output_id}/content"),
        &a,
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let output = r.text().await.unwrap();
    assert_eq!(output.lines().count(), 3);
    expect_error(
        call(
            &gw,
            "GET",
            &format!("/v1/files/{output_id}/content"),
            &b,
            None,
        )
        .await,
        404,
    )
    .await;

    // Priced at the batch price: input_cost_per_token_batches, half the output price.
    let (prompt, completion) = usage_of(&output);
    let expected = prompt as f64 * 0.0004 + completion as f64 * 0.001;
    // Retrieved again (and listed): never charged twice.
    for _ in 0..3 {
        completed(&gw, &format!("/v1/batches/{batch_id}"), &a).await;
    }
    let rows = spend_rows(&gw, &batch_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let spend = rows[0]["spend"].as_f64().unwrap();
    assert!(
        (spend - expected).abs() < 1e-9,
        "spend {spend} != {expected}"
    );
    assert_eq!(rows[0]["prompt_tokens"].as_u64(), Some(prompt));
    assert_eq!(rows[0]["completion_tokens"].as_u64(), Some(completion));
    // The key's spend: the batch, once (uploads and creates cost nothing).
    let key_total = key_spend(&gw, &a).await;
    assert!(
        (key_total - expected).abs() < 1e-9,
        "key spend {key_total} != {expected}"
    );
    let listed = json_of(call(&gw, "GET", "/v1/batches", &a, None).await, 200).await;
    assert_eq!(listed["data"][0]["status"], "completed");

    // The budget is now used up: another batch, or upload, is refused.
    assert!(expected > 0.01, "{expected}");
    let again = json!({"input_file_id": file_id, "endpoint": "/v1/chat/completions",
                       "completion_window": "24h"});
    let r = call(&gw, "POST", "/v1/batches", &a, Some(again)).await;
    let status = r.status().as_u16();
    let e = r.json::<Value>().await.unwrap();
    assert!(status >= 400 && is_budget_refusal(&e), "{status} {e}");

    // Another purpose names its model in target_model_names, and is sent unchanged.
    let plain = "some user data, not JSONL\n";
    let e = expect_error(
        client()
            .post(gw.url("/v1/files"))
            .bearer_auth(&b)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(form("user_data", plain))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("target_model_names"),
        "{e}"
    );
    let mut with_target = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"target_model_names\"\r\n\r\ngpt-b\r\n"
    )
    .into_bytes();
    with_target.extend(form("user_data", plain));
    let r = client()
        .post(gw.url("/v1/files"))
        .bearer_auth(&b)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(with_target)
        .send()
        .await
        .unwrap();
    let other = json_of(r, 200).await;
    assert_eq!(other["purpose"], "user_data");
    let sent = mock
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path == "/v1/files")
        .unwrap();
    let sent_body = String::from_utf8_lossy(&sent.body).into_owned();
    assert!(
        sent_body.contains(plain) && !sent_body.contains("target_model_names"),
        "{sent_body}"
    );
    let listed = json_of(
        call(&gw, "GET", "/v1/files?purpose=user_data", &b, None).await,
        200,
    )
    .await;
    assert_eq!(listed["data"][0]["id"], other["id"]);

    // Delete: gone for the owner too.
    json_of(
        call(&gw, "DELETE", &format!("/v1/files/{file_id}"), &a, None).await,
        200,
    )
    .await;
    expect_error(
        call(&gw, "GET", &format!("/v1/files/{file_id}"), &a, None).await,
        404,
    )
    .await;
}

#[tokio::test]
async fn azure_files_and_batches_use_the_openai_paths() {
    let (gw, mock) = start().await;
    let key = generate_key(&gw, json!({"models": ["azure-b"]})).await;
    // An AzureOpenAI client: `/openai/files?api-version=…`, its key in `api-key`.
    let file = json_of(
        upload(&gw, "/openai", "api-key", &key, &jsonl("azure-b", 2)).await,
        200,
    )
    .await;
    let file_id = file["id"].as_str().unwrap().to_string();
    let sent = mock
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.starts_with("/openai/files"))
        .expect("the upload reached the mock");
    assert_eq!(sent.path, "/openai/files?api-version=2024-10-21");
    assert_eq!(sent.header("api-key"), Some("sk-azure-upstream"));
    assert!(String::from_utf8_lossy(&sent.body).contains("\"model\":\"my-deployment\""));

    let create = json!({"input_file_id": file_id, "endpoint": "/chat/completions",
                        "completion_window": "24h", "metadata": {"mock_complete_ms": "100"}});
    let batch = json_of(
        call(
            &gw,
            "POST",
            "/openai/batches?api-version=2024-10-21",
            &key,
            Some(create.clone()),
        )
        .await,
        200,
    )
    .await;
    let id = batch["id"].as_str().unwrap().to_string();
    let done = completed(
        &gw,
        &format!("/openai/batches/{id}?api-version=2024-10-21"),
        &key,
    )
    .await;
    let (prompt, completion) = {
        let out = done["output_file_id"].as_str().unwrap();
        let r = call(
            &gw,
            "GET",
            &format!("/openai/files/{out}/content?api-version=2024-10-21"),
            &key,
            None,
        )
        .await;
        usage_of(&r.text().await.unwrap())
    };
    // No batch price configured: half the standard one (as LiteLLM).
    let expected = (prompt as f64 * 0.001 + completion as f64 * 0.002) / 2.0;
    let rows = spend_rows(&gw, &id).await;
    assert_eq!(rows.len(), 1);
    assert!((rows[0]["spend"].as_f64().unwrap() - expected).abs() < 1e-9);
    assert_eq!(rows[0]["model_group"], "azure-b");

    // Cancel: the provider's answer, kept for the list.
    let other = json!({"input_file_id": file_id, "endpoint": "/chat/completions",
                       "completion_window": "24h", "metadata": {"mock_complete_ms": "60000"}});
    let second = json_of(
        call(&gw, "POST", "/v1/batches", &key, Some(other)).await,
        200,
    )
    .await;
    let second_id = second["id"].as_str().unwrap();
    let cancelled = json_of(
        call(
            &gw,
            "POST",
            &format!("/v1/batches/{second_id}/cancel"),
            &key,
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelling");
    let again = json_of(
        call(&gw, "GET", &format!("/v1/batches/{second_id}"), &key, None).await,
        200,
    )
    .await;
    assert_eq!(again["status"], "cancelled");
    let listed = json_of(
        call(&gw, "GET", "/v1/batches?limit=1", &key, None).await,
        200,
    )
    .await;
    assert_eq!(listed["data"][0]["id"], second_id);
    assert_eq!(listed["data"][0]["status"], "cancelled");
    assert_eq!(listed["has_more"], true);
}

/// Two replicas on one PostgreSQL database (and Redis): a finished batch retrieved at once, six
/// times over both, is charged once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_charge_a_batch_once() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let pg = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    let (url, _db) = store::testing::scratch_postgres(&pg)
        .await
        .expect("DATABASE_URL must point at a reachable PostgreSQL");
    let yaml = config(&mock).replace(
        "  proxy_batch_write_at: 1\n",
        &format!(
            "  proxy_batch_write_at: 1\n  database_url: \"{url}\"\nrouter_settings:\n  redis_url: \"{redis}\"\n"
        ),
    );
    let one = Gateway::start(&yaml).await;
    let two = Gateway::start(&yaml).await;
    let key = generate_key(&one, json!({"models": ["gpt-b"]})).await;
    let file = json_of(
        upload(&one, "/v1", "authorization", &key, &jsonl("gpt-b", 4)).await,
        200,
    )
    .await;
    let create = json!({"input_file_id": file["id"], "endpoint": "/v1/chat/completions",
                        "completion_window": "24h", "metadata": {"mock_complete_ms": "300"}});
    // Created on one replica, known to the other (the store is shared).
    let batch = json_of(
        call(&two, "POST", "/v1/batches", &key, Some(create)).await,
        200,
    )
    .await;
    let path = format!("/v1/batches/{}", batch["id"].as_str().unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let retrieves: Vec<_> = (0..6)
        .map(|i| {
            let url = if i % 2 == 0 {
                one.url(&path)
            } else {
                two.url(&path)
            };
            let key = key.clone();
            tokio::spawn(async move { client().get(url).bearer_auth(key).send().await.unwrap() })
        })
        .collect();
    let mut output = None;
    for r in retrieves {
        let b = json_of(r.await.unwrap(), 200).await;
        assert_eq!(b["status"], "completed");
        output = b["output_file_id"].as_str().map(str::to_string);
    }
    let r = call(
        &one,
        "GET",
        &format!("/v1/files/{}/content", output.unwrap()),
        &key,
        None,
    )
    .await;
    let (prompt, completion) = usage_of(&r.text().await.unwrap());
    let expected = prompt as f64 * 0.0004 + completion as f64 * 0.001;
    let id = batch["id"].as_str().unwrap();
    let rows = spend_rows(&one, id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!((rows[0]["spend"].as_f64().unwrap() - expected).abs() < 1e-9);
    // The key's spend, once, as either replica counts it (flushed and synced within seconds).
    let deadline = Instant::now() + Duration::from_secs(10);
    for gw in [&one, &two] {
        loop {
            let s = key_spend(gw, &key).await;
            if (s - expected).abs() < 1e-9 {
                break;
            }
            assert!(Instant::now() < deadline, "key spend {s} != {expected}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
