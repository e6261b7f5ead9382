//! The track lists: `/` (everyone's public tracks) and `/mine` (the viewer's
//! own, any visibility). The URL holds the search, the order and the page
//! (`?q=&sort=&page=`), so a list is shareable and the back button works; the
//! first page is rendered on the server. Typing searches after a 300 ms
//! pause (gloo-timers), one request per pause, never per keystroke; an
//! answer to an older search never replaces a newer one.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::location::Url;
use leptos_router::NavigateOptions;

use crate::components::error_note::ErrorNote;
use crate::fmt;
use crate::tracks::api::list_tracks;
use crate::tracks::{ListQuery, Sort, TrackSummary};

#[component]
pub fn HomePage() -> impl IntoView {
    view! { <TrackList mine=false /> }
}

#[component]
pub fn MinePage() -> impl IntoView {
    view! { <TrackList mine=true /> }
}

/// `?q=&sort=&page=` as a link; empty parts are left out.
fn href(base: &str, q: &str, sort: Sort, page: Option<&str>, per: Option<i64>) -> String {
    let mut parts = Vec::new();
    if let Some(n) = per {
        parts.push(format!("per={n}"));
    }
    if !q.is_empty() {
        parts.push(format!("q={}", Url::escape(q)));
    }
    if sort != Sort::Newest {
        parts.push(format!("sort={}", sort.as_str()));
    }
    if let Some(p) = page {
        parts.push(format!("page={}", Url::escape(p)));
    }
    if parts.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", parts.join("&"))
    }
}

#[component]
fn TrackList(mine: bool) -> impl IntoView {
    let base = if mine { "/mine" } else { "/" };
    let query = use_query_map();
    let list_query = Memo::new(move |_| {
        query.with(|p| ListQuery {
            mine,
            q: p.get_str("q").unwrap_or("").to_string(),
            sort: p.get_str("sort").and_then(Sort::parse).unwrap_or_default(),
            cursor: p.get_str("page").map(str::to_string),
            per: p.get_str("per").and_then(|v| v.parse().ok()),
        })
    });
    let page = crate::codec::resource(move || list_query.get(), list_tracks);
    let pending = RwSignal::new(false);
    // Only the browser shows the spinner. On the server the transition may
    // report "done" after the page's owner is gone, so it reports nowhere.
    #[cfg(feature = "hydrate")]
    let set_pending: SignalSetter<bool> = pending.into();
    #[cfg(not(feature = "hydrate"))]
    let set_pending = SignalSetter::map(|_: bool| {});

    // What is typed, ahead of the URL while the debounce waits.
    let typed = RwSignal::new(list_query.get_untracked().q);
    Effect::new(move |_| typed.set(list_query.get().q));
    let search_seq = StoredValue::new(0u64);
    let navigate = use_navigate();
    let go = {
        let navigate = navigate.clone();
        move |url: String, replace: bool| {
            navigate(
                &url,
                NavigateOptions {
                    replace,
                    scroll: !replace,
                    ..Default::default()
                },
            )
        }
    };
    let on_input = {
        let go = go.clone();
        move |ev: leptos::ev::Event| {
            let text = event_target_value(&ev);
            typed.set(text.clone());
            search_seq.update_value(|n| *n += 1);
            let mine_seq = search_seq.get_value();
            let sort = list_query.get_untracked().sort;
            let per = list_query.get_untracked().per;
            let go = go.clone();
            debounce(300, move || {
                // A later keystroke restarted the wait: this one is stale.
                if search_seq.get_value() == mine_seq {
                    go(href(base, text.trim(), sort, None, per), true);
                }
            });
        }
    };
    let on_sort = {
        let go = go.clone();
        move |ev: leptos::ev::Event| {
            let sort = Sort::parse(&event_target_value(&ev)).unwrap_or_default();
            let lq = list_query.get_untracked();
            go(href(base, &lq.q, sort, None, lq.per), false);
        }
    };
    let searching = move || pending.get() || typed.get().trim() != list_query.get().q.trim();
    let title = if mine { "My tracks" } else { "Tracks" };

    view! {
        <Title text=title />
        <section class="list-head">
            <h1>{title}</h1>
            <form class="list-controls" role="search" on:submit=|ev| ev.prevent_default()>
                <input
                    type="search"
                    name="q"
                    placeholder="Search titles, tags, file names"
                    aria-label="Search tracks"
                    autocomplete="off"
                    data-testid="search"
                    prop:value=move || typed.get()
                    on:input=on_input
                />
                <span class="spinner" data-testid="spinner" class:active=searching aria-hidden="true"></span>
                <button type="button" class="ghost" data-deck="all" data-testid="play-all">"▶ Play all"</button>
                <select aria-label="Sort by" data-testid="sort" on:change=on_sort>
                    {Sort::ALL
                        .into_iter()
                        .map(|s| {
                            view! {
                                <option value=s.as_str() selected=move || list_query.get().sort == s>
                                    {s.label()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </form>
        </section>
        <Transition
            fallback=|| view! { <p class="muted">"Loading…"</p> }
            set_pending
        >
            {move || Suspend::new(async move {
                let lq = list_query.get();
                match page.await {
                    Ok(p) if p.items.is_empty() && lq.cursor.is_none() => {
                        empty_state(mine, !lq.q.is_empty()).into_any()
                    }
                    Ok(p) => {
                        let next = p.next.map(|c| href(base, &lq.q, lq.sort, Some(&c), lq.per));
                        let first = lq.cursor.is_some().then(|| href(base, &lq.q, lq.sort, None, lq.per));
                        view! {
                            <ul class="track-list" data-testid="track-list">
                                {p.items.into_iter().map(|t| track_row(t, mine, &lq.q)).collect_view()}
                            </ul>
                            <nav class="pager" aria-label="Pages">
                                {first.map(|h| view! { <a href=h data-testid="first-page">"← First page"</a> })}
                                {next.map(|h| view! { <a href=h rel="next" data-testid="next-page">"Next page →"</a> })}
                            </nav>
                        }
                            .into_any()
                    }
                    Err(crate::errors::AppError::Unauthorized) => {
                        view! { <super::SignInPrompt next="/mine" /> }.into_any()
                    }
                    Err(e) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Runs `f` after `ms` milliseconds (in the browser; never on the server).
fn debounce(ms: u32, f: impl FnOnce() + 'static) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(ms).await;
        f();
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (ms, f);
}

/// What an empty list says (plain functions here, not components: the
/// track lists are in the first wasm module, where every byte counts).
fn empty_state(mine: bool, searching: bool) -> impl IntoView {
    let (title, text) = match (mine, searching) {
        (_, true) => (
            "Nothing matches",
            "Try fewer or shorter words: every word is matched as a prefix.",
        ),
        (true, false) => (
            "You have no tracks yet",
            "Upload a file and it appears here while it is processed.",
        ),
        (false, false) => (
            "No tracks yet",
            "Public tracks appear here as soon as someone shares one.",
        ),
    };
    view! {
        <div class="empty" data-testid="empty-tracks">
            <p class="empty-title">{title}</p>
            <p class="muted">{text}</p>
            <a class="button" href="/upload">"Upload a track"</a>
        </div>
    }
}

fn track_row(t: TrackSummary, mine: bool, q: &str) -> impl IntoView {
    let duration = t
        .duration_ms
        .map(fmt::duration)
        .unwrap_or_else(|| "processing".to_string());
    // Found by words spoken in it: the link opens the track at that moment
    // with the words highlighted.
    let href = match &t.hit {
        Some(h) => format!(
            "/tracks/{}?t={}&q={}",
            t.id,
            crate::transcripts::moment(h.start_ms),
            Url::escape(q)
        ),
        None => format!("/tracks/{}", t.id),
    };
    let hit = t.hit.map(|h| {
        let at = crate::transcripts::clock(h.start_ms);
        let parts = h.pieces();
        view! {
            <p class="hit small" data-testid="track-hit">
                <span class="muted">{at} " "</span>
                {parts.into_iter().map(|(p, hit)| {
                    if hit { view! { <mark>{p}</mark> }.into_any() } else { p.into_any() }
                }).collect_view()}
            </p>
        }
    });
    let art = crate::components::art::art_thumb(t.art.as_deref(), &t.title);
    let id = t.id;
    let actions = t.duration_ms.map(|_| {
        view! {
            <button class="row-play" data-deck="play" data-id=id aria-label=format!("Play {}", t.title) data-testid="row-play">"▶"</button>
            <button class="row-more" data-deck="next" data-id=id aria-label=format!("Play next: {}", t.title) data-testid="row-next">"⤴"</button>
            <button class="row-more" data-deck="add" data-id=id aria-label=format!("Add to queue: {}", t.title) data-testid="row-add">"+"</button>
        }
    });
    let wave = t.wave.as_deref().map(crate::player::mini_path).map(|d| {
        view! {
            <svg viewBox="0 0 64 52" preserveAspectRatio="none" aria-hidden="true"><path d=d /></svg>
        }
    });
    let tags = match (t.artist.is_empty(), t.tags.is_empty()) {
        (false, false) => format!("{} · {}", t.artist, t.tags),
        (false, true) => t.artist,
        _ => t.tags,
    };
    view! {
        <li class="track-row" data-testid="track-row">
            <span class="row-actions">{actions}</span>
            {art}
            <a class="title" href=href>{t.title}</a>
            <span class="mini-wave" data-testid="row-wave">{wave}</span>
            <span class="tags muted">{tags}</span>
            <span class=mine.then(|| format!("badge vis-{}", t.visibility.as_str()))>{mine.then(|| t.visibility.as_str())}</span>
            <span class="duration">{duration}</span>
            <span class="date muted">{fmt::date(t.created_at)}</span>
            {hit}
        </li>
    }
}
