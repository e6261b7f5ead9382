//! /admin: the live dashboard and the user list, admins only (403 page for
//! users, sign-in prompt for visitors). The first snapshot is rendered on
//! the server; in the browser one server-sent event a second replaces it.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{set_page_status, SignInPrompt};
use crate::admin::api::{dashboard, CancelJob, DiscardJob, PauseKind, RetryJob};
use crate::admin::Performance;
use crate::components::dashboard::{action_error, Alerts, Caches, Charts, FailedJobs, Kinds};
use crate::components::dashboard::{
    Imports, RecentJobs, Routes, System, Tiles, Transcription, Users,
};
use crate::components::error_note::ErrorNote;
use crate::fmt;
use crate::providers::auth::use_auth;

#[component]
pub fn AdminPage() -> impl IntoView {
    let viewer = use_auth().page_viewer();
    view! {
        <Title text="Admin" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Some(v)) if v.is_admin() => {
                        view! {
                            <Dashboard />
                            <Users me=v.id />
                        }
                            .into_any()
                    }
                    Ok(Some(_)) => view! { <Forbidden /> }.into_any(),
                    Ok(None) => view! { <SignInPrompt next="/admin" /> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Forbidden() -> impl IntoView {
    set_page_status(403);
    view! {
        <section class="card narrow" data-testid="forbidden">
            <h1>"Admins only"</h1>
            <p>"Your account cannot open this page."</p>
        </section>
    }
}

#[component]
fn Dashboard() -> impl IntoView {
    let first = crate::codec::resource(|| (), |_| dashboard());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading the dashboard…"</p> }>
            {move || Suspend::new(async move {
                match first.await {
                    Ok(p) => view! { <Live first=p /> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Live(first: Performance) -> impl IntoView {
    let perf = RwSignal::new(first);
    let live = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    subscribe(perf, live);

    let retry = ServerAction::<RetryJob>::new();
    let discard = ServerAction::<DiscardJob>::new();
    let cancel = ServerAction::<CancelJob>::new();
    let pause = ServerAction::<PauseKind>::new();
    let errors = {
        let (a, b, c, d) = (
            action_error(retry.value()),
            action_error(discard.value()),
            action_error(cancel.value()),
            action_error(pause.value()),
        );
        move || a().or_else(&b).or_else(&c).or_else(&d)
    };

    let alerts = Memo::new(move |_| perf.with(|p| p.alerts.clone()));
    let routes = Memo::new(move |_| perf.with(|p| p.routes.clone()));
    let series = Memo::new(move |_| perf.with(|p| p.series.clone()));
    let kinds = Memo::new(move |_| perf.with(|p| p.queue.kinds.clone()));
    let failed = Memo::new(move |_| perf.with(|p| p.queue.failed.clone()));
    let recent = Memo::new(move |_| perf.with(|p| p.queue.recent.clone()));
    let caches = Memo::new(move |_| perf.with(|p| p.caches.clone()));
    let transcription = Memo::new(move |_| perf.with(|p| p.transcription.clone()));
    let imports = Memo::new(move |_| perf.with(|p| p.imports.clone()));

    let history = move || {
        perf.with(|p| {
            let restarted = p.window_secs + 2 * p.slot_secs < 15 * 60;
            if restarted {
                format!(
                    "History starts at {} UTC, when the server started ({} ago).",
                    fmt::clock(p.history_from_ms),
                    fmt::duration(p.now_ms - p.history_from_ms)
                )
            } else {
                "Showing the last 15 minutes.".to_string()
            }
        })
    };

    // Each section is erased to `AnyView`: one nested type for the whole
    // page is deeper than the compiler's query limit.
    let head = view! {
        <section class="card" data-testid="dashboard">
            <div class="dash-head">
                <h1>"Admin · dashboard"</h1>
                <span class="badge" class:live=move || live.get() data-testid="live">
                    {move || if live.get() { "live" } else { "connecting…" }}
                </span>
            </div>
            <p class="muted small" data-testid="history">{history}</p>
            <Show when=move || !perf.with(|p| p.instrumentation)>
                <p class="muted">"HTTP instrumentation is off (WAVEKEEP_INSTRUMENTATION=false): request figures stay at zero."</p>
            </Show>
            <ErrorNote error=errors />
            <Alerts alerts />
            <Tiles perf />
        </section>
    }
    .into_any();
    let charts = view! {
        <section class="card">
            <h2>"Last 15 minutes"</h2>
            <Charts series />
        </section>
    }
    .into_any();
    let routes = view! {
        <section class="card">
            <h2>"Routes by p95"</h2>
            <Routes routes />
        </section>
    }
    .into_any();
    let queue = view! {
        <section class="card" data-testid="queue">
            <h2>"Queue"</h2>
            <Kinds kinds pause />
            <h3>"Failed jobs"</h3>
            <FailedJobs failed retry discard />
            <h3>"Recent jobs"</h3>
            <RecentJobs recent cancel />
        </section>
    }
    .into_any();
    let transcription = view! { <Transcription stats=transcription /> }.into_any();
    let imports = view! {
        <section class="card" data-testid="imports-card">
            <h2>"Import a server folder"</h2>
            <Imports imports />
        </section>
    }
    .into_any();
    let system = view! {
        <section class="card">
            <h2>"Caches"</h2>
            <Caches caches />
        </section>
        <section class="card">
            <h2>"Process, database and disk"</h2>
            <System perf />
        </section>
    }
    .into_any();
    view! { {head} {charts} {routes} {queue} {transcription} {imports} {system} }
}

/// Opens the event stream; every `performance` event replaces the snapshot.
#[cfg(feature = "hydrate")]
fn subscribe(perf: RwSignal<Performance>, live: RwSignal<bool>) {
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    let Ok(source) = web_sys::EventSource::new("/api/admin/events") else {
        return;
    };
    let on_perf =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            if let Some(p) = ev
                .data()
                .as_string()
                .and_then(|d| crate::codec::decode::<Performance>(&d).ok())
            {
                perf.set(p);
                live.set(true);
            }
        })
        .into_js_value();
    let on_error =
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_| live.set(false)).into_js_value();
    let _ = source.add_event_listener_with_callback("performance", on_perf.unchecked_ref());
    source.set_onerror(Some(on_error.unchecked_ref()));
    on_cleanup(move || source.close());
}
