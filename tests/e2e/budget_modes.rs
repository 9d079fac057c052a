//! E2E: what a budget does with a request whose worst case does not fit what is left of it
//! (`tollgate_settings.budget_enforcement`): `clamp` (default) admits it with a lower upstream
//! `max_tokens` and says so; `reserve` refuses it, naming the largest `max_tokens` that fits;
//! `soft` (LiteLLM's) admits while spend is below the budget. "Exceeded" only when it is.

use bench::mock::MockServer;
use serde_json::{json, Value};

use crate::budgets::{chat, config, generate_key, key_spend, priced_mock, settled_spend, COST};
use crate::support::{header, Gateway};

/// The `max_tokens` the provider received in the last request.
fn upstream_max_tokens(mock: &MockServer) -> Option<u64> {
    let last = mock
        .requests()
        .pop()
        .expect("a request reached the provider");
    let v: Value = serde_json::from_slice(&last.body).unwrap();
    v["max_tokens"].as_u64()
}

async fn start(mode: Option<&str>) -> (Gateway, MockServer) {
    let mock = MockServer::start(priced_mock(0)).await.unwrap();
    let tail = mode
        .map(|m| format!("tollgate_settings:\n  budget_enforcement: {m}\n"))
        .unwrap_or_default();
    let gw = Gateway::start(&config(&mock.url(), &tail)).await;
    (gw, mock)
}

/// No `max_tokens`: the worst case is the model's whole output (4096 tokens × 0.002 = 8.19),
/// more than a fresh 1.00 budget. Today's refusal "Budget has been exceeded! Current cost: 0"
/// becomes an answer with the output bounded by what the budget can pay.
#[tokio::test]
async fn clamp_admits_a_fresh_small_budget_with_a_lower_max_tokens() {
    let (gw, mock) = start(None).await;
    let key = generate_key(&gw, json!({"max_budget": 1.0})).await;
    let r = chat(&gw, &key, json!({"max_tokens": null})).await;
    assert_eq!(r.status(), 200);
    let clamped: u64 = header(&r, "x-tollgate-budget-clamped-max-tokens")
        .parse()
        .unwrap();
    assert_eq!(upstream_max_tokens(&mock), Some(clamped));
    // 1.00 less the prompt (about 25 tokens at 0.001) pays about 487 output tokens at 0.002.
    assert!((400..500).contains(&clamped), "clamped to {clamped}");
    // A request whose worst case fits is sent as asked, without the header.
    let r = chat(&gw, &key, json!({"max_tokens": 5})).await;
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .get("x-tollgate-budget-clamped-max-tokens")
        .is_none());
    assert_eq!(upstream_max_tokens(&mock), Some(5));
    // Spend by usage, never past the budget: run it down.
    let mut served = 2;
    loop {
        let r = chat(&gw, &key, json!({"max_tokens": null})).await;
        if r.status() != 200 {
            let v: Value = r.json().await.unwrap();
            assert!(crate::support::is_budget_refusal(&v), "{v}");
            break;
        }
        served += 1;
        assert!(served < 60, "never refused");
    }
    let spend = settled_spend(&gw, &key, served as f64 * COST).await;
    assert!((spend - served as f64 * COST).abs() < 1e-9, "{spend}");
    assert!(spend <= 1.0 + 1e-9, "spend {spend}");
}

#[tokio::test]
async fn reserve_refuses_with_what_is_left_and_what_would_fit() {
    let (gw, mock) = start(Some("reserve")).await;
    let key = generate_key(&gw, json!({"max_budget": 1.0})).await;
    let r = chat(&gw, &key, json!({"max_tokens": 1000})).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    let e = &v["error"];
    assert_eq!(e["code"], "budget_insufficient", "{v}");
    assert_eq!(e["param"], "max_tokens", "{v}");
    let msg = e["message"].as_str().unwrap();
    assert!(!msg.contains("exceeded"), "not exceeded: {msg}");
    assert!(
        msg.contains("has spent 0.000000 of its max budget 1"),
        "{msg}"
    );
    let fits: u64 = msg
        .rsplit("The largest max_tokens that fits: ")
        .next()
        .and_then(|t| t.trim_end_matches('.').parse().ok())
        .unwrap_or_else(|| panic!("no largest max_tokens in {msg}"));
    assert!((400..500).contains(&fits), "{msg}");
    assert_eq!(mock.request_count(), 0);
    // The advice holds: that max_tokens is admitted, one more is not.
    assert_eq!(
        chat(&gw, &key, json!({"max_tokens": fits + 1}))
            .await
            .status(),
        400
    );
    assert_eq!(
        chat(&gw, &key, json!({"max_tokens": fits})).await.status(),
        200
    );
    assert_eq!(upstream_max_tokens(&mock), Some(fits));
}

#[tokio::test]
async fn soft_admits_while_spend_is_below_the_budget_and_exceeded_means_exceeded() {
    let (gw, _mock) = start(Some("soft")).await;
    let key = generate_key(&gw, json!({"max_budget": 0.05})).await;
    // Worst cases of 8+ dollars, admitted as LiteLLM does while spend < budget: 3 × 0.02.
    let mut served = 0;
    for _ in 0..3 {
        assert_eq!(
            chat(&gw, &key, json!({"max_tokens": null})).await.status(),
            200
        );
        served += 1;
    }
    let spend = key_spend(&gw, &key).await;
    assert!((spend - served as f64 * COST).abs() < 1e-9);
    let r = chat(&gw, &key, json!({})).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "budget_exceeded", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("Budget has been exceeded!") && msg.contains("Remaining: 0"),
        "{msg}"
    );
}

/// The Anthropic door: a clamped `max_tokens` is what reaches the provider, whether the body
/// passes through to an Anthropic deployment or is translated for another.
#[tokio::test]
async fn clamp_reaches_the_provider_through_the_anthropic_door_too() {
    for (model, base) in [
        ("anthropic/claude-up", "{addr}"),
        ("openai/gpt-up", "{url}"),
    ] {
        let mock = MockServer::start(priced_mock(0)).await.unwrap();
        let base = base
            .replace("{addr}", &format!("http://{}", mock.addr))
            .replace("{url}", &mock.url());
        let yaml = config(&base, "").replace("openai/upstream-model", model);
        let gw = Gateway::start(&yaml).await;
        let key = generate_key(&gw, json!({"max_budget": 1.0})).await;
        let r = crate::support::client()
            .post(gw.url("/v1/messages"))
            .bearer_auth(&key)
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": "priced", "max_tokens": 100000,
                          "messages": [{"role": "user", "content": "hello"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{model}");
        let clamped: u64 = header(&r, "x-tollgate-budget-clamped-max-tokens")
            .parse()
            .unwrap();
        assert!((400..500).contains(&clamped), "{model}: {clamped}");
        assert_eq!(upstream_max_tokens(&mock), Some(clamped), "{model}");
        assert!(key_spend(&gw, &key).await <= 1.0);
    }
}
