//! The speech-to-text provider's limits, held for the whole deployment in
//! the database (every wavekeep process on it takes its turn here): at most
//! `concurrency` requests in flight and at most `rate_per_minute` started in
//! any 60 s window; a pause the provider ordered (429 with `Retry-After`)
//! during which nothing is sent; and a circuit breaker that opens after
//! `breaker_failures` failures in a row, lets one probe through after a
//! cool-off, and closes when it succeeds.
//!
//! Each decision is one transaction that first locks the state row
//! (PostgreSQL row lock; SQLite write lock), so two processes never both
//! take the last slot.

use std::time::Duration;

use crate::db::{now_ms, Db};
use crate::errors::AppError;

/// Added to the rate window, so that a provider counting starts by its own
/// clock (a few ms later, unevenly) never sees one too many.
const WINDOW_MARGIN_MS: i64 = 250;

/// The limits and the breaker's settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub concurrency: u32,
    pub rate_per_minute: u32,
    /// The window the rate counts over (60 s).
    pub window: Duration,
    /// How long a request may take (a crashed holder's slot frees after it).
    pub request_timeout: Duration,
    pub breaker_failures: u32,
    pub breaker_cooloff: Duration,
}

/// A request slot, held until `release`.
#[derive(Debug, Clone)]
pub struct Slot {
    pub id: String,
    /// This request is the breaker's probe.
    pub probe: bool,
}

/// Why no slot was given, and how long until one may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The provider asked for a pause (429).
    Paused(Duration),
    /// The breaker is open (or a probe is out).
    Breaker(Duration),
    /// `concurrency` requests are in flight.
    Busy(Duration),
    /// `rate_per_minute` requests started in the last 60 s.
    Rate(Duration),
}

impl Wait {
    pub fn duration(self) -> Duration {
        match self {
            Wait::Paused(d) | Wait::Breaker(d) | Wait::Busy(d) | Wait::Rate(d) => d,
        }
    }
}

/// How a request ended, for the breaker and the pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// 429: nothing is sent until `until` (unix ms).
    RateLimited {
        until: i64,
    },
    /// 5xx or an answer that is not the protocol's: the provider is failing.
    ServerError,
    /// No answer in time, or a broken connection: failing too.
    TimedOut,
    /// The request itself was wrong (4xx): says nothing of the provider.
    Refused,
}

impl Outcome {
    /// The class stored, shown and counted: ok, rate_limited, server_error,
    /// timeout, client_error.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::RateLimited { .. } => "rate_limited",
            Outcome::ServerError => "server_error",
            Outcome::TimedOut => "timeout",
            Outcome::Refused => "client_error",
        }
    }
}

/// The gate's state, as /admin and the metrics show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GateStatus {
    pub in_flight: i64,
    pub started_last_minute: i64,
    /// closed, open or half_open.
    pub breaker: String,
    pub failures: i64,
    pub paused_for_ms: i64,
}

/// A slot for one request now, or how long to wait.
pub async fn acquire(
    db: &Db,
    owner: &str,
    limits: &Limits,
) -> Result<Result<Slot, Wait>, AppError> {
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE stt_state SET id = id WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    let (paused_until, breaker, opened_at, probe_until): (i64, String, i64, i64) = sqlx::query_as(
        "SELECT paused_until, breaker, opened_at, probe_until FROM stt_state WHERE id = 1",
    )
    .fetch_one(&mut *tx)
    .await?;
    let now = now_ms();
    if paused_until > now {
        return Ok(Err(Wait::Paused(ms(paused_until - now))));
    }
    let cooloff = limits.breaker_cooloff.as_millis() as i64;
    let mut probe = false;
    match breaker.as_str() {
        "open" if now < opened_at + cooloff => {
            return Ok(Err(Wait::Breaker(ms(opened_at + cooloff - now))));
        }
        // The probe's answer is near: ask again shortly.
        "half_open" if probe_until > now => {
            return Ok(Err(Wait::Breaker(ms((probe_until - now).min(500)))));
        }
        "open" | "half_open" => probe = true,
        _ => {}
    }
    let in_flight: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM stt_requests WHERE finished_at IS NULL AND lease_until > $1",
    )
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    if in_flight >= i64::from(limits.concurrency.max(1)) {
        return Ok(Err(Wait::Busy(Duration::from_millis(100))));
    }
    let window = limits.window.as_millis() as i64 + WINDOW_MARGIN_MS;
    let window_start = now - window;
    let (started, oldest): (i64, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), MIN(started_at) FROM stt_requests WHERE started_at > $1")
            .bind(window_start)
            .fetch_one(&mut *tx)
            .await?;
    if started >= i64::from(limits.rate_per_minute.max(1)) {
        // The oldest start leaves the window one window after it began.
        let free_at = oldest.unwrap_or(now) + window + 1;
        return Ok(Err(Wait::Rate(ms(free_at - now))));
    }
    let id = crate::auth::session::new_token()[..24].to_string();
    let lease = now + limits.request_timeout.as_millis() as i64 + 30_000;
    sqlx::query(
        "INSERT INTO stt_requests (id, owner, started_at, lease_until) VALUES ($1, $2, $3, $4)",
    )
    .bind(&id)
    .bind(owner)
    .bind(now)
    .bind(lease)
    .execute(&mut *tx)
    .await?;
    if probe {
        sqlx::query("UPDATE stt_state SET breaker = 'half_open', probe_until = $1 WHERE id = 1")
            .bind(lease)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Ok(Slot { id, probe }))
}

fn ms(v: i64) -> Duration {
    Duration::from_millis(v.max(1) as u64)
}

/// Ends a request: its slot frees, and its outcome moves the breaker and
/// the pause.
pub async fn release(
    db: &Db,
    slot: &Slot,
    outcome: Outcome,
    limits: &Limits,
) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    let now = now_ms();
    sqlx::query("UPDATE stt_state SET id = id WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE stt_requests SET finished_at = $1, outcome = $2 WHERE id = $3")
        .bind(now)
        .bind(outcome.label())
        .bind(&slot.id)
        .execute(&mut *tx)
        .await?;
    match outcome {
        Outcome::Ok => {
            sqlx::query(
                "UPDATE stt_state SET breaker = 'closed', failures = 0, probe_until = 0 WHERE id = 1",
            )
            .execute(&mut *tx)
            .await?;
        }
        Outcome::RateLimited { until } => {
            sqlx::query(
                "UPDATE stt_state SET paused_until = CASE WHEN paused_until > $1 THEN paused_until ELSE $1 END, \
                 probe_until = CASE WHEN $2 = 1 THEN 0 ELSE probe_until END WHERE id = 1",
            )
            .bind(until)
            .bind(i64::from(slot.probe))
            .execute(&mut *tx)
            .await?;
        }
        Outcome::ServerError | Outcome::TimedOut => {
            // A failed probe opens the breaker again; otherwise it opens at
            // the N-th failure in a row.
            sqlx::query(
                "UPDATE stt_state SET failures = failures + 1, \
                 breaker = CASE WHEN $1 = 1 OR failures + 1 >= $2 THEN 'open' ELSE breaker END, \
                 opened_at = CASE WHEN $1 = 1 OR failures + 1 >= $2 THEN $3 ELSE opened_at END, \
                 probe_until = 0 WHERE id = 1",
            )
            .bind(i64::from(slot.probe))
            .bind(i64::from(limits.breaker_failures.max(1)))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        Outcome::Refused => {
            // The provider answered: as a probe, that is enough to close.
            if slot.probe {
                sqlx::query(
                    "UPDATE stt_state SET breaker = 'closed', failures = 0, probe_until = 0 WHERE id = 1",
                )
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The gate as it stands.
pub async fn status(db: &Db) -> Result<GateStatus, AppError> {
    let now = now_ms();
    let (in_flight, started): (i64, i64) = sqlx::query_as(
        "SELECT \
           (SELECT COUNT(*) FROM stt_requests WHERE finished_at IS NULL AND lease_until > $1), \
           (SELECT COUNT(*) FROM stt_requests WHERE started_at > $2)",
    )
    .bind(now)
    .bind(now - 60_000)
    .fetch_one(db.pool())
    .await?;
    let (paused_until, breaker, failures): (i64, String, i64) =
        sqlx::query_as("SELECT paused_until, breaker, failures FROM stt_state WHERE id = 1")
            .fetch_one(db.pool())
            .await?;
    Ok(GateStatus {
        in_flight,
        started_last_minute: started,
        breaker,
        failures,
        paused_for_ms: (paused_until - now).max(0),
    })
}

/// Requests finished since `since` (unix ms): each one's class and latency.
pub async fn finished_since(db: &Db, since: i64) -> Result<Vec<(String, i64)>, AppError> {
    Ok(sqlx::query_as(
        "SELECT COALESCE(outcome, ''), finished_at - started_at FROM stt_requests \
         WHERE finished_at IS NOT NULL AND finished_at > $1",
    )
    .bind(since)
    .fetch_all(db.pool())
    .await?)
}

/// Forgets finished requests older than a day (the cleanup job).
pub async fn delete_old(db: &Db) -> Result<u64, AppError> {
    Ok(sqlx::query("DELETE FROM stt_requests WHERE started_at < $1 AND (finished_at IS NOT NULL OR lease_until < $2)")
        .bind(now_ms() - 24 * 3600 * 1000)
        .bind(now_ms())
        .execute(db.pool())
        .await?
        .rows_affected())
}
