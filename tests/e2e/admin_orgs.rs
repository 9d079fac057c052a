//! E2E: the organization and end user management API (`/organization/*`, `/customer/*`), and
//! end users refused for being blocked or over budget.

use reqwest::Method;
use serde_json::{json, Value};

use crate::admin_support::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizations_crud_and_validation() {
    let gw = start_orgs().await;

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
    // Every organization has a budget table, as in LiteLLM; this one sets no limit.
    assert_eq!(beta["litellm_budget_table"]["max_budget"], Value::Null);
    assert_eq!(beta["litellm_budget_table"]["budget_id"], Value::Null);
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
    let gw = start_orgs().await;

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
    let gw = start_orgs().await;

    ok(post(
        &gw,
        "/customer/new",
        &json!({"user_id": "broke", "max_budget": 0}),
    )
    .await)
    .await;
    expect_over_budget(post(&gw, "/v1/chat/completions", &chat_as("broke")).await).await;

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
