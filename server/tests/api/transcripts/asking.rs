//! Asking for transcripts: on upload (a field) or by the owner's default,
//! within a monthly allowance; admins queue every track without one; with
//! no provider set up, the answer says so.

use std::time::Duration;

use http::Request;

use super::*;
use crate::fake_stt::Options;
use crate::helpers::{form, Backend};

async fn uploads_ask_by_field_or_by_the_owners_default(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let fake = FakeStt::start(Options::default()).await;
    let app = app_with(b, &fake, |s| s.api_key = None).await;
    let (cookie, key) = user(&app, "ana@example.com").await;
    let audio = |word: &str| spoken_mp3(2.0, &[(0.5, 1.0, word)]);
    // Not asked, default off: none.
    let quiet = upload(&app, &key, "quiet", &audio("alpha"), None).await;
    // The machine API's field.
    let asked = upload(&app, &key, "asked", &audio("bravo"), Some("1")).await;
    // tus Upload-Metadata.
    let bytes = audio("charlie");
    let req =
        crate::uploads::create_req(bytes.len(), &[("filename", "tus.mp3"), ("transcribe", "1")])
            .body(axum::body::Body::empty())
            .expect("r");
    let res = app.send(with_cookie(req, &cookie)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    let url = crate::uploads::hdr(&res, "location");
    let res = app
        .send(with_cookie(crate::uploads::patch(&url, 0, &bytes), &cookie))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    let by_tus = crate::uploads::hdr(&res, "wavekeep-track-id")
        .parse::<i64>()
        .ok();
    // The owner's default: on.
    let account = |c: &str| with_cookie(form("/api/transcripts/account", &[]), c);
    let res = app.send(account(&cookie)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(res.json()["transcribe_uploads"], false);
    assert_eq!(res.json()["enabled"], true);
    let res = app
        .send(with_cookie(
            form("/api/transcripts/default", &[("on", "true")]),
            &cookie,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(
        app.send(account(&cookie)).await.json()["transcribe_uploads"],
        true
    );
    let by_default = upload(&app, &key, "default", &audio("delta"), None).await;
    // The field still wins.
    let refused = upload(&app, &key, "no", &audio("echo"), Some("0")).await;
    crate::uploads::process(&app).await;

    assert_eq!(status(&app, quiet).await, None);
    assert_eq!(status(&app, refused).await, None);
    for id in [asked, by_default] {
        assert_eq!(settled(&app, id, Duration::from_secs(30)).await, "done");
    }
    let said: Vec<String> = fake
        .transcribed()
        .iter()
        .flat_map(|a| a.words.clone())
        .collect();
    let mut said = said;
    said.sort();
    assert_eq!(
        said,
        ["bravo", "charlie", "delta"],
        "the tus upload was transcribed too"
    );
    if let Some(id) = by_tus {
        assert_eq!(status(&app, id).await.as_deref(), Some("done"));
    }
    // Usage: 6 s of audio this month.
    let usage = app.send(account(&cookie)).await.json();
    let minutes = usage["minutes_this_month"].as_f64().expect("minutes");
    assert!((minutes - 0.1).abs() < 0.02, "{usage}");
}

async fn the_monthly_allowance_refuses_more_with_a_clear_message(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let fake = FakeStt::start(Options::default()).await;
    let app = app_with(b, &fake, |s| {
        s.api_key = None;
        s.minutes_per_month = Some(1);
    })
    .await;
    let (cookie, key) = user(&app, "ana@example.com").await;
    let long = upload(
        &app,
        &key,
        "long",
        &spoken_mp3(61.0, &[(1.0, 1.0, "mike")]),
        Some("1"),
    )
    .await;
    crate::uploads::process(&app).await;
    assert_eq!(settled(&app, long, Duration::from_secs(30)).await, "done");
    let usage = app
        .send(with_cookie(form("/api/transcripts/account", &[]), &cookie))
        .await
        .json();
    assert_eq!(usage["minutes_per_month"], 1);
    assert!(
        usage["minutes_this_month"].as_f64().expect("minutes") > 1.0,
        "{usage}"
    );
    // Asking now is refused with the reason.
    let other = upload(
        &app,
        &key,
        "other",
        &spoken_mp3(2.0, &[(0.5, 1.0, "papa")]),
        None,
    )
    .await;
    let res = app
        .send(with_cookie(
            Request::post(format!("/api/v1/tracks/{other}/transcribe"))
                .body(axum::body::Body::empty())
                .expect("r"),
            &cookie,
        ))
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text);
    assert!(
        res.text.contains("allowance (1 min) is used up"),
        "{}",
        res.text
    );
    // An upload asking for one gets a failed transcript saying so, and
    // nothing goes to the provider.
    let asked = upload(
        &app,
        &key,
        "asked",
        &spoken_mp3(2.0, &[(0.5, 1.0, "oscar")]),
        Some("1"),
    )
    .await;
    crate::uploads::process(&app).await;
    assert_eq!(
        settled(&app, asked, Duration::from_secs(30)).await,
        "failed"
    );
    assert_eq!(fake.arrivals().len(), 1);
    // Another user has their own allowance.
    let (_, key2) = user(&app, "ben@example.com").await;
    let theirs = upload(
        &app,
        &key2,
        "theirs",
        &spoken_mp3(2.0, &[(0.5, 1.0, "india")]),
        Some("1"),
    )
    .await;
    crate::uploads::process(&app).await;
    assert_eq!(settled(&app, theirs, Duration::from_secs(30)).await, "done");
}

async fn admins_queue_every_track_without_a_transcript(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let fake = FakeStt::start(Options::default()).await;
    let app = app_with(b, &fake, |s| s.api_key = None).await;
    let (cookie, key) = user(&app, "ana@example.com").await;
    let mut ids = Vec::new();
    for (i, w) in ["alpha", "bravo", "charlie"].iter().enumerate() {
        ids.push(
            upload(
                &app,
                &key,
                &format!("t{i}"),
                &spoken_mp3(2.0, &[(0.5, 1.0, w)]),
                None,
            )
            .await,
        );
    }
    crate::uploads::process(&app).await;
    let all = form("/api/transcripts/all", &[]);
    assert_eq!(
        app.send(with_cookie(all, &cookie)).await.status,
        StatusCode::FORBIDDEN
    );
    let admin = app.admin("root@example.com").await;
    let res = app
        .send(with_cookie(form("/api/transcripts/all", &[]), &admin))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(res.json(), 3);
    crate::uploads::process(&app).await;
    for id in &ids {
        assert_eq!(settled(&app, *id, Duration::from_secs(30)).await, "done");
    }
    // Again: nothing is left without one.
    let res = app
        .send(with_cookie(form("/api/transcripts/all", &[]), &admin))
        .await;
    assert_eq!(res.json(), 0);
    assert_eq!(fake.arrivals().len(), 3);
    // Minutes count for the tracks' owner, not the admin.
    let usage = app
        .send(with_cookie(form("/api/transcripts/account", &[]), &cookie))
        .await
        .json();
    assert!(
        (usage["minutes_this_month"].as_f64().expect("m") - 0.1).abs() < 0.02,
        "{usage}"
    );
}

async fn with_no_provider_the_answer_says_so(b: Backend) {
    let app = TestApp::new(b).await;
    let (cookie, key) = user(&app, "ana@example.com").await;
    let wav = std::fs::read(crate::audio::wav(1.0)).expect("wav");
    let id = upload(&app, &key, "plain", &wav, Some("1")).await;
    crate::uploads::process(&app).await;
    assert_eq!(status(&app, id).await, None, "nothing queued");
    let res = app
        .send(with_cookie(
            Request::post(format!("/api/v1/tracks/{id}/transcribe"))
                .body(axum::body::Body::empty())
                .expect("r"),
            &cookie,
        ))
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert!(res.text.contains("not set up"), "{}", res.text);
    let panel = app
        .send(with_cookie(
            form("/api/transcripts/get", &[("track_id", &id.to_string())]),
            &cookie,
        ))
        .await
        .json();
    assert_eq!(panel["enabled"], false);
    assert_eq!(panel["transcript"]["status"], "none");
    let page = app
        .send(with_cookie(get(&format!("/tracks/{id}")), &cookie))
        .await;
    assert_eq!(page.status, StatusCode::OK);
}

crate::both_backends!(
    uploads_ask_by_field_or_by_the_owners_default,
    the_monthly_allowance_refuses_more_with_a_clear_message,
    admins_queue_every_track_without_a_transcript,
    with_no_provider_the_answer_says_so,
);
