//! The media jobs: `metadata` (duration, sample rate, channels, bit depth,
//! codec, bitrate) then `waveform` (audiowaveform peaks), both decoded in the
//! sandboxed media worker processes; and `storage`, which reconciles every
//! user's storage total with the assets they own.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use sqlx::Row;

use app::db::now_ms;
use app::jobs::db::{enqueue_in, NewJob};
use app::state::AppState;

use super::{Job, JobContext, JobError, JobFuture};
use crate::ingest::asset_payload;
use crate::media::sandbox::{MediaPool, SandboxError};
use crate::media::store::Store;

pub use app::jobs::{METADATA, STORAGE, WAVEFORM};
pub const STORAGE_EVERY: Duration = Duration::from_secs(600);

/// Points in the overview (a 1,000-px view) and in the finer zoom level.
pub const OVERVIEW_POINTS: u32 = 1000;
pub const FINE_POINTS: u64 = 10_000;
pub const PEAKS_OVERVIEW: &str = app::tracks::PEAKS_OVERVIEW_FILE;
pub const PEAKS_FINE: &str = "peaks-fine.json";

#[derive(Deserialize)]
struct AssetPayload {
    asset_id: i64,
    /// Work again even when done (queued by an admin).
    #[serde(default)]
    redo: bool,
}

fn asset_payload_of(ctx: &JobContext) -> Result<AssetPayload, JobError> {
    serde_json::from_str::<AssetPayload>(&ctx.payload)
        .map_err(|e| JobError::permanent(format!("bad payload: {e}")))
}

fn db_err(what: &str) -> impl Fn(sqlx::Error) -> JobError + '_ {
    move |e| JobError::retry(format!("{what}: {e}"))
}

fn sandbox_err(e: SandboxError) -> JobError {
    if e.is_permanent() {
        JobError::permanent(e.to_string())
    } else {
        JobError::retry(e.to_string())
    }
}

/// The job's asset (id, stored file, sha256) unless it was deleted or its
/// `done_column` (metadata_at, peaks_at, preview_at) is already set and the
/// job is not a redo.
async fn pending_asset(
    ctx: &JobContext,
    done_column: &'static str,
) -> Result<Option<(i64, std::path::PathBuf, String)>, JobError> {
    let AssetPayload { asset_id: id, redo } = asset_payload_of(ctx)?;
    let sql =
        format!("SELECT storage_key, sha256, {done_column} AS done FROM assets WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(ctx.state.db.pool())
        .await
        .map_err(db_err("loading the asset"))?;
    Ok(row
        .filter(|r| redo || r.get::<Option<i64>, _>("done").is_none())
        .map(|r| {
            let key: String = r.get("storage_key");
            let path = Store::new(&ctx.state.settings.data_dir).path_of(&key);
            (id, path, r.get("sha256"))
        }))
}

/// Drops the cached pages of every track that uses `asset_id`.
pub async fn tracks_changed(state: &AppState, asset_id: i64) {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT track_id FROM track_versions WHERE asset_id = $1 \
         UNION SELECT v.track_id FROM stems s JOIN track_versions v ON v.id = s.version_id WHERE s.asset_id = $1",
    )
    .bind(asset_id)
    .fetch_all(state.db.pool())
    .await
    .unwrap_or_default();
    for id in &ids {
        state.caches.changed(Some(*id)).await;
    }
    if ids.is_empty() {
        state.caches.changed(None).await;
    }
}

/// Marks an asset (and the versions playing it) failed, with the reason a
/// person reads on the track page.
async fn mark_failed(state: AppState, payload: String, error: String) {
    let Ok(p) = serde_json::from_str::<AssetPayload>(&payload) else {
        return;
    };
    if p.redo {
        // The asset was processed before: a failed redo shows on the admin
        // page and leaves the track as it was.
        return;
    }
    let db = state.db.pool();
    let res = async {
        sqlx::query("UPDATE assets SET processing_error = $1 WHERE id = $2")
            .bind(&error)
            .bind(p.asset_id)
            .execute(db)
            .await?;
        sqlx::query("UPDATE track_versions SET status = 'failed' WHERE asset_id = $1")
            .bind(p.asset_id)
            .execute(db)
            .await
    }
    .await;
    if let Err(e) = res {
        tracing::warn!(asset = p.asset_id, error = %e, "could not record a processing failure");
    }
    tracks_changed(&state, p.asset_id).await;
}

pub struct Metadata {
    pub pool: Arc<MediaPool>,
}

impl Job for Metadata {
    fn kind(&self) -> &'static str {
        METADATA
    }

    fn concurrency(&self) -> usize {
        2
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(120)
    }

    fn on_dead(&self, state: AppState, payload: String, error: String) -> JobFuture {
        Box::pin(async move {
            mark_failed(state, payload, error).await;
            Ok(())
        })
    }

    fn run(&self, ctx: JobContext) -> JobFuture {
        let pool = self.pool.clone();
        Box::pin(async move {
            // Nothing to do for a deleted asset, or one an attempt finished
            // before a crash (which must not queue its waveform twice).
            let Some((id, path, _)) = pending_asset(&ctx, "metadata_at").await? else {
                return Ok(());
            };
            let info = pool
                .probe(&path, Duration::from_secs(60))
                .await
                .map_err(sandbox_err)?;
            let db = &ctx.state.db;
            let mut tx = db.pool().begin().await.map_err(db_err("begin"))?;
            sqlx::query(
                "UPDATE assets SET duration_ms = $1, frames = $2, sample_rate = $3, channels = $4, \
                 bit_depth = $5, codec = $6, bitrate = $7, container = $8, metadata_at = $9, \
                 processing_error = NULL, mime = $11 WHERE id = $10",
            )
            .bind(info.duration_ms)
            .bind(i64::try_from(info.frames).unwrap_or(i64::MAX))
            .bind(i64::from(info.sample_rate))
            .bind(i64::from(info.channels))
            .bind(info.bit_depth.map(i64::from))
            .bind(&info.codec)
            .bind(info.bitrate.map(i64::from))
            .bind(&info.container)
            .bind(now_ms())
            .bind(id)
            // The type the file is served as, from what the decoder recognised.
            .bind(app::tracks::links::audio_mime(
                Some(&info.codec),
                Some(&info.container),
            ))
            .execute(&mut *tx)
            .await
            .map_err(db_err("storing metadata"))?;
            // Denormalized for listings, which never open an audio file.
            sqlx::query(
                "UPDATE tracks SET duration_ms = $1 WHERE primary_version_id IN \
                 (SELECT id FROM track_versions WHERE asset_id = $2)",
            )
            .bind(info.duration_ms)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("updating tracks"))?;
            enqueue_in(
                &mut tx,
                &NewJob::new(WAVEFORM, asset_payload(id))
                    .dedupe(format!("waveform:{id}"))
                    .subject(format!("asset:{id}"))
                    .priority(5),
            )
            .await
            .map_err(|e| JobError::retry(format!("queueing the waveform: {e}")))?;
            // Files browsers do not play well (WAV, AIFF, 24-bit FLAC, huge
            // files) get a compressed preview for the player.
            let size: i64 = sqlx::query_scalar("SELECT size_bytes FROM assets WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err("loading the asset"))?;
            if !app::tracks::plays_in_browsers(
                Some(&info.codec),
                info.bit_depth.map(i64::from),
                size,
            ) {
                enqueue_in(
                    &mut tx,
                    &NewJob::new(app::jobs::PREVIEW, asset_payload(id))
                        .dedupe(format!("preview:{id}"))
                        .subject(format!("asset:{id}"))
                        .priority(3),
                )
                .await
                .map_err(|e| JobError::retry(format!("queueing the preview: {e}")))?;
            }
            tx.commit().await.map_err(db_err("commit"))?;
            ctx.state.queue.wake().notify_waiters();
            tracks_changed(&ctx.state, id).await;
            Ok(())
        })
    }
}

pub struct Waveform {
    pub pool: Arc<MediaPool>,
}

impl Job for Waveform {
    fn kind(&self) -> &'static str {
        WAVEFORM
    }

    fn concurrency(&self) -> usize {
        2
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(1800)
    }

    fn on_dead(&self, state: AppState, payload: String, error: String) -> JobFuture {
        Box::pin(async move {
            mark_failed(state, payload, error).await;
            Ok(())
        })
    }

    fn run(&self, ctx: JobContext) -> JobFuture {
        let pool = self.pool.clone();
        Box::pin(async move {
            let Some((id, path, sha)) = pending_asset(&ctx, "peaks_at").await? else {
                return Ok(());
            };
            let row = sqlx::query("SELECT frames, duration_ms FROM assets WHERE id = $1")
                .bind(id)
                .fetch_one(ctx.state.db.pool())
                .await
                .map_err(db_err("loading the asset"))?;
            let frames: Option<i64> = row.get("frames");
            let duration_ms: Option<i64> = row.get("duration_ms");
            let frames = frames.unwrap_or(0).max(0) as u64;
            let fine_spp = u32::try_from(frames.div_ceil(FINE_POINTS).max(32)).unwrap_or(u32::MAX);
            // Decoding must run at least 20x real time, with a minute to spare.
            let budget = Duration::from_secs(60)
                + Duration::from_millis(duration_ms.unwrap_or(0).max(0) as u64 / 20);
            let progress = ctx.clone();
            let (overview, fine) = pool
                .waveform(&path, fine_spp, OVERVIEW_POINTS, budget, &mut |p| {
                    progress.progress(i64::from(p))
                })
                .await
                .map_err(sandbox_err)?;
            let store = Store::new(&ctx.state.settings.data_dir);
            let dir = store.derived_dir(&sha);
            let io = |e: std::io::Error| JobError::retry(format!("writing peaks: {e}"));
            store
                .write_atomic(dir.join(PEAKS_FINE), fine.into_bytes())
                .await
                .map_err(io)?;
            store
                .write_atomic(dir.join(PEAKS_OVERVIEW), overview.into_bytes())
                .await
                .map_err(io)?;
            let db = ctx.state.db.pool();
            let mut tx = db.begin().await.map_err(db_err("begin"))?;
            sqlx::query("UPDATE assets SET peaks_at = $1 WHERE id = $2")
                .bind(now_ms())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err("storing peaks"))?;
            sqlx::query(
                "UPDATE track_versions SET status = 'ready' WHERE asset_id = $1 AND status = 'processing'",
            )
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("updating versions"))?;
            tx.commit().await.map_err(db_err("commit"))?;
            tracks_changed(&ctx.state, id).await;
            Ok(())
        })
    }
}

/// The preview file's name in a file's derived directory.
pub const PREVIEW_FILE: &str = "preview.mp3";

/// Makes a 128 kbit/s MP3 preview in a sandboxed media worker, then moves
/// it into the file's derived directory.
pub struct Preview {
    pub pool: Arc<MediaPool>,
}

impl Job for Preview {
    fn kind(&self) -> &'static str {
        app::jobs::PREVIEW
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
            let Some((id, path, sha)) = pending_asset(&ctx, "preview_at").await? else {
                return Ok(());
            };
            let duration_ms: Option<i64> =
                sqlx::query_scalar("SELECT duration_ms FROM assets WHERE id = $1")
                    .bind(id)
                    .fetch_one(ctx.state.db.pool())
                    .await
                    .map_err(db_err("loading the asset"))?;
            // Encoding must run at least 5x real time, with a minute to spare.
            let budget = Duration::from_secs(60)
                + Duration::from_millis(duration_ms.unwrap_or(0).max(0) as u64 / 5);
            let store = Store::new(&ctx.state.settings.data_dir);
            let tmp = store.tmp_path("mp3");
            let progress = ctx.clone();
            let made = pool
                .preview(&path, &tmp, budget, &mut |p| {
                    progress.progress(i64::from(p))
                })
                .await;
            if let Err(e) = made {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(sandbox_err(e));
            }
            let dir = store.derived_dir(&sha);
            let dest = dir.join(PREVIEW_FILE);
            let moved = async {
                tokio::fs::create_dir_all(&dir).await?;
                tokio::fs::rename(&tmp, &dest).await?;
                let d = dir.clone();
                tokio::task::spawn_blocking(move || crate::media::store::sync_dir(&d))
                    .await
                    .map_err(std::io::Error::other)?
            }
            .await;
            if let Err(e) = moved {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(JobError::retry(format!("storing the preview: {e}")));
            }
            let key = format!("derived/{sha}/{PREVIEW_FILE}");
            sqlx::query("UPDATE assets SET preview_key = $1, preview_at = $2 WHERE id = $3")
                .bind(&key)
                .bind(now_ms())
                .bind(id)
                .execute(ctx.state.db.pool())
                .await
                .map_err(db_err("storing the preview"))?;
            tracks_changed(&ctx.state, id).await;
            Ok(())
        })
    }
}

/// Recomputes every user's storage total from the assets they own.
pub struct StorageReconcile;

pub fn storage_job() -> NewJob {
    NewJob::new(STORAGE, "{}").dedupe(STORAGE).priority(-5)
}

impl Job for StorageReconcile {
    fn kind(&self) -> &'static str {
        STORAGE
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
            let changed = sqlx::query(
                "UPDATE users SET storage_used_bytes = \
                 COALESCE((SELECT SUM(size_bytes) FROM assets WHERE assets.owner_id = users.id), 0) \
                 WHERE storage_used_bytes <> \
                 COALESCE((SELECT SUM(size_bytes) FROM assets WHERE assets.owner_id = users.id), 0)",
            )
            .execute(ctx.state.db.pool())
            .await
            .map_err(db_err("reconciling storage"))?
            .rows_affected();
            if changed > 0 {
                tracing::info!(users = changed, "storage totals corrected");
            }
            ctx.state.usage.invalidate_all();
            Ok(())
        })
    }
}
