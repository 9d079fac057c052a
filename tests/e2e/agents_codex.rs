//! The real OpenAI Codex CLI (`codex exec`, installed by scripts/clis.sh, path in
//! `TOLLGATE_CODEX_BIN`) against a real tollgate in front of the mock provider, over the
//! Responses API (`wire_api = "responses"`): once through an OpenAI group (the mock speaks
//! `/v1/responses`, the request passed through) and once through an Anthropic group (bridged to
//! `/v1/messages`), each with one tool-call round trip (the mock asks for Codex's
//! `exec_command` tool to `cat` a file in the scratch working dir; Codex runs it in its
//! read-only sandbox and sends the output back). Without the binary the tests are skipped,
//! except under `CI=true`, where that is a failure.
//!
//! Codex runs with a scratch `HOME` and `CODEX_HOME` holding [`CONFIG`] (the config README.md
//! shows: analytics, feedback, update checks, web search, sub-agents and plugins off, no
//! retries), and
//! every proxy variable pointing at a listener of this test (loopback excepted), which must see
//! no connection: no network beyond 127.0.0.1.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use bench::mock::{MockConfig, MockServer, MockToolCall};
use serde_json::json;

use crate::agents_claude::{spend_rows, Tripwire};
use crate::support::*;

/// What the user asks; the mock answers with the tool call while it sees this and no tool
/// result yet.
const TRIGGER: &str = "TOLLGATE-READ-NOTE";
/// In the file Codex reads: it must come back to the provider inside the tool output.
const SECRET: &str = "PAPAYA-42";
/// The mock's final answer, which `codex exec` prints.
const ANSWER: &str = "Tollgate mock: the note was read.";
/// How long one `codex exec` run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// `$CODEX_HOME/config.toml`, as README.md shows it (there with port 4000).
pub const CONFIG: &str = r#"model_provider = "tollgate"
approval_policy = "never"
sandbox_mode = "read-only"
web_search = "disabled"
check_for_update_on_startup = false

[analytics]
enabled = false

[feedback]
enabled = false

[agents]
enabled = false

[features]
plugins = false

[model_providers.tollgate]
name = "Tollgate"
base_url = "http://127.0.0.1:4000/v1"
env_key = "TOLLGATE_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
"#;

/// The command line before the model group and the prompt, as README.md shows it.
pub const COMMAND: &str = "codex exec --skip-git-repo-check -m";

/// The Codex binary, or `None` (skip) when it is not installed outside CI.
fn codex_bin() -> Option<PathBuf> {
    match std::env::var_os("TOLLGATE_CODEX_BIN") {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.exists(),
                "TOLLGATE_CODEX_BIN={} does not exist",
                p.display()
            );
            Some(p)
        }
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("TOLLGATE_CODEX_BIN is not set: under CI=true the Codex tests must run (source scripts/clis.sh)")
        }
        None => {
            eprintln!("skipped: TOLLGATE_CODEX_BIN is not set (source scripts/clis.sh)");
            None
        }
    }
}

/// One `codex exec` run's output.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `codex exec` in `dir/work` against the gateway on model group `group`, isolated as
/// the module doc says.
async fn codex(bin: &Path, gw: &Gateway, dir: &Path, group: &str, prompt: &str) -> (Run, Tripwire) {
    let home = dir.join("home");
    let codex_home = home.join(".codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    let base = gw.url("/v1");
    std::fs::write(
        codex_home.join("config.toml"),
        CONFIG.replace("http://127.0.0.1:4000/v1", &base),
    )
    .unwrap();
    let tripwire = Tripwire::start().await;
    let proxy = format!("http://{}", tripwire.addr);
    let mut args: Vec<&str> = COMMAND.split(' ').skip(1).collect();
    args.extend([group, prompt]);
    let mut cmd = std::process::Command::new(bin);
    cmd.current_dir(dir.join("work"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home)
        .env("CODEX_HOME", &codex_home)
        .env("TOLLGATE_API_KEY", MASTER_KEY)
        .env("HTTPS_PROXY", &proxy)
        .env("HTTP_PROXY", &proxy)
        .env("ALL_PROXY", &proxy)
        .env("https_proxy", &proxy)
        .env("http_proxy", &proxy)
        .env("all_proxy", &proxy)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(dir.join("codex.out")).unwrap())
        .stderr(std::fs::File::create(dir.join("codex.err")).unwrap());
    let mut child = cmd.spawn().expect("run codex");
    let deadline = std::time::Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "codex exec did not finish within {RUN_TIMEOUT:?}\n--- stderr ---\n{}\n--- gateway log ---\n{}",
                std::fs::read_to_string(dir.join("codex.err")).unwrap_or_default(),
                gw.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let run = Run {
        ok: status.success(),
        stdout: std::fs::read_to_string(dir.join("codex.out")).unwrap_or_default(),
        stderr: std::fs::read_to_string(dir.join("codex.err")).unwrap_or_default(),
    };
    (run, tripwire)
}

/// The whole scenario against one kind of deployment: `model` at `api_base` (a function of the
/// mock) serving the group `codex-group`, the mock's API requests arriving on `api_path`.
async fn round_trip(
    label: &str,
    model: &str,
    api_base: impl Fn(&MockServer) -> String,
    api_path: &str,
) {
    let Some(bin) = codex_bin() else { return };
    let dir = scratch_dir();
    std::fs::create_dir_all(dir.join("work")).unwrap();
    std::fs::write(
        dir.join("work").join("note.txt"),
        format!("The secret word is {SECRET}.\n"),
    )
    .unwrap();
    let mock = MockServer::start(MockConfig {
        content: ANSWER.into(),
        tool_call: Some(MockToolCall::new(
            "exec_command",
            json!({"cmd": "cat note.txt"}).to_string(),
        )),
        tool_call_trigger: Some(TRIGGER.into()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let yaml = format!(
        "model_list:\n  - model_name: codex-group\n    litellm_params:\n      model: {model}\n      api_base: {}\n      api_key: sk-upstream-secret\n      input_cost_per_token: 0.000003\n      output_cost_per_token: 0.000015\ngeneral_settings:\n  master_key: {MASTER_KEY}\n",
        api_base(&mock)
    );
    let gw = Gateway::start(&yaml).await;

    let prompt = format!("{TRIGGER}: read note.txt and tell me the secret word.");
    let (run, tripwire) = codex(&bin, &gw, &dir, "codex-group", &prompt).await;
    let context = || {
        format!(
            "--- codex stdout ---\n{}\n--- codex stderr ---\n{}\n--- gateway log ---\n{}",
            run.stdout,
            run.stderr,
            gw.logs()
        )
    };
    assert!(run.ok, "{label}: codex exec failed\n{}", context());
    assert!(
        run.stdout.contains(ANSWER),
        "{label}: codex did not print the mock's answer\n{}",
        context()
    );

    let api: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with(api_path))
        .collect();
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
        "{label}: the output of the command Codex ran did not come back: {last}"
    );
    // The provider's key, never the client's.
    for r in &api {
        let key = r
            .header("authorization")
            .or(r.header("x-api-key"))
            .unwrap_or_default();
        assert!(key.contains("sk-upstream-secret"), "{label}: {key}");
    }
    assert_eq!(
        tripwire.hits.load(Ordering::SeqCst),
        0,
        "{label}: codex tried to leave the machine: {:?}",
        tripwire.first_lines.lock().unwrap()
    );

    // Every call is in the spend log, billed from the provider's usage.
    let rows = spend_rows(&gw, api.len()).await;
    for row in &rows {
        assert_eq!(row["model_group"], "codex-group", "{row}");
        assert_eq!(row["call_type"], "aresponses", "{row}");
        assert_eq!(row["status"], "success", "{row}");
        assert!(row["prompt_tokens"].as_u64().unwrap() > 0, "{row}");
        assert!(row["spend"].as_f64().unwrap() > 0.0, "{row}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_on_an_openai_group_passed_through_with_a_tool_round_trip() {
    round_trip(
        "native",
        "openai/gpt-upstream",
        MockServer::url,
        "/v1/responses",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_on_an_anthropic_group_bridged_with_a_tool_round_trip() {
    round_trip(
        "bridged",
        "anthropic/claude-upstream",
        |m| format!("http://{}", m.addr),
        "/v1/messages",
    )
    .await;
}

/// README.md shows exactly the config and the command line these tests run.
#[test]
fn the_readme_shows_the_commands_the_tests_run() {
    let readme = std::fs::read_to_string(
        std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
        )
        .join("../README.md"),
    )
    .expect("README.md");
    assert!(
        readme.contains(CONFIG),
        "README.md's Codex section must hold this config.toml:\n{CONFIG}"
    );
    assert!(
        readme.contains(&format!("{COMMAND} tollgate-demo")),
        "README.md's Codex section must run `{COMMAND} tollgate-demo …`"
    );
    assert!(readme.contains("export CODEX_HOME="));
    assert!(readme.contains("TOLLGATE_API_KEY="));
}
