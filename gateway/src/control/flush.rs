//! Settling a request's spend (off the hot path, from the account stage) and writing it to the
//! database in batches: spend log rows and per-entity spend deltas go in one transaction every
//! `proxy_batch_write_at`; a failed write is kept and retried, and shutdown flushes what is left.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use store::{SpendDelta, SpendLog};

use super::enforce::Admission;
use super::{Control, Entity, Kind};
use crate::clock::now_ms_i64;

/// Held while a batch is written.
static FLUSHING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Spend waiting for the database.
#[derive(Debug, Default)]
pub struct Queue {
    /// Log rows in blocks of [`LOG_BLOCK`]: queuing a row never moves the rows already queued
    /// (one growing vector would copy them all, on the request's thread, each time it doubles).
    logs: Vec<Vec<Arc<SpendLog>>>,
    rows: usize,
    /// (entity, window start) → amount.
    deltas: HashMap<(Kind, String, i64), f64>,
    /// Rows refused because the backlog was full (reported by the writer).
    dropped: u64,
}

/// Rows kept in memory while the database is unreachable and the backlog cannot be saved to a
/// spill file either (or `spend_backlog_rows`, if larger); beyond this new rows are dropped
/// (counted, and reported in the log) — the spend counters themselves are never dropped.
const MAX_PENDING_LOGS: usize = 1_000_000;
const LOG_BLOCK: usize = 1024;

/// Called (from the writer's task) when writing spend to the database starts failing: the
/// alerting hook (`failed_tracking_spend`, `db_exceptions`), set at start when alerting is on.
pub static ON_WRITE_FAILED: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();
/// Rows that start a flush before `proxy_batch_write_at` is up: under load this bounds the
/// memory rows wait in and splits the writer's work into shorter bursts, while a batch is
/// still large enough that the per-transaction cost hardly counts.
pub const FLUSH_AT_ROWS: usize = 4 * LOG_BLOCK;

impl Queue {
    fn push_log(&mut self, log: Arc<SpendLog>) {
        match self.logs.last_mut() {
            Some(block) if block.len() < LOG_BLOCK => block.push(log),
            _ => {
                let mut block = Vec::with_capacity(LOG_BLOCK);
                block.push(log);
                self.logs.push(block);
            }
        }
        self.rows += 1;
    }

    /// Nothing to write.
    pub(super) fn is_empty(&self) -> bool {
        self.rows == 0 && self.deltas.is_empty()
    }

    /// Log rows queued.
    pub(super) fn rows(&self) -> usize {
        self.rows
    }

    /// The per-entity deltas as the store takes them.
    pub(super) fn delta_rows(&self) -> Vec<SpendDelta> {
        self.deltas
            .iter()
            .map(|((kind, id, period), amount)| SpendDelta {
                kind: kind.as_str().to_string(),
                id: id.clone(),
                amount: *amount,
                period: *period,
            })
            .collect()
    }

    /// The log rows, oldest first.
    pub(super) fn log_rows(&self) -> impl Iterator<Item = &SpendLog> {
        self.logs.iter().flatten().map(|l| &**l)
    }

    /// Takes in what `newer` queued after this batch was taken (this one failed to write).
    pub(super) fn merge(&mut self, newer: Queue) {
        self.logs.extend(newer.logs);
        self.rows += newer.rows;
        self.dropped += newer.dropped;
        for (k, v) in newer.deltas {
            *self.deltas.entry(k).or_insert(0.0) += v;
        }
    }
}

/// What one request cost and used.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spent {
    pub cost: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Control {
    /// Releases the request's reservations, charges its real cost to every entity it counted
    /// toward, counts its tokens in their windows, and queues its spend log row.
    pub fn settle(&self, adm: &mut Admission, spent: Spent, log: Option<Arc<SpendLog>>) {
        adm.settled = true;
        let now = now_ms_i64();
        let tz = self.settings.tz;
        let tokens = spent.prompt_tokens + spent.completion_tokens;
        let mut deltas: Vec<((Kind, String, i64), f64)> = Vec::new();
        for (e, reserved) in &adm.holds {
            let limits = self.entity_limits(adm, e);
            // A token budget is charged the tokens, every other budget the cost.
            let counter = e.kind == Kind::Tokens;
            let amount = if counter { tokens as f64 } else { spent.cost };
            let (after, period) =
                e.ledger
                    .settle(*reserved, amount, limits.budget_duration, now, tz);
            if tokens > 0 && !counter {
                e.window.load.add_tokens(now as u64, tokens);
            }
            self.touch(e);
            if amount > 0.0 {
                deltas.push(((e.kind, e.id.clone(), period), amount));
                if let Some(soft) = limits.soft_budget {
                    if e.ledger.soft_crossed(soft) {
                        log::warn!(
                            "soft budget crossed: {}={} spend {after:.6} >= soft_budget {soft}",
                            e.kind.label(),
                            e.id
                        );
                    }
                }
            }
        }
        let mut q = self.queue.lock().expect("spend queue lock");
        for (d, amount) in deltas {
            *q.deltas.entry(d).or_insert(0.0) += amount;
        }
        if let Some(log) = log.filter(|_| self.settings.spend_logs) {
            if q.rows >= MAX_PENDING_LOGS.max(self.settings.spill_at) {
                q.dropped += 1;
            } else {
                q.push_log(log);
                // Once per batch (a batch merged back after a failed write is past it, so a
                // failing database is retried on the interval, not in a loop).
                if q.rows == FLUSH_AT_ROWS {
                    drop(q);
                    self.flush_soon.notify_one();
                }
            }
        }
    }

    /// The limits a hold of `adm` counts against (a key's per-model ones for its model entity,
    /// read from the request's key; the model's name may hold a `/`).
    pub(super) fn entity_limits(&self, adm: &Admission, e: &Arc<Entity>) -> super::Limits {
        match (e.kind, &adm.key) {
            (Kind::KeyModel, Some(k)) => {
                e.id.split_once('/')
                    .and_then(|(_, m)| k.model_limits.get(m).cloned())
                    .unwrap_or_default()
            }
            _ => self.limits(e),
        }
    }

    /// Writes everything queued in one transaction; on failure it stays queued (merged with
    /// what arrives meanwhile) for the next attempt. Returns the number of log rows written.
    pub async fn flush(&self) -> Result<usize, store::StoreError> {
        self.flush_within(None).await
    }

    /// [`Control::flush`], abandoned (the transaction rolls back, the batch stays queued) when
    /// the database takes longer than `limit`.
    pub async fn flush_within(&self, limit: Option<Duration>) -> Result<usize, store::StoreError> {
        // One flush at a time: the final flush at shutdown waits for a periodic one still
        // writing (the process ends right after; its batch would be lost with it).
        let _one = FLUSHING.lock().await;
        let mut batch = std::mem::take(&mut *self.queue.lock().expect("spend queue lock"));
        if batch.dropped > 0 {
            log::error!(
                "spend log backlog was full (database unreachable and the backlog could not be saved to a spill file?): {} rows dropped (spend counters kept)",
                batch.dropped
            );
            batch.dropped = 0;
        }
        if batch.is_empty() {
            return Ok(0);
        }
        let deltas = batch.delta_rows();
        let store = self.store().clone();
        let started = std::time::Instant::now();
        let (logs, result) = self
            .db(async move {
                let rows: Vec<&SpendLog> = batch.log_rows().collect();
                let write = store.flush(&rows, &deltas);
                let r = match limit {
                    None => write.await,
                    Some(limit) => tokio::time::timeout(limit, write)
                        .await
                        .unwrap_or_else(|_| {
                            Err(store::StoreError::Timeout {
                                what: "writing spend".into(),
                                secs: limit.as_secs(),
                            })
                        }),
                };
                drop(rows);
                (batch, r)
            })
            .await;
        let batch = logs;
        crate::observe::services::db_write(started, &result);
        match result {
            Ok(()) => Ok(batch.rows),
            Err(e) => {
                let mut q = self.queue.lock().expect("spend queue lock");
                let newer = std::mem::take(&mut *q);
                *q = batch;
                q.merge(newer);
                Err(e)
            }
        }
    }

    /// Rows and deltas waiting for the next flush.
    pub fn pending(&self) -> (usize, usize) {
        let q = self.queue.lock().expect("spend queue lock");
        (q.rows, q.deltas.len())
    }
}

/// The background writer: flushes every `proxy_batch_write_at`, or as soon as
/// [`FLUSH_AT_ROWS`] rows are waiting, until the process ends. While the database is
/// unreachable, a backlog past `spend_backlog_rows` goes to a spill file, written (like the
/// ones found at start) once the database answers again.
pub async fn run(control: Arc<Control>) {
    let every = control.settings.flush_every;
    let mut failing = false;
    let mut spilled = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = control.flush_soon.notified() => {}
        }
        match control.flush().await {
            Ok(_) => {
                if failing {
                    failing = false;
                    log::info!("database writes recovered; spend backlog written");
                }
                if spilled {
                    spilled = !super::spill::replay(control.store(), &control.spill_dir).await;
                }
            }
            Err(e) => {
                let (logs, _) = control.pending();
                if !failing {
                    log::error!(
                        "writing spend to the database failed ({e}); {logs} rows kept in memory and retried"
                    );
                    if let Some(hook) = ON_WRITE_FAILED.get() {
                        hook(&e.to_string());
                    }
                }
                failing = true;
                if logs >= control.settings.spill_at {
                    spilled |= spill_backlog(&control);
                }
            }
        }
    }
}

/// Moves the queued spend to a spill file; whether it did.
fn spill_backlog(control: &Control) -> bool {
    match control.spill(&control.spill_dir) {
        Ok(Some((path, rows))) => {
            log::warn!(
                "database unreachable: {rows} spend log rows and the counters' changes saved to {}; written when it answers again",
                path.display()
            );
            true
        }
        Ok(None) => false,
        Err(e) => {
            log::error!(
                "database unreachable and saving the spend backlog to {} failed ({e}); it stays in memory",
                control.spill_dir.display()
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_rows_go_in_blocks_and_a_failed_batch_takes_in_newer_rows() {
        let log = |i: usize| {
            Arc::new(SpendLog {
                request_id: i.to_string(),
                ..SpendLog::default()
            })
        };
        let mut q = Queue::default();
        for i in 0..2 * LOG_BLOCK + 1 {
            q.push_log(log(i));
        }
        assert_eq!(q.rows, 2 * LOG_BLOCK + 1);
        assert_eq!(q.logs.len(), 3);
        assert!(q.logs.iter().all(|b| b.capacity() == LOG_BLOCK));
        let mut newer = Queue::default();
        newer.push_log(log(9_999));
        newer.deltas.insert((Kind::Key, "k".into(), 0), 1.5);
        q.merge(newer);
        assert_eq!(q.rows, 2 * LOG_BLOCK + 2);
        let ids: Vec<&str> = q
            .logs
            .iter()
            .flatten()
            .map(|l| l.request_id.as_str())
            .collect();
        assert_eq!(ids.first(), Some(&"0"));
        assert_eq!(ids.last(), Some(&"9999"));
        assert_eq!(q.deltas[&(Kind::Key, "k".to_string(), 0)], 1.5);
    }
}
