//! E2E: a multipart upload is streamed, never held whole: the provider holds bytes past the
//! gateway's 1 MiB head while the client is still sending (declared length and chunked), and a
//! 64 MiB upload grows the gateway's peak memory by a fraction of its size.

use std::time::Duration;

use bench::mock::{MockConfig, MockServer};
use bytes::Bytes;
use serde_json::Value;

use crate::media_audio::{config, form, memfind, upload, wav, BOUNDARY};
use crate::support::{client, Gateway, MASTER_KEY};

/// The upload is streamed: the provider holds bytes past the gateway's 1 MiB head while the
/// client is still sending (a gateway holding the whole upload would send nothing before the
/// client finished, and this test would time out waiting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_reaches_the_provider_before_the_client_finishes() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock, "")).await;
    let audio = wav(100); // 3.2 MB
    let body = form(&[("model", "whisper")], "file", &audio, false);
    let total = body.len();
    let first = 2 << 20;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let send = client()
        .post(gw.url("/v1/audio/transcriptions"))
        .bearer_auth(MASTER_KEY)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("content-length", total)
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let request = tokio::spawn(send);
    let before = mock.body_bytes_received();
    for piece in body[..first].chunks(64 * 1024) {
        tx.send(Ok(Bytes::copy_from_slice(piece))).await.unwrap();
    }
    // The rest is held back until the provider has more than the gateway's head.
    let reached = mock
        .wait_until(Duration::from_secs(10), |m| {
            m.body_bytes_received() - before > (1 << 20) + 64 * 1024
        })
        .await;
    assert!(
        reached,
        "the provider got {} bytes before the client finished",
        mock.body_bytes_received() - before
    );
    assert_eq!(mock.request_count(), 0, "the request is not complete yet");
    for piece in body[first..].chunks(64 * 1024) {
        tx.send(Ok(Bytes::copy_from_slice(piece))).await.unwrap();
    }
    drop(tx);
    let r = request.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    let sent = &mock.requests()[0];
    assert_eq!(sent.body.len(), total - "whisper".len() + "whisper-1".len());
    assert_eq!(
        sent.header("content-length"),
        Some(sent.body.len().to_string().as_str())
    );
    let at = memfind(&sent.body, &audio[..64]).unwrap();
    assert_eq!(&sent.body[at..at + audio.len()], &audio[..]);

    // Chunked (no content-length) works too, sent on chunked.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let request = tokio::spawn(
        client()
            .post(gw.url("/v1/audio/transcriptions"))
            .bearer_auth(MASTER_KEY)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(reqwest::Body::wrap_stream(stream))
            .send(),
    );
    for piece in body.chunks(256 * 1024) {
        tx.send(Ok(Bytes::copy_from_slice(piece))).await.unwrap();
    }
    drop(tx);
    let r = request.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        mock.requests()[1].header("transfer-encoding"),
        Some("chunked")
    );
    assert_eq!(mock.requests()[1].body.len(), sent.body.len());
}

/// The gateway's peak memory (`VmHWM`), in bytes.
fn peak_rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// A 64 MiB upload goes through with the gateway's peak memory growing by far less than the
/// upload: it is never held whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_upload_leaves_the_gateway_memory_bounded() {
    let mock = MockServer::start(MockConfig {
        record_requests: false,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&config(&mock, "  max_request_size_mb: 100\n")).await;
    // Warm up (connection pools, buffers), then measure one large upload.
    let body = form(&[("model", "whisper")], "file", &wav(1), false);
    assert_eq!(
        upload(&gw, "/v1/audio/transcriptions", MASTER_KEY, body)
            .await
            .status(),
        200
    );
    let before = peak_rss(gw.pid());
    let audio = wav(2_097); // 67 MB
    let body = form(&[("model", "whisper")], "file", &audio, false);
    let size = body.len() as u64;
    let r = upload(&gw, "/v1/audio/transcriptions", MASTER_KEY, body).await;
    assert_eq!(r.status(), 200);
    let grown = peak_rss(gw.pid()).saturating_sub(before);
    eprintln!("peak memory grew by {grown} bytes for a {size}-byte upload");
    assert!(
        grown < size / 4,
        "peak memory grew by {grown} bytes for a {size}-byte upload"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["usage"]["seconds"], 2097.0, "{v}");
}
