//! Artwork over HTTP: the owner's own image for a track
//! (`PUT /api/v1/tracks/{id}/artwork`, the image as the body, at most
//! `MAX_UPLOAD` bytes, JPEG, PNG or WebP decided from its bytes; `DELETE`
//! goes back to the art in the file), and thumbnails
//! (`GET /art/{token}/{width}.webp`): the token is random per image, so a
//! URL is known only to who sees a track showing it, and never changes,
//! so it is cached for a year as immutable.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use app::auth::guard::CurrentUser;
use app::errors::AppError;
use app::files::Derived;
use sha2::Digest;

use crate::state::ServerState;

/// The largest image an owner may upload.
pub const MAX_UPLOAD: usize = 10 << 20;

/// Images one account may upload an hour: a replaced image is removed an
/// hour later and no longer counts in the quota meanwhile, so this bounds
/// what replacing art over and over can hold outside it.
pub const UPLOADS_PER_HOUR: u32 = 60;

/// What the first bytes say the image is: JPEG, PNG or WebP, else `None`.
pub fn image_kind(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("jpeg")
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

async fn owned(
    state: &ServerState,
    viewer: &app::auth::Viewer,
    id: i64,
) -> Result<app::tracks::TrackDetail, AppError> {
    let t = app::tracks::api::visible_detail(&state.app, Some(viewer), id).await?;
    if !t.can_edit {
        return Err(AppError::Forbidden);
    }
    Ok(t)
}

/// `PUT /api/v1/tracks/{id}/artwork`: 202 while the thumbnails are made
/// (the track page shows them when done), 200 when this image's were made
/// before.
pub async fn upload(
    State(state): State<ServerState>,
    CurrentUser(viewer): CurrentUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let t = owned(&state, &viewer, id).await?;
    let limit = app::auth::throttle::Limit::new(
        "art-upload",
        &viewer.id.to_string(),
        UPLOADS_PER_HOUR,
        std::time::Duration::from_secs(3600),
    );
    app::auth::throttle::hit(&state.db, &[limit]).await?;
    let too_large =
        || AppError::PayloadTooLarge(format!("the image is larger than {} MiB", MAX_UPLOAD >> 20));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, MAX_UPLOAD)
        .await
        .map_err(|_| too_large())?;
    if bytes.is_empty() {
        return Err(AppError::bad_request("send the image as the request body"));
    }
    if image_kind(&bytes).is_none() {
        return Err(AppError::unsupported_media_type(
            "not an image wavekeep accepts (JPEG, PNG or WebP)",
        ));
    }
    // Refused before it is stored when it cannot fit (checked again, under
    // the owner's lock, when it is set).
    // Up to 10 MiB hashed: off the runtime's threads, once.
    let sha256 = {
        let b = bytes.clone();
        tokio::task::spawn_blocking(move || hex::encode(sha2::Sha256::digest(&b)))
            .await
            .map_err(|e| AppError::internal("hashing an image", e))?
    };
    app::uploads::quota::art_fits(
        &state.db,
        t.owner_id,
        &sha256,
        bytes.len() as u64,
        state.settings.default_quota_bytes,
    )
    .await?;
    let storage = &state.storage;
    let tmp = storage.spool().tmp_path("art");
    let stored = async {
        tokio::fs::write(&tmp, &bytes).await?;
        storage
            .put_derived_file(&sha256, app::files::Derived::ArtOriginal, &tmp)
            .await
    }
    .await;
    let _ = tokio::fs::remove_file(&tmp).await;
    stored.map_err(|e| {
        if app::errors::is_disk_full(&e) {
            AppError::DiskFull
        } else {
            AppError::internal("storing an image", e.to_string())
        }
    })?;
    app::media::library::set_uploaded_art(
        &state.db,
        id,
        t.owner_id,
        &sha256,
        bytes.len() as u64,
        state.settings.default_quota_bytes,
    )
    .await?;
    state.usage.invalidate(t.owner_id).await;
    state.queue.wake().notify_waiters();
    let was_public = t.visibility == app::tracks::Visibility::Public;
    app::changes::record_track(&state.db, id, app::changes::Kind::Updated, was_public).await;
    state.caches.changed(Some(id)).await;
    let now = app::tracks::api::visible_detail(&state.app, Some(&viewer), id).await?;
    let ready = now.art_upload.is_none();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        Json(serde_json::json!({
            "status": if ready { "ready" } else { "processing" },
            "sha256": sha256,
            "art": now.art,
        })),
    )
        .into_response())
}

/// `DELETE /api/v1/tracks/{id}/artwork`: the track shows the art in its
/// file again (or none).
pub async fn remove(
    State(state): State<ServerState>,
    CurrentUser(viewer): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let t = owned(&state, &viewer, id).await?;
    app::media::library::remove_uploaded_art(&state.db, id).await?;
    state.usage.invalidate(t.owner_id).await;
    let was_public = t.visibility == app::tracks::Visibility::Public;
    app::changes::record_track(&state.db, id, app::changes::Kind::Updated, was_public).await;
    state.caches.changed(Some(id)).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /art/{token}/{width}.webp`.
pub async fn thumbnail(
    State(state): State<ServerState>,
    Path((token, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let width = file
        .strip_suffix(".webp")
        .and_then(|w| w.parse::<u32>().ok());
    let derived = width.and_then(Derived::art).ok_or(AppError::NotFound)?;
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::NotFound);
    }
    let etag = format!("\"{token}-{file}\"");
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        res.headers_mut().insert(header::CACHE_CONTROL, cache);
        if let Ok(v) = HeaderValue::from_str(&etag) {
            res.headers_mut().insert(header::ETAG, v);
        }
        return Ok(res);
    }
    // Every thumbnail request names its image by token: the lookup is
    // cached (only found tokens; they never change what they name).
    let caches = &state.caches;
    let sha = match caches.art.get(&token).await {
        Some(sha) => sha,
        None => {
            let sha: std::sync::Arc<str> = app::media::library::artwork_by_token(&state.db, &token)
                .await?
                .ok_or(AppError::NotFound)?
                .into();
            caches.art.insert(token.clone(), sha.clone()).await;
            sha
        }
    };
    let bytes = state
        .storage
        .read(&crate::storage::derived_key(&sha, derived))
        .await
        .map_err(|e| AppError::internal("reading a thumbnail", e.to_string()))?
        .ok_or(AppError::NotFound)?;
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/webp"));
    h.insert(header::CACHE_CONTROL, cache);
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_by_their_bytes() {
        assert_eq!(image_kind(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("jpeg"));
        assert_eq!(image_kind(b"\x89PNG\r\n\x1a\n...."), Some("png"));
        assert_eq!(image_kind(b"RIFF\0\0\0\0WEBPVP8 "), Some("webp"));
        assert_eq!(image_kind(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(image_kind(b"<svg xmlns="), None);
        assert_eq!(image_kind(b"GIF89a"), None);
    }
}
