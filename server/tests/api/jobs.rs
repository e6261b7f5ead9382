//! The persistent job queue's database core: ordering, dedupe under
//! concurrent enqueues, leases and fencing, backoff, dead jobs, depth bound,
//! parallel claimers, cleanup.

use std::collections::HashSet;
use std::time::Duration;

use app::db::now_ms;
use app::errors::AppError;
use app::jobs::db::{self as q, Enqueued, Failed, NewJob};
use app::jobs::read as r;
use app::jobs::JobState;

use crate::helpers::{Backend, TestApp};

const LEASE: Duration = Duration::from_secs(30);
const BASE: Duration = Duration::from_secs(2);

async fn claims_by_priority_then_age(b: Backend) {
    let app = TestApp::new(b).await;
    let db = &app.state.db;
    let first = q::enqueue(db, &NewJob::new("waveform", "{}"), 100)
        .await
        .expect("enqueue")
        .id();
    let urgent = q::enqueue(db, &NewJob::new("waveform", "{}").priority(5), 100)
        .await
        .expect("enqueue")
        .id();
    let second = q::enqueue(db, &NewJob::new("waveform", "{}"), 100)
        .await
        .expect("enqueue")
        .id();
    q::enqueue(db, &NewJob::new("metadata", "{}"), 100)
        .await
        .expect("other kind");
    let one = q::claim(db, "w1", "waveform", 1, LEASE)
        .await
        .expect("claim");
    assert_eq!(one.iter().map(|l| l.id).collect::<Vec<_>>(), vec![urgent]);
    let rest = q::claim(db, "w1", "waveform", 10, LEASE)
        .await
        .expect("claim");
    assert_eq!(
        rest.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![first, second]
    );
    assert!(q::claim(db, "w1", "waveform", 10, LEASE)
        .await
        .expect("claim")
        .is_empty());
    assert_eq!(
        r::get(db, urgent).await.expect("get").state,
        JobState::Running
    );
}

async fn dedupe_holds_under_concurrent_enqueues(b: Backend) {
    let app = TestApp::new(b).await;
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let db = app.state.db.clone();
        tasks.push(tokio::spawn(async move {
            q::enqueue(
                &db,
                &NewJob::new("metadata", r#"{"asset":7}"#).dedupe("metadata:7"),
                1000,
            )
            .await
        }));
    }
    let mut ids = HashSet::new();
    let mut created = 0;
    for t in tasks {
        match t.await.expect("join").expect("enqueue") {
            Enqueued::Created(id) => {
                created += 1;
                ids.insert(id);
            }
            Enqueued::Duplicate(id) => {
                ids.insert(id);
            }
        }
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1, "every caller learns the one job: {ids:?}");
    assert_eq!(app.count("jobs").await, 1);
    // Once it runs, the same key may be queued again (the file may have changed).
    let lease = q::claim(&app.state.db, "w", "metadata", 1, LEASE)
        .await
        .expect("claim");
    assert_eq!(lease.len(), 1);
    let again = q::enqueue(
        &app.state.db,
        &NewJob::new("metadata", "{}").dedupe("metadata:7"),
        1000,
    )
    .await
    .expect("enqueue");
    assert!(matches!(again, Enqueued::Created(_)));
}

async fn failures_back_off_with_jitter_then_die_keeping_every_error(b: Backend) {
    let app = TestApp::new(b).await;
    let db = &app.state.db;
    let id = q::enqueue(db, &NewJob::new("preview", "{}"), 100)
        .await
        .expect("enqueue")
        .id();
    for (attempt, nominal_ms) in [(1, 2_000i64), (2, 4_000), (3, 8_000)] {
        let lease = q::claim(db, "w", "preview", 1, LEASE)
            .await
            .expect("claim")
            .remove(0);
        assert_eq!(lease.attempt, attempt);
        let before = now_ms();
        let outcome = q::fail(db, &lease, &format!("boom {attempt}"), false, BASE)
            .await
            .expect("fail");
        let Failed::Retry { run_at } = outcome else {
            panic!("attempt {attempt}: {outcome:?}")
        };
        let delay = run_at - before;
        assert!(
            delay >= nominal_ms * 8 / 10 - 50 && delay <= nominal_ms * 12 / 10 + 50,
            "attempt {attempt}: delay {delay} ms, nominal {nominal_ms}"
        );
        assert!(
            q::claim(db, "w", "preview", 1, LEASE)
                .await
                .expect("claim")
                .is_empty(),
            "not due yet"
        );
        sqlx::query("UPDATE jobs SET run_at = 0 WHERE id = $1")
            .bind(id)
            .execute(db.pool())
            .await
            .expect("due");
    }
    let lease = q::claim(db, "w", "preview", 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(lease.attempt, 4);
    assert_eq!(
        q::fail(db, &lease, "boom 4", false, BASE)
            .await
            .expect("fail"),
        Failed::Dead
    );
    let job = r::get(db, id).await.expect("get");
    assert_eq!(
        (job.state, job.attempts, job.last_error.as_deref()),
        (JobState::Dead, 4, Some("boom 4"))
    );
    let errors = r::errors(db, id).await.expect("errors");
    assert_eq!(
        errors.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );

    // A permanent error (a malformed file) does not retry.
    let id = q::enqueue(db, &NewJob::new("metadata", "{}"), 100)
        .await
        .expect("enqueue")
        .id();
    let lease = q::claim(db, "w", "metadata", 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(
        q::fail(db, &lease, "not an audio file", true, BASE)
            .await
            .expect("fail"),
        Failed::Dead
    );
    assert_eq!(r::get(db, id).await.expect("get").attempts, 1);
}

async fn expired_leases_run_again_and_stale_workers_are_fenced(b: Backend) {
    let app = TestApp::new(b).await;
    let db = &app.state.db;
    let id = q::enqueue(db, &NewJob::new("waveform", "{}"), 100)
        .await
        .expect("enqueue")
        .id();
    let stale = q::claim(db, "dead-worker", "waveform", 1, Duration::ZERO)
        .await
        .expect("claim")
        .remove(0);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(q::reap_expired(db).await.expect("reap"), 1);
    let fresh = q::claim(db, "live-worker", "waveform", 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    assert_eq!((fresh.id, fresh.attempt), (id, 2));

    // The old worker wakes up: it can neither report, complete nor fail the new attempt.
    assert!(!q::heartbeat(db, &stale, LEASE, 50)
        .await
        .expect("heartbeat"));
    assert!(!q::complete(db, &stale).await.expect("complete"));
    assert_eq!(
        q::fail(db, &stale, "late", false, BASE)
            .await
            .expect("fail"),
        Failed::Stale
    );
    assert!(q::heartbeat(db, &fresh, LEASE, 60)
        .await
        .expect("heartbeat"));
    assert_eq!(r::get(db, id).await.expect("get").progress, 60);
    assert!(q::complete(db, &fresh).await.expect("complete"));
    let job = r::get(db, id).await.expect("get");
    assert_eq!((job.state, job.progress), (JobState::Succeeded, 100));
    assert_eq!(
        r::errors(db, id).await.expect("errors").len(),
        1,
        "the lost lease is on record"
    );

    // Cancelling a running job makes its worker's next heartbeat fail.
    let id = q::enqueue(db, &NewJob::new("waveform", "{}"), 100)
        .await
        .expect("enqueue")
        .id();
    let lease = q::claim(db, "w", "waveform", 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    q::cancel(db, id).await.expect("cancel");
    assert!(!q::heartbeat(db, &lease, LEASE, 10)
        .await
        .expect("heartbeat"));
    assert!(matches!(q::cancel(db, id).await, Err(AppError::NotFound)));
}

async fn parallel_claimers_never_share_a_job(b: Backend) {
    let app = TestApp::new(b).await;
    for i in 0..200 {
        q::enqueue(
            &app.state.db,
            &NewJob::new("noop", format!("{{\"i\":{i}}}")),
            10_000,
        )
        .await
        .expect("enqueue");
    }
    let mut workers = Vec::new();
    for w in 0..6 {
        let db = app.state.db.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = q::claim(&db, &format!("w{w}"), "noop", 7, LEASE)
                    .await
                    .expect("claim");
                if got.is_empty() {
                    return mine;
                }
                for lease in got {
                    assert!(q::complete(&db, &lease).await.expect("complete"));
                    mine.push(lease.id);
                }
            }
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("join"));
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 200, "every job ran");
    assert_eq!(unique.len(), 200, "no job ran twice");
}

async fn a_full_queue_answers_503_and_cleanup_keeps_recent_work(b: Backend) {
    let app = TestApp::new(b).await;
    let db = &app.state.db;
    for _ in 0..5 {
        q::enqueue(db, &NewJob::new("noop", "{}"), 5)
            .await
            .expect("enqueue");
    }
    match q::enqueue(db, &NewJob::new("noop", "{}"), 5).await {
        Err(e @ AppError::Overloaded { .. }) => {
            assert_eq!(e.status(), http::StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(e.retry_after(), Some(5));
        }
        other => panic!("expected 503, got {other:?}"),
    }
    // The queue handle (what requests use) keeps the same bound.
    let queue = app::jobs::queue::Queue::new(db.clone(), 5);
    assert!(matches!(
        queue.enqueue(&NewJob::new("noop", "{}")).await,
        Err(AppError::Overloaded { .. })
    ));
    assert!(matches!(
        queue.check_capacity().await,
        Err(AppError::Overloaded { .. })
    ));
    assert_eq!(
        app.count("jobs").await,
        5,
        "nothing was added past the bound"
    );

    for lease in q::claim(db, "w", "noop", 5, LEASE).await.expect("claim") {
        q::complete(db, &lease).await.expect("complete");
    }
    sqlx::query(
        "UPDATE jobs SET finished_at = $1 WHERE id IN (SELECT id FROM jobs ORDER BY id LIMIT 3)",
    )
    .bind(now_ms() - 8 * 24 * 3600 * 1000)
    .execute(db.pool())
    .await
    .expect("age");
    let removed = q::cleanup_finished(db, Duration::from_secs(7 * 24 * 3600))
        .await
        .expect("cleanup");
    assert_eq!(removed, 3);
    assert_eq!(app.count("jobs").await, 2);
}

async fn batched_completions_are_fenced_per_attempt(b: Backend) {
    let app = TestApp::new(b).await;
    let db = &app.state.db;
    for _ in 0..3 {
        q::enqueue(db, &NewJob::new("noop", "{}"), 100)
            .await
            .expect("enqueue");
    }
    let leases = q::claim(db, "w1", "noop", 3, LEASE).await.expect("claim");
    assert_eq!(leases.len(), 3);
    // The third lease expires and another worker takes the job over.
    sqlx::query("UPDATE jobs SET lease_until = 0 WHERE id = $1")
        .bind(leases[2].id)
        .execute(db.pool())
        .await
        .expect("expire");
    q::reap_expired(db).await.expect("reap");
    let newer = q::claim(db, "w2", "noop", 1, LEASE).await.expect("reclaim");
    assert_eq!(newer[0].id, leases[2].id);
    assert_eq!(q::complete_many(db, &leases).await.expect("complete"), 2);
    assert_eq!(
        r::get(db, leases[0].id).await.expect("job").state,
        JobState::Succeeded
    );
    assert_eq!(
        r::get(db, leases[2].id).await.expect("job").state,
        JobState::Running,
        "the newer attempt is untouched"
    );
    assert_eq!(q::complete_many(db, &newer).await.expect("complete"), 1);
}

crate::both_backends!(
    batched_completions_are_fenced_per_attempt,
    claims_by_priority_then_age,
    dedupe_holds_under_concurrent_enqueues,
    failures_back_off_with_jitter_then_die_keeping_every_error,
    expired_leases_run_again_and_stale_workers_are_fenced,
    parallel_claimers_never_share_a_job,
    a_full_queue_answers_503_and_cleanup_keeps_recent_work,
);
