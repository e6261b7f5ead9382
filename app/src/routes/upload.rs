//! /upload: drop (or pick) any number of audio files; each becomes a track.
//! Uploads are resumable (tus): 5 MB chunks, four in flight for large files,
//! pause and resume, automatic retries when the network drops, and an
//! unfinished upload continues where it stopped when the same file is added
//! again after a reload. The transfer itself is tus-js-client, driven through
//! `public/js/uploader.js`; this page keeps the state and draws it.

use leptos::prelude::*;
use leptos_meta::{Script, Title};

use super::SignInPrompt;
use crate::fmt;
use crate::providers::auth::use_auth;

#[component]
pub fn UploadPage() -> impl IntoView {
    let viewer = use_auth().page_viewer();
    view! {
        <Title text="Upload" />
        <Script src="/vendor/tus.min.js" defer="defer" />
        <Script src="/js/uploader.js" defer="defer" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Some(_)) => view! { <Uploader /> }.into_any(),
                    Ok(None) => view! { <SignInPrompt next="/upload" /> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Status {
    Starting,
    Uploading,
    Paused,
    Done(i64),
    Failed(String),
}

/// One file on the page.
#[derive(Clone)]
struct Entry {
    key: usize,
    name: String,
    size: f64,
    sent: RwSignal<f64>,
    /// Bytes per second, smoothed.
    speed: RwSignal<f64>,
    status: RwSignal<Status>,
    resumed: RwSignal<bool>,
    /// After the upload: processing, ready or failed, and what to say.
    processing: RwSignal<Option<(String, String)>>,
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    control: StoredValue<Option<client::Handle>, LocalStorage>,
}

fn percent(sent: f64, size: f64) -> f64 {
    if size <= 0.0 {
        100.0
    } else {
        (sent / size * 100.0).clamp(0.0, 100.0)
    }
}

fn time_left(remaining: f64, speed: f64) -> String {
    if speed < 1.0 {
        return "—".into();
    }
    let secs = (remaining / speed).ceil() as i64;
    if secs >= 3600 {
        format!("{} h {} min left", secs / 3600, (secs % 3600) / 60)
    } else if secs >= 60 {
        format!("{} min {} s left", secs / 60, secs % 60)
    } else {
        format!("{secs} s left")
    }
}

#[component]
fn Uploader() -> impl IntoView {
    // `?target=stem&version_id=N` (stems into a version) or
    // `?target=version&track_id=N` (a new version); new tracks otherwise.
    let query = leptos_router::hooks::use_query_map().get_untracked();
    let target = query.get("target").unwrap_or_else(|| "track".into());
    let target_id = match target.as_str() {
        "stem" => query.get("version_id"),
        "version" => query.get("track_id"),
        _ => None,
    };
    let target = if target_id.is_some() {
        target
    } else {
        "track".into()
    };
    let visibility = RwSignal::new("private".to_string());
    let role = RwSignal::new(String::new());
    let heading = match target.as_str() {
        "stem" => "Upload stems",
        "version" => "Upload a new version",
        _ => "Upload",
    };
    let is_stem = target == "stem";
    let is_track = target == "track";
    let target_sv = StoredValue::new((target.clone(), target_id));
    let extra_for = {
        move |name: &str| -> Vec<(String, String)> {
            let (target, target_id) = target_sv.get_value();
            let mut m = vec![("target".to_string(), target.clone())];
            match target.as_str() {
                "stem" => {
                    m.push(("version_id".into(), target_id.clone().unwrap_or_default()));
                    let typed = role.get_untracked().trim().to_string();
                    let r = if typed.is_empty() {
                        name.rsplit_once('.')
                            .map(|(b, _)| b)
                            .unwrap_or(name)
                            .to_string()
                    } else {
                        typed
                    };
                    m.push(("role".into(), r));
                }
                "version" => m.push(("track_id".into(), target_id.clone().unwrap_or_default())),
                _ => m.push(("visibility".into(), visibility.get_untracked())),
            }
            m
        }
    };
    let entries = RwSignal::new(Vec::<Entry>::new());
    let dragging = RwSignal::new(false);
    let pending = RwSignal::new(Vec::<(String, f64)>::new());
    let next_key = StoredValue::new(0usize);

    #[cfg(feature = "hydrate")]
    Effect::new(move |_| pending.set(client::pending()));

    let add = move |files: Vec<client::FileRef>| {
        for file in files {
            let key = next_key.get_value();
            next_key.set_value(key + 1);
            let entry = Entry {
                key,
                name: client::name(&file),
                size: client::size(&file),
                sent: RwSignal::new(0.0),
                speed: RwSignal::new(0.0),
                status: RwSignal::new(Status::Starting),
                resumed: RwSignal::new(false),
                processing: RwSignal::new(None),
                control: StoredValue::new_local(None),
            };
            entries.update(|v| v.push(entry.clone()));
            let extra = extra_for(&entry.name);
            client::start(file, entry, extra);
        }
        pending.set(client::pending());
    };

    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        add(client::dropped(&ev));
    };
    let on_pick = move |ev: leptos::ev::Event| add(client::picked(&ev));

    view! {
        <section class="card" data-testid="uploader">
            <h1>{heading}</h1>
            <div class="upload-options">
                <Show when=move || is_track>
                    <label>
                        "Visibility "
                        <select
                            data-testid="upload-visibility"
                            on:change=move |ev| visibility.set(event_target_value(&ev))
                        >
                            <option value="private" selected>"Private (only you)"</option>
                            <option value="unlisted">"Unlisted (anyone with the link)"</option>
                            <option value="public">"Public (listed)"</option>
                        </select>
                    </label>
                </Show>
                <Show when=move || is_stem>
                    <label>
                        "Role "
                        <input
                            type="text"
                            placeholder="drums, vocals… (default: the file name)"
                            data-testid="upload-role"
                            on:input=move |ev| role.set(event_target_value(&ev))
                        />
                    </label>
                </Show>
            </div>
            <label
                class="dropzone"
                class:dragging=move || dragging.get()
                on:dragover=move |ev: leptos::ev::DragEvent| {
                    ev.prevent_default();
                    dragging.set(true);
                }
                on:dragleave=move |_| dragging.set(false)
                on:drop=on_drop
            >
                <input
                    type="file"
                    multiple
                    accept="audio/*,.mp3,.flac,.wav,.ogg,.m4a,.aac,.alac"
                    data-testid="file-input"
                    on:change=on_pick
                />
                <span class="dropzone-text">"Drop audio files here, or click to choose"</span>
                <span class="muted">"MP3, FLAC, WAV, OGG Vorbis, AAC/M4A, ALAC"</span>
            </label>
            <Show when=move || !pending.get().is_empty()>
                <div class="notice" data-testid="pending-uploads">
                    <p>"Unfinished uploads from earlier — add the same file again to continue where it stopped:"</p>
                    <ul>
                        {move || {
                            pending
                                .get()
                                .into_iter()
                                .map(|(name, size)| {
                                    view! { <li>{name} " (" {fmt::bytes(size as i64)} ")"</li> }
                                })
                                .collect_view()
                        }}
                    </ul>
                </div>
            </Show>
            <ul class="uploads" data-testid="uploads">
                <For each=move || entries.get() key=|e| e.key let:entry>
                    <UploadRow entry />
                </For>
            </ul>
        </section>
    }
}

#[component]
fn UploadRow(entry: Entry) -> impl IntoView {
    let Entry {
        name,
        size,
        sent,
        speed,
        status,
        resumed,
        processing,
        ..
    } = entry.clone();
    let pct = move || percent(sent.get(), size);
    let line = move || match status.get() {
        Status::Starting => "Starting…".to_string(),
        Status::Uploading => format!(
            "{} of {} · {}/s · {}",
            fmt::bytes(sent.get() as i64),
            fmt::bytes(size as i64),
            fmt::bytes(speed.get() as i64),
            time_left(size - sent.get(), speed.get())
        ),
        Status::Paused => format!("Paused at {:.0} %", pct()),
        Status::Done(_) => match processing.get() {
            Some((_, text)) => text,
            None => format!("Uploaded {} · processing", fmt::bytes(size as i64)),
        },
        Status::Failed(e) => e,
    };
    let state_name = move || match status.get() {
        Status::Starting => "starting",
        Status::Uploading => "uploading",
        Status::Paused => "paused",
        Status::Done(_) => "done",
        Status::Failed(_) => "failed",
    };
    let control = entry.control;
    view! {
        <li
            class="upload"
            data-testid="upload-row"
            data-state=state_name
            data-processing=move || processing.get().map(|(s, _)| s)
        >
            <div class="upload-head">
                <span class="upload-name">{name}</span>
                <Show when=move || resumed.get()>
                    <span class="badge" data-testid="resumed">"resumed"</span>
                </Show>
                {move || match status.get() {
                    Status::Uploading | Status::Starting => view! {
                        <button type="button" class="small" on:click=move |_| {
                            client::pause(control);
                            status.set(Status::Paused);
                        }>"Pause"</button>
                    }.into_any(),
                    Status::Paused => view! {
                        <button type="button" class="small" on:click=move |_| {
                            client::resume(control);
                            status.set(Status::Uploading);
                        }>"Resume"</button>
                    }.into_any(),
                    Status::Done(id) => view! {
                        <a href=format!("/tracks/{id}") data-testid="track-link">"Open track"</a>
                    }.into_any(),
                    Status::Failed(_) => ().into_any(),
                }}
            </div>
            <progress max="100" value=move || format!("{:.1}", pct())></progress>
            <p
                class=move || {
                    let failed = matches!(status.get(), Status::Failed(_))
                        || processing.get().is_some_and(|(s, _)| s == "failed");
                    if failed { "error" } else { "muted" }
                }
                data-testid="upload-status"
            >
                {line}
            </p>
        </li>
    }
}

/// The browser side: files from the input or a drop, and tus-js-client.
#[cfg(feature = "hydrate")]
mod client {
    use leptos::prelude::*;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    use super::{Entry, Status};
    use crate::jobs::JobState;
    use crate::tracks::TrackProgress;

    pub type FileRef = web_sys::File;
    pub type Handle = JsValue;

    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = wavekeepUploader, js_name = start, catch)]
        fn js_start(
            file: &web_sys::File,
            meta: &JsValue,
            handlers: &JsValue,
        ) -> Result<JsValue, JsValue>;
        #[wasm_bindgen(js_namespace = wavekeepUploader, js_name = pending, catch)]
        fn js_pending() -> Result<JsValue, JsValue>;
    }

    fn list(files: Option<web_sys::FileList>) -> Vec<FileRef> {
        let Some(files) = files else {
            return Vec::new();
        };
        (0..files.length()).filter_map(|i| files.get(i)).collect()
    }

    pub fn dropped(ev: &web_sys::DragEvent) -> Vec<FileRef> {
        list(ev.data_transfer().and_then(|d| d.files()))
    }

    pub fn picked(ev: &web_sys::Event) -> Vec<FileRef> {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return Vec::new();
        };
        let files = list(input.files());
        // The same file can be chosen again later (to resume it).
        input.set_value("");
        files
    }

    pub fn name(f: &FileRef) -> String {
        f.name()
    }

    pub fn size(f: &FileRef) -> f64 {
        f.size()
    }

    fn set(obj: &js_sys::Object, key: &str, value: &JsValue) {
        let _ = js_sys::Reflect::set(obj, &JsValue::from_str(key), value);
    }

    pub fn pending() -> Vec<(String, f64)> {
        let Ok(v) = js_pending() else {
            return Vec::new();
        };
        js_sys::Array::from(&v)
            .iter()
            .map(|item| {
                let get = |k: &str| {
                    js_sys::Reflect::get(&item, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
                };
                (
                    get("name").as_string().unwrap_or_default(),
                    get("size").as_f64().unwrap_or(0.0),
                )
            })
            .collect()
    }

    pub fn start(file: FileRef, e: Entry, extra: Vec<(String, String)>) {
        let meta = js_sys::Object::new();
        set(&meta, "filename", &JsValue::from_str(&e.name));
        for (k, v) in &extra {
            set(&meta, k, &JsValue::from_str(v));
        }
        set(&meta, "filetype", &JsValue::from_str(&file.type_()));
        let handlers = js_sys::Object::new();
        let (sent, speed, status, resumed) = (e.sent, e.speed, e.status, e.resumed);
        let last = std::cell::Cell::new((js_sys::Date::now(), 0.0f64));
        let progress = Closure::<dyn FnMut(f64, f64)>::new(move |bytes: f64, _total: f64| {
            let now = js_sys::Date::now();
            let (t0, b0) = last.get();
            if now - t0 >= 250.0 {
                let rate = (bytes - b0).max(0.0) / ((now - t0) / 1000.0);
                let old = speed.get_untracked();
                speed.set(if old == 0.0 {
                    rate
                } else {
                    old * 0.7 + rate * 0.3
                });
                last.set((now, bytes));
            }
            if matches!(status.get_untracked(), Status::Starting) {
                status.set(Status::Uploading);
            }
            sent.set(bytes);
        });
        let processing = e.processing;
        let done = Closure::<dyn FnMut(f64)>::new(move |id: f64| {
            sent.set(e.size);
            status.set(Status::Done(id as i64));
            if id > 0.0 {
                watch(id as i64, processing);
            }
        });
        let failed = Closure::<dyn FnMut(String)>::new(move |msg: String| {
            status.set(Status::Failed(msg));
        });
        let on_resumed = Closure::<dyn FnMut()>::new(move || resumed.set(true));
        set(&handlers, "progress", &progress.into_js_value());
        set(&handlers, "done", &done.into_js_value());
        set(&handlers, "failed", &failed.into_js_value());
        set(&handlers, "resumed", &on_resumed.into_js_value());
        match js_start(&file, &meta, &handlers) {
            Ok(handle) => e.control.set_value(Some(handle)),
            Err(_) => status.set(Status::Failed(
                "the uploader did not load; reload the page and try again".into(),
            )),
        }
    }

    fn describe(p: &TrackProgress) -> String {
        match p.status.as_str() {
            "ready" => format!(
                "Ready · {}",
                p.duration_ms.map(crate::fmt::duration).unwrap_or_default()
            ),
            "failed" => format!(
                "Could not process this file: {}",
                p.error.clone().unwrap_or_else(|| "unknown error".into())
            ),
            _ => {
                let jobs: Vec<String> = p
                    .jobs
                    .iter()
                    .map(|j| match j.state {
                        JobState::Succeeded => format!("{} ✓", j.kind),
                        JobState::Running => format!("{} {} %", j.kind, j.progress),
                        _ => format!("{} waiting", j.kind),
                    })
                    .collect();
                format!("Processing · {}", jobs.join(" · "))
            }
        }
    }

    /// Follows the track's processing live (server-sent events) until it is
    /// ready or failed.
    fn watch(id: i64, processing: RwSignal<Option<(String, String)>>) {
        let Ok(source) = web_sys::EventSource::new(&format!("/api/v1/tracks/{id}/events")) else {
            return;
        };
        let on_event = {
            let source = source.clone();
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
                let Some(data) = ev.data().as_string() else {
                    return;
                };
                let Ok(p) = serde_json::from_str::<TrackProgress>(&data) else {
                    return;
                };
                if p.status != "processing" {
                    source.close();
                }
                processing.set(Some((p.status.clone(), describe(&p))));
            })
            .into_js_value()
        };
        for name in ["progress", "done"] {
            let _ = source.add_event_listener_with_callback(name, on_event.unchecked_ref());
        }
    }

    fn call(control: StoredValue<Option<Handle>, LocalStorage>, method: &str) {
        control.with_value(|h| {
            if let Some(h) = h {
                if let Ok(f) = js_sys::Reflect::get(h, &JsValue::from_str(method)) {
                    if let Some(f) = f.dyn_ref::<js_sys::Function>() {
                        let _ = f.call0(h);
                    }
                }
            }
        });
    }

    pub fn pause(control: StoredValue<Option<Handle>, LocalStorage>) {
        call(control, "pause");
    }

    pub fn resume(control: StoredValue<Option<Handle>, LocalStorage>) {
        call(control, "resume");
    }
}

/// On the server the page only renders; nothing here runs.
#[cfg(not(feature = "hydrate"))]
mod client {
    use leptos::prelude::*;

    use super::Entry;

    pub type FileRef = ();
    pub type Handle = ();

    pub fn dropped(_: &leptos::ev::DragEvent) -> Vec<FileRef> {
        Vec::new()
    }
    pub fn picked(_: &leptos::ev::Event) -> Vec<FileRef> {
        Vec::new()
    }
    pub fn name(_: &FileRef) -> String {
        String::new()
    }
    pub fn size(_: &FileRef) -> f64 {
        0.0
    }
    pub fn pending() -> Vec<(String, f64)> {
        Vec::new()
    }
    pub fn start(_: FileRef, _: Entry, _: Vec<(String, String)>) {}
    pub fn pause(_: StoredValue<Option<Handle>, LocalStorage>) {}
    pub fn resume(_: StoredValue<Option<Handle>, LocalStorage>) {}
}
