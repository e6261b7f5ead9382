//! Queue benchmark: no-op jobs per second through the real worker runtime,
//! and enqueue-to-start latency (p50/p99) with an idle worker, on SQLite and
//! (when reachable) PostgreSQL. Prints its figures.
//!
//! Run: `cargo bench -p server --bench queue`
//! (`WAVEKEEP_SQLITE_SYNCHRONOUS=normal` for SQLite's faster durability setting)
//! PostgreSQL: `WAVEKEEP_BENCH_PG_URL` (default postgres://postgres@127.0.0.1:5432/test);
//! a scratch database is created and dropped.

#[path = "support.rs"]
#[allow(dead_code, reason = "the HTTP helpers are for other benches")]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::db::Backend;
use app::jobs::db::NewJob;
use app::settings::Settings;
use server::worker::{Job, JobContext, JobFuture, Worker, WorkerSettings};
use tokio::sync::{mpsc, watch};

const JOBS: usize = 20_000;
const SAMPLES: usize = 500;

struct Noop {
    done: Arc<AtomicUsize>,
    started: mpsc::UnboundedSender<Instant>,
    concurrency: usize,
}

impl Job for Noop {
    fn kind(&self) -> &'static str {
        "noop"
    }
    fn concurrency(&self) -> usize {
        self.concurrency
    }
    fn run(&self, _ctx: JobContext) -> JobFuture {
        let _ = self.started.send(Instant::now());
        let done = self.done.clone();
        Box::pin(async move {
            done.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
    }
}

async fn bench(name: &str, url: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let mut settings = Settings {
        data_dir: dir.path().to_path_buf(),
        queue_max_depth: 10_000_000,
        ..Settings::default()
    };
    // `WAVEKEEP_SQLITE_SYNCHRONOUS=normal` measures the faster setting.
    settings.pool.sqlite_full_sync =
        std::env::var("WAVEKEEP_SQLITE_SYNCHRONOUS").as_deref() != Ok("normal");
    let addr = "127.0.0.1:0".parse().expect("addr");
    let state = server::build_state(settings, url, addr)
        .await
        .expect("state");

    // Throughput: a full queue, then the worker drains it.
    let t = Instant::now();
    let mut tasks = Vec::new();
    for part in 0..8 {
        let queue = state.queue.clone();
        tasks.push(tokio::spawn(async move {
            for _ in (part..JOBS).step_by(8) {
                queue
                    .enqueue(&NewJob::new("noop", "{}"))
                    .await
                    .expect("enqueue");
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    let enqueue_rate = JOBS as f64 / t.elapsed().as_secs_f64();

    let done = Arc::new(AtomicUsize::new(0));
    let (tx, mut started) = mpsc::unbounded_channel();
    let job = Arc::new(Noop {
        done: done.clone(),
        started: tx,
        concurrency: 32,
    });
    let (stop, rx) = watch::channel(false);
    let worker = Worker::new(
        state.clone(),
        WorkerSettings::default(),
        state.queue.wake(),
        vec![job as Arc<dyn Job>],
    );
    let t = Instant::now();
    let run = tokio::spawn(worker.run(rx));
    while done.load(Ordering::Relaxed) < JOBS {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Completion is recorded after the job body: wait for the rows too.
    loop {
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state <> 'succeeded'")
            .fetch_one(state.db.pool())
            .await
            .expect("count");
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = JOBS as f64 / t.elapsed().as_secs_f64();
    while started.try_recv().is_ok() {}

    // Latency: one job at a time into an idle worker.
    let mut lat = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let t0 = Instant::now();
        state
            .queue
            .enqueue(&NewJob::new("noop", "{}"))
            .await
            .expect("enqueue");
        let at = started.recv().await.expect("start");
        lat.push(at.duration_since(t0));
    }
    lat.sort();
    let p =
        |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "{name:>10}: {rate:>7.0} no-op jobs/s ({JOBS} jobs, worker concurrency 32) | enqueue {enqueue_rate:>6.0}/s | enqueue→start p50 {:.2} ms, p99 {:.2} ms",
        p(0.5),
        p(0.99)
    );
    let _ = stop.send(true);
    let _ = run.await;
    state.db.close().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let sqlite = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        bench("sqlite", &sqlite).await;

        let Some(pg) = support::ScratchPg::create("wk_bench").await else {
            return;
        };
        assert_eq!(Backend::from_url(&pg.url), Some(Backend::Postgres));
        bench("postgres", &pg.url).await;
        pg.drop().await;
    });
}
