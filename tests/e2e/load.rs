//! A small load generator for the reload and upgrade tests: `c` clients, half of them
//! streaming, each sending chat completions back to back until told to stop, counting every
//! answer that is not a complete 200 (status, body, or a stream without `[DONE]`) as a failure.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

/// What the clients saw.
#[derive(Default)]
pub struct Tally {
    pub ok: AtomicU64,
    pub streamed: AtomicU64,
    pub failed: AtomicU64,
    /// The first failures, for the assertion message.
    pub errors: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, what: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut e = self.errors.lock().unwrap();
        if e.len() < 10 {
            e.push(what);
        }
    }

    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    pub fn summary(&self) -> String {
        format!(
            "{} ok ({} streamed), {} failed: {:?}",
            self.ok(),
            self.streamed.load(Ordering::Relaxed),
            self.failed(),
            self.errors.lock().unwrap()
        )
    }
}

/// Running clients; [`Load::stop`] waits for every one to finish its request.
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub tally: Arc<Tally>,
}

impl Load {
    /// Starts `c` clients against `port` asking for `model` with `key`.
    pub fn start(port: u16, c: usize, model: &str, key: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(c)
            .build()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
        let tasks = (0..c)
            .map(|i| {
                let (client, url, stop, tally) =
                    (client.clone(), url.clone(), stop.clone(), tally.clone());
                let (model, key) = (model.to_string(), key.to_string());
                tokio::spawn(async move {
                    let stream = i % 2 == 1;
                    while !stop.load(Ordering::Relaxed) {
                        let body = json!({
                            "model": model,
                            "stream": stream,
                            "messages": [{"role": "user", "content": format!("client {i}")}],
                        });
                        match one(&client, &url, &key, &body, stream).await {
                            Ok(()) => {
                                tally.ok.fetch_add(1, Ordering::Relaxed);
                                if stream {
                                    tally.streamed.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Err(e) => tally.fail(e),
                        }
                    }
                })
            })
            .collect();
        Load { stop, tasks, tally }
    }

    pub async fn stop(self) -> Arc<Tally> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        self.tally
    }
}

async fn one(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: &serde_json::Value,
    stream: bool,
) -> Result<(), String> {
    let r = client
        .post(url)
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("send: {e:?}"))?;
    let status = r.status();
    let text = r.text().await.map_err(|e| format!("body: {e:?}"))?;
    if status != 200 {
        return Err(format!("{status}: {text}"));
    }
    let complete = if stream {
        text.contains("data: [DONE]")
    } else {
        text.contains("\"choices\"")
    };
    if !complete {
        return Err(format!("incomplete answer: {text}"));
    }
    Ok(())
}

/// The resident set size of process `pid`, in KiB.
pub fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
