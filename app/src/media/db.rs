//! The asset rows the media jobs read and write: the file a job works on,
//! its metadata, its peaks and preview, a processing failure, the
//! waveform/preview jobs the metadata job queues, and which tracks a change
//! shows on.

use sqlx::Row;

use super::Facts;
use crate::db::{now_ms, Db};
use crate::errors::AppError;
use crate::jobs::db::{enqueue_in, NewJob};

/// Which of an asset's results a job makes (it skips an asset that has it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Metadata,
    Peaks,
    Preview,
}

impl Step {
    fn done_column(self) -> &'static str {
        match self {
            Step::Metadata => "metadata_at",
            Step::Peaks => "peaks_at",
            Step::Preview => "preview_at",
        }
    }
}

/// A stored file a media job works on.
#[derive(Debug, Clone)]
pub struct PendingAsset {
    pub id: i64,
    pub storage_key: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub frames: Option<i64>,
    pub duration_ms: Option<i64>,
}

/// Asset `id` unless it was deleted or already has `step`'s result (and
/// this is not a redo).
pub async fn pending(
    db: &Db,
    id: i64,
    step: Step,
    redo: bool,
) -> Result<Option<PendingAsset>, AppError> {
    let sql = format!(
        "SELECT storage_key, sha256, size_bytes, frames, duration_ms, {} AS done FROM assets WHERE id = $1",
        step.done_column()
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row
        .filter(|r| redo || r.get::<Option<i64>, _>("done").is_none())
        .map(|r| PendingAsset {
            id,
            storage_key: r.get("storage_key"),
            sha256: r.get("sha256"),
            size_bytes: r.get("size_bytes"),
            frames: r.get("frames"),
            duration_ms: r.get("duration_ms"),
        }))
}

/// Records the metadata of asset `id` (its served type decided from what
/// the decoder recognised), the duration on the tracks that play it, and
/// queues its follow-up jobs (`then`), in one transaction.
pub async fn record_metadata(db: &Db, id: i64, f: &Facts, then: &[NewJob]) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE assets SET duration_ms = $1, frames = $2, sample_rate = $3, channels = $4, \
         bit_depth = $5, codec = $6, bitrate = $7, container = $8, metadata_at = $9, \
         processing_error = NULL, mime = $10 WHERE id = $11",
    )
    .bind(f.duration_ms)
    .bind(i64::try_from(f.frames).unwrap_or(i64::MAX))
    .bind(i64::from(f.sample_rate))
    .bind(i64::from(f.channels))
    .bind(f.bit_depth.map(i64::from))
    .bind(&f.codec)
    .bind(f.bitrate.map(i64::from))
    .bind(&f.container)
    .bind(now_ms())
    .bind(crate::tracks::links::audio_mime(
        Some(&f.codec),
        Some(&f.container),
    ))
    .bind(id)
    .execute(&mut *tx)
    .await?;
    // Denormalized for listings, which never open an audio file.
    sqlx::query(
        "UPDATE tracks SET duration_ms = $1 WHERE primary_version_id IN \
         (SELECT id FROM track_versions WHERE asset_id = $2)",
    )
    .bind(f.duration_ms)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    for job in then {
        enqueue_in(&mut tx, job).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Asset `id` has its peaks (and `mini_wave`, the lists' small waveform):
/// versions playing it are ready.
pub async fn record_peaks(db: &Db, id: i64, mini_wave: &str) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE assets SET peaks_at = $1, mini_wave = $2 WHERE id = $3")
        .bind(now_ms())
        .bind(mini_wave)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE track_versions SET status = 'ready' WHERE asset_id = $1 AND status = 'processing'",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Asset `id` has a preview, stored under `key`.
pub async fn record_preview(db: &Db, id: i64, key: &str) -> Result<(), AppError> {
    let _turn = db.write_turn().await;
    sqlx::query("UPDATE assets SET preview_key = $1, preview_at = $2 WHERE id = $3")
        .bind(key)
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Asset `id` could not be processed: the reason, on it and on the
/// versions playing it.
pub async fn record_failure(db: &Db, id: i64, error: &str) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE assets SET processing_error = $1 WHERE id = $2")
        .bind(error)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE track_versions SET status = 'failed' WHERE asset_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The tracks that use asset `id` (as a version or a stem).
pub async fn tracks_of_asset(db: &Db, id: i64) -> Result<Vec<i64>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT track_id FROM track_versions WHERE asset_id = $1 \
         UNION SELECT v.track_id FROM stems s JOIN track_versions v ON v.id = s.version_id WHERE s.asset_id = $1",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await?)
}

/// Recomputes every user's storage total from the assets they own; how
/// many totals changed.
pub async fn reconcile_storage(db: &Db) -> Result<u64, AppError> {
    Ok(sqlx::query(
        "UPDATE users SET storage_used_bytes = \
         COALESCE((SELECT SUM(size_bytes) FROM assets WHERE assets.owner_id = users.id), 0) \
         WHERE storage_used_bytes <> \
         COALESCE((SELECT SUM(size_bytes) FROM assets WHERE assets.owner_id = users.id), 0)",
    )
    .execute(db.pool())
    .await?
    .rows_affected())
}

/// A stored file for a job that does not depend on the media results
/// (transcription): its key, owner and duration (`None`: deleted).
pub async fn asset_file(db: &Db, id: i64) -> Result<Option<(String, i64, Option<i64>)>, AppError> {
    Ok(
        sqlx::query_as("SELECT storage_key, owner_id, duration_ms FROM assets WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?,
    )
}

/// Assets with peaks but no small waveform (stored before there were any).
pub async fn without_mini_wave(db: &Db, limit: i64) -> Result<Vec<i64>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM assets WHERE peaks_at IS NOT NULL AND mini_wave IS NULL ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

/// Stores asset `id`'s small waveform.
pub async fn set_mini_wave(db: &Db, id: i64, mini_wave: &str) -> Result<(), AppError> {
    sqlx::query("UPDATE assets SET mini_wave = $1 WHERE id = $2")
        .bind(mini_wave)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}
