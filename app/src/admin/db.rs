//! The admin's SQL: queue counts, job controls, pauses, storage recounts.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{JobRow, StorageRefresh, Target, ENQUEUEABLE};
use crate::db::{is_unique_violation, now_ms, Db};
use crate::errors::AppError;
use crate::jobs::db::NewJob;

/// Jobs per kind and state (queued, running and dead only: finished ones
/// are history), the paused kinds, and the oldest due job's wait.
#[derive(Debug, Clone, Default)]
pub struct QueueCounts {
    pub by_kind: BTreeMap<String, (i64, i64, i64)>,
    pub paused: Vec<String>,
    pub oldest_due_ms: Option<i64>,
}

pub async fn queue_counts(db: &Db) -> Result<QueueCounts, AppError> {
    let rows = sqlx::query(
        "SELECT kind, state, COUNT(*) AS n FROM jobs \
         WHERE state IN ('queued', 'running', 'dead') GROUP BY kind, state",
    )
    .fetch_all(db.pool())
    .await?;
    let mut out = QueueCounts::default();
    for r in rows {
        let e = out.by_kind.entry(r.get("kind")).or_default();
        let n: i64 = r.get("n");
        match r.get::<&str, _>("state") {
            "queued" => e.0 = n,
            "running" => e.1 = n,
            _ => e.2 = n,
        }
    }
    out.paused = paused(db).await?;
    for k in &out.paused {
        out.by_kind.entry(k.clone()).or_default();
    }
    out.oldest_due_ms =
        sqlx::query_scalar("SELECT MIN(run_at) FROM jobs WHERE state = 'queued' AND run_at <= $1")
            .bind(now_ms())
            .fetch_one(db.pool())
            .await?;
    Ok(out)
}

pub async fn paused(db: &Db) -> Result<Vec<String>, AppError> {
    Ok(
        sqlx::query_scalar("SELECT kind FROM queue_pauses ORDER BY kind")
            .fetch_all(db.pool())
            .await?,
    )
}

fn job_row(r: &sqlx::any::AnyRow) -> JobRow {
    JobRow {
        id: r.get("id"),
        kind: r.get("kind"),
        state: r.get("state"),
        attempts: r.get("attempts"),
        max_attempts: r.get("max_attempts"),
        subject: r.get("subject"),
        last_error: r.get("last_error"),
        created_at: r.get("created_at"),
        finished_at: r.get("finished_at"),
    }
}

const JOB_COLUMNS: &str =
    "id, kind, state, attempts, max_attempts, subject, last_error, created_at, finished_at";

/// Dead jobs, the most recently failed first.
pub async fn failed_jobs(db: &Db, limit: i64) -> Result<Vec<JobRow>, AppError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE state = 'dead' ORDER BY finished_at DESC, id DESC LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(job_row).collect())
}

/// The newest jobs of any state.
pub async fn recent_jobs(db: &Db, limit: i64) -> Result<Vec<JobRow>, AppError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(job_row).collect())
}

pub async fn job(db: &Db, id: i64) -> Result<JobRow, AppError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(job_row(&row))
}

/// Queues a dead or cancelled job again with all its attempts (its error
/// history stays). 409 when an identical job is already queued.
pub async fn retry(db: &Db, id: i64) -> Result<JobRow, AppError> {
    let res = sqlx::query(
        "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $1, finished_at = NULL, \
         lease_owner = NULL, lease_until = NULL, progress = 0 \
         WHERE id = $2 AND state IN ('dead', 'cancelled')",
    )
    .bind(now_ms())
    .bind(id)
    .execute(db.pool())
    .await;
    match res {
        Ok(r) if r.rows_affected() == 1 => job(db, id).await,
        Ok(_) => {
            let j = job(db, id).await?;
            Err(AppError::Conflict(format!(
                "job {id} is {}: only dead or cancelled jobs can be retried",
                j.state
            )))
        }
        Err(e) if is_unique_violation(&e) => Err(AppError::Conflict(format!(
            "an identical job is already queued; job {id} stays as it is"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a finished (dead, cancelled or succeeded) job and its errors.
pub async fn discard(db: &Db, id: i64) -> Result<(), AppError> {
    let res = sqlx::query(
        "DELETE FROM jobs WHERE id = $1 AND state IN ('dead', 'cancelled', 'succeeded')",
    )
    .bind(id)
    .execute(db.pool())
    .await?;
    if res.rows_affected() == 0 {
        let j = job(db, id).await?;
        return Err(AppError::Conflict(format!(
            "job {id} is {}: cancel it before discarding it",
            j.state
        )));
    }
    Ok(())
}

/// Cancels a queued or running job.
pub async fn cancel(db: &Db, id: i64) -> Result<JobRow, AppError> {
    match crate::jobs::db::cancel(db, id).await {
        Ok(()) => job(db, id).await,
        Err(AppError::NotFound) => {
            let j = job(db, id).await?;
            Err(AppError::Conflict(format!(
                "job {id} is {}: only queued or running jobs can be cancelled",
                j.state
            )))
        }
        Err(e) => Err(e),
    }
}

pub fn known_kind(kind: &str) -> Result<Target, AppError> {
    ENQUEUEABLE
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let kinds: Vec<&str> = ENQUEUEABLE.iter().map(|(k, _)| *k).collect();
            AppError::BadRequest(format!(
                "unknown job kind {kind:?}; one of: {}",
                kinds.join(", ")
            ))
        })
}

/// Pauses (workers stop claiming it) or resumes a kind, in every process.
pub async fn set_paused(db: &Db, kind: &str, paused: bool, by: i64) -> Result<(), AppError> {
    let known = ENQUEUEABLE.iter().any(|(k, _)| *k == kind) || kind == crate::jobs::PURGE;
    if !known {
        return Err(AppError::BadRequest(format!("unknown job kind {kind:?}")));
    }
    if paused {
        let res = sqlx::query(
            "INSERT INTO queue_pauses (kind, paused_at, paused_by) VALUES ($1, $2, $3)",
        )
        .bind(kind)
        .bind(now_ms())
        .bind(by)
        .execute(db.pool())
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    } else {
        sqlx::query("DELETE FROM queue_pauses WHERE kind = $1")
            .bind(kind)
            .execute(db.pool())
            .await?;
        Ok(())
    }
}

/// The job an admin asked for, checked: the kind exists and so does its target.
pub async fn admin_job(
    db: &Db,
    kind: &str,
    target: Option<i64>,
    max_attempts: Option<i64>,
) -> Result<NewJob, AppError> {
    let mut job = match (known_kind(kind)?, target) {
        (Target::Asset, Some(id)) => {
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM assets WHERE id = $1")
                .bind(id)
                .fetch_optional(db.pool())
                .await?;
            if exists.is_none() {
                return Err(AppError::BadRequest(format!("there is no asset {id}")));
            }
            // A redo: the work runs again even if it was done.
            let payload = serde_json::json!({ "asset_id": id, "redo": true }).to_string();
            NewJob::new(kind, payload).subject(crate::jobs::asset_subject(id))
        }
        (Target::Asset, None) => {
            return Err(AppError::BadRequest(format!(
                "a {kind} job needs a target asset id"
            )))
        }
        (Target::OptionalUser, Some(id)) => {
            user_exists(db, id).await?;
            NewJob::new(kind, serde_json::json!({ "user_id": id }).to_string())
                .subject(format!("user:{id}"))
        }
        // The periodic kinds: one queued at a time, like the scheduled ones.
        (Target::OptionalUser, None) | (Target::None, None) => NewJob::new(kind, "{}").dedupe(kind),
        (Target::None, Some(_)) => {
            return Err(AppError::BadRequest(format!(
                "a {kind} job takes no target"
            )))
        }
    };
    if let Some(n) = max_attempts {
        if !(1..=20).contains(&n) {
            return Err(AppError::BadRequest(
                "max_attempts must be between 1 and 20".into(),
            ));
        }
        job.max_attempts = n;
    }
    Ok(job.priority(5))
}

async fn user_exists(db: &Db, id: i64) -> Result<(), AppError> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    exists
        .map(|_| ())
        .ok_or_else(|| AppError::BadRequest(format!("there is no user {id}")))
}

/// Recounts one user's stored bytes from the assets they own.
pub async fn refresh_storage(db: &Db, user_id: i64) -> Result<StorageRefresh, AppError> {
    let previous: i64 = sqlx::query_scalar("SELECT storage_used_bytes FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(AppError::NotFound)?;
    let used: i64 = sqlx::query_scalar(
        "UPDATE users SET storage_used_bytes = \
         COALESCE((SELECT SUM(size_bytes) FROM assets WHERE assets.owner_id = users.id), 0) \
         WHERE id = $1 RETURNING storage_used_bytes",
    )
    .bind(user_id)
    .fetch_one(db.pool())
    .await?;
    Ok(StorageRefresh {
        user_id,
        storage_used_bytes: used,
        previous_bytes: previous,
    })
}

/// A process is shown while its heartbeat is younger than this.
pub const INSTANCE_STALE_MS: i64 = 30_000;

/// Writes this process's row (at start and every few seconds after).
pub async fn instance_heartbeat(
    db: &Db,
    me: &super::InstanceRow,
    worker: &str,
) -> Result<(), AppError> {
    let now = crate::db::now_ms();
    let _turn = db.write_turn().await;
    sqlx::query(
        "INSERT INTO instances (id, version, host, addr, worker, started_at, seen_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (id) DO UPDATE SET seen_at = $7",
    )
    .bind(&me.id)
    .bind(&me.version)
    .bind(&me.host)
    .bind(&me.addr)
    .bind(worker)
    .bind(me.started_at_ms)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Rows of processes that died without a word a day ago or more (the
/// cleanup job); how many.
pub async fn delete_gone_instances(db: &Db) -> Result<u64, AppError> {
    Ok(sqlx::query("DELETE FROM instances WHERE seen_at < $1")
        .bind(crate::db::now_ms() - 24 * 3600 * 1000)
        .execute(db.pool())
        .await?
        .rows_affected())
}

/// Removes this process's row (a clean stop).
pub async fn instance_gone(db: &Db, id: &str) -> Result<(), AppError> {
    sqlx::query("DELETE FROM instances WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Every process seen lately, oldest first, with the jobs it runs now.
pub async fn instances(db: &Db) -> Result<Vec<super::InstanceRow>, AppError> {
    let rows: Vec<(String, String, String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT i.id, i.version, i.host, i.addr, i.started_at, i.seen_at, \
           (SELECT COUNT(*) FROM jobs j WHERE j.state = 'running' AND j.lease_owner = i.worker) \
         FROM instances i WHERE i.seen_at >= $1 ORDER BY i.started_at, i.id",
    )
    .bind(crate::db::now_ms() - INSTANCE_STALE_MS)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, version, host, addr, started_at_ms, seen_at_ms, running_jobs)| {
                super::InstanceRow {
                    id,
                    version,
                    host,
                    addr,
                    started_at_ms,
                    seen_at_ms,
                    running_jobs,
                }
            },
        )
        .collect())
}

/// Failures an import row keeps (the rest are counted).
pub const IMPORT_ERRORS_KEPT: usize = 50;

/// Starts the record of an import of `dir` for `owner_id`; its id.
pub async fn import_started(db: &Db, owner_id: i64, by: i64, dir: &str) -> Result<i64, AppError> {
    let now = now_ms();
    Ok(sqlx::query_scalar(
        "INSERT INTO imports (owner_id, started_by, dir, started_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(owner_id)
    .bind(by)
    .bind(dir)
    .bind(now)
    .fetch_one(db.pool())
    .await?)
}

/// Counts of an import so far (`status`: running, done or failed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportProgress {
    pub status: &'static str,
    pub total: Option<i64>,
    pub done: i64,
    pub imported: i64,
    pub skipped: i64,
    pub failed: i64,
    pub errors: Vec<(String, String)>,
    pub message: Option<String>,
}

/// Records where import `id` is.
pub async fn import_progress(db: &Db, id: i64, p: &ImportProgress) -> Result<(), AppError> {
    let errors = serde_json::to_string(&p.errors)
        .map_err(|e| AppError::internal("recording an import", e.to_string()))?;
    let now = now_ms();
    let finished = (p.status != "running").then_some(now);
    sqlx::query(
        "UPDATE imports SET status = $1, total = $2, done = $3, imported = $4, skipped = $5, \
         failed = $6, errors = $7, message = $8, updated_at = $9, finished_at = $10 WHERE id = $11",
    )
    .bind(p.status)
    .bind(p.total)
    .bind(p.done)
    .bind(p.imported)
    .bind(p.skipped)
    .bind(p.failed)
    .bind(errors)
    .bind(p.message.as_deref())
    .bind(now)
    .bind(finished)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The latest `limit` imports, newest first.
pub async fn imports(db: &Db, limit: i64) -> Result<Vec<super::ImportRow>, AppError> {
    let rows = sqlx::query(
        "SELECT i.id, i.dir, u.email, i.status, i.total, i.done, i.imported, i.skipped, i.failed, \
         i.errors, i.message, i.started_at, i.updated_at, i.finished_at \
         FROM imports i JOIN users u ON u.id = i.owner_id ORDER BY i.started_at DESC, i.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| super::ImportRow {
            id: r.get("id"),
            dir: r.get("dir"),
            email: r.get("email"),
            status: r.get("status"),
            total: r.get("total"),
            done: r.get("done"),
            imported: r.get("imported"),
            skipped: r.get("skipped"),
            failed: r.get("failed"),
            errors: serde_json::from_str(&r.get::<String, _>("errors")).unwrap_or_default(),
            message: r.get("message"),
            started_at: r.get("started_at"),
            updated_at: r.get("updated_at"),
            finished_at: r.get("finished_at"),
        })
        .collect())
}

/// Imports left running by a process that stopped (no progress for
/// `stale_ms`) are marked failed.
pub async fn fail_stale_imports(db: &Db, stale_ms: i64) -> Result<u64, AppError> {
    let now = now_ms();
    Ok(sqlx::query(
        "UPDATE imports SET status = 'failed', finished_at = $1, updated_at = $1, \
         message = 'the server running it stopped; start it again (files already imported are skipped)' \
         WHERE status = 'running' AND updated_at < $2",
    )
    .bind(now)
    .bind(now - stale_ms)
    .execute(db.pool())
    .await?
    .rows_affected())
}
