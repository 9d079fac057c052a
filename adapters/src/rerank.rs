//! The canonical rerank API (`POST /v1/rerank`, Cohere's shape, as LiteLLM serves it): the
//! request checks, the request as every rerank dialect reads it ([`Ask`]), the document text a
//! provider that takes only text is given, and the canonical answer each dialect's reply is
//! turned into — `{id, results: [{index, relevance_score, document?}], meta: {billed_units}}`.
//! The provider wire formats live with their providers (`cohere::rerank`, `openai::rerank`,
//! `bedrock::rerank`, `gemini::rank`); `dialect` picks one.

use serde_json::{json, Map, Value};

/// Most documents one request may rank (Cohere's and Bedrock's limit is 1,000; a larger list is
/// refused before any provider is called).
pub const MAX_DOCUMENTS: usize = 10_000;

/// Documents one search unit covers (Cohere, Amazon and Google bill a query of up to 100
/// documents as one unit).
pub const DOCUMENTS_PER_SEARCH_UNIT: u64 = 100;

/// Why a rerank request is refused: the message and the field (the request parser makes its
/// `RequestError` of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub param: &'static str,
}

/// The checks a rerank request passes before routing: `query` a string, `documents` a
/// non-empty array of strings or objects, `top_n` a positive whole number, `return_documents`
/// a boolean, `rank_fields` an array of strings.
pub fn check(body: &Map<String, Value>) -> Result<(), Refusal> {
    let bad = |message: &str, param: &'static str| {
        Err(Refusal {
            message: message.to_string(),
            param,
        })
    };
    if !body.get("query").is_some_and(Value::is_string) {
        return bad("Invalid type for 'query': expected a string", "query");
    }
    match body.get("documents") {
        None | Some(Value::Null) => {
            return bad("Missing required parameter: 'documents'", "documents")
        }
        Some(Value::Array(docs)) => {
            if docs.is_empty() {
                return bad("'documents' must not be empty", "documents");
            }
            if docs.len() > MAX_DOCUMENTS {
                return Err(Refusal {
                    message: format!(
                        "'documents' has {} items; at most {MAX_DOCUMENTS} are accepted",
                        docs.len()
                    ),
                    param: "documents",
                });
            }
            if !docs.iter().all(|d| d.is_string() || d.is_object()) {
                return bad(
                    "Invalid type for 'documents': expected strings or objects",
                    "documents",
                );
            }
        }
        Some(_) => {
            return bad(
                "Invalid type for 'documents': expected an array",
                "documents",
            )
        }
    }
    match body.get("top_n") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_u64().is_some_and(|n| n >= 1) => {}
        Some(_) => return bad("'top_n' must be a positive whole number", "top_n"),
    }
    if !matches!(
        body.get("return_documents"),
        None | Some(Value::Null | Value::Bool(_))
    ) {
        return bad(
            "Invalid type for 'return_documents': expected a boolean",
            "return_documents",
        );
    }
    match body.get("rank_fields") {
        None | Some(Value::Null) => {}
        Some(Value::Array(f)) if f.iter().all(Value::is_string) => {}
        Some(_) => {
            return bad(
                "Invalid type for 'rank_fields': expected an array of strings",
                "rank_fields",
            )
        }
    }
    Ok(())
}

/// A rerank request as the dialects read it: the client's fields, else the deployment's
/// defaults (`litellm_params`), for the optional ones.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub query: &'a str,
    pub documents: &'a [Value],
    pub top_n: Option<u64>,
    /// `Some(true)`: every result carries its document; `Some(false)`: none does; `None`: as
    /// the provider answered.
    pub return_documents: Option<bool>,
    pub rank_fields: Option<&'a [Value]>,
    /// Cohere v1 only.
    pub max_chunks_per_doc: Option<u64>,
    /// Cohere v2 and vLLM.
    pub max_tokens_per_doc: Option<u64>,
}

impl<'a> Ask<'a> {
    /// Reads a request that passed [`check`]; `defaults` are the deployment's.
    pub fn of(body: &'a Map<String, Value>, defaults: &'a Map<String, Value>) -> Ask<'a> {
        let get = |k: &str| {
            body.get(k)
                .filter(|v| !v.is_null())
                .or_else(|| defaults.get(k).filter(|v| !v.is_null()))
        };
        Ask {
            query: body.get("query").and_then(Value::as_str).unwrap_or(""),
            documents: body
                .get("documents")
                .and_then(Value::as_array)
                .map_or(&[], Vec::as_slice),
            top_n: get("top_n").and_then(Value::as_u64),
            return_documents: get("return_documents").and_then(Value::as_bool),
            rank_fields: get("rank_fields")
                .and_then(Value::as_array)
                .map(Vec::as_slice),
            max_chunks_per_doc: get("max_chunks_per_doc").and_then(Value::as_u64),
            max_tokens_per_doc: get("max_tokens_per_doc").and_then(Value::as_u64),
        }
    }

    /// The text a provider that ranks only text is given for document `doc`: a string as it
    /// is; an object's `text`, else its `rank_fields` (all its fields without them) as
    /// `key: value` lines, the YAML Cohere recommends for structured documents.
    pub fn text_of(&self, doc: &Value) -> String {
        let Value::Object(o) = doc else {
            return doc.as_str().unwrap_or_default().to_string();
        };
        if self.rank_fields.is_none() {
            if let Some(t) = o.get("text").and_then(Value::as_str) {
                return t.to_string();
            }
        }
        let line = |k: &str, v: &Value| match v {
            Value::String(s) => format!("{k}: {s}"),
            other => format!("{k}: {other}"),
        };
        let lines: Vec<String> = match self.rank_fields {
            Some(fields) => fields
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|k| o.get(k).map(|v| line(k, v)))
                .collect(),
            None => o.iter().map(|(k, v)| line(k, v)).collect(),
        };
        lines.join("\n")
    }

    /// Search units of this request as Cohere, Amazon and Google bill them: one per 100
    /// documents (at least one).
    pub fn search_units(&self) -> u64 {
        (self.documents.len() as u64)
            .div_ceil(DOCUMENTS_PER_SEARCH_UNIT)
            .max(1)
    }
}

/// One ranked document of a provider's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// Its position in the request's `documents`.
    pub index: u64,
    pub relevance_score: f64,
    /// The document the provider returned with it (a string is taken as `{"text": …}`).
    pub document: Option<Value>,
}

/// What the provider billed: search units, and tokens where it counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Billed {
    pub search_units: Option<u64>,
    pub tokens: Option<u64>,
}

/// The canonical answer: results best first (at most `top_n`), each with its document when
/// `return_documents` asked for it (the provider's, else the request's own), none when it
/// asked for none; `meta.billed_units` with the search units and tokens billed.
pub fn answer(id: &str, ask: &Ask<'_>, mut ranked: Vec<Ranked>, billed: Billed) -> Vec<u8> {
    ranked.sort_by(|a, b| b.relevance_score.total_cmp(&a.relevance_score));
    if let Some(n) = ask.top_n {
        ranked.truncate(n.min(usize::MAX as u64) as usize);
    }
    let results: Vec<Value> = ranked
        .into_iter()
        .map(|r| {
            let document = match ask.return_documents {
                Some(false) => None,
                Some(true) => r.document.map(document_value).or_else(|| {
                    ask.documents
                        .get(r.index as usize)
                        .map(|d| document_value(d.clone()))
                }),
                None => r.document.map(document_value),
            };
            let mut v = json!({"index": r.index, "relevance_score": r.relevance_score});
            if let Some(d) = document {
                v["document"] = d;
            }
            v
        })
        .collect();
    let mut billed_units = Map::new();
    if let Some(u) = billed.search_units {
        billed_units.insert("search_units".into(), u.into());
    }
    if let Some(t) = billed.tokens {
        billed_units.insert("total_tokens".into(), t.into());
    }
    let mut meta = json!({"api_version": {"version": "2"}, "billed_units": billed_units});
    if let Some(t) = billed.tokens {
        meta["tokens"] = json!({"input_tokens": t, "output_tokens": 0});
    }
    serde_json::to_vec(&json!({"id": id, "results": results, "meta": meta}))
        .expect("serializing JSON values cannot fail")
}

/// A returned document as the canonical answer carries it: `{"text": …}` for a string.
pub fn document_value(d: Value) -> Value {
    match d {
        Value::String(s) => json!({ "text": s }),
        other => other,
    }
}

/// What a canonical answer says was billed (`meta.billed_units`), for its cost; both `None`
/// when the body is not one.
pub fn billed_of(body: &[u8]) -> Billed {
    #[derive(serde::Deserialize)]
    struct Answer {
        meta: Option<Meta>,
    }
    #[derive(serde::Deserialize)]
    struct Meta {
        billed_units: Option<Units>,
    }
    #[derive(serde::Deserialize)]
    struct Units {
        search_units: Option<f64>,
        total_tokens: Option<f64>,
    }
    let Ok(Answer {
        meta: Some(Meta {
            billed_units: Some(u),
        }),
    }) = serde_json::from_slice::<Answer>(body)
    else {
        return Billed::default();
    };
    let whole = |v: Option<f64>| v.filter(|v| v.is_finite() && *v >= 0.0).map(|v| v as u64);
    Billed {
        search_units: whole(u.search_units),
        tokens: whole(u.total_tokens),
    }
}

/// A provider answer that is not the shape its API documents.
pub(crate) fn malformed(provider: &str, e: impl std::fmt::Display) -> crate::error::ApiError {
    crate::error::ApiError::new(
        502,
        "api_error",
        format!("{provider} rerank answer could not be read: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn checks_name_the_field() {
        let ok = body(json!({"query": "q", "documents": ["a", {"text": "b"}], "top_n": 1}));
        assert!(check(&ok).is_ok());
        for (v, param) in [
            (json!({"query": 1, "documents": ["a"]}), "query"),
            (json!({"query": "q"}), "documents"),
            (json!({"query": "q", "documents": []}), "documents"),
            (json!({"query": "q", "documents": [1]}), "documents"),
            (json!({"query": "q", "documents": "a"}), "documents"),
            (
                json!({"query": "q", "documents": ["a"], "top_n": 0}),
                "top_n",
            ),
            (
                json!({"query": "q", "documents": ["a"], "top_n": "2"}),
                "top_n",
            ),
            (
                json!({"query": "q", "documents": ["a"], "return_documents": "yes"}),
                "return_documents",
            ),
            (
                json!({"query": "q", "documents": ["a"], "rank_fields": "t"}),
                "rank_fields",
            ),
        ] {
            assert_eq!(check(&body(v.clone())).unwrap_err().param, param, "{v}");
        }
    }

    #[test]
    fn document_text_uses_text_or_rank_fields() {
        let defaults = Map::new();
        let b = body(json!({"query": "q", "documents": [], "rank_fields": ["title", "n"]}));
        let ask = Ask::of(&b, &defaults);
        let doc = json!({"title": "T", "n": 3, "other": "x"});
        assert_eq!(ask.text_of(&doc), "title: T\nn: 3");
        let plain = body(json!({"query": "q", "documents": []}));
        let ask = Ask::of(&plain, &defaults);
        assert_eq!(ask.text_of(&json!({"text": "hi", "id": 1})), "hi");
        assert_eq!(ask.text_of(&json!("s")), "s");
    }

    #[test]
    fn answer_sorts_cuts_and_fills_documents() {
        let defaults = Map::from_iter([("top_n".to_string(), json!(2))]);
        let b = body(json!({"query": "q", "documents": ["a", "b", "c"], "return_documents": true}));
        let ask = Ask::of(&b, &defaults);
        assert_eq!(ask.top_n, Some(2), "the deployment's default applies");
        let ranked = vec![
            Ranked {
                index: 0,
                relevance_score: 0.1,
                document: None,
            },
            Ranked {
                index: 2,
                relevance_score: 0.9,
                document: None,
            },
            Ranked {
                index: 1,
                relevance_score: 0.5,
                document: Some(json!("B")),
            },
        ];
        let out: Value = serde_json::from_slice(&answer(
            "r1",
            &ask,
            ranked,
            Billed {
                search_units: Some(1),
                tokens: None,
            },
        ))
        .unwrap();
        assert_eq!(out["results"][0]["index"], 2);
        assert_eq!(out["results"][0]["document"]["text"], "c");
        assert_eq!(out["results"][1]["document"]["text"], "B");
        assert_eq!(out["results"].as_array().unwrap().len(), 2);
        assert_eq!(out["meta"]["billed_units"]["search_units"], 1);
        let billed = billed_of(&serde_json::to_vec(&out).unwrap());
        assert_eq!(
            billed,
            Billed {
                search_units: Some(1),
                tokens: None
            }
        );
    }

    #[test]
    fn search_units_are_per_hundred_documents() {
        let docs: Vec<Value> = (0..250).map(|i| json!(i.to_string())).collect();
        let b = body(json!({"query": "q", "documents": docs}));
        let defaults = Map::new();
        assert_eq!(Ask::of(&b, &defaults).search_units(), 3);
    }
}
