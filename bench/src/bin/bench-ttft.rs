//! `bench-ttft`: sequential streaming requests over one keep-alive connection, measuring the
//! time to the first token (TTFT: the first event with non-empty content, not a role-only
//! preamble) and to the end of the stream. Prints one JSON
//! line: `{"label", "url", "requests", "errors", "ttft_us": Summary, "total_us": Summary}`.

use std::process::ExitCode;
use std::time::Duration;

use bench::client::{Client, Request};
use bench::stats::summarize;
use clap::Parser;
use serde_json::json;

/// Measure time-to-first-token of a streaming chat completion endpoint.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Endpoint, e.g. http://127.0.0.1:8080/v1/chat/completions (IP literal only).
    #[arg(long)]
    url: String,
    /// Measured requests.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Unmeasured requests first (connection setup, pools, caches).
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Bearer token for `Authorization`.
    #[arg(long)]
    key: Option<String>,
    /// `model` of the request.
    #[arg(long, default_value = "bench-model")]
    model: String,
    /// Content chunks the mock should stream (per-request `"mock"` override).
    #[arg(long, default_value_t = 3)]
    chunks: usize,
    /// Pause before each chunk, in milliseconds (per-request `"mock"` override).
    #[arg(long, default_value_t = 20)]
    chunk_interval_ms: u64,
    /// Free-form label copied to the output.
    #[arg(long, default_value = "")]
    label: String,
    /// Give up after this many seconds overall.
    #[arg(long, default_value_t = 120)]
    timeout_s: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let (addr, path) = match Client::parse_url(&args.url) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("bench-ttft: {e}");
            return ExitCode::from(2);
        }
    };
    let body = json!({
        "model": args.model,
        "messages": [{"role": "user", "content": "Say hello."}],
        "stream": true,
        "mock": {"chunks": args.chunks, "chunk_interval_ms": args.chunk_interval_ms},
    })
    .to_string();
    let auth = args.key.as_ref().map(|k| format!("Bearer {k}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    let req = Request {
        method: "POST",
        path: &path,
        headers: &headers,
        body: body.as_bytes(),
    };

    let mut client = Client::new(addr);
    let mut ttft = Vec::with_capacity(args.requests);
    let mut total = Vec::with_capacity(args.requests);
    let mut errors = 0usize;
    let run = async {
        for i in 0..args.warmup + args.requests {
            match client.send(&req).await {
                Ok(resp) if resp.status == 200 && resp.timings.first_token.is_some() => {
                    if i >= args.warmup {
                        ttft.push(resp.timings.first_token.unwrap_or_default());
                        total.push(resp.timings.total);
                    }
                }
                Ok(resp) => {
                    errors += 1;
                    if errors <= 3 {
                        let text = String::from_utf8_lossy(&resp.body);
                        eprintln!("bench-ttft: HTTP {} {}", resp.status, text.trim());
                    }
                }
                Err(e) => {
                    errors += 1;
                    if errors <= 3 {
                        eprintln!("bench-ttft: {e}");
                    }
                }
            }
        }
    };
    let timed_out = tokio::time::timeout(Duration::from_secs(args.timeout_s), run)
        .await
        .is_err();
    if timed_out {
        eprintln!("bench-ttft: timed out after {}s", args.timeout_s);
    }
    println!(
        "{}",
        json!({
            "label": args.label,
            "url": args.url,
            "requests": ttft.len(),
            "errors": errors,
            "timed_out": timed_out,
            "ttft_us": summarize(&ttft),
            "total_us": summarize(&total),
        })
    );
    if ttft.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
