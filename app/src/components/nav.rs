//! The top bar: Tracks, Upload, Account, Admin (admins only), log in / out.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::components::A;

use crate::auth::api::Logout;
use crate::providers::auth::use_auth;

#[component]
pub fn Nav() -> impl IntoView {
    let auth = use_auth();
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"◖◗"</span>
                "wavekeep"
            </a>
            <nav class="links" aria-label="Main">
                <A href="/">"Tracks"</A>
                <A href="/upload">"Upload"</A>
                <A href="/calls">"Calls"</A>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match auth.viewer.await {
                                Ok(Some(v)) => {
                                    let admin = v.is_admin();
                                    view! {
                                        <A href="/mine">"My tracks"</A>
                                        <A href="/downloads">"Downloads"</A>
                                        <A href="/account">"Account"</A>
                                        <Show when=move || admin>
                                            <A href="/admin">"Admin"</A>
                                        </Show>
                                        <span class="who" data-testid="who">{v.email.clone()}</span>
                                        // A plain form (it works before the wasm loads)
                                        // that the logout action takes over once hydrated;
                                        // logout has no fields, so no ActionForm is needed.
                                        <form
                                            method="post"
                                            action=Logout::url()
                                            on:submit=move |ev| {
                                                ev.prevent_default();
                                                auth.logout.dispatch(Logout {});
                                            }
                                        >
                                            <button type="submit" class="ghost" data-testid="logout">
                                                "Log out"
                                            </button>
                                        </form>
                                    }
                                        .into_any()
                                }
                                _ => {
                                    view! {
                                        <A href="/mine">"My tracks"</A>
                                        <A href="/downloads">"Downloads"</A>
                                        <A href="/account">"Account"</A>
                                        <A href="/login">"Log in"</A>
                                        <A href="/register" attr:class="button">"Register"</A>
                                    }
                                        .into_any()
                                }
                            }
                    })}
                </Transition>
            </nav>
        </header>
    }
}
