//! Long audio: cut into chunks at pauses, one request each, the answers
//! merged back at their offsets; and kill -9 of the real server mid-way:
//! after a restart the job resumes at the first chunk without an answer,
//! and no answered chunk is sent again.

use std::time::{Duration, Instant};

use super::*;
use crate::fake_stt::{Options, WORDS};
use crate::helpers::Backend;

/// A word every 2.5 s (1 s of tone, 1.5 s of pause) for `secs` seconds.
fn talk(secs: f64) -> Vec<(f64, f64, &'static str)> {
    let mut words = Vec::new();
    let mut at = 0.5;
    let mut k = 0;
    while at + 1.0 < secs {
        words.push((at, 1.0, WORDS[k % WORDS.len()]));
        at += 2.5;
        k += 1;
    }
    words
}

fn assert_segments_match(t: &serde_json::Value, words: &[(f64, f64, &str)]) {
    let segments = t["segments"].as_array().expect("segments");
    let said: Vec<&str> = segments
        .iter()
        .map(|s| s["text"].as_str().unwrap_or_default())
        .collect();
    let expected: Vec<&str> = words.iter().map(|w| w.2).collect();
    assert_eq!(
        said, expected,
        "every word once, in order (none split at a cut)"
    );
    for (s, (at, len, word)) in segments.iter().zip(words) {
        let start = s["start_ms"].as_i64().expect("start");
        let end = s["end_ms"].as_i64().expect("end");
        let (want_start, want_end) = ((at * 1000.0) as i64, ((at + len) * 1000.0) as i64);
        assert!(
            (start - want_start).abs() <= 100 && (end - want_end).abs() <= 100,
            "{word}: {start}–{end} ms, said at {want_start}–{want_end} ms"
        );
    }
}

async fn a_long_file_is_cut_at_pauses_and_merged_at_its_offsets(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let fake = FakeStt::start(Options::default()).await;
    let app = app_with(b, &fake, |s| {
        s.api_key = None;
        s.chunk = Duration::from_secs(10);
    })
    .await;
    let (cookie, key) = user(&app, "ana@example.com").await;
    let words = talk(35.0);
    let id = upload(&app, &key, "lecture", &spoken_mp3(35.0, &words), Some("1")).await;
    crate::uploads::process(&app).await;
    assert_eq!(settled(&app, id, Duration::from_secs(60)).await, "done");

    let sent = fake.arrivals();
    assert_eq!(sent.len(), 4, "35 s in chunks of at most 10 s");
    for a in &sent {
        assert_eq!(a.reply, "ok");
        assert!(a.audio_secs <= 10.05, "a chunk of {} s", a.audio_secs);
        assert!(
            a.audio_secs >= 5.0,
            "cut near the limit, not early: {} s",
            a.audio_secs
        );
    }
    let total: f64 = sent.iter().map(|a| a.audio_secs).sum();
    assert!(
        (total - 35.0).abs() < 0.1,
        "the chunks add up to the file: {total} s"
    );
    let t = transcript(&app, &cookie, id).await;
    assert_segments_match(&t, &words);
    assert_eq!(
        t["duration_ms"].as_i64().map(|d| (d - 35_000).abs() < 100),
        Some(true),
        "{t}"
    );
    // The plan is stored: contiguous chunks from 0 to the end.
    let plan: String = sqlx::query_scalar(
        "SELECT t.plan FROM transcripts t JOIN track_versions v ON v.asset_id = t.asset_id WHERE v.track_id = $1",
    )
    .bind(id)
    .fetch_one(app.state.db.pool())
    .await
    .expect("plan");
    let plan: Vec<(i64, i64)> = serde_json::from_str(&plan).expect("plan json");
    assert_eq!(plan.len(), 4);
    assert_eq!(plan[0].0, 0);
    for w in plan.windows(2) {
        assert_eq!(w[0].1, w[1].0, "contiguous: {plan:?}");
    }
    // Minutes are counted from the audio sent.
    let used = app::transcripts::usage::seconds_this_month(
        &app.state.db,
        crate::helpers::user_id(&app, "ana@example.com").await,
    )
    .await
    .expect("usage");
    assert_eq!(used, 35);
}

async fn kill_9_mid_transcription_resumes_without_resending(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let fake = FakeStt::start(Options {
        latency: Duration::from_millis(1_500),
        api_key: Some(KEY.into()),
        ..Options::default()
    })
    .await;
    let app = TestApp::new(b).await;
    app.register("ana@example.com").await;
    let key = app::auth::service::create_api_key_for_email(&app.state, "ana@example.com", "crash")
        .await
        .expect("key")
        .secret;
    let data = tempfile::tempdir().expect("data dir");
    let port = crate::crash::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [
        ("WAVEKEEP_STT_URL", fake.url.as_str()),
        ("WAVEKEEP_STT_API_KEY", KEY),
        ("WAVEKEEP_STT_CHUNK_SECS", "10"),
        ("WAVEKEEP_STT_TIMEOUT_SECS", "10"),
    ];
    let mut server = crate::crash::start_with(data.path(), &app.database_url, port, &env);
    crate::crash::wait_ready(&base).await;

    let words = talk(40.0);
    let audio = spoken_mp3(40.0, &words);
    let form = reqwest::multipart::Form::new()
        .text("title", "long call")
        .text("transcribe", "1")
        .part(
            "audio",
            reqwest::multipart::Part::bytes(audio).file_name("call.mp3"),
        );
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/tracks"))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), reqwest::StatusCode::ACCEPTED);
    let id = res.json::<serde_json::Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id");

    // Two chunks answered and stored, the third in flight: kill -9.
    let stored = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM transcript_chunks")
            .fetch_one(app.state.db.pool())
            .await
            .expect("chunks")
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored().await < 2 {
        assert!(Instant::now() < deadline, "transcription never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.0.kill().expect("kill -9");
    let _ = server.0.wait();
    let killed_at = Instant::now();
    let answered_before: Vec<String> = fake
        .arrivals()
        .iter()
        .filter(|a| a.reply == "ok" && a.ended < killed_at)
        .map(|a| a.digest.clone())
        .collect();
    assert_eq!(stored().await, 2, "killed mid-way");
    assert_eq!(status(&app, id).await.as_deref(), Some("running"));

    let _server = crate::crash::start_with(data.path(), &app.database_url, port, &env);
    crate::crash::wait_ready(&base).await;
    assert_eq!(settled(&app, id, Duration::from_secs(60)).await, "done");

    let sent = fake.arrivals();
    let after: Vec<_> = sent.iter().filter(|a| a.at > killed_at).collect();
    for a in &after {
        assert!(
            !answered_before.contains(&a.digest),
            "a chunk answered before the crash was sent again"
        );
    }
    assert_eq!(
        after.len(),
        2,
        "only the third (lost in flight) and the fourth chunk: {after:?}"
    );
    // (A request cut off by the kill before its body arrived has no audio.)
    let mut distinct: Vec<&String> = sent
        .iter()
        .filter(|a| !a.digest.is_empty())
        .map(|a| &a.digest)
        .collect();
    distinct.sort();
    distinct.dedup();
    let seen: Vec<(String, f64, String)> = sent
        .iter()
        .map(|a| {
            (
                a.reply.clone(),
                a.audio_secs,
                a.digest.chars().take(12).collect(),
            )
        })
        .collect();
    assert_eq!(distinct.len(), 4, "four chunks in all: {seen:?}");
    assert_eq!(
        app.count("transcript_chunks").await,
        0,
        "merged into the segments"
    );

    let t: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/tracks/{id}/transcript"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("transcript")
        .json()
        .await
        .expect("json");
    assert_segments_match(&t, &words);
}

crate::both_backends!(
    a_long_file_is_cut_at_pauses_and_merged_at_its_offsets,
    kill_9_mid_transcription_resumes_without_resending,
);
