//! The machine API for transcripts: `POST /api/v1/tracks/{id}/transcribe`
//! (the owner or an admin asks for one; 202) and
//! `GET /api/v1/tracks/{id}/transcript?format=json|txt|srt|vtt` (as the
//! track: a private track's transcript is 404 to others).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderValue, StatusCode};
use serde::Deserialize;

use app::auth::guard::{CurrentUser, MaybeUser};
use app::errors::AppError;
use app::state::AppState;
use app::transcripts::{self as tr, Format};

#[derive(Debug, Default, Deserialize)]
pub struct TranscribeBody {
    #[serde(default)]
    replace_edits: bool,
}

pub async fn transcribe(
    State(state): State<AppState>,
    CurrentUser(viewer): CurrentUser,
    Path(id): Path<i64>,
    body: Option<Json<TranscribeBody>>,
) -> Result<Response, AppError> {
    let replace = body.map(|b| b.replace_edits).unwrap_or(false);
    tr::service::request(&state, &viewer, id, replace).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "status": "queued", "url": format!("/api/v1/tracks/{id}/transcript") })),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    format: Option<String>,
}

pub async fn transcript(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<i64>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, AppError> {
    let format = match q.format.as_deref() {
        None | Some("") => Format::Json,
        Some(f) => Format::parse(f)
            .ok_or_else(|| AppError::bad_request("format must be json, txt, srt or vtt"))?,
    };
    let (track, t) = tr::service::transcript(&state, viewer.as_ref(), id).await?;
    let body = match format {
        Format::Json => json_export(&state, &track, &t).await?,
        Format::Txt => tr::to_txt(&t.segments),
        Format::Srt => tr::to_srt(&t.segments),
        Format::Vtt => tr::to_vtt(&t.segments),
    };
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if format != Format::Json {
        let name = app::tracks::links::safe_name(&track.slug, None);
        if let Ok(v) = HeaderValue::from_str(&format!(
            "attachment; filename=\"{name}.{}\"",
            format.extension()
        )) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(res)
}

/// The whole transcript as JSON: segments (times in ms and in seconds, as
/// the provider's own JSON has them) and, when the provider gave them, words.
async fn json_export(
    state: &AppState,
    track: &app::tracks::TrackDetail,
    t: &tr::Transcript,
) -> Result<String, AppError> {
    let words = match track.primary() {
        Some(v) => tr::db::words(&state.db, v.asset.id).await?,
        None => Vec::new(),
    };
    serde_json::to_string(&serde_json::json!({
        "language": t.language,
        "model": t.model,
        "duration_ms": t.duration_ms,
        "text": t.segments.iter().map(|s| s.text.trim()).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" "),
        "segments": t.segments.iter().map(|s| serde_json::json!({
            "start_ms": s.start_ms,
            "end_ms": s.end_ms,
            "start": s.start_ms as f64 / 1000.0,
            "end": s.end_ms as f64 / 1000.0,
            "text": s.text,
            "edited": s.edited,
        })).collect::<Vec<_>>(),
        "words": words.iter().map(|(segment, start, end, word)| serde_json::json!({
            "segment": segment,
            "start_ms": start,
            "end_ms": end,
            "word": word,
        })).collect::<Vec<_>>(),
    }))
    .map_err(|e| AppError::internal("encoding a transcript", e))
}
