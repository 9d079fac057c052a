//! No silently open gateway: the master key from `LITELLM_MASTER_KEY` when the config has none
//! (LiteLLM's precedence), a loud warning at start and in `--check` when there is no key at all,
//! misspelled sections named with a suggestion, and the demo config on 127.0.0.1 only.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bench::mock::{MockConfig, MockServer};
use serde_json::json;

use crate::support::*;

fn chat() -> serde_json::Value {
    json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
}

fn no_key_config(api_base: &str) -> String {
    format!(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/up\n      api_base: {api_base}\n      api_key: sk-upstream\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litellm_master_key_from_the_environment_is_enforced() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let env_key = "sk-e2e-from-environment";
    let gw = Gateway::start_with(
        &no_key_config(&mock.url()),
        &[("LITELLM_MASTER_KEY", env_key)],
    )
    .await;
    let c = client();
    let url = gw.url("/v1/chat/completions");
    expect_error(c.post(&url).json(&chat()).send().await.unwrap(), 401).await;
    expect_error(
        c.post(&url)
            .bearer_auth("sk-something-else")
            .json(&chat())
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    // The management API is closed too.
    expect_error(
        c.post(gw.url("/key/generate"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    assert_eq!(mock.request_count(), 0);
    let r = c
        .post(&url)
        .bearer_auth(env_key)
        .json(&chat())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        gw.logs()
            .contains("auth: master key from the LITELLM_MASTER_KEY environment variable"),
        "{}",
        gw.logs()
    );
    assert!(!gw.logs().contains(env_key));

    // A key in the config wins over the variable, as in LiteLLM.
    let gw = Gateway::start_with(
        &format!(
            "{}general_settings:\n  master_key: {MASTER_KEY}\n",
            no_key_config(&mock.url())
        ),
        &[("LITELLM_MASTER_KEY", env_key)],
    )
    .await;
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(env_key)
        .json(&chat())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = post(&gw, "/v1/chat/completions", &chat()).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_without_master_key_says_so_at_start() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&no_key_config(&mock.url())).await;
    let logs = gw.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("NO MASTER KEY"))
        .unwrap_or_else(|| panic!("no warning at start:\n{logs}"));
    assert!(line.contains(" ERROR "), "{line}");
    assert!(line.contains("authentication is OFF"), "{line}");
    assert!(
        line.contains(&format!("http://127.0.0.1:{}", gw.port)),
        "{line}"
    );
    assert!(line.contains("LITELLM_MASTER_KEY"), "{line}");
    assert!(line.contains("general_settings.master_key"), "{line}");
    // And it is indeed open.
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&chat())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// `tollgate --check` with extra environment variables.
fn check(file: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(tollgate_bin())
        .arg("--check")
        .args(extra)
        .arg("-c")
        .arg(file)
        .env_remove("LITELLM_MASTER_KEY")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_says_whether_auth_is_on_and_where_the_key_comes_from() {
    let dir = scratch_dir();
    let f = dir.join("c.yaml");
    std::fs::write(&f, no_key_config("http://127.0.0.1:9")).unwrap();

    let (ok, out, err) = check(&f, &[], &[]);
    assert!(ok, "{err}");
    assert!(
        err.contains("warning: NO MASTER KEY — authentication is OFF"),
        "{err}"
    );
    assert!(err.contains("LITELLM_MASTER_KEY"), "{err}");
    assert!(
        out.trim_end()
            .ends_with("— NO MASTER KEY: authentication is off"),
        "{out}"
    );

    let (ok, out, err) = check(&f, &[], &[("LITELLM_MASTER_KEY", "sk-e2e-env-check")]);
    assert!(ok, "{err}");
    assert!(!err.contains("NO MASTER KEY"), "{err}");
    assert!(
        out.contains("— master key from the LITELLM_MASTER_KEY environment variable"),
        "{out}"
    );
    assert!(!out.contains("sk-e2e-env-check") && !err.contains("sk-e2e-env-check"));

    // A misspelled general_settings loses its master_key: named, with the fix.
    std::fs::write(
        &f,
        format!(
            "{}genral_settings:\n  master_key: sk-e2e-lost\n",
            no_key_config("http://127.0.0.1:9")
        ),
    )
    .unwrap();
    let (ok, out, err) = check(&f, &[], &[]);
    assert!(ok, "{err}");
    assert!(
        err.contains(
            "warning: genral_settings: unknown section (did you mean `general_settings`?)"
        ),
        "{err}"
    );
    assert!(out.contains("NO MASTER KEY"), "{out}");
    assert!(out.contains(", 1 warnings)"), "{out}");
    let (ok, _, err) = check(&f, &["--strict"], &[]);
    assert!(!ok);
    assert!(
        err.contains("genral_settings: unknown section (did you mean `general_settings`?)"),
        "{err}"
    );
    assert!(!err.contains("sk-e2e-lost"), "{err}");
}

#[test]
fn the_demo_config_listens_on_loopback_only() {
    let dir = scratch_dir();
    let port = free_port();
    let log = dir.join("tollgate.log");
    let mut child = Command::new(tollgate_bin())
        .args(["--port", &port.to_string()])
        .current_dir(&dir)
        .env_remove("DATABASE_URL")
        .env_remove("LITELLM_MASTER_KEY")
        .env("TOLLGATE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let logs = loop {
        let logs = std::fs::read_to_string(&log).unwrap_or_default();
        if logs.contains("listening on") || child.try_wait().unwrap().is_some() {
            break logs;
        }
        assert!(Instant::now() < deadline, "not started:\n{logs}");
        std::thread::sleep(Duration::from_millis(25));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        logs.contains(&format!("listening on http://127.0.0.1:{port}")),
        "{logs}"
    );
    assert!(!logs.contains("NO MASTER KEY"), "{logs}");
}
