//! The `purge` job: after a delete, removes the stored files (and their
//! peaks and previews) that no asset refers to any more. Content is stored
//! once for everyone, so a file stays while any asset still has its hash;
//! the check and the removal happen under the content's lock
//! (`storage::sweep::remove_if_unused`).

use std::time::Duration;

use serde::Deserialize;

use super::{Job, JobContext, JobError, JobFuture};
use crate::storage::is_sha256;
use crate::storage::sweep::remove_if_unused;

pub use app::jobs::PURGE as KIND;

pub struct Purge;

#[derive(Deserialize)]
struct Payload {
    sha256: Vec<String>,
}

impl Job for Purge {
    fn kind(&self) -> &'static str {
        KIND
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
            for sha in p.sha256.iter().filter(|s| is_sha256(s)) {
                if remove_if_unused(&ctx.state, &ctx.state.storage, sha)
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
