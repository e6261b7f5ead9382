//! What the media routes read and record: the stored file behind a signed
//! link, whether the track is still visible to the link's user, the stems
//! of a version for the archive, and the download history.

use sqlx::Row;

use crate::db::{now_ms, Db};
use crate::errors::AppError;

/// An asset as the media routes serve it.
#[derive(Debug, Clone)]
pub struct ServedAsset {
    pub storage_key: String,
    pub sha256: String,
    pub codec: Option<String>,
    pub container: Option<String>,
    pub created_at: i64,
    /// The preview's key and when it was made.
    pub preview: Option<(String, i64)>,
}

pub async fn asset(db: &Db, id: i64) -> Result<Option<ServedAsset>, AppError> {
    let row = sqlx::query(
        "SELECT storage_key, sha256, codec, container, created_at, preview_key, preview_at \
         FROM assets WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| ServedAsset {
        storage_key: r.get("storage_key"),
        sha256: r.get("sha256"),
        codec: r.get("codec"),
        container: r.get("container"),
        created_at: r.get("created_at"),
        preview: match (
            r.get::<Option<String>, _>("preview_key"),
            r.get::<Option<i64>, _>("preview_at"),
        ) {
            (Some(k), Some(at)) => Some((k, at)),
            _ => None,
        },
    }))
}

/// Whether a track that plays `asset_id` (as a version or a stem), or that
/// holds `version_id`, is still visible to `user`: a link outlives nothing,
/// so a track made private after it was signed stops serving everyone but
/// its owner and admins at once.
pub async fn still_visible(
    db: &Db,
    asset_id: Option<i64>,
    version_id: Option<i64>,
    user: Option<i64>,
) -> Result<bool, AppError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM tracks t WHERE \
         (t.visibility <> 'private' OR t.owner_id = $3 \
          OR EXISTS (SELECT 1 FROM users u WHERE u.id = $3 AND u.role = 'admin')) \
         AND t.id IN (SELECT v.track_id FROM track_versions v WHERE v.asset_id = $1 OR v.id = $2 \
           UNION SELECT v.track_id FROM stems s JOIN track_versions v ON v.id = s.version_id \
           WHERE s.asset_id = $1)",
    )
    .bind(asset_id)
    .bind(version_id)
    .bind(user)
    .fetch_one(db.pool())
    .await?;
    Ok(n > 0)
}

/// A stem in a version's archive.
#[derive(Debug, Clone)]
pub struct ZipStem {
    pub role: String,
    pub asset_id: i64,
    pub storage_key: String,
    pub original_filename: Option<String>,
    pub slug: String,
}

/// A version's stems (at most `MAX_STEMS`), by role.
pub async fn stems_for_zip(db: &Db, version_id: i64) -> Result<Vec<ZipStem>, AppError> {
    let rows = sqlx::query(
        "SELECT s.role, a.id AS asset_id, a.storage_key, a.original_filename, t.slug \
         FROM stems s JOIN assets a ON a.id = s.asset_id JOIN track_versions v ON v.id = s.version_id \
         JOIN tracks t ON t.id = v.track_id WHERE s.version_id = $1 ORDER BY s.role, s.id LIMIT $2",
    )
    .bind(version_id)
    .bind(super::MAX_STEMS)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ZipStem {
            role: r.get("role"),
            asset_id: r.get("asset_id"),
            storage_key: r.get("storage_key"),
            original_filename: r.get("original_filename"),
            slug: r.get("slug"),
        })
        .collect())
}

/// One row in the download history (the client address only as `ip_hash`).
pub async fn record_download(
    db: &Db,
    user: Option<i64>,
    asset_id: i64,
    kind: &str,
    ip_hash: &str,
) -> Result<(), AppError> {
    let _turn = db.write_turn().await;
    sqlx::query(
        "INSERT INTO downloads (user_id, asset_id, kind, ip_hash, created_at, track_id, label) \
         SELECT $1, $2, $3, $4, $5, \
           (SELECT v.track_id FROM track_versions v WHERE v.asset_id = $2 \
            UNION SELECT v.track_id FROM stems s JOIN track_versions v ON v.id = s.version_id WHERE s.asset_id = $2 LIMIT 1), \
           COALESCE((SELECT original_filename FROM assets WHERE id = $2), '')",
    )
    .bind(user)
    .bind(asset_id)
    .bind(kind)
    .bind(ip_hash)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The user's downloads, newest first, keyset-paginated on (created_at, id).
pub async fn downloads(
    db: &Db,
    user_id: i64,
    cursor: Option<&str>,
) -> Result<super::DownloadPage, AppError> {
    let (at, id) = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => c
            .split_once('_')
            .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
            .ok_or_else(|| AppError::bad_request("bad page cursor"))?,
        None => (i64::MAX, i64::MAX),
    };
    let rows = sqlx::query(
        "SELECT d.id, d.created_at, d.kind, d.label, d.track_id, t.title FROM downloads d \
         LEFT JOIN tracks t ON t.id = d.track_id \
         WHERE d.user_id = $1 AND (d.created_at, d.id) < ($2, $3) \
         ORDER BY d.created_at DESC, d.id DESC LIMIT $4",
    )
    .bind(user_id)
    .bind(at)
    .bind(id)
    .bind(super::DOWNLOADS_PAGE + 1)
    .fetch_all(db.pool())
    .await?;
    let mut items: Vec<super::DownloadRow> = rows
        .iter()
        .map(|r| super::DownloadRow {
            id: r.get("id"),
            created_at: r.get("created_at"),
            kind: r.get("kind"),
            label: r.get("label"),
            track_id: r.get("track_id"),
            track_title: r.get("title"),
        })
        .collect();
    let next = if items.len() as i64 > super::DOWNLOADS_PAGE {
        items.truncate(super::DOWNLOADS_PAGE as usize);
        items.last().map(|d| format!("{}_{}", d.created_at, d.id))
    } else {
        None
    };
    Ok(super::DownloadPage { items, next })
}
