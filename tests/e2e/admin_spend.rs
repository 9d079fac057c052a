//! E2E: reusable budgets (`/budget/*`) applied to end users, and the spend reports
//! (`/spend/logs`, `/global/spend`, `/global/spend/report`).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::admin_support::*;
use crate::support::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 + 1e-6 * a.abs().max(b.abs())
}

fn utc_day(offset_days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(offset_days))
        .format("%Y-%m-%d")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_crud_and_a_customers_budget_id_applies_its_limits() {
    let gw = start_orgs().await;

    for (field, value) in [
        ("budget_duration", json!("5 days")),
        ("max_budget", json!(-1)),
        ("soft_budget", json!("cheap")),
        ("rpm_limit", json!("x")),
        ("max_parallel_requests", json!(0.5)),
        // Only keys enforce per-model budgets: a budget refuses them rather than ignore them.
        (
            "model_max_budget",
            json!({"test-model": {"budget_limit": 1, "time_period": "1d"}}),
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
    let one_rpm = ok(post(
        &gw,
        "/budget/new",
        &json!({"rpm_limit": 5, "model_max_budget": {}}),
    )
    .await)
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
    expect_over_budget(post(&gw, "/v1/chat/completions", &chat_as("freebie")).await).await;

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
    let gw = start_orgs().await;

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

/// Enough waiting rows start a flush before `proxy_batch_write_at` is up (here an hour): the
/// 4,096th row (`control::flush::FLUSH_AT_ROWS`) writes the batch, the rows after it wait. The
/// test reads the database file itself (the spend routes flush before they answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_batch_is_written_before_the_interval() {
    const BATCH: i64 = 4096;
    let db = scratch_dir().join("spend.db");
    let config =
        keys_config(Some(&db)).replace("proxy_batch_write_at: 1", "proxy_batch_write_at: 3600");
    let gw = Gateway::start(&config).await;
    let store = store::Store::open(&db.display().to_string()).await.unwrap();
    let rows = || async {
        store
            .count_spend_logs(&store::LogFilter::default())
            .await
            .unwrap()
    };
    let send = |n: i64| {
        let url = gw.url("/v1/chat/completions");
        async move {
            let workers: Vec<_> = (0..16)
                .map(|w| {
                    let url = url.clone();
                    tokio::spawn(async move {
                        let c = client();
                        for _ in (w..n).step_by(16) {
                            let r = c
                                .post(&url)
                                .bearer_auth(MASTER_KEY)
                                .json(&json!({"model": "model-b",
                                    "messages": [{"role": "user", "content": "hi"}]}))
                                .send()
                                .await
                                .unwrap();
                            assert_eq!(r.status(), 200, "{:?}", r.text().await);
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await.unwrap();
            }
        }
    };
    // One short of a batch: nothing is written.
    send(BATCH - 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rows().await, 0);
    // The batch's last row: all of them are written, well before the hour.
    send(1).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while rows().await < BATCH && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rows().await, BATCH);
    // Rows after it wait for the next batch.
    send(10).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rows().await, BATCH);
    store.close().await;
}
