//! The two binaries as the harness runs them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use bench::client::{Client, Request};
use bench::mock::{MockConfig, MockServer};
use serde_json::Value;

/// Kills the child on drop so a failing assertion leaves no process behind.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn mock_provider_binary_prints_its_port_and_serves() {
    let mut child = Reap(
        Command::new(env!("CARGO_BIN_EXE_mock-provider"))
            .args(["--port", "0", "--content", "a b c", "--chunks", "3"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    let body = r#"{"model":"m","messages":[],"stream":true}"#;
    let resp = Client::new(addr)
        .send(&Request {
            method: "POST",
            path: "/v1/chat/completions",
            headers: &[],
            body: body.as_bytes(),
        })
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    // role + 3 content + finish + [DONE]
    assert_eq!(resp.sse_data().len(), 6, "{:?}", resp.sse_data());
    assert!(resp.sse_data()[1].contains(r#""content":"a ""#));
}

#[tokio::test]
async fn bench_ttft_reports_percentiles() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let url = format!("{}/chat/completions", mock.url());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_bench-ttft"))
            .args(["--url", &url, "--requests", "8", "--warmup", "2"])
            .args([
                "--chunks",
                "2",
                "--chunk-interval-ms",
                "15",
                "--label",
                "direct",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["label"], "direct");
    assert_eq!(v["requests"], 8);
    assert_eq!(v["errors"], 0);
    let ttft = v["ttft_us"]["p50"].as_f64().unwrap();
    let total = v["total_us"]["p50"].as_f64().unwrap();
    assert!(
        (15_000.0..30_000.0).contains(&ttft),
        "the first token comes after the first 15 ms pause (the role preamble does not count): {v}"
    );
    assert!(total >= 30_000.0, "two 15 ms chunks: {v}");
    assert_eq!(mock.request_count(), 10);
    assert_eq!(mock.streams_completed(), 10);
}
