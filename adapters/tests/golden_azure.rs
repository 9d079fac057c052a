//! Golden fixtures for the Azure OpenAI adapter: each case under `tests/fixtures/azure/<case>/`
//! holds a client request and the expected Azure request (deployment URL, `api-version`,
//! `api-key` or Entra ID bearer header, OpenAI body), or an Azure error reply and the expected
//! client error. Azure responses and streams are OpenAI's and are relayed unchanged.
//!
//! Files of a case: `case.json` (`{model?, endpoint?, base_path?, api_key?, api_version?,
//! defaults?, internal?, error_status?}`), `client_request.json` → `provider_request.json`
//! (`{path, headers, body}`), `provider_error.json` → `client_error.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use adapters::azure::{error, request};
use adapters::dialect::Target;
use adapters::provider::Provider;
use adapters::{ApiError, CanonicalRequest, Endpoint};
use serde_json::{Map, Value};

fn dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/azure")
        .join(case)
}

fn json(case: &str, file: &str) -> Option<Value> {
    let bytes = std::fs::read(dir(case).join(file)).ok()?;
    Some(serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{case}/{file}: {e}")))
}

fn error_json(e: &ApiError) -> Value {
    let mut v: Value = serde_json::from_slice(&e.to_json()).unwrap();
    v["status"] = Value::from(e.status);
    v
}

fn run(case: &str) {
    let cfg = json(case, "case.json").expect("case.json");
    let s = |k: &str| cfg.get(k).and_then(Value::as_str).map(str::to_string);
    let m = |k: &str| -> Map<String, Value> {
        cfg.get(k)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (model, base_path) = (
        s("model").unwrap_or_default(),
        s("base_path").unwrap_or_default(),
    );
    let (api_key, api_version) = (s("api_key"), s("api_version"));
    let (defaults, internal) = (m("defaults"), m("internal"));
    let t = Target {
        provider: Provider::Azure,
        model: &model,
        base_path: &base_path,
        api_key: api_key.as_deref(),
        api_version: api_version.as_deref(),
        defaults: &defaults,
        drop_params: false,
        internal: &internal,
    };
    let mut checked = 0;

    if let Some(want) = json(case, "provider_request.json") {
        let endpoint = match cfg["endpoint"].as_str().unwrap_or("chat") {
            "chat" => Endpoint::ChatCompletions,
            "completions" => Endpoint::Completions,
            "embeddings" => Endpoint::Embeddings,
            other => panic!("unknown endpoint {other}"),
        };
        let body = json(case, "client_request.json").expect("client_request.json");
        let req = CanonicalRequest::parse(endpoint, body.to_string().as_bytes()).unwrap();
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
        let got_body: Value = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(got_body, want["body"], "{case}: body");
        checked += 1;
    }
    if let Some(body) = json(case, "provider_error.json") {
        let status = cfg["error_status"].as_u64().expect("error_status") as u16;
        let want = json(case, "client_error.json").expect("client_error.json");
        let got = error::from_reply(status, body.to_string().as_bytes());
        assert_eq!(error_json(&got), want, "{case}: error");
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
    chat_api_key,
    chat_entra_stream,
    embeddings_default_version,
    completions,
    error_content_filter,
    error_content_filter_innererror_only,
    error_context_length,
    error_unauthorized,
    error_deployment_not_found,
);

#[test]
fn every_fixture_directory_is_a_case() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/azure");
    let mut dirs: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    dirs.sort();
    let mut cases: Vec<String> = CASES.iter().map(|c| c.to_string()).collect();
    cases.sort();
    assert_eq!(dirs, cases);
}
