//! Amazon Bedrock: Converse, ConverseStream (AWS event-stream frames, decoded back with
//! `aws-smithy-eventstream`), Titan embeddings via `invoke`, SigV4-shaped auth, errors.

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
use bench::client::Response;
use bytes::BytesMut;
use serde_json::{json, Value};

use crate::common::{mock, send, text, try_send, with, ARGS, CONTENT};

const SIGV4: (&str, &str) = (
    "authorization",
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/bedrock/aws4_request, \
     SignedHeaders=host;x-amz-date, Signature=0123abcd",
);
const DATE: (&str, &str) = ("x-amz-date", "20240101T000000Z");
const AUTH: [(&str, &str); 2] = [SIGV4, DATE];
const MODEL: &str = "/model/anthropic.claude-3-haiku-20240307-v1%3A0";

fn converse(extra: Value) -> Value {
    with(
        json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}],
               "inferenceConfig": {"maxTokens": 16}}),
        extra,
    )
}

fn tool(extra: Value) -> Value {
    let tc = json!({"mock": {"tool_call": {"name": "get_weather", "arguments": ARGS}}});
    with(converse(tc), extra)
}

/// Every frame of `body`, fed to the decoder one byte at a time (so frames split anywhere).
fn frames(body: &[u8]) -> Vec<Message> {
    let mut decoder = MessageFrameDecoder::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for &b in body {
        buf.extend_from_slice(&[b]);
        if let DecodedFrame::Complete(m) = decoder.decode_frame(&mut buf).expect("valid frame") {
            out.push(m);
        }
    }
    assert!(buf.is_empty(), "{} trailing bytes", buf.len());
    out
}

fn header<'m>(m: &'m Message, name: &str) -> Option<&'m str> {
    m.headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .map(|h| h.value().as_string().expect("string header").as_str())
}

/// `(:event-type, payload)` of each frame, checking that each is a JSON event.
fn events(resp: &Response) -> Vec<(String, Value)> {
    assert_eq!(
        resp.header("content-type"),
        Some("application/vnd.amazon.eventstream")
    );
    frames(&resp.body)
        .iter()
        .map(|m| {
            assert_eq!(header(m, ":message-type"), Some("event"), "{m:?}");
            assert_eq!(header(m, ":content-type"), Some("application/json"));
            let name = header(m, ":event-type").expect(":event-type").to_owned();
            (name, serde_json::from_slice(m.payload()).unwrap())
        })
        .collect()
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

fn assert_bedrock_error(resp: &Response, status: u16, kind: &str) -> String {
    assert_eq!(resp.status, status, "{}", text(resp));
    assert_eq!(resp.header("x-amzn-errortype"), Some(kind));
    let v = resp.json().unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    v["message"].as_str().expect("message").to_owned()
}

#[tokio::test]
async fn converse_answers_a_converse_response() {
    let mock = mock().await;
    let body = converse(json!({}));
    let resp = send(&mock, &format!("{MODEL}/converse"), &AUTH, &body).await;
    assert_eq!(resp.status, 200, "{}", text(&resp));
    let v = resp.json().unwrap();
    assert_eq!(
        v["output"],
        json!({"message": {"role": "assistant", "content": [{"text": CONTENT}]}})
    );
    assert_eq!(v["stopReason"], "end_turn");
    let prompt = (body.to_string().len() as u64).div_ceil(4);
    assert_eq!(
        v["usage"],
        json!({"inputTokens": prompt, "outputTokens": 5, "totalTokens": prompt + 5})
    );
    assert!(v["metrics"]["latencyMs"].is_u64());
    let rec = mock.requests().pop().unwrap();
    assert_eq!(
        rec.path,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
    assert_eq!(rec.header("x-amz-date"), Some("20240101T000000Z"));
}

#[tokio::test]
async fn converse_stream_frames_in_order() {
    let mock = mock().await;
    let body = converse(json!({"mock": {"chunks": 3, "completion_tokens": 9}}));
    let resp = send(&mock, &format!("{MODEL}/converse-stream"), &AUTH, &body).await;
    assert_eq!(resp.status, 200, "{}", text(&resp));
    let evs = events(&resp);
    assert_eq!(
        names(&evs),
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    assert_eq!(evs[0].1, json!({"role": "assistant"}));
    let streamed: String = evs[1..4]
        .iter()
        .map(|(_, v)| {
            assert_eq!(v["contentBlockIndex"], 0);
            v["delta"]["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(streamed, CONTENT);
    assert_eq!(evs[4].1, json!({"contentBlockIndex": 0}));
    assert_eq!(evs[5].1, json!({"stopReason": "end_turn"}));
    let prompt = (body.to_string().len() as u64).div_ceil(4);
    assert_eq!(
        evs[6].1["usage"],
        json!({"inputTokens": prompt, "outputTokens": 9, "totalTokens": prompt + 9})
    );
    assert!(evs[6].1["metrics"]["latencyMs"].is_u64());
    assert_eq!(mock.streams_completed(), 1);
}

#[tokio::test]
async fn tool_use_plain_and_streamed() {
    let mock = mock().await;
    let v = send(&mock, &format!("{MODEL}/converse"), &AUTH, &tool(json!({})))
        .await
        .json()
        .unwrap();
    assert_eq!(v["stopReason"], "tool_use");
    let tu = &v["output"]["message"]["content"][0]["toolUse"];
    assert!(tu["toolUseId"].as_str().unwrap().starts_with("tooluse_"));
    assert_eq!(tu["name"], "get_weather");
    assert_eq!(tu["input"], json!({"city": "Paris", "unit": "celsius"}));

    let path = format!("{MODEL}/converse-stream");
    let evs = events(&send(&mock, &path, &AUTH, &tool(json!({}))).await);
    assert_eq!(
        names(&evs),
        [
            "messageStart",
            "contentBlockStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    let start = &evs[1].1;
    assert_eq!(start["contentBlockIndex"], 0);
    assert_eq!(start["start"]["toolUse"]["name"], "get_weather");
    assert!(start["start"]["toolUse"]["toolUseId"].is_string());
    let input: String = evs[2..5]
        .iter()
        .map(|(_, v)| v["delta"]["toolUse"]["input"].as_str().unwrap())
        .collect();
    assert_eq!(input, ARGS);
    assert_eq!(evs[6].1["stopReason"], "tool_use");

    // Bedrock carries the input as an object.
    let bad = converse(json!({"mock": {"tool_call": {"name": "f", "arguments": "[1]"}}}));
    let resp = send(&mock, &format!("{MODEL}/converse"), &AUTH, &bad).await;
    assert_bedrock_error(&resp, 400, "ValidationException");
}

#[tokio::test]
async fn in_stream_exception_and_cut() {
    let mock = mock().await;
    let path = format!("{MODEL}/converse-stream");
    let body = converse(json!({"mock": {"chunks": 3, "stream_error_after_chunks": 2}}));
    let resp = send(&mock, &path, &AUTH, &body).await;
    assert_eq!(resp.status, 200);
    let all = frames(&resp.body);
    assert_eq!(all.len(), 4, "messageStart, 2 deltas, the exception");
    let last = &all[3];
    assert_eq!(header(last, ":message-type"), Some("exception"));
    assert_eq!(header(last, ":exception-type"), Some("throttlingException"));
    assert_eq!(header(last, ":content-type"), Some("application/json"));
    let payload: Value = serde_json::from_slice(last.payload()).unwrap();
    assert!(payload["message"].is_string(), "{payload}");
    assert_eq!(header(&all[2], ":event-type"), Some("contentBlockDelta"));

    let body = converse(json!({"mock": {"stream_error_after_chunks": 0,
        "error_type": "modelStreamErrorException", "error_message": "boom"}}));
    let all = frames(&send(&mock, &path, &AUTH, &body).await.body);
    assert_eq!(all.len(), 2);
    assert_eq!(
        header(&all[1], ":exception-type"),
        Some("modelStreamErrorException")
    );
    assert_eq!(&all[1].payload()[..], br#"{"message":"boom"}"#);

    let cut = converse(json!({"mock": {"fail_after_chunks": 1}}));
    let err = try_send(&mock, &path, &AUTH, &cut)
        .await
        .expect_err("the response must not complete");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
}

#[tokio::test]
async fn sigv4_shaped_auth_is_required() {
    let mock = mock().await;
    let path = format!("{MODEL}/converse");
    let body = converse(json!({}));
    for headers in [
        &[][..],
        &[DATE][..],
        &[SIGV4][..],
        &[("authorization", "Bearer abc"), DATE][..],
    ] {
        let resp = send(&mock, &path, headers, &body).await;
        let msg = assert_bedrock_error(&resp, 403, "MissingAuthenticationTokenException");
        assert_eq!(msg, "Missing Authentication Token");
    }
}

#[tokio::test]
async fn forced_errors_name_the_exception() {
    let mock = mock().await;
    let path = format!("{MODEL}/converse");
    for (status, kind) in [
        (429, "ThrottlingException"),
        (400, "ValidationException"),
        (503, "ServiceUnavailableException"),
        (500, "InternalServerException"),
    ] {
        let body = converse(json!({"mock": {"status": status}}));
        assert_bedrock_error(&send(&mock, &path, &AUTH, &body).await, status, kind);
    }
    let body = converse(
        json!({"mock": {"status": 424, "error_type": "ModelErrorException",
                                        "error_message": "model failed"}}),
    );
    let msg = assert_bedrock_error(
        &send(&mock, &path, &AUTH, &body).await,
        424,
        "ModelErrorException",
    );
    assert_eq!(msg, "model failed");
    mock.fail_next(1, 429);
    let stream = format!("{MODEL}/converse-stream");
    assert_bedrock_error(
        &send(&mock, &stream, &AUTH, &converse(json!({}))).await,
        429,
        "ThrottlingException",
    );
    let no_messages = json!({"inferenceConfig": {}});
    assert_bedrock_error(
        &send(&mock, &path, &AUTH, &no_messages).await,
        400,
        "ValidationException",
    );
}

#[tokio::test]
async fn invoke_titan_embeddings() {
    let mock = mock().await;
    let path = "/model/amazon.titan-embed-text-v2%3A0/invoke";
    let body = json!({"inputText": "hello", "dimensions": 4, "normalize": true});
    let resp = send(&mock, path, &AUTH, &body).await;
    assert_eq!(resp.status, 200, "{}", text(&resp));
    let v = resp.json().unwrap();
    let emb = v["embedding"].as_array().unwrap();
    assert_eq!(emb.len(), 4);
    let norm: f64 = emb.iter().map(|x| x.as_f64().unwrap().powi(2)).sum();
    assert!((norm - 1.0).abs() < 1e-3, "{norm}");
    assert_eq!(
        v["inputTextTokenCount"],
        (body.to_string().len() as u64).div_ceil(4)
    );
    let msg = assert_bedrock_error(
        &send(&mock, path, &AUTH, &json!({"texts": ["x"]})).await,
        400,
        "ValidationException",
    );
    assert!(msg.contains("inputText"), "{msg}");
}
