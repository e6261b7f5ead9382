//! The `metadata` job: duration, sample rate, channels, bit depth, codec,
//! bitrate and container of a stored file, read by a sandboxed media
//! worker; then the file's `waveform` job, and a `preview` job for files
//! browsers play badly.

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
