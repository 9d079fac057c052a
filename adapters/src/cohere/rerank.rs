//! Cohere's rerank API, v1 (`POST /v1/rerank`) and v2 (`POST /v2/rerank`), as LiteLLM picks
//! between them: v1 when the deployment's `api_base` ends with `/v1/rerank`, or when the
//! request sets `max_chunks_per_doc` (v1 only) without `max_tokens_per_doc` and the base does
//! not end with `/v2/rerank`; v2 otherwise. v2 takes documents as strings only: an object is
//! sent as its text (`rerank::Ask::text_of`) and returned from the request when asked for.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::rerank::{answer, Ask, Billed, Ranked};
use crate::target::{ProviderRequest, Target};

/// Which Cohere rerank API a request goes to, and its path below the host.
fn endpoint(base_path: &str, ask: &Ask<'_>) -> (bool, String) {
    let base = base_path.trim_end_matches('/');
    if base.ends_with("/v1/rerank") {
        return (true, base.to_string());
    }
    if base.ends_with("/v2/rerank") {
        return (false, base.to_string());
    }
    let v1 = ask.max_chunks_per_doc.is_some() && ask.max_tokens_per_doc.is_none();
    let root = base
        .strip_suffix("/v1")
        .or_else(|| base.strip_suffix("/v2"))
        .unwrap_or(base);
    let version = if v1 { "v1" } else { "v2" };
    (v1, format!("{root}/{version}/rerank"))
}

/// The Cohere rerank request: bearer auth, the deployment's model.
pub fn build(body: &Map<String, Value>, t: &Target<'_>) -> Result<ProviderRequest, ApiError> {
    let ask = Ask::of(body, t.defaults);
    let (v1, path) = endpoint(t.base_path, &ask);
    let mut out = Map::new();
    out.insert("model".into(), t.model.into());
    out.insert("query".into(), ask.query.into());
    if v1 {
        out.insert("documents".into(), Value::Array(ask.documents.to_vec()));
        if let Some(f) = ask.rank_fields {
            out.insert("rank_fields".into(), Value::Array(f.to_vec()));
        }
        if let Some(r) = ask.return_documents {
            out.insert("return_documents".into(), r.into());
        }
        if let Some(m) = ask.max_chunks_per_doc {
            out.insert("max_chunks_per_doc".into(), m.into());
        }
    } else {
        let docs: Vec<Value> = ask
            .documents
            .iter()
            .map(|d| Value::String(ask.text_of(d)))
            .collect();
        out.insert("documents".into(), Value::Array(docs));
        if let Some(m) = ask.max_tokens_per_doc {
            out.insert("max_tokens_per_doc".into(), m.into());
        }
    }
    if let Some(n) = ask.top_n {
        out.insert("top_n".into(), n.into());
    }
    let mut headers = Vec::with_capacity(3);
    if let Some(key) = t.api_key.filter(|k| !k.is_empty()) {
        headers.push(("authorization", format!("Bearer {key}")));
    }
    headers.push(("accept", "application/json".to_string()));
    Ok(ProviderRequest {
        path,
        headers,
        body: serde_json::to_vec(&Value::Object(out)).expect("serializing JSON values cannot fail"),
    })
}

#[derive(Deserialize)]
struct Reply {
    id: Option<String>,
    results: Vec<ResultWire>,
    #[serde(default)]
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct ResultWire {
    index: u64,
    relevance_score: f64,
    document: Option<Value>,
}

#[derive(Deserialize)]
struct Meta {
    billed_units: Option<Units>,
}

#[derive(Deserialize)]
struct Units {
    search_units: Option<f64>,
}

/// Cohere's answer (v1 or v2) as the canonical one; `id` is used when Cohere gives none.
pub fn to_canonical(
    body: &Map<String, Value>,
    t: &Target<'_>,
    id: &str,
    reply: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let r: Reply =
        serde_json::from_slice(reply).map_err(|e| crate::rerank::malformed("Cohere", e))?;
    let ask = Ask::of(body, t.defaults);
    let units = r
        .meta
        .and_then(|m| m.billed_units)
        .and_then(|u| u.search_units)
        .filter(|u| u.is_finite() && *u >= 0.0)
        .map(|u| u as u64);
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
            search_units: units.or(Some(ask.search_units())),
            tokens: None,
        },
    ))
}

/// The documents of a rerank request as v1 sends them (for tests).
#[cfg(test)]
fn sent(pr: &ProviderRequest) -> Value {
    serde_json::from_slice(&pr.body).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Provider;
    use serde_json::json;

    fn target<'a>(base: &'a str, defaults: &'a Map<String, Value>) -> Target<'a> {
        Target {
            provider: Provider::Cohere,
            model: "rerank-v3.5",
            base_path: base,
            api_key: Some("co-key"),
            api_version: None,
            defaults,
            drop_params: false,
            internal: defaults,
        }
    }

    #[test]
    fn picks_v1_or_v2_as_litellm_does() {
        let none = Map::new();
        let b = json!({"query": "q", "documents": ["a", {"title": "T", "text": "b"}], "top_n": 1, "return_documents": true})
            .as_object()
            .unwrap()
            .clone();
        let pr = build(&b, &target("", &none)).unwrap();
        assert_eq!(pr.path, "/v2/rerank");
        let v = sent(&pr);
        assert_eq!(v["documents"], json!(["a", "b"]));
        assert!(v.get("return_documents").is_none());
        assert_eq!(v["model"], "rerank-v3.5");
        assert!(pr
            .headers
            .contains(&("authorization", "Bearer co-key".to_string())));
        // An api_base naming v1, or a v1-only parameter, goes to v1 with documents as given.
        let pr = build(&b, &target("/v1/rerank", &none)).unwrap();
        assert_eq!(pr.path, "/v1/rerank");
        assert_eq!(sent(&pr)["documents"][1]["title"], "T");
        assert_eq!(sent(&pr)["return_documents"], true);
        let mut b1 = b.clone();
        b1.insert("max_chunks_per_doc".into(), json!(5));
        assert_eq!(
            build(&b1, &target("/v1", &none)).unwrap().path,
            "/v1/rerank"
        );
        assert_eq!(
            build(&b1, &target("/v2/rerank", &none)).unwrap().path,
            "/v2/rerank"
        );
    }

    #[test]
    fn answer_keeps_billed_search_units_and_documents() {
        let none = Map::new();
        let b = json!({"query": "q", "documents": ["a", "b"], "return_documents": true})
            .as_object()
            .unwrap()
            .clone();
        let reply = br#"{"id":"c1","results":[{"index":1,"relevance_score":0.9},{"index":0,"relevance_score":0.2}],"meta":{"api_version":{"version":"2"},"billed_units":{"search_units":1}}}"#;
        let out: Value =
            serde_json::from_slice(&to_canonical(&b, &target("", &none), "x", reply).unwrap())
                .unwrap();
        assert_eq!(out["id"], "c1");
        assert_eq!(out["results"][0]["index"], 1);
        assert_eq!(out["results"][0]["document"]["text"], "b");
        assert_eq!(out["meta"]["billed_units"]["search_units"], 1);
        assert!(to_canonical(&b, &target("", &none), "x", b"{}").is_err());
    }
}
