//! Receiving tus uploads on object storage, so that any instance can take
//! the next PATCH (`storage::Staging`). A PATCH reads the upload's tail (the
//! bytes after its last complete part), appends its body, and sends every
//! full part (exactly `PART` bytes: S3's and R2's rules) as a part of the
//! upload's multipart upload as soon as it is full; what is left at the end
//! becomes the new tail, an object named by the offset it ends at. The
//! running sha256 covers the parts and is stored with them (serialized), so
//! the instance that receives the last byte knows the file's hash without
//! reading it back.
//!
//! Without `Upload-Checksum` and with a `Content-Length` that fits, each part
//! sent is recorded at once (the lease held): an instance that dies in the
//! middle of a large PATCH loses only the bytes after its last part. With a
//! checksum, a PATCH is all or nothing, as the tus checksum extension asks.

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use http::StatusCode;
use sha2_resume::digest::common::hazmat::{SerializableState, SerializedState};
use sha2_resume::{Digest, Sha256};

use app::db::now_ms;
use app::errors::AppError;
use app::uploads::db::{Staged, Upload};

use super::patch::{next_chunk, past_length, Checksum, Heartbeat};
use super::reply::{bad, http_date, locked, Tus, TusResult, UPLOAD_EXPIRES, UPLOAD_OFFSET};
use crate::state::ServerState;
use crate::storage::staging::{room_for, PART};
use crate::storage::Staging;
use crate::uploads::ingest::{self, Received, Source};
use crate::uploads::Ingested;

fn io(what: &'static str) -> impl Fn(std::io::Error) -> Tus {
    move |e| Tus::from(AppError::io(what, e))
}

/// The serialized form of a running sha256 (hex), for the uploads row.
fn save(h: &Sha256) -> String {
    hex::encode(h.serialize())
}

/// The running sha256 of an upload: over its parts (`staged.bytes`). Every
/// PATCH on object storage records one, so an upload with bytes and none
/// was begun on a local disk.
fn restore(u: &Upload) -> Result<Sha256, Tus> {
    match &u.staged.hash {
        None if u.received == 0 => Ok(Sha256::new()),
        None => Err(not_staged()),
        Some(hex_state) => {
            let raw = hex::decode(hex_state).map_err(|_| corrupt())?;
            let state =
                SerializedState::<Sha256>::try_from(raw.as_slice()).map_err(|_| corrupt())?;
            Sha256::deserialize(&state).map_err(|_| corrupt())
        }
    }
}

fn not_staged() -> Tus {
    AppError::gone(
        "this upload's bytes are not in the bucket (it began before wavekeep stored uploads \
         on object storage): start it again",
    )
    .into()
}

fn corrupt() -> Tus {
    AppError::io(
        "resuming an upload",
        std::io::Error::other("the upload's saved hash state cannot be read"),
    )
    .into()
}

/// What a PATCH on object storage is given.
pub struct Patch<'a> {
    pub upload: &'a Upload,
    pub staging: Staging,
    pub token: &'a str,
    pub beat: &'a Heartbeat,
    pub checksum: Option<(Checksum, Vec<u8>)>,
    /// The body's declared length, when there is one.
    pub content_length: Option<u64>,
}

/// Receives a PATCH's body into the bucket and records it; finalizes the
/// upload when it brought the last byte. The caller releases the lease when
/// this fails.
pub async fn patch(state: &ServerState, p: Patch<'_>, body: Body) -> TusResult {
    let u = p.upload;
    let id = u.id.as_str();
    let mut staged = u.staged.clone();
    let mut hasher = restore(u)?;
    // The bytes after the last part, from the tail the row names.
    let tail_len = (u.received - staged.bytes).max(0) as usize;
    let mut buf: Vec<u8> = Vec::new();
    if tail_len > 0 {
        match p
            .staging
            .read_tail(id, u.received)
            .await
            .map_err(io("reading an upload's last bytes"))?
        {
            Some(t) if t.len() == tail_len => buf = t,
            _ => return Err(not_staged()),
        }
    }
    let room = (u.length - u.received).max(0) as u64;
    let mut checksum = p.checksum;
    // Parts are recorded as they go up only when the PATCH may keep part of
    // its bytes: no checksum to check at the end, and a length that fits.
    let checkpoints = checksum.is_none() && p.content_length.is_some_and(|n| n <= room);
    let expires_at = || now_ms() + state.settings.upload_expiry.as_millis() as i64;
    let mut bytes = 0u64;
    let mut interrupted = None;
    let mut stream = body.into_data_stream();
    loop {
        let Some(chunk) = next_chunk(&mut stream, &mut interrupted).await else {
            break;
        };
        if bytes + chunk.len() as u64 > room {
            return Err(past_length(u));
        }
        if p.beat.lost() {
            return Err(locked());
        }
        if let Some(c) = checksum.as_mut() {
            c.0.update(&chunk);
        }
        buf.extend_from_slice(&chunk);
        bytes += chunk.len() as u64;
        while buf.len() >= PART {
            let part: Vec<u8> = buf.drain(..PART).collect();
            hasher.update(&part);
            send_part(state, &p.staging, u, p.token, &mut staged, part).await?;
            staged.hash = Some(save(&hasher));
            if checkpoints {
                let at = staged.bytes;
                let kept = app::uploads::db::record_staged(
                    &state.db,
                    id,
                    p.token,
                    at,
                    &staged,
                    expires_at(),
                    false,
                )
                .await?;
                if !kept {
                    return Err(locked());
                }
            }
            if p.beat.lost() {
                return Err(locked());
            }
        }
    }
    if let Some((c, expected)) = checksum {
        // What cannot be verified is not kept: the offset stays.
        if interrupted.is_some() {
            return Err(bad(format!(
                "the upload was interrupted: {}",
                interrupted.unwrap_or_default()
            ))
            .header(&UPLOAD_OFFSET, u.received));
        }
        if c.finish() != expected {
            return Err(Tus::from(AppError::checksum_mismatch(
                "checksum mismatch: the bytes of this PATCH were discarded",
            ))
            .header(&UPLOAD_OFFSET, u.received));
        }
    }
    let received = u.received + bytes as i64;
    // Every byte is durable once here, whether or not the body ended cleanly.
    let last = received == u.length;
    if last {
        // The rest is the last part (any size), or the whole file when it
        // never filled one.
        hasher.update(&buf);
        if staged.multipart.is_some() && !buf.is_empty() {
            send_part(state, &p.staging, u, p.token, &mut staged, buf).await?;
        } else if staged.multipart.is_none() && staged.bytes < received {
            let _room = room_for(buf.len()).await.map_err(io("storing an upload"))?;
            p.staging
                .put_whole(id, buf)
                .await
                .map_err(io("storing an upload"))?;
        }
        staged.bytes = received;
        staged.hash = Some(save(&hasher));
    } else if !buf.is_empty() {
        let _room = room_for(buf.len()).await.map_err(io("storing an upload"))?;
        p.staging
            .put_tail(id, received, buf)
            .await
            .map_err(io("storing an upload's last bytes"))?;
    }
    staged.hash = Some(save(&hasher));
    let expires_at = expires_at();
    // The last PATCH keeps its lease while it finalizes (a HEAD elsewhere
    // then leaves the finalizing to it); a partial upload is not finalized.
    let finalizing = last && u.concat == "none";
    if !app::uploads::db::record_staged(
        &state.db,
        id,
        p.token,
        received,
        &staged,
        expires_at,
        !finalizing,
    )
    .await?
    {
        return Err(locked());
    }
    // Older tails go (this one's, when kept, ends at `received`).
    let before = if received > staged.bytes {
        received
    } else {
        received + 1
    };
    if let Err(e) = p.staging.tidy(id, before).await {
        tracing::warn!(upload = id, error = %e, "could not remove an upload's old last bytes");
    }
    if finalizing {
        let mut u = u.clone();
        u.received = received;
        u.staged = staged;
        let done = finalize(state, &u).await?;
        return Ok(Tus::new(StatusCode::NO_CONTENT)
            .header(&UPLOAD_OFFSET, received)
            .header(&UPLOAD_EXPIRES, http_date(expires_at))
            .ingested(&done));
    }
    if let Some(err) = interrupted {
        tracing::info!(upload = id, received, error = %err, "PATCH interrupted; bytes kept");
        return Err(
            bad(format!("the upload was interrupted: {err}")).header(&UPLOAD_OFFSET, received)
        );
    }
    Ok(Tus::new(StatusCode::NO_CONTENT)
        .header(&UPLOAD_OFFSET, received)
        .header(&UPLOAD_EXPIRES, http_date(expires_at)))
}

/// Sends the next part of the upload (beginning its multipart upload first,
/// recorded before any part goes up, so it is never left unknown).
async fn send_part(
    state: &ServerState,
    staging: &Staging,
    u: &Upload,
    token: &str,
    staged: &mut Staged,
    part: Vec<u8>,
) -> Result<(), Tus> {
    let len = part.len() as i64;
    let multipart = match &staged.multipart {
        Some(m) => m.clone(),
        None => {
            let m = staging
                .begin(&u.id)
                .await
                .map_err(io("storing an upload"))?;
            let recorded = app::uploads::db::record_multipart(&state.db, &u.id, token, &m).await;
            if !matches!(recorded, Ok(true)) {
                // Unknown to the row, it would never be completed: only it
                // goes (the bytes of whoever holds the upload now stay).
                if let Err(e) = staging.abort(&u.id, &m).await {
                    tracing::warn!(upload = %u.id, error = %e, "could not abort a multipart upload");
                }
                recorded?;
                return Err(locked());
            }
            staged.multipart = Some(m.clone());
            m
        }
    };
    let _room = room_for(part.len())
        .await
        .map_err(io("storing an upload"))?;
    let etag = staging
        .put_part(&u.id, &multipart, staged.parts.len(), Bytes::from(part))
        .await
        .map_err(io("storing an upload"))?;
    staged.parts.push(etag);
    staged.bytes += len;
    Ok(())
}

/// The sha256 and size of an upload whose every byte is staged.
fn known(u: &Upload) -> Result<Received, Tus> {
    if u.staged.hash.is_none() && u.length > 0 {
        return Err(not_staged());
    }
    if u.staged.bytes != u.length {
        return Err(AppError::io(
            "finalizing an upload",
            std::io::Error::other("not every byte of the upload is stored"),
        )
        .into());
    }
    Ok(Received {
        sha256: hex::encode(restore(u)?.finalize()),
        size: u.length as u64,
        synced: true,
    })
}

/// Finalizes an upload whose every byte is staged (its last PATCH, or a
/// HEAD after a crash between that PATCH's record and its finalizing):
/// assembles the file in the bucket, then stores it and writes its rows.
pub async fn finalize(state: &ServerState, u: &Upload) -> Result<Ingested, Tus> {
    let staging = state
        .storage
        .staging()
        .ok_or_else(|| Tus::from(AppError::Internal))?;
    let received = known(u)?;
    assemble(&staging, u).await?;
    super::finalize_from(
        state,
        u,
        super::incoming_of(u),
        Source::Staged(&u.id),
        Some(received),
    )
    .await
}

async fn assemble(staging: &Staging, u: &Upload) -> Result<String, Tus> {
    staging
        .assemble(
            &u.id,
            u.staged.multipart.as_deref(),
            &u.staged.parts,
            u.length,
        )
        .await
        .map_err(io("assembling an upload"))
}

/// Joins complete partial uploads (staged) into the local file `joined`,
/// hashing on the way (a concatenation).
pub async fn join(
    state: &ServerState,
    parts: &[Upload],
    joined: &std::path::Path,
) -> Result<Received, Tus> {
    use tokio::io::AsyncWriteExt;
    let staging = state
        .storage
        .staging()
        .ok_or_else(|| Tus::from(AppError::Internal))?;
    let write = io("joining parts");
    let mut out = tokio::fs::File::create(joined).await.map_err(&write)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    for u in parts {
        let key = assemble(&staging, u).await?;
        let mut stream = state
            .storage
            .read_range(&key, 0, u.length as u64)
            .await
            .map_err(&write)?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(&write)?;
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(&write)?;
            size += chunk.len() as u64;
        }
    }
    out.sync_data().await.map_err(&write)?;
    Ok(ingest::Received {
        sha256: hex::encode(hasher.finalize()),
        size,
        synced: true,
    })
}
