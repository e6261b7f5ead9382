//! One file per page.

pub mod account;
pub mod admin;
pub mod calls;
pub mod downloads;
pub mod home;
pub mod login;
pub mod not_found;
pub mod register;
pub mod track;
pub mod upload;

use leptos::prelude::*;

/// Sets the HTTP status of a server-rendered page (no-op in the browser).
pub fn set_page_status(code: u16) {
    #[cfg(feature = "ssr")]
    if let (Some(res), Ok(status)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(code),
    ) {
        res.set_status(status);
    }
    #[cfg(not(feature = "ssr"))]
    let _ = code;
}

/// What a page shows a signed-out visitor: a link to log in and come back.
#[component]
pub fn SignInPrompt(#[prop(into)] next: String) -> impl IntoView {
    set_page_status(401);
    let href = format!("/login?next={next}");
    view! {
        <section class="card narrow">
            <h1>"Please log in"</h1>
            <p>"This page is for signed-in users."</p>
            <a class="button" href=href data-testid="login-link">
                "Log in"
            </a>
        </section>
    }
}
