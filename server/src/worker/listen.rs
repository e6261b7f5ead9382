//! Cross-process wake-ups on PostgreSQL: one LISTEN connection per process
//! wakes its workers when any process enqueues, and drops the caches'
//! entries another process changed.
//!
//! A lost connection must not lose changes silently. sqlx's
//! `PgListener::recv()` reconnects by itself and drops what was sent
//! meanwhile, so this uses `try_recv()`, which reports a closed connection;
//! and since a connection can also die without a word (a proxy or NAT
//! forgetting it, a cable), the listener pings itself through the pool (a
//! NOTIFY on a channel of its own, four times a second) and counts itself
//! deaf when none came back for a second. While deaf, the caches and the
//! session cache serve nothing cached (`TrackCaches::set_deaf`); once the
//! channels are subscribed again they drop everything and cache again: a
//! change made while this process was not listening is never served stale.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use app::jobs::db as q;
use app::state::AppState;
use app::tracks::cache::{CHANGED_CHANNEL, USER, VIEWER};

/// How often the listener pings itself, and how long it waits for one.
const PING_EVERY: Duration = Duration::from_millis(250);
const PING_TIMEOUT: Duration = Duration::from_millis(1000);

/// On PostgreSQL, wakes this process's workers whenever any process enqueues
/// (LISTEN on the queue's channel) and drops cached pages and sessions other
/// processes changed; reconnects after errors. On SQLite (one process) the
/// in-process wake-up is enough and this returns at once.
pub async fn listen_for_enqueues(state: AppState) {
    if state.db.backend() != app::db::Backend::Postgres {
        return;
    }
    let url = state.db.url().clone();
    listen_via(url, state).await
}

/// `listen_for_enqueues` with its LISTEN connection to `url` (the tests put
/// a proxy they can cut in between); pings go through the state's pool.
pub async fn listen_via(url: SecretString, state: AppState) {
    let (db, caches, wake) = (&state.db, &state.caches, state.queue.wake());
    let ping_channel = format!("wk_ping_{}", &app::auth::session::new_token()[..16]);
    let mut pause = Duration::from_millis(100);
    loop {
        let subscribed = async {
            let mut l = sqlx::postgres::PgListener::connect(url.expose_secret()).await?;
            l.listen_all([q::WAKE_CHANNEL, CHANGED_CHANNEL, ping_channel.as_str()])
                .await?;
            Ok::<_, sqlx::Error>(l)
        }
        .await;
        let mut l = match subscribed {
            Ok(l) => l,
            Err(e) => {
                if !caches.is_deaf() {
                    tracing::warn!(error = %e, "could not LISTEN for other processes' changes; serving nothing cached until it can");
                    caches.set_deaf(true).await;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        // Subscribed: every change from now on is heard. What was cached
        // before goes; jobs enqueued meanwhile are picked up.
        if caches.is_deaf() {
            tracing::info!("listening for other processes' changes again");
        }
        caches.set_deaf(false).await;
        state.viewers.invalidate_all();
        wake.notify_waiters();
        pause = Duration::from_millis(100);
        let mut heard_at = Instant::now();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let why = loop {
            tokio::select! {
                got = l.try_recv() => match got {
                    Ok(Some(n)) => {
                        heard_at = Instant::now();
                        if n.channel() == CHANGED_CHANNEL {
                            heard(&state, n.payload()).await;
                        } else if n.channel() == q::WAKE_CHANNEL {
                            wake.notify_waiters();
                        }
                    }
                    Ok(None) => break "the connection was closed".to_string(),
                    Err(e) => break e.to_string(),
                },
                _ = ping.tick() => {
                    if heard_at.elapsed() > PING_TIMEOUT {
                        break format!("no ping came back within {} ms", PING_TIMEOUT.as_millis());
                    }
                    let sent = sqlx::query("SELECT pg_notify($1, '')")
                        .bind(&ping_channel)
                        .execute(db.pool())
                        .await;
                    if sent.is_err() {
                        // The database itself is away (the breaker has it);
                        // no answer is expected, so none is missed.
                        heard_at = Instant::now();
                    }
                }
            }
        };
        tracing::warn!(
            why,
            "lost the LISTEN connection; serving nothing cached until it is back"
        );
        caches.set_deaf(true).await;
        wake.notify_waiters();
    }
}

/// Acts on a change another process announced on `CHANGED_CHANNEL`.
async fn heard(state: &AppState, payload: &str) {
    if let Some(hash) = payload.strip_prefix(VIEWER) {
        state.viewers.invalidate(hash).await;
    } else if let Some(id) = payload.strip_prefix(USER) {
        match id.parse::<i64>() {
            Ok(id) => state.viewers.invalidate_user(id),
            Err(_) => state.viewers.invalidate_all(),
        }
    } else {
        state.caches.heard(payload).await;
    }
}
