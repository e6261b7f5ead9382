//! The `metadata` job: duration, sample rate, channels, bit depth, codec,
//! bitrate and container of a stored file, and its own tags and cover art,
//! read by a sandboxed media worker; then the file's `waveform` job, a
//! `preview` job for files browsers play badly, and an `artwork` job for
//! cover art not seen before.

use std::sync::Arc;
use std::time::Duration;

use app::jobs::db::NewJob;
use app::media::db::Step;

use super::asset::{self, retry, sandbox_err, write_retry};
use super::{Job, JobContext, JobFuture};
use crate::media::sandbox::MediaPool;
use crate::state::ServerState;

pub use app::jobs::METADATA as KIND;

pub struct Metadata {
    pub pool: Arc<MediaPool>,
}

impl Job for Metadata {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn concurrency(&self) -> usize {
        2
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(120)
    }

    fn on_dead(&self, state: ServerState, payload: String, error: String) -> JobFuture {
        asset::mark_failed(state, payload, error)
    }

    fn run(&self, ctx: JobContext) -> JobFuture {
        let pool = self.pool.clone();
        Box::pin(async move {
            let Some(a) = asset::pending(&ctx, Step::Metadata).await? else {
                return Ok(());
            };
            let path = ctx
                .state
                .storage
                .local_copy(&a.storage_key)
                .await
                .map_err(write_retry("copying the stored file here"))?;
            let info = pool
                .probe(&path, Duration::from_secs(60))
                .await
                .map_err(sandbox_err)?;
            read_tags(&ctx.state, &pool, a.id, &path).await?;
            let mut then = vec![NewJob::for_asset(app::jobs::WAVEFORM, a.id).priority(5)];
            // Files browsers do not play well (WAV, AIFF, 24-bit FLAC, huge
            // files) get a compressed preview for the player.
            if !app::tracks::plays_in_browsers(
                Some(&info.codec),
                info.bit_depth.map(i64::from),
                a.size_bytes,
            ) {
                then.push(NewJob::for_asset(app::jobs::PREVIEW, a.id).priority(3));
            }
            app::media::db::record_metadata(&ctx.state.db, a.id, &info, &then)
                .await
                .map_err(retry("storing metadata"))?;
            ctx.state.queue.wake().notify_waiters();
            asset::tracks_changed(&ctx.state, a.id).await;
            Ok(())
        })
    }
}

/// Reads the file's tags and cover art (stored under its own hash) and
/// records them. Tags are a nicety: a file whose tags cannot be read is
/// still processed, without them.
async fn read_tags(
    state: &ServerState,
    pool: &MediaPool,
    asset_id: i64,
    path: &std::path::Path,
) -> Result<(), super::JobError> {
    let storage = &state.storage;
    let art_tmp = storage.spool().tmp_path("art");
    let read = pool.tags(path, &art_tmp, Duration::from_secs(30)).await;
    let (tags, art) = match read {
        Ok(found) => found,
        Err(e) => {
            let _ = tokio::fs::remove_file(&art_tmp).await;
            if !e.is_permanent() {
                return Err(sandbox_err(e));
            }
            tracing::info!(asset = asset_id, error = %e, "the file's tags could not be read");
            (app::media::FileTags::default(), None)
        }
    };
    let found = match art {
        Some(_) => {
            let stored = store_art(storage, &art_tmp).await;
            let _ = tokio::fs::remove_file(&art_tmp).await;
            Some(stored.map_err(write_retry("storing the cover art"))?)
        }
        None => None,
    };
    // The tracks changed are told by the job's end (`tracks_changed`).
    app::media::library::record_file_tags(&state.db, asset_id, &tags, found.as_ref())
        .await
        .map_err(retry("storing the file's tags"))?;
    state.queue.wake().notify_waiters();
    Ok(())
}

/// Stores the image at `tmp` as the original of its artwork.
async fn store_art(
    storage: &crate::storage::Storage,
    tmp: &std::path::Path,
) -> std::io::Result<app::media::library::FoundArt> {
    let (sha256, bytes) = crate::storage::hash_file(tmp).await?;
    storage
        .put_derived_file(&sha256, app::files::Derived::ArtOriginal, tmp)
        .await?;
    Ok(app::media::library::FoundArt { sha256, bytes })
}
