//! The `uploads` table (tus uploads: their bytes so far, their lease, their
//! result) and the checks on what an upload targets.

use std::time::Duration;

use sqlx::{AnyConnection, Row};

use super::{quota, Ingested, Target};
use crate::db::{now_ms, Db};
use crate::errors::AppError;

/// An upload as stored.
#[derive(Debug, Clone)]
pub struct Upload {
    pub id: String,
    pub owner_id: i64,
    pub length: i64,
    pub received: i64,
    pub metadata: String,
    /// none, partial or final.
    pub concat: String,
    /// A final upload's parts (ids, space-separated).
    pub parts: Option<String>,
    pub filename: Option<String>,
    pub title: Option<String>,
    pub target: Target,
    /// receiving, done or failed.
    pub state: String,
    pub error: Option<String>,
    pub result: Option<Ingested>,
    pub expires_at: i64,
    /// Until when a request holds the upload (a PATCH, or its finalizing).
    pub leased_until: Option<i64>,
    /// Where its bytes so far are on object storage.
    pub staged: Staged,
}

/// An upload's bytes so far on object storage: complete parts of one
/// multipart upload, then (past `bytes`) a tail object named by the offset it
/// ends at; and the sha256 state over the first `bytes` bytes, so that any
/// instance can carry the upload on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Staged {
    /// The object store's id of the multipart upload, once there is one.
    pub multipart: Option<String>,
    /// The ETags of its parts, in order.
    pub parts: Vec<String>,
    /// Bytes covered by the parts (and by `hash`).
    pub bytes: i64,
    /// The serialized sha256 state over the first `bytes` bytes.
    pub hash: Option<String>,
}

impl Upload {
    pub fn expired(&self, now: i64) -> bool {
        self.state == "receiving" && self.expires_at <= now
    }

    /// Whether a request holds the upload now.
    pub fn leased(&self, now: i64) -> bool {
        self.leased_until.is_some_and(|t| t >= now)
    }
}

pub async fn load(db: &Db, id: &str) -> Result<Option<Upload>, AppError> {
    let row = sqlx::query(
        "SELECT id, owner_id, length, received, metadata, concat, parts, filename, title, target, \
         target_id, stem_role, state, error, track_id, version_id, asset_id, expires_at, \
         lock_until, staged_id, staged_parts, staged_bytes, hash_state \
         FROM uploads WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| {
        let result = match (
            r.get::<Option<i64>, _>("track_id"),
            r.get::<Option<i64>, _>("version_id"),
            r.get::<Option<i64>, _>("asset_id"),
        ) {
            (Some(track_id), Some(version_id), Some(asset_id)) => Some(Ingested {
                track_id,
                version_id,
                asset_id,
                stem_id: None,
            }),
            _ => None,
        };
        Upload {
            id: r.get("id"),
            owner_id: r.get("owner_id"),
            length: r.get("length"),
            received: r.get("received"),
            metadata: r.get("metadata"),
            concat: r.get("concat"),
            parts: r.get("parts"),
            filename: r.get("filename"),
            title: r.get("title"),
            target: Target::from_columns(
                r.get::<&str, _>("target"),
                r.get("target_id"),
                r.get::<Option<&str>, _>("stem_role"),
            ),
            state: r.get("state"),
            error: r.get("error"),
            result,
            expires_at: r.get("expires_at"),
            leased_until: r.get("lock_until"),
            staged: Staged {
                multipart: r.get("staged_id"),
                parts: serde_json::from_str(r.get::<&str, _>("staged_parts")).unwrap_or_default(),
                bytes: r.get("staged_bytes"),
                hash: r.get("hash_state"),
            },
        }
    }))
}

/// A row to insert.
#[derive(Debug, Clone)]
pub struct NewUpload<'a> {
    pub id: &'a str,
    pub owner_id: i64,
    pub length: i64,
    pub metadata: &'a str,
    pub concat: &'a str,
    pub parts: Option<&'a str>,
    pub filename: Option<&'a str>,
    pub title: Option<&'a str>,
    pub target: &'a Target,
    pub expires_at: i64,
}

async fn insert(
    conn: &mut AnyConnection,
    u: &NewUpload<'_>,
    received: i64,
) -> Result<(), AppError> {
    let (target_id, role) = u.target.columns();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO uploads (id, owner_id, length, received, metadata, concat, parts, filename, title, \
         target, target_id, stem_role, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
    )
    .bind(u.id)
    .bind(u.owner_id)
    .bind(u.length)
    .bind(received)
    .bind(u.metadata)
    .bind(u.concat)
    .bind(u.parts)
    .bind(u.filename)
    .bind(u.title)
    .bind(u.target.name())
    .bind(target_id)
    .bind(role)
    .bind(u.expires_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A new upload, counted against the quota from now on: the room check and
/// the row are one transaction.
pub async fn create(db: &Db, u: &NewUpload<'_>, default_quota: u64) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    quota::check_room(&mut tx, u.owner_id, u.length.max(0) as u64, default_quota).await?;
    insert(&mut tx, u, 0).await?;
    tx.commit().await?;
    Ok(())
}

/// A final (concatenated) upload, complete from the start.
pub async fn insert_final(db: &Db, u: &NewUpload<'_>) -> Result<(), AppError> {
    let mut conn = db.pool().acquire().await?;
    insert(&mut conn, u, u.length).await
}

/// Takes upload `id`'s lease for a PATCH at `offset`, unless another
/// request holds it; false when it is taken (or the upload moved on).
pub async fn take_lease(
    db: &Db,
    id: &str,
    offset: i64,
    token: &str,
    ttl: Duration,
) -> Result<bool, AppError> {
    let now = now_ms();
    let _turn = db.write_turn().await;
    let took = sqlx::query(
        "UPDATE uploads SET lock_token = $1, lock_until = $2 \
         WHERE id = $3 AND received = $4 AND state = 'receiving' AND (lock_until IS NULL OR lock_until < $5)",
    )
    .bind(token)
    .bind(now + ttl.as_millis() as i64)
    .bind(id)
    .bind(offset)
    .bind(now)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(took > 0)
}

/// Extends a held lease; false when it was lost.
pub async fn renew_lease(db: &Db, id: &str, token: &str, ttl: Duration) -> Result<bool, AppError> {
    let _turn = db.write_turn().await;
    let kept = sqlx::query("UPDATE uploads SET lock_until = $1 WHERE id = $2 AND lock_token = $3")
        .bind(now_ms() + ttl.as_millis() as i64)
        .bind(id)
        .bind(token)
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(kept > 0)
}

/// Records a PATCH's fsynced bytes and ends its lease; false (nothing
/// recorded) when the lease is no longer `token`'s.
pub async fn record_received(
    db: &Db,
    id: &str,
    token: &str,
    received: i64,
    expires_at: i64,
) -> Result<bool, AppError> {
    let _turn = db.write_turn().await;
    let kept = sqlx::query(
        "UPDATE uploads SET received = $1, expires_at = $2, updated_at = $3, lock_token = NULL, lock_until = NULL \
         WHERE id = $4 AND lock_token = $5",
    )
    .bind(received)
    .bind(expires_at)
    .bind(now_ms())
    .bind(id)
    .bind(token)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(kept > 0)
}

/// Records where a PATCH on object storage stands: `received` bytes, of
/// which `staged` says where they are. With `end_lease`, the PATCH is over
/// (its lease ends); else it goes on (a checkpoint after a part, so that an
/// instance dying mid-PATCH loses only what came after it). False (nothing
/// recorded) when the lease is no longer `token`'s.
pub async fn record_staged(
    db: &Db,
    id: &str,
    token: &str,
    received: i64,
    staged: &Staged,
    expires_at: i64,
    end_lease: bool,
) -> Result<bool, AppError> {
    let parts = serde_json::to_string(&staged.parts).unwrap_or_else(|_| "[]".into());
    let _turn = db.write_turn().await;
    let lease = if end_lease {
        ", lock_token = NULL, lock_until = NULL"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE uploads SET received = $1, staged_id = $2, staged_parts = $3, staged_bytes = $4, \
         hash_state = $5, expires_at = $6, updated_at = $7{lease} WHERE id = $8 AND lock_token = $9"
    );
    let kept = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(received)
        .bind(staged.multipart.as_deref())
        .bind(parts)
        .bind(staged.bytes)
        .bind(staged.hash.as_deref())
        .bind(expires_at)
        .bind(now_ms())
        .bind(id)
        .bind(token)
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(kept > 0)
}

/// Records the multipart upload a PATCH just began (before any part goes
/// up, so that it is never left unknown); false when the lease was lost.
pub async fn record_multipart(
    db: &Db,
    id: &str,
    token: &str,
    multipart: &str,
) -> Result<bool, AppError> {
    let _turn = db.write_turn().await;
    let kept = sqlx::query("UPDATE uploads SET staged_id = $1 WHERE id = $2 AND lock_token = $3")
        .bind(multipart)
        .bind(id)
        .bind(token)
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(kept > 0)
}

/// Ends leases held with `token` (one upload's, or a concatenation's
/// parts'); a failure only leaves them to expire.
pub async fn release_leases(db: &Db, token: &str) {
    if let Err(e) =
        sqlx::query("UPDATE uploads SET lock_token = NULL, lock_until = NULL WHERE lock_token = $1")
            .bind(token)
            .execute(db.pool())
            .await
    {
        tracing::warn!(error = %e, "could not release an upload lease; it will expire");
    }
}

/// Takes the lease of every listed part at once: all complete partial
/// uploads of `owner_id` that no other request holds. False (nothing
/// taken) when any is not.
pub async fn claim_parts(
    db: &Db,
    owner_id: i64,
    ids: &[&str],
    token: &str,
    ttl: Duration,
) -> Result<bool, AppError> {
    let now = now_ms();
    let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 5)).collect();
    let sql = format!(
        "UPDATE uploads SET lock_token = $1, lock_until = $2 \
         WHERE owner_id = $3 AND concat = 'partial' AND state = 'receiving' AND received = length \
         AND (lock_until IS NULL OR lock_until < $4) AND id IN ({})",
        placeholders.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token)
        .bind(now + ttl.as_millis() as i64)
        .bind(owner_id)
        .bind(now);
    for id in ids {
        q = q.bind(*id);
    }
    let turn = db.write_turn().await;
    let claimed = q.execute(db.pool()).await?.rows_affected();
    drop(turn);
    if claimed != ids.len() as u64 {
        release_leases(db, token).await;
        return Ok(false);
    }
    Ok(true)
}

/// Marks an upload that cannot be stored as failed, with the reason.
pub async fn mark_failed(db: &Db, id: &str, error: &str) {
    if let Err(e) = sqlx::query("UPDATE uploads SET state = 'failed', error = $1 WHERE id = $2")
        .bind(error)
        .bind(id)
        .execute(db.pool())
        .await
    {
        tracing::warn!(upload = id, error = %e, "could not record a failed upload");
    }
}

/// Deletes an upload's row unless a request holds its lease. `None` when
/// it stayed; else the multipart upload it had on object storage (read in
/// the same statement, so one a PATCH began just before is not missed).
pub async fn delete_unless_leased(db: &Db, id: &str) -> Result<Option<Option<String>>, AppError> {
    let gone: Option<Option<String>> = sqlx::query_scalar(
        "DELETE FROM uploads WHERE id = $1 AND (lock_until IS NULL OR lock_until < $2) RETURNING staged_id",
    )
    .bind(id)
    .bind(now_ms())
    .fetch_optional(db.pool())
    .await?;
    Ok(gone)
}

/// Expired unfinished uploads, and finished ones older than `keep_done`.
pub async fn expired_uploads(db: &Db, keep_done: Duration) -> Result<Vec<String>, AppError> {
    let now = now_ms();
    Ok(sqlx::query_scalar(
        "SELECT id FROM uploads WHERE (state = 'receiving' AND expires_at < $1) \
         OR (state <> 'receiving' AND updated_at < $2) LIMIT 1000",
    )
    .bind(now)
    .bind(now - keep_done.as_millis() as i64)
    .fetch_all(db.pool())
    .await?)
}

/// Ids of uploads still receiving (their bytes must stay).
pub async fn receiving_ids(db: &Db) -> Result<Vec<String>, AppError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM uploads WHERE state = 'receiving'")
            .fetch_all(db.pool())
            .await?,
    )
}

/// The result recorded by whoever finalized upload `id`.
pub async fn finished_result(db: &Db, id: &str) -> Result<Option<Ingested>, AppError> {
    Ok(load(db, id)
        .await?
        .filter(|u| u.state == "done")
        .and_then(|u| u.result))
}

/// The owner of what `target` names: a track, or the track of a version
/// (`None`: there is no such thing; a new track has no owner yet).
pub async fn target_owner(
    conn: &mut AnyConnection,
    target: &Target,
) -> Result<Option<i64>, AppError> {
    Ok(match target {
        Target::NewTrack => None,
        Target::Version { track_id } => {
            sqlx::query_scalar("SELECT owner_id FROM tracks WHERE id = $1")
                .bind(track_id)
                .fetch_optional(&mut *conn)
                .await?
        }
        Target::Stem { version_id, .. } => sqlx::query_scalar(
            "SELECT t.owner_id FROM track_versions v JOIN tracks t ON t.id = v.track_id WHERE v.id = $1",
        )
        .bind(version_id)
        .fetch_optional(&mut *conn)
        .await?,
    })
}

/// A version holds at most `MAX_STEMS` stems (409 when it is full).
pub async fn check_stem_room(conn: &mut AnyConnection, version_id: i64) -> Result<(), AppError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stems WHERE version_id = $1")
        .bind(version_id)
        .fetch_one(&mut *conn)
        .await?;
    if n >= crate::tracks::MAX_STEMS {
        return Err(AppError::Conflict(format!(
            "this version already has {} stems, the most it can hold",
            crate::tracks::MAX_STEMS
        )));
    }
    Ok(())
}

/// Checks, before any byte is received, that the target exists and belongs
/// to `owner_id` (404 otherwise: others' objects are not revealed) and that
/// a stem still has room.
pub async fn check_target(db: &Db, owner_id: i64, target: &Target) -> Result<(), AppError> {
    if *target == Target::NewTrack {
        return Ok(());
    }
    let mut conn = db.pool().acquire().await?;
    if target_owner(&mut conn, target).await? != Some(owner_id) {
        return Err(AppError::NotFound);
    }
    if let Target::Stem { version_id, .. } = target {
        check_stem_room(&mut conn, *version_id).await?;
    }
    Ok(())
}

/// Whether `owner_id` has stored content `sha256` already (an import skips it).
pub async fn owner_has_content(db: &Db, owner_id: i64, sha256: &str) -> Result<bool, AppError> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM assets WHERE owner_id = $1 AND sha256 = $2")
            .bind(owner_id)
            .bind(sha256)
            .fetch_one(db.pool())
            .await?;
    Ok(n > 0)
}
