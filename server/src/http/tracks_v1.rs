//! The machine API for tracks: `POST /api/v1/tracks` (multipart upload,
//! 202 once the file is safely stored), `GET /api/v1/tracks/{id}` (the track
//! with its metadata and each job's state) and `GET /api/v1/tracks/{id}/peaks`.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use app::auth::guard::{CurrentUser, MaybeUser};
use app::auth::Viewer;
use app::errors::AppError;
use app::state::AppState;
use app::tracks::{TrackDetail, TrackProgress};
use app::uploads::db::Want;

use crate::http::body_guard::{BodyLimits, Guarded, Unread};
use crate::ingest::{self, Incoming};
use crate::media::store::Store;
use crate::worker::media::{PEAKS_FINE, PEAKS_OVERVIEW};

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
    State(state): State<AppState>,
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
    let reservation = app::auth::session::new_token()[..32].to_string();
    let reserved = app::uploads::db::reserve(
        &state.db,
        &reservation,
        viewer.id,
        want,
        state.settings.default_quota_bytes,
    )
    .await?;
    let store = Store::new(&state.settings.data_dir);
    let tmp = store.tmp_path("upload");
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
            app::uploads::db::release(&state.db, &reservation).await;
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
    async fn cover(&mut self, state: &AppState, size: u64) -> Result<(), AppError> {
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
        app::uploads::db::grow(
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

async fn receive_and_ingest(
    state: &AppState,
    boundary: String,
    body: axum::body::Body,
    mut reserving: Reserving,
    tmp: &std::path::Path,
) -> Result<ingest::Ingested, AppError> {
    let owner_id = reserving.owner_id;
    let (fields, file) = read_form(state, boundary, body, &mut reserving, tmp).await?;
    let Some((filename, size, sha256)) = file else {
        return Err(AppError::bad_request(
            "send the audio file in the multipart field \"audio\"",
        ));
    };
    if size == 0 {
        return Err(AppError::bad_request("the file is empty"));
    }
    let target = ingest::target_from(&fields)?;
    ingest::check_target(&state.db, owner_id, &target).await?;
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
    };
    let received = ingest::Received {
        sha256,
        size,
        synced: false,
    };
    ingest::ingest(state, tmp, &incoming, None, Some(received)).await
}

fn too_large(state: &AppState) -> AppError {
    AppError::PayloadTooLarge(format!(
        "the file is larger than the largest upload allowed ({})",
        app::fmt::bytes(state.settings.upload_max_bytes as i64)
    ))
}

/// File name, size and sha256 (hex) of the `audio` part.
type FileInfo = (Option<String>, u64, String);

/// What a multipart failure is answered with.
fn form_error(e: multer::Error, state: &AppState) -> AppError {
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
    state: &AppState,
    boundary: String,
    body: axum::body::Body,
    reserving: &mut Reserving,
    tmp: &std::path::Path,
) -> Result<(Vec<(String, String)>, Option<FileInfo>), AppError> {
    let unread = Unread::new(MAX_UNREAD);
    let limits = BodyLimits {
        idle: state.settings.body_idle,
        min_rate: state.settings.body_min_rate,
    };
    let stream = Guarded::new(body.into_data_stream(), limits).with_unread(unread.clone());
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
            let io = |e: std::io::Error| AppError::internal("writing an upload", e);
            let f = tokio::fs::File::create(tmp).await.map_err(io)?;
            let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, f);
            let mut size = 0u64;
            let mut hasher = Sha256::new();
            let mut renewed = std::time::Instant::now();
            while let Some(chunk) = part.chunk().await.map_err(bad)? {
                unread.taken();
                size += chunk.len() as u64;
                reserving.cover(state, size).await?;
                hasher.update(&chunk);
                out.write_all(&chunk).await.map_err(io)?;
                if renewed.elapsed() >= std::time::Duration::from_secs(60) {
                    app::uploads::db::renew(&state.db, &reserving.id).await?;
                    renewed = std::time::Instant::now();
                }
            }
            out.flush().await.map_err(io)?;
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

/// The track if `viewer` may see it: owners and admins always, others when
/// it is not private. Hidden tracks answer 404 like missing ones.
pub async fn visible_track(
    state: &AppState,
    viewer: Option<&Viewer>,
    id: i64,
) -> Result<TrackDetail, AppError> {
    app::tracks::api::visible_detail(state, viewer, id).await
}

/// A track as the machine API shows it: everything on its page plus the
/// stems of every version.
#[derive(Debug, Serialize)]
pub struct TrackJson {
    #[serde(flatten)]
    pub track: TrackDetail,
    pub stems: Vec<app::tracks::StemInfo>,
}

pub async fn get(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<i64>,
) -> Result<Json<TrackJson>, AppError> {
    let track = visible_track(&state, viewer.as_ref(), id).await?;
    let stems = app::tracks::db::stems_of_track(&state.db, id).await?;
    Ok(Json(TrackJson { track, stems }))
}

/// `GET /api/v1/tracks?q=&sort=&page=&mine=1`: the listing as JSON (the
/// same cached pages as the track list).
#[derive(Deserialize)]
pub struct ListParams {
    q: Option<String>,
    sort: Option<String>,
    page: Option<String>,
    mine: Option<String>,
    per: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Query(p): Query<ListParams>,
    headers: http::HeaderMap,
) -> Result<Response, AppError> {
    let mine = matches!(p.mine.as_deref(), Some("1" | "true" | "yes"));
    let owner = if mine {
        Some(viewer.as_ref().ok_or(AppError::Unauthorized)?.id)
    } else {
        None
    };
    let sort = match p.sort.as_deref() {
        None | Some("") => app::tracks::Sort::Newest,
        Some(s) => app::tracks::Sort::parse(s).ok_or_else(|| {
            AppError::bad_request("sort must be \"newest\", \"title\" or \"duration\"")
        })?,
    };
    let query = app::tracks::ListQuery {
        mine,
        q: p.q.unwrap_or_default(),
        sort,
        cursor: p.page.filter(|c| !c.is_empty()),
        per: p.per,
    };
    let key = app::tracks::api::list_key(owner, query);
    // The encoded answer is reused until a change comes after the page it
    // encodes was looked up (a change moves the epoch on).
    let caches = &state.caches;
    let before = caches.epoch();
    if let Some(e) = caches.list_json.get(&key).await {
        if e.epoch == before {
            return Ok(encoded_response(&e, &headers));
        }
    }
    let page = app::tracks::api::list_cached(&state, owner, key.1.clone()).await?;
    let encoded = std::sync::Arc::new(encode_page(&page, before)?);
    caches.list_json.insert(key, encoded.clone()).await;
    Ok(encoded_response(&encoded, &headers))
}

/// JSON, its gzip form (best compression, paid once per cached page) and
/// a strong ETag.
fn encode_page(
    page: &app::tracks::TrackPage,
    epoch: u64,
) -> Result<app::tracks::cache::EncodedPage, AppError> {
    use sha2::Digest;
    use std::io::Write;
    let json = serde_json::to_vec(page).map_err(|e| AppError::internal("encoding a listing", e))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&json)
        .map_err(|e| AppError::internal("compressing a listing", e))?;
    let gzip = gz
        .finish()
        .map_err(|e| AppError::internal("compressing a listing", e))?;
    let etag = format!("\"{}\"", hex::encode(&sha2::Sha256::digest(&json)[..12]));
    Ok(app::tracks::cache::EncodedPage {
        epoch,
        json: json.into(),
        gzip: gzip.into(),
        etag,
    })
}

/// Whether the client takes gzip (`Accept-Encoding`, a zero weight refuses).
fn accepts_gzip(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// 304 when `If-None-Match` names either form's tag; else the gzip form
/// when the client takes it, the JSON otherwise.
fn encoded_response(e: &app::tracks::cache::EncodedPage, headers: &http::HeaderMap) -> Response {
    let gzip = accepts_gzip(headers);
    let tag = if gzip {
        format!("{}-gz\"", e.etag.trim_end_matches('"'))
    } else {
        e.etag.clone()
    };
    let revalidated = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|list| {
            super::etag::matches(list, &tag) || super::etag::matches(list, &e.etag)
        });
    let mut res = if revalidated {
        StatusCode::NOT_MODIFIED.into_response()
    } else if gzip {
        let mut r = e.gzip.clone().into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        e.json.clone().into_response()
    };
    let h = res.headers_mut();
    if !revalidated {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    res
}

#[derive(Deserialize)]
pub struct PeaksQuery {
    /// `overview` (default, about 1,000 points) or `fine`.
    zoom: Option<String>,
}

pub async fn peaks(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<i64>,
    Query(q): Query<PeaksQuery>,
) -> Result<Response, AppError> {
    let t = visible_track(&state, viewer.as_ref(), id).await?;
    let file = match q.zoom.as_deref() {
        None | Some("overview") => PEAKS_OVERVIEW,
        Some("fine") => PEAKS_FINE,
        Some(_) => {
            return Err(AppError::bad_request(
                "zoom must be \"overview\" or \"fine\"",
            ))
        }
    };
    let version = t.primary().ok_or(AppError::NotFound)?;
    if let Some(err) = &version.asset.processing_error {
        return Err(AppError::Conflict(format!(
            "this track has no waveform: {err}"
        )));
    }
    if !version.asset.peaks_ready {
        return Err(AppError::Conflict(
            "the waveform is still being computed; try again shortly".into(),
        ));
    }
    let sha: String = sqlx::query_scalar("SELECT sha256 FROM assets WHERE id = $1")
        .bind(version.asset.id)
        .fetch_one(state.db.pool())
        .await?;
    let path = Store::new(&state.settings.data_dir)
        .derived_dir(&sha)
        .join(file);
    let body = tokio::fs::read(&path)
        .await
        .map_err(|e| AppError::internal("reading peaks", e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "private, no-cache"),
        ],
        body,
    )
        .into_response())
}

/// `GET /api/v1/tracks/{id}/events`: server-sent events with the track's
/// processing state (each job's state and progress) whenever it changes, until
/// the track is ready or failed. Works across processes: the state is read
/// from the database, twice a second, only while someone listens.
pub async fn events(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let first = visible_track(&state, viewer.as_ref(), id).await?;
    let start = (Some(first), None::<TrackProgress>, false);
    let stream = futures::stream::unfold(start, move |(next, last, finished)| {
        let state = state.clone();
        async move {
            if finished {
                return None;
            }
            let mut next = next;
            loop {
                let t = match next.take() {
                    Some(t) => t,
                    None => {
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        match app::tracks::db::get_detail(&state.db, id).await {
                            Ok(Some(t)) => t,
                            Ok(None) => return None,
                            Err(_) => continue,
                        }
                    }
                };
                let p = TrackProgress::from(&t);
                if last.as_ref() == Some(&p) {
                    continue;
                }
                let done = p.status != "processing";
                let event = Event::default()
                    .event(if done { "done" } else { "progress" })
                    .json_data(&p)
                    .unwrap_or_default();
                return Some((
                    Ok::<_, std::convert::Infallible>(event),
                    (None, Some(p), done),
                ));
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
