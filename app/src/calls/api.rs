//! Server functions of the live calls page: a page of calls (filtered by
//! system and talkgroup, keyset pages) and one call as it is played. Both
//! answer only what the viewer may see (their own calls and public ones).

use leptos::prelude::*;

use super::{CallPage, LiveCall as Playable};
use crate::errors::AppError;

/// Calls the viewer may see, newest first; `cursor` from the page before;
/// `from` and `to` are days (`YYYY-MM-DD`, UTC), both included.
#[server(endpoint = "calls/list")]
pub async fn list_calls(
    system: Option<i64>,
    talkgroup: Option<i64>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
) -> Result<CallPage, AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let viewer = guard::viewer().await?;
    let day = |d: Option<String>, name: &str| -> Result<Option<i64>, AppError> {
        match d.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            None => Ok(None),
            Some(d) => super::day_start_ms(d).map(Some).ok_or_else(|| {
                AppError::bad_request(format!("{name} must be a day as YYYY-MM-DD"))
            }),
        }
    };
    let from = day(from, "from")?;
    // Through the end of the `to` day.
    let to = day(to, "to")?.map(|t| t + 24 * 3600 * 1000);
    let q = super::CallQuery {
        system,
        talkgroup,
        from,
        to,
        cursor: cursor.filter(|c| !c.is_empty() && c.len() <= 64),
        per: Some(50),
        ..Default::default()
    };
    super::list(&state.db, viewer.map(|v| v.id), &q).await
}

/// One call, to show as it arrives and to play: `None` when it is not a
/// call or not the viewer's to see.
#[server(endpoint = "calls/live")]
pub async fn play_call(track_id: i64) -> Result<Option<Playable>, AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let viewer = guard::viewer().await?;
    let t = match crate::tracks::api::visible_detail(&state, viewer.as_ref(), track_id).await {
        Ok(t) => t,
        Err(AppError::NotFound) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(call) = t.call.clone() else {
        return Ok(None);
    };
    let transcript =
        match crate::transcripts::service::transcript(&state, viewer.as_ref(), track_id).await {
            Ok((_, tr)) => tr
                .segments
                .iter()
                .map(|s| s.text.trim())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
            Err(_) => String::new(),
        };
    Ok(Some(Playable {
        row: super::CallRow {
            track_id,
            title: t.title.clone(),
            call,
            duration_ms: t.duration_ms,
            url: format!("/api/v1/tracks/{track_id}"),
        },
        src: t.playback.as_ref().map(|p| p.src.clone()),
        transcript,
    }))
}
