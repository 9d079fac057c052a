//! E2E: spend the database does not take at shutdown is saved to a local file and written at
//! the next start — nothing lost when PostgreSQL is down during a restart. Needs
//! `DATABASE_URL` (a fresh database per test; CI sets it and the test fails if it is down).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::budgets::{chat, generate_key, key_spend};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_unwritten_at_shutdown_is_saved_and_written_at_the_next_start() {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let (url, db) = store::testing::scratch_postgres(&base)
        .await
        .expect("DATABASE_URL must point at a reachable PostgreSQL");
    let state = scratch_dir();
    // An hour between writes: nothing reaches the database before the shutdown.
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
  proxy_batch_write_at: 3600
tollgate_settings:
  database_path: {}
",
        state.join("unused.db").display()
    );
    let mut one = Gateway::start(&yaml).await;
    let key = generate_key(&one, json!({"max_budget": 100})).await;
    for _ in 0..5 {
        assert_eq!(chat(&one, &key, json!({})).await.status(), 200);
    }
    let spent = key_spend(&one, &key).await;
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
    let r = client()
        .get(two.url("/spend/logs"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap();
    let rows: Value = r.json().await.unwrap();
    let rows = rows.as_array().expect("a list of rows");
    assert_eq!(rows.len(), 5);
    let logged: f64 = rows.iter().map(|r| r["spend"].as_f64().unwrap()).sum();
    assert!((logged - spent).abs() < 1e-9, "{logged} vs {spent}");
    drop(two);
    db.drop_db().await.unwrap();
}
