//! Hot reload: `POST /config/reload` and SIGHUP re-read the config file, swap it in (new
//! models, prices, fallbacks), keep keys, and refuse an invalid file with its errors while the
//! old configuration keeps serving; under load (c=64, half streaming) with a reload every
//! 100 ms, no request fails and no spend row is lost.

use std::time::{Duration, Instant};

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::load::{rss_kib, Load};
use crate::support::*;

/// Two configurations the load test alternates between: B adds deployment `d2` to group `m`,
/// changes `d1`'s price and points the fallback of `m` elsewhere; `extra` adds a model group.
fn config(mock: &str, b: bool, extra: &str) -> String {
    let price = if b { "0.000003" } else { "0.000001" };
    let fallback = if b { "f2" } else { "f1" };
    let d2 = if b {
        format!(
            "  - model_name: m\n    litellm_params:\n      model: openai/upstream-two\n      api_base: {mock}\n      api_key: sk-upstream-secret\n    model_info:\n      id: d2\n"
        )
    } else {
        String::new()
    };
    format!(
        "model_list:
  - model_name: m
    litellm_params:
      model: openai/upstream-model
      api_base: {mock}
      api_key: sk-upstream-secret
      input_cost_per_token: {price}
      output_cost_per_token: {price}
    model_info:
      id: d1
{d2}  - model_name: f1
    litellm_params:
      model: openai/fallback-one
      api_base: {mock}
      api_key: sk-upstream-secret
  - model_name: f2
    litellm_params:
      model: openai/fallback-two
      api_base: {mock}
      api_key: sk-upstream-secret
{extra}router_settings:
  fallbacks: [{{\"m\": [\"{fallback}\"]}}]
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
"
    )
}

async fn reload(gw: &Gateway, key: &str) -> (u16, Value) {
    let r = client()
        .post(gw.url("/config/reload"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn chat(gw: &Gateway, key: &str, model: &str) -> u16 {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

const EXTRA: &str = "  - model_name: extra
    litellm_params:
      model: openai/extra-model
      api_base: MOCK
      api_key: sk-upstream-secret
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_reload_swaps_models_keeps_keys_and_refuses_an_invalid_file() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let mut gw = Gateway::start(&config(&mock.url(), false, "")).await;
    let file = gw.dir().join("config.yaml");
    let key = post(&gw, "/key/generate", &json!({})).await;
    let key: Value = key.json().await.unwrap();
    let key = key["key"].as_str().unwrap().to_string();
    assert_eq!(chat(&gw, &key, "m").await, 200);
    assert_ne!(chat(&gw, &key, "extra").await, 200);

    // A new model group and a setting that needs a restart.
    let extra = EXTRA.replace("MOCK", &mock.url());
    let yaml =
        config(&mock.url(), false, &extra) + "tollgate_settings:\n  grace_period_seconds: 7\n";
    std::fs::write(&file, &yaml).unwrap();
    let (status, v) = reload(&gw, MASTER_KEY).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "reloaded", "{v}");
    assert_eq!(
        (v["added"].as_u64(), v["kept"].as_u64()),
        (Some(1), Some(3)),
        "{v}"
    );
    assert!(
        v["needs_restart"]
            .to_string()
            .contains("grace_period_seconds"),
        "{v}"
    );
    // The key minted before the reload works on the new model.
    assert_eq!(chat(&gw, &key, "extra").await, 200);

    // Only an admin may reload.
    let (status, v) = reload(&gw, &key).await;
    assert!(status == 401 || status == 403, "{status} {v}");

    // An invalid file: every error returned, the old configuration still serving.
    std::fs::write(
        &file,
        yaml.replace("openai/extra-model", "anthropc/extra-model"),
    )
    .unwrap();
    let (status, v) = reload(&gw, MASTER_KEY).await;
    assert_eq!(status, 400, "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("model_list[3]") && msg.contains("anthropc"),
        "{v}"
    );
    assert_eq!(chat(&gw, &key, "extra").await, 200);
    assert!(gw.logs().contains("configuration NOT reloaded"));

    // SIGHUP re-reads the file too: `extra` goes away.
    std::fs::write(&file, config(&mock.url(), false, "")).unwrap();
    gw.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while chat(&gw, &key, "extra").await == 200 {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        gw.logs().contains("SIGHUP: configuration reloaded"),
        "{}",
        gw.logs()
    );
    assert_eq!(chat(&gw, &key, "m").await, 200);
    assert!(gw.wait_exit(Duration::ZERO).await.is_none());
}

/// Runs `c` clients for `secs` while reloading every 100 ms between the two configurations;
/// then checks that no request failed, that every request has its spend row, and returns
/// (requests, reloads).
async fn reload_under_load(secs: u64) -> (u64, u64) {
    let mock = MockServer::start(MockConfig {
        chunks: 5,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let url = mock.url();
    let gw = Gateway::start(&config(&url, false, "")).await;
    let file = gw.dir().join("config.yaml");
    let load = Load::start(gw.port, 64, "m", MASTER_KEY);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut reloads = 0u64;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        std::fs::write(&file, config(&url, reloads % 2 == 0, "")).unwrap();
        let (status, v) = reload(&gw, MASTER_KEY).await;
        assert_eq!(status, 200, "{v}");
        reloads += 1;
    }
    let tally = load.stop().await;
    assert_eq!(tally.failed(), 0, "{}", tally.summary());
    assert!(tally.ok() > 0, "{}", tally.summary());
    // The last answers' rows are queued just after their last byte.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Every request has its spend row; both prices were billed.
    let rows: Value = client()
        .get(gw.url("/spend/logs"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = rows.as_array().unwrap();
    let in_m = rows.iter().filter(|r| r["model_group"] == "m").count() as u64;
    assert_eq!(in_m, tally.ok(), "{}", tally.summary());
    let mut spends: Vec<String> = rows
        .iter()
        .filter(|r| r["model_id"] == "d1")
        .map(|r| r["spend"].to_string())
        .collect();
    spends.sort();
    spends.dedup();
    assert!(spends.len() >= 2, "one price billed: {spends:?}");
    assert!(
        rows.iter().any(|r| r["model_id"] == "d2"),
        "the added deployment served nothing"
    );
    eprintln!(
        "reload under load: {secs} s, {reloads} reloads, {}",
        tally.summary()
    );
    (tally.ok(), reloads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_every_100ms_under_load_fails_no_request_and_loses_no_spend_row() {
    reload_under_load(4).await;
}

/// The long version (issue #17's numbers): 30 s under load, then 1,000 reloads with the
/// resident memory measured after the first 100 and at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: 30 s under load plus 1,000 reloads"]
async fn reload_under_load_30s_and_memory_across_1000_reloads() {
    reload_under_load(30).await;
    memory_across_reloads(1000).await;
}

/// Reloads `n` times between the two configurations; resident memory must not keep growing.
async fn memory_across_reloads(n: u64) -> (u64, u64) {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let url = mock.url();
    let gw = Gateway::start(&config(&url, false, "")).await;
    let file = gw.dir().join("config.yaml");
    let mut after_warmup = 0;
    for i in 0..n {
        std::fs::write(&file, config(&url, i % 2 == 0, "")).unwrap();
        let (status, v) = reload(&gw, MASTER_KEY).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(chat(&gw, MASTER_KEY, "m").await, 200);
        if i == n / 10 {
            after_warmup = rss_kib(gw.pid());
        }
    }
    let end = rss_kib(gw.pid());
    eprintln!(
        "RSS after {} reloads: {after_warmup} KiB; after {n}: {end} KiB",
        n / 10
    );
    assert!(
        end < after_warmup + 16 * 1024,
        "RSS grew from {after_warmup} KiB to {end} KiB over {n} reloads"
    );
    (after_warmup, end)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_does_not_grow_across_300_reloads() {
    memory_across_reloads(300).await;
}
