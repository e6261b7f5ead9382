//! The one place that answers "who is asking": helpers for server functions
//! and extractors for plain axum routes. Anonymous → 401, not allowed → 403.

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use leptos::prelude::use_context;

use super::service::ClientInfo;
use super::{session, Viewer};
use crate::errors::AppError;
use crate::state::AppState;

pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>()
        .ok_or_else(|| AppError::internal("server function", "AppState not provided"))
}

fn request_parts() -> Result<Parts, AppError> {
    use_context::<Parts>()
        .ok_or_else(|| AppError::internal("server function", "request parts not provided"))
}

/// The viewer of the current server-function call, if signed in.
pub async fn viewer() -> Result<Option<Viewer>, AppError> {
    let state = app_state()?;
    let parts = request_parts()?;
    session::resolve(&state, &parts.headers).await
}

pub async fn require_user() -> Result<Viewer, AppError> {
    viewer().await?.ok_or(AppError::Unauthorized)
}

pub async fn require_admin() -> Result<Viewer, AppError> {
    let v = require_user().await?;
    if v.is_admin() {
        Ok(v)
    } else {
        Err(AppError::Forbidden)
    }
}

/// Client address and user agent of the current call.
pub fn client_info(state: &AppState) -> Result<ClientInfo, AppError> {
    let parts = request_parts()?;
    Ok(client_info_from(&parts, state))
}

pub fn client_info_from(parts: &Parts, state: &AppState) -> ClientInfo {
    ClientInfo {
        ip: session::client_ip(&parts.headers, &parts.extensions, &state.settings),
        user_agent: parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

/// Extractor: the signed-in viewer (cookie or bearer key), else 401.
pub struct CurrentUser(pub Viewer);

/// Extractor: the viewer when signed in, `None` for anonymous requests.
pub struct MaybeUser(pub Option<Viewer>);

impl<S> FromRequestParts<S> for MaybeUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        Ok(MaybeUser(session::resolve(&state, &parts.headers).await?))
    }
}

/// Extractor: a signed-in admin, else 401/403.
pub struct AdminUser(pub Viewer);

impl<S> FromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        session::resolve(&state, &parts.headers)
            .await?
            .map(CurrentUser)
            .ok_or(AppError::Unauthorized)
    }
}

impl<S> FromRequestParts<S> for AdminUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let CurrentUser(v) = CurrentUser::from_request_parts(parts, state).await?;
        if v.is_admin() {
            Ok(AdminUser(v))
        } else {
            Err(AppError::Forbidden)
        }
    }
}
