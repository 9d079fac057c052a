//! Several replicas behind one Redis: a cooldown entered on one replica is honoured by the
//! others, and so are its usage counts and latencies; with Redis down, each replica keeps its own and requests never fail because of it.
//! Uses `REDIS_URL` (CI sets it; default `redis://127.0.0.1:6379`).

use std::time::Duration;

use bench::mock::{MockConfig, MockServer};
use serde_json::json;

use crate::support::*;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

fn config(bad: &MockServer, good: &MockServer, redis: &str) -> String {
    format!(
        "model_list:\n  - model_name: g\n    litellm_params: {{model: openai/bad, api_base: \"{}\", api_key: k, order: 1}}\n  - model_name: g\n    litellm_params: {{model: openai/good, api_base: \"{}\", api_key: k, order: 2}}\ngeneral_settings:\n  master_key: {MASTER_KEY}\nrouter_settings:\n  num_retries: 1\n  allowed_fails: 0\n  cooldown_time: 30\n  redis_url: \"{redis}\"\n",
        bad.url(),
        good.url()
    )
}

fn chat() -> serde_json::Value {
    json!({"model": "g", "messages": [{"role": "user", "content": "hi"}]})
}

/// Sends `n` chat requests to `gw`, each answered 200.
async fn chat_ok(gw: &Gateway, n: usize) {
    for _ in 0..n {
        assert_eq!(
            post(gw, "/v1/chat/completions", &chat()).await.status(),
            200
        );
    }
}

/// `GET /metrics`.
async fn metrics(gw: &Gateway) -> String {
    let r = client().get(gw.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_on_one_replica_is_honoured_by_the_other() {
    let bad = MockServer::start(MockConfig {
        status: Some(503),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let good = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = config(&bad, &good, &redis_url());
    let one = Gateway::start(&yaml).await;
    let two = Gateway::start(&yaml).await;
    // Let both replicas subscribe.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        post(&one, "/v1/chat/completions", &chat()).await.status(),
        200
    );
    assert_eq!(
        bad.request_count(),
        1,
        "replica one tried the order-1 deployment once"
    );
    // Within a second, replica two knows the deployment is cooling.
    tokio::time::sleep(Duration::from_millis(500)).await;
    chat_ok(&two, 10).await;
    assert_eq!(
        bad.request_count(),
        1,
        "replica two called the deployment replica one cooled down\n{}",
        two.logs()
    );
    assert_eq!(good.request_count(), 11);
    let metrics = metrics(&two).await;
    assert!(
        metrics.contains("tollgate_redis_up{use=\"router\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_keeps_cooldowns_local_and_requests_working() {
    let bad = MockServer::start(MockConfig {
        status: Some(503),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let good = MockServer::start(MockConfig::default()).await.unwrap();
    let closed = free_port();
    let gw = Gateway::start(&config(&bad, &good, &format!("redis://127.0.0.1:{closed}"))).await;
    chat_ok(&gw, 5).await;
    assert_eq!(bad.request_count(), 1, "the local cooldown still holds");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        gw.logs().contains("redis"),
        "no warning about Redis: {}",
        gw.logs()
    );
    // ... and a metric says so. The usage sync runs every 250 ms and fails after its connect
    // attempt; on a loaded machine its first failure may come later than the others'.
    let usage_failed = "litellm_redis_failed_requests_total{error_class=\"ConnectionError\",function_name=\"usage_sync\"}";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut metrics = metrics(&gw).await;
    while !metrics.contains(usage_failed) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        metrics = self::metrics(&gw).await;
    }
    assert!(
        metrics.contains("tollgate_redis_up{use=\"router\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "litellm_redis_failed_requests_total{error_class=\"ConnectionError\",function_name=\"usage_sync\"}"
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpm_limit_holds_across_replicas() {
    away_from_minute_boundary().await;
    let capped = MockServer::start(MockConfig::default()).await.unwrap();
    let spare = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = format!(
        "model_list:\n  - model_name: g\n    litellm_params: {{model: openai/capped, api_base: \"{}\", api_key: k, rpm: 3, order: 1}}\n  - model_name: g\n    litellm_params: {{model: openai/spare, api_base: \"{}\", api_key: k, order: 2}}\ngeneral_settings:\n  master_key: {MASTER_KEY}\nrouter_settings:\n  enable_pre_call_checks: true\n  redis_url: \"{}\"\n",
        capped.url(),
        spare.url(),
        redis_url()
    );
    let one = Gateway::start(&yaml).await;
    let two = Gateway::start(&yaml).await;
    chat_ok(&one, 3).await;
    assert_eq!(
        capped.request_count(),
        3,
        "order 1 takes the traffic while under its rpm"
    );
    // Replica two learns the minute's count through Redis (shared every 250 ms).
    tokio::time::sleep(Duration::from_millis(800)).await;
    chat_ok(&two, 3).await;
    assert_eq!(
        capped.request_count(),
        3,
        "replica two went past the deployment's rpm\n{}",
        two.logs()
    );
    assert_eq!(spare.request_count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_based_routing_uses_the_latency_other_replicas_measured() {
    let slow = MockServer::start(MockConfig {
        latency: Duration::from_millis(150),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let fast = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = format!(
        "model_list:\n  - model_name: g\n    litellm_params: {{model: openai/slow, api_base: \"{}\", api_key: k}}\n  - model_name: g\n    litellm_params: {{model: openai/fast, api_base: \"{}\", api_key: k}}\ngeneral_settings:\n  master_key: {MASTER_KEY}\nrouter_settings:\n  routing_strategy: latency-based-routing\n  redis_url: \"{}\"\n",
        slow.url(),
        fast.url(),
        redis_url()
    );
    let one = Gateway::start(&yaml).await;
    let two = Gateway::start(&yaml).await;
    // Replica one measures both deployments (an unmeasured one is always tried first).
    chat_ok(&one, 4).await;
    assert!(slow.request_count() >= 1 && fast.request_count() >= 1);
    let slow_before = slow.request_count();
    // Replica two has measured nothing itself; within a second it has replica one's numbers
    // and sends nothing to the slow deployment (alone, it would try it as unmeasured).
    tokio::time::sleep(Duration::from_millis(800)).await;
    chat_ok(&two, 10).await;
    assert_eq!(
        slow.request_count(),
        slow_before,
        "replica two tried the deployment replica one measured as slow\n{}",
        two.logs()
    );
}
