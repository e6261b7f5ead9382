//! The dashboard's transcription section: the queue, the provider's limits
//! against their use, its latency and errors, the breaker, the month's
//! minutes, and "transcribe every track without a transcript".

use leptos::prelude::*;

use super::action_error;
use super::overview::tile;
use crate::components::error_note::ErrorNote;
use crate::transcripts::api::TranscribeAll;
use crate::transcripts::TranscriptionStats;

#[component]
pub fn Transcription(stats: Memo<Option<TranscriptionStats>>) -> impl IntoView {
    let all = ServerAction::<TranscribeAll>::new();
    let queued = move || {
        all.value().get().and_then(Result::ok).map(|n| match n {
            0 => "Every track has a transcript already.".to_string(),
            1 => "1 track queued.".to_string(),
            n => format!("{n} tracks queued."),
        })
    };
    let s = move |f: fn(&TranscriptionStats) -> String| {
        Signal::derive(move || stats.with(|s| s.as_ref().map(f).unwrap_or_default()))
    };
    view! {
        <section class="card" data-testid="transcription-stats">
            <h2>"Transcription"</h2>
            <Show
                when=move || stats.with(Option::is_some)
                fallback=|| view! { <p class="muted">"Transcription is not set up on this server (WAVEKEEP_STT_URL)."</p> }
            >
                <div class="tiles">
                    {tile("Queued / running", "stt-queue", s(|t| format!("{} / {}", t.queued, t.running)))}
                    {tile("In flight / limit", "stt-in-flight", s(|t| format!("{} / {}", t.in_flight, t.concurrency)))}
                    {tile("Started last minute / limit", "stt-rate", s(|t| format!("{} / {}", t.started_last_minute, t.rate_per_minute)))}
                    {tile("Provider p50 / p95 (5 min)", "stt-latency", s(|t| format!("{:.0} / {:.0} ms", t.p50_ms, t.p95_ms)))}
                    {tile("Errors (5 min)", "stt-errors", s(|t| {
                        if t.errors.is_empty() {
                            "none".to_string()
                        } else {
                            t.errors.iter().map(|(c, n)| format!("{} {n}", c.replace('_', " "))).collect::<Vec<_>>().join(", ")
                        }
                    }))}
                    {tile("Breaker", "stt-breaker", s(|t| match t.breaker.as_str() {
                        "closed" => "closed".to_string(),
                        other => format!("{} after {} failures", other.replace('_', " "), t.failures_in_a_row),
                    }))}
                    {tile("Paused by the provider", "stt-paused", s(|t| {
                        if t.paused_for_ms > 0 { format!("{:.0} s more", (t.paused_for_ms as f64 / 1000.0).ceil()) } else { "no".to_string() }
                    }))}
                    {tile("Minutes this month", "stt-minutes", s(|t| match t.minutes_per_user {
                        Some(cap) => format!("{:.1} (at most {cap} per user)", t.minutes_this_month),
                        None => format!("{:.1}", t.minutes_this_month),
                    }))}
                </div>
                <p>
                    <button
                        data-testid="transcribe-all"
                        disabled=move || all.pending().get()
                        on:click=move |_| { all.dispatch(TranscribeAll {}); }
                    >
                        "Transcribe every track without a transcript"
                    </button>
                    " "
                    <span class="muted" data-testid="transcribe-all-result">{queued}</span>
                </p>
                <ErrorNote error=action_error(all.value()) />
            </Show>
        </section>
    }
}
