//! The admin API (`/api/admin/...`, admins only: 401 anonymous, 403 users),
//! the dashboard's event stream, and the public queue status.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures::Stream;
use http::StatusCode;
use serde::Deserialize;

use app::admin::{self, db as admin_db, snapshot, JobRow, Performance, QueueStatus};
use app::auth::guard::{AdminUser, MaybeUser};
use app::errors::AppError;
use app::jobs::db::Enqueued;
use app::state::AppState;

use super::json::ApiJson;

/// How often the dashboard's stream sends a fresh snapshot.
pub const EVENT_EVERY: Duration = Duration::from_secs(1);

pub async fn performance(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> Result<Json<Performance>, AppError> {
    Ok(Json(snapshot::performance(&state).await?))
}

/// Public totals; admins also get per-kind detail and the failed jobs.
pub async fn queue_status(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
) -> Result<Json<QueueStatus>, AppError> {
    let admin = viewer.is_some_and(|v| v.is_admin());
    Ok(Json(snapshot::queue_status(&state, admin).await?))
}

/// Server-sent events: one `performance` event right away, then one a
/// second (each a whole snapshot, so a reconnecting page needs nothing else).
pub async fn events(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stopped = state.stopped();
    let stream = futures::stream::unfold(
        (state, tokio::time::interval(EVENT_EVERY)),
        |(state, mut every)| async move {
            every.tick().await;
            let event = match snapshot::performance(&state).await {
                Ok(perf) => match Event::default().event("performance").json_data(&perf) {
                    Ok(e) => e,
                    Err(e) => Event::default().event("failure").data(e.to_string()),
                },
                Err(e) => Event::default().event("failure").data(e.to_string()),
            };
            Some((Ok(event), (state, every)))
        },
    );
    // A stopping server ends the stream (the dashboard reconnects).
    let stream = futures::StreamExt::take_until(stream, stopped);
    Sse::new(stream).keep_alive(KeepAlive::default())
}

pub async fn refresh_storage(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(user_id): Path<i64>,
) -> Result<Json<admin::StorageRefresh>, AppError> {
    Ok(Json(admin::refresh_storage(&state, user_id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAdminJob {
    kind: String,
    /// An asset id (metadata, waveform, preview) or a user id (storage).
    target: Option<i64>,
    max_attempts: Option<i64>,
}

/// Queues a job of a kind for a target: 201 with the job, or 200 with the
/// identical job already queued.
pub async fn enqueue(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    ApiJson(body): ApiJson<NewAdminJob>,
) -> Result<impl IntoResponse, AppError> {
    let job = admin_db::admin_job(&state.db, &body.kind, body.target, body.max_attempts).await?;
    let res = state.queue.enqueue(&job).await?;
    let row = admin_db::job(&state.db, res.id()).await?;
    let status = match res {
        Enqueued::Created(_) => StatusCode::CREATED,
        Enqueued::Duplicate(_) => StatusCode::OK,
    };
    Ok((status, Json(row)))
}

#[derive(Deserialize)]
pub struct JobsQuery {
    state: Option<String>,
}

/// Recent jobs, or the dead ones (`?state=dead`).
pub async fn jobs(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    axum::extract::Query(q): axum::extract::Query<JobsQuery>,
) -> Result<Json<Vec<JobRow>>, AppError> {
    let rows = match q.state.as_deref() {
        None => admin_db::recent_jobs(&state.db, 100).await?,
        Some("dead") => admin_db::failed_jobs(&state.db, 100).await?,
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "state must be dead or absent, not {other:?}"
            )))
        }
    };
    Ok(Json(rows))
}

pub async fn job(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<JobRow>, AppError> {
    Ok(Json(admin_db::job(&state.db, id).await?))
}

pub async fn retry(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<JobRow>, AppError> {
    Ok(Json(admin::retry(&state, id).await?))
}

pub async fn cancel(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<JobRow>, AppError> {
    Ok(Json(admin_db::cancel(&state.db, id).await?))
}

/// Discards (deletes) a finished job.
pub async fn discard(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    admin_db::discard(&state.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn pause(
    State(state): State<AppState>,
    AdminUser(v): AdminUser,
    Path(kind): Path<String>,
) -> Result<StatusCode, AppError> {
    admin_db::set_paused(&state.db, &kind, true, v.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn resume(
    State(state): State<AppState>,
    AdminUser(v): AdminUser,
    Path(kind): Path<String>,
) -> Result<StatusCode, AppError> {
    admin_db::set_paused(&state.db, &kind, false, v.id).await?;
    state.queue.wake().notify_waiters();
    Ok(StatusCode::NO_CONTENT)
}
