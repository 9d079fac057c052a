//! LiteLLM's `mock_response` test stub: OpenAI-shaped replies (JSON and SSE) built locally for a
//! deployment that names one, so a gateway runs and answers without any provider key.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::request::{CanonicalRequest, Endpoint};
use crate::tokens::estimate_tokens;

/// Identity of one mocked response.
#[derive(Debug, Clone, Copy)]
pub struct MockMeta<'a> {
    /// Response id, e.g. `chatcmpl-…`.
    pub id: &'a str,
    /// Unix seconds.
    pub created: u64,
    /// The model name reported back (the deployment's model).
    pub model: &'a str,
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

fn prompt_tokens(req: &CanonicalRequest) -> u64 {
    let field = match req.endpoint {
        Endpoint::ChatCompletions => "messages",
        Endpoint::Completions => "prompt",
        Endpoint::Embeddings => "input",
        Endpoint::ImageGenerations => "prompt",
        Endpoint::Rerank => "documents",
        Endpoint::Moderations => "input",
    };
    estimate_tokens(
        req.body
            .get(field)
            .map(|v| v.to_string().len())
            .unwrap_or(0),
    )
}

/// A complete non-streaming response body for `req`.
pub fn response(req: &CanonicalRequest, meta: MockMeta<'_>, content: &str) -> Vec<u8> {
    let prompt = prompt_tokens(req);
    let completion = estimate_tokens(content.len());
    let body = match req.endpoint {
        Endpoint::ChatCompletions => json!({
            "id": meta.id, "object": "chat.completion", "created": meta.created, "model": meta.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": null},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": usage(prompt, completion),
        }),
        Endpoint::Completions => json!({
            "id": meta.id, "object": "text_completion", "created": meta.created, "model": meta.model,
            "choices": [{"index": 0, "text": content, "logprobs": null, "finish_reason": "stop"}],
            "usage": usage(prompt, completion),
        }),
        Endpoint::Embeddings => {
            let n = match req.body.get("input") {
                Some(Value::Array(items)) if !items.is_empty() && !items[0].is_number() => {
                    items.len()
                }
                _ => 1,
            };
            let data: Vec<Value> = (0..n)
                .map(|i| json!({"object": "embedding", "index": i, "embedding": mock_vector(i)}))
                .collect();
            json!({"object": "list", "data": data, "model": meta.model,
                   "usage": {"prompt_tokens": prompt, "total_tokens": prompt}})
        }
        Endpoint::ImageGenerations => {
            // `content` stands for the image: its URL.
            let n = req
                .body
                .get("n")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 10);
            let data: Vec<Value> = (0..n).map(|_| json!({"url": content})).collect();
            json!({"created": meta.created, "data": data})
        }
        Endpoint::Rerank => {
            // Every document, in order, at falling scores.
            let n = req
                .body
                .get("documents")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ranked = (0..n)
                .map(|i| crate::rerank::Ranked {
                    index: i as u64,
                    relevance_score: 1.0 / (i as f64 + 1.0),
                    document: None,
                })
                .collect();
            let ask = crate::rerank::Ask::of(&req.body, &req.body);
            let billed = crate::rerank::Billed {
                search_units: Some(ask.search_units()),
                tokens: Some(prompt),
            };
            return crate::rerank::answer(meta.id, &ask, ranked, billed);
        }
        Endpoint::Moderations => {
            let n = match req.body.get("input") {
                Some(Value::Array(items)) => items.len().max(1),
                _ => 1,
            };
            let result = json!({"flagged": false, "categories": {"harassment": false, "hate": false,
                "self-harm": false, "sexual": false, "violence": false},
                "category_scores": {"harassment": 0.0, "hate": 0.0, "self-harm": 0.0,
                "sexual": 0.0, "violence": 0.0}});
            json!({"id": format!("modr-{}", meta.id), "model": meta.model,
                   "results": vec![result; n]})
        }
    };
    serde_json::to_vec(&body).expect("serializing JSON values cannot fail")
}

fn mock_vector(i: usize) -> Vec<f32> {
    (0..8)
        .map(|j| ((i * 8 + j) % 7) as f32 / 7.0 - 0.5)
        .collect()
}

/// The SSE events of a streamed response for `req`: a role chunk (chat), one chunk per word,
/// a finish chunk, a usage chunk when `include_usage` was asked, and `[DONE]`.
pub fn stream_events(req: &CanonicalRequest, meta: MockMeta<'_>, content: &str) -> Vec<Bytes> {
    let chat = req.endpoint == Endpoint::ChatCompletions;
    let object = if chat {
        "chat.completion.chunk"
    } else {
        "text_completion"
    };
    let chunk = |choice: Value, usage_block: Option<Value>| {
        let mut v = json!({"id": meta.id, "object": object, "created": meta.created, "model": meta.model,
                           "choices": if choice.is_null() { json!([]) } else { json!([choice]) }});
        if let Some(u) = usage_block {
            v["usage"] = u;
        }
        sse(&v)
    };
    let piece = |text: &str, finish: Option<&str>| {
        if chat {
            let delta = if finish.is_some() {
                json!({})
            } else {
                json!({"content": text})
            };
            json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish})
        } else {
            json!({"index": 0, "text": text, "logprobs": null, "finish_reason": finish})
        }
    };
    let mut out = Vec::new();
    if chat {
        out.push(chunk(
            json!({"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}),
            None,
        ));
    }
    for word in content.split_inclusive(' ') {
        out.push(chunk(piece(word, None), None));
    }
    out.push(chunk(piece("", Some("stop")), None));
    if req.include_usage {
        out.push(chunk(
            Value::Null,
            Some(usage(prompt_tokens(req), estimate_tokens(content.len()))),
        ));
    }
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}

fn sse(v: &Value) -> Bytes {
    let mut buf = b"data: ".to_vec();
    serde_json::to_writer(&mut buf, v).expect("serializing JSON values cannot fail");
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::event_data;

    const META: MockMeta<'static> = MockMeta {
        id: "chatcmpl-1",
        created: 1,
        model: "m",
    };

    #[test]
    fn chat_response_is_a_chat_completion() {
        let req = CanonicalRequest::parse(
            Endpoint::ChatCompletions,
            br#"{"model":"g","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&response(&req, META, "Hello there")).unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["choices"][0]["message"]["content"], "Hello there");
        assert_eq!(v["usage"]["completion_tokens"], 3);
    }

    #[test]
    fn stream_reassembles_to_the_content_and_honours_include_usage() {
        for include_usage in [false, true] {
            let body = format!(
                r#"{{"model":"g","messages":[],"stream":true,"stream_options":{{"include_usage":{include_usage}}}}}"#
            );
            let req = CanonicalRequest::parse(Endpoint::ChatCompletions, body.as_bytes()).unwrap();
            let events = stream_events(&req, META, "one two three");
            assert_eq!(
                events.last().unwrap(),
                &Bytes::from_static(b"data: [DONE]\n\n")
            );
            let chunks: Vec<Value> = events[..events.len() - 1]
                .iter()
                .map(|e| serde_json::from_slice(&event_data(e).unwrap()).unwrap())
                .collect();
            let text: String = chunks
                .iter()
                .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
                .collect();
            assert_eq!(text, "one two three");
            assert_eq!(
                chunks.iter().any(|c| c.get("usage").is_some()),
                include_usage
            );
        }
    }

    #[test]
    fn embeddings_one_vector_per_input() {
        let req = CanonicalRequest::parse(
            Endpoint::Embeddings,
            br#"{"model":"g","input":["a","b","c"]}"#,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&response(&req, META, "")).unwrap();
        assert_eq!(v["data"].as_array().unwrap().len(), 3);
        assert_eq!(v["data"][2]["index"], 2);
    }
}
