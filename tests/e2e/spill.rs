//! E2E: spend the database cannot take is saved to local spill files — at shutdown, and past
//! `spend_backlog_rows` while it is down — and written once it is back, so nothing is lost when
//! PostgreSQL goes away. Needs `DATABASE_URL` (a fresh database per test; CI sets it and the
//! tests fail if it is down).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::budgets::{chat, generate_key, key_spend, settled_spend};
use crate::support::{client, scratch_dir, Gateway, MASTER_KEY};

fn spill_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("tollgate-spend-")
        })
        .collect();
    files.sort();
    files
}

/// The cost of a served request, as its `x-litellm-response-cost` header says.
fn served_cost(r: reqwest::Response) -> f64 {
    assert_eq!(r.status(), 200);
    crate::support::header(&r, "x-litellm-response-cost")
        .parse()
        .unwrap()
}

/// A scratch PostgreSQL database and a config on it: one priced mock deployment, spill files
/// in `state`, and `extra` lines under `tollgate_settings`.
async fn setup(interval_s: u32, extra: &str) -> (store::testing::ScratchDb, PathBuf, String) {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let (url, db) = store::testing::scratch_postgres(&base)
        .await
        .expect("DATABASE_URL must point at a reachable PostgreSQL");
    let state = scratch_dir();
    let yaml = format!(
        "model_list:
  - model_name: priced
    litellm_params:
      model: openai/priced
      mock_response: \"Hello\"
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
general_settings:
  master_key: {MASTER_KEY}
  database_url: \"{url}\"
  proxy_batch_write_at: {interval_s}
tollgate_settings:
  database_path: {}
{extra}",
        state.join("unused.db").display()
    );
    (db, state, yaml)
}

/// `/spend/logs` (it writes what is queued first): the rows and their total spend.
async fn logged(gw: &Gateway) -> (usize, f64) {
    let r = client()
        .get(gw.url("/spend/logs"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap();
    let rows: Value = r.json().await.unwrap();
    let rows = rows.as_array().expect("a list of rows");
    let spend = rows.iter().map(|r| r["spend"].as_f64().unwrap()).sum();
    (rows.len(), spend)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_unwritten_at_shutdown_is_saved_and_written_at_the_next_start() {
    // An hour between writes: nothing reaches the database before the shutdown.
    let (db, state, yaml) = setup(3600, "").await;
    let mut one = Gateway::start(&yaml).await;
    let key = generate_key(&one, json!({"max_budget": 100})).await;
    let mut charged = 0.0;
    for _ in 0..5 {
        charged += served_cost(chat(&one, &key, json!({})).await);
    }
    let spent = settled_spend(&one, &key, charged).await;
    assert!(spent > 0.0);

    // The database goes away, then the gateway is stopped.
    db.block_connections(true).await.unwrap();
    one.signal(libc::SIGTERM);
    let status = one
        .wait_exit(Duration::from_secs(40))
        .await
        .expect("gateway did not exit");
    assert!(status.success(), "{}", one.logs());
    let files = spill_files(&state);
    assert_eq!(
        files.len(),
        1,
        "one spill file in {}: {}",
        state.display(),
        one.logs()
    );
    assert!(one.logs().contains("5 log rows"), "{}", one.logs());

    // The database is back: the next start writes the saved spend before it loads the keys.
    db.block_connections(false).await.unwrap();
    let two = Gateway::start(&yaml).await;
    assert!(spill_files(&state).is_empty(), "{}", two.logs());
    assert!(
        (key_spend(&two, &key).await - spent).abs() < 1e-9,
        "the key's spend survived the restart"
    );
    let (rows, logged_spend) = logged(&two).await;
    assert_eq!(rows, 5);
    assert!(
        (logged_spend - spent).abs() < 1e-9,
        "{logged_spend} vs {spent}"
    );
    drop(two);
    db.drop_db().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_past_its_limit_is_saved_while_the_database_is_down() {
    let (db, state, yaml) = setup(1, "  spend_backlog_rows: 20\n").await;
    let gw = Gateway::start(&yaml).await;
    let key = generate_key(&gw, json!({"max_budget": 100})).await;
    db.block_connections(true).await.unwrap();
    // Requests are served while the database is down; past 20 queued rows they go to a file.
    let mut charged = 0.0;
    for _ in 0..30 {
        charged += served_cost(chat(&gw, &key, json!({})).await);
    }
    let spent = settled_spend(&gw, &key, charged).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while spill_files(&state).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(spill_files(&state).len(), 1, "{}", gw.logs());
    // Back: the file is written and deleted, and every row and the key's spend are there.
    db.block_connections(false).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !spill_files(&state).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(spill_files(&state).is_empty(), "{}", gw.logs());
    let (rows, logged_spend) = logged(&gw).await;
    assert_eq!(rows, 30, "{}", gw.logs());
    assert!(
        (logged_spend - spent).abs() < 1e-9,
        "{logged_spend} vs {spent}"
    );
    drop(gw);
    // The key's spend in the database (what a restart starts from) is complete too.
    let again = Gateway::start(&yaml).await;
    assert!((key_spend(&again, &key).await - spent).abs() < 1e-9);
    drop(again);
    db.drop_db().await.unwrap();
}
