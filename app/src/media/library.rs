//! Tags and artwork rows: what a file's own tags say, applied once to the
//! track it becomes (the owner's edits stay); artwork stored by the image's
//! content hash, made into thumbnails by the `artwork` job, and which art a
//! track shows (the owner's own image wins over art embedded in the file).

use rand::RngCore;
use sqlx::Row;

use super::{FileTags, Thumb};
use crate::db::{now_ms, Db};
use crate::errors::AppError;
use crate::jobs::db::{enqueue_in, NewJob};

/// The `artwork` job's kind (payload: the image's sha256).
pub use crate::jobs::ARTWORK;

/// Which tracks a file's tags are applied to.
#[derive(Debug, Clone, Copy)]
enum Tracks {
    /// Every track whose primary version plays the asset.
    OfAsset(i64),
    /// One track (just made from the asset).
    One(i64),
}

impl Tracks {
    fn condition(self, param: usize) -> (String, i64) {
        match self {
            Tracks::OfAsset(id) => (
                format!(
                    "primary_version_id IN (SELECT id FROM track_versions WHERE asset_id = ${param})"
                ),
                id,
            ),
            Tracks::One(id) => (format!("id = ${param}"), id),
        }
    }
}

/// Fills the empty fields of the chosen tracks (never applied before) from
/// `tags`; a title made from the file name gives way to a tag title.
/// Returns the tracks changed.
async fn apply_tags(
    conn: &mut sqlx::AnyConnection,
    which: Tracks,
    tags: &FileTags,
) -> Result<Vec<i64>, AppError> {
    let (cond, id) = which.condition(11);
    let sql = format!(
        "UPDATE tracks SET \
         artist = CASE WHEN artist = '' THEN $1 ELSE artist END, \
         album = CASE WHEN album = '' THEN $2 ELSE album END, \
         album_artist = CASE WHEN album_artist = '' THEN $3 ELSE album_artist END, \
         genre = CASE WHEN genre = '' THEN $4 ELSE genre END, \
         comment = CASE WHEN comment = '' THEN $5 ELSE comment END, \
         track_no = COALESCE(track_no, $6), disc_no = COALESCE(disc_no, $7), year = COALESCE(year, $8), \
         title = CASE WHEN title_from_name = 1 AND $9 <> '' THEN $9 ELSE title END, \
         title_from_name = CASE WHEN title_from_name = 1 AND $9 <> '' THEN 0 ELSE title_from_name END, \
         file_tags_applied = 1, updated_at = $10 \
         WHERE file_tags_applied = 0 AND {cond} RETURNING id"
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(&tags.artist)
        .bind(&tags.album)
        .bind(&tags.album_artist)
        .bind(&tags.genre)
        .bind(&tags.comment)
        .bind(tags.track_no.map(i64::from))
        .bind(tags.disc_no.map(i64::from))
        .bind(tags.year.map(i64::from))
        .bind(&tags.title)
        .bind(now_ms())
        .bind(id)
        .fetch_all(&mut *conn)
        .await?)
}

/// Art a media worker found in a file, stored (under its hash) for the
/// artwork job.
#[derive(Debug, Clone)]
pub struct FoundArt {
    pub sha256: String,
    pub bytes: u64,
}

/// Records what asset `id`'s own tags say and the art found in it, and
/// applies them to the tracks it is the primary file of (those that never
/// had file tags applied). Returns the tracks changed.
pub async fn record_file_tags(
    db: &Db,
    id: i64,
    tags: &FileTags,
    art: Option<&FoundArt>,
) -> Result<Vec<i64>, AppError> {
    let json = serde_json::to_string(tags)
        .map_err(|e| AppError::internal("storing file tags", e.to_string()))?;
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE assets SET file_tags = $1, art_sha256 = $2 WHERE id = $3")
        .bind(&json)
        .bind(art.map(|a| a.sha256.as_str()))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let mut changed = apply_tags(&mut tx, Tracks::OfAsset(id), tags).await?;
    if let Some(art) = art {
        if add_artwork(&mut tx, &art.sha256, art.bytes).await? {
            changed.extend(show_art(&mut tx, &art.sha256).await?);
        }
    }
    tx.commit().await?;
    changed.sort_unstable();
    changed.dedup();
    Ok(changed)
}

/// Applies the tags and (ready) art of asset `asset_id`, when known, to
/// the track just made from it (inside the upload's transaction).
pub async fn apply_to_new_track(
    conn: &mut sqlx::AnyConnection,
    track_id: i64,
    asset_id: i64,
) -> Result<(), AppError> {
    let row = sqlx::query(
        "SELECT a.file_tags, w.token FROM assets a \
         LEFT JOIN artwork w ON w.sha256 = a.art_sha256 AND w.status = 'ready' WHERE a.id = $1",
    )
    .bind(asset_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(()) };
    let tags: Option<String> = row.get("file_tags");
    if let Some(tags) = tags.and_then(|t| serde_json::from_str::<FileTags>(&t).ok()) {
        apply_tags(conn, Tracks::One(track_id), &tags).await?;
    }
    let token: Option<String> = row.get("token");
    if let Some(token) = token {
        sqlx::query("UPDATE tracks SET art_token = $1 WHERE id = $2 AND art_upload_sha256 IS NULL")
            .bind(token)
            .bind(track_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

fn new_token() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Adds the artwork row of image `sha256` unless there is one, queueing
/// its job; whether its thumbnails are made already.
async fn add_artwork(
    conn: &mut sqlx::AnyConnection,
    sha256: &str,
    bytes: u64,
) -> Result<bool, AppError> {
    let inserted = sqlx::query(
        "INSERT INTO artwork (sha256, token, original_bytes, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(sha256)
    .bind(new_token())
    .bind(i64::try_from(bytes).unwrap_or(i64::MAX))
    .bind(now_ms())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        enqueue_in(
            conn,
            &NewJob::new(ARTWORK, sha256)
                .dedupe(format!("{ARTWORK}:{sha256}"))
                .priority(4),
        )
        .await?;
        return Ok(false);
    }
    let status: String = sqlx::query_scalar("SELECT status FROM artwork WHERE sha256 = $1")
        .bind(sha256)
        .fetch_one(&mut *conn)
        .await?;
    Ok(status == "ready")
}

/// Shows the (ready) art `sha256` on the tracks it belongs to: those whose
/// owner uploaded it, and those without an upload whose primary file has
/// it embedded. Returns the tracks changed.
async fn show_art(conn: &mut sqlx::AnyConnection, sha256: &str) -> Result<Vec<i64>, AppError> {
    let token: Option<String> =
        sqlx::query_scalar("SELECT token FROM artwork WHERE sha256 = $1 AND status = 'ready'")
            .bind(sha256)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(token) = token else {
        return Ok(Vec::new());
    };
    let mut changed: Vec<i64> = sqlx::query_scalar(
        "UPDATE tracks SET art_token = $1 WHERE art_upload_sha256 = $2 \
         AND (art_token IS NULL OR art_token <> $1) RETURNING id",
    )
    .bind(&token)
    .bind(sha256)
    .fetch_all(&mut *conn)
    .await?;
    changed.extend(
        sqlx::query_scalar::<_, i64>(
            "UPDATE tracks SET art_token = $1 WHERE art_upload_sha256 IS NULL \
             AND (art_token IS NULL OR art_token <> $1) AND primary_version_id IN \
             (SELECT v.id FROM track_versions v JOIN assets a ON a.id = v.asset_id WHERE a.art_sha256 = $2) \
             RETURNING id",
        )
        .bind(&token)
        .bind(sha256)
        .fetch_all(&mut *conn)
        .await?,
    );
    Ok(changed)
}

/// An artwork row for the job: its stored original's size; `None` when
/// it is gone or done.
pub async fn pending_artwork(db: &Db, sha256: &str) -> Result<Option<i64>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT original_bytes FROM artwork WHERE sha256 = $1 AND status = 'pending'",
    )
    .bind(sha256)
    .fetch_optional(db.pool())
    .await?)
}

/// The artwork job made the thumbnails of `sha256`: the art shows on its
/// tracks. Returns the tracks changed.
pub async fn record_artwork(
    db: &Db,
    sha256: &str,
    width: u32,
    height: u32,
    thumbs: &[Thumb],
) -> Result<Vec<i64>, AppError> {
    let json = serde_json::to_string(thumbs)
        .map_err(|e| AppError::internal("storing thumbnails", e.to_string()))?;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE artwork SET status = 'ready', width = $1, height = $2, thumbs = $3, error = NULL, \
         ready_at = $4 WHERE sha256 = $5",
    )
    .bind(i64::from(width))
    .bind(i64::from(height))
    .bind(json)
    .bind(now_ms())
    .bind(sha256)
    .execute(&mut *tx)
    .await?;
    let changed = show_art(&mut tx, sha256).await?;
    tx.commit().await?;
    Ok(changed)
}

/// The artwork job could not use image `sha256` (not an image, too many
/// pixels): the reason, shown to the owner who uploaded it. Returns the
/// tracks waiting for it.
pub async fn record_artwork_failure(
    db: &Db,
    sha256: &str,
    error: &str,
) -> Result<Vec<i64>, AppError> {
    sqlx::query("UPDATE artwork SET status = 'failed', error = $1 WHERE sha256 = $2")
        .bind(error)
        .bind(sha256)
        .execute(db.pool())
        .await?;
    Ok(
        sqlx::query_scalar("SELECT id FROM tracks WHERE art_upload_sha256 = $1")
            .bind(sha256)
            .fetch_all(db.pool())
            .await?,
    )
}

/// What an art URL's token names: the image's hash, when its thumbnails
/// are made.
pub async fn artwork_by_token(db: &Db, token: &str) -> Result<Option<String>, AppError> {
    Ok(
        sqlx::query_scalar("SELECT sha256 FROM artwork WHERE token = $1 AND status = 'ready'")
            .bind(token)
            .fetch_optional(db.pool())
            .await?,
    )
}

/// The owner's own image `sha256` (stored) becomes track `track_id`'s art
/// once its thumbnails are made (at once when they are); 413 unless it fits
/// in the quota of `owner_id` (the track's owner), where it counts.
pub async fn set_uploaded_art(
    db: &Db,
    track_id: i64,
    owner_id: i64,
    sha256: &str,
    bytes: u64,
    default_quota: u64,
) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    crate::uploads::quota::check_room_for_art(&mut tx, owner_id, sha256, bytes, default_quota)
        .await?;
    sqlx::query("UPDATE tracks SET art_upload_sha256 = $1, updated_at = $2 WHERE id = $3")
        .bind(sha256)
        .bind(now_ms())
        .bind(track_id)
        .execute(&mut *tx)
        .await?;
    if add_artwork(&mut tx, sha256, bytes).await? {
        show_art(&mut tx, sha256).await?;
    } else {
        // A failed image is tried again when uploaded again.
        let retried = sqlx::query(
            "UPDATE artwork SET status = 'pending', error = NULL WHERE sha256 = $1 AND status = 'failed'",
        )
        .bind(sha256)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if retried == 1 {
            enqueue_in(
                &mut tx,
                &NewJob::new(ARTWORK, sha256)
                    .dedupe(format!("{ARTWORK}:{sha256}"))
                    .priority(4),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Track `track_id` goes back to the art embedded in its primary file
/// (or none).
pub async fn remove_uploaded_art(db: &Db, track_id: i64) -> Result<(), AppError> {
    let _turn = db.write_turn().await;
    sqlx::query(
        "UPDATE tracks SET art_upload_sha256 = NULL, updated_at = $1, art_token = \
         (SELECT w.token FROM track_versions v JOIN assets a ON a.id = v.asset_id \
          JOIN artwork w ON w.sha256 = a.art_sha256 AND w.status = 'ready' \
          WHERE v.id = tracks.primary_version_id) \
         WHERE id = $2",
    )
    .bind(now_ms())
    .bind(track_id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The state of the owner's own image for a track: `None` when none is
/// waiting or failed; else (pending?, error).
pub async fn uploaded_art_state(
    db: &Db,
    track_id: i64,
) -> Result<Option<(String, Option<String>)>, AppError> {
    Ok(sqlx::query_as(
        "SELECT w.status, w.error FROM tracks t JOIN artwork w ON w.sha256 = t.art_upload_sha256 \
         WHERE t.id = $1 AND w.status <> 'ready'",
    )
    .bind(track_id)
    .fetch_optional(db.pool())
    .await?)
}

/// Removes the artwork rows no file, owner's upload or track refers to any
/// more (after deletes), made more than `grace_ms` ago; their hashes, for
/// the caller to remove the stored images.
pub async fn delete_orphaned_artwork(db: &Db, grace_ms: i64) -> Result<Vec<String>, AppError> {
    Ok(sqlx::query_scalar(
        "DELETE FROM artwork WHERE created_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM assets a WHERE a.art_sha256 = artwork.sha256) \
         AND NOT EXISTS (SELECT 1 FROM tracks t WHERE t.art_upload_sha256 = artwork.sha256) \
         AND NOT EXISTS (SELECT 1 FROM tracks t WHERE t.art_token = artwork.token) \
         RETURNING sha256",
    )
    .bind(now_ms() - grace_ms)
    .fetch_all(db.pool())
    .await?)
}
