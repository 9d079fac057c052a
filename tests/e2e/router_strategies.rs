//! E2E: each routing strategy against real mocks — least-busy, latency-based (with
//! `routing_strategy_args`), usage-based and cost-based (deployment prices and the bundled
//! price table).

use std::time::Duration;

use bench::mock::{MockConfig, MockServer};

use crate::router::{chat, config, dep, ok};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_busy_latency_usage_and_cost_strategies() {
    // least-busy: two concurrent slow requests land on different deployments.
    let a = MockServer::start(MockConfig {
        latency: Duration::from_millis(400),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let b = MockServer::start(MockConfig {
        latency: Duration::from_millis(400),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&config(
        &[dep("g", &a, ""), dep("g", &b, "")],
        "  routing_strategy: least-busy\n",
    ))
    .await;
    let url = gw.url("/v1/chat/completions");
    let first = tokio::spawn(async move {
        client()
            .post(url)
            .bearer_auth(MASTER_KEY)
            .json(&chat("g"))
            .send()
            .await
            .unwrap()
            .status()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        post(&gw, "/v1/chat/completions", &chat("g")).await.status(),
        200
    );
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!((a.request_count(), b.request_count()), (1, 1));

    // latency-based: once both are measured, the fast one takes the traffic.
    let slow = MockServer::start(MockConfig {
        latency: Duration::from_millis(150),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let fast = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(
        &[dep("g", &slow, ""), dep("g", &fast, "")],
        "  routing_strategy: latency-based-routing\n",
    ))
    .await;
    for _ in 0..12 {
        assert_eq!(
            post(&gw, "/v1/chat/completions", &chat("g")).await.status(),
            200
        );
    }
    assert!(
        slow.request_count() <= 1 && fast.request_count() >= 11,
        "slow {} fast {}",
        slow.request_count(),
        fast.request_count()
    );

    // routing_strategy_args.lowest_latency_buffer: deployments within the buffer share it.
    let gw = Gateway::start(&config(
        &[dep("g", &slow, ""), dep("g", &fast, "")],
        "  routing_strategy: latency-based-routing\n  routing_strategy_args: {lowest_latency_buffer: 1000}\n",
    ))
    .await;
    let before = slow.request_count();
    for _ in 0..30 {
        ok(&gw, &chat("g")).await;
    }
    assert!(
        slow.request_count() - before >= 3,
        "a 150 ms deployment is within 1000x of the fastest (a local mock answers in ~0.2-2 ms): it gets traffic ({})",
        slow.request_count() - before
    );

    // usage-based: a deployment at its rpm for the minute is skipped.
    away_from_minute_boundary().await;
    let capped = MockServer::start(MockConfig::default()).await.unwrap();
    let roomy = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(
        &[
            dep("g", &capped, "      rpm: 2\n"),
            dep("g", &roomy, "      rpm: 1000\n"),
        ],
        "  routing_strategy: usage-based-routing-v2\n",
    ))
    .await;
    for _ in 0..10 {
        ok(&gw, &chat("g")).await;
    }
    assert!(
        capped.request_count() <= 2,
        "capped got {}",
        capped.request_count()
    );

    // cost-based: the cheaper deployment.
    let dear = MockServer::start(MockConfig::default()).await.unwrap();
    let cheap = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(
        &[
            dep("g", &dear, "      input_cost_per_token: 0.00001\n"),
            dep("g", &cheap, "      input_cost_per_token: 0.000001\n"),
        ],
        "  routing_strategy: cost-based-routing\n",
    ))
    .await;
    for _ in 0..5 {
        assert_eq!(
            post(&gw, "/v1/chat/completions", &chat("g")).await.status(),
            200
        );
    }
    assert_eq!((dear.request_count(), cheap.request_count()), (0, 5));

    // cost-based without prices in the config: the bundled price table knows gpt-4o-mini is
    // cheaper than gpt-4o.
    let dear = MockServer::start(MockConfig::default()).await.unwrap();
    let cheap = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = format!(
        "model_list:\n  - model_name: g\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{}\", api_key: k}}\n  - model_name: g\n    litellm_params: {{model: openai/gpt-4o-mini, api_base: \"{}\", api_key: k}}\ngeneral_settings:\n  master_key: {MASTER_KEY}\nrouter_settings:\n  routing_strategy: cost-based-routing\n",
        dear.url(),
        cheap.url()
    );
    let gw = Gateway::start(&yaml).await;
    for _ in 0..5 {
        ok(&gw, &chat("g")).await;
    }
    assert_eq!((dear.request_count(), cheap.request_count()), (0, 5));
}
