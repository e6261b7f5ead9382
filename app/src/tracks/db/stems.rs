//! The stems of a version or a track, with their files.

use sqlx::Row;

use super::{asset_of, ASSET_COLUMNS};
use crate::db::Db;
use crate::errors::AppError;
use crate::tracks::StemInfo;

/// The stems of one version, at most `limit`.
pub async fn stems_of(db: &Db, version_id: i64, limit: i64) -> Result<Vec<StemInfo>, AppError> {
    stems_where(db, "s.version_id = $1", version_id, limit).await
}

/// The stems of every version of a track (the machine API shows them all).
pub async fn stems_of_track(db: &Db, track_id: i64) -> Result<Vec<StemInfo>, AppError> {
    stems_where(db, "v.track_id = $1", track_id, 100_000).await
}

async fn stems_where(
    db: &Db,
    cond: &'static str,
    id: i64,
    limit: i64,
) -> Result<Vec<StemInfo>, AppError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT s.id, s.version_id, s.role, {ASSET_COLUMNS} FROM stems s \
         JOIN track_versions v ON v.id = s.version_id JOIN assets a ON a.id = s.asset_id \
         WHERE {cond} ORDER BY s.version_id, s.role, s.id LIMIT $2"
    )))
    .bind(id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| StemInfo {
            id: r.get("id"),
            version_id: r.get("version_id"),
            role: r.get("role"),
            asset: asset_of(r),
            stream_url: None,
            download_url: None,
        })
        .collect())
}
