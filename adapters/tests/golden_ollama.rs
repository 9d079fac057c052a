//! Golden fixtures for the Ollama adapter (`ollama_chat/`, `ollama/`): each case under
//! `tests/fixtures/ollama/<case>/` holds a client request and the expected Ollama request, and/or
//! an Ollama reply (JSON, NDJSON stream, or error) and the expected client-facing result.
//! Streams are re-fed split at every byte boundary and one byte at a time.
//!
//! Files of a case (all optional but `case.json`):
//! - `case.json`: `{provider, model?, endpoint?, base_path?, api_key?, drop_params?, defaults?,
//!   internal?, error_status?, expected_usage?}`
//! - `meta.json`: `{model?}` overriding the reported model of the `ResponseMeta`
//! - `client_request.json` → `provider_request.json` (`{path, headers, body}`) or
//!   `request_error.json` (`{status, type, param, code, message_contains}`)
//! - `provider_response.json` → `client_response.json`
//! - `provider_stream.ndjson` → `client_stream.txt` (+ `stream_error.json` when the stream fails)
//! - `provider_error.json` (with `error_status`) → `client_error.json`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use adapters::dialect::{Target, ToOpenAiStream};
use adapters::ollama::{error, request, response, stream};
use adapters::openai::wire::ResponseMeta;
use adapters::provider::Provider;
use adapters::{ApiError, CanonicalRequest, Endpoint};
use bytes::BytesMut;
use serde_json::{Map, Value};

const ID: &str = "chatcmpl-golden";
const CREATED: u64 = 1_700_000_000;

fn dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ollama")
        .join(case)
}

fn read(case: &str, file: &str) -> Option<Vec<u8>> {
    std::fs::read(dir(case).join(file)).ok()
}

fn json(case: &str, file: &str) -> Option<Value> {
    read(case, file)
        .map(|b| serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{case}/{file}: {e}")))
}

/// The owned data a `Target` borrows.
struct Deployment {
    provider: Provider,
    model: String,
    base_path: String,
    api_key: Option<String>,
    drop_params: bool,
    defaults: Map<String, Value>,
    internal: Map<String, Value>,
}

impl Deployment {
    fn from(cfg: &Value) -> Self {
        let s = |k: &str| cfg.get(k).and_then(Value::as_str).map(str::to_string);
        let m = |k: &str| {
            cfg.get(k)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        Deployment {
            provider: Provider::from_prefix(&s("provider").expect("case.json: provider"))
                .expect("known provider"),
            model: s("model").unwrap_or_else(|| "llama3.1".to_string()),
            base_path: s("base_path").unwrap_or_default(),
            api_key: s("api_key"),
            drop_params: cfg["drop_params"].as_bool().unwrap_or(false),
            defaults: m("defaults"),
            internal: m("internal"),
        }
    }

    fn target(&self) -> Target<'_> {
        Target {
            provider: self.provider,
            model: &self.model,
            base_path: &self.base_path,
            api_key: self.api_key.as_deref(),
            api_version: None,
            defaults: &self.defaults,
            drop_params: self.drop_params,
            internal: &self.internal,
        }
    }
}

fn endpoint(cfg: &Value) -> Endpoint {
    match cfg["endpoint"].as_str().unwrap_or("chat") {
        "chat" => Endpoint::ChatCompletions,
        "completions" => Endpoint::Completions,
        "embeddings" => Endpoint::Embeddings,
        other => panic!("unknown endpoint {other}"),
    }
}

fn client_request(case: &str, cfg: &Value) -> CanonicalRequest {
    let body = read(case, "client_request.json").unwrap_or_else(|| {
        // Error-only cases: any request of the endpoint will do.
        br#"{"model":"m","messages":[],"prompt":"p","input":"i"}"#.to_vec()
    });
    CanonicalRequest::parse(endpoint(cfg), &body).unwrap_or_else(|e| panic!("{case}: {e}"))
}

fn error_json(e: &ApiError) -> Value {
    let mut v: Value = serde_json::from_slice(&e.to_json()).unwrap();
    v["status"] = Value::from(e.status);
    v
}

fn check_request_error(case: &str, e: &ApiError, want: &Value) {
    assert_eq!(
        e.status as u64,
        want["status"].as_u64().unwrap(),
        "{case}: {e:?}"
    );
    assert_eq!(e.kind, want["type"].as_str().unwrap(), "{case}");
    assert_eq!(e.param.as_deref(), want["param"].as_str(), "{case}");
    assert_eq!(e.code.as_deref(), want["code"].as_str(), "{case}");
    let needle = want["message_contains"].as_str().unwrap();
    assert!(
        e.message.contains(needle),
        "{case}: {:?} lacks {needle:?}",
        e.message
    );
}

/// Feeds `chunks` then finishes; the bytes written and the error that stopped it, if any.
fn feed(
    req: &CanonicalRequest,
    t: &Target<'_>,
    meta: ResponseMeta<'_>,
    chunks: &[&[u8]],
) -> (
    Vec<u8>,
    Option<ApiError>,
    Option<adapters::openai::response::Usage>,
) {
    let mut tr = stream::Translator::new(req, t, meta);
    let mut out = BytesMut::new();
    for c in chunks {
        if let Err(e) = tr.push(c, &mut out) {
            return (out.to_vec(), Some(e), tr.usage());
        }
    }
    let err = tr.finish(&mut out).err();
    (out.to_vec(), err, tr.usage())
}

/// SSE text → one JSON value per event (`[DONE]` as the string "[DONE]").
fn events(sse: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(sse).expect("utf-8 stream");
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "unterminated event in {text:?}"
    );
    text.split_terminator("\n\n")
        .map(|ev| {
            let data = ev
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {ev:?}"));
            assert!(!data.contains('\n'), "one line per event: {ev:?}");
            if data == "[DONE]" {
                Value::from("[DONE]")
            } else {
                serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}"))
            }
        })
        .collect()
}

fn run(case: &str) {
    let cfg = json(case, "case.json").expect("case.json");
    let dep = Deployment::from(&cfg);
    let t = dep.target();
    let req = client_request(case, &cfg);
    let meta_model = json(case, "meta.json")
        .and_then(|m| m["model"].as_str().map(str::to_string))
        .unwrap_or_else(|| "llama3.1".to_string());
    let meta = ResponseMeta {
        id: ID,
        created: CREATED,
        model: &meta_model,
    };
    let mut checked = 0;

    if let Some(want) = json(case, "provider_request.json") {
        let got = request::build(&req, &t).unwrap_or_else(|e| panic!("{case}: {e:?}"));
        assert_eq!(got.path, want["path"].as_str().unwrap(), "{case}: path");
        let headers: BTreeMap<&str, &str> =
            got.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let want_headers: BTreeMap<&str, &str> = want["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect();
        assert_eq!(headers, want_headers, "{case}: headers");
        let body: Value = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(body, want["body"], "{case}: provider body");
        checked += 1;
    }
    if let Some(want) = json(case, "request_error.json") {
        let e = request::build(&req, &t).expect_err(case);
        check_request_error(case, &e, &want);
        checked += 1;
    }
    if let Some(reply) = read(case, "provider_response.json") {
        let want = json(case, "client_response.json").expect("client_response.json");
        let got =
            response::to_openai(&req, &t, meta, &reply).unwrap_or_else(|e| panic!("{case}: {e:?}"));
        let got: Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(got, want, "{case}: client response");
        checked += 1;
    }
    if let Some(ndjson) = read(case, "provider_stream.ndjson") {
        let want = events(&read(case, "client_stream.txt").expect("client_stream.txt"));
        let want_err = json(case, "stream_error.json");
        let whole = feed(&req, &t, meta, &[&ndjson]);
        assert_eq!(events(&whole.0), want, "{case}: client stream");
        assert_eq!(
            whole.1.as_ref().map(error_json),
            want_err,
            "{case}: stream error"
        );
        if let Some(u) = cfg.get("expected_usage") {
            let got = whole.2.expect("usage after the stream");
            assert_eq!(
                got.prompt_tokens,
                u["prompt_tokens"].as_u64().unwrap(),
                "{case}"
            );
            assert_eq!(
                got.completion_tokens,
                u["completion_tokens"].as_u64().unwrap(),
                "{case}"
            );
        }
        for i in 0..=ndjson.len() {
            let (a, b) = ndjson.split_at(i);
            assert_eq!(
                feed(&req, &t, meta, &[a, b]),
                whole,
                "{case}: split at byte {i}"
            );
        }
        let bytes: Vec<&[u8]> = ndjson.chunks(1).collect();
        assert_eq!(feed(&req, &t, meta, &bytes), whole, "{case}: byte by byte");
        checked += 1;
    }
    if let Some(body) = read(case, "provider_error.json") {
        let status = cfg["error_status"].as_u64().expect("error_status") as u16;
        let want = json(case, "client_error.json").expect("client_error.json");
        assert_eq!(
            error_json(&error::from_reply(status, &body)),
            want,
            "{case}: error"
        );
        checked += 1;
    }
    assert!(checked > 0, "{case}: fixture checks nothing");
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $( #[test] fn $name() { run(stringify!($name)); } )*
        const CASES: &[&str] = &[$(stringify!($name)),*];
    };
}

cases!(
    chat_simple,
    chat_image,
    chat_image_http_url,
    chat_tools,
    chat_tool_result_round_trip,
    chat_stream_text,
    chat_stream_usage,
    chat_stream_tool_call,
    chat_stream_error,
    chat_json_schema,
    chat_json_object,
    chat_unsupported_param,
    chat_n_greater_than_one,
    chat_drop_params,
    generate_chat,
    generate_chat_stream,
    completions,
    completions_stream,
    completions_batch_prompt,
    embeddings,
    embeddings_tokens_input,
    error_model_not_found,
    error_context_length,
    error_server,
    chat_stream_thinking,
    chat_thinking,
    chat_stream_truncated,
    generate_tools_unsupported,
    chat_tool_choice_none,
);

#[test]
fn every_fixture_directory_is_a_case() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ollama");
    let mut dirs: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    dirs.sort();
    let mut cases: Vec<String> = CASES.iter().map(|c| c.to_string()).collect();
    cases.sort();
    assert_eq!(dirs, cases);
}
