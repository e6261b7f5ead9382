//! The uploader: the files being uploaded and their state (`Entry`), the
//! drop zone and the file picker (`Uploader`), one row per file (`row`),
//! and the bridge to tus-js-client in the browser (`client`).

mod client;
mod row;

use leptos::prelude::*;

use row::UploadRow;

use crate::fmt;

#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub enum Status {
    Starting,
    Uploading,
    Paused,
    Done(i64),
    Failed(String),
}

/// One file on the page.
#[derive(Clone)]
pub struct Entry {
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

#[component]
pub fn Uploader() -> impl IntoView {
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

    Effect::new(move |_| client::when_loaded(move || pending.set(client::pending())));

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
                <span class="muted">"MP3, FLAC, WAV, AIFF, OGG Vorbis, Opus, AAC/M4A, ALAC"</span>
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
