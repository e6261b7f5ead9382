//! The machine API's upload: `POST /api/v1/tracks`, a multipart form with
//! the file in `audio` and its fields beside it, answered `202` once the
//! file is safely stored. The form is read with multer under caps (each text
//! field, the number of fields, a part's headers) and the slow-sender guard;
//! only the file streams, hashed on the way, to the spool (local disk) or
//! straight into the bucket (object storage: parts as they fill); its bytes
//! count against the quota from the first one.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use app::auth::guard::CurrentUser;
use app::errors::AppError;
use app::uploads::quota::{self, Want};

use super::ingest::{self, Incoming};
use crate::http::body_guard::{Guarded, Unread};
use crate::state::ServerState;

#[derive(Debug, Serialize)]
pub struct Accepted {
    pub id: i64,
    pub version_id: i64,
    pub asset_id: i64,
    pub status: &'static str,
    pub url: String,
}

/// `POST /api/v1/tracks`: multipart with the file in `audio`, plus `title`,
/// and optionally `tags`, `target` (track, version, stem), `track_id`,
/// `version_id`, `role`.
///
/// Before a byte of the body is read, its bytes are reserved against the
/// quota in the same transaction as the check: the declared
/// `Content-Length`, or for a chunked body a first step that grows (checked
/// again each time) as the file arrives. The reservation ends in the
/// transaction that stores the file, or when the request fails. Text fields
/// are capped at `MAX_FIELD_BYTES` each and `MAX_FIELDS` in all; the file
/// streams to disk.
pub async fn create(
    State(state): State<ServerState>,
    CurrentUser(viewer): CurrentUser,
    headers: http::HeaderMap,
    body: axum::body::Body,
) -> Result<Response, AppError> {
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| AppError::bad_request("send the upload as multipart/form-data"))?;
    let declared: Option<u64> = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let max = state.settings.upload_max_bytes;
    if declared.is_some_and(|n| n > max + FORM_OVERHEAD) {
        return Err(too_large(&state));
    }
    state.queue.check_capacity().await?;
    let want = match declared {
        Some(n) => Want::Exactly(n),
        None => Want::UpTo(RESERVE_STEP.min(max)),
    };
    let reservation = crate::storage::random_name();
    let reserved = quota::reserve(
        &state.db,
        &reservation,
        viewer.id,
        want,
        state.settings.default_quota_bytes,
    )
    .await?;
    let tmp = state.storage.spool().tmp_path("upload");
    let reserving = Reserving {
        id: reservation.clone(),
        owner_id: viewer.id,
        bytes: reserved,
        grows: declared.is_none(),
    };
    let result = receive_and_ingest(&state, boundary, body, reserving, &tmp).await;
    let done = match result {
        Ok(d) => d,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            quota::release(&state.db, &reservation).await;
            return Err(e);
        }
    };
    let url = format!("/api/v1/tracks/{}", done.track_id);
    let mut res = (
        StatusCode::ACCEPTED,
        Json(Accepted {
            id: done.track_id,
            version_id: done.version_id,
            asset_id: done.asset_id,
            status: "processing",
            url: url.clone(),
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&url) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// Room a multipart body needs beyond its file (boundaries, part headers,
/// text fields) before it counts as too large.
const FORM_OVERHEAD: u64 = 64 * 1024 * 8;
/// Largest text field of the form, and most fields in one form.
pub const MAX_FIELD_BYTES: u64 = 64 * 1024;
pub const MAX_FIELDS: usize = 32;
/// Most bytes the parser may hold while looking for a part's headers.
const MAX_UNREAD: u64 = 1024 * 1024;
/// What a chunked body reserves first; each growth doubles, up to
/// `RESERVE_STEP_MAX`.
const RESERVE_STEP: u64 = 1024 * 1024;
const RESERVE_STEP_MAX: u64 = 64 * 1024 * 1024;

/// The quota reservation a body is read under.
struct Reserving {
    id: String,
    owner_id: i64,
    /// Bytes reserved so far.
    bytes: u64,
    /// A chunked body: the reservation grows as the file arrives.
    grows: bool,
}

impl Reserving {
    /// Makes sure `size` bytes of file are covered, growing the reservation
    /// by steps when it may; 413 when they do not fit.
    async fn cover(&mut self, state: &ServerState, size: u64) -> Result<(), AppError> {
        if size <= self.bytes {
            return Ok(());
        }
        let max = state.settings.upload_max_bytes;
        if !self.grows || size > max {
            return Err(if size > max {
                too_large(state)
            } else {
                AppError::PayloadTooLarge("the body is longer than its Content-Length".into())
            });
        }
        let step = self.bytes.clamp(RESERVE_STEP, RESERVE_STEP_MAX);
        let more = (size - self.bytes).max(step).min(max - self.bytes);
        quota::grow(
            &state.db,
            &self.id,
            self.owner_id,
            more,
            state.settings.default_quota_bytes,
        )
        .await?;
        self.bytes += more;
        Ok(())
    }
}

/// Where the `audio` part's bytes go: the spool file, or (object storage)
/// straight into the bucket's staging area under the reservation's name.
enum Sink {
    Spool(tokio::io::BufWriter<tokio::fs::File>),
    Staged(crate::storage::staging::StagedWriter),
    /// Staged and complete under this id.
    Assembled(String),
}

impl Sink {
    async fn open(state: &ServerState, tmp: &std::path::Path, id: &str) -> std::io::Result<Sink> {
        Ok(match state.storage.staging() {
            Some(staging) => Sink::Staged(staging.writer(id).await?),
            None => Sink::Spool(tokio::io::BufWriter::with_capacity(
                256 * 1024,
                tokio::fs::File::create(tmp).await?,
            )),
        })
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Spool(out) => out.write_all(bytes).await,
            Sink::Staged(w) => w.write(bytes).await,
            Sink::Assembled(_) => Err(std::io::Error::other("the file is complete")),
        }
    }

    /// The file is all there (flushed, or assembled in the bucket).
    async fn finish(&mut self, size: u64) -> std::io::Result<()> {
        match self {
            Sink::Spool(out) => out.flush().await,
            Sink::Staged(w) => {
                w.finish(size).await?;
                let id = w.id().to_string();
                *self = Sink::Assembled(id);
                Ok(())
            }
            Sink::Assembled(_) => Ok(()),
        }
    }

    /// Removes what a failed request staged in the bucket (the spool file
    /// is the caller's).
    async fn abort(self, state: &ServerState) {
        match self {
            Sink::Spool(_) => {}
            Sink::Staged(w) => w.abort().await,
            Sink::Assembled(id) => state.storage.discard_upload(&id, None).await,
        }
    }
}

async fn receive_and_ingest(
    state: &ServerState,
    boundary: String,
    body: axum::body::Body,
    reserving: Reserving,
    tmp: &std::path::Path,
) -> Result<super::Ingested, AppError> {
    let mut sink = None;
    let done = receive_into(state, boundary, body, reserving, tmp, &mut sink).await;
    if done.is_err() {
        if let Some(s) = sink {
            s.abort(state).await;
        }
    }
    done
}

async fn receive_into(
    state: &ServerState,
    boundary: String,
    body: axum::body::Body,
    mut reserving: Reserving,
    tmp: &std::path::Path,
    sink: &mut Option<Sink>,
) -> Result<super::Ingested, AppError> {
    let owner_id = reserving.owner_id;
    let (fields, file) = read_form(state, boundary, body, &mut reserving, tmp, sink).await?;
    let Some((filename, size, sha256)) = file else {
        return Err(AppError::bad_request(
            "send the audio file in the multipart field \"audio\"",
        ));
    };
    if size == 0 {
        return Err(AppError::bad_request("the file is empty"));
    }
    let target = ingest::target_from(&fields)?;
    app::uploads::db::check_target(&state.db, owner_id, &target).await?;
    let incoming = Incoming {
        owner_id,
        title: ingest::field(&fields, &["title"])
            .map(|t| t.chars().take(ingest::MAX_TITLE).collect()),
        filename,
        tags: ingest::field(&fields, &["tags"]).map(|t| t.chars().take(ingest::MAX_TAGS).collect()),
        visibility: ingest::visibility_from(&fields)?,
        target,
        reservation: Some(reserving.id.clone()),
        joined_parts: Vec::new(),
        transcribe: ingest::transcribe_from(&fields),
        call: None,
    };
    let received = ingest::Received {
        sha256,
        size,
        synced: false,
    };
    let source = match sink.as_ref() {
        Some(Sink::Assembled(id)) => ingest::Source::Staged(id),
        _ => ingest::Source::Spool(tmp),
    };
    ingest::ingest_from(state, source, &incoming, None, Some(received)).await
}

fn too_large(state: &ServerState) -> AppError {
    AppError::PayloadTooLarge(format!(
        "the file is larger than the largest upload allowed ({})",
        app::fmt::bytes(state.settings.upload_max_bytes as i64)
    ))
}

/// File name, size and sha256 (hex) of the `audio` part.
type FileInfo = (Option<String>, u64, String);

/// What a multipart failure is answered with.
fn form_error(e: multer::Error, state: &ServerState) -> AppError {
    match e {
        multer::Error::FieldSizeExceeded { field_name, .. }
            if field_name.as_deref() == Some("audio") =>
        {
            too_large(state)
        }
        multer::Error::FieldSizeExceeded { field_name, .. } => AppError::PayloadTooLarge(format!(
            "the field \"{}\" is longer than {} KiB",
            field_name
                .unwrap_or_default()
                .chars()
                .take(40)
                .collect::<String>(),
            MAX_FIELD_BYTES / 1024
        )),
        multer::Error::StreamReadFailed(inner) => {
            if Unread::is_overflow(inner.as_ref()) {
                AppError::PayloadTooLarge("a multipart part's headers are too large".into())
            } else {
                AppError::bad_request(format!("the upload was interrupted: {inner}"))
            }
        }
        other => AppError::bad_request(format!("malformed multipart body: {other}")),
    }
}

/// Reads the text fields and streams `audio` to `tmp`, hashing it on the way.
async fn read_form(
    state: &ServerState,
    boundary: String,
    body: axum::body::Body,
    reserving: &mut Reserving,
    tmp: &std::path::Path,
    sink: &mut Option<Sink>,
) -> Result<(Vec<(String, String)>, Option<FileInfo>), AppError> {
    let unread = Unread::new(MAX_UNREAD);
    // The request guard (`http::body_guard`) already cuts slow senders off.
    let stream = Guarded::counting(body.into_data_stream(), unread.clone());
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .per_field(MAX_FIELD_BYTES)
            .for_field("audio", state.settings.upload_max_bytes),
    );
    let mut form = multer::Multipart::with_constraints(stream, boundary, constraints);
    let bad = |e| form_error(e, state);
    let mut fields = Vec::new();
    let mut file = None;
    let mut count = 0;
    while let Some(mut part) = form.next_field().await.map_err(bad)? {
        unread.taken();
        count += 1;
        if count > MAX_FIELDS {
            return Err(AppError::PayloadTooLarge(format!(
                "a form has at most {MAX_FIELDS} fields"
            )));
        }
        let name: String = part.name().unwrap_or_default().chars().take(64).collect();
        if name == "audio" {
            if file.is_some() {
                return Err(AppError::bad_request("send one file in \"audio\""));
            }
            let filename = part
                .file_name()
                .map(|f| f.chars().take(ingest::MAX_FILENAME).collect::<String>());
            let io = |e: std::io::Error| AppError::io("writing an upload", e);
            let out = sink.insert(Sink::open(state, tmp, &reserving.id).await.map_err(io)?);
            let mut size = 0u64;
            let mut hasher = Sha256::new();
            let mut renewed = std::time::Instant::now();
            while let Some(chunk) = part.chunk().await.map_err(bad)? {
                unread.taken();
                size += chunk.len() as u64;
                reserving.cover(state, size).await?;
                hasher.update(&chunk);
                out.write(&chunk).await.map_err(io)?;
                if renewed.elapsed() >= std::time::Duration::from_secs(60) {
                    quota::renew(&state.db, &reserving.id).await?;
                    renewed = std::time::Instant::now();
                }
            }
            out.finish(size).await.map_err(io)?;
            file = Some((filename, size, hex::encode(hasher.finalize())));
        } else {
            let mut text = Vec::new();
            while let Some(chunk) = part.chunk().await.map_err(bad)? {
                unread.taken();
                text.extend_from_slice(&chunk);
            }
            let text = String::from_utf8(text).map_err(|_| {
                AppError::bad_request(format!("the field \"{name}\" is not UTF-8 text"))
            })?;
            fields.push((name, text));
        }
    }
    Ok((fields, file))
}
