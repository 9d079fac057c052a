//! Spend flushing: the [`SpendLog`] and [`SpendDelta`] records and [`Store::flush`], which writes a
//! batch of spend log rows, their daily usage sums (`daily`) and entity spend deltas in one
//! transaction.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{placeholder, statement_chunks, values_placeholders, Backend, Result, Store};

/// Spend to add to one entity's counter for the budget window starting at `period`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SpendDelta {
    pub kind: String,
    pub id: String,
    pub amount: f64,
    pub period: i64,
}

/// One request's spend log row (LiteLLM `SpendLogs`-like).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct SpendLog {
    /// Unique; a second row with the same id is ignored.
    pub request_id: String,
    /// "acompletion" | "aembedding" | "atext_completion" | "anthropic_messages" …
    pub call_type: String,
    /// SHA-256 hex of the virtual key ("" for the master key / no auth).
    pub api_key: String,
    pub key_alias: Option<String>,
    pub spend: f64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub cached_tokens: i64,
    /// Unix ms.
    pub start_time: i64,
    /// Unix ms.
    pub end_time: i64,
    /// Upstream model, e.g. "gpt-4o".
    pub model: String,
    /// What the client asked for.
    pub model_group: String,
    /// Deployment id.
    pub model_id: String,
    pub custom_llm_provider: String,
    pub api_base: String,
    pub user: Option<String>,
    pub team_id: Option<String>,
    pub organization_id: Option<String>,
    pub end_user: Option<String>,
    /// "success" | "failure"
    pub status: String,
    pub cache_hit: bool,
    /// Stored as JSON text.
    pub request_tags: Vec<String>,
    /// Stored as JSON text (`{}` when null).
    pub metadata: serde_json::Value,
    /// The `id` of the response the client got (`chatcmpl-…`, `msg_…`), LiteLLM's spend log
    /// `request_id`; `None` when the answer had none (errors, embeddings). `request_id` above
    /// stays the call id (`x-litellm-call-id`): unique, the row's key.
    #[serde(default)]
    pub response_id: Option<String>,
}

/// Column list of `tollgate_spend_logs`, in [`SpendLog`] field order.
pub(crate) const LOG_COLUMNS: &str = "request_id, call_type, api_key, key_alias, spend, \
    prompt_tokens, completion_tokens, total_tokens, cached_tokens, start_time, end_time, \
    model, model_group, model_id, custom_llm_provider, api_base, user_id, team_id, \
    organization_id, end_user, status, cache_hit, request_tags, metadata, response_id";
const LOG_COLUMN_COUNT: usize = 25;

/// Rows per multi-row INSERT: 500 × 25 = 12,500 bind parameters, under SQLite's 32,766 and
/// PostgreSQL's 65,535.
const LOG_CHUNK: usize = 500;
/// Entity upserts per statement (4 parameters each).
const DELTA_CHUNK: usize = 500;

/// Decode a row selected with [`LOG_COLUMNS`]. Unparseable JSON columns decode as empty
/// (and are logged) rather than failing the whole query.
pub(crate) fn row_to_log(row: &AnyRow) -> sqlx::Result<SpendLog> {
    let tags: String = row.try_get(22)?;
    let metadata: String = row.try_get(23)?;
    let request_id: String = row.try_get(0)?;
    let request_tags = serde_json::from_str(&tags).unwrap_or_else(|e| {
        log::warn!("spend log {request_id}: bad request_tags JSON: {e}");
        Vec::new()
    });
    let metadata = serde_json::from_str(&metadata).unwrap_or_else(|e| {
        log::warn!("spend log {request_id}: bad metadata JSON: {e}");
        serde_json::Value::Object(Default::default())
    });
    Ok(SpendLog {
        request_id,
        call_type: row.try_get(1)?,
        api_key: row.try_get(2)?,
        key_alias: row.try_get(3)?,
        spend: row.try_get(4)?,
        prompt_tokens: row.try_get(5)?,
        completion_tokens: row.try_get(6)?,
        total_tokens: row.try_get(7)?,
        cached_tokens: row.try_get(8)?,
        start_time: row.try_get(9)?,
        end_time: row.try_get(10)?,
        model: row.try_get(11)?,
        model_group: row.try_get(12)?,
        model_id: row.try_get(13)?,
        custom_llm_provider: row.try_get(14)?,
        api_base: row.try_get(15)?,
        user: row.try_get(16)?,
        team_id: row.try_get(17)?,
        organization_id: row.try_get(18)?,
        end_user: row.try_get(19)?,
        status: row.try_get(20)?,
        cache_hit: row.try_get::<i64, _>(21)? != 0,
        request_tags,
        metadata,
        response_id: row.try_get(24)?,
    })
}

/// Merge deltas per entity: the newest period wins and amounts in it are summed; amounts for
/// older periods are dropped. Applying the merged delta gives the same counter as applying the
/// originals one by one, and lets one multi-row upsert touch each row once. Sorted by
/// (kind, id) so concurrent flushers lock rows in the same order.
fn merge_deltas(deltas: &[SpendDelta]) -> Vec<(&str, &str, f64, i64)> {
    let mut merged: BTreeMap<(&str, &str), (f64, i64)> = BTreeMap::new();
    for d in deltas {
        if !d.amount.is_finite() {
            log::warn!(
                "dropping non-finite spend delta {} for {}/{}",
                d.amount,
                d.kind,
                d.id
            );
            continue;
        }
        merged
            .entry((d.kind.as_str(), d.id.as_str()))
            .and_modify(|(amount, period)| {
                if d.period > *period {
                    *amount = d.amount;
                    *period = d.period;
                } else if d.period == *period {
                    *amount += d.amount;
                }
            })
            .or_insert((d.amount, d.period));
    }
    merged
        .into_iter()
        .map(|((k, i), (a, p))| (k, i, a, p))
        .collect()
}

fn insert_logs_sql(backend: Backend, rows: usize) -> String {
    format!(
        "INSERT INTO tollgate_spend_logs ({LOG_COLUMNS}) VALUES {} ON CONFLICT (request_id) DO NOTHING \
         RETURNING request_id",
        values_placeholders(backend, rows, LOG_COLUMN_COUNT)
    )
}

fn upsert_deltas_sql(backend: Backend, rows: usize) -> String {
    let mut values = String::with_capacity(rows * 32);
    for r in 0..rows {
        let p = |i: usize| placeholder(backend, r * 4 + i);
        if r > 0 {
            values.push(',');
        }
        values.push_str(&format!(
            "({}, {}, '{{}}', {}, {}, 0, 0)",
            p(1),
            p(2),
            p(3),
            p(4)
        ));
    }
    format!(
        "INSERT INTO tollgate_entities (kind, id, doc, spend, spend_period, updated_at, deleted)
         VALUES {values}
         ON CONFLICT (kind, id) DO UPDATE SET
            spend = CASE
                WHEN tollgate_entities.spend_period = excluded.spend_period
                    THEN tollgate_entities.spend + excluded.spend
                WHEN tollgate_entities.spend_period < excluded.spend_period
                    THEN excluded.spend
                ELSE tollgate_entities.spend END,
            spend_period = CASE
                WHEN tollgate_entities.spend_period < excluded.spend_period
                    THEN excluded.spend_period
                ELSE tollgate_entities.spend_period END"
    )
}

/// The SQL for a full chunk on `backend`, built once per backend.
fn full_chunk_sql(
    cells: &'static [OnceLock<String>; 2],
    build: fn(Backend, usize) -> String,
    backend: Backend,
    n: usize,
) -> &'static str {
    let i = match backend {
        Backend::Sqlite => 0,
        Backend::Postgres => 1,
    };
    cells[i].get_or_init(|| build(backend, n))
}

impl Store {
    /// Write a batch in ONE transaction: every log row, then every spend delta. The transaction
    /// either fully commits or not at all; the caller retries a failed flush as a whole.
    ///
    /// * Log rows go in multi-row INSERTs of up to 500 rows and are idempotent on `request_id`
    ///   (`ON CONFLICT DO NOTHING`), so a retried flush does not double-insert them.
    /// * Each delta updates its entity's counter: same period adds, a newer period replaces
    ///   the counter (the window was reset), an older period is dropped (that window was
    ///   already reset). Deltas are not idempotent: re-sending a committed batch adds again.
    /// * A delta for an entity with no row (e.g. a config-only budget such as
    ///   `("proxy", "global")`) creates the row with doc `{}` and `updated_at` 0.
    /// * The flusher does not change `updated_at` or `deleted` of existing rows.
    pub async fn flush<L>(&self, logs: &[L], deltas: &[SpendDelta]) -> Result<()>
    where
        L: std::borrow::Borrow<SpendLog> + Sync,
    {
        if logs.is_empty() && deltas.is_empty() {
            return Ok(());
        }
        let merged = merge_deltas(deltas);
        let mut tx = self.begin_write().await?;
        let mut inserted: HashSet<String> = HashSet::new();
        for chunk in statement_chunks(logs, LOG_CHUNK) {
            inserted.extend(insert_logs(&mut tx, self.backend, chunk).await?);
        }
        // Only rows inserted now count in the daily tables: a retried flush whose rows are
        // already stored does not count them twice.
        crate::daily::add_logs(
            &mut tx,
            self.backend,
            logs.iter()
                .map(|l| l.borrow())
                .filter(|l| inserted.contains(&l.request_id)),
        )
        .await?;
        for chunk in statement_chunks(&merged, DELTA_CHUNK) {
            apply_deltas(&mut tx, self.backend, chunk).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A write transaction. On SQLite `BEGIN IMMEDIATE` takes the write lock up front (waiting
    /// out the busy timeout) instead of failing on a read-to-write upgrade.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

async fn insert_logs<L: std::borrow::Borrow<SpendLog>>(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    chunk: &[L],
) -> Result<Vec<String>> {
    static FULL: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    let partial;
    let sql: &str = if chunk.len() == LOG_CHUNK {
        full_chunk_sql(&FULL, insert_logs_sql, backend, LOG_CHUNK)
    } else {
        partial = insert_logs_sql(backend, chunk.len());
        &partial
    };
    let encoded: Vec<(String, String)> = chunk
        .iter()
        .map(|l| {
            let l = l.borrow();
            let tags = serde_json::to_string(&l.request_tags).unwrap_or_else(|_| "[]".into());
            let meta = if l.metadata.is_null() {
                "{}".to_string()
            } else {
                l.metadata.to_string()
            };
            (tags, meta)
        })
        .collect();
    let mut q = sqlx::query(sql);
    for (l, (tags, meta)) in chunk.iter().zip(&encoded) {
        let l = l.borrow();
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
            .bind(l.response_id.as_deref());
    }
    let ids = q.fetch_all(&mut **tx).await?;
    Ok(ids
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<sqlx::Result<_>>()?)
}

async fn apply_deltas(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    chunk: &[(&str, &str, f64, i64)],
) -> Result<()> {
    static FULL: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    let partial;
    let sql: &str = if chunk.len() == DELTA_CHUNK {
        full_chunk_sql(&FULL, upsert_deltas_sql, backend, DELTA_CHUNK)
    } else {
        partial = upsert_deltas_sql(backend, chunk.len());
        &partial
    };
    let mut q = sqlx::query(sql);
    for (kind, id, amount, period) in chunk {
        q = q.bind(*kind).bind(*id).bind(*amount).bind(*period);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

#[cfg(test)]
mod unit {
    use super::*;

    fn d(id: &str, amount: f64, period: i64) -> SpendDelta {
        SpendDelta {
            kind: "key".into(),
            id: id.into(),
            amount,
            period,
        }
    }

    #[test]
    fn merge_keeps_newest_period_and_sums_it() {
        let input = [
            d("a", 1.0, 10),
            d("a", 2.0, 10),
            d("b", 5.0, 10),
            d("a", 4.0, 20),
            d("a", 8.0, 20),
            d("a", 16.0, 10),
            d("b", f64::NAN, 10),
        ];
        let m = merge_deltas(&input);
        assert_eq!(m, vec![("key", "a", 12.0, 20), ("key", "b", 5.0, 10)]);
    }

    #[test]
    fn statements_are_full_chunks_then_powers_of_two() {
        let sizes = |n: usize, max: usize| -> Vec<usize> {
            let v: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = statement_chunks(&v, max).collect();
            // Every item once, in order.
            assert_eq!(chunks.concat(), v);
            chunks.iter().map(|c| c.len()).collect()
        };
        assert_eq!(sizes(0, 500), Vec::<usize>::new());
        assert_eq!(sizes(1, 500), [1]);
        assert_eq!(sizes(37, 500), [32, 4, 1]);
        assert_eq!(sizes(1_000, 500), [500, 500]);
        assert_eq!(sizes(1_499, 500), [500, 500, 256, 128, 64, 32, 16, 2, 1]);
        assert_eq!(sizes(7, 4), [4, 2, 1]);
    }

    #[test]
    fn placeholders_are_numbered_across_rows() {
        let pg = Backend::Postgres;
        assert_eq!(values_placeholders(pg, 2, 3), "($1,$2,$3),($4,$5,$6)");
        assert_eq!(values_placeholders(Backend::Sqlite, 2, 2), "(?,?),(?,?)");
        assert!(upsert_deltas_sql(pg, 2).contains("($5, $6, '{}', $7, $8, 0, 0)"));
        assert!(upsert_deltas_sql(Backend::Sqlite, 2).contains("(?, ?, '{}', ?, ?, 0, 0)"));
        assert_eq!(LOG_COLUMNS.split(',').count(), LOG_COLUMN_COUNT);
    }
}
