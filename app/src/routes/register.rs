//! The registration page, with the password rules checked as you type.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::auth::rules;
use crate::components::error_note::{action_error, ErrorNote};
use crate::components::password_field::PasswordField;
use crate::providers::auth::use_auth;

#[component]
pub fn RegisterPage() -> impl IntoView {
    let action = use_auth().register();
    let (email, set_email) = signal(String::new());
    let (password, set_password) = signal(String::new());
    let hint = move || {
        let pw = password.get();
        if pw.is_empty() {
            format!("At least {} characters.", rules::PASSWORD_MIN)
        } else {
            rules::password_problem(&pw, &email.get())
                .map(|p| format!("Not yet: {p}."))
                .unwrap_or_else(|| "Looks good.".to_string())
        }
    };
    let error = action_error(action.value());
    view! {
        <Title text="Register" />
        <section class="card narrow">
            <h1>"Create an account"</h1>
            <ActionForm action=action attr:class="form" attr:data-testid="register-form">
                <label class="field">
                    <span>"Email"</span>
                    <input
                        type="email"
                        name="email"
                        required
                        autocomplete="email"
                        data-testid="email"
                        on:input=move |ev| set_email.set(event_target_value(&ev))
                    />
                </label>
                <PasswordField
                    label="Password"
                    name="password"
                    autocomplete="new-password"
                    on_value=Callback::new(move |v| set_password.set(v))
                />
                <p class="hint" data-testid="password-hint" aria-live="polite">{hint}</p>
                <button type="submit" data-testid="submit">"Create account"</button>
                <ErrorNote error attr:data-testid="form-error" />
            </ActionForm>
            <p class="muted">"Have an account? " <a href="/login">"Log in"</a></p>
        </section>
    }
}
