//! The provider's limits hold for the whole deployment: never more than
//! `concurrency` requests in flight, never more than the rate's starts in
//! any window (a 3 s window here, so that the rate binds within seconds),
//! also with two wavekeep processes on one PostgreSQL; nothing sent before a
//! 429's `Retry-After` (in each of its forms); a breaker that opens after
//! failures in a row, holds the queue without spending attempts, lets one
//! probe through and closes.

use std::time::{Duration, Instant};

use super::*;
use crate::fake_stt::{max_in_window, Options, Reply, RetryHint};
use crate::helpers::Backend;

/// `n` files whose speech differs a little (the word a few ms later in
/// each), so that no two are the same upload or the same chunk.
fn distinct_files(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| spoken_mp3(1.5, &[(0.2 + 0.02 * i as f64, 0.75, "hotel")]))
        .collect()
}

const WINDOW: Duration = Duration::from_secs(3);

fn scaled(s: &mut SttSettings) {
    s.concurrency = 3;
    s.rate_per_minute = 8;
    s.rate_window = WINDOW;
}

/// Uploads `files`, each asking for a transcript; their track ids.
async fn upload_all(app: &TestApp, key: &str, files: &[Vec<u8>]) -> Vec<i64> {
    let mut ids = Vec::new();
    for (i, f) in files.iter().enumerate() {
        ids.push(upload(app, key, &format!("take-{i}"), f, Some("1")).await);
    }
    ids
}

fn assert_within_limits(fake: &FakeStt, n: usize) {
    let sent = fake.arrivals();
    assert_eq!(fake.transcribed().len(), n, "{sent:?}");
    assert_eq!(sent.len(), n, "no request was refused or repeated");
    assert_eq!(fake.duplicates(), 0);
    assert!(
        fake.max_in_flight() <= 3,
        "{} in flight",
        fake.max_in_flight()
    );
    assert!(
        fake.max_in_flight() >= 2,
        "the limit was reached, not avoided: {}",
        fake.max_in_flight()
    );
    let per_window = max_in_window(&sent, WINDOW);
    assert_eq!(
        per_window, 8,
        "at most the rate per window, and the rate reached"
    );
    // 20 starts at 8 per window need two windows' waits at least.
    let first = sent.iter().map(|a| a.at).min().expect("first");
    let last = sent.iter().map(|a| a.at).max().expect("last");
    assert!(
        last.duration_since(first) >= 2 * WINDOW,
        "{:?}",
        last.duration_since(first)
    );
}

/// 20 transcriptions under the scaled limits, run by `processes` wavekeep
/// processes on one database (each alone would allow 3 in flight and 8 per
/// window): the provider never sees more, together.
async fn within_limits(b: Backend, processes: usize) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let fake = FakeStt::start(Options {
        latency: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let app = app_with(b, &fake, |s| {
        s.api_key = None;
        scaled(s);
    })
    .await;
    let (_, key) = user(&app, "ana@example.com").await;
    let ids = upload_all(&app, &key, &distinct_files(20)).await;
    let mut workers = vec![run_worker(&app.state)];
    for _ in 1..processes {
        workers.push(run_worker(&app.second_state().await));
    }
    for id in &ids {
        assert_eq!(settled(&app, *id, Duration::from_secs(60)).await, "done");
    }
    for w in workers {
        w.stop().await;
    }
    assert_within_limits(&fake, 20);
}

async fn concurrency_and_rate_hold(b: Backend) {
    within_limits(b, 1).await;
}

async fn two_processes_share_the_limits(b: Backend) {
    within_limits(b, 2).await;
}

async fn nothing_is_sent_before_retry_after(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let fake = FakeStt::start(Options::default()).await;
    let app = app_with(b, &fake, |s| {
        s.api_key = None;
        s.concurrency = 1;
    })
    .await;
    let (cookie, key) = user(&app, "ana@example.com").await;
    fake.script([
        Reply::RateLimited(RetryHint::Seconds(1)),
        Reply::RateLimited(RetryHint::Millis(1_500)),
        Reply::RateLimited(RetryHint::ResetRequests("1s".into())),
        Reply::RateLimited(RetryHint::Date(Duration::from_secs(2))),
    ]);
    let files = distinct_files(2);
    let ids = upload_all(&app, &key, &files).await;
    let worker = run_worker(&app.state);
    for id in &ids {
        assert_eq!(settled(&app, *id, Duration::from_secs(60)).await, "done");
    }
    worker.stop().await;
    let sent = fake.arrivals();
    let replies: Vec<&str> = sent.iter().map(|a| a.reply.as_str()).collect();
    assert_eq!(replies, ["429", "429", "429", "429", "ok", "ok"]);
    // Each pause is honoured by every job, not only the one that got it.
    let gap = |i: usize| sent[i + 1].at.duration_since(sent[i].ended);
    // (A date 2 s ahead has whole seconds: at least 1 s.)
    let asked = [
        ("Retry-After: 1", 1_000),
        ("retry-after-ms: 1500", 1_500),
        ("x-ratelimit-reset-requests: 1s", 1_000),
        ("Retry-After: <date>", 1_000),
    ];
    for (i, (header, ms)) in asked.iter().enumerate() {
        assert!(
            gap(i) >= Duration::from_millis(*ms),
            "{header} → {:?}",
            gap(i)
        );
    }
    // Pauses spend no attempt.
    for id in ids {
        let job = transcribe_job(&app, &cookie, id).await;
        assert_eq!(job["state"], "Succeeded");
        assert_eq!(job["attempts"], 1, "{job}");
    }
}

async fn a_long_pause_puts_jobs_back_in_the_queue(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let fake = FakeStt::start(Options::default()).await;
    let app = app_with(b, &fake, |s| s.api_key = None).await;
    let (cookie, key) = user(&app, "ana@example.com").await;
    fake.script([Reply::RateLimited(RetryHint::Seconds(7))]);
    let id = upload(&app, &key, "paused", &distinct_files(1)[0], Some("1")).await;
    let worker = run_worker(&app.state);
    // Deferred: queued again with its run time at the end of the pause, its
    // attempt given back.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let job = transcribe_job(&app, &cookie, id).await;
        if job["state"] == "Queued" && job["attempts"] == 0 && fake.arrivals().len() == 1 {
            let wait = job["run_at"].as_i64().expect("run_at") - app::db::now_ms();
            assert!(wait > 4_000, "run again at the pause's end: {wait} ms");
            assert!(
                job["last_error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Rate limit"),
                "{job}"
            );
            break;
        }
        assert!(Instant::now() < until, "the job was not put back: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The gate says so too.
    let gate = app::transcripts::gate::status(&app.state.db)
        .await
        .expect("gate");
    assert!(gate.paused_for_ms > 4_000, "{gate:?}");
    assert_eq!(settled(&app, id, Duration::from_secs(30)).await, "done");
    worker.stop().await;
    let sent = fake.arrivals();
    assert_eq!(sent.len(), 2);
    assert!(sent[1].at.duration_since(sent[0].ended) >= Duration::from_secs(7));
    assert_eq!(transcribe_job(&app, &cookie, id).await["attempts"], 1);
}

async fn the_breaker_opens_holds_and_recovers(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let fake = FakeStt::start(Options::default()).await;
    let app = app_with(b, &fake, |s| {
        s.api_key = None;
        s.concurrency = 1;
        s.breaker_failures = 3;
        s.breaker_cooloff = Duration::from_secs(6);
    })
    .await;
    let (cookie, key) = user(&app, "ana@example.com").await;
    fake.script([Reply::ServerError, Reply::ServerError, Reply::ServerError]);
    let files = distinct_files(3);
    let first = upload(&app, &key, "first", &files[0], Some("1")).await;
    let worker = run_worker(&app.state);
    // Three failures in a row open it.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let gate = app::transcripts::gate::status(&app.state.db)
            .await
            .expect("gate");
        if gate.breaker == "open" {
            break;
        }
        assert!(Instant::now() < until, "the breaker never opened: {gate:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let opened = Instant::now();
    // While open, new work waits in the queue without spending attempts.
    let more = [
        upload(&app, &key, "second", &files[1], Some("1")).await,
        upload(&app, &key, "third", &files[2], Some("1")).await,
    ];
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.arrivals().len(), 3, "nothing is sent while it is open");
    for id in more {
        let job = transcribe_job(&app, &cookie, id).await;
        assert_eq!(job["attempts"], 0, "held, not failed: {job}");
        assert_eq!(job["state"], "Queued", "{job}");
    }
    // After the cool-off one probe goes out alone; its success closes it.
    for id in [first, more[0], more[1]] {
        assert_eq!(settled(&app, id, Duration::from_secs(40)).await, "done");
    }
    worker.stop().await;
    let sent = fake.arrivals();
    assert_eq!(sent.len(), 6, "{sent:?}");
    let probe = &sent[3];
    assert!(
        probe.at.duration_since(opened) >= Duration::from_secs(5),
        "the cool-off was kept"
    );
    assert!(sent[4].at >= probe.ended, "the probe went alone");
    let gate = app::transcripts::gate::status(&app.state.db)
        .await
        .expect("gate");
    assert_eq!(gate.breaker, "closed");
    assert_eq!(gate.failures, 0);
    assert_eq!(transcribe_job(&app, &cookie, first).await["attempts"], 4);
    for id in more {
        assert_eq!(transcribe_job(&app, &cookie, id).await["attempts"], 1);
    }
}

crate::both_backends!(
    concurrency_and_rate_hold,
    nothing_is_sent_before_retry_after,
    a_long_pause_puts_jobs_back_in_the_queue,
    the_breaker_opens_holds_and_recovers,
);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_processes_share_the_limits() {
        if !crate::helpers::pg_enabled() {
            return;
        }
        crate::helpers::bounded(super::two_processes_share_the_limits(
            crate::helpers::Backend::Postgres,
        ))
        .await;
    }
}
