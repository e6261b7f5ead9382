//! Attempts going back to the queue: put off (`defer`), found abandoned
//! (`reap_expired`), or given back by a stopping worker (`release_owned`).
//! A queued twin with the same dedupe key always wins over the returning
//! attempt.

use super::Lease;
use crate::db::{is_unique_violation, now_ms, Db};
use crate::errors::AppError;

/// Puts a running attempt back in the queue until `run_at` without counting
/// it (the job could not start its work: its provider asked for a pause,
/// or its breaker is open). Fenced like `fail`; a queued twin with the same
/// dedupe key takes over (this one is cancelled). False when stale.
pub async fn defer(db: &Db, lease: &Lease, run_at: i64, reason: &str) -> Result<bool, AppError> {
    let reason: String = reason.chars().take(1_000).collect();
    let _turn = db.write_turn().await;
    let update = sqlx::query(
        "UPDATE jobs SET state = 'queued', run_at = $1, attempts = attempts - 1, last_error = $2, \
         lease_owner = NULL, lease_until = NULL \
         WHERE id = $3 AND lease_owner = $4 AND attempts = $5 AND state = 'running'",
    )
    .bind(run_at)
    .bind(&reason)
    .bind(lease.id)
    .bind(&lease.owner)
    .bind(lease.attempt)
    .execute(db.jobs_pool())
    .await;
    match update {
        Ok(r) => Ok(r.rows_affected() > 0),
        Err(e) if is_unique_violation(&e) => {
            sqlx::query(
                "UPDATE jobs SET state = 'cancelled', finished_at = $1, lease_owner = NULL, lease_until = NULL, \
                 last_error = 'superseded by a newer job' \
                 WHERE id = $2 AND lease_owner = $3 AND attempts = $4 AND state = 'running'",
            )
            .bind(now_ms())
            .bind(lease.id)
            .bind(&lease.owner)
            .bind(lease.attempt)
            .execute(db.jobs_pool())
            .await?;
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Running jobs whose lease ran out (their worker died): queued again now,
/// or dead when they have no attempts left. Returns how many were touched.
pub async fn reap_expired(db: &Db) -> Result<u64, AppError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO job_errors (job_id, attempt, error, created_at) \
         SELECT id, attempts, 'the worker stopped answering (lease expired)', $1 FROM jobs \
         WHERE state = 'running' AND lease_until < $1",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let dead = sqlx::query(
        "UPDATE jobs SET state = 'dead', finished_at = $1, lease_owner = NULL, lease_until = NULL, \
         last_error = 'the worker stopped answering (lease expired)' \
         WHERE state = 'running' AND lease_until < $1 AND attempts >= max_attempts",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // A queued twin (same dedupe key) would collide: such a job yields to it.
    let superseded = sqlx::query(
        "UPDATE jobs SET state = 'cancelled', finished_at = $1, lease_owner = NULL, lease_until = NULL, \
         last_error = 'superseded by a newer job' \
         WHERE state = 'running' AND lease_until < $1 AND dedupe_key IS NOT NULL \
         AND EXISTS (SELECT 1 FROM jobs q WHERE q.dedupe_key = jobs.dedupe_key AND q.state = 'queued')",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let requeued = sqlx::query(
        "UPDATE jobs SET state = 'queued', run_at = $1, lease_owner = NULL, lease_until = NULL, \
         last_error = 'the worker stopped answering (lease expired)' \
         WHERE state = 'running' AND lease_until < $1",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(dead.rows_affected() + superseded.rows_affected() + requeued.rows_affected())
}

/// Gives back the running jobs of a stopping worker: queued again at once,
/// with the attempt not counted (a queued twin with the same dedupe key wins).
pub async fn release_owned(db: &Db, owner: &str) -> Result<u64, AppError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE jobs SET state = 'cancelled', finished_at = $1, lease_owner = NULL, lease_until = NULL, \
         last_error = 'superseded by a newer job' \
         WHERE state = 'running' AND lease_owner = $2 AND dedupe_key IS NOT NULL \
         AND EXISTS (SELECT 1 FROM jobs q WHERE q.dedupe_key = jobs.dedupe_key AND q.state = 'queued')",
    )
    .bind(now)
    .bind(owner)
    .execute(&mut *tx)
    .await?;
    let res = sqlx::query(
        "UPDATE jobs SET state = 'queued', run_at = $1, attempts = attempts - 1, \
         lease_owner = NULL, lease_until = NULL \
         WHERE state = 'running' AND lease_owner = $2",
    )
    .bind(now)
    .bind(owner)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(res.rows_affected())
}
