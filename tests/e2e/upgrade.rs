//! Graceful binary upgrade: under load (c=64, half streaming), a new `tollgate --upgrade` takes
//! the listening socket from the running one (SIGQUIT), the old one drains and exits, no request
//! fails, and the spend of both processes is in the database.

use std::time::Duration;

use bench::mock::{MockConfig, MockServer};
use serde_json::Value;

use crate::load::Load;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_under_load_hands_the_listener_over_without_a_failed_request() {
    let mock = MockServer::start(MockConfig {
        chunks: 5,
        chunk_interval: Duration::from_millis(20),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let yaml = config_for(
        &mock.url(),
        "",
        "  proxy_batch_write_at: 1\ntollgate_settings:\n  grace_period_seconds: 20\n",
    );
    let mut old = Gateway::start(&yaml).await;
    let load = Load::start(old.port, 64, "test-model", MASTER_KEY);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = load.tally.ok();
    let new = old.upgrade().await;
    let status = old
        .wait_exit(Duration::from_secs(25))
        .await
        .unwrap_or_else(|| panic!("the old process did not exit\n{}", old.logs()));
    assert!(status.success(), "{status}\n{}", old.logs());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tally = load.stop().await;
    assert_eq!(
        tally.failed(),
        0,
        "{}\n--- old ---\n{}\n--- new ---\n{}",
        tally.summary(),
        old.logs(),
        new.logs()
    );
    assert!(before > 0 && tally.ok() > before, "{}", tally.summary());
    assert!(old.logs().contains("spend flushed"), "{}", old.logs());

    // Both processes' spend rows are in the (shared) database.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows: Value = client()
        .get(new.url("/spend/logs"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = rows.as_array().map_or(0, Vec::len) as u64;
    assert_eq!(rows, tally.ok(), "{}", tally.summary());
    eprintln!("upgrade under load: {}", tally.summary());
}
