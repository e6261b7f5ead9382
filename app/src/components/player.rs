//! The track page's player: an audio element driven by our own controls
//! (play / pause, seeking on the waveform, the keyboard), and the transport
//! the stems panel follows.

use leptos::html::Audio;
use leptos::prelude::*;

use super::waveform::Waveform;
use crate::errors::AppError;
use crate::fmt;

/// The overview peaks of a track, as the page loads them.
pub type Peaks = Resource<Result<Option<Vec<i8>>, AppError>>;

fn clock(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "0:00".into();
    }
    fmt::duration((secs * 1000.0) as i64)
}

/// The player: an audio element driven by our own controls and the waveform.
/// It plays through the page's [`Transport`] (made here when the page has
/// none), and starts at `start` seconds when given (a link to a moment).
#[component]
pub fn Player(
    playback: crate::tracks::Playback,
    duration_ms: Option<i64>,
    peaks: Peaks,
    #[prop(default = None)] start: Option<f64>,
) -> impl IntoView {
    let transport = use_context::<Transport>().unwrap_or_else(|| {
        let t = Transport::new();
        provide_context(t);
        t
    });
    let Transport {
        audio,
        playing,
        current,
        marks,
    } = transport;
    let total = RwSignal::new(duration_ms.map(|d| d as f64 / 1000.0).unwrap_or(0.0));
    if let Some(s) = start {
        current.set(s);
    }
    // A moment to start at: set once the element exists (a position set
    // before its metadata loads is where playback starts).
    #[cfg(feature = "hydrate")]
    if let Some(s) = start {
        Effect::new(move |done: Option<bool>| {
            if done == Some(true) {
                return true;
            }
            match audio.get() {
                Some(a) => {
                    a.set_current_time(s);
                    true
                }
                None => false,
            }
        });
    }

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
        <div
            class="player"
            data-testid="player"
            data-preview=playback.preview.to_string()
            data-start=start.map(|s| format!("{s}"))
        >
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
            </div>
            <span class="time" data-testid="time">
                {move || format!("{} / {}", clock(current.get()), clock(total.get()))}
            </span>
            {playback.preview.then(|| view! { <span class="muted small">"preview"</span> })}
        </div>
    }
}

/// The track page's transport: the player plays through it, the stems
/// panel follows it, the transcript seeks it and marks moments on the
/// waveform.
#[derive(Clone, Copy)]
pub struct Transport {
    pub audio: NodeRef<Audio>,
    pub playing: RwSignal<bool>,
    /// The play position, in seconds.
    pub current: RwSignal<f64>,
    /// Moments (seconds) marked on the waveform.
    pub marks: RwSignal<Vec<f64>>,
}

impl Transport {
    pub fn new() -> Self {
        Transport {
            audio: NodeRef::new(),
            playing: RwSignal::new(false),
            current: RwSignal::new(0.0),
            marks: RwSignal::new(Vec::new()),
        }
    }

    /// Jumps to `secs`, and plays from there when `play`.
    pub fn seek(self, secs: f64, play: bool) {
        let Some(a) = self.audio.get_untracked() else {
            return;
        };
        let end = a.duration();
        let t = if end.is_finite() {
            secs.clamp(0.0, end)
        } else {
            secs.max(0.0)
        };
        a.set_current_time(t);
        self.current.set(t);
        if play && a.paused() {
            let _ = a.play();
        }
    }
}

impl Default for Transport {
    fn default() -> Self {
        Self::new()
    }
}
