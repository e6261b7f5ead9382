//! The object-storage backend: stored files as objects in an S3-compatible
//! bucket (AWS S3, MinIO, Garage, SeaweedFS, Cloudflare R2), under a prefix,
//! through the `object_store` crate. The keys are the local backend's
//! (`objects/ab/cd/<sha256>`, `derived/<sha256>/<file>`), so a store can
//! move from one backend to the other as it is (`wavekeep storage migrate`).
//!
//! An object is written whole by one PUT (or a multipart upload completed
//! at the end), so a reader sees the old object, the new one, or none.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use app::settings::ObjectStoreSettings;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use secrecy::ExposeSecret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::spool::Spool;
use super::{object_key, ByteStream};

/// Files up to this size go up in one PUT; larger ones as a multipart
/// upload of parts this size (S3's smallest part is 5 MiB; R2 also wants
/// every part but the last of one size, so parts are always exactly this).
pub const PART: usize = 8 * 1024 * 1024;
/// Parts in flight at once for one file.
const PARTS_IN_FLIGHT: usize = 3;
/// Bytes of stored files held in memory on their way to the bucket, for
/// the whole process (in MiB): one part of each of 12 uploads at once.
const IN_MEMORY_MIB: u32 = 96;

/// Room for `bytes` in the process's in-memory budget, held until dropped.
pub async fn room_for(bytes: usize) -> std::io::Result<tokio::sync::SemaphorePermit<'static>> {
    static BUDGET: tokio::sync::Semaphore =
        tokio::sync::Semaphore::const_new(IN_MEMORY_MIB as usize);
    let mib = (bytes.div_ceil(1024 * 1024) as u32).clamp(1, IN_MEMORY_MIB);
    BUDGET
        .acquire_many(mib)
        .await
        .map_err(std::io::Error::other)
}

pub struct ObjectStorage {
    s3: AmazonS3,
    prefix: String,
    /// Media links answer with a redirect to a presigned URL.
    redirect: bool,
    /// `s3://bucket/prefix`, for messages (never credentials).
    location: String,
}

impl ObjectStorage {
    pub fn new(settings: &ObjectStoreSettings) -> std::io::Result<Self> {
        // The HTTP client's TLS uses ring, chosen so the build needs no C
        // toolchain (aws-lc-rs would); rustls marks it deprecated because it
        // lacks post-quantum key exchange. Installing it twice is harmless.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        // What every S3 tool reads (AWS_ENDPOINT_URL, AWS_REGION, keys,
        // AWS_ALLOW_HTTP…), then wavekeep's own settings over it.
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&settings.bucket)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            });
        if let Some(e) = &settings.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &settings.region {
            b = b.with_region(r);
        }
        if let Some(k) = &settings.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &settings.secret_access_key {
            b = b.with_secret_access_key(s.expose_secret());
        }
        if let Some(h) = settings.allow_http {
            b = b.with_allow_http(h);
        }
        if let Some(v) = settings.virtual_hosted {
            b = b.with_virtual_hosted_style_request(v);
        }
        let s3 = b.build().map_err(std::io::Error::other)?;
        Ok(ObjectStorage {
            s3,
            prefix: settings.prefix.trim_matches('/').to_string(),
            redirect: settings.redirect,
            location: settings.location(),
        })
    }

    /// Checks that the bucket answers (at start-up): a listing of one key.
    pub async fn init(&self) -> std::io::Result<()> {
        let probe = self.path("objects");
        let listed = tokio::time::timeout(
            Duration::from_secs(15),
            self.s3.list(Some(&probe)).take(1).try_collect::<Vec<_>>(),
        )
        .await;
        match listed {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(std::io::Error::other(format!(
                "object storage {} does not answer: {e}",
                self.location
            ))),
            Err(_) => Err(std::io::Error::other(format!(
                "object storage {} did not answer within 15 s",
                self.location
            ))),
        }
    }

    /// The object path of a key (keys are made by `keys` only).
    fn path(&self, key: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        }
    }

    /// Uploads the local file `src` as `key`: one PUT when small, else a
    /// multipart upload that only appears when complete. What is read into
    /// memory for it counts against the process's `IN_MEMORY` budget, so
    /// many uploads at once wait for room instead of filling memory.
    pub async fn upload_file(&self, src: &Path, key: &str) -> std::io::Result<()> {
        let path = self.path(key);
        let mut file = tokio::fs::File::open(src).await?;
        let len = file.metadata().await?.len();
        if len <= PART as u64 {
            let _room = room_for(len as usize).await?;
            let mut buf = Vec::with_capacity(len as usize);
            file.read_to_end(&mut buf).await?;
            self.s3.put(&path, PutPayload::from(buf)).await?;
            return Ok(());
        }
        let mut upload = self.s3.put_multipart(&path).await?;
        // Each part goes up as a task of its own: it must go on while this
        // loop waits for room in the budget (which finished parts free).
        let mut in_flight = tokio::task::JoinSet::new();
        let sent: std::io::Result<()> = async {
            loop {
                while in_flight.len() >= PARTS_IN_FLIGHT {
                    if let Some(done) = in_flight.join_next().await {
                        done.map_err(std::io::Error::other)??;
                    }
                }
                let room = room_for(PART).await?;
                let mut part = Vec::with_capacity(PART);
                (&mut file).take(PART as u64).read_to_end(&mut part).await?;
                if part.is_empty() {
                    break;
                }
                let put = upload.put_part(PutPayload::from(part));
                in_flight.spawn(async move {
                    let done = put.await;
                    drop(room);
                    done.map_err(std::io::Error::from)
                });
            }
            while let Some(done) = in_flight.join_next().await {
                done.map_err(std::io::Error::other)??;
            }
            Ok(())
        }
        .await;
        // A failure leaves no part uploading behind it.
        in_flight.abort_all();
        match sent {
            Ok(()) => {
                upload.complete().await?;
                Ok(())
            }
            Err(e) => {
                // Leaves no parts behind for the bucket to bill.
                if let Err(abort) = upload.abort().await {
                    tracing::warn!(key, error = %abort, "could not abort a multipart upload");
                }
                Err(e)
            }
        }
    }

    pub async fn put_object(&self, src: &Path, sha256: &str) -> std::io::Result<String> {
        let key = object_key(sha256);
        if self.len(&key).await?.is_none() {
            self.upload_file(src, &key).await?;
        }
        Ok(key)
    }

    pub async fn write(&self, key: &str, bytes: Vec<u8>) -> std::io::Result<()> {
        self.s3
            .put(&self.path(key), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// Uploads the local file `src` as `key`, then removes `src`.
    pub async fn move_in(&self, src: &Path, key: &str) -> std::io::Result<()> {
        self.upload_file(src, key).await?;
        if let Err(e) = tokio::fs::remove_file(src).await {
            tracing::warn!(path = %src.display(), error = %e, "could not remove an uploaded file");
        }
        Ok(())
    }

    pub async fn len(&self, key: &str) -> std::io::Result<Option<u64>> {
        match self.s3.head(&self.path(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn read_range(
        &self,
        key: &str,
        start: u64,
        count: u64,
    ) -> std::io::Result<ByteStream> {
        if count == 0 {
            // S3 refuses an empty range; an empty body needs no request.
            return Ok(Box::pin(futures::stream::empty()));
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(start..start + count)),
            ..GetOptions::default()
        };
        let got = self.s3.get_opts(&self.path(key), options).await?;
        Ok(Box::pin(got.into_stream().map_err(std::io::Error::from)))
    }

    pub async fn read(&self, key: &str) -> std::io::Result<Option<Vec<u8>>> {
        match self.s3.get(&self.path(key)).await {
            Ok(got) => Ok(Some(got.bytes().await?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Downloads `key` into a fresh spool file (for the decoders).
    pub async fn download(&self, key: &str, spool: &Spool) -> std::io::Result<PathBuf> {
        let dest = spool.tmp_path("dl");
        let fetched: std::io::Result<()> = async {
            let got = self.s3.get(&self.path(key)).await?;
            let mut stream = got.into_stream();
            let mut out = tokio::fs::File::create(&dest).await?;
            while let Some(chunk) = stream.next().await {
                let chunk: Bytes = chunk?;
                out.write_all(&chunk).await?;
            }
            out.flush().await
        }
        .await;
        match fetched {
            Ok(()) => Ok(dest),
            Err(e) => {
                let _ = tokio::fs::remove_file(&dest).await;
                Err(e)
            }
        }
    }

    pub async fn delete(&self, key: &str) -> std::io::Result<bool> {
        // S3 answers a delete of nothing as a success: ask first.
        let existed = self.len(key).await?.is_some();
        match self.s3.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(existed),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete_derived(&self, sha256: &str) -> std::io::Result<()> {
        let prefix = self.path(&format!("derived/{sha256}"));
        let keys = self
            .s3
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .boxed();
        let mut gone = self.s3.delete_stream(keys);
        while let Some(r) = gone.next().await {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    pub async fn recent_objects(
        &self,
        min_age: Duration,
        max_age: Duration,
    ) -> std::io::Result<Vec<String>> {
        let now = SystemTime::now();
        let mut out = Vec::new();
        let mut listed = self.s3.list(Some(&self.path("objects")));
        while let Some(meta) = listed.next().await {
            let meta = meta?;
            let modified = SystemTime::from(meta.last_modified);
            let age = now.duration_since(modified).unwrap_or_default();
            if age < min_age || age > max_age {
                continue;
            }
            if let Some(name) = meta.location.filename() {
                if super::is_sha256(name) {
                    out.push(name.to_string());
                }
            }
        }
        Ok(out)
    }

    /// A presigned GET of `key` valid for `ttl`, whose answer carries the
    /// given `response-*` headers (type, disposition, caching); `None` when
    /// media is proxied instead.
    pub async fn presigned_get(
        &self,
        key: &str,
        ttl: Duration,
        response: &[(&str, String)],
    ) -> std::io::Result<Option<String>> {
        if !self.redirect {
            return Ok(None);
        }
        let options = SignedUrlOptions::new().with_query(
            response
                .iter()
                .map(|(k, v)| (format!("response-{k}"), v.clone())),
        );
        let url = self
            .s3
            .signed_url_opts(http::Method::GET, &self.path(key), ttl, &options)
            .await?;
        Ok(Some(url.to_string()))
    }

    /// The sha256 (hex) of what is stored as `key`, read back in full.
    pub async fn sha256_of(&self, key: &str) -> std::io::Result<String> {
        use sha2::{Digest, Sha256};
        let mut stream = self.s3.get(&self.path(key)).await?.into_stream();
        let mut hasher = Sha256::new();
        while let Some(chunk) = stream.next().await {
            let chunk: Bytes = chunk?;
            hasher.update(&chunk);
        }
        Ok(hex::encode(hasher.finalize()))
    }

    pub async fn count_files(&self, top: &str) -> std::io::Result<usize> {
        let mut listed = self.s3.list(Some(&self.path(top)));
        let mut n = 0;
        while let Some(meta) = listed.next().await {
            meta?;
            n += 1;
        }
        Ok(n)
    }

    /// Begins a multipart upload that will become `key`; its id.
    pub async fn begin_multipart(&self, key: &str) -> std::io::Result<String> {
        Ok(self.s3.create_multipart(&self.path(key)).await?)
    }

    /// Uploads part `index` (from 0) of multipart upload `id`; its ETag.
    /// A part sent again under the same index replaces the earlier one.
    pub async fn put_part(
        &self,
        key: &str,
        id: &str,
        index: usize,
        bytes: Bytes,
    ) -> std::io::Result<String> {
        let part = self
            .s3
            .put_part(
                &self.path(key),
                &id.to_string(),
                index,
                PutPayload::from(bytes),
            )
            .await?;
        Ok(part.content_id)
    }

    /// Completes multipart upload `id` from `parts` (ETags in order): `key`
    /// appears whole. The store checks every ETag, so a part replaced since
    /// it was recorded fails this instead of joining the wrong bytes.
    pub async fn complete_multipart(
        &self,
        key: &str,
        id: &str,
        parts: &[String],
    ) -> std::io::Result<()> {
        let parts = parts
            .iter()
            .map(|etag| PartId {
                content_id: etag.clone(),
            })
            .collect();
        self.s3
            .complete_multipart(&self.path(key), &id.to_string(), parts)
            .await?;
        Ok(())
    }

    /// Ends multipart upload `id` and frees its parts; one already gone
    /// (completed or aborted) is no error.
    pub async fn abort_multipart(&self, key: &str, id: &str) -> std::io::Result<()> {
        match self
            .s3
            .abort_multipart(&self.path(key), &id.to_string())
            .await
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Copies `from` to `to` inside the bucket (no bytes pass through here).
    pub async fn copy(&self, from: &str, to: &str) -> std::io::Result<()> {
        self.s3.copy(&self.path(from), &self.path(to)).await?;
        Ok(())
    }

    /// Keys under `dir` with their age.
    pub async fn list_aged(&self, dir: &str) -> std::io::Result<Vec<(String, Duration)>> {
        let skip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let now = SystemTime::now();
        let mut out = Vec::new();
        let mut listed = self.s3.list(Some(&self.path(dir)));
        while let Some(meta) = listed.next().await {
            let meta = meta?;
            let age = now
                .duration_since(SystemTime::from(meta.last_modified))
                .unwrap_or_default();
            if let Some(key) = meta.location.as_ref().get(skip..) {
                out.push((key.to_string(), age));
            }
        }
        Ok(out)
    }

    /// Keys under `dir` (relative to the prefix, like every key here).
    pub async fn list(&self, dir: &str) -> std::io::Result<Vec<String>> {
        let skip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let mut out = Vec::new();
        let mut listed = self.s3.list(Some(&self.path(dir)));
        while let Some(meta) = listed.next().await {
            let meta = meta?;
            if let Some(key) = meta.location.as_ref().get(skip..) {
                out.push(key.to_string());
            }
        }
        Ok(out)
    }

    /// Every stored key under the prefix with its size (for `migrate`).
    pub async fn keys(&self) -> std::io::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let root = ObjectPath::from(self.prefix.as_str());
        let mut listed = self.s3.list((!self.prefix.is_empty()).then_some(&root));
        let skip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        while let Some(meta) = listed.next().await {
            let meta = meta?;
            if let Some(key) = meta.location.as_ref().get(skip..) {
                out.push((key.to_string(), meta.size));
            }
        }
        Ok(out)
    }
}
