//! What people do with transcripts: find a track by a word spoken in it
//! (and land on the moment), read and export one as the track's viewers
//! may (SRT and VTT that players accept), correct it (kept across a new
//! transcription unless replaced). Asking for one is in `asking`.

use std::time::Duration;

use http::{header, Request};

use super::*;
use crate::fake_stt::Options;
use crate::helpers::{form, Backend};

/// An app, a provider and a finished transcript of a public track; (app,
/// fake, cookie, key, track id).
async fn transcribed(b: Backend, visibility: &str) -> (TestApp, FakeStt, String, String, i64) {
    let fake = FakeStt::start(Options::default()).await;
    let app = app_with(b, &fake, |s| s.api_key = None).await;
    let (cookie, key) = user(&app, "ana@example.com").await;
    let audio = spoken_mp3(
        12.0,
        &[(1.0, 1.0, "alpha"), (6.0, 1.0, "kilo"), (9.0, 1.0, "lima")],
    );
    let res = app
        .send(crate::uploads::post_track(
            &key,
            &[
                ("title", "Field notes"),
                ("visibility", visibility),
                ("transcribe", "1"),
            ],
            Some(("notes.mp3", &audio)),
        ))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    let id = res.json()["id"].as_i64().expect("id");
    crate::uploads::process(&app).await;
    assert_eq!(settled(&app, id, Duration::from_secs(30)).await, "done");
    (app, fake, cookie, key, id)
}

async fn search_finds_a_spoken_word_and_links_to_its_moment(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let (app, _fake, cookie, _, id) = transcribed(b, "public").await;
    // The title says nothing of it; the speech does.
    let res = app.send(get("/api/v1/tracks?q=kilo")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let items = res.json()["items"].as_array().cloned().expect("items");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["id"], id);
    let hit = &items[0]["hit"];
    let at = hit["start_ms"].as_i64().expect("start");
    assert!((at - 6_000).abs() <= 100, "the moment kilo is said: {hit}");
    assert!(
        hit["snippet"].as_str().unwrap_or_default().contains("kilo"),
        "{hit}"
    );
    assert_eq!(hit["matched"], serde_json::json!(["kilo"]));
    // A prefix finds it too; a word never said does not.
    let res = app.send(get("/api/v1/tracks?q=lim")).await;
    let items = res.json()["items"].as_array().cloned().expect("items");
    assert_eq!(items.len(), 1);
    assert!((items[0]["hit"]["start_ms"].as_i64().expect("start") - 9_000).abs() <= 100);
    let res = app.send(get("/api/v1/tracks?q=oscar")).await;
    assert_eq!(res.json()["items"].as_array().map(Vec::len), Some(0));
    // A title match has no hit.
    let res = app.send(get("/api/v1/tracks?q=field")).await;
    let items = res.json()["items"].as_array().cloned().expect("items");
    assert_eq!(items.len(), 1);
    assert!(items[0].get("hit").is_none() || items[0]["hit"].is_null());
    // The page links to the moment, with the words to highlight.
    let page = app.send(with_cookie(get("/?q=kilo"), &cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    // `?t=` in tenths of a second, at or just before the word.
    let link = format!("/tracks/{id}?t=");
    let at = page
        .text
        .find(&link)
        .map(|i| &page.text[i + link.len()..])
        .expect("a link to the moment");
    let (t, rest) = at.split_once("&amp;").expect("then the words");
    let t: f64 = t.parse().expect("seconds");
    assert!((5.8..=6.05).contains(&t), "t={t}");
    assert!(rest.starts_with("q=kilo\""), "{rest:.20}");
    assert!(page.text.contains("kilo"), "the snippet is shown");
    // The track page opened there says so to the player.
    let track_page = app
        .send(with_cookie(
            get(&format!("/tracks/{id}?t=6&q=kilo")),
            &cookie,
        ))
        .await;
    assert_eq!(track_page.status, StatusCode::OK);
    assert!(
        track_page.text.contains("data-start=\"6\""),
        "the player starts at 6 s"
    );
}

async fn a_private_transcript_is_only_its_owners(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let (app, _fake, cookie, _, id) = transcribed(b, "private").await;
    let (other, _) = user(&app, "ben@example.com").await;
    let path = format!("/api/v1/tracks/{id}/transcript");
    assert_eq!(
        app.send(with_cookie(get(&path), &cookie)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.send(with_cookie(get(&path), &other)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.send(get(&path)).await.status, StatusCode::NOT_FOUND);
    for format in ["txt", "srt", "vtt"] {
        let res = app
            .send(with_cookie(get(&format!("{path}?format={format}")), &other))
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{format}");
    }
    let panel = app
        .send(with_cookie(
            form("/api/transcripts/get", &[("track_id", &id.to_string())]),
            &other,
        ))
        .await;
    assert_eq!(panel.status, StatusCode::NOT_FOUND, "{}", panel.text);
    // Nor do its words find it for anyone else.
    let res = app
        .send(with_cookie(get("/api/v1/tracks?q=kilo"), &other))
        .await;
    assert_eq!(res.json()["items"].as_array().map(Vec::len), Some(0));
    let res = app
        .send(with_cookie(get("/api/v1/tracks?q=kilo&mine=1"), &cookie))
        .await;
    assert_eq!(
        res.json()["items"].as_array().map(Vec::len),
        Some(1),
        "the owner finds it"
    );
    // Nobody else may ask for it, correct it, or learn it exists.
    let post = |cookie: &str| {
        with_cookie(
            Request::post(format!("/api/v1/tracks/{id}/transcribe"))
                .body(axum::body::Body::empty())
                .expect("r"),
            cookie,
        )
    };
    assert_eq!(app.send(post(&other)).await.status, StatusCode::NOT_FOUND);
    let edit = form(
        "/api/transcripts/edit",
        &[
            ("track_id", &id.to_string()),
            ("idx", "0"),
            ("text", "pwned"),
        ],
    );
    assert_eq!(
        app.send(with_cookie(edit, &other)).await.status,
        StatusCode::NOT_FOUND
    );
}

/// `HH:MM:SS,mmm --> HH:MM:SS,mmm` (SRT) or with `.` (VTT); the two times.
fn cue_times(line: &str, sep: char) -> (u64, u64) {
    let parse = |s: &str| -> u64 {
        let (hms, ms) = s.split_once(sep).unwrap_or_else(|| panic!("{s}: no {sep}"));
        let parts: Vec<u64> = hms.split(':').map(|p| p.parse().expect("digits")).collect();
        assert_eq!(parts.len(), 3, "{s}");
        assert_eq!(ms.len(), 3, "{s}");
        ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000 + ms.parse::<u64>().expect("ms")
    };
    let (a, z) = line
        .split_once(" --> ")
        .unwrap_or_else(|| panic!("not a cue line: {line}"));
    (parse(a), parse(z))
}

async fn exports_are_valid_subtitles(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let (app, _fake, cookie, key, id) = transcribed(b, "public").await;
    let export = |format: &str| {
        let path = format!("/api/v1/tracks/{id}/transcript?format={format}");
        let cookie = cookie.clone();
        let app = &app;
        async move { app.send(with_cookie(get(&path), &cookie)).await }
    };
    let srt = export("srt").await;
    assert_eq!(srt.status, StatusCode::OK);
    assert!(srt
        .header("content-type")
        .starts_with("application/x-subrip"));
    assert!(srt
        .header("content-disposition")
        .starts_with("attachment; filename=\"field-notes"));
    assert!(srt.header("content-disposition").ends_with(".srt\""));
    let blocks: Vec<&str> = srt.text.trim_end().split("\n\n").collect();
    assert_eq!(blocks.len(), 3, "{}", srt.text);
    let mut last_end = 0;
    for (i, block) in blocks.iter().enumerate() {
        let lines: Vec<&str> = block.lines().collect();
        assert_eq!(lines[0], (i + 1).to_string(), "numbered from 1");
        let (a, z) = cue_times(lines[1], ',');
        assert!(a < z && a >= last_end, "ordered cues: {block}");
        last_end = z;
        assert!(!lines[2].trim().is_empty());
    }
    assert_eq!(blocks[1].lines().nth(2), Some("kilo"));

    let vtt = export("vtt").await;
    assert_eq!(vtt.status, StatusCode::OK);
    assert!(vtt.header("content-type").starts_with("text/vtt"));
    assert!(vtt.text.starts_with("WEBVTT\n\n"), "{}", vtt.text);
    let cues: Vec<&str> = vtt.text.trim_end().split("\n\n").skip(1).collect();
    assert_eq!(cues.len(), 3);
    let (a, _) = cue_times(cues[1].lines().next().expect("timing"), '.');
    assert!((a as i64 - 6_000).abs() <= 100);

    let txt = export("txt").await;
    assert_eq!(txt.status, StatusCode::OK);
    assert!(txt.text.contains("alpha") && txt.text.contains("lima"));
    assert_eq!(export("docx").await.status, StatusCode::BAD_REQUEST);
    // An API key reads it as its owner does.
    let res = app
        .send(crate::helpers::with_bearer(
            get(&format!("/api/v1/tracks/{id}/transcript")),
            &key,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["segments"].as_array().map(Vec::len), Some(3));
    assert_eq!(res.header("cache-control"), "private, no-cache");
}

async fn corrections_survive_a_new_transcription_unless_replaced(b: Backend) {
    if !ffmpeg::have_ffmpeg() {
        return;
    }
    let (app, fake, cookie, _, id) = transcribed(b, "public").await;
    let edit = form(
        "/api/transcripts/edit",
        &[
            ("track_id", &id.to_string()),
            ("idx", "1"),
            ("text", "Kilimanjaro"),
        ],
    );
    let res = app.send(with_cookie(edit, &cookie)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let t = transcript(&app, &cookie, id).await;
    assert_eq!(t["segments"][1]["text"], "Kilimanjaro");
    assert_eq!(t["segments"][1]["edited"], true);
    // Re-indexed: the correction is found, the old word is not.
    let found = |q: &'static str| {
        let app = &app;
        async move {
            app.send(get(&format!("/api/v1/tracks?q={q}"))).await.json()["items"]
                .as_array()
                .map_or(0, Vec::len)
        }
    };
    assert_eq!(found("kilimanjaro").await, 1);
    assert_eq!(found("kilo").await, 0);
    // Too long a correction is refused.
    let long = "x".repeat(2_001);
    let res = app
        .send(with_cookie(
            form(
                "/api/transcripts/edit",
                &[("track_id", &id.to_string()), ("idx", "1"), ("text", &long)],
            ),
            &cookie,
        ))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    // Transcribe again: the correction stays.
    let again = |body: &'static str| {
        with_cookie(
            Request::post(format!("/api/v1/tracks/{id}/transcribe"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(body))
                .expect("r"),
            &cookie,
        )
    };
    let res = app.send(again("{}")).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    assert_eq!(res.json()["status"], "queued");
    crate::uploads::process(&app).await;
    assert_eq!(settled(&app, id, Duration::from_secs(30)).await, "done");
    assert_eq!(fake.arrivals().len(), 2, "sent again");
    let t = transcript(&app, &cookie, id).await;
    assert_eq!(t["segments"][1]["text"], "Kilimanjaro", "{t}");
    assert_eq!(t["segments"][0]["text"], "alpha");
    // Unless the owner replaces it.
    let res = app.send(again(r#"{"replace_edits": true}"#)).await;
    assert_eq!(res.status, StatusCode::ACCEPTED);
    crate::uploads::process(&app).await;
    assert_eq!(settled(&app, id, Duration::from_secs(30)).await, "done");
    let t = transcript(&app, &cookie, id).await;
    assert_eq!(t["segments"][1]["text"], "kilo");
    assert_eq!(t["segments"][1]["edited"], false);
    assert_eq!(found("kilo").await, 1);
}

crate::both_backends!(
    search_finds_a_spoken_word_and_links_to_its_moment,
    a_private_transcript_is_only_its_owners,
    exports_are_valid_subtitles,
    corrections_survive_a_new_transcription_unless_replaced,
);
