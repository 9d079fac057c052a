//! E2E timings of every usage and logs endpoint the admin UI calls, on a database filled with
//! synthetic spend-log rows through the real spend writer (`Store::flush`, which also keeps the
//! daily tables). CI runs 20,000 rows on SQLite and PostgreSQL and asserts each endpoint's worst
//! time stays under 200 ms; the 1,000,000-row runs are `#[ignore]`d (minutes to load):
//!
//! ```text
//! cargo test -p gateway --test e2e ui_timings -- --ignored --nocapture
//! ```
//!
//! Each prints one line per endpoint with p50 and max over its runs.

use std::time::{Duration, Instant};

use serde_json::json;
use store::{SpendLog, Store};

use crate::admin_support::ok;
use crate::support::*;

const DAY_MS: i64 = 86_400_000;
const DAYS: i64 = 30;
const KEYS: usize = 500;
const TEAMS: usize = 50;
const USERS: usize = 200;
const GROUPS: [&str; 8] = [
    "gpt-4o",
    "gpt-4o-mini",
    "claude-sonnet",
    "claude-haiku",
    "gemini-pro",
    "gemini-flash",
    "llama-70b",
    "mistral-large",
];
const TAGS: [&str; 10] = [
    "prod", "dev", "batch", "chat", "agent", "eval", "ci", "eu", "us", "internal",
];

fn key_hash(k: usize) -> String {
    format!("{:064x}", k as u128 * 0x9E37_79B9_7F4A_7C15 + 1)
}

/// Loads `rows` spend logs spread over the last [`DAYS`] days: 500 keys in 50 teams and 200
/// users, each key on two of eight model groups, 5% failures, 0–2 tags each.
async fn load(store: &Store, rows: usize) {
    let now = chrono::Utc::now().timestamp_millis();
    let start = now - DAYS * DAY_MS + 60_000;
    let span = (now - start) as usize;
    let started = Instant::now();
    let mut batch = Vec::with_capacity(5_000);
    for i in 0..rows {
        // A cheap deterministic spread (no RNG dependency).
        let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
        let k = (x % KEYS as u64) as usize;
        let t = start + (i * (span / rows.max(1))) as i64;
        let group = GROUPS[(k + (x as usize >> 20) % 2) % GROUPS.len()];
        let failed = x % 20 == 0;
        let tags: Vec<String> = match x % 3 {
            0 => vec![],
            1 => vec![TAGS[k % TAGS.len()].to_string()],
            _ => vec![
                TAGS[k % TAGS.len()].to_string(),
                TAGS[(k + 3) % TAGS.len()].to_string(),
            ],
        };
        batch.push(SpendLog {
            request_id: format!("bench-{i:08}"),
            call_type: "acompletion".into(),
            api_key: key_hash(k),
            key_alias: Some(format!("key-{k}")),
            spend: if failed {
                0.0
            } else {
                0.0001 * (1 + x % 50) as f64
            },
            prompt_tokens: (100 + x % 900) as i64,
            completion_tokens: if failed { 0 } else { (20 + x % 300) as i64 },
            total_tokens: 0,
            cached_tokens: 0,
            start_time: t,
            end_time: t + 200 + (x % 2000) as i64,
            model: group.to_string(),
            model_group: group.to_string(),
            model_id: format!("dep-{group}"),
            custom_llm_provider: "openai".into(),
            api_base: "https://api.example.test/v1".into(),
            user: Some(format!("user-{}", k % USERS)),
            team_id: Some(format!("team-{}", k % TEAMS)),
            organization_id: None,
            end_user: None,
            status: if failed { "failure" } else { "success" }.into(),
            cache_hit: x % 17 == 0,
            request_tags: tags,
            metadata: json!({"status_code": if failed { 500 } else { 200 }}),
            response_id: Some(format!("chatcmpl-{i}")),
        });
        if batch.len() == 5_000 {
            store.flush(&batch, &[]).await.unwrap();
            batch.clear();
        }
    }
    store.flush(&batch, &[]).await.unwrap();
    eprintln!(
        "loaded {rows} spend-log rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Every usage and logs request the UI makes, by page.
fn endpoints() -> Vec<(&'static str, String)> {
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let first = (chrono::Utc::now() - chrono::Duration::days(DAYS - 1))
        .format("%Y-%m-%d")
        .to_string();
    let week = (chrono::Utc::now() - chrono::Duration::days(6))
        .format("%Y-%m-%d")
        .to_string();
    let k = key_hash(7);
    let range = format!("start_date={first}&end_date={today}");
    vec![
        ("usage per day (proxy)", format!("/tollgate/usage?group_by=day&{range}")),
        ("usage top keys", format!("/tollgate/usage?group_by=key&limit=10&{range}")),
        ("usage top teams", format!("/tollgate/usage?group_by=team&limit=10&{range}")),
        ("usage top users", format!("/tollgate/usage?group_by=user&limit=10&{range}")),
        ("usage top model groups", format!("/tollgate/usage?group_by=model_group&{range}")),
        ("usage top tags", format!("/tollgate/usage?group_by=tag&limit=10&{range}")),
        ("usage per day, one key", format!("/tollgate/usage?group_by=day&api_key={k}&{range}")),
        ("usage per day, one team", format!("/tollgate/usage?group_by=day&team_id=team-3&{range}")),
        ("usage per day, one model group", format!("/tollgate/usage?group_by=day&model_group=gpt-4o&{range}")),
        ("usage per day, one tag", format!("/tollgate/usage?group_by=day&tag=prod&{range}")),
        ("usage csv top keys", format!("/tollgate/usage?group_by=key&format=csv&{range}")),
        ("/user/daily/activity", format!("/user/daily/activity?{range}")),
        ("/team/daily/activity", format!("/team/daily/activity?{range}")),
        ("/tag/daily/activity", format!("/tag/daily/activity?{range}")),
        ("/team/daily/activity/aggregated", format!("/team/daily/activity/aggregated?{range}")),
        ("logs newest", "/tollgate/logs?limit=50".to_string()),
        ("logs by key", format!("/tollgate/logs?api_key={k}&limit=50")),
        ("logs by team", "/tollgate/logs?team_id=team-9&limit=50".to_string()),
        ("logs by model", "/tollgate/logs?model=claude-haiku&limit=50".to_string()),
        ("logs failures", "/tollgate/logs?status=failure&limit=50".to_string()),
        ("logs by key + failures", format!("/tollgate/logs?api_key={k}&status=failure&limit=50")),
        ("logs time range (a week ago)", format!("/tollgate/logs?start_date={week}&end_date={week}&limit=50")),
        ("logs team + model + range", format!("/tollgate/logs?team_id=team-9&model=gpt-4o&start_date={first}&end_date={week}&limit=50")),
        ("log detail", "/tollgate/logs/bench-00000042".to_string()),
    ]
}

/// Times each endpoint `runs` times (after one warm-up); returns the worst max.
async fn time_all(gw: &Gateway, label: &str, runs: usize) -> Duration {
    let client = client();
    let mut worst = Duration::ZERO;
    for (name, path) in endpoints() {
        let get = || client.get(gw.url(&path)).bearer_auth(MASTER_KEY).send();
        let warm = get().await.unwrap();
        assert_eq!(warm.status(), 200, "{path}: {}", warm.text().await.unwrap());
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            let r = get().await.unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        let (p50, max) = (times[times.len() / 2], times[times.len() - 1]);
        worst = worst.max(max);
        eprintln!(
            "{label} {name:34} p50 {:7.1} ms  max {:7.1} ms",
            p50.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
    }
    // Keyset paging goes deep without slowing down: follow 20 pages of the unfiltered list.
    let mut path = "/tollgate/logs?limit=50".to_string();
    let t = Instant::now();
    for _ in 0..20 {
        let page = ok(client
            .get(gw.url(&path))
            .bearer_auth(MASTER_KEY)
            .send()
            .await
            .unwrap())
        .await;
        let cursor = page["next_cursor"].as_str().unwrap().to_string();
        path = format!("/tollgate/logs?limit=50&cursor={cursor}");
    }
    let per_page = t.elapsed() / 20;
    worst = worst.max(per_page);
    eprintln!(
        "{label} {:34} mean {:7.1} ms",
        "logs next page (x20)",
        per_page.as_secs_f64() * 1e3
    );
    worst
}

fn config(db: &str) -> String {
    format!(
        "model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      mock_response: hi
general_settings:
  master_key: {MASTER_KEY}
{db}"
    )
}

async fn sqlite_run(rows: usize, runs: usize) -> Duration {
    let dir = scratch_dir();
    let path = dir.join("bench.db");
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    load(&store, rows).await;
    store.close().await;
    let gw = Gateway::start(&config(&format!(
        "tollgate_settings:\n  database_path: {}\n",
        path.display()
    )))
    .await;
    time_all(&gw, &format!("sqlite {rows}"), runs).await
}

async fn postgres_run(rows: usize, runs: usize) -> Duration {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let (url, db) = store::testing::scratch_postgres(&base)
        .await
        .expect("DATABASE_URL must point at a reachable PostgreSQL");
    let store = Store::open(&url).await.unwrap();
    load(&store, rows).await;
    // Fresh statistics, as autovacuum would have after a bulk load.
    store.close().await;
    let gw = Gateway::start(&config(&format!("  database_url: \"{url}\"\n"))).await;
    let worst = time_all(&gw, &format!("postgres {rows}"), runs).await;
    drop(gw);
    db.drop_db().await.unwrap();
    worst
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_timings_sqlite_small() {
    let worst = sqlite_run(20_000, 5).await;
    assert!(worst < Duration::from_millis(200), "worst {worst:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_timings_postgres_small() {
    let worst = postgres_run(20_000, 5).await;
    assert!(worst < Duration::from_millis(200), "worst {worst:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "loads 1,000,000 rows (minutes); run for the numbers"]
async fn ui_timings_sqlite_million() {
    let worst = sqlite_run(1_000_000, 11).await;
    eprintln!("sqlite 1M worst {worst:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "loads 1,000,000 rows (minutes); run for the numbers"]
async fn ui_timings_postgres_million() {
    let worst = postgres_run(1_000_000, 11).await;
    eprintln!("postgres 1M worst {worst:?}");
}
