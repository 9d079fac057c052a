//! Entity documents (keys, teams, users, orgs, end users, budgets) in `tollgate_entities`.
//!
//! A row is `(kind, id)` → JSON document text plus the entity's spend counter (`spend` for the
//! budget window starting at `spend_period`), `updated_at` (unix ms, set by document writes and
//! spend resets, not by the flusher) and a `deleted` tombstone flag so replicas polling
//! [`Store::entities_changed_since`] see deletions.

use futures_util::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Result, Store};

/// One row of `tollgate_entities`.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityRow {
    pub kind: String,
    pub id: String,
    /// The JSON document as text (`{}` for rows the flusher created for a config-only entity).
    pub doc: String,
    pub spend: f64,
    pub spend_period: i64,
    pub updated_at: i64,
    pub deleted: bool,
}

const COLUMNS: &str = "kind, id, doc, spend, spend_period, updated_at, deleted";

fn row_to_entity(row: &AnyRow) -> sqlx::Result<EntityRow> {
    Ok(EntityRow {
        kind: row.try_get(0)?,
        id: row.try_get(1)?,
        doc: row.try_get(2)?,
        spend: row.try_get(3)?,
        spend_period: row.try_get(4)?,
        updated_at: row.try_get(5)?,
        deleted: row.try_get::<i64, _>(6)? != 0,
    })
}

/// Current unix time in milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// All live (not deleted) entity rows, ordered by kind then id.
    ///
    /// This includes rows the flusher created for config-only entities (doc `{}`), e.g. the
    /// proxy-wide budget `("proxy", "global")`.
    pub async fn load_entities(&self) -> Result<Vec<EntityRow>> {
        let mut all = Vec::new();
        self.for_each_entity(|row| all.push(row)).await?;
        Ok(all)
    }

    /// The rows of [`Store::load_entities`], handed to `f` one at a time as the database
    /// returns them (one query, one snapshot): loading 100,000 keys never holds them all as
    /// rows at once.
    pub async fn for_each_entity(&self, mut f: impl FnMut(EntityRow)) -> Result<()> {
        let sql =
            format!("SELECT {COLUMNS} FROM tollgate_entities WHERE deleted = 0 ORDER BY kind, id");
        let mut rows = sqlx::query(&sql).fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            f(row_to_entity(&row)?);
        }
        Ok(())
    }

    /// Rows, live and tombstoned, with `updated_at > since_ms`, oldest change first.
    ///
    /// `updated_at` comes from the writers' clocks and two writes may share a millisecond, so a
    /// poller should ask again from a little before the newest `updated_at` it has seen (an
    /// overlap of a few seconds) and treat rows it already has as no-ops. Spend flushes do not
    /// bump `updated_at`; [`Store::set_spend`] does.
    pub async fn entities_changed_since(&self, since_ms: i64) -> Result<Vec<EntityRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tollgate_entities WHERE updated_at > $1 ORDER BY updated_at, kind, id"
        );
        let rows = sqlx::query(&sql)
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(row_to_entity)
            .collect::<sqlx::Result<_>>()?)
    }

    /// The live row for `(kind, id)`; `None` if it does not exist or is a tombstone.
    pub async fn get_entity(&self, kind: &str, id: &str) -> Result<Option<EntityRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tollgate_entities WHERE kind = $1 AND id = $2 AND deleted = 0"
        );
        let row = sqlx::query(&sql)
            .bind(kind)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(row_to_entity).transpose()?)
    }

    /// Upsert the document. An existing row keeps its spend and spend period; `deleted` is
    /// cleared and `updated_at` set to `now_ms`. A new row starts with spend 0, period 0.
    pub async fn put_entity(&self, kind: &str, id: &str, doc: &str, now_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO tollgate_entities (kind, id, doc, spend, spend_period, updated_at, deleted)
             VALUES ($1, $2, $3, 0.0, 0, $4, 0)
             ON CONFLICT (kind, id) DO UPDATE SET
                doc = excluded.doc, updated_at = excluded.updated_at, deleted = 0",
        )
        .bind(kind)
        .bind(id)
        .bind(doc)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Insert only if absent. Returns `false` (and changes nothing) if a live row with this
    /// `(kind, id)` exists. A tombstone is replaced: the new entity starts with spend 0,
    /// period 0, as a fresh row would.
    pub async fn insert_entity(
        &self,
        kind: &str,
        id: &str,
        doc: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO tollgate_entities (kind, id, doc, spend, spend_period, updated_at, deleted)
             VALUES ($1, $2, $3, 0.0, 0, $4, 0)
             ON CONFLICT (kind, id) DO UPDATE SET
                doc = excluded.doc, spend = 0.0, spend_period = 0,
                updated_at = excluded.updated_at, deleted = 0
             WHERE tollgate_entities.deleted <> 0",
        )
        .bind(kind)
        .bind(id)
        .bind(doc)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Tombstone the row (`deleted = 1`, `updated_at = now_ms`). Returns whether a live row
    /// was deleted.
    pub async fn delete_entity(&self, kind: &str, id: &str, now_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tollgate_entities SET deleted = 1, updated_at = $3
             WHERE kind = $1 AND id = $2 AND deleted = 0",
        )
        .bind(kind)
        .bind(id)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Set the spend counter to `spend` for the window starting at `period` and set
    /// `updated_at = now_ms` (so replicas see the reset). Creates the row with doc `{}` if it
    /// does not exist (a config-only entity); does not change `deleted`.
    pub async fn set_spend(
        &self,
        kind: &str,
        id: &str,
        spend: f64,
        period: i64,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO tollgate_entities (kind, id, doc, spend, spend_period, updated_at, deleted)
             VALUES ($1, $2, '{}', $3, $4, $5, 0)
             ON CONFLICT (kind, id) DO UPDATE SET
                spend = excluded.spend, spend_period = excluded.spend_period,
                updated_at = excluded.updated_at",
        )
        .bind(kind)
        .bind(id)
        .bind(spend)
        .bind(period)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
