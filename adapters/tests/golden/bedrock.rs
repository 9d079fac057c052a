//! The Amazon Bedrock adapter (`bedrock/`, tests/fixtures/bedrock/): client request →
//! Converse / Titan request, replies and ConverseStream → client replies and streams,
//! exceptions → client errors, and SigV4 signatures against independently computed vectors.
//!
//! Besides the common files (`provider.rs`), a case may have:
//! - `provider_stream.json`: the stream as a list of messages `{"event": type, "payload": {…}}`,
//!   `{"exception": type, "payload": {…}}` or `{"error": code, "message": text}`, or
//!   `{"messages": [...], "drop_last_bytes": n}` to cut the encoded stream short; encoded here
//!   to AWS event-stream frames, the way Bedrock sends ConverseStream;
//! - `signing.json`: a list of `{host, region, path, body, access_key_id, secret_access_key,
//!   session_token?, time_epoch, expected_headers}` computed by an independent SigV4
//!   implementation (Python hashlib/hmac, per the AWS documentation).

use std::time::{Duration, UNIX_EPOCH};

use adapters::bedrock::sign::{self, AwsCredentials};
use adapters::openai::wire::ResponseMeta;
use adapters::target::ProviderRequest;
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use serde_json::{Map, Value};

use crate::harness::Fixtures;
use crate::provider::{golden_cases, StreamInput, Suite};

const SUITE: Suite = Suite {
    dir: "bedrock",
    provider: "bedrock",
    model: "anthropic.claude-3-5-sonnet-20240620-v1:0",
    api_key: None,
    meta: ResponseMeta {
        id: "chatcmpl-test",
        created: 1_700_000_000,
        model: "bedrock-claude",
    },
    default_request: Some(
        r#"{"model":"bedrock-claude","messages":[{"role":"user","content":"hi"}]}"#,
    ),
    stream: StreamInput::Encoded("provider_stream.json", encode_stream),
    parse_json_strings: true,
    every_request_checked: false,
    extra: Some(check_signing),
};

fn string_header(name: &'static str, value: &str) -> Header {
    Header::new(name, HeaderValue::String(value.to_string().into()))
}

/// Encodes a fixture stream as AWS event-stream frames.
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

/// `signing.json`: each vector's signature headers, exactly.
fn check_signing(fx: &Fixtures, case: &str) -> usize {
    let Some(vectors) = fx.json(case, "signing.json") else {
        return 0;
    };
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
        let (host, region) = (s("host").unwrap(), s("region").unwrap());
        sign::sign(&mut pr, &host, &region, &creds, now).expect("signing succeeds");
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
    1
}

golden_cases!(SUITE;
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
