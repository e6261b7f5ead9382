//! The player's server functions: what to play for a track (a signed
//! stream link for the viewer, its title and art, where they stopped), and
//! remembering where they stopped. Every one asks who is asking; a track
//! hidden from them answers like a missing one.

use leptos::prelude::*;

use super::PlayInfo;
use crate::errors::AppError;

/// Tracks shorter than this are always played from the start.
pub const RESUME_MIN_MS: i64 = 5 * 60 * 1000;

/// What plays for track `id`: its current version, or `version_id` (one of
/// its versions, for comparing them at the same moment).
#[server(endpoint = "player/item")]
pub async fn play_item(id: i64, version_id: Option<i64>) -> Result<PlayInfo, AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let viewer = guard::viewer().await?;
    let t = crate::tracks::api::visible_detail(&state, viewer.as_ref(), id).await?;
    let version = match version_id {
        Some(v) => t.versions.iter().find(|x| x.id == v),
        None => t.primary(),
    }
    .ok_or(AppError::NotFound)?;
    let Some(play) = version.playback.clone() else {
        return Err(AppError::Conflict(
            "This version cannot be played (yet): it is still being processed or it failed.".into(),
        ));
    };
    let resume_ms = match &viewer {
        Some(v) if t.duration_ms.unwrap_or(0) >= RESUME_MIN_MS => {
            super::db::position(&state.db, v.id, id).await?
        }
        _ => None,
    };
    Ok(PlayInfo {
        id,
        title: t.title.clone(),
        artist: t.about.artist.clone(),
        art: t.art.clone(),
        duration_ms: version.asset.duration_ms.or(t.duration_ms),
        wave: version.asset.mini_wave.clone(),
        version_id: version.id,
        version: version.number,
        src: play.src,
        mime: play.mime,
        resume_ms,
    })
}

/// Remembers where the viewer stopped in track `id` (ms); 0, or a moment
/// in the last 15 s, forgets it (start over, or heard to the end). Anyone
/// signed out, and tracks under five minutes, are ignored. Writes for one
/// track closer than 5 s apart are dropped, and each user may write 60
/// times a minute in all (429 beyond). True when it was written.
#[server(endpoint = "player/position")]
pub async fn save_position(id: i64, position_ms: i64) -> Result<bool, AppError> {
    use crate::auth::{guard, throttle};
    let state = guard::app_state()?;
    let Some(viewer) = guard::viewer().await? else {
        return Ok(false);
    };
    if position_ms < 0 {
        return Err(AppError::bad_request("a position is never negative"));
    }
    let t = crate::tracks::api::visible_detail(&state, Some(&viewer), id).await?;
    let length = t.duration_ms.unwrap_or(0);
    if length < RESUME_MIN_MS {
        return Ok(false);
    }
    let limit = throttle::Limit::new(
        "play-position",
        &viewer.id.to_string(),
        60,
        std::time::Duration::from_secs(60),
    );
    throttle::hit(&state.db, &[limit]).await?;
    if position_ms == 0 || position_ms >= length - 15_000 {
        super::db::forget(&state.db, viewer.id, id).await?;
        return Ok(true);
    }
    super::db::save(&state.db, viewer.id, id, position_ms.min(length)).await
}
