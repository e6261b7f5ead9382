//! Transcription, against a fake provider that speaks OpenAI's protocol on
//! loopback (`tests/support/fake_stt/`) and hears the tones in the audio
//! it is sent as words: the request wavekeep makes and how it reads every
//! kind of answer (`provider`), the provider's limits for the whole
//! deployment (`limits`), long files in chunks and a crash mid-way
//! (`chunks`), asking for transcripts (`asking`), what people do with
//! them (`reading`), and what /admin and `/metrics` show (`dashboard`).

mod asking;
mod chunks;
mod dashboard;
mod limits;
mod provider;
mod reading;

use std::time::Duration;

use http::StatusCode;

use app::settings::SttSettings;
use server::worker::{Worker, WorkerSettings};
use server::ServerState;

use crate::fake_stt::FakeStt;
use crate::ffmpeg;
use crate::helpers::{get, with_cookie, Backend, TestApp};
use crate::uploads::{api_key, post_track};

/// The key the fake provider expects.
pub const KEY: &str = "sk-test-4f2a";

/// Settings pointing at `fake`: OpenAI's defaults, a short timeout, a fast
/// breaker cool-off.
pub fn stt(fake: &FakeStt) -> SttSettings {
    SttSettings {
        url: fake.url.clone(),
        path: "/audio/transcriptions".into(),
        api_key: Some(KEY.to_string().into()),
        model: "whisper-1".into(),
        language: None,
        concurrency: 5,
        rate_per_minute: 600,
        rate_window: Duration::from_secs(60),
        timeout: Duration::from_secs(5),
        max_request_bytes: 25_000_000,
        chunk: Duration::from_secs(600),
        minutes_per_month: None,
        breaker_failures: 5,
        breaker_cooloff: Duration::from_secs(2),
    }
}

/// An app whose transcription goes to `fake`.
pub async fn app_with(b: Backend, fake: &FakeStt, tweak: impl FnOnce(&mut SttSettings)) -> TestApp {
    let mut s = stt(fake);
    tweak(&mut s);
    TestApp::with(b, move |settings| settings.stt = Some(s)).await
}

/// A worker running every job kind in the background, as `wavekeep` runs
/// it, with a quick poll and backoff.
pub struct Running {
    stop: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

pub fn run_worker(state: &ServerState) -> Running {
    let worker = Worker::new(
        state.clone(),
        WorkerSettings {
            backoff_base: Duration::from_millis(50),
            poll: Duration::from_millis(50),
            shutdown_grace: Duration::from_secs(2),
            ..WorkerSettings::default()
        },
        state.queue.wake(),
        server::worker::all_jobs(&state.settings),
    );
    let (stop, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(worker.run(rx));
    Running { stop, handle }
}

impl Running {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}

/// An MP3 (LAME through ffmpeg) of `secs` seconds in which each
/// `(start, length, word)` is said: a tone of that word's pitch.
pub fn spoken_mp3(secs: f64, words: &[(f64, f64, &str)]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("speech.mp3");
    let tones: Vec<(f64, f64, u32)> = words
        .iter()
        .map(|(at, len, w)| (*at, *len, crate::fake_stt::hz_of(w)))
        .collect();
    ffmpeg::spoken(&path, secs, &tones, &["-c:a", "libmp3lame", "-b:a", "96k"]);
    std::fs::read(&path).expect("read")
}

/// Uploads `bytes` through the machine API, with `transcribe` as given
/// (`None`: not said); the track's id.
pub async fn upload(
    app: &TestApp,
    key: &str,
    title: &str,
    bytes: &[u8],
    transcribe: Option<&str>,
) -> i64 {
    let mut fields = vec![("title", title)];
    if let Some(t) = transcribe {
        fields.push(("transcribe", t));
    }
    let name = format!("{title}.mp3");
    let res = app
        .send(post_track(key, &fields, Some((name.as_str(), bytes))))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    res.json()["id"].as_i64().expect("id")
}

/// A user with an API key: (cookie, key).
pub async fn user(app: &TestApp, email: &str) -> (String, String) {
    let cookie = app.register(email).await;
    let key = api_key(app, &cookie).await;
    (cookie, key)
}

/// The transcript's status for track `id` (`None`: never asked).
pub async fn status(app: &TestApp, id: i64) -> Option<String> {
    sqlx::query_scalar(
        "SELECT t.status FROM transcripts t JOIN track_versions v ON v.asset_id = t.asset_id \
         WHERE v.track_id = $1",
    )
    .bind(id)
    .fetch_optional(app.state.db.pool())
    .await
    .expect("status")
}

/// Waits until track `id`'s transcript is `done` or `failed` (or `limit`).
pub async fn settled(app: &TestApp, id: i64, limit: Duration) -> String {
    let until = std::time::Instant::now() + limit;
    loop {
        let s = status(app, id).await;
        if let Some(s) = s.as_deref().filter(|s| *s == "done" || *s == "failed") {
            return s.to_string();
        }
        assert!(
            std::time::Instant::now() < until,
            "track {id}'s transcript is still {s:?} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /api/v1/tracks/{id}/transcript` as JSON.
pub async fn transcript(app: &TestApp, cookie: &str, id: i64) -> serde_json::Value {
    let res = app
        .send(with_cookie(
            get(&format!("/api/v1/tracks/{id}/transcript")),
            cookie,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.json()
}

/// The track's transcribe job, as the track's JSON shows it.
pub async fn transcribe_job(app: &TestApp, cookie: &str, id: i64) -> serde_json::Value {
    let t = crate::uploads::track(app, cookie, id).await;
    t["jobs"]
        .as_array()
        .and_then(|jobs| jobs.iter().find(|j| j["kind"] == "transcribe"))
        .cloned()
        .unwrap_or_else(|| panic!("no transcribe job in {t}"))
}
