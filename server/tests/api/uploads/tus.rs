//! tus uploads: conformance (offsets, checksums, leases, expiry,
//! concatenation), resuming an interrupted PATCH, the stored object under
//! its hash, and a real tus client (tuspy).

use std::time::Duration;

use axum::body::Body;
use http::StatusCode;
use sha1::Digest;

use super::*;
use crate::audio;
use crate::helpers::{get, with_cookie, Backend, TestApp};

async fn uploads_in_chunks_with_checksums_and_becomes_a_processed_track(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let bytes = std::fs::read(audio::mp3(3.0)).expect("mp3");
    let req = create_req(
        bytes.len(),
        &[("filename", "first_take.mp3"), ("title", "First take")],
    )
    .body(Body::empty())
    .expect("request");
    let res = app.send(with_cookie(req, &cookie)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    assert_eq!(hdr(&res, "tus-resumable"), "1.0.0");
    assert!(!hdr(&res, "upload-expires").is_empty());
    let url = hdr(&res, "location");

    let half = bytes.len() / 2;
    for (offset, chunk) in [(0, &bytes[..half]), (half, &bytes[half..])] {
        let sum = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(chunk));
        let mut req = patch(&url, offset, chunk);
        req.headers_mut().insert(
            "upload-checksum",
            format!("sha1 {sum}").parse().expect("hdr"),
        );
        let res = app.send(with_cookie(req, &cookie)).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
        assert_eq!(
            hdr(&res, "upload-offset"),
            (offset + chunk.len()).to_string()
        );
        if offset + chunk.len() == bytes.len() {
            assert!(
                !hdr(&res, "wavekeep-track-id").is_empty(),
                "the last PATCH names the track"
            );
        }
    }
    let res = app.send(with_cookie(head(&url), &cookie)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(hdr(&res, "upload-offset"), bytes.len().to_string());
    let id: i64 = hdr(&res, "wavekeep-track-id").parse().expect("track id");
    // The final PATCH's lease ended with it: the finished upload can be
    // terminated at once (a lease left behind would answer 423).
    let lease: Option<i64> = sqlx::query_scalar("SELECT lock_until FROM uploads")
        .fetch_one(app.state.db.pool())
        .await
        .expect("upload row");
    assert_eq!(lease, None, "no lease is left on a finished upload");

    // Before processing: listed as processing, no duration yet.
    let t = track(&app, &cookie, id).await;
    assert_eq!(t["title"], "First take");
    assert_eq!(t["status"], "processing");
    assert!(t["duration_ms"].is_null());
    assert_eq!(t["jobs"][0]["kind"], "metadata");
    assert_eq!(t["jobs"][0]["state"], "Queued");

    process(&app).await;
    let t = track(&app, &cookie, id).await;
    assert_eq!(t["status"], "ready", "{t}");
    let ms = t["duration_ms"].as_i64().expect("duration");
    assert!((ms - 3000).abs() <= 100, "duration {ms} ms");
    let asset = &t["versions"][0]["asset"];
    assert_eq!(asset["codec"], "mp3");
    assert_eq!(asset["sample_rate"], 44100);
    assert_eq!(asset["channels"], 1);
    assert_eq!(asset["size_bytes"].as_i64(), Some(bytes.len() as i64));
    let kinds: Vec<_> = t["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| (j["kind"].clone(), j["state"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("metadata".into(), "Succeeded".into()),
            ("waveform".into(), "Succeeded".into())
        ]
    );

    for zoom in ["", "?zoom=fine"] {
        let res = app
            .send(with_cookie(
                get(&format!("/api/v1/tracks/{id}/peaks{zoom}")),
                &cookie,
            ))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let p = res.json();
        assert_eq!(p["version"], 2);
        assert_eq!(p["channels"], 1);
        assert_eq!(p["bits"], 8);
        let data = p["data"].as_array().expect("data");
        assert_eq!(data.len() as i64, 2 * p["length"].as_i64().expect("length"));
        assert!(
            data.iter().any(|v| v.as_i64().unwrap_or(0) >= 12),
            "the tone (ffmpeg: amplitude 1/8) shows"
        );
        if zoom.is_empty() {
            assert!(
                data.len() / 2 <= 1000 && data.len() / 2 >= 100,
                "{}",
                data.len()
            );
        }
    }
    // The stored object is the uploaded content.
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    let stored: String = sqlx::query_scalar("SELECT sha256 FROM assets")
        .fetch_one(app.state.db.pool())
        .await
        .expect("asset");
    assert_eq!(stored, sha);
    let used: i64 = sqlx::query_scalar("SELECT storage_used_bytes FROM users")
        .fetch_one(app.state.db.pool())
        .await
        .expect("usage");
    assert_eq!(used, bytes.len() as i64);
}

async fn a_second_patch_is_refused_and_an_interrupted_patch_resumes(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let bytes = std::fs::read(audio::wav(1.0)).expect("wav");
    let url = create(&app, &cookie, bytes.len(), "take.wav").await;
    let cut = 50_000;

    // The first PATCH sends part of its body and stalls.
    let (body, go) = slow_body(bytes[..cut].to_vec(), Vec::new());
    let req = patch_req(&url, 0, Body::empty()).body(body).expect("r");
    let first =
        {
            let router = app.router.clone();
            let req = with_cookie(req, &cookie);
            tokio::spawn(async move {
                use tower::ServiceExt;
                let mut req = req;
                req.extensions_mut().insert(axum::extract::ConnectInfo(
                    std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
                ));
                router.oneshot(req).await.expect("infallible").status()
            })
        };
    // Wait until it holds the upload.
    for _ in 0..100 {
        let locked: Option<String> = sqlx::query_scalar("SELECT lock_token FROM uploads")
            .fetch_one(app.state.db.pool())
            .await
            .expect("row");
        if locked.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let res = app
        .send(with_cookie(patch(&url, 0, &bytes[..10]), &cookie))
        .await;
    assert_eq!(
        res.status,
        StatusCode::LOCKED,
        "a parallel PATCH is refused: {}",
        res.text
    );
    // On another instance of the same deployment too (the lease is a row).
    let other = app.second_process().await;
    let res = crate::helpers::send_via(
        other.clone(),
        with_cookie(patch(&url, 0, &bytes[..10]), &cookie),
        "127.0.0.1",
    )
    .await;
    assert_eq!(res.status, StatusCode::LOCKED, "{}", res.text);
    let res = crate::helpers::send_via(other, with_cookie(head(&url), &cookie), "127.0.0.1").await;
    assert_eq!(
        hdr(&res, "upload-offset"),
        "0",
        "the other instance sees the offset"
    );

    // The client goes away mid-body: what arrived is kept.
    drop(go);
    let status = first.await.expect("join");
    assert!(status.is_client_error(), "{status}");
    let res = app.send(with_cookie(head(&url), &cookie)).await;
    assert_eq!(
        hdr(&res, "upload-offset"),
        cut.to_string(),
        "bytes before the cut are kept"
    );
    // Resume from there.
    let res = app
        .send(with_cookie(patch(&url, cut, &bytes[cut..]), &cookie))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    let stored: String = sqlx::query_scalar("SELECT sha256 FROM assets")
        .fetch_one(app.state.db.pool())
        .await
        .expect("asset");
    assert_eq!(
        stored,
        hex::encode(sha2::Sha256::digest(&bytes)),
        "the stored file is whole"
    );
}

async fn concatenation_joins_partial_uploads(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let bytes = std::fs::read(audio::flac(2.0)).expect("flac");
    let mid = bytes.len() / 3;
    let mut urls = Vec::new();
    for part in [&bytes[..mid], &bytes[mid..]] {
        let mut req = create_req(part.len(), &[]).body(Body::empty()).expect("r");
        req.headers_mut()
            .insert("upload-concat", "partial".parse().expect("h"));
        let res = app.send(with_cookie(req, &cookie)).await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
        let url = hdr(&res, "location");
        let res = app.send(with_cookie(patch(&url, 0, part), &cookie)).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT);
        assert!(
            hdr(&res, "wavekeep-track-id").is_empty(),
            "a part is not a track"
        );
        urls.push(url);
    }
    let mut req = create_req(0, &[("filename", "joined.flac")])
        .body(Body::empty())
        .expect("r");
    req.headers_mut().remove("upload-length");
    req.headers_mut().insert(
        "upload-concat",
        format!("final;http://localhost{} {}", urls[0], urls[1])
            .parse()
            .expect("h"),
    );
    let res = app.send(with_cookie(req, &cookie)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    let id: i64 = hdr(&res, "wavekeep-track-id").parse().expect("track");
    let final_url = hdr(&res, "location");
    let res = app.send(with_cookie(head(&final_url), &cookie)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(hdr(&res, "upload-concat").starts_with("final;"));
    assert_eq!(hdr(&res, "upload-length"), bytes.len().to_string());
    let stored: String = sqlx::query_scalar("SELECT sha256 FROM assets")
        .fetch_one(app.state.db.pool())
        .await
        .expect("asset");
    assert_eq!(stored, hex::encode(sha2::Sha256::digest(&bytes)));
    process(&app).await;
    let t = track(&app, &cookie, id).await;
    assert_eq!(t["title"], "joined");
    assert_eq!(t["versions"][0]["asset"]["codec"], "flac");
    let ms = t["duration_ms"].as_i64().expect("duration");
    assert!((ms - 2000).abs() <= 100, "{ms}");
}

/// The stored object is exactly the content and sits under its sha256, after
/// PATCHes that were refused or cut off midway (each of which leaves the
/// receiver's running hash behind), and through the machine API.
async fn the_stored_object_is_the_content_under_its_hash(b: Backend) {
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let bytes = std::fs::read(audio::wav(0.5)).expect("wav");
    let url = create(&app, &cookie, bytes.len(), "take.wav").await;
    let ok = |res: &TestResponse| assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    ok(&app
        .send(with_cookie(patch(&url, 0, &bytes[..1000]), &cookie))
        .await);
    // A bad checksum: the bytes are dropped.
    let mut req = patch(&url, 1000, &bytes[1000..3000]);
    let wrong =
        base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(b"other bytes"));
    req.headers_mut().insert(
        "upload-checksum",
        format!("sha1 {wrong}").parse().expect("h"),
    );
    assert_eq!(
        app.send(with_cookie(req, &cookie)).await.status.as_u16(),
        460
    );
    // Past Upload-Length: refused, nothing kept.
    let mut long = bytes[1000..].to_vec();
    long.extend_from_slice(&[7u8; 100]);
    assert_eq!(
        app.send(with_cookie(patch(&url, 1000, &long), &cookie))
            .await
            .status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Different bytes at the same offset, then the rest: only the rest counts.
    ok(&app
        .send(with_cookie(patch(&url, 1000, &bytes[1000..4000]), &cookie))
        .await);
    ok(&app
        .send(with_cookie(patch(&url, 4000, &bytes[4000..]), &cookie))
        .await);
    assert_stored(&app, &bytes).await;

    // The machine API hashes as it receives.
    let other = std::fs::read(audio::mp3(1.0)).expect("mp3");
    let key = api_key(&app, &cookie).await;
    let res = app
        .send(post_track(
            &key,
            &[("title", "Other")],
            Some(("other.mp3", &other)),
        ))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    assert_stored(&app, &other).await;
}

/// A real tus client (tuspy from PyPI, installed by scripts/test) uploads
/// to the real server over loopback, stops halfway and resumes.
async fn tuspy_uploads_and_resumes(b: Backend) {
    let Some(python) = std::env::var_os("WAVEKEEP_TEST_PYTHON") else {
        assert!(
            std::env::var_os("WAVEKEEP_TEST_REQUIRE_CLIENTS").is_none(),
            "WAVEKEEP_TEST_PYTHON (a Python with tuspy) must be set"
        );
        eprintln!("skipped: set WAVEKEEP_TEST_PYTHON to a Python with tuspy");
        return;
    };
    let app = TestApp::new(b).await;
    let cookie = app.register("ana@example.com").await;
    let key = api_key(&app, &cookie).await;
    let server = app.spawn().await;
    let file = audio::flac(4.0);
    let storage = tempfile::NamedTempFile::new().expect("storage file");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/tuspy_upload.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(server.url(""))
        .arg(&key)
        .arg(&file)
        .arg(storage.path())
        .output()
        .await
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "tuspy: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id: i64 = stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("track id: {stdout}"));
    let bytes = std::fs::read(&file).expect("flac");
    let stored: String = sqlx::query_scalar("SELECT a.sha256 FROM assets a JOIN track_versions v ON v.asset_id = a.id WHERE v.track_id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .expect("asset");
    assert_eq!(stored, hex::encode(sha2::Sha256::digest(&bytes)));
    let title: String = sqlx::query_scalar("SELECT title FROM tracks WHERE id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .expect("title");
    assert_eq!(title, "From tuspy");
    server.stop().await;
}

crate::both_backends!(
    uploads_in_chunks_with_checksums_and_becomes_a_processed_track,
    a_second_patch_is_refused_and_an_interrupted_patch_resumes,
    concatenation_joins_partial_uploads,
    the_stored_object_is_the_content_under_its_hash,
    tuspy_uploads_and_resumes,
);
