//! An error as people read it: one paragraph, announced to screen readers.

use leptos::prelude::*;

/// `error` in a paragraph with `role="alert"`: every page's error line. A
/// test id or other attributes go on with `attr:` at the call site.
#[component]
pub fn ErrorNote(error: impl IntoView + 'static) -> impl IntoView {
    view! { <p class="error" role="alert">{error}</p> }
}
