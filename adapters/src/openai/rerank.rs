//! Rerank on OpenAI-compatible servers — vLLM (`hosted_vllm/`), Jina AI (`jina_ai/`),
//! Infinity (`infinity/`) and any other server with a Cohere/Jina-style `POST /rerank`:
//! `{api_base}/rerank` (an `api_base` already ending with `/rerank` is used as it is), the
//! client's body with the deployment's model and defaults, bearer auth. Their answers differ in
//! small ways (Jina's `document` may be a string, usage comes as `usage.total_tokens` or in
//! `meta`), all read into the canonical answer.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::request::CanonicalRequest;
use crate::rerank::{answer, Ask, Billed, Ranked};
use crate::target::{ProviderRequest, Target};

/// The rerank request for an OpenAI-compatible server.
pub fn build(req: &CanonicalRequest, t: &Target<'_>) -> ProviderRequest {
    let mut pr = super::request::build(req, t);
    let base = t.base_path.trim_end_matches('/');
    if base.ends_with("/rerank") {
        pr.path = base.to_string();
    }
    pr
}

#[derive(Deserialize)]
struct Reply {
    id: Option<String>,
    results: Vec<ResultWire>,
    usage: Option<UsageWire>,
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct ResultWire {
    index: u64,
    relevance_score: f64,
    document: Option<Value>,
}

#[derive(Deserialize)]
struct UsageWire {
    total_tokens: Option<u64>,
    prompt_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Meta {
    billed_units: Option<Units>,
    tokens: Option<Tokens>,
}

#[derive(Deserialize)]
struct Units {
    search_units: Option<u64>,
    total_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Tokens {
    input_tokens: Option<u64>,
}

/// The server's answer as the canonical one; `id` is used when it gives none.
pub fn to_canonical(
    body: &Map<String, Value>,
    t: &Target<'_>,
    id: &str,
    reply: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let r: Reply = serde_json::from_slice(reply)
        .map_err(|e| crate::rerank::malformed(t.provider.prefix(), e))?;
    let ask = Ask::of(body, t.defaults);
    let (units, meta_tokens) = match r.meta {
        Some(m) => {
            let (units, total) = m
                .billed_units
                .map_or((None, None), |u| (u.search_units, u.total_tokens));
            (units, total.or(m.tokens.and_then(|t| t.input_tokens)))
        }
        None => (None, None),
    };
    let tokens = meta_tokens.or(r.usage.and_then(|u| u.total_tokens.or(u.prompt_tokens)));
    let ranked = r
        .results
        .into_iter()
        .map(|x| Ranked {
            index: x.index,
            relevance_score: x.relevance_score,
            document: x.document.map(crate::rerank::document_value),
        })
        .collect();
    Ok(answer(
        r.id.as_deref().unwrap_or(id),
        &ask,
        ranked,
        Billed {
            search_units: units,
            tokens,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Provider;
    use crate::request::Endpoint;
    use serde_json::json;

    fn target<'a>(base: &'a str, none: &'a Map<String, Value>) -> Target<'a> {
        Target {
            provider: Provider::HostedVllm,
            model: "BAAI/bge-reranker-v2-m3",
            base_path: base,
            api_key: Some("k"),
            api_version: None,
            defaults: none,
            drop_params: false,
            internal: none,
        }
    }

    #[test]
    fn path_and_body() {
        let none = Map::new();
        let req = CanonicalRequest::parse(
            Endpoint::Rerank,
            br#"{"model":"group","query":"q","documents":["a","b"],"top_n":1,"truncate_prompt_tokens":10}"#,
        )
        .unwrap();
        let pr = build(&req, &target("/v1", &none));
        assert_eq!(pr.path, "/v1/rerank");
        let sent: Value = serde_json::from_slice(&pr.body).unwrap();
        assert_eq!(sent["model"], "BAAI/bge-reranker-v2-m3");
        assert_eq!(sent["truncate_prompt_tokens"], 10);
        assert_eq!(build(&req, &target("/v1/rerank", &none)).path, "/v1/rerank");
    }

    #[test]
    fn reads_jina_vllm_and_infinity_answers() {
        let none = Map::new();
        let b = json!({"query": "q", "documents": ["a", "b"]})
            .as_object()
            .unwrap()
            .clone();
        for (reply, tokens) in [
            // Jina: document as a string, usage.total_tokens.
            (
                r#"{"model":"m","usage":{"total_tokens":12},"results":[{"index":1,"relevance_score":0.7,"document":"b"}]}"#,
                12,
            ),
            // vLLM: document object, usage.total_tokens.
            (
                r#"{"id":"rerank-1","model":"m","usage":{"total_tokens":9},"results":[{"index":1,"document":{"text":"b"},"relevance_score":0.7}]}"#,
                9,
            ),
            // Infinity: usage.prompt_tokens and total_tokens.
            (
                r#"{"object":"rerank","results":[{"relevance_score":0.7,"index":1,"document":null}],"model":"m","usage":{"prompt_tokens":5,"total_tokens":5},"id":"infinity-1","created":1}"#,
                5,
            ),
        ] {
            let out: Value = serde_json::from_slice(
                &to_canonical(&b, &target("", &none), "fallback", reply.as_bytes()).unwrap(),
            )
            .unwrap();
            assert_eq!(out["results"][0]["index"], 1, "{reply}");
            assert_eq!(
                out["meta"]["billed_units"]["total_tokens"], tokens,
                "{reply}"
            );
            if reply.contains("\"b\"") {
                assert_eq!(out["results"][0]["document"]["text"], "b", "{reply}");
            }
        }
    }
}
