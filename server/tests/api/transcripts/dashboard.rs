//! /admin and `/metrics` show the provider: requests in flight against the
//! concurrency, starts in the last minute against the rate, latency,
//! errors by class, the breaker, and the month's minutes; an open breaker
//! raises an alert.

use std::time::Duration;

use super::*;
use crate::fake_stt::{Options, Reply};
use crate::helpers::Backend;

async fn the_dashboard_and_metrics_show_the_provider(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let fake = FakeStt::start(Options {
        latency: Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    let app = app_with(b, &fake, |s| {
        s.api_key = None;
        s.breaker_failures = 2;
        s.breaker_cooloff = Duration::from_secs(30);
    })
    .await;
    let (_, key) = user(&app, "ana@example.com").await;
    let admin = app.admin("root@example.com").await;
    fake.script([Reply::ServerError]);
    let id = upload(
        &app,
        &key,
        "talk",
        &spoken_mp3(3.0, &[(0.5, 1.0, "golf")]),
        Some("1"),
    )
    .await;
    let worker = run_worker(&app.state);
    assert_eq!(settled(&app, id, Duration::from_secs(30)).await, "done");
    worker.stop().await;

    let perf = app
        .send(with_cookie(get("/api/admin/performance"), &admin))
        .await;
    assert_eq!(perf.status, StatusCode::OK, "{}", perf.text);
    let t = &perf.json()["transcription"];
    assert_eq!(t["concurrency"], 5, "{t}");
    assert_eq!(t["rate_per_minute"], 600);
    assert_eq!(t["in_flight"], 0);
    assert_eq!(t["started_last_minute"], 2);
    assert_eq!(t["requests"], 2);
    assert_eq!(t["errors"], serde_json::json!([["server_error", 1]]));
    // The 500 came at once, the transcript after 200 ms.
    assert!(t["p95_ms"].as_f64().expect("p95") >= 150.0, "{t}");
    assert!(t["p50_ms"].as_f64().expect("p50") < 150.0, "{t}");
    assert_eq!(t["breaker"], "closed");
    assert_eq!(t["queued"], 0);
    assert!(
        (t["minutes_this_month"].as_f64().expect("minutes") - 0.05).abs() < 0.01,
        "{t}"
    );

    let metrics = app.send(with_cookie(get("/metrics"), &admin)).await;
    assert_eq!(metrics.status, StatusCode::OK);
    for series in [
        "stt_requests_total{outcome=\"ok\"}",
        "stt_requests_total{outcome=\"server_error\"}",
        "stt_request_seconds",
    ] {
        assert!(metrics.text.contains(series), "{series} in /metrics");
    }

    // Two failures in a row open the breaker: an alert says so.
    fake.script([Reply::ServerError, Reply::ServerError]);
    let id = upload(
        &app,
        &key,
        "again",
        &spoken_mp3(3.0, &[(0.5, 1.0, "papa")]),
        Some("1"),
    )
    .await;
    let worker = run_worker(&app.state);
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let p = app
            .send(with_cookie(get("/api/admin/performance"), &admin))
            .await
            .json();
        if p["transcription"]["breaker"] == "open" {
            let alerts = p["alerts"].as_array().cloned().unwrap_or_default();
            assert!(
                alerts.iter().any(|a| a["key"] == "stt_breaker"),
                "{alerts:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "the breaker never opened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.stop().await;
    assert_eq!(
        status(&app, id).await.as_deref(),
        Some("running"),
        "held, not failed"
    );
}

crate::both_backends!(the_dashboard_and_metrics_show_the_provider);
