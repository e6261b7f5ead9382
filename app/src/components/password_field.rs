//! A password input with a show / hide toggle (works once hydrated).

use leptos::prelude::*;

#[component]
pub fn PasswordField(
    #[prop(into)] label: String,
    name: &'static str,
    autocomplete: &'static str,
    #[prop(optional, into)] on_value: Option<Callback<String>>,
) -> impl IntoView {
    let (shown, set_shown) = signal(false);
    view! {
        <label class="field">
            <span>{label}</span>
            <span class="with-toggle">
                <input
                    type=move || if shown.get() { "text" } else { "password" }
                    name=name
                    required
                    autocomplete=autocomplete
                    data-testid=name
                    on:input=move |ev| {
                        if let Some(cb) = on_value {
                            cb.run(event_target_value(&ev));
                        }
                    }
                />
                <button
                    type="button"
                    class="ghost small"
                    data-testid="toggle-password"
                    aria-pressed=move || shown.get().to_string()
                    on:click=move |_| set_shown.update(|s| *s = !*s)
                >
                    {move || if shown.get() { "Hide" } else { "Show" }}
                </button>
            </span>
        </label>
    }
}
