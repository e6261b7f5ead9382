//! The `preview` job: a 128 kbit/s MP3 of a file browsers play badly (WAV,
//! AIFF, 24-bit FLAC, huge files), encoded by a sandboxed media worker into
//! the spool and then stored as a derived file.

use std::sync::Arc;
use std::time::Duration;

use app::files::Derived;
use app::media::db::Step;

use super::asset::{self, retry, sandbox_err, write_retry};
use super::{Job, JobContext, JobFuture};
use crate::media::sandbox::MediaPool;

pub use app::jobs::PREVIEW as KIND;

pub struct Preview {
    pub pool: Arc<MediaPool>,
}

impl Job for Preview {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn concurrency(&self) -> usize {
        1
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(3600)
    }

    fn run(&self, ctx: JobContext) -> JobFuture {
        let pool = self.pool.clone();
        Box::pin(async move {
            let Some(a) = asset::pending(&ctx, Step::Preview).await? else {
                return Ok(());
            };
            let storage = &ctx.state.storage;
            let path = storage
                .local_copy(&a.storage_key)
                .await
                .map_err(write_retry("copying the stored file here"))?;
            // Encoding must run at least 5x real time, with a minute to spare.
            let budget = Duration::from_secs(60)
                + Duration::from_millis(a.duration_ms.unwrap_or(0).max(0) as u64 / 5);
            let tmp = storage.spool().tmp_path("mp3");
            let progress = ctx.clone();
            let made = pool
                .preview(&path, &tmp, budget, &mut |p| {
                    progress.progress(i64::from(p))
                })
                .await;
            let stored = match made {
                Ok(_) => {
                    storage
                        .put_derived_file(&a.sha256, Derived::Preview, &tmp)
                        .await
                }
                Err(e) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(sandbox_err(e));
                }
            };
            let key = match stored {
                Ok(key) => key,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(write_retry("storing the preview")(e));
                }
            };
            app::media::db::record_preview(&ctx.state.db, a.id, &key)
                .await
                .map_err(retry("storing the preview"))?;
            asset::tracks_changed(&ctx.state, a.id).await;
            Ok(())
        })
    }
}
