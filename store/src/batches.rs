//! Migration 7 and the rows of `/v1/files` and `/v1/batches`: which key owns each provider
//! file and batch, the deployment that holds it, the provider's object as last seen (what the
//! list routes answer), and the once-only marker of a batch's spend ([`Store::settle_batch`]).
//! The gateway reads and writes these on the files and batches routes only (not the chat path).

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Result, Store};

/// The statements of migration 7.
pub(crate) const STATEMENTS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS tollgate_files (
        id TEXT NOT NULL PRIMARY KEY,
        owner TEXT NOT NULL,
        team_id TEXT,
        deployment_id TEXT NOT NULL,
        model_group TEXT NOT NULL,
        purpose TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        object TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS tollgate_files_owner ON tollgate_files (owner, created_at, id)",
    "CREATE TABLE IF NOT EXISTS tollgate_batches (
        id TEXT NOT NULL PRIMARY KEY,
        owner TEXT NOT NULL,
        team_id TEXT,
        deployment_id TEXT NOT NULL,
        model_group TEXT NOT NULL,
        input_file_id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        object TEXT NOT NULL,
        settled_at BIGINT,
        spend DOUBLE PRECISION
    )",
    "CREATE INDEX IF NOT EXISTS tollgate_batches_owner ON tollgate_batches (owner, created_at, id)",
];

/// A provider file a key uploaded (or a batch's output or error file, owned like its batch).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchFile {
    /// The provider's file id (`file-…`), as the client sees it.
    pub id: String,
    /// The owning virtual key's id (SHA-256 hex); "" for the master key.
    pub owner: String,
    pub team_id: Option<String>,
    /// The deployment (`model_info.id`) whose provider account holds the file.
    pub deployment_id: String,
    pub model_group: String,
    pub purpose: String,
    /// Unix ms.
    pub created_at: i64,
    /// The provider's file object, JSON text.
    pub object: String,
}

/// A provider batch a key created.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchJob {
    pub id: String,
    pub owner: String,
    pub team_id: Option<String>,
    pub deployment_id: String,
    pub model_group: String,
    pub input_file_id: String,
    /// Unix ms.
    pub created_at: i64,
    /// The provider's batch object as last retrieved, JSON text.
    pub object: String,
    /// When its spend was recorded (Unix ms); `None` until then.
    pub settled_at: Option<i64>,
    pub spend: Option<f64>,
}

const FILE_COLUMNS: &str =
    "id, owner, team_id, deployment_id, model_group, purpose, created_at, object";
const BATCH_COLUMNS: &str = "id, owner, team_id, deployment_id, model_group, input_file_id, created_at, object, settled_at, spend";

fn file_of(row: &AnyRow) -> sqlx::Result<BatchFile> {
    Ok(BatchFile {
        id: row.try_get(0)?,
        owner: row.try_get(1)?,
        team_id: row.try_get(2)?,
        deployment_id: row.try_get(3)?,
        model_group: row.try_get(4)?,
        purpose: row.try_get(5)?,
        created_at: row.try_get(6)?,
        object: row.try_get(7)?,
    })
}

fn batch_of(row: &AnyRow) -> sqlx::Result<BatchJob> {
    Ok(BatchJob {
        id: row.try_get(0)?,
        owner: row.try_get(1)?,
        team_id: row.try_get(2)?,
        deployment_id: row.try_get(3)?,
        model_group: row.try_get(4)?,
        input_file_id: row.try_get(5)?,
        created_at: row.try_get(6)?,
        object: row.try_get(7)?,
        settled_at: row.try_get(8)?,
        spend: row.try_get(9)?,
    })
}

/// A page of a list route: `owner` (`None`: every owner, for the master key), newest first,
/// after the row `after` (OpenAI's cursor), at most `limit` rows.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    pub owner: Option<&'a str>,
    pub after: Option<&'a str>,
    pub limit: i64,
}

impl Store {
    /// Records a file; a file already recorded (same id) is left as it is.
    pub async fn put_batch_file(&self, f: &BatchFile) -> Result<()> {
        sqlx::query(
            "INSERT INTO tollgate_files (id, owner, team_id, deployment_id, model_group, purpose, created_at, object)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(f.id.as_str())
        .bind(f.owner.as_str())
        .bind(f.team_id.as_deref())
        .bind(f.deployment_id.as_str())
        .bind(f.model_group.as_str())
        .bind(f.purpose.as_str())
        .bind(f.created_at)
        .bind(f.object.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_batch_file(&self, id: &str) -> Result<Option<BatchFile>> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM tollgate_files WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(file_of).transpose()?)
    }

    /// Deletes a file's row; whether there was one.
    pub async fn delete_batch_file(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM tollgate_files WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A page of files, optionally of one `purpose`.
    pub async fn list_batch_files(
        &self,
        page: Page<'_>,
        purpose: Option<&str>,
    ) -> Result<Vec<BatchFile>> {
        let rows = self
            .page(
                "tollgate_files",
                FILE_COLUMNS,
                page,
                purpose.map(|p| ("purpose", p)),
            )
            .await?;
        Ok(rows.iter().map(file_of).collect::<sqlx::Result<_>>()?)
    }

    /// Records a batch; one already recorded is left as it is.
    pub async fn put_batch_job(&self, b: &BatchJob) -> Result<()> {
        sqlx::query(
            "INSERT INTO tollgate_batches (id, owner, team_id, deployment_id, model_group, input_file_id, created_at, object)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(b.id.as_str())
        .bind(b.owner.as_str())
        .bind(b.team_id.as_deref())
        .bind(b.deployment_id.as_str())
        .bind(b.model_group.as_str())
        .bind(b.input_file_id.as_str())
        .bind(b.created_at)
        .bind(b.object.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_batch_job(&self, id: &str) -> Result<Option<BatchJob>> {
        let sql = format!("SELECT {BATCH_COLUMNS} FROM tollgate_batches WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(batch_of).transpose()?)
    }

    /// Keeps the provider's latest batch object (what the list route answers).
    pub async fn update_batch_object(&self, id: &str, object: &str) -> Result<()> {
        sqlx::query("UPDATE tollgate_batches SET object = $2 WHERE id = $1")
            .bind(id)
            .bind(object)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn list_batch_jobs(&self, page: Page<'_>) -> Result<Vec<BatchJob>> {
        let rows = self
            .page("tollgate_batches", BATCH_COLUMNS, page, None)
            .await?;
        Ok(rows.iter().map(batch_of).collect::<sqlx::Result<_>>()?)
    }

    /// Marks the batch's spend as recorded, once: `true` for the one caller (of every replica
    /// sharing the database) whose update set the marker, `false` for every later one.
    pub async fn settle_batch(&self, id: &str, now_ms: i64, spend: f64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tollgate_batches SET settled_at = $2, spend = $3 WHERE id = $1 AND settled_at IS NULL",
        )
        .bind(id)
        .bind(now_ms)
        .bind(spend)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn page(
        &self,
        table: &str,
        columns: &str,
        page: Page<'_>,
        eq: Option<(&str, &str)>,
    ) -> Result<Vec<AnyRow>> {
        // The cursor row's position, when it is one the caller may see.
        let cursor: Option<(i64, String)> = match page.after {
            Some(after) => {
                let sql = format!("SELECT created_at, id, owner FROM {table} WHERE id = $1");
                let row = sqlx::query(&sql)
                    .bind(after)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(r) => {
                        let owner: String = r.try_get(2)?;
                        if page.owner.is_some_and(|o| o != owner) {
                            return Ok(Vec::new());
                        }
                        Some((r.try_get(0)?, r.try_get(1)?))
                    }
                    None => return Ok(Vec::new()),
                }
            }
            None => None,
        };
        let mut sql = format!("SELECT {columns} FROM {table} WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if page.owner.is_some() {
            sql.push_str(&format!(" AND owner = {}", next()));
        }
        if let Some((col, _)) = eq {
            sql.push_str(&format!(" AND {col} = {}", next()));
        }
        if cursor.is_some() {
            let (a, b, c) = (next(), next(), next());
            sql.push_str(&format!(
                " AND (created_at < {a} OR (created_at = {b} AND id < {c}))"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT {}",
            next()
        ));
        let mut q = sqlx::query(&sql);
        if let Some(o) = page.owner {
            q = q.bind(o);
        }
        if let Some((_, v)) = eq {
            q = q.bind(v);
        }
        if let Some((at, id)) = &cursor {
            q = q.bind(*at).bind(*at).bind(id.as_str());
        }
        q = q.bind(page.limit.clamp(1, 10_000));
        Ok(q.fetch_all(&self.pool).await?)
    }
}
