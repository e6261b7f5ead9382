//! Quota reservations: the room check and the reservation happen in one
//! transaction, so concurrent uploads of one user (in any process) cannot
//! together pass a quota that each alone fits.
//!
//! What counts against a quota: stored files (`users.storage_used_bytes`),
//! the images the owner uploaded as art for their tracks (each image once,
//! `art_bytes!`), unfinished tus uploads (their declared length, until finalized or
//! expired) and machine-API bodies being read (a `quota_reservations` row,
//! until stored or failed). Every check starts by locking the user's row
//! (PostgreSQL: a row lock; SQLite: the write lock), so checks of one user
//! take turns and each sees the others' reservations.

use sqlx::AnyConnection;

use crate::db::{now_ms, Db};
use crate::errors::AppError;

/// SQL: the bytes of the images user `$1` uploaded as their tracks' art,
/// each image once (a replaced image stops counting; it is removed an hour
/// later). Read through `tracks_owner_art_idx`.
#[macro_export]
macro_rules! art_bytes {
    () => {
        "COALESCE((SELECT SUM(w.original_bytes) FROM artwork w WHERE w.sha256 IN \
         (SELECT t.art_upload_sha256 FROM tracks t \
          WHERE t.owner_id = $1 AND t.art_upload_sha256 IS NOT NULL)), 0)"
    };
}

/// How long a machine-API reservation lasts without being renewed (a
/// crashed request's bytes stop counting after this).
pub const RESERVATION_TTL_MS: i64 = 15 * 60 * 1000;

/// Locks `owner_id`'s row for the rest of the transaction and answers 413
/// (with the figures) unless `incoming` more bytes fit beside what is stored
/// and in flight. The caller records its own reservation in the same
/// transaction before committing.
pub async fn check_room(
    tx: &mut AnyConnection,
    owner_id: i64,
    incoming: u64,
    default_quota: u64,
) -> Result<(), AppError> {
    lock_user(tx, owner_id).await?;
    room_for(tx, owner_id, incoming, default_quota).await
}

/// 413 (with the figures) unless `incoming` more bytes fit.
async fn room_for(
    tx: &mut AnyConnection,
    owner_id: i64,
    incoming: u64,
    default_quota: u64,
) -> Result<(), AppError> {
    let (taken, quota) = usage_in(tx, owner_id, default_quota).await?;
    if taken.saturating_add(incoming) > quota {
        return Err(no_room(incoming, taken, quota));
    }
    Ok(())
}

/// Locks `owner_id`'s row for the rest of the transaction and answers 413
/// unless image `sha256` (`bytes` long) fits as their art: an image already
/// on one of their tracks is counted once already.
pub async fn check_room_for_art(
    tx: &mut AnyConnection,
    owner_id: i64,
    sha256: &str,
    bytes: u64,
    default_quota: u64,
) -> Result<(), AppError> {
    lock_user(tx, owner_id).await?;
    art_room(tx, owner_id, sha256, bytes, default_quota).await
}

/// Whether image `sha256` would fit as `owner_id`'s art now, without
/// locking: asked before the image is stored (so a refused one leaves
/// nothing behind), and again by `check_room_for_art` when it is set.
pub async fn art_fits(
    db: &Db,
    owner_id: i64,
    sha256: &str,
    bytes: u64,
    default_quota: u64,
) -> Result<(), AppError> {
    let mut conn = db.pool().acquire().await?;
    art_room(&mut conn, owner_id, sha256, bytes, default_quota).await
}

async fn art_room(
    tx: &mut AnyConnection,
    owner_id: i64,
    sha256: &str,
    bytes: u64,
    default_quota: u64,
) -> Result<(), AppError> {
    let counted: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM tracks WHERE owner_id = $1 AND art_upload_sha256 = $2",
    )
    .bind(owner_id)
    .bind(sha256)
    .fetch_one(&mut *tx)
    .await?;
    let incoming = if counted > 0 { 0 } else { bytes };
    room_for(tx, owner_id, incoming, default_quota).await
}

/// How much a reservation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Exactly this many bytes (413 unless they fit).
    Exactly(u64),
    /// As much of this as there is room for (the first step of a body of
    /// unknown length, which `grow`s as it arrives); 413 only when there
    /// is no room at all.
    UpTo(u64),
}

/// Checks the room and reserves it under `id`, in one transaction; returns
/// the bytes reserved.
pub async fn reserve(
    db: &Db,
    id: &str,
    owner_id: i64,
    want: Want,
    default_quota: u64,
) -> Result<u64, AppError> {
    let mut tx = db.begin_write().await?;
    lock_user(&mut tx, owner_id).await?;
    let (taken, quota) = usage_in(&mut tx, owner_id, default_quota).await?;
    let room = quota.saturating_sub(taken);
    let bytes = match want {
        Want::Exactly(n) if n > room => return Err(no_room(n, taken, quota)),
        Want::Exactly(n) => n,
        Want::UpTo(_) if room == 0 => return Err(no_room(1, taken, quota)),
        Want::UpTo(n) => room.min(n),
    };
    let now = now_ms();
    sqlx::query(
        "INSERT INTO quota_reservations (id, owner_id, bytes, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(owner_id)
    .bind(i64::try_from(bytes).unwrap_or(i64::MAX))
    .bind(now + RESERVATION_TTL_MS)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(bytes)
}

/// The user's row, locked for the transaction; 404 when there is none.
async fn lock_user(tx: &mut AnyConnection, owner_id: i64) -> Result<(), AppError> {
    let locked =
        sqlx::query("UPDATE users SET storage_used_bytes = storage_used_bytes WHERE id = $1")
            .bind(owner_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if locked == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// What `owner_id` has stored or in flight, and their quota (bytes).
async fn usage_in(
    tx: &mut AnyConnection,
    owner_id: i64,
    default_quota: u64,
) -> Result<(u64, u64), AppError> {
    let (used, quota): (i64, Option<i64>) =
        sqlx::query_as("SELECT storage_used_bytes, storage_quota_bytes FROM users WHERE id = $1")
            .bind(owner_id)
            .fetch_one(&mut *tx)
            .await?;
    let in_flight: Option<i64> = sqlx::query_scalar(concat!(
        "SELECT CAST(COALESCE((SELECT SUM(length) FROM uploads \
           WHERE owner_id = $1 AND state = 'receiving' AND concat <> 'final' AND expires_at > $2), 0) \
         + COALESCE((SELECT SUM(bytes) FROM quota_reservations \
           WHERE owner_id = $1 AND expires_at > $2), 0) + ",
        art_bytes!(),
        " AS BIGINT)"
    ))
    .bind(owner_id)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?;
    let quota = quota.map(|q| q.max(0) as u64).unwrap_or(default_quota);
    let taken = used.max(0) as u64 + in_flight.unwrap_or(0).max(0) as u64;
    Ok((taken, quota))
}

fn no_room(incoming: u64, taken: u64, quota: u64) -> AppError {
    AppError::PayloadTooLarge(format!(
        "this file ({}) does not fit in your storage quota: {} of {} used or being uploaded",
        crate::fmt::bytes(incoming as i64),
        crate::fmt::bytes(taken as i64),
        crate::fmt::bytes(quota as i64)
    ))
}

/// Grows reservation `id` by `more` bytes if they fit (one transaction, like
/// `reserve`): a body of unknown length reserves as it arrives.
pub async fn grow(
    db: &Db,
    id: &str,
    owner_id: i64,
    more: u64,
    default_quota: u64,
) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    check_room(&mut tx, owner_id, more, default_quota).await?;
    sqlx::query("UPDATE quota_reservations SET bytes = bytes + $1, expires_at = $2 WHERE id = $3")
        .bind(i64::try_from(more).unwrap_or(i64::MAX))
        .bind(now_ms() + RESERVATION_TTL_MS)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Keeps a reservation alive while its body is still being read.
pub async fn renew(db: &Db, id: &str) -> Result<(), AppError> {
    sqlx::query("UPDATE quota_reservations SET expires_at = $1 WHERE id = $2")
        .bind(now_ms() + RESERVATION_TTL_MS)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Ends a reservation (inside the transaction that stored the file).
pub async fn release_in(tx: &mut AnyConnection, id: &str) -> Result<(), AppError> {
    sqlx::query("DELETE FROM quota_reservations WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Ends a reservation whose request failed; a failure here only leaves the
/// reservation to expire.
pub async fn release(db: &Db, id: &str) {
    if let Err(e) = sqlx::query("DELETE FROM quota_reservations WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await
    {
        tracing::warn!(reservation = id, error = %e, "could not end a quota reservation");
    }
}

/// Deletes expired reservations (the cleanup job).
pub async fn delete_expired_reservations(db: &Db) -> Result<u64, AppError> {
    Ok(
        sqlx::query("DELETE FROM quota_reservations WHERE expires_at < $1")
            .bind(now_ms())
            .execute(db.pool())
            .await?
            .rows_affected(),
    )
}
