//! The real Claude Code CLI (`claude -p`, installed by scripts/clis.sh, path in
//! `TOLLGATE_CLAUDE_BIN`) against a real tollgate in front of the mock provider: once through an
//! Anthropic-native model group, once through an OpenAI-translated one, each with one tool-call
//! round trip (the mock asks for Claude Code's Read tool on a file in a scratch dir; Claude Code
//! reads it and sends the result back). Without the binary the tests are skipped, except under
//! `CI=true`, where that is a failure.
//!
//! Claude Code runs with a scratch HOME and config dir, telemetry, auto-updates, error reporting
//! and nonessential traffic off, and every proxy variable pointing at a listener of this test
//! (loopback excepted via `NO_PROXY`), which must see no connection: no network beyond
//! 127.0.0.1. Set `TOLLGATE_CAPTURE_DIR` to keep the request bodies the mock received (they are
//! the source of `adapters/tests/fixtures/claude_code/`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bench::mock::{MockConfig, MockServer, MockToolCall};
use serde_json::{json, Value};

use crate::support::*;

/// What the user asks; the mock answers with the Read tool call while it sees this and no tool
/// result yet.
const TRIGGER: &str = "TOLLGATE-READ-NOTE";
/// In the file Claude Code reads: it must come back to the provider inside the tool result.
const SECRET: &str = "PAPAYA-42";
/// The mock's final answer, which `claude -p` prints.
const ANSWER: &str = "Tollgate mock: the note was read.";
/// How long one `claude -p` run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The Claude Code binary, or `None` (skip) when it is not installed outside CI.
pub fn claude_bin() -> Option<PathBuf> {
    match std::env::var_os("TOLLGATE_CLAUDE_BIN") {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.exists(),
                "TOLLGATE_CLAUDE_BIN={} does not exist",
                p.display()
            );
            Some(p)
        }
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("TOLLGATE_CLAUDE_BIN is not set: under CI=true the Claude Code tests must run (source scripts/clis.sh)")
        }
        None => {
            eprintln!("skipped: TOLLGATE_CLAUDE_BIN is not set (source scripts/clis.sh)");
            None
        }
    }
}

/// A TCP listener that counts (and names) every connection: the proxy Claude Code is given, so
/// any traffic that would leave the machine shows up here instead.
pub struct Tripwire {
    pub addr: std::net::SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub first_lines: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Tripwire {
    pub async fn start() -> Tripwire {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let first_lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (h, l) = (hits.clone(), first_lines.clone());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                h.fetch_add(1, Ordering::SeqCst);
                let l = l.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut buf = [0u8; 512];
                    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or(0);
                    let line = String::from_utf8_lossy(&buf[..n]);
                    l.lock()
                        .unwrap()
                        .push(line.lines().next().unwrap_or("").to_string());
                });
            }
        });
        Tripwire {
            addr,
            hits,
            first_lines,
        }
    }
}

/// One `claude -p` run's output.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `claude -p <prompt>` in `work` against the gateway, on model group `group`, allowed to
/// use its Read tool, isolated as the module doc says.
async fn claude(
    bin: &Path,
    gw: &Gateway,
    dir: &Path,
    group: &str,
    prompt: &str,
) -> (Run, Tripwire) {
    let home = dir.join("home");
    let work = dir.join("work");
    std::fs::create_dir_all(&home).unwrap();
    let tripwire = Tripwire::start().await;
    let proxy = format!("http://{}", tripwire.addr);
    let mut cmd = std::process::Command::new(bin);
    cmd.current_dir(&work)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("CLAUDE_CONFIG_DIR", home.join(".claude"))
        .env("ANTHROPIC_BASE_URL", gw.url(""))
        .env("ANTHROPIC_AUTH_TOKEN", MASTER_KEY)
        .env("ANTHROPIC_DEFAULT_HAIKU_MODEL", group)
        .env("ANTHROPIC_SMALL_FAST_MODEL", group)
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("CLAUDE_CODE_MAX_RETRIES", "0")
        .env("HTTPS_PROXY", &proxy)
        .env("HTTP_PROXY", &proxy)
        .env("https_proxy", &proxy)
        .env("http_proxy", &proxy)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .args(["-p", prompt, "--model", group, "--allowedTools", "Read"])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(dir.join("claude.out")).unwrap())
        .stderr(std::fs::File::create(dir.join("claude.err")).unwrap());
    let mut child = cmd.spawn().expect("run claude");
    let deadline = std::time::Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "claude -p did not finish within {RUN_TIMEOUT:?}\n--- stdout ---\n{}\n--- gateway log ---\n{}",
                std::fs::read_to_string(dir.join("claude.out")).unwrap_or_default(),
                gw.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let run = Run {
        ok: status.success(),
        stdout: std::fs::read_to_string(dir.join("claude.out")).unwrap_or_default(),
        stderr: std::fs::read_to_string(dir.join("claude.err")).unwrap_or_default(),
    };
    (run, tripwire)
}

/// Polls `/spend/logs` until it holds `n` rows.
pub async fn spend_rows(gw: &Gateway, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = client()
            .get(gw.url("/spend/logs"))
            .bearer_auth(MASTER_KEY)
            .send()
            .await
            .unwrap();
        let rows: Vec<Value> = r.json().await.unwrap();
        if rows.len() >= n || std::time::Instant::now() > deadline {
            assert_eq!(rows.len(), n, "spend rows: {rows:?}");
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The whole scenario against one kind of deployment: `model` at `api_base` (a function of the
/// mock) serving the group `claude-group`, the mock's API requests arriving on `api_path`.
async fn round_trip(
    label: &str,
    model: &str,
    api_base: impl Fn(&MockServer) -> String,
    api_path: &str,
) {
    let Some(bin) = claude_bin() else { return };
    let dir = scratch_dir();
    std::fs::create_dir_all(dir.join("work")).unwrap();
    let note = dir.join("work").join("note.txt");
    std::fs::write(&note, format!("The secret word is {SECRET}.\n")).unwrap();
    let mock = MockServer::start(MockConfig {
        content: ANSWER.into(),
        tool_call: Some(MockToolCall::new(
            "Read",
            json!({"file_path": note.to_str().unwrap()}).to_string(),
        )),
        tool_call_trigger: Some(TRIGGER.into()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let yaml = format!(
        "model_list:\n  - model_name: claude-group\n    litellm_params:\n      model: {model}\n      api_base: {}\n      api_key: sk-upstream-secret\n      input_cost_per_token: 0.000003\n      output_cost_per_token: 0.000015\ngeneral_settings:\n  master_key: {MASTER_KEY}\n",
        api_base(&mock)
    );
    let gw = Gateway::start(&yaml).await;

    let prompt = format!("{TRIGGER}: read note.txt and tell me the secret word.");
    let (run, tripwire) = claude(&bin, &gw, &dir, "claude-group", &prompt).await;
    let context = || {
        format!(
            "--- claude stdout ---\n{}\n--- claude stderr ---\n{}\n--- gateway log ---\n{}",
            run.stdout,
            run.stderr,
            gw.logs()
        )
    };
    assert!(run.ok, "{label}: claude -p failed\n{}", context());
    assert!(
        run.stdout.contains(ANSWER),
        "{label}: claude did not print the mock's answer\n{}",
        context()
    );

    let api: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with(api_path))
        .collect();
    if let Some(out) = std::env::var_os("TOLLGATE_CAPTURE_DIR") {
        std::fs::create_dir_all(&out).unwrap();
        for (i, r) in api.iter().enumerate() {
            let file = Path::new(&out).join(format!("claude-{label}-{i}.json"));
            std::fs::write(file, &r.body).unwrap();
        }
    }
    assert!(
        api.len() >= 2,
        "{label}: {} API requests reached the mock\n{}",
        api.len(),
        context()
    );
    let first = String::from_utf8_lossy(&api[0].body).into_owned();
    assert!(
        first.contains(TRIGGER),
        "{label}: the first request is the prompt"
    );
    let last = String::from_utf8_lossy(&api[api.len() - 1].body).into_owned();
    assert!(
        last.contains(SECRET),
        "{label}: the file Claude Code read did not come back in a tool result: {last}"
    );
    assert_eq!(
        tripwire.hits.load(Ordering::SeqCst),
        0,
        "{label}: claude tried to leave the machine: {:?}",
        tripwire.first_lines.lock().unwrap()
    );

    // Every call is in the spend log, billed from the provider's usage.
    let rows = spend_rows(&gw, api.len()).await;
    for row in &rows {
        assert_eq!(row["model_group"], "claude-group", "{row}");
        assert_eq!(row["call_type"], "anthropic_messages", "{row}");
        assert_eq!(row["status"], "success", "{row}");
        assert!(row["prompt_tokens"].as_u64().unwrap() > 0, "{row}");
        assert!(row["spend"].as_f64().unwrap() > 0.0, "{row}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_on_an_anthropic_group_with_a_tool_round_trip() {
    round_trip(
        "native",
        "anthropic/claude-upstream",
        |m| format!("http://{}", m.addr),
        "/v1/messages",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_on_an_openai_group_with_a_tool_round_trip() {
    round_trip(
        "translated",
        "openai/gpt-upstream",
        MockServer::url,
        "/v1/chat/completions",
    )
    .await;
}
