//! E2E: the organization, end user, budget and spend-report management API.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

/// Mock deployments (no provider is called) with prices, the e2e master key, quick spend
/// flushes and a proxy-wide budget.
fn config() -> String {
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

async fn call(gw: &Gateway, method: Method, path: &str, body: Option<&Value>) -> reqwest::Response {
    let mut rb = client()
        .request(method, gw.url(path))
        .bearer_auth(MASTER_KEY);
    if let Some(b) = body {
        rb = rb.json(b);
    }
    rb.send().await.expect("request failed")
}

async fn get(gw: &Gateway, path: &str) -> reqwest::Response {
    call(gw, Method::GET, path, None).await
}

/// Asserts a 200 and returns the JSON body.
async fn ok(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts an error with `param` naming the field.
async fn bad(resp: reqwest::Response, status: u16, param: &str) -> Value {
    let e = expect_error(resp, status).await;
    assert_eq!(e["param"], param, "{e}");
    e
}

fn chat_as(user: &str) -> Value {
    json!({
        "model": "test-model",
        "user": user,
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hello there, how are you today?"}],
    })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 + 1e-6 * a.abs().max(b.abs())
}

fn ids(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v[field].as_str().unwrap_or_default().to_string())
        .collect()
}

fn utc_day(offset_days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(offset_days))
        .format("%Y-%m-%d")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizations_crud_and_validation() {
    let gw = Gateway::start(&config()).await;

    // Validation: 400 naming the field, and nothing written.
    bad(
        post(&gw, "/organization/new", &json!({"models": []})).await,
        400,
        "organization_alias",
    )
    .await;
    for (field, value) in [
        ("budget_duration", json!("5y")),
        ("rpm_limit", json!(-1)),
        ("tpm_limit", json!(1.5)),
        ("max_budget", json!("lots")),
        ("budget_id", json!("no-such-budget")),
        ("models", json!("test-model")),
        ("metadata", json!("x")),
        ("blocked", json!("yes")),
    ] {
        let mut body = json!({"organization_alias": "acme"});
        body[field] = value;
        bad(post(&gw, "/organization/new", &body).await, 400, field).await;
    }
    assert_eq!(ok(get(&gw, "/organization/list").await).await, json!([]));

    let org = ok(post(
        &gw,
        "/organization/new",
        &json!({
            "organization_alias": "acme",
            "models": ["test-model"],
            "max_budget": 10,
            "budget_duration": "30d",
            "rpm_limit": 100,
            "metadata": {"cost_center": "42"},
        }),
    )
    .await)
    .await;
    let id = org["organization_id"].as_str().unwrap().to_string();
    assert!(!id.is_empty());
    assert_eq!(org["organization_alias"], "acme");
    assert_eq!(org["models"], json!(["test-model"]));
    assert_eq!(org["spend"], 0.0);
    assert_eq!(org["metadata"]["cost_center"], "42");
    assert_eq!(org["litellm_budget_table"]["max_budget"], 10.0);
    assert_eq!(org["litellm_budget_table"]["budget_duration"], "30d");
    assert_eq!(org["litellm_budget_table"]["rpm_limit"], 100);
    assert!(
        org["litellm_budget_table"]["budget_reset_at"].is_string(),
        "{org}"
    );

    // A chosen id, taken only once.
    let fixed = json!({"organization_alias": "beta", "organization_id": "org-beta"});
    let beta = ok(post(&gw, "/organization/new", &fixed).await).await;
    assert_eq!(beta["organization_id"], "org-beta");
    assert_eq!(beta["litellm_budget_table"], Value::Null);
    bad(
        post(&gw, "/organization/new", &fixed).await,
        400,
        "organization_id",
    )
    .await;

    // A team of the organization shows up in its info.
    ok(post(
        &gw,
        "/team/new",
        &json!({"team_id": "team-acme", "team_alias": "acme-team", "organization_id": id}),
    )
    .await)
    .await;
    let info = ok(get(&gw, &format!("/organization/info?organization_id={id}")).await).await;
    assert_eq!(info["organization_id"], id.as_str());
    assert_eq!(ids(&info["teams"], "team_id"), ["team-acme"]);
    let info_post =
        ok(post(&gw, "/organization/info", &json!({"organization_id": id})).await).await;
    assert_eq!(info_post["organization_alias"], "acme");
    expect_error(
        get(&gw, "/organization/info?organization_id=nope").await,
        404,
    )
    .await;
    bad(get(&gw, "/organization/info").await, 400, "organization_id").await;

    // Update: validated first, nothing changed on a bad field.
    let upd = json!({"organization_id": id, "organization_alias": "acme-2", "budget_duration": "forever"});
    bad(
        call(&gw, Method::PATCH, "/organization/update", Some(&upd)).await,
        400,
        "budget_duration",
    )
    .await;
    let info = ok(get(&gw, &format!("/organization/info?organization_id={id}")).await).await;
    assert_eq!(info["organization_alias"], "acme");
    let upd = json!({"organization_id": id, "organization_alias": "acme-2", "max_budget": 20, "models": []});
    let updated = ok(call(&gw, Method::PATCH, "/organization/update", Some(&upd)).await).await;
    assert_eq!(updated["organization_alias"], "acme-2");
    assert_eq!(updated["models"], json!([]));
    assert_eq!(updated["litellm_budget_table"]["max_budget"], 20.0);
    assert_eq!(
        updated["litellm_budget_table"]["rpm_limit"], 100,
        "unchanged fields stay"
    );
    let missing = json!({"organization_id": "nope", "organization_alias": "x"});
    expect_error(
        call(&gw, Method::PATCH, "/organization/update", Some(&missing)).await,
        404,
    )
    .await;

    // List, and filtered by alias.
    let all = ok(get(&gw, "/organization/list").await).await;
    let mut listed = ids(&all, "organization_id");
    listed.sort();
    let mut want = vec![id.clone(), "org-beta".to_string()];
    want.sort();
    assert_eq!(listed, want);
    let acme = ok(get(&gw, "/organization/list?org_alias=ACME").await).await;
    assert_eq!(ids(&acme, "organization_id"), [id.as_str()]);

    // Delete: all or nothing.
    bad(
        call(
            &gw,
            Method::DELETE,
            "/organization/delete",
            Some(&json!({})),
        )
        .await,
        400,
        "organization_ids",
    )
    .await;
    let both = json!({"organization_ids": [id, "nope"]});
    expect_error(
        call(&gw, Method::DELETE, "/organization/delete", Some(&both)).await,
        404,
    )
    .await;
    assert_eq!(
        ok(get(&gw, "/organization/list").await)
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let gone = ok(call(
        &gw,
        Method::DELETE,
        "/organization/delete",
        Some(&json!({"organization_ids": [id]})),
    )
    .await)
    .await;
    assert_eq!(ids(&gone, "organization_id"), [id.as_str()]);
    expect_error(
        get(&gw, &format!("/organization/info?organization_id={id}")).await,
        404,
    )
    .await;
    let left = ok(post(
        &gw,
        "/organization/delete",
        &json!({"organization_ids": ["org-beta"]}),
    )
    .await)
    .await;
    assert_eq!(ids(&left, "organization_id"), ["org-beta"]);
    assert_eq!(ok(get(&gw, "/organization/list").await).await, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_crud_and_validation() {
    let gw = Gateway::start(&config()).await;

    bad(
        post(&gw, "/customer/new", &json!({"alias": "x"})).await,
        400,
        "user_id",
    )
    .await;
    for (field, value) in [
        ("allowed_model_region", json!("mars")),
        ("budget_id", json!("no-such-budget")),
        ("max_budget", json!(-5)),
        ("budget_duration", json!("1 day")),
        ("rpm_limit", json!("many")),
        ("blocked", json!(1)),
        ("metadata", json!([1])),
    ] {
        let mut body = json!({"user_id": "cust-a"});
        body[field] = value;
        bad(post(&gw, "/customer/new", &body).await, 400, field).await;
    }
    expect_error(get(&gw, "/customer/info?end_user_id=cust-a").await, 404).await;

    let created = ok(post(
        &gw,
        "/customer/new",
        &json!({
            "user_id": "cust-a",
            "alias": "Customer A",
            "max_budget": 5,
            "budget_duration": "1d",
            "tpm_limit": 1000,
            "allowed_model_region": "eu",
            "default_model": "test-model",
            "metadata": {"tier": "gold"},
        }),
    )
    .await)
    .await;
    assert_eq!(created["user_id"], "cust-a");
    assert_eq!(created["alias"], "Customer A");
    assert_eq!(created["blocked"], false);
    assert_eq!(created["spend"], 0.0);
    assert_eq!(created["allowed_model_region"], "eu");
    assert_eq!(created["default_model"], "test-model");
    let table = &created["litellm_budget_table"];
    assert_eq!(table["max_budget"], 5.0);
    assert_eq!(table["budget_duration"], "1d");
    assert_eq!(table["tpm_limit"], 1000);
    assert_eq!(table["rpm_limit"], Value::Null);
    bad(
        post(&gw, "/customer/new", &json!({"user_id": "cust-a"})).await,
        400,
        "user_id",
    )
    .await;

    let info = ok(get(&gw, "/customer/info?end_user_id=cust-a").await).await;
    assert_eq!(info, created);
    let old_name = ok(get(&gw, "/end_user/info?end_user_id=cust-a").await).await;
    assert_eq!(old_name["alias"], "Customer A");
    bad(get(&gw, "/customer/info").await, 400, "end_user_id").await;

    // Update: validated first; unknown end users are 404.
    bad(
        post(
            &gw,
            "/customer/update",
            &json!({"user_id": "cust-a", "alias": "B", "tpm_limit": -1}),
        )
        .await,
        400,
        "tpm_limit",
    )
    .await;
    assert_eq!(
        ok(get(&gw, "/customer/info?end_user_id=cust-a").await).await["alias"],
        "Customer A"
    );
    let upd = ok(post(
        &gw,
        "/customer/update",
        &json!({"user_id": "cust-a", "alias": "Customer A2", "max_budget": 7}),
    )
    .await)
    .await;
    assert_eq!(upd["alias"], "Customer A2");
    assert_eq!(upd["litellm_budget_table"]["max_budget"], 7.0);
    assert_eq!(upd["litellm_budget_table"]["tpm_limit"], 1000);
    assert_eq!(upd["metadata"]["tier"], "gold");
    expect_error(
        post(
            &gw,
            "/customer/update",
            &json!({"user_id": "ghost", "alias": "x"}),
        )
        .await,
        404,
    )
    .await;
    bad(
        post(&gw, "/customer/update", &json!({"alias": "x"})).await,
        400,
        "user_id",
    )
    .await;

    ok(post(&gw, "/end_user/new", &json!({"user_id": "cust-b"})).await).await;
    let list = ok(get(&gw, "/customer/list").await).await;
    let mut listed = ids(&list, "user_id");
    listed.sort();
    assert_eq!(listed, ["cust-a", "cust-b"]);

    // Delete: all or nothing.
    bad(
        post(&gw, "/customer/delete", &json!({})).await,
        400,
        "user_ids",
    )
    .await;
    expect_error(
        post(
            &gw,
            "/customer/delete",
            &json!({"user_ids": ["cust-a", "ghost"]}),
        )
        .await,
        404,
    )
    .await;
    ok(get(&gw, "/customer/info?end_user_id=cust-a").await).await;
    let del = ok(post(
        &gw,
        "/customer/delete",
        &json!({"user_ids": ["cust-a", "cust-b"]}),
    )
    .await)
    .await;
    assert_eq!(del["deleted_customers"], 2);
    assert!(del["message"].as_str().unwrap().contains("cust-a"), "{del}");
    expect_error(get(&gw, "/customer/info?end_user_id=cust-a").await, 404).await;
    assert_eq!(ok(get(&gw, "/customer/list").await).await, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_and_over_budget_customers_are_refused() {
    let gw = Gateway::start(&config()).await;

    ok(post(
        &gw,
        "/customer/new",
        &json!({"user_id": "broke", "max_budget": 0}),
    )
    .await)
    .await;
    let e = expect_error(
        post(&gw, "/v1/chat/completions", &chat_as("broke")).await,
        400,
    )
    .await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("Budget has been exceeded"),
        "{e}"
    );

    ok(post(
        &gw,
        "/customer/new",
        &json!({"user_id": "banned", "blocked": true}),
    )
    .await)
    .await;
    expect_error(
        post(&gw, "/v1/chat/completions", &chat_as("banned")).await,
        403,
    )
    .await;
    // The end user header names the end user too.
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .header("x-litellm-end-user-id", "banned")
        .json(&json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    expect_error(r, 403).await;

    let unblocked =
        ok(post(&gw, "/customer/unblock", &json!({"user_ids": ["banned"]})).await).await;
    assert_eq!(
        unblocked["unblocked_users"][0]["blocked"], false,
        "{unblocked}"
    );
    ok(post(&gw, "/v1/chat/completions", &chat_as("banned")).await).await;
    expect_error(
        post(
            &gw,
            "/customer/unblock",
            &json!({"user_ids": ["never-seen"]}),
        )
        .await,
        404,
    )
    .await;
    bad(
        post(&gw, "/customer/block", &json!({"user_ids": "banned"})).await,
        400,
        "user_ids",
    )
    .await;

    // Blocking an end user nobody created yet works too (LiteLLM upserts it).
    let blocked = ok(post(&gw, "/customer/block", &json!({"user_ids": ["newcomer"]})).await).await;
    assert_eq!(blocked["blocked_users"][0]["user_id"], "newcomer");
    assert_eq!(blocked["blocked_users"][0]["blocked"], true);
    expect_error(
        post(&gw, "/v1/chat/completions", &chat_as("newcomer")).await,
        403,
    )
    .await;

    // Raising the budget lets the end user back in.
    ok(post(
        &gw,
        "/customer/update",
        &json!({"user_id": "broke", "max_budget": 10}),
    )
    .await)
    .await;
    ok(post(&gw, "/v1/chat/completions", &chat_as("broke")).await).await;

    // End users seen only in requests are listed too.
    ok(post(&gw, "/v1/chat/completions", &chat_as("walk-in")).await).await;
    let list = ok(get(&gw, "/customer/list").await).await;
    let listed = ids(&list, "user_id");
    for u in ["broke", "banned", "newcomer", "walk-in"] {
        assert!(listed.iter().any(|l| l == u), "{u} missing from {list}");
    }
    let walk_in = ok(get(&gw, "/customer/info?end_user_id=walk-in").await).await;
    assert_eq!(walk_in["blocked"], false);
    assert_eq!(walk_in["litellm_budget_table"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_crud_and_a_customers_budget_id_applies_its_limits() {
    let gw = Gateway::start(&config()).await;

    for (field, value) in [
        ("budget_duration", json!("5 days")),
        ("max_budget", json!(-1)),
        ("soft_budget", json!("cheap")),
        ("rpm_limit", json!("x")),
        ("max_parallel_requests", json!(0.5)),
        ("model_max_budget", json!({"test-model": "lots"})),
        (
            "model_max_budget",
            json!({"test-model": {"budget_limit": 1, "time_period": "1y"}}),
        ),
    ] {
        let mut body = json!({"budget_id": "broken"});
        body[field] = value;
        bad(post(&gw, "/budget/new", &body).await, 400, field).await;
    }
    assert_eq!(ok(get(&gw, "/budget/list").await).await, json!([]));

    let free = ok(post(
        &gw,
        "/budget/new",
        &json!({"budget_id": "free-tier", "max_budget": 0, "budget_duration": "1mo"}),
    )
    .await)
    .await;
    assert_eq!(free["budget_id"], "free-tier");
    assert_eq!(free["max_budget"], 0.0);
    assert_eq!(free["budget_duration"], "1mo");
    assert!(free["budget_reset_at"].is_string(), "{free}");
    bad(
        post(&gw, "/budget/new", &json!({"budget_id": "free-tier"})).await,
        400,
        "budget_id",
    )
    .await;
    let one_rpm = ok(post(&gw, "/budget/new", &json!({"rpm_limit": 5, "model_max_budget": {"test-model": {"budget_limit": 1, "time_period": "1d"}}})).await)
        .await;
    let one_rpm_id = one_rpm["budget_id"].as_str().unwrap().to_string();
    assert!(!one_rpm_id.is_empty());

    let info = ok(post(
        &gw,
        "/budget/info",
        &json!({"budgets": ["free-tier", "missing"]}),
    )
    .await)
    .await;
    assert_eq!(ids(&info, "budget_id"), ["free-tier"]);
    bad(
        post(&gw, "/budget/info", &json!({"budgets": []})).await,
        400,
        "budgets",
    )
    .await;
    let mut listed = ids(&ok(get(&gw, "/budget/list").await).await, "budget_id");
    listed.sort();
    let mut want = vec!["free-tier".to_string(), one_rpm_id.clone()];
    want.sort();
    assert_eq!(listed, want);

    bad(
        post(
            &gw,
            "/budget/update",
            &json!({"budget_id": one_rpm_id, "rpm_limit": -3}),
        )
        .await,
        400,
        "rpm_limit",
    )
    .await;
    let upd = ok(post(
        &gw,
        "/budget/update",
        &json!({"budget_id": one_rpm_id, "rpm_limit": 1}),
    )
    .await)
    .await;
    assert_eq!(upd["rpm_limit"], 1);
    assert_eq!(upd["model_max_budget"]["test-model"]["budget_limit"], 1);
    expect_error(
        post(
            &gw,
            "/budget/update",
            &json!({"budget_id": "ghost", "rpm_limit": 1}),
        )
        .await,
        404,
    )
    .await;

    // A customer on the free tier (max_budget 0) is refused; its table shows the budget.
    let freebie = ok(post(
        &gw,
        "/customer/new",
        &json!({"user_id": "freebie", "budget_id": "free-tier"}),
    )
    .await)
    .await;
    assert_eq!(freebie["budget_id"], "free-tier");
    assert_eq!(freebie["litellm_budget_table"]["max_budget"], 0.0);
    assert_eq!(freebie["litellm_budget_table"]["budget_duration"], "1mo");
    let e = expect_error(
        post(&gw, "/v1/chat/completions", &chat_as("freebie")).await,
        400,
    )
    .await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("Budget has been exceeded"),
        "{e}"
    );

    // Its own max_budget wins over the budget's.
    ok(post(
        &gw,
        "/customer/update",
        &json!({"user_id": "freebie", "max_budget": 10}),
    )
    .await)
    .await;
    ok(post(&gw, "/v1/chat/completions", &chat_as("freebie")).await).await;

    // A budget's rpm_limit applies to each end user attached to it.
    away_from_minute_boundary().await;
    ok(post(
        &gw,
        "/customer/new",
        &json!({"user_id": "limited", "budget_id": one_rpm_id}),
    )
    .await)
    .await;
    ok(post(&gw, "/v1/chat/completions", &chat_as("limited")).await).await;
    expect_error(
        post(&gw, "/v1/chat/completions", &chat_as("limited")).await,
        429,
    )
    .await;

    // A budget in use cannot be deleted.
    bad(
        post(&gw, "/budget/delete", &json!({"id": "free-tier"})).await,
        400,
        "id",
    )
    .await;
    ok(post(&gw, "/customer/delete", &json!({"user_ids": ["freebie"]})).await).await;
    let deleted = ok(post(&gw, "/budget/delete", &json!({"id": "free-tier"})).await).await;
    assert_eq!(deleted["budget_id"], "free-tier");
    assert_eq!(
        ok(post(&gw, "/budget/info", &json!({"budgets": ["free-tier"]})).await).await,
        json!([])
    );
    expect_error(
        post(&gw, "/budget/delete", &json!({"id": "free-tier"})).await,
        404,
    )
    .await;
    bad(post(&gw, "/budget/delete", &json!({})).await, 400, "id").await;
}

/// Polls `/spend/logs` until it holds `n` rows (spend is settled after the response is sent).
async fn logs_until(gw: &Gateway, query: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = ok(get(gw, &format!("/spend/logs{query}")).await).await;
        let rows = v
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {v}"))
            .clone();
        if rows.len() >= n || Instant::now() > deadline {
            assert_eq!(rows.len(), n, "/spend/logs{query}: {v}");
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn spend_of(rows: &[Value]) -> f64 {
    rows.iter().map(|r| r["spend"].as_f64().unwrap()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_logs_global_spend_and_reports() {
    let gw = Gateway::start(&config()).await;

    for user in ["alice", "alice", "bob"] {
        ok(post(&gw, "/v1/chat/completions", &chat_as(user)).await).await;
    }
    let rows = logs_until(&gw, "", 3).await;
    for r in &rows {
        let (p, c) = (
            r["prompt_tokens"].as_i64().unwrap(),
            r["completion_tokens"].as_i64().unwrap(),
        );
        assert!(p > 0 && c > 0, "{r}");
        assert_eq!(r["total_tokens"].as_i64().unwrap(), p + c, "{r}");
        let spend = r["spend"].as_f64().unwrap();
        assert!(spend > 0.0, "{r}");
        assert!(
            close(spend, p as f64 * 0.001 + c as f64 * 0.002),
            "cost from the deployment's prices: {r}"
        );
        assert!(
            r["request_id"].as_str().is_some_and(|s| !s.is_empty()),
            "{r}"
        );
        assert!(
            r["startTime"]
                .as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
            "{r}"
        );
        assert!(r["endTime"].as_str().is_some(), "{r}");
        assert_eq!(r["model_group"], "test-model", "{r}");
        assert!(
            ["alice", "bob"].contains(&r["end_user"].as_str().unwrap()),
            "{r}"
        );
        for field in [
            "call_type",
            "api_key",
            "model",
            "model_id",
            "custom_llm_provider",
            "api_base",
            "user",
            "metadata",
            "cache_hit",
            "request_tags",
            "team_id",
            "organization_id",
            "status",
        ] {
            assert!(r.get(field).is_some(), "{field} missing in {r}");
        }
    }
    let total = spend_of(&rows);

    // Filters.
    let alice = logs_until(&gw, "?end_user=alice", 2).await;
    let alice_spend = spend_of(&alice);
    let bob_spend = spend_of(&logs_until(&gw, "?end_user=bob", 1).await);
    assert!(close(alice_spend + bob_spend, total));
    let id = rows[0]["request_id"].as_str().unwrap();
    let one = logs_until(&gw, &format!("?request_id={id}"), 1).await;
    assert_eq!(one[0]["request_id"], id);
    logs_until(&gw, "?model_group=other-model", 0).await;
    let page = logs_until(&gw, "?page=2&page_size=2", 1).await;
    assert_eq!(page.len(), 1);

    // Date range: summarized per day by default, rows with summarize=false.
    let (from, to) = (utc_day(-1), utc_day(0));
    let days = ok(get(&gw, &format!("/spend/logs?start_date={from}&end_date={to}")).await).await;
    let days = days.as_array().unwrap();
    let summed: f64 = days.iter().map(|d| d["spend"].as_f64().unwrap()).sum();
    assert!(close(summed, total), "{days:?}");
    let today = days
        .iter()
        .find(|d| d["startTime"] == to.as_str())
        .unwrap_or_else(|| panic!("no {to} in {days:?}"));
    assert!(
        today["models"].as_object().is_some_and(|m| !m.is_empty()),
        "{today}"
    );
    assert!(
        today["users"].is_object() && today["api_keys"].is_object(),
        "{today}"
    );
    logs_until(
        &gw,
        &format!("?start_date={from}&end_date={to}&summarize=false"),
        3,
    )
    .await;
    bad(
        get(&gw, "/spend/logs?start_date=yesterday").await,
        400,
        "start_date",
    )
    .await;
    bad(
        get(&gw, &format!("/spend/logs?start_date={to}&end_date={from}")).await,
        400,
        "end_date",
    )
    .await;

    // The proxy's spend is the sum of the rows; max_budget from litellm_settings.
    let global = ok(get(&gw, "/global/spend").await).await;
    assert!(
        close(global["spend"].as_f64().unwrap(), total),
        "{global} vs {total}"
    );
    assert_eq!(global["max_budget"], 100.0);

    // End users carry their spend.
    let info = ok(get(&gw, "/customer/info?end_user_id=alice").await).await;
    assert!(
        close(info["spend"].as_f64().unwrap(), alice_spend),
        "{info} vs {alice_spend}"
    );

    // Report by customer: per day, per end user, with a model breakdown.
    let report = ok(get(
        &gw,
        &format!("/global/spend/report?start_date={from}&end_date={to}&group_by=customer"),
    )
    .await)
    .await;
    let mut by_customer = std::collections::HashMap::new();
    for day in report.as_array().unwrap() {
        assert!(day["group_by_day"].is_string(), "{day}");
        for c in day["customers"].as_array().unwrap() {
            let meta = c["metadata"].as_array().unwrap();
            assert!(
                !meta.is_empty()
                    && meta
                        .iter()
                        .all(|m| m["model"].is_string() && m["total_tokens"].as_i64() > Some(0)),
                "{c}"
            );
            *by_customer
                .entry(c["customer"].as_str().unwrap().to_string())
                .or_insert(0.0) += c["total_spend"].as_f64().unwrap();
        }
    }
    assert!(close(by_customer["alice"], alice_spend), "{report}");
    assert!(close(by_customer["bob"], bob_spend), "{report}");

    let teams = ok(get(
        &gw,
        &format!("/global/spend/report?start_date={from}&end_date={to}"),
    )
    .await)
    .await;
    let unassigned: f64 = teams
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["teams"].as_array().unwrap().clone())
        .filter(|t| t["team_name"] == "Unassigned Team")
        .map(|t| t["total_spend"].as_f64().unwrap())
        .sum();
    assert!(close(unassigned, total), "{teams}");

    let keys = ok(get(
        &gw,
        &format!("/global/spend/report?start_date={from}&end_date={to}&group_by=api_key"),
    )
    .await)
    .await;
    let cost: f64 = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["total_cost"].as_f64().unwrap())
        .sum();
    assert!(close(cost, total), "{keys}");
    assert!(
        keys[0]["model_details"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "{keys}"
    );

    bad(
        get(&gw, &format!("/global/spend/report?end_date={to}")).await,
        400,
        "start_date",
    )
    .await;
    bad(
        get(
            &gw,
            &format!("/global/spend/report?start_date={from}&end_date={to}&group_by=model"),
        )
        .await,
        400,
        "group_by",
    )
    .await;
}
