//! E2E: LiteLLM's answers where Tollgate's used to differ: `/user/update` of an unknown user
//! creates it, `/team/new` makes the calling user a team admin, every organization has a
//! `litellm_budget_table`, model refusals carry `key_model_access_denied` /
//! `team_model_access_denied`, a spend log's `request_id` is the response's `id` (the call id in
//! `call_id`), `/organization/member_*`, `/model_group/info` and
//! `/models?only_model_access_groups=true`.

use std::time::Duration;

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::admin_support::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_teams_and_organizations_answer_as_litellm_does() {
    let gw = start_keys().await;
    // An unknown user is created by /user/update (LiteLLM upserts).
    let up = ok(post(
        &gw,
        "/user/update",
        &json!({"user_id": "newbie", "max_budget": 3}),
    )
    .await)
    .await;
    assert_eq!(up["user_id"], "newbie");
    assert_eq!(up["data"]["max_budget"], 3.0);
    let info = ok(get(&gw, "/user/info?user_id=newbie").await).await;
    assert_eq!(info["user_info"]["user_role"], "internal_user");
    // Looked up by email only, an unknown user is still a 404.
    expect_error(
        post(
            &gw,
            "/user/update",
            &json!({"user_email": "ghost@example.com"}),
        )
        .await,
        404,
    )
    .await;

    // A team made by a user's key gets that user as admin; by the master key, no member.
    let boss = secret(
        &ok(post(
            &gw,
            "/user/new",
            &json!({"user_id": "boss", "user_role": "proxy_admin"}),
        )
        .await)
        .await,
    );
    let t = ok(post_as(&gw, &boss, "/team/new", &json!({"team_id": "made-by-boss", "members_with_roles": [{"user_id": "x", "role": "user"}]})).await).await;
    let roster = t["members_with_roles"].as_array().unwrap();
    assert!(
        roster
            .iter()
            .any(|m| m["user_id"] == "boss" && m["role"] == "admin"),
        "{t}"
    );
    assert!(
        roster
            .iter()
            .any(|m| m["user_id"] == "x" && m["role"] == "user"),
        "{t}"
    );
    let plain = ok(post(&gw, "/team/new", &json!({"team_id": "by-master"})).await).await;
    assert_eq!(plain["members_with_roles"], json!([]));

    // Organizations: a budget table always; members through /organization/member_*.
    let org = ok(post(
        &gw,
        "/organization/new",
        &json!({"organization_alias": "acme", "organization_id": "acme"}),
    )
    .await)
    .await;
    assert!(org["litellm_budget_table"].is_object(), "{org}");
    assert_eq!(org["litellm_budget_table"]["max_budget"], Value::Null);
    let added = ok(post(
        &gw,
        "/organization/member_add",
        &json!({"organization_id": "acme", "member": [
            {"user_id": "newbie", "role": "org_admin"},
            {"user_email": "ops@example.com", "role": "internal_user_viewer"},
        ]}),
    )
    .await)
    .await;
    assert_eq!(added["organization_id"], "acme");
    assert_eq!(added["updated_users"].as_array().unwrap().len(), 2);
    let ms = &added["updated_organization_memberships"];
    assert_eq!(ms[0]["user_role"], "org_admin");
    assert_eq!(ms[1]["user_email"], "ops@example.com");
    bad(post(&gw, "/organization/member_add", &json!({"organization_id": "acme", "member": {"user_id": "newbie", "role": "org_admin"}})).await, 400, "member").await;
    bad(
        post(
            &gw,
            "/organization/member_add",
            &json!({"organization_id": "acme", "member": {"user_id": "y", "role": "proxy_admin"}}),
        )
        .await,
        400,
        "member",
    )
    .await;
    let upd = ok(call(
        &gw,
        reqwest::Method::PATCH,
        "/organization/member_update",
        Some(&json!({"organization_id": "acme", "user_id": "newbie", "role": "internal_user"})),
    )
    .await)
    .await;
    assert_eq!(upd["user_role"], "internal_user");
    let members = |o: &Value| ids(&o["members"], "user_id");
    let info = ok(get(&gw, "/organization/info?organization_id=acme").await).await;
    assert_eq!(members(&info).len(), 2, "{info}");
    let gone = ok(call(
        &gw,
        reqwest::Method::DELETE,
        "/organization/member_delete",
        Some(&json!({"organization_id": "acme", "user_id": "newbie"})),
    )
    .await)
    .await;
    assert_eq!(gone["user_id"], "newbie");
    let info = ok(get(&gw, "/organization/info?organization_id=acme").await).await;
    assert!(!members(&info).contains(&"newbie".to_string()), "{info}");
    bad(
        call(
            &gw,
            reqwest::Method::DELETE,
            "/organization/member_delete",
            Some(&json!({"organization_id": "acme", "user_id": "newbie"})),
        )
        .await,
        400,
        "user_id",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_refusals_name_what_refused_them() {
    let gw = start_keys().await;
    let key = secret(&generate(&gw, json!({"models": ["model-a"]})).await);
    let body = json!({"model": "model-b", "messages": [{"role": "user", "content": "hi"}]});
    let e = expect_error(post_as(&gw, &key, "/v1/chat/completions", &body).await, 401).await;
    assert_eq!(e["type"], "key_model_access_denied");
    assert_eq!(e["param"], "model");
    ok(post(
        &gw,
        "/team/new",
        &json!({"team_id": "a-only", "models": ["model-a"]}),
    )
    .await)
    .await;
    let team_key = secret(&generate(&gw, json!({"team_id": "a-only"})).await);
    let e = expect_error(
        post_as(&gw, &team_key, "/v1/chat/completions", &body).await,
        401,
    )
    .await;
    assert_eq!(e["type"], "team_model_access_denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spend_log_s_request_id_is_the_response_id() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "  proxy_batch_write_at: 1\n")).await;
    let r = post(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let call_id = header(&r, "x-litellm-call-id");
    let body: Value = r.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_string();
    assert!(
        id.starts_with("chatcmpl-mock"),
        "the provider's own id: {id}"
    );
    // Streams too: the id of the chunks.
    let r = post(&gw, "/v1/chat/completions", &json!({"model": "test-model", "stream": true, "messages": [{"role": "user", "content": "hi"}]})).await;
    let text = r.text().await.unwrap();
    let stream_id = text
        .lines()
        .find_map(|l| serde_json::from_str::<Value>(l.strip_prefix("data: ")?).ok())
        .and_then(|v| v["id"].as_str().map(str::to_string))
        .unwrap();

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let row = loop {
        let rows =
            ok(get(&gw, &format!("/spend/logs?request_id={id}&summarize=false")).await).await;
        if let Some(r) = rows.as_array().and_then(|a| a.first()).cloned() {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no spend log row for {id}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(row["request_id"], id);
    assert_eq!(row["call_id"], call_id);
    // The call id still finds it.
    let by_call = ok(get(
        &gw,
        &format!("/spend/logs?request_id={call_id}&summarize=false"),
    )
    .await)
    .await;
    assert_eq!(by_call[0]["request_id"], id);
    let streamed = ok(get(
        &gw,
        &format!("/spend/logs?request_id={stream_id}&summarize=false"),
    )
    .await)
    .await;
    assert_eq!(streamed[0]["request_id"], stream_id, "{streamed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_group_info_and_access_group_model_lists() {
    let gw = Gateway::start(&format!(
        "model_list:
  - model_name: model-a
    litellm_params:
      model: openai/gpt-4o
      mock_response: hi
      rpm: 10
    model_info:
      access_groups: [beta]
  - model_name: model-a
    litellm_params:
      model: anthropic/claude-3-5-haiku-20241022
      mock_response: hi
      rpm: 5
  - model_name: model-b
    litellm_params:
      model: openai/text-embedding-3-small
      mock_response: hi
    model_info:
      mode: embedding
      access_groups: [beta, embed]
general_settings:
  master_key: {MASTER_KEY}
"
    ))
    .await;
    let all = ok(get(&gw, "/model_group/info").await).await;
    let groups = &all["data"];
    assert_eq!(ids(groups, "model_group"), ["model-a", "model-b"]);
    let a = &groups[0];
    assert_eq!(a["providers"], json!(["openai", "anthropic"]));
    assert_eq!(a["rpm"], 15);
    assert_eq!(a["mode"], "chat");
    assert!(a["input_cost_per_token"].as_f64().unwrap() > 0.0, "{a}");
    assert!(a["max_input_tokens"].as_u64().unwrap() >= 128_000, "{a}");
    assert_eq!(groups[1]["mode"], "embedding");
    let one = ok(get(&gw, "/model_group/info?model_group=model-b").await).await;
    assert_eq!(ids(&one["data"], "model_group"), ["model-b"]);

    // A key sees only what it may use, on both routes.
    let key = secret(&generate(&gw, json!({"models": ["embed"]})).await);
    let mine = ok(client()
        .get(gw.url("/model_group/info"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(ids(&mine["data"], "model_group"), ["model-b"]);
    let only = ok(get(&gw, "/v1/models?only_model_access_groups=true").await).await;
    assert_eq!(ids(&only["data"], "id"), ["beta", "embed"]);
    let with = ok(get(&gw, "/v1/models?include_model_access_groups=true").await).await;
    assert_eq!(
        ids(&with["data"], "id"),
        ["model-a", "model-b", "beta", "embed"]
    );
    let plain = ok(get(&gw, "/v1/models").await).await;
    assert_eq!(ids(&plain["data"], "id"), ["model-a", "model-b"]);
    let keyed = ok(client()
        .get(gw.url("/v1/models?only_model_access_groups=true"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(ids(&keyed["data"], "id"), ["beta", "embed"]);
}
