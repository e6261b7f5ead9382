//! What the media job kinds share: their payload (`{"asset_id", "redo"}`),
//! the asset an attempt works on (or nothing to do), how sandbox and
//! database errors become job errors, recording a failure where people see
//! it, and telling the caches which tracks changed.

use serde::Deserialize;

use app::media::db::{PendingAsset, Step};
use app::state::AppState;

use super::{JobContext, JobError, JobFuture};
use crate::media::sandbox::SandboxError;
use crate::state::ServerState;

#[derive(Deserialize)]
struct Payload {
    asset_id: i64,
    /// Work again even when done (queued by an admin).
    #[serde(default)]
    redo: bool,
}

fn payload(raw: &str) -> Result<Payload, JobError> {
    serde_json::from_str(raw).map_err(|e| JobError::permanent(format!("bad payload: {e}")))
}

/// The job's asset, unless it was deleted or already has `step`'s result
/// and the job is not a redo (an attempt that finished before a crash must
/// not do its work, or queue its follow-ups, twice).
pub async fn pending(ctx: &JobContext, step: Step) -> Result<Option<PendingAsset>, JobError> {
    let p = payload(&ctx.payload)?;
    app::media::db::pending(&ctx.state.db, p.asset_id, step, p.redo)
        .await
        .map_err(retry("loading the asset"))
}

/// An error to retry, with what was being done.
pub fn retry<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> JobError + '_ {
    move |e| JobError::retry(format!("{what}: {e}"))
}

/// How long a job that found the disk full waits before it tries again
/// (the attempt not counted: a full disk is not the file's fault).
pub const DISK_FULL_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A failed write of a derived file: retried, or put off without spending
/// an attempt when the disk is full ("disk full" in its reason).
pub fn write_retry(what: &str) -> impl Fn(std::io::Error) -> JobError + '_ {
    move |e| {
        if app::errors::is_disk_full(&e) {
            disk_full(what)
        } else {
            JobError::retry(format!("{what}: {e}"))
        }
    }
}

/// The job waits `DISK_FULL_WAIT` for space, its attempt not counted.
pub fn disk_full(what: &str) -> JobError {
    let until = app::db::now_ms() + DISK_FULL_WAIT.as_millis() as i64;
    JobError::later(until, format!("{what}: disk full"))
}

/// The decoder's verdict: a file it cannot read, crashes on or runs out of
/// time with fails for good; anything else may pass.
pub fn sandbox_err(e: SandboxError) -> JobError {
    if matches!(&e, SandboxError::Io(m) if m == "disk full") {
        disk_full("writing the output")
    } else if e.is_permanent() {
        JobError::permanent(e.to_string())
    } else {
        JobError::retry(e.to_string())
    }
}

/// Drops the cached pages and search results of every track whose
/// transcript is `asset_id`'s (plain listings do not show transcripts).
pub async fn transcript_changed(state: &AppState, asset_id: i64) {
    let ids = app::media::db::tracks_of_asset(&state.db, asset_id)
        .await
        .unwrap_or_default();
    for id in ids {
        state.caches.spoken_changed(id).await;
    }
}

/// Drops the cached pages of every track that uses `asset_id`.
pub async fn tracks_changed(state: &AppState, asset_id: i64) {
    let ids = app::media::db::tracks_of_asset(&state.db, asset_id)
        .await
        .unwrap_or_default();
    for id in &ids {
        app::changes::record_track(&state.db, *id, app::changes::Kind::Updated, false).await;
        state.caches.changed(Some(*id)).await;
    }
    if ids.is_empty() {
        state.caches.changed(None).await;
    }
}

/// `Job::on_dead` of the media kinds: the asset and the versions playing it
/// are marked failed, with the reason a person reads on the track page. A
/// failed redo shows on the admin page and leaves the track as it was.
pub fn mark_failed(state: ServerState, raw: String, error: String) -> JobFuture {
    Box::pin(async move {
        let Ok(p) = payload(&raw) else {
            return Ok(());
        };
        if p.redo {
            return Ok(());
        }
        if let Err(e) = app::media::db::record_failure(&state.db, p.asset_id, &error).await {
            tracing::warn!(asset = p.asset_id, error = %e, "could not record a processing failure");
        }
        tracks_changed(&state, p.asset_id).await;
        Ok(())
    })
}
