//! The track page's transcript, aligned to the player: each segment with its
//! time (a click plays from there), the one being heard highlighted and kept
//! in view, a search inside it whose matches are marked in the text and on
//! the waveform (arriving from a search, its words are the query), the
//! owner's corrections in place, "Transcribe" / "Transcribe again" and the
//! exports. Nothing is requested until the page is up in the browser: a long
//! transcript never holds the page back.

use leptos::prelude::*;

use super::error_note::ErrorNote;
use super::player::Transport;
use crate::transcripts::api::{edit_segment, get_transcript, TranscribeTrack};
use crate::transcripts::{clock, pieces, terms_of, Segment, TranscriptPanel as Panel};

/// The panel's data, fetched in the browser once the page is up (the
/// server renders the "Loading" frame, which hydrates as it is).
#[derive(Clone, Copy)]
struct PanelData {
    track_id: i64,
    data: RwSignal<Option<Result<Panel, crate::errors::AppError>>>,
}

impl PanelData {
    /// Fetches the panel again; what is shown stays until the answer comes.
    fn reload(self) {
        leptos::task::spawn_local(async move {
            let r = get_transcript(self.track_id).await;
            self.data.set(Some(r));
        });
    }
}

/// The panel of track `track_id`; `query` (from a search) is highlighted.
#[component]
pub fn TranscriptPanel(track_id: i64, query: String) -> impl IntoView {
    let panel = PanelData {
        track_id,
        data: RwSignal::new(None),
    };
    // Effects run in the browser only, after hydration.
    Effect::new(move |_| panel.reload());
    let query = StoredValue::new(query);
    view! {
        <section class="transcript" data-testid="transcript">
            <h2>"Transcript"</h2>
            {move || match panel.data.get() {
                None => view! { <p class="muted" data-testid="transcript-loading">"Loading the transcript…"</p> }.into_any(),
                Some(Ok(p)) => view! { <Loaded p track_id query=query.get_value() panel /> }.into_any(),
                Some(Err(e)) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Loaded(p: Panel, track_id: i64, query: String, panel: PanelData) -> impl IntoView {
    let Panel {
        enabled,
        can_edit,
        transcript: t,
    } = p;
    let transcribe = ServerAction::<TranscribeTrack>::new();
    Effect::new(move |prev: Option<usize>| {
        let v = transcribe.version().get();
        if prev.is_some_and(|p| p != v)
            && matches!(transcribe.value().get_untracked(), Some(Ok(())))
        {
            panel.reload();
        }
        v
    });
    let working = matches!(t.status.as_str(), "queued" | "running");
    #[cfg(feature = "hydrate")]
    if working {
        // What the panel shows now: only a change reloads it.
        let shown = (t.status != "queued").then(|| crate::transcripts::TranscriptProgress {
            status: t.status.clone(),
            chunks_done: t.chunks_done,
            chunks_total: t.chunks_total,
        });
        follow(track_id, panel, shown);
    }
    let progress = (t.status == "running" && t.chunks_total > 0).then(|| {
        view! {
            <p class="muted" data-testid="transcript-progress">
                <progress max=t.chunks_total value=t.chunks_done></progress>
                " " {format!("Transcribing… part {} of {}", (t.chunks_done + 1).min(t.chunks_total), t.chunks_total)}
            </p>
        }
    });
    let status = match t.status.as_str() {
        "none" if !enabled => view! {
            <p class="muted" data-testid="transcript-off">"Transcription is not set up on this server."</p>
        }
        .into_any(),
        "none" => view! { <p class="muted" data-testid="transcript-none">"No transcript yet."</p> }.into_any(),
        "queued" => view! { <p class="muted" data-testid="transcript-queued">"Waiting for its turn to be transcribed…"</p> }.into_any(),
        "running" if t.chunks_total == 0 => {
            view! { <p class="muted" data-testid="transcript-progress">"Preparing the audio for transcription…"</p> }.into_any()
        }
        "failed" => view! {
            <ErrorNote
                error=format!("Transcription failed: {}", t.error.clone().unwrap_or_default())
                attr:data-testid="transcript-error"
            />
        }
        .into_any(),
        _ => ().into_any(),
    };
    let has_edits = t.segments.iter().any(|s| s.edited);
    let replace = RwSignal::new(false);
    let ask = (can_edit && enabled && !working).then(|| {
        let label = match t.status.as_str() {
            "none" => "Transcribe",
            "failed" => "Try again",
            _ => "Transcribe again",
        };
        view! {
            <div class="transcribe-actions">
                <button
                    data-testid="transcribe"
                    disabled=move || transcribe.pending().get()
                    on:click=move |_| {
                        transcribe.dispatch(TranscribeTrack { track_id, replace_edits: replace.get_untracked() });
                    }
                >
                    {label}
                </button>
                {has_edits.then(|| view! {
                    <label class="small">
                        <input type="checkbox" data-testid="replace-edits" on:change=move |ev| replace.set(event_target_checked(&ev)) />
                        " Replace my corrections"
                    </label>
                })}
                {move || transcribe.value().get().and_then(Result::err).map(|e| view! { <ErrorNote error=e.to_string() /> })}
            </div>
        }
    });
    let segments = (!t.segments.is_empty())
        .then(|| view! { <Segments segments=t.segments track_id can_edit query /> });
    view! {
        {status}
        {progress}
        {ask}
        {segments}
    }
}

/// Follows the transcript's progress over the track's events and reloads
/// the panel when it ends.
#[cfg(feature = "hydrate")]
fn follow(track_id: i64, panel: PanelData, shown: Option<crate::transcripts::TranscriptProgress>) {
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    let Ok(source) = web_sys::EventSource::new(&format!("/api/v1/tracks/{track_id}/events")) else {
        return;
    };
    let last = StoredValue::new(shown);
    let on_event = {
        let source = source.clone();
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let p: Option<crate::tracks::TrackProgress> = ev
                .data()
                .as_string()
                .and_then(|d| crate::codec::decode(&d).ok());
            let now = p.and_then(|p| p.transcript);
            let ended = ev.type_() == "done"
                || now
                    .as_ref()
                    .is_some_and(|t| t.status == "done" || t.status == "failed");
            if ended {
                source.close();
            }
            if ended || last.get_value() != now {
                last.set_value(now);
                panel.reload();
            }
        })
        .into_js_value()
    };
    for name in ["progress", "done"] {
        let _ = source.add_event_listener_with_callback(name, on_event.unchecked_ref());
    }
    on_cleanup(move || source.close());
}

fn matches(text: &str, terms: &[String]) -> bool {
    !terms.is_empty() && pieces(text, terms).iter().any(|(_, hit)| *hit)
}

#[component]
fn Segments(segments: Vec<Segment>, track_id: i64, can_edit: bool, query: String) -> impl IntoView {
    let transport = expect_context::<Transport>();
    let segments = RwSignal::new(segments);
    let find = RwSignal::new(query);
    let terms = Memo::new(move |_| terms_of(&find.get()));
    let hits = Memo::new(move |_| {
        let terms = terms.get();
        segments.with(|all| {
            all.iter()
                .filter(|s| matches(&s.text, &terms))
                .map(|s| s.start_ms)
                .collect::<Vec<i64>>()
        })
    });
    // The matches are marked on the waveform while the panel shows them.
    Effect::new(move |_| {
        transport
            .marks
            .set(hits.get().iter().map(|ms| *ms as f64 / 1000.0).collect());
    });
    on_cleanup(move || transport.marks.set(Vec::new()));
    // The segment being heard: the last one started (a quarter second
    // early, as a reader's eye leads the voice, and so that a link to a
    // moment, in tenths of a second, lands on its segment).
    let current = Memo::new(move |_| {
        let now = (transport.current.get() * 1000.0) as i64 + 250;
        segments.with(|all| all.iter().rev().find(|s| s.start_ms <= now).map(|s| s.idx))
    });
    let list = NodeRef::<leptos::html::Ol>::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use wasm_bindgen::JsCast;
        let (Some(idx), Some(box_)) = (current.get(), list.get()) else {
            return;
        };
        let Some(el) = document()
            .get_element_by_id(&format!("seg-{idx}"))
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        else {
            return;
        };
        // Keep it a third of the way down the list's own scroll box.
        let top = el.offset_top() - box_.client_height() / 3;
        box_.set_scroll_top(top.max(0));
    });
    let next_hit = move |_| {
        let now = (transport.current.get_untracked() * 1000.0) as i64;
        let hits = hits.get_untracked();
        if let Some(ms) = hits.iter().find(|ms| **ms > now + 250).or(hits.first()) {
            transport.seek(*ms as f64 / 1000.0, false);
        }
    };
    let editing = RwSignal::new(None::<i64>);
    let save = Action::new(move |(idx, text): &(i64, String)| {
        let (idx, text) = (*idx, text.clone());
        async move {
            edit_segment(track_id, idx, text.clone())
                .await
                .map(|()| (idx, text))
        }
    });
    Effect::new(move |_| {
        if let Some(Ok((idx, text))) = save.value().get() {
            segments.update(|all| {
                if let Some(s) = all.iter_mut().find(|s| s.idx == idx) {
                    s.text = text.trim().to_string();
                    s.edited = true;
                }
            });
            editing.set(None);
        }
    });
    view! {
        <div class="transcript-tools">
            <input
                type="search"
                placeholder="Find in the transcript"
                aria-label="Find in the transcript"
                data-testid="transcript-find"
                prop:value=move || find.get()
                on:input=move |ev| find.set(event_target_value(&ev))
            />
            <span class="muted small" data-testid="transcript-matches">
                {move || match (terms.get().is_empty(), hits.get().len()) {
                    (true, _) => String::new(),
                    (false, 1) => "1 match".to_string(),
                    (false, n) => format!("{n} matches"),
                }}
            </span>
            <button class="ghost small" data-testid="transcript-next" on:click=next_hit disabled=move || hits.get().is_empty()>
                "Next match"
            </button>
            <span class="exports small">
                "Export: "
                {["txt", "srt", "vtt", "json"].into_iter().map(|f| view! {
                    <a href=format!("/api/v1/tracks/{track_id}/transcript?format={f}") download data-testid=format!("export-{f}")>
                        {f.to_uppercase()}
                    </a>
                    " "
                }).collect_view()}
            </span>
        </div>
        <ol class="segments" node_ref=list data-testid="segments">
            <For each=move || segments.get() key=|s| (s.idx, s.text.clone(), s.edited) let:seg>
                {
                    let idx = seg.idx;
                    let at = seg.start_ms as f64 / 1000.0;
                    let text = StoredValue::new(seg.text.clone());
                    view! {
                        <li
                            id=format!("seg-{idx}")
                            data-testid="segment"
                            data-start=seg.start_ms
                            class:current=move || current.get() == Some(idx)
                            class:hit=move || matches(&text.get_value(), &terms.get())
                            class:edited=seg.edited
                        >
                            <button class="stamp" data-testid="segment-time" on:click=move |_| transport.seek(at, true)>
                                {clock(seg.start_ms)}
                            </button>
                            <Show
                                when=move || editing.get() == Some(idx)
                                fallback=move || view! {
                                    <span class="seg-text" data-testid="segment-text" on:click=move |_| transport.seek(at, true)>
                                        {move || pieces(&text.get_value(), &terms.get()).into_iter().map(|(p, hit)| {
                                            if hit { view! { <mark>{p}</mark> }.into_any() } else { p.into_any() }
                                        }).collect_view()}
                                    </span>
                                    {can_edit.then(|| view! {
                                        <button class="ghost small" data-testid="segment-edit" on:click=move |_| editing.set(Some(idx))>
                                            "Edit"
                                        </button>
                                    })}
                                }
                            >
                                <SegmentEditor idx text=text.get_value() save editing />
                            </Show>
                        </li>
                    }
                }
            </For>
        </ol>
    }
}

type SaveAction = Action<(i64, String), Result<(i64, String), crate::errors::AppError>>;

#[component]
fn SegmentEditor(
    idx: i64,
    text: String,
    save: SaveAction,
    editing: RwSignal<Option<i64>>,
) -> impl IntoView {
    let draft = RwSignal::new(text);
    view! {
        <form
            class="segment-editor"
            on:submit=move |ev| {
                ev.prevent_default();
                save.dispatch((idx, draft.get_untracked()));
            }
        >
            <textarea
                data-testid="segment-input"
                maxlength="2000"
                rows="2"
                prop:value=move || draft.get()
                on:input=move |ev| draft.set(event_target_value(&ev))
            ></textarea>
            <button type="submit" class="small" data-testid="segment-save" disabled=move || save.pending().get()>"Save"</button>
            <button type="button" class="ghost small" on:click=move |_| editing.set(None)>"Cancel"</button>
            {move || save.value().get().and_then(Result::err).map(|e| view! { <ErrorNote error=e.to_string() /> })}
        </form>
    }
}
