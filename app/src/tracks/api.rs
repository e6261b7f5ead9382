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
