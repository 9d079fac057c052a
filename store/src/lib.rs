//! Tollgate's database: entity documents, spend counters and spend logs in SQLite or PostgreSQL.
//!
//! The gateway keeps keys, teams, users, organizations, end users and budgets in memory and
//! persists them here as JSON documents ([`EntityRow`]); spend is counted in memory and written
//! here in batches by a background flusher ([`Store::flush`]). Nothing in this crate is on the
//! request path: it is used by the management API, at startup and by the flusher.
//!
//! One schema serves both backends through the sqlx `Any` driver. Statements use `$N`
//! placeholders, which PostgreSQL understands natively and sqlx-sqlite maps to argument `N`
//! (it binds `$NNN` parameters by number), so the same SQL text runs on both. The one exception
//! is the bulk multi-row INSERTs of [`Store::flush`], which use anonymous `?` on SQLite (see
//! `placeholder`).
//!
//! Module map: this file owns [`Store`], opening/closing and errors; [`schema`] the embedded
//! migrations; `entities` the entity documents; `spend` flushing; `daily` the daily usage tables (`daily_read` their reads); `log_indexes` the log page's indexes; `query` the spend log
//! queries; `responses` the stored Responses API responses; `batches` the owners of files and batches; [`testing`] scratch databases for tests.

mod batches;
mod daily;
mod daily_read;
mod entities;
mod litellm;
pub mod litellm_views;
mod log_indexes;
mod models;
mod query;
mod responses;
pub mod schema;
mod spend;
pub mod testing;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyConnection;
use sqlx::{AnyPool, Connection, Executor};

pub use batches::{BatchFile, BatchJob, Page};
pub use daily::Usage;
pub use daily_read::{DailyDim, DailyEntry, DailyFilter, DailyGroup, DailyOrder};
pub use entities::EntityRow;
pub use litellm::{DailyRow, LiteLlmSource};
pub use models::{ModelRow, ModelsVersion};
pub use query::{Dim, LogFilter, SpendGroup};
pub use responses::{ResponseBounds, StoredResponse};
pub use spend::{SpendDelta, SpendLog};

/// How long `open` waits for the first connection (and a pool waits for a free connection).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a SQLite connection waits for another writer before failing with "database is locked".
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;
/// Pool sizes. The store is off the request path, so a few connections are plenty.
const POSTGRES_MAX_CONNECTIONS: u32 = 8;
const SQLITE_MAX_CONNECTIONS: u32 = 4;
/// Page cache per SQLite connection (SQLite's default is 2 MiB); it only grows as it is used.
const SQLITE_CACHE_KIB: u32 = 16 * 1024;

/// Errors from the store. No message ever contains a password from the connection URL:
/// targets are shown through [`redact`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The target string could not be understood.
    #[error("invalid database target: {0}")]
    Config(String),
    /// Could not create the directory for the SQLite file.
    #[error("cannot create directory {path}: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The first connection failed.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    /// The first connection did not complete within [`CONNECT_TIMEOUT`].
    #[error("cannot connect to {target}: timed out after {secs} s")]
    ConnectTimeout { target: String, secs: u64 },
    /// Applying the embedded migrations failed.
    #[error("migrating {target} failed at {step}: {source}")]
    Migration {
        target: String,
        step: String,
        #[source]
        source: sqlx::Error,
    },
    /// An operation did not finish in time (it was abandoned; a transaction rolls back).
    #[error("{what} timed out after {secs} s")]
    Timeout { what: String, secs: u64 },
    /// Any other database error.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database: a connection pool plus which backend it talks to.
/// Cheap to clone (the pool is reference counted).
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .field("pool_size", &self.pool.size())
            .finish()
    }
}

/// A parsed `open` target.
#[derive(Debug, PartialEq)]
enum Target {
    Postgres {
        url: String,
    },
    Sqlite {
        url: String,
        /// Decoded file path (None for an in-memory database).
        path: Option<PathBuf>,
    },
}

impl Store {
    /// Open (and migrate) the database.
    ///
    /// `target` is a `postgres://` / `postgresql://` URL, or a SQLite file path (also
    /// `sqlite://path`, `sqlite:path`, and `sqlite::memory:` for a private in-memory database).
    /// The SQLite file and its parent directory are created if missing; SQLite connections use
    /// WAL mode, `synchronous=NORMAL` and a busy timeout. Embedded migrations are applied on one
    /// connection (on PostgreSQL under `pg_advisory_lock`, so replicas starting together are
    /// safe; on SQLite inside `BEGIN IMMEDIATE`). Connecting is bounded by [`CONNECT_TIMEOUT`].
    pub async fn open(target: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let parsed = parse_target(target)?;
        let shown = redact(target);
        match parsed {
            Target::Postgres { url } => {
                let mut conn = connect_one(&url, &shown).await?;
                let migrated = schema::migrate(&mut conn, Backend::Postgres).await;
                let _ = conn.close().await;
                migrated.map_err(|(step, source)| StoreError::Migration {
                    target: shown.clone(),
                    step,
                    source,
                })?;
                let pool = connect_pool(
                    AnyPoolOptions::new().max_connections(POSTGRES_MAX_CONNECTIONS),
                    &url,
                    &shown,
                )
                .await?;
                Ok(Store {
                    pool,
                    backend: Backend::Postgres,
                })
            }
            Target::Sqlite { url, path: None } => {
                // Every connection to `:memory:` is a new database, so the pool holds exactly one
                // connection forever and migrations run on it.
                let opts = AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .after_connect(|conn, _| Box::pin(sqlite_pragmas(conn, false)));
                let pool = connect_pool(opts, &url, &shown).await?;
                let store = Store {
                    pool,
                    backend: Backend::Sqlite,
                };
                let mut conn = store.pool.acquire().await?;
                schema::migrate(&mut conn, Backend::Sqlite)
                    .await
                    .map_err(|(step, source)| StoreError::Migration {
                        target: shown.clone(),
                        step,
                        source,
                    })?;
                drop(conn);
                Ok(store)
            }
            Target::Sqlite {
                url,
                path: Some(path),
            } => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
                // Switching a fresh file to WAL needs the exclusive lock, and SQLite answers
                // "database is locked" at once (no busy wait) while another process is inside
                // its migration: two processes opening one new file retry until the deadline.
                let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
                loop {
                    let mut conn = connect_one(&url, &shown).await?;
                    let migrated = match sqlite_pragmas(&mut conn, true).await {
                        Ok(()) => schema::migrate(&mut conn, Backend::Sqlite).await,
                        Err(e) => Err(("connection setup".to_string(), e)),
                    };
                    let _ = conn.close().await;
                    match migrated {
                        Err((_, e))
                            if sqlite_busy(&e) && tokio::time::Instant::now() < deadline =>
                        {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        done => {
                            done.map_err(|(step, source)| StoreError::Migration {
                                target: shown.clone(),
                                step,
                                source,
                            })?;
                            break;
                        }
                    }
                }
                let opts = AnyPoolOptions::new()
                    .max_connections(SQLITE_MAX_CONNECTIONS)
                    .after_connect(|conn, _| Box::pin(sqlite_pragmas(conn, true)));
                let pool = connect_pool(opts, &url, &shown).await?;
                Ok(Store {
                    pool,
                    backend: Backend::Sqlite,
                })
            }
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Close every connection; later calls on this store (or its clones) fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// One connection, bounded by [`CONNECT_TIMEOUT`], with the driver's own error (a pool would
/// retry a refused connection until its timeout and report only "pool timed out").
async fn connect_one(url: &str, shown: &str) -> Result<AnyConnection> {
    bounded(CONNECT_TIMEOUT, AnyConnection::connect(url), shown).await
}

async fn connect_pool(opts: AnyPoolOptions, url: &str, shown: &str) -> Result<AnyPool> {
    let opts = opts.acquire_timeout(CONNECT_TIMEOUT);
    bounded(
        CONNECT_TIMEOUT + Duration::from_secs(1),
        opts.connect(url),
        shown,
    )
    .await
}

/// A connection attempt within `limit`, its failure named by the (redacted) target.
async fn bounded<T>(
    limit: Duration,
    connect: impl std::future::Future<Output = sqlx::Result<T>>,
    shown: &str,
) -> Result<T> {
    match tokio::time::timeout(limit, connect).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(source)) => Err(StoreError::Connect {
            target: shown.to_string(),
            source,
        }),
        Err(_) => Err(StoreError::ConnectTimeout {
            target: shown.to_string(),
            secs: CONNECT_TIMEOUT.as_secs(),
        }),
    }
}

/// Per-connection SQLite settings. `journal_mode=WAL` is persistent in the file; setting it on
/// every connection is a cheap no-op once the file is in WAL mode.
async fn sqlite_pragmas(conn: &mut AnyConnection, file: bool) -> sqlx::Result<()> {
    conn.execute(format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}").as_str())
        .await?;
    if file {
        conn.execute("PRAGMA journal_mode = WAL").await?;
        conn.execute("PRAGMA synchronous = NORMAL").await?;
    }
    // A spend flush inserts thousands of rows into a table with six indexes in one
    // transaction: with SQLite's default 2 MiB page cache it spills pages to the WAL mid-way
    // and re-reads them, and its statement journal goes to a temp file. Both cost more CPU than
    // the inserts themselves.
    conn.execute(format!("PRAGMA cache_size = -{SQLITE_CACHE_KIB}").as_str())
        .await?;
    conn.execute("PRAGMA temp_store = MEMORY").await?;
    Ok(())
}

/// SQLite's SQLITE_BUSY / SQLITE_LOCKED (and their extended codes): another connection holds
/// the lock.
fn sqlite_busy(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    let primary = db
        .code()
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff);
    matches!(primary, Some(5) | Some(6)) || db.message().contains("database is locked")
}

fn parse_target(target: &str) -> Result<Target> {
    let t = target.trim();
    if t.is_empty() {
        return Err(StoreError::Config("empty database target".into()));
    }
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return Ok(Target::Postgres { url: t.to_string() });
    }
    if lower.contains("://") && !lower.starts_with("sqlite://") {
        return Err(StoreError::Config(format!(
            "unsupported scheme in {} (expected postgres://, postgresql://, sqlite: or a file path)",
            redact(t)
        )));
    }
    // `sqlite:` forms are URLs (percent-encoded, may carry `?params`); anything else is a
    // literal file path.
    let (path_part, params, is_url) = if let Some(rest) =
        strip_prefix_ci(t, "sqlite://").or_else(|| strip_prefix_ci(t, "sqlite:"))
    {
        match rest.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string()), true),
            None => (rest.to_string(), None, true),
        }
    } else {
        (t.to_string(), None, false)
    };
    let memory = path_part == ":memory:"
        || params
            .as_deref()
            .is_some_and(|q| q.split('&').any(|kv| kv == "mode=memory"));
    if path_part.is_empty() && !memory {
        return Err(StoreError::Config("empty SQLite file path".into()));
    }
    if memory {
        return Ok(Target::Sqlite {
            url: "sqlite::memory:".to_string(),
            path: None,
        });
    }
    let (encoded, decoded) = if is_url {
        (path_part.clone(), percent_decode(&path_part)?)
    } else {
        (percent_encode_path(&path_part), path_part.clone())
    };
    let mut query: Vec<String> = params
        .map(|q| {
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if !query.iter().any(|kv| kv.starts_with("mode=")) {
        query.push("mode=rwc".to_string());
    }
    Ok(Target::Sqlite {
        url: format!("sqlite://{encoded}?{}", query.join("&")),
        path: Some(PathBuf::from(decoded)),
    })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// Encode the characters sqlx-sqlite's URL parser treats specially in a file path.
fn percent_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            _ => out.push(c),
        }
    }
    out
}

fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| StoreError::Config("SQLite path is not UTF-8".into()))
}

/// The target as it may be shown in logs and errors: the password in a URL's user info and any
/// `password=` query parameter are replaced by `***`.
pub fn redact(target: &str) -> String {
    let Some(scheme_end) = target.find("://") else {
        return target.to_string();
    };
    let auth_start = scheme_end + 3;
    let rest = &target[auth_start..];
    let auth_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..auth_len];
    let mut out = String::with_capacity(target.len());
    out.push_str(&target[..auth_start]);
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..colon]);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let tail = &rest[auth_len..];
    match tail.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let parts: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            out.push_str(&parts.join("&"));
        }
        None => out.push_str(tail),
    }
    out
}

/// Placeholder for bind parameter `n` (1-based) in a bulk statement whose parameters appear in
/// bind order: `$n` on PostgreSQL, anonymous `?` on SQLite. (SQLite looks named parameters such
/// as `$n` up by a linear scan when binding, which makes a 12,000-parameter INSERT quadratic;
/// anonymous `?` are bound positionally.)
pub(crate) fn placeholder(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Postgres => format!("${n}"),
        Backend::Sqlite => "?".to_string(),
    }
}

/// Splits `items` into statements: full `max`-row chunks, then the rest in power-of-two
/// sizes (256, 128, …, 1). The SQL of a multi-row statement depends on its row count, and
/// each connection keeps its prepared statements by SQL text: with arbitrary remainders
/// SQLite parsed and planned a new statement at almost every flush (≈600k instructions for a
/// 100-row spend-log INSERT), with these at most ⌊log2 max⌋ + 2 shapes per statement are
/// prepared once per connection and reused.
pub(crate) fn statement_chunks<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = if rest.len() >= max {
            max
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

/// `(p1,p2,..),(..)` for `rows` rows of `cols` parameters, numbered from 1 in bind order.
pub(crate) fn values_placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 6);
    let mut n = 1;
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            s.push_str(&placeholder(backend, n));
            n += 1;
        }
        s.push(')');
    }
    s
}
