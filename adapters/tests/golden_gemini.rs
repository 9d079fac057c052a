//! Golden fixtures for the Gemini adapter (AI Studio `gemini/` and Vertex `vertex_ai/`), loaded
//! from `tests/fixtures/gemini/<case>/`:
//!
//! - `case.json`: the target (`provider`, `model`, `base_path`, `api_key`, `drop_params`,
//!   `defaults`, `internal`), the `endpoint`, the response `meta`, and `status` for error replies;
//! - `client_request.json` → `provider_request.json` (`path`, `headers`, `body`), or
//!   `request_error.json` when the request must be refused;
//! - `provider_response.json` → `client_response.json`;
//! - `provider_stream.txt` → `client_stream.txt` (and `stream_error.json` when the stream
//!   carries an error), re-fed split at every byte boundary and one byte at a time;
//! - `provider_error.json` (with `status`) → `client_error.json`.
//!
//! JSON is compared parsed, so key order does not matter.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use adapters::dialect::{Target, ToOpenAiStream};
use adapters::gemini::{error, request, response, stream};
use adapters::openai::wire::ResponseMeta;
use adapters::provider::Provider;
use adapters::{ApiError, CanonicalRequest, Endpoint};
use bytes::BytesMut;
use serde_json::{json, Map, Value};

fn dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gemini")
        .join(case)
}

fn read(case: &str, file: &str) -> Option<Vec<u8>> {
    fs::read(dir(case).join(file)).ok()
}

fn json_file(case: &str, file: &str) -> Option<Value> {
    read(case, file).map(|b| {
        serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{case}/{file}: invalid JSON: {e}"))
    })
}

fn error_json(e: &ApiError) -> Value {
    let mut v: Value = serde_json::from_slice(&e.to_json()).unwrap();
    v["status"] = json!(e.status);
    v
}

/// Splits canonical SSE output into events, each parsed (`[DONE]` kept as a string).
fn events(stream: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(stream).expect("utf-8 stream");
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let data = e
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {e:?}"));
            if data == "[DONE]" {
                json!("[DONE]")
            } else {
                serde_json::from_str(data).unwrap_or_else(|err| panic!("{err}: {data}"))
            }
        })
        .collect()
}

struct Case {
    name: &'static str,
    conf: Value,
    defaults: Map<String, Value>,
    internal: Map<String, Value>,
}

impl Case {
    fn load(name: &'static str) -> Case {
        let conf = json_file(name, "case.json").unwrap_or_else(|| panic!("{name}/case.json"));
        let obj = |k: &str| conf["target"][k].as_object().cloned().unwrap_or_default();
        Case {
            name,
            defaults: obj("defaults"),
            internal: obj("internal"),
            conf,
        }
    }

    fn target(&self) -> Target<'_> {
        let t = &self.conf["target"];
        Target {
            provider: Provider::from_prefix(t["provider"].as_str().unwrap()).unwrap(),
            model: t["model"].as_str().unwrap(),
            base_path: t["base_path"].as_str().unwrap_or(""),
            api_key: t["api_key"].as_str(),
            api_version: None,
            defaults: &self.defaults,
            drop_params: t["drop_params"].as_bool().unwrap_or(false),
            internal: &self.internal,
        }
    }

    fn meta(&self) -> ResponseMeta<'_> {
        let m = &self.conf["meta"];
        ResponseMeta {
            id: m["id"].as_str().unwrap_or("chatcmpl-test"),
            created: m["created"].as_u64().unwrap_or(1_700_000_000),
            model: m["model"].as_str().unwrap_or("gemini"),
        }
    }

    fn request(&self) -> Option<CanonicalRequest> {
        let body = read(self.name, "client_request.json")?;
        let endpoint = match self.conf["endpoint"].as_str().unwrap_or("chat_completions") {
            "chat_completions" => Endpoint::ChatCompletions,
            "completions" => Endpoint::Completions,
            "embeddings" => Endpoint::Embeddings,
            other => panic!("{}: unknown endpoint {other}", self.name),
        };
        Some(CanonicalRequest::parse(endpoint, &body).expect("client request parses"))
    }

    /// Runs every direction the case has fixtures for; returns how many it checked.
    fn run(&self) -> usize {
        let name = self.name;
        let t = self.target();
        let mut checked = 0;
        let req = self.request();
        if let Some(req) = &req {
            match request::build(req, &t) {
                Ok(pr) => {
                    let want = json_file(name, "provider_request.json").unwrap_or_else(|| {
                        panic!("{name}: request built but no provider_request.json")
                    });
                    let headers: BTreeMap<&str, &str> =
                        pr.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let got = json!({
                        "path": pr.path,
                        "headers": headers,
                        "body": serde_json::from_slice::<Value>(&pr.body).unwrap(),
                    });
                    assert_eq!(got, want, "{name}: provider request");
                }
                Err(e) => {
                    let want = json_file(name, "request_error.json")
                        .unwrap_or_else(|| panic!("{name}: unexpected request error {e:?}"));
                    assert_eq!(error_json(&e), want, "{name}: request error");
                }
            }
            checked += 1;
        }
        if let Some(body) = read(name, "provider_response.json") {
            let req = req.as_ref().expect("client_request.json");
            let got = response::to_openai(req, &t, self.meta(), &body).expect("translates");
            let got: Value = serde_json::from_slice(&got).unwrap();
            let want = json_file(name, "client_response.json").expect("client_response.json");
            assert_eq!(got, want, "{name}: client response");
            checked += 1;
        }
        if let Some(input) = read(name, "provider_stream.txt") {
            self.check_stream(req.as_ref().expect("client_request.json"), &input);
            checked += 1;
        }
        if let Some(body) = read(name, "provider_error.json") {
            let status = self.conf["status"].as_u64().expect("status") as u16;
            let want = json_file(name, "client_error.json").expect("client_error.json");
            assert_eq!(
                error_json(&error::from_reply(status, &body)),
                want,
                "{name}: error"
            );
            checked += 1;
        }
        assert!(checked > 0, "{name}: no fixtures");
        checked
    }

    /// Feeds `chunks`, then finish; returns the output and the first error.
    fn feed(&self, req: &CanonicalRequest, chunks: &[&[u8]]) -> (Vec<u8>, Option<ApiError>) {
        let t = self.target();
        let mut tr = stream::Translator::new(req, &t, self.meta());
        let mut out = BytesMut::new();
        for c in chunks {
            if let Err(e) = tr.push(c, &mut out) {
                return (out.to_vec(), Some(e));
            }
        }
        let err = tr.finish(&mut out).err();
        if let (None, Some(want)) = (&err, json_file(self.name, "client_usage.json")) {
            let u = tr.usage().expect("usage seen");
            let got = json!({"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                             "cache_read_tokens": u.cache_read_tokens});
            assert_eq!(got, want, "{}: usage()", self.name);
        }
        (out.to_vec(), err)
    }

    fn check_stream(&self, req: &CanonicalRequest, input: &[u8]) {
        let name = self.name;
        let (whole, err) = self.feed(req, &[input]);
        let want = read(name, "client_stream.txt").expect("client_stream.txt");
        assert_eq!(events(&whole), events(&want), "{name}: client stream");
        match (&err, json_file(name, "stream_error.json")) {
            (None, None) => {}
            (Some(e), Some(want)) => assert_eq!(error_json(e), want, "{name}: stream error"),
            (got, want) => panic!("{name}: stream error {got:?}, expected {want:?}"),
        }
        for i in 0..=input.len() {
            let (split, split_err) = self.feed(req, &[&input[..i], &input[i..]]);
            assert_eq!(split, whole, "{name}: split at byte {i}");
            assert_eq!(split_err, err, "{name}: error when split at byte {i}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let (one_by_one, one_err) = self.feed(req, &bytes);
        assert_eq!(one_by_one, whole, "{name}: one byte at a time");
        assert_eq!(one_err, err, "{name}: error one byte at a time");
    }
}

const CASES: &[&str] = &[
    "simple_chat",
    "vertex_url_bearer",
    "system_images",
    "tools_function_call",
    "tool_result_round_trip",
    "stream_text",
    "stream_function_call",
    "safety_block",
    "stream_safety",
    "stream_prompt_blocked",
    "stream_error",
    "embeddings",
    "embeddings_vertex",
    "rate_limit_error",
    "context_length_error",
    "drop_params",
    "unsupported_param_refused",
    "json_schema_defaults",
    "completions",
    "vertex_missing_location",
];

macro_rules! golden {
    ($($case:ident),* $(,)?) => {$(
        #[test]
        fn $case() {
            Case::load(stringify!($case)).run();
        }
    )*};
}

golden!(
    simple_chat,
    vertex_url_bearer,
    system_images,
    tools_function_call,
    tool_result_round_trip,
    stream_text,
    stream_function_call,
    safety_block,
    stream_safety,
    stream_prompt_blocked,
    stream_error,
    embeddings,
    embeddings_vertex,
    rate_limit_error,
    context_length_error,
    drop_params,
    unsupported_param_refused,
    json_schema_defaults,
    completions,
    vertex_missing_location,
);

/// Every fixture directory is run by a test above (none is silently skipped).
#[test]
fn every_fixture_directory_is_listed() {
    let mut found: Vec<String> =
        fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemini"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
    found.sort();
    let mut listed: Vec<String> = CASES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed);
}
