//! The `waveform` job: audiowaveform peaks of a stored file (an overview of
//! about 1,000 points and a finer zoom level), decoded by a sandboxed media
//! worker and stored as derived files; the versions playing it are then ready.

use std::sync::Arc;
use std::time::Duration;

use app::files::Derived;
use app::media::db::Step;

use super::asset::{self, retry, sandbox_err, write_retry};
use super::{Job, JobContext, JobFuture};
use crate::media::sandbox::MediaPool;
use crate::state::ServerState;

pub use app::jobs::WAVEFORM as KIND;

/// Points in the overview (a 1,000-px view) and in the finer zoom level.
pub const OVERVIEW_POINTS: u32 = 1000;
pub const FINE_POINTS: u64 = 10_000;

pub struct Waveform {
    pub pool: Arc<MediaPool>,
}

impl Job for Waveform {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn concurrency(&self) -> usize {
        2
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(1800)
    }

    fn on_dead(&self, state: ServerState, payload: String, error: String) -> JobFuture {
        asset::mark_failed(state, payload, error)
    }

    fn run(&self, ctx: JobContext) -> JobFuture {
        let pool = self.pool.clone();
        Box::pin(async move {
            let Some(a) = asset::pending(&ctx, Step::Peaks).await? else {
                return Ok(());
            };
            let storage = &ctx.state.storage;
            let path = storage
                .local_copy(&a.storage_key)
                .await
                .map_err(write_retry("copying the stored file here"))?;
            let frames = a.frames.unwrap_or(0).max(0) as u64;
            let fine_spp = u32::try_from(frames.div_ceil(FINE_POINTS).max(32)).unwrap_or(u32::MAX);
            // Decoding must run at least 20x real time, with a minute to spare.
            let budget = Duration::from_secs(60)
                + Duration::from_millis(a.duration_ms.unwrap_or(0).max(0) as u64 / 20);
            let progress = ctx.clone();
            let (overview, fine) = pool
                .waveform(&path, fine_spp, OVERVIEW_POINTS, budget, &mut |p| {
                    progress.progress(i64::from(p))
                })
                .await
                .map_err(sandbox_err)?;
            let mini = mini_wave_of(&overview);
            for (file, json) in [
                (Derived::PeaksFine, fine),
                (Derived::PeaksOverview, overview),
            ] {
                storage
                    .put_derived(&a.sha256, file, json.into_bytes())
                    .await
                    .map_err(write_retry("writing peaks"))?;
            }
            app::media::db::record_peaks(&ctx.state.db, a.id, &mini)
                .await
                .map_err(retry("storing peaks"))?;
            asset::tracks_changed(&ctx.state, a.id).await;
            Ok(())
        })
    }
}

/// The lists' small waveform of an overview (its JSON, `{"data": [...]}`).
pub fn mini_wave_of(overview_json: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Overview {
        data: Vec<i8>,
    }
    serde_json::from_str::<Overview>(overview_json)
        .map(|o| app::player::mini_wave(&o.data))
        .unwrap_or_default()
}
