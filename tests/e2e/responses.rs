//! E2E: the OpenAI Responses API (`/v1/responses`) in front of an OpenAI deployment (passed
//! through), an Azure one (passed through to `/openai/responses`) and an Anthropic one
//! (bridged to chat completions): plain and streamed answers, spend logs, stored responses
//! (`GET`/`DELETE`, `input_items`, scoped to the creating key, `store: false`),
//! `previous_response_id` across both paths, the budget clamp, fallbacks and model access, and
//! storage surviving a restart (SQLite; PostgreSQL with `DATABASE_URL`) inside its bounds.

use std::time::Duration;

use bench::mock::{MockConfig, MockServer, RecordedRequest};
use serde_json::{json, Value};

use crate::budgets::generate_key;
use crate::support::*;

const TEXT: &str = "Hello from the mock provider.";

/// Groups `gpt-r` (OpenAI), `azure-r` (Azure, an API version too old for Responses) and
/// `claude-r` (Anthropic), all on `mock`; `tail` is appended.
fn config(mock: &MockServer, tail: &str) -> String {
    let base = format!("http://{}", mock.addr);
    let group = |name: &str, model: &str, api_base: &str, extra: &str| {
        format!("  - model_name: {name}\n    litellm_params:\n      model: {model}\n      api_base: {api_base}\n      api_key: sk-upstream\n      input_cost_per_token: 0.001\n      output_cost_per_token: 0.002\n{extra}")
    };
    format!(
        "model_list:\n{}{}{}general_settings:\n  master_key: {MASTER_KEY}\n  proxy_batch_write_at: 1\n{tail}",
        group("gpt-r", "openai/gpt-upstream", &mock.url(), ""),
        group(
            "azure-r",
            "azure/my-deployment",
            &base,
            "      api_version: 2024-10-21\n"
        ),
        group("claude-r", "anthropic/claude-upstream", &base, ""),
    )
}

pub(crate) async fn start(tail: &str) -> (Gateway, MockServer) {
    let mock = MockServer::start(MockConfig {
        chunks: 3,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&config(&mock, tail)).await;
    (gw, mock)
}

pub(crate) async fn create_with(
    gw: &Gateway,
    key: &str,
    path: &str,
    body: Value,
) -> reqwest::Response {
    client()
        .post(gw.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// `POST /v1/responses` with `key`; the JSON answer (asserting 200).
async fn create(gw: &Gateway, key: &str, body: Value) -> Value {
    let r = create_with(gw, key, "/v1/responses", body).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    r.json().await.unwrap()
}

async fn get(gw: &Gateway, key: &str, path: &str) -> reqwest::Response {
    client()
        .get(gw.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

/// The last request the mock got on a path starting with `prefix`.
pub(crate) fn last(mock: &MockServer, prefix: &str) -> RecordedRequest {
    mock.requests()
        .into_iter()
        .rev()
        .find(|r| r.path.starts_with(prefix))
        .unwrap_or_else(|| panic!("no request on {prefix}"))
}

pub(crate) fn output_text(v: &Value) -> String {
    v["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().unwrap().iter())
        .filter_map(|p| p["text"].as_str())
        .collect()
}

/// The events of an SSE body: (type, data).
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|ev| {
            let data = ev.lines().find_map(|l| l.strip_prefix("data: "))?;
            let v: Value = serde_json::from_str(data).unwrap();
            Some((v["type"].as_str().unwrap_or_default().to_string(), v))
        })
        .collect()
}

/// Polls `GET /v1/responses/{id}` with `key` until it answers `status` (the store writes off
/// the request path, so a read right after the answer may precede the write; the request path
/// itself reads what is queued).
async fn until_status(gw: &Gateway, key: &str, id: &str, status: u16) -> reqwest::Response {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(gw, key, &format!("/v1/responses/{id}")).await;
        if r.status() == status || std::time::Instant::now() > deadline {
            assert_eq!(r.status(), status, "GET {id}");
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_and_streamed_on_passed_through_and_bridged_groups() {
    let (gw, mock) = start("").await;
    let cases = [
        ("gpt-r", "/v1/responses", "authorization"),
        (
            "azure-r",
            "/openai/responses?api-version=2025-03-01-preview",
            "api-key",
        ),
        ("claude-r", "/v1/messages", "x-api-key"),
    ];
    let mut ids = Vec::new();
    for (group, upstream, auth) in cases {
        let body = json!({"model": group, "input": "hi", "instructions": "Be brief.",
                          "max_output_tokens": 50, "tags": ["e2e"]});
        let v = create(&gw, MASTER_KEY, body.clone()).await;
        assert_eq!(v["object"], "response", "{group}: {v}");
        assert_eq!(v["status"], "completed", "{group}");
        assert_eq!(output_text(&v), TEXT, "{group}");
        assert_eq!(v["instructions"], "Be brief.", "{group}");
        assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0, "{group}");
        assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0, "{group}");
        let id = v["id"].as_str().unwrap().to_string();
        let sent = last(&mock, upstream.split('?').next().unwrap());
        assert_eq!(sent.path, upstream, "{group}");
        assert!(
            sent.header(auth).unwrap().contains("sk-upstream"),
            "{group}"
        );
        let up: Value = sent.json().unwrap();
        assert!(
            up.get("tags").is_none(),
            "{group}: LiteLLM's tags stay home"
        );
        if group == "claude-r" {
            // Bridged: Tollgate's own id, the translation's max_tokens.
            assert!(id.starts_with("resp_") && id.len() == 53, "{id}");
            assert_eq!(up["max_tokens"], 50);
        } else {
            // Passed through: the provider's id, the client's body with the deployment's model.
            assert!(id.starts_with("resp_mock"), "{id}");
            assert_eq!(up["max_output_tokens"], 50);
            assert!(up.get("max_tokens").is_none());
            let want = if group == "azure-r" {
                "my-deployment"
            } else {
                "gpt-upstream"
            };
            assert_eq!(up["model"], want);
            assert_eq!(up["input"], "hi");
        }
        ids.push(id);

        // Streamed, also without the /v1 prefix.
        let mut streamed = body.clone();
        streamed["stream"] = json!(true);
        let r = create_with(&gw, MASTER_KEY, "/responses", streamed).await;
        assert_eq!(r.status(), 200, "{group}");
        assert!(header(&r, "content-type").starts_with("text/event-stream"));
        let evs = events(&r.text().await.unwrap());
        let types: Vec<&str> = evs.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(types[0], "response.created", "{group}: {types:?}");
        assert_eq!(types[1], "response.in_progress", "{group}: {types:?}");
        assert_eq!(
            types.last(),
            Some(&"response.completed"),
            "{group}: {types:?}"
        );
        let deltas: String = evs
            .iter()
            .filter(|(t, _)| t == "response.output_text.delta")
            .map(|(_, v)| v["delta"].as_str().unwrap())
            .collect();
        assert_eq!(deltas, TEXT, "{group}");
        let done = &evs.last().unwrap().1["response"];
        assert_eq!(output_text(done), TEXT, "{group}");
        assert!(done["usage"]["output_tokens"].as_u64().unwrap() > 0);
        ids.push(done["id"].as_str().unwrap().to_string());
    }
    // One spend row per call, `aresponses`, its request id the response's id.
    let rows = crate::agents_claude::spend_rows(&gw, 6).await;
    for row in &rows {
        assert_eq!(row["call_type"], "aresponses", "{row}");
        assert_eq!(row["status"], "success", "{row}");
        assert!(row["spend"].as_f64().unwrap() > 0.0, "{row}");
        assert!(
            ids.iter().any(|id| row["request_id"] == *id),
            "{row} not one of {ids:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_responses_belong_to_the_key_that_made_them() {
    let (gw, _mock) = start("").await;
    let a = generate_key(&gw, json!({})).await;
    let b = generate_key(&gw, json!({})).await;
    let v = create(&gw, &a, json!({"model": "claude-r", "input": "mine"})).await;
    let id = v["id"].as_str().unwrap();
    // Read right away (queued or written): the response as it was sent.
    let got: Value = get(&gw, &a, &format!("/v1/responses/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, v);
    // Another key: not found, in OpenAI's words; the master key sees it.
    let r = get(&gw, &b, &format!("/v1/responses/{id}")).await;
    let e = expect_error(r, 404).await;
    assert_eq!(e["message"], format!("Response with id '{id}' not found."));
    assert_eq!(
        get(&gw, MASTER_KEY, &format!("/responses/{id}"))
            .await
            .status(),
        200
    );
    let r = create_with(
        &gw,
        &b,
        "/v1/responses",
        json!({"model": "gpt-r", "input": "x", "previous_response_id": id}),
    )
    .await;
    let e = expect_error(r, 404).await;
    assert_eq!(
        e["message"],
        format!("Previous response with id '{id}' not found.")
    );
    assert_eq!(e["param"], "previous_response_id");
    let del = |key: &str| {
        client()
            .delete(gw.url(&format!("/v1/responses/{id}")))
            .bearer_auth(key.to_string())
            .send()
    };
    assert_eq!(del(&b).await.unwrap().status(), 404);
    let r: Value = del(&a).await.unwrap().json().await.unwrap();
    assert_eq!(
        r,
        json!({"id": id, "object": "response.deleted", "deleted": true})
    );
    until_status(&gw, &a, id, 404).await;
    // `store: false`: answered, never stored.
    let v = create(
        &gw,
        &a,
        json!({"model": "gpt-r", "input": "x", "store": false}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = get(
        &gw,
        &a,
        &format!("/v1/responses/{}", v["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previous_response_id_carries_the_conversation_across_both_paths() {
    let (gw, mock) = start("").await;
    let r1 = create(
        &gw,
        MASTER_KEY,
        json!({"model": "claude-r", "input": "first question"}),
    )
    .await;
    // Passed through: the stored conversation goes in `input`, `previous_response_id` does not.
    let r2 = create(
        &gw,
        MASTER_KEY,
        json!({"model": "gpt-r", "input": "second question", "previous_response_id": r1["id"]}),
    )
    .await;
    let up: Value = last(&mock, "/v1/responses").json().unwrap();
    assert!(up.get("previous_response_id").is_none(), "{up}");
    let input = up["input"].as_array().unwrap();
    assert_eq!(input.len(), 3, "{up}");
    assert_eq!(input[0]["content"][0]["text"], "first question");
    assert_eq!(input[1]["role"], "assistant");
    assert_eq!(input[1]["content"][0]["text"], TEXT);
    assert_eq!(input[2]["content"][0]["text"], "second question");
    // (The provider's own response echoes no `previous_response_id`: it got the conversation.)
    // Bridged: the whole chain becomes chat messages.
    let r3 = create(
        &gw,
        MASTER_KEY,
        json!({"model": "claude-r", "input": "third question", "previous_response_id": r2["id"]}),
    )
    .await;
    let up = String::from_utf8_lossy(&last(&mock, "/v1/messages").body).into_owned();
    for text in ["first question", "second question", "third question", TEXT] {
        assert!(up.contains(text), "{text} not in {up}");
    }
    assert_eq!(r3["previous_response_id"], r2["id"]);
    // The input items of the last: the whole conversation, in OpenAI's list shape and paging.
    let id = r3["id"].as_str().unwrap();
    let path = format!("/v1/responses/{id}/input_items");
    let all: Value = get(&gw, MASTER_KEY, &format!("{path}?order=asc"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["object"], "list");
    let items = all["data"].as_array().unwrap();
    let roles: Vec<&str> = items.iter().map(|i| i["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["user", "assistant", "user", "assistant", "user"],
        "{all}"
    );
    assert_eq!(all["has_more"], false);
    assert_eq!(all["first_id"], items[0]["id"]);
    let page: Value = get(&gw, MASTER_KEY, &format!("{path}?limit=2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"][0]["id"], items[4]["id"], "desc by default");
    assert_eq!(page["has_more"], true);
    let next: Value = get(
        &gw,
        MASTER_KEY,
        &format!("{path}?limit=2&after={}", page["last_id"].as_str().unwrap()),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(next["data"][0]["id"], items[2]["id"]);
    expect_error(get(&gw, MASTER_KEY, &format!("{path}?limit=0")).await, 400).await;
    // An unknown id: 404 before anything is called.
    let before = mock.request_count();
    let r = create_with(
        &gw,
        MASTER_KEY,
        "/v1/responses",
        json!({"model": "gpt-r", "input": "x", "previous_response_id": "resp_nope"}),
    )
    .await;
    expect_error(r, 404).await;
    assert_eq!(mock.request_count(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_clamp_lowers_max_output_tokens_on_both_paths() {
    let (gw, mock) = start("").await;
    for (group, path, field) in [
        ("gpt-r", "/v1/responses", "max_output_tokens"),
        ("claude-r", "/v1/messages", "max_tokens"),
    ] {
        // A key per path: the previous request's reservation is settled after its response
        // (the account stage), which a loaded machine can run after the next request arrives.
        let key = generate_key(&gw, json!({"max_budget": 1.0})).await;
        let r = create_with(
            &gw,
            &key,
            "/v1/responses",
            json!({"model": group, "input": "hi", "max_output_tokens": 100000}),
        )
        .await;
        assert_eq!(r.status(), 200, "{group}");
        let clamped: u64 = header(&r, "x-tollgate-budget-clamped-max-tokens")
            .parse()
            .unwrap();
        assert!((300..500).contains(&clamped), "{group}: {clamped}");
        let up: Value = last(&mock, path).json().unwrap();
        assert_eq!(up[field], clamped, "{group}: {up}");
        if group == "gpt-r" {
            assert!(up.get("max_tokens").is_none(), "{up}");
        }
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["max_output_tokens"].as_u64().unwrap_or(clamped), clamped);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallbacks_and_model_access_apply_as_for_chat() {
    let (gw, mock) = start("router_settings:\n  fallbacks: [{gpt-r: [claude-r]}]\n").await;
    // The OpenAI deployment fails: the Anthropic group answers, bridged.
    mock.fail_next(1, 500);
    let r = create_with(
        &gw,
        MASTER_KEY,
        "/v1/responses",
        json!({"model": "gpt-r", "input": "hi", "stream": true}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-attempted-fallbacks"), "1");
    let evs = events(&r.text().await.unwrap());
    let done = &evs.last().unwrap().1;
    assert_eq!(done["type"], "response.completed");
    assert_eq!(output_text(&done["response"]), TEXT);
    assert_eq!(last(&mock, "/v1/").path, "/v1/messages");
    // A key that may not call the group.
    let key = generate_key(&gw, json!({"models": ["claude-r"]})).await;
    let r = create_with(
        &gw,
        &key,
        "/v1/responses",
        json!({"model": "gpt-r", "input": "hi"}),
    )
    .await;
    expect_error(r, 401).await;
    // A built-in tool on a bridged group: refused by name.
    let r = create_with(
        &gw,
        MASTER_KEY,
        "/v1/responses",
        json!({"model": "claude-r", "input": "hi", "tools": [{"type": "web_search"}]}),
    )
    .await;
    let e = expect_error(r, 400).await;
    assert!(e["message"].as_str().unwrap().contains("web_search"), "{e}");
}

/// Stored responses are in the database: a restart keeps them (SQLite by default, PostgreSQL
/// when `DATABASE_URL` is set), and the table stays inside `responses_store_max_count`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_responses_survive_a_restart_within_their_bounds() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = scratch_dir();
    let sqlite = format!(
        "tollgate_settings:\n  responses_store_max_count: 2\n  database_path: {}\n",
        dir.join("t.db").display()
    );
    let mut targets = vec![("sqlite", sqlite, None)];
    let mut scratch = None;
    if let Ok(base) = std::env::var("DATABASE_URL") {
        let (url, db) = store::testing::scratch_postgres(&base)
            .await
            .expect("DATABASE_URL must point at a reachable PostgreSQL");
        let tail = "tollgate_settings:\n  responses_store_max_count: 2\n".to_string();
        targets.push(("postgres", tail, Some(url)));
        scratch = Some(db);
    }
    for (label, tail, url) in targets {
        let env: Vec<(&str, &str)> = url.iter().map(|u| ("DATABASE_URL", u.as_str())).collect();
        let yaml = config(&mock, &tail);
        let mut gw = Gateway::start_with(&yaml, &env).await;
        let mut ids = Vec::new();
        for i in 0..3 {
            let v = create(
                &gw,
                MASTER_KEY,
                json!({"model": "gpt-r", "input": format!("turn {i}")}),
            )
            .await;
            ids.push(v["id"].as_str().unwrap().to_string());
        }
        // Three written, the oldest pruned: two kept.
        until_status(&gw, MASTER_KEY, &ids[0], 404).await;
        gw.signal(libc::SIGTERM);
        assert!(
            gw.wait_exit(Duration::from_secs(20)).await.is_some(),
            "{label}"
        );
        let gw = Gateway::start_with(&yaml, &env).await;
        for id in &ids[1..] {
            let r = get(&gw, MASTER_KEY, &format!("/v1/responses/{id}")).await;
            assert_eq!(r.status(), 200, "{label}: {id} after a restart");
        }
        let v = create(
            &gw,
            MASTER_KEY,
            json!({"model": "claude-r", "input": "after", "previous_response_id": ids[2]}),
        )
        .await;
        assert_eq!(v["previous_response_id"], ids[2].as_str(), "{label}");
    }
    if let Some(db) = scratch {
        db.drop_db().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_responses_expire() {
    let (gw, _mock) = start("tollgate_settings:\n  responses_store_ttl_seconds: 3\n").await;
    let v = create(&gw, MASTER_KEY, json!({"model": "gpt-r", "input": "x"})).await;
    let id = v["id"].as_str().unwrap();
    assert_eq!(
        get(&gw, MASTER_KEY, &format!("/v1/responses/{id}"))
            .await
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(3000)).await;
    until_status(&gw, MASTER_KEY, id, 404).await;
}
