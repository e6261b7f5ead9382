//! /upload: drop (or pick) any number of audio files; each becomes a track.
//! Uploads are resumable (tus): 5 MB chunks, four in flight for large files,
//! pause and resume, automatic retries when the network drops, and an
//! unfinished upload continues where it stopped when the same file is added
//! again after a reload. The transfer itself is tus-js-client, driven through
//! `public/js/uploader.js`; this page keeps the state and draws it.

use leptos::prelude::*;
use leptos_meta::{Script, Title};

use super::SignInPrompt;
use crate::components::error_note::ErrorNote;
use crate::components::uploader::Uploader;
use crate::providers::auth::use_auth;

#[component]
pub fn UploadPage() -> impl IntoView {
    let viewer = use_auth().page_viewer();
    view! {
        <Title text="Upload" />
        <Script src="/vendor/tus.min.js" defer="defer" />
        <Script src="/js/uploader.js" defer="defer" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Some(_)) => view! { <Uploader /> }.into_any(),
                    Ok(None) => view! { <SignInPrompt next="/upload" /> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
                }
            })}
        </Suspense>
    }
}
