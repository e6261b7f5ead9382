//! /upload: signed-in users only. The resumable uploader arrives with the
//! upload pipeline; until then the page says so plainly.

use leptos::prelude::*;
use leptos_meta::Title;

use super::SignInPrompt;
use crate::providers::auth::use_auth;

#[component]
pub fn UploadPage() -> impl IntoView {
    let viewer = use_auth().page_viewer();
    view! {
        <Title text="Upload" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Some(_)) => view! {
                        <section class="card narrow" data-testid="upload-unavailable">
                            <h1>"Upload"</h1>
                            <p>"Uploading is not enabled on this server yet."</p>
                        </section>
                    }
                    .into_any(),
                    Ok(None) => view! { <SignInPrompt next="/upload" /> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}
