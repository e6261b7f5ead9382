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
