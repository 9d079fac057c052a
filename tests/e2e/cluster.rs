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

pub struct Cluster {
    pub one: Gateway,
    pub two: Gateway,
    _mock: MockServer,
    _db: store::testing::ScratchDb,
}

async fn cluster() -> Cluster {
    cluster_with(Duration::ZERO).await
}

/// Two replicas in front of a mock answering after `latency`.
pub async fn cluster_with(latency: Duration) -> Cluster {
    let mock = MockServer::start(MockConfig {
        prompt_tokens: Some(10),
        completion_tokens: Some(5),
        latency,
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
                assert!(crate::support::is_budget_refusal(&v), "{v}");
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
            "model_list:\n  - model_name: priced\n    litellm_params: {{model: openai/m, api_base: \"{}\", api_key: k, input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}}\ngeneral_settings:\n  master_key: {MASTER_KEY}\nrouter_settings:\n  redis_url: \"{dead}\"\ntollgate_settings:\n  redis_failure_mode: {mode}\n",
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
        if mode == "open" {
            // A budget needs a slice from the cluster: checked locally instead, and counted.
            let budgeted = generate_key(&gw, json!({"max_budget": 10})).await;
            assert_eq!(chat(&gw, &budgeted, json!({})).await.status(), 200);
            let metrics = crate::support::client()
                .get(gw.url("/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(
                metrics.contains("tollgate_budget_lease_fallbacks_total{mode=\"open\"} 1"),
                "{metrics}"
            );
        }
        assert!(gw.logs().contains("redis unreachable"), "{}", gw.logs());
    }
}

/// Sends `n` requests at once with `key`, alternating replicas; returns how many got 200. Any
/// answer but 200 or a budget refusal fails the test.
pub async fn burst(c: &Cluster, key: &str, n: usize) -> usize {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let url = if i % 2 == 0 { &c.one } else { &c.two }.url("/v1/chat/completions");
            let key = key.to_string();
            tokio::spawn(async move {
                let r = crate::support::client()
                    .post(url)
                    .bearer_auth(key)
                    .json(&json!({"model": "priced", "max_tokens": 5,
                                  "messages": [{"role": "user", "content": "hello"}]}))
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                if status != 200 {
                    let v: Value = r.json().await.unwrap();
                    assert!(
                        status == 400 && crate::support::is_budget_refusal(&v),
                        "{status} {v}"
                    );
                }
                status == 200
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    ok
}

/// The spend `path` (`/key/info?key=…`, `/team/info?team_id=…`) reports on `gw`.
async fn spend_at(gw: &Gateway, path: &str) -> f64 {
    let v: Value = crate::support::client()
        .get(gw.url(path))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["info"]["spend"]
        .as_f64()
        .or_else(|| v["team_info"]["spend"].as_f64())
        .unwrap_or_else(|| panic!("no spend in {v}"))
}

/// Three bursts of 200 concurrent requests split across two replicas — against a key budget, a
/// team budget, and both — never record more spend than the budget allows, and the budget is
/// used (not refused wholesale).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bursts_split_across_replicas_never_overspend() {
    let c = cluster_with(Duration::from_millis(30)).await;
    let budget = 0.5;
    for round in ["key", "team", "key and team"] {
        let team_budget = if round == "key" {
            json!(null)
        } else {
            json!(budget)
        };
        let team: Value = post(&c.one, "/team/new", &json!({"max_budget": team_budget}))
            .await
            .json()
            .await
            .unwrap();
        let team_id = team["team_id"].as_str().unwrap().to_string();
        let key_budget = if round == "team" {
            json!(null)
        } else {
            json!(budget)
        };
        let key = generate_key(
            &c.one,
            json!({"max_budget": key_budget, "team_id": team_id}),
        )
        .await;
        // The key (and team) reached the other replica.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let ok = burst(&c, &key, 200).await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let paths = [
            format!("/key/info?key={key}"),
            format!("/team/info?team_id={team_id}"),
        ];
        for gw in [&c.one, &c.two] {
            for path in &paths {
                let spend = spend_at(gw, path).await;
                assert!(
                    (spend - ok as f64 * 0.02).abs() < 1e-6,
                    "{round}: {path} spend {spend} for {ok} admitted requests"
                );
            }
        }
        eprintln!(
            "{round} budget {budget}: {ok} of 200 admitted, spend {:.2} ({:.2}x the budget)",
            ok as f64 * 0.02,
            ok as f64 * 0.02 / budget
        );
        assert!(
            ok as f64 * 0.02 <= budget + 1e-9,
            "{round}: {ok} requests admitted: spend {} is over the budget {budget}",
            ok as f64 * 0.02
        );
        assert!(ok >= 5, "{round}: only {ok} admitted; the budget fits 25");
    }
}

/// Requests one at a time on `gw` until the budget refuses one; returns how many were admitted.
async fn until_refused(gw: &Gateway, key: &str) -> usize {
    for n in 0..100 {
        let r = chat(gw, key, json!({})).await;
        match r.status().as_u16() {
            200 => {}
            400 => return n,
            s => panic!("status {s}: {}", r.text().await.unwrap()),
        }
    }
    panic!("the budget never refused");
}

/// A replica's unused slice of a budget goes back to the cluster when it stops (at once) or dies
/// (when its lease expires), so the other replica can spend the whole budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slices_of_a_stopped_or_killed_replica_return_to_the_cluster() {
    for (how, signal) in [("stopped", libc::SIGTERM), ("killed", libc::SIGKILL)] {
        let mut c = cluster().await;
        let key = generate_key(&c.one, json!({"max_budget": 0.5})).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        // Replica one leases a slice (and spends a little of it) …
        assert_eq!(chat(&c.one, &key, json!({})).await.status(), 200);
        tokio::time::sleep(Duration::from_millis(400)).await;
        c.one.signal(signal);
        c.one
            .wait_exit(Duration::from_secs(10))
            .await
            .expect("exit");
        let stopped = Instant::now();
        // … which the other replica can use once it is back in the cluster: 0.48 left after
        // one request of 0.02, at a worst case of about 0.038 each.
        let within = if signal == libc::SIGKILL {
            Duration::from_secs(15)
        } else {
            Duration::from_secs(1)
        };
        let mut admitted = 0;
        while admitted < 22 && stopped.elapsed() < within {
            admitted += until_refused(&c.two, &key).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        eprintln!(
            "{how}: the other replica spent the budget's rest ({admitted} requests) after {:?}",
            stopped.elapsed()
        );
        assert!(
            admitted >= 22,
            "{how}: only {admitted} requests fit on the other replica within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        let spend = key_spend(&c.two, &key).await;
        assert!(spend <= 0.5 + 1e-9, "{how}: spend {spend}");
    }
}
