//! `bench-keys`: creates (or fills) a Tollgate SQLite database with `--count` virtual keys for
//! the harness's `tollgate-keys` target, through the store crate exactly as the management API
//! writes them (`tollgate_entities`, kind `key`, id = SHA-256 hex of the plaintext, LiteLLM's
//! field names in the document).
//!
//! Plaintexts are deterministic: `<prefix><index, zero-padded to 6+ digits>`, e.g.
//! `sk-bench-000042`. Every key has a budget, a budget window and rpm/tpm/parallel limits set
//! so high that the bench never trips them, so the gateway does all the enforcement work
//! (lookup, reservation, rate windows, settle, spend log) on every request.
//!
//! stdout: one line, the plaintext of the key to send (`--pick`, default the middle one).
//! stderr: what was written and how long it took.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use serde_json::json;
use sha2::{Digest, Sha256};
use store::Store;

/// Create a SQLite database holding N virtual keys with budgets and limits.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// SQLite file (created and migrated if missing; existing keys with the same ids are
    /// replaced, others are left alone).
    #[arg(long)]
    db: String,
    /// Number of keys.
    #[arg(long, default_value_t = 100_000)]
    count: usize,
    /// Plaintext prefix; key i is `<prefix><i zero-padded>`.
    #[arg(long, default_value = "sk-bench-")]
    prefix: String,
    /// Index of the key printed on stdout (default: count / 2).
    #[arg(long)]
    pick: Option<usize>,
    /// Concurrent writers (the store's SQLite pool has 4 connections; SQLite serializes the
    /// writes themselves).
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// `max_budget` of every key (USD).
    #[arg(long, default_value_t = 1_000_000.0)]
    max_budget: f64,
    /// `budget_duration` of every key.
    #[arg(long, default_value = "30d")]
    budget_duration: String,
}

/// Zero-padding width: at least 6 digits, more if `count` needs them.
fn width(count: usize) -> usize {
    count.saturating_sub(1).to_string().len().max(6)
}

fn plaintext(prefix: &str, i: usize, width: usize) -> String {
    format!("{prefix}{i:0width$}")
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Unix ms as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), as the gateway writes `created_at`.
fn iso_ms(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// LiteLLM's `key_name`: `sk-...` and the last four characters.
fn key_name(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("sk-...{tail}")
}

fn key_doc(secret: &str, token: &str, i: usize, args: &Args, created: &str) -> String {
    json!({
        "token": token,
        "key_name": key_name(secret),
        "key_alias": format!("bench-{i}"),
        "models": [],
        "aliases": {},
        "expires": null,
        "max_budget": args.max_budget,
        "soft_budget": null,
        "budget_duration": args.budget_duration,
        "rpm_limit": 100_000_000u64,
        "tpm_limit": 100_000_000_000u64,
        "max_parallel_requests": 100_000u64,
        "model_max_budget": {},
        "model_rpm_limit": {},
        "model_tpm_limit": {},
        "metadata": {"bench": true},
        "tags": [],
        "team_id": null,
        "user_id": null,
        "organization_id": null,
        "budget_id": null,
        "blocked": false,
        "config": {},
        "permissions": {},
        "allowed_cache_controls": [],
        "allowed_routes": [],
        "created_at": created,
        "updated_at": created,
        "created_by": "bench-keys",
        "updated_by": "bench-keys",
    })
    .to_string()
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Arc::new(Args::parse());
    if args.count == 0 {
        eprintln!("bench-keys: --count must be at least 1");
        return ExitCode::from(2);
    }
    let pick = args.pick.unwrap_or(args.count / 2);
    if pick >= args.count {
        eprintln!(
            "bench-keys: --pick {pick} is not below --count {}",
            args.count
        );
        return ExitCode::from(2);
    }
    let started = Instant::now();
    let store = match Store::open(&args.db).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench-keys: {e}");
            return ExitCode::FAILURE;
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let created = Arc::new(iso_ms(now));
    let w = width(args.count);
    let jobs = args.jobs.clamp(1, 64);

    // Each writer takes every `jobs`-th key; put_entity is one autocommit upsert per key.
    let mut tasks = tokio::task::JoinSet::new();
    for j in 0..jobs {
        let (store, args, created) = (store.clone(), args.clone(), created.clone());
        tasks.spawn(async move {
            let mut i = j;
            while i < args.count {
                let secret = plaintext(&args.prefix, i, w);
                let token = hex(&Sha256::digest(secret.as_bytes()));
                let doc = key_doc(&secret, &token, i, &args, &created);
                store.put_entity("key", &token, &doc, now).await?;
                i += jobs;
            }
            Ok::<(), store::StoreError>(())
        });
    }
    let mut failed = None;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = Some(e.to_string()),
            Err(e) => failed = Some(format!("writer task failed: {e}")),
        }
    }
    if let Some(e) = failed {
        eprintln!("bench-keys: {e}");
        return ExitCode::FAILURE;
    }
    let loaded = match store.load_entities().await {
        Ok(rows) => rows.iter().filter(|r| r.kind == "key").count(),
        Err(e) => {
            eprintln!("bench-keys: reading back: {e}");
            return ExitCode::FAILURE;
        }
    };
    store.close().await;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "bench-keys: {} keys written to {} in {secs:.2} s ({:.0} keys/s, {jobs} writers); {loaded} key rows in the database",
        args.count,
        args.db,
        args.count as f64 / secs.max(1e-9)
    );
    if loaded < args.count {
        eprintln!("bench-keys: expected at least {} key rows", args.count);
        return ExitCode::FAILURE;
    }
    println!("{}", plaintext(&args.prefix, pick, w));
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintexts_are_padded_and_iso_dates_are_right() {
        assert_eq!(
            plaintext("sk-bench-", 42, width(100_000)),
            "sk-bench-000042"
        );
        assert_eq!(width(10_000_000), 7);
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(key_name("sk-bench-000042"), "sk-...0042");
    }
}
