//! The admin dashboard's panels: the overview (alerts, tiles, charts), the
//! job queue, the system (routes, caches, process, disk) and the users.
//! `routes/admin.rs` composes them into the page.

mod jobs;
mod overview;
mod system;
mod users;

pub use jobs::{FailedJobs, Kinds, RecentJobs};
pub use overview::{Alerts, Charts, Tiles};
pub use system::{Caches, Routes, System};
pub use users::Users;

use leptos::prelude::*;

use crate::errors::AppError;

/// The error of an action's latest run, if it failed.
pub fn action_error<T: Clone + Send + Sync + 'static>(
    value: impl Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
) -> impl Fn() -> Option<String> + Send + Sync + 'static {
    move || value.get().and_then(|r| r.err()).map(|e| e.to_string())
}
