//! E2E: LiteLLM's published Grafana dashboards (fixtures/grafana/, copied unchanged) read a
//! Tollgate scraped by a real Prometheus. Tollgate serves plain, streamed, failing, failed-over
//! and fallen-back requests on keys, teams, users, organizations and end users with budgets,
//! with Redis sharing on; Prometheus (Debian package `prometheus`) scrapes it every second; then
//! every PromQL expression of `dashboard_v2.json` and `dashboard_1.json`, and of
//! `dashboard_all_metrics.json` except the families listed in [`NOT_BUILT`] with their reason,
//! must return data through Prometheus's HTTP query API.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::metrics::{generate_key, promtool_check, scrape};
use crate::support::{client, free_port, post, scratch_dir, Gateway, MASTER_KEY};

/// Families of `dashboard_all_metrics.json` Tollgate does not emit, and why. The test fails if
/// one of them starts returning data (then it belongs in the checked set) or if a listed name
/// is not in the dashboard.
pub const NOT_BUILT: &[(&str, &str)] = &[
    ("litellm_request_queue_time_seconds", "no request queue: admission answers at once"),
    ("litellm_admission_admitted_requests", "LiteLLM's admission-control queue is not built"),
    ("litellm_admission_queued_requests", "LiteLLM's admission-control queue is not built"),
    ("litellm_admission_rejected_requests_total", "LiteLLM's admission-control queue is not built"),
    ("litellm_overhead_with_guardrails_latency_metric", "guardrails are not built yet"),
    ("litellm_guardrail_requests_total", "no guardrail is configured in this test (tests/e2e/guard.rs counts them)"),
    ("litellm_guardrail_errors_total", "no guardrail is configured in this test (tests/e2e/guard.rs counts them)"),
    ("litellm_guardrail_latency_seconds", "no guardrail is configured in this test (tests/e2e/guard.rs counts them)"),
    ("litellm_input_audio_tokens_metric_total", "audio endpoints are not built yet"),
    ("litellm_output_audio_tokens_metric_total", "audio endpoints are not built yet"),
    ("litellm_output_reasoning_tokens_metric_total", "reasoning tokens are not counted apart yet"),
    ("litellm_images_generated_metric_total", "image generation is not built yet"),
    ("litellm_video_duration_seconds_metric_total", "video generation is not built yet"),
    ("litellm_provider_remaining_budget_metric", "provider budgets are not built yet"),
    ("litellm_mcp_tool_calls_total", "MCP is not built yet"),
    ("litellm_mcp_tool_call_spend_metric_total", "MCP is not built yet"),
    ("litellm_managed_file_created_total", "the files API is not built yet"),
    ("litellm_managed_file_deleted_total", "the files API is not built yet"),
    ("litellm_managed_file_size_bytes", "the files API is not built yet"),
    ("litellm_managed_batch_created_total", "the batches API is not built yet"),
    ("litellm_managed_batch_duration_seconds", "the batches API is not built yet"),
    ("litellm_check_batch_cost_jobs_polled", "the batches API is not built yet"),
    ("litellm_check_batch_cost_jobs_processed_total", "the batches API is not built yet"),
    ("litellm_check_batch_cost_errors_total", "the batches API is not built yet"),
    ("litellm_check_batch_cost_last_run_timestamp", "the batches API is not built yet"),
    ("litellm_redis_circuit_breaker_state", "no Redis circuit breaker: redis_failure_mode and tollgate_redis_up instead"),
    ("litellm_redis_circuit_breaker_transitions_total", "no Redis circuit breaker: redis_failure_mode and tollgate_redis_up instead"),
    ("litellm_redis_circuit_breaker_failures_total", "no Redis circuit breaker: redis_failure_mode and tollgate_redis_up instead"),
    ("litellm_spend_log_cleanup_runs_total", "spend log retention is not built yet"),
    ("litellm_spend_log_cleanup_rows_deleted_total", "spend log retention is not built yet"),
    ("litellm_spend_log_cleanup_rows_remaining", "spend log retention is not built yet"),
    ("litellm_spend_log_cleanup_batch_duration_seconds", "spend log retention is not built yet"),
    ("litellm_spend_log_cleanup_batch_failures_total", "spend log retention is not built yet"),
    ("litellm_router_latency", "routing runs inline in microseconds; not timed as a service"),
    ("litellm_router_total_requests_total", "routing runs inline in microseconds; not timed as a service"),
    ("litellm_router_failed_requests_total", "routing runs inline in microseconds; not timed as a service"),
    ("litellm_reset_budget_job_latency", "budgets reset lazily per window: there is no reset job"),
    ("litellm_reset_budget_job_total_requests_total", "budgets reset lazily per window: there is no reset job"),
    ("litellm_reset_budget_job_failed_requests_total", "budgets reset lazily per window: there is no reset job"),
    ("litellm_pod_lock_manager_size", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_spend_update_queue_size", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_daily_spend_update_queue_size", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_daily_agent_spend_update_queue_size", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_daily_end_user_spend_update_queue_size", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_daily_org_spend_update_queue_latency", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_daily_org_spend_update_queue_total_requests_total", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_daily_org_spend_update_queue_failed_requests_total", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_daily_tag_spend_update_queue_latency", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_daily_tag_spend_update_queue_total_requests_total", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_daily_tag_spend_update_queue_failed_requests_total", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_daily_team_spend_update_queue_latency", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_daily_team_spend_update_queue_total_requests_total", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_daily_team_spend_update_queue_failed_requests_total", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_window_spend_update_queue_latency", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_window_spend_update_queue_total_requests_total", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
    ("litellm_redis_window_spend_update_queue_failed_requests_total", "no Redis spend-update buffer (use_redis_transaction_buffer): each replica writes its own queue"),
];

/// Families Tollgate emits that count failures only: no data while the service is healthy (as
/// in LiteLLM). `tests/e2e/replicas.rs` makes Redis fail and checks its counter.
pub const FAILURES_ONLY: &[(&str, &str)] = &[
    (
        "litellm_redis_failed_requests_total",
        "Redis does not fail in this run",
    ),
    (
        "litellm_postgres_failed_requests_total",
        "the database does not fail in this run",
    ),
    (
        "litellm_batch_write_to_db_failed_requests_total",
        "the database does not fail in this run",
    ),
];

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/e2e/fixtures/grafana")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Every `expr` of a dashboard, in order.
pub fn exprs(dashboard: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("expr", Value::String(s)) => out.push(s.clone()),
                        _ => walk(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, &mut out);
    out
}

/// The `litellm_*` series an expression reads.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find("litellm_") {
        let start = i + at;
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        if start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_') {
            out.insert(expr[start..end].to_string());
        }
        i = end;
    }
    out
}

/// Grafana's variables replaced for a plain query.
fn promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "5m")
}

fn excluded(name: &str) -> Option<&'static str> {
    let base = |n: &str| {
        ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| n.strip_suffix(s))
            .unwrap_or(n)
            .to_string()
    };
    NOT_BUILT
        .iter()
        .chain(FAILURES_ONLY)
        .find(|(n, _)| *n == name || *n == base(name))
        .map(|(_, why)| *why)
}

struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    async fn start(target_port: u16) -> Prometheus {
        let dir = scratch_dir();
        let port = free_port();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: tollgate\n    metrics_path: /metrics\n    static_configs:\n      - targets: [\"127.0.0.1:{target_port}\"]\n"
            ),
        )
        .unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus (Debian package prometheus; scripts/deps.sh installs it)");
        let p = Prometheus { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = client()
                .get(format!("http://127.0.0.1:{port}/-/ready"))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return p;
            }
            assert!(Instant::now() < deadline, "prometheus did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The query's result vector (an error is a panic: the expression must parse).
    async fn query(&self, q: &str) -> Vec<Value> {
        let r: Value = client()
            .get(format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .query(&[("query", q)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["status"], "success", "{q}: {r}");
        match &r["data"]["result"] {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        }
    }
}

/// Data: at least one series whose value is a number (not NaN).
fn has_data(result: &[Value]) -> bool {
    result.iter().any(|s| {
        s["value"][1]
            .as_str()
            .is_some_and(|v| v.parse::<f64>().is_ok_and(|f| !f.is_nan()))
    })
}

fn config(good: &MockServer, bad: &MockServer) -> String {
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let (g, b) = (good.url(), bad.url());
    format!(
        "model_list:
  - model_name: m-good
    litellm_params: {{model: openai/good-model, api_base: \"{g}\", api_key: k, rpm: 100000, tpm: 100000000, input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}}
  - model_name: m-flaky
    litellm_params: {{model: openai/flaky-bad, api_base: \"{b}\", api_key: k, order: 1}}
  - model_name: m-flaky
    litellm_params: {{model: openai/flaky-good, api_base: \"{g}\", api_key: k, order: 2, input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}}
  - model_name: m-broken
    litellm_params: {{model: openai/broken, api_base: \"{b}\", api_key: k}}
  - model_name: m-unpriced
    litellm_params: {{model: openai/no-such-price, api_base: \"{g}\", api_key: k}}
  - model_name: m-down
    litellm_params: {{model: openai/down, api_base: \"http://127.0.0.1:9/v1\", api_key: k}}
  - model_name: m-dead
    litellm_params: {{model: openai/dead-1, api_base: \"{b}\", api_key: k}}
  - model_name: m-dead
    litellm_params: {{model: openai/dead-2, api_base: \"{b}\", api_key: k}}
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
litellm_settings:
  callbacks: [\"prometheus\", \"dead_hook\"]
  fallbacks: [{{\"m-broken\": [\"m-good\"]}}, {{\"m-dead\": [\"m-broken\"]}}]
  cache: true
  cache_params: {{type: local, mode: default_off}}
callback_settings:
  dead_hook: {{callback_type: generic_api, endpoint: \"http://127.0.0.1:9/hook\", flush_interval: 0.2}}
router_settings:
  num_retries: 0
  allowed_fails: 0
  cooldown_time: 1
  redis_url: \"{redis}\"
"
    )
}

async fn admin(gw: &Gateway, path: &str, body: Value) -> Value {
    let r = post(gw, path, &body).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// One round of every kind of request the dashboards chart.
/// Rounds sent so far (a new prompt per round for a cache miss).
static ROUND: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

async fn round(base: &str, key: &str, limited: &str) {
    let url = format!("{base}/v1/chat/completions");
    let send = |body: Value, k: &str| {
        client()
            .post(&url)
            .bearer_auth(k.to_string())
            .json(&body)
            .send()
    };
    let round = ROUND.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let cached = |text: &str| {
        json!({"model": "m-good", "cache": {"use-cache": true},
               "messages": [{"role": "user", "content": text}]})
    };
    let chat = |model: &str, stream: bool| {
        json!({"model": model, "stream": stream, "user": "cust-1",
               "messages": [{"role": "user", "content": "hello there"}]})
    };
    for (body, k) in [
        (chat("m-good", false), key),
        (chat("m-good", true), key),
        (chat("m-flaky", false), key),
        (chat("m-broken", false), key),
        (chat("m-dead", false), key),
        (chat("m-unpriced", false), key),
        (chat("m-down", false), key),
        // Refused at admission: the key may call m-good only.
        (chat("m-unpriced", false), limited),
        (chat("m-good", false), MASTER_KEY),
        (chat("m-good", false), "sk-not-a-key"),
        // The response cache (on for requests that ask): a new prompt each round misses, the
        // same one hits from the second round on.
        (cached(&format!("cache me {round}")), key),
        (cached("cache me"), key),
    ] {
        let r = send(body, k).await.unwrap();
        let _ = r.bytes().await;
    }
    let _ = client()
        .post(&url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litellm_dashboards_read_tollgate_through_a_real_prometheus() {
    let good = MockServer::start(MockConfig {
        headers: vec![
            ("x-ratelimit-remaining-requests".into(), "4999".into()),
            ("x-ratelimit-remaining-tokens".into(), "799000".into()),
        ],
        chunks: 4,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let bad = MockServer::start(MockConfig {
        status: Some(500),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&config(&good, &bad)).await;

    let org = admin(
        &gw,
        "/organization/new",
        json!({"organization_alias": "acme", "max_budget": 100, "budget_duration": "30d"}),
    )
    .await;
    let org_id = org["organization_id"].as_str().unwrap().to_string();
    admin(&gw, "/user/new", json!({"user_id": "u-1", "user_email": "u1@example.com", "max_budget": 20, "budget_duration": "1d", "auto_create_key": false})).await;
    let team = admin(&gw, "/team/new", json!({"team_alias": "search", "organization_id": org_id, "max_budget": 50, "budget_duration": "7d", "rpm_limit": 100000, "tpm_limit": 100000000, "members_with_roles": [{"user_id": "u-1", "role": "user"}]})).await;
    let team_id = team["team_id"].as_str().unwrap().to_string();
    admin(
        &gw,
        "/customer/new",
        json!({"user_id": "cust-1", "max_budget": 5, "budget_duration": "1d"}),
    )
    .await;
    let key = generate_key(
        &gw,
        json!({"key_alias": "svc-search", "team_id": team_id, "user_id": "u-1",
               "max_budget": 10, "budget_duration": "1d", "rpm_limit": 100000, "tpm_limit": 100000000,
               "model_rpm_limit": {"m-good": 50000}, "model_tpm_limit": {"m-good": 50000000}}),
    )
    .await;

    let prom = Prometheus::start(gw.port).await;
    // Traffic all along, so that every rate() has increases to see.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (stop, base) = (stop.clone(), gw.url(""));
        let key = key.clone();
        let limited = generate_key(&gw, json!({"models": ["m-good"]})).await;
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                round(&base, &key, &limited).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let mut checked: Vec<(String, String)> = Vec::new();
    for file in [
        "dashboard_v2.json",
        "dashboard_1.json",
        "dashboard_all_metrics.json",
    ] {
        for e in exprs(&fixture(file)) {
            let names = metric_names(&e);
            assert!(!names.is_empty(), "{file}: {e}");
            let skip = names.iter().find_map(|n| excluded(n));
            if file != "dashboard_all_metrics.json" {
                assert!(skip.is_none(), "{file} must work whole: {e}");
            }
            if skip.is_none() {
                checked.push((file.to_string(), promql(&e)));
            }
        }
    }
    // Every listed name is one the dashboard queries.
    let all: BTreeSet<String> = exprs(&fixture("dashboard_all_metrics.json"))
        .iter()
        .flat_map(|e| metric_names(e))
        .collect();
    for (n, _) in NOT_BUILT.iter().chain(FAILURES_ONLY) {
        let queried = all
            .iter()
            .any(|a| a == n || a.starts_with(&format!("{n}_")));
        assert!(queried, "{n} is not queried by the dashboard");
    }

    // Until every expression has data (a few scrapes of rates), or the deadline.
    let deadline = Instant::now() + Duration::from_secs(60);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut missing: Vec<&(String, String)>;
    loop {
        missing = Vec::new();
        for c in &checked {
            if !has_data(&prom.query(&c.1).await) {
                missing.push(c);
            }
        }
        if missing.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // The names left out really are absent (else they belong in the checked set).
    let mut present_but_listed = Vec::new();
    for (n, _) in NOT_BUILT {
        let q = format!("{{__name__=~\"{n}(_bucket|_sum|_count)?\"}}");
        if !prom.query(&q).await.is_empty() {
            present_but_listed.push(*n);
        }
    }
    // A scrape of the busy gateway, timed (the best of three: this shared machine stalls).
    let mut scrape_ms = f64::MAX;
    let (mut status, mut text) = (0, String::new());
    for _ in 0..3 {
        let t = Instant::now();
        (status, text) = scrape(&gw, "/metrics", None).await;
        scrape_ms = scrape_ms.min(t.elapsed().as_secs_f64() * 1000.0);
    }
    stop.store(true, Ordering::Relaxed);
    let _ = traffic.await;
    assert_eq!(status, 200);
    eprintln!(
        "{} expressions checked; scrape of {} bytes took {scrape_ms:.1} ms",
        checked.len(),
        text.len()
    );
    assert!(
        missing.is_empty(),
        "no data for:\n{}",
        missing
            .iter()
            .map(|(f, e)| format!("  {f}: {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        present_but_listed.is_empty(),
        "emitted after all: {present_but_listed:?}"
    );
    assert!(scrape_ms < 50.0, "scrape took {scrape_ms:.1} ms");
    promtool_check(&text);
}
