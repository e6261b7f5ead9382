//! Signed media links: byte ranges, previews, conditional requests,
//! tampering and expiry, downloads history; links stopping when a track
//! goes private; deletes that free storage.

use axum::body::Body;
use http::{header, Request, StatusCode};

use super::*;
use crate::audio;
use crate::helpers::{form, get, user_id, with_cookie, Backend, TestApp};
use crate::uploads::{api_key, post_track, process};

async fn streams_ranges_previews_and_signed_links(b: Backend) {
    let app = TestApp::new(b).await;
    let ana = app.register("ana@example.com").await;
    let key = api_key(&app, &ana).await;
    let wav = std::fs::read(audio::wav(2.0)).expect("wav");
    let res = app
        .send(post_track(
            &key,
            &[("title", "Demo"), ("visibility", "public")],
            Some(("demo.wav", &wav)),
        ))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    let id = res.json()["id"].as_i64().expect("id");
    process(&app).await;

    // A WAV plays from its MP3 preview, made in the background.
    let t = app.send(get(&format!("/api/v1/tracks/{id}"))).await.json();
    assert_eq!(t["status"], "ready", "{t}");
    assert_eq!(t["versions"][0]["asset"]["preview_ready"], true, "{t}");
    assert_eq!(t["playback"]["preview"], true);
    assert_eq!(t["playback"]["mime"], "audio/mpeg");
    let preview = app
        .send(get(t["playback"]["src"].as_str().expect("src")))
        .await;
    assert_eq!(preview.status, StatusCode::OK);
    assert_eq!(preview.header("content-type"), "audio/mpeg");
    assert!(
        preview.bytes.len() > 10_000,
        "{} bytes",
        preview.bytes.len()
    );
    assert!(
        preview.bytes[0] == 0xFF && preview.bytes[1] & 0xE0 == 0xE0,
        "an MPEG frame first"
    );
    let r = app
        .send(ranged(
            t["playback"]["src"].as_str().expect("src"),
            "bytes=1000-1999",
        ))
        .await;
    assert_eq!(
        r.status,
        StatusCode::PARTIAL_CONTENT,
        "previews seek with ranges"
    );
    assert_eq!(r.bytes, preview.bytes[1000..2000]);

    // The original, as a download for ana.
    let t = app
        .send(with_cookie(get(&format!("/api/v1/tracks/{id}")), &ana))
        .await
        .json();
    let url = t["versions"][0]["download_url"]
        .as_str()
        .expect("download url")
        .to_string();
    assert!(url.contains("&u="), "{url}");
    let full = app.send(get(&url)).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.bytes, wav);
    assert_eq!(full.header("content-type"), "audio/wav");
    assert_eq!(full.header("x-content-type-options"), "nosniff");
    assert_eq!(full.header("accept-ranges"), "bytes");
    assert!(
        full.header("content-disposition")
            .starts_with("attachment; filename=\"demo-"),
        "{}",
        full.header("content-disposition")
    );
    assert!(full.header("content-disposition").ends_with(".wav\""));
    assert!(!full.header("last-modified").is_empty());
    let etag = full.header("etag").to_string();
    assert!(etag.len() > 10);
    assert!(
        full.header("content-encoding").is_empty(),
        "audio is never recompressed"
    );
    let len = wav.len();

    // Ranges.
    let r = app.send(ranged(&url, "bytes=0-99")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header("content-range"), format!("bytes 0-99/{len}"));
    assert_eq!(r.bytes, wav[..100]);
    let r = app.send(ranged(&url, "bytes=-10")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes, wav[len - 10..]);
    let r = app.send(ranged(&url, "bytes=100-")).await;
    assert_eq!(r.bytes, wav[100..]);
    assert_eq!(r.header("content-length"), (len - 100).to_string());
    for bad in [
        format!("bytes={len}-"),
        format!("bytes={}-{}", len + 5, len + 10),
        "bytes=0-10,5-20".to_string(),
        "bytes=0-1,10-11".to_string(),
        "bytes=abc".to_string(),
        "bytes=5-1".to_string(),
    ] {
        let r = app.send(ranged(&url, &bad)).await;
        assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE, "{bad}");
        assert_eq!(r.header("content-range"), format!("bytes */{len}"), "{bad}");
    }
    // Conditional requests.
    let r = app
        .send(
            Request::get(&url)
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.bytes.is_empty());
    let r = app
        .send(
            Request::get(&url)
                .header(header::RANGE, "bytes=0-9")
                .header(header::IF_RANGE, "\"other\"")
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "a stale If-Range gets the whole file"
    );
    let r = app
        .send(
            Request::get(&url)
                .header(header::RANGE, "bytes=0-9")
                .header(header::IF_RANGE, &etag)
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    let r = app
        .send(Request::head(&url).body(Body::empty()).expect("r"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), len.to_string());
    assert!(r.bytes.is_empty());

    // Tampering: another file, mode, expiry, user or signature; no signature.
    let (path, query) = path_and_query(&url);
    let asset = t["versions"][0]["asset"]["id"].as_i64().expect("asset");
    let exp: i64 = query
        .split('&')
        .find_map(|p| p.strip_prefix("exp="))
        .expect("exp")
        .parse()
        .expect("n");
    let sig = query
        .split('&')
        .find_map(|p| p.strip_prefix("sig="))
        .expect("sig");
    let flipped: String = sig.chars().rev().collect();
    for forged in [
        url.replace(
            &format!("/media/{asset}/"),
            &format!("/media/{}/", asset + 1),
        ),
        url.replace("/download/", "/stream/"),
        url.replace(&format!("exp={exp}"), &format!("exp={}", exp + 3600)),
        url.replace("&u=", "&u=9"),
        url.replace(sig, &flipped),
        path.to_string(),
        format!("{path}?exp={exp}"),
    ] {
        let r = app.send(get(&forged)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{forged}: {}", r.text);
    }
    // Expired: correctly signed, but its time is over.
    let old = app
        .state
        .secrets
        .sign_until(path, app::db::now_ms() / 1000 - 5, None);
    let r = app.send(get(&old)).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.text.contains("expired"), "{}", r.text);

    // Whole downloads are in the history, ranges and revalidations are not;
    // the address is stored only as a salted hash.
    let rows: Vec<(Option<i64>, String, String)> =
        sqlx::query_as("SELECT user_id, kind, ip_hash FROM downloads ORDER BY id")
            .fetch_all(app.state.db.pool())
            .await
            .expect("downloads");
    let ana_id = user_id(&app, "ana@example.com").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (user, kind, ip) in &rows {
        assert_eq!(*user, Some(ana_id));
        assert_eq!(kind, "download");
        assert_eq!(ip.len(), 32);
        assert!(!ip.contains("127.0.0.1"));
    }
    let res = app
        .send(with_cookie(form("/api/downloads/list", &[]), &ana))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let h = res.json();
    assert_eq!(h["items"].as_array().expect("items").len(), 2);
    assert_eq!(h["items"][0]["track_title"], "Demo");
    assert_eq!(h["items"][0]["label"], "demo.wav");

    // The waveform overview for the page.
    let res = app
        .send(form("/api/tracks/peaks", &[("id", &id.to_string())]))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let peaks = res.json();
    let n = peaks.as_array().expect("peaks").len();
    assert!((100..=2002).contains(&n), "{n} values");
}

/// A link signed while a track was public stops working for others the
/// moment it goes private; its owner's links keep working.
async fn links_stop_when_a_track_goes_private(b: Backend) {
    let app = TestApp::new(b).await;
    let ana = app.register("ana@example.com").await;
    let key = api_key(&app, &ana).await;
    let mp3 = std::fs::read(audio::mp3(1.0)).expect("mp3");
    let res = app
        .send(post_track(
            &key,
            &[("title", "Soon private"), ("visibility", "public")],
            Some(("s.mp3", &mp3)),
        ))
        .await;
    let id = res.json()["id"].as_i64().expect("id");
    process(&app).await;
    let visitor_src = app.send(get(&format!("/api/v1/tracks/{id}"))).await.json()["playback"]
        ["src"]
        .as_str()
        .expect("src")
        .to_string();
    let owner_src = app
        .send(with_cookie(get(&format!("/api/v1/tracks/{id}")), &ana))
        .await
        .json()["playback"]["src"]
        .as_str()
        .expect("src")
        .to_string();
    assert_eq!(app.send(get(&visitor_src)).await.status, StatusCode::OK);
    let res = app
        .send(with_cookie(
            form(
                "/api/tracks/update",
                &[
                    ("id", &id.to_string()),
                    ("title", "Soon private"),
                    ("tags", ""),
                    ("visibility", "Private"),
                ],
            ),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(
        app.send(get(&visitor_src)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.send(get(&owner_src)).await.status, StatusCode::OK);
}

async fn deleting_a_track_frees_its_storage(b: Backend) {
    let app = TestApp::new(b).await;
    let ana = app.register("ana@example.com").await;
    let bob = app.register("bob@example.com").await;
    let key = api_key(&app, &ana).await;
    let one = std::fs::read(audio::mp3(1.0)).expect("mp3");
    let two = std::fs::read(audio::flac(1.0)).expect("flac");
    let mut ids = Vec::new();
    for (name, bytes) in [("one.mp3", &one), ("two.flac", &two), ("copy.mp3", &one)] {
        let res = app
            .send(post_track(
                &key,
                &[("visibility", "public")],
                Some((name, bytes)),
            ))
            .await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
        ids.push(res.json()["id"].as_i64().expect("id"));
    }
    process(&app).await;
    let used = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT storage_used_bytes FROM users WHERE email = 'ana@example.com'",
        )
        .fetch_one(app.state.db.pool())
        .await
        .expect("used")
    };
    assert_eq!(used().await, (one.len() + two.len()) as i64);
    assert_eq!(app.stored_files("objects").await, 2);
    let id = |i: usize| ids[i].to_string();

    // Others cannot delete (public: 403), the owner can.
    let res = app
        .send(with_cookie(
            form("/api/tracks/delete", &[("id", &id(1))]),
            &bob,
        ))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = app
        .send(form("/api/tracks/delete", &[("id", &id(1))]))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = app
        .send(with_cookie(
            form("/api/tracks/delete", &[("id", &id(1))]),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(used().await, one.len() as i64, "the usage drops at once");
    assert_eq!(
        app.send(get(&format!("/api/v1/tracks/{}", id(1))))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(all_pages(&app, "", None).await.len(), 2);
    process(&app).await;
    assert_eq!(
        app.stored_files("objects").await,
        1,
        "the purge job removed the file"
    );

    // A file another track still uses stays.
    let res = app
        .send(with_cookie(
            form("/api/tracks/delete", &[("id", &id(0))]),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    process(&app).await;
    assert_eq!(used().await, one.len() as i64);
    assert_eq!(app.stored_files("objects").await, 1);
    let res = app
        .send(with_cookie(
            form("/api/tracks/delete", &[("id", &id(2))]),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    process(&app).await;
    assert_eq!(used().await, 0);
    assert_eq!(app.stored_files("objects").await, 0);
    assert_eq!(app.stored_files("derived").await, 0);
    assert_eq!(app.count("assets").await, 0);
    let res = app
        .send(with_cookie(
            form("/api/tracks/delete", &[("id", &id(2))]),
            &ana,
        ))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

crate::both_backends!(
    streams_ranges_previews_and_signed_links,
    links_stop_when_a_track_goes_private,
    deleting_a_track_frees_its_storage,
);
