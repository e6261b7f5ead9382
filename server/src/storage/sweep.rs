//! The sweeper (run by the cleanup job): expired unfinished uploads and old
//! finished ones (rows and bytes), stale spool files, and stored objects
//! that no row refers to (a crash between storing a file and committing its
//! row). A stored file is only removed under its content's lock, which an
//! upload of the same content also takes: never under a row being written.

use std::time::Duration;

use app::errors::AppError;
use app::state::AppState;

use super::Storage;

/// How long the bytes of a finished or unknown upload are kept before the
/// sweeper removes them.
const ORPHAN_AGE: Duration = Duration::from_secs(60);
/// Spool files older than this are left by a crash.
const TMP_AGE: Duration = Duration::from_secs(3600);

/// One pass; returns how many upload rows went.
pub async fn sweep(state: &AppState, storage: &Storage) -> Result<u64, AppError> {
    sweep_older_than(state, storage, ORPHAN_AGE, TMP_AGE).await
}

/// One pass that takes unknown upload files older than `orphan_age` and
/// spool files and unreferenced objects older than `tmp_age` (a node that
/// knows nothing else writes here may pass zero: after a crash, before it
/// serves).
pub async fn sweep_older_than(
    state: &AppState,
    storage: &Storage,
    orphan_age: Duration,
    tmp_age: Duration,
) -> Result<u64, AppError> {
    let db = &state.db;
    let keep_done = state.settings.upload_expiry;
    let mut removed = 0;
    for id in app::uploads::db::expired_uploads(db, keep_done).await? {
        if let Some(multipart) = app::uploads::db::delete_unless_leased(db, &id).await? {
            storage.discard_upload(&id, multipart.as_deref()).await;
            removed += 1;
        }
    }
    let live = app::uploads::db::receiving_ids(db).await?;
    // Staged bytes in the bucket whose upload is gone (a crash, a request
    // dropped before it could clean up, a removal that failed).
    if let Some(staging) = storage.staging() {
        let keep: std::collections::HashSet<&str> = live.iter().map(String::as_str).collect();
        match staging.orphans(tmp_age, &keep).await {
            Ok(n) if n > 0 => tracing::info!(objects = n, "removed staged bytes of gone uploads"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not sweep staged uploads"),
        }
    }
    if let Err(e) = storage
        .spool()
        .sweep_uploads(orphan_age, live.into_iter().collect())
        .await
    {
        tracing::warn!(error = %e, "could not sweep upload files");
    }
    if let Err(e) = storage.spool().sweep_tmp(tmp_age).await {
        tracing::warn!(error = %e, "could not sweep temporary files");
    }
    // Files stored just before a crash, whose rows were never committed.
    let recent = storage
        .recent_objects(tmp_age, Duration::from_secs(3 * 24 * 3600))
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not list recent objects");
            Vec::new()
        });
    for sha in recent {
        match remove_if_unused(state, storage, &sha).await {
            Ok(true) => tracing::info!(object = %sha, "removed a stored file no row refers to"),
            Ok(false) => {}
            Err(e) => tracing::warn!(object = %sha, error = %e, "could not sweep a stored file"),
        }
    }
    Ok(removed)
}

/// Removes the stored file with content `sha256` (and its derived files)
/// when no asset refers to it. The check and the removal happen under the
/// content's lock (`Db::lock_content`), which an ingest of the same content
/// also takes before it writes its rows: a file is never removed under a row
/// being written. Returns whether the file was removed.
pub async fn remove_if_unused(
    state: &AppState,
    storage: &Storage,
    sha256: &str,
) -> anyhow::Result<bool> {
    let Some(lock) = app::uploads::finalize::lock_if_unreferenced(&state.db, sha256).await? else {
        return Ok(false);
    };
    let removed = storage.delete_object(sha256).await?;
    storage.delete_derived(sha256).await?;
    lock.release().await?;
    Ok(removed)
}
