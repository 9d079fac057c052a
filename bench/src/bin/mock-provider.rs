//! `mock-provider`: the mock OpenAI-compatible provider as a process, for the load harness.
//! With `--port 0` it binds an ephemeral port; either way it prints `listening on ADDR` on
//! stdout once it accepts connections. Stops on SIGINT/SIGTERM.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bench::mock::{self, MockConfig};
use clap::Parser;

/// Mock OpenAI-compatible LLM provider (chat, completions, embeddings, models; SSE streaming).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Port to bind; 0 picks a free one (printed on stdout).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Delay before response headers, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// SSE content events per streamed response.
    #[arg(long, default_value_t = 5)]
    chunks: usize,
    /// Pause before each SSE content event, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_interval_ms: u64,
    /// Response text.
    #[arg(long, default_value = "Hello from the mock provider.")]
    content: String,
    /// Tokio worker threads (1 = a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Keep the last 64 requests in memory (only useful in-process; off for load tests).
    #[arg(long)]
    record: bool,
    /// Answer every chat request with this tool call instead of text: `NAME=ARGUMENTS_JSON`,
    /// e.g. `get_weather={"city":"Paris"}`.
    #[arg(long, value_name = "NAME=JSON")]
    tool_call: Option<String>,
    /// With --tool-call: only when the request contains this text and no tool result yet
    /// (one scripted tool round trip of an agent); other requests get --content.
    #[arg(long, value_name = "TEXT", requires = "tool_call")]
    tool_call_trigger: Option<String>,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let cfg = MockConfig {
        latency: Duration::from_millis(args.latency_ms),
        chunks: args.chunks,
        chunk_interval: Duration::from_millis(args.chunk_interval_ms),
        content: args.content,
        record_requests: args.record,
        tool_call: match &args.tool_call {
            Some(spec) => {
                let (name, arguments) = spec.split_once('=').ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "--tool-call takes NAME=ARGUMENTS_JSON",
                    )
                })?;
                Some(bench::mock::MockToolCall::new(name, arguments))
            }
            None => None,
        },
        tool_call_trigger: args.tool_call_trigger.clone(),
        ..MockConfig::default()
    };
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.host, args.port)).await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", listener.local_addr()?)?;
        out.flush()?;
        drop(out);
        mock::serve(listener, cfg, shutdown_signal()).await;
        Ok(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
