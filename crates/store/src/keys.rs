//! API keys (stored as digests; see the migration).

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::time::{parse_ts, ts};
use crate::{Result, Store};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    pub async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_key (id, user_id, name, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.id)
        .bind(&key.user_id)
        .bind(&key.name)
        .bind(key_hash)
        .bind(ts(key.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user owning the key with this digest.
    pub async fn api_key_user(&self, key_hash: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT user_id FROM api_key WHERE key_hash = $1")
            .bind(key_hash)
            .fetch_optional(&self.reads)
            .await?;
        Ok(row.map(|r| r.try_get("user_id")).transpose()?)
    }

    pub async fn api_keys(&self, user_id: &str) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, user_id, name, created_at FROM api_key WHERE user_id = $1 ORDER BY created_at",
        )
        .bind(user_id)
        .fetch_all(&self.reads)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiKey {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    name: r.try_get("name")?,
                    created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
                })
            })
            .collect()
    }

    pub async fn delete_api_key(&self, user_id: &str, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_key WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
