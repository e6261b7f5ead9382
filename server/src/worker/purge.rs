//! The purge job: after a delete, removes the stored files (and their peaks
//! and previews) that no asset refers to any more. Content is stored once
//! for everyone, so a file stays while any asset still has its hash.

use std::time::Duration;

use serde::Deserialize;

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
            let store = Store::new(&ctx.state.settings.data_dir);
            let mut removed = 0;
            for sha in p.sha256 {
                if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                    continue;
                }
                let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM assets WHERE sha256 = $1")
                    .bind(&sha)
                    .fetch_one(ctx.state.db.pool())
                    .await
                    .map_err(|e| JobError::retry(format!("checking {sha}: {e}")))?;
                if used > 0 {
                    continue;
                }
                let object = store.path_of(&Store::object_key(&sha));
                match tokio::fs::remove_file(&object).await {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(JobError::retry(format!("removing {sha}: {e}"))),
                }
                let derived = store.derived_dir(&sha);
                if let Err(e) = tokio::fs::remove_dir_all(&derived).await {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        return Err(JobError::retry(format!(
                            "removing derived files of {sha}: {e}"
                        )));
                    }
                }
            }
            tracing::info!(files = removed, "purged deleted files");
            Ok(())
        })
    }
}
