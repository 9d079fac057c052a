//! The provider-adapter suites' runner: each case of `tests/fixtures/<provider>/<case>/` goes
//! through the one dispatch the gateway uses (`adapters::dialect`) in every direction it has
//! files for. Files of a case (each optional; a case checks at least one direction):
//!
//! - `case.json`: the deployment and the run — `{provider?, model?, endpoint?, base_path?,
//!   api_key?, api_version?, drop_params?, defaults?, internal?, meta?: {id?, created?, model?},
//!   error_status?}`; what is absent comes from the suite (`api_key: null` means none);
//!   `endpoint` is `chat` (default), `completions` or `embeddings`;
//! - `client_request.json` (the request every direction uses; the suite's default if absent) →
//!   `provider_request.json` (`{path, headers, body}`) or `request_error.json`;
//! - `provider_response.json` → `client_response.json` (or `response_error.json`);
//! - the provider stream (`provider_stream.txt`, `.sse`, `.ndjson`, or the suite's encoded form)
//!   → `client_stream.txt`, plus `stream_error.json` when the stream fails and
//!   `client_usage.json` (the usage fields it names); re-fed split at every byte boundary and
//!   one byte at a time, which must give the same output, error and usage;
//! - `provider_error.json` (or `.txt`, a body that is not JSON), with `error_status` →
//!   `client_error.json`.
//!
//! Error files are `{status, error}`, or `{status, type, param, code, message_contains}` to
//! check part of the message. JSON is compared parsed.

use std::collections::BTreeMap;

use adapters::dialect::{
    build_request, stream_translator, translate_error, translate_response, Target,
};
use adapters::openai::response::Usage;
use adapters::openai::wire::ResponseMeta;
use adapters::provider::Provider;
use adapters::{ApiError, CanonicalRequest, Endpoint};
use bytes::BytesMut;
use serde_json::{json, Map, Value};

use crate::harness::{parse, same_at_every_split, Fixtures};

/// How a suite's provider stream is stored.
pub enum StreamInput {
    /// The bytes as the provider sends them, in this file.
    Raw(&'static str),
    /// A readable description in this JSON file, encoded to the provider's framing.
    Encoded(&'static str, fn(&str, &Value) -> Vec<u8>),
}

/// One provider's fixtures and the defaults its cases leave out.
pub struct Suite {
    /// The folder under `tests/fixtures/`.
    pub dir: &'static str,
    /// Provider prefix, model and credential when `case.json` names none.
    pub provider: &'static str,
    pub model: &'static str,
    pub api_key: Option<&'static str>,
    /// The response identity when `case.json` has no `meta`.
    pub meta: ResponseMeta<'static>,
    /// The client request when the case has no `client_request.json`.
    pub default_request: Option<&'static str>,
    pub stream: StreamInput,
    /// Compare JSON held in `arguments` / `content` strings parsed (re-serialised tool input
    /// comes out with sorted keys).
    pub parse_json_strings: bool,
    /// A `client_request.json` is always checked against the provider request.
    pub every_request_checked: bool,
    /// A check of the suite's own on the case, returning how many directions it checked.
    pub extra: Option<fn(&Fixtures, &str) -> usize>,
}

/// One `#[test]` per case (its fixture directory), and a test that every directory is a case.
macro_rules! golden_cases {
    ($suite:expr; $($case:ident),* $(,)?) => {
        $(#[test] fn $case() { $crate::provider::run(&$suite, stringify!($case)); })*

        #[test]
        fn every_fixture_directory_is_a_case() {
            $crate::harness::Fixtures::new($suite.dir).assert_cases_are(&[$(stringify!($case)),*]);
        }
    };
}
pub(crate) use golden_cases;

/// The owned values a `Target` borrows.
struct Deployment {
    provider: Provider,
    model: String,
    base_path: String,
    api_key: Option<String>,
    api_version: Option<String>,
    drop_params: bool,
    defaults: Map<String, Value>,
    internal: Map<String, Value>,
}

impl Deployment {
    fn new(suite: &Suite, conf: &Value) -> Deployment {
        let s = |k: &str| conf.get(k).and_then(Value::as_str).map(str::to_string);
        let m = |k: &str| conf[k].as_object().cloned().unwrap_or_default();
        let provider = s("provider").unwrap_or_else(|| suite.provider.to_string());
        Deployment {
            provider: Provider::from_prefix(&provider).expect("known provider"),
            model: s("model").unwrap_or_else(|| suite.model.to_string()),
            base_path: s("base_path").unwrap_or_default(),
            api_key: match conf.get("api_key") {
                None => suite.api_key.map(str::to_string),
                Some(k) => k.as_str().map(str::to_string),
            },
            api_version: s("api_version"),
            drop_params: conf["drop_params"].as_bool().unwrap_or(false),
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
            api_version: self.api_version.as_deref(),
            defaults: &self.defaults,
            drop_params: self.drop_params,
            internal: &self.internal,
        }
    }
}

/// Runs every direction `case` has files for.
pub fn run(suite: &Suite, case: &str) {
    let fx = Fixtures::new(suite.dir);
    assert!(
        fx.path(case, "").is_dir(),
        "fixture directory {case} missing"
    );
    let conf = fx.json(case, "case.json").unwrap_or_else(|| json!({}));
    let dep = Deployment::new(suite, &conf);
    let t = dep.target();
    let m = &conf["meta"];
    let meta = ResponseMeta {
        id: m["id"].as_str().unwrap_or(suite.meta.id),
        created: m["created"].as_u64().unwrap_or(suite.meta.created),
        model: m["model"].as_str().unwrap_or(suite.meta.model),
    };
    let endpoint = match conf["endpoint"].as_str().unwrap_or("chat") {
        "chat" => Endpoint::ChatCompletions,
        "completions" => Endpoint::Completions,
        "embeddings" => Endpoint::Embeddings,
        other => panic!("{case}: unknown endpoint {other}"),
    };
    let client_request = fx.read(case, "client_request.json");
    let req = client_request
        .clone()
        .or_else(|| suite.default_request.map(|r| r.as_bytes().to_vec()))
        .map(|body| {
            CanonicalRequest::parse(endpoint, &body)
                .unwrap_or_else(|e| panic!("{case}: the client request does not parse: {e}"))
        });
    let req = || {
        req.as_ref()
            .unwrap_or_else(|| panic!("{case}: client_request.json"))
    };
    let mut checked = 0;

    if fx.has(case, "provider_request.json")
        || fx.has(case, "request_error.json")
        || (suite.every_request_checked && client_request.is_some())
    {
        match build_request(req(), &t) {
            Ok(pr) => {
                let headers: Map<String, Value> = pr
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
                    .collect();
                assert_eq!(pr.headers.len(), headers.len(), "{case}: duplicate header");
                let body = parse(&pr.body, &format!("{case}: provider request body"));
                let got = json!({"path": pr.path, "headers": headers, "body": body});
                fx.expect_json(case, "provider_request.json", &got);
                fx.unbless(case, "request_error.json");
            }
            Err(e) => {
                fx.expect_error(case, "request_error.json", &e);
                fx.unbless(case, "provider_request.json");
            }
        }
        checked += 1;
    }
    if let Some(body) = fx.read(case, "provider_response.json") {
        match translate_response(req(), &t, meta, &body) {
            Ok(Some(out)) => {
                let got = parse(&out, &format!("{case}: client response"));
                let norm = if suite.parse_json_strings {
                    parsed_json_strings
                } else {
                    Value::clone
                };
                fx.expect_json_by(case, "client_response.json", &got, norm);
            }
            Ok(None) => panic!("{case}: the response is relayed untranslated"),
            Err(e) => fx.expect_error(case, "response_error.json", &e),
        }
        checked += 1;
    }
    if let Some(input) = stream_input(suite, &fx, case) {
        check_stream(&fx, case, req(), &t, meta, &input);
        checked += 1;
    }
    let error_body = fx
        .read(case, "provider_error.json")
        .or_else(|| fx.read(case, "provider_error.txt"));
    if let Some(body) = error_body {
        let status = conf["error_status"]
            .as_u64()
            .expect("case.json: error_status") as u16;
        let got = translate_error(&t, status, &body);
        fx.expect_json(case, "client_error.json", &crate::harness::error_json(&got));
        checked += 1;
    }
    if let Some(extra) = suite.extra {
        checked += extra(&fx, case);
    }
    assert!(checked > 0, "{case}: no fixture pair found");
}

fn stream_input(suite: &Suite, fx: &Fixtures, case: &str) -> Option<Vec<u8>> {
    match suite.stream {
        StreamInput::Raw(file) => fx.read(case, file),
        StreamInput::Encoded(file, encode) => fx.json(case, file).map(|v| encode(case, &v)),
    }
}

type Fed = (Vec<u8>, Option<ApiError>, Option<Usage>);

fn check_stream(
    fx: &Fixtures,
    case: &str,
    req: &CanonicalRequest,
    t: &Target<'_>,
    meta: ResponseMeta<'_>,
    input: &[u8],
) {
    // Feeds the chunks to a fresh translator, then finishes; the output, the error that
    // stopped it, and the usage it reports.
    let feed = |chunks: &[&[u8]]| -> Fed {
        let mut tr = stream_translator(req, t, meta)
            .expect("translator")
            .expect("a stream to translate");
        let mut out = BytesMut::new();
        for c in chunks {
            if let Err(e) = tr.push(c, &mut out) {
                return (out.to_vec(), Some(e), tr.usage());
            }
        }
        let err = tr.finish(&mut out).err();
        (out.to_vec(), err, tr.usage())
    };
    let (out, err, usage) = same_at_every_split(case, input, feed);
    fx.expect_events(case, "client_stream.txt", &out);
    fx.expect_error_if_any(case, "stream_error.json", err.as_ref());
    if let Some(want) = fx.json(case, "client_usage.json") {
        let u = usage.unwrap_or_else(|| panic!("{case}: no usage after the stream"));
        let all = BTreeMap::from([
            ("prompt_tokens", u.prompt_tokens),
            ("completion_tokens", u.completion_tokens),
            ("total_tokens", u.total_tokens),
            ("cache_read_tokens", u.cache_read_tokens),
            ("cache_write_tokens", u.cache_write_tokens),
        ]);
        let named: Map<String, Value> = want
            .as_object()
            .expect("client_usage.json is an object")
            .keys()
            .map(|k| {
                (
                    k.clone(),
                    all.get(k.as_str()).map_or(Value::Null, |n| json!(n)),
                )
            })
            .collect();
        fx.expect_json(case, "client_usage.json", &Value::Object(named));
    }
}

/// `v` with every `arguments` / `content` string that holds a JSON object replaced by the
/// parsed object (`{"parsed_json": …}`), so their key order does not matter. Stream fragments
/// are not whole objects and stay strings.
fn parsed_json_strings(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let parsed = match v {
                        Value::String(s) if k == "arguments" || k == "content" => {
                            serde_json::from_str::<Value>(s)
                                .ok()
                                .filter(Value::is_object)
                        }
                        _ => None,
                    };
                    let v = match parsed {
                        Some(p) => json!({ "parsed_json": p }),
                        None => parsed_json_strings(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(parsed_json_strings).collect()),
        v => v.clone(),
    }
}
