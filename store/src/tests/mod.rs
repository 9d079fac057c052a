//! Behavioural tests run against every backend: SQLite in a temp file always, and PostgreSQL
//! (a fresh scratch database per test) when `DATABASE_URL` is set — then an unreachable server
//! fails the test instead of skipping it. This file holds the harness and the open/entity tests.

mod batches;
mod litellm;
mod models;
mod responses;
mod spend;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::testing::{postgres_url_from_env, scratch_postgres, ScratchDb};
use crate::{parse_target, redact, SpendLog, Store, StoreError, Target};

/// `Store::flush` with deltas only.
pub(crate) const NO_LOGS: &[SpendLog] = &[];

/// One database to run a test against.
pub(crate) struct TestDb {
    pub label: &'static str,
    pub target: String,
    guard: Guard,
}

enum Guard {
    Sqlite(PathBuf),
    Postgres(Option<ScratchDb>),
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Sqlite(dir) = self {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl TestDb {
    pub async fn open(&self) -> Store {
        Store::open(&self.target)
            .await
            .unwrap_or_else(|e| panic!("[{}] open {}: {e}", self.label, redact(&self.target)))
    }

    /// Drop the scratch database (PostgreSQL) or temp directory (SQLite).
    pub async fn finish(mut self) {
        if let Guard::Postgres(db) = &mut self.guard {
            if let Some(db) = db.take() {
                db.drop_db().await.expect("drop scratch database");
            }
        }
    }
}

fn temp_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "tollgate-store-test-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// SQLite in a fresh temp dir (the file lives in a subdirectory that does not exist yet, so
/// `open` must create it), plus PostgreSQL when `DATABASE_URL` is set.
pub(crate) async fn test_dbs() -> Vec<TestDb> {
    let dir = temp_dir();
    let file = dir.join("nested").join("tollgate.db");
    let mut dbs = vec![TestDb {
        label: "sqlite",
        target: file.display().to_string(),
        guard: Guard::Sqlite(dir),
    }];
    if let Some(base) = postgres_url_from_env() {
        let (url, db) = scratch_postgres(&base)
            .await
            .unwrap_or_else(|e| panic!("DATABASE_URL is set but unusable: {e}"));
        dbs.push(TestDb {
            label: "postgres",
            target: url,
            guard: Guard::Postgres(Some(db)),
        });
    }
    dbs
}

#[tokio::test]
async fn documents_round_trip_and_survive_reopen() {
    for db in test_dbs().await {
        let l = db.label;
        let store = db.open().await;
        assert_eq!(store.backend(), l);
        let doc = r#"{"team_id":"t1","max_budget":10.5,"models":["gpt-4o"],"alias":"ünïcode ✓"}"#;
        store.put_entity("team", "t1", doc, 1_000).await.unwrap();
        store.put_entity("key", "abc", "{}", 1_001).await.unwrap();
        let row = store.get_entity("team", "t1").await.unwrap().expect(l);
        assert_eq!(row.doc, doc, "[{l}]");
        assert_eq!(
            (row.spend, row.spend_period, row.updated_at),
            (0.0, 0, 1_000)
        );
        assert!(!row.deleted);
        assert_eq!(store.get_entity("team", "nope").await.unwrap(), None);

        // put keeps spend and spend_period.
        store
            .set_spend("team", "t1", 3.25, 500, 1_002)
            .await
            .unwrap();
        let doc2 = r#"{"team_id":"t1","max_budget":20}"#;
        store.put_entity("team", "t1", doc2, 1_003).await.unwrap();
        let row = store.get_entity("team", "t1").await.unwrap().unwrap();
        assert_eq!(
            (row.doc.as_str(), row.spend, row.spend_period),
            (doc2, 3.25, 500)
        );
        assert_eq!(row.updated_at, 1_003);
        store.close().await;

        let store = db.open().await;
        let all = store.load_entities().await.unwrap();
        let ids: Vec<(&str, &str)> = all
            .iter()
            .map(|r| (r.kind.as_str(), r.id.as_str()))
            .collect();
        assert_eq!(ids, vec![("key", "abc"), ("team", "t1")], "[{l}]");
        assert_eq!(all[1].doc, doc2);
        assert_eq!(all[1].spend, 3.25);
        store.close().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn insert_entity_refuses_live_duplicates() {
    for db in test_dbs().await {
        let l = db.label;
        let store = db.open().await;
        assert!(
            store
                .insert_entity("team", "t", r#"{"v":1}"#, 10)
                .await
                .unwrap(),
            "[{l}]"
        );
        assert!(
            !store
                .insert_entity("team", "t", r#"{"v":2}"#, 11)
                .await
                .unwrap(),
            "[{l}]"
        );
        let row = store.get_entity("team", "t").await.unwrap().unwrap();
        assert_eq!((row.doc.as_str(), row.updated_at), (r#"{"v":1}"#, 10));
        // Same id, different kind is a different entity.
        assert!(store.insert_entity("user", "t", "{}", 12).await.unwrap());

        // A tombstone can be replaced; the new entity starts with no spend.
        store.set_spend("team", "t", 9.0, 100, 13).await.unwrap();
        assert!(store.delete_entity("team", "t", 14).await.unwrap());
        assert!(
            store
                .insert_entity("team", "t", r#"{"v":3}"#, 15)
                .await
                .unwrap(),
            "[{l}]"
        );
        let row = store.get_entity("team", "t").await.unwrap().unwrap();
        assert_eq!(
            (row.doc.as_str(), row.spend, row.spend_period),
            (r#"{"v":3}"#, 0.0, 0)
        );
        assert!(!store.insert_entity("team", "t", "{}", 16).await.unwrap());

        // A row the flusher created (config-only entity) counts as existing.
        store
            .flush(
                NO_LOGS,
                &[crate::SpendDelta {
                    kind: "org".into(),
                    id: "o".into(),
                    amount: 1.0,
                    period: 0,
                }],
            )
            .await
            .unwrap();
        assert!(!store.insert_entity("org", "o", "{}", 17).await.unwrap());
        store.close().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn deletes_are_tombstones_in_the_change_feed() {
    for db in test_dbs().await {
        let l = db.label;
        let store = db.open().await;
        store
            .put_entity("key", "k1", r#"{"a":1}"#, 100)
            .await
            .unwrap();
        store
            .put_entity("key", "k2", r#"{"a":2}"#, 200)
            .await
            .unwrap();
        store.put_entity("user", "u1", "{}", 300).await.unwrap();

        let changed = store.entities_changed_since(150).await.unwrap();
        let ids: Vec<&str> = changed.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, vec!["k2", "u1"], "[{l}]");

        assert!(store.delete_entity("key", "k1", 400).await.unwrap());
        assert!(
            !store.delete_entity("key", "k1", 401).await.unwrap(),
            "[{l}] second delete"
        );
        assert!(!store.delete_entity("key", "missing", 402).await.unwrap());
        assert_eq!(store.get_entity("key", "k1").await.unwrap(), None);

        let changed = store.entities_changed_since(300).await.unwrap();
        assert_eq!(changed.len(), 1, "[{l}] {changed:?}");
        assert_eq!(
            (
                changed[0].id.as_str(),
                changed[0].deleted,
                changed[0].updated_at
            ),
            ("k1", true, 400)
        );
        assert_eq!(changed[0].doc, r#"{"a":1}"#);

        let live: Vec<String> = store
            .load_entities()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(live, vec!["k2", "u1"]);

        // Re-putting revives it, and the revival is in the feed too.
        store
            .put_entity("key", "k1", r#"{"a":3}"#, 500)
            .await
            .unwrap();
        let changed = store.entities_changed_since(400).await.unwrap();
        assert_eq!(changed.len(), 1);
        assert!(!changed[0].deleted);
        assert_eq!(store.load_entities().await.unwrap().len(), 3);
        store.close().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn concurrent_opens_of_a_fresh_database_both_succeed() {
    for db in test_dbs().await {
        let l = db.label;
        // Two openers racing on a fresh database (more PostgreSQL rounds below).
        let (a, b) = tokio::join!(Store::open(&db.target), Store::open(&db.target));
        let (a, b) = (
            a.unwrap_or_else(|e| panic!("[{l}] first open: {e}")),
            b.unwrap_or_else(|e| panic!("[{l}] second open: {e}")),
        );
        a.put_entity("team", "x", "{}", 1).await.unwrap();
        assert!(b.get_entity("team", "x").await.unwrap().is_some());
        let versions: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM tollgate_migrations ORDER BY version")
                .fetch_all(&a.pool)
                .await
                .unwrap();
        let want: Vec<(i64,)> = crate::schema::MIGRATIONS
            .iter()
            .map(|m| (m.version,))
            .collect();
        assert_eq!(versions, want, "[{l}] each migration recorded once");
        a.close().await;
        b.close().await;
        db.finish().await;
    }
    // Extra PostgreSQL rounds, four openers each, on fresh databases.
    if let Some(base) = postgres_url_from_env() {
        for _ in 0..3 {
            let (url, guard) = scratch_postgres(&base).await.unwrap();
            let opened = futures_join4(&url).await;
            for (i, s) in opened.into_iter().enumerate() {
                let s = s.unwrap_or_else(|e| panic!("[postgres] opener {i}: {e}"));
                s.close().await;
            }
            guard.drop_db().await.unwrap();
        }
    }
}

/// Another process inside a write transaction on a file not yet in WAL mode: switching to WAL
/// gets "database is locked" at once, without SQLite's busy wait, so `open` must retry until the
/// lock is released instead of failing (CI saw this when two openers raced on a fresh file).
#[tokio::test]
async fn open_waits_out_a_writer_on_a_fresh_file() {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let dir = temp_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let _guard = Guard::Sqlite(dir.clone());
    let file = dir.join("tollgate.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let mut holder = sqlx::AnyConnection::connect(&url).await.unwrap();
    holder
        .execute("CREATE TABLE held (x INTEGER)")
        .await
        .unwrap();
    holder.execute("BEGIN IMMEDIATE").await.unwrap();
    holder.execute("INSERT INTO held VALUES (1)").await.unwrap();
    let release = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        holder.execute("COMMIT").await.unwrap();
    };
    let target = file.display().to_string();
    let (opened, ()) = tokio::join!(Store::open(&target), release);
    let store = opened.unwrap_or_else(|e| panic!("open while another writer held the lock: {e}"));
    store.put_entity("team", "x", "{}", 1).await.unwrap();
    store.close().await;
}

async fn futures_join4(url: &str) -> Vec<crate::Result<Store>> {
    let (a, b, c, d) = tokio::join!(
        Store::open(url),
        Store::open(url),
        Store::open(url),
        Store::open(url)
    );
    vec![a, b, c, d]
}

#[tokio::test]
async fn connect_errors_name_the_target_without_the_password() {
    let t = std::time::Instant::now();
    let err = Store::open("postgres://tollgate:s3cr3tpw@127.0.0.1:1/db")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains("s3cr3tpw"), "{msg}");
    assert!(
        msg.contains("127.0.0.1:1") && msg.contains("tollgate:***@"),
        "{msg}"
    );
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    assert!(!format!("{err:?}").contains("s3cr3tpw"));
    assert!(t.elapsed() < std::time::Duration::from_secs(12));

    if let Some(base) = postgres_url_from_env() {
        // Wrong database on a reachable server: a clear error.
        let url = crate::testing::with_database(&base, "tollgate_no_such_db").unwrap();
        let msg = Store::open(&url).await.unwrap_err().to_string();
        assert!(msg.contains("tollgate_no_such_db"), "{msg}");
    }

    assert!(matches!(
        Store::open("  ").await,
        Err(StoreError::Config(_))
    ));
    assert!(
        matches!(Store::open("mysql://u:pw@h/db").await, Err(StoreError::Config(m)) if !m.contains("pw@"))
    );
}

#[test]
fn redaction() {
    assert_eq!(
        redact("postgres://u:pw@h:5/db?x=1"),
        "postgres://u:***@h:5/db?x=1"
    );
    assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    assert_eq!(
        redact("postgres://h/db?password=pw&a=b"),
        "postgres://h/db?password=***&a=b"
    );
    assert_eq!(redact("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
    assert_eq!(redact("/var/lib/x.db"), "/var/lib/x.db");
}

#[test]
fn target_parsing() {
    let pg = |u: &str| Target::Postgres { url: u.to_string() };
    assert_eq!(
        parse_target("postgres://u@h/db").unwrap(),
        pg("postgres://u@h/db")
    );
    assert_eq!(
        parse_target("postgresql://h/db").unwrap(),
        pg("postgresql://h/db")
    );
    let sq = |url: &str, path: &str| Target::Sqlite {
        url: url.into(),
        path: Some(path.into()),
    };
    assert_eq!(
        parse_target("/tmp/a.db").unwrap(),
        sq("sqlite:///tmp/a.db?mode=rwc", "/tmp/a.db")
    );
    assert_eq!(
        parse_target("data/a.db").unwrap(),
        sq("sqlite://data/a.db?mode=rwc", "data/a.db")
    );
    assert_eq!(
        parse_target("sqlite://data/a.db").unwrap(),
        sq("sqlite://data/a.db?mode=rwc", "data/a.db")
    );
    assert_eq!(
        parse_target("sqlite:/tmp/a%20b.db").unwrap(),
        sq("sqlite:///tmp/a%20b.db?mode=rwc", "/tmp/a b.db")
    );
    assert_eq!(
        parse_target("sqlite:a.db?mode=rw").unwrap(),
        sq("sqlite://a.db?mode=rw", "a.db")
    );
    assert_eq!(
        parse_target("/tmp/we?ird%.db").unwrap(),
        sq("sqlite:///tmp/we%3Fird%25.db?mode=rwc", "/tmp/we?ird%.db")
    );
    let mem = Target::Sqlite {
        url: "sqlite::memory:".into(),
        path: None,
    };
    assert_eq!(parse_target("sqlite::memory:").unwrap(), mem);
    assert!(parse_target("sqlite:").is_err());
}

#[tokio::test]
async fn sqlite_target_forms_and_memory() {
    let dir = temp_dir();
    let _guard = Guard::Sqlite(dir.clone());
    let odd = dir.join("we?ird %name.db");
    for target in [
        format!("sqlite://{}", dir.join("a.db").display()),
        format!("sqlite:{}", dir.join("b.db").display()),
        odd.display().to_string(),
    ] {
        let s = Store::open(&target)
            .await
            .unwrap_or_else(|e| panic!("{target}: {e}"));
        s.put_entity("k", "i", "{}", 1).await.unwrap();
        s.close().await;
    }
    assert!(odd.exists(), "literal path used as the file name");
    let journal: (String,) = {
        let s = Store::open(&odd.display().to_string()).await.unwrap();
        let r = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        s.close().await;
        r
    };
    assert_eq!(journal.0.to_ascii_lowercase(), "wal");

    let mem = Store::open("sqlite::memory:").await.unwrap();
    mem.put_entity("k", "i", "{}", 1).await.unwrap();
    for _ in 0..3 {
        assert!(mem.get_entity("k", "i").await.unwrap().is_some());
    }
    mem.close().await;
}
