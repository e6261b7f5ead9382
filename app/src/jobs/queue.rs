//! The queue handle kept in `AppState`: enqueues (bounded, deduplicated) and
//! wakes idle workers of this process at once.
//!
//! The depth bound is checked against a count at most 200 ms old (plus this
//! process's enqueues since), so a busy enqueuer does not count the whole
//! queue for every job; the bound may be overshot by what other processes
//! enqueue within those 200 ms.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::db::{self as q, Enqueued, NewJob};
use crate::db::Db;
use crate::errors::AppError;

const DEPTH_FRESH: Duration = Duration::from_millis(200);

#[derive(Clone)]
pub struct Queue {
    db: Db,
    wake: Arc<Notify>,
    max_depth: i64,
    /// The last count of queued jobs and when it was taken.
    depth: Arc<Mutex<Option<(Instant, i64)>>>,
}

impl Queue {
    pub fn new(db: Db, max_depth: i64) -> Self {
        Queue {
            db,
            wake: Arc::new(Notify::new()),
            max_depth: max_depth.max(1),
            depth: Arc::default(),
        }
    }

    /// The signal workers wait on between polls.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    async fn depth(&self) -> Result<i64, AppError> {
        let cached = self
            .depth
            .lock()
            .ok()
            .and_then(|d| *d)
            .filter(|(at, _)| at.elapsed() < DEPTH_FRESH);
        if let Some((_, n)) = cached {
            return Ok(n);
        }
        let n = q::depth(&self.db).await?;
        if let Ok(mut d) = self.depth.lock() {
            *d = Some((Instant::now(), n));
        }
        Ok(n)
    }

    /// 503 with `Retry-After` when the queue is at its bound: callers about
    /// to accept work that will need jobs refuse it up front.
    pub async fn check_capacity(&self) -> Result<(), AppError> {
        if self.depth().await? >= self.max_depth {
            return Err(AppError::Overloaded {
                retry_after_secs: 5,
            });
        }
        Ok(())
    }

    /// Enqueues `job`; 503 with `Retry-After` past the depth bound.
    pub async fn enqueue(&self, job: &NewJob) -> Result<Enqueued, AppError> {
        self.check_capacity().await?;
        let res = q::enqueue_unbounded(&self.db, job).await?;
        if let (Enqueued::Created(_), Ok(mut d)) = (res, self.depth.lock()) {
            if let Some((_, n)) = d.as_mut() {
                *n += 1;
            }
        }
        self.wake.notify_waiters();
        Ok(res)
    }
}
