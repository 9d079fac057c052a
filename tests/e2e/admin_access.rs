//! E2E: who may call which management route. Every virtual key reads its own key, its user and
//! its team; an `internal_user` mints and manages its own keys within its team's limits (as
//! LiteLLM's rules have it); everything else is for proxy admins only (403, LiteLLM's words).

use serde_json::{json, Value};

use crate::admin_support::*;
use crate::support::*;

/// GET `path` with `key`.
async fn get_as(gw: &Gateway, key: &str, path: &str) -> reqwest::Response {
    client()
        .get(gw.url(path))
        .bearer_auth(key)
        .send()
        .await
        .expect("request failed")
}

/// A `/user/new` user with a key; returns its secret.
async fn user(gw: &Gateway, body: Value) -> String {
    secret(&ok(post(gw, "/user/new", &body).await).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_reads_its_own_key_user_and_team_and_nothing_more() {
    let gw = start_keys().await;
    ok(post(&gw, "/team/new", &json!({"team_id": "t1"})).await).await;
    ok(post(&gw, "/team/new", &json!({"team_id": "t2"})).await).await;
    let alice = user(&gw, json!({"user_id": "alice", "teams": ["t1"]})).await;
    let bob = user(&gw, json!({"user_id": "bob", "teams": ["t2"]})).await;
    // A team key with no user.
    let service = secret(&generate(&gw, json!({"team_id": "t1", "key_alias": "svc"})).await);

    // Its own key, without naming it.
    let own = ok(get_as(&gw, &service, "/key/info").await).await;
    assert_eq!(own["info"]["key_alias"], "svc");
    let e = expect_error(
        get_as(&gw, &service, &format!("/key/info?key={bob}")).await,
        403,
    )
    .await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("You are not allowed to access this key's info"),
        "{e}"
    );
    // Its own team, named or not; not another.
    let team = ok(get_as(&gw, &service, "/team/info").await).await;
    assert_eq!(team["team_id"], "t1");
    ok(get_as(&gw, &service, "/team/info?team_id=t1").await).await;
    let e = expect_error(get_as(&gw, &service, "/team/info?team_id=t2").await, 403).await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("key not allowed to access this team's info"),
        "{e}"
    );
    // No user to read, and no key to mint.
    expect_error(get_as(&gw, &service, "/user/info?user_id=bob").await, 403).await;
    let e = expect_error(
        post_as(&gw, &service, "/key/generate", &json!({})).await,
        403,
    )
    .await;
    assert!(
        e["message"].as_str().unwrap().starts_with("Only proxy admin can be used to generate, delete, update info for new keys/users/teams. Route=/key/generate."),
        "{e}"
    );

    // A user's key: its user and the teams it belongs to.
    let me = ok(get_as(&gw, &alice, "/user/info").await).await;
    assert_eq!(me["user_id"], "alice");
    assert_eq!(me["user_info"]["teams"], json!(["t1"]));
    ok(get_as(&gw, &alice, "/user/info?user_id=alice").await).await;
    let e = expect_error(get_as(&gw, &alice, "/user/info?user_id=bob").await, 403).await;
    assert_eq!(
        e["message"],
        "key not allowed to access this user's info. user_id=bob, key's user_id=alice"
    );
    ok(get_as(&gw, &alice, "/team/info?team_id=t1").await).await;
    expect_error(get_as(&gw, &alice, "/team/info?team_id=t2").await, 403).await;
    // Keys of the same user are its own too; another user's are not.
    let alice_second = secret(&generate(&gw, json!({"user_id": "alice"})).await);
    ok(get_as(&gw, &alice, &format!("/key/info?key={alice_second}")).await).await;
    expect_error(
        get_as(&gw, &alice, &format!("/key/info?key={bob}")).await,
        403,
    )
    .await;

    // Everything else stays with proxy admins.
    for path in [
        "/team/list",
        "/user/list",
        "/organization/list",
        "/spend/logs",
        "/customer/list",
        "/budget/list",
    ] {
        let e = expect_error(get_as(&gw, &alice, path).await, 403).await;
        let m = e["message"].as_str().unwrap();
        assert!(
            m.contains(&format!(
                "Route={path}. Your role=internal_user. Your user_id=***"
            )),
            "{path}: {m}"
        );
        assert_eq!(e["type"], "permission_error");
    }
    for (path, body) in [
        ("/team/new", json!({})),
        ("/user/new", json!({})),
        ("/key/block", json!({"key": bob})),
        (
            "/team/member_add",
            json!({"team_id": "t1", "member": {"user_id": "alice", "role": "admin"}}),
        ),
    ] {
        expect_error(post_as(&gw, &alice, path, &body).await, 403).await;
    }
    // The admin still reads everything.
    ok(get(&gw, "/team/info?team_id=t2").await).await;
    ok(get(&gw, "/user/info?user_id=bob").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_user_mints_and_manages_only_its_own_keys_within_its_team() {
    let gw = start_keys().await;
    ok(post(
        &gw,
        "/team/new",
        &json!({"team_id": "eng", "models": ["model-a"], "max_budget": 5, "rpm_limit": 10}),
    )
    .await)
    .await;
    let alice = user(&gw, json!({"user_id": "alice"})).await;
    let lead = user(&gw, json!({"user_id": "lead"})).await;
    let bob = user(&gw, json!({"user_id": "bob"})).await;
    for (u, role) in [("alice", "user"), ("lead", "admin")] {
        ok(post(
            &gw,
            "/team/member_add",
            &json!({"team_id": "eng", "member": {"user_id": u, "role": role}}),
        )
        .await)
        .await;
    }

    // A personal key: its own, whatever it asks.
    let mine = ok(post_as(&gw, &alice, "/key/generate", &json!({"key_alias": "mine"})).await).await;
    assert_eq!(mine["user_id"], "alice");
    assert_eq!(mine["created_by"], "alice");
    assert_eq!(chat(&gw, &secret(&mine), "model-a").await, 200);
    let e = expect_error(
        post_as(&gw, &alice, "/key/generate", &json!({"user_id": "bob"})).await,
        403,
    )
    .await;
    assert_eq!(
        e["message"],
        "User can only create keys for themselves. Got user_id=bob, Your ID=alice"
    );
    for field in ["budget_id", "organization_id", "blocked"] {
        let mut body = json!({});
        body[field] = json!("x");
        expect_error(post_as(&gw, &alice, "/key/generate", &body).await, 403).await;
    }

    // A team key: as a plain member only once the team lets members create keys.
    let e = expect_error(
        post_as(&gw, &alice, "/key/generate", &json!({"team_id": "eng"})).await,
        401,
    )
    .await;
    assert_eq!(e["type"], "team_member_permission_error");
    let e = bad(
        post_as(&gw, &bob, "/key/generate", &json!({"team_id": "eng"})).await,
        400,
        "team_id",
    )
    .await;
    assert_eq!(e["message"], "User=bob not assigned to team=eng");
    ok(post(
        &gw,
        "/team/update",
        &json!({"team_id": "eng", "team_member_permissions": ["/key/generate", "/key/update"]}),
    )
    .await)
    .await;
    // Within the team's models and limits.
    bad(
        post_as(
            &gw,
            &alice,
            "/key/generate",
            &json!({"team_id": "eng", "models": ["model-b"]}),
        )
        .await,
        400,
        "models",
    )
    .await;
    let e = bad(
        post_as(
            &gw,
            &alice,
            "/key/generate",
            &json!({"team_id": "eng", "max_budget": 50}),
        )
        .await,
        400,
        "max_budget",
    )
    .await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("cannot exceed the team's max_budget (5)"),
        "{e}"
    );
    bad(
        post_as(
            &gw,
            &alice,
            "/key/generate",
            &json!({"team_id": "eng", "rpm_limit": 100}),
        )
        .await,
        400,
        "rpm_limit",
    )
    .await;
    let team_key = ok(post_as(
        &gw,
        &alice,
        "/key/generate",
        &json!({"team_id": "eng", "models": ["model-a"], "max_budget": 2}),
    )
    .await)
    .await;
    assert_eq!(team_key["team_id"], "eng");
    assert_eq!(team_key["user_id"], "alice");
    let team_secret = secret(&team_key);

    // Its own keys: settings yes, budget only through a team admin.
    ok(post_as(
        &gw,
        &alice,
        "/key/update",
        &json!({"key": team_secret, "key_alias": "renamed"}),
    )
    .await)
    .await;
    let e = expect_error(
        post_as(
            &gw,
            &alice,
            "/key/update",
            &json!({"key": team_secret, "max_budget": 4}),
        )
        .await,
        403,
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("max_budget"), "{e}");
    let raised = ok(post_as(
        &gw,
        &lead,
        "/key/update",
        &json!({"key": team_secret, "max_budget": 4}),
    )
    .await)
    .await;
    assert_eq!(raised["max_budget"], 4.0);
    // Never another user's key.
    for (path, body) in [
        ("/key/update", json!({"key": bob, "key_alias": "stolen"})),
        ("/key/delete", json!({"keys": [bob]})),
        ("/key/regenerate", json!({"key": bob})),
    ] {
        expect_error(post_as(&gw, &alice, path, &body).await, 403).await;
    }
    assert_eq!(chat(&gw, &bob, "model-a").await, 200, "bob's key survives");

    // Its own list only.
    let listed = ok(get_as(&gw, &alice, "/key/list").await).await;
    let tokens: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(listed["total_count"], 3, "{listed}");
    assert!(tokens.contains(&mine["token"].as_str().unwrap()));
    expect_error(get_as(&gw, &alice, "/key/list?user_id=bob").await, 403).await;
    // And it deletes its own.
    ok(post_as(
        &gw,
        &alice,
        "/key/delete",
        &json!({"keys": [secret(&mine)]}),
    )
    .await)
    .await;
    assert_eq!(chat(&gw, &secret(&mine), "model-a").await, 401);
}
