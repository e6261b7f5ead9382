//! The dashboard's job queue: each kind (with pause / resume), failed jobs
//! (retry / discard) and recent ones (cancel).

use leptos::prelude::*;

use super::overview::ms;
use crate::admin::api::{CancelJob, DiscardJob, PauseKind, RetryJob};
use crate::admin::{JobRow, KindStats};
use crate::fmt;

#[component]
pub fn Kinds(kinds: Memo<Vec<KindStats>>, pause: ServerAction<PauseKind>) -> impl IntoView {
    view! {
        <table class="table numeric" data-testid="kinds">
            <thead>
                <tr>
                    <th>"Kind"</th><th>"Queued"</th><th>"Running"</th><th>"Dead"</th>
                    <th>"Started / min"</th><th>"Done / min"</th><th>"Failed / min"</th><th>"Retried / min"</th>
                    <th>"Wait p95"</th><th>"Run p95"</th><th>"Rate limit"</th><th></th>
                </tr>
            </thead>
            <tbody>
                {move || kinds.get().into_iter().map(|k| {
                    let kind = k.kind.clone();
                    let paused = k.paused;
                    let limit = match (k.rate_limit_per_minute, k.rate_tokens) {
                        (Some(l), Some(t)) => format!("{l}/min, {t:.0} left"),
                        (Some(l), None) => format!("{l}/min"),
                        _ => "—".into(),
                    };
                    view! {
                        <tr data-testid=format!("kind-{}", k.kind)>
                            <td>{k.kind.clone()} {paused.then(|| view! { " " <span class="badge alert high">"paused"</span> })}</td>
                            <td>{k.queued}</td>
                            <td>{k.running}</td>
                            <td>{k.dead}</td>
                            <td>{k.started_per_min}</td>
                            <td>{k.succeeded_per_min}</td>
                            <td>{k.failed_per_min}</td>
                            <td>{k.retried_per_min}</td>
                            <td>{ms(k.wait_p95_ms)}</td>
                            <td>{ms(k.run_p95_ms)}</td>
                            <td>{limit}</td>
                            <td>
                                <button class="small" data-testid=format!("pause-{}", k.kind)
                                    on:click=move |_| { pause.dispatch(PauseKind { kind: kind.clone(), paused: !paused }); }>
                                    {if paused { "Resume" } else { "Pause" }}
                                </button>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub fn FailedJobs(
    failed: Memo<Vec<JobRow>>,
    retry: ServerAction<RetryJob>,
    discard: ServerAction<DiscardJob>,
) -> impl IntoView {
    view! {
        <Show
            when=move || failed.with(|f| !f.is_empty())
            fallback=|| view! { <p class="muted" data-testid="no-failed">"No failed jobs."</p> }
        >
            <table class="table" data-testid="failed-jobs">
                <thead>
                    <tr><th>"Job"</th><th>"Kind"</th><th>"Target"</th><th>"Attempts"</th><th>"Error"</th><th>"Failed"</th><th></th></tr>
                </thead>
                <tbody>
                    <For each=move || failed.get() key=|j| (j.id, j.attempts, j.finished_at) let:j>
                        {
                            let id = j.id;
                            view! {
                                <tr data-testid=format!("failed-{id}")>
                                    <td>{format!("#{id}")}</td>
                                    <td>{j.kind}</td>
                                    <td>{j.subject.unwrap_or_default()}</td>
                                    <td>{format!("{}/{}", j.attempts, j.max_attempts)}</td>
                                    <td class="error-text">{j.last_error.unwrap_or_default()}</td>
                                    <td>{j.finished_at.map(|t| format!("{} {}", fmt::date(t), fmt::clock(t))).unwrap_or_default()}</td>
                                    <td class="actions">
                                        <button class="small" data-testid=format!("retry-{id}") on:click=move |_| { retry.dispatch(RetryJob { id }); }>"Retry"</button>
                                        <button class="small danger" data-testid=format!("discard-{id}") on:click=move |_| { discard.dispatch(DiscardJob { id }); }>"Discard"</button>
                                    </td>
                                </tr>
                            }
                        }
                    </For>
                </tbody>
            </table>
        </Show>
    }
}

#[component]
pub fn RecentJobs(recent: Memo<Vec<JobRow>>, cancel: ServerAction<CancelJob>) -> impl IntoView {
    view! {
        <table class="table" data-testid="recent-jobs">
            <thead>
                <tr><th>"Job"</th><th>"Kind"</th><th>"State"</th><th>"Target"</th><th>"Attempts"</th><th>"Created"</th><th></th></tr>
            </thead>
            <tbody>
                {move || recent.get().into_iter().map(|j| {
                    let id = j.id;
                    let cancellable = j.state == "queued" || j.state == "running";
                    view! {
                        <tr data-testid=format!("job-{id}")>
                            <td>{format!("#{id}")}</td>
                            <td>{j.kind}</td>
                            <td><span class=format!("badge job-{}", j.state) data-testid=format!("job-state-{id}")>{j.state.clone()}</span></td>
                            <td>{j.subject.unwrap_or_default()}</td>
                            <td>{format!("{}/{}", j.attempts, j.max_attempts)}</td>
                            <td>{fmt::clock(j.created_at)}</td>
                            <td>{cancellable.then(|| view! {
                                <button class="small" on:click=move |_| { cancel.dispatch(CancelJob { id }); }>"Cancel"</button>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
