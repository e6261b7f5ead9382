//! Listening across the app: one audio element in the app shell that keeps
//! playing while the pages change, a queue, play buttons on every list,
//! lock-screen and media-key controls, and where each long track was left.
//!
//! The first wasm module holds only the [`Deck`]: a few signals that the
//! pages read, and one delegated click listener for the play buttons (plain
//! `data-deck` attributes on the rows, so a list of 1,000 rows carries no
//! handler of its own). The bar itself (controls, queue, Media Session,
//! shortcuts, saving positions) is its own wasm chunk (`bar`), loaded on
//! the first play or when a reload finds a queue to restore.

pub mod api;
#[cfg(feature = "hydrate")]
mod bar;
#[cfg(feature = "ssr")]
pub mod db;

use leptos::html::Audio;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the player needs to play one track for the viewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayInfo {
    pub id: i64,
    pub title: String,
    pub artist: String,
    pub art: Option<String>,
    pub duration_ms: Option<i64>,
    /// The version's loudness in letters ([`mini_path`]).
    pub wave: Option<String>,
    pub version_id: i64,
    /// The version's number (v1, v2, …).
    pub version: i64,
    /// A signed streaming link for the viewer.
    pub src: String,
    pub mime: String,
    /// Where the viewer stopped last time (long tracks only).
    pub resume_ms: Option<i64>,
}

/// Bars in a list's small waveform.
pub const MINI_BARS: usize = 64;
/// Loudness levels of one bar (`a` silent … `z` full scale).
const MINI_LEVELS: u8 = 26;

/// The overview peaks (min/max pairs) as [`MINI_BARS`] letters, each the
/// loudest peak of its stretch relative to the loudest of the file (so a
/// quiet recording still shows its shape).
#[cfg(feature = "ssr")]
pub fn mini_wave(pairs: &[i8]) -> String {
    let amps: Vec<u8> = pairs
        .chunks_exact(2)
        .map(|p| p[0].unsigned_abs().max(p[1].unsigned_abs()))
        .collect();
    if amps.is_empty() {
        return String::new();
    }
    let loudest = amps.iter().copied().max().unwrap_or(0).max(1) as u32;
    (0..MINI_BARS)
        .map(|i| {
            let from = i * amps.len() / MINI_BARS;
            let to = ((i + 1) * amps.len() / MINI_BARS)
                .max(from + 1)
                .min(amps.len());
            let peak = amps[from.min(amps.len() - 1)..to]
                .iter()
                .copied()
                .max()
                .unwrap_or(0) as u32;
            let level = (peak * u32::from(MINI_LEVELS - 1) + loudest / 2) / loudest;
            char::from(b'a' + level.min(u32::from(MINI_LEVELS - 1)) as u8)
        })
        .collect()
}

/// The SVG path of a small waveform (`viewBox="0 0 64 52"`): one bar per
/// letter, centred, at least 2 units tall. Anything but `a`–`z` is silence.
pub fn mini_path(wave: &str) -> String {
    use std::fmt::Write;
    let mut d = String::with_capacity(wave.len() * 9);
    for (i, b) in wave.bytes().take(MINI_BARS).enumerate() {
        let level = u32::from(b.saturating_sub(b'a').min(MINI_LEVELS - 1));
        let half = 1 + level;
        let _ = write!(d, "M{i} {}v{}", 26 - half, 2 * half);
    }
    d
}

/// A moment in a link (`?t=`): seconds (`83`, `83.5`) or `1h2m3s`, `1m23s`,
/// `90s`, `2m`.
pub fn parse_moment(t: &str) -> Option<f64> {
    let t = t.trim();
    if let Ok(s) = t.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then_some(s);
    }
    let (mut total, mut num, mut any) = (0.0f64, String::new(), false);
    for c in t.chars() {
        match c {
            '0'..='9' | '.' => num.push(c),
            'h' | 'm' | 's' => {
                let n: f64 = num.parse().ok()?;
                total += n * match c {
                    'h' => 3600.0,
                    'm' => 60.0,
                    _ => 1.0,
                };
                num.clear();
                any = true;
            }
            _ => return None,
        }
    }
    (any && num.is_empty() && total.is_finite()).then_some(total)
}

/// `secs` as a link's moment: `1m23s`, `1h2m3s`, `45s`.
pub fn moment(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec}s"),
        (h, m, sec) => format!("{h}h{m}m{sec}s"),
    }
}

/// Seconds as the player shows them (`1:23`, `1:02:03`).
pub fn clock(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "0:00".into();
    }
    crate::fmt::duration((secs * 1000.0) as i64)
}

/// Where a click fell across the element it was heard on, from 0 (left
/// edge) to 1 (right edge): a waveform clicked to seek.
pub fn click_fraction(ev: &leptos::ev::MouseEvent) -> Option<f64> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let el = ev
            .current_target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())?;
        let rect = el.get_bounding_client_rect();
        (rect.width() > 0.0)
            .then(|| ((f64::from(ev.client_x()) - rect.left()) / rect.width()).clamp(0.0, 1.0))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = ev;
        None
    }
}

/// Where a waveform used as a slider goes on `key` (from `now`, in a track
/// of `total` seconds): arrows 5 s, Page Up / Down a minute, Home / End.
pub fn slider_target(key: &str, now: f64, total: f64) -> Option<f64> {
    let to = match key {
        "ArrowLeft" | "ArrowDown" => now - 5.0,
        "ArrowRight" | "ArrowUp" => now + 5.0,
        "PageDown" => now - 60.0,
        "PageUp" => now + 60.0,
        "Home" => 0.0,
        "End" => total,
        _ => return None,
    };
    Some(to.clamp(0.0, total.max(0.0)))
}

/// What a play button asks of the bar.
#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    /// Play this track now (from this moment, else where the viewer left it).
    Play(i64, Option<f64>),
    /// Play this track after the current one.
    Next(i64),
    /// Add this track to the end of the queue.
    Add(i64),
    /// Play the list this page shows, from its first row.
    All,
    /// Load this track at this moment without playing (a link to a
    /// moment), unless something is playing.
    Cue(i64, f64),
    /// The same track's other version, at the same moment and play state.
    Version(i64, i64),
}

/// The app-wide player as the pages see it. In the browser there is one
/// for the page's life ([`deck`]); its signals are made by the first code
/// that needs them (a page's or the bar's chunk, never the first module).
#[derive(Clone, Copy)]
pub struct Deck {
    /// The one audio element (in the bar, once it is loaded).
    pub audio: NodeRef<Audio>,
    pub playing: RwSignal<bool>,
    /// The play position, in seconds.
    pub current: RwSignal<f64>,
    /// The length of what is loaded, in seconds.
    pub total: RwSignal<f64>,
    /// The track and version in the audio element.
    pub now: RwSignal<Option<(i64, i64)>>,
}

/// Where the bar keeps its queue between page loads.
pub const SAVED_KEY: &str = "wavekeep.player";

#[cfg(feature = "hydrate")]
thread_local! {
    static DECK: std::cell::Cell<Option<Deck>> = const { std::cell::Cell::new(None) };
}

/// The page's deck. In the browser, one for the page's life (made outside
/// any owner, so no page takes it with it); on the server, one per render.
pub fn deck() -> Deck {
    #[cfg(feature = "hydrate")]
    {
        if let Some(d) = DECK.with(|d| d.get()) {
            return d;
        }
        let d = for_good(Deck::fresh);
        DECK.with(|c| c.set(Some(d)));
        d
    }
    #[cfg(not(feature = "hydrate"))]
    {
        use_context::<Deck>().unwrap_or_else(|| {
            let d = Deck::fresh();
            provide_context(d);
            d
        })
    }
}

impl Deck {
    fn fresh() -> Deck {
        Deck {
            audio: NodeRef::new(),
            playing: RwSignal::new(false),
            current: RwSignal::new(0.0),
            total: RwSignal::new(0.0),
            now: RwSignal::new(None),
        }
    }

    /// Hands `cmd` to the bar, loading it first if need be.
    pub fn send(self, cmd: Cmd) {
        send(Some(cmd));
    }

    /// The bar is loaded.
    pub fn ready(self) -> bool {
        self.audio.get_untracked().is_some()
    }

    /// Whether track `id` is the one loaded.
    pub fn has(self, id: i64) -> bool {
        self.now.with(|n| n.is_some_and(|(t, _)| t == id))
    }

    /// Plays or pauses what is loaded.
    pub fn toggle(self) {
        if let Some(a) = self.audio.get_untracked() {
            if a.paused() {
                let _ = a.play();
            } else {
                a.pause().ok();
            }
        }
    }

    /// Jumps to `secs` in what is loaded.
    pub fn seek(self, secs: f64) {
        if let Some(a) = self.audio.get_untracked() {
            let end = a.duration();
            let t = if end.is_finite() {
                secs.clamp(0.0, end)
            } else {
                secs.max(0.0)
            };
            a.set_current_time(t);
            self.current.set(t);
        }
    }
}

/// Runs `f` under an owner of its own that is never dropped (so no page's
/// owner disposes what it makes), then puts the current owner back (a new
/// root owner makes itself the current one).
#[cfg(feature = "hydrate")]
pub(crate) fn for_good<T>(f: impl FnOnce() -> T) -> T {
    let before = Owner::current();
    let owner = Owner::new_root(None);
    let out = owner.with(f);
    match before {
        Some(o) => o.set(),
        None => owner.clone().unset(),
    }
    std::mem::forget(owner);
    out
}

/// Loads the bar (its chunk, the first time) and hands it `cmd`.
fn send(cmd: Option<Cmd>) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move { bar::run(cmd).await });
    #[cfg(not(feature = "hydrate"))]
    let _ = cmd;
}

/// In the browser: one listener for every play button (`data-deck` is
/// play, next, add or all, `data-id` the track), and a queue left by an
/// earlier page load brought back (paused). Nothing else of the player is
/// in the first wasm module.
pub fn listen_for_play_buttons() {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let handle = window_event_listener(leptos::ev::click, move |ev| {
            let Some(el) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .and_then(|e| e.closest("[data-deck]").ok().flatten())
            else {
                return;
            };
            let id = el
                .get_attribute("data-id")
                .and_then(|v| v.parse::<i64>().ok());
            let cmd = match (el.get_attribute("data-deck").as_deref(), id) {
                (Some("play"), Some(id)) => Cmd::Play(id, None),
                (Some("next"), Some(id)) => Cmd::Next(id),
                (Some("add"), Some(id)) => Cmd::Add(id),
                (Some("all"), _) => Cmd::All,
                _ => return,
            };
            ev.prevent_default();
            send(Some(cmd));
        });
        std::mem::forget(handle);
        let saved = window()
            .local_storage()
            .ok()
            .flatten()
            .and_then(|s| s.get_item(SAVED_KEY).ok().flatten());
        if saved.is_some() {
            send(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_in_links() {
        assert_eq!(parse_moment("83"), Some(83.0));
        assert_eq!(parse_moment("83.5"), Some(83.5));
        assert_eq!(parse_moment("1m23s"), Some(83.0));
        assert_eq!(parse_moment("1h2m3s"), Some(3723.0));
        assert_eq!(parse_moment("2m"), Some(120.0));
        assert_eq!(parse_moment("90s"), Some(90.0));
        for bad in ["", "-3", "1x", "m", "1m2", "NaN", "inf"] {
            assert_eq!(parse_moment(bad), None, "{bad}");
        }
        assert_eq!(moment(83.9), "1m23s");
        assert_eq!(moment(3723.0), "1h2m3s");
        assert_eq!(moment(5.0), "5s");
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn mini_waves() {
        // Silence, then a loud stretch: relative to the loudest.
        let mut pairs = vec![0i8; 1000];
        for p in pairs[1000 - 250..].chunks_exact_mut(2) {
            p[0] = -64;
            p[1] = 64;
        }
        let w = mini_wave(&pairs);
        assert_eq!(w.len(), MINI_BARS);
        assert!(w.starts_with("aaaa"));
        assert!(w.ends_with("zzzz"));
        assert_eq!(mini_wave(&[]), "");
        // Fewer pairs than bars still gives every bar.
        assert_eq!(mini_wave(&[0, 127, 0, 0]).len(), MINI_BARS);
        assert_eq!(mini_path("az"), "M0 25v2M1 0v52");
        assert_eq!(mini_path("?"), "M0 25v2");
    }
}
