//! Test support: start the real `tollgate` binary on a free loopback port with a config file,
//! wait until it answers, and stop it (signals, exit status, captured logs).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const MASTER_KEY: &str = "sk-e2e-master";

/// A fresh scratch directory under the system temp dir.
pub fn scratch_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tollgate-e2e-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary under test: cargo's build of this profile, or `TOLLGATE_E2E_BIN` when set (the
/// timing tests run against a release build that way).
pub fn tollgate_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("TOLLGATE_E2E_BIN")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_tollgate").to_string())
    })
}

/// Runs `tollgate` with `args` to completion (for `--check`, `--version`).
pub fn run_cli(args: &[&str]) -> (ExitStatus, String, String) {
    let out = Command::new(tollgate_bin())
        .args(args)
        .env_remove("LITELLM_MASTER_KEY")
        .env_remove("LITELLM_SALT_KEY")
        .output()
        .expect("run tollgate");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running gateway process.
pub struct Gateway {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Gateway {
    /// Starts the gateway on `yaml` (written to a scratch file) and waits until it is live.
    pub async fn start(yaml: &str) -> Gateway {
        Self::start_with(yaml, &[]).await
    }

    /// Like [`Gateway::start`], with extra environment variables.
    pub async fn start_with(yaml: &str, env: &[(&str, &str)]) -> Gateway {
        let dir = scratch_dir();
        let config = dir.join("config.yaml");
        std::fs::write(&config, yaml).unwrap();
        Self::spawn(Some(&config), &dir, env).await
    }

    /// Like [`Gateway::start`], waiting up to `within` for it to be live (a large database
    /// loads for longer than the usual 20 s in a debug build).
    pub async fn start_within(yaml: &str, within: Duration) -> Gateway {
        let dir = scratch_dir();
        let config = dir.join("config.yaml");
        std::fs::write(&config, yaml).unwrap();
        Self::spawn_within(Some(&config), &dir, &[], within).await
    }

    /// Starts the gateway on its embedded default configuration.
    pub async fn start_default() -> Gateway {
        Self::spawn(None, &scratch_dir(), &[]).await
    }

    async fn spawn(config: Option<&Path>, dir: &Path, env: &[(&str, &str)]) -> Gateway {
        Self::spawn_within(config, dir, env, Duration::from_secs(20)).await
    }

    async fn spawn_within(
        config: Option<&Path>,
        dir: &Path,
        env: &[(&str, &str)],
        within: Duration,
    ) -> Gateway {
        for _ in 0..5 {
            let port = free_port();
            let log = dir.join(format!("tollgate-{port}.log"));
            let mut cmd = Command::new(tollgate_bin());
            if let Some(c) = config {
                cmd.arg("-c").arg(c);
            }
            // Each gateway keeps its SQLite file in its own scratch dir; PostgreSQL only when a
            // test passes DATABASE_URL itself.
            cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .current_dir(dir)
                .env_remove("DATABASE_URL")
                .env_remove("LITELLM_MASTER_KEY")
                .env_remove("LITELLM_SALT_KEY")
                .env("TOLLGATE_LOG", "info")
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap());
            let child = cmd.spawn().expect("spawn tollgate");
            let mut gw = Gateway { child, port, log };
            match gw.wait_live(within).await {
                Ok(()) => return gw,
                Err(e) if e.starts_with("cannot listen") || gw.logs().contains("cannot listen") => {
                    eprintln!("port {port} taken, retrying: {e}")
                }
                Err(e) => panic!("gateway did not start: {e}\n--- log ---\n{}", gw.logs()),
            }
        }
        panic!("could not find a free port for the gateway");
    }

    async fn wait_live(&mut self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let client = reqwest::Client::new();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("exited early with {status}"));
            }
            // Readiness names the process: a port another test's gateway took in the meantime
            // must not pass for ours.
            if let Ok(r) = client.get(self.url("/health/readiness")).send().await {
                if r.status() == 200 {
                    let v: serde_json::Value = r.json().await.unwrap_or_default();
                    if v["pid"].as_u64() == Some(self.child.id() as u64) {
                        return Ok(());
                    }
                    return Err(format!(
                        "cannot listen: port {} answered by pid {}",
                        self.port, v["pid"]
                    ));
                }
            }
            if Instant::now() > deadline {
                return Err("not live in time".into());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends a Unix signal (`libc::SIGTERM`, `libc::SIGINT`).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for the process to exit, polling; `None` if it is still running after `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The gateway's working directory (its `tollgate.db` lives here by default).
    pub fn dir(&self) -> &Path {
        self.log.parent().expect("log file has a directory")
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Gateway {
    /// Graceful binary upgrade: starts a second `tollgate --upgrade` on this gateway's port,
    /// config file and directory, sends this one SIGQUIT once the new one waits on the upgrade
    /// socket, and returns the new one once it answers readiness.
    pub async fn upgrade(&self) -> Gateway {
        let sock = format!("/tmp/tollgate-upgrade-{}.sock", self.port);
        let _ = std::fs::remove_file(&sock);
        let dir = self.dir().to_path_buf();
        let log = dir.join(format!("tollgate-{}-upgraded.log", self.port));
        let mut cmd = Command::new(tollgate_bin());
        let config = dir.join("config.yaml");
        if config.exists() {
            cmd.arg("-c").arg(&config);
        }
        let child = cmd
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--upgrade")
            .current_dir(&dir)
            .env_remove("DATABASE_URL")
            .env_remove("LITELLM_MASTER_KEY")
            .env_remove("LITELLM_SALT_KEY")
            .env("TOLLGATE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn tollgate --upgrade");
        let mut new = Gateway {
            child,
            port: self.port,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !Path::new(&sock).exists() {
            if let Some(status) = new.child.try_wait().unwrap() {
                panic!("tollgate --upgrade exited with {status}\n{}", new.logs());
            }
            assert!(
                Instant::now() < deadline,
                "no upgrade socket\n{}",
                new.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.signal(libc::SIGQUIT);
        let client = reqwest::Client::new();
        loop {
            if let Some(status) = new.child.try_wait().unwrap() {
                panic!("tollgate --upgrade exited with {status}\n{}", new.logs());
            }
            if let Ok(r) = client.get(new.url("/health/readiness")).send().await {
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                if v["pid"].as_u64() == Some(u64::from(new.child.id())) {
                    return new;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the new process never answered\n{}",
                new.logs()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client with no connection reuse surprises between tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A one-group config pointing at `api_base`, with the e2e master key. `extra` is appended to
/// the `litellm_params` block (indented 6 spaces) and `tail` to the document.
pub fn config_for(api_base: &str, extra: &str, tail: &str) -> String {
    format!(
        "model_list:\n  - model_name: test-model\n    litellm_params:\n      model: openai/upstream-model\n      api_base: {api_base}\n      api_key: sk-upstream-secret\n{extra}\ngeneral_settings:\n  master_key: {MASTER_KEY}\n{tail}"
    )
}

/// POSTs JSON with the master key.
pub async fn post(gw: &Gateway, path: &str, body: &serde_json::Value) -> reqwest::Response {
    client()
        .post(gw.url(path))
        .bearer_auth(MASTER_KEY)
        .json(body)
        .send()
        .await
        .expect("request failed")
}

/// Asserts an OpenAI-shaped error body and returns its `error` object.
pub async fn expect_error(resp: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    let v: serde_json::Value = resp.json().await.unwrap();
    let e = v
        .get("error")
        .unwrap_or_else(|| panic!("no error object in {v}"))
        .clone();
    for field in ["message", "type", "param", "code"] {
        assert!(e.get(field).is_some(), "error.{field} missing in {v}");
    }
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "empty message in {v}"
    );
    e
}

/// Waits, if needed, so that the next few seconds stay inside one wall-clock minute (per-minute
/// counters such as `rpm` reset at the minute).
pub async fn away_from_minute_boundary() {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        % 60.0;
    if secs > 50.0 {
        tokio::time::sleep(Duration::from_secs_f64(60.2 - secs)).await;
    }
}

/// The value of a response header (panics when missing).
pub fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_string()
}

/// Whether an error body (the `error` object, or the whole body) is a budget refusal: a used-up
/// budget (`budget_exceeded`, LiteLLM's) or a worst case that does not fit what is left
/// (`budget_insufficient`).
pub fn is_budget_refusal(v: &serde_json::Value) -> bool {
    let e = if v.get("error").is_some() {
        &v["error"]
    } else {
        v
    };
    (e["type"] == "budget_exceeded"
        && e["message"]
            .as_str()
            .is_some_and(|m| m.contains("Budget has been exceeded")))
        || (e["type"] == "invalid_request_error" && e["code"] == "budget_insufficient")
}
