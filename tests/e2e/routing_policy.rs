//! Stage 3 policies that come from who is calling: a bare model name reaching its provider's
//! wildcard group (and the key lists that judge it), an end user's `allowed_model_region`
//! against deployments' regions (retries and fallbacks included), and key and team tags in tag
//! routing.

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::budgets::generate_key;
use crate::router::{chat, config, dep};
use crate::support::*;

/// Posts `body` with `key` to the chat route.
async fn post_as(gw: &Gateway, key: &str, body: &Value) -> reqwest::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// An admin call that must answer 200.
async fn admin(gw: &Gateway, path: &str, body: Value) -> Value {
    let r = post(gw, path, &body).await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{path}: {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_known_name_reaches_its_providers_wildcard_group() {
    let openai = MockServer::start(MockConfig::default()).await.unwrap();
    let anthropic = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = format!(
        "model_list:
  - model_name: \"openai/*\"
    litellm_params: {{model: \"openai/*\", api_base: \"{}\", api_key: k}}
  - model_name: \"anthropic/*\"
    litellm_params: {{model: \"anthropic/*\", api_base: \"http://{}\", api_key: k}}
general_settings:
  master_key: {MASTER_KEY}
",
        openai.url(),
        anthropic.addr
    );
    let gw = Gateway::start(&yaml).await;
    let r = post(&gw, "/v1/chat/completions", &chat("gpt-4o")).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert_eq!(header(&r, "x-litellm-model-group"), "openai/*");
    assert_eq!(openai.requests()[0].json().unwrap()["model"], "gpt-4o");
    let r = post(
        &gw,
        "/v1/chat/completions",
        &chat("claude-3-haiku-20240307"),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert_eq!(header(&r, "x-litellm-model-group"), "anthropic/*");
    let sent = &anthropic.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.json().unwrap()["model"], "claude-3-haiku-20240307");
    // A name no provider is known for stays unknown.
    expect_error(
        post(&gw, "/v1/chat/completions", &chat("mystery-model")).await,
        400,
    )
    .await;

    // Key lists judge the bare name as LiteLLM does: `openai/*` admits `gpt-4o`, not Claude.
    let key = generate_key(&gw, json!({"models": ["openai/*"]})).await;
    assert_eq!(post_as(&gw, &key, &chat("gpt-4o")).await.status(), 200);
    let e = expect_error(
        post_as(&gw, &key, &chat("claude-3-haiku-20240307")).await,
        401,
    )
    .await;
    assert!(
        e["message"].as_str().unwrap().contains("not allowed"),
        "{e}"
    );
    assert_eq!((openai.request_count(), anthropic.request_count()), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_user_bound_to_a_region_never_reaches_a_deployment_outside_it() {
    let eu = MockServer::start(MockConfig::default()).await.unwrap();
    let us = MockServer::start(MockConfig::default()).await.unwrap();
    let unknown = MockServer::start(MockConfig::default()).await.unwrap();
    let fb_us = MockServer::start(MockConfig::default()).await.unwrap();
    let fb_eu = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = config(
        &[
            dep("g", &eu, "      region_name: eu\n"),
            dep("g", &us, "      region_name: us\n"),
            dep("g", &unknown, ""),
            dep("fb", &fb_us, "      region_name: eastus2\n"),
            // Where LiteLLM needs `eu`, a provider's own region name counts too.
            dep("fb", &fb_eu, "      region_name: eu-west-1\n"),
            dep("us-only", &us, "      region_name: us\n"),
        ],
        "  fallbacks: [{g: [fb]}]\n",
    );
    let gw = Gateway::start(&yaml).await;
    admin(
        &gw,
        "/customer/new",
        json!({"user_id": "eu-user", "allowed_model_region": "eu"}),
    )
    .await;
    admin(
        &gw,
        "/customer/new",
        json!({"user_id": "us-user", "allowed_model_region": "us"}),
    )
    .await;
    let as_user = |model: &str, user: &str| {
        let mut b = chat(model);
        b["user"] = json!(user);
        b
    };
    for _ in 0..10 {
        let r = post(&gw, "/v1/chat/completions", &as_user("g", "eu-user")).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(
        (
            eu.request_count(),
            us.request_count(),
            unknown.request_count()
        ),
        (10, 0, 0),
        "every request of the eu end user went to the eu deployment"
    );
    for _ in 0..5 {
        ok(&gw, &as_user("g", "us-user")).await;
    }
    assert_eq!((eu.request_count(), us.request_count()), (10, 5));
    // An end user without a region goes anywhere.
    for _ in 0..30 {
        ok(&gw, &as_user("g", "someone-else")).await;
    }
    assert!(us.request_count() > 5 && unknown.request_count() > 0);

    // The eu deployment fails: the failover does not move to the us one, the fallback group
    // serves from its eu deployment only.
    let before = (
        us.request_count(),
        unknown.request_count(),
        fb_us.request_count(),
    );
    eu.fail_next(1, 503);
    let r = post(&gw, "/v1/chat/completions", &as_user("g", "eu-user")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-model-group"), "fb");
    assert_eq!(header(&r, "x-litellm-model-api-base"), fb_eu.url());
    assert_eq!(
        (
            us.request_count(),
            unknown.request_count(),
            fb_us.request_count()
        ),
        before
    );

    // A group with no deployment in the region: LiteLLM's "No deployments available" 429,
    // and nobody is called.
    let calls = us.request_count();
    let e = expect_error(
        post(&gw, "/v1/chat/completions", &as_user("us-only", "eu-user")).await,
        429,
    )
    .await;
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.starts_with("No deployments available for selected model") && msg.contains("region eu"),
        "{msg}"
    );
    assert_eq!(us.request_count(), calls);
}

/// Posts and asserts a 200.
async fn ok(gw: &Gateway, body: &Value) {
    crate::router::ok(gw, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_and_team_tags_take_part_in_tag_routing() {
    let a = MockServer::start(MockConfig::default()).await.unwrap();
    let b = MockServer::start(MockConfig::default()).await.unwrap();
    let d = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = config(
        &[
            dep("g", &a, "      tags: [teamA]\n"),
            dep("g", &b, "      tags: [teamB]\n"),
            dep("g", &d, "      tags: [default]\n"),
        ],
        "  enable_tag_filtering: true\n",
    );
    let gw = Gateway::start(&yaml).await;
    let counts = || (a.request_count(), b.request_count(), d.request_count());

    // A team's tags route its keys' requests.
    admin(
        &gw,
        "/team/new",
        json!({"team_id": "ta", "tags": ["teamA"]}),
    )
    .await;
    let team_key = generate_key(&gw, json!({"team_id": "ta"})).await;
    for _ in 0..5 {
        assert_eq!(post_as(&gw, &team_key, &chat("g")).await.status(), 200);
    }
    assert_eq!(counts(), (5, 0, 0), "the team's tag routes");

    // A key's own tags, as `tags` or in `metadata.tags`.
    let tagged = generate_key(&gw, json!({"tags": ["teamB"]})).await;
    let meta = generate_key(&gw, json!({"metadata": {"tags": ["teamB"]}})).await;
    for k in [&tagged, &meta] {
        assert_eq!(post_as(&gw, k, &chat("g")).await.status(), 200);
    }
    assert_eq!(counts(), (5, 2, 0), "the key's tags route");

    // The client cannot tag its way out of its team's deployments…
    let mut escape = chat("g");
    escape["tags"] = json!(["teamB"]);
    for _ in 0..3 {
        assert_eq!(post_as(&gw, &team_key, &escape).await.status(), 200);
    }
    assert_eq!(counts(), (8, 2, 0), "client tags do not widen a team's");
    // …unless the team lets its clients tag (`metadata.allow_client_tags`): then both count.
    admin(
        &gw,
        "/team/new",
        json!({"team_id": "open", "tags": ["teamA"], "metadata": {"allow_client_tags": true}}),
    )
    .await;
    let open_key = generate_key(&gw, json!({"team_id": "open"})).await;
    for _ in 0..20 {
        assert_eq!(post_as(&gw, &open_key, &escape).await.status(), 200);
    }
    let (ca, cb, cd) = counts();
    assert_eq!(ca + cb - 10, 20, "merged tags: teamA or teamB");
    assert!(ca > 8 && cb > 2, "both tags count: {:?}", counts());
    assert_eq!(cd, 0);
    // An untagged key (or the master key) still routes by the request's tags alone.
    let plain = generate_key(&gw, json!({})).await;
    assert_eq!(post_as(&gw, &plain, &escape).await.status(), 200);
    assert_eq!(post_as(&gw, &plain, &chat("g")).await.status(), 200);
    assert_eq!((counts().1, counts().2), (cb + 1, 1));
}
