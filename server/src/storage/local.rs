//! The local-disk backend: stored files under the data directory, written
//! elsewhere, fsynced, then renamed or hard-linked into place (atomic on one
//! file system) with the directory fsynced, so a reader sees a whole file
//! or none.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::spool::{sync_dir, Spool};
use super::{object_key, ByteStream};

const READ_CHUNK: usize = 64 * 1024;

pub struct LocalDisk {
    root: PathBuf,
}

impl LocalDisk {
    pub fn new(data_dir: &Path) -> Self {
        LocalDisk {
            root: data_dir.to_path_buf(),
        }
    }

    pub fn init(&self) -> std::io::Result<()> {
        for dir in ["objects", "derived"] {
            std::fs::create_dir_all(self.root.join(dir))?;
        }
        Ok(())
    }

    /// The file behind a key (keys are made by `keys` only).
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub async fn put_object(
        &self,
        src: &Path,
        sha256: &str,
        synced: bool,
    ) -> std::io::Result<String> {
        let key = object_key(sha256);
        let dest = self.path_of(&key);
        let src = src.to_path_buf();
        let spool_tmp = self.root.join("tmp");
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if !synced {
                std::fs::File::open(&src)?.sync_data()?;
            }
            let dir = dest.parent().unwrap_or(Path::new(".")).to_path_buf();
            std::fs::create_dir_all(&dir)?;
            if dest.exists() {
                return Ok(());
            }
            match std::fs::hard_link(&src, &dest) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
                // No hard links on this file system: copy beside, then rename.
                Err(_) => {
                    // Its own name (two uploads of one content may copy at
                    // once), in the spool's folder, which the sweeper clears.
                    let tmp = spool_tmp.join(format!("{}.incoming", super::keys::random_name()));
                    let copied = std::fs::copy(&src, &tmp)
                        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
                        .and_then(|()| std::fs::rename(&tmp, &dest));
                    if let Err(e) = copied {
                        // A full disk leaves no partial file behind.
                        let _ = std::fs::remove_file(&tmp);
                        return Err(e);
                    }
                }
            }
            sync_dir(&dir)
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(key)
    }

    /// Writes `bytes` as `key` so readers see the old file or the whole new one.
    pub async fn write_atomic(
        &self,
        key: &str,
        bytes: Vec<u8>,
        spool: &Spool,
    ) -> std::io::Result<()> {
        let tmp = spool.tmp_path("part");
        let dest = self.path_of(key);
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            let dir = dest.parent().unwrap_or(Path::new(".")).to_path_buf();
            std::fs::create_dir_all(&dir)?;
            let mut f = std::fs::File::create(&tmp)?;
            let written = f.write_all(&bytes).and_then(|()| f.sync_all());
            drop(f);
            if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &dest)) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            sync_dir(&dir)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Moves the local file `src` (on the same file system) in as `key`.
    pub async fn move_in(&self, src: &Path, key: &str) -> std::io::Result<()> {
        let dest = self.path_of(key);
        let dir = dest.parent().unwrap_or(Path::new(".")).to_path_buf();
        tokio::fs::create_dir_all(&dir).await?;
        tokio::fs::rename(src, &dest).await?;
        tokio::task::spawn_blocking(move || sync_dir(&dir))
            .await
            .map_err(std::io::Error::other)?
    }

    pub async fn len(&self, key: &str) -> std::io::Result<Option<u64>> {
        match tokio::fs::metadata(self.path_of(key)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn read_range(
        &self,
        key: &str,
        start: u64,
        count: u64,
    ) -> std::io::Result<ByteStream> {
        let mut file = tokio::fs::File::open(self.path_of(key)).await?;
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start)).await?;
        }
        Ok(Box::pin(ReaderStream::with_capacity(
            file.take(count),
            READ_CHUNK,
        )))
    }

    pub async fn read(&self, key: &str) -> std::io::Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.path_of(key)).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn delete(&self, key: &str) -> std::io::Result<bool> {
        match tokio::fs::remove_file(self.path_of(key)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn delete_derived(&self, sha256: &str) -> std::io::Result<()> {
        match tokio::fs::remove_dir_all(self.root.join("derived").join(sha256)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn count_files(&self, top: &str) -> std::io::Result<usize> {
        let dir = self.root.join(top);
        tokio::task::spawn_blocking(move || {
            walkdir::WalkDir::new(dir)
                .into_iter()
                .flatten()
                .filter(|e| e.file_type().is_file())
                .count()
        })
        .await
        .map_err(std::io::Error::other)
    }

    pub async fn recent_objects(
        &self,
        min_age: Duration,
        max_age: Duration,
    ) -> std::io::Result<Vec<String>> {
        let root = self.root.join("objects");
        tokio::task::spawn_blocking(move || {
            let now = SystemTime::now();
            let mut out = Vec::new();
            let mut dirs = vec![root];
            while let Some(dir) = dirs.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let Ok(meta) = entry.metadata() else { continue };
                    if meta.is_dir() {
                        dirs.push(entry.path());
                        continue;
                    }
                    let age = meta
                        .modified()
                        .ok()
                        .and_then(|t| now.duration_since(t).ok())
                        .unwrap_or_default();
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if age >= min_age && age <= max_age && super::is_sha256(&name) {
                        out.push(name);
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}
