//! E2E: `/metrics` — every LLM request counted (401s and 400s too) with LiteLLM's names and
//! labels, keys only as hashes, both paths served, `require_auth_for_metrics_endpoint`,
//! `prometheus_metrics_config` / `prometheus_exclude_labels` / custom tags and metadata labels,
//! `tollgate_settings.metrics: false`, and `promtool check metrics` on the exposition.

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::support::{client, config_for, post, Gateway, MASTER_KEY};

pub async fn scrape(gw: &Gateway, path: &str, key: Option<&str>) -> (u16, String) {
    let mut r = client().get(gw.url(path));
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The sum of the samples of family `name` whose labels contain every `label="value"` pair.
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels_part, value) = match rest.strip_prefix('{') {
                Some(r) => r.rsplit_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            labels
                .iter()
                .all(|(k, v)| labels_part.contains(&format!("{k}=\"{v}\"")))
                .then(|| value.parse::<f64>().unwrap())
        })
        .sum()
}

pub async fn generate_key(gw: &Gateway, body: Value) -> String {
    let r = post(gw, "/key/generate", &body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["key"].as_str().unwrap().to_string()
}

async fn chat(gw: &Gateway, key: &str, body: Value) -> u16 {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_counted_with_litellm_labels_and_keys_only_hashed() {
    let mock = MockServer::start(MockConfig {
        headers: vec![
            ("x-ratelimit-remaining-requests".into(), "97".into()),
            ("x-ratelimit-remaining-tokens".into(), "9000".into()),
        ],
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&config_for(
        &mock.url(),
        "      input_cost_per_token: 0.001\n      output_cost_per_token: 0.002\n",
        "litellm_settings:\n  callbacks: [\"prometheus\"]\n",
    ))
    .await;
    let team: Value = post(
        &gw,
        "/team/new",
        &json!({"team_alias": "ml-team", "max_budget": 50}),
    )
    .await
    .json()
    .await
    .unwrap();
    let team_id = team["team_id"].as_str().unwrap().to_string();
    let key = generate_key(
        &gw,
        json!({"key_alias": "svc-a", "team_id": team_id, "max_budget": 10, "budget_duration": "1d"}),
    )
    .await;
    let body = json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..3 {
        assert_eq!(chat(&gw, &key, body.clone()).await, 200);
    }
    assert_eq!(chat(&gw, "sk-wrong", body.clone()).await, 401);
    let bad = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let (status, text) = scrape(&gw, "/metrics", None).await;
    assert_eq!(status, 200);
    let hashed = sha256_hex(&key);
    let name = "litellm_proxy_total_requests_metric_total";
    let mine = [
        ("hashed_api_key", hashed.as_str()),
        ("api_key_alias", "svc-a"),
    ];
    assert_eq!(
        sum(&text, name, &[mine[0], mine[1], ("status_code", "200")]),
        3.0,
        "{text}"
    );
    assert_eq!(
        sum(
            &text,
            name,
            &[("team_alias", "ml-team"), ("status_code", "200")]
        ),
        3.0
    );
    assert_eq!(sum(&text, name, &[("status_code", "401")]), 1.0, "{text}");
    assert_eq!(sum(&text, name, &[("status_code", "400")]), 1.0, "{text}");
    let failed = "litellm_proxy_failed_requests_metric_total";
    assert_eq!(
        sum(
            &text,
            failed,
            &[
                ("exception_class", "AuthenticationError"),
                ("exception_status", "401")
            ]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        sum(&text, failed, &[("exception_class", "BadRequestError")]),
        1.0
    );
    assert_eq!(sum(&text, failed, &[("status_code", "200")]), 0.0);
    // Tokens, spend, latency: both token names, the model and its deployment.
    let tokens = sum(&text, "litellm_total_tokens_metric_total", &[mine[0]]);
    assert!(tokens > 0.0, "{text}");
    assert_eq!(sum(&text, "litellm_total_tokens_total", &[mine[0]]), tokens);
    assert_eq!(
        sum(
            &text,
            "litellm_input_tokens_metric_total",
            &[("model", "upstream-model")]
        ) + sum(
            &text,
            "litellm_output_tokens_metric_total",
            &[("model", "upstream-model")]
        ),
        tokens
    );
    assert!(
        sum(&text, "litellm_spend_metric_total", &[mine[0]]) > 0.0,
        "{text}"
    );
    assert_eq!(
        sum(
            &text,
            "litellm_request_total_latency_metric_count",
            &[mine[0]]
        ),
        3.0,
        "{text}"
    );
    assert_eq!(
        sum(&text, "litellm_llm_api_latency_metric_count", &[mine[0]]),
        3.0
    );
    assert_eq!(
        sum(
            &text,
            "litellm_request_total_latency_metric_bucket",
            &[mine[0], ("le", "+Inf")]
        ),
        3.0
    );
    // The provider's rate-limit headers, under both names.
    for n in [
        "litellm_remaining_requests_metric",
        "litellm_remaining_requests",
    ] {
        assert_eq!(
            sum(&text, n, &[("model_group", "test-model")]),
            97.0,
            "{n}\n{text}"
        );
    }
    assert_eq!(
        sum(
            &text,
            "litellm_remaining_tokens",
            &[("api_provider", "openai")]
        ),
        9000.0
    );
    // Budgets of the key and team that sent traffic.
    let remaining = sum(&text, "litellm_remaining_api_key_budget_metric", &[mine[1]]);
    assert!(remaining > 9.0 && remaining < 10.0, "{text}");
    assert_eq!(
        sum(&text, "litellm_api_key_max_budget_metric", &[mine[1]]),
        10.0
    );
    let hours = sum(
        &text,
        "litellm_api_key_budget_remaining_hours_metric",
        &[mine[1]],
    );
    assert!(hours > 0.0 && hours <= 24.0, "{text}");
    assert_eq!(
        sum(
            &text,
            "litellm_team_max_budget_metric",
            &[("team_alias", "ml-team")]
        ),
        50.0
    );
    assert_eq!(
        sum(
            &text,
            "litellm_deployment_state",
            &[("api_provider", "openai")]
        ),
        0.0
    );
    // The key itself never appears; the master key neither.
    assert!(!text.contains(&key) && !text.contains(MASTER_KEY));
    // Both paths serve it.
    let (status, again) = scrape(&gw, "/metrics/", None).await;
    assert_eq!(status, 200);
    assert!(again.contains("# TYPE litellm_proxy_total_requests_metric_total counter"));
    promtool_check(&text);
}

/// `promtool check metrics` parses the exposition and finds nothing to lint but what LiteLLM's
/// own names carry (`litellm_teams_count`, a gauge named like a histogram part; the
/// `*_budget_remaining_hours_metric` gauges, hours rather than seconds).
pub fn promtool_check(text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/deps.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Lint findings on names LiteLLM's dashboards query are LiteLLM's: kept as they are.
    let litellm_names = |l: &str| {
        let name = l.split(' ').next().unwrap_or("");
        name == "litellm_teams_count"
            || (name.starts_with("litellm_") && name.ends_with("_budget_remaining_hours_metric"))
    };
    let problems: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty() && !litellm_names(l))
        .collect();
    assert!(problems.is_empty(), "promtool: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_settings_are_honoured() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(
        &mock.url(),
        "",
        "litellm_settings:
  require_auth_for_metrics_endpoint: true
  prometheus_exclude_labels: [user_email]
  custom_prometheus_tags: [prod]
  custom_prometheus_metadata_labels: [metadata.project]
  prometheus_metrics_config:
    - group: requests
      metrics: [litellm_proxy_total_requests_metric]
      include_labels: [requested_model, status_code, tag_prod, metadata_project, user_email]
",
    ))
    .await;
    let body = json!({"model": "test-model", "tags": ["prod"], "metadata": {"project": "apollo"},
                      "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(chat(&gw, MASTER_KEY, body).await, 200);
    // A key (master or virtual) is needed, as in LiteLLM.
    assert_eq!(scrape(&gw, "/metrics", None).await.0, 401);
    assert_eq!(scrape(&gw, "/metrics", Some("sk-nope")).await.0, 401);
    let key = generate_key(&gw, json!({})).await;
    let (status, text) = scrape(&gw, "/metrics", Some(&key)).await;
    assert_eq!(status, 200);
    let line = text
        .lines()
        .find(|l| l.starts_with("litellm_proxy_total_requests_metric_total{"))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        line,
        "litellm_proxy_total_requests_metric_total{requested_model=\"test-model\",status_code=\"200\",metadata_project=\"apollo\",tag_prod=\"true\"} 1",
        "only the included labels, user_email excluded"
    );
    // Families not listed are gone.
    assert!(!text.contains("litellm_spend_metric"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_turned_off() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(
        &mock.url(),
        "",
        "tollgate_settings:\n  metrics: false\n",
    ))
    .await;
    let body = json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(chat(&gw, MASTER_KEY, body).await, 200);
    let (status, text) = scrape(&gw, "/metrics", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        sum(&text, "litellm_proxy_total_requests_metric_total", &[]),
        0.0,
        "{text}"
    );
    assert!(text.contains("# TYPE litellm_in_flight_requests gauge"));
}
