//! Where each user stopped in each long track: one row per user and track,
//! written at most once per `MIN_GAP_MS` (the database decides, so several
//! tabs or processes cannot write faster), removed with the track or user.

use crate::db::{now_ms, Db};
use crate::errors::AppError;

/// Writes closer together than this (per user and track) are dropped.
pub const MIN_GAP_MS: i64 = 5_000;

/// The position `user` stopped at in `track`, if remembered.
pub async fn position(db: &Db, user: i64, track: i64) -> Result<Option<i64>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT position_ms FROM play_positions WHERE user_id = $1 AND track_id = $2",
    )
    .bind(user)
    .bind(track)
    .fetch_optional(db.pool())
    .await?)
}

/// Remembers `position_ms` unless the last write was under `MIN_GAP_MS`
/// ago; true when it was written.
pub async fn save(db: &Db, user: i64, track: i64, position_ms: i64) -> Result<bool, AppError> {
    let now = now_ms();
    let _turn = db.write_turn().await;
    let done = sqlx::query(
        "INSERT INTO play_positions (user_id, track_id, position_ms, updated_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, track_id) DO UPDATE \
         SET position_ms = excluded.position_ms, updated_at = excluded.updated_at \
         WHERE play_positions.updated_at <= $5",
    )
    .bind(user)
    .bind(track)
    .bind(position_ms)
    .bind(now)
    .bind(now - MIN_GAP_MS)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Forgets where `user` stopped in `track` (start over, or heard to the end).
pub async fn forget(db: &Db, user: i64, track: i64) -> Result<(), AppError> {
    let _turn = db.write_turn().await;
    sqlx::query("DELETE FROM play_positions WHERE user_id = $1 AND track_id = $2")
        .bind(user)
        .bind(track)
        .execute(db.pool())
        .await?;
    Ok(())
}
