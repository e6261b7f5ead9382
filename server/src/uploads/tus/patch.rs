//! `PATCH /api/uploads/{id}`: receiving bytes. The PATCH takes the upload's
//! lease (one writer per upload, across processes), streams its body to the
//! end of the part file (hashing it, and checking `Upload-Checksum` when
//! sent), fsyncs, then records the new offset and ends the lease. A PATCH
//! that brings the last byte finalizes the upload before it answers.

use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use base64::Engine;
use futures::StreamExt;
use http::{HeaderMap, StatusCode};
use md5::Md5;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use app::db::now_ms;
use app::errors::AppError;
use app::uploads::db::Upload;

use super::reply::{bad, check_version, gone, header, http_date, locked, Tus, TusResult};
use super::reply::{CHECKSUMS, OCTET, UPLOAD_CHECKSUM, UPLOAD_EXPIRES, UPLOAD_OFFSET};
use super::{finalize, incoming_of, load, part_path};
use crate::state::ServerState;
use crate::uploads::ingest;

/// A PATCH's hold on its upload: short, so that an upload whose instance
/// died mid-PATCH can be continued (on any instance) within seconds, and
/// renewed in the background while the PATCH runs (`Heartbeat`).
const LOCK_TTL: Duration = Duration::from_secs(10);
const LOCK_RENEW: Duration = Duration::from_secs(3);

/// Keeps a PATCH's lease alive for as long as the PATCH runs, bytes
/// arriving or not, finalizing included. `lost()` turns true when the lease
/// could not be renewed because another request holds it now (this one
/// stalled past the TTL): the PATCH must then stop writing.
pub(super) struct Heartbeat {
    task: tokio::task::JoinHandle<()>,
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Heartbeat {
    fn start(db: app::db::Db, id: String, token: String) -> Self {
        let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = lost.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LOCK_RENEW).await;
                match app::uploads::db::renew_lease(&db, &id, &token, LOCK_TTL).await {
                    Ok(true) => {}
                    Ok(false) => {
                        flag.store(true, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                    // The database hiccuped: try again at the next beat.
                    Err(e) => {
                        tracing::debug!(upload = %id, error = %e, "could not renew an upload lease")
                    }
                }
            }
        });
        Heartbeat { task, lost }
    }

    pub(super) fn lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// sha256 state of unfinished uploads, keyed by upload id, with the offset it
/// covers: a PATCH that continues where the last one ended in this process
/// carries the hash on, so finalizing need not read the file again. A miss
/// (another process took the PATCH, a restart, eviction) only means the file
/// is hashed from disk at the end.
static PARTIAL_HASHES: std::sync::LazyLock<moka::future::Cache<String, (i64, Sha256)>> =
    std::sync::LazyLock::new(|| {
        moka::future::Cache::builder()
            .max_capacity(10_000)
            .time_to_idle(Duration::from_secs(6 * 3600))
            .build()
    });

pub(super) enum Checksum {
    Sha1(Sha1),
    Sha256(Sha256),
    Md5(Md5),
}

impl Checksum {
    fn parse(value: &str) -> Result<(Checksum, Vec<u8>), Tus> {
        let (algo, b64) = value
            .split_once(' ')
            .ok_or_else(|| bad("Upload-Checksum must be \"<algorithm> <base64 digest>\""))?;
        let expected = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| bad("Upload-Checksum: the digest is not base64"))?;
        let c = match algo.trim() {
            "sha1" => Checksum::Sha1(Sha1::new()),
            "sha256" => Checksum::Sha256(Sha256::new()),
            "md5" => Checksum::Md5(Md5::new()),
            other => {
                return Err(bad(format!(
                    "Upload-Checksum: unsupported algorithm \"{}\" (use {CHECKSUMS})",
                    other.chars().take(20).collect::<String>()
                )))
            }
        };
        Ok((c, expected))
    }

    pub(super) fn update(&mut self, data: &[u8]) {
        match self {
            Checksum::Sha1(h) => h.update(data),
            Checksum::Sha256(h) => h.update(data),
            Checksum::Md5(h) => h.update(data),
        }
    }

    pub(super) fn finish(self) -> Vec<u8> {
        match self {
            Checksum::Sha1(h) => h.finalize().to_vec(),
            Checksum::Sha256(h) => h.finalize().to_vec(),
            Checksum::Md5(h) => h.finalize().to_vec(),
        }
    }
}

pub async fn patch(
    state: ServerState,
    owner_id: i64,
    id: String,
    headers: HeaderMap,
    body: Body,
) -> TusResult {
    check_version(&headers)?;
    if header(&headers, &http::header::CONTENT_TYPE) != Some(OCTET) {
        return Err(AppError::unsupported_media_type(format!(
            "PATCH bodies must be sent as Content-Type: {OCTET}"
        ))
        .into());
    }
    let offset: i64 = header(&headers, &UPLOAD_OFFSET)
        .and_then(|v| v.parse().ok())
        .filter(|v: &i64| *v >= 0)
        .ok_or_else(|| bad("Upload-Offset must be a byte offset"))?;
    let mut checksum = match header(&headers, &UPLOAD_CHECKSUM) {
        Some(v) => Some(Checksum::parse(v)?),
        None => None,
    };
    let u = load(&state, &id, owner_id).await?;
    if u.expired(now_ms()) {
        return Err(gone());
    }
    if u.concat == "final" {
        return Err(AppError::denied("a final (concatenated) upload takes no PATCH").into());
    }
    if u.state == "failed" {
        return Err(AppError::gone(u.error.unwrap_or_else(|| "this upload failed".into())).into());
    }
    if offset != u.received {
        return Err(Tus::from(AppError::Conflict(format!(
            "Upload-Offset is {offset} but the upload is at {}",
            u.received
        )))
        .header(&UPLOAD_OFFSET, u.received));
    }
    if u.state == "done" {
        // A repeated last PATCH: answer as before.
        let mut t = Tus::new(StatusCode::NO_CONTENT).header(&UPLOAD_OFFSET, u.received);
        if let Some(done) = &u.result {
            t = t.ingested(done);
        }
        return Ok(t);
    }
    // The lease: one writer per upload, across processes.
    let token = crate::storage::random_name();
    if !app::uploads::db::take_lease(&state.db, &id, offset, &token, LOCK_TTL).await? {
        return Err(locked());
    }
    let beat = Heartbeat::start(state.db.clone(), id.clone(), token.clone());
    if let Some(staging) = state.storage.staging() {
        let content_length =
            header(&headers, &http::header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        // Read again under the lease: what the last holder recorded.
        let u = match load(&state, &id, owner_id).await {
            Ok(u) => u,
            Err(e) => {
                app::uploads::db::release_leases(&state.db, &token).await;
                return Err(e);
            }
        };
        let p = super::staged::Patch {
            upload: &u,
            staging,
            token: &token,
            beat: &beat,
            checksum,
            content_length,
        };
        let answer = super::staged::patch(&state, p, body).await;
        if answer.is_err() {
            app::uploads::db::release_leases(&state.db, &token).await;
        }
        return answer;
    }
    let written = match receive(&state, &u, &beat, body, checksum.as_mut()).await {
        Ok(n) => n,
        Err(e) => {
            app::uploads::db::release_leases(&state.db, &token).await;
            return Err(e);
        }
    };
    if let Some((c, expected)) = checksum {
        if c.finish() != expected {
            // The bytes of this PATCH are dropped; the offset stays where it was.
            truncate(&part_path(&state, &id)?, offset as u64).await;
            app::uploads::db::release_leases(&state.db, &token).await;
            return Err(Tus::from(AppError::checksum_mismatch(
                "checksum mismatch: the bytes of this PATCH were discarded",
            ))
            .header(&UPLOAD_OFFSET, offset));
        }
    }
    let received = offset + written.bytes as i64;
    let expires_at = now_ms() + state.settings.upload_expiry.as_millis() as i64;
    let record = || async {
        let kept =
            app::uploads::db::record_received(&state.db, &id, &token, received, expires_at).await?;
        // Another request took the upload over (this one stalled past the
        // lease): what it received is not ours to record.
        if kept {
            Ok::<(), Tus>(())
        } else {
            Err(locked())
        }
    };
    if received == u.length && u.concat == "none" && written.interrupted.is_none() {
        // The last byte: finalizing records the offset in its own transaction.
        let path = part_path(&state, &id)?;
        let known = written.hasher.map(|h| ingest::Received {
            sha256: hex::encode(h.finalize()),
            size: received as u64,
            synced: true,
        });
        return match finalize(&state, &u, incoming_of(&u), &path, known).await {
            Ok(done) => Ok(Tus::new(StatusCode::NO_CONTENT)
                .header(&UPLOAD_OFFSET, received)
                .header(&UPLOAD_EXPIRES, http_date(expires_at))
                .ingested(&done)),
            Err(e) => {
                // The bytes are kept: a retried PATCH at this offset finalizes again.
                record().await?;
                Err(e)
            }
        };
    }
    record().await?;
    if let Some(h) = written.hasher {
        PARTIAL_HASHES.insert(id.clone(), (received, h)).await;
    }
    if let Some(err) = written.interrupted {
        tracing::info!(upload = %id, received, error = %err, "PATCH interrupted; bytes kept");
        return Err(
            bad(format!("the upload was interrupted: {err}")).header(&UPLOAD_OFFSET, received)
        );
    }
    Ok(Tus::new(StatusCode::NO_CONTENT)
        .header(&UPLOAD_OFFSET, received)
        .header(&UPLOAD_EXPIRES, http_date(expires_at)))
}

/// The next piece of a PATCH body; `None` at its end, or when the client
/// went away or stalled (`interrupted` then says why).
pub(super) async fn next_chunk(
    stream: &mut axum::body::BodyDataStream,
    interrupted: &mut Option<String>,
) -> Option<bytes::Bytes> {
    match stream.next().await {
        None => None,
        Some(Err(e)) => {
            *interrupted = Some(e.to_string());
            None
        }
        Some(Ok(c)) => Some(c),
    }
}

/// A body longer than what is left of the upload.
pub(super) fn past_length(u: &Upload) -> Tus {
    AppError::PayloadTooLarge(format!(
        "the body goes past Upload-Length ({} bytes)",
        u.length
    ))
    .into()
}

async fn truncate(path: &Path, len: u64) {
    let done = async {
        let f = tokio::fs::OpenOptions::new().write(true).open(path).await?;
        f.set_len(len).await?;
        f.sync_all().await
    }
    .await;
    if let Err(e) = done {
        tracing::warn!(path = %path.display(), error = %e, "could not cut an upload back");
    }
}

struct Written {
    bytes: u64,
    /// The client went away (or stalled) before the body ended.
    interrupted: Option<String>,
    /// sha256 of the part file's first `received + bytes` bytes, when this
    /// process saw all of them (see `PARTIAL_HASHES`).
    hasher: Option<Sha256>,
}

/// Streams the body to the end of the part file; bytes are fsynced before
/// the caller records the new offset.
async fn receive(
    state: &ServerState,
    u: &Upload,
    beat: &Heartbeat,
    body: Body,
    mut checksum: Option<&mut (Checksum, Vec<u8>)>,
) -> Result<Written, Tus> {
    let path = part_path(state, &u.id)?;
    let io = |e: std::io::Error| Tus::from(AppError::io("writing an upload", e));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .await
        .map_err(io)?;
    // Bytes past the recorded offset (a crash before it was recorded) are not trusted.
    file.set_len(u.received as u64).await.map_err(io)?;
    file.seek(std::io::SeekFrom::Start(u.received as u64))
        .await
        .map_err(io)?;
    let mut hasher = match PARTIAL_HASHES.remove(&u.id).await {
        Some((at, h)) if at == u.received => Some(h),
        _ if u.received == 0 => Some(Sha256::new()),
        _ => None,
    };
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    let room = (u.length - u.received).max(0) as u64;
    let mut bytes = 0u64;
    let mut interrupted = None;
    let mut stream = body.into_data_stream();
    loop {
        // A client that stalls or trickles is cut off by the body guard
        // (`http::body_guard`): its error ends the PATCH like a dropped
        // connection, keeping what arrived and freeing the lease.
        let Some(chunk) = next_chunk(&mut stream, &mut interrupted).await else {
            break;
        };
        if bytes + chunk.len() as u64 > room {
            out.flush().await.map_err(io)?;
            truncate(&path, u.received as u64).await;
            return Err(past_length(u));
        }
        if beat.lost() {
            return Err(locked());
        }
        if let Some(c) = checksum.as_mut() {
            c.0.update(&chunk);
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
        if let Err(e) = out.write_all(&chunk).await {
            // A full disk keeps nothing past the recorded offset (and frees
            // what this PATCH took).
            drop(out);
            truncate(&path, u.received as u64).await;
            return Err(io(e));
        }
        bytes += chunk.len() as u64;
    }
    if let Err(e) = out.flush().await {
        drop(out);
        truncate(&path, u.received as u64).await;
        return Err(io(e));
    }
    let file = out.into_inner();
    file.sync_data().await.map_err(io)?;
    if interrupted.is_some() && checksum.is_some() {
        // Bytes that cannot be verified are not kept.
        truncate(&path, u.received as u64).await;
        return Ok(Written {
            bytes: 0,
            interrupted,
            hasher: None,
        });
    }
    Ok(Written {
        bytes,
        interrupted,
        hasher,
    })
}
