//! Where bytes live: content-addressed audio objects, the files jobs derive
//! from them (peaks, previews), and the local spool where bytes still
//! arriving wait — behind one small interface, [`Storage`], that every
//! backend provides: the local disk (`local`, the default) and S3-compatible
//! object storage (`object`). Nothing outside this room builds a storage
//! path or key by hand.
//!
//! ```text
//! objects/ab/cd/<sha256>     complete files, named by their content
//! derived/<sha256>/<file>    what jobs compute from a file (app::files::Derived)
//! ```
//!
//! An object is stored only complete: the caller hands over a finished,
//! hashed spool file; the backend makes it durable before any row points at
//! it, so a crash leaves at worst an unreferenced object, which the sweeper
//! removes (`sweep`).

mod keys;
mod local;
pub mod migrate;
mod object;
mod spool;
pub mod staging;
pub mod sweep;

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use app::files::{Derived, FileStore, Read};
use app::settings::ObjectStoreSettings;
use bytes::Bytes;
use futures::Stream;

pub use keys::{derived_key, is_sha256, object_key, random_name};
pub use spool::{hash_file, Spool};
pub use staging::Staging;

/// Bytes of a stored file, as they are read.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// The storage of one wavekeep process: a backend for stored files, and the
/// local spool.
#[derive(Clone)]
pub struct Storage {
    backend: Backend,
    spool: Spool,
}

#[derive(Clone)]
enum Backend {
    Local(Arc<local::LocalDisk>),
    Object(Arc<object::ObjectStorage>),
}

impl Storage {
    /// Everything on the local disk under `data_dir`.
    pub fn local(data_dir: &Path) -> Self {
        Storage {
            backend: Backend::Local(Arc::new(local::LocalDisk::new(data_dir))),
            spool: Spool::new(data_dir),
        }
    }

    /// Stored files in an S3-compatible bucket; the spool under `data_dir`.
    pub fn object(data_dir: &Path, settings: &ObjectStoreSettings) -> std::io::Result<Self> {
        Ok(Storage {
            backend: Backend::Object(Arc::new(object::ObjectStorage::new(settings)?)),
            spool: Spool::new(data_dir),
        })
    }

    /// The storage the settings ask for.
    pub fn open(settings: &app::settings::Settings) -> std::io::Result<Self> {
        match &settings.object_store {
            None => Ok(Self::local(&settings.data_dir)),
            Some(s) => Self::object(&settings.data_dir, s),
        }
    }

    /// Creates what the backend and the spool need, and checks that an
    /// object store answers (at start-up).
    pub async fn init(&self) -> std::io::Result<()> {
        self.spool.init()?;
        match &self.backend {
            Backend::Local(l) => l.init(),
            Backend::Object(o) => o.init().await,
        }
    }

    /// Where unfinished tus uploads are kept when it is not this machine's
    /// disk (object storage: any instance can continue them); `None` on the
    /// local disk, where they are spool files.
    pub fn staging(&self) -> Option<Staging> {
        match &self.backend {
            Backend::Local(_) => None,
            Backend::Object(o) => Some(Staging::new(o.clone())),
        }
    }

    /// Removes the bytes of unfinished upload `id` whose row is gone
    /// (terminated, joined, expired): its spool file, or its staged objects
    /// and `multipart` upload. A failure is logged; the sweeper or the
    /// bucket's lifecycle rule gets the rest.
    pub async fn discard_upload(&self, id: &str, multipart: Option<&str>) {
        if let Some(staging) = self.staging() {
            if let Err(e) = staging.discard(id, multipart).await {
                tracing::warn!(upload = id, error = %e, "could not remove an upload's staged bytes");
            }
            return;
        }
        let Some(path) = self.spool.upload_path(id) else {
            return;
        };
        if let Err(e) = tokio::fs::remove_file(&path).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(upload = id, error = %e, "could not remove an upload's bytes");
            }
        }
    }

    /// The local space for bytes still arriving and temporary files.
    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Stores the complete local file `src` (its content hashing to
    /// `sha256`) under its content address and returns the key; content
    /// stored before is kept once. `src` stays for the caller to remove.
    /// `synced`: `src`'s data is already fsynced.
    pub async fn put_object(
        &self,
        src: &Path,
        sha256: &str,
        synced: bool,
    ) -> std::io::Result<String> {
        match &self.backend {
            Backend::Local(l) => l.put_object(src, sha256, synced).await,
            Backend::Object(o) => o.put_object(src, sha256).await,
        }
    }

    /// Stores a derived file from memory, replacing any earlier one whole.
    pub async fn put_derived(
        &self,
        sha256: &str,
        file: Derived,
        bytes: Vec<u8>,
    ) -> std::io::Result<String> {
        let key = derived_key(sha256, file);
        match &self.backend {
            Backend::Local(l) => l.write_atomic(&key, bytes, &self.spool).await?,
            Backend::Object(o) => o.write(&key, bytes).await?,
        }
        Ok(key)
    }

    /// Stores a derived file from the local file `src` (which is moved).
    pub async fn put_derived_file(
        &self,
        sha256: &str,
        file: Derived,
        src: &Path,
    ) -> std::io::Result<String> {
        let key = derived_key(sha256, file);
        match &self.backend {
            Backend::Local(l) => l.move_in(src, &key).await?,
            Backend::Object(o) => o.move_in(src, &key).await?,
        }
        Ok(key)
    }

    pub async fn exists(&self, key: &str) -> bool {
        self.len(key).await.ok().flatten().is_some()
    }

    /// The size of the file behind `key`; `None` when there is none.
    pub async fn len(&self, key: &str) -> std::io::Result<Option<u64>> {
        match &self.backend {
            Backend::Local(l) => l.len(key).await,
            Backend::Object(o) => o.len(key).await,
        }
    }

    /// `count` bytes from `start` of the file behind `key`, streamed.
    pub async fn read_range(
        &self,
        key: &str,
        start: u64,
        count: u64,
    ) -> std::io::Result<ByteStream> {
        match &self.backend {
            Backend::Local(l) => l.read_range(key, start, count).await,
            Backend::Object(o) => o.read_range(key, start, count).await,
        }
    }

    /// The whole of a small file (peaks), or `None` when there is none.
    pub async fn read(&self, key: &str) -> std::io::Result<Option<Vec<u8>>> {
        match &self.backend {
            Backend::Local(l) => l.read(key).await,
            Backend::Object(o) => o.read(key).await,
        }
    }

    /// A local file with the content of `key`, for the decoders (which read
    /// files): the local backend's own file, or a download into the spool
    /// that goes when the copy is dropped.
    pub async fn local_copy(&self, key: &str) -> std::io::Result<LocalCopy> {
        match &self.backend {
            Backend::Local(l) => Ok(LocalCopy {
                path: l.path_of(key),
                temporary: false,
            }),
            Backend::Object(o) => Ok(LocalCopy {
                path: o.download(key, &self.spool).await?,
                temporary: true,
            }),
        }
    }

    /// Removes the object with content `sha256`; whether there was one.
    pub async fn delete_object(&self, sha256: &str) -> std::io::Result<bool> {
        match &self.backend {
            Backend::Local(l) => l.delete(&object_key(sha256)).await,
            Backend::Object(o) => o.delete(&object_key(sha256)).await,
        }
    }

    /// Removes every derived file of `sha256`.
    pub async fn delete_derived(&self, sha256: &str) -> std::io::Result<()> {
        match &self.backend {
            Backend::Local(l) => l.delete_derived(sha256).await,
            Backend::Object(o) => o.delete_derived(sha256).await,
        }
    }

    /// Hashes of objects last written between `min_age` and `max_age` ago:
    /// the only ones a crash between storing a file and committing its row
    /// can leave unreferenced (for the sweeper to check).
    pub async fn recent_objects(
        &self,
        min_age: Duration,
        max_age: Duration,
    ) -> std::io::Result<Vec<String>> {
        match &self.backend {
            Backend::Local(l) => l.recent_objects(min_age, max_age).await,
            Backend::Object(o) => o.recent_objects(min_age, max_age).await,
        }
    }
}

impl Storage {
    /// Where a client may fetch `key` itself: a presigned object-storage URL
    /// valid for `ttl` whose answer carries the `response` headers, when the
    /// backend is object storage set to redirect; else `None` (proxy it).
    pub async fn presigned_get(
        &self,
        key: &str,
        ttl: Duration,
        response: &[(&str, String)],
    ) -> std::io::Result<Option<String>> {
        match &self.backend {
            Backend::Local(_) => Ok(None),
            Backend::Object(o) => o.presigned_get(key, ttl, response).await,
        }
    }

    /// How many files are stored under `top` (`objects` or `derived`): for
    /// the dashboard and checks, not for hot paths (it lists them all).
    pub async fn count_files(&self, top: &str) -> std::io::Result<usize> {
        if top != "objects" && top != "derived" {
            return Ok(0);
        }
        match &self.backend {
            Backend::Local(l) => l.count_files(top).await,
            Backend::Object(o) => o.count_files(top).await,
        }
    }
}

/// A stored file as a local path, for code that reads files. A download
/// (object storage) is removed when this is dropped.
#[derive(Debug)]
pub struct LocalCopy {
    path: PathBuf,
    temporary: bool,
}

impl std::ops::Deref for LocalCopy {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for LocalCopy {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for LocalCopy {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl FileStore for Storage {
    fn read_derived<'a>(&'a self, sha256: &'a str, file: Derived) -> Read<'a> {
        Box::pin(async move {
            if !is_sha256(sha256) {
                return Ok(None);
            }
            self.read(&derived_key(sha256, file)).await
        })
    }
}
