//! The `storage` job: recomputes storage totals from the assets users own —
//! everyone's (every 10 minutes), or one user's (queued by an admin). The
//! totals are kept up to date at every upload and delete; this corrects
//! any drift.

use std::time::Duration;

use app::jobs::db::NewJob;

use super::asset::retry;
use super::{Job, JobContext, JobError, JobFuture};

pub use app::jobs::STORAGE as KIND;
pub const EVERY: Duration = Duration::from_secs(600);

pub struct StorageReconcile;

/// The periodic job: deduplicated, below normal work in priority.
pub fn new_job() -> NewJob {
    NewJob::new(KIND, "{}").dedupe(KIND).priority(-5)
}

impl Job for StorageReconcile {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn concurrency(&self) -> usize {
        1
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(300)
    }

    fn run(&self, ctx: JobContext) -> JobFuture {
        Box::pin(async move {
            // `{"user_id": N}` recounts one user (queued by an admin).
            let one: Option<i64> = serde_json::from_str::<serde_json::Value>(&ctx.payload)
                .ok()
                .and_then(|v| v.get("user_id").and_then(serde_json::Value::as_i64));
            if let Some(user_id) = one {
                let r = app::admin::refresh_storage(&ctx.state, user_id)
                    .await
                    .map_err(|e| match e {
                        app::errors::AppError::NotFound => {
                            JobError::permanent(format!("there is no user {user_id}"))
                        }
                        other => JobError::retry(format!("recounting storage: {other}")),
                    })?;
                if r.previous_bytes != r.storage_used_bytes {
                    tracing::info!(
                        user_id,
                        from = r.previous_bytes,
                        to = r.storage_used_bytes,
                        "storage total corrected"
                    );
                }
                return Ok(());
            }
            let changed = app::media::db::reconcile_storage(&ctx.state.db)
                .await
                .map_err(retry("reconciling storage"))?;
            if changed > 0 {
                tracing::info!(users = changed, "storage totals corrected");
            }
            ctx.state.usage.invalidate_all();
            Ok(())
        })
    }
}
