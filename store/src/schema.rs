//! The embedded, versioned schema migrations and the code that applies them (`tollgate_migrations`).
//!
//! The same DDL runs on both backends: `DOUBLE PRECISION` gets REAL affinity and `BIGINT`
//! INTEGER affinity in SQLite; booleans are `INTEGER` 0/1; JSON is `TEXT`; times are `BIGINT`
//! unix milliseconds. Migrations are append-only: never edit a released one, add a new version.
//! A statement whose text starts with `-- postgres` or `-- sqlite` runs on that backend only.

use std::collections::HashSet;

use sqlx::AnyConnection;
use sqlx::{Connection, Executor};

use crate::Backend;

/// One schema version: statements applied in order, in one transaction.
#[derive(Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub statements: &'static [&'static str],
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "entities and spend logs",
    statements: &[
        "CREATE TABLE IF NOT EXISTS tollgate_entities (
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            doc TEXT NOT NULL,
            spend DOUBLE PRECISION NOT NULL DEFAULT 0,
            spend_period BIGINT NOT NULL DEFAULT 0,
            updated_at BIGINT NOT NULL DEFAULT 0,
            deleted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (kind, id)
        )",
        "CREATE INDEX IF NOT EXISTS tollgate_entities_updated_at ON tollgate_entities (updated_at)",
        "CREATE TABLE IF NOT EXISTS tollgate_spend_logs (
            request_id TEXT NOT NULL PRIMARY KEY,
            call_type TEXT NOT NULL,
            api_key TEXT NOT NULL,
            key_alias TEXT,
            spend DOUBLE PRECISION NOT NULL,
            prompt_tokens BIGINT NOT NULL,
            completion_tokens BIGINT NOT NULL,
            total_tokens BIGINT NOT NULL,
            cached_tokens BIGINT NOT NULL,
            start_time BIGINT NOT NULL,
            end_time BIGINT NOT NULL,
            model TEXT NOT NULL,
            model_group TEXT NOT NULL,
            model_id TEXT NOT NULL,
            custom_llm_provider TEXT NOT NULL,
            api_base TEXT NOT NULL,
            user_id TEXT,
            team_id TEXT,
            organization_id TEXT,
            end_user TEXT,
            status TEXT NOT NULL,
            cache_hit INTEGER NOT NULL,
            request_tags TEXT NOT NULL,
            metadata TEXT NOT NULL
        )",
        "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_start_time ON tollgate_spend_logs (start_time)",
        "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_api_key ON tollgate_spend_logs (api_key, start_time)",
        "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_team_id ON tollgate_spend_logs (team_id, start_time)",
        "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_user_id ON tollgate_spend_logs (user_id, start_time)",
        "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_end_user ON tollgate_spend_logs (end_user, start_time)",
    ],
},
    Migration {
        version: 2,
        name: "spend log response ids",
        statements: &[
            "ALTER TABLE tollgate_spend_logs ADD COLUMN response_id TEXT",
            "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_response_id ON tollgate_spend_logs (response_id)",
        ],
    },
    Migration {
        version: 3,
        name: "stored responses",
        statements: &[
            "CREATE TABLE IF NOT EXISTS tollgate_responses (
                id TEXT NOT NULL PRIMARY KEY,
                owner TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                bytes BIGINT NOT NULL,
                response TEXT NOT NULL,
                input_items TEXT NOT NULL
            )",
            "CREATE INDEX IF NOT EXISTS tollgate_responses_created_at ON tollgate_responses (created_at)",
            "CREATE INDEX IF NOT EXISTS tollgate_responses_expires_at ON tollgate_responses (expires_at)",
        ],
    },
    Migration {
        version: 4,
        name: "LiteLLM import tables and LiteLLM-shaped views",
        statements: LITELLM_STATEMENTS,
    },
    Migration {
        version: 5,
        name: "daily usage tables (backfilled) and log filter indexes",
        statements: crate::daily::STATEMENTS,
    },
    Migration {
        version: 6,
        name: "spend log indexes in the log page's order",
        statements: crate::log_indexes::STATEMENTS,
    },
    Migration {
        version: 7,
        name: "files and batches (owners, deployments, spend marker)",
        statements: crate::batches::STATEMENTS,
    },
];

/// Migration 4: the tables, then the views (`litellm_views`).
const LITELLM_STATEMENTS: &[&str] = &{
    const T: &[&str] = crate::litellm_views::TABLES;
    const V: &[&str] = crate::litellm_views::VIEWS;
    let mut all = [""; T.len() + V.len()];
    let mut i = 0;
    while i < T.len() {
        all[i] = T[i];
        i += 1;
    }
    while i < T.len() + V.len() {
        all[i] = V[i - T.len()];
        i += 1;
    }
    all
};

/// Whether a statement runs on `backend`: unmarked ones run on both.
pub(crate) fn runs_on(sql: &str, backend: Backend) -> bool {
    match backend {
        Backend::Postgres => !sql.starts_with("-- sqlite"),
        Backend::Sqlite => !sql.starts_with("-- postgres"),
    }
}

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Key of the PostgreSQL advisory lock held while migrating: "tollgate" in ASCII.
const PG_MIGRATION_LOCK: i64 = 0x746f_6c6c_6761_7465;

const CREATE_VERSIONS: &str = "CREATE TABLE IF NOT EXISTS tollgate_migrations (
    version BIGINT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

type StepResult<T> = std::result::Result<T, (String, sqlx::Error)>;

fn step<T>(what: &str, r: sqlx::Result<T>) -> StepResult<T> {
    r.map_err(|e| (what.to_string(), e))
}

/// Apply every missing migration on `conn`.
///
/// PostgreSQL: a session-level `pg_advisory_lock` serializes concurrent openers (replicas
/// starting together); each migration is its own transaction. SQLite: everything happens in
/// one `BEGIN IMMEDIATE` transaction, which takes the write lock up front so two processes
/// opening one fresh file cannot both decide to migrate.
pub(crate) async fn migrate(conn: &mut AnyConnection, backend: Backend) -> StepResult<()> {
    match backend {
        Backend::Postgres => {
            step(
                "pg_advisory_lock",
                sqlx::query("SELECT 1 FROM pg_advisory_lock($1)")
                    .bind(PG_MIGRATION_LOCK)
                    .fetch_all(&mut *conn)
                    .await,
            )?;
            let applied = migrate_pg_locked(conn).await;
            let unlocked = step(
                "pg_advisory_unlock",
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(PG_MIGRATION_LOCK)
                    .fetch_all(&mut *conn)
                    .await,
            );
            // The caller closes this connection afterwards, which releases the lock in any case.
            applied?;
            unlocked.map(|_| ())
        }
        Backend::Sqlite => {
            let mut tx = step("BEGIN IMMEDIATE", conn.begin_with("BEGIN IMMEDIATE").await)?;
            step("tollgate_migrations", tx.execute(CREATE_VERSIONS).await)?;
            let done = applied_versions(&mut tx).await?;
            for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
                apply(&mut tx, m, backend).await?;
            }
            step("commit", tx.commit().await)
        }
    }
}

async fn migrate_pg_locked(conn: &mut AnyConnection) -> StepResult<()> {
    let backend = Backend::Postgres;
    step("tollgate_migrations", conn.execute(CREATE_VERSIONS).await)?;
    let done = applied_versions(conn).await?;
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        let mut tx = step("begin", conn.begin().await)?;
        apply(&mut tx, m, backend).await?;
        step(
            &format!("commit of migration {}", m.version),
            tx.commit().await,
        )?;
    }
    Ok(())
}

async fn applied_versions(conn: &mut AnyConnection) -> StepResult<HashSet<i64>> {
    let versions: Vec<(i64,)> = step(
        "reading tollgate_migrations",
        sqlx::query_as("SELECT version FROM tollgate_migrations")
            .fetch_all(&mut *conn)
            .await,
    )?;
    let done: HashSet<i64> = versions.into_iter().map(|(v,)| v).collect();
    if let Some(newest) = done.iter().max().filter(|v| **v > latest_version()) {
        log::warn!(
            "database schema version {newest} is newer than this build's {}; continuing",
            latest_version()
        );
    }
    Ok(done)
}

async fn apply(conn: &mut AnyConnection, m: &Migration, backend: Backend) -> StepResult<()> {
    let label = format!("migration {} ({})", m.version, m.name);
    for sql in m.statements.iter().filter(|s| runs_on(s, backend)) {
        step(&label, conn.execute(*sql).await)?;
    }
    let now = crate::entities::now_ms();
    step(
        &label,
        sqlx::query(
            "INSERT INTO tollgate_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(now)
        .execute(&mut *conn)
        .await,
    )?;
    log::info!("applied {label}");
    Ok(())
}
