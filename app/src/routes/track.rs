//! /tracks/:id — a track's facts, versions, stems, and its processing,
//! followed live (server-sent events) while a job is still working.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::set_page_status;
use crate::errors::AppError;
use crate::fmt;
use crate::tracks::api::get_track;
use crate::tracks::{AssetInfo, TrackDetail};

#[component]
pub fn TrackPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()));
    let track = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_track(id).await,
            None => Err(AppError::NotFound),
        }
    });
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match track.await {
                    Ok(t) => view! { <TrackView t track /> }.into_any(),
                    Err(AppError::NotFound) => view! { <crate::routes::not_found::NotFound /> }.into_any(),
                    Err(e) => {
                        set_page_status(e.status().as_u16());
                        view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

fn asset_facts(a: &AssetInfo) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &a.codec {
        parts.push(c.to_uppercase());
    }
    if let Some(sr) = a.sample_rate {
        parts.push(format!("{:.1} kHz", sr as f64 / 1000.0));
    }
    if let Some(bits) = a.bit_depth {
        parts.push(format!("{bits}-bit"));
    }
    match a.channels {
        Some(1) => parts.push("mono".into()),
        Some(2) => parts.push("stereo".into()),
        Some(n) => parts.push(format!("{n} channels")),
        None => {}
    }
    if let Some(br) = a.bitrate {
        parts.push(format!("{} kbit/s", br / 1000));
    }
    parts.push(fmt::bytes(a.size_bytes));
    parts.join(" · ")
}

#[component]
fn TrackView(t: TrackDetail, track: Resource<Result<TrackDetail, AppError>>) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    if t.status == "processing" {
        follow(t.id, track);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = track;
    let status = t.status.clone();
    let status_text = match status.as_str() {
        "ready" => "Ready".to_string(),
        "failed" => "Failed".to_string(),
        _ => "Processing".to_string(),
    };
    let duration = t
        .duration_ms
        .map(fmt::duration)
        .unwrap_or_else(|| "processing".into());
    view! {
        <Title text=t.title.clone() />
        <section class="card" data-testid="track" data-status=status.clone()>
            <h1 data-testid="track-title">{t.title.clone()}</h1>
            <p class="muted">
                <span class=format!("badge status-{status}") data-testid="track-status">{status_text}</span>
                " · "
                <span data-testid="track-duration">{duration}</span>
                " · "
                {t.visibility.as_str()}
            </p>
            {t.error.clone().map(|e| view! {
                <p class="error" role="alert" data-testid="track-error">
                    "This file could not be processed: " {e}
                </p>
            })}
            <h2>"Versions"</h2>
            <ul class="versions">
                {t.versions.iter().rev().map(|v| {
                    let primary = Some(v.id) == t.primary_version_id;
                    view! {
                        <li data-testid="version">
                            <strong>{format!("v{}", v.number)}</strong>
                            {primary.then_some(" (current)")}
                            " · " {v.asset.original_filename.clone().unwrap_or_default()}
                            " · " <span class="muted">{asset_facts(&v.asset)}</span>
                            " · " {v.status.clone()}
                        </li>
                    }
                }).collect_view()}
            </ul>
            {(!t.stems.is_empty()).then(|| view! {
                <h2>"Stems"</h2>
                <ul class="stems">
                    {t.stems.iter().map(|s| view! {
                        <li data-testid="stem">
                            <strong>{s.role.clone()}</strong>
                            " · " <span class="muted">{asset_facts(&s.asset)}</span>
                        </li>
                    }).collect_view()}
                </ul>
            })}
            <h2>"Processing"</h2>
            <ul class="jobs" data-testid="jobs">
                {t.jobs.iter().map(|j| {
                    let state = j.state.as_str();
                    let detail = match (state, &j.last_error) {
                        ("running", _) => format!("{} %", j.progress),
                        (_, Some(e)) => e.clone(),
                        _ => String::new(),
                    };
                    view! {
                        <li data-testid="job" data-state=state>
                            <strong>{j.kind.clone()}</strong> " · " {state} " " <span class="muted">{detail}</span>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

/// Refetches the track whenever its processing moves on, until it is done.
#[cfg(feature = "hydrate")]
fn follow(id: i64, track: Resource<Result<TrackDetail, AppError>>) {
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    let Ok(source) = web_sys::EventSource::new(&format!("/api/v1/tracks/{id}/events")) else {
        return;
    };
    let on_event = {
        let source = source.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
            if ev.type_() == "done" {
                source.close();
            }
            track.refetch();
        })
        .into_js_value()
    };
    for name in ["progress", "done"] {
        let _ = source.add_event_listener_with_callback(name, on_event.unchecked_ref());
    }
    on_cleanup(move || source.close());
}
