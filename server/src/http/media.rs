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

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use tokio_util::io::ReaderStream;

use app::errors::AppError;
use app::signing::LinkError;
use app::state::AppState;
use app::tracks::links::audio_mime;
use app::tracks::served;

use crate::state::ServerState;
use crate::storage::Storage;

const READ_CHUNK: usize = 64 * 1024;

fn link_error(e: LinkError) -> Response {
    match e {
        LinkError::Invalid => AppError::denied(e.to_string()),
        LinkError::Expired => AppError::gone(e.to_string()),
    }
    .into_response()
}

/// What a file is sent as.
struct Served {
    key: String,
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

impl axum::extract::FromRequestParts<ServerState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &ServerState,
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

/// `GET|HEAD /media/{asset_id}/{mode}/{name}`.
pub async fn asset(
    State(state): State<ServerState>,
    Path((asset_id, mode, name)): Path<(i64, String, String)>,
    link: Signed,
) -> Response {
    match asset_inner(&state, asset_id, &mode, name, link).await {
        Ok(res) | Err(res) => res,
    }
}

async fn asset_inner(
    state: &ServerState,
    asset_id: i64,
    mode: &str,
    name: String,
    link: Signed,
) -> Result<Response, Response> {
    let Signed {
        user,
        ip,
        method,
        headers,
        ..
    } = link;
    let fail = |e: AppError| e.into_response();
    let a = served::asset(&state.db, asset_id)
        .await
        .map_err(fail)?
        .ok_or_else(|| fail(AppError::NotFound))?;
    if !served::still_visible(&state.db, Some(asset_id), None, user)
        .await
        .map_err(fail)?
    {
        return Err(fail(AppError::NotFound));
    }
    let served = match mode {
        "stream" | "download" => {
            let mime = audio_mime(a.codec.as_deref(), a.container.as_deref());
            Served {
                key: a.storage_key.clone(),
                mime: mime.to_string(),
                etag: format!("\"{}\"", &a.sha256[..32.min(a.sha256.len())]),
                modified_ms: a.created_at,
                // Only what the decoder recognised as audio plays inline.
                attachment: mode == "download" || !mime.starts_with("audio/"),
                name,
            }
        }
        "preview" => {
            let Some((key, at)) = a.preview.clone() else {
                return Err(fail(AppError::missing("this file has no preview yet")));
            };
            Served {
                key,
                mime: "audio/mpeg".into(),
                etag: format!("\"p{}\"", &a.sha256[..31.min(a.sha256.len())]),
                modified_ms: at,
                attachment: false,
                name,
            }
        }
        _ => return Err(fail(AppError::NotFound)),
    };
    let ttl = if mode == "download" {
        state.settings.download_link_ttl
    } else {
        state.settings.stream_link_ttl
    };
    // A client that has the file already is told so here, whatever the
    // backend (a redirect would send it to the store's own validators).
    let redirected = if unchanged(&headers, &served) {
        None
    } else {
        redirect(&state.storage, &served, &method, ttl).await
    };
    let res = match redirected {
        Some(res) => res,
        None => send_file(&state.storage, &served, &method, &headers).await,
    };
    let fetched = matches!(
        res.status(),
        StatusCode::OK | StatusCode::TEMPORARY_REDIRECT
    );
    if mode == "download" && method == Method::GET && fetched {
        record_download(state, user, asset_id, "download", &ip).await;
    }
    Ok(res)
}

/// One row in the downloads table; a failure to record never fails the
/// download itself.
async fn record_download(state: &AppState, user: Option<i64>, asset_id: i64, kind: &str, ip: &str) {
    let hash = state.secrets.ip_hash(ip);
    if let Err(e) = served::record_download(&state.db, user, asset_id, kind, &hash).await {
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

/// Object storage set to redirect: a GET goes to a presigned URL valid as
/// long as the link, whose answer carries our type, disposition and caching
/// (S3's `response-*` overrides), so the bytes bypass wavekeep. `None`:
/// send the bytes ourselves (the local disk, proxy mode, HEAD).
async fn redirect(
    storage: &Storage,
    s: &Served,
    method: &Method,
    ttl: std::time::Duration,
) -> Option<Response> {
    if method != Method::GET {
        return None;
    }
    let disposition = disposition(s.attachment, &s.name);
    let overrides = [
        ("content-type", s.mime.clone()),
        (
            "content-disposition",
            disposition.to_str().unwrap_or("attachment").to_string(),
        ),
        ("cache-control", "private, max-age=3600".to_string()),
    ];
    let ttl = ttl.clamp(
        std::time::Duration::from_secs(60),
        std::time::Duration::from_secs(24 * 3600),
    );
    match storage.presigned_get(&s.key, ttl, &overrides).await {
        Ok(Some(url)) => Some(
            Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header(header::LOCATION, url)
                .header(header::CACHE_CONTROL, "private, no-store")
                .body(Body::empty())
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        ),
        Ok(None) => None,
        Err(e) => Some(AppError::internal("signing a storage link", e).into_response()),
    }
}

/// Whether a conditional request's validators (`If-None-Match`, else
/// `If-Modified-Since`) say the client has this file already.
fn unchanged(headers: &HeaderMap, s: &Served) -> bool {
    match headers
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
    }
}

async fn send_file(
    storage: &Storage,
    s: &Served,
    method: &Method,
    headers: &HeaderMap,
) -> Response {
    let len = match storage.len(&s.key).await {
        Ok(Some(len)) => len,
        Ok(None) => {
            tracing::error!(key = %s.key, "a stored file is missing");
            return AppError::missing("the file is not available").into_response();
        }
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
    let not_modified = unchanged(headers, s);
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
                let mut res = AppError::range_not_satisfiable(msg).into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    res.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return res;
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
    match storage.read_range(&s.key, start, count).await {
        Ok(stream) => base
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        Err(e) => AppError::internal("reading a stored file", e).into_response(),
    }
}

/// `GET /media/stems/{version_id}/{name}.zip`: every stem of a version in one
/// zip archive, written while it is sent.
pub async fn stems_zip(
    State(state): State<ServerState>,
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
    let rows = match served::stems_for_zip(&state.db, version_id).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if rows.is_empty() {
        return AppError::missing("this version has no stems").into_response();
    }
    match served::still_visible(&state.db, None, Some(version_id), user).await {
        Ok(true) => {}
        Ok(false) => return AppError::NotFound.into_response(),
        Err(e) => return e.into_response(),
    }
    let mut entries = Vec::new();
    let mut used = std::collections::HashSet::new();
    for r in &rows {
        let mut name = app::tracks::links::safe_name(
            &format!("{}-{}", r.slug, r.role),
            r.original_filename.as_deref(),
        );
        let mut n = 2;
        while !used.insert(name.clone()) {
            name = format!("{n}-{name}");
            n += 1;
        }
        entries.push((name, r.storage_key.clone()));
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
    record_download(&state, user, rows[0].asset_id, "stems", &ip).await;

    let (writer, reader) = tokio::io::duplex(READ_CHUNK * 4);
    let storage = state.storage.clone();
    tokio::spawn(async move {
        if let Err(e) = write_zip(&storage, writer, entries).await {
            tracing::warn!(error = %e, "the stems archive stopped early");
        }
    });
    res.body(Body::from_stream(ReaderStream::with_capacity(
        reader, READ_CHUNK,
    )))
    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn write_zip(
    storage: &Storage,
    out: tokio::io::DuplexStream,
    entries: Vec<(String, String)>,
) -> anyhow::Result<()> {
    use async_zip::base::write::ZipFileWriter;
    use async_zip::{Compression, ZipEntryBuilder};
    use futures::{AsyncWriteExt, StreamExt};

    let mut zip = ZipFileWriter::with_tokio(out);
    for (name, key) in entries {
        let len = storage.len(&key).await?.unwrap_or(0);
        let mut bytes = storage.read_range(&key, 0, len).await?;
        let entry = ZipEntryBuilder::new(name.into(), Compression::Stored).unix_permissions(0o644);
        let mut w = zip.write_entry_stream(entry).await?;
        while let Some(chunk) = bytes.next().await {
            w.write_all(&chunk?).await?;
        }
        w.close().await?;
    }
    zip.close().await?;
    Ok(())
}
