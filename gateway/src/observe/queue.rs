//! A sink's bounded queue and its sender task: events are queued from the account stage (a
//! short lock, never an await), sent in batches of `batch_size` or every `flush_interval` by a
//! task on the control runtime, retried with backoff, and dropped — counted — when the queue
//! is full (entries or bytes) or every retry failed. A sink that hangs only fills its own queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use conf::observe::callbacks::QueueSettings;
use pingora::connectors::http::Connector;
use tokio::sync::Notify;

use super::event::Event;
use super::http::{post, Target};

/// Attempts per batch (the first and two retries), and the pause before each retry.
const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(500);
/// One attempt's deadline.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a sink turns a batch into request bodies.
pub trait Format: Send + Sync + 'static {
    /// One body per request: most formats send a batch in one, `single` sends one per event.
    fn bodies(&self, batch: &[Arc<Event>]) -> Vec<(usize, Bytes)>;
    fn content_type(&self) -> &'static str;
}

/// One sink: its queue, its destination and its counters.
pub struct Sink {
    pub name: String,
    pub on_success: bool,
    pub on_failure: bool,
    /// Whether payloads carry prompt and completion text (off: capture is skipped).
    pub wants_text: bool,
    settings: QueueSettings,
    pending: Mutex<Pending>,
    wake: Notify,
    format: Box<dyn Format>,
    target: Target,
    headers: Vec<(String, String)>,
    /// Events dropped because the queue was full, and events whose every attempt failed.
    pub dropped: AtomicU64,
    pub failed: AtomicU64,
    pub sent: AtomicU64,
}

#[derive(Default)]
struct Pending {
    items: VecDeque<Arc<Event>>,
    bytes: usize,
}

impl Sink {
    pub fn new(
        conf: &conf::observe::callbacks::Sink,
        url: &str,
        headers: Vec<(String, String)>,
        format: Box<dyn Format>,
        wants_text: bool,
    ) -> Result<Sink, String> {
        Ok(Sink {
            name: conf.name.clone(),
            on_success: conf.on_success,
            on_failure: conf.on_failure,
            wants_text,
            settings: conf.queue,
            pending: Mutex::default(),
            wake: Notify::new(),
            format,
            target: Target::parse(url)?,
            headers,
            dropped: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            sent: AtomicU64::new(0),
        })
    }

    /// Queues an event; `false` (and counted) when the queue is full.
    pub fn push(&self, e: &Arc<Event>) -> bool {
        let size = e.approx_bytes();
        let mut p = self.pending.lock().expect("sink queue lock");
        if p.items.len() >= self.settings.max_entries || p.bytes + size > self.settings.max_bytes {
            drop(p);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            callback_failed(&self.name);
            return false;
        }
        p.items.push_back(e.clone());
        p.bytes += size;
        let full = p.items.len() >= self.settings.batch_size;
        drop(p);
        if full {
            self.wake.notify_one();
        }
        true
    }

    /// Events waiting.
    pub fn queued(&self) -> usize {
        self.pending.lock().expect("sink queue lock").items.len()
    }

    fn take(&self) -> (Vec<Arc<Event>>, bool) {
        let mut p = self.pending.lock().expect("sink queue lock");
        let n = p.items.len().min(self.settings.batch_size);
        let batch: Vec<Arc<Event>> = p.items.drain(..n).collect();
        p.bytes -= batch.iter().map(|e| e.approx_bytes()).sum::<usize>();
        let more = p.items.len() >= self.settings.batch_size;
        (batch, more)
    }

    /// The sender: waits for a full batch or the flush interval, then sends what is queued.
    pub async fn run(self: Arc<Self>, connector: Arc<Connector>) {
        let mut last_dropped = 0;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.settings.flush_interval) => {}
                _ = self.wake.notified() => {}
            }
            self.send_queued(&connector).await;
            let dropped = self.dropped.load(Ordering::Relaxed);
            if dropped > last_dropped {
                log::warn!(
                    "callback {}: {} events dropped (queue full: {} events / {} bytes at most)",
                    self.name,
                    dropped - last_dropped,
                    self.settings.max_entries,
                    self.settings.max_bytes
                );
                last_dropped = dropped;
            }
        }
    }

    /// Sends everything queued now, batch by batch.
    pub async fn send_queued(&self, connector: &Connector) {
        loop {
            let (batch, more) = self.take();
            if batch.is_empty() {
                return;
            }
            for (events, body) in self.format.bodies(&batch) {
                match self.send(connector, body).await {
                    Ok(()) => {
                        self.sent.fetch_add(events as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        self.failed.fetch_add(events as u64, Ordering::Relaxed);
                        callback_failed(&self.name);
                        log::warn!("callback {}: {events} events not delivered: {e}", self.name);
                    }
                }
            }
            if !more {
                return;
            }
        }
    }

    async fn send(&self, connector: &Connector, body: Bytes) -> Result<(), String> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(BACKOFF * 2u32.pow(attempt - 1)).await;
            }
            match post(
                connector,
                &self.target,
                &self.headers,
                self.format.content_type(),
                body.clone(),
                ATTEMPT_TIMEOUT,
            )
            .await
            {
                Ok(s) if (200..300).contains(&s) => return Ok(()),
                // The receiver refused the payload itself: sending it again will not help.
                Ok(s) if (400..500).contains(&s) && s != 408 && s != 429 => {
                    return Err(format!("HTTP {s}"))
                }
                Ok(s) => last = format!("HTTP {s}"),
                Err(e) => last = e,
            }
        }
        Err(format!("{last} (after {ATTEMPTS} attempts)"))
    }
}

/// Failed or dropped events per sink (`callback_failed`), for the metrics exposition.
#[derive(Default)]
pub struct FailureCounts(Mutex<Vec<(String, u64)>>);

impl FailureCounts {
    pub fn add(&self, sink: &str) {
        let mut v = self.0.lock().expect("failure counts lock");
        match v.iter_mut().find(|(n, _)| n == sink) {
            Some((_, c)) => *c += 1,
            None => v.push((sink.to_string(), 1)),
        }
    }

    pub fn snapshot(&self) -> Vec<(String, u64)> {
        self.0.lock().expect("failure counts lock").clone()
    }
}

static FAILURES: std::sync::OnceLock<FailureCounts> = std::sync::OnceLock::new();

/// Counts one failed or dropped callback delivery for `sink`
/// (`litellm_callback_logging_failures_metric{callback_name}`).
pub fn callback_failed(sink: &str) {
    FAILURES.get_or_init(FailureCounts::default).add(sink);
    super::callback_failed(sink, 1);
}

/// Failed or dropped deliveries per sink so far.
pub fn callback_failures() -> Vec<(String, u64)> {
    FAILURES
        .get()
        .map(FailureCounts::snapshot)
        .unwrap_or_default()
}
