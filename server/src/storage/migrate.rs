//! `wavekeep storage migrate --to s3://bucket/prefix`: copies the local
//! store (the data directory's `objects/` and `derived/`) into object
//! storage under the same keys, so that the same database then works with
//! `WAVEKEEP_STORAGE` pointing at the bucket.
//!
//! Resumable: a key already in the bucket with the same size is skipped, so
//! an interrupted run goes on where it stopped. Verified: every object's
//! local bytes must hash to its name before it leaves, and the copy is read
//! back and hashed after; a mismatch removes the copy and counts a failure.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use app::settings::ObjectStoreSettings;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::object::ObjectStorage;
use super::{hash_file, is_sha256};

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    pub copied: u64,
    pub copied_bytes: u64,
    pub skipped: u64,
    pub failed: Vec<(String, String)>,
}

/// One local file to copy.
struct Item {
    key: String,
    path: PathBuf,
    size: u64,
}

enum Outcome {
    Copied(u64),
    Skipped,
    Failed(String),
}

/// Copies every stored file under `data_dir` into `dest`, `jobs` at a time,
/// with a progress bar on standard error when it is a terminal.
pub async fn migrate(
    data_dir: &Path,
    dest: &ObjectStoreSettings,
    jobs: usize,
) -> anyhow::Result<Summary> {
    let store = Arc::new(ObjectStorage::new(dest)?);
    store.init().await?;
    let items = local_items(data_dir).await?;
    let present: HashMap<String, u64> = store.keys().await?.into_iter().collect();
    let total: u64 = items.iter().map(|i| i.size).sum();

    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let files = items.len();
    let mut summary = Summary::default();
    let mut done = 0usize;
    let present = Arc::new(present);
    let mut runs = futures::stream::iter(items.into_iter().map(|item| {
        let store = store.clone();
        let present = present.clone();
        async move {
            let outcome = copy_one(&store, &present, &item).await;
            (item, outcome)
        }
    }))
    .buffer_unordered(jobs.max(1));
    while let Some((item, outcome)) = runs.next().await {
        done += 1;
        bar.inc(item.size);
        match outcome {
            Outcome::Copied(bytes) => {
                summary.copied += 1;
                summary.copied_bytes += bytes;
            }
            Outcome::Skipped => summary.skipped += 1,
            Outcome::Failed(why) => {
                bar.println(format!("failed: {}: {why}", item.key));
                summary.failed.push((item.key, why));
            }
        }
        bar.set_message(format!(
            "{done}/{files} files ({} copied, {} already there, {} failed)",
            summary.copied,
            summary.skipped,
            summary.failed.len()
        ));
    }
    bar.finish_and_clear();
    Ok(summary)
}

async fn copy_one(store: &ObjectStorage, present: &HashMap<String, u64>, item: &Item) -> Outcome {
    if present.get(&item.key) == Some(&item.size) {
        return Outcome::Skipped;
    }
    let object_sha = item
        .key
        .strip_prefix("objects/")
        .and_then(|rest| rest.rsplit('/').next())
        .filter(|name| is_sha256(name))
        .map(str::to_string);
    if let Some(sha) = &object_sha {
        match hash_file(&item.path).await {
            Ok((local, _)) if &local == sha => {}
            Ok((local, _)) => {
                return Outcome::Failed(format!(
                    "the local file is damaged: its content hashes to {local}"
                ))
            }
            Err(e) => return Outcome::Failed(format!("reading it: {e}")),
        }
    }
    if let Err(e) = store.upload_file(&item.path, &item.key).await {
        return Outcome::Failed(format!("uploading it: {e}"));
    }
    let verified = match &object_sha {
        Some(sha) => match store.sha256_of(&item.key).await {
            Ok(copy) if &copy == sha => Ok(()),
            Ok(copy) => Err(format!("the copy hashes to {copy}, not {sha}")),
            Err(e) => Err(format!("reading the copy back: {e}")),
        },
        None => match store.len(&item.key).await {
            Ok(Some(n)) if n == item.size => Ok(()),
            Ok(n) => Err(format!("the copy has {n:?} bytes, not {}", item.size)),
            Err(e) => Err(format!("checking the copy: {e}")),
        },
    };
    match verified {
        Ok(()) => Outcome::Copied(item.size),
        Err(why) => {
            let _ = store.delete(&item.key).await;
            Outcome::Failed(why)
        }
    }
}

/// The stored files under `data_dir`: objects named by their hash and
/// derived files under a hash, never following a symbolic link.
async fn local_items(data_dir: &Path) -> anyhow::Result<Vec<Item>> {
    let root = data_dir.to_path_buf();
    let items = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for top in ["objects", "derived"] {
            for entry in walkdir::WalkDir::new(root.join(top)).follow_links(false) {
                let Ok(entry) = entry else { continue };
                if !entry.file_type().is_file() {
                    continue;
                }
                let Ok(rel) = entry.path().strip_prefix(&root) else {
                    continue;
                };
                let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
                let wanted = match parts.as_slice() {
                    ["objects", a, b, sha] => {
                        is_sha256(sha) && sha.get(..2) == Some(*a) && sha.get(2..4) == Some(*b)
                    }
                    ["derived", sha, name] => {
                        is_sha256(sha)
                            && !name.starts_with('.')
                            && name
                                .bytes()
                                .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
                    }
                    _ => false,
                };
                if !wanted {
                    continue;
                }
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                out.push(Item {
                    key: parts.join("/"),
                    path: entry.path().to_path_buf(),
                    size,
                });
            }
        }
        out
    })
    .await?;
    Ok(items)
}
