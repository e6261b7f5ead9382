//! What accounts do, as plain async functions: the server functions and
//! routes are thin adapters over these, and tests call them directly.

use std::time::Duration;

use super::session::{hash_token, new_token, session_token, API_KEY_PREFIX};
use super::throttle::{self, Limit};
use super::{db, password, rules, NewApiKey, Role, Viewer};
use crate::errors::AppError;
use crate::state::AppState;

/// Who is on the other end, for throttling and the session record.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: Option<String>,
}

/// A new session: the viewer and the token to put in the cookie.
#[derive(Debug)]
pub struct SignedIn {
    pub viewer: Viewer,
    pub token: String,
}

/// Validates the input before anything is written.
pub fn check_new_account(email: &str, password: &str) -> Result<String, AppError> {
    let email = rules::normalize_email(email).map_err(AppError::BadRequest)?;
    if let Some(problem) = rules::password_problem(password, &email) {
        return Err(AppError::BadRequest(problem));
    }
    Ok(email)
}

/// Accounts a client address may create in an hour (counted before the
/// account is made; a failed attempt is taken back).
fn registration_limits(state: &AppState, client: &ClientInfo) -> [Limit; 1] {
    [Limit::new(
        "register-ip",
        &client.ip,
        state.settings.register_per_hour,
        Duration::from_secs(3600),
    )]
}

pub async fn register(
    state: &AppState,
    email: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<SignedIn, AppError> {
    let email = check_new_account(email, password)?;
    let limits = registration_limits(state, client);
    throttle::hit(&state.db, &limits).await?;
    let created = async {
        let hash = password::hash(password.to_string()).await?;
        db::create_user(&state.db, &email, &hash, Role::User).await
    }
    .await;
    let id = match created {
        Ok(id) => id,
        Err(e) => {
            throttle::undo(&state.db, &limits).await;
            return Err(e);
        }
    };
    tracing::info!(user.id = id, "account registered");
    start_session(
        state,
        Viewer {
            id,
            email,
            role: Role::User,
        },
        client,
    )
    .await
}

/// The limits a login attempt counts against: failures per account and
/// per client address within the short window, and per account within an
/// hour (ASVS 2.2.1). Emails are counted lowercased.
fn login_limits(state: &AppState, email: &str, client: &ClientInfo) -> [Limit; 3] {
    let s = &state.settings;
    [
        Limit::new("login-acct", email, s.login_max_failures, s.login_window),
        Limit::new("login-ip", &client.ip, s.login_max_failures, s.login_window),
        Limit::new(
            "login-acct-hour",
            email,
            s.login_max_failures_per_hour,
            Duration::from_secs(3600),
        ),
    ]
}

/// Every attempt counts against the limits before the password is checked
/// (so parallel guesses cannot pass together); a successful one is taken
/// back, so only failures add up.
pub async fn login(
    state: &AppState,
    email: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<SignedIn, AppError> {
    let email: String = email.trim().to_lowercase().chars().take(320).collect();
    let limits = login_limits(state, &email, client);
    throttle::hit(&state.db, &limits).await?;
    let row = db::find_for_login(&state.db, &email).await?;
    let ok = password::verify(
        password.to_string(),
        row.as_ref().map(|r| r.password_hash.clone()),
    )
    .await;
    match row {
        Some(r) if ok => {
            throttle::undo(&state.db, &limits).await;
            start_session(
                state,
                Viewer {
                    id: r.id,
                    email,
                    role: r.role,
                },
                client,
            )
            .await
        }
        _ => {
            tracing::info!(client.ip = %client.ip, "failed login");
            Err(AppError::InvalidCredentials)
        }
    }
}

/// Always a fresh random session id, so a session fixed before login is worthless.
async fn start_session(
    state: &AppState,
    viewer: Viewer,
    client: &ClientInfo,
) -> Result<SignedIn, AppError> {
    let token = new_token();
    let ttl_ms = i64::try_from(state.settings.session_ttl.as_millis()).unwrap_or(i64::MAX / 2);
    db::create_session(
        &state.db,
        &hash_token(&token),
        viewer.id,
        ttl_ms,
        client.user_agent.as_deref(),
    )
    .await?;
    Ok(SignedIn { viewer, token })
}

pub async fn logout(state: &AppState, headers: &http::HeaderMap) -> Result<(), AppError> {
    if let Some(token) = session_token(headers, &state.settings) {
        let hash = hash_token(&token);
        db::delete_session(&state.db, &hash).await?;
        state.viewers.invalidate(&hash).await;
        // Every process drops it before the answer (their caches hold
        // resolved sessions for up to 30 s).
        state
            .caches
            .tell_peers(&format!("{}{hash}", crate::tracks::cache::VIEWER))
            .await;
    }
    Ok(())
}

pub async fn create_api_key(
    state: &AppState,
    viewer: &Viewer,
    name: &str,
) -> Result<NewApiKey, AppError> {
    let name = rules::key_name(name).map_err(AppError::BadRequest)?;
    let secret = format!("{API_KEY_PREFIX}{}", new_token());
    let prefix: String = secret.chars().take(API_KEY_PREFIX.len() + 8).collect();
    let key =
        db::insert_api_key(&state.db, viewer.id, &name, &prefix, &hash_token(&secret)).await?;
    tracing::info!(user.id = viewer.id, api_key.id = key.id, "api key created");
    Ok(NewApiKey { key, secret })
}

pub async fn revoke_api_key(
    state: &AppState,
    viewer: &Viewer,
    key_id: i64,
) -> Result<(), AppError> {
    let hash = db::revoke_api_key(&state.db, viewer.id, key_id).await?;
    state.viewers.invalidate(&hash).await;
    tracing::info!(user.id = viewer.id, api_key.id = key_id, "api key revoked");
    Ok(())
}

/// Creates (or promotes) an admin; used by `wavekeep create-admin`.
pub async fn create_admin(
    db: &crate::db::Db,
    email: &str,
    password: &str,
) -> Result<i64, AppError> {
    let email = check_new_account(email, password)?;
    let hash = password::hash(password.to_string()).await?;
    db::upsert_admin(db, &email, &hash).await
}

/// Creates an API key for the account with `email`; used by `wavekeep api-key create`.
pub async fn create_api_key_for_email(
    state: &AppState,
    email: &str,
    name: &str,
) -> Result<NewApiKey, AppError> {
    let email = email.trim().to_lowercase();
    let id = db::user_id_by_email(&state.db, &email)
        .await?
        .ok_or_else(|| AppError::BadRequest(format!("no account with email {email}")))?;
    let viewer = Viewer {
        id,
        email,
        role: Role::User,
    };
    create_api_key(state, &viewer, name).await
}

/// An admin changes someone's role; demoting yourself is refused so an
/// instance cannot lose its last admin by accident.
pub async fn set_role(
    state: &AppState,
    admin: &Viewer,
    user_id: i64,
    role: Role,
) -> Result<(), AppError> {
    if admin.id == user_id && role != Role::Admin {
        return Err(AppError::bad_request(
            "you cannot remove your own admin role",
        ));
    }
    db::set_role(&state.db, user_id, role).await?;
    state.viewers.invalidate_user(user_id);
    state
        .caches
        .tell_peers(&format!("{}{user_id}", crate::tracks::cache::USER))
        .await;
    tracing::info!(
        user.id = user_id,
        role = role.as_str(),
        by = admin.id,
        "role changed"
    );
    Ok(())
}
