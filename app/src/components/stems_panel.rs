//! The stems panel: nothing is requested until it is opened; then each stem
//! (at most 20 per version) can join the mix, be muted or soloed, following
//! the main player's play / pause / seek.

use leptos::html::Audio;
use leptos::prelude::*;

use super::error_note::ErrorNote;
use super::player::Transport;
use crate::fmt::asset_facts;
use crate::tracks::api::version_stems;
use crate::tracks::StemInfo;

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
pub fn StemsPanel(version_id: i64, count: i64, can_edit: bool) -> impl IntoView {
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
                    Some(Err(e)) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
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
            if let Some(a) = tr.deck.audio.get() {
                a.set_muted(any_on.get() && tr.on_this());
            }
        });
        on_cleanup(move || {
            if let Some(a) = tr.deck.audio.get_untracked() {
                a.set_muted(false);
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
