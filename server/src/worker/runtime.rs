//! The queue runtime: one loop per job kind claims due jobs (up to the
//! kind's concurrency, paced by its token bucket), runs each in a task of its
//! own with a time limit and a lease heartbeat, and records the outcome.
//! A panicking job fails (permanently) without touching the worker; a job
//! whose lease was lost is abandoned. `drain` runs everything due, for tests.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::DefaultClock;
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use metrics::{counter, gauge, histogram};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};

use app::jobs::db::{self as q, Lease};
use app::telemetry as t;

use super::{Job, JobContext, JobError};
use crate::state::ServerState;

/// A kind's token bucket; each start reports the tokens left.
type KindLimiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub lease: Duration,
    pub heartbeat: Duration,
    pub backoff_base: Duration,
    /// Longest idle wait between checks when no wake-up comes (other processes' jobs).
    pub poll: Duration,
    /// How long a stopping worker waits for running attempts before releasing them.
    pub shutdown_grace: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            backoff_base: Duration::from_secs(2),
            poll: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl WorkerSettings {
    /// Defaults with this lease; the heartbeat renews it three times per lease.
    pub fn for_lease(lease: Duration) -> Self {
        WorkerSettings {
            lease,
            heartbeat: lease / 3,
            ..WorkerSettings::default()
        }
    }
}

/// Most jobs one claim takes at once.
const CLAIM_BATCH: usize = 16;

struct Kind {
    job: Arc<dyn Job>,
    permits: Arc<Semaphore>,
    limiter: Option<KindLimiter>,
}

#[derive(Clone)]
pub struct Worker {
    state: ServerState,
    settings: WorkerSettings,
    owner: String,
    wake: Arc<Notify>,
    kinds: Arc<Vec<Kind>>,
    /// While `run` runs: successes are recorded in batches by one task.
    completer: Option<tokio::sync::mpsc::UnboundedSender<Completion>>,
}

/// A success to record, the slot it ran in (freed once it is recorded) and
/// who waits for the record.
type Completion = (
    Lease,
    Option<OwnedSemaphorePermit>,
    tokio::sync::oneshot::Sender<()>,
);

/// Records successes in batches: whatever finished while the previous batch
/// was being written goes in the next statement (no added delay when idle).
/// The batch's slots are freed together, in one go, so the claim loop sees
/// them all at once and claims a full batch again instead of one job per
/// freed slot.
async fn record_completions(
    db: app::db::Db,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Completion>,
) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < 500 {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let leases: Vec<Lease> = batch.iter().map(|(l, _, _)| l.clone()).collect();
        if let Err(e) = q::complete_many(&db, &leases).await {
            tracing::error!(error = %e, jobs = leases.len(), "could not record job completions");
        }
        for (_, permit, done) in batch.drain(..) {
            drop(permit);
            let _ = done.send(());
        }
    }
}

impl Worker {
    /// `wake` is notified by enqueuers so idle loops start at once.
    pub fn new(
        state: ServerState,
        settings: WorkerSettings,
        wake: Arc<Notify>,
        jobs: Vec<Arc<dyn Job>>,
    ) -> Self {
        let kinds = jobs
            .into_iter()
            .map(|job| Kind {
                permits: Arc::new(Semaphore::new(job.concurrency().max(1))),
                limiter: job.rate_limit().and_then(|(per_minute, burst)| {
                    let per_minute = NonZeroU32::new(per_minute)?;
                    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
                    gauge!(t::JOB_RATE_LIMIT, "kind" => job.kind())
                        .set(f64::from(per_minute.get()));
                    gauge!(t::JOB_RATE_TOKENS, "kind" => job.kind()).set(f64::from(burst.get()));
                    Some(
                        RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(burst))
                            .with_middleware::<StateInformationMiddleware>(),
                    )
                }),
                job,
            })
            .collect();
        Worker {
            state,
            settings,
            owner: format!(
                "{}-{}",
                std::process::id(),
                &app::auth::session::new_token()[..12]
            ),
            wake,
            kinds: Arc::new(kinds),
            completer: None,
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs every kind's loop until `stop` turns true, then waits up to the
    /// grace period for running attempts and releases the rest.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let completions = tokio::spawn(record_completions(self.state.db.clone(), rx));
        self.completer = Some(tx);
        let mut loops = Vec::new();
        for i in 0..self.kinds.len() {
            loops.push(tokio::spawn(self.clone().kind_loop(i, stop.clone())));
        }
        let reaper = {
            let w = self.clone();
            tokio::spawn(async move {
                loop {
                    if let Err(e) = q::reap_expired(&w.state.db).await {
                        tracing::warn!(error = %e, "lease reaping failed");
                    }
                    tokio::time::sleep(w.settings.lease / 2).await;
                }
            })
        };
        let _ = stop.wait_for(|s| *s).await;
        for l in loops {
            let _ = l.await;
        }
        reaper.abort();
        let all_idle = async {
            for k in self.kinds.iter() {
                let n = u32::try_from(k.job.concurrency().max(1)).unwrap_or(u32::MAX);
                let _ = k.permits.acquire_many(n).await;
            }
        };
        if tokio::time::timeout(self.settings.shutdown_grace, all_idle)
            .await
            .is_err()
        {
            match q::release_owned(&self.state.db, &self.owner).await {
                Ok(n) => tracing::info!(jobs = n, "released running jobs at shutdown"),
                Err(e) => tracing::warn!(error = %e, "could not release running jobs"),
            }
        }
        // Completions already handed over are written before we return.
        self.completer = None;
        let _ = tokio::time::timeout(Duration::from_secs(5), completions).await;
    }

    async fn kind_loop(self, index: usize, mut stop: watch::Receiver<bool>) {
        let kind = &self.kinds[index];
        let name = kind.job.kind();
        while !*stop.borrow() {
            let permit = tokio::select! {
                p = kind.permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                _ = stop.changed() => return,
            };
            // Claim as many as there are free slots (up to a batch): fewer
            // round trips when the queue is deep.
            // Rate-limited kinds claim one at a time: a claimed job must not wait
            // for tokens while its lease runs.
            let batch = if kind.limiter.is_some() {
                1
            } else {
                CLAIM_BATCH
            };
            let mut permits = vec![permit];
            while permits.len() < batch {
                match kind.permits.clone().try_acquire_owned() {
                    Ok(p) => permits.push(p),
                    Err(_) => break,
                }
            }
            // Listen before looking: an enqueue that lands while we claim still wakes us.
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let want = i64::try_from(permits.len()).unwrap_or(1);
            let claimed =
                q::claim(&self.state.db, &self.owner, name, want, self.settings.lease).await;
            let leases = match claimed {
                Ok(v) if !v.is_empty() => v,
                Ok(_) => {
                    drop(permits);
                    tokio::select! {
                        _ = &mut notified => {},
                        _ = tokio::time::sleep(self.settings.poll) => {},
                        _ = stop.changed() => return,
                    }
                    continue;
                }
                Err(e) => {
                    drop(permits);
                    tracing::warn!(job.kind = name, error = %e, "claim failed");
                    tokio::time::sleep(self.settings.poll).await;
                    continue;
                }
            };
            for (lease, permit) in leases.into_iter().zip(permits) {
                if let Some(limiter) = &kind.limiter {
                    let state = limiter.until_ready().await;
                    gauge!(t::JOB_RATE_TOKENS, "kind" => name)
                        .set(f64::from(state.remaining_burst_capacity()));
                }
                let w = self.clone();
                tokio::spawn(async move { w.run_one(index, lease, Some(permit)).await });
            }
        }
    }

    /// Runs one claimed attempt to its end and records the outcome; its
    /// slot (`permit`) is freed once the outcome is recorded.
    async fn run_one(&self, index: usize, lease: Lease, permit: Option<OwnedSemaphorePermit>) {
        let job = self.kinds[index].job.clone();
        let progress = Arc::new(AtomicI64::new(0));
        let ctx = JobContext {
            job_id: lease.id,
            payload: lease.payload.clone(),
            attempt: lease.attempt,
            state: self.state.clone(),
            progress: progress.clone(),
        };
        let started = std::time::Instant::now();
        let kind = job.kind();
        counter!(t::JOB_STARTED, "kind" => kind).increment(1);
        let waited_ms = (app::db::now_ms() - lease.due_at).max(0);
        histogram!(t::JOB_WAIT, "kind" => kind).record(waited_ms as f64 / 1_000.0);
        let mut task = tokio::spawn(job.run(ctx));
        let deadline = tokio::time::sleep(job.timeout());
        tokio::pin!(deadline);
        let mut beat = tokio::time::interval(self.settings.heartbeat);
        beat.tick().await;
        let outcome: Result<(), JobError> = loop {
            tokio::select! {
                joined = &mut task => break match joined {
                    Ok(result) => result,
                    Err(e) if e.is_panic() => Err(JobError::permanent("the job crashed (panic) while processing this input")),
                    Err(_) => Err(JobError::retry("the job was cancelled")),
                },
                _ = &mut deadline => {
                    task.abort();
                    break Err(JobError::retry(format!("timed out after {} s", job.timeout().as_secs())));
                }
                _ = beat.tick() => {
                    let p = progress.load(Ordering::Relaxed);
                    match q::heartbeat(&self.state.db, &lease, self.settings.lease, p).await {
                        Ok(true) => {}
                        Ok(false) => {
                            task.abort();
                            tracing::warn!(job.id = lease.id, job.kind = job.kind(), "lease lost; attempt abandoned");
                            return;
                        }
                        Err(e) => tracing::warn!(job.id = lease.id, error = %e, "heartbeat failed"),
                    }
                }
            }
        };
        let ms = started.elapsed().as_millis() as u64;
        histogram!(t::JOB_RUN, "kind" => kind).record(started.elapsed());
        let recorded = match &outcome {
            Ok(()) => match &self.completer {
                Some(tx) => {
                    let (done, recorded) = tokio::sync::oneshot::channel();
                    match tx.send((lease.clone(), permit, done)) {
                        Ok(()) => {
                            let _ = recorded.await;
                            counter!(t::JOB_SUCCEEDED, "kind" => kind).increment(1);
                            Ok(())
                        }
                        Err(_) => self.complete_one(kind, &lease).await,
                    }
                }
                None => self.complete_one(kind, &lease).await,
            },
            Err(JobError {
                later: Some(run_at),
                message,
                ..
            }) => {
                tracing::info!(job.id = lease.id, job.kind = job.kind(), run_at, reason = %message, "job deferred");
                q::defer(&self.state.db, &lease, *run_at, message)
                    .await
                    .map(|_| ())
            }
            Err(e) => match q::fail(
                &self.state.db,
                &lease,
                &e.message,
                e.permanent,
                self.settings.backoff_base,
            )
            .await
            {
                Ok(f) => {
                    match f {
                        q::Failed::Retry { .. } => {
                            counter!(t::JOB_RETRIED, "kind" => kind).increment(1)
                        }
                        q::Failed::Dead => counter!(t::JOB_FAILED, "kind" => kind).increment(1),
                        q::Failed::Superseded | q::Failed::Stale => {}
                    }
                    tracing::info!(job.id = lease.id, job.kind = job.kind(), outcome = ?f, duration_ms = ms, error = %e.message, "job failed");
                    if f == q::Failed::Dead {
                        let _ = job
                            .on_dead(self.state.clone(), lease.payload.clone(), e.message.clone())
                            .await;
                    }
                    Ok(())
                }
                Err(err) => Err(err),
            },
        };
        if let Err(e) = recorded {
            tracing::error!(job.id = lease.id, error = %e, "could not record a job outcome");
        }
        self.wake.notify_waiters();
    }

    async fn complete_one(
        &self,
        kind: &'static str,
        lease: &Lease,
    ) -> Result<(), app::errors::AppError> {
        let done = q::complete(&self.state.db, lease).await?;
        if done {
            counter!(t::JOB_SUCCEEDED, "kind" => kind).increment(1);
        }
        Ok(())
    }

    /// Runs every job that is due, kind by kind, until none is left (tests).
    pub async fn drain(&self) {
        loop {
            let _ = q::reap_expired(&self.state.db).await;
            let mut ran = false;
            for (index, kind) in self.kinds.iter().enumerate() {
                let limit = i64::try_from(kind.job.concurrency().max(1)).unwrap_or(1);
                let leases = q::claim(
                    &self.state.db,
                    &self.owner,
                    kind.job.kind(),
                    limit,
                    self.settings.lease,
                )
                .await
                .unwrap_or_default();
                ran |= !leases.is_empty();
                futures::future::join_all(leases.into_iter().map(|l| self.run_one(index, l, None)))
                    .await;
            }
            if !ran {
                return;
            }
        }
    }
}
