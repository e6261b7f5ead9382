//! The request wavekeep sends (OpenAI's multipart, the key, a small MP3)
//! and what it makes of each kind of answer: a transcript whose words and
//! times are those of the audio; refusals that end the job at once with
//! the provider's words; failures that are retried until the answer comes.

use std::time::Duration;

use super::*;
use crate::fake_stt::{Options, Reply};
use crate::helpers::Backend;

/// A provider that wants `KEY`, an app that sends it, and a user: (fake,
/// app, cookie, API key).
async fn keyed(b: Backend) -> (FakeStt, TestApp, String, String) {
    let fake = FakeStt::start(Options {
        api_key: Some(KEY.into()),
        ..Options::default()
    })
    .await;
    let app = app_with(b, &fake, |_| {}).await;
    let (cookie, key) = user(&app, "ana@example.com").await;
    (fake, app, cookie, key)
}

async fn the_request_is_openais_and_the_transcript_is_what_was_said(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let (fake, app, cookie, key) = keyed(b).await;
    let audio = spoken_mp3(
        10.0,
        &[
            (1.0, 1.0, "alpha"),
            (4.0, 1.5, "charlie"),
            (7.25, 0.75, "echo"),
        ],
    );
    let id = upload(&app, &key, "interview", &audio, Some("1")).await;
    crate::uploads::process(&app).await;
    assert_eq!(settled(&app, id, Duration::from_secs(30)).await, "done");

    let sent = fake.arrivals();
    assert_eq!(sent.len(), 1, "one request for 10 s of audio: {sent:?}");
    let r = &sent[0];
    assert_eq!(r.reply, "ok");
    assert_eq!(r.model, "whisper-1");
    assert_eq!(r.response_format, "verbose_json");
    assert_eq!(r.granularities, ["segment", "word"]);
    assert_eq!(r.language, None, "the provider detects the language");
    assert_eq!(r.authorization.as_deref(), Some(&*format!("Bearer {KEY}")));
    assert!(r.file_name.ends_with(".mp3"), "{}", r.file_name);
    assert_eq!(r.content_type, "audio/mpeg");
    // 16 kHz mono at 32 kbit/s: 10 s is about 40 kB, a fraction of the upload.
    assert!(
        r.body_bytes < 60_000 && r.body_bytes < audio.len() / 2,
        "{} bytes",
        r.body_bytes
    );
    assert!((r.audio_secs - 10.0).abs() < 0.1, "{} s sent", r.audio_secs);

    let t = transcript(&app, &cookie, id).await;
    assert_eq!(t["text"], "alpha charlie echo", "{t}");
    assert_eq!(t["language"], "en", "the provider's 'english' as a code");
    assert_eq!(t["model"], "whisper-1");
    let expected = [(1000, 2000), (4000, 5500), (7250, 8000)];
    let segments = t["segments"].as_array().expect("segments");
    assert_eq!(segments.len(), 3, "{t}");
    for (s, (start, end)) in segments.iter().zip(expected) {
        let (a, z) = (
            s["start_ms"].as_i64().expect("start"),
            s["end_ms"].as_i64().expect("end"),
        );
        assert!(
            (a - start).abs() <= 100 && (z - end).abs() <= 100,
            "{s} vs {start}–{end}"
        );
    }
    let words = t["words"].as_array().expect("words");
    assert_eq!(words.len(), 3, "{t}");
    assert_eq!(words[1]["word"], "charlie");
    assert_eq!(words[1]["segment"], 1);
    let job = transcribe_job(&app, &cookie, id).await;
    assert_eq!(job["state"], "Succeeded", "{job}");
    assert_eq!(job["attempts"], 1);
}

async fn refusals_end_the_job_at_once_with_the_providers_words(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let (fake, app, cookie, key) = keyed(b).await;
    let cases = [
        (Reply::BadFile, "Invalid file format", "delta"),
        (Reply::OutOfQuota, "exceeded your current quota", "golf"),
        (Reply::BadKey, "Incorrect API key", "kilo"),
    ];
    for (reply, words, word) in cases {
        fake.script([reply.clone()]);
        let id = upload(
            &app,
            &key,
            word,
            &spoken_mp3(3.0, &[(1.0, 1.0, word)]),
            Some("yes"),
        )
        .await;
        crate::uploads::process(&app).await;
        assert_eq!(
            settled(&app, id, Duration::from_secs(30)).await,
            "failed",
            "{reply:?}"
        );
        let job = transcribe_job(&app, &cookie, id).await;
        assert_eq!(job["state"], "Dead", "{reply:?}: {job}");
        assert_eq!(job["attempts"], 1, "{reply:?}: not retried");
        let error = job["last_error"].as_str().unwrap_or_default();
        assert!(error.contains(words), "{reply:?}: {error}");
        assert!(!error.contains(KEY), "the key is never repeated: {error}");
        // The track page says why.
        let panel = app
            .send(with_cookie(
                crate::helpers::form("/api/transcripts/get", &[("track_id", &id.to_string())]),
                &cookie,
            ))
            .await;
        assert_eq!(panel.status, StatusCode::OK, "{}", panel.text);
        let p = panel.json();
        assert_eq!(p["transcript"]["status"], "failed");
        assert!(
            p["transcript"]["error"]
                .as_str()
                .unwrap_or_default()
                .contains(words),
            "{p}"
        );
        // The media itself is fine.
        assert_eq!(
            crate::uploads::track(&app, &cookie, id).await["status"],
            "ready"
        );
    }
    assert_eq!(fake.arrivals().len(), 3, "one request each");
}

async fn failures_are_retried_until_the_transcript_comes(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let fake = FakeStt::start(Options::default()).await;
    let app = app_with(b, &fake, |s| {
        s.api_key = None;
        s.timeout = Duration::from_secs(1);
        // Five failures in a row would open the breaker (its own test).
        s.breaker_failures = 10;
    })
    .await;
    let (cookie, key) = user(&app, "ana@example.com").await;
    fake.script([
        Reply::ServerError,
        Reply::Reset,
        Reply::Malformed,
        Reply::Unavailable,
        Reply::Hang(Duration::from_secs(3)),
    ]);
    let id = upload(
        &app,
        &key,
        "flaky",
        &spoken_mp3(4.0, &[(0.5, 1.0, "bravo"), (2.5, 1.0, "foxtrot")]),
        Some("1"),
    )
    .await;
    let worker = run_worker(&app.state);
    assert_eq!(settled(&app, id, Duration::from_secs(60)).await, "done");
    worker.stop().await;
    let replies: Vec<String> = fake.arrivals().iter().map(|a| a.reply.clone()).collect();
    assert_eq!(replies, ["500", "reset", "malformed", "503", "hang", "ok"]);
    let job = transcribe_job(&app, &cookie, id).await;
    assert_eq!(job["state"], "Succeeded", "{job}");
    assert_eq!(job["attempts"], 6, "each failure spent one attempt: {job}");
    assert_eq!(transcript(&app, &cookie, id).await["text"], "bravo foxtrot");
    // The hang was given up after the timeout, not waited out.
    let sent = fake.arrivals();
    let after_hang = sent[5].at.duration_since(sent[4].at);
    assert!(after_hang < Duration::from_millis(2_900), "{after_hang:?}");
}

crate::both_backends!(
    the_request_is_openais_and_the_transcript_is_what_was_said,
    refusals_end_the_job_at_once_with_the_providers_words,
    failures_are_retried_until_the_transcript_comes,
);
