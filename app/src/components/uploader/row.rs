//! One file on the upload page: progress, speed, time left, pause /
//! resume, and once stored, its processing, followed live.

use leptos::prelude::*;

use super::{client, Entry, Status};
use crate::fmt;

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
pub fn UploadRow(entry: Entry) -> impl IntoView {
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
