//! Response caching (`litellm_settings.cache`): a hit never reaches the provider (the mock
//! counts its calls), costs 0 and says so in its headers; streamed and whole answers replay as
//! each other; per-request controls; team scope; Redis down is a miss, never a failure.

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::budgets::generate_key;
use crate::support::*;

pub(crate) fn cache_config(api_base: &str, params: &str) -> String {
    config_for(
        api_base,
        "      input_cost_per_token: 0.001\n      output_cost_per_token: 0.002",
        &format!(
            "  proxy_batch_write_at: 1\nlitellm_settings:\n  cache: true\n  cache_params:\n{params}"
        ),
    )
}

pub(crate) fn chat(text: &str) -> Value {
    json!({"model": "test-model", "messages": [{"role": "user", "content": text}]})
}

pub(crate) async fn send(gw: &Gateway, key: &str, body: &Value) -> reqwest::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn content(v: &Value) -> String {
    v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The data of each event of an SSE body.
fn events(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_identical_request_is_served_from_the_cache_at_no_cost() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&cache_config(&mock.url(), "    type: local\n")).await;
    let first = post(&gw, "/v1/chat/completions", &chat("hello cache")).await;
    assert_eq!(first.status(), 200);
    let key = header(&first, "x-litellm-cache-key");
    assert_eq!(key.len(), 64, "a hex SHA-256: {key}");
    assert!(first.headers().get("x-litellm-cache-hit").is_none());
    assert_ne!(header(&first, "x-litellm-response-cost"), "0");
    let first: Value = first.json().await.unwrap();
    assert_eq!(mock.requests().len(), 1);

    // Same request, another `user` and `metadata`: not part of the key.
    let mut again = chat("hello cache");
    again["user"] = json!("someone-else");
    again["metadata"] = json!({"trace": 1});
    let second = post(&gw, "/v1/chat/completions", &again).await;
    assert_eq!(second.status(), 200);
    assert_eq!(header(&second, "x-litellm-cache-key"), key);
    assert_eq!(header(&second, "x-litellm-cache-hit"), "True");
    assert_eq!(header(&second, "x-litellm-response-cost"), "0");
    let call_id = header(&second, "x-litellm-call-id");
    let second: Value = second.json().await.unwrap();
    assert_eq!(
        mock.requests().len(),
        1,
        "the hit never reached the provider"
    );
    assert_eq!(second, first, "the kept answer as it was");

    // What changes the answer changes the key.
    let mut warmer = chat("hello cache");
    warmer["temperature"] = json!(0.9);
    let third = post(&gw, "/v1/chat/completions", &warmer).await;
    assert_ne!(header(&third, "x-litellm-cache-key"), key);
    assert_eq!(mock.requests().len(), 2);

    // The spend log row of the hit: cache_hit, no spend, the key.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let row = loop {
        let rows: Value = client()
            .get(gw.url(&format!("/spend/logs?request_id={call_id}&summarize=false")))
            .bearer_auth(MASTER_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(r) = rows.as_array().and_then(|a| a.first()).cloned() {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "no spend log row");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(row["cache_hit"], "True", "{row}");
    assert_eq!(row["spend"].as_f64(), Some(0.0), "{row}");
    assert_eq!(row["metadata"]["cache_key"], key.as_str(), "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_and_whole_answers_replay_as_each_other() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&cache_config(&mock.url(), "    type: local\n")).await;

    // Whole first, then streamed: a well-formed stream of the same answer.
    let whole: Value = post(&gw, "/v1/chat/completions", &chat("one"))
        .await
        .json()
        .await
        .unwrap();
    let mut streamed = chat("one");
    streamed["stream"] = json!(true);
    let r = post(&gw, "/v1/chat/completions", &streamed).await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/event-stream"));
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    let evs = events(&r.text().await.unwrap());
    assert_eq!(evs.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = evs[..evs.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, content(&whole));
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"].as_str() == Some("stop")));
    assert!(chunks.last().unwrap()["usage"]["total_tokens"].as_u64() > Some(0));
    assert_eq!(mock.requests().len(), 1);

    // Streamed first (stored once complete), then whole.
    let mut s2 = chat("two");
    s2["stream"] = json!(true);
    let r = post(&gw, "/v1/chat/completions", &s2).await;
    let evs = events(&r.text().await.unwrap());
    let streamed_text: String = evs
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(mock.requests().len(), 2);
    let r = post(&gw, "/v1/chat/completions", &chat("two")).await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    let v: Value = r.json().await.unwrap();
    assert_eq!(content(&v), streamed_text);
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(mock.requests().len(), 2, "the streamed answer was kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_request_controls_as_litellm_implements_them() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&cache_config(&mock.url(), "    type: local\n")).await;
    let calls = || mock.requests().len();
    let with = |text: &str, cache: Value| {
        let mut b = chat(text);
        b["cache"] = cache;
        b
    };
    // no-store: answered, not kept (the next one is a miss); the provider never sees `cache`.
    post(
        &gw,
        "/v1/chat/completions",
        &with("a", json!({"no-store": true})),
    )
    .await;
    assert!(mock.requests()[0].json().unwrap().get("cache").is_none());
    post(&gw, "/v1/chat/completions", &chat("a")).await;
    assert_eq!(calls(), 2);
    // no-cache: not looked up (LiteLLM's implementation), but stored.
    let r = post(
        &gw,
        "/v1/chat/completions",
        &with("a", json!({"no-cache": true})),
    )
    .await;
    assert!(r.headers().get("x-litellm-cache-hit").is_none());
    assert_eq!(calls(), 3);
    // s-maxage: an entry older than that is a miss.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = post(
        &gw,
        "/v1/chat/completions",
        &with("a", json!({"s-maxage": 1})),
    )
    .await;
    assert!(r.headers().get("x-litellm-cache-hit").is_none());
    assert_eq!(calls(), 4);
    let r = post(
        &gw,
        "/v1/chat/completions",
        &with("a", json!({"s-maxage": 60})),
    )
    .await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    // namespace: its own entries, its name in the key.
    let r = post(
        &gw,
        "/v1/chat/completions",
        &with("a", json!({"namespace": "ns1"})),
    )
    .await;
    assert!(header(&r, "x-litellm-cache-key").starts_with("ns1:"));
    assert_eq!(calls(), 5);
    // ttl: gone after it.
    post(&gw, "/v1/chat/completions", &with("b", json!({"ttl": 1}))).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    post(&gw, "/v1/chat/completions", &chat("b")).await;
    assert_eq!(calls(), 7);
    // The same directives in `cache-control`.
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .header("cache-control", "no-cache")
        .json(&chat("b"))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("x-litellm-cache-hit").is_none());
    assert_eq!(calls(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_off_caches_only_what_asks_for_it() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&cache_config(&mock.url(), "    mode: default_off\n")).await;
    let mut opted = chat("x");
    opted["cache"] = json!({"use-cache": true});
    post(&gw, "/v1/chat/completions", &chat("x")).await;
    let r = post(&gw, "/v1/chat/completions", &chat("x")).await;
    assert!(r.headers().get("x-litellm-cache-key").is_none());
    assert_eq!(mock.requests().len(), 2);
    post(&gw, "/v1/chat/completions", &opted).await;
    let r = post(&gw, "/v1/chat/completions", &opted).await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_scoped_entry_is_never_served_to_another_team() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&cache_config(&mock.url(), "    scope: team\n")).await;
    for t in ["t1", "t2"] {
        assert_eq!(
            post(&gw, "/team/new", &json!({"team_id": t}))
                .await
                .status(),
            200
        );
    }
    let a1 = generate_key(&gw, json!({"team_id": "t1"})).await;
    let a2 = generate_key(&gw, json!({"team_id": "t1"})).await;
    let b = generate_key(&gw, json!({"team_id": "t2"})).await;
    let first = send(&gw, &a1, &chat("secret plans")).await;
    assert_eq!(first.status(), 200);
    let r = send(&gw, &b, &chat("secret plans")).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("x-litellm-cache-hit").is_none(),
        "other team"
    );
    assert_eq!(mock.requests().len(), 2);
    let r = send(&gw, &a2, &chat("secret plans")).await;
    assert_eq!(
        header(&r, "x-litellm-cache-hit"),
        "True",
        "same team, other key"
    );
    assert_eq!(mock.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_sends_requests_to_the_provider_and_fails_nothing() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dead = free_port();
    let gw = Gateway::start(&cache_config(
        &mock.url(),
        &format!("    type: redis\n    host: 127.0.0.1\n    port: {dead}\n    default_in_memory_ttl: 0.001\n"),
    ))
    .await;
    for _ in 0..2 {
        let r = post(&gw, "/v1/chat/completions", &chat("redis down")).await;
        assert_eq!(r.status(), 200);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        mock.requests().len(),
        2,
        "no cache: both reached the provider"
    );
    let metrics = client()
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("tollgate_cache_redis_errors_total "))
        .unwrap_or_else(|| panic!("no redis error counter in {metrics}"));
    let n: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(n >= 2.0, "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_entries_through_redis() {
    let Ok(url) = std::env::var("REDIS_URL") else {
        panic!("REDIS_URL must point at the test Redis");
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let ns = format!("e2e-{}", free_port());
    let yaml = cache_config(
        &mock.url(),
        &format!("    type: redis\n    redis_url: {url}\n    namespace: {ns}\n"),
    );
    let one = Gateway::start(&yaml).await;
    let two = Gateway::start(&yaml).await;
    let r = post(&one, "/v1/chat/completions", &chat("shared")).await;
    assert_eq!(r.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let r = post(&two, "/v1/chat/completions", &chat("shared")).await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_completions_embeddings_and_messages_are_cached() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&cache_config(&mock.url(), "    type: local\n")).await;
    let calls = || mock.requests().len();
    let cases = [
        (
            "/v1/completions",
            json!({"model": "test-model", "prompt": "once upon"}),
        ),
        (
            "/v1/embeddings",
            json!({"model": "test-model", "input": ["a", "b"]}),
        ),
    ];
    for (n, (path, body)) in cases.iter().enumerate() {
        let first = post(&gw, path, body).await;
        assert_eq!(first.status(), 200, "{path}");
        let first: Value = first.json().await.unwrap();
        let again = post(&gw, path, body).await;
        assert_eq!(header(&again, "x-litellm-cache-hit"), "True", "{path}");
        assert_eq!(again.json::<Value>().await.unwrap(), first, "{path}");
        assert_eq!(calls(), n + 1, "{path}");
    }

    // /v1/messages: the answer in Anthropic's shape, whole and streamed, from one entry.
    let msg = json!({"model": "test-model", "max_tokens": 50, "messages": [{"role": "user", "content": "hi claude"}]});
    let first = post(&gw, "/v1/messages", &msg).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["type"], "message");
    let again = post(&gw, "/v1/messages", &msg).await;
    assert_eq!(header(&again, "x-litellm-cache-hit"), "True");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["type"], "message");
    assert_eq!(again["content"], first["content"]);
    let mut streamed = msg.clone();
    streamed["stream"] = json!(true);
    let r = post(&gw, "/v1/messages", &streamed).await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    let text = r.text().await.unwrap();
    for event in [
        "message_start",
        "content_block_delta",
        "message_delta",
        "message_stop",
    ] {
        assert!(
            text.contains(&format!("event: {event}")),
            "{event} in {text}"
        );
    }
    assert_eq!(calls(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_routes_delete_flush_and_ping_for_the_master_key() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&cache_config(&mock.url(), "    type: local\n")).await;
    let r = post(&gw, "/v1/chat/completions", &chat("del")).await;
    let key = header(&r, "x-litellm-cache-key");
    let ping: Value = client()
        .get(gw.url("/cache/ping"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ping["status"], "healthy");
    assert_eq!(ping["in_memory_entries"], 1);
    let r = post(&gw, "/cache/delete", &json!({"keys": [key]})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["deleted"], 1);
    post(&gw, "/v1/chat/completions", &chat("del")).await;
    assert_eq!(mock.requests().len(), 2, "deleted: a miss");
    assert_eq!(post(&gw, "/cache/flushall", &json!({})).await.status(), 200);
    post(&gw, "/v1/chat/completions", &chat("del")).await;
    assert_eq!(mock.requests().len(), 3, "flushed: a miss");
    // A virtual key may not.
    let k = generate_key(&gw, json!({})).await;
    let r = client()
        .post(gw.url("/cache/flushall"))
        .bearer_auth(&k)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        post(&gw, "/cache/redis/info", &json!({})).await.status(),
        405
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_is_a_miss_and_requests_still_succeed() {
    let port = free_port();
    let dir = scratch_dir();
    let mut redis = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&cache_config(
        &mock.url(),
        &format!("    type: redis\n    redis_url: redis://127.0.0.1:{port}\n    default_in_memory_ttl: 0.001\n"),
    ))
    .await;
    post(&gw, "/v1/chat/completions", &chat("kill")).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let r = post(&gw, "/v1/chat/completions", &chat("kill")).await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True", "from Redis");
    assert_eq!(mock.requests().len(), 1);
    redis.kill().unwrap();
    redis.wait().unwrap();
    let r = post(&gw, "/v1/chat/completions", &chat("kill")).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-litellm-cache-hit").is_none());
    assert_eq!(
        mock.requests().len(),
        2,
        "Redis gone: the provider answered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_stream_is_never_stored() {
    let mock = MockServer::start(MockConfig {
        chunks: 5,
        content: "a b c d e".into(),
        fail_after_chunks: Some(2),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&cache_config(&mock.url(), "    type: local\n")).await;
    let mut body = chat("broken");
    body["stream"] = json!(true);
    for n in 1..=2 {
        let r = post(&gw, "/v1/chat/completions", &body).await;
        let _ = r.text().await;
        assert_eq!(
            mock.requests().len(),
            n,
            "nothing kept: each one reached the provider"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_tool_call_is_replayed_whole() {
    let mock = MockServer::start(MockConfig {
        tool_call: Some(bench::mock::MockToolCall::new(
            "get_weather",
            "{\"city\":\"Paris\"}",
        )),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&cache_config(&mock.url(), "    type: local\n")).await;
    let mut body = chat("weather?");
    body["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let r = post(&gw, "/v1/chat/completions", &streamed).await;
    let _ = r.text().await.unwrap();
    let r = post(&gw, "/v1/chat/completions", &body).await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    let v: Value = r.json().await.unwrap();
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather", "{v}");
    assert_eq!(call["function"]["arguments"], "{\"city\":\"Paris\"}", "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_answer_replays_to_a_stream_with_its_usage() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&cache_config(&mock.url(), "    type: local\n")).await;
    let mut body = chat("stream twice");
    body["stream"] = json!(true);
    // The first client did not ask for usage; the second does, and gets it.
    let first = post(&gw, "/v1/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    body["stream_options"] = json!({"include_usage": true});
    let r = post(&gw, "/v1/chat/completions", &body).await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    let second = r.text().await.unwrap();
    assert_eq!(mock.requests().len(), 1);
    let text = |sse: &str| -> String {
        events(sse)
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e).ok())
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect()
    };
    assert_eq!(text(&second), text(&first));
    let evs = events(&second);
    assert_eq!(evs.last().unwrap(), "[DONE]");
    let usage: Value = serde_json::from_str(&evs[evs.len() - 2]).unwrap();
    assert!(usage["usage"]["total_tokens"].as_u64() > Some(0), "{usage}");
}
