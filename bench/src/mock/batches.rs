//! OpenAI's Files and Batch APIs, in memory (also Azure's `/openai/files`, `/openai/batches`
//! with `api-version` and `api-key`): upload (multipart), list, retrieve, delete and content of
//! files; create, retrieve, list and cancel of batches. A batch is `in_progress` until
//! [`COMPLETES_AFTER`] (or its `metadata.mock_complete_ms`) has passed, then `completed` with an
//! output file holding one chat completion per input line, whose usage is
//! `prompt_tokens` = ⌈body bytes / 4⌉ and `completion_tokens` = 5 (or the line's
//! `body.mock.completion_tokens`). A cancelled batch is `cancelled` from then on.

use std::collections::HashMap;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};

use super::body::MockBody;
use super::dialect::Dialect;
use super::handler::{error, full, unix_now};
use super::Shared;

/// How long a batch takes unless its metadata says otherwise.
pub const COMPLETES_AFTER: Duration = Duration::from_millis(300);

struct Batch {
    object: Value,
    created: Instant,
    after: Duration,
    cancelled: bool,
}

/// The files and batches the mock holds.
#[derive(Default)]
pub(crate) struct Files {
    files: HashMap<String, (Value, Bytes)>,
    batches: HashMap<String, Batch>,
    order: Vec<String>,
}

fn not_found(what: &str, id: &str) -> Response<MockBody> {
    error(
        Dialect::OpenAi,
        StatusCode::NOT_FOUND,
        &format!("No such {what}: {id}"),
    )
}

/// Answers a files or batches request; `None` for any other path.
pub(crate) fn handle(shared: &Shared, parts: &Parts, body: &Bytes) -> Option<Response<MockBody>> {
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let (azure, rest) = if let Some(r) = path.strip_prefix("/openai/") {
        (true, r)
    } else {
        (false, path.strip_prefix("/v1/").or(path.strip_prefix('/'))?)
    };
    if !(rest.starts_with("files") || rest.starts_with("batches")) {
        return None;
    }
    let has = |name: &str| parts.headers.get(name).is_some_and(|v| !v.is_empty());
    if azure && (!query.contains("api-version=") || !(has("api-key") || has("authorization"))) {
        return Some(error(
            Dialect::OpenAi,
            StatusCode::UNAUTHORIZED,
            "Azure files and batches need api-version and an api-key",
        ));
    }
    if !azure && !has("authorization") {
        return Some(error(
            Dialect::OpenAi,
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key.",
        ));
    }
    let seg: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let mut st = shared.files.lock().unwrap_or_else(PoisonError::into_inner);
    let m = &parts.method;
    Some(match (m, seg.as_slice()) {
        (&Method::POST, ["files"]) => upload(&mut st, parts, body),
        (&Method::GET, ["files"]) => {
            let data: Vec<Value> = st
                .order
                .iter()
                .filter_map(|id| st.files.get(id).map(|f| f.0.clone()))
                .collect();
            ok(json!({"object": "list", "data": data, "has_more": false}))
        }
        (&Method::GET, ["files", id]) => match st.files.get(*id) {
            Some((o, _)) => ok(o.clone()),
            None => not_found("File", id),
        },
        (&Method::DELETE, ["files", id]) => match st.files.remove(*id) {
            Some(_) => ok(json!({"id": id, "object": "file", "deleted": true})),
            None => not_found("File", id),
        },
        (&Method::GET, ["files", id, "content"]) => match st.files.get(*id) {
            Some((_, data)) => {
                let mut r = full(StatusCode::OK, data.clone());
                r.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("application/octet-stream"),
                );
                r
            }
            None => not_found("File", id),
        },
        (&Method::POST, ["batches"]) => create(&mut st, body),
        (&Method::GET, ["batches"]) => {
            let ids: Vec<String> = st.batches.keys().cloned().collect();
            let data: Vec<Value> = ids.iter().filter_map(|id| current(&mut st, id)).collect();
            ok(json!({"object": "list", "data": data, "has_more": false}))
        }
        (&Method::GET, ["batches", id]) => match current(&mut st, id) {
            Some(o) => ok(o),
            None => not_found("Batch", id),
        },
        (&Method::POST, ["batches", id, "cancel"]) => match st.batches.get_mut(*id) {
            Some(b) => {
                b.cancelled = true;
                b.object["status"] = "cancelling".into();
                ok(b.object.clone())
            }
            None => not_found("Batch", id),
        },
        _ => error(
            Dialect::OpenAi,
            StatusCode::NOT_FOUND,
            &format!("Unknown request URL: {m} {path}"),
        ),
    })
}

fn ok(v: Value) -> Response<MockBody> {
    full(StatusCode::OK, Bytes::from(v.to_string()))
}

fn new_id(prefix: &str, n: usize) -> String {
    format!("{prefix}-mock{n:06}")
}

/// The `file` part's bytes and the `purpose` field of a multipart form.
fn form(parts: &Parts, body: &[u8]) -> Option<(String, Option<String>, Bytes)> {
    let ct = parts.headers.get("content-type")?.to_str().ok()?;
    let boundary = ct.split("boundary=").nth(1)?.trim_matches('"');
    let delim = format!("--{boundary}");
    let text = body;
    let mut purpose = None;
    let mut file = None;
    let mut name = String::new();
    let mut at = 0;
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    while let Some(start) = find(text, delim.as_bytes(), at) {
        let head_start = start + delim.len() + 2;
        let Some(head_end) = find(text, b"\r\n\r\n", head_start) else {
            break;
        };
        let Some(end) = find(text, format!("\r\n{delim}").as_bytes(), head_end) else {
            break;
        };
        let head = String::from_utf8_lossy(&text[head_start..head_end]);
        let data = &text[head_end + 4..end];
        if head.contains("name=\"purpose\"") {
            purpose = Some(String::from_utf8_lossy(data).into_owned());
        } else if head.contains("name=\"file\"") {
            name = head
                .split("filename=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or("upload.jsonl")
                .to_string();
            file = Some(Bytes::copy_from_slice(data));
        }
        at = end + 2;
    }
    Some((name, purpose, file?))
}

fn upload(st: &mut Files, parts: &Parts, body: &[u8]) -> Response<MockBody> {
    let Some((filename, Some(purpose), data)) = form(parts, body) else {
        return error(
            Dialect::OpenAi,
            StatusCode::BAD_REQUEST,
            "a multipart form with purpose and file is required",
        );
    };
    let id = new_id("file", st.files.len() + st.batches.len() + 1);
    let object = json!({
        "id": id, "object": "file", "bytes": data.len(), "created_at": unix_now(),
        "filename": filename, "purpose": purpose, "status": "processed",
    });
    st.order.push(id.clone());
    st.files.insert(id, (object.clone(), data));
    ok(object)
}

fn create(st: &mut Files, body: &[u8]) -> Response<MockBody> {
    let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(input) = req.get("input_file_id").and_then(Value::as_str) else {
        return error(
            Dialect::OpenAi,
            StatusCode::BAD_REQUEST,
            "input_file_id is required",
        );
    };
    if !st.files.contains_key(input) {
        return not_found("File", input);
    }
    let after = req
        .pointer("/metadata/mock_complete_ms")
        .and_then(|v| v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64()))
        .map_or(COMPLETES_AFTER, Duration::from_millis);
    let id = new_id("batch", st.files.len() + st.batches.len() + 1);
    let object = json!({
        "id": id, "object": "batch", "endpoint": req.get("endpoint"),
        "input_file_id": input, "completion_window": req.get("completion_window"),
        "status": "validating", "output_file_id": null, "error_file_id": null,
        "created_at": unix_now(), "metadata": req.get("metadata"),
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
    });
    st.batches.insert(
        id,
        Batch {
            object: object.clone(),
            created: Instant::now(),
            after,
            cancelled: false,
        },
    );
    ok(object)
}

/// The batch object now: cancelled, completed (its output file made once), or in progress.
fn current(st: &mut Files, id: &str) -> Option<Value> {
    let b = st.batches.get(id)?;
    if b.cancelled {
        let mut o = b.object.clone();
        o["status"] = "cancelled".into();
        st.batches.get_mut(id)?.object = o.clone();
        return Some(o);
    }
    if b.object["status"] == "completed" {
        return Some(b.object.clone());
    }
    if b.created.elapsed() < b.after {
        let mut o = b.object.clone();
        o["status"] = "in_progress".into();
        return Some(o);
    }
    let input = b.object["input_file_id"].as_str().unwrap_or("").to_string();
    let data = st
        .files
        .get(&input)
        .map(|f| f.1.clone())
        .unwrap_or_default();
    let mut out = String::new();
    let mut n = 0;
    for line in data
        .split(|c| *c == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
    {
        let v: Value = serde_json::from_slice(line).unwrap_or(Value::Null);
        n += 1;
        let body = v.get("body").cloned().unwrap_or(Value::Null);
        let prompt = (body.to_string().len() as u64).div_ceil(4);
        let completion = body
            .pointer("/mock/completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(5);
        let line = json!({
            "id": format!("batch_req_{n}"), "custom_id": v.get("custom_id"),
            "response": {"status_code": 200, "request_id": format!("req_{n}"), "body": {
                "id": format!("chatcmpl-b{n}"), "object": "chat.completion",
                "model": body.get("model"),
                "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "batched answer"}}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                    "total_tokens": prompt + completion},
            }},
            "error": null,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    let out_id = new_id("file", st.files.len() + st.batches.len() + 1);
    let file = json!({
        "id": out_id, "object": "file", "bytes": out.len(), "created_at": unix_now(),
        "filename": "batch_output.jsonl", "purpose": "batch_output", "status": "processed",
    });
    st.order.push(out_id.clone());
    st.files.insert(out_id.clone(), (file, Bytes::from(out)));
    let b = st.batches.get_mut(id)?;
    b.object["status"] = "completed".into();
    b.object["output_file_id"] = out_id.into();
    b.object["completed_at"] = unix_now().into();
    b.object["request_counts"] = json!({"total": n, "completed": n, "failed": 0});
    Some(b.object.clone())
}
