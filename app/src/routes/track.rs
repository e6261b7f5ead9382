//! /tracks/:id — a track's player (waveform from the stored peaks, play /
//! pause, seek by clicking the waveform, keyboard shortcuts), its versions,
//! metadata and processing (followed live while a job works), the owner's
//! edits, and the stems panel, which loads nothing until it is opened.

use leptos::html::Audio;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::set_page_status;
use crate::errors::AppError;
use crate::fmt;
use crate::tracks::api::{
    get_track, track_peaks, version_stems, DeleteTrack, SetPrimaryVersion, UpdateTrack,
};
use crate::tracks::{AssetInfo, StemInfo, TrackDetail, Visibility};

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
    // Loaded beside the track (not by the player, which is rebuilt with the
    // track view): refetched when the track finishes processing or changes
    // its current version.
    let peaks = Resource::new(id, |id| async move {
        match id {
            Some(id) => track_peaks(id).await,
            None => Ok(None),
        }
    });
    // The owner's actions live as long as the page (the track view is
    // redrawn after each of them), and each success reloads the track.
    let actions = Actions {
        update: ServerAction::<UpdateTrack>::new(),
        delete: ServerAction::<DeleteTrack>::new(),
        set_primary: ServerAction::<SetPrimaryVersion>::new(),
    };
    provide_context(actions);
    Effect::new(move |prev: Option<(usize, usize)>| {
        let now = (
            actions.update.version().get(),
            actions.set_primary.version().get(),
        );
        let ok = matches!(actions.update.value().get_untracked(), Some(Ok(())) | None)
            && matches!(
                actions.set_primary.value().get_untracked(),
                Some(Ok(())) | None
            );
        if prev.is_some_and(|p| p != now) && ok {
            track.refetch();
            peaks.refetch();
        }
        now
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        if matches!(actions.delete.value().get(), Some(Ok(()))) {
            navigate("/mine", Default::default());
        }
    });
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match track.await {
                    Ok(t) => view! { <TrackView t track peaks /> }.into_any(),
                    Err(AppError::NotFound) => view! { <crate::routes::not_found::NotFound /> }.into_any(),
                    Err(e) => {
                        set_page_status(e.status().as_u16());
                        view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// The waveform overview of the current version (`None` while computed).
type Peaks = Resource<Result<Option<Vec<i8>>, AppError>>;

#[derive(Clone, Copy)]
struct Actions {
    update: ServerAction<UpdateTrack>,
    delete: ServerAction<DeleteTrack>,
    set_primary: ServerAction<SetPrimaryVersion>,
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

fn clock(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "0:00".into();
    }
    fmt::duration((secs * 1000.0) as i64)
}

#[component]
fn TrackView(
    t: TrackDetail,
    track: Resource<Result<TrackDetail, AppError>>,
    peaks: Peaks,
) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    if t.status == "processing" {
        follow(t.id, track, peaks);
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
    let primary = t.primary().cloned();
    let can_edit = t.can_edit;
    let id = t.id;

    let set_primary = expect_context::<Actions>().set_primary;

    view! {
        <Title text=t.title.clone() />
        <section class="card track" data-testid="track" data-status=status.clone()>
            <h1 data-testid="track-title">{t.title.clone()}</h1>
            <p class="muted">
                <span class=format!("badge status-{status}") data-testid="track-status">{status_text}</span>
                " · "
                <span data-testid="track-duration">{duration}</span>
                " · "
                <span data-testid="track-visibility">{t.visibility.as_str()}</span>
                {(!t.tags.is_empty()).then(|| view! { " · " <span class="tags">{t.tags.clone()}</span> })}
            </p>
            {t.error.clone().map(|e| view! {
                <p class="error" role="alert" data-testid="track-error">
                    "This file could not be processed: " {e}
                </p>
            })}
            {t.playback.clone().map(|p| view! { <Player playback=p duration_ms=t.duration_ms peaks /> })}
            {primary.clone().map(|v| view! {
                <StemsPanel version_id=v.id count=t.stem_count can_edit />
            })}
            <h2>"Versions"</h2>
            <ul class="versions">
                {t.versions.iter().rev().map(|v| {
                    let is_primary = Some(v.id) == t.primary_version_id;
                    let vid = v.id;
                    view! {
                        <li data-testid="version" class:primary=is_primary>
                            <strong>{format!("v{}", v.number)}</strong>
                            {is_primary.then_some(" (current)")}
                            " · " {v.asset.original_filename.clone().unwrap_or_default()}
                            " · " <span class="muted">{asset_facts(&v.asset)}</span>
                            " · " {v.status.clone()}
                            " "
                            {v.download_url.clone().map(|u| view! {
                                <a class="button small" href=u download data-testid="download">"Download"</a>
                            })}
                            {(can_edit && !is_primary).then(|| view! {
                                <button
                                    class="small"
                                    data-testid="make-primary"
                                    on:click=move |_| {
                                        set_primary.dispatch(SetPrimaryVersion { id, version_id: vid });
                                    }
                                >
                                    "Make current"
                                </button>
                            })}
                        </li>
                    }
                }).collect_view()}
            </ul>
            {can_edit.then(|| view! {
                <p>
                    <a href=format!("/upload?target=version&track_id={id}") data-testid="upload-version">
                        "Upload a new version"
                    </a>
                </p>
            })}
            {(!t.jobs.is_empty()).then(|| view! {
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
            })}
        </section>
        {can_edit.then(|| view! { <EditTrack t=t.clone() /> })}
    }
}

/// The player: an audio element driven by our own controls and the waveform.
#[component]
fn Player(
    playback: crate::tracks::Playback,
    duration_ms: Option<i64>,
    peaks: Peaks,
) -> impl IntoView {
    let audio = NodeRef::<Audio>::new();
    let playing = RwSignal::new(false);
    let current = RwSignal::new(0.0f64);
    let total = RwSignal::new(duration_ms.map(|d| d as f64 / 1000.0).unwrap_or(0.0));
    provide_context(Transport {
        audio,
        playing,
        current,
    });

    let toggle = move || {
        if let Some(a) = audio.get_untracked() {
            if a.paused() {
                let _ = a.play();
            } else {
                let _ = a.pause();
            }
        }
    };
    let seek_to = move |secs: f64| {
        if let Some(a) = audio.get_untracked() {
            let end = if a.duration().is_finite() {
                a.duration()
            } else {
                total.get_untracked()
            };
            let t = secs.clamp(0.0, end.max(0.0));
            a.set_current_time(t);
            current.set(t);
        }
    };
    let on_wave_click = move |ev: leptos::ev::MouseEvent| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let Some(el) = ev
                .current_target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            else {
                return;
            };
            let rect = el.get_bounding_client_rect();
            if rect.width() > 0.0 {
                let frac = ((ev.client_x() as f64 - rect.left()) / rect.width()).clamp(0.0, 1.0);
                seek_to(frac * total.get_untracked());
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, seek_to);
    };
    // Space: play / pause; ← →: 5 s back / forward; Home: start.
    #[cfg(feature = "hydrate")]
    {
        let handle = window_event_listener(leptos::ev::keydown, move |ev| {
            use wasm_bindgen::JsCast;
            let typing = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .is_some_and(|el| {
                    matches!(
                        el.tag_name().as_str(),
                        "INPUT" | "TEXTAREA" | "SELECT" | "BUTTON"
                    )
                });
            if typing || ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
                return;
            }
            let now = current.get_untracked();
            match ev.key().as_str() {
                " " | "k" => {
                    ev.prevent_default();
                    toggle();
                }
                "ArrowLeft" | "j" => seek_to(now - 5.0),
                "ArrowRight" | "l" => seek_to(now + 5.0),
                "Home" => seek_to(0.0),
                _ => {}
            }
        });
        on_cleanup(move || handle.remove());
    }
    let progress = move || {
        let t = total.get();
        if t > 0.0 {
            (current.get() / t).clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    view! {
        <div class="player" data-testid="player" data-preview=playback.preview.to_string()>
            <audio
                node_ref=audio
                preload="metadata"
                data-testid="audio"
                on:play=move |_| playing.set(true)
                on:pause=move |_| playing.set(false)
                on:ended=move |_| playing.set(false)
                on:timeupdate=move |_| {
                    if let Some(a) = audio.get_untracked() {
                        current.set(a.current_time());
                    }
                }
                on:loadedmetadata=move |_| {
                    if let Some(a) = audio.get_untracked() {
                        if a.duration().is_finite() && a.duration() > 0.0 {
                            total.set(a.duration());
                        }
                    }
                }
            >
                <source src=playback.src.clone() type=playback.mime.clone() />
            </audio>
            <button
                class="play"
                data-testid="play"
                aria-label=move || if playing.get() { "Pause" } else { "Play" }
                on:click=move |_| toggle()
            >
                {move || if playing.get() { "❚❚" } else { "▶" }}
            </button>
            <div class="wave" data-testid="waveform" on:click=on_wave_click title="Click to seek">
                <Suspense fallback=|| view! { <div class="wave-placeholder"></div> }>
                    {move || Suspend::new(async move {
                        match peaks.await {
                            Ok(Some(data)) => view! { <Waveform data progress /> }.into_any(),
                            _ => view! { <div class="wave-placeholder" data-testid="wave-pending"></div> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
            <span class="time" data-testid="time">
                {move || format!("{} / {}", clock(current.get()), clock(total.get()))}
            </span>
            {playback.preview.then(|| view! { <span class="muted small">"preview"</span> })}
        </div>
    }
}

/// The main transport, for the stems panel to follow.
#[derive(Clone, Copy)]
struct Transport {
    audio: NodeRef<Audio>,
    playing: RwSignal<bool>,
    current: RwSignal<f64>,
}

/// Min/max pairs drawn as one SVG path, twice: the played part on top,
/// clipped to the play position.
#[component]
fn Waveform(data: Vec<i8>, progress: impl Fn() -> f64 + Send + Sync + 'static) -> impl IntoView {
    let width = (data.len() / 2).max(1);
    let d = wave_path(&data);
    // One path; the played part is coloured by a gradient with a hard stop
    // at the play position (userSpaceOnUse: the lines have no width of their
    // own), so the page carries the path once.
    let at = Memo::new(move |_| format!("{:.4}", progress().clamp(0.0, 1.0)));
    view! {
        <svg viewBox=format!("0 0 {width} 1000") preserveAspectRatio="none" class="wave-svg" aria-hidden="true">
            <defs>
                <linearGradient id="wave-progress" gradientUnits="userSpaceOnUse" x1="0" y1="0" x2=width y2="0">
                    <stop offset="0" class="wave-played-stop" />
                    <stop offset=move || at.get() class="wave-played-stop" />
                    <stop offset=move || at.get() class="wave-rest-stop" />
                    <stop offset="1" class="wave-rest-stop" />
                </linearGradient>
            </defs>
            <path d=d class="wave-line" stroke="url(#wave-progress)" />
        </svg>
    }
}

/// The SVG path of the overview: one vertical line per min/max pair, in a
/// 1,000-unit-high box (integer coordinates, so the page stays small and
/// cheap to render), at least 8 units tall so silence still shows.
fn wave_path(data: &[i8]) -> String {
    use std::fmt::Write;
    let mut d = String::with_capacity(data.len() * 7);
    for (i, pair) in data.chunks_exact(2).enumerate() {
        let (lo, hi) = (
            i32::from(pair[0].min(pair[1])),
            i32::from(pair[0].max(pair[1])),
        );
        let top = 500 - hi * 500 / 128;
        let bottom = (500 - lo * 500 / 128).max(top + 8);
        let _ = write!(d, "M{i} {top}V{bottom}");
    }
    d
}

/// One stem in the panel: in the mix or not, muted, soloed.
#[derive(Clone)]
struct StemRow {
    stem: StemInfo,
    node: NodeRef<Audio>,
    on: RwSignal<bool>,
    muted: RwSignal<bool>,
    solo: RwSignal<bool>,
}

/// The stems of the current version: nothing is requested until the panel
/// is opened.
#[component]
fn StemsPanel(version_id: i64, count: i64, can_edit: bool) -> impl IntoView {
    let open = RwSignal::new(false);
    let load = Action::new(move |v: &i64| version_stems(*v));
    let toggle = move |_| {
        let now = !open.get_untracked();
        open.set(now);
        if now && load.value().get_untracked().is_none() && !load.pending().get_untracked() {
            load.dispatch(version_id);
        }
    };
    let label = move || {
        let verb = if open.get() {
            "Hide stems"
        } else {
            "Show stems"
        };
        format!("{verb} ({count})")
    };
    view! {
        <section class="stems-panel" data-testid="stems-panel">
            <button class="ghost" data-testid="stems-toggle" on:click=toggle aria-expanded=move || open.get().to_string()>
                {label}
            </button>
            {can_edit.then(|| view! {
                <a class="small" href=format!("/upload?target=stem&version_id={version_id}") data-testid="upload-stems">
                    "Upload stems"
                </a>
            })}
            <Show when=move || open.get()>
                {move || match load.value().get() {
                    None => view! { <p class="muted">"Loading stems…"</p> }.into_any(),
                    Some(Err(e)) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    Some(Ok(panel)) if panel.stems.is_empty() => {
                        view! { <p class="muted" data-testid="no-stems">"This version has no stems yet."</p> }.into_any()
                    }
                    Some(Ok(panel)) => view! { <StemMixer panel /> }.into_any(),
                }}
            </Show>
        </section>
    }
}

#[component]
fn StemMixer(panel: crate::tracks::StemsPanel) -> impl IntoView {
    let transport = use_context::<Transport>();
    let rows: Vec<StemRow> = panel
        .stems
        .into_iter()
        .map(|stem| StemRow {
            stem,
            node: NodeRef::new(),
            on: RwSignal::new(false),
            muted: RwSignal::new(false),
            solo: RwSignal::new(false),
        })
        .collect();
    let rows = StoredValue::new(rows);
    let any_solo = Memo::new(move |_| rows.with_value(|r| r.iter().any(|s| s.solo.get())));
    let any_on = Memo::new(move |_| rows.with_value(|r| r.iter().any(|s| s.on.get())));

    // Follow the main transport: play, pause and position.
    if let Some(tr) = transport {
        // The full mix is silent while stems play in its place.
        Effect::new(move |_| {
            if let Some(a) = tr.audio.get() {
                a.set_muted(any_on.get());
            }
        });
        Effect::new(move |_| {
            let playing = tr.playing.get();
            let now = tr.current.get();
            rows.with_value(|r| {
                for s in r {
                    let Some(el) = s.node.get_untracked() else {
                        continue;
                    };
                    let audible = s.on.get() && !s.muted.get() && (!any_solo.get() || s.solo.get());
                    el.set_muted(!audible);
                    if playing && s.on.get_untracked() {
                        if (el.current_time() - now).abs() > 0.25 {
                            el.set_current_time(now);
                        }
                        if el.paused() {
                            let _ = el.play();
                        }
                    } else if !el.paused() {
                        let _ = el.pause();
                    }
                }
            });
        });
    }
    view! {
        <div class="stems" data-testid="stems">
            <ul>
                {rows.with_value(|r| r.iter().cloned().map(|s| {
                    let StemRow { stem, node, on, muted, solo } = s;
                    view! {
                        <li data-testid="stem" data-role=stem.role.clone()>
                            <strong>{stem.role.clone()}</strong>
                            <span class="muted">" " {asset_facts(&stem.asset)}</span>
                            {stem.stream_url.clone().map(|src| view! {
                                <audio node_ref=node preload="none" src=src></audio>
                            })}
                            <label><input type="checkbox" data-testid="stem-play" prop:checked=move || on.get() on:change=move |ev| on.set(event_target_checked(&ev)) /> " play"</label>
                            <label><input type="checkbox" data-testid="stem-mute" prop:checked=move || muted.get() on:change=move |ev| muted.set(event_target_checked(&ev)) /> " mute"</label>
                            <label><input type="checkbox" data-testid="stem-solo" prop:checked=move || solo.get() on:change=move |ev| solo.set(event_target_checked(&ev)) /> " solo"</label>
                            {stem.download_url.clone().map(|u| view! { <a class="small" href=u download>"Download"</a> })}
                        </li>
                    }
                }).collect_view())}
            </ul>
            {panel.zip_url.map(|u| view! {
                <a class="button small" href=u download data-testid="stems-zip">"Download all stems (zip)"</a>
            })}
        </div>
    }
}

/// The owner's form: title, tags, visibility; and delete.
#[component]
fn EditTrack(t: TrackDetail) -> impl IntoView {
    let Actions { update, delete, .. } = expect_context::<Actions>();
    let id = t.id;
    let vis = t.visibility;
    let option = move |v: Visibility, label: &'static str| {
        let value = v.as_str();
        view! { <option value=value selected=vis == v>{label}</option> }
    };
    let confirm_delete = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let ok = window()
                .confirm_with_message(
                    "Delete this track with all its versions and stems? This cannot be undone.",
                )
                .unwrap_or(false);
            if !ok {
                return;
            }
        }
        delete.dispatch(DeleteTrack { id });
    };
    view! {
        <section class="card" data-testid="edit-track">
            <h2>"Edit"</h2>
            <ActionForm action=update attr:class="form">
                <input type="hidden" name="id" value=id />
                <label>"Title" <input name="title" required maxlength="200" value=t.title.clone() data-testid="edit-title" /></label>
                <label>"Tags (comma-separated)" <input name="tags" maxlength="500" value=t.tags.clone() data-testid="edit-tags" /></label>
                <label>
                    "Visibility"
                    <select name="visibility" data-testid="edit-visibility">
                        {option(Visibility::Private, "Private (only you)")}
                        {option(Visibility::Unlisted, "Unlisted (anyone with the link)")}
                        {option(Visibility::Public, "Public (listed)")}
                    </select>
                </label>
                <button type="submit" data-testid="save-track">"Save"</button>
                {move || match update.value().get() {
                    Some(Err(e)) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    Some(Ok(())) => view! { <p class="ok" data-testid="saved">"Saved."</p> }.into_any(),
                    None => ().into_any(),
                }}
            </ActionForm>
            <button class="danger" data-testid="delete-track" on:click=confirm_delete>"Delete track"</button>
            {move || match delete.value().get() {
                Some(Err(e)) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                _ => ().into_any(),
            }}
        </section>
    }
}

/// Refetches the track whenever its processing moves on, until it is done.
#[cfg(feature = "hydrate")]
fn follow(id: i64, track: Resource<Result<TrackDetail, AppError>>, peaks: Peaks) {
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
                peaks.refetch();
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

#[cfg(test)]
mod tests {
    #[test]
    fn wave_path_draws_one_line_per_pair() {
        // Full scale, silence (kept 8 units tall) and a quiet pair.
        let d = super::wave_path(&[-128, 127, 0, 0, 10, -10]);
        assert_eq!(d, "M0 4V1000M1 500V508M2 461V539");
        assert_eq!(super::wave_path(&[]), "");
    }
}
