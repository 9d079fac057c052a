//! The command line and configuration loading: `--check`, clear errors naming config paths,
//! `--version`, `--help`.

use crate::support::*;

#[test]
fn check_accepts_every_shipped_config() {
    let root = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("../conf");
    let mut files = vec![root.join("config.yaml")];
    for e in std::fs::read_dir(root.join("examples")).unwrap() {
        files.push(e.unwrap().path());
    }
    for f in files {
        let out = std::process::Command::new(tollgate_bin())
            .args(["--check", "-c"])
            .arg(&f)
            .envs(example_env())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
    }
}

/// Placeholder provider keys so examples that reference them resolve.
fn example_env() -> Vec<(String, String)> {
    let mut vars = Vec::new();
    let root = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("../conf/examples");
    for e in std::fs::read_dir(root).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for part in text.split("os.environ/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            vars.push((name, "sk-placeholder".to_string()));
        }
    }
    vars
}

#[test]
fn check_reports_every_error_with_its_path() {
    let dir = scratch_dir();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: anthropc/claude\n  - model_name: b\n    litellm_params:\n      model: openai/x\n      api_base: not a url\n      api_key: os.environ/TOLLGATE_E2E_UNSET_VAR\ngeneral_settings:\n  master_key: sk-secret-value-123\n  disable_spend_logs: sure\n",
    )
    .unwrap();
    let (status, _out, err) = run_cli(&["--check", "-c", bad.to_str().unwrap()]);
    assert!(!status.success());
    assert!(err.contains("model_list[0].litellm_params.model"), "{err}");
    assert!(err.contains("anthropc"), "{err}");
    assert!(
        err.contains("model_list[1].litellm_params.api_base"),
        "{err}"
    );
    assert!(err.contains("TOLLGATE_E2E_UNSET_VAR"), "{err}");
    assert!(err.contains("general_settings.disable_spend_logs"), "{err}");
    assert!(
        !err.contains("sk-secret-value-123"),
        "a secret was printed: {err}"
    );

    // The server refuses to start on it too, with the same messages.
    let (status, _, err) = run_cli(&["-c", bad.to_str().unwrap(), "--port", "1"]);
    assert!(!status.success());
    assert!(err.contains("model_list[0].litellm_params.model"), "{err}");

    let (status, _, err) = run_cli(&["--check", "-c", dir.join("missing.yaml").to_str().unwrap()]);
    assert!(!status.success());
    assert!(err.contains("missing.yaml"), "{err}");
}

#[test]
fn unknown_keys_warn_and_strict_makes_them_fatal() {
    let dir = scratch_dir();
    let f = dir.join("c.yaml");
    std::fs::write(
        &f,
        "model_list: []\ngeneral_settings:\n  master_key: sk-x\n  not_a_real_key: 1\n",
    )
    .unwrap();
    let (status, _, err) = run_cli(&["--check", "-c", f.to_str().unwrap()]);
    assert!(status.success(), "{err}");
    assert!(err.contains("general_settings.not_a_real_key"), "{err}");
    let (status, _, err) = run_cli(&["--check", "--strict", "-c", f.to_str().unwrap()]);
    assert!(!status.success());
    assert!(err.contains("general_settings.not_a_real_key"), "{err}");
}

#[test]
fn check_counts_the_deployments_a_star_entry_stands_for() {
    let dir = scratch_dir();
    let f = dir.join("c.yaml");
    std::fs::write(
        &f,
        "model_list:\n  - model_name: \"*\"\n    litellm_params: {model: \"*\", api_key: k}\n  - model_name: m\n    litellm_params: {model: openai/gpt-4o, api_key: k}\n",
    )
    .unwrap();
    let (status, out, err) = run_cli(&["--check", "-c", f.to_str().unwrap()]);
    assert!(status.success(), "{err}");
    let expanded: usize = out
        .split(", ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no expanded count in: {out}"));
    assert!(expanded > 1, "{out}");
    assert!(
        out.contains(&format!("({} deployments, {expanded} of them one per provider for `model: \"*\"` entries in 2 model groups", expanded + 1)),
        "{out}"
    );
}

#[test]
fn version_and_help() {
    let (status, out, _) = run_cli(&["--version"]);
    assert!(status.success());
    assert!(out.starts_with("tollgate "), "{out}");
    let (status, out, _) = run_cli(&["--help"]);
    assert!(status.success());
    for flag in ["--config", "--port", "--host", "--check"] {
        assert!(out.contains(flag), "{flag} missing from --help");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_flag_and_env_resolution_work_at_runtime() {
    let mock = bench::mock::MockServer::start(bench::mock::MockConfig::default())
        .await
        .unwrap();
    let yaml = format!(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/up\n      api_base: {}\n      api_key: os.environ/E2E_PROVIDER_KEY\ngeneral_settings:\n  master_key: os.environ/E2E_MASTER_KEY\n",
        mock.url()
    );
    let gw = Gateway::start_with(
        &yaml,
        &[
            ("E2E_PROVIDER_KEY", "sk-from-env"),
            ("E2E_MASTER_KEY", MASTER_KEY),
        ],
    )
    .await;
    let r = post(
        &gw,
        "/v1/chat/completions",
        &serde_json::json!({"model": "m", "messages": []}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        mock.requests()[0].header("authorization"),
        Some("Bearer sk-from-env")
    );
}
