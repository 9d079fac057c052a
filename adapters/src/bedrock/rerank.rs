//! Amazon Bedrock's Rerank API (bedrock-agent-runtime `POST /rerank`, signed with SigV4 like
//! every Bedrock call): the query as a `TEXT` query, each document an `INLINE` source (`TEXT`,
//! or `JSON` for an object), `numberOfResults` from `top_n` (all documents without it), and
//! the model as its ARN — `model` itself when it is one, else
//! `arn:aws:bedrock:{region}::foundation-model/{model}`. Bedrock reports no usage: the search
//! units billed are Amazon's, one per 100 documents.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::rerank::{answer, Ask, Billed, Ranked};
use crate::target::{ProviderRequest, Target};

/// The model ARN Bedrock's Rerank API takes.
fn model_arn(t: &Target<'_>) -> String {
    if t.model.starts_with("arn:") {
        return t.model.to_string();
    }
    let region = t
        .internal
        .get("aws_region_name")
        .and_then(Value::as_str)
        .unwrap_or("us-east-1");
    format!("arn:aws:bedrock:{region}::foundation-model/{}", t.model)
}

/// The unsigned Rerank request (the gateway signs it).
pub fn build(body: &Map<String, Value>, t: &Target<'_>) -> Result<ProviderRequest, ApiError> {
    let ask = Ask::of(body, t.defaults);
    let sources: Vec<Value> = ask
        .documents
        .iter()
        .map(|d| match d {
            Value::Object(_) => json!({"type": "INLINE",
                "inlineDocumentSource": {"type": "JSON", "jsonDocument": d}}),
            _ => json!({"type": "INLINE",
                "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": ask.text_of(d)}}}),
        })
        .collect();
    let results = ask
        .top_n
        .unwrap_or(ask.documents.len() as u64)
        .min(ask.documents.len() as u64);
    let out = json!({
        "queries": [{"type": "TEXT", "textQuery": {"text": ask.query}}],
        "rerankingConfiguration": {
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {
                "numberOfResults": results,
                "modelConfiguration": {"modelArn": model_arn(t)},
            },
        },
        "sources": sources,
    });
    Ok(ProviderRequest {
        path: format!("{}/rerank", t.base_path.trim_end_matches('/')),
        headers: vec![("accept", "application/json".to_string())],
        body: serde_json::to_vec(&out).expect("serializing JSON values cannot fail"),
    })
}

#[derive(Deserialize)]
struct Reply {
    results: Vec<ResultWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultWire {
    index: u64,
    relevance_score: f64,
    document: Option<Document>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    text_document: Option<TextDocument>,
    json_document: Option<Value>,
}

#[derive(Deserialize)]
struct TextDocument {
    text: String,
}

/// Bedrock's answer as the canonical one.
pub fn to_canonical(
    body: &Map<String, Value>,
    t: &Target<'_>,
    id: &str,
    reply: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let r: Reply =
        serde_json::from_slice(reply).map_err(|e| crate::rerank::malformed("Bedrock", e))?;
    let ask = Ask::of(body, t.defaults);
    let ranked = r
        .results
        .into_iter()
        .map(|x| Ranked {
            index: x.index,
            relevance_score: x.relevance_score,
            document: x.document.and_then(|d| {
                d.json_document
                    .or(d.text_document.map(|t| json!({ "text": t.text })))
            }),
        })
        .collect();
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
        let internal = Map::from_iter([("aws_region_name".to_string(), json!("eu-central-1"))]);
        let t = Target {
            provider: Provider::Bedrock,
            model: "amazon.rerank-v1:0",
            base_path: "",
            api_key: None,
            api_version: None,
            defaults: &Map::new(),
            drop_params: false,
            internal: &internal,
        };
        let b = json!({"query": "q", "documents": ["a", {"k": "v"}], "top_n": 1})
            .as_object()
            .unwrap()
            .clone();
        let pr = build(&b, &t).unwrap();
        assert_eq!(pr.path, "/rerank");
        let sent: Value = serde_json::from_slice(&pr.body).unwrap();
        let conf = &sent["rerankingConfiguration"]["bedrockRerankingConfiguration"];
        assert_eq!(
            conf["modelConfiguration"]["modelArn"],
            "arn:aws:bedrock:eu-central-1::foundation-model/amazon.rerank-v1:0"
        );
        assert_eq!(conf["numberOfResults"], 1);
        assert_eq!(sent["queries"][0]["textQuery"]["text"], "q");
        assert_eq!(
            sent["sources"][0]["inlineDocumentSource"]["textDocument"]["text"],
            "a"
        );
        assert_eq!(
            sent["sources"][1]["inlineDocumentSource"]["jsonDocument"]["k"],
            "v"
        );
        let reply =
            br#"{"results":[{"index":1,"relevanceScore":0.8},{"index":0,"relevanceScore":0.1}]}"#;
        let out: Value =
            serde_json::from_slice(&to_canonical(&b, &t, "id-1", reply).unwrap()).unwrap();
        assert_eq!(out["results"].as_array().unwrap().len(), 1);
        assert_eq!(out["results"][0]["index"], 1);
        assert_eq!(out["results"][0]["relevance_score"], 0.8);
        assert_eq!(out["meta"]["billed_units"]["search_units"], 1);
    }
}
