//! /calls — radio calls, newest first, filtered by system and talkgroup, in
//! keyset pages. While it is open, new calls appear at the top within a
//! second (the change feed, `/api/v1/changes`, over server-sent events);
//! "Listen live" plays each call that arrives, in order, with skip and
//! pause, and shows its transcript when there is one. The page never holds
//! more than `MAX_LIVE` arrived calls (older ones are a page away), so a
//! busy system running all day does not grow the page without bound.

use std::collections::VecDeque;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::calls::api::{list_calls, play_call};
use crate::calls::{CallRow, LiveCall};
use crate::components::error_note::ErrorNote;
use crate::fmt;

/// Arrived calls kept on the page (the oldest go first).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const MAX_LIVE: usize = 200;
/// Calls waiting to be played while listening live (the oldest are dropped).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const MAX_QUEUE: usize = 100;

#[derive(Clone, Copy)]
struct Live {
    /// Calls that arrived while the page was open, newest first.
    rows: RwSignal<Vec<CallRow>>,
    listening: RwSignal<bool>,
    /// Arrived calls not yet played (oldest first).
    queue: RwSignal<VecDeque<i64>>,
    playing: RwSignal<Option<LiveCall>>,
    paused: RwSignal<bool>,
    audio: NodeRef<leptos::html::Audio>,
}

fn parse(v: Option<String>) -> Option<i64> {
    v.and_then(|v| v.trim().parse::<i64>().ok())
}

#[component]
pub fn CallsPage() -> impl IntoView {
    let query = use_query_map();
    let system = move || query.with(|q| parse(q.get("system")));
    let talkgroup = move || query.with(|q| parse(q.get("talkgroup")));
    let cursor = move || query.with(|q| q.get("cursor").filter(|c| !c.is_empty()));
    let day = move |k: &'static str| query.with(|q| q.get(k).filter(|d| !d.is_empty()));
    let page = crate::codec::resource(
        move || (system(), talkgroup(), day("from"), day("to"), cursor()),
        |(s, t, f, to, c)| list_calls(s, t, f, to, c),
    );
    let live = Live {
        rows: RwSignal::new(Vec::new()),
        listening: RwSignal::new(false),
        queue: RwSignal::new(VecDeque::new()),
        playing: RwSignal::new(None),
        paused: RwSignal::new(false),
        audio: NodeRef::new(),
    };
    // New calls arrive on the newest page, unless a last day is chosen.
    #[cfg(feature = "hydrate")]
    follow(
        live,
        system,
        talkgroup,
        move || cursor().or_else(|| day("to")),
        move |id| {
            page.with_untracked(
                |p| matches!(p, Some(Ok(p)) if p.items.iter().any(|c| c.track_id == id)),
            )
        },
    );
    let filter_value = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();

    view! {
        <Title text="Calls" />
        <section class="card calls" data-testid="calls-page">
            <div class="calls-head">
                <h1>"Calls"</h1>
                <form method="get" action="/calls" class="call-filters" role="search">
                    <label>"System " <input name="system" inputmode="numeric" size="6" value=filter_value(system()) data-testid="filter-system" /></label>
                    <label>"Talkgroup " <input name="talkgroup" inputmode="numeric" size="8" value=filter_value(talkgroup()) data-testid="filter-talkgroup" /></label>
                    <label>"From " <input name="from" type="date" value=day("from").unwrap_or_default() data-testid="filter-from" /></label>
                    <label>"To " <input name="to" type="date" value=day("to").unwrap_or_default() data-testid="filter-to" /></label>
                    <button type="submit" class="small">"Filter"</button>
                    {(system().is_some() || talkgroup().is_some() || day("from").is_some() || day("to").is_some())
                        .then(|| view! { <a href="/calls">"All calls"</a> })}
                </form>
            </div>
            <ListenBar live />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(p) => {
                            let first = cursor().is_none();
                            let next = p.next.clone().map(|c| {
                                let mut href = format!("/calls?cursor={}", urlencode(&c));
                                if let Some(s) = system() { href.push_str(&format!("&system={s}")); }
                                if let Some(t) = talkgroup() { href.push_str(&format!("&talkgroup={t}")); }
                                for k in ["from", "to"] {
                                    if let Some(d) = day(k) { href.push_str(&format!("&{k}={}", urlencode(&d))); }
                                }
                                href
                            });
                            let seen: Vec<i64> = p.items.iter().map(|c| c.track_id).collect();
                            let empty = p.items.is_empty();
                            view! {
                                <ul class="call-list" data-testid="call-list" aria-live="polite">
                                    {first.then(|| view! {
                                        <For
                                            each={move || {
                                                let mut rows = live.rows.get();
                                                rows.retain(|r| !seen.contains(&r.track_id));
                                                rows
                                            }}
                                            key=|r| r.track_id
                                            children=move |r| call_row(r, live, true)
                                        />
                                    })}
                                    {p.items.into_iter().map(|r| call_row(r, live, false)).collect_view()}
                                </ul>
                                {(empty && first).then(|| view! {
                                    <p class="muted" data-testid="no-calls">
                                        "No calls yet. New calls appear here as trunk-recorder or sdrtrunk upload them."
                                    </p>
                                })}
                                <nav class="pager" aria-label="Pages">
                                    {(!first).then(|| view! { <a href="/calls" data-testid="newest-calls">"← Newest"</a> })}
                                    {next.map(|h| view! { <a href=h rel="next" data-testid="older-calls">"Older calls →"</a> })}
                                </nav>
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// "Fire Dispatch (1234)" or the bare number.
fn named(label: &str, id: i64) -> String {
    if label.is_empty() {
        id.to_string()
    } else {
        format!("{label} ({id})")
    }
}

fn call_row(r: CallRow, live: Live, arrived: bool) -> impl IntoView {
    let c = &r.call;
    let talkgroup = named(
        if c.talkgroup_label.is_empty() {
            &c.talkgroup_name
        } else {
            &c.talkgroup_label
        },
        c.talkgroup_id,
    );
    let id = r.track_id;
    let when = format!("{} {}", fmt::date(c.started_at), fmt::clock(c.started_at));
    let duration = r.duration_ms.map(fmt::duration).unwrap_or_default();
    let playing = move || {
        live.playing
            .with(|p| p.as_ref().map(|p| p.row.track_id) == Some(id))
    };
    view! {
        <li class="call-row" class:arrived=arrived class:playing=playing data-testid="call-row" data-track=id>
            <button
                class="small play"
                aria-label=format!("Play the call on {talkgroup} at {when}")
                on:click=move |_| play(live, id)
            >
                "▶"
            </button>
            <span class="when">{when.clone()} " UTC"</span>
            <span class="talkgroup" data-testid="call-talkgroup">{talkgroup.clone()}</span>
            <span class="system muted">{named(&c.system_label, c.system_id)}</span>
            <span class="duration">{duration}</span>
            <a href=format!("/tracks/{id}")>"Open"</a>
        </li>
    }
}

/// Plays call `id` now (and listening goes on from the queue after it).
fn play(live: Live, id: i64) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        if let Ok(Some(c)) = play_call(id).await {
            start(live, c);
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (live, id, play_call);
}

/// Starts `c` in the page's player.
#[cfg(feature = "hydrate")]
fn start(live: Live, c: LiveCall) {
    let src = c.src.clone();
    live.playing.set(Some(c));
    live.paused.set(false);
    if let (Some(audio), Some(src)) = (live.audio.get_untracked(), src) {
        audio.set_src(&src);
        let _ = audio.play();
    }
}

/// The next queued call, when listening live; nothing when none waits.
fn next(live: Live) {
    #[cfg(feature = "hydrate")]
    {
        let id = live.queue.try_update(|q| q.pop_front()).flatten();
        match id {
            Some(id) => play(live, id),
            None => live.playing.set(None),
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = live;
}

#[component]
fn ListenBar(live: Live) -> impl IntoView {
    let toggle = move |_| {
        let on = !live.listening.get_untracked();
        live.listening.set(on);
        if !on {
            live.queue.set(VecDeque::new());
        }
    };
    let pause = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(audio) = live.audio.get_untracked() {
            if audio.paused() {
                let _ = audio.play();
                live.paused.set(false);
            } else {
                let _ = audio.pause();
                live.paused.set(true);
            }
        }
    };
    view! {
        <div class="listen-bar" data-testid="listen-bar">
            <button
                class:active=move || live.listening.get()
                aria-pressed=move || live.listening.get().to_string()
                data-testid="listen-live"
                on:click=toggle
            >
                {move || if live.listening.get() { "● Listening live" } else { "Listen live" }}
            </button>
            <span class="muted" data-testid="queued">
                {move || {
                    let n = live.queue.with(VecDeque::len);
                    if live.listening.get() { format!("{n} waiting") } else { String::new() }
                }}
            </span>
            <audio
                node_ref=live.audio
                preload="none"
                on:ended=move |_| next(live)
                on:error=move |_| next(live)
            />
            {move || live.playing.get().map(|c| {
                let tg = named(
                    if c.row.call.talkgroup_label.is_empty() { &c.row.call.talkgroup_name } else { &c.row.call.talkgroup_label },
                    c.row.call.talkgroup_id,
                );
                view! {
                    <div class="now-playing" data-testid="now-playing" role="status">
                        <strong>{tg}</strong>
                        " · " {fmt::clock(c.row.call.started_at)} " UTC "
                        <button class="small" on:click=pause data-testid="pause-call">
                            {move || if live.paused.get() { "Resume" } else { "Pause" }}
                        </button>
                        <button class="small" on:click=move |_| next(live) data-testid="skip-call">"Skip"</button>
                        {(!c.transcript.is_empty()).then(|| view! {
                            <p class="transcript-line" data-testid="live-transcript">{c.transcript.clone()}</p>
                        })}
                    </div>
                }
            })}
        </div>
    }
}

/// Follows the change feed while the page is open: each new call the
/// viewer may see (and the filter shows) appears at the top, and is queued
/// when listening live. Only the newest page gets arrivals. Each time the
/// feed (re)connects, the newest calls are asked for once more, so a call
/// that came between the page's render and the connection is not missed
/// (`shown`: the calls the page already lists).
#[cfg(feature = "hydrate")]
fn follow(
    live: Live,
    system: impl Fn() -> Option<i64> + Copy + 'static,
    talkgroup: impl Fn() -> Option<i64> + Copy + 'static,
    cursor: impl Fn() -> Option<String> + Copy + 'static,
    shown: impl Fn(i64) -> bool + Copy + 'static,
) {
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    let Ok(source) = web_sys::EventSource::new("/api/v1/changes") else {
        return;
    };
    let on_open = Closure::<dyn FnMut()>::new(move || {
        if cursor().is_some() {
            return;
        }
        leptos::task::spawn_local(async move {
            let Ok(newest) = list_calls(system(), talkgroup(), None, None, None).await else {
                return;
            };
            // Oldest first, so the newest ends on top.
            for c in newest.items.iter().rev() {
                let id = c.track_id;
                if !shown(id)
                    && live
                        .rows
                        .with_untracked(|r| r.iter().all(|r| r.track_id != id))
                {
                    arrived(live, system, talkgroup, id).await;
                }
            }
        });
    })
    .into_js_value();
    let _ = source.add_event_listener_with_callback("open", on_open.unchecked_ref());
    let on_change =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(data) = ev.data().as_string() else {
                return;
            };
            let Ok(change) = js_sys::JSON::parse(&data) else {
                return;
            };
            let field = |k: &str| js_sys::Reflect::get(&change, &JsValue::from_str(k)).ok();
            let kind = field("kind")
                .and_then(|v| v.as_string())
                .unwrap_or_default();
            let Some(id) = field("track_id").and_then(|v| v.as_f64()).map(|v| v as i64) else {
                return;
            };
            match kind.as_str() {
                "created" if cursor().is_none() => {
                    leptos::task::spawn_local(arrived(live, system, talkgroup, id));
                }
                // A transcript arrived for the call playing: show it.
                "updated"
                    if live
                        .playing
                        .with_untracked(|p| p.as_ref().map(|p| p.row.track_id) == Some(id)) =>
                {
                    leptos::task::spawn_local(async move {
                        if let Ok(Some(c)) = play_call(id).await {
                            live.playing.update(|p| {
                                if let Some(p) = p.as_mut().filter(|p| p.row.track_id == id) {
                                    p.transcript = c.transcript;
                                }
                            });
                        }
                    });
                }
                "deleted" => live.rows.update(|rows| rows.retain(|r| r.track_id != id)),
                _ => {}
            }
        })
        .into_js_value();
    let _ = source.add_event_listener_with_callback("change", on_change.unchecked_ref());
    on_cleanup(move || source.close());
}

/// Call `id` arrived: on top of the list if the filter shows it, and
/// queued (or played) when listening live.
#[cfg(feature = "hydrate")]
async fn arrived(
    live: Live,
    system: impl Fn() -> Option<i64>,
    talkgroup: impl Fn() -> Option<i64>,
    id: i64,
) {
    let Ok(Some(c)) = play_call(id).await else {
        return;
    };
    let call = &c.row.call;
    if system().is_some_and(|s| s != call.system_id)
        || talkgroup().is_some_and(|t| t != call.talkgroup_id)
    {
        return;
    }
    let mut fresh = false;
    live.rows.update(|rows| {
        if rows.iter().all(|r| r.track_id != id) {
            fresh = true;
            rows.insert(0, c.row.clone());
            rows.truncate(MAX_LIVE);
        }
    });
    if fresh && live.listening.get_untracked() {
        if live.playing.with_untracked(Option::is_none) {
            start(live, c);
        } else {
            live.queue.update(|q| {
                q.push_back(id);
                while q.len() > MAX_QUEUE {
                    q.pop_front();
                }
            });
        }
    }
}
