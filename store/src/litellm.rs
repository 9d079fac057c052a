//! The database side of a LiteLLM import: reading a LiteLLM proxy's PostgreSQL database
//! ([`LiteLlmSource`]: each row as one JSON object, so any version of LiteLLM's Prisma schema
//! reads the same way) and writing what the import maps into Tollgate's tables in bulk —
//! entity rows with their spend, DB-stored models (`tollgate_models`), LiteLLM's daily spend
//! history and imported spend log rows (marked `imported_from = 'litellm'`).
//!
//! Every writer is idempotent: a row already holding the same values is left alone, and the
//! returned counts say how many rows changed.

use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Row;

use crate::spend::LOG_COLUMNS;
use crate::{
    placeholder, redact, values_placeholders, EntityRow, Result, SpendLog, Store, StoreError,
};

/// Rows per multi-row statement (entity upserts: 6 parameters each).
const CHUNK: usize = 500;

/// A LiteLLM proxy database, opened read-only (`default_transaction_read_only`).
#[derive(Debug, Clone)]
pub struct LiteLlmSource {
    pool: PgPool,
}

impl LiteLlmSource {
    /// Connects to `url` (`postgres://` / `postgresql://`), bounded by [`crate::CONNECT_TIMEOUT`].
    pub async fn open(url: &str) -> Result<LiteLlmSource> {
        let shown = redact(url);
        let opts: PgConnectOptions = url
            .parse()
            .map_err(|e| StoreError::Config(format!("{shown}: {e}")))?;
        let opts = opts.options([("default_transaction_read_only", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(crate::CONNECT_TIMEOUT)
            .connect_with(opts);
        let pool = match tokio::time::timeout(crate::CONNECT_TIMEOUT + Duration::from_secs(1), pool)
            .await
        {
            Ok(Ok(p)) => p,
            Ok(Err(source)) => {
                return Err(StoreError::Connect {
                    target: shown,
                    source,
                })
            }
            Err(_) => {
                return Err(StoreError::ConnectTimeout {
                    target: shown,
                    secs: crate::CONNECT_TIMEOUT.as_secs(),
                })
            }
        };
        Ok(LiteLlmSource { pool })
    }

    /// Whether the table exists (older LiteLLM versions lack some).
    pub async fn has_table(&self, table: &str) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar("SELECT CAST(to_regclass($1) AS text)")
            .bind(quoted(table))
            .fetch_one(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// `SELECT count(*)` of the table, with an optional `WHERE` clause (`$1` bound to `arg`).
    pub async fn count(&self, table: &str, filter: Option<(&str, &str)>) -> Result<i64> {
        let sql = format!(
            "SELECT count(*) FROM {}{}",
            quoted(table),
            where_sql(filter)
        );
        let mut q = sqlx::query_scalar::<_, i64>(&sql);
        if let Some((_, arg)) = filter {
            q = q.bind(arg.to_string());
        }
        Ok(q.fetch_one(&self.pool).await?)
    }

    /// Every row of `table` as JSON object text (`row_to_json`), in `order` (a column list),
    /// handed to `f` as the database returns them. `filter` is a `WHERE` clause whose `$1` is
    /// bound to its text argument. `f` returning `Err` stops the read with that error.
    pub async fn for_each_row<E>(
        &self,
        table: &str,
        filter: Option<(&str, &str)>,
        order: &str,
        mut f: impl FnMut(String) -> std::result::Result<(), E>,
    ) -> Result<std::result::Result<(), E>> {
        let sql = format!(
            "SELECT CAST(row_to_json(t) AS text) FROM {} t{} ORDER BY {order}",
            quoted(table),
            where_sql(filter)
        );
        let mut q = sqlx::query(&sql);
        if let Some((_, arg)) = filter {
            q = q.bind(arg.to_string());
        }
        let mut rows = q.fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            let text: String = row.try_get(0)?;
            if let Err(e) = f(text) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }

    /// One page of rows as JSON object text: `WHERE` `filter` (text arguments bound to `$1`,
    /// `$2`, …), in `order`, at most `limit` rows. For keyset paging through large tables.
    pub async fn page(
        &self,
        table: &str,
        filter: &str,
        args: &[String],
        order: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT CAST(row_to_json(t) AS text) FROM {} t WHERE {filter} ORDER BY {order} LIMIT {limit}",
            quoted(table)
        );
        let mut q = sqlx::query_scalar::<_, String>(&sql);
        for a in args {
            q = q.bind(a.as_str());
        }
        Ok(q.fetch_all(&self.pool).await?)
    }

    /// Runs a query returning one text column per row (small lookups such as `LiteLLM_ModelTable`).
    pub async fn texts(&self, sql: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar::<_, String>(sql)
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn quoted(table: &str) -> String {
    format!("\"{}\"", table.replace('"', "\"\""))
}

fn where_sql(filter: Option<(&str, &str)>) -> String {
    filter
        .map(|(w, _)| format!(" WHERE {w}"))
        .unwrap_or_default()
}

/// One row of `tollgate_models`: a model stored in the database (LiteLLM's
/// `LiteLLM_ProxyModelTable`). `litellm_params` is JSON text whose string values are encrypted
/// by the caller; the store never sees credentials in clear.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    pub model_id: String,
    pub model_name: String,
    pub litellm_params: String,
    pub model_info: String,
    pub blocked: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
}

/// One row of LiteLLM's daily spend tables (`kind`: `user`, `team`, `org`, `end_user`, `tag`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DailyRow {
    pub kind: String,
    pub id: String,
    pub entity_id: Option<String>,
    pub date: String,
    pub api_key: String,
    pub model: Option<String>,
    pub model_group: Option<String>,
    pub custom_llm_provider: Option<String>,
    pub mcp_namespaced_tool_name: Option<String>,
    pub endpoint: Option<String>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub spend: f64,
    pub api_requests: i64,
    pub successful_requests: i64,
    pub failed_requests: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const DAILY_COLUMNS: &str = "kind, id, entity_id, date, api_key, model, model_group, \
    custom_llm_provider, mcp_namespaced_tool_name, endpoint, prompt_tokens, completion_tokens, \
    cache_read_input_tokens, cache_creation_input_tokens, spend, api_requests, \
    successful_requests, failed_requests, created_at, updated_at";

impl Store {
    /// Writes entity rows (document, spend, spend period) in bulk, replacing live rows and
    /// tombstones with the same `(kind, id)`; `updated_at` is set to `now_ms`. The caller
    /// passes only rows that differ from what is stored.
    pub async fn import_entities(&self, rows: &[EntityRow], now_ms: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for chunk in rows.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO tollgate_entities (kind, id, doc, spend, spend_period, updated_at, deleted)
                 VALUES {}
                 ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc, spend = excluded.spend,
                    spend_period = excluded.spend_period, updated_at = excluded.updated_at,
                    deleted = 0",
                entity_values(self.backend, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(r.kind.as_str())
                    .bind(r.id.as_str())
                    .bind(r.doc.as_str())
                    .bind(r.spend)
                    .bind(r.spend_period)
                    .bind(now_ms);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every row of `tollgate_models`, by `model_id`.
    pub async fn load_models(&self) -> Result<Vec<ModelRow>> {
        let rows = sqlx::query(
            "SELECT model_id, model_name, litellm_params, model_info, blocked, created_at,
                    updated_at, created_by, updated_by
             FROM tollgate_models ORDER BY model_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ModelRow {
                    model_id: r.try_get(0)?,
                    model_name: r.try_get(1)?,
                    litellm_params: r.try_get(2)?,
                    model_info: r.try_get(3)?,
                    blocked: r.try_get::<i64, _>(4)? != 0,
                    created_at: r.try_get(5)?,
                    updated_at: r.try_get(6)?,
                    created_by: r.try_get(7)?,
                    updated_by: r.try_get(8)?,
                })
            })
            .collect::<sqlx::Result<_>>()
            .map_err(StoreError::Db)
    }

    /// Inserts or replaces models (by `model_id`) in one transaction.
    pub async fn put_models(&self, rows: &[ModelRow]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for m in rows {
            sqlx::query(
                "INSERT INTO tollgate_models (model_id, model_name, litellm_params, model_info,
                    blocked, created_at, updated_at, created_by, updated_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (model_id) DO UPDATE SET model_name = excluded.model_name,
                    litellm_params = excluded.litellm_params, model_info = excluded.model_info,
                    blocked = excluded.blocked, created_at = excluded.created_at,
                    updated_at = excluded.updated_at, created_by = excluded.created_by,
                    updated_by = excluded.updated_by",
            )
            .bind(m.model_id.as_str())
            .bind(m.model_name.as_str())
            .bind(m.litellm_params.as_str())
            .bind(m.model_info.as_str())
            .bind(i32::from(m.blocked))
            .bind(m.created_at)
            .bind(m.updated_at)
            .bind(m.created_by.as_deref())
            .bind(m.updated_by.as_deref())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Inserts or updates LiteLLM daily spend rows; returns how many were `(new, changed)` (a
    /// row already holding the same values is not touched). With `dry_run` nothing is written
    /// and the same counts are returned.
    pub async fn import_daily(&self, rows: &[DailyRow], dry_run: bool) -> Result<(u64, u64)> {
        let (mut created, mut changed) = (0, 0);
        let mut tx = self.begin_write().await?;
        for r in rows {
            let existing = sqlx::query(&format!(
                "SELECT {DAILY_COLUMNS} FROM tollgate_litellm_daily_spend WHERE kind = $1 AND id = $2"
            ))
            .bind(r.kind.as_str())
            .bind(r.id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            match existing {
                Some(row) if &daily_from_row(&row)? == r => continue,
                Some(_) => changed += 1,
                None => created += 1,
            }
            if dry_run {
                continue;
            }
            let values = (1..=20)
                .map(|n| placeholder(self.backend, n))
                .collect::<Vec<_>>()
                .join(", ");
            sqlx::query(&format!(
                "INSERT INTO tollgate_litellm_daily_spend ({DAILY_COLUMNS}) VALUES ({values})
                 ON CONFLICT (kind, id) DO UPDATE SET entity_id = excluded.entity_id,
                    date = excluded.date, api_key = excluded.api_key, model = excluded.model,
                    model_group = excluded.model_group,
                    custom_llm_provider = excluded.custom_llm_provider,
                    mcp_namespaced_tool_name = excluded.mcp_namespaced_tool_name,
                    endpoint = excluded.endpoint, prompt_tokens = excluded.prompt_tokens,
                    completion_tokens = excluded.completion_tokens,
                    cache_read_input_tokens = excluded.cache_read_input_tokens,
                    cache_creation_input_tokens = excluded.cache_creation_input_tokens,
                    spend = excluded.spend, api_requests = excluded.api_requests,
                    successful_requests = excluded.successful_requests,
                    failed_requests = excluded.failed_requests, created_at = excluded.created_at,
                    updated_at = excluded.updated_at"
            ))
            .bind(r.kind.as_str())
            .bind(r.id.as_str())
            .bind(r.entity_id.as_deref())
            .bind(r.date.as_str())
            .bind(r.api_key.as_str())
            .bind(r.model.as_deref())
            .bind(r.model_group.as_deref())
            .bind(r.custom_llm_provider.as_deref())
            .bind(r.mcp_namespaced_tool_name.as_deref())
            .bind(r.endpoint.as_deref())
            .bind(r.prompt_tokens)
            .bind(r.completion_tokens)
            .bind(r.cache_read_input_tokens)
            .bind(r.cache_creation_input_tokens)
            .bind(r.spend)
            .bind(r.api_requests)
            .bind(r.successful_requests)
            .bind(r.failed_requests)
            .bind(r.created_at)
            .bind(r.updated_at)
            .execute(&mut *tx)
            .await?;
        }
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok((created, changed))
    }

    /// Of these spend log request ids, those already stored.
    pub async fn existing_log_ids(&self, ids: &[&str]) -> Result<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = (1..=ids.len())
            .map(|n| placeholder(self.backend, n))
            .collect::<Vec<_>>()
            .join(",");
        let sql =
            format!("SELECT request_id FROM tollgate_spend_logs WHERE request_id IN ({list})");
        let mut q = sqlx::query_scalar::<_, String>(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        Ok(q.fetch_all(&self.pool).await?)
    }

    /// Inserts spend log rows imported from LiteLLM (`imported_from = 'litellm'`); rows whose
    /// `request_id` is already stored are skipped. Returns how many were inserted.
    pub async fn import_logs(&self, logs: &[SpendLog]) -> Result<u64> {
        let mut new_ids = std::collections::HashSet::new();
        let mut tx = self.begin_write().await?;
        for chunk in logs.chunks(CHUNK / 2) {
            let sql = format!(
                "INSERT INTO tollgate_spend_logs ({LOG_COLUMNS}, imported_from) VALUES {}
                 ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
                values_placeholders(self.backend, chunk.len(), 26)
            );
            let encoded: Vec<(String, String)> = chunk
                .iter()
                .map(|l| {
                    (
                        serde_json::to_string(&l.request_tags).unwrap_or_else(|_| "[]".into()),
                        if l.metadata.is_null() {
                            "{}".to_string()
                        } else {
                            l.metadata.to_string()
                        },
                    )
                })
                .collect();
            let mut q = sqlx::query(&sql);
            for (l, (tags, meta)) in chunk.iter().zip(&encoded) {
                q = q
                    .bind(l.request_id.as_str())
                    .bind(l.call_type.as_str())
                    .bind(l.api_key.as_str())
                    .bind(l.key_alias.as_deref())
                    .bind(l.spend)
                    .bind(l.prompt_tokens)
                    .bind(l.completion_tokens)
                    .bind(l.total_tokens)
                    .bind(l.cached_tokens)
                    .bind(l.start_time)
                    .bind(l.end_time)
                    .bind(l.model.as_str())
                    .bind(l.model_group.as_str())
                    .bind(l.model_id.as_str())
                    .bind(l.custom_llm_provider.as_str())
                    .bind(l.api_base.as_str())
                    .bind(l.user.as_deref())
                    .bind(l.team_id.as_deref())
                    .bind(l.organization_id.as_deref())
                    .bind(l.end_user.as_deref())
                    .bind(l.status.as_str())
                    .bind(i32::from(l.cache_hit))
                    .bind(tags.as_str())
                    .bind(meta.as_str())
                    .bind(l.response_id.as_deref())
                    .bind("litellm");
            }
            for row in q.fetch_all(&mut *tx).await? {
                new_ids.insert(sqlx::Row::try_get::<String, _>(&row, 0)?);
            }
        }
        // Imported rows count in the daily usage tables like the gateway's own.
        crate::daily::add_logs(
            &mut tx,
            self.backend,
            logs.iter().filter(|l| new_ids.contains(&l.request_id)),
        )
        .await?;
        tx.commit().await?;
        Ok(new_ids.len() as u64)
    }
}

/// `(p1, .. p6)` rows for [`Store::import_entities`] (`deleted` is the literal 0).
fn entity_values(backend: crate::Backend, rows: usize) -> String {
    (0..rows)
        .map(|r| {
            let p = |i: usize| placeholder(backend, r * 6 + i);
            format!(
                "({}, {}, {}, {}, {}, {}, 0)",
                p(1),
                p(2),
                p(3),
                p(4),
                p(5),
                p(6)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn daily_from_row(r: &sqlx::any::AnyRow) -> sqlx::Result<DailyRow> {
    Ok(DailyRow {
        kind: r.try_get(0)?,
        id: r.try_get(1)?,
        entity_id: r.try_get(2)?,
        date: r.try_get(3)?,
        api_key: r.try_get(4)?,
        model: r.try_get(5)?,
        model_group: r.try_get(6)?,
        custom_llm_provider: r.try_get(7)?,
        mcp_namespaced_tool_name: r.try_get(8)?,
        endpoint: r.try_get(9)?,
        prompt_tokens: r.try_get(10)?,
        completion_tokens: r.try_get(11)?,
        cache_read_input_tokens: r.try_get(12)?,
        cache_creation_input_tokens: r.try_get(13)?,
        spend: r.try_get(14)?,
        api_requests: r.try_get(15)?,
        successful_requests: r.try_get(16)?,
        failed_requests: r.try_get(17)?,
        created_at: r.try_get(18)?,
        updated_at: r.try_get(19)?,
    })
}
