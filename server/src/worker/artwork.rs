//! The `artwork` job: WebP thumbnails (`media::ART_WIDTHS`) of one image,
//! uploaded by an owner or found in a file, made by a sandboxed media
//! worker from the stored original and stored beside it; then the tracks
//! it belongs to show it. An image the decoder refuses (not JPEG, PNG or
//! WebP, too many pixels, damaged) fails for good with the reason, which
//! the owner sees on the track page.

use std::sync::Arc;
use std::time::Duration;

use app::files::Derived;

use super::asset::{retry, sandbox_err, write_retry};
use super::{Job, JobContext, JobError, JobFuture};
use crate::media::analyze::thumb_path;
use crate::media::sandbox::MediaPool;
use crate::state::ServerState;

pub use app::jobs::ARTWORK as KIND;

pub struct Artwork {
    pub pool: Arc<MediaPool>,
}

fn image_of(payload: &str) -> Result<&str, JobError> {
    let sha = payload.trim();
    if crate::storage::is_sha256(sha) {
        Ok(sha)
    } else {
        Err(JobError::permanent("bad payload: not an image hash"))
    }
}

impl Job for Artwork {
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
        Box::pin(async move {
            if let Ok(sha) = image_of(&payload) {
                match app::media::library::record_artwork_failure(&state.db, sha, &error).await {
                    Ok(tracks) => {
                        for id in tracks {
                            state.caches.changed(Some(id)).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(image = sha, error = %e, "could not record an artwork failure")
                    }
                }
            }
            Ok(())
        })
    }

    fn run(&self, ctx: JobContext) -> JobFuture {
        let pool = self.pool.clone();
        Box::pin(async move {
            let sha = image_of(&ctx.payload)?.to_string();
            let db = &ctx.state.db;
            if app::media::library::pending_artwork(db, &sha)
                .await
                .map_err(retry("loading the artwork"))?
                .is_none()
            {
                return Ok(());
            }
            let storage = &ctx.state.storage;
            let key = crate::storage::derived_key(&sha, Derived::ArtOriginal);
            let src = storage
                .local_copy(&key)
                .await
                .map_err(write_retry("copying the image here"))?;
            let out_dir = storage.spool().tmp_path("thumbs");
            tokio::fs::create_dir_all(&out_dir)
                .await
                .map_err(write_retry("making a folder for thumbnails"))?;
            let made = pool
                .artwork(&src, &out_dir, Duration::from_secs(60))
                .await
                .map_err(sandbox_err);
            let stored = match made {
                Ok((width, height, thumbs)) => {
                    let mut result = Ok(());
                    for t in &thumbs {
                        let Some(file) = Derived::art(t.target) else {
                            continue;
                        };
                        if let Err(e) = storage
                            .put_derived_file(&sha, file, &thumb_path(&out_dir, t.target))
                            .await
                        {
                            result = Err(write_retry("storing a thumbnail")(e));
                            break;
                        }
                    }
                    result.map(|()| (width, height, thumbs))
                }
                Err(e) => Err(e),
            };
            let _ = tokio::fs::remove_dir_all(&out_dir).await;
            let (width, height, thumbs) = stored?;
            let changed = app::media::library::record_artwork(db, &sha, width, height, &thumbs)
                .await
                .map_err(retry("recording the thumbnails"))?;
            for id in &changed {
                app::changes::record_track(db, *id, app::changes::Kind::Updated, false).await;
                ctx.state.caches.changed(Some(*id)).await;
            }
            Ok(())
        })
    }
}
