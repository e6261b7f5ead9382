//! The login page.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::error_note::{action_error, ErrorNote};
use crate::components::password_field::PasswordField;
use crate::providers::auth::use_auth;

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = use_auth().login();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let error = action_error(action.value());
    view! {
        <Title text="Log in" />
        <section class="card narrow">
            <h1>"Log in"</h1>
            <ActionForm action=action attr:class="form" attr:data-testid="login-form">
                <input type="hidden" name="next" prop:value=next />
                <label class="field">
                    <span>"Email"</span>
                    <input type="email" name="email" required autocomplete="email" data-testid="email" />
                </label>
                <PasswordField label="Password" name="password" autocomplete="current-password" />
                <button type="submit" data-testid="submit">"Log in"</button>
                <ErrorNote error attr:data-testid="form-error" />
            </ActionForm>
            <p class="muted">"New here? " <a href="/register">"Create an account"</a></p>
        </section>
    }
}
