//! SQL for track listings.

use sqlx::Row;

use super::{encode_cursor, TrackPage, TrackSummary, Visibility, PAGE_SIZE};
use crate::db::Db;
use crate::errors::AppError;

/// Keyset page over `tracks_public_recent_idx`: no OFFSET, no audio access.
pub async fn list_public(db: &Db, after: Option<(i64, i64)>) -> Result<TrackPage, AppError> {
    let (at, id) = after.unwrap_or((i64::MAX, i64::MAX));
    let rows = sqlx::query(
        "SELECT id, slug, title, tags, duration_ms, visibility, created_at FROM tracks \
         WHERE visibility = 'public' AND (created_at < $1 OR (created_at = $1 AND id < $2)) \
         ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(at)
    .bind(id)
    .bind(PAGE_SIZE + 1)
    .fetch_all(db.pool())
    .await?;
    let mut items: Vec<TrackSummary> = rows
        .into_iter()
        .map(|r| TrackSummary {
            id: r.get("id"),
            slug: r.get("slug"),
            title: r.get("title"),
            tags: r.get("tags"),
            duration_ms: r.get("duration_ms"),
            visibility: Visibility::parse(r.get::<&str, _>("visibility"))
                .unwrap_or(Visibility::Private),
            created_at: r.get("created_at"),
        })
        .collect();
    let next = if items.len() as i64 > PAGE_SIZE {
        items.truncate(PAGE_SIZE as usize);
        items.last().map(|t| encode_cursor(t.created_at, t.id))
    } else {
        None
    };
    Ok(TrackPage { items, next })
}

const ASSET_COLUMNS: &str = "a.id AS asset_id, a.size_bytes, a.mime, a.original_filename, a.duration_ms AS a_duration_ms, \
     a.sample_rate, a.channels, a.bit_depth, a.codec, a.bitrate, a.container, a.processing_error, a.peaks_at";

fn asset_of(r: &sqlx::any::AnyRow) -> super::AssetInfo {
    super::AssetInfo {
        id: r.get("asset_id"),
        size_bytes: r.get("size_bytes"),
        mime: r.get("mime"),
        original_filename: r.get("original_filename"),
        duration_ms: r.get("a_duration_ms"),
        sample_rate: r.get("sample_rate"),
        channels: r.get("channels"),
        bit_depth: r.get("bit_depth"),
        codec: r.get("codec"),
        bitrate: r.get("bitrate"),
        container: r.get("container"),
        processing_error: r.get("processing_error"),
        peaks_ready: r.get::<Option<i64>, _>("peaks_at").is_some(),
    }
}

/// A track with everything a track page or `GET /api/v1/tracks/{id}` shows.
pub async fn get_detail(db: &Db, id: i64) -> Result<Option<super::TrackDetail>, AppError> {
    let Some(t) = sqlx::query(
        "SELECT id, owner_id, slug, title, tags, visibility, duration_ms, primary_version_id, created_at, updated_at \
         FROM tracks WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    else {
        return Ok(None);
    };
    let versions: Vec<super::VersionInfo> = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT v.id, v.version_number, v.label, v.status, v.created_at, {ASSET_COLUMNS} \
         FROM track_versions v JOIN assets a ON a.id = v.asset_id WHERE v.track_id = $1 ORDER BY v.version_number"
    )))
    .bind(id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| super::VersionInfo {
        id: r.get("id"),
        number: r.get("version_number"),
        label: r.get("label"),
        status: r.get("status"),
        created_at: r.get("created_at"),
        asset: asset_of(r),
    })
    .collect();
    let stems: Vec<super::StemInfo> = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT s.id, s.version_id, s.role, {ASSET_COLUMNS} FROM stems s \
         JOIN track_versions v ON v.id = s.version_id JOIN assets a ON a.id = s.asset_id \
         WHERE v.track_id = $1 ORDER BY s.version_id, s.role, s.id"
    )))
    .bind(id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| super::StemInfo {
        id: r.get("id"),
        version_id: r.get("version_id"),
        role: r.get("role"),
        asset: asset_of(r),
    })
    .collect();
    let primary: Option<i64> = t.get("primary_version_id");
    let primary_version = versions
        .iter()
        .find(|v| Some(v.id) == primary)
        .or(versions.last());
    let jobs = match primary_version {
        Some(v) => crate::jobs::db::for_subject(db, &format!("asset:{}", v.asset.id)).await?,
        None => Vec::new(),
    };
    Ok(Some(super::TrackDetail {
        id: t.get("id"),
        owner_id: t.get("owner_id"),
        slug: t.get("slug"),
        title: t.get("title"),
        tags: t.get("tags"),
        visibility: Visibility::parse(t.get::<&str, _>("visibility"))
            .unwrap_or(Visibility::Private),
        duration_ms: t.get("duration_ms"),
        status: primary_version
            .map(|v| v.status.clone())
            .unwrap_or_else(|| "processing".into()),
        error: primary_version.and_then(|v| v.asset.processing_error.clone()),
        primary_version_id: primary,
        created_at: t.get("created_at"),
        updated_at: t.get("updated_at"),
        versions,
        stems,
        jobs,
    }))
}
