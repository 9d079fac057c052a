//! LiteLLM's command-line habits on the real binary: `--num_workers`, `--debug`,
//! `--detailed_debug`, `--telemetry False`; and `--check` reporting a config LiteLLM would run
//! (wrong-shaped optional blocks, dangling fallbacks) as warnings with their path.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const CONFIG: &str = "model_list:
  - model_name: m
    litellm_params: {model: openai/m, mock_response: hi}
router_settings:
  retry_policy: {num_retries: 2, retry_after: 5}
  fallbacks: [{m: [m-backup]}]
";

/// A running `tollgate` started with `args` (plus `-c`, `--host`, `--port`), its log file.
struct Proc {
    child: Child,
    log: std::path::PathBuf,
}

impl Proc {
    async fn start(args: &[&str]) -> Proc {
        let dir = scratch_dir();
        let config = dir.join("config.yaml");
        std::fs::write(&config, CONFIG).unwrap();
        let port = free_port();
        let log = dir.join("tollgate.log");
        let child = Command::new(tollgate_bin())
            .args(["-c", config.to_str().unwrap(), "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(args)
            .current_dir(&dir)
            .env_remove("TOLLGATE_LOG")
            .env_remove("LITELLM_LOG")
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut p = Proc { child, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = format!("http://127.0.0.1:{port}/health/readiness");
        loop {
            assert!(p.child.try_wait().unwrap().is_none(), "{}", p.logs());
            if let Ok(r) = client().get(&url).send().await {
                if r.status() == 200 {
                    return p;
                }
            }
            assert!(Instant::now() < deadline, "not live: {}", p.logs());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Threads of the proxy service (Pingora names them after the service).
    /// Threads named after the process (the proxy workers and the main thread): the fewest
    /// seen over a second, since a short-lived helper thread (started unnamed by a library
    /// while the machine is loaded) also carries the process's name while it runs.
    fn proxy_threads(&self) -> usize {
        (0..10)
            .map(|i| {
                if i > 0 {
                    std::thread::sleep(Duration::from_millis(100));
                }
                std::fs::read_dir(format!("/proc/{}/task", self.child.id()))
                    .unwrap()
                    .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
                    .filter(|name| name.trim() == "tollgate")
                    .count()
            })
            .min()
            .unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn num_workers_sets_the_proxy_threads() {
    let one = Proc::start(&["--num_workers", "1"]).await;
    let four = Proc::start(&["--num_workers", "4", "--telemetry", "False"]).await;
    assert_eq!(
        four.proxy_threads(),
        one.proxy_threads() + 3,
        "{}",
        four.logs()
    );
    assert!(four.logs().contains("proxy threads: 4 (--num_workers)"));
    let (status, _, err) = run_cli(&["--num_workers", "0", "--check"]);
    assert!(!status.success());
    assert!(err.contains("--num_workers"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_and_detailed_debug_raise_the_log_level() {
    let quiet = Proc::start(&[]).await;
    let debug = Proc::start(&["--debug"]).await;
    let detailed = Proc::start(&["--detailed_debug", "--telemetry", "False"]).await;
    let group = "DEBUG tollgate: model group m: 1 deployments";
    let route = "TRACE tollgate: deployment ";
    assert!(!quiet.logs().contains(group), "{}", quiet.logs());
    assert!(debug.logs().contains(group), "{}", debug.logs());
    assert!(!debug.logs().contains(route), "{}", debug.logs());
    assert!(detailed.logs().contains(group), "{}", detailed.logs());
    assert!(
        detailed.logs().contains("TRACE tollgate: deployment ")
            && detailed
                .logs()
                .contains(": openai/m via https://api.openai.com/v1"),
        "{}",
        detailed.logs()
    );
    assert!(detailed
        .logs()
        .contains("--telemetry is accepted for LiteLLM compatibility"));
}

#[test]
fn check_reports_what_litellm_would_run_as_warnings() {
    let dir = scratch_dir();
    let f = dir.join("c.yaml");
    std::fs::write(&f, CONFIG).unwrap();
    let (status, out, err) = run_cli(&["--check", "-c", f.to_str().unwrap()]);
    assert!(status.success(), "{err}");
    assert!(out.contains("OK"), "{out}");
    for needle in [
        "warning: router_settings.retry_policy.num_retries: unknown error class — num_retries is not an error class; put it directly under router_settings;",
        "warning: router_settings.retry_policy.retry_after: unknown error class — retry_after is not an error class;",
        "warning: router_settings.fallbacks[0].m[0]: fallback \"m-backup\" names no model group, alias or wildcard group that serves it (groups: m): it is never tried",
    ] {
        assert!(err.contains(needle), "{needle}\n{err}");
    }
    let (status, _, err) = run_cli(&["--check", "--strict", "-c", f.to_str().unwrap()]);
    assert!(!status.success());
    assert!(err.contains("(not allowed with --strict)"), "{err}");
    // `--telemetry` with no value, LiteLLM-style flags together.
    let (status, _, err) = run_cli(&[
        "--check",
        "--telemetry",
        "--debug",
        "--config",
        f.to_str().unwrap(),
    ]);
    assert!(status.success(), "{err}");
}
