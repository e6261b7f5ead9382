//! The purge job: after a delete, removes the stored files (and their peaks
//! and previews) that no asset refers to any more. Content is stored once
//! for everyone, so a file stays while any asset still has its hash.

use std::time::Duration;

use serde::Deserialize;

use app::state::AppState;

use super::{Job, JobContext, JobError, JobFuture};
use crate::media::store::Store;

pub struct Purge;

#[derive(Deserialize)]
struct Payload {
    sha256: Vec<String>,
}

impl Job for Purge {
    fn kind(&self) -> &'static str {
        app::jobs::PURGE
    }

    fn concurrency(&self) -> usize {
        1
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(300)
    }

    fn run(&self, ctx: JobContext) -> JobFuture {
        Box::pin(async move {
            let p: Payload = serde_json::from_str(&ctx.payload)
                .map_err(|e| JobError::permanent(format!("bad payload: {e}")))?;
            let mut removed = 0;
            for sha in p.sha256 {
                if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                    continue;
                }
                if remove_if_unused(&ctx.state, &sha)
                    .await
                    .map_err(|e| JobError::retry(format!("removing {sha}: {e}")))?
                {
                    removed += 1;
                }
            }
            tracing::info!(files = removed, "purged deleted files");
            Ok(())
        })
    }
}

/// Removes the stored file with content `sha256` (and its derived files)
/// when no asset refers to it. The check and the removal happen under the
/// content's lock (`Db::lock_content`), which an ingest of the same content
/// also takes before it writes its rows: a file is never removed under a row
/// that is being written. Returns whether the file was removed.
pub async fn remove_if_unused(state: &AppState, sha256: &str) -> anyhow::Result<bool> {
    let store = Store::new(&state.settings.data_dir);
    let db = &state.db;
    let mut tx = db.pool().begin().await?;
    db.lock_content(&mut tx, sha256).await?;
    let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM assets WHERE sha256 = $1")
        .bind(sha256)
        .fetch_one(&mut *tx)
        .await?;
    if used > 0 {
        return Ok(false);
    }
    let object = store.path_of(&Store::object_key(sha256));
    let removed = match tokio::fs::remove_file(&object).await {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e.into()),
    };
    match tokio::fs::remove_dir_all(store.derived_dir(sha256)).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    Ok(removed)
}
