//! E2E: the key management API (`/key/*`) as a LiteLLM script would use it, and what the keys
//! it creates can then do on `/v1/chat/completions`; also the field validation every key, user
//! and team route shares, and keys surviving a restart.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::admin_support::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_key_works_until_blocked_and_again_once_unblocked() {
    let gw = start_keys().await;
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
    let gw = start_keys().await;
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
    let gw = start_keys().await;
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
    let gw = start_keys().await;
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
    let gw = start_keys().await;
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
    let gw = start_keys().await;
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
async fn keys_survive_a_restart_and_the_database_never_holds_a_secret() {
    let dir = scratch_dir();
    let db = dir.join("shared.db");
    let yaml = keys_config(Some(&db));
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
