//! Finalizing an upload: a complete file on disk becomes an asset in
//! content-addressed storage and a new track, a new version of a track, or a
//! stem of a version — every row written in one transaction together with the
//! jobs that will process the file. Used by tus and by `POST /api/v1/tracks`.

use std::path::Path;

use sqlx::Row;

use app::db::{now_ms, Db};
use app::errors::AppError;
use app::jobs::db::{enqueue_in, NewJob};
use app::state::AppState;
use app::tracks::Visibility;

use crate::media::store::{hash_file, Store};

/// What an uploaded file becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    NewTrack,
    /// A new version of this track (which becomes its primary version).
    Version {
        track_id: i64,
    },
    /// A stem (`role`: drums, vocals, …) of this version.
    Stem {
        version_id: i64,
        role: String,
    },
}

impl Target {
    pub fn name(&self) -> &'static str {
        match self {
            Target::NewTrack => "track",
            Target::Version { .. } => "version",
            Target::Stem { .. } => "stem",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Incoming {
    pub owner_id: i64,
    pub title: Option<String>,
    /// The uploader's name for the file: a title when none is given, and the
    /// download's extension. Never decides how the file is served.
    pub filename: Option<String>,
    pub tags: Option<String>,
    /// A new track's visibility (private when not given).
    pub visibility: Option<Visibility>,
    pub target: Target,
    /// The quota reservation the bytes were received under (machine API),
    /// ended in the transaction that stores them.
    pub reservation: Option<String>,
    /// Partial tus uploads this file was joined from, deleted in the same
    /// transaction (until then they count against the quota).
    pub joined_parts: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub track_id: i64,
    pub version_id: i64,
    pub asset_id: i64,
    pub stem_id: Option<i64>,
}

/// What the receiver already knows of the complete file it hands over, so
/// that finalizing does not read it again.
#[derive(Debug, Clone)]
pub struct Received {
    /// sha256 of the file, hex; computed over the same bytes as they were written.
    pub sha256: String,
    pub size: u64,
    /// The file's data is already fsynced.
    pub synced: bool,
}

pub const MAX_TITLE: usize = 200;
pub const MAX_ROLE: usize = 40;
pub const MAX_TAGS: usize = 500;
pub const MAX_FILENAME: usize = 255;

/// The first non-blank value among `keys` in name/value pairs (multipart
/// fields or tus `Upload-Metadata`), trimmed.
pub fn field<'a>(pairs: &'a [(String, String)], keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| {
        pairs
            .iter()
            .find(|(key, v)| key == k && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    })
}

/// What an upload becomes, from its fields: `target` = `track` (default),
/// `version` with `track_id`, or `stem` with `version_id` and `role`.
pub fn target_from(pairs: &[(String, String)]) -> Result<Target, AppError> {
    let id = |keys: &[&str]| -> Result<i64, AppError> {
        field(pairs, keys)
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| AppError::bad_request(format!("\"{}\" must be an id", keys[0])))
    };
    match field(pairs, &["target", "kind"]).unwrap_or("track") {
        "track" => Ok(Target::NewTrack),
        "version" => Ok(Target::Version {
            track_id: id(&["track_id", "track"])?,
        }),
        "stem" => {
            let role = field(pairs, &["role"]).unwrap_or_default().to_lowercase();
            if role.is_empty() || role.chars().count() > MAX_ROLE {
                return Err(AppError::bad_request(
                    "a stem needs a \"role\" (drums, vocals, …) of at most 40 characters",
                ));
            }
            Ok(Target::Stem {
                version_id: id(&["version_id", "version"])?,
                role,
            })
        }
        other => Err(AppError::bad_request(format!(
            "unknown target \"{other}\" (track, version or stem)"
        ))),
    }
}

/// Checks, before any byte is received, that the target exists and belongs
/// to `owner_id` (404 otherwise: others' objects are not revealed).
pub async fn check_target(db: &Db, owner_id: i64, target: &Target) -> Result<(), AppError> {
    let owner: Option<i64> = match target {
        Target::NewTrack => return Ok(()),
        Target::Version { track_id } => {
            sqlx::query_scalar("SELECT owner_id FROM tracks WHERE id = $1")
                .bind(track_id)
                .fetch_optional(db.pool())
                .await?
        }
        Target::Stem { version_id, .. } => sqlx::query_scalar(
            "SELECT t.owner_id FROM track_versions v JOIN tracks t ON t.id = v.track_id WHERE v.id = $1",
        )
        .bind(version_id)
        .fetch_optional(db.pool())
        .await?,
    };
    match owner {
        Some(o) if o == owner_id => {}
        _ => return Err(AppError::NotFound),
    }
    if let Target::Stem { version_id, .. } = target {
        stem_room(db.pool(), *version_id).await?;
    }
    Ok(())
}

/// A version holds at most `MAX_STEMS` stems.
async fn stem_room<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    conn: E,
    version_id: i64,
) -> Result<(), AppError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stems WHERE version_id = $1")
        .bind(version_id)
        .fetch_one(conn)
        .await?;
    if n >= app::tracks::MAX_STEMS {
        return Err(AppError::Conflict(format!(
            "this version already has {} stems, the most it can hold",
            app::tracks::MAX_STEMS
        )));
    }
    Ok(())
}

/// `visibility`: private (default), unlisted or public.
pub fn visibility_from(pairs: &[(String, String)]) -> Result<Option<Visibility>, AppError> {
    match field(pairs, &["visibility"]) {
        None => Ok(None),
        Some(v) => Visibility::parse(&v.to_ascii_lowercase())
            .map(Some)
            .ok_or_else(|| {
                AppError::bad_request("visibility must be \"private\", \"unlisted\" or \"public\"")
            }),
    }
}

/// Stores the complete file at `file` (linked into storage, then removed)
/// and writes its rows. With `upload_id`, the upload is marked done in the same
/// transaction; if another request finalized it first, its result is
/// returned and nothing is written twice.
pub async fn ingest(
    state: &AppState,
    file: &Path,
    incoming: &Incoming,
    upload_id: Option<&str>,
    received: Option<Received>,
) -> Result<Ingested, AppError> {
    let store = Store::new(&state.settings.data_dir);
    let (sha, size, synced) = match received {
        Some(r) => (r.sha256, r.size, r.synced),
        None => {
            let (sha, size) = hash_file(file)
                .await
                .map_err(|e| AppError::internal("hashing an upload", e))?;
            (sha, size, false)
        }
    };
    let key = store
        .commit(file, &sha, synced)
        .await
        .map_err(|e| AppError::internal("storing an upload", e))?;
    let now = now_ms();
    let tags: String = incoming
        .tags
        .as_deref()
        .unwrap_or("")
        .chars()
        .take(MAX_TAGS)
        .collect();
    let filename: Option<String> = incoming
        .filename
        .as_deref()
        .map(|f| f.chars().take(MAX_FILENAME).collect());
    let db = &state.db;
    let turn = db.write_turn().await;
    let mut tx = db.pool().begin().await?;
    // Write first: SQLite then takes its write lock now rather than failing
    // to upgrade a read lock later (SQLITE_BUSY); on PostgreSQL this row lock
    // serializes one owner's finalizations, which keeps the usage total exact.
    sqlx::query("UPDATE users SET storage_used_bytes = storage_used_bytes WHERE id = $1")
        .bind(incoming.owner_id)
        .execute(&mut *tx)
        .await?;
    // No purge or sweep may remove the stored file between here and the
    // commit of the rows that point at it; one that ran since it was linked
    // above has removed it, so it is linked again.
    db.lock_content(&mut tx, &sha).await?;
    if !store.exists(&key).await {
        store
            .commit(file, &sha, true)
            .await
            .map_err(|e| AppError::internal("storing an upload", e))?;
    }

    if let Some(id) = upload_id {
        // Claims the upload: the loser of a race finds the winner's result.
        // The final PATCH's offset is recorded here, in the same transaction.
        let claimed = sqlx::query(
            "UPDATE uploads SET state = 'done', received = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'receiving'",
        )
        .bind(size as i64)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            drop(tx);
            let _ = tokio::fs::remove_file(file).await;
            return finished_result(db, id).await;
        }
    }

    // One asset per owner and content: the same file uploaded twice is one file.
    let existing: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM assets WHERE owner_id = $1 AND sha256 = $2 ORDER BY id LIMIT 1",
    )
    .bind(incoming.owner_id)
    .bind(&sha)
    .fetch_optional(&mut *tx)
    .await?;
    let asset_id = match existing {
        Some(id) => id,
        None => {
            // Until the metadata job recognises the bytes as audio, the file
            // is nothing but bytes (see `tracks::links::audio_mime`).
            let mime = app::tracks::links::OCTET_STREAM;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO assets (owner_id, storage_key, size_bytes, sha256, mime, original_filename, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(incoming.owner_id)
            .bind(&key)
            .bind(size as i64)
            .bind(&sha)
            .bind(mime)
            .bind(filename.as_deref())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE users SET storage_used_bytes = storage_used_bytes + $1 WHERE id = $2",
            )
            .bind(size as i64)
            .bind(incoming.owner_id)
            .execute(&mut *tx)
            .await?;
            enqueue_in(
                &mut tx,
                &NewJob::new(crate::worker::media::METADATA, asset_payload(id))
                    .dedupe(format!("metadata:{id}"))
                    .subject(format!("asset:{id}"))
                    .priority(10),
            )
            .await?;
            id
        }
    };
    let asset = sqlx::query(
        "SELECT duration_ms, metadata_at, peaks_at, processing_error FROM assets WHERE id = $1",
    )
    .bind(asset_id)
    .fetch_one(&mut *tx)
    .await?;
    let duration_ms: Option<i64> = asset.get("duration_ms");
    let status = if asset.get::<Option<String>, _>("processing_error").is_some() {
        "failed"
    } else if asset.get::<Option<i64>, _>("peaks_at").is_some() {
        "ready"
    } else {
        "processing"
    };

    let title = incoming
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| incoming.filename.as_deref().map(title_from_filename))
        .unwrap_or_else(|| "Untitled".into());
    let title: String = title.trim().chars().take(MAX_TITLE).collect();

    let (track_id, version_id, stem_id) = match &incoming.target {
        Target::NewTrack => {
            let slug = slugify(&title);
            let track_id: i64 = sqlx::query_scalar(
                "INSERT INTO tracks (owner_id, slug, title, tags, duration_ms, created_at, updated_at, visibility) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING id",
            )
            .bind(incoming.owner_id)
            .bind(&slug)
            .bind(&title)
            .bind(tags)
            .bind(duration_ms)
            .bind(now)
            .bind(incoming.visibility.unwrap_or(Visibility::Private).as_str())
            .fetch_one(&mut *tx)
            .await?;
            let version_id = insert_version(&mut tx, track_id, asset_id, 1, status, now).await?;
            (track_id, version_id, None)
        }
        Target::Version { track_id } => {
            let owner: Option<i64> =
                sqlx::query_scalar("SELECT owner_id FROM tracks WHERE id = $1")
                    .bind(track_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if owner != Some(incoming.owner_id) {
                return Err(AppError::NotFound);
            }
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(version_number) FROM track_versions WHERE track_id = $1",
            )
            .bind(track_id)
            .fetch_one(&mut *tx)
            .await?;
            let version_id = insert_version(
                &mut tx,
                *track_id,
                asset_id,
                last.unwrap_or(0) + 1,
                status,
                now,
            )
            .await?;
            sqlx::query("UPDATE tracks SET duration_ms = $1, updated_at = $2 WHERE id = $3")
                .bind(duration_ms)
                .bind(now)
                .bind(track_id)
                .execute(&mut *tx)
                .await?;
            (*track_id, version_id, None)
        }
        Target::Stem { version_id, role } => {
            let row: Option<(i64, i64)> = sqlx::query_as(
                "SELECT t.id, t.owner_id FROM track_versions v JOIN tracks t ON t.id = v.track_id WHERE v.id = $1",
            )
            .bind(version_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((track_id, owner)) = row else {
                return Err(AppError::NotFound);
            };
            if owner != incoming.owner_id {
                return Err(AppError::NotFound);
            }
            stem_room(&mut *tx, *version_id).await?;
            let stem_id: i64 = sqlx::query_scalar(
                "INSERT INTO stems (version_id, role, asset_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(version_id)
            .bind(role)
            .bind(asset_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            (track_id, *version_id, Some(stem_id))
        }
    };
    // The bytes in flight are stored now: they stop counting as such.
    if let Some(r) = &incoming.reservation {
        app::uploads::db::release_in(&mut tx, r).await?;
    }
    for part in &incoming.joined_parts {
        sqlx::query("DELETE FROM uploads WHERE id = $1 AND owner_id = $2")
            .bind(part)
            .bind(incoming.owner_id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(id) = upload_id {
        sqlx::query(
            "UPDATE uploads SET track_id = $1, version_id = $2, asset_id = $3, lock_token = NULL, lock_until = NULL WHERE id = $4",
        )
        .bind(track_id)
        .bind(version_id)
        .bind(asset_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    drop(turn);
    let _ = tokio::fs::remove_file(file).await;
    state.usage.invalidate(incoming.owner_id).await;
    state.caches.changed(Some(track_id)).await;
    state.queue.wake().notify_waiters();
    Ok(Ingested {
        track_id,
        version_id,
        asset_id,
        stem_id,
    })
}

async fn insert_version(
    tx: &mut sqlx::AnyConnection,
    track_id: i64,
    asset_id: i64,
    number: i64,
    status: &str,
    now: i64,
) -> Result<i64, AppError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO track_versions (track_id, asset_id, version_number, status, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(track_id)
    .bind(asset_id)
    .bind(number)
    .bind(status)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE tracks SET primary_version_id = $1 WHERE id = $2")
        .bind(id)
        .bind(track_id)
        .execute(&mut *tx)
        .await?;
    Ok(id)
}

/// The result recorded by whoever finalized upload `id`.
async fn finished_result(db: &Db, id: &str) -> Result<Ingested, AppError> {
    let row: Option<(Option<i64>, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT track_id, version_id, asset_id FROM uploads WHERE id = $1 AND state = 'done'",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    match row {
        Some((Some(track_id), Some(version_id), Some(asset_id))) => Ok(Ingested {
            track_id,
            version_id,
            asset_id,
            stem_id: None,
        }),
        _ => Err(AppError::Conflict(
            "this upload is being finalized by another request".into(),
        )),
    }
}

pub use app::admin::asset_payload;

/// "my_song-final.mp3" → "my song final".
pub fn title_from_filename(name: &str) -> String {
    let base = Path::new(name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(name);
    let t: String = base
        .chars()
        .map(|c| if c == '_' || c == '-' { ' ' } else { c })
        .collect();
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.is_empty() {
        "Untitled".into()
    } else {
        t
    }
}

/// A URL-safe, unique slug: the title's words plus a random suffix.
pub fn slugify(title: &str) -> String {
    let mut s = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
        if s.len() >= 60 {
            break;
        }
    }
    let s = s.trim_end_matches('-');
    let suffix: String = app::auth::session::new_token()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .take(6)
        .collect();
    if s.is_empty() {
        format!("track-{suffix}")
    } else {
        format!("{s}-{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_slugs() {
        assert_eq!(title_from_filename("my_song-final.mp3"), "my song final");
        assert_eq!(title_from_filename(".mp3"), ".mp3");
        let s = slugify("Hello, World! Ünïcode");
        assert!(s.starts_with("hello-world-"), "{s}");
        assert!(slugify("!!!").starts_with("track-"));
    }
}
