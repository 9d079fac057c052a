//! Golden fixtures for the Amazon Bedrock adapter (tests/fixtures/bedrock/<case>/): client
//! request → Converse/Titan request, provider reply/stream → client reply/stream, provider errors
//! → client errors, and SigV4 signatures against independently computed vectors. Streams are
//! encoded to AWS event-stream frames here and re-fed split at every byte boundary and byte by
//! byte.
//!
//! Files per case (each optional; every case has at least one pair):
//! - `target.json`: `{model, base_path, drop_params, defaults, endpoint}`
//! - `client_request.json` (the request every direction uses; a default one if absent) →
//!   `provider_request.json` (`{path, headers, body}`) or `request_error.json` (`{status, error}`)
//! - `provider_response.json` → `client_response.json`
//! - `provider_stream.json` → `client_stream.txt`, plus `stream_error.json` if the stream fails.
//!   The stream is a list of messages `{"event": type, "payload": {…}}`,
//!   `{"exception": type, "payload": {…}}` or `{"error": code, "message": text}`, or
//!   `{"messages": [...], "drop_last_bytes": n}` to cut the encoded stream short.
//! - `provider_error.json` (`{status, body}` or `{status, body_text}`) → `client_error.json`
//! - `signing.json`: a list of `{host, region, path, body, access_key_id, secret_access_key,
//!   session_token?, time_epoch, expected_headers}` computed by an independent SigV4
//!   implementation (Python hashlib/hmac, per the AWS documentation).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use adapters::bedrock::sign::{self, AwsCredentials};
use adapters::bedrock::{error, request, response, stream};
use adapters::dialect::{ProviderRequest, Target, ToOpenAiStream};
use adapters::openai::wire::ResponseMeta;
use adapters::provider::Provider;
use adapters::{ApiError, CanonicalRequest, Endpoint};
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::BytesMut;
use serde_json::{json, Map, Value};

const META: ResponseMeta<'static> = ResponseMeta {
    id: "chatcmpl-test",
    created: 1_700_000_000,
    model: "bedrock-claude",
};

fn dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bedrock")
        .join(case)
}

fn read(case: &str, file: &str) -> Option<Vec<u8>> {
    fs::read(dir(case).join(file)).ok()
}

fn json_file(case: &str, file: &str) -> Option<Value> {
    read(case, file).map(|b| {
        serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{case}/{file}: bad JSON: {e}"))
    })
}

/// Owned pieces of a `Target`.
struct TargetSpec {
    model: String,
    base_path: String,
    drop_params: bool,
    defaults: Map<String, Value>,
    internal: Map<String, Value>,
    endpoint: Endpoint,
}

impl TargetSpec {
    fn load(case: &str) -> Self {
        let v = json_file(case, "target.json").unwrap_or_else(|| json!({}));
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        TargetSpec {
            model: s("model").unwrap_or_else(|| "anthropic.claude-3-5-sonnet-20240620-v1:0".into()),
            base_path: s("base_path").unwrap_or_default(),
            drop_params: v
                .get("drop_params")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            defaults: v
                .get("defaults")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            internal: Map::new(),
            endpoint: match s("endpoint").as_deref() {
                None | Some("chat") => Endpoint::ChatCompletions,
                Some("completions") => Endpoint::Completions,
                Some("embeddings") => Endpoint::Embeddings,
                Some(other) => panic!("{case}: unknown endpoint {other}"),
            },
        }
    }

    fn target(&self) -> Target<'_> {
        Target {
            provider: Provider::Bedrock,
            model: &self.model,
            base_path: &self.base_path,
            api_key: None,
            api_version: None,
            defaults: &self.defaults,
            drop_params: self.drop_params,
            internal: &self.internal,
        }
    }
}

/// Parses whole JSON objects held in `arguments` / `content` strings, so their key order does not
/// matter either. Stream fragments are not whole objects and stay strings.
fn normalize(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if let (true, Value::String(s)) = (k == "arguments" || k == "content", &*v) {
                    if let Ok(parsed @ Value::Object(_)) = serde_json::from_str::<Value>(s) {
                        *v = json!({"parsed_json": parsed});
                        continue;
                    }
                }
                normalize(v);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        _ => {}
    }
}

fn error_json(e: &ApiError) -> Value {
    let body: Value = serde_json::from_slice(&e.to_json()).unwrap();
    json!({"status": e.status, "error": body["error"]})
}

fn client_request(case: &str, spec: &TargetSpec) -> CanonicalRequest {
    let body = read(case, "client_request.json").unwrap_or_else(|| {
        br#"{"model":"bedrock-claude","messages":[{"role":"user","content":"hi"}]}"#.to_vec()
    });
    CanonicalRequest::parse(spec.endpoint, &body).expect("fixture client request parses")
}

fn string_header(name: &'static str, value: &str) -> Header {
    Header::new(name, HeaderValue::String(value.to_string().into()))
}

/// Encodes a fixture stream as AWS event-stream frames, the way Bedrock sends ConverseStream.
fn encode_stream(case: &str, spec: &Value) -> Vec<u8> {
    let (messages, drop_last) = match spec {
        Value::Array(a) => (a.as_slice(), 0),
        Value::Object(o) => (
            o["messages"].as_array().expect("messages").as_slice(),
            o["drop_last_bytes"].as_u64().unwrap_or(0) as usize,
        ),
        _ => panic!("{case}: provider_stream.json must be a list or an object"),
    };
    let mut out = Vec::new();
    for m in messages {
        let payload = m
            .get("payload")
            .map(|p| serde_json::to_vec(p).unwrap())
            .unwrap_or_default();
        let headers = if let Some(kind) = m["event"].as_str() {
            vec![
                string_header(":event-type", kind),
                string_header(":content-type", "application/json"),
                string_header(":message-type", "event"),
            ]
        } else if let Some(kind) = m["exception"].as_str() {
            vec![
                string_header(":exception-type", kind),
                string_header(":content-type", "application/json"),
                string_header(":message-type", "exception"),
            ]
        } else if let Some(code) = m["error"].as_str() {
            vec![
                string_header(":error-code", code),
                string_header(":error-message", m["message"].as_str().unwrap_or("")),
                string_header(":message-type", "error"),
            ]
        } else {
            panic!("{case}: stream message needs event, exception or error: {m}");
        };
        write_message_to(&Message::new_from_parts(headers, payload), &mut out)
            .expect("encoding a frame");
    }
    out.truncate(out.len() - drop_last);
    out
}

/// Feeds `chunks` to a fresh translator; the output, and the error if the stream failed.
fn run_stream(
    req: &CanonicalRequest,
    t: &Target<'_>,
    chunks: &[&[u8]],
) -> (Vec<u8>, Option<ApiError>) {
    let mut tr = stream::Translator::new(req, t, META);
    let mut out = BytesMut::new();
    for c in chunks {
        if let Err(e) = tr.push(c, &mut out) {
            return (out.to_vec(), Some(e));
        }
    }
    let res = tr.finish(&mut out);
    (out.to_vec(), res.err())
}

/// A canonical SSE stream as a list of data payloads (JSON parsed; `[DONE]` kept as a string).
fn sse_events(bytes: &[u8], what: &str) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).unwrap();
    text.split("\n\n")
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let data = e
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("{what}: not a data event: {e:?}"));
            if data == "[DONE]" {
                Value::String("[DONE]".into())
            } else {
                serde_json::from_str(data)
                    .unwrap_or_else(|err| panic!("{what}: bad JSON {data:?}: {err}"))
            }
        })
        .collect()
}

fn check_stream(case: &str, req: &CanonicalRequest, t: &Target<'_>, input: &[u8]) {
    let (whole, whole_err) = run_stream(req, t, &[input]);
    for i in 0..=input.len() {
        let (out, err) = run_stream(req, t, &[&input[..i], &input[i..]]);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&whole),
            "{case}: split at byte {i}"
        );
        assert_eq!(err, whole_err, "{case}: split at byte {i}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let (out, err) = run_stream(req, t, &bytes);
    assert_eq!(out, whole, "{case}: one byte at a time");
    assert_eq!(err, whole_err, "{case}: one byte at a time");

    let expected = read(case, "client_stream.txt").expect("client_stream.txt");
    assert_eq!(
        sse_events(&whole, "actual"),
        sse_events(&expected, "client_stream.txt"),
        "{case}: client stream\n--- actual:\n{}",
        String::from_utf8_lossy(&whole)
    );
    match (json_file(case, "stream_error.json"), whole_err) {
        (None, None) => {}
        (Some(want), Some(got)) => assert_eq!(error_json(&got), want, "{case}: stream error"),
        (want, got) => panic!("{case}: stream error: expected {want:?}, got {got:?}"),
    }
}

fn check_signing(case: &str, vectors: &Value) {
    for v in vectors.as_array().expect("signing.json is a list") {
        let s = |k: &str| v[k].as_str().map(str::to_string);
        let mut pr = ProviderRequest {
            path: s("path").unwrap(),
            headers: vec![("content-type", "application/json".into())],
            body: s("body").unwrap().into_bytes(),
        };
        let creds = AwsCredentials {
            access_key_id: s("access_key_id").unwrap(),
            secret_access_key: s("secret_access_key").unwrap(),
            session_token: s("session_token"),
        };
        let now = UNIX_EPOCH + Duration::from_secs(v["time_epoch"].as_u64().unwrap());
        sign::sign(
            &mut pr,
            &s("host").unwrap(),
            &s("region").unwrap(),
            &creds,
            now,
        )
        .expect("signing succeeds");
        let added: Map<String, Value> = pr.headers[1..]
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect();
        assert_eq!(
            pr.headers.len() - 1,
            added.len(),
            "{case}: duplicate header"
        );
        assert_eq!(
            Value::Object(added),
            v["expected_headers"],
            "{case}: signature for {}",
            v["name"]
        );
    }
}

fn run_case(case: &str) {
    assert!(dir(case).is_dir(), "fixture directory {case} missing");
    let spec = TargetSpec::load(case);
    let t = spec.target();
    let req = client_request(case, &spec);
    let mut checked = 0;

    let want_request =
        read(case, "provider_request.json").is_some() || read(case, "request_error.json").is_some();
    if want_request {
        let got = request::build(&req, &t);
        match (json_file(case, "provider_request.json"), got) {
            (Some(want), Ok(pr)) => {
                let headers: Map<String, Value> = pr
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
                    .collect();
                assert_eq!(pr.headers.len(), headers.len(), "{case}: duplicate header");
                let body: Value = serde_json::from_slice(&pr.body).unwrap();
                let got = json!({"path": pr.path, "headers": headers, "body": body});
                assert_eq!(got, want, "{case}: provider request");
            }
            (None, Err(e)) => {
                let want = json_file(case, "request_error.json").expect("request_error.json");
                assert_eq!(error_json(&e), want, "{case}: request error");
            }
            (want, got) => panic!("{case}: expected {want:?}, got {got:?}"),
        }
        checked += 1;
    }
    if let Some(body) = read(case, "provider_response.json") {
        let want = json_file(case, "client_response.json").expect("client_response.json");
        let got = response::to_openai(&req, &t, META, &body).expect("response translates");
        let mut got: Value = serde_json::from_slice(&got).unwrap();
        let mut want = want;
        normalize(&mut got);
        normalize(&mut want);
        assert_eq!(got, want, "{case}: client response");
        checked += 1;
    }
    if let Some(spec) = json_file(case, "provider_stream.json") {
        let input = encode_stream(case, &spec);
        check_stream(case, &req, &t, &input);
        checked += 1;
    }
    if let Some(reply) = json_file(case, "provider_error.json") {
        let status = reply["status"].as_u64().unwrap() as u16;
        let body = match &reply["body_text"] {
            Value::String(s) => s.as_bytes().to_vec(),
            _ => serde_json::to_vec(&reply["body"]).unwrap(),
        };
        let want = json_file(case, "client_error.json").expect("client_error.json");
        assert_eq!(
            error_json(&error::from_reply(status, &body)),
            want,
            "{case}: client error"
        );
        checked += 1;
    }
    if let Some(vectors) = json_file(case, "signing.json") {
        check_signing(case, &vectors);
        checked += 1;
    }
    assert!(checked > 0, "{case}: no fixture pair found");
}

macro_rules! golden {
    ($($case:ident),* $(,)?) => {
        $(#[test] fn $case() { run_case(stringify!($case)); })*
        const CASES: &[&str] = &[$(stringify!($case)),*];
    };
}

golden!(
    converse_simple,
    system_image,
    document_pdf,
    image_url_refused,
    tools_tool_use_response,
    tool_choice_none,
    tool_result_round_trip,
    stream_text,
    stream_tool_use,
    stream_include_usage,
    stream_exception,
    stream_context_length_exception,
    stream_protocol_error,
    stream_truncated,
    guardrail,
    embeddings,
    embeddings_many_inputs,
    signing_vector,
    drop_params_drop,
    drop_params_refuse,
    throttling_error,
    context_length_error,
    non_json_error,
);

#[test]
fn every_fixture_directory_is_a_listed_case() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bedrock");
    for entry in fs::read_dir(root).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(CASES.contains(&name.as_str()), "fixture {name} is not run");
    }
}
