//! The local spool: bytes still arriving (tus uploads, multipart bodies,
//! concatenations) and temporary files, always on this machine's disk
//! whatever the backend.
//!
//! ```text
//! uploads/<id>.part   tus uploads being received
//! tmp/                multipart bodies, concatenations, atomic writes, previews
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::random_name;

#[derive(Debug, Clone)]
pub struct Spool {
    root: PathBuf,
}

impl Spool {
    pub fn new(data_dir: &Path) -> Self {
        Spool {
            root: data_dir.to_path_buf(),
        }
    }

    pub fn init(&self) -> std::io::Result<()> {
        for dir in ["uploads", "tmp"] {
            std::fs::create_dir_all(self.root.join(dir))?;
        }
        Ok(())
    }

    /// Where the bytes of upload `id` are received. Ids are made by
    /// `random_name` (alphanumerics); anything else never reaches the disk.
    pub fn upload_path(&self, id: &str) -> Option<PathBuf> {
        (!id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| self.root.join("uploads").join(format!("{id}.part")))
    }

    /// A fresh temporary path.
    pub fn tmp_path(&self, ext: &str) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{}.{ext}", random_name()))
    }

    /// Removes temporary files older than `age` (left by a crash); how many.
    pub async fn sweep_tmp(&self, age: Duration) -> std::io::Result<usize> {
        let dir = self.root.join("tmp");
        tokio::task::spawn_blocking(move || remove_older_than(&dir, age, |_| true))
            .await
            .map_err(std::io::Error::other)?
    }

    /// Removes `.part` files older than `age` whose upload is not in `live`.
    pub async fn sweep_uploads(
        &self,
        age: Duration,
        live: std::collections::HashSet<String>,
    ) -> std::io::Result<usize> {
        let dir = self.root.join("uploads");
        tokio::task::spawn_blocking(move || {
            remove_older_than(&dir, age, |name| {
                let id = name.strip_suffix(".part").unwrap_or(name);
                !live.contains(id)
            })
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

fn remove_older_than(
    dir: &Path,
    age: Duration,
    also: impl Fn(&str) -> bool,
) -> std::io::Result<usize> {
    let mut removed = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|d| d >= age);
        if old && also(&name) && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// sha256 (hex) and size of a local file, read in 1 MiB blocks off the
/// async threads.
pub async fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
        Ok((hex::encode(hasher.finalize()), size))
    })
    .await
    .map_err(std::io::Error::other)?
}
