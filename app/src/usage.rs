//! Each user's storage usage as requests read it: a moka cache (5 min TTL)
//! over `users.storage_used_bytes`, which is kept up to date when files are
//! stored or deleted and reconciled by a background job, plus the images
//! they uploaded as art (`art_bytes!`, through a small index). Never computed by
//! walking directories in a request.

use std::time::Duration;

use crate::cache::{CacheStats, NamedCache};
use crate::db::Db;
use crate::errors::AppError;

#[derive(Clone)]
pub struct UsageCache {
    cache: NamedCache<i64, Usage>,
}

/// Bytes stored and the quota that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub used: i64,
    /// The user's own quota, when an admin set one.
    pub quota: Option<i64>,
}

impl Default for UsageCache {
    fn default() -> Self {
        Self::new()
    }
}

impl UsageCache {
    pub fn new() -> Self {
        UsageCache {
            cache: NamedCache::new("storage_usage", 100_000, Duration::from_secs(300)),
        }
    }

    pub async fn get(&self, db: &Db, user_id: i64) -> Result<Usage, AppError> {
        if let Some(u) = self.cache.get(&user_id).await {
            return Ok(u);
        }
        let row: Option<(i64, Option<i64>)> = sqlx::query_as(concat!(
            "SELECT CAST(storage_used_bytes + ",
            crate::art_bytes!(),
            " AS BIGINT), storage_quota_bytes FROM users WHERE id = $1"
        ))
        .bind(user_id)
        .fetch_optional(db.pool())
        .await?;
        let (used, quota) = row.ok_or(AppError::NotFound)?;
        let u = Usage { used, quota };
        self.cache.insert(user_id, u).await;
        Ok(u)
    }

    /// Forgets a user's figure after it changed.
    pub async fn invalidate(&self, user_id: i64) {
        self.cache.invalidate(&user_id).await;
    }

    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
    }

    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }
}
