//! E2E: `/v1/rerank` (Cohere's API) to each rerank provider through the mock — Cohere v2 and
//! v1, an OpenAI-compatible rerank server (vLLM, Jina, Infinity), Bedrock's Rerank API (SigV4)
//! and Vertex AI ranking (Google OAuth) — with the request each provider gets, the canonical
//! answer, the price per search unit or per token, budgets, model access, retries and the
//! error shape; and `/v1/moderations` (OpenAI, Azure, `moderation_model`).

use std::time::Duration;

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::budgets::{generate_key, settled_spend};
use crate::support::{client, expect_error, Gateway, MASTER_KEY};

const DOCS: [&str; 3] = [
    "Carson City is the capital city of the American state of Nevada.",
    "Washington, D.C. is the capital of the United States.",
    "Capital punishment has existed in the United States since before it was a country.",
];
const QUERY: &str = "What is the capital of the United States?";

fn config(mock: &MockServer, tail: &str) -> String {
    let base = format!("http://{}", mock.addr);
    let creds = crate::providers::vertex_credentials(mock);
    format!(
        "model_list:
  - model_name: cohere-rerank
    litellm_params:
      model: cohere/rerank-v3.5
      api_base: {base}
      api_key: co-upstream
  - model_name: cohere-rerank-v1
    litellm_params:
      model: cohere/rerank-english-v3.0
      api_base: {base}/v1/rerank
      api_key: co-upstream
  - model_name: vllm-rerank
    litellm_params:
      model: hosted_vllm/BAAI/bge-reranker-v2-m3
      api_base: {base}
      api_key: vllm-upstream
      input_cost_per_token: 0.000001
  - model_name: jina-rerank
    litellm_params:
      model: jina_ai/jina-reranker-v2-base-multilingual
      api_base: {base}
      api_key: jina-upstream
  - model_name: infinity-rerank
    litellm_params:
      model: infinity/mixedbread-ai/mxbai-rerank-xsmall-v1
      api_base: {base}
  - model_name: bedrock-rerank
    litellm_params:
      model: bedrock/amazon.rerank-v1:0
      api_base: {base}
      aws_region_name: us-west-2
      aws_access_key_id: AKIDEXAMPLE
      aws_secret_access_key: wJalrXUtnFEMIEXAMPLEKEY
  - model_name: vertex-rerank
    litellm_params:
      model: vertex_ai/semantic-ranker-default-004
      api_base: {base}
      vertex_project: proj-1
      vertex_credentials: {creds}
  - model_name: claude
    litellm_params:
      model: anthropic/claude-3-5-haiku-20241022
      api_base: {base}
      api_key: sk-upstream-anthropic
  - model_name: omni-moderation-latest
    litellm_params:
      model: openai/omni-moderation-latest
      api_base: {base}/v1
      api_key: sk-upstream-openai
  - model_name: azure-moderation
    litellm_params:
      model: azure/my-moderation
      api_base: {base}
      api_key: sk-upstream-azure
      api_version: 2024-10-21
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
{tail}"
    )
}

async fn rerank(gw: &Gateway, path: &str, key: &str, body: Value) -> reqwest::Response {
    client()
        .post(gw.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn ask(model: &str) -> Value {
    json!({"model": model, "query": QUERY, "documents": DOCS, "top_n": 2, "return_documents": true})
}

/// The provider calls the mock got (the Vertex token fetches left out).
fn calls(mock: &MockServer) -> Vec<bench::mock::RecordedRequest> {
    mock.requests()
        .into_iter()
        .filter(|r| r.path != "/token")
        .collect()
}

fn header<'a>(r: &'a bench::mock::RecordedRequest, name: &str) -> &'a str {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The canonical answer: the capital document first, the documents returned, at most top_n.
fn assert_ranked(v: &Value) {
    let results = v["results"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(results.len(), 2, "{v}");
    assert_eq!(results[0]["index"], 1, "{v}");
    assert_eq!(results[0]["document"]["text"], DOCS[1], "{v}");
    assert!(
        results[0]["relevance_score"].as_f64().unwrap()
            >= results[1]["relevance_score"].as_f64().unwrap()
    );
    assert!(v["id"].is_string(), "{v}");
}

async fn spend_row(gw: &Gateway, key: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = client()
            .get(gw.url(&format!("/spend/logs?api_key={key}&summarize=false")))
            .bearer_auth(MASTER_KEY)
            .send()
            .await
            .unwrap();
        let rows: Value = r.json().await.unwrap();
        if let Some(row) = rows.as_array().and_then(|a| a.first()) {
            return row.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no spend log row");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerank_cohere_v2_and_v1_priced_per_search_unit() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock, "")).await;
    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let r = rerank(&gw, "/v1/rerank", &key, ask("cohere-rerank")).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_ranked(&v);
    assert_eq!(v["meta"]["billed_units"]["search_units"], 1, "{v}");
    let sent = calls(&mock);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v2/rerank");
    assert_eq!(header(&sent[0], "authorization"), "Bearer co-upstream");
    let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(body["model"], "rerank-v3.5");
    assert_eq!(body["top_n"], 2);
    assert!(
        body.get("return_documents").is_none(),
        "v2 has none: {body}"
    );
    // LiteLLM's `rerank-v3.5`: $0.002 per search unit.
    assert!(close(settled_spend(&gw, &key, 0.002).await, 0.002));
    let row = spend_row(&gw, &key).await;
    assert_eq!(row["call_type"], "arerank", "{row}");
    assert_eq!(row["model_group"], "cohere-rerank", "{row}");
    assert!(close(row["spend"].as_f64().unwrap(), 0.002), "{row}");

    // An api_base ending in /v1/rerank is Cohere's v1 API; objects go as they are; /v2/rerank
    // is the same route.
    mock.reset();
    let key2 = generate_key(&gw, json!({"max_budget": 10})).await;
    let docs: Vec<Value> = DOCS.iter().map(|d| json!({"text": d, "id": 7})).collect();
    let r = rerank(
        &gw,
        "/v2/rerank",
        &key2,
        json!({"model": "cohere-rerank-v1", "query": QUERY, "documents": docs, "top_n": 2,
               "return_documents": true, "rank_fields": ["text"], "max_chunks_per_doc": 3}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_ranked(&v);
    assert_eq!(v["results"][0]["document"]["id"], 7, "{v}");
    let sent = calls(&mock);
    assert_eq!(sent[0].path, "/v1/rerank");
    let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(body["documents"][0]["id"], 7);
    assert_eq!(body["max_chunks_per_doc"], 3);
    assert_eq!(body["rank_fields"], json!(["text"]));
    assert!(close(settled_spend(&gw, &key2, 0.002).await, 0.002));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerank_openai_compatible_servers_priced_per_token() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock, "")).await;
    for (group, upstream_model, auth) in [
        (
            "vllm-rerank",
            "BAAI/bge-reranker-v2-m3",
            "Bearer vllm-upstream",
        ),
        (
            "jina-rerank",
            "jina-reranker-v2-base-multilingual",
            "Bearer jina-upstream",
        ),
        (
            "infinity-rerank",
            "mixedbread-ai/mxbai-rerank-xsmall-v1",
            "",
        ),
    ] {
        mock.reset();
        let key = generate_key(&gw, json!({"max_budget": 10})).await;
        let mut body = ask(group);
        body["truncate_prompt_tokens"] = json!(64);
        let r = rerank(&gw, "/rerank", &key, body).await;
        assert_eq!(r.status(), 200, "{group}");
        let v: Value = r.json().await.unwrap();
        assert_ranked(&v);
        let tokens = v["meta"]["billed_units"]["total_tokens"].as_u64().unwrap();
        assert!(tokens > 0, "{v}");
        let sent = calls(&mock);
        assert_eq!(sent[0].path, "/rerank", "{group}");
        assert_eq!(header(&sent[0], "authorization"), auth, "{group}");
        let sent_body: Value = serde_json::from_slice(&sent[0].body).unwrap();
        assert_eq!(sent_body["model"], upstream_model);
        assert_eq!(sent_body["truncate_prompt_tokens"], 64, "passed through");
        // Per token: the config's price for vLLM, LiteLLM's for Jina, none for Infinity.
        let per_token = match group {
            "vllm-rerank" => 1e-6,
            "jina-rerank" => 1.8e-8,
            _ => 0.0,
        };
        let want = per_token * tokens as f64;
        assert!(close(settled_spend(&gw, &key, want).await, want), "{group}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerank_bedrock_signed_and_vertex_with_oauth() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock, "")).await;
    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let r = rerank(&gw, "/v1/rerank", &key, ask("bedrock-rerank")).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_ranked(&v);
    let sent = calls(&mock);
    assert_eq!(sent[0].path, "/rerank");
    assert!(
        header(&sent[0], "authorization").starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    );
    assert!(header(&sent[0], "authorization").contains("/us-west-2/bedrock/aws4_request"));
    let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(
        body["rerankingConfiguration"]["bedrockRerankingConfiguration"]["modelConfiguration"]
            ["modelArn"],
        "arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0"
    );
    // LiteLLM's `amazon.rerank-v1:0`: $0.001 per query of up to 100 documents.
    assert!(close(settled_spend(&gw, &key, 0.001).await, 0.001));

    mock.reset();
    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let r = rerank(&gw, "/v1/rerank", &key, ask("vertex-rerank")).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_ranked(&v);
    let sent = calls(&mock);
    assert_eq!(
        sent[0].path,
        "/v1/projects/proj-1/locations/global/rankingConfigs/default_ranking_config:rank"
    );
    assert!(header(&sent[0], "authorization").starts_with("Bearer ya29.mock-"));
    assert_eq!(header(&sent[0], "x-goog-user-project"), "proj-1");
    let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(body["model"], "semantic-ranker-default-004");
    assert_eq!(body["records"][1]["content"], DOCS[1]);
    assert!(close(settled_spend(&gw, &key, 0.001).await, 0.001));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerank_access_budget_errors_and_retries() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock, "router_settings:\n  num_retries: 1\n")).await;
    // Model access: a key limited to another group.
    let key = generate_key(&gw, json!({"models": ["vllm-rerank"]})).await;
    let r = rerank(&gw, "/v1/rerank", &key, ask("cohere-rerank")).await;
    expect_error(r, 401).await;
    // Bad requests: the client's error shape, naming the field; no provider call.
    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    for (body, param) in [
        (
            json!({"model": "cohere-rerank", "query": QUERY}),
            "documents",
        ),
        (
            json!({"model": "cohere-rerank", "query": QUERY, "documents": []}),
            "documents",
        ),
        (
            json!({"model": "cohere-rerank", "query": QUERY, "documents": DOCS, "top_n": 0}),
            "top_n",
        ),
        (
            json!({"model": "cohere-rerank", "documents": DOCS}),
            "query",
        ),
    ] {
        let e = expect_error(rerank(&gw, "/v1/rerank", &key, body).await, 400).await;
        assert_eq!(e["param"], param, "{e}");
    }
    // A deployment whose API has no rerank: 400 naming it.
    let e = expect_error(rerank(&gw, "/v1/rerank", &key, ask("claude")).await, 400).await;
    assert!(e["message"].as_str().unwrap().contains("/rerank"), "{e}");
    assert!(calls(&mock).is_empty(), "nothing reached a provider");
    // A provider 500 is retried like chat.
    mock.fail_next(1, 500);
    let r = rerank(&gw, "/v1/rerank", &key, ask("cohere-rerank")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(calls(&mock).len(), 2);
    // Rate limits count rerank requests like any other.
    let limited = generate_key(&gw, json!({"rpm_limit": 1})).await;
    let r = rerank(&gw, "/v1/rerank", &limited, ask("vllm-rerank")).await;
    assert_eq!(r.status(), 200);
    let r = rerank(&gw, "/v1/rerank", &limited, ask("vllm-rerank")).await;
    expect_error(r, 429).await;
    // A budget smaller than one search unit is refused before the call.
    mock.reset();
    let poor = generate_key(&gw, json!({"max_budget": 0.001})).await;
    let r = rerank(&gw, "/v1/rerank", &poor, ask("cohere-rerank")).await;
    assert!(r.status().is_client_error());
    let v: Value = r.json().await.unwrap();
    assert!(crate::support::is_budget_refusal(&v), "{v}");
    assert!(calls(&mock).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerank_and_moderation_deployments_are_health_checked_in_their_mode() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock, "")).await;
    let r = client()
        .get(gw.url("/health"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let healthy = v["healthy_endpoints"].as_array().unwrap();
    for model in [
        "cohere/rerank-v3.5",
        "hosted_vllm/BAAI/bge-reranker-v2-m3",
        "bedrock/amazon.rerank-v1:0",
        "openai/omni-moderation-latest",
    ] {
        assert!(
            healthy.iter().any(|e| e["model"] == model),
            "{model} not healthy: {v}"
        );
    }
    let checked = calls(&mock);
    assert!(
        checked.iter().any(|c| c.path == "/v2/rerank"),
        "a rerank check"
    );
    assert!(
        checked.iter().any(|c| c.path == "/v1/moderations"),
        "a moderation check"
    );
}

async fn moderate(gw: &Gateway, key: &str, body: Value) -> reqwest::Response {
    client()
        .post(gw.url("/v1/moderations"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderations_openai_azure_and_the_moderation_model() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock, "")).await;
    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let r = moderate(
        &gw,
        &key,
        json!({"model": "omni-moderation-latest", "input": ["hi", "there"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["results"][0]["flagged"], false);
    let sent = calls(&mock);
    assert_eq!(sent[0].path, "/v1/moderations");
    assert_eq!(
        header(&sent[0], "authorization"),
        "Bearer sk-upstream-openai"
    );
    let row = spend_row(&gw, &key).await;
    assert_eq!(row["call_type"], "amoderation", "{row}");
    assert_eq!(
        row["spend"].as_f64().unwrap(),
        0.0,
        "moderations are free: {row}"
    );

    mock.reset();
    let r = moderate(
        &gw,
        &key,
        json!({"model": "azure-moderation", "input": "hi"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        calls(&mock)[0].path,
        "/openai/deployments/my-moderation/moderations?api-version=2024-10-21"
    );
    // Without a model and without general_settings.moderation_model: a 400 naming `model`.
    let e = expect_error(moderate(&gw, &key, json!({"input": "hi"})).await, 400).await;
    assert_eq!(e["param"], "model", "{e}");
    // A deployment whose API has no moderations.
    let e = expect_error(
        moderate(&gw, &key, json!({"model": "cohere-rerank", "input": "hi"})).await,
        400,
    )
    .await;
    assert!(
        e["message"].as_str().unwrap().contains("/moderations"),
        "{e}"
    );
    drop(gw);

    // general_settings.moderation_model: the group of every moderation request.
    let cfg = config(&mock, "").replace(
        "general_settings:\n",
        "general_settings:\n  moderation_model: azure-moderation\n",
    );
    let gw = Gateway::start(&cfg).await;
    mock.reset();
    for body in [
        json!({"input": "hi"}),
        json!({"model": "omni-moderation-latest", "input": "hi"}),
    ] {
        let r = moderate(&gw, MASTER_KEY, body).await;
        assert_eq!(r.status(), 200);
    }
    let sent = calls(&mock);
    assert_eq!(sent.len(), 2);
    assert!(sent
        .iter()
        .all(|s| s.path.starts_with("/openai/deployments/my-moderation/")));
}
