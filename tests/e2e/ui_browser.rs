//! E2E: the admin UI in a real browser. Starts the mock provider and a real tollgate, then runs
//! `tests/ui/e2e.mjs` (Node, playwright-core driving Debian's Chromium headless): log in, create
//! a team and a key with a budget (its alias an HTML injection attempt, which must show as text),
//! chat with the key, see spend in Usage and the requests in Logs, block the key and see the next
//! request refused, log in with the key and see only its own usage; every page screenshotted into
//! `<target>/tmp/ui-screenshots/` (or `TOLLGATE_UI_SHOTS`). Needs `TOLLGATE_CHROMIUM` and
//! `TOLLGATE_UI_E2E_DIR` (scripts/ui.sh sets both): without them the test is skipped, except under
//! `CI=true`, where that is a failure.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bench::mock::{MockConfig, MockServer};

use crate::support::{Gateway, MASTER_KEY};

fn tools() -> Option<(String, String)> {
    match (
        std::env::var("TOLLGATE_CHROMIUM"),
        std::env::var("TOLLGATE_UI_E2E_DIR"),
    ) {
        (Ok(c), Ok(d)) => Some((c, d)),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "TOLLGATE_CHROMIUM / TOLLGATE_UI_E2E_DIR not set: under CI=true the browser test must run (source scripts/ui.sh)"
        ),
        _ => {
            eprintln!("skipped: TOLLGATE_CHROMIUM / TOLLGATE_UI_E2E_DIR not set (source scripts/ui.sh)");
            None
        }
    }
}

#[tokio::test]
async fn admin_ui_in_a_real_browser() {
    let Some((chromium, e2e_dir)) = tools() else {
        return;
    };
    let mock = MockServer::start(MockConfig {
        prompt_tokens: Some(10),
        completion_tokens: Some(5),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    // 10 prompt + 5 completion tokens at 0.001 / 0.002 USD: 0.02 per request.
    let yaml = format!(
        "model_list:
  - model_name: ui-model
    litellm_params:
      model: openai/upstream-model
      api_base: {}
      api_key: sk-upstream-secret
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
",
        mock.url()
    );
    let gw = Gateway::start(&yaml).await;
    let shots = std::env::var_os("TOLLGATE_UI_SHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots"));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/ui/e2e.mjs");
    std::fs::create_dir_all(&shots).unwrap();
    // Only this run's screenshots (a failure's are named failure-*.png).
    for f in std::fs::read_dir(&shots).unwrap().flatten() {
        if f.path().extension().is_some_and(|e| e == "png") {
            let _ = std::fs::remove_file(f.path());
        }
    }
    let log_path = shots.join("e2e-output.txt");
    let out = std::fs::File::create(&log_path).unwrap();
    let mut child = std::process::Command::new("node")
        .arg(&script)
        .env("TOLLGATE_URL", gw.url(""))
        .env("TOLLGATE_MASTER_KEY", MASTER_KEY)
        .env("TOLLGATE_MODEL", "ui-model")
        .env("TOLLGATE_CHROMIUM", chromium)
        .env("TOLLGATE_UI_E2E_DIR", e2e_dir)
        .env("TOLLGATE_UI_SHOTS", &shots)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("run node");
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "browser e2e failed ({status:?}; None = still running after 240 s):\n{output}\n--- gateway log ---\n{}",
        gw.logs()
    );
    eprintln!("{output}");
    for page in ["login", "keys", "usage", "logs", "self"] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "screenshot of {page}"
        );
    }
}
