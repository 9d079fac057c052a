//! Stored Responses API responses (`POST /v1/responses` with `store` not false): the response
//! object and its input items (the carried-over conversation included) as JSON text, the key
//! that created it, and when it expires. [`Store::prune_responses`] keeps the table inside its
//! bounds (count, bytes, TTL); the gateway writes, reads and deletes (`GET`/`DELETE
//! /v1/responses/{id}`), off the request path except for the reads a request asks for.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Result, Store};

/// One stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The response's `id` (`resp_…`, or the provider's for a passed-through response).
    pub id: String,
    /// The id of the virtual key that created it (SHA-256 hex); "" for the master key (or no
    /// auth). Only the owner and the master key may read it.
    pub owner: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms; the row is not returned from then on, and pruned.
    pub expires_at: i64,
    /// The Responses object, JSON text.
    pub response: String,
    /// Its input items (history first), a JSON array as text.
    pub input_items: String,
}

impl StoredResponse {
    /// The size counted against `max_bytes`: the two JSON texts.
    pub fn bytes(&self) -> i64 {
        (self.response.len() + self.input_items.len()) as i64
    }
}

/// How much the table may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseBounds {
    pub max_count: u64,
    pub max_bytes: u64,
}

const COLUMNS: &str = "id, owner, created_at, expires_at, response, input_items";

fn row_to_response(row: &AnyRow) -> sqlx::Result<StoredResponse> {
    Ok(StoredResponse {
        id: row.try_get(0)?,
        owner: row.try_get(1)?,
        created_at: row.try_get(2)?,
        expires_at: row.try_get(3)?,
        response: row.try_get(4)?,
        input_items: row.try_get(5)?,
    })
}

impl Store {
    /// Writes `rows` in one transaction; a row whose id is already stored is left as it is.
    pub async fn put_responses(&self, rows: &[StoredResponse]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for r in rows {
            sqlx::query(
                "INSERT INTO tollgate_responses (id, owner, created_at, expires_at, bytes, response, input_items)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            )
            .bind(r.id.as_str())
            .bind(r.owner.as_str())
            .bind(r.created_at)
            .bind(r.expires_at)
            .bind(r.bytes())
            .bind(r.response.as_str())
            .bind(r.input_items.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The response `id`, unless it is unknown or expired at `now_ms`.
    pub async fn get_response(&self, id: &str, now_ms: i64) -> Result<Option<StoredResponse>> {
        let sql =
            format!("SELECT {COLUMNS} FROM tollgate_responses WHERE id = $1 AND expires_at > $2");
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(row_to_response).transpose()?)
    }

    /// Deletes the response `id`; whether there was one.
    pub async fn delete_response(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM tollgate_responses WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Count and total bytes of the stored responses.
    pub async fn responses_size(&self) -> Result<(u64, u64)> {
        let row = sqlx::query(
            "SELECT COUNT(*), CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM tollgate_responses",
        )
        .fetch_one(&self.pool)
        .await?;
        let count: i64 = row.try_get(0)?;
        let bytes: i64 = row.try_get(1)?;
        Ok((count.max(0) as u64, bytes.max(0) as u64))
    }

    /// Deletes the responses expired at `now_ms`, then the oldest until at most
    /// `bounds.max_count` rows of at most `bounds.max_bytes` in all remain. Returns the number
    /// of rows deleted.
    pub async fn prune_responses(&self, now_ms: i64, bounds: ResponseBounds) -> Result<u64> {
        let expired = sqlx::query("DELETE FROM tollgate_responses WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?
            .rows_affected();
        let (count, bytes) = self.responses_size().await?;
        if count <= bounds.max_count && bytes <= bounds.max_bytes {
            return Ok(expired);
        }
        // Newest first: keep rows while both bounds hold, drop the rest (the oldest).
        let sizes: Vec<(i64,)> = sqlx::query_as(
            "SELECT bytes FROM tollgate_responses ORDER BY created_at DESC, id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        let (mut kept, mut kept_bytes) = (0u64, 0u64);
        for (b,) in &sizes {
            let b = (*b).max(0) as u64;
            if kept + 1 > bounds.max_count || kept_bytes + b > bounds.max_bytes {
                break;
            }
            kept += 1;
            kept_bytes += b;
        }
        let drop = sizes.len() as u64 - kept;
        if drop == 0 {
            return Ok(expired);
        }
        let deleted = sqlx::query(
            "DELETE FROM tollgate_responses WHERE id IN
                (SELECT id FROM tollgate_responses ORDER BY created_at ASC, id ASC LIMIT $1)",
        )
        .bind(drop as i64)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(expired + deleted)
    }
}
