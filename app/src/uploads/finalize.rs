//! The finalize transaction: everything an upload writes when its last byte
//! is stored — the claim on the upload, the asset, the track / version /
//! stem, the jobs, the end of its quota reservation — in one transaction,
//! each step a method. It begins by locking the owner (their storage total
//! stays exact) and the content (no purge removes the file meanwhile).
//!
//! Also the other side of that content lock: `lock_if_unreferenced`, for
//! the purge and the sweeper.

use super::Target;
use crate::db::{Db, LockHeld, WriteTx};
use crate::errors::AppError;
use crate::jobs::db::{enqueue_in, NewJob};

/// An open finalize transaction (SQLite: this process's write turn too).
pub struct Finalizing {
    tx: WriteTx,
    _held: LockHeld,
    owner_id: i64,
    now: i64,
}

/// A stored file's row to insert.
#[derive(Debug, Clone)]
pub struct NewAsset<'a> {
    pub storage_key: &'a str,
    pub size: i64,
    pub sha256: &'a str,
    pub filename: Option<&'a str>,
}

/// Where an asset stands, as a new version starts out with it.
#[derive(Debug, Clone)]
pub struct AssetStatus {
    pub duration_ms: Option<i64>,
    /// processing, ready or failed.
    pub status: &'static str,
}

impl Finalizing {
    /// Begins with the locks: the owner's row first (SQLite then takes its
    /// write lock now rather than failing to upgrade a read lock later;
    /// PostgreSQL serializes one owner's finalizations), then the content.
    pub async fn begin(db: &Db, owner_id: i64, sha256: &str) -> Result<Finalizing, AppError> {
        let mut tx = db.begin_write().await?;
        sqlx::query("UPDATE users SET storage_used_bytes = storage_used_bytes WHERE id = $1")
            .bind(owner_id)
            .execute(&mut *tx)
            .await?;
        // Held from here until commit, across storing the file.
        let held = db.lock_held();
        db.lock_content(&mut tx, sha256).await?;
        Ok(Finalizing {
            tx,
            _held: held,
            owner_id,
            now: crate::db::now_ms(),
        })
    }

    pub fn now(&self) -> i64 {
        self.now
    }

    /// The owner's call already stored with these facts and content (a
    /// call sent again), if any.
    pub async fn existing_call(
        &mut self,
        call: &crate::calls::CallFacts,
        sha256: &str,
    ) -> Result<Option<super::Ingested>, AppError> {
        let found = crate::calls::existing(&mut self.tx, self.owner_id, call, sha256).await?;
        Ok(
            found.map(|(track_id, version_id, asset_id)| super::Ingested {
                track_id,
                version_id,
                asset_id,
                stem_id: None,
            }),
        )
    }

    /// The radio facts of new call track `track_id`.
    pub async fn insert_call(
        &mut self,
        track_id: i64,
        call: &crate::calls::CallFacts,
        sha256: &str,
    ) -> Result<(), AppError> {
        crate::calls::insert(&mut self.tx, track_id, self.owner_id, call, sha256).await
    }

    /// Claims tus upload `id` (its last offset is `size`): false when
    /// another request finalized it first.
    pub async fn claim_upload(&mut self, id: &str, size: i64) -> Result<bool, AppError> {
        let claimed = sqlx::query(
            "UPDATE uploads SET state = 'done', received = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'receiving'",
        )
        .bind(size)
        .bind(self.now)
        .bind(id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(claimed > 0)
    }

    /// The owner's asset with this content, if they stored it before.
    pub async fn existing_asset(&mut self, sha256: &str) -> Result<Option<i64>, AppError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM assets WHERE owner_id = $1 AND sha256 = $2 ORDER BY id LIMIT 1",
        )
        .bind(self.owner_id)
        .bind(sha256)
        .fetch_optional(&mut *self.tx)
        .await?)
    }

    /// A new asset, its bytes added to the owner's storage total. Until the
    /// metadata job recognises the bytes as audio it is nothing but bytes
    /// (`tracks::links::audio_mime`).
    pub async fn insert_asset(&mut self, a: &NewAsset<'_>) -> Result<i64, AppError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO assets (owner_id, storage_key, size_bytes, sha256, mime, original_filename, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(self.owner_id)
        .bind(a.storage_key)
        .bind(a.size)
        .bind(a.sha256)
        .bind(crate::tracks::links::OCTET_STREAM)
        .bind(a.filename)
        .bind(self.now)
        .fetch_one(&mut *self.tx)
        .await?;
        sqlx::query("UPDATE users SET storage_used_bytes = storage_used_bytes + $1 WHERE id = $2")
            .bind(a.size)
            .bind(self.owner_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(id)
    }

    pub async fn enqueue(&mut self, job: &NewJob) -> Result<(), AppError> {
        enqueue_in(&mut self.tx, job).await?;
        Ok(())
    }

    pub async fn asset_status(&mut self, asset_id: i64) -> Result<AssetStatus, AppError> {
        let (duration_ms, peaks_at, error): (Option<i64>, Option<i64>, Option<String>) =
            sqlx::query_as(
                "SELECT duration_ms, peaks_at, processing_error FROM assets WHERE id = $1",
            )
            .bind(asset_id)
            .fetch_one(&mut *self.tx)
            .await?;
        let status = if error.is_some() {
            "failed"
        } else if peaks_at.is_some() {
            "ready"
        } else {
            "processing"
        };
        Ok(AssetStatus {
            duration_ms,
            status,
        })
    }

    /// A new track of the owner's, with `asset` as version 1 (and the
    /// file's own tags and art, when they are known already).
    /// `title_from_name`: the title was made from the file name (the file's
    /// tag title replaces it).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_track(
        &mut self,
        slug: &str,
        title: &str,
        title_from_name: bool,
        tags: &str,
        visibility: crate::tracks::Visibility,
        asset_id: i64,
        asset: &AssetStatus,
    ) -> Result<(i64, i64), AppError> {
        // A slug's random part can meet another's (thousands of calls share
        // one title): then it grows by another random part. ON CONFLICT,
        // not a failed insert, which would end a PostgreSQL transaction.
        let mut slug = slug.to_string();
        let mut track_id: Option<i64> = None;
        for _ in 0..4 {
            track_id = sqlx::query_scalar(
                "INSERT INTO tracks (owner_id, slug, title, tags, duration_ms, created_at, updated_at, visibility, title_from_name) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8) ON CONFLICT (slug) DO NOTHING RETURNING id",
            )
            .bind(self.owner_id)
            .bind(&slug)
            .bind(title)
            .bind(tags)
            .bind(asset.duration_ms)
            .bind(self.now)
            .bind(visibility.as_str())
            .bind(i64::from(title_from_name))
            .fetch_optional(&mut *self.tx)
            .await?;
            if track_id.is_some() {
                break;
            }
            slug = format!("{slug}-{:06x}", rand::random::<u32>() & 0xff_ffff);
        }
        let track_id = track_id.ok_or_else(|| {
            AppError::Unavailable("could not give the track a unique address; try again".into())
        })?;
        let version_id = self.insert_version(track_id, asset_id, asset).await?;
        crate::media::library::apply_to_new_track(&mut self.tx, track_id, asset_id).await?;
        Ok((track_id, version_id))
    }

    /// The next version of the owner's track (404 when it is not theirs),
    /// which becomes its primary version.
    pub async fn insert_version(
        &mut self,
        track_id: i64,
        asset_id: i64,
        asset: &AssetStatus,
    ) -> Result<i64, AppError> {
        let target = Target::Version { track_id };
        if super::db::target_owner(&mut self.tx, &target).await? != Some(self.owner_id) {
            return Err(AppError::NotFound);
        }
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(version_number) FROM track_versions WHERE track_id = $1",
        )
        .bind(track_id)
        .fetch_one(&mut *self.tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO track_versions (track_id, asset_id, version_number, status, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(track_id)
        .bind(asset_id)
        .bind(last.unwrap_or(0) + 1)
        .bind(asset.status)
        .bind(self.now)
        .fetch_one(&mut *self.tx)
        .await?;
        sqlx::query(
            "UPDATE tracks SET primary_version_id = $1, duration_ms = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(id)
        .bind(asset.duration_ms)
        .bind(self.now)
        .bind(track_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// A stem of the owner's version (404 when it is not theirs, 409 when
    /// the version is full); returns (track id, stem id).
    pub async fn insert_stem(
        &mut self,
        version_id: i64,
        role: &str,
        asset_id: i64,
    ) -> Result<(i64, i64), AppError> {
        let target = Target::Stem {
            version_id,
            role: role.to_string(),
        };
        if super::db::target_owner(&mut self.tx, &target).await? != Some(self.owner_id) {
            return Err(AppError::NotFound);
        }
        super::db::check_stem_room(&mut self.tx, version_id).await?;
        let track_id: i64 = sqlx::query_scalar("SELECT track_id FROM track_versions WHERE id = $1")
            .bind(version_id)
            .fetch_one(&mut *self.tx)
            .await?;
        let stem_id: i64 = sqlx::query_scalar(
            "INSERT INTO stems (version_id, role, asset_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(version_id)
        .bind(role)
        .bind(asset_id)
        .bind(self.now)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok((track_id, stem_id))
    }

    /// The bytes in flight are stored now: their reservation ends.
    pub async fn end_reservation(&mut self, id: &str) -> Result<(), AppError> {
        super::quota::release_in(&mut self.tx, id).await
    }

    /// Partial uploads joined into this file go (they counted against the
    /// quota until now).
    pub async fn delete_parts(&mut self, ids: &[String]) -> Result<(), AppError> {
        for part in ids {
            sqlx::query("DELETE FROM uploads WHERE id = $1 AND owner_id = $2")
                .bind(part)
                .bind(self.owner_id)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// What tus upload `id` became (and the end of its lease).
    pub async fn record_result(
        &mut self,
        id: &str,
        done: &super::Ingested,
    ) -> Result<(), AppError> {
        sqlx::query(
            "UPDATE uploads SET track_id = $1, version_id = $2, asset_id = $3, lock_token = NULL, \
             lock_until = NULL WHERE id = $4",
        )
        .bind(done.track_id)
        .bind(done.version_id)
        .bind(done.asset_id)
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn commit(self) -> Result<(), AppError> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// A held content lock of a content no asset refers to: the caller removes
/// its files, then releases it.
pub struct ContentLock {
    tx: WriteTx,
    _held: LockHeld,
}

impl ContentLock {
    pub async fn release(self) -> Result<(), AppError> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// Takes `sha256`'s content lock and keeps it when no asset refers to the
/// content (`None`, lock released, when one does).
pub async fn lock_if_unreferenced(db: &Db, sha256: &str) -> Result<Option<ContentLock>, AppError> {
    let mut tx = db.begin_write().await?;
    db.lock_content(&mut tx, sha256).await?;
    // Held across removing the files.
    let held = db.lock_held();
    let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM assets WHERE sha256 = $1")
        .bind(sha256)
        .fetch_one(&mut *tx)
        .await?;
    Ok((used == 0).then_some(ContentLock { tx, _held: held }))
}
