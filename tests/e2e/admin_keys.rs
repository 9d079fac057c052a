//! E2E: the key, user and team management API (`/key/*`, `/user/*`, `/team/*`) as a LiteLLM
//! script would use it, and what the keys it creates can then do on `/v1/chat/completions`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::*;

/// Two mock deployments (no provider is called) with prices, the e2e master key, and the
/// SQLite file at `db` when given (otherwise `tollgate.db` in the gateway's own scratch dir).
fn config(db: Option<&Path>) -> String {
    let db = db
        .map(|p| format!("tollgate_settings:\n  database_path: {}\n", p.display()))
        .unwrap_or_default();
    format!(
        "model_list:
  - model_name: model-a
    litellm_params:
      model: openai/model-a
      mock_response: \"Hello from A\"
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
  - model_name: model-b
    litellm_params:
      model: openai/model-b
      mock_response: \"Hello from B\"
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
{db}"
    )
}

async fn start() -> Gateway {
    Gateway::start(&config(None)).await
}

/// GET with the master key.
async fn get(gw: &Gateway, path: &str) -> reqwest::Response {
    client()
        .get(gw.url(path))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .expect("request failed")
}

/// POST with another key.
async fn post_as(gw: &Gateway, key: &str, path: &str, body: &Value) -> reqwest::Response {
    client()
        .post(gw.url(path))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("request failed")
}

/// Asserts a 200 and returns the JSON body.
async fn ok(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts a 200 and returns the raw body text (to search it for secrets).
async fn ok_text(resp: reqwest::Response) -> String {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    text
}

/// Asserts an OpenAI-shaped error whose `param` names the field.
async fn bad(resp: reqwest::Response, status: u16, param: &str) -> Value {
    let e = expect_error(resp, status).await;
    assert_eq!(e["param"], param, "{e}");
    e
}

/// The status of one chat completion on `model` with `key`.
async fn chat(gw: &Gateway, key: &str, model: &str) -> u16 {
    let body = json!({
        "model": model,
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hello there"}],
    });
    post_as(gw, key, "/v1/chat/completions", &body)
        .await
        .status()
        .as_u16()
}

async fn generate(gw: &Gateway, body: Value) -> Value {
    ok(post(gw, "/key/generate", &body).await).await
}

fn secret(k: &Value) -> String {
    k["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no key in {k}"))
        .to_string()
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_key_works_until_blocked_and_again_once_unblocked() {
    let gw = start().await;
    let k = generate(
        &gw,
        json!({"key_alias": "svc", "metadata": {"env": "test"}}),
    )
    .await;
    let key = secret(&k);
    assert!(key.starts_with("sk-") && key.len() >= 3 + 22, "{key}");
    let token = k["token"].as_str().unwrap();
    assert!(is_sha256_hex(token), "{k}");
    assert_eq!(k["key_name"], format!("sk-...{}", &key[key.len() - 4..]));
    assert_eq!(k["key_alias"], "svc");
    assert_eq!(k["spend"], 0.0);
    assert_eq!(k["expires"], Value::Null);
    assert_eq!(k["models"], json!([]));
    assert_eq!(k["metadata"]["env"], "test");
    for field in [
        "max_budget",
        "budget_duration",
        "budget_reset_at",
        "user_id",
        "team_id",
        "rpm_limit",
        "tpm_limit",
        "max_parallel_requests",
        "created_at",
    ] {
        assert!(k.get(field).is_some(), "{field} missing in {k}");
    }

    assert_eq!(chat(&gw, &key, "model-a").await, 200);
    let blocked = ok(post(&gw, "/key/block", &json!({"key": key})).await).await;
    assert_eq!(blocked["blocked"], true);
    assert_eq!(blocked["token"], token);
    let e = expect_error(
        post_as(
            &gw,
            &key,
            "/v1/chat/completions",
            &json!({"model": "model-a", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await,
        401,
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("blocked"), "{e}");
    // Unblock by token works as well as by secret.
    let unblocked = ok(post(&gw, "/key/unblock", &json!({"key": token})).await).await;
    assert_eq!(unblocked["blocked"], false);
    assert_eq!(chat(&gw, &key, "model-a").await, 200);

    // Unknown keys are 404 on every key route.
    for path in [
        "/key/block",
        "/key/unblock",
        "/key/update",
        "/key/regenerate",
    ] {
        expect_error(post(&gw, path, &json!({"key": "sk-nope"})).await, 404).await;
    }
    expect_error(get(&gw, "/key/info?key=sk-nope").await, 404).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_limited_to_some_models_is_refused_the_others() {
    let gw = start().await;
    let key = secret(&generate(&gw, json!({"models": ["model-a"]})).await);
    assert_eq!(chat(&gw, &key, "model-a").await, 200);
    assert_eq!(chat(&gw, &key, "model-b").await, 401);

    // Aliases on the key map a name the client uses to a model group.
    let aliased = secret(&generate(&gw, json!({"aliases": {"my-gpt": "model-b"}})).await);
    assert_eq!(chat(&gw, &aliased, "my-gpt").await, 200);

    // Widening the models through /key/update takes effect at once.
    ok(post(
        &gw,
        "/key/update",
        &json!({"key": key, "models": ["model-a", "model-b"]}),
    )
    .await)
    .await;
    assert_eq!(chat(&gw, &key, "model-b").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_key_is_refused() {
    let gw = start().await;
    let k = generate(&gw, json!({"duration": "1s"})).await;
    let expires = k["expires"]
        .as_str()
        .unwrap_or_else(|| panic!("no expiry in {k}"));
    assert!(expires.ends_with('Z'), "{expires}");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let body = json!({"model": "model-a", "messages": [{"role": "user", "content": "hi"}]});
    let e = expect_error(
        post_as(&gw, &secret(&k), "/v1/chat/completions", &body).await,
        401,
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("Expired"), "{e}");

    // /key/update with a new duration brings it back.
    let updated = ok(post(
        &gw,
        "/key/update",
        &json!({"key": k["token"], "duration": "1h"}),
    )
    .await)
    .await;
    assert_eq!(updated["key"], k["token"]);
    assert_ne!(updated["expires"], k["expires"]);
    assert_eq!(chat(&gw, &secret(&k), "model-a").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_naming_the_field_and_nothing_is_written() {
    let gw = start().await;
    generate(&gw, json!({"key_alias": "taken"})).await;
    let e = bad(
        post(&gw, "/key/generate", &json!({"key_alias": "taken"})).await,
        400,
        "key_alias",
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("taken"), "{e}");

    let cases = [
        (json!({"max_budget": -1}), "max_budget"),
        (json!({"max_budget": "lots"}), "max_budget"),
        (json!({"budget_duration": "5y"}), "budget_duration"),
        (json!({"duration": "10 parsecs"}), "duration"),
        (json!({"models": "model-a"}), "models"),
        (json!({"rpm_limit": 1.5}), "rpm_limit"),
        (json!({"tpm_limit": -3}), "tpm_limit"),
        (json!({"blocked": "maybe"}), "blocked"),
        (json!({"metadata": [1]}), "metadata"),
        (json!({"team_id": "no-such-team"}), "team_id"),
        (json!({"key": "not-an-sk-key"}), "key"),
        (
            json!({"model_max_budget": {"model-a": {"budget_limit": -1}}}),
            "model_max_budget.model-a",
        ),
        // A valid field before a bad one is not written either.
        (json!({"key_alias": "half", "max_budget": -5}), "max_budget"),
    ];
    for (body, param) in cases {
        bad(post(&gw, "/key/generate", &body).await, 400, param).await;
    }
    bad(
        post(
            &gw,
            "/user/new",
            &json!({"user_id": "u-bad", "user_role": "king"}),
        )
        .await,
        400,
        "user_role",
    )
    .await;
    bad(
        post(
            &gw,
            "/team/new",
            &json!({"team_id": "t-bad", "max_budget": -1}),
        )
        .await,
        400,
        "max_budget",
    )
    .await;
    bad(
        post(
            &gw,
            "/team/new",
            &json!({"team_id": "t-bad", "organization_id": "no-org"}),
        )
        .await,
        400,
        "organization_id",
    )
    .await;
    bad(
        post(
            &gw,
            "/team/new",
            &json!({"team_id": "t-bad", "members_with_roles": [{"role": "user"}]}),
        )
        .await,
        400,
        "members_with_roles",
    )
    .await;

    let list = ok(get(&gw, "/key/list?return_full_object=true").await).await;
    assert_eq!(list["total_count"], 1, "{list}");
    assert_eq!(list["keys"][0]["key_alias"], "taken");
    expect_error(get(&gw, "/user/info?user_id=u-bad").await, 404).await;
    expect_error(get(&gw, "/team/info?team_id=t-bad").await, 404).await;

    // A failed update leaves the key as it was.
    let k = generate(&gw, json!({"max_budget": 5})).await;
    bad(
        post(
            &gw,
            "/key/update",
            &json!({"key": secret(&k), "max_budget": 9, "rpm_limit": "x"}),
        )
        .await,
        400,
        "rpm_limit",
    )
    .await;
    let info = ok(get(
        &gw,
        &format!("/key/info?key={}", k["token"].as_str().unwrap()),
    )
    .await)
    .await;
    assert_eq!(info["info"]["max_budget"], 5.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_listed_in_pages_and_never_with_their_secret() {
    let gw = start().await;
    let mut secrets = Vec::new();
    for i in 0..12 {
        let k = generate(
            &gw,
            json!({"user_id": "pager", "key_alias": format!("page-{i}")}),
        )
        .await;
        secrets.push(secret(&k));
    }
    generate(&gw, json!({"user_id": "someone-else"})).await;

    let p1 = ok(get(&gw, "/key/list?user_id=pager&size=5").await).await;
    assert_eq!(p1["total_count"], 12, "{p1}");
    assert_eq!(p1["total_pages"], 3);
    assert_eq!(p1["current_page"], 1);
    assert_eq!(p1["keys"].as_array().unwrap().len(), 5);
    assert!(
        p1["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.as_str().is_some_and(is_sha256_hex)),
        "{p1}"
    );
    let p3 = ok(get(&gw, "/key/list?user_id=pager&size=5&page=3").await).await;
    assert_eq!(p3["keys"].as_array().unwrap().len(), 2);
    assert_eq!(p3["current_page"], 3);
    let all = ok(get(&gw, "/key/list").await).await;
    assert_eq!(all["total_count"], 13);
    assert_eq!(
        all["keys"].as_array().unwrap().len(),
        10,
        "default page size"
    );
    let by_alias = ok(get(&gw, "/key/list?key_alias=page-7&return_full_object=true").await).await;
    assert_eq!(by_alias["total_count"], 1);
    assert_eq!(by_alias["keys"][0]["key_alias"], "page-7");
    assert_eq!(by_alias["keys"][0]["user_id"], "pager");
    bad(get(&gw, "/key/list?size=101").await, 400, "size").await;
    bad(get(&gw, "/key/list?page=0").await, 400, "page").await;

    // No list or info response carries a secret.
    let full = ok_text(get(&gw, "/key/list?size=100&return_full_object=true").await).await;
    let v: Value = serde_json::from_str(&full).unwrap();
    for k in v["keys"].as_array().unwrap() {
        assert!(k.get("key").is_none(), "{k}");
        let info = ok_text(
            get(
                &gw,
                &format!("/key/info?key={}", k["token"].as_str().unwrap()),
            )
            .await,
        )
        .await;
        for s in &secrets {
            assert!(!info.contains(s.as_str()), "secret in /key/info: {info}");
        }
    }
    for s in &secrets {
        assert!(!full.contains(s.as_str()), "secret in /key/list");
    }
    // Asked by its secret, the key is found; the info object still holds no secret.
    let info = ok(get(&gw, &format!("/key/info?key={}", secrets[0])).await).await;
    assert_eq!(info["info"]["key_alias"], "page-0");
    assert!(is_sha256_hex(info["info"]["token"].as_str().unwrap()));
    assert!(!info["info"].to_string().contains(&secrets[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_and_regenerated_keys_stop_working() {
    let gw = start().await;
    let a = secret(&generate(&gw, json!({})).await);
    let b = generate(&gw, json!({"key_alias": "by-alias"})).await;
    assert_eq!(chat(&gw, &a, "model-a").await, 200);
    let d = ok(post(&gw, "/key/delete", &json!({"keys": [a]})).await).await;
    assert_eq!(d["deleted_keys"], json!([a]));
    assert_eq!(chat(&gw, &a, "model-a").await, 401);
    expect_error(post(&gw, "/key/delete", &json!({"keys": [a]})).await, 404).await;
    ok(post(&gw, "/key/delete", &json!({"key_aliases": ["by-alias"]})).await).await;
    assert_eq!(chat(&gw, &secret(&b), "model-a").await, 401);
    bad(post(&gw, "/key/delete", &json!({})).await, 400, "keys").await;

    // Regenerate: a new secret, the same settings and spend; the old secret is dead.
    let k = generate(
        &gw,
        json!({"key_alias": "rotating", "models": ["model-a"], "max_budget": 10}),
    )
    .await;
    let old = secret(&k);
    assert_eq!(chat(&gw, &old, "model-a").await, 200);
    let token = k["token"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let spent = loop {
        let info = ok(get(&gw, &format!("/key/info?key={token}")).await).await;
        let s = info["info"]["spend"].as_f64().unwrap();
        if s > 0.0 || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(spent > 0.0, "the chat was not charged to the key");

    let r = ok(post(
        &gw,
        &format!("/key/{old}/regenerate"),
        &json!({"max_budget": 20}),
    )
    .await)
    .await;
    let new = secret(&r);
    assert_ne!(new, old);
    assert_ne!(r["token"], token.as_str());
    assert_eq!(r["key_name"], format!("sk-...{}", &new[new.len() - 4..]));
    assert_eq!(r["key_alias"], "rotating");
    assert_eq!(r["models"], json!(["model-a"]));
    assert_eq!(r["max_budget"], 20.0);
    assert!(
        (r["spend"].as_f64().unwrap() - spent).abs() < 1e-9,
        "{r} vs {spent}"
    );
    assert_eq!(chat(&gw, &old, "model-a").await, 401);
    assert_eq!(chat(&gw, &new, "model-a").await, 200);
    assert_eq!(chat(&gw, &new, "model-b").await, 401);
    expect_error(get(&gw, &format!("/key/info?key={token}")).await, 404).await;

    // The body form, with a caller-chosen new key.
    let r2 = ok(post(
        &gw,
        "/key/regenerate",
        &json!({"key": new, "new_key": "sk-my-own-rotated-key"}),
    )
    .await)
    .await;
    assert_eq!(r2["key"], "sk-my-own-rotated-key");
    assert_eq!(chat(&gw, &new, "model-a").await, 401);
    assert_eq!(chat(&gw, "sk-my-own-rotated-key", "model-a").await, 200);
    let list = ok(get(&gw, "/key/list?key_alias=rotating").await).await;
    assert_eq!(list["total_count"], 1, "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_reach_the_management_api() {
    let gw = start().await;
    let internal = ok(post(&gw, "/user/new", &json!({"user_id": "worker"})).await).await;
    assert_eq!(internal["user_role"], "internal_user");
    let worker_key = secret(&internal);
    assert_eq!(chat(&gw, &worker_key, "model-a").await, 200);
    expect_error(
        post_as(&gw, &worker_key, "/key/generate", &json!({})).await,
        403,
    )
    .await;
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
    expect_error(
        post_as(&gw, &admin_key, "/key/generate", &json!({})).await,
        403,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_team_refuses_its_keys_and_a_deleted_team_takes_them_along() {
    let gw = start().await;
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
    let gw = start().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_gets_a_working_key_listed_in_user_info() {
    let gw = start().await;
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
async fn keys_survive_a_restart_and_the_database_never_holds_a_secret() {
    let dir = scratch_dir();
    let db = dir.join("shared.db");
    let yaml = config(Some(&db));
    let mut gw = Gateway::start(&yaml).await;
    ok(post(&gw, "/team/new", &json!({"team_id": "lasting"})).await).await;
    let k = generate(
        &gw,
        json!({"key_alias": "durable", "team_id": "lasting", "models": ["model-a"]}),
    )
    .await;
    let key = secret(&k);
    let token = k["token"].as_str().unwrap().to_string();
    let blocked = secret(&generate(&gw, json!({"key_alias": "stays-blocked"})).await);
    ok(post(&gw, "/key/block", &json!({"key": blocked})).await).await;
    let u = ok(post(&gw, "/user/new", &json!({"user_id": "persisted"})).await).await;
    let user_key = secret(&u);
    assert_eq!(chat(&gw, &key, "model-a").await, 200);

    gw.signal(libc::SIGTERM);
    assert!(
        gw.wait_exit(Duration::from_secs(30)).await.is_some(),
        "did not stop"
    );
    drop(gw);

    // The SQLite file (and its journal, if any) holds the token but no secret.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("shared.db")
        {
            bytes.extend(std::fs::read(&p).unwrap());
        }
    }
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        contains(&token),
        "the key's token is not in the database: wrong file?"
    );
    for s in [&key, &blocked, &user_key] {
        assert!(!contains(s), "a secret is stored in the database");
    }

    let gw = Gateway::start(&yaml).await;
    assert_eq!(chat(&gw, &key, "model-a").await, 200);
    assert_eq!(chat(&gw, &key, "model-b").await, 401);
    assert_eq!(chat(&gw, &blocked, "model-a").await, 401);
    assert_eq!(chat(&gw, &user_key, "model-a").await, 200);
    let info = ok(get(&gw, &format!("/key/info?key={key}")).await).await;
    assert_eq!(info["info"]["key_alias"], "durable");
    assert_eq!(info["info"]["team_id"], "lasting");
    ok(get(&gw, "/team/info?team_id=lasting").await).await;
    ok(get(&gw, "/user/info?user_id=persisted").await).await;
    // The alias is still taken after the restart.
    bad(
        post(&gw, "/key/generate", &json!({"key_alias": "durable"})).await,
        400,
        "key_alias",
    )
    .await;
}
