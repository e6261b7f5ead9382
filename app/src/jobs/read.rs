//! Reading jobs for people: one job, the jobs on a subject (a track page),
//! and a job's errors.

use sqlx::Row;

use super::{JobInfo, JobState};
use crate::db::Db;
use crate::errors::AppError;

pub async fn get(db: &Db, id: i64) -> Result<JobInfo, AppError> {
    let r = sqlx::query(
        "SELECT id, kind, state, priority, attempts, max_attempts, progress, last_error, run_at, \
         created_at, finished_at FROM jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_one(db.pool())
    .await?;
    Ok(job_info(&r))
}

/// The latest job of each kind working on `subject` (e.g. `asset:12`).
pub async fn for_subject(db: &Db, subject: &str) -> Result<Vec<JobInfo>, AppError> {
    let rows = sqlx::query(
        "SELECT id, kind, state, priority, attempts, max_attempts, progress, last_error, run_at, \
         created_at, finished_at FROM jobs WHERE subject = $1 ORDER BY id DESC LIMIT 50",
    )
    .bind(subject)
    .fetch_all(db.pool())
    .await?;
    let mut seen = std::collections::HashSet::new();
    let mut jobs: Vec<JobInfo> = rows
        .iter()
        .map(job_info)
        .filter(|j| seen.insert(j.kind.clone()))
        .collect();
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

fn job_info(r: &sqlx::any::AnyRow) -> JobInfo {
    JobInfo {
        id: r.get("id"),
        kind: r.get("kind"),
        state: JobState::parse(r.get::<&str, _>("state")).unwrap_or(JobState::Dead),
        priority: r.get("priority"),
        attempts: r.get("attempts"),
        max_attempts: r.get("max_attempts"),
        progress: r.get("progress"),
        last_error: r.get("last_error"),
        run_at: r.get("run_at"),
        created_at: r.get("created_at"),
        finished_at: r.get("finished_at"),
    }
}

/// Every error a job's attempts left, oldest first.
pub async fn errors(db: &Db, id: i64) -> Result<Vec<(i64, String)>, AppError> {
    let rows = sqlx::query("SELECT attempt, error FROM job_errors WHERE job_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.get("attempt"), r.get("error")))
        .collect())
}
