//! E2E: the gateway describes itself. `GET /` and `/routes` list every route it serves,
//! `/openapi.json` describes each of them (management request fields included, and OpenAI's
//! routes in OpenAI's shapes, checked against OpenAI's published description in
//! fixtures/openai-schemas.json), and `/docs` renders it without loading anything from
//! elsewhere. None of them needs a key.

use std::collections::BTreeSet;

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::admin_support::*;
use crate::support::*;

/// OpenAI's schemas: per name, property → JSON type(s), and the required properties.
fn openai() -> Value {
    serde_json::from_str(include_str!("fixtures/openai-schemas.json")).unwrap()
}

fn types(t: &Value) -> BTreeSet<String> {
    match t {
        Value::String(s) => [s.clone()].into(),
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => BTreeSet::new(),
    }
}

async fn public(gw: &Gateway, path: &str) -> reqwest::Response {
    client().get(gw.url(path)).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_and_openapi_list_everything_served() {
    let gw = start_keys().await;
    let routes = ok(public(&gw, "/routes").await).await;
    let root = ok(public(&gw, "/").await).await;
    assert_eq!(root["routes"], routes["routes"]);
    assert_eq!(root["name"], "tollgate");
    let listed: Vec<(String, String)> = routes["routes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            let path = r["path"].as_str().unwrap().to_string();
            r["methods"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |m| (m.as_str().unwrap().to_string(), path.clone()))
        })
        .collect();
    for want in [
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("POST", "/v1/messages"),
        ("GET", "/health"),
        ("GET", "/health/readiness"),
        ("POST", "/key/generate"),
        ("GET", "/key/info"),
        ("POST", "/organization/member_add"),
        ("GET", "/model_group/info"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
    ] {
        assert!(
            listed.iter().any(|(m, p)| m == want.0 && p == want.1),
            "{want:?} not in /routes"
        );
    }

    let doc = ok(public(&gw, "/openapi.json").await).await;
    assert_eq!(doc["openapi"], "3.1.0");
    // Every route listed is described, and every listed route is served (not 404/405).
    for (m, p) in &listed {
        assert!(
            doc["paths"][p][m.to_lowercase()].is_object(),
            "{m} {p} not in /openapi.json"
        );
        let path = p.replace("{key}", "sk-nope");
        let r = client()
            .request(m.parse().unwrap(), gw.url(&path))
            .bearer_auth(MASTER_KEY)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(
            status != 405 && !text.contains("Route not found"),
            "{m} {p} is listed but not served: {status} {text}"
        );
    }
    // Management bodies list the known fields, and nothing else goes.
    let gen = &doc["paths"]["/key/generate"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(gen["additionalProperties"], false);
    for f in [
        "max_budget",
        "models",
        "team_id",
        "duration",
        "allowed_routes",
    ] {
        assert!(
            gen["properties"][f].is_object(),
            "{f} missing from /key/generate"
        );
    }
    assert!(
        gen["properties"]["allowed_routes"]["description"]
            .as_str()
            .unwrap()
            .contains("not supported yet"),
        "{gen}"
    );
    let list = doc["paths"]["/key/list"]["get"]["parameters"]
        .as_array()
        .unwrap();
    assert!(list
        .iter()
        .any(|p| p["name"] == "team_id" && p["in"] == "query"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_routes_are_described_and_answered_in_openai_s_shapes() {
    let gw = start_keys().await;
    let doc = ok(public(&gw, "/openapi.json").await).await;
    let reference = openai();
    let ours = &doc["components"]["schemas"];
    let mut compared = 0;
    for (name, theirs) in reference["schemas"].as_object().unwrap() {
        let Some(mine) = ours.get(name) else { continue };
        compared += 1;
        let their_props = &theirs["properties"];
        for (prop, s) in mine["properties"].as_object().unwrap() {
            let t = their_props
                .get(prop)
                .unwrap_or_else(|| panic!("{name}.{prop} is not OpenAI's"));
            let (ours_t, theirs_t) = (types(&s["type"]), types(t));
            if !ours_t.is_empty() && !theirs_t.is_empty() {
                assert!(
                    ours_t.is_subset(&theirs_t) || theirs_t.is_subset(&ours_t),
                    "{name}.{prop}: ours {ours_t:?}, OpenAI's {theirs_t:?}"
                );
            }
        }
        let required = |v: &Value| -> BTreeSet<String> { types(&v["required"]) };
        assert_eq!(required(mine), required(theirs), "{name}: required fields");
    }
    assert!(compared >= 9, "only {compared} OpenAI schemas described");
    for (path, request, response) in [
        (
            "/v1/chat/completions",
            "CreateChatCompletionRequest",
            "CreateChatCompletionResponse",
        ),
        (
            "/v1/embeddings",
            "CreateEmbeddingRequest",
            "CreateEmbeddingResponse",
        ),
        (
            "/v1/completions",
            "CreateCompletionRequest",
            "CreateCompletionResponse",
        ),
    ] {
        let op = &doc["paths"][path]["post"];
        assert_eq!(
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            format!("#/components/schemas/{request}")
        );
        assert_eq!(
            op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            format!("#/components/schemas/{response}")
        );
    }

    // And the real answers carry every field OpenAI requires.
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    let must = |schema: &str, v: &Value| {
        for f in types(&reference["schemas"][schema]["required"]) {
            assert!(v.get(&f).is_some(), "{schema}.{f} missing in {v}");
        }
    };
    let chat = ok(post(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await)
    .await;
    must("CreateChatCompletionResponse", &chat);
    let emb = ok(post(
        &gw,
        "/v1/embeddings",
        &json!({"model": "test-model", "input": "hi"}),
    )
    .await)
    .await;
    must("CreateEmbeddingResponse", &emb);
    let models = ok(get(&gw, "/v1/models").await).await;
    must("ListModelsResponse", &models);
    must("Model", &models["data"][0]);
    let err: Value = post(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "nope", "messages": []}),
    )
    .await
    .json()
    .await
    .unwrap();
    must("ErrorResponse", &err);
    must("Error", &err["error"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_is_self_contained() {
    let gw = start_keys().await;
    let r = public(&gw, "/docs").await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/html"));
    assert!(header(&r, "content-security-policy").contains("default-src 'none'"));
    let html = r.text().await.unwrap();
    assert!(
        html.contains("fetch(\"/openapi.json\")"),
        "the page renders /openapi.json"
    );
    assert!(
        !html.contains("<script src") && !html.contains("<link"),
        "no external script or style"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN or other host"
    );
}
