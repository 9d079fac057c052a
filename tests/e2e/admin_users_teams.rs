//! E2E: the user and team management API (`/user/*`, `/team/*`): who may call the management
//! API, users and their keys, teams, their members and the members' budgets.

use serde_json::{json, Value};

use crate::admin_support::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_reach_the_management_api() {
    let gw = start_keys().await;
    let internal = ok(post(&gw, "/user/new", &json!({"user_id": "worker"})).await).await;
    assert_eq!(internal["user_role"], "internal_user");
    let worker_key = secret(&internal);
    assert_eq!(chat(&gw, &worker_key, "model-a").await, 200);
    // An internal user mints its own keys (management_internal.rs has the rules) but nothing
    // else.
    expect_error(
        post_as(&gw, &worker_key, "/user/new", &json!({})).await,
        403,
    )
    .await;
    let body = json!({});
    let resp = client()
        .post(gw.url("/key/generate"))
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(resp, 401).await;

    let admin = ok(post(
        &gw,
        "/user/new",
        &json!({"user_id": "boss", "user_role": "proxy_admin", "user_email": "boss@example.com"}),
    )
    .await)
    .await;
    let admin_key = secret(&admin);
    let made = ok(post_as(
        &gw,
        &admin_key,
        "/key/generate",
        &json!({"key_alias": "made-by-boss"}),
    )
    .await)
    .await;
    assert_eq!(made["created_by"], "boss");
    assert_eq!(chat(&gw, &secret(&made), "model-a").await, 200);

    // Without `key`, /key/info describes the caller's own key.
    let own = client()
        .get(gw.url("/key/info"))
        .bearer_auth(&admin_key)
        .send()
        .await
        .unwrap();
    let own = ok(own).await;
    assert_eq!(own["info"]["user_id"], "boss");
    assert_eq!(own["info"]["token"], admin["token"]);

    // Demoting the user takes its key's admin rights away at once.
    ok(post(
        &gw,
        "/user/update",
        &json!({"user_id": "boss", "user_role": "internal_user"}),
    )
    .await)
    .await;
    expect_error(post_as(&gw, &admin_key, "/team/new", &json!({})).await, 403).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_gets_a_working_key_listed_in_user_info() {
    let gw = start_keys().await;
    let u = ok(post(&gw, "/user/new", &json!({"user_email": "dev@example.com", "models": ["model-a"], "max_budget": 3, "budget_duration": "1d"})).await).await;
    let user_id = u["user_id"].as_str().unwrap().to_string();
    assert!(!user_id.is_empty());
    assert_eq!(u["user_email"], "dev@example.com");
    assert_eq!(u["max_budget"], 3.0);
    let key = secret(&u);
    assert_eq!(chat(&gw, &key, "model-a").await, 200);
    assert_eq!(
        chat(&gw, &key, "model-b").await,
        401,
        "the user's models apply"
    );

    let info_text = ok_text(get(&gw, &format!("/user/info?user_id={user_id}")).await).await;
    assert!(!info_text.contains(&key), "secret in /user/info");
    let info: Value = serde_json::from_str(&info_text).unwrap();
    assert_eq!(info["user_id"], user_id.as_str());
    assert_eq!(info["user_info"]["user_role"], "internal_user");
    assert!(info["user_info"]["spend"].as_f64().is_some());
    let keys = info["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["token"], u["token"]);
    generate(&gw, json!({"user_id": user_id})).await;
    let info = ok(get(&gw, &format!("/user/info?user_id={user_id}")).await).await;
    assert_eq!(info["keys"].as_array().unwrap().len(), 2);

    let no_key = ok(post(
        &gw,
        "/user/new",
        &json!({"user_id": "keyless", "auto_create_key": false}),
    )
    .await)
    .await;
    assert_eq!(no_key["key"], Value::Null);
    bad(
        post(&gw, "/user/new", &json!({"user_id": "keyless"})).await,
        400,
        "user_id",
    )
    .await;

    let list = ok(get(&gw, "/user/list?page_size=1").await).await;
    assert_eq!(list["total"], 2, "{list}");
    assert_eq!(list["total_pages"], 2);
    assert_eq!(list["users"].as_array().unwrap().len(), 1);
    let list = ok(get(&gw, "/user/list?user_ids=keyless").await).await;
    assert_eq!(list["users"][0]["user_id"], "keyless");

    let upd = ok(post(
        &gw,
        "/user/update",
        &json!({"user_id": user_id, "max_budget": 4}),
    )
    .await)
    .await;
    assert_eq!(upd["data"]["max_budget"], 4.0);
    assert_eq!(upd["data"]["user_email"], "dev@example.com");

    let d = ok(post(&gw, "/user/delete", &json!({"user_ids": [user_id]})).await).await;
    assert_eq!(d["deleted_users"], json!([user_id]));
    assert_eq!(
        chat(&gw, &key, "model-a").await,
        401,
        "the user's keys go with it"
    );
    expect_error(
        get(&gw, &format!("/user/info?user_id={user_id}")).await,
        404,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_team_refuses_its_keys_and_a_deleted_team_takes_them_along() {
    let gw = start_keys().await;
    let t = ok(post(&gw, "/team/new", &json!({"team_alias": "red", "models": ["model-a"], "max_budget": 50, "budget_duration": "30d"})).await).await;
    let team_id = t["team_id"].as_str().unwrap().to_string();
    assert!(!team_id.is_empty());
    assert_eq!(t["team_alias"], "red");
    assert_eq!(t["blocked"], false);
    assert!(t["budget_reset_at"].is_string(), "{t}");
    let key = secret(&generate(&gw, json!({"team_id": team_id})).await);
    assert_eq!(chat(&gw, &key, "model-a").await, 200);
    // The team's model list applies to its keys.
    assert_eq!(chat(&gw, &key, "model-b").await, 401);

    let blocked = ok(post(&gw, "/team/block", &json!({"team_id": team_id})).await).await;
    assert_eq!(blocked["blocked"], true);
    let body = json!({"model": "model-a", "messages": [{"role": "user", "content": "hi"}]});
    let e = expect_error(post_as(&gw, &key, "/v1/chat/completions", &body).await, 401).await;
    assert!(e["message"].as_str().unwrap().contains("blocked"), "{e}");
    ok(post(&gw, "/team/unblock", &json!({"team_id": team_id})).await).await;
    assert_eq!(chat(&gw, &key, "model-a").await, 200);

    let info = ok(get(&gw, &format!("/team/info?team_id={team_id}")).await).await;
    assert_eq!(info["team_id"], team_id.as_str());
    assert_eq!(info["team_info"]["team_alias"], "red");
    assert_eq!(info["keys"].as_array().unwrap().len(), 1);
    let updated = ok(post(
        &gw,
        "/team/update",
        &json!({"team_id": team_id, "team_alias": "blue"}),
    )
    .await)
    .await;
    assert_eq!(updated["data"]["team_alias"], "blue");
    assert_eq!(updated["data"]["max_budget"], 50.0);
    let teams = ok(get(&gw, "/team/list").await).await;
    assert!(
        teams
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["team_id"] == team_id.as_str()),
        "{teams}"
    );
    bad(
        post(&gw, "/team/new", &json!({"team_id": team_id})).await,
        400,
        "team_id",
    )
    .await;

    let d = ok(post(&gw, "/team/delete", &json!({"team_ids": [team_id]})).await).await;
    assert_eq!(d["deleted_teams"], json!([team_id]));
    assert_eq!(chat(&gw, &key, "model-a").await, 401);
    expect_error(
        get(&gw, &format!("/team/info?team_id={team_id}")).await,
        404,
    )
    .await;
    expect_error(
        post(&gw, "/team/delete", &json!({"team_ids": [team_id]})).await,
        404,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_members_and_their_budgets_show_in_team_info() {
    let gw = start_keys().await;
    ok(post(
        &gw,
        "/team/new",
        &json!({"team_id": "crew", "members_with_roles": [{"user_id": "lead", "role": "admin"}]}),
    )
    .await)
    .await;
    let added = ok(post(
        &gw,
        "/team/member_add",
        &json!({
            "team_id": "crew",
            "member": {"user_id": "alice", "user_email": "alice@example.com", "role": "user"},
            "max_budget_in_team": 5
        }),
    )
    .await)
    .await;
    assert_eq!(added["updated_users"][0]["user_id"], "alice");
    assert_eq!(
        added["updated_team_memberships"][0]["litellm_budget_table"]["max_budget"],
        5.0
    );
    let roster = added["members_with_roles"].as_array().unwrap();
    assert!(
        roster
            .iter()
            .any(|m| m["user_id"] == "lead" && m["role"] == "admin"),
        "{added}"
    );
    assert!(
        roster
            .iter()
            .any(|m| m["user_id"] == "alice" && m["role"] == "user"),
        "{added}"
    );

    let info = ok(get(&gw, "/team/info?team_id=crew").await).await;
    let ms = info["team_memberships"].as_array().unwrap();
    let alice = ms
        .iter()
        .find(|m| m["user_id"] == "alice")
        .unwrap_or_else(|| panic!("{info}"));
    assert_eq!(alice["team_id"], "crew");
    assert_eq!(alice["spend"], 0.0);
    assert_eq!(alice["litellm_budget_table"]["max_budget"], 5.0);
    let lead = ms.iter().find(|m| m["user_id"] == "lead").unwrap();
    assert_eq!(lead["litellm_budget_table"], Value::Null);

    // Unknown users were created, and know their team.
    let u = ok(get(&gw, "/user/info?user_id=alice").await).await;
    assert_eq!(u["user_info"]["user_email"], "alice@example.com");
    assert_eq!(u["user_info"]["teams"], json!(["crew"]));
    assert_eq!(u["teams"][0]["team_id"], "crew");

    bad(
        post(
            &gw,
            "/team/member_add",
            &json!({"team_id": "crew", "member": {"user_id": "alice"}}),
        )
        .await,
        400,
        "member",
    )
    .await;
    bad(
        post(
            &gw,
            "/team/member_add",
            &json!({"team_id": "crew", "member": {"user_id": "bob", "role": "owner"}}),
        )
        .await,
        400,
        "member",
    )
    .await;
    bad(
        post(
            &gw,
            "/team/member_add",
            &json!({"team_id": "crew", "member": {"user_id": "bob"}, "max_budget_in_team": -1}),
        )
        .await,
        400,
        "max_budget_in_team",
    )
    .await;
    expect_error(
        post(
            &gw,
            "/team/member_add",
            &json!({"team_id": "nope", "member": {"user_id": "bob"}}),
        )
        .await,
        404,
    )
    .await;

    // By email: the existing user is found.
    let up = ok(post(&gw, "/team/member_update", &json!({"team_id": "crew", "user_email": "alice@example.com", "max_budget_in_team": 7, "role": "admin"})).await).await;
    assert_eq!(up["user_id"], "alice");
    assert_eq!(up["max_budget_in_team"], 7.0);
    let info = ok(get(&gw, "/team/info?team_id=crew").await).await;
    let alice = info["team_memberships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(alice["litellm_budget_table"]["max_budget"], 7.0);
    assert!(info["team_info"]["members_with_roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["user_id"] == "alice" && m["role"] == "admin"));

    // A member's key is charged and limited through the membership: a zero budget refuses it.
    let k = secret(&generate(&gw, json!({"team_id": "crew", "user_id": "alice"})).await);
    assert_eq!(chat(&gw, &k, "model-a").await, 200);
    ok(post(
        &gw,
        "/team/member_update",
        &json!({"team_id": "crew", "user_id": "alice", "max_budget_in_team": 0}),
    )
    .await)
    .await;
    assert_eq!(
        chat(&gw, &k, "model-a").await,
        400,
        "over the member budget"
    );

    let after = ok(post(
        &gw,
        "/team/member_delete",
        &json!({"team_id": "crew", "user_id": "alice"}),
    )
    .await)
    .await;
    assert!(!after["members_with_roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["user_id"] == "alice"));
    let info = ok(get(&gw, "/team/info?team_id=crew").await).await;
    assert_eq!(
        info["team_memberships"].as_array().unwrap().len(),
        1,
        "{info}"
    );
    bad(
        post(
            &gw,
            "/team/member_delete",
            &json!({"team_id": "crew", "user_id": "alice"}),
        )
        .await,
        400,
        "user_id",
    )
    .await;
    let u = ok(get(&gw, "/user/info?user_id=alice").await).await;
    assert_eq!(u["user_info"]["teams"], json!([]));
}
