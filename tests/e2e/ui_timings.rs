//! E2E timings of every usage and logs endpoint the admin UI calls, on a database filled with
//! synthetic spend-log rows by one bulk SQL statement (the daily tables then filled by
//! migration 5's backfill). CI runs 5,000 rows on SQLite and PostgreSQL and asserts each
//! endpoint's worst time stays under the bound; the 1,000,000-row runs are `#[ignore]`d:
//!
//! ```text
//! TOLLGATE_E2E_BIN=$CARGO_TARGET_DIR/release/tollgate \
//!   cargo test -p gateway --test e2e ui_timings -- --ignored --nocapture
//! ```
//!
//! Loading 1M rows takes minutes; `TOLLGATE_UI_TIMINGS_SQLITE=<file>` and
//! `TOLLGATE_UI_TIMINGS_POSTGRES=<url>` point the 1M runs at databases already loaded (the
//! gateway migrates them on start). Each run prints one line per endpoint with p50 and max.

use std::time::{Duration, Instant};

use store::Store;

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

/// The stored hash of synthetic key `k` (what [`load`]'s SQL writes).
fn key_hash(k: usize) -> String {
    format!("{:064x}", k + 1)
}

/// `CASE <expr> WHEN 0 THEN '<values[0]>' …`.
fn case(expr: &str, values: &[&str]) -> String {
    let arms: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("WHEN {i} THEN '{v}'"))
        .collect();
    format!("CASE {expr} {} END", arms.join(" "))
}

/// Loads `rows` spend logs spread over the last [`DAYS`] days with one SQL statement (a
/// recursive row generator; the same text on both backends but for the key's hex), then fills
/// the daily tables from them (migration 5's backfill): 500 keys in 50 teams and 200 users,
/// each key on two of eight model groups, 5% failures, 0–2 tags each.
async fn load(store: &Store, rows: usize) {
    let now = chrono::Utc::now().timestamp_millis();
    let start = now - DAYS * DAY_MS + 60_000;
    let step = (now - start) / rows.max(1) as i64;
    let hex = if store.backend() == "postgres" {
        "lpad(to_hex(k + 1), 64, '0')"
    } else {
        "printf('%064x', k + 1)"
    };
    let group = case("(k + (x / 1048576) % 2) % 8", &GROUPS);
    let (t1, t2) = (case("k % 10", &TAGS), case("(k + 3) % 10", &TAGS));
    // x: a multiplicative hash of the row number; the key from its low bits, the other
    // attributes from higher ones (independent of the key).
    let sql = format!(
        "INSERT INTO tollgate_spend_logs (request_id, call_type, api_key, key_alias, spend, \
         prompt_tokens, completion_tokens, total_tokens, cached_tokens, start_time, end_time, \
         model, model_group, model_id, custom_llm_provider, api_base, user_id, team_id, \
         organization_id, end_user, status, cache_hit, request_tags, metadata, response_id)
         WITH RECURSIVE s(i) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT i + 1 FROM s WHERE i + 1 < {rows}),
         h AS (SELECT i, (i * 2654435761) % 4294967296 AS x FROM s),
         q AS (SELECT i, x, x % {KEYS} AS k, {start} + i * {step} AS t FROM h),
         r AS (SELECT i, x, k, t, {group} AS grp, (x / 512) % 20 = 0 AS failed FROM q)
         SELECT 'bench-' || (100000000 + i), 'acompletion', {hex}, 'key-' || k,
          CASE WHEN failed THEN 0.0 ELSE 0.0001 * (1 + x % 50) END, 100 + x % 900,
          CASE WHEN failed THEN 0 ELSE 20 + x % 300 END, 0, 0, t, t + 200 + x % 2000,
          grp, grp, 'dep-' || grp, 'openai', 'https://api.example.test/v1',
          'user-' || (k % {USERS}), 'team-' || (k % {TEAMS}), NULL, NULL,
          CASE WHEN failed THEN 'failure' ELSE 'success' END,
          CASE WHEN (x / 131072) % 17 = 0 THEN 1 ELSE 0 END,
          CASE (x / 8192) % 3 WHEN 0 THEN '[]' WHEN 1 THEN '[\"' || {t1} || '\"]'
           ELSE '[\"' || {t1} || '\",\"' || {t2} || '\"]' END,
          CASE WHEN failed THEN '{{\"status_code\":500}}' ELSE '{{\"status_code\":200}}' END,
          'chatcmpl-' || i
         FROM r"
    );
    let started = Instant::now();
    let n = store::testing::execute(store, &sql).await.unwrap();
    assert_eq!(n, rows as u64);
    store::testing::rebuild_daily(store).await.unwrap();
    if store.backend() == "postgres" {
        // Fresh statistics, as autovacuum would have after a bulk load.
        store::testing::execute(store, "ANALYZE").await.unwrap();
    }
    eprintln!(
        "loaded {rows} spend-log rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Every usage and logs request the UI makes, by page, then LiteLLM's daily activity routes
/// (paged: held to the bound too; `ui` false for `/aggregated`, whose answer lists every active
/// key per day, up to 20,000 entries, so its size grows with the keys: timed, not bounded).
fn endpoints() -> Vec<(&'static str, String, bool)> {
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
        ("usage per day (proxy)", format!("/tollgate/usage?group_by=day&{range}"), true),
        ("usage top keys", format!("/tollgate/usage?group_by=key&limit=10&{range}"), true),
        ("usage top teams", format!("/tollgate/usage?group_by=team&limit=10&{range}"), true),
        ("usage top users", format!("/tollgate/usage?group_by=user&limit=10&{range}"), true),
        ("usage top model groups", format!("/tollgate/usage?group_by=model_group&{range}"), true),
        ("usage top tags", format!("/tollgate/usage?group_by=tag&limit=10&{range}"), true),
        ("usage per day, one key", format!("/tollgate/usage?group_by=day&api_key={k}&{range}"), true),
        ("usage per day, one team", format!("/tollgate/usage?group_by=day&team_id=team-3&{range}"), true),
        ("usage per day, one model group", format!("/tollgate/usage?group_by=day&model_group=gpt-4o&{range}"), true),
        ("usage per day, one tag", format!("/tollgate/usage?group_by=day&tag=prod&{range}"), true),
        ("usage csv top keys", format!("/tollgate/usage?group_by=key&format=csv&{range}"), true),
        ("/user/daily/activity", format!("/user/daily/activity?{range}"), true),
        ("/team/daily/activity", format!("/team/daily/activity?{range}"), true),
        ("/tag/daily/activity", format!("/tag/daily/activity?{range}"), true),
        ("/team/daily/activity/aggregated", format!("/team/daily/activity/aggregated?{range}"), false),
        ("/team/daily/activity, one team", format!("/team/daily/activity?team_ids=team-3&{range}"), true),
        ("logs newest", "/tollgate/logs?limit=50".to_string(), true),
        ("logs by key", format!("/tollgate/logs?api_key={k}&limit=50"), true),
        ("logs by team", "/tollgate/logs?team_id=team-9&limit=50".to_string(), true),
        ("logs by model", "/tollgate/logs?model=claude-haiku&limit=50".to_string(), true),
        ("logs failures", "/tollgate/logs?status=failure&limit=50".to_string(), true),
        ("logs by key + failures", format!("/tollgate/logs?api_key={k}&status=failure&limit=50"), true),
        ("logs time range (a week ago)", format!("/tollgate/logs?start_date={week}&end_date={week}&limit=50"), true),
        ("logs team + model + range", format!("/tollgate/logs?team_id=team-9&model=gpt-4o&start_date={first}&end_date={week}&limit=50"), true),
        ("log detail", "/tollgate/logs/bench-100000042".to_string(), true),
    ]
}

/// Times each endpoint `runs` times (after one warm-up); returns the worst max of the UI's.
async fn time_all(gw: &Gateway, label: &str, runs: usize) -> Duration {
    let client = client();
    let mut worst = Duration::ZERO;
    for (name, path, ui) in endpoints() {
        let get = || client.get(gw.url(&path)).bearer_auth(MASTER_KEY).send();
        let warm = get().await.unwrap();
        assert_eq!(warm.status(), 200, "{path}: {}", warm.text().await.unwrap());
        let runs = if ui { runs } else { 1 };
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
        if ui {
            worst = worst.max(max);
        }
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

/// A database already holding the rows, named by this environment variable (the 1M runs:
/// loading takes minutes, so it can be done once and reused); `None` when unset.
fn preloaded(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

async fn sqlite_run(rows: usize, runs: usize) -> Duration {
    let dir = scratch_dir();
    let path = match preloaded("TOLLGATE_UI_TIMINGS_SQLITE") {
        Some(p) if rows > 100_000 => std::path::PathBuf::from(p),
        _ => {
            let path = dir.join("bench.db");
            let store = Store::open(path.to_str().unwrap()).await.unwrap();
            load(&store, rows).await;
            store.close().await;
            path
        }
    };
    let gw = Gateway::start(&config(&format!(
        "tollgate_settings:\n  database_path: {}\n",
        path.display()
    )))
    .await;
    time_all(&gw, &format!("sqlite {rows}"), runs).await
}

async fn postgres_run(rows: usize, runs: usize) -> Duration {
    if let Some(url) = preloaded("TOLLGATE_UI_TIMINGS_POSTGRES").filter(|_| rows > 100_000) {
        let gw = Gateway::start(&config(&format!("  database_url: \"{url}\"\n"))).await;
        return time_all(&gw, &format!("postgres {rows}"), runs).await;
    }
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let (url, db) = store::testing::scratch_postgres(&base)
        .await
        .expect("DATABASE_URL must point at a reachable PostgreSQL");
    let store = Store::open(&url).await.unwrap();
    load(&store, rows).await;
    store.close().await;
    let gw = Gateway::start(&config(&format!("  database_url: \"{url}\"\n"))).await;
    let worst = time_all(&gw, &format!("postgres {rows}"), runs).await;
    drop(gw);
    db.drop_db().await.unwrap();
    worst
}

/// The bound of the CI runs: 200 ms for an optimized gateway; an unoptimized (debug) build,
/// SQLite included (compiled at -O0), is several times slower, so it gets 1 s.
fn bound() -> Duration {
    let optimized = !cfg!(debug_assertions) || std::env::var("TOLLGATE_E2E_BIN").is_ok();
    Duration::from_millis(if optimized { 200 } else { 1000 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_timings_sqlite_small() {
    let worst = sqlite_run(5_000, 3).await;
    assert!(worst < bound(), "worst {worst:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_timings_postgres_small() {
    let worst = postgres_run(5_000, 3).await;
    assert!(worst < bound(), "worst {worst:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "loads 1,000,000 rows (minutes); run for the numbers"]
async fn ui_timings_sqlite_million() {
    let worst = sqlite_run(1_000_000, 11).await;
    eprintln!("sqlite 1M worst {worst:?}");
    assert!(worst < bound(), "worst {worst:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "loads 1,000,000 rows (minutes); run for the numbers"]
async fn ui_timings_postgres_million() {
    let worst = postgres_run(1_000_000, 11).await;
    eprintln!("postgres 1M worst {worst:?}");
    assert!(worst < bound(), "worst {worst:?}");
}
