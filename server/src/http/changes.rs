//! `GET /api/v1/changes`: the change feed as server-sent events. Each event
//! is a change to a track the viewer may see (their own, or a public one):
//! `event: change`, `id:` the change's id in the `changes` table (the same
//! on every instance), data `{"id", "track_id", "kind", "at"}` with kind
//! created, updated or deleted. A client that reconnects with
//! `Last-Event-ID` (EventSource does this by itself), or asks
//! `?after=<id>`, first gets every change after that id, from whichever
//! instance answers; without either it gets changes from now on. When what
//! it missed is no longer kept (a day), a `reset` event says to reload.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::{Duration, Instant};

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
/// A gap in the ids this old (on this process's clock) is a rolled-back or
/// lost insert, not one still committing.
const GAP_GRACE: Duration = Duration::from_secs(3);

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
    let latest = changes::latest(&state.db).await?;
    let (start, reset) = match resumed {
        Some(after) => {
            // Changes after `after` that are no longer kept cannot be
            // replayed; an id from the future is not ours either.
            let oldest = changes::oldest(&state.db).await?;
            if oldest > after.saturating_add(1) || after > latest {
                (latest, true)
            } else {
                (after, false)
            }
        }
        None => (latest, false),
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

/// Moves the client's last event id on without an event (EventSource keeps
/// it), past changes it may not hear of, so a reconnect asks from there.
fn position(id: i64) -> Event {
    Event::default().id(id.to_string()).comment("")
}

/// Where a stream stands: the last id it passed, and since when it has
/// been waiting at a gap before the next one (by this process's clock).
struct Cursor {
    after: i64,
    gap_since: Option<Instant>,
}

fn events(
    state: AppState,
    viewer: Option<i64>,
    start: i64,
    reset: bool,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let mut first = VecDeque::new();
    if reset {
        first.push_back(Event::default().event("reset").data("reload"));
    }
    first.push_back(position(start));
    let cursor = Cursor {
        after: start,
        gap_since: None,
    };
    futures::stream::unfold(
        (state, cursor, first),
        move |(state, mut cursor, mut pending)| async move {
            loop {
                if let Some(e) = pending.pop_front() {
                    return Some((Ok(e), (state, cursor, pending)));
                }
                // Armed before reading, so a change committed after the read
                // wakes the wait below.
                let woken = state.caches.feed().notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                match changes::after(&state.db, cursor.after, BATCH).await {
                    Ok(batch) => {
                        let full = batch.len() as i64 == BATCH;
                        let before = cursor.after;
                        let mut heard = false;
                        for c in &batch {
                            if c.id != cursor.after.saturating_add(1) {
                                // An older id may still be committing: wait
                                // for it a little, then take it as unused.
                                let since = *cursor.gap_since.get_or_insert_with(Instant::now);
                                if since.elapsed() < GAP_GRACE {
                                    break;
                                }
                            }
                            cursor.gap_since = None;
                            cursor.after = c.id;
                            if c.visible_to(viewer) {
                                pending.push_back(event_of(c));
                                heard = true;
                            }
                        }
                        if !heard && cursor.after != before {
                            pending.push_back(position(cursor.after));
                        }
                        if !pending.is_empty() {
                            continue;
                        }
                        if full && cursor.gap_since.is_none() {
                            continue;
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "could not read the change feed"),
                }
                let wait = if cursor.gap_since.is_some() {
                    Duration::from_millis(200)
                } else {
                    LOOK_EVERY
                };
                let _ = tokio::time::timeout(wait, woken).await;
            }
        },
    )
}
