//! E2E: a fallback never escapes the caller's model lists. Every way a request can reach
//! another group after its own failed — the request's `fallbacks`, configured `fallbacks`,
//! `context_window_fallbacks`, `content_policy_fallbacks`, `default_fallbacks`, names resolved
//! through `model_group_alias` or a wildcard group, requests renamed by key and team `aliases` —
//! is checked against the key's, team's, user's and organization's `models`; a group that fails
//! is skipped, and with none left the client gets the original failure.

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::budgets::generate_key;
use crate::support::{client, header, post, Gateway, MASTER_KEY};

/// Groups: `a` (503), `small` (context too long), `strict` (content policy), `lonely` (503, no
/// fallbacks of its own), `b` (healthy, the forbidden one), `c` (healthy), `openai/*`
/// (healthy). Configured fallbacks all lead to `b` first.
struct World {
    gw: Gateway,
    b: MockServer,
    c: MockServer,
    wild: MockServer,
    _down: MockServer,
    _small: MockServer,
    _strict: MockServer,
}

async fn world() -> World {
    let down = MockServer::start(MockConfig {
        status: Some(503),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let small = MockServer::start(MockConfig {
        status: Some(400),
        error_code: Some("context_length_exceeded".into()),
        error_message: Some("This model's maximum context length is 8192 tokens".into()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let strict = MockServer::start(MockConfig {
        status: Some(400),
        error_code: Some("content_policy_violation".into()),
        error_message: Some("Your request was rejected by the safety system".into()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let b = MockServer::start(MockConfig {
        content: "from b".into(),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let c = MockServer::start(MockConfig {
        content: "from c".into(),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let wild = MockServer::start(MockConfig {
        content: "from the wildcard".into(),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dep = |group: &str, model: &str, mock: &MockServer| {
        format!(
            "  - model_name: \"{group}\"\n    litellm_params: {{model: \"openai/{model}\", api_base: \"{}\", api_key: k}}\n",
            mock.url()
        )
    };
    let yaml = format!(
        "model_list:\n{}{}{}{}{}{}{}general_settings:\n  master_key: {MASTER_KEY}\nrouter_settings:
  num_retries: 0
  fallbacks: [{{a: [b, c]}}]
  context_window_fallbacks: [{{small: [b]}}]
  content_policy_fallbacks: [{{strict: [b]}}]
  default_fallbacks: [b]
  model_group_alias: {{to-b: b, to-c: c}}
",
        dep("a", "a-up", &down),
        dep("small", "small-up", &small),
        dep("strict", "strict-up", &strict),
        dep("lonely", "lonely-up", &down),
        dep("b", "b-up", &b),
        dep("c", "c-up", &c),
        dep("openai/*", "*", &wild),
    );
    World {
        gw: Gateway::start(&yaml).await,
        b,
        c,
        wild,
        _down: down,
        _small: small,
        _strict: strict,
    }
}

async fn call(gw: &Gateway, key: &str, model: &str, extra: Value) -> reqwest::Response {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The answer's status and, for a 200, the group that served it; for an error, its message.
async fn outcome(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    if status == 200 {
        let group = header(&r, "x-litellm-model-group");
        return (status, group);
    }
    let v: Value = r.json().await.unwrap();
    (
        status,
        v["error"]["message"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fallback_path_reaches_a_group_the_key_may_not_call() {
    let w = world().await;
    let gw = &w.gw;
    let only_a = generate_key(gw, json!({"models": ["a"]})).await;
    // B called directly is refused.
    assert_eq!(call(gw, &only_a, "b", json!({})).await.status(), 401);

    // Request-body fallbacks: skipped, the client gets a's own 503.
    let (status, msg) = outcome(call(gw, &only_a, "a", json!({"fallbacks": ["b"]})).await).await;
    assert_eq!(status, 503, "body fallbacks: {msg}");
    // Configured fallbacks [b, c]: b is skipped, c is tried when allowed.
    let (status, _) = outcome(call(gw, &only_a, "a", json!({})).await).await;
    assert_eq!(status, 503, "configured fallbacks");
    let a_and_c = generate_key(gw, json!({"models": ["a", "c"]})).await;
    assert_eq!(
        outcome(call(gw, &a_and_c, "a", json!({})).await).await,
        (200, "c".to_string()),
        "configured fallbacks: the allowed c serves, b is skipped"
    );
    // Context-window, content-policy and default fallbacks.
    let key = generate_key(gw, json!({"models": ["small", "strict", "lonely"]})).await;
    let (status, msg) = outcome(call(gw, &key, "small", json!({})).await).await;
    assert_eq!(status, 400, "context_window_fallbacks");
    assert!(msg.contains("maximum context length"), "{msg}");
    let (status, msg) = outcome(call(gw, &key, "strict", json!({})).await).await;
    assert_eq!(status, 400, "content_policy_fallbacks");
    assert!(msg.contains("safety system"), "{msg}");
    let (status, _) = outcome(call(gw, &key, "lonely", json!({})).await).await;
    assert_eq!(status, 503, "default_fallbacks");
    assert_eq!(w.b.request_count(), 0, "b never answered a restricted key");

    // The master key is unrestricted.
    assert_eq!(
        outcome(call(gw, MASTER_KEY, "a", json!({"fallbacks": ["b"]})).await).await,
        (200, "b".to_string())
    );
    assert_eq!(
        outcome(call(gw, MASTER_KEY, "small", json!({})).await).await,
        (200, "b".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_names_resolve_like_requested_models_and_are_checked_by_that_name() {
    let w = world().await;
    let gw = &w.gw;
    // `model_group_alias`: a fallback may name an alias; it passes only if the name does.
    let only_a = generate_key(gw, json!({"models": ["a"]})).await;
    let (status, _) = outcome(call(gw, &only_a, "a", json!({"fallbacks": ["to-b"]})).await).await;
    assert_eq!(status, 503, "alias of a forbidden group");
    let with_alias = generate_key(gw, json!({"models": ["a", "to-c"]})).await;
    assert_eq!(
        outcome(call(gw, &with_alias, "a", json!({"fallbacks": ["to-b", "to-c"]})).await).await,
        (200, "c".to_string()),
        "the allowed alias serves through its group"
    );
    // Wildcard groups, by a name they serve or by their own name.
    for fallback in ["openai/gpt-x", "openai/*"] {
        let (status, _) =
            outcome(call(gw, &only_a, "a", json!({"fallbacks": [fallback]})).await).await;
        assert_eq!(status, 503, "{fallback}");
    }
    assert_eq!(w.wild.request_count(), 0);
    let with_wild = generate_key(gw, json!({"models": ["a", "openai/*"]})).await;
    assert_eq!(
        outcome(call(gw, &with_wild, "a", json!({"fallbacks": ["openai/gpt-x"]})).await).await,
        (200, "openai/*".to_string())
    );
    let sent = w.wild.requests().pop().unwrap().json().unwrap();
    assert_eq!(sent["model"], "gpt-x", "the wildcard stood for the name");
    assert_eq!(w.b.request_count(), 0);
    assert_eq!(w.c.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_user_and_org_lists_and_aliases_bound_fallbacks_too() {
    let w = world().await;
    let gw = &w.gw;
    let ok = |r: reqwest::Response| async move {
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{v}");
        v
    };
    // A key with aliases: renamed to a, then a's configured fallbacks [b, c] are both refused.
    let aliased = generate_key(gw, json!({"models": ["a"], "aliases": {"mine": "a"}})).await;
    let (status, _) = outcome(call(gw, &aliased, "mine", json!({})).await).await;
    assert_eq!(status, 503, "key aliases");
    // A team's list (and its model_aliases) binds its keys, whose own list is open.
    ok(post(
        gw,
        "/team/new",
        &json!({"team_id": "t1", "models": ["a"], "model_aliases": {"team-model": "a"}}),
    )
    .await)
    .await;
    let in_team = generate_key(gw, json!({"team_id": "t1"})).await;
    for (model, extra) in [
        ("team-model", json!({})),
        ("a", json!({"fallbacks": ["b"]})),
    ] {
        let (status, _) = outcome(call(gw, &in_team, model, extra.clone()).await).await;
        assert_eq!(status, 503, "team: {model} {extra}");
    }
    // A user's list.
    ok(post(gw, "/user/new", &json!({"user_id": "u1", "models": ["a"]})).await).await;
    let users = generate_key(gw, json!({"user_id": "u1"})).await;
    let (status, _) = outcome(call(gw, &users, "a", json!({"fallbacks": ["b"]})).await).await;
    assert_eq!(status, 503, "user");
    // An organization's list.
    let org = ok(post(
        gw,
        "/organization/new",
        &json!({"organization_alias": "acme", "models": ["a", "c"]}),
    )
    .await)
    .await;
    let orgs = generate_key(gw, json!({"organization_id": org["organization_id"]})).await;
    assert_eq!(
        outcome(call(gw, &orgs, "a", json!({"fallbacks": ["b", "c"]})).await).await,
        (200, "c".to_string()),
        "organization: b skipped, c allowed"
    );
    assert_eq!(
        w.b.request_count(),
        0,
        "b never answered a restricted caller"
    );
}

/// A fallback to a model the key has its own limits for (`model_rpm_limit`, `model_max_budget`)
/// counts against them as a request for that model would: over them, the next fallback serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_counts_against_the_keys_limits_for_that_model() {
    crate::support::away_from_minute_boundary().await;
    let w = world().await;
    let gw = &w.gw;
    let key = generate_key(gw, json!({"model_rpm_limit": {"b": 1}})).await;
    let body = json!({"fallbacks": ["b", "c"]});
    assert_eq!(
        outcome(call(gw, &key, "a", body.clone()).await).await,
        (200, "b".to_string()),
        "the first fallback of the minute to b"
    );
    assert_eq!(
        outcome(call(gw, &key, "a", body.clone()).await).await,
        (200, "c".to_string()),
        "b's rpm of 1 for this key is used up: c serves"
    );
    let spent = generate_key(gw, json!({"model_max_budget": {"b": 0}})).await;
    assert_eq!(
        outcome(call(gw, &spent, "a", body).await).await,
        (200, "c".to_string()),
        "b's budget of 0 for this key: c serves"
    );
    // A used-up budget refuses even a model without prices.
    let none_left = generate_key(gw, json!({"max_budget": 0})).await;
    let r = call(gw, &none_left, "c", json!({})).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "budget_exceeded", "{v}");
}
