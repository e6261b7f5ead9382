//! The track list: public tracks, newest first, from stored metadata only.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::fmt;
use crate::tracks::api::list_public_tracks;
use crate::tracks::TrackSummary;

#[component]
pub fn HomePage() -> impl IntoView {
    let page = Resource::new(|| (), |_| list_public_tracks(None));
    view! {
        <Title text="Tracks" />
        <section class="list-head">
            <h1>"Tracks"</h1>
        </section>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) if p.items.is_empty() => view! { <EmptyState /> }.into_any(),
                    Ok(p) => {
                        view! {
                            <ul class="track-list" data-testid="track-list">
                                {p.items.into_iter().map(|t| view! { <TrackRow t /> }).collect_view()}
                            </ul>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn EmptyState() -> impl IntoView {
    view! {
        <div class="empty" data-testid="empty-tracks">
            <p class="empty-title">"No tracks yet"</p>
            <p class="muted">"Public tracks appear here as soon as someone shares one."</p>
            <a class="button" href="/upload">"Upload a track"</a>
        </div>
    }
}

#[component]
fn TrackRow(t: TrackSummary) -> impl IntoView {
    let duration = t
        .duration_ms
        .map(fmt::duration)
        .unwrap_or_else(|| "processing".to_string());
    view! {
        <li class="track-row">
            <span class="title">{t.title}</span>
            <span class="tags muted">{t.tags}</span>
            <span class="duration">{duration}</span>
            <span class="date muted">{fmt::date(t.created_at)}</span>
        </li>
    }
}
