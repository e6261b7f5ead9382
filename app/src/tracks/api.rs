//! Server functions for tracks: listings and search, the track page, the
//! owner's edits, the lazy stems panel. Every one asks `guard` who is
//! asking; someone else's private track answers exactly like a missing one.

// The owner's form for a track's tags is one server function with one
// argument per field (what a plain form posts).
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use super::{ListQuery, StemsPanel, TrackDetail, TrackPage, Visibility};
use crate::errors::AppError;

/// A page of public tracks, or of the viewer's own (`mine`), optionally
/// searched, in one of three orders; cached for 30 s, dropped on any change.
#[server(endpoint = "tracks/list")]
pub async fn list_tracks(query: ListQuery) -> Result<TrackPage, AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let owner = if query.mine {
        Some(guard::require_user().await?.id)
    } else {
        None
    };
    list_cached(&state, owner, query)
        .await
        .map(|p| (*p).clone())
}

/// The cache key of a listing: only so much of a search counts.
#[cfg(feature = "ssr")]
pub fn list_key(owner: Option<i64>, mut query: ListQuery) -> super::cache::ListKey {
    query.q = query.q.chars().take(super::MAX_QUERY).collect();
    (owner, query)
}

/// The cached listing, shared by the server function and the JSON route.
#[cfg(feature = "ssr")]
pub async fn list_cached(
    state: &crate::state::AppState,
    owner: Option<i64>,
    query: ListQuery,
) -> Result<std::sync::Arc<TrackPage>, AppError> {
    let key = list_key(owner, query);
    let caches = &state.caches;
    if caches.trusted() {
        if let Some(p) = caches.pages_for(&key.1).get(&key).await {
            return Ok(p);
        }
    }
    let before = caches.epoch_for(&key.1);
    let page = std::sync::Arc::new(super::db::list(&state.db, owner, &key.1).await?);
    caches.insert_page(key, page.clone(), before).await;
    Ok(page)
}

/// A track as `viewer` may see it, from the cache when nothing is being
/// processed; `None` when it is missing or hidden from them.
#[cfg(feature = "ssr")]
pub async fn visible_detail(
    state: &crate::state::AppState,
    viewer: Option<&crate::auth::Viewer>,
    id: i64,
) -> Result<TrackDetail, AppError> {
    let cached = match state.caches.trusted() {
        true => state.caches.tracks.get(&id).await,
        false => None,
    };
    let t = match cached {
        Some(t) => t,
        None => {
            let before = state.caches.epoch();
            let t = std::sync::Arc::new(
                super::db::get_detail(&state.db, id)
                    .await?
                    .ok_or(AppError::NotFound)?,
            );
            if t.settled() {
                let caches = &state.caches;
                caches
                    .insert_fresh(&caches.tracks, id, t.clone(), before)
                    .await;
            }
            t
        }
    };
    if !t.visible_to(viewer) {
        return Err(AppError::NotFound);
    }
    let mut t = (*t).clone();
    t.can_edit = t.editable_by(viewer);
    let user = viewer.map(|v| v.id);
    for v in &mut t.versions {
        v.download_url = Some(super::links::download(state, &v.asset, &t.slug, user));
        v.playback = super::links::playback(state, &v.asset, &t.slug, user);
    }
    t.playback = t
        .primary()
        .and_then(|v| super::links::playback(state, &v.asset, &t.slug, user));
    Ok(t)
}

/// One track with its versions, metadata and processing jobs.
#[server(endpoint = "tracks/get")]
pub async fn get_track(id: i64) -> Result<TrackDetail, AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let viewer = guard::viewer().await?;
    let mut t = visible_detail(&state, viewer.as_ref(), id).await?;
    if let Some(v) = &viewer {
        t.resume_ms = crate::player::db::position(&state.db, v.id, id).await?;
    }
    Ok(t)
}

/// The track if the viewer may change it: 404 when they cannot see it, 403
/// when they can see but not change it.
#[cfg(feature = "ssr")]
async fn editable(id: i64) -> Result<(crate::state::AppState, TrackDetail), AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let viewer = guard::require_user().await?;
    let t = super::db::get_detail(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !t.visible_to(Some(&viewer)) {
        return Err(AppError::NotFound);
    }
    if !t.editable_by(Some(&viewer)) {
        return Err(AppError::Forbidden);
    }
    Ok((state, t))
}

/// The owner changes title, tags and visibility.
#[server(endpoint = "tracks/update")]
pub async fn update_track(
    id: i64,
    title: String,
    tags: String,
    visibility: Visibility,
) -> Result<(), AppError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(AppError::bad_request("the title cannot be empty"));
    }
    if title.chars().count() > 200 {
        return Err(AppError::bad_request(
            "the title is longer than 200 characters",
        ));
    }
    let tags: String = tags
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    if tags.chars().count() > 500 {
        return Err(AppError::bad_request(
            "the tags are longer than 500 characters",
        ));
    }
    let (state, before) = editable(id).await?;
    super::db::update(&state.db, id, title, &tags, visibility).await?;
    let was_public = before.visibility == super::Visibility::Public;
    crate::changes::record_track(&state.db, id, crate::changes::Kind::Updated, was_public).await;
    state.caches.changed(Some(id)).await;
    Ok(())
}

/// The owner changes artist, album and the rest (numbers as typed: empty
/// for none). Every field is checked, none is cut short.
#[server(endpoint = "tracks/about")]
pub async fn update_about(
    id: i64,
    artist: String,
    album: String,
    album_artist: String,
    genre: String,
    year: String,
    track_no: String,
    disc_no: String,
    comment: String,
) -> Result<(), AppError> {
    use crate::media::{clean_text, FileTags, TAG_COMMENT_MAX, TAG_TEXT_MAX};
    let text = |name: &str, v: &str, max: usize| -> Result<String, AppError> {
        if v.trim().chars().count() > max {
            return Err(AppError::bad_request(format!(
                "the {name} is longer than {max} characters"
            )));
        }
        Ok(clean_text(v, max))
    };
    let number = |name: &str, v: &str, max: i64| -> Result<Option<i64>, AppError> {
        let v = v.trim();
        if v.is_empty() {
            return Ok(None);
        }
        match v.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
            _ => Err(AppError::bad_request(format!(
                "the {name} must be a number from 1 to {max}"
            ))),
        }
    };
    let year = match number("year", &year, 9999)? {
        Some(y) if y < 1000 => {
            return Err(AppError::bad_request("the year must have four digits"));
        }
        y => y,
    };
    let about = FileTags {
        title: String::new(),
        artist: text("artist", &artist, TAG_TEXT_MAX)?,
        album: text("album", &album, TAG_TEXT_MAX)?,
        album_artist: text("album artist", &album_artist, TAG_TEXT_MAX)?,
        genre: text("genre", &genre, TAG_TEXT_MAX)?,
        comment: text("comment", &comment, TAG_COMMENT_MAX)?,
        year: year.and_then(|y| i32::try_from(y).ok()),
        track_no: number("track number", &track_no, 9999)?.and_then(|n| u32::try_from(n).ok()),
        disc_no: number("disc number", &disc_no, 999)?.and_then(|n| u32::try_from(n).ok()),
    };
    let (state, before) = editable(id).await?;
    super::db::update_about(&state.db, id, &about).await?;
    let was_public = before.visibility == super::Visibility::Public;
    crate::changes::record_track(&state.db, id, crate::changes::Kind::Updated, was_public).await;
    state.caches.changed(Some(id)).await;
    Ok(())
}

/// The owner goes back to the art embedded in the file (or none).
#[server(endpoint = "tracks/art/remove")]
pub async fn remove_artwork(id: i64) -> Result<(), AppError> {
    let (state, before) = editable(id).await?;
    crate::media::library::remove_uploaded_art(&state.db, id).await?;
    state.usage.invalidate(before.owner_id).await;
    let was_public = before.visibility == super::Visibility::Public;
    crate::changes::record_track(&state.db, id, crate::changes::Kind::Updated, was_public).await;
    state.caches.changed(Some(id)).await;
    Ok(())
}

/// The owner picks which version plays and is listed.
#[server(endpoint = "tracks/primary")]
pub async fn set_primary_version(id: i64, version_id: i64) -> Result<(), AppError> {
    let (state, _) = editable(id).await?;
    super::db::set_primary(&state.db, id, version_id).await?;
    crate::changes::record_track(&state.db, id, crate::changes::Kind::Updated, false).await;
    state.caches.changed(Some(id)).await;
    Ok(())
}

/// The owner deletes a track: its rows go at once (with the storage they
/// count), and a background job removes the files nothing refers to.
#[server(endpoint = "tracks/delete")]
pub async fn delete_track(id: i64) -> Result<(), AppError> {
    let (state, t) = editable(id).await?;
    super::db::delete(&state.db, id).await?;
    let public = t.visibility == super::Visibility::Public;
    crate::changes::record(
        &state.db,
        id,
        t.owner_id,
        crate::changes::Kind::Deleted,
        public,
    )
    .await;
    state.caches.changed(Some(id)).await;
    state.usage.invalidate(t.owner_id).await;
    state.queue.wake().notify_waiters();
    Ok(())
}

/// The stems of a version, loaded when the panel opens: up to 20, each
/// with signed streaming and download links, plus an "all stems" archive.
#[server(endpoint = "tracks/stems")]
pub async fn version_stems(version_id: i64) -> Result<StemsPanel, AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let viewer = guard::viewer().await?;
    let (track_id, _, _) = super::db::version_owner(&state.db, version_id)
        .await?
        .ok_or(AppError::NotFound)?;
    // The same visibility rule as the track page.
    let t = visible_detail(&state, viewer.as_ref(), track_id).await?;
    let user = viewer.as_ref().map(|v| v.id);
    let mut stems = super::db::stems_of(&state.db, version_id, super::MAX_STEMS).await?;
    for s in &mut stems {
        let base = format!("{}-{}", t.slug, s.role);
        if s.asset.processing_error.is_none() {
            s.stream_url = super::links::playback(&state, &s.asset, &base, user).map(|p| p.src);
        }
        s.download_url = Some(super::links::download(&state, &s.asset, &base, user));
    }
    let zip_url =
        (!stems.is_empty()).then(|| super::links::stems_zip(&state, version_id, &t.slug, user));
    Ok(StemsPanel {
        version_id,
        stems,
        zip_url,
    })
}

/// The waveform overview of a track's primary version (about 1,000 min/max
/// pairs), for the page to draw; `None` while it is being computed.
#[server(endpoint = "tracks/peaks")]
pub async fn track_peaks(id: i64) -> Result<Option<Vec<i8>>, AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let viewer = guard::viewer().await?;
    let t = visible_detail(&state, viewer.as_ref(), id).await?;
    let Some(v) = t.primary().filter(|v| v.asset.peaks_ready) else {
        return Ok(None);
    };
    overview_peaks(&state, v.asset.id).await
}

#[cfg(feature = "ssr")]
pub async fn overview_peaks(
    state: &crate::state::AppState,
    asset_id: i64,
) -> Result<Option<Vec<i8>>, AppError> {
    #[derive(serde::Deserialize)]
    struct Peaks {
        data: Vec<i8>,
    }
    if let Some(p) = state.caches.peaks.get(&asset_id).await {
        return Ok(Some((*p).clone()));
    }
    let Some(sha) = super::db::asset_sha256_opt(&state.db, asset_id).await? else {
        return Ok(None);
    };
    let bytes = match state
        .files
        .read_derived(&sha, crate::files::Derived::PeaksOverview)
        .await
    {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(None),
        Err(e) => return Err(AppError::internal("reading peaks", e)),
    };
    let p: Peaks =
        serde_json::from_slice(&bytes).map_err(|e| AppError::internal("reading peaks", e))?;
    state
        .caches
        .peaks
        .insert(asset_id, std::sync::Arc::new(p.data.clone()))
        .await;
    Ok(Some(p.data))
}

/// One page of the viewer's download history, newest first, 100 a page.
#[server(endpoint = "downloads/list")]
pub async fn list_downloads(cursor: Option<String>) -> Result<super::DownloadPage, AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let viewer = guard::require_user().await?;
    super::served::downloads(&state.db, viewer.id, cursor.as_deref()).await
}
