//! Vertex AI ranking (Discovery Engine's rank API, `vertex_ai/semantic-ranker-*` models):
//! `POST {api_base}/v1/projects/{project}/locations/global/rankingConfigs/default_ranking_config:rank`
//! with the Google OAuth token and `x-goog-user-project`. Each document is a record whose `id`
//! is its index, `content` its text and `title` an object's `title`; `topN` from `top_n`;
//! `ignoreRecordDetailsInResponse` unless documents are asked for. Google reports no usage: the
//! search units billed are Google's, one per 100 records.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::rerank::{answer, Ask, Billed, Ranked};
use crate::target::{ProviderRequest, Target};

/// The rank request.
pub fn build(body: &Map<String, Value>, t: &Target<'_>) -> Result<ProviderRequest, ApiError> {
    let ask = Ask::of(body, t.defaults);
    let project = t
        .internal
        .get("vertex_project")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::new(
                400,
                "invalid_request_error",
                "vertex_ai rerank needs vertex_project",
            )
        })?;
    let records: Vec<Value> = ask
        .documents
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut r = json!({"id": i.to_string(), "content": ask.text_of(d)});
            if let Some(title) = d.get("title").and_then(Value::as_str) {
                r["title"] = title.into();
            }
            r
        })
        .collect();
    let mut out = json!({
        "model": t.model,
        "query": ask.query,
        "records": records,
        "ignoreRecordDetailsInResponse": ask.return_documents != Some(true),
    });
    if let Some(n) = ask.top_n {
        out["topN"] = n.into();
    }
    let mut headers = vec![
        ("accept", "application/json".to_string()),
        ("x-goog-user-project", project.to_string()),
    ];
    if let Some(token) = t.api_key.filter(|k| !k.is_empty()) {
        headers.push(("authorization", format!("Bearer {token}")));
    }
    Ok(ProviderRequest {
        path: format!(
            "{}/v1/projects/{project}/locations/global/rankingConfigs/default_ranking_config:rank",
            t.base_path.trim_end_matches('/')
        ),
        headers,
        body: serde_json::to_vec(&out).expect("serializing JSON values cannot fail"),
    })
}

#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    records: Vec<Record>,
}

#[derive(Deserialize)]
struct Record {
    id: String,
    #[serde(default)]
    score: f64,
    content: Option<String>,
}

/// Google's answer as the canonical one.
pub fn to_canonical(
    body: &Map<String, Value>,
    t: &Target<'_>,
    id: &str,
    reply: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let r: Reply =
        serde_json::from_slice(reply).map_err(|e| crate::rerank::malformed("Vertex AI", e))?;
    let ask = Ask::of(body, t.defaults);
    let mut ranked = Vec::with_capacity(r.records.len());
    for rec in r.records {
        let index = rec.id.parse::<u64>().map_err(|_| {
            crate::rerank::malformed("Vertex AI", format!("record id {:?} is not ours", rec.id))
        })?;
        ranked.push(Ranked {
            index,
            relevance_score: rec.score,
            document: rec.content.map(|c| json!({ "text": c })),
        });
    }
    Ok(answer(
        id,
        &ask,
        ranked,
        Billed {
            search_units: Some(ask.search_units()),
            tokens: None,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Provider;

    #[test]
    fn request_and_answer() {
        let internal = Map::from_iter([("vertex_project".to_string(), json!("proj-1"))]);
        let none = Map::new();
        let t = Target {
            provider: Provider::VertexAi,
            model: "semantic-ranker-default-004",
            base_path: "",
            api_key: Some("ya29.token"),
            api_version: None,
            defaults: &none,
            drop_params: false,
            internal: &internal,
        };
        let b = json!({"query": "q", "documents": ["a", {"title": "T", "text": "b"}], "top_n": 2, "return_documents": true})
            .as_object()
            .unwrap()
            .clone();
        let pr = build(&b, &t).unwrap();
        assert_eq!(
            pr.path,
            "/v1/projects/proj-1/locations/global/rankingConfigs/default_ranking_config:rank"
        );
        assert!(pr
            .headers
            .contains(&("authorization", "Bearer ya29.token".to_string())));
        let sent: Value = serde_json::from_slice(&pr.body).unwrap();
        assert_eq!(
            sent["records"][1],
            json!({"id": "1", "content": "b", "title": "T"})
        );
        assert_eq!(sent["topN"], 2);
        assert_eq!(sent["ignoreRecordDetailsInResponse"], false);
        let reply = br#"{"records":[{"id":"0","score":0.2,"content":"a"},{"id":"1","score":0.9,"title":"T","content":"b"}]}"#;
        let out: Value =
            serde_json::from_slice(&to_canonical(&b, &t, "r", reply).unwrap()).unwrap();
        assert_eq!(out["results"][0]["index"], 1);
        assert_eq!(out["results"][0]["document"]["text"], "b");
        assert!(to_canonical(&b, &t, "r", br#"{"records":[{"id":"x"}]}"#).is_err());
    }
}
