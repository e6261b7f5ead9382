//! Server functions for accounts: thin adapters that check who is asking,
//! call `service`, and set cookies / redirects.

use leptos::prelude::*;

use super::{ApiKeyInfo, NewApiKey, Role, UserSummary, Viewer};
use crate::errors::AppError;

#[cfg(feature = "ssr")]
mod wire {
    use http::header::SET_COOKIE;
    use http::request::Parts;
    use leptos::prelude::use_context;
    use leptos_axum::ResponseOptions;

    use crate::auth::session;
    use crate::errors::AppError;
    use crate::state::AppState;

    /// Adds a `Set-Cookie` for the session (empty token clears it).
    pub fn set_session_cookie(state: &AppState, token: Option<&str>) -> Result<(), AppError> {
        let parts = use_context::<Parts>().ok_or(AppError::Internal)?;
        let res = use_context::<ResponseOptions>().ok_or(AppError::Internal)?;
        let secure = session::is_https(&parts.headers, &state.settings);
        let cookie = match token {
            Some(t) => session::session_cookie(t, state.settings.session_ttl, secure),
            None => session::clear_session_cookie(secure),
        };
        let value =
            http::HeaderValue::from_str(&cookie).map_err(|e| AppError::internal("cookie", e))?;
        res.append_header(SET_COOKIE, value);
        Ok(())
    }

    /// Only same-site paths are followed after login, never another origin.
    pub fn safe_next(next: Option<String>) -> String {
        match next {
            Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
            _ => "/".into(),
        }
    }
}

#[server(endpoint = "viewer")]
pub async fn get_viewer() -> Result<Option<Viewer>, AppError> {
    crate::auth::guard::viewer().await
}

#[server(endpoint = "register")]
pub async fn register(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    use crate::auth::{guard, service};
    let state = guard::app_state()?;
    let client = guard::client_info(&state)?;
    let signed = service::register(&state, &email, &password, &client).await?;
    wire::set_session_cookie(&state, Some(&signed.token))?;
    leptos_axum::redirect(&wire::safe_next(next));
    Ok(())
}

#[server(endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    use crate::auth::{guard, service};
    let state = guard::app_state()?;
    let client = guard::client_info(&state)?;
    let signed = service::login(&state, &email, &password, &client).await?;
    wire::set_session_cookie(&state, Some(&signed.token))?;
    leptos_axum::redirect(&wire::safe_next(next));
    Ok(())
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::auth::{guard, service};
    let state = guard::app_state()?;
    let parts = use_context::<http::request::Parts>().ok_or(AppError::Internal)?;
    service::logout(&state, &parts.headers).await?;
    wire::set_session_cookie(&state, None)?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server(endpoint = "api_keys/list")]
pub async fn list_api_keys() -> Result<Vec<ApiKeyInfo>, AppError> {
    use crate::auth::{db, guard};
    let viewer = guard::require_user().await?;
    let state = guard::app_state()?;
    db::list_api_keys(&state.db, viewer.id).await
}

#[server(endpoint = "api_keys/create")]
pub async fn create_api_key(name: String) -> Result<NewApiKey, AppError> {
    use crate::auth::{guard, service};
    let viewer = guard::require_user().await?;
    let state = guard::app_state()?;
    service::create_api_key(&state, &viewer, &name).await
}

#[server(endpoint = "api_keys/revoke")]
pub async fn revoke_api_key(id: i64) -> Result<(), AppError> {
    use crate::auth::{guard, service};
    let viewer = guard::require_user().await?;
    let state = guard::app_state()?;
    service::revoke_api_key(&state, &viewer, id).await
}

#[server(endpoint = "admin/users")]
pub async fn list_users() -> Result<Vec<UserSummary>, AppError> {
    use crate::auth::{db, guard};
    guard::require_admin().await?;
    let state = guard::app_state()?;
    db::list_users(&state.db, 500).await
}

#[server(endpoint = "admin/set_role")]
pub async fn set_user_role(user_id: i64, role: Role) -> Result<(), AppError> {
    use crate::auth::{guard, service};
    let admin = guard::require_admin().await?;
    let state = guard::app_state()?;
    service::set_role(&state, &admin, user_id, role).await
}

/// Storage the viewer uses and the quota that applies, from the usage cache
/// (never by walking files).
#[server(endpoint = "account/storage")]
pub async fn my_storage() -> Result<super::StorageInfo, AppError> {
    use crate::auth::guard;
    let state = guard::app_state()?;
    let viewer = guard::require_user().await?;
    let usage = state.usage.get(&state.db, viewer.id).await?;
    Ok(super::StorageInfo {
        used_bytes: usage.used,
        quota_bytes: usage
            .quota
            .unwrap_or(state.settings.default_quota_bytes as i64),
    })
}
