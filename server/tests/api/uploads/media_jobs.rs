//! What happens to an upload after it is stored: malformed files fail
//! their jobs with a reason, and the track's events follow processing live.

use std::time::Duration;

use http::{header, StatusCode};

use super::*;
use crate::audio;
use crate::helpers::{get, with_bearer, with_cookie, Backend, TestApp};

async fn malformed_files_fail_their_jobs_with_a_reason_and_the_server_keeps_answering(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let key = api_key(&app, &cookie).await;
    let mut ids = Vec::new();
    for (name, bytes) in audio::malformed() {
        let res = app
            .send(post_track(&key, &[("title", name)], Some((name, &bytes))))
            .await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{name}: {}", res.text);
        ids.push((name, res.json()["id"].as_i64().expect("id")));
    }
    let started = std::time::Instant::now();
    process(&app).await;
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "no decoder hangs"
    );
    for (name, id) in ids {
        let t = track(&app, &cookie, id).await;
        if name == "truncated.mp3" {
            // What is there is audio: kept, with the duration it really has.
            assert_eq!(t["status"], "ready", "{name}: {t}");
            let ms = t["duration_ms"].as_i64().expect("duration");
            assert!(ms > 500 && ms < 2000, "{name}: {ms}");
            continue;
        }
        assert_eq!(t["status"], "failed", "{name}: {t}");
        let err = t["error"].as_str().unwrap_or_default();
        assert!(!err.is_empty() && !err.contains("panic"), "{name}: {err}");
        assert_eq!(
            t["jobs"][0]["state"], "Dead",
            "{name}: failed for good, not retried"
        );
        assert_eq!(t["jobs"][0]["attempts"], 1, "{name}");
        let res = app
            .send(with_cookie(
                get(&format!("/api/v1/tracks/{id}/peaks")),
                &cookie,
            ))
            .await;
        assert_eq!(res.status, StatusCode::CONFLICT);
    }
    assert_eq!(app.send(get("/healthz")).await.status, StatusCode::OK);
}

async fn track_events_stream_processing_live_until_done(b: Backend) {
    use futures::StreamExt;
    use tower::ServiceExt;
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let key = api_key(&app, &cookie).await;
    let bytes = std::fs::read(audio::mp3(3.0)).expect("mp3");
    let res = app
        .send(post_track(
            &key,
            &[("title", "Live")],
            Some(("live.mp3", &bytes)),
        ))
        .await;
    let id = res.json()["id"].as_i64().expect("id");

    let mut req = with_bearer(get(&format!("/api/v1/tracks/{id}/events")), &key);
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            1,
        ))));
    let res = app.router.clone().oneshot(req).await.expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "text/event-stream");
    let reader = tokio::spawn(async move {
        let mut text = String::new();
        let mut body = res.into_body().into_data_stream();
        while let Some(Ok(chunk)) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    process(&app).await;
    let text = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .expect("the stream ends once the track is ready")
        .expect("join");
    let first = text
        .find("event: progress")
        .expect("a progress event first");
    let done = text.find("event: done").expect("a done event last");
    assert!(first < done, "{text}");
    assert!(text.contains("\"state\":\"Queued\""), "{text}");
    assert!(text[done..].contains("\"status\":\"ready\""), "{text}");
    assert!(text[done..].contains("\"duration_ms\":30"), "{text}");

    // Someone else cannot listen.
    let bob = app.register("bob@example.com").await;
    let res = app
        .send(with_cookie(
            get(&format!("/api/v1/tracks/{id}/events")),
            &bob,
        ))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

/// Opus voice memos and browser recordings (Ogg, WebM) go through the
/// sandboxed media worker like any file: exact duration, a waveform, ready.
async fn opus_files_are_processed(b: Backend) {
    if !crate::ffmpeg::have_ffmpeg() {
        return;
    }
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let key = api_key(&app, &cookie).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut ids = Vec::new();
    for (name, secs) in [("memo.opus", 4.2), ("recording.webm", 2.5)] {
        let path = dir.path().join(name);
        crate::ffmpeg::sine(&path, secs, 330, &["-c:a", "libopus"]);
        let bytes = std::fs::read(&path).expect("opus");
        let res = app
            .send(post_track(&key, &[("title", name)], Some((name, &bytes))))
            .await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{name}: {}", res.text);
        ids.push((name, secs, res.json()["id"].as_i64().expect("id")));
    }
    process(&app).await;
    for (name, secs, id) in ids {
        let t = track(&app, &cookie, id).await;
        assert_eq!(t["status"], "ready", "{name}: {t}");
        let ms = t["duration_ms"].as_i64().expect("duration");
        assert!((ms - (secs * 1000.0) as i64).abs() <= 25, "{name}: {ms} ms");
        assert_eq!(t["versions"][0]["asset"]["codec"], "opus", "{name}");
        let peaks = app
            .send(with_cookie(
                get(&format!("/api/v1/tracks/{id}/peaks")),
                &cookie,
            ))
            .await;
        assert_eq!(peaks.status, StatusCode::OK, "{name}: {}", peaks.text);
    }
}

crate::both_backends!(
    opus_files_are_processed,
    malformed_files_fail_their_jobs_with_a_reason_and_the_server_keeps_answering,
    track_events_stream_processing_live_until_done,
);
