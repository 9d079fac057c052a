//! E2E: the admin UI's read endpoints: usage from the daily tables (`/tollgate/usage`, JSON and
//! CSV; LiteLLM's `/{user,team,tag}/daily/activity`), the log pages (`/tollgate/logs` keyset
//! paging and filters, `/tollgate/logs/{call_id}`), a key's own-only view, the deployments'
//! live state and the redacted config.

use serde_json::{json, Value};

use crate::admin_support::*;
use crate::support::*;

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

async fn chat_tagged(gw: &Gateway, key: &str, model: &str, tags: &[&str]) -> String {
    let body = json!({
        "model": model,
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hello there"}],
        "metadata": {"tags": tags},
    });
    let resp = post_as(gw, key, "/v1/chat/completions", &body).await;
    let call_id = header(&resp, "x-litellm-call-id");
    ok(resp).await;
    call_id
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap_or(f64::NAN) - b).abs() < 1e-9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_logs_answer_from_the_daily_tables_and_scope_a_key_to_its_own() {
    let gw = start_keys().await;
    ok(post(
        &gw,
        "/team/new",
        &json!({"team_id": "t-ui", "team_alias": "UI team"}),
    )
    .await)
    .await;
    let a = generate(&gw, json!({"key_alias": "alpha", "team_id": "t-ui"})).await;
    let b = generate(&gw, json!({"key_alias": "<img src=x onerror=alert(1)>"})).await;
    let (ka, kb) = (secret(&a), secret(&b));
    let mut a_calls = Vec::new();
    for _ in 0..3 {
        a_calls.push(chat_tagged(&gw, &ka, "model-a", &["prod", "billing"]).await);
    }
    chat_tagged(&gw, &kb, "model-b", &["dev"]).await;
    chat_tagged(&gw, &kb, "model-a", &[]).await;

    // Top keys by spend, with their aliases as labels; totals over everything.
    let by_key = ok(get(&gw, "/tollgate/usage?group_by=key").await).await;
    let rows = by_key["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{by_key}");
    assert_eq!(rows[0]["group"], a["token"]);
    assert_eq!(rows[0]["label"], "alpha");
    assert_eq!(rows[0]["requests"], 3);
    assert_eq!(rows[0]["successes"], 3);
    assert_eq!(rows[1]["label"], "<img src=x onerror=alert(1)>");
    assert_eq!(by_key["totals"]["requests"], 5);
    let spend_a = rows[0]["spend"].as_f64().unwrap();
    assert!(spend_a > 0.0, "{by_key}");
    assert_eq!(by_key["end_date"], today());

    let limited = ok(get(&gw, "/tollgate/usage?group_by=key&limit=1").await).await;
    assert_eq!(limited["rows"].as_array().unwrap().len(), 1);
    assert_eq!(
        limited["totals"]["requests"], 5,
        "totals are not cut by limit"
    );

    let by_team = ok(get(&gw, "/tollgate/usage?group_by=team").await).await;
    let team_row = by_team["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == "t-ui")
        .cloned()
        .unwrap();
    assert_eq!(team_row["label"], "UI team");
    assert!(close(&team_row["spend"], spend_a));

    let by_day = ok(get(
        &gw,
        "/tollgate/usage?group_by=day&api_key=".to_string().as_str(),
    )
    .await)
    .await;
    assert_eq!(by_day["rows"][0]["group"], today());
    assert_eq!(by_day["rows"][0]["requests"], 5);

    let by_tag = ok(get(&gw, "/tollgate/usage?group_by=tag").await).await;
    let tags: Vec<(String, i64)> = by_tag["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["group"].as_str().unwrap().to_string(),
                r["requests"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        tags.contains(&("prod".into(), 3)) && tags.contains(&("dev".into(), 1)),
        "{tags:?}"
    );
    let prod_groups = ok(get(&gw, "/tollgate/usage?group_by=model_group&tag=prod").await).await;
    assert_eq!(prod_groups["rows"][0]["group"], "model-a");
    assert_eq!(prod_groups["totals"]["requests"], 3);

    // CSV export, with the formula-looking alias defused and quoted where needed.
    let csv = client()
        .get(gw.url("/tollgate/usage?group_by=key&format=csv"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap();
    assert!(header(&csv, "content-type").starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let mut lines = text.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("group,label,spend,requests"));
    assert!(text.contains(",alpha,"), "{text}");
    bad(
        get(&gw, "/tollgate/usage?group_by=colour").await,
        400,
        "group_by",
    )
    .await;

    // LiteLLM's daily activity shapes.
    let day = today();
    let team = ok(get(
        &gw,
        &format!("/team/daily/activity?start_date={day}&end_date={day}&team_ids=t-ui"),
    )
    .await)
    .await;
    assert_eq!(team["results"][0]["date"], day);
    assert_eq!(team["results"][0]["metrics"]["api_requests"], 3);
    assert_eq!(
        team["results"][0]["breakdown"]["entities"]["t-ui"]["metadata"]["team_alias"],
        "UI team"
    );
    assert_eq!(
        team["results"][0]["breakdown"]["models"]["model-a"]["metrics"]["successful_requests"],
        3
    );
    assert_eq!(team["metadata"]["total_api_requests"], 3);
    assert_eq!(team["metadata"]["has_more"], false);
    let tag = ok(get(
        &gw,
        &format!("/tag/daily/activity/aggregated?start_date={day}&end_date={day}&tags=dev"),
    )
    .await)
    .await;
    assert_eq!(tag["metadata"]["total_api_requests"], 1);
    assert!(
        tag["results"][0]["breakdown"]["entities"]["dev"].is_object(),
        "{tag}"
    );
    let user = ok(get(
        &gw,
        &format!("/user/daily/activity?start_date={day}&end_date={day}"),
    )
    .await)
    .await;
    let keys = user["results"][0]["breakdown"]["api_keys"]
        .as_object()
        .unwrap();
    assert_eq!(
        keys[a["token"].as_str().unwrap()]["metadata"]["key_alias"],
        "alpha"
    );
    bad(get(&gw, "/user/daily/activity").await, 400, "start_date").await;

    // Logs: newest first, keyset pages that neither repeat nor skip a row.
    let first = ok(get(&gw, "/tollgate/logs?limit=2").await).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let path = match cursor.as_str() {
            Some(c) => format!("/tollgate/logs?limit=2&cursor={c}"),
            None => "/tollgate/logs?limit=2".into(),
        };
        let page = ok(get(&gw, &path).await).await;
        for r in page["data"].as_array().unwrap() {
            seen.push(r["call_id"].as_str().unwrap().to_string());
            assert!(r["latency_ms"].is_i64());
        }
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5);
    let filtered = ok(get(
        &gw,
        "/tollgate/logs?team_id=t-ui&model=model-a&status=success",
    )
    .await)
    .await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 3);
    let none = ok(get(&gw, "/tollgate/logs?status=failure").await).await;
    assert_eq!(none["data"], json!([]));
    bad(
        get(&gw, "/tollgate/logs?cursor=garbage").await,
        400,
        "cursor",
    )
    .await;

    let detail = ok(get(&gw, &format!("/tollgate/logs/{}", a_calls[0])).await).await;
    assert_eq!(detail["call_id"], a_calls[0].as_str());
    assert_eq!(detail["attempts"]["total"], 1);
    assert_eq!(detail["deployment"]["provider"], "openai");
    assert_eq!(detail["key_alias"], "alpha");
    assert_eq!(detail["cache_hit"], false);
    assert!(detail["tokens"]["total"].as_i64().unwrap() > 0);
    expect_error(get(&gw, "/tollgate/logs/no-such-call").await, 404).await;

    // A virtual key sees only its own usage and logs, and cannot ask for another key's.
    let own = client()
        .get(gw.url("/tollgate/usage?group_by=key"))
        .bearer_auth(&kb)
        .send()
        .await
        .unwrap();
    let own = ok(own).await;
    assert_eq!(own["rows"].as_array().unwrap().len(), 1);
    assert_eq!(own["rows"][0]["group"], b["token"]);
    assert_eq!(own["totals"]["requests"], 2);
    let own_logs = client()
        .get(gw.url("/tollgate/logs"))
        .bearer_auth(&kb)
        .send()
        .await
        .unwrap();
    assert_eq!(ok(own_logs).await["data"].as_array().unwrap().len(), 2);
    let other = client()
        .get(gw.url(&format!(
            "/tollgate/usage?api_key={}",
            a["token"].as_str().unwrap()
        )))
        .bearer_auth(&kb)
        .send()
        .await
        .unwrap();
    expect_error(other, 403).await;
    let other_detail = client()
        .get(gw.url(&format!("/tollgate/logs/{}", a_calls[0])))
        .bearer_auth(&kb)
        .send()
        .await
        .unwrap();
    expect_error(other_detail, 404).await;
    let deployments = client()
        .get(gw.url("/tollgate/deployments"))
        .bearer_auth(&kb)
        .send()
        .await
        .unwrap();
    expect_error(deployments, 403).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_show_live_state_and_the_config_is_redacted() {
    let upstream_secret = "sk-upstream-secret";
    let cfg = format!(
        "model_list:
  - model_name: g
    litellm_params:
      model: openai/m1
      api_base: http://127.0.0.1:9/v1
      api_key: {upstream_secret}
      rpm: 60
      order: 2
      tags: [eu]
      input_cost_per_token: 0.000001
      output_cost_per_token: 0.000002
  - model_name: g
    litellm_params:
      model: openai/m2
      mock_response: hi
      api_key: os.environ/UI_TEST_OPENAI_KEY
general_settings:
  master_key: {MASTER_KEY}
  database_url_unused_note: none
router_settings:
  allowed_fails: 0
  cooldown_time: 60
  num_retries: 0
"
    );
    let cfg = cfg.replace("  database_url_unused_note: none\n", "");
    let gw = Gateway::start_with(&cfg, &[("UI_TEST_OPENAI_KEY", "sk-from-the-env")]).await;
    // Fail the unreachable deployment until it cools down (the mock one answers).
    for _ in 0..6 {
        let _ = post_as(
            &gw,
            MASTER_KEY,
            "/v1/chat/completions",
            &json!({"model": "g", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    }
    let deps = ok(get(&gw, "/tollgate/deployments").await).await;
    let rows = deps["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{deps}");
    let d1 = rows.iter().find(|r| r["model"] == "m1").unwrap();
    assert_eq!(d1["provider"], "openai");
    assert_eq!(d1["api_base"], "http://127.0.0.1:9/v1");
    assert_eq!(d1["rpm"], 60);
    assert_eq!(d1["order"], 2);
    assert_eq!(d1["tags"], json!(["eu"]));
    assert!(close(&d1["input_cost_per_token"], 0.000001), "{d1}");
    assert_eq!(d1["state"], "cooling_down", "{d1}");
    assert!(d1["cooldown_until"].is_string());
    assert!(d1["failures_this_minute"].as_u64().unwrap() >= 1);
    let d2 = rows.iter().find(|r| r["model"] == "m2").unwrap();
    assert_eq!(d2["state"], "healthy");
    let text = deps.to_string();
    assert!(!text.contains(upstream_secret) && !text.contains("sk-from-the-env"));

    let conf = ok_text(get(&gw, "/tollgate/config").await).await;
    assert!(!conf.contains(upstream_secret), "{conf}");
    assert!(!conf.contains(MASTER_KEY), "{conf}");
    assert!(!conf.contains("sk-from-the-env"), "{conf}");
    let conf: Value = serde_json::from_str(&conf).unwrap();
    let list = &conf["config"]["model_list"];
    assert_eq!(list[0]["litellm_params"]["api_key"], "<redacted>");
    assert_eq!(
        list[1]["litellm_params"]["api_key"],
        "os.environ/UI_TEST_OPENAI_KEY"
    );
    assert_eq!(list[0]["litellm_params"]["rpm"], 60);
    assert_eq!(
        conf["config"]["general_settings"]["master_key"],
        "<redacted>"
    );
    assert_eq!(conf["config"]["router_settings"]["cooldown_time"], 60);
}
