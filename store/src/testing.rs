//! Test support shared with the gateway's end-to-end tests: throwaway PostgreSQL databases.
//!
//! `scratch_postgres(DATABASE_URL)` creates a fresh, uniquely named database next to the one in
//! the URL and returns a URL for it plus a guard that drops it (explicitly with
//! [`ScratchDb::drop_db`], or best-effort when the guard is dropped, e.g. after a panic).
//! Not `cfg(test)` so other crates' tests can use it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::AnyConnection;
use sqlx::{Connection, Executor};

use crate::{redact, Result, StoreError, CONNECT_TIMEOUT};

/// `DATABASE_URL` if it is set and not empty. Tests that get `Some` must use PostgreSQL and
/// fail (not skip) when it is unreachable.
pub fn postgres_url_from_env() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// A scratch database created by [`scratch_postgres`]; dropping the guard drops the database
/// (best effort, `WITH (FORCE)` so open connections do not block it).
#[derive(Debug)]
pub struct ScratchDb {
    admin_url: String,
    name: String,
    dropped: bool,
}

impl ScratchDb {
    /// The database name (`tollgate_t_<random hex>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Refuse new connections and end the open ones (`blocked`), or accept them again: the
    /// database "goes down" for a test while its data stays.
    pub async fn block_connections(&self, blocked: bool) -> Result<()> {
        sqlx::any::install_default_drivers();
        let mut conn = admin_connect(&self.admin_url).await?;
        let name = &self.name;
        let mut done = conn
            .execute(format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {}", !blocked).as_str())
            .await
            .map(|_| ());
        if blocked && done.is_ok() {
            done = sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            )
            .bind(name.as_str())
            .fetch_all(&mut conn)
            .await
            .map(|_| ());
        }
        let _ = conn.close().await;
        done?;
        Ok(())
    }

    /// Drop the database now and report failure.
    pub async fn drop_db(mut self) -> Result<()> {
        self.dropped = true;
        drop_database(&self.admin_url, &self.name).await
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        self.dropped = true;
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside (or outside) an async runtime: use a private one on a thread.
        let joined = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match rt {
                Ok(rt) => rt.block_on(drop_database(&url, &name)),
                Err(e) => Err(StoreError::Config(format!(
                    "no runtime to drop {name}: {e}"
                ))),
            }
        })
        .join();
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::warn!("dropping scratch database {}: {e}", self.name),
            Err(_) => log::warn!("dropping scratch database {}: thread panicked", self.name),
        }
    }
}

/// Create a fresh database `tollgate_t_<random>` on the server of `base_url` (connecting to
/// `base_url` itself to run `CREATE DATABASE`) and return its URL and a guard that drops it.
/// Fails if the server is unreachable.
pub async fn scratch_postgres(base_url: &str) -> Result<(String, ScratchDb)> {
    sqlx::any::install_default_drivers();
    let name = unique_name();
    let url = with_database(base_url, &name)?;
    let mut conn = admin_connect(base_url).await?;
    // Identifiers cannot be bound; `name` is generated here from [a-z0-9_] only.
    let created = conn
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await;
    let _ = conn.close().await;
    created?;
    Ok((
        url,
        ScratchDb {
            admin_url: base_url.to_string(),
            name,
            dropped: false,
        },
    ))
}

async fn admin_connect(url: &str) -> Result<AnyConnection> {
    let shown = redact(url);
    match tokio::time::timeout(CONNECT_TIMEOUT, AnyConnection::connect(url)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(source)) => Err(StoreError::Connect {
            target: shown,
            source,
        }),
        Err(_) => Err(StoreError::ConnectTimeout {
            target: shown,
            secs: CONNECT_TIMEOUT.as_secs(),
        }),
    }
}

async fn drop_database(admin_url: &str, name: &str) -> Result<()> {
    sqlx::any::install_default_drivers();
    let mut conn = admin_connect(admin_url).await?;
    let dropped = conn
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await;
    let _ = conn.close().await;
    dropped?;
    Ok(())
}

fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("tollgate_t_{:016x}", h.finish())
}

/// `base_url` with its database (path) replaced by `name`, keeping user, host and `?params`.
pub fn with_database(base_url: &str, name: &str) -> Result<String> {
    let scheme_end = base_url
        .find("://")
        .ok_or_else(|| StoreError::Config(format!("not a URL: {}", redact(base_url))))?;
    let rest_start = scheme_end + 3;
    let rest = &base_url[rest_start..];
    let auth_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let after_auth = &rest[auth_len..];
    let tail_start = after_auth.find(['?', '#']).unwrap_or(after_auth.len());
    Ok(format!(
        "{}/{name}{}",
        &base_url[..rest_start + auth_len],
        &after_auth[tail_start..]
    ))
}

/// Runs one SQL statement as is (test data loading, e.g. bulk `INSERT … SELECT` of synthetic
/// rows); returns the rows affected.
pub async fn execute(store: &crate::Store, sql: &str) -> Result<u64> {
    Ok(sqlx::query(sql).execute(&store.pool).await?.rows_affected())
}

/// Empties the daily usage tables and fills them again from the spend-log rows (migration 5's
/// backfill), for spend logs a test inserted with [`execute`] rather than through
/// [`crate::Store::flush`].
pub async fn rebuild_daily(store: &crate::Store) -> Result<()> {
    let mut tx = store.pool.begin().await?;
    tx.execute("DELETE FROM tollgate_daily_spend").await?;
    tx.execute("DELETE FROM tollgate_daily_tag_spend").await?;
    // Migration 5's backfill statements: its `INSERT`s, for this backend.
    let backfill = crate::daily::STATEMENTS.iter().filter(|s| {
        crate::schema::runs_on(s, store.backend) && s.contains("INSERT INTO tollgate_daily")
    });
    for sql in backfill {
        tx.execute(*sql).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn replaces_database() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/test", "x").unwrap(),
            "postgres://u:p@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://h/test?sslmode=disable", "x").unwrap(),
            "postgres://h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h", "x").unwrap(),
            "postgres://h/x"
        );
        assert_eq!(
            with_database("postgres://h?a=b", "x").unwrap(),
            "postgres://h/x?a=b"
        );
        let n = unique_name();
        assert!(n.starts_with("tollgate_t_") && n.len() == 27, "{n}");
        assert!(n
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
    }
}
