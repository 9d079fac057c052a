//! E2E: token budgets (`max_token_budget` on keys, teams and users) — prompt + completion
//! tokens per `budget_duration`, reserved and settled like money budgets under the same
//! `budget_enforcement` modes, never overspent by racing requests (on one replica or two),
//! kept across restarts and shown as `tokens_used` by the info routes.

use std::time::Duration;

use bench::mock::MockServer;
use serde_json::{json, Value};

use crate::budgets::{chat, config, generate_key, priced_mock, COST};
use crate::support::{client, header, post, Gateway, MASTER_KEY};

/// Every mock answer reports 10 prompt + 5 completion tokens.
const TOKENS: u64 = 15;
/// The worst case of [`chat`]'s request in tokens: its 80-byte body estimated at 20 prompt
/// tokens, plus `max_tokens: 5`.
const WORST: u64 = 25;

async fn start(tail: &str) -> (Gateway, MockServer) {
    let mock = MockServer::start(priced_mock(0)).await.unwrap();
    let gw = Gateway::start(&config(&mock.url(), tail)).await;
    (gw, mock)
}

/// GET with the master key; the JSON answer.
async fn get(gw: &Gateway, path: &str) -> Value {
    let r = client()
        .get(gw.url(path))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// `info.tokens_used` of `/key/info` (null without a token budget).
pub async fn key_tokens(gw: &Gateway, key: &str) -> Value {
    get(gw, &format!("/key/info?key={key}")).await["info"]["tokens_used"].clone()
}

async fn team_tokens(gw: &Gateway, team: &str) -> Value {
    get(gw, &format!("/team/info?team_id={team}")).await["team_info"]["tokens_used"].clone()
}

/// The error object of a 400 budget refusal.
async fn refusal(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(crate::support::is_budget_refusal(&v), "{v}");
    v["error"].clone()
}

/// A request is settled (its reservation given back, its tokens counted) just after its
/// response is written: the tests wait this long before counting on it.
const SETTLED: Duration = Duration::from_millis(100);

/// One [`chat`] request that must be served; returns once it is settled.
async fn served(gw: &Gateway, key: &str, extra: Value) -> reqwest::Response {
    let r = chat(gw, key, extra).await;
    assert_eq!(r.status(), 200);
    tokio::time::sleep(SETTLED).await;
    r
}

/// Requests one at a time, each once the last is settled, until one is refused; how many
/// were served, and the refusal.
async fn until_refused(gw: &Gateway, key: &str, extra: Value) -> (u64, Value) {
    for served in 0..100 {
        let r = chat(gw, key, extra.clone()).await;
        if r.status() != 200 {
            return (served, refusal(r).await);
        }
        tokio::time::sleep(SETTLED).await;
    }
    panic!("the token budget never refused");
}

#[tokio::test]
async fn a_key_token_budget_counts_tokens_and_refuses_what_does_not_fit() {
    let (gw, _mock) = start("").await;
    let key = generate_key(&gw, json!({"max_token_budget": 100})).await;
    let info = get(&gw, &format!("/key/info?key={key}")).await;
    assert_eq!(info["info"]["max_token_budget"], 100, "{info}");
    assert_eq!(info["info"]["tokens_used"], 0, "{info}");
    // 25 tokens reserved each, 15 charged: after six requests 90 are used and 10 are left,
    // less than the prompt alone.
    let (n, e) = until_refused(&gw, &key, json!({})).await;
    assert_eq!(n, 6);
    assert_eq!(key_tokens(&gw, &key).await, 6 * TOKENS);
    assert_eq!(e["code"], "budget_insufficient", "{e}");
    assert_eq!(e["param"], "max_tokens", "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Token budget left is too small for this request: Key=")
            && msg.contains("has used 90 of its max token budget 100; 10 tokens can still be reserved, and this request could use up to 25 tokens. Not even the prompt fits."),
        "{msg}"
    );
    // Money is charged as before; a key without a token budget shows no count.
    let spend = get(&gw, &format!("/key/info?key={key}")).await["info"]["spend"]
        .as_f64()
        .unwrap();
    assert!((spend - 6.0 * COST).abs() < 1e-9, "{spend}");
    let free = generate_key(&gw, json!({})).await;
    served(&gw, &free, json!({})).await;
    assert_eq!(key_tokens(&gw, &free).await, Value::Null);
    // A regenerated key keeps its count (and so its budget left).
    let r = post(&gw, "/key/regenerate", &json!({"key": key})).await;
    assert_eq!(r.status(), 200);
    let new: Value = r.json().await.unwrap();
    let new = new["key"].as_str().unwrap().to_string();
    assert_eq!(key_tokens(&gw, &new).await, 6 * TOKENS);
    assert_eq!(chat(&gw, &new, json!({})).await.status(), 400);
    // Raising the budget admits again.
    let r = post(
        &gw,
        "/key/update",
        &json!({"key": new, "max_token_budget": 1000}),
    )
    .await;
    assert_eq!(r.status(), 200);
    served(&gw, &new, json!({})).await;
    assert_eq!(key_tokens(&gw, &new).await, 7 * TOKENS);
}

#[tokio::test]
async fn clamp_lowers_max_tokens_to_what_the_token_budget_can_take() {
    let (gw, mock) = start("").await;
    let key = generate_key(&gw, json!({"max_token_budget": 500})).await;
    // No max_tokens (an 83-byte body: 21 prompt tokens): the worst case is 21 + the model's
    // 4,096 output tokens.
    let r = served(&gw, &key, json!({"max_tokens": null})).await;
    let clamped: u64 = header(&r, "x-tollgate-budget-clamped-max-tokens")
        .parse()
        .unwrap();
    assert_eq!(clamped, 500 - 21);
    let sent: Value = serde_json::from_slice(&mock.requests().pop().unwrap().body).unwrap();
    assert_eq!(sent["max_tokens"], clamped);
    // What is left (485) is offered to the next request.
    let r = chat(&gw, &key, json!({"max_tokens": 10_000})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-tollgate-budget-clamped-max-tokens"),
        // 84 bytes: 21 prompt tokens.
        (500 - TOKENS - 21).to_string()
    );
}

#[tokio::test]
async fn reserve_refuses_naming_the_largest_max_tokens_that_fits() {
    let (gw, mock) = start("tollgate_settings:\n  budget_enforcement: reserve\n").await;
    let key = generate_key(&gw, json!({"max_token_budget": 300})).await;
    // An 83-byte body: 21 prompt tokens.
    let e = refusal(chat(&gw, &key, json!({"max_tokens": 1000})).await).await;
    assert_eq!(e["code"], "budget_insufficient", "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("has used 0 of its max token budget 300; 300 tokens can still be reserved, and this request could use up to 1021 tokens. The largest max_tokens that fits: 279."),
        "{msg}"
    );
    assert_eq!(mock.request_count(), 0);
    assert_eq!(
        chat(&gw, &key, json!({"max_tokens": 280})).await.status(),
        400
    );
    assert_eq!(
        chat(&gw, &key, json!({"max_tokens": 279})).await.status(),
        200
    );
}

#[tokio::test]
async fn soft_admits_while_tokens_used_are_below_the_budget() {
    let (gw, _mock) = start("tollgate_settings:\n  budget_enforcement: soft\n").await;
    let key = generate_key(&gw, json!({"max_token_budget": 40})).await;
    // 0, 15 and 30 used are below 40: three served, whatever their worst case.
    let (n, e) = until_refused(&gw, &key, json!({"max_tokens": null})).await;
    assert_eq!(n, 3);
    assert_eq!(e["type"], "budget_exceeded", "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Budget has been exceeded! Key=")
            && msg.ends_with("Tokens used: 45, Max token budget: 40, Remaining: 0"),
        "{msg}"
    );
}

#[tokio::test]
async fn racing_requests_never_use_more_tokens_than_the_budget() {
    let mock = MockServer::start(priced_mock(50)).await.unwrap();
    let gw = Gateway::start(&config(&mock.url(), "")).await;
    let key = generate_key(&gw, json!({"max_token_budget": 300})).await;
    let handles: Vec<_> = (0..100)
        .map(|_| {
            let (url, key) = (gw.url("/v1/chat/completions"), key.clone());
            tokio::spawn(async move {
                let r = client()
                    .post(url)
                    .bearer_auth(key)
                    .json(&json!({"model": "priced", "max_tokens": 5,
                                  "messages": [{"role": "user", "content": "hello"}]}))
                    .send()
                    .await
                    .unwrap();
                if r.status() == 200 {
                    return 1;
                }
                refusal(r).await;
                0
            })
        })
        .collect();
    let mut admitted = 0;
    for h in handles {
        admitted += h.await.unwrap();
    }
    let used = key_tokens(&gw, &key).await.as_u64().unwrap();
    eprintln!("{admitted} of 100 admitted, {used} tokens of 300 used");
    assert_eq!(used, admitted * TOKENS);
    assert!(used <= 300, "{used} tokens used of a 300-token budget");
    assert!(admitted >= 300 / WORST, "only {admitted} admitted");
}

#[tokio::test]
async fn team_and_user_token_budgets_hold_and_show_their_count() {
    let (gw, _mock) = start("").await;
    // A team's budget counts every key of the team.
    let team: Value = post(&gw, "/team/new", &json!({"max_token_budget": 40}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(team["max_token_budget"], 40, "{team}");
    let team_id = team["team_id"].as_str().unwrap().to_string();
    let a = generate_key(&gw, json!({"team_id": team_id})).await;
    let b = generate_key(&gw, json!({"team_id": team_id})).await;
    served(&gw, &a, json!({})).await;
    served(&gw, &b, json!({})).await;
    assert_eq!(team_tokens(&gw, &team_id).await, 2 * TOKENS);
    let e = refusal(chat(&gw, &a, json!({})).await).await;
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "Team={team_id} has used 30 of its max token budget 40"
        )),
        "{msg}"
    );
    assert_eq!(key_tokens(&gw, &a).await, Value::Null);

    // A user's budget counts every key of the user.
    let user: Value = post(&gw, "/user/new", &json!({"max_token_budget": 40}))
        .await
        .json()
        .await
        .unwrap();
    let (user_id, key) = (
        user["user_id"].as_str().unwrap().to_string(),
        user["key"].as_str().unwrap().to_string(),
    );
    let other = generate_key(&gw, json!({"user_id": user_id})).await;
    served(&gw, &key, json!({})).await;
    served(&gw, &other, json!({})).await;
    let info = get(&gw, &format!("/user/info?user_id={user_id}")).await;
    assert_eq!(info["user_info"]["tokens_used"], 2 * TOKENS, "{info}");
    assert_eq!(info["user_info"]["max_token_budget"], 40, "{info}");
    let e = refusal(chat(&gw, &other, json!({})).await).await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains(&format!("User={user_id}")),
        "{e}"
    );
}

#[tokio::test]
async fn token_budgets_reset_with_their_window() {
    let (gw, _mock) = start("").await;
    let key = generate_key(
        &gw,
        json!({"max_token_budget": 30, "budget_duration": "2s"}),
    )
    .await;
    // Start just after a 2 s window boundary so the two requests share a window.
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    tokio::time::sleep(Duration::from_millis(2_000 - ms % 2_000 + 50)).await;
    served(&gw, &key, json!({})).await;
    assert_eq!(
        chat(&gw, &key, json!({})).await.status(),
        400,
        "15 left of 30"
    );
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(key_tokens(&gw, &key).await, 0, "a new window");
    assert_eq!(chat(&gw, &key, json!({})).await.status(), 200);
}

#[tokio::test]
async fn max_token_budget_is_validated_like_the_other_limits() {
    let (gw, _mock) = start("").await;
    for bad in [json!(-1), json!(1.5), json!("many"), json!(true)] {
        for (path, body) in [
            ("/key/generate", json!({"max_token_budget": bad})),
            ("/team/new", json!({"max_token_budget": bad})),
            ("/user/new", json!({"max_token_budget": bad})),
        ] {
            let r = post(&gw, path, &body).await;
            let e = crate::support::expect_error(r, 400).await;
            assert_eq!(e["param"], "max_token_budget", "{path} {bad}: {e}");
        }
    }
    let key = generate_key(&gw, json!({"max_token_budget": "50"})).await;
    let limit = |v: Value| v["info"]["max_token_budget"].clone();
    assert_eq!(limit(get(&gw, &format!("/key/info?key={key}")).await), 50);
    let r = post(
        &gw,
        "/key/update",
        &json!({"key": key, "max_token_budget": null}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let info = get(&gw, &format!("/key/info?key={key}")).await;
    assert_eq!(
        (limit(info.clone()), info["info"]["tokens_used"].clone()),
        (Value::Null, Value::Null)
    );
}

/// Counts survive a graceful restart and a kill after a flush — in the key's `30d` window and
/// a user's `1d` one — and a team deleted and made again starts from zero, then keeps its new
/// count.
#[tokio::test]
async fn token_counts_survive_restarts() {
    let mock = MockServer::start(priced_mock(0)).await.unwrap();
    let dir = crate::support::scratch_dir();
    let tail = format!(
        "tollgate_settings:\n  database_path: {}\n",
        dir.join("tokens.db").display()
    );
    let yaml = config(&mock.url(), &tail);
    let mut gw = Gateway::start(&yaml).await;
    let key = generate_key(
        &gw,
        json!({"max_token_budget": 1000, "budget_duration": "30d"}),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(chat(&gw, &key, json!({})).await.status(), 200);
    }
    let new_team = |gw: &Gateway| {
        let url = gw.url("/team/new");
        async move {
            let r = client()
                .post(url)
                .bearer_auth(MASTER_KEY)
                .json(&json!({"team_id": "t-tokens", "max_token_budget": 1000, "budget_duration": "1d"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    new_team(&gw).await;
    let member = generate_key(&gw, json!({"team_id": "t-tokens"})).await;
    assert_eq!(chat(&gw, &member, json!({})).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1_500)).await; // flushed
    let r = post(&gw, "/team/delete", &json!({"team_ids": ["t-tokens"]})).await;
    assert_eq!(r.status(), 200);
    new_team(&gw).await;
    assert_eq!(team_tokens(&gw, "t-tokens").await, 0, "a new team");
    let member = generate_key(&gw, json!({"team_id": "t-tokens"})).await;
    assert_eq!(chat(&gw, &member, json!({})).await.status(), 200);
    // A user's count too (its counter's row is read before the user's).
    let user: Value = post(
        &gw,
        "/user/new",
        &json!({"user_id": "u-tokens", "max_token_budget": 1000, "budget_duration": "1d"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let own = user["key"].as_str().unwrap().to_string();
    for _ in 0..2 {
        assert_eq!(chat(&gw, &own, json!({})).await.status(), 200);
    }
    gw.signal(libc::SIGTERM);
    assert!(gw.wait_exit(Duration::from_secs(10)).await.is_some());

    let mut gw = Gateway::start(&yaml).await;
    assert_eq!(
        key_tokens(&gw, &key).await,
        3 * TOKENS,
        "graceful stop flushes"
    );
    assert_eq!(team_tokens(&gw, "t-tokens").await, TOKENS);
    let info = get(&gw, "/user/info?user_id=u-tokens").await;
    assert_eq!(info["user_info"]["tokens_used"], 2 * TOKENS, "{info}");
    assert_eq!(chat(&gw, &key, json!({})).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    gw.signal(libc::SIGKILL);
    gw.wait_exit(Duration::from_secs(5)).await;

    let gw = Gateway::start(&yaml).await;
    assert_eq!(
        key_tokens(&gw, &key).await,
        4 * TOKENS,
        "flushed before the kill"
    );
}

/// A key's per-model budget with a `time_period` keeps its spend across a restart (its
/// counter's window is the model budget's, known only once the key is loaded).
#[tokio::test]
async fn a_per_model_budget_with_a_window_survives_a_restart() {
    let mock = MockServer::start(priced_mock(0)).await.unwrap();
    let dir = crate::support::scratch_dir();
    let tail = format!(
        "tollgate_settings:\n  database_path: {}\n",
        dir.join("model.db").display()
    );
    let yaml = config(&mock.url(), &tail);
    let mut gw = Gateway::start(&yaml).await;
    let key = generate_key(
        &gw,
        json!({"model_max_budget": {"priced": {"budget_limit": 0.045, "time_period": "1d"}}}),
    )
    .await;
    assert_eq!(chat(&gw, &key, json!({})).await.status(), 200);
    gw.signal(libc::SIGTERM);
    assert!(gw.wait_exit(Duration::from_secs(10)).await.is_some());
    let gw = Gateway::start(&yaml).await;
    // 0.02 spent of 0.045: the worst case (0.03) does not fit, and 5 tokens would be too few.
    assert_eq!(
        chat(&gw, &key, json!({})).await.status(),
        400,
        "the model's spend was restored"
    );
}

/// Two replicas on PostgreSQL + Redis, 200 requests at once split across them, against a key's
/// token budget and then a team's: the tokens used never pass the budget, both replicas count
/// them all, and the budget is used (not refused wholesale).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_budget_holds_across_replicas() {
    let c = crate::cluster::cluster_with(Duration::from_millis(30)).await;
    let budget = 600;
    for round in ["key", "team"] {
        let (team_budget, key_budget) = if round == "key" {
            (json!(null), json!(budget))
        } else {
            (json!(budget), json!(null))
        };
        let team: Value = post(
            &c.one,
            "/team/new",
            &json!({"max_token_budget": team_budget}),
        )
        .await
        .json()
        .await
        .unwrap();
        let team_id = team["team_id"].as_str().unwrap().to_string();
        let key = generate_key(
            &c.one,
            json!({"max_token_budget": key_budget, "team_id": team_id}),
        )
        .await;
        // The key (and team) reached the other replica.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let ok = crate::cluster::burst(&c, &key, 200).await as u64;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        eprintln!(
            "{round}: {ok} of 200 admitted, {} tokens of {budget}",
            ok * TOKENS
        );
        for gw in [&c.one, &c.two] {
            let used = if round == "key" {
                key_tokens(gw, &key).await
            } else {
                team_tokens(gw, &team_id).await
            };
            assert_eq!(
                used,
                ok * TOKENS,
                "{round}: both replicas count every request"
            );
        }
        assert!(
            ok * TOKENS <= budget,
            "{round}: {ok} admitted: {} tokens used of {budget}",
            ok * TOKENS
        );
        assert!(ok >= 10, "{round}: only {ok} admitted; the budget fits 40");
    }
}

/// A fallback's worst case in tokens is reserved before it is tried: a group whose models may
/// write more (`max_output_tokens`) is skipped when the token budget cannot take that.
#[tokio::test]
async fn a_fallback_that_may_use_more_tokens_is_reserved_for_too() {
    let down = MockServer::start(bench::mock::MockConfig {
        status: Some(503),
        ..bench::mock::MockConfig::default()
    })
    .await
    .unwrap();
    let long = MockServer::start(priced_mock(0)).await.unwrap();
    let yaml = format!(
        "model_list:
  - model_name: short
    litellm_params:
      model: openai/short
      api_base: {}
      api_key: k
      input_cost_per_token: 0.000001
      output_cost_per_token: 0.000002
    model_info: {{max_output_tokens: 1000}}
  - model_name: long
    litellm_params:
      model: openai/long
      api_base: {}
      api_key: k
      input_cost_per_token: 0.000001
      output_cost_per_token: 0.000002
    model_info: {{max_output_tokens: 8192}}
router_settings:
  num_retries: 0
  fallbacks: [{{short: [long]}}]
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
",
        down.url(),
        long.url()
    );
    let gw = Gateway::start(&yaml).await;
    // No max_tokens: about 1,021 tokens on `short`, 8,213 on `long`.
    let ask = json!({"model": "short", "max_tokens": null});
    let tight = generate_key(&gw, json!({"max_token_budget": 5000})).await;
    assert_ne!(chat(&gw, &tight, ask.clone()).await.status(), 200);
    assert_eq!(long.request_count(), 0, "{}", gw.logs());
    assert_eq!(key_tokens(&gw, &tight).await, 0);
    let roomy = generate_key(&gw, json!({"max_token_budget": 10_000})).await;
    let r = chat(&gw, &roomy, ask).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-litellm-model-group"], "long");
    tokio::time::sleep(SETTLED).await;
    assert_eq!(key_tokens(&gw, &roomy).await, TOKENS);
}
