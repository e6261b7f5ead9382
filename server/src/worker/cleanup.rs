//! The cleanup job: deletes expired sessions, finished jobs older than the
//! retention period, expired quota reservations and throttle windows,
//! the change feed older than a day, expired uploads, stale temporary
//! files, and artwork nothing refers to any more (an hour after it was
//! made, with its stored image and thumbnails). Scheduled every 10 minutes
//! (one queued at a time).

use std::time::Duration;

use app::jobs::db::{self as q, NewJob};

use super::{Job, JobContext, JobError, JobFuture};

pub use app::jobs::CLEANUP as KIND;
pub const EVERY: Duration = Duration::from_secs(600);
/// Artwork younger than this is never removed (an upload that stored its
/// image may not have committed its row yet).
pub const ART_GRACE: Duration = Duration::from_secs(3600);

pub struct Cleanup;

/// The job to enqueue: deduplicated, below normal work in priority.
pub fn new_job() -> NewJob {
    NewJob::new(KIND, "{}").dedupe(KIND).priority(-10)
}

impl Job for Cleanup {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn concurrency(&self) -> usize {
        1
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(120)
    }

    fn run(&self, ctx: JobContext) -> JobFuture {
        Box::pin(async move {
            let db = &ctx.state.db;
            let sessions = app::auth::db::delete_expired_sessions(db)
                .await
                .map_err(|e| JobError::retry(format!("deleting expired sessions: {e}")))?;
            ctx.progress(50);
            let jobs = q::cleanup_finished(db, ctx.state.settings.job_retention)
                .await
                .map_err(|e| JobError::retry(format!("deleting finished jobs: {e}")))?;
            let reservations = app::uploads::quota::delete_expired_reservations(db)
                .await
                .map_err(|e| JobError::retry(format!("deleting quota reservations: {e}")))?;
            let throttles = app::auth::throttle::delete_expired(db)
                .await
                .map_err(|e| JobError::retry(format!("deleting throttle windows: {e}")))?;
            let stt = app::transcripts::gate::delete_old(db)
                .await
                .map_err(|e| JobError::retry(format!("deleting old provider requests: {e}")))?;
            let instances = app::admin::db::delete_gone_instances(db)
                .await
                .map_err(|e| JobError::retry(format!("deleting gone instances: {e}")))?;
            let changes = app::changes::prune(db)
                .await
                .map_err(|e| JobError::retry(format!("deleting old changes: {e}")))?;
            let art =
                app::media::library::delete_orphaned_artwork(db, ART_GRACE.as_millis() as i64)
                    .await
                    .map_err(|e| JobError::retry(format!("deleting unused artwork: {e}")))?;
            for sha in &art {
                if let Err(e) = ctx.state.storage.delete_derived(sha).await {
                    tracing::warn!(image = %sha, error = %e, "could not remove an unused image");
                }
            }
            let art = art.len();
            let waves = backfill_mini_waves(&ctx.state).await;
            ctx.progress(75);
            let uploads = crate::storage::sweep::sweep(&ctx.state, &ctx.state.storage)
                .await
                .map_err(|e| JobError::retry(format!("sweeping uploads: {e}")))?;
            tracing::info!(
                sessions,
                jobs,
                uploads,
                reservations,
                throttles,
                stt,
                instances,
                changes,
                art,
                waves,
                "cleanup done"
            );
            Ok(())
        })
    }
}

/// Gives files stored before the lists had small waveforms theirs, from
/// their overview peaks (a few hundred a run); the number made.
async fn backfill_mini_waves(state: &crate::state::ServerState) -> usize {
    let ids = match app::media::db::without_mini_wave(&state.db, 500).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "could not list files without a small waveform");
            return 0;
        }
    };
    let mut made = 0;
    for id in ids {
        let wave = match app::tracks::api::overview_peaks(&state.app, id).await {
            Ok(Some(data)) => app::player::mini_wave(&data),
            // No overview stored (it went missing): a flat line, not again.
            Ok(None) => String::new(),
            Err(e) => {
                tracing::warn!(asset = id, error = %e, "could not read peaks");
                continue;
            }
        };
        if app::media::db::set_mini_wave(&state.db, id, &wave)
            .await
            .is_ok()
        {
            made += 1;
            crate::worker::asset::tracks_changed(state, id).await;
        }
    }
    made
}
