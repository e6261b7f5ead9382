//! Background jobs: the queue runtime (`runtime`: claim, lease, heartbeat,
//! retry), the job trait (`job`), the periodic schedule and the
//! cross-process wake-up, and one file per job kind — `metadata`,
//! `waveform`, `preview` (decoding in the sandboxed media workers),
//! `storage` (usage totals), `cleanup`, `purge`, and `transcribe` (through
//! the speech-to-text provider). `asset` holds what the
//! media kinds share (their payload, the asset they work on, failures).

pub mod artwork;
mod asset;
pub mod cleanup;
mod job;
pub mod listen;
pub mod metadata;
pub mod preview;
pub mod purge;
mod runtime;
pub mod schedule;
pub mod storage;
pub mod transcribe;
pub mod waveform;

use std::sync::Arc;

pub use job::{Job, JobContext, JobError, JobFuture};
pub use listen::{listen_for_enqueues, listen_via};
pub use runtime::{Worker, WorkerSettings};
pub use schedule::schedule;

use crate::media::sandbox::MediaPool;

/// Every job kind this process runs. Media jobs decode in sandboxed
/// `media-worker` processes started from `settings.media_exe` (or this
/// executable).
pub fn all_jobs(settings: &app::settings::Settings) -> Vec<Arc<dyn Job>> {
    let exe = settings
        .media_exe
        .clone()
        .or_else(|| std::env::current_exe().ok())
        .unwrap_or_else(|| "wavekeep".into());
    let pool = Arc::new(MediaPool::new(exe, settings.media_memory_mb, 4));
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let p = pool.clone();
        rt.spawn(async move { p.check().await });
    }
    vec![
        Arc::new(cleanup::Cleanup),
        Arc::new(metadata::Metadata { pool: pool.clone() }),
        Arc::new(waveform::Waveform { pool: pool.clone() }),
        Arc::new(preview::Preview { pool: pool.clone() }),
        Arc::new(artwork::Artwork { pool: pool.clone() }),
        Arc::new(transcribe::Transcribe::new(pool, settings.stt.as_ref())),
        Arc::new(storage::StorageReconcile),
        Arc::new(purge::Purge),
    ]
}
