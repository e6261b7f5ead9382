//! /downloads: what the viewer downloaded, newest first, 100 a page. The
//! history keeps a salted hash of the client address, never the address.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::SignInPrompt;
use crate::components::error_note::ErrorNote;
use crate::errors::AppError;
use crate::fmt;
use crate::tracks::api::list_downloads;

#[component]
pub fn DownloadsPage() -> impl IntoView {
    let query = use_query_map();
    let cursor = Memo::new(move |_| query.with(|q| q.get("page")));
    let page = crate::codec::resource(move || cursor.get(), list_downloads);
    view! {
        <Title text="Downloads" />
        <section class="list-head">
            <h1>"Downloads"</h1>
        </section>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) if p.items.is_empty() => view! {
                        <div class="empty" data-testid="no-downloads">
                            <p class="empty-title">"No downloads yet"</p>
                            <p class="muted">"Files you download from a track page are listed here."</p>
                        </div>
                    }.into_any(),
                    Ok(p) => view! {
                        <ul class="track-list" data-testid="downloads">
                            {p.items.into_iter().map(|d| {
                                let what = if d.kind == "stems" { "all stems" } else { "file" };
                                let title = d.track_title.clone().unwrap_or_else(|| "(deleted track)".into());
                                view! {
                                    <li class="track-row" data-testid="download-row">
                                        {match d.track_id {
                                            Some(id) if d.track_title.is_some() => view! { <a class="title" href=format!("/tracks/{id}")>{title}</a> }.into_any(),
                                            _ => view! { <span class="title muted">{title}</span> }.into_any(),
                                        }}
                                        <span class="muted">{d.label.clone()}</span>
                                        <span class="badge">{what}</span>
                                        <span class="date muted">{fmt::date(d.created_at)}</span>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                        {p.next.map(|c| view! {
                            <nav class="pager"><a href=format!("/downloads?page={c}") rel="next" data-testid="next-page">"Older →"</a></nav>
                        })}
                    }.into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInPrompt next="/downloads" /> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
                }
            })}
        </Transition>
    }
}
