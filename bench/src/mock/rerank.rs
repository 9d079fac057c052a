//! Rerank in each provider's API, and OpenAI moderations:
//! - Cohere `POST /v1/rerank` and `/v2/rerank`: `{id, results: [{index, relevance_score,
//!   document?}], meta: {api_version, billed_units: {search_units}}}` (v1 returns documents
//!   when `return_documents` is true; v2 never does);
//! - `POST /rerank` (vLLM, Jina, Infinity): `{id, model, usage: {total_tokens}, results:
//!   [{index, relevance_score, document: {text}}]}`; a body with `queries` is Amazon Bedrock's
//!   Rerank API instead: `{results: [{index, relevanceScore}]}`;
//! - Vertex AI `…/rankingConfigs/{config}:rank`: `{records: [{id, score, content?}]}`;
//! - `POST /moderations`: one not-flagged result per input.
//!
//! The score of a document is its share of the query's words (so a test can predict the
//! order), ties broken by position.

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::body::MockBody;
use super::dialect::{Dialect, RerankKind};
use super::handler::{error, full, Ctx};

/// Answers a rerank request.
pub(crate) fn respond(ctx: &Ctx, kind: RerankKind) -> Response<MockBody> {
    let Ok(body) = serde_json::from_slice::<Value>(ctx.body) else {
        return error(Dialect::OpenAi, StatusCode::BAD_REQUEST, "invalid JSON");
    };
    match kind {
        RerankKind::CohereV1 | RerankKind::CohereV2 => cohere(ctx, &body, kind),
        RerankKind::Compat if body.get("queries").is_some() => bedrock(&body),
        RerankKind::Compat => compat(ctx, &body),
        RerankKind::Vertex => vertex(&body),
    }
}

/// A document's score for `query`: the share of the query's words it contains, plus a small
/// tie-breaker favouring earlier documents.
fn score(query: &str, text: &str, index: usize) -> f64 {
    let words: Vec<String> = query.split_whitespace().map(|w| w.to_lowercase()).collect();
    let text = text.to_lowercase();
    let hits = words.iter().filter(|w| text.contains(w.as_str())).count();
    let share = if words.is_empty() {
        0.0
    } else {
        hits as f64 / words.len() as f64
    };
    share * 0.9 + 0.05 / (index as f64 + 1.0)
}

fn text_of(doc: &Value) -> String {
    match doc {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("text")
            .and_then(Value::as_str)
            .map_or_else(|| doc.to_string(), str::to_string),
        other => other.to_string(),
    }
}

/// `(index, score)` of each text, best first, at most `top_n`.
fn ranked(query: &str, texts: &[String], top_n: Option<u64>) -> Vec<(usize, f64)> {
    let mut out: Vec<(usize, f64)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| (i, score(query, t, i)))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    if let Some(n) = top_n {
        out.truncate(n as usize);
    }
    out
}

fn ok(v: Value) -> Response<MockBody> {
    full(StatusCode::OK, Bytes::from(v.to_string()))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().map(text_of).collect())
        .unwrap_or_default()
}

fn cohere(ctx: &Ctx, body: &Value, kind: RerankKind) -> Response<MockBody> {
    let (Some(query), Some(docs)) = (
        body.get("query").and_then(Value::as_str),
        body.get("documents").and_then(Value::as_array),
    ) else {
        return error(
            Dialect::Cohere,
            StatusCode::BAD_REQUEST,
            "invalid request: query and documents are required",
        );
    };
    if body.get("model").is_none() {
        return error(
            Dialect::Cohere,
            StatusCode::BAD_REQUEST,
            "invalid request: model must be specified",
        );
    }
    if kind == RerankKind::CohereV2 && !docs.iter().all(Value::is_string) {
        return error(
            Dialect::Cohere,
            StatusCode::BAD_REQUEST,
            "invalid request: documents must be strings",
        );
    }
    let texts: Vec<String> = docs.iter().map(text_of).collect();
    let with_docs = kind == RerankKind::CohereV1
        && body.get("return_documents").and_then(Value::as_bool) == Some(true);
    let results: Vec<Value> = ranked(query, &texts, body.get("top_n").and_then(Value::as_u64))
        .into_iter()
        .map(|(i, s)| {
            let mut r = json!({"index": i, "relevance_score": s});
            if with_docs {
                r["document"] = match &docs[i] {
                    Value::String(t) => json!({ "text": t }),
                    other => other.clone(),
                };
            }
            r
        })
        .collect();
    let version = if kind == RerankKind::CohereV1 {
        "1"
    } else {
        "2"
    };
    ok(json!({
        "id": format!("00000000-0000-4000-8000-{:012x}", ctx.seq()),
        "results": results,
        "meta": {"api_version": {"version": version},
                 "billed_units": {"search_units": (docs.len() as u64).div_ceil(100).max(1)}},
    }))
}

fn compat(ctx: &Ctx, body: &Value) -> Response<MockBody> {
    let Some(query) = body.get("query").and_then(Value::as_str) else {
        return error(
            Dialect::OpenAi,
            StatusCode::BAD_REQUEST,
            "query is required",
        );
    };
    let texts = strings(body.get("documents"));
    let results: Vec<Value> = ranked(query, &texts, body.get("top_n").and_then(Value::as_u64))
        .into_iter()
        .map(|(i, s)| json!({"index": i, "relevance_score": s, "document": {"text": texts[i]}}))
        .collect();
    ok(json!({
        "id": format!("rerank-mock{}", ctx.seq()),
        "model": body.get("model").cloned().unwrap_or(Value::Null),
        "usage": {"total_tokens": ctx.prompt_tokens},
        "results": results,
    }))
}

fn bedrock(body: &Value) -> Response<MockBody> {
    let query = body
        .pointer("/queries/0/textQuery/text")
        .and_then(Value::as_str);
    let conf = body.pointer("/rerankingConfiguration/bedrockRerankingConfiguration");
    let arn = conf
        .and_then(|c| c.pointer("/modelConfiguration/modelArn"))
        .and_then(Value::as_str);
    let (Some(query), Some(_arn), Some(sources)) =
        (query, arn, body.get("sources").and_then(Value::as_array))
    else {
        return error(
            Dialect::Bedrock,
            StatusCode::BAD_REQUEST,
            "1 validation error detected: queries, rerankingConfiguration and sources are required",
        );
    };
    let texts: Vec<String> = sources
        .iter()
        .map(|s| {
            s.pointer("/inlineDocumentSource/textDocument/text")
                .and_then(Value::as_str)
                .map_or_else(
                    || {
                        s.pointer("/inlineDocumentSource/jsonDocument")
                            .map(Value::to_string)
                            .unwrap_or_default()
                    },
                    str::to_string,
                )
        })
        .collect();
    let n = conf
        .and_then(|c| c.get("numberOfResults"))
        .and_then(Value::as_u64);
    let results: Vec<Value> = ranked(query, &texts, n)
        .into_iter()
        .map(|(i, s)| json!({"index": i, "relevanceScore": s}))
        .collect();
    ok(json!({ "results": results }))
}

fn vertex(body: &Value) -> Response<MockBody> {
    let (Some(query), Some(records)) = (
        body.get("query").and_then(Value::as_str),
        body.get("records").and_then(Value::as_array),
    ) else {
        return error(
            Dialect::Gemini,
            StatusCode::BAD_REQUEST,
            "query and records are required",
        );
    };
    let texts: Vec<String> = records
        .iter()
        .map(|r| {
            r.get("content")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let details = body
        .get("ignoreRecordDetailsInResponse")
        .and_then(Value::as_bool)
        != Some(true);
    let out: Vec<Value> = ranked(query, &texts, body.get("topN").and_then(Value::as_u64))
        .into_iter()
        .map(|(i, s)| {
            let id = records[i].get("id").cloned().unwrap_or(Value::Null);
            if details {
                json!({"id": id, "score": s, "content": texts[i]})
            } else {
                json!({"id": id, "score": s})
            }
        })
        .collect();
    ok(json!({ "records": out }))
}

/// `POST /moderations`: one result per input, none flagged.
pub(crate) fn moderations(ctx: &Ctx, model: &str) -> Response<MockBody> {
    let Ok(body) = serde_json::from_slice::<Value>(ctx.body) else {
        return error(Dialect::OpenAi, StatusCode::BAD_REQUEST, "invalid JSON");
    };
    let inputs = match body.get("input") {
        Some(Value::Array(a)) => a.len(),
        Some(_) => 1,
        None => {
            return error(
                Dialect::OpenAi,
                StatusCode::BAD_REQUEST,
                "Missing required parameter: 'input'.",
            )
        }
    };
    let model = body.get("model").and_then(Value::as_str).unwrap_or(model);
    let categories = ["harassment", "hate", "self-harm", "sexual", "violence"];
    let result = json!({
        "flagged": false,
        "categories": categories.iter().map(|c| (c.to_string(), json!(false))).collect::<serde_json::Map<_, _>>(),
        "category_scores": categories.iter().map(|c| (c.to_string(), json!(0.0001))).collect::<serde_json::Map<_, _>>(),
    });
    ok(json!({
        "id": format!("modr-mock{}", ctx.seq()),
        "model": model,
        "results": vec![result; inputs],
    }))
}
