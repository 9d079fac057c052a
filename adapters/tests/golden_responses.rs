//! Golden fixtures for the `/v1/responses` bridge (`adapters::responses`), loaded from
//! `tests/fixtures/responses/<case>/`:
//! - `request.json` (+ `history.json`, the stored conversation it continues) →
//!   `chat_request.json` (`request::translate`: `{"body", "skipped"}`),
//! - `chat_response.json` → `response.json` (`response::response_from_chat` for `request.json`),
//! - `chat_stream.txt` → `responses_stream.txt` (`stream::StreamToResponses`, re-fed split at
//!   every byte boundary and one byte at a time; its final response is the last event's),
//! - `bad_requests/cases.json`: requests `translate` must refuse with a 400 naming the field.
//!
//! The response id is `resp_golden`, created at 1700000000. JSON is compared parsed. Every
//! `response.json` and event of `responses_stream.txt` is also checked by
//! `tests/fixtures/responses/validate.py` against OpenAI's OpenAPI description and the `openai`
//! Python SDK's types. `TOLLGATE_BLESS=1` rewrites the expected files from the current output
//! (then review the diff and re-run the validator).

use std::fs;
use std::path::{Path, PathBuf};

use adapters::responses::{request, response, stream::StreamToResponses};
use bytes::BytesMut;
use serde_json::{json, Map, Value};

const ID: &str = "resp_golden";
const CREATED: u64 = 1_700_000_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/responses")
}

fn cases() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root())
        .expect("fixture directory")
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn read(case: &str, file: &str) -> Option<Vec<u8>> {
    fs::read(root().join(case).join(file)).ok()
}

fn parse(bytes: &[u8], what: &str) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"))
}

fn bless() -> bool {
    std::env::var_os("TOLLGATE_BLESS").is_some()
}

/// Compares `got` with the case's `file`, or writes it under `TOLLGATE_BLESS`.
fn expect_json(case: &str, file: &str, got: &Value) {
    if bless() {
        let text = serde_json::to_string_pretty(got).unwrap() + "\n";
        fs::write(root().join(case).join(file), text).unwrap();
        return;
    }
    let want = parse(
        &read(case, file).unwrap_or_else(|| panic!("{case}/{file} missing")),
        file,
    );
    assert_eq!(got, &want, "{case}/{file}");
}

fn request_map(case: &str) -> Map<String, Value> {
    match parse(
        &read(case, "request.json").expect("request.json"),
        "request",
    ) {
        Value::Object(m) => m,
        _ => panic!("{case}: request.json is not an object"),
    }
}

fn history(case: &str) -> Vec<Value> {
    read(case, "history.json")
        .map(|b| parse(&b, "history").as_array().unwrap().clone())
        .unwrap_or_default()
}

#[test]
fn every_fixture_directory_is_used() {
    for case in cases() {
        assert!(
            read(&case, "request.json").is_some() || read(&case, "cases.json").is_some(),
            "{case}: no request.json or cases.json"
        );
    }
}

#[test]
fn requests_translate_to_chat() {
    let mut ran = 0;
    for case in cases() {
        if read(&case, "request.json").is_none() {
            continue;
        }
        let t = request::translate(request_map(&case), &history(&case))
            .unwrap_or_else(|e| panic!("{case}: {e:?}"));
        let got = json!({"body": Value::Object(t.req.body.clone()), "skipped": t.skipped});
        assert_eq!(t.req.stream, got["body"]["stream"] == true, "{case}");
        expect_json(&case, "chat_request.json", &got);
        ran += 1;
    }
    assert!(ran >= 4, "only {ran} cases");
}

#[test]
fn chat_responses_become_responses() {
    let mut ran = 0;
    for case in cases() {
        let Some(bytes) = read(&case, "chat_response.json") else {
            continue;
        };
        let chat = parse(&bytes, "chat_response");
        let got = response::response_from_chat(&chat, &request_map(&case), ID, CREATED);
        expect_json(&case, "response.json", &got);
        ran += 1;
    }
    assert!(ran >= 3, "only {ran} cases");
}

fn encode(req: &Map<String, Value>, pieces: &[&[u8]]) -> (Vec<u8>, Option<Value>) {
    let mut s = StreamToResponses::new(req, ID, CREATED);
    let mut out = BytesMut::new();
    for p in pieces {
        s.push(p, &mut out).unwrap();
    }
    s.finish(&mut out);
    (out.to_vec(), s.response())
}

#[test]
fn chat_streams_become_response_streams() {
    let mut ran = 0;
    for case in cases() {
        let Some(sse) = read(&case, "chat_stream.txt") else {
            continue;
        };
        let req = request_map(&case);
        let (whole, final_response) = encode(&req, &[&sse]);
        let text = String::from_utf8(whole.clone()).unwrap();
        let last = text.trim_end().rsplit("\n\n").next().unwrap();
        let last: Value = parse(
            last.split_once("data: ").unwrap().1.as_bytes(),
            "last event",
        );
        assert_eq!(final_response.as_ref(), Some(&last["response"]), "{case}");
        if bless() {
            fs::write(root().join(&case).join("responses_stream.txt"), &whole).unwrap();
        } else {
            let want = read(&case, "responses_stream.txt").expect("responses_stream.txt");
            assert_eq!(
                text,
                String::from_utf8(want).unwrap(),
                "{case}/responses_stream.txt"
            );
        }
        for i in 0..=sse.len() {
            let (split, _) = encode(&req, &[&sse[..i], &sse[i..]]);
            assert!(split == whole, "{case}: split at {i}");
        }
        let bytes: Vec<&[u8]> = sse.chunks(1).collect();
        assert!(encode(&req, &bytes).0 == whole, "{case}: byte by byte");
        ran += 1;
    }
    assert!(ran >= 3, "only {ran} cases");
}

#[test]
fn bad_requests_name_the_field() {
    let cases = parse(
        &read("bad_requests", "cases.json").expect("bad_requests/cases.json"),
        "cases",
    );
    for case in cases.as_array().unwrap() {
        let Value::Object(req) = case["request"].clone() else {
            panic!("request")
        };
        let history = case["history"].as_array().cloned().unwrap_or_default();
        let e = request::translate(req, &history).expect_err(&case["name"].to_string());
        assert_eq!(e.status, 400, "{}", case["name"]);
        assert_eq!(
            e.param.as_deref(),
            case["param"].as_str(),
            "{}: {}",
            case["name"],
            e.message
        );
        let needle = case["message_contains"].as_str().unwrap();
        assert!(
            e.message.contains(needle),
            "{}: {:?} lacks {needle:?}",
            case["name"],
            e.message
        );
        let body: Value = serde_json::from_slice(&response::error_body(&e)).unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["message"], e.message.as_str());
    }
}
