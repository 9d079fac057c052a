//! E2E: two `tollgate` replicas sharing one PostgreSQL database and one Redis — keys made on
//! one work on the other, a key blocked on one is refused by the other within a second, and
//! budgets and rpm limits count both replicas' traffic. Needs `DATABASE_URL` (a fresh database
//! is created per test) and `REDIS_URL`; CI sets both and the tests fail if either is down.

use std::time::{Duration, Instant};

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::budgets::{chat, generate_key, key_spend};
use crate::support::{post, Gateway, MASTER_KEY};

fn postgres() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

fn redis() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

struct Cluster {
    one: Gateway,
    two: Gateway,
    _mock: MockServer,
    _db: store::testing::ScratchDb,
}

async fn cluster() -> Cluster {
    let mock = MockServer::start(MockConfig {
        prompt_tokens: Some(10),
        completion_tokens: Some(5),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let (url, db) = store::testing::scratch_postgres(&postgres())
        .await
        .expect("DATABASE_URL must point at a reachable PostgreSQL");
    let yaml = format!(
        "model_list:
  - model_name: priced
    litellm_params:
      model: openai/upstream-model
      api_base: {}
      api_key: sk-upstream
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
general_settings:
  master_key: {MASTER_KEY}
  database_url: \"{url}\"
  proxy_batch_write_at: 1
router_settings:
  redis_url: \"{}\"
",
        mock.url(),
        redis()
    );
    let one = Gateway::start(&yaml).await;
    let two = Gateway::start(&yaml).await;
    assert!(one.logs().contains("database: postgres"), "{}", one.logs());
    // Both subscribed before the test starts.
    tokio::time::sleep(Duration::from_millis(400)).await;
    Cluster {
        one,
        two,
        _mock: mock,
        _db: db,
    }
}

/// Polls `f` until it returns true or `within` passes; returns how long it took.
async fn eventually<F, Fut>(within: Duration, mut f: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < within {
        if f().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_blocked_on_one_replica_is_refused_by_the_other_within_a_second() {
    let c = cluster().await;
    let key = generate_key(&c.one, json!({})).await;
    let seen = eventually(Duration::from_secs(1), || async {
        chat(&c.two, &key, json!({})).await.status() == 200
    })
    .await;
    assert!(
        seen.is_some(),
        "a key made on one works on two within a second"
    );
    let r = post(&c.one, "/key/block", &json!({"key": key})).await;
    assert_eq!(r.status(), 200);
    let refused = eventually(Duration::from_secs(1), || async {
        chat(&c.two, &key, json!({})).await.status() == 401
    })
    .await;
    assert!(
        refused.is_some(),
        "replica two still accepts a blocked key after 1 s"
    );
    eprintln!("block reached the other replica in {:?}", refused.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_holds_across_replicas() {
    let c = cluster().await;
    let key = generate_key(&c.one, json!({"max_budget": 0.1})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Alternate replicas, each request after the last one's spend was shared (250 ms).
    let mut ok = 0;
    for i in 0..12 {
        let gw = if i % 2 == 0 { &c.one } else { &c.two };
        let r = chat(gw, &key, json!({})).await;
        match r.status().as_u16() {
            200 => ok += 1,
            400 => {
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["error"]["type"], "budget_exceeded");
            }
            s => panic!("status {s}"),
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // 0.02 per request, worst case ~0.038 reserved: at most 4 fit in 0.10 (5 would be 0.10
    // only if no reservation were needed).
    assert!(
        (3..=4).contains(&ok),
        "{ok} requests admitted across both replicas"
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for gw in [&c.one, &c.two] {
        let spend = key_spend(gw, &key).await;
        assert!(spend <= 0.1 + 1e-9, "spend {spend} over the budget");
        assert_eq!(chat(gw, &key, json!({})).await.status(), 400);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpm_limit_holds_across_replicas() {
    crate::support::away_from_minute_boundary().await;
    let c = cluster().await;
    let key = generate_key(&c.one, json!({"rpm_limit": 4})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for gw in [&c.one, &c.two] {
        for _ in 0..2 {
            assert_eq!(chat(gw, &key, json!({})).await.status(), 200);
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    for gw in [&c.one, &c.two] {
        assert_eq!(
            chat(gw, &key, json!({})).await.status(),
            429,
            "the fifth request of the minute, on either replica"
        );
    }
}

#[tokio::test]
async fn redis_down_fails_open_or_closed_as_configured_and_never_hangs() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    // Nothing listens on this port: Redis is "down" from the start.
    let dead = format!("redis://127.0.0.1:{}", crate::support::free_port());
    for (mode, want) in [("open", 200), ("closed", 503)] {
        let yaml = format!(
            "model_list:\n  - model_name: priced\n    litellm_params: {{model: openai/m, api_base: \"{}\", api_key: k}}\ngeneral_settings:\n  master_key: {MASTER_KEY}\nrouter_settings:\n  redis_url: \"{dead}\"\ntollgate_settings:\n  redis_failure_mode: {mode}\n",
            mock.url()
        );
        let gw = Gateway::start(&yaml).await;
        let limited = generate_key(&gw, json!({"rpm_limit": 1000})).await;
        let free = generate_key(&gw, json!({})).await;
        // The first failed sync (every 250 ms) marks Redis down.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let start = Instant::now();
        let r = chat(&gw, &limited, json!({"model": "priced"})).await;
        assert!(start.elapsed() < Duration::from_secs(2), "no hang");
        assert_eq!(r.status(), want, "redis_failure_mode {mode}");
        if want == 503 {
            let v: Value = r.json().await.unwrap();
            assert!(v["error"]["message"].as_str().unwrap().contains("Redis"));
        }
        // A key without budgets or limits is never affected.
        assert_eq!(chat(&gw, &free, json!({})).await.status(), 200);
        assert!(gw.logs().contains("redis unreachable"), "{}", gw.logs());
    }
}
