//! What people (and the upload paths) do with transcripts, as plain async
//! functions under the server functions and routes: ask for one (owner or
//! admin, within the monthly allowance), read one as the viewer may,
//! correct a segment, queue every track without one (admins).

use super::{Transcript, TranscriptPanel};
use crate::auth::Viewer;
use crate::errors::AppError;
use crate::jobs::db::NewJob;
use crate::state::AppState;
use crate::tracks::TrackDetail;

/// The job kind that makes transcripts.
pub use crate::jobs::TRANSCRIBE;

/// The `transcribe` job of `asset_id`: one pending per file (later asks
/// join it), below the media jobs in priority.
pub fn job(asset_id: i64, requested_by: Option<i64>, redo: bool, replace_edits: bool) -> NewJob {
    let payload = serde_json::json!({
        "asset_id": asset_id,
        "requested_by": requested_by,
        "redo": redo,
        "replace_edits": replace_edits,
    })
    .to_string();
    NewJob::new(TRANSCRIBE, payload)
        .dedupe(format!("{TRANSCRIBE}:{asset_id}"))
        .subject(crate::jobs::asset_subject(asset_id))
        .priority(-1)
        // A failing provider costs attempts (5xx, timeouts); a pause it asks
        // for, or an open breaker, does not.
        .max_attempts(8)
}

fn settings(state: &AppState) -> Result<&crate::settings::SttSettings, AppError> {
    state.settings.stt.as_ref().ok_or_else(|| {
        AppError::Conflict("transcription is not set up on this server (WAVEKEEP_STT_URL)".into())
    })
}

/// 409 once `user_id` used up this month's minutes (when there is a cap).
pub async fn check_allowance(state: &AppState, user_id: i64) -> Result<(), AppError> {
    let Some(cap) = state
        .settings
        .stt
        .as_ref()
        .and_then(|s| s.minutes_per_month)
    else {
        return Ok(());
    };
    let used = super::usage::seconds_this_month(&state.db, user_id).await?;
    if used >= (cap as i64).saturating_mul(60) {
        return Err(AppError::Conflict(format!(
            "this month's transcription allowance ({cap} min) is used up; more is available from the 1st"
        )));
    }
    Ok(())
}

/// The track's primary file, when `viewer` may change the track.
async fn editable(
    state: &AppState,
    viewer: &Viewer,
    track_id: i64,
) -> Result<TrackDetail, AppError> {
    let t = crate::tracks::api::visible_detail(state, Some(viewer), track_id).await?;
    if !t.editable_by(Some(viewer)) {
        return Err(AppError::Forbidden);
    }
    Ok(t)
}

/// "Transcribe" / "Transcribe again": queues the track's primary file.
pub async fn request(
    state: &AppState,
    viewer: &Viewer,
    track_id: i64,
    replace_edits: bool,
) -> Result<(), AppError> {
    let t = editable(state, viewer, track_id).await?;
    settings(state)?;
    let v = t.primary().ok_or(AppError::NotFound)?;
    if v.asset.processing_error.is_some() {
        return Err(AppError::Conflict(
            "this file could not be processed, so it cannot be transcribed".into(),
        ));
    }
    if super::db::get(&state.db, v.asset.id)
        .await?
        .is_some_and(|tr| tr.status == "running")
    {
        return Err(AppError::Conflict(
            "this track is being transcribed; it can be transcribed again once that is done".into(),
        ));
    }
    check_allowance(state, t.owner_id).await?;
    state
        .queue
        .enqueue(&job(v.asset.id, Some(viewer.id), true, replace_edits))
        .await?;
    spoken_changed(state, v.asset.id, track_id).await;
    Ok(())
}

/// The transcript panel of a track as `viewer` may see it (404 when the
/// track is hidden from them).
pub async fn panel(
    state: &AppState,
    viewer: Option<&Viewer>,
    track_id: i64,
) -> Result<TranscriptPanel, AppError> {
    let t = crate::tracks::api::visible_detail(state, viewer, track_id).await?;
    let transcript = match t.primary() {
        Some(v) => super::db::get(&state.db, v.asset.id).await?,
        None => None,
    };
    let queued = t
        .jobs
        .iter()
        .any(|j| j.kind == TRANSCRIBE && j.state == crate::jobs::JobState::Queued);
    let transcript = match transcript {
        // Asked for again: the last one shows until the new one starts.
        Some(mut tr) if queued && tr.status != "running" => {
            tr.status = "queued".into();
            tr
        }
        Some(tr) => tr,
        None if queued => Transcript {
            status: "queued".into(),
            ..Transcript::default()
        },
        None => Transcript {
            status: "none".into(),
            ..Transcript::default()
        },
    };
    Ok(TranscriptPanel {
        enabled: state.settings.stt.is_some(),
        can_edit: t.can_edit,
        transcript,
    })
}

/// The track's transcript for export (404 when hidden or missing).
pub async fn transcript(
    state: &AppState,
    viewer: Option<&Viewer>,
    track_id: i64,
) -> Result<(TrackDetail, Transcript), AppError> {
    let t = crate::tracks::api::visible_detail(state, viewer, track_id).await?;
    let v = t.primary().ok_or(AppError::NotFound)?;
    let tr = super::db::get(&state.db, v.asset.id)
        .await?
        .filter(|tr| tr.status == "done")
        .ok_or(AppError::NotFound)?;
    Ok((t, tr))
}

/// The owner corrects segment `idx`'s text (re-indexed for search).
pub async fn edit(
    state: &AppState,
    viewer: &Viewer,
    track_id: i64,
    idx: i64,
    text: &str,
) -> Result<(), AppError> {
    let text = text.trim();
    if text.chars().count() > 2_000 {
        return Err(AppError::bad_request(
            "a segment holds at most 2,000 characters",
        ));
    }
    let t = editable(state, viewer, track_id).await?;
    let v = t.primary().ok_or(AppError::NotFound)?;
    super::db::edit_segment(&state.db, v.asset.id, idx, text).await?;
    spoken_changed(state, v.asset.id, track_id).await;
    Ok(())
}

/// The transcript of `asset_id` changed: the page of every track playing it
/// (not only `track_id`) and the search results go.
async fn spoken_changed(state: &AppState, asset_id: i64, track_id: i64) {
    let mut ids = crate::media::db::tracks_of_asset(&state.db, asset_id)
        .await
        .unwrap_or_default();
    if !ids.contains(&track_id) {
        ids.push(track_id);
    }
    for id in ids {
        state.caches.spoken_changed(id).await;
    }
}

/// Queues every track that has no transcript (admins); how many.
pub async fn request_all(state: &AppState, admin: &Viewer) -> Result<u64, AppError> {
    settings(state)?;
    let assets = super::db::assets_without_transcript(&state.db, 10_000).await?;
    let mut queued = 0;
    for a in assets {
        if state
            .queue
            .enqueue(&job(a, Some(admin.id), false, false))
            .await
            .is_ok()
        {
            queued += 1;
        }
    }
    Ok(queued)
}

/// The transcription section of /admin (`None`: not set up here).
pub async fn stats(state: &AppState) -> Result<Option<super::TranscriptionStats>, AppError> {
    let Some(s) = state.settings.stt.as_ref() else {
        return Ok(None);
    };
    let gate = super::gate::status(&state.db).await?;
    let (queued, running): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END), 0), \
                COALESCE(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0) \
         FROM jobs WHERE kind = $1 AND state IN ('queued', 'running')",
    )
    .bind(TRANSCRIBE)
    .fetch_one(state.db.pool())
    .await?;
    let recent = super::gate::finished_since(&state.db, crate::db::now_ms() - 5 * 60_000).await?;
    let mut latencies: Vec<i64> = recent.iter().map(|(_, ms)| *ms).collect();
    latencies.sort_unstable();
    let at = |q: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i] as f64
    };
    let mut errors: Vec<(String, i64)> =
        ["rate_limited", "server_error", "timeout", "client_error"]
            .iter()
            .map(|class| {
                let n = recent.iter().filter(|(c, _)| c == class).count() as i64;
                (class.to_string(), n)
            })
            .collect();
    errors.retain(|(_, n)| *n > 0);
    let seconds = super::usage::seconds_this_month_all(&state.db).await?;
    Ok(Some(super::TranscriptionStats {
        queued,
        running,
        in_flight: gate.in_flight,
        concurrency: s.concurrency,
        started_last_minute: gate.started_last_minute,
        rate_per_minute: s.rate_per_minute,
        requests: recent.len() as i64,
        p50_ms: at(0.5),
        p95_ms: at(0.95),
        errors,
        breaker: gate.breaker,
        failures_in_a_row: gate.failures,
        paused_for_ms: gate.paused_for_ms,
        minutes_this_month: seconds as f64 / 60.0,
        minutes_per_user: s.minutes_per_month,
    }))
}
