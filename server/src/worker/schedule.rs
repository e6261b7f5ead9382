//! The periodic jobs: `cleanup` and the `storage` reconcile, enqueued at
//! start-up and every 10 minutes (deduplicated, so several processes or
//! restarts never pile them up).

/// Enqueues the periodic jobs now and on their schedule (deduplicated, so
/// several processes or restarts never pile them up).
pub async fn schedule(queue: app::jobs::queue::Queue) {
    let mut cleanup_every = tokio::time::interval(super::cleanup::EVERY);
    let mut storage_every = tokio::time::interval(super::storage::EVERY);
    loop {
        let job = tokio::select! {
            _ = cleanup_every.tick() => super::cleanup::new_job(),
            _ = storage_every.tick() => super::storage::new_job(),
        };
        if let Err(e) = queue.enqueue(&job).await {
            tracing::warn!(job.kind = %job.kind, error = %e, "could not schedule a periodic job");
        }
    }
}
