//! Media bytes behind signed links: `/media/{asset}/{stream|preview|download}/{name}`
//! and `/media/stems/{version}/{name}.zip`.
//!
//! * The link is checked first (HMAC over path, expiry and user; constant
//!   time): a bad signature is 403, an expired link 410.
//! * One byte range per request (206), with `Content-Range`; a range past the
//!   end is 416 with `Content-Range: bytes */len`; several ranges, or
//!   overlapping ones, are refused (416) rather than served as many small
//!   parts. `If-Range`, `If-None-Match` and `If-Modified-Since` are honoured.
//! * Strong ETags from the content hash (files are content-addressed) and a
//!   `Content-Disposition` with a safe name.
//! * Uploaded bytes never run as a page on our origin: the type is decided
//!   from what the decoder recognised (an `audio/*` type, else
//!   `application/octet-stream`), never from the uploader's name or type;
//!   anything not recognised as audio is only ever an attachment; and every
//!   answer of these routes carries `Content-Security-Policy: sandbox;
//!   default-src 'none'` and `nosniff` (set on the whole media router).
//! * Bytes stream from disk in 64 KiB reads; a file is never held in memory.
//!   The stems archive is written as it is sent (stored, not recompressed).
//! * A download (not a stream) lands in the downloads table with the user
//!   the link was made for and a salted hash of the client address.

use std::ops::RangeInclusive;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use sqlx::Row;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use app::db::now_ms;
use app::errors::AppError;
use app::signing::LinkError;
use app::state::AppState;
use app::tracks::links::audio_mime;

use crate::media::store::Store;

const READ_CHUNK: usize = 64 * 1024;

fn link_error(e: LinkError) -> Response {
    let status = match e {
        LinkError::Invalid => StatusCode::FORBIDDEN,
        LinkError::Expired => StatusCode::GONE,
    };
    (
        status,
        axum::Json(serde_json::json!({ "error": e.to_string() })),
    )
        .into_response()
}

fn plain(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
}

/// What a file is sent as.
struct Served {
    path: PathBuf,
    mime: String,
    etag: String,
    modified_ms: i64,
    attachment: bool,
    name: String,
}

/// A request that carries a valid signed link: who it was made for, and what
/// the handlers need of the request. A bad or expired link is refused here.
pub struct Signed {
    user: Option<i64>,
    /// The client address (as the download history hashes it).
    ip: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl axum::extract::FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = state
            .secrets
            .verify(parts.uri.path(), parts.uri.query())
            .map_err(link_error)?;
        let ip = app::auth::session::client_ip(&parts.headers, &parts.extensions, &state.settings);
        Ok(Signed {
            user,
            ip,
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        })
    }
}

/// Whether a track that plays `asset_id` (as a version or a stem), or that
/// holds `version_id`, is still visible to the user the link was made for:
/// a link outlives nothing, so a track made private after it was signed
/// stops serving everyone but its owner and admins at once.
async fn still_visible(
    state: &AppState,
    asset_id: Option<i64>,
    version_id: Option<i64>,
    user: Option<i64>,
) -> Result<bool, AppError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM tracks t WHERE \
         (t.visibility <> 'private' OR t.owner_id = $3 \
          OR EXISTS (SELECT 1 FROM users u WHERE u.id = $3 AND u.role = 'admin')) \
         AND t.id IN (SELECT v.track_id FROM track_versions v WHERE v.asset_id = $1 OR v.id = $2 \
           UNION SELECT v.track_id FROM stems s JOIN track_versions v ON v.id = s.version_id \
           WHERE s.asset_id = $1)",
    )
    .bind(asset_id)
    .bind(version_id)
    .bind(user)
    .fetch_one(state.db.pool())
    .await?;
    Ok(n > 0)
}

/// `GET|HEAD /media/{asset_id}/{mode}/{name}`.
pub async fn asset(
    State(state): State<AppState>,
    Path((asset_id, mode, name)): Path<(i64, String, String)>,
    link: Signed,
) -> Response {
    let Signed {
        user,
        ip,
        method,
        headers,
        ..
    } = link;
    let row = match sqlx::query(
        "SELECT storage_key, sha256, codec, container, created_at, preview_key, preview_at \
         FROM assets WHERE id = $1",
    )
    .bind(asset_id)
    .fetch_optional(state.db.pool())
    .await
    {
        Ok(Some(r)) => r,
        Ok(None) => return AppError::NotFound.into_response(),
        Err(e) => return AppError::from(e).into_response(),
    };
    match still_visible(&state, Some(asset_id), None, user).await {
        Ok(true) => {}
        Ok(false) => return AppError::NotFound.into_response(),
        Err(e) => return e.into_response(),
    }
    let store = Store::new(&state.settings.data_dir);
    let sha: String = row.get("sha256");
    let created: i64 = row.get("created_at");
    let served = match mode.as_str() {
        "stream" | "download" => {
            let mime = audio_mime(
                row.get::<Option<&str>, _>("codec"),
                row.get::<Option<&str>, _>("container"),
            );
            Served {
                path: store.path_of(row.get::<&str, _>("storage_key")),
                mime: mime.to_string(),
                etag: format!("\"{}\"", &sha[..32.min(sha.len())]),
                modified_ms: created,
                // Only what the decoder recognised as audio plays inline.
                attachment: mode == "download" || !mime.starts_with("audio/"),
                name: name.clone(),
            }
        }
        "preview" => {
            let (Some(key), Some(at)) = (
                row.get::<Option<String>, _>("preview_key"),
                row.get::<Option<i64>, _>("preview_at"),
            ) else {
                return plain(StatusCode::NOT_FOUND, "this file has no preview yet");
            };
            Served {
                path: store.path_of(&key),
                mime: "audio/mpeg".into(),
                etag: format!("\"p{}\"", &sha[..31.min(sha.len())]),
                modified_ms: at,
                attachment: false,
                name: name.clone(),
            }
        }
        _ => return AppError::NotFound.into_response(),
    };
    let res = send_file(&served, &method, &headers).await;
    if mode == "download" && method == Method::GET && res.status() == StatusCode::OK {
        record_download(&state, user, asset_id, "download", &ip).await;
    }
    res
}

/// One row in the downloads table; a failure to record never fails the
/// download itself.
async fn record_download(state: &AppState, user: Option<i64>, asset_id: i64, kind: &str, ip: &str) {
    let res = sqlx::query(
        "INSERT INTO downloads (user_id, asset_id, kind, ip_hash, created_at, track_id, label) \
         SELECT $1, $2, $3, $4, $5, \
           (SELECT v.track_id FROM track_versions v WHERE v.asset_id = $2 \
            UNION SELECT v.track_id FROM stems s JOIN track_versions v ON v.id = s.version_id WHERE s.asset_id = $2 LIMIT 1), \
           COALESCE((SELECT original_filename FROM assets WHERE id = $2), '')",
    )
    .bind(user)
    .bind(asset_id)
    .bind(kind)
    .bind(state.secrets.ip_hash(ip))
    .bind(now_ms())
    .execute(state.db.pool())
    .await;
    if let Err(e) = res {
        tracing::warn!(error = %e, "could not record a download");
    }
}

fn http_date(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    httpdate::fmt_http_date(t)
}

fn disposition(attachment: bool, name: &str) -> HeaderValue {
    let kind = if attachment { "attachment" } else { "inline" };
    // Names are made of [a-z0-9._-] by `links::safe_name`; anything else is
    // replaced rather than escaped.
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    HeaderValue::from_str(&format!("{kind}; filename=\"{safe}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// The single range to send, `None` for the whole file, or the response
/// refusing the request.
pub fn pick_range(
    range: Option<&str>,
    len: u64,
) -> Result<Option<RangeInclusive<u64>>, &'static str> {
    let Some(raw) = range else { return Ok(None) };
    let parsed = http_range_header::parse_range_header(raw)
        .map_err(|_| "the Range header is malformed or asks for nothing")?;
    let ranges = parsed
        .validate(len)
        .map_err(|_| "the range is outside the file, or ranges overlap")?;
    match ranges.as_slice() {
        [one] => Ok(Some(one.clone())),
        _ => Err("ask for one byte range per request"),
    }
}

async fn send_file(s: &Served, method: &Method, headers: &HeaderMap) -> Response {
    let mut file = match tokio::fs::File::open(&s.path).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(path = %s.path.display(), error = %e, "a stored file is missing");
            return plain(StatusCode::NOT_FOUND, "the file is not available");
        }
    };
    let len = match file.metadata().await {
        Ok(m) => m.len(),
        Err(e) => return AppError::internal("reading a stored file", e).into_response(),
    };
    let last_modified = http_date(s.modified_ms);
    let mut base = Response::builder()
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, &s.etag)
        .header(header::LAST_MODIFIED, &last_modified)
        .header(header::CACHE_CONTROL, "private, max-age=3600")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(
            header::CONTENT_DISPOSITION,
            disposition(s.attachment, &s.name),
        );

    // Conditional requests.
    let not_modified = match headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        Some(list) => super::etag::matches(list, &s.etag),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| {
                let modified = std::time::UNIX_EPOCH
                    + std::time::Duration::from_millis((s.modified_ms.max(0) as u64 / 1000) * 1000);
                modified <= since
            }),
    };
    if not_modified {
        return base
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::NOT_MODIFIED.into_response());
    }
    // If-Range: the range applies only to the same representation.
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range_applies = match headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        Some(cond) if cond.starts_with('"') || cond.starts_with("W/") => cond == s.etag,
        Some(cond) => cond == last_modified,
        None => true,
    };
    let range = if range_applies {
        match pick_range(range_header, len) {
            Ok(r) => r,
            Err(msg) => {
                return Response::builder()
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(serde_json::json!({ "error": msg }).to_string()))
                    .unwrap_or_else(|_| StatusCode::RANGE_NOT_SATISFIABLE.into_response());
            }
        }
    } else {
        None
    };
    base = base.header(header::CONTENT_TYPE, &s.mime);
    let (status, start, count) = match &range {
        Some(r) => {
            base = base.header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{len}", r.start(), r.end()),
            );
            (
                StatusCode::PARTIAL_CONTENT,
                *r.start(),
                r.end() - r.start() + 1,
            )
        }
        None => (StatusCode::OK, 0, len),
    };
    base = base
        .status(status)
        .header(header::CONTENT_LENGTH, count.to_string());
    if method == Method::HEAD {
        return base
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    if start > 0 {
        if let Err(e) = file.seek(std::io::SeekFrom::Start(start)).await {
            return AppError::internal("seeking a stored file", e).into_response();
        }
    }
    let body = Body::from_stream(ReaderStream::with_capacity(file.take(count), READ_CHUNK));
    base.body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `GET /media/stems/{version_id}/{name}.zip`: every stem of a version in one
/// zip archive, written while it is sent.
pub async fn stems_zip(
    State(state): State<AppState>,
    Path((version_id, _name)): Path<(i64, String)>,
    link: Signed,
) -> Response {
    let Signed {
        user,
        ip,
        method,
        uri,
        ..
    } = link;
    let rows = match sqlx::query(
        "SELECT s.role, a.id AS asset_id, a.storage_key, a.original_filename, t.slug \
         FROM stems s JOIN assets a ON a.id = s.asset_id JOIN track_versions v ON v.id = s.version_id \
         JOIN tracks t ON t.id = v.track_id WHERE s.version_id = $1 ORDER BY s.role, s.id LIMIT $2",
    )
    .bind(version_id)
    .bind(app::tracks::MAX_STEMS)
    .fetch_all(state.db.pool())
    .await
    {
        Ok(r) => r,
        Err(e) => return AppError::from(e).into_response(),
    };
    if rows.is_empty() {
        return plain(StatusCode::NOT_FOUND, "this version has no stems");
    }
    match still_visible(&state, None, Some(version_id), user).await {
        Ok(true) => {}
        Ok(false) => return AppError::NotFound.into_response(),
        Err(e) => return e.into_response(),
    }
    let store = Store::new(&state.settings.data_dir);
    let mut entries = Vec::new();
    let mut used = std::collections::HashSet::new();
    for r in &rows {
        let slug: String = r.get("slug");
        let role: String = r.get("role");
        let mut name = app::tracks::links::safe_name(
            &format!("{slug}-{role}"),
            r.get::<Option<&str>, _>("original_filename"),
        );
        let mut n = 2;
        while !used.insert(name.clone()) {
            name = format!("{n}-{name}");
            n += 1;
        }
        entries.push((name, store.path_of(r.get::<&str, _>("storage_key"))));
    }
    let res = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/zip")
        .header(header::CACHE_CONTROL, "private, no-store")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(
            header::CONTENT_DISPOSITION,
            disposition(true, uri.path().rsplit('/').next().unwrap_or("stems.zip")),
        );
    if method == Method::HEAD {
        return res
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    let first_asset: i64 = rows[0].get("asset_id");
    record_download(&state, user, first_asset, "stems", &ip).await;

    let (writer, reader) = tokio::io::duplex(READ_CHUNK * 4);
    tokio::spawn(async move {
        if let Err(e) = write_zip(writer, entries).await {
            tracing::warn!(error = %e, "the stems archive stopped early");
        }
    });
    res.body(Body::from_stream(ReaderStream::with_capacity(
        reader, READ_CHUNK,
    )))
    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn write_zip(
    out: tokio::io::DuplexStream,
    entries: Vec<(String, PathBuf)>,
) -> anyhow::Result<()> {
    use async_zip::base::write::ZipFileWriter;
    use async_zip::{Compression, ZipEntryBuilder};
    use futures::AsyncWriteExt;

    let mut zip = ZipFileWriter::with_tokio(out);
    let mut buf = vec![0u8; READ_CHUNK];
    for (name, path) in entries {
        let mut file = tokio::fs::File::open(&path).await?;
        let entry = ZipEntryBuilder::new(name.into(), Compression::Stored).unix_permissions(0o644);
        let mut w = zip.write_entry_stream(entry).await?;
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            w.write_all(&buf[..n]).await?;
        }
        w.close().await?;
    }
    zip.close().await?;
    Ok(())
}
