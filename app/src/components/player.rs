//! The track page's player: the track's waveform and controls over the
//! app's one audio element (the [`Deck`]): play here and the music goes on
//! in the bar when the page changes. The page's [`Transport`] is what the
//! stems panel follows and the transcript seeks.

use leptos::prelude::*;

use super::waveform::Waveform;
use crate::errors::AppError;
use crate::fmt;
use crate::player::{clock, deck as the_deck, slider_target, Cmd, Deck};

/// The overview peaks of a track, as the page loads them.
pub type Peaks = crate::codec::JsonResource<Result<Option<Vec<i8>>, AppError>>;

/// The track page's player: play / pause, the waveform to seek on (a
/// slider for the keyboard), where the viewer left off, and queueing.
/// `start` is a link's moment (`?t=`): the deck is cued there.
#[component]
pub fn Player(
    duration_ms: Option<i64>,
    peaks: Peaks,
    #[prop(default = None)] start: Option<f64>,
    #[prop(default = None)] resume_ms: Option<i64>,
    /// Loudness letters of each version (the waveform of one that is
    /// playing but is not the current version).
    #[prop(default = Vec::new())]
    version_waves: Vec<(i64, i64, Option<String>)>,
    #[prop(default = None)] primary_version: Option<i64>,
) -> impl IntoView {
    let transport = expect_context::<Transport>();
    let Transport {
        deck,
        id,
        playing,
        current,
        marks,
        ..
    } = transport;
    let length = duration_ms.map(|d| d as f64 / 1000.0).unwrap_or(0.0);
    let total = Signal::derive(move || {
        let t = deck.total.get();
        if deck.has(id) && t > 0.0 {
            t
        } else {
            length
        }
    });
    // A link to a moment: the deck loads the track there, paused (unless
    // something else is playing).
    #[cfg(feature = "hydrate")]
    if let Some(s) = start {
        Effect::new(move |_| deck.send(Cmd::Cue(id, s)));
    }
    let resume = RwSignal::new(resume_ms.filter(|_| start.is_none()));
    let play = move |_| {
        if deck.has(id) {
            deck.toggle();
        } else {
            deck.send(Cmd::Play(id, start));
        }
    };
    let start_over = move |_| {
        resume.set(None);
        transport.seek(0.0, true);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let _ = crate::player::api::save_position(id, 0).await;
        });
    };
    let on_wave_click = move |ev: leptos::ev::MouseEvent| {
        if let Some(frac) = crate::player::click_fraction(&ev) {
            transport.seek(frac * total.get_untracked(), true);
        }
    };
    let on_wave_key = move |ev: leptos::ev::KeyboardEvent| {
        if let Some(to) = slider_target(&ev.key(), current.get_untracked(), total.get_untracked()) {
            ev.prevent_default();
            transport.seek(to, false);
        }
    };
    // Before the bar is loaded, space or K plays this track (the bar's own
    // shortcuts take over once it is).
    #[cfg(feature = "hydrate")]
    {
        let handle = window_event_listener(leptos::ev::keydown, move |ev| {
            use wasm_bindgen::JsCast;
            if deck.ready() || ev.default_prevented() {
                return;
            }
            let busy = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
                .is_some_and(|el| {
                    matches!(
                        el.tag_name().as_str(),
                        "INPUT" | "TEXTAREA" | "SELECT" | "BUTTON" | "A"
                    ) || el.is_content_editable()
                });
            if busy || ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
                return;
            }
            if matches!(ev.key().as_str(), " " | "k" | "K") {
                ev.prevent_default();
                deck.send(Cmd::Play(id, start));
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
    // The version playing, when it is not the current one: its own (coarser)
    // waveform, and its number.
    let other = Memo::new(move |_| {
        let playing = deck.now.get().filter(|(t, _)| *t == id).map(|(_, v)| v);
        playing
            .filter(|v| Some(*v) != primary_version)
            .and_then(|v| version_waves.iter().find(|(vid, _, _)| *vid == v).cloned())
    });
    let time_text = move || format!("{} / {}", clock(current.get()), clock(total.get()));
    view! {
        <div class="player" data-testid="player" data-start=start.map(|s| format!("{s}"))>
            <button
                class="play"
                data-testid="play"
                aria-label=move || if playing.get() { "Pause" } else { "Play" }
                on:click=play
            >
                {move || if playing.get() { "❚❚" } else { "▶" }}
            </button>
            <div
                class="wave"
                data-testid="waveform"
                data-version=move || other.get().map(|(_, n, _)| n.to_string())
                role="slider"
                tabindex="0"
                aria-label="Position"
                aria-valuemin="0"
                aria-valuemax=move || format!("{:.0}", total.get())
                aria-valuenow=move || format!("{:.0}", current.get())
                aria-valuetext=time_text
                on:click=on_wave_click
                on:keydown=on_wave_key
            >
                {move || match other.get() {
                    Some((_, _, Some(w))) => {
                        let at = move || format!("{:.4}", progress());
                        view! {
                            <svg viewBox="0 0 64 52" preserveAspectRatio="none" class="wave-svg" aria-hidden="true">
                                <defs>
                                    <linearGradient id="wave-version" gradientUnits="userSpaceOnUse" x1="0" y1="0" x2="64" y2="0">
                                        <stop offset="0" class="wave-played-stop" />
                                        <stop offset=at class="wave-played-stop" />
                                        <stop offset=at class="wave-rest-stop" />
                                        <stop offset="1" class="wave-rest-stop" />
                                    </linearGradient>
                                </defs>
                                <path d=crate::player::mini_path(&w) class="mini-line" stroke="url(#wave-version)" />
                            </svg>
                        }
                        .into_any()
                    }
                    _ => view! {
                        <Suspense fallback=|| view! { <div class="wave-placeholder"></div> }>
                            {move || Suspend::new(async move {
                                match peaks.await {
                                    Ok(Some(data)) => {
                                        let marked = move || {
                                            let t = total.get();
                                            marks.get().iter().filter(|_| t > 0.0).map(|m| m / t).collect::<Vec<f64>>()
                                        };
                                        view! { <Waveform data progress marks=marked /> }.into_any()
                                    }
                                    _ => view! { <div class="wave-placeholder" data-testid="wave-pending"></div> }.into_any(),
                                }
                            })}
                        </Suspense>
                    }
                    .into_any(),
                }}
            </div>
            <span class="time" data-testid="time">{time_text}</span>
            {move || other.get().map(|(_, n, _)| view! {
                <span class="badge" data-testid="playing-version">{format!("playing v{n}")}</span>
            })}
        </div>
        <div class="player-actions">
            <button class="ghost small" data-deck="next" data-id=id data-testid="play-next">"Play next"</button>
            <button class="ghost small" data-deck="add" data-id=id data-testid="add-to-queue">"Add to queue"</button>
            {move || resume.get().filter(|_| !deck.has(id)).map(|ms| view! {
                <span class="resume small" data-testid="resume">
                    {format!("You stopped at {}. ", fmt::duration(ms))}
                    <button class="ghost small" data-testid="resume-play" on:click=move |_| deck.send(Cmd::Play(id, None))>"Resume"</button>
                    <button class="ghost small" data-testid="start-over" on:click=start_over>"Start over"</button>
                </span>
            })}
        </div>
    }
}

/// The track page's view of the deck: the stems panel follows it, the
/// transcript seeks it and marks moments on the waveform. It plays this
/// track through the deck; while another plays, it keeps its own position.
#[derive(Clone, Copy)]
pub struct Transport {
    pub deck: Deck,
    pub id: i64,
    /// This track is playing.
    pub playing: Signal<bool>,
    /// The play position in this track, in seconds.
    pub current: Signal<f64>,
    /// Moments (seconds) marked on the waveform.
    pub marks: RwSignal<Vec<f64>>,
    /// Where this page would start playing, while the deck plays another.
    here: RwSignal<f64>,
}

impl Transport {
    /// The page's transport for track `id`, at `start` seconds.
    pub fn for_track(id: i64, start: f64) -> Self {
        let deck = the_deck();
        let here = RwSignal::new(start);
        Transport {
            deck,
            id,
            playing: Signal::derive(move || deck.has(id) && deck.playing.get()),
            current: Signal::derive(move || {
                if deck.has(id) {
                    deck.current.get()
                } else {
                    here.get()
                }
            }),
            marks: RwSignal::new(Vec::new()),
            here,
        }
    }

    /// Whether the deck has this track.
    pub fn on_this(self) -> bool {
        self.deck.has(self.id)
    }

    /// Jumps to `secs`, and plays from there when `play`.
    pub fn seek(self, secs: f64, play: bool) {
        if self.on_this() {
            self.deck.seek(secs);
            if play && !self.deck.playing.get_untracked() {
                self.deck.toggle();
            }
        } else {
            self.here.set(secs.max(0.0));
            if play {
                self.deck.send(Cmd::Play(self.id, Some(secs.max(0.0))));
            }
        }
    }
}
