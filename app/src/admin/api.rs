//! Server functions of the /admin page. Every one answers 401 to visitors
//! and 403 to users who are not admins.

use leptos::prelude::*;

use super::{JobRow, Performance, StorageRefresh};
use crate::errors::AppError;

#[server(endpoint = "dashboard/performance")]
pub async fn dashboard() -> Result<Performance, AppError> {
    use crate::auth::guard;
    guard::require_admin().await?;
    let state = guard::app_state()?;
    super::snapshot::performance(&state).await
}

#[server(endpoint = "dashboard/retry")]
pub async fn retry_job(id: i64) -> Result<JobRow, AppError> {
    use crate::auth::guard;
    guard::require_admin().await?;
    let state = guard::app_state()?;
    super::retry(&state, id).await
}

#[server(endpoint = "dashboard/cancel")]
pub async fn cancel_job(id: i64) -> Result<JobRow, AppError> {
    use crate::auth::guard;
    guard::require_admin().await?;
    let state = guard::app_state()?;
    super::db::cancel(&state.db, id).await
}

#[server(endpoint = "dashboard/discard")]
pub async fn discard_job(id: i64) -> Result<(), AppError> {
    use crate::auth::guard;
    guard::require_admin().await?;
    let state = guard::app_state()?;
    super::db::discard(&state.db, id).await
}

#[server(endpoint = "dashboard/pause")]
pub async fn pause_kind(kind: String, paused: bool) -> Result<(), AppError> {
    use crate::auth::guard;
    let admin = guard::require_admin().await?;
    let state = guard::app_state()?;
    super::db::set_paused(&state.db, &kind, paused, admin.id).await?;
    state.queue.wake().notify_waiters();
    Ok(())
}

#[server(endpoint = "dashboard/refresh_storage")]
pub async fn refresh_storage(user_id: i64) -> Result<StorageRefresh, AppError> {
    use crate::auth::guard;
    guard::require_admin().await?;
    let state = guard::app_state()?;
    super::refresh_storage(&state, user_id).await
}
