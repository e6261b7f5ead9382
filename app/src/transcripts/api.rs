//! Server functions for transcripts: the track page's panel, "Transcribe",
//! the owner's corrections, the account's default and usage, and the admin's
//! "transcribe every track". Thin adapters over `service`.

use leptos::prelude::*;

use super::{TranscriptPanel, TranscriptionAccount};
use crate::errors::AppError;

#[server(endpoint = "transcripts/get")]
pub async fn get_transcript(track_id: i64) -> Result<TranscriptPanel, AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let viewer = guard::viewer().await?;
    super::service::panel(&state, viewer.as_ref(), track_id).await
}

#[server(endpoint = "transcripts/request")]
pub async fn transcribe_track(track_id: i64, replace_edits: bool) -> Result<(), AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let viewer = guard::require_user().await?;
    super::service::request(&state, &viewer, track_id, replace_edits).await
}

#[server(endpoint = "transcripts/edit")]
pub async fn edit_segment(track_id: i64, idx: i64, text: String) -> Result<(), AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let viewer = guard::require_user().await?;
    super::service::edit(&state, &viewer, track_id, idx, &text).await
}

#[server(endpoint = "transcripts/account")]
pub async fn get_transcription_account() -> Result<TranscriptionAccount, AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let viewer = guard::require_user().await?;
    let seconds = super::usage::seconds_this_month(&state.db, viewer.id).await?;
    Ok(TranscriptionAccount {
        enabled: state.settings.stt.is_some(),
        transcribe_uploads: super::usage::transcribe_uploads(&state.db, viewer.id).await?,
        minutes_this_month: seconds as f64 / 60.0,
        minutes_per_month: state
            .settings
            .stt
            .as_ref()
            .and_then(|s| s.minutes_per_month),
    })
}

#[server(endpoint = "transcripts/default")]
pub async fn set_transcribe_uploads(on: bool) -> Result<(), AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let viewer = guard::require_user().await?;
    super::usage::set_transcribe_uploads(&state.db, viewer.id, on).await
}

#[server(endpoint = "transcripts/all")]
pub async fn transcribe_all() -> Result<u64, AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let admin = guard::require_admin().await?;
    super::service::request_all(&state, &admin).await
}
