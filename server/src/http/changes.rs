//! `GET /api/v1/changes`: the change feed as server-sent events. Each event
//! is a change to a track the viewer may see (their own, or a public one):
//! `event: change`, `id:` the change's id in the `changes` table (the same
//! on every instance), data `{"id", "track_id", "kind", "at"}` with kind
//! created, updated or deleted. A client that reconnects with
//! `Last-Event-ID` (EventSource does this by itself), or asks
//! `?after=<id>`, first gets every change after that id, from whichever
//! instance answers; without either it gets changes from now on. When what
//! it missed is no longer kept (a day), a `reset` event says to reload.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use http::HeaderMap;
use serde::Deserialize;

use app::auth::guard::MaybeUser;
use app::changes::{self, Change};
use app::errors::AppError;
use app::state::AppState;

/// Changes read at once.
const BATCH: i64 = 200;
/// How long a stream waits for a wake-up before it looks anyway (a change
/// from a process whose NOTIFY was lost, a gap still committing).
const LOOK_EVERY: Duration = Duration::from_millis(1000);

#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    after: Option<i64>,
}

pub async fn feed(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Query(q): Query<FeedQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(q.after)
        .filter(|id| *id >= 0);
    let (start, reset) = match resumed {
        Some(after) => {
            // Changes after `after` that are no longer kept cannot be replayed.
            let oldest = changes::oldest(&state.db).await?;
            (after, oldest > after + 1)
        }
        None => (changes::latest(&state.db).await?, false),
    };
    let viewer_id = viewer.map(|v| v.id);
    let stopped = state.stopped();
    let stream = events(state, viewer_id, start, reset);
    let stream = futures::StreamExt::take_until(stream, stopped);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn event_of(c: &Change) -> Event {
    Event::default()
        .event("change")
        .id(c.id.to_string())
        .json_data(c)
        .unwrap_or_default()
}

fn events(
    state: AppState,
    viewer: Option<i64>,
    start: i64,
    reset: bool,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let first = reset.then(|| Event::default().event("reset").data("reload"));
    let pending: std::collections::VecDeque<Event> = first.into_iter().collect();
    futures::stream::unfold(
        (state, start, pending),
        move |(state, mut after, mut pending)| async move {
            loop {
                if let Some(e) = pending.pop_front() {
                    return Some((Ok(e), (state, after, pending)));
                }
                // Armed before reading, so a change committed after the read
                // wakes the wait below.
                let woken = state.caches.feed().notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                match changes::after(&state.db, after, BATCH).await {
                    Ok((batch, next)) => {
                        after = next;
                        let full = batch.len() as i64 == BATCH;
                        pending.extend(batch.iter().filter(|c| c.visible_to(viewer)).map(event_of));
                        if full || !pending.is_empty() {
                            continue;
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "could not read the change feed"),
                }
                let _ = tokio::time::timeout(LOOK_EVERY, woken).await;
            }
        },
    )
}
