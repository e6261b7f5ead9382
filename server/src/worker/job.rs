//! The job trait: what one kind of job says about itself (name, limits,
//! time limit) and does (`run`, `on_dead`), and what an attempt gets.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::state::ServerState;

pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;

/// Why a job failed; `permanent` errors (a malformed file) are not retried.
/// A job that could not start its work (its provider asked for a pause)
/// goes back to the queue `later` without spending an attempt.
#[derive(Debug, Clone)]
pub struct JobError {
    pub message: String,
    pub permanent: bool,
    /// Run again at this time (unix ms), the attempt not counted.
    pub later: Option<i64>,
}

impl JobError {
    pub fn retry(message: impl Into<String>) -> Self {
        JobError {
            message: message.into(),
            permanent: false,
            later: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        JobError {
            message: message.into(),
            permanent: true,
            later: None,
        }
    }

    pub fn later(until_ms: i64, message: impl Into<String>) -> Self {
        JobError {
            message: message.into(),
            permanent: false,
            later: Some(until_ms),
        }
    }
}

/// One kind of job: its name, limits and work. Jobs must be idempotent: an
/// attempt may run again after a crash.
pub trait Job: Send + Sync + 'static {
    fn kind(&self) -> &'static str;
    /// Attempts of this kind running at once in one process.
    fn concurrency(&self) -> usize {
        2
    }
    /// Starts per minute and the burst allowed, when the kind is rate limited.
    fn rate_limit(&self) -> Option<(u32, u32)> {
        None
    }
    /// Longest an attempt may run before it fails as timed out.
    fn timeout(&self) -> Duration {
        Duration::from_secs(600)
    }
    fn run(&self, ctx: JobContext) -> JobFuture;
    /// Called once when the job has failed for good (dead): record the
    /// reason where people will see it.
    fn on_dead(&self, _state: ServerState, _payload: String, _error: String) -> JobFuture {
        Box::pin(async { Ok(()) })
    }
}

/// What an attempt gets: its payload, the app state, and a progress dial.
#[derive(Clone)]
pub struct JobContext {
    pub job_id: i64,
    pub payload: String,
    pub attempt: i64,
    pub state: ServerState,
    pub(super) progress: Arc<AtomicI64>,
}

impl JobContext {
    /// Records progress (0–100); stored with the next heartbeat.
    pub fn progress(&self, percent: i64) {
        self.progress
            .store(percent.clamp(0, 100), Ordering::Relaxed);
    }
}
