//! The change feed: one row per change to a track (created, updated,
//! deleted), written by whichever process made it. Its ids are the
//! server-sent event ids of `/api/v1/changes`, so a browser that reconnects
//! (to this instance or another) with `Last-Event-ID` is sent exactly what
//! it missed. Rows carry ids only; what changed is read from the track.

use serde::Serialize;
use sqlx::Row;

use crate::db::{now_ms, Db};
use crate::errors::AppError;

/// How long changes are kept for reconnecting clients.
pub const KEEP_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Created,
    Updated,
    Deleted,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Created => "created",
            Kind::Updated => "updated",
            Kind::Deleted => "deleted",
        }
    }
}

/// One change, as the feed sends it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    pub id: i64,
    pub track_id: i64,
    pub kind: String,
    /// When it happened (ms since the epoch).
    pub at: i64,
    #[serde(skip)]
    pub owner_id: i64,
    /// Everyone may hear of it (the track was public before or after it).
    #[serde(skip)]
    pub public: bool,
}

impl Change {
    /// Whether `viewer` may hear of it: their own tracks', and public ones'.
    pub fn visible_to(&self, viewer: Option<i64>) -> bool {
        self.public || viewer == Some(self.owner_id)
    }
}

/// Records a change to track `track_id` of `owner_id`; `public`: everyone
/// may hear of it. A failure is logged only: the change itself is made; the
/// feed's readers miss it.
pub async fn record(db: &Db, track_id: i64, owner_id: i64, kind: Kind, public: bool) {
    let _turn = db.write_turn().await;
    let done = sqlx::query(
        "INSERT INTO changes (track_id, owner_id, kind, at, public) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(track_id)
    .bind(owner_id)
    .bind(kind.as_str())
    .bind(now_ms())
    .bind(i64::from(public))
    .execute(db.pool())
    .await;
    if let Err(e) = done {
        tracing::warn!(track_id, error = %e, "could not record a change");
    }
}

/// Records a change to track `track_id` as it is now (its owner, and
/// public when it is, or `was_public` before the change).
pub async fn record_track(db: &Db, track_id: i64, kind: Kind, was_public: bool) {
    let _turn = db.write_turn().await;
    let done = sqlx::query(
        "INSERT INTO changes (track_id, owner_id, kind, at, public) \
         SELECT id, owner_id, $1, $2, CASE WHEN visibility = 'public' OR $3 = 1 THEN 1 ELSE 0 END \
         FROM tracks WHERE id = $4",
    )
    .bind(kind.as_str())
    .bind(now_ms())
    .bind(i64::from(was_public))
    .bind(track_id)
    .execute(db.pool())
    .await;
    if let Err(e) = done {
        tracing::warn!(track_id, error = %e, "could not record a change");
    }
}

/// The id of the latest change (0 when there is none).
pub async fn latest(db: &Db) -> Result<i64, AppError> {
    Ok(
        sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM changes")
            .fetch_one(db.pool())
            .await?
            .unwrap_or(0),
    )
}

/// The id of the oldest change still kept (0 when there is none).
pub async fn oldest(db: &Db) -> Result<i64, AppError> {
    Ok(
        sqlx::query_scalar::<_, Option<i64>>("SELECT MIN(id) FROM changes")
            .fetch_one(db.pool())
            .await?
            .unwrap_or(0),
    )
}

/// Up to `limit` changes after id `after`, by id. Ids are handed out
/// before their rows commit, so a younger id can be visible while an older
/// one is not yet: readers wait a little at a gap (`http::changes`).
pub async fn after(db: &Db, after: i64, limit: i64) -> Result<Vec<Change>, AppError> {
    let rows = sqlx::query(
        "SELECT id, track_id, owner_id, kind, at, public FROM changes WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Change {
            id: r.get("id"),
            track_id: r.get("track_id"),
            owner_id: r.get("owner_id"),
            kind: r.get("kind"),
            at: r.get("at"),
            public: r.get::<i64, _>("public") == 1,
        })
        .collect())
}

/// Removes changes older than `KEEP_MS`; how many.
pub async fn prune(db: &Db) -> Result<u64, AppError> {
    Ok(sqlx::query("DELETE FROM changes WHERE at < $1")
        .bind(now_ms() - KEEP_MS)
        .execute(db.pool())
        .await?
        .rows_affected())
}
