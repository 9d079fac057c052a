//! Response caching, continued: embeddings cached item by item (only the items not found reach
//! the provider, the answer is put together in the client's order, only what the provider
//! embedded is charged), and `/v1/messages` answers an Anthropic deployment gave as they were
//! (pass-through), replayed whole and streamed.

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::cache::cache_config;
use crate::support::*;

async fn spend_row(gw: &Gateway, call_id: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
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
            return r;
        }
        assert!(std::time::Instant::now() < deadline, "no spend log row");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn embed(input: Value) -> Value {
    json!({"model": "test-model", "input": input, "user": "whoever"})
}

/// The vectors of an embeddings answer, in `index` order (and the indexes are 0..n).
fn vectors(v: &Value) -> Vec<Value> {
    let data = v["data"].as_array().unwrap();
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d["index"], json!(i), "{v}");
        assert_eq!(d["object"], "embedding");
    }
    data.iter().map(|d| d["embedding"].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_are_cached_item_by_item() {
    let mock = MockServer::start(MockConfig {
        prompt_tokens: Some(6),
        embedding_dims: 4,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&cache_config(&mock.url(), "    type: local\n")).await;
    let sent = |n: usize| -> Value {
        let r = &mock.requests()[n];
        assert_eq!(r.path, "/v1/embeddings");
        r.json().unwrap()["input"].clone()
    };

    // Nothing kept yet: every item goes, and each is kept.
    let r = post(&gw, "/v1/embeddings", &embed(json!(["alpha", "beta"]))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-tollgate-cache-items"), "0/2");
    assert!(r.headers().get("x-litellm-cache-hit").is_none());
    let full_cost = header(&r, "x-litellm-response-cost");
    assert_ne!(full_cost, "0");
    let first: Value = r.json().await.unwrap();
    let (alpha, beta) = (vectors(&first)[0].clone(), vectors(&first)[1].clone());
    assert_eq!(sent(0), json!(["alpha", "beta"]));

    // Some kept: only the others reach the provider; the answer is in the client's order;
    // the charge is what the provider reported (6 tokens), as for the first request.
    let r = post(
        &gw,
        "/v1/embeddings",
        &embed(json!(["beta", "gamma", "alpha", "delta"])),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-tollgate-cache-items"), "2/4");
    assert!(r.headers().get("x-litellm-cache-hit").is_none());
    assert_eq!(header(&r, "x-litellm-response-cost"), full_cost);
    let partial_call = header(&r, "x-litellm-call-id");
    let second: Value = r.json().await.unwrap();
    assert_eq!(mock.requests().len(), 2);
    assert_eq!(sent(1), json!(["gamma", "delta"]), "only the missing items");
    let v = vectors(&second);
    assert_eq!(v.len(), 4);
    assert_eq!((&v[0], &v[2]), (&beta, &alpha));
    // The mock's vectors are f32s (the test's JSON parse may move an f64 by one ulp).
    for (i, text) in [(1, "gamma"), (3, "delta")] {
        let got: Vec<f64> = serde_json::from_value(v[i].clone()).unwrap();
        let got: Vec<f32> = got.into_iter().map(|x| x as f32).collect();
        assert_eq!(got, bench::mock::embedding_vector(text, 4), "{text}");
    }
    // Usage as LiteLLM reports it: the provider's 6 plus the kept items' shares (3 + 3).
    assert_eq!(second["usage"]["prompt_tokens"], 12, "{second}");
    let row = spend_row(&gw, &partial_call).await;
    assert_eq!(row["cache_hit"], "False", "{row}");
    assert_eq!(
        row["prompt_tokens"], 6,
        "charged for what the provider embedded: {row}"
    );

    // All kept: no provider call, $0, a spend row with cache_hit; a single string too.
    let r = post(&gw, "/v1/embeddings", &embed(json!(["delta", "alpha"]))).await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    assert_eq!(header(&r, "x-tollgate-cache-items"), "2/2");
    assert_eq!(header(&r, "x-litellm-response-cost"), "0");
    let hit_call = header(&r, "x-litellm-call-id");
    let key = header(&r, "x-litellm-cache-key");
    let third: Value = r.json().await.unwrap();
    assert_eq!(vectors(&third), vec![v[3].clone(), alpha.clone()]);
    let r = post(&gw, "/v1/embeddings", &embed(json!("gamma"))).await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    assert_eq!(vectors(&r.json().await.unwrap()), vec![v[1].clone()]);
    assert_eq!(mock.requests().len(), 2, "no provider call for full hits");
    let row = spend_row(&gw, &hit_call).await;
    assert_eq!(row["cache_hit"], "True", "{row}");
    assert_eq!(row["spend"].as_f64(), Some(0.0), "{row}");
    assert_eq!(row["metadata"]["cache_key"], key.as_str(), "{row}");

    // What changes the vectors is in each item's key: dimensions, encoding_format.
    let mut dims = embed(json!(["alpha"]));
    dims["dimensions"] = json!(2);
    let r = post(&gw, "/v1/embeddings", &dims).await;
    assert_eq!(header(&r, "x-tollgate-cache-items"), "0/1");
    let mut b64 = embed(json!(["alpha", "beta"]));
    b64["encoding_format"] = json!("base64");
    let r = post(&gw, "/v1/embeddings", &b64).await;
    assert_eq!(header(&r, "x-tollgate-cache-items"), "0/2");
    let kept_b64: Value = r.json().await.unwrap();
    b64["input"] = json!(["beta", "epsilon"]);
    let r = post(&gw, "/v1/embeddings", &b64).await;
    assert_eq!(header(&r, "x-tollgate-cache-items"), "1/2");
    let mixed: Value = r.json().await.unwrap();
    assert_eq!(
        mixed["data"][0]["embedding"],
        kept_b64["data"][1]["embedding"]
    );
    assert!(mixed["data"][1]["embedding"].is_string(), "{mixed}");
    assert_eq!(mock.requests().len(), 5);
    assert_eq!(sent(4), json!(["epsilon"]));

    // Token arrays: one array is one item; a list of arrays, one item each.
    let r = post(&gw, "/v1/embeddings", &embed(json!([[1, 2, 3], [4, 5]]))).await;
    assert_eq!(header(&r, "x-tollgate-cache-items"), "0/2");
    let r = post(&gw, "/v1/embeddings", &embed(json!([[4, 5], [9]]))).await;
    assert_eq!(header(&r, "x-tollgate-cache-items"), "1/2");
    assert_eq!(sent(6), json!([[9]]));
    let r = post(&gw, "/v1/embeddings", &embed(json!([1, 2, 3]))).await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    assert_eq!(mock.requests().len(), 7);

    // no-cache: every item goes (and is kept again); no-store: nothing new is kept.
    let mut fresh = embed(json!(["alpha", "zeta"]));
    fresh["cache"] = json!({"no-store": true});
    let r = post(&gw, "/v1/embeddings", &fresh).await;
    assert_eq!(header(&r, "x-tollgate-cache-items"), "1/2");
    let r = post(&gw, "/v1/embeddings", &embed(json!(["zeta"]))).await;
    assert_eq!(header(&r, "x-tollgate-cache-items"), "0/1", "not kept");
    let mut skip = embed(json!(["alpha"]));
    skip["cache"] = json!({"no-cache": true});
    let r = post(&gw, "/v1/embeddings", &skip).await;
    assert_eq!(header(&r, "x-tollgate-cache-items"), "0/1");
    assert_eq!(mock.requests().len(), 10);
    assert_eq!(sent(9), json!(["alpha"]));
}

fn anthropic_config(base: &str) -> String {
    format!(
        "model_list:
  - model_name: claude-group
    litellm_params:
      model: anthropic/claude-up
      api_base: {base}
      api_key: sk-anthropic-upstream
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
litellm_settings:
  cache: true
  cache_params:
    type: local
"
    )
}

/// (event name, data) of each event of an Anthropic stream.
fn anthropic_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_else(|| panic!("no event line in {e:?}"));
            let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            (name.to_string(), serde_json::from_str(data).unwrap())
        })
        .collect()
}

/// Checks the stream is well formed and returns its text and output tokens.
fn well_formed(text: &str) -> (String, u64) {
    let evs = anthropic_events(text);
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{text}");
    assert_eq!(names.last(), Some(&"message_stop"), "{text}");
    assert_eq!(names[names.len() - 2], "message_delta", "{text}");
    let starts = names
        .iter()
        .filter(|n| **n == "content_block_start")
        .count();
    let stops = names.iter().filter(|n| **n == "content_block_stop").count();
    assert!(starts >= 1 && starts == stops, "{names:?}");
    let mut out = String::new();
    for (n, d) in &evs {
        assert_eq!(d["type"], n.as_str());
        if n == "content_block_delta" {
            out.push_str(d["delta"]["text"].as_str().unwrap_or(""));
        }
    }
    let delta = &evs[evs.len() - 2].1;
    assert!(!delta["delta"]["stop_reason"].is_null(), "{delta}");
    (out, delta["usage"]["output_tokens"].as_u64().unwrap())
}

async fn messages(gw: &Gateway, body: &Value) -> reqwest::Response {
    client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", MASTER_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_pass_through_messages_are_cached_whole_and_streamed() {
    let mock = MockServer::start(MockConfig {
        content: "kept as it was".into(),
        chunks: 3,
        prompt_tokens: Some(10),
        completion_tokens: Some(5),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&anthropic_config(mock.url().trim_end_matches("/v1"))).await;
    let calls = || mock.requests().len();
    let msg = json!({"model": "claude-group", "max_tokens": 50,
                     "messages": [{"role": "user", "content": "hi claude"}]});

    // Whole: the provider's Message passed through, kept, replayed as it was.
    let r = messages(&gw, &msg).await;
    assert_eq!(r.status(), 200);
    let key = header(&r, "x-litellm-cache-key");
    assert!(r.headers().get("x-litellm-cache-hit").is_none());
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["type"], "message", "{first}");
    assert_eq!(mock.requests()[0].path, "/v1/messages");
    let r = messages(&gw, &msg).await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    assert_eq!(header(&r, "x-litellm-cache-key"), key);
    assert_eq!(header(&r, "x-litellm-response-cost"), "0");
    let hit_call = header(&r, "x-litellm-call-id");
    assert_eq!(r.json::<Value>().await.unwrap(), first);
    assert_eq!(calls(), 1);
    let row = spend_row(&gw, &hit_call).await;
    assert_eq!(row["cache_hit"], "True", "{row}");
    assert_eq!(row["spend"].as_f64(), Some(0.0), "{row}");
    assert_eq!(
        row["completion_tokens"], 5,
        "the kept answer's tokens: {row}"
    );

    // The same entry to a streaming client: a well-formed Anthropic stream.
    let mut streamed = msg.clone();
    streamed["stream"] = json!(true);
    let r = messages(&gw, &streamed).await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    assert!(header(&r, "content-type").starts_with("text/event-stream"));
    let (text, out) = well_formed(&r.text().await.unwrap());
    assert_eq!(text, first["content"][0]["text"].as_str().unwrap());
    assert_eq!(out, 5);
    assert_eq!(calls(), 1);

    // Streamed first: kept when complete, replayed as the provider sent it, and whole.
    let mut other = streamed.clone();
    other["messages"][0]["content"] = json!("tell me more");
    let r = messages(&gw, &other).await;
    assert!(r.headers().get("x-litellm-cache-hit").is_none());
    let sent_stream = r.text().await.unwrap();
    let (text, _) = well_formed(&sent_stream);
    assert_eq!(calls(), 2);
    let r = messages(&gw, &other).await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    let hit_call = header(&r, "x-litellm-call-id");
    assert_eq!(r.text().await.unwrap(), sent_stream, "replayed as it was");
    other["stream"] = json!(false);
    let r = messages(&gw, &other).await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    let whole: Value = r.json().await.unwrap();
    assert_eq!(whole["type"], "message");
    assert_eq!(whole["content"][0]["text"].as_str().unwrap(), text);
    assert_eq!(whole["usage"]["output_tokens"], 5, "{whole}");
    assert!(!whole["stop_reason"].is_null(), "{whole}");
    assert_eq!(calls(), 2);
    let row = spend_row(&gw, &hit_call).await;
    assert_eq!(row["cache_hit"], "True", "{row}");
    assert_eq!(row["spend"].as_f64(), Some(0.0), "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_anthropic_stream_is_not_kept() {
    let mock = MockServer::start(MockConfig {
        chunks: 4,
        stream_error_after_chunks: Some(2),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&anthropic_config(mock.url().trim_end_matches("/v1"))).await;
    let msg = json!({"model": "claude-group", "max_tokens": 50, "stream": true,
                     "messages": [{"role": "user", "content": "break please"}]});
    for _ in 0..2 {
        let r = messages(&gw, &msg).await;
        assert!(r.headers().get("x-litellm-cache-hit").is_none());
        let _ = r.text().await;
    }
    assert_eq!(mock.requests().len(), 2, "the cut stream was not kept");
}
