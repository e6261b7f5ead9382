//! A stop (SIGTERM in the binary) while the /admin dashboard and track
//! pages hold their event streams open: the streams end at once and the
//! server exits long before its drain timeout.

use std::time::{Duration, Instant};

use crate::helpers::{Backend, TestApp};
use crate::uploads::{api_key, post_track};

/// Opens an event stream and reads its first chunk (the stream is live).
async fn open(client: &reqwest::Client, url: &str, cookie: &str) -> reqwest::Response {
    let mut res = client
        .get(url)
        .header("cookie", cookie)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("open the event stream");
    assert_eq!(res.status(), reqwest::StatusCode::OK, "{url}");
    let first = tokio::time::timeout(Duration::from_secs(5), res.chunk())
        .await
        .expect("a first event within 5 s")
        .expect("read");
    assert!(first.is_some(), "{url} sent nothing");
    res
}

/// Reads `res` to its end; how long that took after `since`.
async fn ends(mut res: reqwest::Response, since: Instant) -> Duration {
    loop {
        match res.chunk().await {
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return since.elapsed(),
        }
    }
}

async fn a_stop_ends_open_event_streams_long_before_the_drain_timeout(b: Backend) {
    let app = TestApp::with(b, |s| s.drain_timeout = Duration::from_secs(60)).await;
    let admin = app.admin("root@example.com").await;
    let key = api_key(&app, &admin).await;
    // A track whose events the page follows (its stream ends by itself once
    // the track is ready; until then the stop must end it).
    let wav = std::fs::read(crate::audio::wav(1.0)).expect("wav");
    let res = app
        .send(post_track(
            &key,
            &[("title", "Open"), ("visibility", "public")],
            Some(("open.wav", &wav)),
        ))
        .await;
    assert_eq!(res.status, http::StatusCode::ACCEPTED, "{}", res.text);
    let id = res.json()["id"].as_i64().expect("id");

    let server = app.spawn().await;
    let client = reqwest::Client::new();
    let dashboards = [
        open(&client, &server.url("/api/admin/events"), &admin).await,
        open(&client, &server.url("/api/admin/events"), &admin).await,
    ];
    let track = open(
        &client,
        &server.url(&format!("/api/v1/tracks/{id}/events")),
        &admin,
    )
    .await;

    let stop = Instant::now();
    let readers: Vec<_> = dashboards
        .into_iter()
        .chain([track])
        .map(|res| tokio::spawn(ends(res, stop)))
        .collect();
    tokio::time::timeout(Duration::from_secs(5), server.stop())
        .await
        .expect("the server stops within 5 s, not at its 60 s drain timeout");
    let took = stop.elapsed();
    assert!(took < Duration::from_secs(3), "stopping took {took:?}");
    for r in readers {
        let ended = r.await.expect("reader");
        assert!(
            ended < Duration::from_secs(3),
            "a stream ended after {ended:?}"
        );
    }
}

crate::both_backends!(a_stop_ends_open_event_streams_long_before_the_drain_timeout);
