//! Models stored in the database (`tollgate_models`, the shape of LiteLLM's
//! `LiteLLM_ProxyModelTable`): read all, read one, write, delete, and the cheap version stamp
//! replicas poll to notice a change. `litellm_params` holds JSON text whose string values the
//! caller has encrypted; the store never sees credentials in clear.

use sqlx::Row;

use crate::{placeholder, Result, Store, StoreError};

/// One row of `tollgate_models`: a model stored in the database (LiteLLM's
/// `LiteLLM_ProxyModelTable`). `litellm_params` is JSON text whose string values are encrypted
/// by the caller.
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

/// What changes whenever a model row is written or deleted: the row count, the newest
/// `updated_at` and the sum of every `updated_at` (a delete lowers the count, an insert or an
/// update raises a sum). Two equal versions mean the rows did not change in between, short of
/// a write that keeps every `updated_at` (writers always stamp the current time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelsVersion {
    pub rows: i64,
    pub newest: i64,
    pub sum: i64,
}

const COLUMNS: &str = "model_id, model_name, litellm_params, model_info, blocked, created_at, \
    updated_at, created_by, updated_by";

fn model_from_row(r: &sqlx::any::AnyRow) -> sqlx::Result<ModelRow> {
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
}

impl Store {
    /// Every row of `tollgate_models`, by `model_id`.
    pub async fn load_models(&self) -> Result<Vec<ModelRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tollgate_models ORDER BY model_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(model_from_row)
            .collect::<sqlx::Result<_>>()
            .map_err(StoreError::Db)
    }

    /// One model by `model_id`.
    pub async fn get_model(&self, model_id: &str) -> Result<Option<ModelRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tollgate_models WHERE model_id = {}",
            placeholder(self.backend, 1)
        ))
        .bind(model_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(model_from_row)
            .transpose()
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

    /// Deletes a model; whether it existed.
    pub async fn delete_model(&self, model_id: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(&format!(
            "DELETE FROM tollgate_models WHERE model_id = {}",
            placeholder(self.backend, 1)
        ))
        .bind(model_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// The table's [`ModelsVersion`]: one small aggregate query.
    pub async fn models_version(&self) -> Result<ModelsVersion> {
        let r = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(MAX(updated_at), 0) AS BIGINT),
                    CAST(COALESCE(SUM(updated_at % 1000000007), 0) AS BIGINT)
             FROM tollgate_models",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(ModelsVersion {
            rows: r.try_get(0)?,
            newest: r.try_get(1)?,
            sum: r.try_get(2)?,
        })
    }
}
