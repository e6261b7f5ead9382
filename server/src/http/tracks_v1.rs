//! The machine API for reading tracks: `GET /api/v1/tracks` (the listing
//! as JSON), `GET /api/v1/tracks/{id}` (the track with its metadata and
//! each job's state), `…/peaks` and `…/events`. (Uploading is the
//! `uploads` room's `multipart`.)

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

use app::auth::guard::MaybeUser;
use app::auth::Viewer;
use app::errors::AppError;
use app::files::Derived;
use app::state::AppState;
use app::tracks::{TrackDetail, TrackProgress};

/// The track if `viewer` may see it: owners and admins always, others when
/// it is not private. Hidden tracks answer 404 like missing ones.
pub async fn visible_track(
    state: &AppState,
    viewer: Option<&Viewer>,
    id: i64,
) -> Result<TrackDetail, AppError> {
    app::tracks::api::visible_detail(state, viewer, id).await
}

/// A track as the machine API shows it: everything on its page plus the
/// stems of every version.
#[derive(Debug, Serialize)]
pub struct TrackJson {
    #[serde(flatten)]
    pub track: TrackDetail,
    pub stems: Vec<app::tracks::StemInfo>,
}

pub async fn get(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<i64>,
) -> Result<Json<TrackJson>, AppError> {
    let track = visible_track(&state, viewer.as_ref(), id).await?;
    let stems = app::tracks::db::stems_of_track(&state.db, id).await?;
    Ok(Json(TrackJson { track, stems }))
}

/// `GET /api/v1/tracks?q=&sort=&page=&mine=1`: the listing as JSON (the
/// same cached pages as the track list).
#[derive(Deserialize)]
pub struct ListParams {
    q: Option<String>,
    sort: Option<String>,
    page: Option<String>,
    mine: Option<String>,
    per: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Query(p): Query<ListParams>,
    headers: http::HeaderMap,
) -> Result<Response, AppError> {
    let mine = matches!(p.mine.as_deref(), Some("1" | "true" | "yes"));
    let owner = if mine {
        Some(viewer.as_ref().ok_or(AppError::Unauthorized)?.id)
    } else {
        None
    };
    let sort = match p.sort.as_deref() {
        None | Some("") => app::tracks::Sort::Newest,
        Some(s) => app::tracks::Sort::parse(s).ok_or_else(|| {
            AppError::bad_request("sort must be \"newest\", \"title\" or \"duration\"")
        })?,
    };
    let query = app::tracks::ListQuery {
        mine,
        q: p.q.unwrap_or_default(),
        sort,
        cursor: p.page.filter(|c| !c.is_empty()),
        per: p.per,
    };
    let key = app::tracks::api::list_key(owner, query);
    // The encoded answer is reused until a change comes after the page it
    // encodes was looked up (a change moves the epoch on).
    let caches = &state.caches;
    let before = caches.epoch_for(&key.1);
    if let Some(e) = caches.json_for(&key.1).get(&key).await {
        if e.epoch == before {
            return Ok(encoded_response(&e, &headers));
        }
    }
    let page = app::tracks::api::list_cached(&state, owner, key.1.clone()).await?;
    let encoded = std::sync::Arc::new(encode_page(&page, before)?);
    caches.json_for(&key.1).insert(key, encoded.clone()).await;
    Ok(encoded_response(&encoded, &headers))
}

/// JSON, its gzip form (best compression, paid once per cached page) and
/// a strong ETag.
fn encode_page(
    page: &app::tracks::TrackPage,
    epoch: u64,
) -> Result<app::tracks::cache::EncodedPage, AppError> {
    use sha2::Digest;
    use std::io::Write;
    let json = serde_json::to_vec(page).map_err(|e| AppError::internal("encoding a listing", e))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&json)
        .map_err(|e| AppError::internal("compressing a listing", e))?;
    let gzip = gz
        .finish()
        .map_err(|e| AppError::internal("compressing a listing", e))?;
    let etag = format!("\"{}\"", hex::encode(&sha2::Sha256::digest(&json)[..12]));
    Ok(app::tracks::cache::EncodedPage {
        epoch,
        json: json.into(),
        gzip: gzip.into(),
        etag,
    })
}

/// Whether the client takes gzip (`Accept-Encoding`, a zero weight refuses).
fn accepts_gzip(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// 304 when `If-None-Match` names either form's tag; else the gzip form
/// when the client takes it, the JSON otherwise.
fn encoded_response(e: &app::tracks::cache::EncodedPage, headers: &http::HeaderMap) -> Response {
    let gzip = accepts_gzip(headers);
    let tag = if gzip {
        format!("{}-gz\"", e.etag.trim_end_matches('"'))
    } else {
        e.etag.clone()
    };
    let revalidated = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|list| {
            super::etag::matches(list, &tag) || super::etag::matches(list, &e.etag)
        });
    let mut res = if revalidated {
        StatusCode::NOT_MODIFIED.into_response()
    } else if gzip {
        let mut r = e.gzip.clone().into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        e.json.clone().into_response()
    };
    let h = res.headers_mut();
    if !revalidated {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    res
}

#[derive(Deserialize)]
pub struct PeaksQuery {
    /// `overview` (default, about 1,000 points) or `fine`.
    zoom: Option<String>,
}

pub async fn peaks(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<i64>,
    Query(q): Query<PeaksQuery>,
) -> Result<Response, AppError> {
    let t = visible_track(&state, viewer.as_ref(), id).await?;
    let file = match q.zoom.as_deref() {
        None | Some("overview") => Derived::PeaksOverview,
        Some("fine") => Derived::PeaksFine,
        Some(_) => {
            return Err(AppError::bad_request(
                "zoom must be \"overview\" or \"fine\"",
            ))
        }
    };
    let version = t.primary().ok_or(AppError::NotFound)?;
    if let Some(err) = &version.asset.processing_error {
        return Err(AppError::Conflict(format!(
            "this track has no waveform: {err}"
        )));
    }
    if !version.asset.peaks_ready {
        return Err(AppError::Conflict(
            "the waveform is still being computed; try again shortly".into(),
        ));
    }
    let sha = app::tracks::db::asset_sha256(&state.db, version.asset.id).await?;
    let body = state
        .files
        .read_derived(&sha, file)
        .await
        .map_err(|e| AppError::internal("reading peaks", e))?
        .ok_or_else(|| AppError::internal("reading peaks", "the peaks file is missing"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "private, no-cache"),
        ],
        body,
    )
        .into_response())
}

/// `GET /api/v1/tracks/{id}/events`: server-sent events with the track's
/// processing state (each job's state and progress, a transcript's too)
/// whenever it changes, until the track is ready or failed and no job is
/// left. Works across processes: the state is read
/// from the database, twice a second, only while someone listens.
pub async fn events(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let first = visible_track(&state, viewer.as_ref(), id).await?;
    // A stopping server ends the stream (the page reconnects elsewhere).
    let stopped = state.stopped();
    let start = (Some(first), None::<TrackProgress>, false);
    let stream = futures::stream::unfold(start, move |(next, last, finished)| {
        let state = state.clone();
        async move {
            if finished {
                return None;
            }
            let mut next = next;
            loop {
                let t = match next.take() {
                    Some(t) => t,
                    None => {
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        match app::tracks::db::get_detail(&state.db, id).await {
                            Ok(Some(t)) => t,
                            Ok(None) => return None,
                            Err(_) => continue,
                        }
                    }
                };
                let p = TrackProgress::from(&t);
                if last.as_ref() == Some(&p) {
                    continue;
                }
                // Until the track is ready or failed and no job works on it
                // (a transcript can follow the media jobs).
                let done = p.status != "processing"
                    && !p.jobs.iter().any(|j| {
                        matches!(
                            j.state,
                            app::jobs::JobState::Queued | app::jobs::JobState::Running
                        )
                    });
                let event = Event::default()
                    .event(if done { "done" } else { "progress" })
                    .json_data(&p)
                    .unwrap_or_default();
                return Some((
                    Ok::<_, std::convert::Infallible>(event),
                    (None, Some(p), done),
                ));
            }
        }
    });
    let stream = futures::StreamExt::take_until(stream, stopped);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
