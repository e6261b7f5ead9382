//! The player bar: its own wasm chunk, loaded on the first play (or when a
//! reload finds a queue). It owns the audio element, so the music keeps
//! playing while the router changes pages; it keeps the queue (play now,
//! next, add, reorder, remove, repeat, shuffle, "play all" fetching the
//! list's pages as it reaches them), remembers it across reloads (local
//! storage, without playing again by itself), tells the server where long
//! tracks were left, and answers the lock screen, headset and keyboard.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::api::{play_item, save_position, RESUME_MIN_MS};
use super::{click_fraction, clock, mini_path, slider_target, Cmd, Deck, PlayInfo, SAVED_KEY};
use crate::tracks::{ListQuery, Sort};

thread_local! {
    static BAR: std::cell::Cell<Option<Bar>> = const { std::cell::Cell::new(None) };
}

/// The bar's entry point: mounts it into the shell's `#deck` the first
/// time (restoring a saved queue), then carries out `cmd`.
#[leptos::lazy]
pub fn run(cmd: Option<Cmd>) {
    let bar = match BAR.with(|b| b.get()) {
        Some(bar) => bar,
        None => {
            let Some(parent) = document()
                .get_element_by_id("deck")
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
            else {
                return;
            };
            let deck = super::deck();
            let bar = super::for_good(|| Bar::new(deck));
            BAR.with(|b| b.set(Some(bar)));
            leptos::mount::mount_to(parent, move || view! { <BarView bar /> }).forget();
            // A command waiting wins over the restored entry: its load
            // comes later, so the restored one's answer is dropped.
            bar.restore();
            media_handlers(bar);
            shortcuts(bar);
            bar
        }
    };
    if let Some(cmd) = cmd {
        bar.handle(cmd);
    }
}

/// One track in the queue, as the bar shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    id: i64,
    title: String,
    #[serde(default)]
    artist: String,
    #[serde(default)]
    art: Option<String>,
    #[serde(default)]
    duration_ms: Option<i64>,
}

impl Entry {
    fn of(i: &PlayInfo) -> Entry {
        Entry {
            id: i.id,
            title: i.title.clone(),
            artist: i.artist.clone(),
            art: i.art.clone(),
            duration_ms: i.duration_ms,
        }
    }
}

/// What survives a reload.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Saved {
    items: Vec<Entry>,
    at: Option<usize>,
    pos: f64,
    repeat: u8,
    shuffle: bool,
    speed: f64,
    volume: f64,
    more: Option<ListQuery>,
}

/// Off, the whole queue, or the one track.
const REPEAT_LABELS: [&str; 3] = ["Repeat: off", "Repeat: all", "Repeat: one"];
const SPEEDS: [f64; 7] = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0];

#[derive(Clone, Copy)]
struct Bar {
    deck: Deck,
    items: RwSignal<Vec<Entry>>,
    at: RwSignal<Option<usize>>,
    info: RwSignal<Option<PlayInfo>>,
    repeat: RwSignal<u8>,
    shuffle: RwSignal<bool>,
    speed: RwSignal<f64>,
    volume: RwSignal<f64>,
    /// The next page of the list being played ("play all").
    more: RwSignal<Option<ListQuery>>,
    fetching: RwSignal<bool>,
    /// Where a remembered position resumed playing (seconds).
    resumed: RwSignal<Option<f64>>,
    /// A moment to go to once the file's length is known, and whether to play.
    pending: StoredValue<Option<(f64, bool)>>,
    /// What is said to screen readers (and shown briefly).
    message: RwSignal<String>,
    queue_open: RwSignal<bool>,
    /// When the position was last kept locally and on the server (seconds
    /// of page time), and the last position the server got.
    saved_at: StoredValue<(f64, f64)>,
    /// Counts loads: an answer for an older one is dropped.
    seq: StoredValue<u64>,
}

fn now_secs() -> f64 {
    js_sys::Date::now() / 1000.0
}

impl Bar {
    fn audio(self) -> Option<web_sys::HtmlAudioElement> {
        self.deck.audio.get_untracked()
    }

    fn say(self, text: String) {
        self.message.set(text);
    }

    /// Loads queue entry `idx` (a fresh link from the server), at `at` or
    /// where the viewer left it, playing if `play`.
    fn load(self, idx: usize, at: Option<f64>, play: bool) {
        let Some(e) = self.items.with_untracked(|v| v.get(idx).cloned()) else {
            return;
        };
        self.keep_position(true);
        self.at.set(Some(idx));
        self.fetch_more_if_near(idx);
        self.seq.update_value(|n| *n += 1);
        let mine = self.seq.get_value();
        leptos::task::spawn_local(async move {
            let got = play_item(e.id, None).await;
            if self.seq.get_value() != mine {
                return;
            }
            match got {
                Ok(info) => self.set_source(info, at, play, true),
                Err(err) => {
                    self.say(format!("“{}” cannot be played: {err}", e.title));
                    if play && idx + 1 < self.items.with_untracked(Vec::len) {
                        self.load(idx + 1, None, true);
                    }
                }
            }
        });
    }

    /// Puts `info` in the audio element.
    fn set_source(self, info: PlayInfo, at: Option<f64>, play: bool, may_resume: bool) {
        let Some(a) = self.audio() else {
            return;
        };
        let resume = may_resume
            .then(|| info.resume_ms.map(|ms| ms as f64 / 1000.0))
            .flatten()
            .filter(|_| at.is_none());
        let start = at.or(resume).unwrap_or(0.0);
        self.resumed.set(resume);
        a.set_src(&info.src);
        a.set_default_playback_rate(self.speed.get_untracked());
        a.set_playback_rate(self.speed.get_untracked());
        // Before the file's length is known this is where playback starts;
        // it is set again once it is known.
        a.set_current_time(start);
        self.pending.set_value(Some((start, play)));
        self.deck.now.set(Some((info.id, info.version_id)));
        self.deck.current.set(start);
        self.deck
            .total
            .set(info.duration_ms.map(|d| d as f64 / 1000.0).unwrap_or(0.0));
        let entry = Entry::of(&info);
        self.items.update(|v| {
            if let Some(slot) = self.at.get_untracked().and_then(|i| v.get_mut(i)) {
                if slot.id == entry.id {
                    *slot = entry;
                }
            }
        });
        media_metadata(&info);
        self.say(format!("Now playing: {}", info.title));
        self.info.set(Some(info));
        if play {
            let _ = a.play();
        }
    }

    /// Entry `idx` after the current one, or where the queue goes next.
    fn next_index(self, auto: bool) -> Option<usize> {
        let len = self.items.with_untracked(Vec::len);
        let i = self.at.get_untracked()?;
        if len == 0 {
            return None;
        }
        if self.shuffle.get_untracked() && len > 1 {
            let r = (js_sys::Math::random() * (len - 1) as f64) as usize;
            return Some(if r >= i { r + 1 } else { r }.min(len - 1));
        }
        if i + 1 < len {
            Some(i + 1)
        } else if self.repeat.get_untracked() == 1 || (!auto && len > 1) {
            Some(0)
        } else {
            None
        }
    }

    /// Goes on to the next entry (at the end of one when `auto`).
    fn advance(self, auto: bool) {
        if auto && self.repeat.get_untracked() == 2 {
            self.deck.seek(0.0);
            if let Some(a) = self.audio() {
                let _ = a.play();
            }
            return;
        }
        let at_end =
            self.at.get_untracked().map(|i| i + 1) == Some(self.items.with_untracked(Vec::len));
        if at_end && self.more.with_untracked(Option::is_some) && !self.shuffle.get_untracked() {
            // The list goes on: fetch its next page, then play on.
            let from = self.items.with_untracked(Vec::len);
            leptos::task::spawn_local(async move {
                self.fetch_more().await;
                if self.items.with_untracked(Vec::len) > from {
                    self.load(from, None, true);
                }
            });
            return;
        }
        match self.next_index(auto) {
            Some(i) => self.load(i, None, true),
            None => self.say("End of the queue".into()),
        }
    }

    fn previous(self) {
        let pos = self.deck.current.get_untracked();
        match self.at.get_untracked() {
            Some(i) if pos < 3.0 && i > 0 => self.load(i - 1, None, true),
            _ => {
                self.deck.seek(0.0);
                if let Some(a) = self.audio() {
                    let _ = a.play();
                }
            }
        }
    }

    fn fetch_more_if_near(self, idx: usize) {
        if idx + 2 >= self.items.with_untracked(Vec::len)
            && self.more.with_untracked(Option::is_some)
        {
            leptos::task::spawn_local(async move { self.fetch_more().await });
        }
    }

    /// Appends the next page of the list being played (one at a time).
    async fn fetch_more(self) {
        let Some(q) = self.more.get_untracked() else {
            return;
        };
        if self.fetching.get_untracked() {
            return;
        }
        self.fetching.set(true);
        let got = crate::tracks::api::list_tracks(q.clone()).await;
        self.fetching.set(false);
        match got {
            Ok(page) => {
                self.items.update(|v| {
                    v.extend(
                        page.items
                            .iter()
                            .filter(|t| t.duration_ms.is_some())
                            .map(entry_of_row),
                    )
                });
                self.more.set(page.next.map(|c| ListQuery {
                    cursor: Some(c),
                    ..q
                }));
            }
            Err(e) => self.say(format!("The rest of the list could not be loaded: {e}")),
        }
    }

    /// Keeps the position: in local storage every second, on the server
    /// (long tracks) every 15 s while playing, or now when `now`.
    fn keep_position(self, now: bool) {
        let t = now_secs();
        let (local, server) = self.saved_at.get_value();
        if now || t - local >= 1.0 {
            self.store();
            self.saved_at.set_value((t, server));
        }
        let Some(info) = self.info.get_untracked() else {
            return;
        };
        if info.duration_ms.unwrap_or(0) < RESUME_MIN_MS || !(now || t - server >= 15.0) {
            return;
        }
        self.saved_at.update_value(|s| s.1 = t);
        let ms = (self.deck.current.get_untracked() * 1000.0) as i64;
        if ms < 1000 {
            return;
        }
        leptos::task::spawn_local(async move {
            let _ = save_position(info.id, ms).await;
        });
    }

    fn store(self) {
        let saved = Saved {
            items: self.items.get_untracked(),
            at: self.at.get_untracked(),
            pos: self.deck.current.get_untracked(),
            repeat: self.repeat.get_untracked(),
            shuffle: self.shuffle.get_untracked(),
            speed: self.speed.get_untracked(),
            volume: self.volume.get_untracked(),
            more: self.more.get_untracked(),
        };
        if let (Ok(text), Some(s)) = (serde_json::to_string(&saved), storage()) {
            let _ = s.set_item(SAVED_KEY, &text);
        }
    }

    fn restore(self) {
        let Some(saved) = storage()
            .and_then(|s| s.get_item(SAVED_KEY).ok().flatten())
            .and_then(|t| crate::codec::decode::<Saved>(&t).ok())
        else {
            return;
        };
        self.repeat.set(saved.repeat.min(2));
        self.shuffle.set(saved.shuffle);
        if SPEEDS.contains(&saved.speed) {
            self.speed.set(saved.speed);
        }
        if (0.0..=1.0).contains(&saved.volume) {
            self.volume.set(saved.volume);
        }
        self.more.set(saved.more);
        self.items.set(saved.items);
        if let Some(i) = saved
            .at
            .filter(|i| *i < self.items.with_untracked(Vec::len))
        {
            self.load(i, Some(saved.pos.max(0.0)), false);
        }
    }

    /// Adds track `id` after the current entry (`next`) or at the end.
    fn enqueue(self, id: i64, next: bool) {
        leptos::task::spawn_local(async move {
            match play_item(id, None).await {
                Ok(info) => {
                    let entry = Entry::of(&info);
                    let title = entry.title.clone();
                    let empty = self.at.get_untracked().is_none();
                    let at = self.at.get_untracked().map(|i| i + 1).unwrap_or(0);
                    self.items.update(|v| {
                        let i = if next { at.min(v.len()) } else { v.len() };
                        v.insert(i, entry);
                    });
                    self.store();
                    if empty {
                        let i = if next {
                            at
                        } else {
                            self.items.with_untracked(Vec::len) - 1
                        };
                        self.load(i, None, next);
                    }
                    self.say(if next {
                        format!("“{title}” plays next")
                    } else {
                        format!("“{title}” added to the queue")
                    });
                }
                Err(e) => self.say(format!("That track cannot be played: {e}")),
            }
        });
    }

    fn handle(self, cmd: Cmd) {
        match cmd {
            Cmd::Play(id, at) => {
                if self.deck.has(id) {
                    if let Some(t) = at {
                        self.deck.seek(t);
                    }
                    if let Some(a) = self.audio() {
                        let _ = a.play();
                    }
                    return;
                }
                let i = self.slot_for(id);
                self.load(i, at, true);
            }
            Cmd::Next(id) => self.enqueue(id, true),
            Cmd::Add(id) => self.enqueue(id, false),
            Cmd::Cue(id, at) => {
                if self.deck.playing.get_untracked() {
                    return;
                }
                if self.deck.has(id) {
                    self.deck.seek(at);
                    return;
                }
                let i = self.slot_for(id);
                self.load(i, Some(at), false);
            }
            Cmd::All => self.play_all(),
            Cmd::Version(id, version) => {
                // The element's own position: the signal lags it while playing.
                let (pos, playing) = match (self.deck.has(id), self.audio()) {
                    (true, Some(a)) => (a.current_time(), !a.paused()),
                    _ => (0.0, false),
                };
                self.seq.update_value(|n| *n += 1);
                let mine = self.seq.get_value();
                leptos::task::spawn_local(async move {
                    match play_item(id, Some(version)).await {
                        Ok(info) if self.seq.get_value() == mine => {
                            if !self.deck.has(id) {
                                let i = self.at.get_untracked().map(|i| i + 1).unwrap_or(0);
                                self.items
                                    .update(|v| v.insert(i.min(v.len()), Entry::of(&info)));
                                self.at
                                    .set(Some(i.min(self.items.with_untracked(Vec::len) - 1)));
                            }
                            let label = format!("Now v{}", info.version);
                            self.set_source(info, Some(pos), playing, false);
                            self.say(label);
                        }
                        Ok(_) => {}
                        Err(e) => self.say(format!("That version cannot be played: {e}")),
                    }
                });
            }
        }
    }

    /// The queue entry to load track `id` into: the current one when it is
    /// that track (a restored queue), else a new one after it.
    fn slot_for(self, id: i64) -> usize {
        let at = self.at.get_untracked();
        if let Some(i) =
            at.filter(|i| self.items.with_untracked(|v| v.get(*i).map(|e| e.id)) == Some(id))
        {
            return i;
        }
        let i = at.map(|i| i + 1).unwrap_or(0);
        self.items.update(|v| {
            let i = i.min(v.len());
            v.insert(
                i,
                Entry {
                    id,
                    title: "…".into(),
                    artist: String::new(),
                    art: None,
                    duration_ms: None,
                },
            );
        });
        i.min(self.items.with_untracked(Vec::len) - 1)
    }

    /// Plays the list the page shows (its search and order, from the page
    /// shown), fetching further pages as the queue reaches them.
    fn play_all(self) {
        let loc = window().location();
        let path = loc.pathname().unwrap_or_default();
        let search = loc.search().unwrap_or_default();
        let params = web_sys::UrlSearchParams::new_with_str(&search).ok();
        let get = |k: &str| params.as_ref().and_then(|p| p.get(k));
        let q = ListQuery {
            mine: path.starts_with("/mine"),
            q: get("q").unwrap_or_default(),
            sort: get("sort")
                .as_deref()
                .and_then(Sort::parse)
                .unwrap_or_default(),
            cursor: get("page"),
            per: get("per").and_then(|v| v.parse().ok()),
        };
        leptos::task::spawn_local(async move {
            match crate::tracks::api::list_tracks(q.clone()).await {
                Ok(page) => {
                    let items: Vec<Entry> = page
                        .items
                        .iter()
                        .filter(|t| t.duration_ms.is_some())
                        .map(entry_of_row)
                        .collect();
                    if items.is_empty() {
                        self.say("Nothing here can be played yet".into());
                        return;
                    }
                    self.items.set(items);
                    self.more.set(page.next.map(|c| ListQuery {
                        cursor: Some(c),
                        ..q
                    }));
                    self.at.set(None);
                    self.load(0, None, true);
                }
                Err(e) => self.say(format!("The list could not be loaded: {e}")),
            }
        });
    }

    fn remove(self, i: usize) {
        let at = self.at.get_untracked();
        self.items.update(|v| {
            if i < v.len() {
                v.remove(i);
            }
        });
        match at {
            Some(a) if a == i => {
                // The one loaded: it keeps playing until it ends; the queue
                // goes on from where it was.
                self.at.set(if i == 0 { None } else { Some(i - 1) });
            }
            Some(a) if a > i => self.at.set(Some(a - 1)),
            _ => {}
        }
        self.store();
    }

    fn shift(self, i: usize, up: bool) {
        let len = self.items.with_untracked(Vec::len);
        let j = if up {
            i.checked_sub(1)
        } else {
            (i + 1 < len).then_some(i + 1)
        };
        let Some(j) = j else {
            return;
        };
        self.items.update(|v| v.swap(i, j));
        let at = self.at.get_untracked();
        if at == Some(i) {
            self.at.set(Some(j));
        } else if at == Some(j) {
            self.at.set(Some(i));
        }
        self.store();
    }
}

fn entry_of_row(t: &crate::tracks::TrackSummary) -> Entry {
    Entry {
        id: t.id,
        title: t.title.clone(),
        artist: t.artist.clone(),
        art: t.art.clone(),
        duration_ms: t.duration_ms,
    }
}

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

/// `navigator.mediaSession`, where the browser has one.
fn media_session() -> Option<JsValue> {
    let ms = js_sys::Reflect::get(&window().navigator(), &"mediaSession".into()).ok()?;
    (!ms.is_undefined() && !ms.is_null()).then_some(ms)
}

fn set(obj: &JsValue, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(obj, &key.into(), value);
}

/// Title, artist and artwork on the lock screen.
fn media_metadata(info: &PlayInfo) {
    let Some(ms) = media_session() else {
        return;
    };
    let Ok(ctor) = js_sys::Reflect::get(&window(), &"MediaMetadata".into()) else {
        return;
    };
    let Ok(ctor) = ctor.dyn_into::<js_sys::Function>() else {
        return;
    };
    let init = js_sys::Object::new();
    set(&init, "title", &info.title.as_str().into());
    set(&init, "artist", &info.artist.as_str().into());
    set(&init, "album", &"wavekeep".into());
    let art = js_sys::Array::new();
    if let Some(token) = &info.art {
        for w in [256u32, 768] {
            let img = js_sys::Object::new();
            set(&img, "src", &crate::tracks::art_src(token, w).into());
            set(&img, "sizes", &format!("{w}x{w}").into());
            set(&img, "type", &"image/webp".into());
            art.push(&img);
        }
    }
    set(&init, "artwork", &art);
    if let Ok(md) = js_sys::Reflect::construct(&ctor, &js_sys::Array::of1(&init)) {
        set(&ms, "metadata", &md);
    }
}

fn media_state(playing: bool) {
    if let Some(ms) = media_session() {
        set(
            &ms,
            "playbackState",
            &(if playing { "playing" } else { "paused" }).into(),
        );
    }
}

fn media_position(a: &web_sys::HtmlAudioElement) {
    let Some(ms) = media_session() else {
        return;
    };
    let d = a.duration();
    if !d.is_finite() || d <= 0.0 {
        return;
    }
    let state = js_sys::Object::new();
    set(&state, "duration", &d.into());
    set(&state, "playbackRate", &a.playback_rate().into());
    set(&state, "position", &a.current_time().clamp(0.0, d).into());
    if let Ok(f) = js_sys::Reflect::get(&ms, &"setPositionState".into()) {
        if let Ok(f) = f.dyn_into::<js_sys::Function>() {
            let _ = f.call1(&ms, &state);
        }
    }
}

/// The lock screen's and media keys' buttons.
fn media_handlers(bar: Bar) {
    let Some(ms) = media_session() else {
        return;
    };
    let Ok(f) = js_sys::Reflect::get(&ms, &"setActionHandler".into()) else {
        return;
    };
    let Ok(f) = f.dyn_into::<js_sys::Function>() else {
        return;
    };
    let deck = bar.deck;
    let on = |name: &str, h: Box<dyn Fn(JsValue)>| {
        let cb = Closure::<dyn Fn(JsValue)>::new(h).into_js_value();
        let _ = f.call2(&ms, &name.into(), &cb);
    };
    on(
        "play",
        Box::new(move |_| {
            if let Some(a) = bar.audio() {
                let _ = a.play();
            }
        }),
    );
    on(
        "pause",
        Box::new(move |_| {
            if let Some(a) = bar.audio() {
                a.pause().ok();
            }
        }),
    );
    on("nexttrack", Box::new(move |_| bar.advance(false)));
    on("previoustrack", Box::new(move |_| bar.previous()));
    on(
        "seekbackward",
        Box::new(move |_| deck.seek(deck.current.get_untracked() - 10.0)),
    );
    on(
        "seekforward",
        Box::new(move |_| deck.seek(deck.current.get_untracked() + 10.0)),
    );
    on(
        "seekto",
        Box::new(move |d: JsValue| {
            if let Some(t) = js_sys::Reflect::get(&d, &"seekTime".into())
                .ok()
                .and_then(|v| v.as_f64())
            {
                deck.seek(t);
            }
        }),
    );
}

/// Whether a key press belongs to a field being typed in (or a control
/// that uses the key itself).
fn typing(ev: &web_sys::KeyboardEvent) -> bool {
    let Some(el) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
    else {
        return false;
    };
    let tag = el.tag_name();
    matches!(tag.as_str(), "INPUT" | "TEXTAREA" | "SELECT")
        || el.is_content_editable()
        || (ev.key() == " " && matches!(tag.as_str(), "BUTTON" | "A" | "SUMMARY"))
}

/// Space / K: play or pause; ← →: 5 s; J / L: 10 s; N: next; P: previous;
/// never while typing in a field.
fn shortcuts(bar: Bar) {
    let deck = bar.deck;
    let handle = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.default_prevented() || ev.ctrl_key() || ev.meta_key() || ev.alt_key() || typing(&ev) {
            return;
        }
        if deck.now.get_untracked().is_none() {
            return;
        }
        let now = deck.current.get_untracked();
        let done = match ev.key().as_str() {
            " " | "k" | "K" => {
                deck.toggle();
                true
            }
            "ArrowLeft" => {
                deck.seek(now - 5.0);
                true
            }
            "ArrowRight" => {
                deck.seek(now + 5.0);
                true
            }
            "j" | "J" => {
                deck.seek(now - 10.0);
                true
            }
            "l" | "L" => {
                deck.seek(now + 10.0);
                true
            }
            "n" | "N" => {
                bar.advance(false);
                true
            }
            "p" | "P" => {
                bar.previous();
                true
            }
            _ => false,
        };
        if done {
            ev.prevent_default();
        }
    });
    std::mem::forget(handle);
    // Leaving or reloading the page: keep the latest position.
    let gone = window_event_listener(leptos::ev::pagehide, move |_| bar.store());
    std::mem::forget(gone);
}

impl Bar {
    fn new(deck: Deck) -> Bar {
        Bar {
            deck,
            items: RwSignal::new(Vec::new()),
            at: RwSignal::new(None),
            info: RwSignal::new(None),
            repeat: RwSignal::new(0),
            shuffle: RwSignal::new(false),
            speed: RwSignal::new(1.0),
            volume: RwSignal::new(1.0),
            more: RwSignal::new(None),
            fetching: RwSignal::new(false),
            resumed: RwSignal::new(None),
            pending: StoredValue::new(None),
            message: RwSignal::new(String::new()),
            queue_open: RwSignal::new(false),
            saved_at: StoredValue::new((0.0, 0.0)),
            seq: StoredValue::new(0),
        }
    }
}

#[component]
fn BarView(bar: Bar) -> impl IntoView {
    let deck = bar.deck;
    let audio = deck.audio;
    // Settings and the queue are kept as they change.
    Effect::new(move |_| {
        bar.items.track();
        bar.at.track();
        bar.repeat.track();
        bar.shuffle.track();
        bar.speed.track();
        bar.volume.track();
        bar.store();
    });
    Effect::new(move |_| {
        let v = bar.volume.get();
        if let Some(a) = audio.get() {
            a.set_volume(v);
        }
    });
    Effect::new(move |_| {
        let s = bar.speed.get();
        if let Some(a) = audio.get() {
            a.set_default_playback_rate(s);
            a.set_playback_rate(s);
            set(&a, "preservesPitch", &true.into());
            media_position(&a);
        }
    });

    let on_meta = move |_| {
        let Some(a) = bar.audio() else {
            return;
        };
        if a.duration().is_finite() && a.duration() > 0.0 {
            deck.total.set(a.duration());
        }
        a.set_playback_rate(bar.speed.get_untracked());
        if let Some((t, _)) = bar.pending.get_value() {
            if (a.current_time() - t).abs() > 0.5 {
                a.set_current_time(t);
            }
            deck.current.set(t);
        }
        bar.pending.set_value(None);
        media_position(&a);
    };
    let on_time = move |_| {
        if let Some(a) = bar.audio() {
            if bar.pending.with_value(Option::is_none) {
                deck.current.set(a.current_time());
            }
            // Paused, it only moves when sought: keep each such move.
            bar.keep_position(a.paused());
        }
    };
    let on_ended = move |_| {
        deck.playing.set(false);
        if let Some(info) = bar.info.get_untracked() {
            if info.duration_ms.unwrap_or(0) >= RESUME_MIN_MS {
                let end = info.duration_ms.unwrap_or(0);
                leptos::task::spawn_local(async move {
                    let _ = save_position(info.id, end).await;
                });
            }
        }
        bar.advance(true);
    };
    let on_error = move |_| {
        if bar.audio().is_some_and(|a| a.error().is_some()) {
            let title = bar
                .info
                .with_untracked(|i| i.as_ref().map(|i| i.title.clone()))
                .unwrap_or_default();
            bar.say(format!("“{title}” could not be played"));
        }
    };

    let progress = move || {
        let t = deck.total.get();
        if t > 0.0 {
            (deck.current.get() / t).clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    let seek_frac = move |ev: leptos::ev::MouseEvent| {
        if let Some(frac) = click_fraction(&ev) {
            deck.seek(frac * deck.total.get_untracked());
        }
    };
    let slider_keys = move |ev: leptos::ev::KeyboardEvent| {
        let (now, total) = (deck.current.get_untracked(), deck.total.get_untracked());
        if let Some(to) = slider_target(&ev.key(), now, total) {
            ev.prevent_default();
            deck.seek(to);
        }
    };
    let copy_link = move |_| {
        let Some((id, _)) = deck.now.get_untracked() else {
            return;
        };
        let origin = window().location().origin().unwrap_or_default();
        let link = format!(
            "{origin}/tracks/{id}?t={}",
            super::moment(deck.current.get_untracked())
        );
        let clip = js_sys::Reflect::get(&window().navigator(), &"clipboard".into())
            .ok()
            .filter(|c| !c.is_undefined());
        let wrote = clip.and_then(|c| {
            let f = js_sys::Reflect::get(&c, &"writeText".into()).ok()?;
            f.dyn_into::<js_sys::Function>()
                .ok()?
                .call1(&c, &link.as_str().into())
                .ok()
        });
        bar.say(match wrote {
            Some(_) => format!("Link copied: {link}"),
            None => format!("Link: {link}"),
        });
    };
    let start_over = move |_| {
        bar.resumed.set(None);
        deck.seek(0.0);
        if let Some((id, _)) = deck.now.get_untracked() {
            leptos::task::spawn_local(async move {
                let _ = save_position(id, 0).await;
            });
        }
    };
    let title = move || {
        bar.info
            .with(|i| i.as_ref().map(|i| i.title.clone()).unwrap_or_default())
    };
    let byline = move || {
        bar.info.with(|i| {
            i.as_ref()
                .map(|i| {
                    let mut s = i.artist.clone();
                    if i.version > 1 {
                        if !s.is_empty() {
                            s.push_str(" · ");
                        }
                        s.push_str(&format!("v{}", i.version));
                    }
                    s
                })
                .unwrap_or_default()
        })
    };
    let href = move || {
        bar.info.with(|i| {
            i.as_ref()
                .map(|i| format!("/tracks/{}", i.id))
                .unwrap_or_default()
        })
    };
    let wave = move || {
        bar.info.with(|i| {
            i.as_ref()
                .and_then(|i| i.wave.clone())
                .map(|w| mini_path(&w))
                .unwrap_or_default()
        })
    };
    let at = Memo::new(move |_| format!("{:.4}", progress()));
    let time_text = move || {
        format!(
            "{} / {}",
            clock(deck.current.get()),
            clock(deck.total.get())
        )
    };

    view! {
        <section class="deckbar" aria-label="Player" data-testid="deckbar">
            <audio
                node_ref=audio
                preload="metadata"
                data-testid="deck-audio"
                on:play=move |_| {
                    deck.playing.set(true);
                    media_state(true);
                }
                on:pause=move |_| {
                    deck.playing.set(false);
                    media_state(false);
                    bar.keep_position(true);
                }
                on:ended=on_ended
                on:timeupdate=on_time
                on:loadedmetadata=on_meta
                on:seeked=move |_| {
                    if let Some(a) = bar.audio() {
                        media_position(&a);
                    }
                }
                on:error=on_error
            ></audio>
            <div class="deck-art">
                {move || bar.info.with(|i| i.as_ref().map(|i| crate::components::art::art_thumb(i.art.as_deref(), &i.title)))}
            </div>
            <div class="deck-meta">
                <a href=href class="deck-title" data-testid="deck-title">{title}</a>
                <span class="muted small" data-testid="deck-byline">{byline}</span>
            </div>
            <div class="deck-buttons">
                <button class="ghost" aria-label="Previous" data-testid="deck-prev" on:click=move |_| bar.previous()>"⏮"</button>
                <button
                    class="play"
                    data-testid="deck-play"
                    aria-label=move || if deck.playing.get() { "Pause" } else { "Play" }
                    on:click=move |_| deck.toggle()
                >
                    {move || if deck.playing.get() { "❚❚" } else { "▶" }}
                </button>
                <button class="ghost" aria-label="Next" data-testid="deck-next" on:click=move |_| bar.advance(false)>"⏭"</button>
            </div>
            <div
                class="deck-wave"
                role="slider"
                tabindex="0"
                aria-label="Position"
                aria-valuemin="0"
                aria-valuemax=move || format!("{:.0}", deck.total.get())
                aria-valuenow=move || format!("{:.0}", deck.current.get())
                aria-valuetext=time_text
                data-testid="deck-wave"
                on:click=seek_frac
                on:keydown=slider_keys
            >
                <svg viewBox="0 0 64 52" preserveAspectRatio="none" aria-hidden="true">
                    <defs>
                        <linearGradient id="deck-progress" gradientUnits="userSpaceOnUse" x1="0" y1="0" x2="64" y2="0">
                            <stop offset="0" class="wave-played-stop" />
                            <stop offset=move || at.get() class="wave-played-stop" />
                            <stop offset=move || at.get() class="wave-rest-stop" />
                            <stop offset="1" class="wave-rest-stop" />
                        </linearGradient>
                    </defs>
                    <path d=wave class="mini-line" stroke="url(#deck-progress)" />
                    <path d=move || format!("M0 25h{:.2}", progress() * 64.0) class="deck-line" />
                </svg>
            </div>
            <span class="time small" data-testid="deck-time">{time_text}</span>
            <div class="deck-extra">
                <label class="small">
                    <span class="visually-hidden">"Speed"</span>
                    <select
                        aria-label="Playback speed"
                        data-testid="deck-speed"
                        on:change=move |ev| {
                            if let Ok(s) = event_target_value(&ev).parse::<f64>() {
                                bar.speed.set(s);
                            }
                        }
                    >
                        {SPEEDS.into_iter().map(|s| view! {
                            <option value=s.to_string() selected=move || bar.speed.get() == s>{format!("{s}×")}</option>
                        }).collect_view()}
                    </select>
                </label>
                <input
                    type="range"
                    min="0"
                    max="1"
                    step="0.05"
                    aria-label="Volume"
                    data-testid="deck-volume"
                    prop:value=move || bar.volume.get().to_string()
                    on:input=move |ev| {
                        if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                            bar.volume.set(v.clamp(0.0, 1.0));
                        }
                    }
                />
                <button
                    class="ghost small"
                    data-testid="deck-repeat"
                    aria-pressed=move || (bar.repeat.get() > 0).to_string()
                    on:click=move |_| bar.repeat.update(|r| *r = (*r + 1) % 3)
                >
                    {move || REPEAT_LABELS[usize::from(bar.repeat.get().min(2))]}
                </button>
                <button
                    class="ghost small"
                    data-testid="deck-shuffle"
                    aria-pressed=move || bar.shuffle.get().to_string()
                    on:click=move |_| bar.shuffle.update(|s| *s = !*s)
                >
                    "Shuffle"
                </button>
                <button class="ghost small" data-testid="deck-copy" on:click=copy_link>"Copy link at this moment"</button>
                <button
                    class="ghost small"
                    data-testid="deck-queue-toggle"
                    aria-expanded=move || bar.queue_open.get().to_string()
                    aria-controls="deck-queue"
                    on:click=move |_| bar.queue_open.update(|o| *o = !*o)
                >
                    {move || format!("Queue ({})", bar.items.with(Vec::len))}
                </button>
            </div>
            {move || bar.resumed.get().map(|t| view! {
                <p class="deck-resumed small" data-testid="deck-resumed">
                    {format!("Resumed at {} ", clock(t))}
                    <button class="ghost small" data-testid="deck-start-over" on:click=start_over>"Start over"</button>
                </p>
            })}
            <p class="deck-live small muted" role="status" aria-live="polite" data-testid="deck-live">{move || bar.message.get()}</p>
            <Show when=move || bar.queue_open.get()>
                <QueuePanel bar />
            </Show>
        </section>
    }
}

#[component]
fn QueuePanel(bar: Bar) -> impl IntoView {
    view! {
        <div class="deck-queue" id="deck-queue" data-testid="queue">
            <h2 class="small">"Queue"</h2>
            <ol>
                {move || bar.items.get().into_iter().enumerate().map(|(i, e)| {
                    let current = move || bar.at.get() == Some(i);
                    let len = bar.items.with_untracked(Vec::len);
                    view! {
                        <li data-testid="queue-item" data-id=e.id aria-current=move || current().then_some("true") class:current=current>
                            <button class="ghost queue-title" data-testid="queue-play" on:click=move |_| bar.load(i, None, true)>
                                {e.title.clone()}
                            </button>
                            <span class="muted small">{e.duration_ms.map(crate::fmt::duration).unwrap_or_default()}</span>
                            <button class="ghost small" aria-label=format!("Move “{}” up", e.title) data-testid="queue-up" disabled=i == 0 on:click=move |_| bar.shift(i, true)>"↑"</button>
                            <button class="ghost small" aria-label=format!("Move “{}” down", e.title) data-testid="queue-down" disabled=i + 1 == len on:click=move |_| bar.shift(i, false)>"↓"</button>
                            <button class="ghost small" aria-label=format!("Remove “{}”", e.title) data-testid="queue-remove" on:click=move |_| bar.remove(i)>"✕"</button>
                        </li>
                    }
                }).collect_view()}
            </ol>
            {move || bar.fetching.get().then(|| view! { <p class="muted small">"Loading more…"</p> })}
        </div>
    }
}
