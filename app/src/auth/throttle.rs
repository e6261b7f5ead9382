//! Throttles that hold for the whole deployment: counters in the database,
//! one row per key and fixed window, each counted with one atomic upsert.
//! An attempt counts before it is judged (no check-then-act), so a burst of
//! parallel attempts, in one process or many, cannot slip past the limit.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::db::{now_ms, Db};
use crate::errors::AppError;

/// At most `max` hits per `window` for one key.
#[derive(Debug, Clone)]
pub struct Limit {
    key: String,
    max: u32,
    window: Duration,
}

impl Limit {
    /// `what` names the counter (`login-acct`, `register-ip`, …) and
    /// `who` whom it counts; `who` is stored only as a hash.
    pub fn new(what: &str, who: &str, max: u32, window: Duration) -> Self {
        let digest = hex::encode(&Sha256::digest(who.as_bytes())[..16]);
        Limit {
            key: format!("{what}:{}:{digest}", window.as_secs()),
            max: max.max(1),
            window,
        }
    }
}

/// Counts one hit against each limit in turn; when one is over its maximum,
/// the hits just counted are taken back and the answer is 429 with
/// `Retry-After`. So only attempts that were let through count (a refused
/// attempt does not push an hourly limit further), and since every count is
/// one atomic statement, parallel attempts cannot pass together.
pub async fn hit(db: &Db, limits: &[Limit]) -> Result<(), AppError> {
    let now = now_ms();
    for (i, l) in limits.iter().enumerate() {
        let window_ms = l.window.as_millis() as i64;
        let turn = db.write_turn().await;
        let (hits, started): (i64, i64) = sqlx::query_as(
            "INSERT INTO throttle_hits (key, window_start, hits) VALUES ($1, $2, 1) \
             ON CONFLICT (key) DO UPDATE SET \
               hits = CASE WHEN throttle_hits.window_start <= $3 THEN 1 ELSE throttle_hits.hits + 1 END, \
               window_start = CASE WHEN throttle_hits.window_start <= $3 THEN $2 ELSE throttle_hits.window_start END \
             RETURNING hits, window_start",
        )
        .bind(&l.key)
        .bind(now)
        .bind(now - window_ms)
        .fetch_one(db.pool())
        .await?;
        drop(turn);
        if hits > i64::from(l.max) {
            undo(db, &limits[..=i]).await;
            let left_ms = (started + window_ms - now).max(1) as u64;
            return Err(AppError::TooManyRequests {
                retry_after_secs: left_ms.div_ceil(1000),
            });
        }
    }
    Ok(())
}

/// Takes back the hit just counted (an attempt that turned out fine).
pub async fn undo(db: &Db, limits: &[Limit]) {
    for l in limits {
        let _turn = db.write_turn().await;
        let res =
            sqlx::query("UPDATE throttle_hits SET hits = hits - 1 WHERE key = $1 AND hits > 0")
                .bind(&l.key)
                .execute(db.pool())
                .await;
        if let Err(e) = res {
            tracing::warn!(error = %e, "could not take back a throttle hit");
        }
    }
}

/// A token bucket for the whole deployment (GCRA): one request per
/// `interval`, up to `burst` at once. Lets the request through (`Ok(None)`)
/// or says how long to wait (`Ok(Some(secs))`). One atomic upsert that only
/// moves the bucket on when the request fits, so parallel requests on
/// several instances cannot pass together. `key` is stored as given (the
/// caller hashes credentials).
pub async fn take_token(
    db: &Db,
    key: &str,
    interval: Duration,
    burst: u32,
) -> Result<Option<u64>, AppError> {
    let now = now_ms();
    let t = (interval.as_millis() as i64).max(1);
    let limit = t * i64::from(burst.max(1));
    // tat' = max(tat, now) + t, allowed while tat' - now <= burst * t.
    let taken: Option<i64> = sqlx::query_scalar(
        "INSERT INTO rate_buckets (key, tat) VALUES ($1, $2 + $3) \
         ON CONFLICT (key) DO UPDATE SET \
           tat = (CASE WHEN rate_buckets.tat > $2 THEN rate_buckets.tat ELSE $2 END) + $3 \
         WHERE (CASE WHEN rate_buckets.tat > $2 THEN rate_buckets.tat ELSE $2 END) + $3 - $2 <= $4 \
         RETURNING tat",
    )
    .bind(key)
    .bind(now)
    .bind(t)
    .bind(limit)
    .fetch_optional(db.pool())
    .await?;
    if taken.is_some() {
        return Ok(None);
    }
    let tat: i64 = sqlx::query_scalar("SELECT tat FROM rate_buckets WHERE key = $1")
        .bind(key)
        .fetch_optional(db.pool())
        .await?
        .unwrap_or(now);
    // The next request fits once tat + t - now <= limit.
    let wait_ms = (tat + t - limit - now).max(1) as u64;
    Ok(Some(wait_ms.div_ceil(1000)))
}

/// Windows that ended more than a day ago (the longest window is an hour).
pub async fn delete_expired(db: &Db) -> Result<u64, AppError> {
    let day_ago = now_ms() - 24 * 3600 * 1000;
    let windows = sqlx::query("DELETE FROM throttle_hits WHERE window_start < $1")
        .bind(day_ago)
        .execute(db.pool())
        .await?
        .rows_affected();
    // A bucket whose time is long past is full again: the same as no row.
    let buckets = sqlx::query("DELETE FROM rate_buckets WHERE tat < $1")
        .bind(day_ago)
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(windows + buckets)
}
