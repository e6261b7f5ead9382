//! Unfinished tus uploads on object storage, where every instance can reach
//! them. Upload `id`'s bytes so far are:
//!
//! ```text
//! uploads/<id>/data         the multipart upload's key (complete parts so far,
//!                           invisible until completed), then the whole file
//! uploads/<id>/tail-<end>   the bytes after the last part (fewer than a part),
//!                           named by the offset they end at
//! ```
//!
//! The database row (`app::uploads::db::Staged`) says which parts and which
//! tail belong to the upload: a tail written by a PATCH that died before it
//! was recorded has another end, so it is never read, and is removed by the
//! next PATCH or when the upload goes. A part sent again under the same index
//! replaces the earlier one; completing checks every ETag.

use std::sync::Arc;

use bytes::Bytes;

use super::keys::staged_dir;
use super::object::ObjectStorage;
use super::object_key;

pub use super::object::{room_for, PART};

/// The staging area of one process's object storage.
#[derive(Clone)]
pub struct Staging {
    store: Arc<ObjectStorage>,
}

fn bad_id() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, "not an upload id")
}

fn key(id: &str, name: &str) -> std::io::Result<String> {
    Ok(format!("{}/{name}", staged_dir(id).ok_or_else(bad_id)?))
}

fn tail_name(end: i64) -> String {
    format!("tail-{end}")
}

impl Staging {
    pub(super) fn new(store: Arc<ObjectStorage>) -> Self {
        Staging { store }
    }

    /// The key the upload's file is assembled under.
    pub fn data_key(id: &str) -> std::io::Result<String> {
        key(id, "data")
    }

    /// Begins the multipart upload of `id`'s file; its id.
    pub async fn begin(&self, id: &str) -> std::io::Result<String> {
        self.store.begin_multipart(&Self::data_key(id)?).await
    }

    /// Uploads part `index` (from 0) of `id`'s file; its ETag.
    pub async fn put_part(
        &self,
        id: &str,
        multipart: &str,
        index: usize,
        bytes: Bytes,
    ) -> std::io::Result<String> {
        self.store
            .put_part(&Self::data_key(id)?, multipart, index, bytes)
            .await
    }

    /// Stores the bytes after the last part, ending at offset `end`.
    pub async fn put_tail(&self, id: &str, end: i64, bytes: Vec<u8>) -> std::io::Result<()> {
        self.store.write(&key(id, &tail_name(end))?, bytes).await
    }

    /// The tail ending at `end`, if it was stored.
    pub async fn read_tail(&self, id: &str, end: i64) -> std::io::Result<Option<Vec<u8>>> {
        self.store.read(&key(id, &tail_name(end))?).await
    }

    /// Stores a whole file that never needed a multipart upload (one part's
    /// size or less) as `id`'s file.
    pub async fn put_whole(&self, id: &str, bytes: Vec<u8>) -> std::io::Result<()> {
        self.store.write(&Self::data_key(id)?, bytes).await
    }

    /// Makes `id`'s file, `length` bytes, appear whole under its data key:
    /// completes the multipart upload (when that was not done yet). Safe to
    /// call again after a crash or a failure at any point.
    pub async fn assemble(
        &self,
        id: &str,
        multipart: Option<&str>,
        parts: &[String],
        length: i64,
    ) -> std::io::Result<String> {
        let data = Self::data_key(id)?;
        if self.store.len(&data).await? == Some(length as u64) {
            return Ok(data);
        }
        match multipart {
            Some(m) => self.store.complete_multipart(&data, m, parts).await?,
            // An empty file is one empty object.
            None if length == 0 => self.store.write(&data, Vec::new()).await?,
            None => {
                return Err(std::io::Error::other(
                    "the upload's bytes are not in the bucket",
                ))
            }
        }
        match self.store.len(&data).await? {
            Some(n) if n == length as u64 => Ok(data),
            other => Err(std::io::Error::other(format!(
                "the assembled upload has {} bytes, not {length}",
                other.unwrap_or(0)
            ))),
        }
    }

    /// Stores the assembled file of `id` under its content address (a copy
    /// inside the bucket; content stored before is kept once); the key.
    pub async fn adopt(&self, id: &str, sha256: &str) -> std::io::Result<String> {
        let to = object_key(sha256);
        if self.store.len(&to).await?.is_none() {
            self.store.copy(&Self::data_key(id)?, &to).await?;
        }
        Ok(to)
    }

    /// Removes tails of `id` that end before `before` (left by PATCHes that
    /// ended or died since; a later PATCH's tail always ends further on, so
    /// one written after this one's record is never touched).
    pub async fn tidy(&self, id: &str, before: i64) -> std::io::Result<()> {
        let dir = staged_dir(id).ok_or_else(bad_id)?;
        for k in self.store.list(&dir).await? {
            let end = k
                .rsplit('/')
                .next()
                .and_then(|name| name.strip_prefix("tail-"))
                .and_then(|n| n.parse::<i64>().ok());
            if end.is_some_and(|end| end < before) {
                self.store.delete(&k).await?;
            }
        }
        Ok(())
    }

    /// Aborts multipart upload `multipart` of `id` (nothing else of it goes).
    pub async fn abort(&self, id: &str, multipart: &str) -> std::io::Result<()> {
        self.store
            .abort_multipart(&Self::data_key(id)?, multipart)
            .await
    }

    /// Removes staged objects older than `age` whose upload is not in
    /// `live` (their rows are gone); how many.
    pub async fn orphans(
        &self,
        age: std::time::Duration,
        live: &std::collections::HashSet<&str>,
    ) -> std::io::Result<usize> {
        let mut removed = 0;
        for (k, old) in self.store.list_aged("uploads").await? {
            let id = k.split('/').nth(1).unwrap_or_default();
            if old >= age && !live.contains(id) {
                self.store.delete(&k).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes everything of `id`: its unfinished multipart upload (so the
    /// bucket keeps no parts nobody will complete) and its objects.
    pub async fn discard(&self, id: &str, multipart: Option<&str>) -> std::io::Result<()> {
        let aborted = match multipart {
            Some(m) => self.store.abort_multipart(&Self::data_key(id)?, m).await,
            None => Ok(()),
        };
        let dir = staged_dir(id).ok_or_else(bad_id)?;
        for k in self.store.list(&dir).await? {
            self.store.delete(&k).await?;
        }
        aborted
    }
}

/// Writes one file into the staging area as it arrives (the machine API's
/// uploads on object storage): full parts go up as they fill, the rest as
/// the last part (or the whole file, when it never filled one) at `finish`.
/// What is held in memory counts against the process's budget.
pub struct StagedWriter {
    staging: Staging,
    id: String,
    multipart: Option<String>,
    parts: Vec<String>,
    buf: Vec<u8>,
}

impl Staging {
    /// A writer for a new staged file named `id` (a random name).
    pub async fn writer(&self, id: &str) -> std::io::Result<StagedWriter> {
        staged_dir(id).ok_or_else(bad_id)?;
        Ok(StagedWriter {
            staging: self.clone(),
            id: id.to_string(),
            multipart: None,
            parts: Vec::new(),
            buf: Vec::new(),
        })
    }
}

impl StagedWriter {
    /// The staged file's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(bytes);
        while self.buf.len() >= PART {
            let part: Vec<u8> = self.buf.drain(..PART).collect();
            self.send(part).await?;
        }
        Ok(())
    }

    async fn send(&mut self, part: Vec<u8>) -> std::io::Result<()> {
        let _room = room_for(part.len()).await?;
        let multipart = match &self.multipart {
            Some(m) => m.clone(),
            None => {
                let m = self.staging.begin(&self.id).await?;
                self.multipart = Some(m.clone());
                m
            }
        };
        let etag = self
            .staging
            .put_part(&self.id, &multipart, self.parts.len(), Bytes::from(part))
            .await?;
        self.parts.push(etag);
        Ok(())
    }

    /// Makes the file appear whole under the staged id's data key.
    pub async fn finish(&mut self, length: u64) -> std::io::Result<()> {
        let rest = std::mem::take(&mut self.buf);
        if self.multipart.is_none() {
            let _room = room_for(rest.len()).await?;
            return self.staging.put_whole(&self.id, rest).await;
        }
        if !rest.is_empty() {
            self.send(rest).await?;
        }
        self.staging
            .assemble(
                &self.id,
                self.multipart.as_deref(),
                &self.parts,
                length as i64,
            )
            .await
            .map(|_| ())
    }

    /// Gives up: the multipart upload is aborted, nothing stays.
    pub async fn abort(self) {
        if let Err(e) = self
            .staging
            .discard(&self.id, self.multipart.as_deref())
            .await
        {
            tracing::warn!(upload = %self.id, error = %e, "could not remove a staged file");
        }
    }
}
