//! E2E: the reserved worst case counts everything that multiplies output (`n`, `best_of`), so
//! racing requests that ask for many choices cannot spend past a budget; output-bounding
//! parameters that are not whole numbers in range are refused with a 400 naming them.

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::budgets::{generate_key, key_spend};
use crate::support::{client, expect_error, Gateway, MASTER_KEY};

/// Each choice reports 5 completion tokens (`max_tokens` 5: the provider's worst case), the
/// prompt 10 tokens; at 0.001 / 0.002 USD per token a request with `n` choices costs
/// `0.01 + 0.01 n`.
fn mock() -> MockConfig {
    MockConfig {
        prompt_tokens: Some(10),
        completion_tokens: Some(5),
        latency: std::time::Duration::from_millis(40),
        ..MockConfig::default()
    }
}

fn cost(choices: u64) -> f64 {
    0.01 + 0.01 * choices as f64
}

fn config(api_base: &str) -> String {
    format!(
        "model_list:
  - model_name: priced
    litellm_params:
      model: openai/upstream-model
      api_base: {api_base}
      api_key: sk-upstream
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
"
    )
}

async fn send(gw: &Gateway, key: &str, path: &str, body: &Value) -> reqwest::Response {
    client()
        .post(gw.url(path))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn chat(extra: Value) -> Value {
    let mut body = json!({"model": "priced", "max_tokens": 5,
                          "messages": [{"role": "user", "content": "hello"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_choices_racing_never_push_spend_past_the_budget() {
    let mock = MockServer::start(mock()).await.unwrap();
    let gw = Gateway::start(&config(&mock.url())).await;
    let budget = 1.0;
    let key = generate_key(&gw, json!({"max_budget": budget})).await;
    // 100 requests for 10 choices each race for the whole budget.
    let handles: Vec<_> = (0..100)
        .map(|_| {
            let (url, key) = (gw.url("/v1/chat/completions"), key.clone());
            tokio::spawn(async move {
                client()
                    .post(url)
                    .bearer_auth(key)
                    .json(&chat(json!({"n": 10})))
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut ok = 0u64;
    for h in handles {
        let r = h.await.unwrap();
        match r.status().as_u16() {
            200 => {
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["choices"].as_array().unwrap().len(), 10);
                ok += 1;
            }
            400 => {
                let v: Value = r.json().await.unwrap();
                assert!(crate::support::is_budget_refusal(&v), "{v}");
            }
            s => panic!("unexpected status {s}"),
        }
    }
    let spend = crate::budgets::settled_spend(&gw, &key, ok as f64 * cost(10)).await;
    eprintln!(
        "n=10: {ok} of 100 admitted, spend {spend:.4} of max_budget {budget} (ratio {:.2})",
        spend / budget
    );
    assert!(ok >= 1, "some of the budget is usable");
    assert!(
        (spend - ok as f64 * cost(10)).abs() < 1e-9,
        "{spend} vs {ok} served"
    );
    assert!(
        spend <= budget + 1e-9,
        "spend {spend} exceeded max_budget {budget}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_of_candidates_are_reserved_for() {
    let mock = MockServer::start(mock()).await.unwrap();
    let gw = Gateway::start(&config(&mock.url())).await;
    // Room for one completion's worst case (a few cents), not for ten candidates' (> 0.1).
    let key = generate_key(&gw, json!({"max_budget": 0.05})).await;
    let body = json!({"model": "priced", "prompt": "hello", "max_tokens": 5, "best_of": 10});
    let e = expect_error(send(&gw, &key, "/v1/completions", &body).await, 400).await;
    assert!(crate::support::is_budget_refusal(&e), "{e}");
    assert_eq!(mock.request_count(), 0);
    assert_eq!(key_spend(&gw, &key).await, 0.0);
    // One candidate fits, and is charged what the provider billed.
    let body = json!({"model": "priced", "prompt": "hello", "max_tokens": 5, "best_of": 1});
    let r = send(&gw, &key, "/v1/completions", &body).await;
    assert_eq!(r.status(), 200);
    assert!((crate::budgets::settled_spend(&gw, &key, cost(1)).await - cost(1)).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_bounds_that_are_not_whole_numbers_in_range_are_refused() {
    let mock = MockServer::start(mock()).await.unwrap();
    let gw = Gateway::start(&config(&mock.url())).await;
    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    for (param, value) in [
        ("max_tokens", json!(-1)),
        ("max_tokens", json!(2.5)),
        ("max_tokens", json!("100")),
        ("max_tokens", json!(1e12)),
        ("max_tokens", json!(4_000_000_000u64)),
        ("max_completion_tokens", json!(-5)),
        ("max_completion_tokens", json!(true)),
        ("n", json!(0)),
        ("n", json!(1.5)),
        ("n", json!(1000)),
        ("n", json!(-3)),
        ("best_of", json!(-1)),
        ("best_of", json!(100)),
    ] {
        let body = chat(json!({param: value}));
        let e = expect_error(send(&gw, &key, "/v1/chat/completions", &body).await, 400).await;
        assert_eq!(e["param"], param, "{param}={value}: {e}");
        assert_eq!(e["type"], "invalid_request_error", "{param}={value}: {e}");
        let msg = e["message"].as_str().unwrap();
        assert!(msg.contains(param), "{param}={value}: {msg}");
    }
    // The master key is refused the same way: the bound protects every budget (proxy, end user).
    let body = json!({"model": "priced", "prompt": "x", "n": 500});
    let e = expect_error(send(&gw, MASTER_KEY, "/v1/completions", &body).await, 400).await;
    assert_eq!(e["param"], "n");
    assert_eq!(mock.request_count(), 0, "nothing reached the provider");
    assert_eq!(key_spend(&gw, &key).await, 0.0);
    // `null` means "not set", as for OpenAI; in-range values pass.
    for extra in [
        json!({"max_tokens": null, "n": null}),
        json!({"max_completion_tokens": 5, "n": 2}),
        json!({"n": 128}),
    ] {
        let r = send(&gw, &key, "/v1/chat/completions", &chat(extra.clone())).await;
        assert_eq!(r.status(), 200, "{extra}");
    }
}
