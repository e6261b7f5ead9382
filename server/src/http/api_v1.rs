//! The machine API (`/api/v1`): authenticated by session cookie or
//! `Authorization: Bearer <key>`.

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::Json;
use http::StatusCode;
use serde::Deserialize;

use app::auth::guard::CurrentUser;
use app::auth::{db, service, ApiKeyInfo, Viewer};
use app::errors::AppError;
use app::state::AppState;

use super::json::ApiJson;

/// Who the credential belongs to.
pub async fn me(CurrentUser(v): CurrentUser) -> Json<Viewer> {
    Json(v)
}

pub async fn list_keys(
    State(state): State<AppState>,
    CurrentUser(v): CurrentUser,
) -> Result<Json<Vec<ApiKeyInfo>>, AppError> {
    Ok(Json(db::list_api_keys(&state.db, v.id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    name: String,
}

pub async fn create_key(
    State(state): State<AppState>,
    CurrentUser(v): CurrentUser,
    ApiJson(body): ApiJson<NewKey>,
) -> Result<impl IntoResponse, AppError> {
    let key = service::create_api_key(&state, &v, &body.name).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

pub async fn revoke_key(
    State(state): State<AppState>,
    CurrentUser(v): CurrentUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    service::revoke_api_key(&state, &v, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
