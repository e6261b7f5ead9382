//! Where bytes live: content-addressed audio objects, the files jobs derive
//! from them (peaks, previews), and the local spool where bytes still
//! arriving wait — behind one small interface, [`Storage`], that every
//! backend provides (today the local disk; object storage next). Nothing
//! outside this room builds a storage path or key by hand.
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
mod spool;
pub mod sweep;

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use app::files::{Derived, FileStore, Read};
use bytes::Bytes;
use futures::Stream;

pub use keys::{derived_key, is_sha256, object_key, random_name};
pub use spool::{hash_file, Spool};

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
}

impl Storage {
    /// Everything on the local disk under `data_dir`.
    pub fn local(data_dir: &Path) -> Self {
        Storage {
            backend: Backend::Local(Arc::new(local::LocalDisk::new(data_dir))),
            spool: Spool::new(data_dir),
        }
    }

    /// Creates what the backend and the spool need (at start-up).
    pub fn init(&self) -> std::io::Result<()> {
        self.spool.init()?;
        match &self.backend {
            Backend::Local(l) => l.init(),
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
        }
        Ok(key)
    }

    pub async fn exists(&self, key: &str) -> bool {
        match &self.backend {
            Backend::Local(l) => l.len(key).await.ok().flatten().is_some(),
        }
    }

    /// The size of the file behind `key`; `None` when there is none.
    pub async fn len(&self, key: &str) -> std::io::Result<Option<u64>> {
        match &self.backend {
            Backend::Local(l) => l.len(key).await,
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
        }
    }

    /// The whole of a small file (peaks), or `None` when there is none.
    pub async fn read(&self, key: &str) -> std::io::Result<Option<Vec<u8>>> {
        match &self.backend {
            Backend::Local(l) => l.read(key).await,
        }
    }

    /// A local file with the content of `key`, for the decoders (which read
    /// files): the local backend's own file.
    pub async fn local_copy(&self, key: &str) -> std::io::Result<PathBuf> {
        match &self.backend {
            Backend::Local(l) => Ok(l.path_of(key)),
        }
    }

    /// Removes the object with content `sha256`; whether there was one.
    pub async fn delete_object(&self, sha256: &str) -> std::io::Result<bool> {
        match &self.backend {
            Backend::Local(l) => l.delete(&object_key(sha256)).await,
        }
    }

    /// Removes every derived file of `sha256`.
    pub async fn delete_derived(&self, sha256: &str) -> std::io::Result<()> {
        match &self.backend {
            Backend::Local(l) => l.delete_derived(sha256).await,
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
