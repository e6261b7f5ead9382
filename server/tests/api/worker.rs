//! The queue runtime: concurrency limits, wake-up on enqueue, token-bucket
//! pacing, crashes and time limits, and release of running jobs at shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::jobs::db::{self as q, NewJob};
use app::jobs::JobState;
use server::worker::{Job, JobContext, JobError, JobFuture, Worker, WorkerSettings};
use tokio::sync::{watch, Notify};

use crate::helpers::{Backend, TestApp};

/// A configurable test job that records when and how many run at once.
struct Probe {
    kind: &'static str,
    concurrency: usize,
    rate: Option<(u32, u32)>,
    timeout: Duration,
    sleep: Duration,
    panic: bool,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    starts: Arc<Mutex<Vec<Instant>>>,
}

impl Probe {
    fn new(kind: &'static str) -> Probe {
        Probe {
            kind,
            concurrency: 2,
            rate: None,
            timeout: Duration::from_secs(30),
            sleep: Duration::from_millis(30),
            panic: false,
            running: Arc::default(),
            peak: Arc::default(),
            starts: Arc::default(),
        }
    }
}

impl Job for Probe {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn concurrency(&self) -> usize {
        self.concurrency
    }
    fn rate_limit(&self) -> Option<(u32, u32)> {
        self.rate
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
    fn run(&self, ctx: JobContext) -> JobFuture {
        let (running, peak, starts) =
            (self.running.clone(), self.peak.clone(), self.starts.clone());
        let (sleep, panic) = (self.sleep, self.panic);
        Box::pin(async move {
            starts.lock().expect("lock").push(Instant::now());
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            ctx.progress(50);
            tokio::time::sleep(sleep).await;
            running.fetch_sub(1, Ordering::SeqCst);
            if panic {
                panic!("decoder blew up");
            }
            Ok::<(), JobError>(())
        })
    }
}

fn settings() -> WorkerSettings {
    WorkerSettings {
        lease: Duration::from_secs(30),
        heartbeat: Duration::from_millis(20),
        backoff_base: Duration::from_secs(2),
        poll: Duration::from_secs(30),
        shutdown_grace: Duration::from_millis(200),
    }
}

/// A worker running in the background until `stop` is called.
struct Running {
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

/// A worker for one probe, woken by the app's queue handle.
fn worker_for(app: &TestApp, probe: Probe) -> Worker {
    Worker::new(
        app.state.clone(),
        settings(),
        app.state.queue.wake(),
        vec![Arc::new(probe)],
    )
}

fn start(worker: Worker) -> Running {
    let (stop, rx) = watch::channel(false);
    Running {
        stop,
        handle: tokio::spawn(worker.run(rx)),
    }
}

impl Running {
    async fn stop(self) {
        self.stop.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(5), self.handle)
            .await
            .expect("the worker stops in time")
            .expect("join");
    }
}

async fn count_in(app: &TestApp, state: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = $1")
        .bind(state)
        .fetch_one(app.state.db.pool())
        .await
        .expect("count")
}

async fn wait_for(app: &TestApp, state: &str, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while count_in(app, state).await < n {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {n} {state} jobs"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn runs_every_job_within_the_concurrency_limit(b: Backend) {
    let app = TestApp::new(b).await;
    let mut probe = Probe::new("sleepy");
    probe.sleep = Duration::from_millis(200); // long enough that two always overlap
    let peak = probe.peak.clone();
    let running = start(worker_for(&app, probe));
    for _ in 0..8 {
        app.state
            .queue
            .enqueue(&NewJob::new("sleepy", "{}"))
            .await
            .expect("enqueue");
    }
    wait_for(&app, "succeeded", 8).await;
    assert_eq!(peak.load(Ordering::SeqCst), 2, "two at once, never more");
    running.stop().await;
}

async fn an_enqueue_wakes_an_idle_worker_at_once(b: Backend) {
    let app = TestApp::new(b).await;
    let probe = Probe::new("prompt");
    let starts = probe.starts.clone();
    let running = start(worker_for(&app, probe));
    tokio::time::sleep(Duration::from_millis(200)).await; // idle, polling every 30 s
    let sent = Instant::now();
    // The app's own queue handle wakes the worker: no poll is involved.
    app.state
        .queue
        .enqueue(&NewJob::new("prompt", "{}"))
        .await
        .expect("enqueue");
    wait_for(&app, "succeeded", 1).await;
    let started = starts.lock().expect("lock")[0];
    let latency = started.duration_since(sent);
    assert!(
        latency < Duration::from_millis(500),
        "enqueue-to-start {latency:?}"
    );
    running.stop().await;
}

async fn the_token_bucket_paces_starts(b: Backend) {
    let app = TestApp::new(b).await;
    let mut probe = Probe::new("paced");
    probe.rate = Some((600, 1)); // one start per 100 ms, no burst
    probe.concurrency = 5;
    probe.sleep = Duration::ZERO;
    let starts = probe.starts.clone();
    for _ in 0..5 {
        q::enqueue(&app.state.db, &NewJob::new("paced", "{}"), 100)
            .await
            .expect("enqueue");
    }
    let wake = Arc::new(Notify::new());
    let worker = Worker::new(app.state.clone(), settings(), wake, vec![Arc::new(probe)]);
    let running = start(worker);
    wait_for(&app, "succeeded", 5).await;
    let s = starts.lock().expect("lock").clone();
    let span = s[s.len() - 1].duration_since(s[0]);
    assert!(
        span >= Duration::from_millis(350),
        "5 starts at 10/s took only {span:?}"
    );
    // The limit, the tokens left and the starts reach the queue status.
    app::telemetry::global().tick();
    let status = app::admin::snapshot::queue_status(&app.state, true)
        .await
        .expect("status");
    let paced = &status.kinds["paced"];
    assert_eq!(paced.rate_limit_per_minute, Some(600), "{status:?}");
    assert!(paced.requests_this_minute >= 5, "{status:?}");
    let detail = status.detail.expect("admin detail");
    let kind = detail
        .kinds
        .iter()
        .find(|k| k.kind == "paced")
        .expect("paced");
    assert!(kind.rate_tokens.is_some_and(|t| t <= 1.0), "{kind:?}");
    running.stop().await;
}

async fn crashes_and_time_limits_fail_the_job_not_the_worker(b: Backend) {
    let app = TestApp::new(b).await;
    let mut crashing = Probe::new("crashing");
    crashing.panic = true;
    let mut slow = Probe::new("slow");
    slow.timeout = Duration::from_millis(50);
    slow.sleep = Duration::from_secs(30);
    let db = &app.state.db;
    let crash_id = q::enqueue(db, &NewJob::new("crashing", "{}"), 100)
        .await
        .expect("enqueue")
        .id();
    let slow_id = q::enqueue(db, &NewJob::new("slow", "{}"), 100)
        .await
        .expect("enqueue")
        .id();
    let ok_id = q::enqueue(db, &NewJob::new("fine", "{}"), 100)
        .await
        .expect("enqueue")
        .id();
    let worker = Worker::new(
        app.state.clone(),
        settings(),
        Arc::new(Notify::new()),
        vec![
            Arc::new(crashing),
            Arc::new(slow),
            Arc::new(Probe::new("fine")),
        ],
    );
    worker.drain().await;
    let crash = app::jobs::read::get(db, crash_id).await.expect("get");
    assert_eq!(crash.state, JobState::Dead, "a panic is permanent");
    assert!(
        crash
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("crashed"),
        "{crash:?}"
    );
    let slow = app::jobs::read::get(db, slow_id).await.expect("get");
    assert_eq!(slow.state, JobState::Queued, "a time-out is retried later");
    assert!(
        slow.last_error
            .as_deref()
            .unwrap_or("")
            .contains("timed out"),
        "{slow:?}"
    );
    assert_eq!(
        app::jobs::read::get(db, ok_id).await.expect("get").state,
        JobState::Succeeded
    );
}

async fn shutdown_releases_running_jobs(b: Backend) {
    let app = TestApp::new(b).await;
    let mut stuck = Probe::new("stuck");
    stuck.sleep = Duration::from_secs(60);
    let id = q::enqueue(&app.state.db, &NewJob::new("stuck", "{}"), 100)
        .await
        .expect("enqueue")
        .id();
    let worker = Worker::new(
        app.state.clone(),
        settings(),
        Arc::new(Notify::new()),
        vec![Arc::new(stuck)],
    );
    let running = start(worker);
    wait_for(&app, "running", 1).await;
    running.stop().await;
    let job = app::jobs::read::get(&app.state.db, id).await.expect("get");
    assert_eq!(
        (job.state, job.attempts),
        (JobState::Queued, 0),
        "released, attempt not counted"
    );
}

async fn cleanup_removes_expired_sessions_and_old_jobs(b: Backend) {
    let app = TestApp::new(b).await;
    app.register("a@example.com").await;
    app.register("b@example.com").await;
    let db = &app.state.db;
    sqlx::query("UPDATE sessions SET expires_at = 1 WHERE id_hash IN (SELECT id_hash FROM sessions LIMIT 1)")
        .execute(db.pool())
        .await
        .expect("expire one");
    let old = q::enqueue(db, &NewJob::new("noop", "{}"), 100)
        .await
        .expect("enqueue")
        .id();
    let lease = q::claim(db, "w", "noop", 1, Duration::from_secs(30))
        .await
        .expect("claim")
        .remove(0);
    q::complete(db, &lease).await.expect("complete");
    sqlx::query("UPDATE jobs SET finished_at = 1 WHERE id = $1")
        .bind(old)
        .execute(db.pool())
        .await
        .expect("age");

    app.state
        .queue
        .enqueue(&server::worker::cleanup::new_job())
        .await
        .expect("enqueue");
    assert!(matches!(
        app.state
            .queue
            .enqueue(&server::worker::cleanup::new_job())
            .await,
        Ok(app::jobs::db::Enqueued::Duplicate(_))
    ));
    let worker = Worker::new(
        app.state.clone(),
        settings(),
        app.state.queue.wake(),
        server::worker::all_jobs(&app.state.settings),
    );
    worker.drain().await;
    assert_eq!(app.count("sessions").await, 1);
    assert!(
        app::jobs::read::get(db, old).await.is_err(),
        "the old finished job is gone"
    );
    assert_eq!(
        count_in(&app, "succeeded").await,
        1,
        "only the cleanup job itself remains"
    );
}

async fn the_server_runs_cleanup_from_the_start(b: Backend) {
    let app = TestApp::new(b).await;
    let server = app.spawn().await;
    wait_for(&app, "succeeded", 2).await;
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM jobs WHERE state = 'succeeded' ORDER BY kind")
            .fetch_all(app.state.db.pool())
            .await
            .expect("kinds");
    assert_eq!(kinds, ["cleanup", "storage"]);
    server.stop().await;
}

crate::both_backends!(
    runs_every_job_within_the_concurrency_limit,
    an_enqueue_wakes_an_idle_worker_at_once,
    the_token_bucket_paces_starts,
    crashes_and_time_limits_fail_the_job_not_the_worker,
    shutdown_releases_running_jobs,
    cleanup_removes_expired_sessions_and_old_jobs,
    the_server_runs_cleanup_from_the_start,
);

/// Several processes on one PostgreSQL: an enqueue in one wakes idle
/// workers in another at once (LISTEN/NOTIFY), not at their next poll.
#[tokio::test]
async fn postgres_enqueue_in_another_process_wakes_workers_at_once() {
    if !crate::helpers::pg_enabled() {
        eprintln!("skipped: PostgreSQL not configured");
        return;
    }
    crate::helpers::bounded(async {
        let app = TestApp::new(Backend::Postgres).await;
        let slow_poll = WorkerSettings {
            poll: Duration::from_secs(60),
            ..settings()
        };
        let listen = tokio::spawn(server::worker::listen_for_enqueues(app.state.app.clone()));
        let (stop, rx) = tokio::sync::watch::channel(false);
        let worker = Worker::new(
            app.state.clone(),
            slow_poll,
            app.state.queue.wake(),
            vec![Arc::new(Probe::new("noop"))],
        );
        let run = tokio::spawn(worker.run(rx));
        // Let the worker go idle and the listener connect.
        tokio::time::sleep(Duration::from_millis(500)).await;

        // "Another process": its own pool and its own in-process wake-up.
        let other = app::db::Db::connect(&app.database_url, &Default::default())
            .await
            .expect("second pool");
        let queue = app::jobs::queue::Queue::new(other.clone(), 100);
        let started = std::time::Instant::now();
        queue
            .enqueue(&app::jobs::db::NewJob::new("noop", "{}"))
            .await
            .expect("enqueue");
        loop {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'")
                .fetch_one(app.state.db.pool())
                .await
                .expect("count");
            if n == 1 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the job waited for a poll instead of being woken"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        eprintln!("cross-process enqueue-to-done: {:?}", started.elapsed());
        let _ = stop.send(true);
        let _ = run.await;
        listen.abort();
        other.close().await;
    })
    .await;
}
