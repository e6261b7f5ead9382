//! An error as people read it: one paragraph, announced to screen readers.

use leptos::prelude::*;

use crate::errors::AppError;

/// `error` in a paragraph with `role="alert"`: every page's error line. A
/// test id or other attributes go on with `attr:` at the call site.
#[component]
pub fn ErrorNote(error: impl IntoView + 'static) -> impl IntoView {
    view! { <p class="error" role="alert">{error}</p> }
}

/// The error of an action's latest run, if it failed (for an `ErrorNote`).
pub fn action_error<T: Clone + Send + Sync + 'static>(
    value: impl Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
) -> impl Fn() -> Option<String> + Send + Sync + 'static {
    move || value.get().and_then(|r| r.err()).map(|e| e.to_string())
}
