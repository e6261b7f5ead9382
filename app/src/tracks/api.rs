//! Server functions for track listings.

use leptos::prelude::*;

use super::TrackPage;
use crate::errors::AppError;

/// Public tracks, newest first, 50 a page.
#[server(endpoint = "tracks/public")]
pub async fn list_public_tracks(cursor: Option<String>) -> Result<TrackPage, AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let after = match cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => {
            Some(super::decode_cursor(c).ok_or_else(|| AppError::bad_request("bad page cursor"))?)
        }
        None => None,
    };
    super::db::list_public(&state.db, after).await
}

/// One track with its versions, stems, metadata and processing jobs. Owners
/// and admins see their private tracks; everyone sees public and unlisted
/// ones; anything else is "not found".
#[server(endpoint = "tracks/get")]
pub async fn get_track(id: i64) -> Result<super::TrackDetail, AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let viewer = guard::viewer().await?;
    let t = super::db::get_detail(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let allowed = t.visible_to(viewer.as_ref());
    if allowed {
        Ok(t)
    } else {
        Err(AppError::NotFound)
    }
}
