//! Golden fixtures for the Cohere v2 adapter (`cohere/`): each case under
//! `tests/fixtures/cohere/<case>/` holds a client request and the expected Cohere request, and/or
//! a Cohere reply (JSON, SSE stream, or error) and the expected client-facing result. Streams are
//! re-fed split at every byte boundary and one byte at a time and must give the same output.
//!
//! Files of a case (all optional but `case.json`):
//! - `case.json`: `{provider?, model?, endpoint?, base_path?, api_key?, drop_params?, defaults?,
//!   internal?, error_status?, expected_usage?}`
//! - `client_request.json` → `provider_request.json` (`{path, headers, body}`) or
//!   `request_error.json` (`{status, type, param, code, message_contains}`)
//! - `provider_response.json` → `client_response.json` (or `response_error.json`)
//! - `provider_stream.sse` → `client_stream.txt` (+ `stream_error.json` when the stream fails)
//! - `provider_error.json` (with `error_status`) → `client_error.json`
//!
//! JSON is compared parsed, so key order does not matter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use adapters::cohere::{error, request, response, stream};
use adapters::dialect::{Target, ToOpenAiStream};
use adapters::openai::response::Usage;
use adapters::openai::wire::ResponseMeta;
use adapters::provider::Provider;
use adapters::{ApiError, CanonicalRequest, Endpoint};
use bytes::BytesMut;
use serde_json::{Map, Value};

const ID: &str = "chatcmpl-golden";
const CREATED: u64 = 1_700_000_000;
const MODEL: &str = "command-a";

fn dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cohere")
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
        let provider = s("provider").unwrap_or_else(|| "cohere".to_string());
        Deployment {
            provider: Provider::from_prefix(&provider).expect("known provider"),
            model: s("model").unwrap_or_else(|| "command-a-03-2025".to_string()),
            base_path: s("base_path").unwrap_or_default(),
            api_key: s("api_key").or_else(|| Some("co-test-key".to_string())),
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

fn check_error(case: &str, e: &ApiError, want: &Value) {
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

type Fed = (Vec<u8>, Option<ApiError>, Option<Usage>);

/// Feeds `chunks` then finishes; the bytes written, the error that stopped it, and the usage.
fn feed(req: &CanonicalRequest, t: &Target<'_>, meta: ResponseMeta<'_>, chunks: &[&[u8]]) -> Fed {
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

fn check_request(case: &str, req: &CanonicalRequest, t: &Target<'_>, want: &Value) {
    let got = request::build(req, t).unwrap_or_else(|e| panic!("{case}: {e:?}"));
    assert_eq!(got.path, want["path"].as_str().unwrap(), "{case}: path");
    let headers: BTreeMap<&str, &str> = got.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let want_headers: BTreeMap<&str, &str> = want["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
        .collect();
    assert_eq!(headers, want_headers, "{case}: headers");
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body, want["body"], "{case}: provider body");
}

fn check_stream(case: &str, cfg: &Value, req: &CanonicalRequest, t: &Target<'_>, sse: &[u8]) {
    let meta = ResponseMeta {
        id: ID,
        created: CREATED,
        model: MODEL,
    };
    let want = events(&read(case, "client_stream.txt").expect("client_stream.txt"));
    let want_err = json(case, "stream_error.json");
    let whole = feed(req, t, meta, &[sse]);
    assert_eq!(events(&whole.0), want, "{case}: client stream");
    match (&whole.1, &want_err) {
        (None, None) => {}
        (Some(e), Some(w)) => check_error(case, e, w),
        (got, want) => panic!("{case}: stream error {got:?}, want {want:?}"),
    }
    if let Some(u) = cfg.get("expected_usage") {
        let got = whole.2.expect("usage after the stream");
        assert_eq!(
            (got.prompt_tokens, got.completion_tokens),
            (
                u["prompt_tokens"].as_u64().unwrap(),
                u["completion_tokens"].as_u64().unwrap()
            ),
            "{case}: usage"
        );
    }
    for i in 0..=sse.len() {
        let (a, b) = sse.split_at(i);
        assert_eq!(
            feed(req, t, meta, &[a, b]),
            whole,
            "{case}: split at byte {i}"
        );
    }
    let bytes: Vec<&[u8]> = sse.chunks(1).collect();
    assert_eq!(feed(req, t, meta, &bytes), whole, "{case}: byte by byte");
}

fn run(case: &str) {
    let cfg = json(case, "case.json").expect("case.json");
    let dep = Deployment::from(&cfg);
    let t = dep.target();
    let req = client_request(case, &cfg);
    let meta = ResponseMeta {
        id: ID,
        created: CREATED,
        model: MODEL,
    };
    let mut checked = 0;

    if let Some(want) = json(case, "provider_request.json") {
        check_request(case, &req, &t, &want);
        checked += 1;
    }
    if let Some(want) = json(case, "request_error.json") {
        let e = request::build(&req, &t).expect_err(case);
        check_error(case, &e, &want);
        checked += 1;
    }
    if let Some(reply) = read(case, "provider_response.json") {
        let got = response::to_openai(&req, &t, meta, &reply);
        if let Some(want) = json(case, "response_error.json") {
            check_error(case, &got.expect_err(case), &want);
        } else {
            let want = json(case, "client_response.json").expect("client_response.json");
            let got: Value =
                serde_json::from_slice(&got.unwrap_or_else(|e| panic!("{case}: {e:?}"))).unwrap();
            assert_eq!(got, want, "{case}: client response");
        }
        checked += 1;
    }
    if let Some(sse) = read(case, "provider_stream.sse") {
        check_stream(case, &cfg, &req, &t, &sse);
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
    system_images,
    tools_tool_call_response,
    tool_result_round_trip,
    tool_choice_named_function,
    response_format_json_schema,
    max_tokens_finish,
    stream_text,
    stream_include_usage,
    stream_tool_call,
    stream_thinking,
    stream_error_finish,
    stream_error_event,
    stream_truncated,
    completions,
    completions_stream,
    embeddings,
    embeddings_tokens_refused,
    rate_limit_error,
    context_length_error,
    drop_params,
    unsupported_param_refused,
    finish_error_response,
);

#[test]
fn every_fixture_directory_is_a_case() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cohere");
    let mut dirs: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    dirs.sort();
    let mut cases: Vec<String> = CASES.iter().map(|c| c.to_string()).collect();
    cases.sort();
    assert_eq!(dirs, cases);
}
