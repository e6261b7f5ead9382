//! The browser side of the uploader: files from the input or a drop, and
//! tus-js-client (through `public/js/uploader.js`). On the server the page
//! only renders, and the functions here do nothing.

#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::*;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    use super::super::{Entry, Status};
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

    /// Runs `f` once `public/js/uploader.js` has run: now, or when the
    /// page's deferred scripts are done (the wasm may hydrate first).
    pub fn when_loaded(f: impl FnOnce() + 'static) {
        let loaded = js_sys::Reflect::has(&window(), &JsValue::from_str("wavekeepUploader"))
            .unwrap_or(false);
        if loaded || document().ready_state() == "complete" {
            f();
            return;
        }
        let once = web_sys::AddEventListenerOptions::new();
        once.set_once(true);
        let _ = window().add_event_listener_with_callback_and_add_event_listener_options(
            "load",
            Closure::once_into_js(f).unchecked_ref(),
            &once,
        );
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
                let Ok(p) = crate::codec::decode::<TrackProgress>(&data) else {
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

#[cfg(not(feature = "hydrate"))]
mod server {
    use leptos::prelude::*;

    use super::super::Entry;

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
    pub fn when_loaded(_: impl FnOnce() + 'static) {}
    pub fn pending() -> Vec<(String, f64)> {
        Vec::new()
    }
    pub fn start(_: FileRef, _: Entry, _: Vec<(String, String)>) {}
    pub fn pause(_: StoredValue<Option<Handle>, LocalStorage>) {}
    pub fn resume(_: StoredValue<Option<Handle>, LocalStorage>) {}
}

#[cfg(feature = "hydrate")]
pub use browser::*;
#[cfg(not(feature = "hydrate"))]
pub use server::*;
