//! Libraries: a file's own tags (ID3v2, Vorbis comments in FLAC, Ogg and
//! Opus, MP4 atoms, RIFF INFO, ID3 in AIFF) written by ffmpeg are read by
//! the metadata job, fill the track (a title from the file name gives way
//! to the tag's), show in the track API, are editable by the owner only and
//! searchable; cover art embedded in MP3, FLAC and M4A (one image, stored
//! once) and art the owner uploads become valid WebP thumbnails at each
//! width, served immutable; a decompression-bomb PNG fails its job cleanly
//! with the reason and leaves the track as it was.

use std::path::{Path, PathBuf};

use axum::body::Body;
use http::{header, Request, StatusCode};

use crate::ffmpeg::ffmpeg;
use crate::helpers::{form, get, with_cookie, Backend, TestApp};
use crate::uploads::{api_key, post_track, process, track};

/// A JPEG cover of `w`×`h` (ffmpeg's test pattern).
pub fn cover(dir: &Path, name: &str, w: u32, h: u32) -> PathBuf {
    let out = dir.join(name);
    let size = format!("testsrc=size={w}x{h}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &size,
        "-frames:v",
        "1",
        out.to_str().expect("path"),
    ]);
    out
}

const TAGS: [(&str, &str); 8] = [
    ("title", "Harbour Lights"),
    ("artist", "The Quiet Tides"),
    ("album", "Low Water"),
    ("album_artist", "Tides Collective"),
    ("genre", "Ambient"),
    ("date", "2019"),
    ("track", "3/12"),
    ("comment", "recorded live"),
];

/// A 1.5 s tone in `name` with every tag in `TAGS` (those the format
/// keeps), and `cover` attached when given.
pub fn tagged(dir: &Path, name: &str, codec: &[&str], cover: Option<&Path>) -> PathBuf {
    let out = dir.join(name);
    let mut args: Vec<String> = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1.5"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(c) = cover {
        args.extend(["-i".into(), c.to_string_lossy().into_owned()]);
        args.extend(["-map", "0:a", "-map", "1:v", "-c:v", "copy"].map(String::from));
        args.extend(["-disposition:v", "attached_pic"].map(String::from));
    }
    args.extend(codec.iter().map(|s| s.to_string()));
    for (k, v) in TAGS {
        args.extend(["-metadata".into(), format!("{k}={v}")]);
    }
    args.extend(["-metadata".into(), "disc=1/2".into()]);
    args.push(out.to_string_lossy().into_owned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ffmpeg(&refs);
    out
}

async fn upload(app: &TestApp, key: &str, path: &Path) -> i64 {
    let name = path.file_name().and_then(|n| n.to_str()).expect("name");
    let bytes = std::fs::read(path).expect("read");
    let res = app.send(post_track(key, &[], Some((name, &bytes)))).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{name}: {}", res.text);
    res.json()["id"].as_i64().expect("id")
}

/// Fetches `url`; (status, content type, cache-control, body).
async fn fetch(app: &TestApp, url: &str) -> (StatusCode, String, String, Vec<u8>) {
    let res = app.send(get(url)).await;
    (
        res.status,
        res.header("content-type").to_string(),
        res.header("cache-control").to_string(),
        res.bytes,
    )
}

/// Every thumbnail of artwork `token` is a valid WebP no larger than its
/// width (and no larger than the original), served immutable.
async fn thumbnails_are_valid(app: &TestApp, token: &str, original: (u32, u32)) {
    for w in [64u32, 256, 768] {
        let (status, ct, cache, body) = fetch(app, &format!("/art/{token}/{w}.webp")).await;
        assert_eq!(status, StatusCode::OK, "{w}");
        assert_eq!(ct, "image/webp");
        assert!(cache.contains("immutable"), "{cache}");
        assert!(body.len() > 12 && &body[..4] == b"RIFF" && &body[8..12] == b"WEBP");
        let img = image::load_from_memory_with_format(&body, image::ImageFormat::WebP)
            .expect("a valid WebP");
        let (iw, ih) = (img.width(), img.height());
        assert!(iw <= w && ih <= w, "{w}: {iw}x{ih}");
        assert!(iw <= original.0 && ih <= original.1, "{w}: {iw}x{ih}");
        assert!(
            iw == w.min(original.0) || ih == w.min(original.1),
            "{w}: {iw}x{ih}"
        );
    }
    let res = app
        .send(
            Request::get(format!("/art/{token}/64.webp"))
                .header(header::IF_NONE_MATCH, format!("\"{token}-64.webp\""))
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_MODIFIED);
}

async fn tags_and_cover_art_are_read_from_every_format(b: Backend) {
    if !crate::ffmpeg::have_ffmpeg() {
        return;
    }
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let key = api_key(&app, &cookie).await;
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let jpg = cover(d, "cover.jpg", 320, 240);
    let files = [
        (
            tagged(
                d,
                "a.mp3",
                &["-c:a", "libmp3lame", "-id3v2_version", "3"],
                Some(&jpg),
            ),
            true,
        ),
        (tagged(d, "b.flac", &["-c:a", "flac"], Some(&jpg)), true),
        (tagged(d, "c.m4a", &["-c:a", "aac"], Some(&jpg)), true),
        (tagged(d, "d.ogg", &["-c:a", "libvorbis"], None), false),
        (tagged(d, "e.opus", &["-c:a", "libopus"], None), false),
        (tagged(d, "f.wav", &["-c:a", "pcm_s16le"], None), false),
        (
            tagged(
                d,
                "g.aiff",
                &["-c:a", "pcm_s16be", "-write_id3v2", "1"],
                None,
            ),
            false,
        ),
    ];
    let mut ids = Vec::new();
    for (path, art) in &files {
        ids.push((path.clone(), *art, upload(&app, &key, path).await));
    }
    // A file without tags keeps the title made from its name.
    let plain = d.join("night_walk-final.wav");
    std::fs::copy(crate::audio::wav(1.0), &plain).expect("copy");
    let plain_id = upload(&app, &key, &plain).await;
    process(&app).await;

    let mut token = None;
    for (path, art, id) in ids {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let t = track(&app, &cookie, id).await;
        assert_eq!(t["status"], "ready", "{name}: {t}");
        let a = &t["about"];
        assert_eq!(t["title"], "Harbour Lights", "{name}: {t}");
        assert_eq!(a["artist"], "The Quiet Tides", "{name}: {a}");
        assert_eq!(a["album"], "Low Water", "{name}: {a}");
        assert_eq!(a["genre"], "Ambient", "{name}: {a}");
        assert_eq!(a["year"], 2019, "{name}: {a}");
        // ffmpeg writes an ID3 comment as TXXX:comment, not the COMM frame
        // taggers write, so only the other formats carry one here.
        if !name.ends_with(".mp3") && !name.ends_with(".aiff") {
            assert_eq!(a["comment"], "recorded live", "{name}: {a}");
        }
        assert_eq!(a["track_no"], 3, "{name}: {a}");
        // RIFF INFO has no album artist or disc.
        if !name.ends_with(".wav") {
            assert_eq!(a["album_artist"], "Tides Collective", "{name}: {a}");
            assert_eq!(a["disc_no"], 1, "{name}: {a}");
        }
        match art {
            true => {
                let tk = t["art"].as_str().expect("art").to_string();
                // One image in three files: one artwork, one token.
                assert!(
                    token.is_none() || token.as_deref() == Some(tk.as_str()),
                    "{name}"
                );
                token = Some(tk);
            }
            false => assert!(t["art"].is_null(), "{name}: {t}"),
        }
    }
    let t = track(&app, &cookie, plain_id).await;
    assert_eq!(t["title"], "night walk final");
    assert_eq!(t["about"]["artist"], "");
    assert_eq!(app.count("artwork").await, 1);
    let token = token.expect("cover art was found");
    thumbnails_are_valid(&app, &token, (320, 240)).await;

    // Tags are searchable (artist, album, genre), and listed with the art.
    for q in ["quiet tides", "low water", "ambient"] {
        let res = app
            .send(with_cookie(
                get(&format!(
                    "/api/v1/tracks?mine=1&q={}",
                    urlencoding::encode(q)
                )),
                &cookie,
            ))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let items = res.json()["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 7, "{q}: {}", res.text);
    }
    let list = app
        .send(with_cookie(get("/api/v1/tracks?mine=1"), &cookie))
        .await
        .json();
    let with_art = list["items"]
        .as_array()
        .map(|v| v.iter().filter(|i| i["art"] == token.as_str()).count());
    assert_eq!(with_art, Some(3), "{list}");

    // Unknown tokens and widths are 404.
    let (s, ..) = fetch(&app, &format!("/art/{}/64.webp", "0".repeat(32))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, ..) = fetch(&app, &format!("/art/{token}/65.webp")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, ..) = fetch(&app, &format!("/art/{token}/64.png")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

fn put_art(id: i64, cookie: &str, bytes: Vec<u8>) -> Request<Body> {
    with_cookie(
        Request::put(format!("/api/v1/tracks/{id}/artwork"))
            .header(header::CONTENT_TYPE, "image/png")
            .body(Body::from(bytes))
            .expect("req"),
        cookie,
    )
}

fn delete_art(id: i64, cookie: &str) -> Request<Body> {
    with_cookie(
        Request::delete(format!("/api/v1/tracks/{id}/artwork"))
            .body(Body::empty())
            .expect("req"),
        cookie,
    )
}

async fn owners_edit_tags_and_upload_art_and_a_bomb_fails_cleanly(b: Backend) {
    if !crate::ffmpeg::have_ffmpeg() {
        return;
    }
    let app = TestApp::new(b).await;
    let ana = app.register("ana@example.com").await;
    let bob = app.register("bob@example.com").await;
    let key = api_key(&app, &ana).await;
    let dir = tempfile::tempdir().expect("dir");
    let wav = dir.path().join("demo.wav");
    std::fs::copy(crate::audio::wav(1.0), &wav).expect("copy");
    let id = upload(&app, &key, &wav).await;
    process(&app).await;

    // The owner's edits; numbers and lengths are checked.
    let about = |fields: &[(&str, &str)]| {
        let mut all = vec![
            ("id", id.to_string()),
            ("artist", "Mira Sol".to_string()),
            ("album", "Field Notes".to_string()),
            ("album_artist", String::new()),
            ("genre", "Folk".to_string()),
            ("year", "2021".to_string()),
            ("track_no", "7".to_string()),
            ("disc_no", String::new()),
            ("comment", String::new()),
        ];
        for (k, v) in fields {
            if let Some(f) = all.iter_mut().find(|(n, _)| n == k) {
                f.1 = v.to_string();
            }
        }
        all
    };
    let send_about = |fields: Vec<(&'static str, String)>, cookie: String| {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        with_cookie(form("/api/tracks/about", &pairs), &cookie)
    };
    let res = app.send(send_about(about(&[]), bob.clone())).await;
    assert_eq!(
        res.status,
        StatusCode::NOT_FOUND,
        "bob cannot see it: {}",
        res.text
    );
    let res = app
        .send(send_about(about(&[("year", "20x1")]), ana.clone()))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text);
    assert!(res.text.contains("year"), "{}", res.text);
    let long = "x".repeat(201);
    let res = app
        .send(send_about(about(&[("artist", &long)]), ana.clone()))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text);
    let res = app.send(send_about(about(&[]), ana.clone())).await;
    assert!(res.status.is_success(), "{}", res.text);
    let t = track(&app, &ana, id).await;
    assert_eq!(t["about"]["artist"], "Mira Sol");
    assert_eq!(t["about"]["track_no"], 7);
    let found = app
        .send(with_cookie(get("/api/v1/tracks?mine=1&q=mira"), &ana))
        .await
        .json();
    assert_eq!(found["items"][0]["id"], id, "{found}");
    assert_eq!(found["items"][0]["artist"], "Mira Sol");
    // The page shows them, with a placeholder for the missing art.
    let page = app
        .send(with_cookie(get(&format!("/tracks/{id}")), &ana))
        .await;
    assert!(
        page.text.contains("Mira Sol — Field Notes (2021)"),
        "byline"
    );
    assert!(page.text.contains("data-testid=\"art-placeholder\""));

    // Art: only the owner, only images, only so large.
    let png = std::fs::read(cover(dir.path(), "art.png", 500, 300)).expect("png");
    let res = app.send(put_art(id, &bob, png.clone())).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text);
    let res = app
        .send(put_art(
            id,
            &ana,
            b"<html><script>alert(1)</script>".to_vec(),
        ))
        .await;
    assert_eq!(
        res.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        res.text
    );
    let mut huge = png.clone();
    huge.resize(11 << 20, 0);
    let res = app.send(put_art(id, &ana, huge)).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", res.text);
    let res = app.send(put_art(id, &ana, png)).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    let t = track(&app, &ana, id).await;
    assert_eq!(t["art_upload"][0], "pending", "{t}");
    process(&app).await;
    let t = track(&app, &ana, id).await;
    let token = t["art"].as_str().expect("art").to_string();
    assert!(t["art_upload"].is_null(), "{t}");
    thumbnails_are_valid(&app, &token, (500, 300)).await;
    let page = app
        .send(with_cookie(get(&format!("/tracks/{id}")), &ana))
        .await;
    assert!(
        page.text.contains(&format!("/art/{token}/256.webp")),
        "large art"
    );
    assert!(page.text.contains("256w"), "srcset");

    // A tiny PNG that claims 81 megapixels: refused before decoding; the
    // job fails for good with the reason, the track keeps its art.
    let bomb = dir.path().join("bomb.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=black:size=9000x9000",
        "-frames:v",
        "1",
        "-compression_level",
        "9",
        bomb.to_str().expect("path"),
    ]);
    let bomb = std::fs::read(&bomb).expect("bomb");
    assert!(bomb.len() < 2 << 20, "a bomb is small: {}", bomb.len());
    let res = app.send(put_art(id, &ana, bomb)).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    process(&app).await;
    let t = track(&app, &ana, id).await;
    assert_eq!(t["art"], token.as_str(), "{t}");
    assert_eq!(t["art_upload"][0], "failed", "{t}");
    let why = t["art_upload"][1].as_str().unwrap_or("");
    assert!(why.contains("megapixels"), "{why}");
    let failed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'artwork' AND state = 'dead'")
            .fetch_one(app.state.db.pool())
            .await
            .expect("count");
    assert_eq!(failed, 1);
    assert_eq!(app.send(get("/healthz")).await.status, StatusCode::OK);

    // Back to the file's own art: none.
    let res = app.send(delete_art(id, &ana)).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    let t = track(&app, &ana, id).await;
    assert!(t["art"].is_null() && t["art_upload"].is_null(), "{t}");

    // The two images nothing refers to any more go with the cleanup (an
    // hour after they were made), stored files and all.
    let shas: Vec<String> = sqlx::query_scalar("SELECT sha256 FROM artwork")
        .fetch_all(app.state.db.pool())
        .await
        .expect("artwork");
    assert_eq!(shas.len(), 2);
    let original = |sha: &str| server::storage::derived_key(sha, app::files::Derived::ArtOriginal);
    for sha in &shas {
        assert!(app.state.storage.exists(&original(sha)).await);
    }
    app::jobs::db::enqueue_unbounded(&app.state.db, &server::worker::cleanup::new_job())
        .await
        .expect("enqueue");
    process(&app).await;
    assert_eq!(app.count("artwork").await, 2, "too young to go");
    sqlx::query("UPDATE artwork SET created_at = 0")
        .execute(app.state.db.pool())
        .await
        .expect("age");
    app::jobs::db::enqueue_unbounded(&app.state.db, &server::worker::cleanup::new_job())
        .await
        .expect("enqueue");
    process(&app).await;
    assert_eq!(app.count("artwork").await, 0);
    for sha in &shas {
        assert!(!app.state.storage.exists(&original(sha)).await, "{sha}");
    }
    let (s, ..) = fetch(&app, &format!("/art/{token}/64.webp")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// What the owner's storage figure says (bytes used).
async fn used(app: &TestApp, cookie: &str) -> i64 {
    let res = app
        .send(with_cookie(form("/api/account/storage", &[]), cookie))
        .await;
    assert!(res.status.is_success(), "{}", res.text);
    res.json()["used_bytes"].as_i64().expect("used_bytes")
}

/// An uploaded image counts in its owner's quota (each image once, until
/// it is replaced or removed), one that does not fit is refused with 413,
/// and uploads of art are limited per hour.
async fn uploaded_art_counts_against_the_quota(b: Backend) {
    if !crate::ffmpeg::have_ffmpeg() {
        return;
    }
    let app = TestApp::new(b).await;
    let ana = app.register("ana@example.com").await;
    let key = api_key(&app, &ana).await;
    let dir = tempfile::tempdir().expect("dir");
    let wav = dir.path().join("demo.wav");
    std::fs::copy(crate::audio::wav(1.0), &wav).expect("copy");
    let first = upload(&app, &key, &wav).await;
    let wav2 = dir.path().join("demo2.wav");
    std::fs::copy(crate::audio::wav(1.5), &wav2).expect("copy");
    let second = upload(&app, &key, &wav2).await;
    process(&app).await;
    let audio = used(&app, &ana).await;
    assert!(audio > 0);

    let png = std::fs::read(cover(dir.path(), "a.png", 500, 300)).expect("png");
    let other = std::fs::read(cover(dir.path(), "b.png", 600, 400)).expect("png");
    assert_ne!(png, other);
    let n = png.len() as i64;
    // Room for the audio and one image.
    sqlx::query("UPDATE users SET storage_quota_bytes = $1 WHERE email = 'ana@example.com'")
        .bind(audio + n + 10)
        .execute(app.state.db.pool())
        .await
        .expect("quota");
    let res = app.send(put_art(first, &ana, png.clone())).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    assert_eq!(used(&app, &ana).await, audio + n, "the image counts");
    // The same image on another track counts once.
    let res = app.send(put_art(second, &ana, png.clone())).await;
    assert!(res.status.is_success(), "{}", res.text);
    assert_eq!(used(&app, &ana).await, audio + n);
    // Another image does not fit.
    let res = app.send(put_art(second, &ana, other.clone())).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", res.text);
    assert!(res.text.contains("quota"), "{}", res.text);
    let t = track(&app, &ana, second).await;
    assert!(
        t["art_upload"].is_null() || t["art_upload"][0] != "failed",
        "{t}"
    );
    // Taken off both tracks, it stops counting.
    for id in [first, second] {
        let res = app.send(delete_art(id, &ana)).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    }
    assert_eq!(used(&app, &ana).await, audio);
    sqlx::query("UPDATE users SET storage_quota_bytes = $1 WHERE email = 'ana@example.com'")
        .bind(audio + other.len() as i64)
        .execute(app.state.db.pool())
        .await
        .expect("quota");
    let res = app.send(put_art(second, &ana, other.clone())).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    assert_eq!(used(&app, &ana).await, audio + other.len() as i64);

    // At most 60 images an hour (4 sent so far, one refused for room).
    let mut sent = 4;
    let refused = loop {
        let res = app.send(put_art(second, &ana, other.clone())).await;
        sent += 1;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            break res;
        }
        assert!(res.status.is_success(), "{}", res.text);
        assert!(sent <= 61, "never limited");
    };
    assert_eq!(sent, 61);
    assert!(refused.headers.contains_key(header::RETRY_AFTER));
}

crate::both_backends!(
    tags_and_cover_art_are_read_from_every_format,
    owners_edit_tags_and_upload_art_and_a_bomb_fails_cleanly,
    uploaded_art_counts_against_the_quota,
);
