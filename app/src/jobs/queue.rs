//! The queue handle kept in `AppState`: enqueues (bounded, deduplicated) and
//! wakes idle workers of this process at once.

use std::sync::Arc;

use tokio::sync::Notify;

use super::db::{self as q, Enqueued, NewJob};
use crate::db::Db;
use crate::errors::AppError;

#[derive(Clone)]
pub struct Queue {
    db: Db,
    wake: Arc<Notify>,
    max_depth: i64,
}

impl Queue {
    pub fn new(db: Db, max_depth: i64) -> Self {
        Queue {
            db,
            wake: Arc::new(Notify::new()),
            max_depth: max_depth.max(1),
        }
    }

    /// The signal workers wait on between polls.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Enqueues `job`; 503 with `Retry-After` past the depth bound.
    pub async fn enqueue(&self, job: &NewJob) -> Result<Enqueued, AppError> {
        let res = q::enqueue(&self.db, job, self.max_depth).await?;
        self.wake.notify_waiters();
        Ok(res)
    }
}

impl Queue {
    /// 503 with `Retry-After` when the queue is at its bound: callers about
    /// to accept work that will need jobs refuse it up front.
    pub async fn check_capacity(&self) -> Result<(), AppError> {
        let depth: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'queued'")
            .fetch_one(self.db.pool())
            .await?;
        if depth >= self.max_depth {
            return Err(AppError::Overloaded {
                retry_after_secs: 5,
            });
        }
        Ok(())
    }
}
